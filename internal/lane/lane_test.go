package lane

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// served says which server answered: the lane's requests carry no
// http.ServerContextKey, net/http's do.
func served(r *http.Request) string {
	if r.Context().Value(http.ServerContextKey) != nil {
		return "nethttp"
	}
	return "lane"
}

// echo answers 202 with who served it, the method, path, body and a few
// headers, so a test sees the request the handler saw.
func echo(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Served", served(r))
	w.WriteHeader(http.StatusAccepted)
	fmt.Fprintf(w, "%s %s %s key=%q body=%q", served(r), r.Method, r.URL.Path, r.Header.Get("X-Key"), body)
}

type testServer struct {
	addr    string
	lane    *Server
	http    *http.Server
	errc    chan error
	block   chan struct{} // /block waits on it
	blocked chan struct{} // /block says it has begun
}

func start(t *testing.T, cfg Config) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{addr: ln.Addr().String(), errc: make(chan error, 2), block: make(chan struct{}), blocked: make(chan struct{}, 16)}
	mux := http.NewServeMux()
	mux.HandleFunc("/send", echo)
	mux.HandleFunc("/other", echo)
	mux.HandleFunc("/block", func(w http.ResponseWriter, r *http.Request) {
		ts.blocked <- struct{}{}
		<-ts.block
		echo(w, r)
	})
	mux.HandleFunc("/panic", func(http.ResponseWriter, *http.Request) { panic("test panic") })
	mux.HandleFunc("/evil", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Evil", "a\r\nSet-Cookie: x=1")
		w.Header()["Bad Name"] = []string{"v"}
		w.Write([]byte("<html>hi</html>"))
	})
	cfg.Handler = mux
	if cfg.Routes == nil {
		cfg.Routes = []Route{{Method: "POST", Path: "/send"}, {Method: "POST", Path: "/block"}, {Method: "POST", Path: "/panic"}, {Method: "POST", Path: "/evil"}}
	}
	if cfg.MaxBody == 0 {
		cfg.MaxBody = 1 << 10
	}
	ts.lane = New(ln, cfg)
	ts.http = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { ts.errc <- ts.lane.Serve() }()
	go func() { ts.errc <- ts.http.Serve(ts.lane.Fallback()) }()
	t.Cleanup(func() {
		select {
		case <-ts.block:
		default:
			close(ts.block)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		ts.lane.Shutdown(ctx)
		ts.http.Shutdown(ctx)
	})
	return ts
}

