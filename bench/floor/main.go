// Command floor measures what this machine's kernel and Go runtime cost for
// the bare traffic of each benchmark figure, with no push server in the way:
// the floor under any server's figure, Herald's or another's.
//
//	floor frames --conns 10000 --writers 8 --duration 10s
//	floor http   --conns 10000 --senders 32 --duration 10s [--server raw]
//	floor pings  --conns 18000 --interval 25s --duration 60s
//
// frames: one process writes 100-byte messages, one write each, to N loopback
// TCP connections in turn; another reads them (a goroutine per connection, as
// a WebSocket client library does). The ceiling of deliveries a second, what
// unicast through the batch API and multicast need one of per message and
// recipient.
//
// http: the reading process also runs senders that POST a 100-byte JSON body
// to the other; its handler decodes it, writes it to the recipient's
// connection and answers 202. The ceiling of single-message requests a second
// with nothing stored and no WebSocket framing; with --rate, the latency of
// that bare path at a steady rate (send to receive, both clocks this machine's).
// --server raw swaps net/http for the least HTTP/1.1 the senders understand:
// the ceiling for any Go HTTP server here. --durable DIR first writes each
// body to a file in DIR and waits for its fdatasync (group commit): the
// floor under a server whose 202 means on disk.
//
// pings: the first process writes a 2-byte frame to each of N idle
// connections once per interval, spread evenly, and reads the 2-byte answer,
// the way a Herald push node does (internal/netpoll), or with a goroutine per
// connection (--poller goroutines): the CPU that keep-alive pings alone cost
// a server.
//
// Both processes run on this machine, like `herald-bench` and the server, so
// every figure includes both sides. It prints each process's CPU over the
// measured window.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/heraldpush/herald/bench"
)

// config is one run's settings, passed to the reading process as flags.
type config struct {
	mode     string
	conns    int
	writers  int
	senders  int
	rate     int
	size     int
	interval time.Duration
	poller   string
	server   string
	durable  string        // http: store each body durably in this directory first
	commitIv time.Duration // http, --durable: the least time between two writes' starts
	tick     time.Duration
	duration time.Duration
	addr     string // the writing process's listener (reader role only)
	httpAddr string // its HTTP listener (reader role, http mode)
	reader   bool
}

