package collect

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/receipts"
)

// Pushing: every collect instance takes due pushes from the store's queue
// under a lease (so that two never push the same one at once, and one that
// dies leaves its pushes to the others when the lease ends), and sends
// each recipient's registered devices the notification, through their
// provider, unless (if_not_acked) the device acked the message by then.

// Provider sends a notification to one registered device.
type Provider interface {
	Push(ctx context.Context, reg herald.PushRegistration, p herald.PendingPush) PushResult
}

// PushResult is what a provider made of one push.
type PushResult struct {
	Gone       bool          // the registration is no longer valid: it is removed
	AuthFailed bool          // the provider refused our credentials
	Retry      bool          // worth trying again (429, 5xx, no answer)
	RetryAfter time.Duration // the provider's wait, when it said
	Reason     string        // for a failure: the provider's word, or the error
	// Code is a failure's short, bounded name for the metrics: the
	// provider's error code (UNREGISTERED, BadDeviceToken, ...), http_<status>,
	// or no_answer.
	Code string
	OK   bool
}

const (
	pushClaim       = 100 // pushes taken at a time
	pushWorkers     = 32  // pushes under way at once: each waits on a provider's answer
	spreadPage      = 500 // a topic's registrations read at a time
	pushMaxAttempts = 6
	authPause       = 5 * time.Minute // a provider whose credentials were refused rests this long
)

type pusher struct {
	s         *Service
	providers map[string]Provider
	mu        sync.Mutex
	paused    map[string]time.Time // provider -> until, after an auth failure
	pushes    *prometheus.CounterVec
	failures  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	retryBase time.Duration // the first retry's wait, doubled after each
	page      int           // a topic's registrations read at a time
}

func newPusher(s *Service, providers map[string]Provider, reg prometheus.Registerer) *pusher {
	p := &pusher{s: s, providers: providers, paused: map[string]time.Time{}, retryBase: 5 * time.Second, page: spreadPage,
		pushes: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_pushes_total",
			Help: "Pushes to devices by provider and result (sent, acked: skipped as the device acked, online: skipped as it was connected, gone, auth_failed, failed, retried, no_provider; expired: the message expired first, with no provider)."}, []string{"provider", "result"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "herald_push_failures_total",
			Help: "Pushes a provider did not take, by provider and its reason (its error code, http_<status>, or no_answer)."}, []string{"provider", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "herald_push_duration_seconds", Help: "Time of one push to a provider.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)}, []string{"provider"}),
	}
	reg.MustRegister(p.pushes, p.failures, p.latency)
	return p
}

// run takes due pushes every interval until ctx ends.
func (p *pusher) run(ctx context.Context, every time.Duration) {
	rounds(ctx, every, func(ctx context.Context) bool {
		ps, err := p.s.queue.ClaimPushes(ctx, time.Now(), p.s.cfg.Lease, pushClaim)
		if err != nil {
			slog.Warn("claim pushes failed", "err", err)
		}
		p.pushAll(ctx, ps) // those claimed before an error too: they are held
		return err == nil && len(ps) == pushClaim
	})
}

// rounds runs round every interval until ctx ends, and at once again
// while round says there is more to do (it took a whole batch).
func rounds(ctx context.Context, every time.Duration, round func(ctx context.Context) (more bool)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for ctx.Err() == nil && round(ctx) {
		}
	}
}

// pushAll pushes ps, pushWorkers at a time, and returns when all are done.
func (p *pusher) pushAll(ctx context.Context, ps []herald.PendingPush) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, pushWorkers)
	for _, pp := range ps {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			p.push(ctx, pp)
		})
	}
	wg.Wait()
}