// client is one raw connection: the tests write exact bytes and read
// answers with net/http's parser.
type client struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func (ts *testServer) dial(t *testing.T) *client {
	t.Helper()
	c, err := net.Dial("tcp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { c.Close() })
	return &client{t: t, c: c, br: bufio.NewReader(c)}
}

func (c *client) send(raw string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, raw); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() (*http.Response, string) {
	c.t.Helper()
	resp, err := http.ReadResponse(c.br, nil)
	for err == nil && resp.StatusCode == http.StatusContinue {
		resp, err = http.ReadResponse(c.br, nil)
	}
	if err != nil {
		c.t.Fatalf("read answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatalf("read body: %v", err)
	}
	return resp, string(b)
}

func post(path, body string, headers ...string) string {
	h := ""
	for _, x := range headers {
		h += x + "\r\n"
	}
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: h\r\n%sContent-Length: %d\r\n\r\n%s", path, h, len(body), body)
}

// A plain POST to a route is the lane's; anything else on the same
// connection hands the connection to net/http, which keeps it.
func TestServesRoutesAndHandsOffTheRest(t *testing.T) {
	ts := start(t, Config{})
	c := ts.dial(t)
	for i := range 3 {
		c.send(post("/send", fmt.Sprintf(`{"n":%d}`, i), "X-Key: k"))
		resp, body := c.read()
		want := fmt.Sprintf(`lane POST /send key="k" body="{\"n\":%d}"`, i)
		if resp.StatusCode != 202 || body != want {
			t.Fatalf("request %d: %d %q, want 202 %q", i, resp.StatusCode, body, want)
		}
		if resp.Header.Get("Date") == "" || resp.ContentLength != int64(len(want)) || resp.Header.Get("Content-Type") != "text/plain" {
			t.Fatalf("request %d: headers %v", i, resp.Header)
		}
	}
	c.send("GET /other HTTP/1.1\r\nHost: h\r\n\r\n")
	if _, body := c.read(); body != `nethttp GET /other key="" body=""` {
		t.Fatalf("GET went to %q", body)
	}
	c.send(post("/send", "after"))
	if _, body := c.read(); !strings.HasPrefix(body, "nethttp POST /send") {
		t.Fatalf("after the hand-off: %q", body)
	}
}

// Every request that is not the plain case goes to net/http, which answers
// it as it always would: served, or refused with its own error.
func TestHandsOffAllButThePlainCase(t *testing.T) {
	ts := start(t, Config{})
	for _, c := range []struct {
		name, raw string
		status    int // 202 served by net/http, or net/http's refusal
	}{
		{"chunked", "POST /send HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n", 202},
		{"expect", "POST /send HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", 202},
		{"HTTP/1.0", "POST /send HTTP/1.0\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi", 202},
		{"query", "POST /send?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi", 202},
		{"other route", "POST /other HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi", 202},
		{"lower-case method", "post /send HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi", 202},
		{"body over MaxBody", post("/send", strings.Repeat("x", 2000)), 202},
		{"connection upgrade", "POST /send HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: foo\r\nContent-Length: 2\r\n\r\nhi", 202},
		{"long header line", "POST /send HTTP/1.1\r\nHost: h\r\nX-Long: " + strings.Repeat("a", 5000) + "\r\nContent-Length: 2\r\n\r\nhi", 202},
		{"many headers", "POST /send HTTP/1.1\r\nHost: h\r\n" + strings.Repeat("X-A: b\r\n", 70) + "Content-Length: 2\r\n\r\nhi", 202},
		{"bare LF", "POST /send HTTP/1.1\nHost: h\nContent-Length: 2\n\nhi", 202},
		{"two lengths", "POST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nhi!", 400},
		{"length and chunked", "POST /send HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 202},
		{"no host", "POST /send HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi", 400},
		{"two hosts", "POST /send HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 2\r\n\r\nhi", 400},
		{"bad host", "POST /send HTTP/1.1\r\nHost: a b\r\nContent-Length: 2\r\n\r\nhi", 400},
		{"space before colon", "POST /send HTTP/1.1\r\nHost: h\r\nContent-Length : 2\r\n\r\nhi", 400},
		{"folded header", "POST /send HTTP/1.1\r\nHost: h\r\nX-Key: a\r\n b\r\nContent-Length: 2\r\n\r\nhi", 202},
		{"signed length", "POST /send HTTP/1.1\r\nHost: h\r\nContent-Length: +2\r\n\r\nhi", 400},
		{"control byte", "POST /send HTTP/1.1\r\nHost: h\r\nX-Key: a\x01b\r\nContent-Length: 2\r\n\r\nhi", 400},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := ts.dial(t)
			cl.send(c.raw)
			resp, body := cl.read()
			if resp.StatusCode != c.status {
				t.Fatalf("status %d (%q), want %d", resp.StatusCode, body, c.status)
			}
			if c.status == 202 && !strings.HasPrefix(body, "nethttp ") {
				t.Fatalf("served by %q, want net/http", body)
			}
		})
	}
}

// Requests written back to back (pipelined) are answered in order.
func TestPipelined(t *testing.T) {
	ts := start(t, Config{})
	c := ts.dial(t)
	c.send(post("/send", "one") + post("/send", "two") + "GET /other HTTP/1.1\r\nHost: h\r\n\r\n" + post("/send", "four"))
	for _, want := range []string{`lane POST /send key="" body="one"`, `lane POST /send key="" body="two"`,
		`nethttp GET /other key="" body=""`, `nethttp POST /send key="" body="four"`} {
		if _, body := c.read(); body != want {
			t.Fatalf("got %q, want %q", body, want)
		}
	}
}

// Connection: close is honoured both ways.
func TestConnectionClose(t *testing.T) {
	ts := start(t, Config{})
	c := ts.dial(t)
	c.send(post("/send", "x", "Connection: close"))
	resp, _ := c.read()
	if !resp.Close {
		t.Fatal("answer without Connection: close")
	}
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("connection still open: %v", err)
	}
}

