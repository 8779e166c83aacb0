package push

import (
	"context"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"
)

// The connection webhook (--connection-webhook-url): connect, disconnect,
// subscribe and unsubscribe events, and a user's online (first connection
// anywhere in the cluster) and offline (last one gone, and none back
// within --offline-grace), POSTed to the business system in
// signed batches by internal/webhook, at least once; each has an ID to
// drop repeats by.

// ConnEvent is one event of the connection webhook.
type ConnEvent struct {
	ID        string `json:"id"`   // unique: a retried batch repeats it
	Type      string `json:"type"` // connect, disconnect, subscribe, unsubscribe, online, offline
	TS        int64  `json:"ts"`   // Unix ms
	User      string `json:"user"`
	Device    string `json:"device,omitempty"`
	Conn      string `json:"conn"`
	Node      string `json:"node"`
	Transport string `json:"transport,omitempty"` // connect: websocket or sse
	Topic     string `json:"topic,omitempty"`     // subscribe, unsubscribe
	Code      int    `json:"code,omitempty"`      // disconnect: the close code
	Reason    string `json:"reason,omitempty"`    // disconnect: the close reason
	By        string `json:"by,omitempty"`        // disconnect: client (it closed or went away) or server
}

// Why a client's connection ended, when the client ended it.
const (
	reasonClientClosed = "closed by client"
	reasonConnLost     = "connection lost"
)

// connEventTypes are the event types the webhook sends.
var connEventTypes = map[string]bool{"connect": true, "disconnect": true, "subscribe": true, "unsubscribe": true, "online": true, "offline": true}

var connEventSeq atomic.Uint64

// connEvent queues an event of c, if the webhook wants its type.
func (c *session) connEvent(e ConnEvent) {
	e.User, e.Device, e.Conn = c.user, c.device, c.id
	c.s.sendConnEvent(e)
}

// sendConnEvent queues e, if the webhook wants its type.
func (s *Service) sendConnEvent(e ConnEvent) {
	if s.connHook == nil || !s.wantsConnEvent(e.Type) {
		return
	}
	e.ID = s.node.ID + "-" + strconv.FormatInt(s.node.Epoch, 36) + "-e" + strconv.FormatUint(connEventSeq.Add(1), 36)
	e.TS = time.Now().UnixMilli()
	e.Node = s.node.ID
	s.connHook.Add(e)
}

func (s *Service) wantsConnEvent(typ string) bool {
	if len(s.cfg.ConnWebhookEvents) == 0 {
		return true
	}
	for _, t := range s.cfg.ConnWebhookEvents {
		if t == typ {
			return true
		}
	}
	return false
}

// transportName is what a connect event says of c's transport.
func (c *session) transportName() string {
	if _, ok := c.t.(*sseTransport); ok {
		return "sse"
	}
	return "websocket"
}

// disconnectEvent is c's disconnect event, once it has finished.
func (c *session) disconnectEvent() ConnEvent {
	by := "server"
	if c.reason == reasonClientClosed || c.reason == reasonConnLost {
		by = "client"
	}
	return ConnEvent{Type: "disconnect", Code: c.code, Reason: c.reason, By: by}
}

// countOpened counts c among its user's connections across the cluster, and
// sends online for the first. It runs before the session's writer starts,
// so that a connection's close is never counted before its open.
func (c *session) countOpened() {
	s := c.s
	if s.online == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	online, err := s.online.Opened(ctx, s.node, c.user)
	if err != nil {
		slog.Warn("count a connection online", "user", c.user, "err", err)
		return
	}
	if online {
		c.connEvent(ConnEvent{Type: "online"})
	}
}

// countClosed takes c off its user's count; for the last one, offline follows
// after the grace unless a connection came back.
func (c *session) countClosed() {
	s := c.s
	if s.online == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	last, err := s.online.Closed(ctx, s.node, c.user, s.cfg.OfflineGrace)
	if err != nil {
		slog.Warn("count a connection closed", "user", c.user, "err", err)
		return
	}
	if last {
		e := ConnEvent{Type: "offline"}
		e.User, e.Device, e.Conn = c.user, c.device, c.id
		s.confirmOffline(e)
	}
}

// confirmOffline sends e, an offline, after the grace if it still stands.
func (s *Service) confirmOffline(e ConnEvent) {
	time.AfterFunc(s.cfg.OfflineGrace, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if ok, err := s.online.ConfirmOffline(ctx, e.User); err == nil && ok {
			s.sendConnEvent(e)
		}
	})
}