func main() {
	if len(os.Args) < 2 || strings.HasPrefix(os.Args[1], "-") {
		fmt.Fprintln(os.Stderr, "usage: floor frames|http|pings [flags]")
		os.Exit(2)
	}
	cfg := config{mode: os.Args[1]}
	fs := flag.NewFlagSet(cfg.mode, flag.ExitOnError)
	fs.IntVar(&cfg.conns, "conns", 10000, "loopback TCP connections")
	fs.IntVar(&cfg.writers, "writers", 8, "frames: goroutines writing messages")
	fs.IntVar(&cfg.senders, "senders", 32, "http: concurrent senders, one keep-alive connection each")
	fs.IntVar(&cfg.rate, "rate", 0, "http: requests a second from all senders together, 0 for as fast as they go")
	fs.IntVar(&cfg.size, "size", 100, "bytes per message")
	fs.StringVar(&cfg.server, "server", "nethttp", "http: the server's HTTP layer: nethttp (net/http, as Herald) or raw (the least HTTP/1.1 the senders understand)")
	fs.StringVar(&cfg.durable, "durable", "", "http: write each request's body to a file in this directory (written in full first, then overwritten in a ring) and answer only after fdatasync, with group commit (as collect answers 202); empty for nothing stored")
	fs.DurationVar(&cfg.commitIv, "commit-interval", 0, "http, --durable: the least time between the starts of two writes (collect's --commit-interval)")
	fs.DurationVar(&cfg.interval, "interval", 25*time.Second, "pings: ping interval per connection")
	fs.StringVar(&cfg.poller, "poller", "epoll", "pings: how the pinging side reads the answers: epoll (one goroutine for all, as Herald) or goroutines (one each)")
	fs.DurationVar(&cfg.tick, "tick", time.Second, "pings: how often the ping loop wakes (each time it pings a share of the connections)")
	fs.DurationVar(&cfg.duration, "duration", 10*time.Second, "measured window")
	fs.StringVar(&cfg.addr, "addr", "", "internal: the writing process's address (reader role)")
	fs.StringVar(&cfg.httpAddr, "http-addr", "", "internal: the writing process's HTTP address (reader role)")
	fs.BoolVar(&cfg.reader, "reader", false, "internal: run as the reading process")
	fs.Parse(os.Args[2:])
	switch cfg.mode {
	case "frames", "http", "pings":
	default:
		fmt.Fprintf(os.Stderr, "floor: unknown mode %q (frames, http, pings)\n", cfg.mode)
		os.Exit(2)
	}
	if cfg.poller != "epoll" && cfg.poller != "goroutines" {
		fmt.Fprintf(os.Stderr, "floor: --poller %q: epoll or goroutines\n", cfg.poller)
		os.Exit(2)
	}
	if cfg.server != "nethttp" && cfg.server != "raw" {
		fmt.Fprintf(os.Stderr, "floor: --server %q: nethttp or raw\n", cfg.server)
		os.Exit(2)
	}
	if cfg.tick <= 0 || cfg.conns < 1 || cfg.size < 32 {
		fmt.Fprintln(os.Stderr, "floor: --tick must be positive, --conns at least 1, --size at least 32")
		os.Exit(2)
	}
	var err error
	if cfg.reader {
		err = runReader(cfg)
	} else {
		err = runWriter(cfg, os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

// report is what the reading process tells the writing one at the end.
type report struct {
	Messages int64   `json:"messages"` // frames read (frames, http) or pings answered
	Requests int64   `json:"requests"` // http: 202s received
	Errors   int64   `json:"errors"`
	CPU      float64 `json:"cpu"` // seconds over the window
	// Latency, http: from the sender's clock before the request to the
	// reader's after the read that completed the message; p50, p90, p99,
	// p99.9 and max, in milliseconds.
	Latency []float64 `json:"latency"`
}

// runWriter is the first process: it listens, starts the reader, accepts its
// connections, drives the window and prints the result.
func runWriter(cfg config, out io.Writer) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	hln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer hln.Close()
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command(exe, cfg.mode, "-reader", "-addr", ln.Addr().String(), "-http-addr", hln.Addr().String(),
		"-conns", fmt.Sprint(cfg.conns), "-senders", fmt.Sprint(cfg.senders), "-size", fmt.Sprint(cfg.size), "-rate", fmt.Sprint(cfg.rate),
		"-duration", cfg.duration.String())
	cmd.Stderr = os.Stderr
	toReader, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	fromReader, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	defer cmd.Process.Kill()

	conns := make([]net.Conn, cfg.conns)
	for i := range conns {
		c, err := ln.Accept()
		if err != nil {
			return fmt.Errorf("accept %d: %w", i, err)
		}
		// The reader names its connection's index first, so that the HTTP
		// handler writes to the connection the sender meant.
		var idx [4]byte
		if _, err := io.ReadFull(c, idx[:]); err != nil {
			return err
		}
		conns[int(idx[0])<<24|int(idx[1])<<16|int(idx[2])<<8|int(idx[3])] = c
	}
	lines := bufio.NewScanner(fromReader)
	if !lines.Scan() || lines.Text() != "ready" {
		return fmt.Errorf("reader did not get ready: %q %v", lines.Text(), lines.Err())
	}

	w, err := newWriterSide(cfg, conns, hln)
	if err != nil {
		return err
	}
	start, cpu0 := time.Now(), bench.ProcessCPU()
	fmt.Fprintln(toReader, "start")
	sent := w.run(cfg.duration)
	elapsed, cpu := time.Since(start), bench.ProcessCPU()-cpu0
	fmt.Fprintln(toReader, "stop")
	if !lines.Scan() {
		return fmt.Errorf("no report from the reader: %v", lines.Err())
	}
	var r report
	if err := json.Unmarshal(lines.Bytes(), &r); err != nil {
		return fmt.Errorf("reader's report %q: %w", lines.Text(), err)
	}
	writes := w.writes()
	w.close()
	cmd.Wait()
	printResult(out, cfg, elapsed, sent, writes, cpu, r)
	return nil
}

func printResult(out io.Writer, cfg config, elapsed time.Duration, sent, writes int64, cpu float64, r report) {
	secs := elapsed.Seconds()
	fmt.Fprintf(out, "floor %s: %d connections over loopback, %v, %d-byte messages\n", cfg.mode, cfg.conns, elapsed.Round(time.Millisecond), cfg.size)
	per := func(n int64) string {
		if n == 0 {
			return "-"
		}
		return fmt.Sprintf("%.1f µs", (cpu+r.CPU)/float64(n)*1e6)
	}
	switch cfg.mode {
	case "frames":
		fmt.Fprintf(out, "  written %d, read %d: %.0f messages/s\n", sent, r.Messages, float64(r.Messages)/secs)
		fmt.Fprintf(out, "  cpu     writer %.2f cores, reader %.2f cores; both %s a message\n", cpu/secs, r.CPU/secs, per(r.Messages))
	case "http":
		fmt.Fprintf(out, "  server  %s\n", cfg.server)
		if cfg.durable != "" {
			fmt.Fprintf(out, "  stored  group commit, fdatasync, commit interval %v: %d writes (%.0f/s), %.1f requests a write\n",
				cfg.commitIv, writes, float64(writes)/secs, float64(r.Requests)/max(float64(writes), 1))
		}
		fmt.Fprintf(out, "  requests answered 202: %d (%.0f/s), frames read %d, errors %d\n", r.Requests, float64(r.Requests)/secs, r.Messages, r.Errors)
		fmt.Fprintf(out, "  cpu     server %.2f cores, senders and readers %.2f cores; both %s a request\n", cpu/secs, r.CPU/secs, per(r.Requests))
		if l := r.Latency; len(l) == 5 {
			fmt.Fprintf(out, "  latency p50 %.2f ms, p90 %.2f, p99 %.2f, p99.9 %.2f, max %.2f (send to receive)\n", l[0], l[1], l[2], l[3], l[4])
		}
	case "pings":
		fmt.Fprintf(out, "  poller  %s, a ping round every %v\n", cfg.poller, cfg.tick)
		fmt.Fprintf(out, "  pings written %d (%.0f/s), answered %d\n", sent, float64(sent)/secs, r.Messages)
		fmt.Fprintf(out, "  cpu     pinging side %.2f %% of a core, answering side %.2f %%\n", cpu/secs*100, r.CPU/secs*100)
	}
}
