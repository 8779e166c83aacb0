// Package push is the push service: it holds the clients' connections,
// binds user -> sessions in memory (hub.go), registers user -> node in the
// routing table (routes.go), replays stored messages on connect, and
// writes each message to every session of its user.
//
// A connection is a session (session*.go: Herald's protocol, its streams,
// acks and topics) on a transport (transport.go: the wire; WebSocket in
// transport_ws*.go, opened by handler_ws.go).
package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/egress"
	"github.com/heraldpush/herald/internal/netpoll"
	"github.com/heraldpush/herald/internal/webhook"
	"github.com/heraldpush/herald/receipts"
	"github.com/heraldpush/herald/webpush"
)

// Config holds the push service's settings.
type Config struct {
	NodeID            string            // unique per node in the cluster
	Addr              string            // internal address dispatch forwards to
	SendQueue         int               // frames queued per connection before it counts as too slow
	MaxFrame          int64             // largest frame a client may send, bytes
	MaxFrameRate      int               // client frames a second per connection (burst: one second's worth)
	Compression       bool              // offer permessage-deflate (RFC 7692, no context takeover) on WebSocket
	CompressThreshold int               // server frames shorter than this many bytes go uncompressed
	PingInterval      time.Duration     // WebSocket ping period
	PongTimeout       time.Duration     // no frame or pong for this long: the connection is dead
	WriteTimeout      time.Duration     // one frame write
	HeartbeatInterval time.Duration     // node liveness refresh
	HeartbeatTTL      time.Duration     // node counts as dead this long after its last heartbeat
	RouteTTL          time.Duration     // safety expiry of a user's route
	RouteRefresh      time.Duration     // how often every route is written again
	ReplayBatch       int               // stored messages read per page on resume
	GapWait           time.Duration     // how long a live message waits for an earlier one still being stored
	CatchUpInterval   time.Duration     // how often connections behind the store are caught up
	ResumeConcurrency int               // connection handshakes reading the store at once
	MaxConnections    int               // open connections on this node; past it new upgrades get 503
	MaxUserConns      int               // one user's connections on this node; past it 429
	AllowedOrigins    []string          // browser origins allowed to connect; empty: same origin only; "*": any
	TokenGrace        time.Duration     // a connection stays this long past its token's expiry, waiting for a new token
	MaxIPConns        int               // open connections from one client address on this node; 0: no limit
	MaxIPRate         int               // new connections a second from one client address (burst: one second's worth); 0: no limit
	TrustedProxies    []string          // addresses or CIDRs of proxies whose X-Forwarded-For names the client
	MaxTopics         int               // topics one connection may subscribe to
	Namespaces        herald.Namespaces // options of the topics "<namespace>:..."; nil: none
	Receipts          bool              // record delivery receipts (when the store keeps them)
	WebhookURL        string            // receipt events go here; empty: none
	WebhookSecret     string            // signs the webhook's requests
	WebhookTimeout    time.Duration     // bound on one webhook request (receipts and connections)
	ConnWebhookURL    string            // connection events go here; empty: none
	ConnWebhookSecret string            // signs its requests
	ConnWebhookEvents []string          // the event types sent; empty: all
	OfflineGrace      time.Duration     // a user's last connection closing is an offline event only if none opens within it
	AckTimeout        time.Duration     // a delivery not acked this long is a not_acked event
	SubProxyURL       string            // asked about topics the token's claim does not allow; empty: refuse them
	SubProxySecret    string            // sent to it as a bearer token
	SubProxyTimeout   time.Duration     // bound on one question to it
	PrivateNetworks   []string          // CIDRs or addresses the webhook, the subscribe proxy and Web Push endpoints may reach although not public
	WebPushHosts      []string          // hosts a Web Push endpoint a client registers may name (webpush.DefaultHosts)
	DrainTimeout      time.Duration     // graceful shutdown bound
	AckFlushInterval  time.Duration     // how often acks are saved (default 1 s); also soon after a device with unsaved acks closes
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{
		NodeID:            "push-1",
		WebPushHosts:      webpush.DefaultHosts,
		SendQueue:         256,
		MaxFrame:          4096,
		MaxFrameRate:      100,
		Compression:       true,
		CompressThreshold: 512,
		PingInterval:      25 * time.Second,
		PongTimeout:       60 * time.Second,
		WriteTimeout:      10 * time.Second,
		HeartbeatInterval: 2 * time.Second,
		HeartbeatTTL:      6 * time.Second,
		RouteTTL:          6 * time.Hour,
		RouteRefresh:      2 * time.Hour,
		ReplayBatch:       500,
		GapWait:           10 * time.Second,
		CatchUpInterval:   5 * time.Second,
		ResumeConcurrency: 32,
		MaxConnections:    200_000,
		MaxUserConns:      16,
		TokenGrace:        30 * time.Second,
		MaxTopics:         64,
		Receipts:          true,
		WebhookTimeout:    10 * time.Second,
		AckTimeout:        time.Minute,
		SubProxyTimeout:   3 * time.Second,
		DrainTimeout:      10 * time.Second,
		OfflineGrace:      5 * time.Second,
	}
}

