package lane

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"
)

// diffHandler is one handler for both servers, shaped like Herald's send
// endpoints: it reads the body, answers JSON with headers of its own, and
// 404s anything else.
func diffHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/send", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			w.Write([]byte(`{"error":{"code":"invalid_request","message":"reading the body: ` + strconv.Quote(err.Error()) + `"}}`))
			return
		}
		out := []byte(`{"got":` + strconv.Itoa(len(body)) + `,"key":` + strconv.Quote(r.Header.Get("Authorization")) + `}`)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Request-Host", r.Host)
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(http.StatusAccepted)
		w.Write(out)
	})
	mux.HandleFunc("/sniff", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("<html>no content type set</html>"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		w.Write([]byte(`{"error":{"code":"not_found"}}`))
	})
	return mux
}

// diffServers starts the lane (with net/http behind it) and a plain
// net/http server on the same handler, and returns their addresses.
func diffServers(t testing.TB) (laneAddr, plainAddr string) {
	h := diffHandler()
	timeouts := func(s *http.Server) *http.Server {
		s.ReadHeaderTimeout, s.ReadTimeout, s.IdleTimeout = 2*time.Second, 2*time.Second, 2*time.Second
		s.MaxHeaderBytes = 16<<10 - 4096
		s.ErrorLog = nil
		return s
	}
	ln1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	routes := []Route{{Method: "POST", Path: "/send"}, {Method: "POST", Path: "/sniff"}}
	l := New(ln1, Config{Routes: routes, Handler: h, MaxBody: 1 << 10, MaxHead: 16 << 10,
		ReadHeaderTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second, IdleTimeout: 2 * time.Second})
	behind := timeouts(&http.Server{Handler: h})
	go l.Serve()
	go behind.Serve(l.Fallback())
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	plain := timeouts(&http.Server{Handler: h})
	go plain.Serve(ln2)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		l.Shutdown(ctx)
		behind.Shutdown(ctx)
		plain.Shutdown(ctx)
	})
	return ln1.Addr().String(), ln2.Addr().String()
}

// exchange writes raw on a new connection, ends its side, and returns all
// the server answers until it closes.
func exchange(t testing.TB, addr string, raw []byte) []byte {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	c.Write(raw)
	c.(*net.TCPConn).CloseWrite()
	out, _ := io.ReadAll(c)
	return out
}

var dateHeader = regexp.MustCompile(`(?m)^Date: [^\r\n]*\r\n`)

// FuzzDifferential feeds the same bytes (request heads, bodies, pipelined
// requests, garbage) to the lane and to a plain net/http server with the
// same handler, and requires the same answers, byte for byte but for the
// Date header: serving a request on the lane must change nothing a client
// can see. (Routes with Admit refuse from the head by design, before the
// body, as net/http does not; they are tested in lane_test.go.)
func FuzzDifferential(f *testing.F) {
	for _, s := range []string{
		"POST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi",
		"POST /send HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer k\r\nContent-Length: 2\r\n\r\nhiPOST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
		"POST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhiPOST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
		"POST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nshort",
		"POST /send HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n",
		"POST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhiGET /other HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /sniff HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
		"POST /send HTTP/1.0\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
		"POST /send HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
		"POST /send HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 0\r\n\r\n",
		"POST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
		"POST /send?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
		"GARBAGE\r\n\r\n",
		"POST /send HTTP/1.1\r\nHost: h\r\nX: a\r\n b\r\nContent-Length: 0\r\n\r\n",
		"POST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi\r\n",
		"POST /send HTTP/1.1\nHost: h\nContent-Length: 0\n\n",
		"POST /send HTTP/1.1\r\nHost:\r\nContent-Length:00\r\n\r\n000",
		"POST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n\r\n000",
	} {
		f.Add([]byte(s))
	}
	laneAddr, plainAddr := diffServers(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := dateHeader.ReplaceAll(exchange(t, laneAddr, raw), nil)
		want := dateHeader.ReplaceAll(exchange(t, plainAddr, raw), nil)
		if !bytes.Equal(got, want) {
			t.Fatalf("for %q\nnet/http answered %q\nthe lane         %q", raw, want, got)
		}
	})
}
