package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// result is what a delivery run measured.
type result struct {
	accepted, expected, delivered, outOfOrder, failed int64
	sendTime                                          time.Duration
	lastDelivery                                      time.Duration
	latencies                                         []time.Duration
}

// runDelivery connects Users users, sends messages through the collect API
// (single, batch or multicast) for Duration, and measures what arrives.
func runDelivery(ctx context.Context, cfg Config) error {
	k := 1
	switch cfg.Mode {
	case "multicast":
		k = min(cfg.Recipients, cfg.Users)
	case "topic":
		k = cfg.Users // every connected user subscribes to the one topic
		if cfg.Batch > 0 {
			return fmt.Errorf("topic mode sends through POST /v1/topics/{topic}/messages, which has no batch form: drop --batch")
		}
	}
	rate := "as fast as it goes"
	if cfg.Rate > 0 {
		rate = fmt.Sprintf("%d msg/s", cfg.Rate)
	}
	per := "one message per request"
	if cfg.Batch > 0 {
		per = fmt.Sprintf("batch API, %d messages per request", cfg.Batch)
	}
	if cfg.Mode == "topic" {
		per = fmt.Sprintf("POST /v1/topics/%s/messages, one message per request", cfg.Topic)
	}
	header(ctx, cfg, fmt.Sprintf("%d users, %d recipient(s) per message, %d senders, %s, %s, %s",
		cfg.Users, k, cfg.Senders, rate, per, cfg.Duration))

	users := benchUsers("bench-u", cfg.Users)
	var topics []string
	if cfg.Mode == "topic" {
		topics = []string{cfg.Topic}
	}
	toks, err := cfg.mintTokens(ctx, users, topics...)
	if err != nil {
		return err
	}
	conns, _, err := connectAll(ctx, cfg, toks)
	if err != nil {
		return err
	}
	defer closeAll(conns)
	if cfg.Mode == "topic" {
		if err := subscribeAll(ctx, conns, cfg.Topic); err != nil {
			return err
		}
	}

	var r result
	var delivered atomic.Int64
	start := time.Now()
	wireStart := wireIn.Load()
	var lastNs atomic.Int64
	// Each connection's reader (clients.go) hands its frames to a handler
	// with the connection's own figures; they are gathered after closeAll,
	// once every reader has stopped.
	type figures struct {
		rec  receiver
		lat  []time.Duration
		sent []int64 // with --csv: each latency's send time, unix nanoseconds
	}
	figs := make([]figures, len(conns))
	parse := parseMsg
	switch {
	case cfg.centrifugo():
		parse = parsePush
	case cfg.Protobuf:
		parse = parseProtoMsg
	}
	for i, c := range conns {
		f := &figs[i]
		h := func(b []byte) {
			seq, sent, ok := parse(b)
			if !ok {
				return
			}
			now := time.Now()
			if seq <= f.rec.lastSeq {
				f.rec.outOfOrder++
				return
			}
			f.rec.lastSeq = seq
			if cfg.Ack && cfg.Protobuf {
				if num, _, _ := protoFrame(b); num == pbMsg {
					c.ws.WriteMessage(websocket.BinaryMessage, protoAck(nil, seq))
				}
			} else if cfg.Ack && !bytes.HasPrefix(b, []byte(`{"type":"pub"`)) {
				// Acks count toward the server's receipts (and its frame rate limit).
				c.ws.WriteMessage(websocket.TextMessage, append(strconv.AppendUint([]byte(`{"type":"ack","seq":`), seq, 10), '}'))
			}
			f.lat = append(f.lat, now.Sub(time.Unix(0, sent)))
			if cfg.CSV != "" {
				f.sent = append(f.sent, sent)
			}
			delivered.Add(1)
			lastNs.Store(int64(now.Sub(start)))
		}
		c.handler.Store(&h)
	}

	cpu := startCPU(ctx, cfg.Metrics)
	sendCtx, stop := context.WithTimeout(ctx, cfg.Duration)
	defer stop()
	var accepted, failed atomic.Int64
	var wg sync.WaitGroup
	perReq := max(cfg.Batch, 1)
	// Every sender's connections are open before the first slot, so that
	// the pacers share one start.
	senders := make([][]*sender, cfg.Senders)
	for s := range senders {
		senders[s] = make([]*sender, len(cfg.API)) // one connection per collect URL
		for i, base := range cfg.API {
			if senders[s][i], err = cfg.newSender(base); err != nil {
				for _, hs := range senders {
					for _, h := range hs {
						if h != nil {
							h.close()
						}
					}
				}
				return err
			}
		}
	}
	var interval time.Duration
	if cfg.Rate > 0 {
		interval = time.Duration(float64(time.Second) * float64(cfg.Senders*perReq) / float64(cfg.Rate))
	}
	paceStart := time.Now()
	for s, hs := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() {
				for _, h := range hs {
					h.close()
				}
			}()
			rnd := rand.New(rand.NewPCG(uint64(s), uint64(time.Now().UnixNano())))
			var body []byte
			pace := newPacer(paceStart, interval, s, cfg.Senders)
			for {
				at, ok := pace.wait(sendCtx)
				if !ok {
					return
				}
				var path string
				body, path = buildRequest(body[:0], rnd, users, cfg, k, at)
				// A request once sent runs to its answer, so that every message
				// the server accepted is counted.
				if hs[rnd.IntN(len(hs))].post(path, body) {
					accepted.Add(int64(perReq))
				} else {
					failed.Add(int64(perReq))
				}
			}
		}()
	}
	wg.Wait()
	r.sendTime = time.Since(start)
	r.accepted, r.failed = accepted.Load(), failed.Load()
	r.expected = r.accepted * int64(k)
	unit := "message"
	if k > 1 {
		unit = "delivery"
	}
	cpuLine := cpu.line(ctx, cfg.Metrics, float64(r.expected), unit)
	deadline := time.Now().Add(cfg.Drain)
	for delivered.Load() < r.expected && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	closeAll(conns) // and waits for the readers
	var samples []sample
	for _, f := range figs {
		r.latencies = append(r.latencies, f.lat...)
		r.outOfOrder += f.rec.outOfOrder
		for i, at := range f.sent {
			samples = append(samples, sample{sent: time.Unix(0, at).Sub(start), lat: f.lat[i]})
		}
	}
	r.delivered = delivered.Load()
	r.lastDelivery = time.Duration(lastNs.Load())
	fmt.Fprint(cfg.Out, cpuLine)
	if r.delivered > 0 {
		// Everything the clients read over the run (frames with their
		// headers, acks' answers, pings) over what they were delivered.
		enc := "json"
		if cfg.Protobuf {
			enc = "protobuf"
		}
		fmt.Fprintf(cfg.Out, "  wire     %.0f bytes read by clients a delivery (payload %d bytes, %s, compression %v)\n",
			float64(wireIn.Load()-wireStart)/float64(r.delivered), len(cfg.appendPayload(nil, time.Now())), enc, cfg.Compress)
	}
	report(cfg, &r, k)
	return writeOutputs(cfg, r.latencies, samples)
}