// Deps are what a push node works with. The optional ones are the store's
// capabilities beyond herald.Store, given by name rather than found by a
// type assertion, so that a wrapper around the store cannot silently drop
// one: cmd/herald passes the concrete store for each it has.
type Deps struct {
	Auth        herald.Authenticator
	Store       herald.Store
	Router      herald.Router
	Revocations herald.Revocations   // nil: no revocation checks
	Receipts    herald.ReceiptStore  // nil: no delivery receipts, whatever Config.Receipts says
	Gaps        herald.GapCloser     // nil: a missing seq is passed over after GapWait
	Appends     herald.AppendCounter // nil: every catch-up round reads the store
	Relay       herald.FrameRelay    // nil: one push node; an event stream's POSTed frames must reach it
	Presence    herald.TopicPresence // nil: no topic presence, whatever the namespaces say
	PresenceBus herald.PresenceBus   // nil: no join and leave frames
	Directory   herald.Directory     // the live push nodes, to notice one that died (its members leave); nil: none noticed
	Online      herald.UserOnline    // users' connections across the cluster, for online and offline events; nil: none
	// Registrations are the store's push registrations, which clients
	// write for their device (push_register); nil: refused.
	Registrations herald.PushRegistrations
	// Collapse is the store's index of collapse keys; nil: replays pass
	// over no superseded message.
	Collapse herald.CollapseIndex
	Registry prometheus.Registerer // where the node's metrics go
}

// Service is the push service.
type Service struct {
	cfg         Config
	auth        herald.Authenticator
	store       herald.Store
	router      herald.Router
	revocations herald.Revocations
	gaps        herald.GapCloser
	appends     herald.AppendCounter
	relay       herald.FrameRelay
	presence    *presenceWriter // nil: no topic presence
	fanout      *presenceFanout // join and leave frames to this node's subscribers; nil: none
	directory   herald.Directory
	online      herald.UserOnline // nil: no online and offline events
	node        herald.Node
	hub         *hub
	wheel       *wheel
	ips         *ipLimits
	routes      *routeWriter
	acks        *acker
	m           metrics

	registrations herald.PushRegistrations // nil: push_register is refused
	collapse      herald.CollapseIndex     // nil: collapse keys are not looked at
	outbound      *egress.Policy           // where outbound requests may go

	subProxy *SubProxy
	receipts receiptLog                 // nil: receipts off
	hook     *receipts.Webhook          // nil: no receipt webhook
	connHook *webhook.Sender[ConnEvent] // nil: no connection webhook

	resumes  *resumeGate    // handshakes reading the store at once (resumes.go)
	lasts    *streamLast    // last seqs of the broadcast stream and topics (streamlast.go)
	connWG   sync.WaitGroup // writer loops, waited for on drain
	drainMu  sync.Mutex     // orders connWG.Add before drain's Wait
	draining chan struct{}
	beatOK   atomic.Bool  // the last heartbeat reached the routing table
	drainBy  atomic.Int64 // Unix ns: when the drain's budget ends (finalCtx)

	// For the stats each heartbeat reports (operators' view of the node).
	conns    atomic.Int64
	in, out  atomic.Uint64
	lastBeat time.Time
	lastIn   uint64
	lastOut  uint64
}

