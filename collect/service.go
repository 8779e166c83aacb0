// Package collect is the collect service (the lane, the committer, the dispatch queue): it takes messages from
// business systems over HTTP, stores them durably with group commit, answers 202
// only once they are stored, and hands them to dispatch.
package collect

import (
	"context"
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/egress"
	"github.com/heraldpush/herald/receipts"
	"github.com/heraldpush/herald/webpush"
)

// Config holds the collect service's settings.
type Config struct {
	MaxPayload int64 // largest payload in bytes
	MaxUsers   int   // most recipients of one message
	MaxBatch   int   // most messages in one group commit
	// CommitInterval is the least time between the starts of two group
	// commits. Without it, 5,000 msg/s arriving evenly made 1,900 writes of
	// 2-3 messages a second, each with its fsync: on this project's test VM
	// every fsync also costs the host CPU that counts against the VM, which
	// then stalled for 5-15 ms every 100 ms. 500 µs (what Pebble suggests
	// for its own WALMinSyncInterval) cut the writes by a third and the p99
	// by a third; a lone request after a quiet spell never waits for it.
	CommitInterval time.Duration
	MaxBatchAPI    int               // most messages in one POST /v1/messages/batch
	MaxBatchBytes  int64             // largest body of one POST /v1/messages/batch
	DispatchQueue  int               // committed batches waiting for dispatch
	Retention      time.Duration     // messages are removed this long after acceptance; 0 keeps them
	SweepInterval  time.Duration     // how often retention runs
	RevokeTTL      time.Duration     // a disconnect refuses the user's older tokens this long (longer than tokens live)
	Namespaces     herald.Namespaces // the push nodes' --namespaces: which topics keep presence
	// WebPushHosts are the hosts a Web Push subscription's endpoint may
	// name ("*.example.com": its subdomains); PrivateNetworks the
	// non-public networks such an endpoint may reach (tests: loopback).
	WebPushHosts    []string
	PrivateNetworks []netip.Prefix
	VAPIDPublicKey  string // served at GET /v1/push/vapid-key; empty: 404
	// PushAfter is how long after a message is accepted its notification
	// waits for the recipient's devices to ack it (push: if_not_acked).
	PushAfter time.Duration
	// PushEvery is how often due pushes are looked for.
	PushEvery time.Duration
	// Lease is how long an instance holds the pushes and the scheduled
	// messages it took: the longest one waits when the instance dies with
	// it. Longer than a round of them takes.
	Lease time.Duration
	// ScheduleHorizon is how far ahead deliver_at may be.
	ScheduleHorizon time.Duration
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{MaxPayload: 64 << 10, MaxUsers: 1000, MaxBatch: 1000, CommitInterval: 500 * time.Microsecond, MaxBatchAPI: 1000, MaxBatchBytes: 16 << 20, DispatchQueue: 1024,
		Retention: 7 * 24 * time.Hour, SweepInterval: 10 * time.Minute, RevokeTTL: 30 * 24 * time.Hour, WebPushHosts: webpush.DefaultHosts, PushAfter: 10 * time.Second, PushEvery: time.Second, Lease: time.Minute,
		ScheduleHorizon: herald.DefaultScheduleHorizon}
}

// Deps are what a collect instance works with. The optional ones may be
// nil; the store's receipts are given by name rather than found by a type
// assertion, so that a wrapper around the store cannot silently drop them.
type Deps struct {
	Store       herald.Store
	Dispatcher  herald.Dispatcher
	Directory   herald.Directory     // presence and the admin API; nil: they answer 503
	Revocations herald.Revocations   // disconnect; nil: it answers 503
	Receipts    herald.ReceiptStore  // GET /v1/messages/{id}; nil: 404, this store keeps none
	Presence    herald.TopicPresence // GET /v1/topics/{topic}/presence; nil: 503
	// Registrations are the devices' push registrations (the store's);
	// nil: their endpoints answer 503.
	Registrations herald.PushRegistrations
	// Queue keeps the pending pushes (the store's); nil: a send with a
	// notification is refused.
	Queue herald.PushQueue
	// Providers push to devices, by provider name (herald.ProviderFCM,
	// ...); one not given leaves its devices unpushed.
	Providers map[string]Provider
	// Schedule keeps the messages sent with deliver_at (the store's); nil:
	// deliver_at is refused.
	Schedule herald.Schedule
	// Collapse is the store's index of collapse keys (nil: the history's
	// collapsed=true leaves every message in); Recalls marks messages
	// recalled (nil: DELETE /v1/messages/{id} recalls nothing stored).
	Collapse herald.CollapseIndex
	Recalls  herald.Recalls
	// Events is the receipts webhook (nil: none): the pusher adds its
	// pushed and push_failed events; whoever made it runs it.
	Events   *receipts.Webhook
	Registry prometheus.Registerer // where the metrics go
}

