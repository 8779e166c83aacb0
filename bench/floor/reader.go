package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// runReader is the second process: a load generator's part. It dials the
// connections, reads them, and in http mode sends the requests.
func runReader(cfg config) error {
	var bytesRead, answered atomic.Int64
	lat := &latencies{}
	conns := make([]net.Conn, cfg.conns)
	for i := range conns {
		c, err := net.Dial("tcp", cfg.addr)
		if err != nil {
			return fmt.Errorf("dial %d: %w", i, err)
		}
		if _, err := c.Write([]byte{byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i)}); err != nil {
			return err
		}
		conns[i] = c
	}
	var readers sync.WaitGroup
	for _, c := range conns {
		readers.Add(1)
		go func() {
			defer readers.Done()
			if cfg.mode == "pings" {
				var b [2]byte
				pong := []byte{0x8a, 0x00}
				for {
					if _, err := io.ReadFull(c, b[:]); err != nil {
						return
					}
					if _, err := c.Write(pong); err != nil {
						return
					}
					answered.Add(1)
				}
			}
			buf := make([]byte, 1024)
			var pending []byte // a message split over two reads
			for {
				n, err := c.Read(buf)
				bytesRead.Add(int64(n))
				if cfg.mode == "http" && n > 0 {
					now := time.Now().UnixNano()
					pending = append(pending, buf[:n]...)
					for len(pending) >= cfg.size {
						lat.note(now, pending[:cfg.size])
						pending = pending[cfg.size:]
					}
					pending = append(buf[:0:0], pending...)
				}
				if err != nil {
					return
				}
			}
		}()
	}
	fmt.Println("ready")
	in := bufio.NewScanner(os.Stdin)
	if !in.Scan() || in.Text() != "start" {
		return fmt.Errorf("no start: %q", in.Text())
	}
	cpu0 := selfCPU()
	lat.start()
	var r report
	stop := make(chan struct{})
	var senders sync.WaitGroup
	var requests, errs atomic.Int64
	if cfg.mode == "http" {
		for k := range cfg.senders {
			senders.Add(1)
			go func() {
				defer senders.Done()
				send(cfg, k, stop, &requests, &errs)
			}()
		}
	}
	in.Scan() // "stop", or the writer gone
	close(stop)
	senders.Wait()
	r.CPU = selfCPU() - cpu0
	r.Requests, r.Errors = requests.Load(), errs.Load()
	r.Latency = lat.percentiles()
	if cfg.mode == "pings" {
		r.Messages = answered.Load()
	} else {
		r.Messages = bytesRead.Load() / int64(cfg.size)
	}
	out, _ := json.Marshal(r)
	fmt.Println(string(out))
	for _, c := range conns {
		c.Close()
	}
	readers.Wait()
	return nil
}

// send posts messages to random recipients on one keep-alive connection
// until stop, writing each request in one write and reading its answer on
// the same goroutine (as `herald bench` does).
func send(cfg config, k int, stop <-chan struct{}, requests, errs *atomic.Int64) {
	c, err := net.Dial("tcp", cfg.httpAddr)
	if err != nil {
		errs.Add(1)
		return
	}
	defer c.Close()
	br := bufio.NewReader(c)
	rng := rand.New(rand.NewPCG(uint64(k), 1))
	// Paced senders share --rate; each sends on its own schedule, staggered.
	var period time.Duration
	next := time.Now()
	if cfg.rate > 0 {
		period = time.Duration(float64(time.Second) * float64(cfg.senders) / float64(cfg.rate))
		next = next.Add(period * time.Duration(k) / time.Duration(cfg.senders))
	}
	for {
		if period > 0 {
			time.Sleep(time.Until(next))
			next = next.Add(period)
		}
		select {
		case <-stop:
			return
		default:
		}
		body := fmt.Sprintf(`{"to":%d,"t":%d,"p":""}`, rng.IntN(cfg.conns), time.Now().UnixNano())
		// Padded to exactly cfg.size bytes, so the reader counts messages
		// by bytes.
		if pad := cfg.size - len(body); pad > 0 {
			body = body[:len(body)-2] + strings.Repeat("x", pad) + `"}`
		}
		req := fmt.Sprintf("POST /send HTTP/1.1\r\nHost: floor\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		if _, err := io.WriteString(c, req); err != nil {
			errs.Add(1)
			return
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			errs.Add(1)
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusAccepted {
			requests.Add(1)
		} else {
			errs.Add(1)
		}
	}
}