var _ herald.Deliverer = (*Service)(nil)

// New returns a push service.
func New(cfg Config, d Deps) *Service {
	store, reg := d.Store, d.Registry
	s := &Service{
		cfg:         cfg,
		auth:        d.Auth,
		store:       store,
		router:      d.Router,
		revocations: d.Revocations,
		gaps:        d.Gaps,
		appends:     d.Appends,
		relay:       d.Relay,
		node:        herald.Node{ID: cfg.NodeID, Addr: cfg.Addr, Epoch: time.Now().UnixMilli()},
		hub:         newHub(compressMin(cfg)),
		wheel:       newWheel(cfg.PingInterval),
		draining:    make(chan struct{}),
		resumes:     newResumeGate(cfg.ResumeConcurrency),
		lasts:       newStreamLast(store),
		m:           newMetrics(reg),
	}
	s.routes = newRouteWriter(s)
	s.directory = d.Directory
	if d.Presence != nil {
		s.presence = newPresenceWriter(s, d.Presence, d.PresenceBus)
		if d.PresenceBus != nil {
			s.fanout = newPresenceFanout(s)
		}
	}
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "herald_resume_concurrency",
		Help: "Handshakes allowed to read the store at once: --resume-concurrency while the store answers fast, halved while it answers slowly."},
		func() float64 { return float64(s.resumes.bound()) }))
	allow, _ := egress.ParseAllow(cfg.PrivateNetworks) // checked by CheckConfig before New
	outbound := egress.NewPolicy(allow)
	s.outbound, s.registrations = outbound, d.Registrations
	s.collapse = d.Collapse
	if rs := d.Receipts; rs != nil && cfg.Receipts {
		if cfg.WebhookURL != "" {
			s.hook = receipts.NewWebhook(cfg.WebhookURL, cfg.WebhookSecret, outbound.Client(cfg.WebhookTimeout), reg)
		}
		s.receipts = receipts.New(rs, store, s.hook, cfg.AckTimeout, reg)
	}
	if cfg.ConnWebhookURL != "" {
		s.connHook = webhook.New[ConnEvent]("connection", cfg.ConnWebhookURL, cfg.ConnWebhookSecret, outbound.Client(cfg.WebhookTimeout), reg)
		if s.wantsConnEvent("online") || s.wantsConnEvent("offline") {
			s.online = d.Online
		}
	}
	if cfg.SubProxyURL != "" {
		s.subProxy = &SubProxy{URL: cfg.SubProxyURL, Secret: cfg.SubProxySecret, Timeout: cfg.SubProxyTimeout,
			client: outbound.Client(cfg.SubProxyTimeout)}
	}
	s.ips, _ = newIPLimits(cfg.TrustedProxies, cfg.MaxIPConns, cfg.MaxIPRate) // checked by CheckTrustedProxies before New
	s.acks = newAcker(store, cfg.AckFlushInterval)
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_acks_saved_total",
		Help: "Device acks written to the store (each device's newest per flush; flushed every second and soon after a device with unsaved acks closes)."},
		func() float64 { return float64(s.acks.saved.Load()) }))
	return s
}

// compressMin is the shortest frame this node compresses; MaxInt with
// compression off.
func compressMin(cfg Config) int {
	if !cfg.Compression {
		return math.MaxInt
	}
	return cfg.CompressThreshold
}

// CheckTrustedProxies reports a TrustedProxies entry that is neither an
// address nor a CIDR.
func CheckTrustedProxies(list []string) error {
	_, err := newIPLimits(list, 0, 0)
	return err
}