// The answer is written as net/http would: header values cannot inject
// lines, invalid names are dropped, an unset Content-Type is sniffed.
func TestAnswerIsSanitised(t *testing.T) {
	ts := start(t, Config{})
	c := ts.dial(t)
	c.send(post("/evil", ""))
	resp, body := c.read()
	if resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Evil") != "a  Set-Cookie: x=1" {
		t.Fatalf("headers %v", resp.Header)
	}
	if _, ok := resp.Header["Bad Name"]; ok {
		t.Fatal("invalid header name written")
	}
	if resp.StatusCode != 200 || body != "<html>hi</html>" || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("%d %q %v", resp.StatusCode, body, resp.Header)
	}
}

// A panicking handler costs its own connection only.
func TestPanicClosesOnlyItsConnection(t *testing.T) {
	ts := start(t, Config{})
	c := ts.dial(t)
	c.send(post("/panic", ""))
	if _, err := http.ReadResponse(c.br, nil); err == nil {
		t.Fatal("an answer after a panic")
	}
	d := ts.dial(t)
	d.send(post("/send", "still"))
	if _, body := d.read(); !strings.HasPrefix(body, "lane ") {
		t.Fatalf("after a panic: %q", body)
	}
}

// An idle connection is closed after IdleTimeout, and a head that does not
// arrive within ReadHeaderTimeout is not waited for.
func TestTimeouts(t *testing.T) {
	ts := start(t, Config{IdleTimeout: 200 * time.Millisecond, ReadHeaderTimeout: 200 * time.Millisecond, ReadTimeout: time.Second})
	c := ts.dial(t)
	c.send(post("/send", "x"))
	c.read()
	begin := time.Now()
	if _, err := c.br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v", err)
	}
	if d := time.Since(begin); d > 3*time.Second {
		t.Fatalf("closed after %v", d)
	}
	s := ts.dial(t)
	s.send("POST /send HTTP/1.1\r\nHost: h\r\n") // and nothing more
	if _, err := s.br.ReadByte(); err != io.EOF {
		t.Fatalf("slow head: %v", err)
	}
}

// Shutdown closes idle connections at once and lets a request in progress
// finish and be answered.
func TestShutdown(t *testing.T) {
	ts := start(t, Config{})
	idleC := ts.dial(t)
	idleC.send(post("/send", "x"))
	idleC.read()
	busy := ts.dial(t)
	busy.send(post("/block", "y"))
	<-ts.blocked // the handler is waiting on ts.block

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- ts.lane.Shutdown(ctx)
	}()
	if _, err := idleC.br.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection at shutdown: %v", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) before the request finished", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(ts.block)
	if resp, body := busy.read(); resp.StatusCode != 202 || !resp.Close && body == "" {
		t.Fatalf("in-flight request: %d %q", resp.StatusCode, body)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
	if err := <-ts.errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Serve returned %v", err)
	}
}