// Service is the collect service.
type Service struct {
	cfg           Config
	store         herald.Store
	dispatcher    herald.Dispatcher
	directory     herald.Directory
	revocations   herald.Revocations
	receipts      herald.ReceiptStore
	presence      herald.TopicPresence
	registrations herald.PushRegistrations
	queue         herald.PushQueue
	pusher        *pusher             // nil without a queue and registrations
	pushReceipts  herald.PushReceipts // where the pusher records what it did (the store's receipts)
	events        *receipts.Webhook   // nil: no receipt webhook
	schedule      herald.Schedule     // nil: deliver_at is refused
	collapse      herald.CollapseIndex
	recalls       herald.Recalls
	egress        *egress.Policy // where a Web Push endpoint may point
	commit        *committer
	forward       chan []*herald.Message
	m             metrics
}

type metrics struct {
	accepted       prometheus.Counter
	rejected       *prometheus.CounterVec
	batchSize      prometheus.Histogram
	commitSeconds  prometheus.Histogram
	storeErrors    prometheus.Counter
	dispatchSecs   prometheus.Histogram
	dispatched     prometheus.Counter
	dispatchErrors prometheus.Counter
	queueDrops     prometheus.Counter
	scheduled      prometheus.Counter
	scheduleLate   prometheus.Histogram
}

// New returns a collect service.
func New(cfg Config, d Deps) *Service {
	store, reg := d.Store, d.Registry
	cfg.Lease = max(cfg.Lease, time.Second) // shorter, a slow provider's pushes would be taken twice
	s := &Service{cfg: cfg, store: store, dispatcher: d.Dispatcher, directory: d.Directory,
		revocations: d.Revocations, receipts: d.Receipts, presence: d.Presence, registrations: d.Registrations, queue: d.Queue, events: d.Events, schedule: d.Schedule,
		collapse: d.Collapse, recalls: d.Recalls,
		egress: egress.NewPolicy(cfg.PrivateNetworks), forward: make(chan []*herald.Message, cfg.DispatchQueue)}
	s.m = metrics{
		accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_messages_accepted_total", Help: "Messages stored and answered 202."}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_messages_rejected_total", Help: "Requests refused, by error code."}, []string{"code"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "herald_commit_batch_messages", Help: "Messages per group commit.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7)}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "herald_commit_duration_seconds", Help: "Time of one durable group commit (store write and sync).",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)}),
		storeErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_store_errors_total", Help: "Group commits the store refused (their requests got 503)."}),
		dispatchSecs: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "herald_dispatch_duration_seconds", Help: "Time to hand one committed batch to dispatch.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14)}),
		dispatched:     prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_messages_dispatched_total", Help: "Messages handed to dispatch."}),
		dispatchErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_dispatch_errors_total", Help: "Batches dispatch failed to take; their messages wait in the store for the next resume."}),
		queueDrops:     prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_dispatch_queue_drops_total", Help: "Committed batches not forwarded because the dispatch queue was full."}),
		scheduled:      prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_scheduled_delivered_total", Help: "Scheduled messages submitted when due."}),
		scheduleLate: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "herald_scheduled_lateness_seconds", Help: "How long after its deliver_at a scheduled message was submitted.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}),
	}
	if s.queue != nil && s.registrations != nil {
		s.pusher = newPusher(s, d.Providers, reg)
		s.pushReceipts, _ = d.Receipts.(herald.PushReceipts)
	}
	reg.MustRegister(s.m.accepted, s.m.rejected, s.m.batchSize, s.m.commitSeconds, s.m.storeErrors, s.m.dispatchSecs,
		s.m.dispatched, s.m.dispatchErrors, s.m.queueDrops, s.m.scheduled, s.m.scheduleLate)
	s.commit = &committer{
		store:       store,
		in:          make(chan *submission, 4096),
		maxBatch:    cfg.MaxBatch,
		minInterval: cfg.CommitInterval,
		onCommit:    s.enqueue,
		observe: func(n int, took time.Duration, err error) {
			s.m.batchSize.Observe(float64(n))
			s.m.commitSeconds.Observe(took.Seconds())
			if err != nil {
				s.m.storeErrors.Inc()
			}
		},
	}
	return s
}