// CheckConfig reports settings New cannot work with.
func CheckConfig(cfg Config) error {
	if err := CheckTrustedProxies(cfg.TrustedProxies); err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	if cfg.WebhookURL != "" && len(cfg.WebhookSecret) < 16 {
		return errors.New("--receipts-webhook-secret: 16 bytes or more are required with --receipts-webhook-url (the webhook's requests are signed with it)")
	}
	if cfg.ConnWebhookURL != "" && len(cfg.ConnWebhookSecret) < 16 {
		return errors.New("--connection-webhook-secret: 16 bytes or more are required with --connection-webhook-url (the webhook's requests are signed with it)")
	}
	for _, t := range cfg.ConnWebhookEvents {
		if !connEventTypes[t] {
			return fmt.Errorf("--connection-webhook-events: %q is not an event (connect, disconnect, subscribe, unsubscribe, online, offline)", t)
		}
	}
	allow, err := egress.ParseAllow(cfg.PrivateNetworks)
	if err != nil {
		return fmt.Errorf("--allow-private-networks: %w", err)
	}
	outbound := egress.NewPolicy(allow)
	for flag, u := range map[string]string{"--receipts-webhook-url": cfg.WebhookURL, "--subscribe-proxy-url": cfg.SubProxyURL, "--connection-webhook-url": cfg.ConnWebhookURL} {
		if u == "" {
			continue
		}
		if err := outbound.CheckURL(context.Background(), u); err != nil {
			return fmt.Errorf("%s: %w", flag, err)
		}
	}
	return nil
}

// Node returns this node's identity in the routing table.
func (s *Service) Node() herald.Node { return s.node }

// Deliver implements herald.Deliverer: the hub, then each connection's writer.
func (s *Service) Deliver(_ context.Context, msgs []*herald.Message) error {
	n, in := 0, 0
	for _, m := range msgs {
		if m.Kind == herald.KindDisconnect {
			s.disconnect(m)
			continue
		}
		if m.Kind == herald.KindRecall {
			s.recall(m)
			continue
		}
		in += len(m.Users)
		payload := textPayload(m.Payload) // once, for every recipient's frame
		for i, u := range m.Users {
			d := m.For(i)
			d.Payload = payload
			switch topic, ok := herald.IsTopicKey(u); {
			case !ok:
				n += s.hub.deliver(d)
			case u == herald.BroadcastKey:
				s.lasts.saw(u, m.Seqs[i])
				n += s.hub.broadcast(d)
			default:
				s.lasts.saw(u, m.Seqs[i])
				n += s.hub.deliverTopic(topic, d)
			}
		}
	}
	s.in.Add(uint64(in))
	s.m.delivered.Add(float64(n))
	return nil
}

// ReceiptWebhook is the node's receipts webhook (nil: none), for a collect
// service in the same process to add its push events to.
func (s *Service) ReceiptWebhook() *receipts.Webhook { return s.hook }

// Run keeps the node registered (heartbeat, route writes and refreshes, ack
// flushes) until ctx is cancelled, then drains: it leaves the routing table,
// tells every client to reconnect elsewhere (close 1012) and saves acks.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	bg, stop := context.WithCancel(context.Background())
	defer stop()
	// Store writes of acks and receipts under way when the node drains end
	// with the drain's budget, not each with its own timeout after it.
	flushes, endFlushes := context.WithCancel(context.Background())
	defer endFlushes()
	wg.Add(4)
	if s.receipts != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.receipts.Run(bg, flushes, s.finalCtx) }()
	}
	if s.hook != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.hook.Run(bg) }()
	}
	if s.connHook != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.connHook.Run(bg) }()
	}
	go func() { defer wg.Done(); s.routes.run(bg) }()
	if s.presence != nil {
		wg.Add(1)
		go func() { defer wg.Done(); s.presence.run(bg) }()
	}
	if s.fanout != nil {
		wg.Add(2)
		go func() { defer wg.Done(); s.fanout.run(bg) }()
		go func() {
			defer wg.Done()
			for bg.Err() == nil { // the bus's connection may drop: listen again
				if err := s.presence.bus.Listen(bg, s.fanout.add); err != nil && bg.Err() == nil {
					slog.Warn("listen for presence events", "node", s.node.ID, "err", err)
				}
				select {
				case <-time.After(time.Second):
				case <-bg.Done():
				}
			}
		}()
	}
	dead := newReaper()
	go func() { defer wg.Done(); s.keepAlive(bg) }()
	go func() { defer wg.Done(); s.acks.run(bg, flushes, s.finalCtx) }()
	go func() { defer wg.Done(); s.catchUp(bg) }()

	s.heartbeat(ctx)
	beat := time.NewTicker(s.cfg.HeartbeatInterval)
	refresh := time.NewTicker(s.cfg.RouteRefresh)
	defer beat.Stop()
	defer refresh.Stop()