// Many connections at once, each with many requests: every answer is its
// own request's (no buffer shared between connections).
func TestConcurrentConnections(t *testing.T) {
	ts := start(t, Config{})
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := ts.dial(t)
			for j := range 50 {
				b := fmt.Sprintf("c%d-r%d", i, j)
				c.send(post("/send", b))
				resp, err := http.ReadResponse(c.br, nil)
				if err != nil {
					t.Error(err)
					return
				}
				got, _ := io.ReadAll(resp.Body)
				if want := fmt.Sprintf(`lane POST /send key="" body=%q`, b); string(got) != want {
					t.Errorf("got %q, want %q", got, want)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// A connection handed to net/http and hijacked there (a WebSocket upgrade)
// still gives its descriptor once the bytes read ahead are consumed, so a
// push node watches it with epoll rather than a goroutine; while bytes wait
// unread, it refuses, so nothing reads past them.
func TestHijackedConnectionGivesItsDescriptor(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan string, 1)
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		nc, brw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			got <- "hijack: " + err.Error()
			return
		}
		defer nc.Close()
		sc, ok := nc.(syscall.Conn)
		if !ok {
			got <- "not a syscall.Conn"
			return
		}
		if _, err := sc.SyscallConn(); err != nil {
			got <- "SyscallConn: " + err.Error()
			return
		}
		got <- fmt.Sprintf("ok, %d buffered", brw.Reader.Buffered())
	})
	s := New(ln, Config{Routes: []Route{{Method: "POST", Path: "/send"}}, Handler: mux, MaxBody: 1 << 10})
	hs := &http.Server{Handler: mux}
	go s.Serve()
	go hs.Serve(s.Fallback())
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		hs.Shutdown(ctx)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: h\r\nCookie: "+strings.Repeat("c", 6000)+"\r\n\r\n")
	select {
	case r := <-got:
		if r != "ok, 0 buffered" {
			t.Fatal(r)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no upgrade")
	}

	p := &prefixConn{Conn: c, buf: []byte("ahead")}
	if _, err := p.SyscallConn(); err == nil {
		t.Fatal("SyscallConn with bytes unread")
	}
	b := make([]byte, 10)
	if n, _ := p.Read(b); string(b[:n]) != "ahead" || p.buf != nil {
		t.Fatalf("read %q, left %q", b[:n], p.buf)
	}
	if _, err := p.SyscallConn(); err != nil {
		t.Fatalf("SyscallConn once read: %v", err)
	}
}

// flakyListener fails its first Accepts the way a node out of file
// descriptors does.
type flakyListener struct {
	net.Listener
	fails int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails > 0 {
		l.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: syscall.EMFILE}
	}
	return l.Listener.Accept()
}

// An accept that fails (out of file descriptors) is retried, not the end
// of the server.
func TestAcceptErrorsAreRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/send", echo)
	s := New(&flakyListener{Listener: ln, fails: 3}, Config{Routes: []Route{{Method: "POST", Path: "/send"}}, Handler: mux, MaxBody: 1 << 10})
	errc := make(chan error, 1)
	go func() { errc <- s.Serve() }()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Serve returned %v", err)
		}
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, post("/send", "x"))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil || resp.StatusCode != 202 {
		t.Fatalf("after failed accepts: %v %v", resp, err)
	}
}

// A large body or answer is not kept for the rest of the connection; the
// small buffers of every request are.
func TestLargeBuffersAreDropped(t *testing.T) {
	c := &conn{session: &session{}}
	c.buf, c.out, c.w.body = make([]byte, 1<<20), make([]byte, 100<<10), make([]byte, 0, 200<<10)
	c.body.unread = c.buf
	c.dropLarge()
	if c.buf != nil || c.out != nil || c.w.body != nil || c.body.unread != nil {
		t.Fatalf("kept: buf %d, out %d, answer %d, body reader %d", cap(c.buf), cap(c.out), cap(c.w.body), cap(c.body.unread))
	}
	c.buf, c.out = make([]byte, 512), make([]byte, 256)
	c.dropLarge()
	if c.buf == nil || c.out == nil {
		t.Fatal("small buffers dropped")
	}
}

