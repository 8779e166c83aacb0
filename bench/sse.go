package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// connectSSE opens one idle event stream (GET /sse) per token, spread over
// the push URLs and source addresses as connectAll spreads WebSockets, and
// reads each response head; a goroutine per stream then reads and drops
// whatever the server sends (hello, heartbeats).
func connectSSE(ctx context.Context, cfg Config, toks []string) ([]net.Conn, time.Duration, error) {
	streams := make([]net.Conn, len(toks))
	start := time.Now()
	failed, err := parallel(ctx, len(toks), 64, false, func(i int) error {
		g := cfg.Offset + i
		u, err := url.Parse(cfg.WS[g%len(cfg.WS)])
		if err != nil {
			return err
		}
		nc, err := dialer(cfg.SourceIPs, g, false, false).NetDialContext(ctx, "tcp", u.Host)
		if err != nil {
			return err
		}
		nc.SetDeadline(time.Now().Add(30 * time.Second))
		fmt.Fprintf(nc, "GET /sse?token=%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", url.QueryEscape(toks[i]), u.Host)
		br := bufio.NewReaderSize(nc, 512)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			nc.Close()
			return err
		}
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			nc.Close()
			return fmt.Errorf("GET /sse: %s", resp.Status)
		}
		nc.SetDeadline(time.Time{})
		streams[i] = nc
		go io.Copy(io.Discard, br)
		return nil
	})
	elapsed := time.Since(start)
	if failed > 0 {
		closeStreams(streams)
		return nil, elapsed, fmt.Errorf("%d of %d streams failed; first: %v", failed, len(toks), err)
	}
	return streams, elapsed, nil
}

func closeStreams(streams []net.Conn) {
	for _, s := range streams {
		if s != nil {
			s.Close()
		}
	}
}