// push sends one pending push to the user's devices not done yet, then
// finishes it or puts it back for later. A push to a topic is spread into
// pushes to users.
func (p *pusher) push(ctx context.Context, pp herald.PendingPush) {
	if !pp.Expires.IsZero() && !time.Now().Before(pp.Expires) {
		// The message expired: no device is woken for it.
		p.pushes.WithLabelValues("", "expired").Inc()
		if err := p.s.queue.FinishPush(ctx, pp); err != nil {
			slog.Warn("finish an expired push failed", "msg", pp.MsgID, "user", pp.User, "err", err)
		}
		return
	}
	if topic, ok := herald.IsTopicKey(pp.User); ok {
		p.spread(ctx, pp, topic)
		return
	}
	regs, err := p.s.registrations.Registrations(ctx, pp.User)
	if err != nil {
		p.retry(ctx, pp, 0, "registrations unreadable: "+err.Error())
		return
	}
	var connected []string // if_offline: the devices with a connection now
	if pp.Mode == herald.PushIfOffline && p.s.directory != nil {
		conns, err := p.s.directory.Presence(ctx, pp.User)
		if err != nil {
			p.retry(ctx, pp, 0, "connections unknown: "+err.Error())
			return
		}
		for _, c := range conns {
			connected = append(connected, c.Device)
		}
	}
	var retry bool
	var wait time.Duration
	var rcs []herald.PushReceipt
	for _, reg := range regs {
		if slices.Contains(pp.Done, reg.Device) || !listed(reg, pp.Topic) {
			continue
		}
		if slices.Contains(connected, reg.Device) {
			p.pushes.WithLabelValues(reg.Provider, "online").Inc()
			continue
		}
		done, again, after, rc := p.device(ctx, reg, pp)
		if done {
			pp.Done = append(pp.Done, reg.Device)
		}
		if again {
			retry, wait = true, max(wait, after)
		}
		if rc != nil {
			rcs = append(rcs, *rc)
		}
	}
	if len(rcs) > 0 && p.s.pushReceipts != nil && pp.Topic == "" {
		// A record of what happened: one lost to a store error is a gap
		// in the record, not a push lost. A topic message's pushes are
		// not recorded, as its deliveries are not (a row per subscriber
		// of a broadcast); the webhook tells of them.
		if err := p.s.pushReceipts.SavePushed(ctx, rcs); err != nil {
			slog.Warn("save push receipts failed", "msg", pp.MsgID, "user", pp.User, "err", err)
		}
	}
	p.events(pp, rcs)
	if retry && pp.Attempts+1 < pushMaxAttempts {
		p.retry(ctx, pp, wait, "")
		return
	}
	if err := p.s.queue.FinishPush(ctx, pp); err != nil {
		slog.Warn("finish push failed; it may be sent again", "msg", pp.MsgID, "user", pp.User, "err", err)
	}
}

// events sends the receipts of pp's pushes to the receipts webhook.
func (p *pusher) events(pp herald.PendingPush, rcs []herald.PushReceipt) {
	if p.s.events == nil {
		return
	}
	for _, rc := range rcs {
		e := receipts.Event{Type: receipts.EventPushed, ID: rc.MsgID, User: rc.User, Device: rc.Device, Seq: uint64(pp.Seq),
			PushedAt: rc.At.UnixMilli(), Provider: rc.Provider, Reason: rc.Failed, Topic: pp.Topic}
		if rc.Failed != "" {
			e.Type = receipts.EventPushFailed
		}
		p.s.events.Add(e)
	}
}

// listed reports whether reg takes the pushes of topic ("": a message to
// its user; every registration takes the broadcasts').
func listed(reg herald.PushRegistration, topic string) bool {
	return topic == "" || topic == herald.Broadcast || slices.Contains(reg.Topics, topic)
}

// spread queues a push to a topic as a push to each user with a
// registration that lists it, a page of registrations at a time, noting
// how far it got after each page; it lets the push go (due at once) when
// half its lease is spent, for the next claim to go on. A user's
// registrations are next to each other in every page order, so the first
// user of a page is the previous page's last only when the user's devices
// straddle the two: kept in Done, that user is not queued twice.
func (p *pusher) spread(ctx context.Context, pp herald.PendingPush, topic string) {
	deadline := time.Now().Add(p.s.cfg.Lease / 2)
	for time.Now().Before(deadline) {
		regs, next, err := p.s.registrations.TopicRegistrations(ctx, topic, pp.After, p.page)
		if err != nil {
			p.retry(ctx, pp, 0, "registrations unreadable: "+err.Error())
			return
		}
		var ps []herald.PendingPush
		now := time.Now()
		for _, reg := range regs {
			if slices.Contains(pp.Done, reg.User) || len(ps) > 0 && ps[len(ps)-1].User == reg.User {
				continue
			}
			ps = append(ps, herald.PendingPush{MsgID: pp.MsgID, User: reg.User, Seq: pp.Seq, Mode: pp.Mode,
				Notification: pp.Notification, Due: now, Topic: topic, Expires: pp.Expires})
		}
		if len(ps) > 0 {
			pp.Done = []string{ps[len(ps)-1].User}
		}
		if next == "" {
			if err := p.s.queue.QueuePushes(ctx, ps); err != nil {
				p.retry(ctx, pp, 0, "queue a topic's pushes: "+err.Error())
				return
			}
			if err := p.s.queue.FinishPush(ctx, pp); err != nil {
				slog.Warn("finish a topic's push failed; its last page may be queued again", "msg", pp.MsgID, "topic", topic, "err", err)
			}
			return
		}
		pp.After = next
		if err := p.s.queue.SpreadPush(ctx, pp, ps); err != nil {
			p.retry(ctx, pp, 0, "queue a topic's pushes: "+err.Error())
			return
		}
	}
	pp.Due = time.Now()
	if err := p.s.queue.RetryPush(ctx, pp); err != nil {
		slog.Warn("let a topic's push go failed; it is taken again when its lease ends", "msg", pp.MsgID, "topic", topic, "err", err)
	}
}