// A handed-off connection can still be half-closed, which net/http does
// before closing one it refused mid-body, so that its answer arrives.
func TestHandedOffConnectionHalfCloses(t *testing.T) {
	a, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	c, err := net.Dial("tcp", a.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	p := &prefixConn{Conn: c}
	if err := p.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	s, err := a.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := s.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("the peer reads %v, want EOF", err)
	}
}

// The counters tell served requests from send requests handed to net/http;
// requests to other paths are neither.
func TestStats(t *testing.T) {
	ts := start(t, Config{})
	c := ts.dial(t)
	c.send(post("/send", "a"))
	c.read()
	c.send(post("/send", "b"))
	c.read()
	d := ts.dial(t)
	d.send("POST /send HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n")
	d.read()
	e := ts.dial(t)
	e.send("GET /other HTTP/1.1\r\nHost: h\r\n\r\n")
	e.read()
	if s := ts.lane.Stats(); s.Served.Load() != 2 || s.HandedOff.Load() != 1 {
		t.Fatalf("served %d, handed off %d; want 2 and 1", s.Served.Load(), s.HandedOff.Load())
	}
}

// A route's Admit decides from the head: a refused request is answered at
// once, before its body is sent, with Connection: close, and the handler
// never runs; an admitted one runs the route's own handler.
func TestAdmitRefusesFromTheHead(t *testing.T) {
	var handled atomic.Int32
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		handled.Add(1)
		echo(w, r)
	})
	admit := func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("Authorization") == "Bearer good" {
			return true
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(401)
		w.Write([]byte(`{"error":{"code":"unauthorized","message":"missing or wrong API key"}}`))
		return false
	}
	ts := start(t, Config{Routes: []Route{{Method: "POST", Path: "/send", Admit: admit, Handler: inner}}, MaxBody: 1 << 20})
	c := ts.dial(t)
	// A megabyte declared, not one byte of it sent: the answer comes anyway.
	c.send("POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
	resp, body := c.read()
	if resp.StatusCode != 401 || !resp.Close || !strings.Contains(body, "unauthorized") {
		t.Fatalf("%d close=%v %s", resp.StatusCode, resp.Close, body)
	}
	if _, err := c.br.ReadByte(); err == nil {
		t.Fatal("the connection stayed open with an unread body")
	}
	// Head and body sent together, as clients do: the refusal arrives, and
	// the lane lingers (half-closed, reading) rather than reset the
	// connection with the body unread, which can destroy the answer.
	for range 20 {
		both := ts.dial(t)
		both.send("POST /send HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("x", 100000))
		if resp, _ := both.read(); resp.StatusCode != 401 {
			t.Fatalf("with the body sent: %d", resp.StatusCode)
		}
	}
	ok := ts.dial(t)
	ok.send("POST /send HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer good\r\nContent-Length: 2\r\n\r\nhi")
	if resp, body := ok.read(); resp.StatusCode != 202 || !strings.Contains(body, `body="hi"`) || handled.Load() != 1 {
		t.Fatalf("admitted: %d %q, handled %d", resp.StatusCode, body, handled.Load())
	}
	if ts.lane.Stats().HandedOff.Load() != 0 {
		t.Fatal("handed off")
	}
}

// The body buffer grows with what arrives, not with the declared length.
func TestBodyBufferGrowsWithArrival(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	c := newConn(&Server{cfg: Config{MaxBody: 1 << 20}}, server)
	c.serving()
	defer c.cancel()
	done := make(chan bool)
	go func() {
		ok, _ := c.readBody(bufio.NewReaderSize(server, 4096), 1_000_000)
		done <- ok
	}()
	client.Write(make([]byte, 100)) // returns once the lane has read them
	client.Write(make([]byte, 100))
	client.Close()
	if <-done {
		t.Fatal("a body cut short was read whole")
	}
	if cap(c.buf) > 2*bodyChunk {
		t.Fatalf("200 bytes arrived of 1,000,000 declared: a buffer of %d", cap(c.buf))
	}
}
