package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/bench"
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
	cpu0 := bench.ProcessCPU()
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
	r.CPU = bench.ProcessCPU() - cpu0
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

// send posts messages to random recipients until stop, with the load
// generator's own sender (bench.Poster: each request one write, its answer
// read on the same goroutine), so that the floor's clients cost what
// `herald-bench`'s do.
func send(cfg config, k int, stop <-chan struct{}, requests, errs *atomic.Int64) {
	p, err := bench.NewPoster("http://"+cfg.httpAddr, "floor")
	if err != nil {
		errs.Add(1)
		return
	}
	defer p.Close()
	rng := rand.New(rand.NewPCG(uint64(k), 1))
	// Paced senders share --rate; each sends on its own schedule, staggered.
	var period time.Duration
	next := time.Now()
	if cfg.rate > 0 {
		period = time.Duration(float64(time.Second) * float64(cfg.senders) / float64(cfg.rate))
		next = next.Add(period * time.Duration(k) / time.Duration(cfg.senders))
	}
	var body []byte
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
		body = appendBody(body[:0], rng.IntN(cfg.conns), time.Now().UnixNano(), cfg.size)
		if p.Post("/send", body) {
			requests.Add(1)
		} else {
			errs.Add(1)
		}
	}
}

// appendBody appends {"to":N,"t":T,"p":"xx..."}, padded to size bytes so
// that the reader counts messages by bytes.
func appendBody(b []byte, to int, t int64, size int) []byte {
	b = append(b, `{"to":`...)
	b = strconv.AppendInt(b, int64(to), 10)
	b = append(b, `,"t":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"p":"`...)
	for len(b) < size-2 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}