loop:
	for {
		select {
		case <-beat.C:
			s.heartbeat(ctx)
			s.reap(ctx, dead)
		case <-refresh.C:
			s.routes.refreshAll(ctx)
			s.presence.refreshAll()
		case <-ctx.Done():
			break loop
		}
	}
	// One budget for the whole drain: closing connections, the writes under
	// way (endFlushes) and the last flushes (finalCtx).
	by := time.Now().Add(s.cfg.DrainTimeout)
	s.drainBy.Store(by.UnixNano())
	spent := time.AfterFunc(time.Until(by), endFlushes)
	defer spent.Stop()
	s.drain(by)
	stop()
	wg.Wait()
	return nil
}

// finalFlushMin is the least time the last flushes of acks and receipts get
// when the drain used up its budget.
const finalFlushMin = time.Second

// finalCtx bounds the last flushes at shutdown by what is left of the
// drain's budget (--drain-timeout), so that a node on a jammed store still
// exits about when its drain said it would, rather than after each flush's
// own timeout.
func (s *Service) finalCtx() (context.Context, context.CancelFunc) {
	ns := s.drainBy.Load()
	by := time.Unix(0, ns)
	if ns == 0 || time.Until(by) < finalFlushMin {
		by = time.Now().Add(finalFlushMin)
	}
	return context.WithDeadline(context.Background(), by)
}

func (s *Service) heartbeat(ctx context.Context) {
	lost, err := s.router.Heartbeat(ctx, s.withStats(), s.cfg.HeartbeatTTL)
	s.beatOK.Store(err == nil)
	if err != nil {
		s.m.beatErrors.Inc()
		if ctx.Err() == nil {
			slog.Warn("heartbeat failed", "node", s.node.ID, "err", err)
		}
		return
	}
	if lost {
		// First beat, or the routing store forgot us (e.g. Redis restarted
		// empty): write every route again so delivery resumes on its own.
		go s.routes.refreshAll(ctx)
		s.presence.refreshAll()
	}
}

// withStats returns the node with its stats since the previous heartbeat
// (only the heartbeat loop calls it).
func (s *Service) withStats() herald.Node {
	now := time.Now()
	in, out := s.in.Load(), s.out.Load()
	st := &herald.NodeStats{Beat: now.UnixMilli(), Connections: int(s.conns.Load())}
	if secs := now.Sub(s.lastBeat).Seconds(); !s.lastBeat.IsZero() && secs > 0 {
		st.InPerSec = float64(in-s.lastIn) / secs
		st.OutPerSec = float64(out-s.lastOut) / secs
	}
	s.lastBeat, s.lastIn, s.lastOut = now, in, out
	n := s.node
	n.Stats = st
	return n
}

// Ready reports whether the node is registered in the routing table: until its
// first heartbeat, dispatch cannot find it, so a load balancer should wait.
func (s *Service) Ready(context.Context) error {
	if !s.beatOK.Load() {
		return errors.New("not registered in the routing table (heartbeat failing or not yet sent)")
	}
	return nil
}

func (s *Service) drain(by time.Time) {
	s.drainMu.Lock()
	close(s.draining)
	s.drainMu.Unlock()
	ctx, cancel := context.WithDeadline(context.Background(), by)
	defer cancel()
	if err := s.router.Leave(ctx, s.node); err != nil {
		slog.Warn("leave routing table", "node", s.node.ID, "err", err)
	}
	for _, c := range s.hub.all() {
		c.close(CloseServiceRestart, "node shutting down, reconnect")
	}
	done := make(chan struct{})
	go func() { s.connWG.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-ctx.Done():
	}
	// Clients that did not take their close in time (a socket that does
	// not drain) lose the socket: every writer then ends at once, and so
	// does the goroutine above, which must not outlive the node's Run.
	left := s.hub.all()
	slog.Warn("drain deadline passed with connections still open; closing their sockets", "node", s.node.ID, "connections", len(left))
	for _, c := range left {
		c.t.cut()
	}
	select {
	case <-done:
	case <-time.After(drainForceWait):
		slog.Error("connections still finishing after their sockets were closed", "node", s.node.ID)
	}
}