// device pushes pp to one registration: done when nothing more is to be
// done for it, again (after a wait) when a later try may succeed, and the
// receipt of a push made (or refused for good).
func (p *pusher) device(ctx context.Context, reg herald.PushRegistration, pp herald.PendingPush) (done, again bool, after time.Duration, rc *herald.PushReceipt) {
	receipt := func(failed string) *herald.PushReceipt {
		return &herald.PushReceipt{MsgID: pp.MsgID, User: pp.User, Device: reg.Device, Provider: reg.Provider, At: time.Now(), Failed: failed}
	}
	if pp.Mode == herald.PushIfNotAcked {
		acked, err := p.s.store.AckedSeq(ctx, pp.User, reg.Device)
		if err != nil {
			return false, true, 0, nil
		}
		if acked >= pp.Seq {
			p.pushes.WithLabelValues(reg.Provider, "acked").Inc()
			return true, false, 0, nil
		}
	}
	prov := p.providers[reg.Provider]
	if prov == nil {
		p.pushes.WithLabelValues(reg.Provider, "no_provider").Inc()
		return true, false, 0, receipt("no credentials for " + reg.Provider + " here")
	}
	p.mu.Lock()
	resting := time.Now().Before(p.paused[reg.Provider])
	p.mu.Unlock()
	if resting {
		p.pushes.WithLabelValues(reg.Provider, "auth_failed").Inc()
		return false, true, authPause, nil
	}
	start := time.Now()
	r := prov.Push(ctx, reg, pp)
	p.latency.WithLabelValues(reg.Provider).Observe(time.Since(start).Seconds())
	if !r.OK && r.Code != "" {
		p.failures.WithLabelValues(reg.Provider, r.Code).Inc()
	}
	switch {
	case r.OK:
		p.pushes.WithLabelValues(reg.Provider, "sent").Inc()
		return true, false, 0, receipt("")
	case r.Gone:
		p.pushes.WithLabelValues(reg.Provider, "gone").Inc()
		slog.Info("push registration gone; removed", "user", reg.User, "device", reg.Device, "provider", reg.Provider, "reason", r.Reason)
		if _, err := p.s.registrations.DeleteRegistration(ctx, reg.User, reg.Device); err != nil {
			slog.Warn("remove a gone push registration", "user", reg.User, "device", reg.Device, "err", err)
		}
		return true, false, 0, receipt("gone: " + r.Reason)
	case r.AuthFailed:
		p.pushes.WithLabelValues(reg.Provider, "auth_failed").Inc()
		p.mu.Lock()
		p.paused[reg.Provider] = time.Now().Add(authPause)
		p.mu.Unlock()
		slog.Error("push provider refused the credentials: its pushes wait until they are fixed", "provider", reg.Provider, "reason", r.Reason)
		return false, true, authPause, receipt("credentials refused: " + r.Reason)
	case r.Retry:
		p.pushes.WithLabelValues(reg.Provider, "retried").Inc()
		return false, true, r.RetryAfter, receipt("will retry: " + r.Reason)
	default:
		p.pushes.WithLabelValues(reg.Provider, "failed").Inc()
		slog.Warn("push refused", "user", reg.User, "device", reg.Device, "provider", reg.Provider, "reason", r.Reason)
		return true, false, 0, receipt(r.Reason)
	}
}

// retry puts pp back, due after the provider's wait or an exponential
// backoff (5 s, 10 s, 20 s ...), whichever is longer.
func (p *pusher) retry(ctx context.Context, pp herald.PendingPush, wait time.Duration, why string) {
	if why != "" {
		slog.Warn("push put back", "msg", pp.MsgID, "user", pp.User, "why", why)
	}
	backoff := p.retryBase << min(pp.Attempts, 10)
	pp.Attempts++
	pp.Due = time.Now().Add(max(wait, backoff))
	if err := p.s.queue.RetryPush(ctx, pp); err != nil {
		slog.Warn("retry push failed; it is taken again when its lease ends", "msg", pp.MsgID, "user", pp.User, "err", err)
	}
}