// buildRequest appends one request body to b (a single message, a batch or
// a topic message) and returns it with its path. Built by hand: the load
// generator must stay light (encoding/json with maps was 6 % of it).
func buildRequest(b []byte, rnd *rand.Rand, users []string, cfg Config, k int, at time.Time) ([]byte, string) {
	switch {
	case cfg.centrifugo():
		return centrifugoRequest(b, rnd, users, cfg, k, at)
	case cfg.Mode == "topic":
		b = cfg.appendPayload(append(b, `{"payload":`...), at)
		return append(b, '}'), "/v1/topics/" + cfg.Topic + "/messages"
	case cfg.Batch > 0:
		b = append(b, `{"messages":[`...)
		for i := range cfg.Batch {
			if i > 0 {
				b = append(b, ',')
			}
			b = cfg.appendMessage(b, rnd, users, k, at)
		}
		return append(b, "]}"...), "/v1/messages/batch"
	default:
		return cfg.appendMessage(b, rnd, users, k, at), "/v1/messages"
	}
}

// appendMessage appends {"users":[...],"payload":{"t":<at, Unix ns>}} for k
// random distinct users.
func (cfg Config) appendMessage(b []byte, rnd *rand.Rand, users []string, k int, at time.Time) []byte {
	b = append(b, `{"users":[`...)
	if k == 1 {
		b = strconv.AppendQuote(b, users[rnd.IntN(len(users))])
	} else {
		for i, j := range rnd.Perm(len(users))[:k] {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, users[j])
		}
	}
	b = append(b, `],"payload":`...)
	return append(cfg.appendPayload(b, at), '}')
}

// appendPayload appends the payload every message carries: its send time,
// which the receiving client subtracts from its own clock, and with
// --payload-bytes text up to that size.
func (cfg Config) appendPayload(b []byte, now time.Time) []byte {
	start := len(b)
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, now.UnixNano(), 10)
	if room := cfg.Payload - (len(b) - start) - len(`,"text":""}`); room > 0 {
		b = append(b, `,"text":"`...)
		b = append(b, filler[:min(room, len(filler))]...)
		b = append(b, '"')
	}
	return append(b, '}')
}

// filler is English-like text for --payload-bytes: words drawn from a
// small vocabulary with a fixed seed, which compresses about as well as
// the text of real notifications (a run of one letter would flatter
// compression).
var filler = func() string {
	words := strings.Fields("the a an of to in for on with at by from your new message order shipped delivered " +
		"payment received invoice account update reminder meeting tomorrow today team project review comment " +
		"replied mentioned you assigned task due status changed price alert ticket opened closed resolved " +
		"welcome back please confirm details available now limited offer friend request accepted photo shared")
	rnd := rand.New(rand.NewPCG(1, 2))
	var b strings.Builder
	for b.Len() < 1<<16 {
		b.WriteString(words[rnd.IntN(len(words))])
		b.WriteByte(' ')
	}
	return b.String()
}()

// readAll appends what r holds to b.
func readAll(b []byte, r io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// Percentile is the p-quantile (0 to 1) of sorted latencies, 0 of none; the
// report's, and bench/floor's, so that both compute a p99 alike.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

func report(cfg Config, r *result, k int) {
	sort.Slice(r.latencies, func(i, j int) bool { return r.latencies[i] < r.latencies[j] })
	l := r.latencies
	ms := func(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d)/1e6) }
	span := max(r.lastDelivery, r.sendTime)
	fmt.Fprintf(cfg.Out, "| accepted msg/s | delivered/s | p50 | p90 | p99 | p99.9 | max | accepted | deliveries | lost | out of order | refused |\n")
	fmt.Fprintf(cfg.Out, "|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	fmt.Fprintf(cfg.Out, "| %.0f | %.0f | %s | %s | %s | %s | %s | %d | %d | %d | %d | %d |\n",
		float64(r.accepted)/r.sendTime.Seconds(), float64(r.delivered)/span.Seconds(),
		ms(Percentile(l, .5)), ms(Percentile(l, .9)), ms(Percentile(l, .99)), ms(Percentile(l, .999)), ms(Percentile(l, 1)),
		r.accepted, r.delivered, r.expected-r.delivered, r.outOfOrder, r.failed)
}