// drainForceWait bounds the wait for connections whose sockets the drain
// closed: their writers fail at once, so this is only a guard.
const drainForceWait = 5 * time.Second

type metrics struct {
	connections prometheus.Gauge
	opened      prometheus.Counter
	closed      *prometheus.CounterVec
	delivered   prometheus.Counter
	written     prometheus.Counter
	replayed    prometheus.Counter
	passedOver  prometheus.Counter
	routeErrors prometheus.Counter
	catchUps    prometheus.Counter
	beatErrors  prometheus.Counter
	handshake   prometheus.Histogram
	refused     *prometheus.CounterVec

	subscriptions prometheus.Gauge
	subRefused    *prometheus.CounterVec
	gapsSkipped   prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) metrics {
	m := metrics{
		connections: prometheus.NewGauge(prometheus.GaugeOpts{Name: "herald_connections", Help: "Open WebSocket connections."}),
		opened:      prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_connections_opened_total", Help: "WebSocket connections accepted."}),
		closed:      prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_connections_closed_total", Help: "WebSocket connections closed, by close code."}, []string{"code"}),
		delivered:   prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_messages_delivered_total", Help: "Live message frames queued to connections."}),
		written:     prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_frames_written_total", Help: "Message frames written to sockets (live and replayed)."}),
		replayed:    prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_messages_replayed_total", Help: "Stored messages sent on resume or to fill a gap."}),
		passedOver: prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_messages_passed_over_total",
			Help: "Stored messages a replay did not send: expired, or superseded by a newer one with their collapse key."}),
		routeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_route_write_errors_total", Help: "Failed writes to the routing table."}),
		catchUps:    prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_catchups_total", Help: "Connections found behind the store and caught up (messages that missed live delivery)."}),
		beatErrors:  prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_heartbeat_errors_total", Help: "Heartbeats the routing store (Redis) refused or did not answer."}),
		handshake: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "herald_handshake_duration_seconds", Help: "From upgrade to the end of the replay: route write, hello, stored messages.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_connections_refused_total",
			Help: "WebSocket upgrades refused by a limit: origin, node_full, user_connections, ip_connections, ip_rate."}, []string{"reason"}),
	}
	m.subscriptions = prometheus.NewGauge(prometheus.GaugeOpts{Name: "herald_topic_subscriptions", Help: "Topic subscriptions of the open connections."})
	m.subRefused = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_topic_subscriptions_refused_total",
		Help: "Topic subscriptions refused: invalid, forbidden, unavailable (subscribe proxy), too_many."}, []string{"reason"})
	m.gapsSkipped = prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_seq_gaps_skipped_total",
		Help: "Missing seqs a connection's stream moved past after --gap-wait: closed for good in MongoDB (a failed write's; a slower write then takes a later seq), or passed over with a store that has no holes in flight."})
	reg.MustRegister(m.subscriptions, m.subRefused, m.gapsSkipped)
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_payloads_repaired_total",
		Help: "Messages whose stored payload was not valid UTF-8 (stored by an older version, or restored from a backup), sent with each invalid byte replaced by U+FFFD: once per live message, once per replayed delivery."},
		func() float64 { return float64(repairedPayloads.Load()) }))
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "herald_netpoll_wait_errors_total",
		Help: "Failed waits for connection readiness (epoll_wait), each logged and tried again."},
		func() float64 { return float64(netpoll.WaitErrors()) }))
	reg.MustRegister(m.connections, m.opened, m.closed, m.delivered, m.written, m.replayed, m.passedOver, m.routeErrors, m.catchUps, m.beatErrors, m.handshake, m.refused)
	return m
}

// Forward implements herald.Forwarder for this node alone, so that `herald all`
// runs dispatch in-process with no network hop.
func (s *Service) Forward(ctx context.Context, node herald.Node, msgs []*herald.Message) error {
	if node.ID != s.node.ID {
		return fmt.Errorf("node %s is not this node (%s)", node.ID, s.node.ID)
	}
	return s.Deliver(ctx, msgs)
}