// Submit stores msgs durably (through group commit) and queues them for
// dispatch. On success each message has its Seqs.
func (s *Service) Submit(ctx context.Context, msgs []*herald.Message) error {
	now, later := splitScheduled(msgs)
	if len(later) > 0 {
		if err := s.scheduleMessages(ctx, later); err != nil {
			return err
		}
		s.m.accepted.Add(float64(len(later)))
		if len(now) == 0 {
			return nil
		}
		msgs = now
	}
	if err := s.commit.submit(ctx, msgs); err != nil {
		return err
	}
	if err := s.queuePushes(ctx, msgs); err != nil {
		return err
	}
	s.m.accepted.Add(float64(len(msgs)))
	return nil
}

// enqueue hands a committed batch to the dispatch loop without ever blocking
// the committer: when dispatch cannot keep up, the batch is not forwarded live,
// and its recipients get it from the store when they resume.
func (s *Service) enqueue(batch []*herald.Message) {
	select {
	case s.forward <- batch:
	default:
		s.m.queueDrops.Inc()
		slog.Warn("dispatch queue full; messages will be delivered on resume", "messages", len(batch))
	}
}

// Run runs group commit, the dispatch loop and retention until ctx is
// cancelled, then commits and forwards what is already queued (bounded by a
// few seconds).
func (s *Service) Run(ctx context.Context) error {
	if s.cfg.Retention > 0 {
		go s.sweep(ctx)
	}
	if s.pusher != nil {
		go s.pusher.run(ctx, s.cfg.PushEvery)
	}
	if s.schedule != nil {
		go s.runSchedule(ctx, s.cfg.PushEvery)
	}
	done := make(chan struct{})
	go func() {
		s.commit.run(ctx)
		close(done)
	}()
	for {
		select {
		case b := <-s.forward:
			s.dispatch(b)
		case <-done:
			deadline := time.Now().Add(5 * time.Second)
			for time.Now().Before(deadline) {
				select {
				case b := <-s.forward:
					s.dispatch(b)
				default:
					return nil
				}
			}
			return nil
		}
	}
}

// dispatch forwards a batch, joined with any batches queued behind it.
func (s *Service) dispatch(batch []*herald.Message) {
more:
	for len(batch) < s.cfg.MaxBatch {
		select {
		case b := <-s.forward:
			batch = append(batch, b...)
		default:
			break more
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	err := s.dispatcher.Dispatch(ctx, batch)
	s.m.dispatchSecs.Observe(time.Since(start).Seconds())
	if err != nil {
		s.m.dispatchErrors.Inc()
		slog.Warn("dispatch failed; messages stay stored for resume", "messages", len(batch), "err", err)
		return
	}
	s.m.dispatched.Add(float64(len(batch)))
}

// sweep enforces retention. Every collect instance runs it; the deletes are
// idempotent, so several at once only repeat each other's work.
func (s *Service) sweep(ctx context.Context) {
	t := time.NewTicker(s.cfg.SweepInterval)
	defer t.Stop()
	for {
		n, err := s.store.Sweep(ctx, time.Now().Add(-s.cfg.Retention))
		if err != nil && ctx.Err() == nil {
			slog.Warn("retention sweep failed", "err", err)
		} else if n > 0 {
			slog.Info("retention sweep", "removed", n)
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
}
