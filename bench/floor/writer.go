package main

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/heraldpush/herald/internal/netpoll"
)

// writerSide is the first process's traffic: the server's part.
type writerSide struct {
	cfg   config
	conns []net.Conn
	locks []sync.Mutex // http: one handler writes to a connection at a time
	srv   *http.Server
	hln   net.Listener
	sent  atomic.Int64
	pongs sync.WaitGroup // pings, goroutine poller: the readers
	raws  []syscall.RawConn
	stops []func()    // pings, epoll poller: the watches
	log   *durableLog // http with --durable
}

func newWriterSide(cfg config, conns []net.Conn, hln net.Listener) (*writerSide, error) {
	w := &writerSide{cfg: cfg, conns: conns, hln: hln}
	switch cfg.mode {
	case "http":
		w.locks = make([]sync.Mutex, len(conns))
		if cfg.durable != "" {
			var err error
			if w.log, err = openDurableLog(cfg.durable, cfg.commitIv); err != nil {
				return nil, err
			}
		}
		if cfg.server == "raw" {
			go w.serveRaw()
			break
		}
		mux := http.NewServeMux()
		mux.HandleFunc("POST /send", w.handleSend)
		w.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go w.srv.Serve(hln)
	case "pings":
		if cfg.poller == "epoll" {
			w.raws = make([]syscall.RawConn, len(conns))
		}
		for i, c := range conns {
			if cfg.poller == "epoll" {
				w.raws[i], _ = c.(syscall.Conn).SyscallConn()
				w.watchPongs(c)
				continue
			}
			// Each connection's read parked in the runtime's poller
			// until two bytes arrive: a goroutine per connection.
			w.pongs.Add(1)
			go func() {
				defer w.pongs.Done()
				var b [2]byte
				for {
					if _, err := io.ReadFull(c, b[:]); err != nil {
						return
					}
				}
			}()
		}
	}
	return w, nil
}

// store is the request's durable write, when --durable asks for one.
func (w *writerSide) store(body []byte) error {
	if w.log == nil {
		return nil
	}
	return w.log.append(body)
}

// writes is how many durable writes were made (0 with nothing stored).
func (w *writerSide) writes() int64 {
	if w.log == nil {
		return 0
	}
	return w.log.writes.Load()
}

// watchPongs reads c's answers as a Herald push node reads pongs: on the one
// goroutine that waits in epoll for every connection (internal/netpoll).
func (w *writerSide) watchPongs(c net.Conn) {
	stop, err := netpoll.Watch(c, netpoll.Handler{
		Peek: func([]byte) bool { return true },
		Data: func([]byte, error) bool { return false },
	})
	if err == nil {
		w.stops = append(w.stops, stop)
	}
}

// run makes the traffic for d and returns how many messages it wrote.
func (w *writerSide) run(d time.Duration) int64 {
	switch w.cfg.mode {
	case "frames":
		w.frames(d)
	case "pings":
		w.pings(d)
	default:
		time.Sleep(d) // the reader's senders drive the HTTP server
	}
	return w.sent.Load()
}

// frames writes one message per write to each connection in turn, from
// cfg.writers goroutines, each with its own share of the connections.
func (w *writerSide) frames(d time.Duration) {
	msg := make([]byte, w.cfg.size)
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for k := range w.cfg.writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				for i := k; i < len(w.conns); i += w.cfg.writers {
					if _, err := w.conns[i].Write(msg); err != nil {
						return
					}
					w.sent.Add(1)
				}
				if time.Now().After(deadline) {
					return
				}
			}
		}()
	}
	wg.Wait()
}

// pings writes a 2-byte frame to every connection once per interval, from one
// loop that visits a slice of them every tick (Herald's keep-alive visits
// one slot a second: the pings leave, and their answers come back, in a burst
// that one epoll wait gathers).
func (w *writerSide) pings(d time.Duration) {
	tick := w.cfg.tick
	slots := max(int(w.cfg.interval/tick), 1)
	ping := []byte{0x89, 0x00}
	t := time.NewTicker(tick)
	defer t.Stop()
	stop := time.After(d)
	for s := 0; ; s = (s + 1) % slots {
		select {
		case <-t.C:
		case <-stop:
			return
		}
		for i := s; i < len(w.conns); i += slots {
			var err error
			if w.raws != nil {
				// As Herald pings: one write from this loop, no deadline.
				_, err = netpoll.TryWrite(w.raws[i], ping)
			} else {
				_, err = w.conns[i].Write(ping)
			}
			if err == nil {
				w.sent.Add(1)
			}
		}
	}
}

// handleSend is a push server's send request with nothing stored: decode,
// write the message to its recipient's connection, answer 202.
func (w *writerSide) handleSend(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	var req struct {
		To int    `json:"to"`
		P  string `json:"p"`
	}
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil || req.To < 0 || req.To >= len(w.conns) {
		http.Error(rw, `{"error":"bad request"}`, http.StatusBadRequest)
		return
	}
	if err := w.store(body); err != nil {
		http.Error(rw, `{"error":"store failed"}`, http.StatusServiceUnavailable)
		return
	}
	w.locks[req.To].Lock()
	_, err = w.conns[req.To].Write(body)
	w.locks[req.To].Unlock()
	if err != nil {
		http.Error(rw, `{"error":"write failed"}`, http.StatusServiceUnavailable)
		return
	}
	w.sent.Add(1)
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(http.StatusAccepted)
	io.WriteString(rw, `{"id":"0123456789abcdef"}`)
}

func (w *writerSide) close() {
	if w.srv != nil {
		w.srv.Close()
	}
	for _, stop := range w.stops {
		stop()
	}
	for _, c := range w.conns {
		c.Close()
	}
	w.pongs.Wait()
	if w.log != nil {
		w.log.close()
	}
}
