package bench

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// A process may hold only so many sockets (20,000 open files on the
// machine the figures come from, a hard limit), so connect mode past
// ConnsPerProcess runs worker processes: each is `herald-bench connect
// --worker` for its share of the connections. The parent mints every token
// first (so the server's memory is read before and after exactly what a
// single-process run measures) and writes each worker its share on stdin,
// one a line; the worker opens them, prints one workerReport line, and
// holds them until its stdin ends. It needs no API key.

// workerReport is the one line a worker prints once its share is open.
type workerReport struct {
	Connected int     `json:"connected"`
	Seconds   float64 `json:"connect_seconds"`
	Error     string  `json:"error,omitempty"`
}

// runConnectWorker is a worker's whole life: read its tokens, connect,
// report, hold.
func runConnectWorker(ctx context.Context, cfg Config) error {
	if cfg.In == nil {
		return errors.New("a worker reads its tokens on stdin")
	}
	in := bufio.NewReader(cfg.In)
	toks := make([]string, 0, cfg.Conns)
	for len(toks) < cfg.Conns {
		line, err := in.ReadString('\n')
		if err != nil {
			return fmt.Errorf("read tokens: %d of %d: %w", len(toks), cfg.Conns, err)
		}
		toks = append(toks, strings.TrimSpace(line))
	}
	conns, took, err := connectAll(ctx, cfg, toks)
	rep := workerReport{Connected: len(conns), Seconds: took.Seconds()}
	if err != nil {
		rep.Error = err.Error()
	}
	if werr := json.NewEncoder(cfg.Out).Encode(rep); werr != nil && err == nil {
		err = fmt.Errorf("report: %w", werr)
	}
	if err != nil {
		closeAll(conns)
		return err
	}
	defer closeAll(conns) // their readers answer the server's pings meanwhile
	ended := make(chan struct{})
	// EOF also comes when the parent dies, so no worker outlives it.
	go func() { _, _ = io.Copy(io.Discard, in); close(ended) }()
	select {
	case <-ended:
	case <-ctx.Done():
	}
	return nil
}

// workers are the running worker processes of one connect run.
type workers struct {
	procs     []*workerProc
	connected int
	took      time.Duration // the slowest share's connect time (they run at once)
}

type workerProc struct {
	cmd     *exec.Cmd
	stdin   io.Closer
	drained chan struct{} // its stdout read to the end
}

// startWorkers starts n workers for the connections of toks and waits
// until each has reported its share open. On any failure it stops them all.
func startWorkers(ctx context.Context, cfg Config, toks []string, n int) (*workers, error) {
	if cfg.Exe == "" {
		return nil, errors.New("more connections than one process opens (--conns-per-process) and no herald binary to run workers with")
	}
	w := &workers{}
	reports := make(chan workerReport, n)
	share := (len(toks) + n - 1) / n
	for off := 0; off < len(toks); off += share {
		p, err := w.start(cfg, off, toks[off:min(off+share, len(toks))], reports)
		if err != nil {
			w.stop()
			return nil, err
		}
		w.procs = append(w.procs, p)
	}
	for range w.procs {
		select {
		case rep := <-reports:
			if rep.Error != "" {
				w.stop()
				return nil, fmt.Errorf("a worker process: %s", rep.Error)
			}
			w.connected += rep.Connected
			w.took = max(w.took, time.Duration(rep.Seconds*float64(time.Second)))
		case <-ctx.Done():
			w.stop()
			return nil, ctx.Err()
		}
	}
	return w, nil
}

func (w *workers) start(cfg Config, offset int, toks []string, reports chan<- workerReport) (*workerProc, error) {
	args := []string{"connect", "--worker",
		"--offset", strconv.Itoa(offset), "--conns", strconv.Itoa(len(toks)),
		"--ws", strings.Join(cfg.WS, ",")}
	if cfg.Peer != "" {
		args = append(args, "--peer", cfg.Peer)
	}
	if len(cfg.SourceIPs) > 0 {
		args = append(args, "--source-ips", strings.Join(cfg.SourceIPs, ","))
	}
	cmd := exec.Command(cfg.Exe, args...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start a worker process: %w", err)
	}
	p := &workerProc{cmd: cmd, stdin: stdin, drained: make(chan struct{})}
	go func() {
		// Its tokens; stdin then stays open for the hold. A worker that
		// died early fails the write, and its report says why.
		bw := bufio.NewWriter(stdin)
		for _, t := range toks {
			bw.WriteString(t)
			bw.WriteByte('\n')
		}
		_ = bw.Flush()
	}()
	go func() {
		defer close(p.drained)
		var rep workerReport
		if err := json.NewDecoder(stdout).Decode(&rep); err != nil {
			rep.Error = fmt.Sprintf("exited without a report (%v)", err)
		}
		reports <- rep
		_, _ = io.Copy(io.Discard, stdout)
	}()
	return p, nil
}

// stop ends every worker's hold and waits for them to exit, killing those
// that take more than 15 s (closing 18,000 connections takes a few).
func (w *workers) stop() {
	for _, p := range w.procs {
		_ = p.stdin.Close()
	}
	deadline := time.After(15 * time.Second)
	for _, p := range w.procs {
		select {
		case <-p.drained:
		case <-deadline:
			_ = p.cmd.Process.Kill()
			<-p.drained
		}
		_ = p.cmd.Wait()
	}
}
