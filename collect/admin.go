package collect

import (
	"net/http"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/httpx"
	"github.com/heraldpush/herald/internal/logbuf"
)

// NodesResponse is the answer of GET /v1/admin/nodes.
type NodesResponse struct {
	Nodes []herald.Node `json:"nodes"`
}

// OnlineUser is one entry of GET /v1/admin/online.
type OnlineUser struct {
	User        string            `json:"user"`
	Connections []herald.Presence `json:"connections"`
}

// OnlineResponse is the answer of GET /v1/admin/online.
type OnlineResponse struct {
	Users []OnlineUser `json:"users"`
}

// ErrorsResponse is the answer of GET /v1/admin/errors.
type ErrorsResponse struct {
	Errors []logbuf.Entry `json:"errors"`
}

// RegisterAdmin adds the operators' endpoints (API key): live push nodes with
// their stats, online users with their connections, and this process's
// recent warnings and errors. The admin page reads only these.
func (s *Service) RegisterAdmin(mux *http.ServeMux, keys *httpx.Keys) {
	mux.Handle("/v1/admin/nodes", httpx.RequireScope(keys, httpx.ScopeAdmin, httpx.Method(http.MethodGet, s.handleNodes)))
	mux.Handle("/v1/admin/online", httpx.RequireScope(keys, httpx.ScopeAdmin, httpx.Method(http.MethodGet, s.handleOnline)))
	mux.Handle("/v1/admin/errors", httpx.RequireScope(keys, httpx.ScopeAdmin, httpx.Method(http.MethodGet, func(w http.ResponseWriter, r *http.Request) {
		httpx.JSON(w, http.StatusOK, ErrorsResponse{Errors: logbuf.Recent()})
	})))
}

func (s *Service) needRouter(w http.ResponseWriter, r *http.Request) bool {
	if s.directory == nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "needs the routing store (set --redis-addrs)"))
		return false
	}
	return true
}

func (s *Service) handleNodes(w http.ResponseWriter, r *http.Request) {
	if !s.needRouter(w, r) {
		return
	}
	nodes, err := s.directory.Nodes(r.Context())
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "routing store unavailable"))
		return
	}
	if nodes == nil {
		nodes = []herald.Node{}
	}
	httpx.JSON(w, http.StatusOK, NodesResponse{Nodes: nodes})
}

func (s *Service) handleOnline(w http.ResponseWriter, r *http.Request) {
	if !s.needRouter(w, r) {
		return
	}
	limit, err := parseUint(r.URL.Query().Get("limit"), 100)
	if err != nil || limit < 1 || limit > 1000 {
		httpx.Error(w, r, herald.Errorf(herald.EInvalid, "limit: a number from 1 to 1000"))
		return
	}
	users, err := s.directory.Online(r.Context(), int(limit))
	if err != nil {
		httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "routing store unavailable"))
		return
	}
	out := OnlineResponse{Users: make([]OnlineUser, 0, len(users))}
	for _, u := range users {
		ps, err := s.directory.Presence(r.Context(), u)
		if err != nil {
			httpx.Error(w, r, herald.Errorf(herald.EUnavailable, "routing store unavailable"))
			return
		}
		if len(ps) > 0 {
			out.Users = append(out.Users, OnlineUser{User: u, Connections: ps})
		}
	}
	httpx.JSON(w, http.StatusOK, out)
}
