package push

import (
	"context"
	"log/slog"
	"time"

	"github.com/heraldpush/herald"
)

// catchUpChunk is how many connections one LastSeqs query covers.
const catchUpChunk = 1000

// catchUp is the re-dispatch path: a message that was stored but never reached
// this node live (dispatch down, a forward lost, a dispatch queue overflow)
// still reaches a connection that stays open, within two CatchUpIntervals. Every
// interval the node asks the store for the newest seq of all its users, in
// chunks of 1,000 per query, and each connection that is behind replays the
// difference from the store, in order, through its own writer.
//
// The cost is O(users on the node / 1,000) store queries per interval, not a
// query per connection or per message, and the buffers are kept between
// rounds.
func (s *Service) catchUp(ctx context.Context) {
	t := time.NewTicker(s.cfg.CatchUpInterval)
	defer t.Stop()
	var cu catchUpper
	for {
		select {
		case <-t.C:
			cu.run(ctx, s)
		case <-ctx.Done():
			return
		}
	}
}

type catchUpper struct {
	conns []*session
	users []string
	// appends is the store's append count (herald.AppendCounter) at the
	// start of the last two rounds: [0] the one before the last.
	appends [2]uint64
	found   int // catch-ups the last round queued
	// seen is each topic key's newest seq at the previous round. A topic
	// subscription is caught up only to that: a message stored since is
	// likely still on its way to thousands of subscribers, and catching them
	// all up would be one store read each for nothing.
	seen map[string]herald.Seq
}

func (cu *catchUpper) run(ctx context.Context, s *Service) {
	if cu.idle(s) {
		return
	}
	cu.found = 0
	for i := range s.wheel.slots {
		cu.conns = s.wheel.snapshot(i, cu.conns[:0])
		for len(cu.conns) > 0 {
			n := min(len(cu.conns), catchUpChunk)
			cu.check(ctx, s, cu.conns[:n])
			cu.conns = cu.conns[n:]
		}
	}
	clear(cu.conns[:cap(cu.conns)]) // drop references to closed connections
	cu.topics(ctx, s)
}

// idle reports that this round can find nothing to catch up: the store
// counts its appends, none came since the round before the last, and the
// last round queued no catch-up (one that could not be queued is looked for
// again). A round catches up only to what the store held a round earlier,
// so a message appended since the round before the last still has this
// round to come. Skipped, a round costs no store read (on an idle node of
// 18,000 connections the rounds were a tenth of the node's CPU).
func (cu *catchUpper) idle(s *Service) bool {
	if s.appends == nil {
		return false
	}
	n := s.appends.Appends()
	quiet := n == cu.appends[1] && n == cu.appends[0] && cu.found == 0
	cu.appends = [2]uint64{cu.appends[1], n}
	return quiet
}

// topics catches up the topic subscriptions and the broadcast stream: one
// LastSeqs query per 1,000 topics with local subscribers (plus the broadcast
// key), then each subscription still behind what was stored a round ago
// replays from the store. A lost topic message reaches its subscribers
// within two intervals.
func (cu *catchUpper) topics(ctx context.Context, s *Service) {
	keys := append(s.hub.topicKeys(), herald.BroadcastKey)
	seen := make(map[string]herald.Seq, len(keys))
	defer func() { cu.seen = seen }()
	for len(keys) > 0 {
		chunk := keys[:min(len(keys), catchUpChunk)]
		keys = keys[len(chunk):]
		last, err := s.store.LastSeqs(ctx, chunk)
		if err != nil {
			if ctx.Err() == nil {
				slog.Warn("catch-up: read last seqs of topics", "topics", len(chunk), "err", err)
			}
			return
		}
		for _, k := range chunk {
			seen[k] = last[k]
			seq := min(last[k], cu.seen[k])
			if seq == 0 {
				continue
			}
			if k == herald.BroadcastKey {
				for _, c := range s.hub.all() {
					cu.behind(s, &c.bcast, seq)
				}
				continue
			}
			for _, ts := range s.hub.subs(k) {
				cu.behind(s, ts, seq)
			}
		}
	}
}

// behind queues a catch-up of ts when it is behind seq.
func (cu *catchUpper) behind(s *Service, ts *topicSub, seq herald.Seq) {
	if ts.ready.Load() && !ts.gone.Load() && ts.last.Load() < seq && !ts.c.closing() {
		ts.c.enqueue(outItem{seq: seq, catchUp: true, sub: ts})
		s.m.catchUps.Inc()
		cu.found++
	}
}

func (cu *catchUpper) check(ctx context.Context, s *Service, conns []*session) {
	cu.users = cu.users[:0]
	for _, c := range conns {
		cu.users = append(cu.users, c.user) // a user's devices repeat it; LastSeqs dedupes
	}
	last, err := s.store.LastSeqs(ctx, cu.users)
	if err != nil {
		if ctx.Err() == nil {
			slog.Warn("catch-up: read last seqs", "users", len(cu.users), "err", err)
		}
		return
	}
	for _, c := range conns {
		// Caught up only to what the store held a round ago, as topics are:
		// under load, a message stored a moment ago is mostly still on its
		// way live, and catching its recipients up read the store for each
		// of them for nothing (the multicast benchmark: 7,155 catch-ups and
		// 4,895 messages read back in 15 s, with nothing lost live). A lost
		// forward now reaches its connection within two intervals.
		seq := min(last[c.user], c.catchUpSeen)
		c.catchUpSeen = last[c.user]
		if seq > 0 && c.lastSent.Load() < seq && !c.closing() {
			c.enqueue(outItem{seq: seq, catchUp: true})
			s.m.catchUps.Inc()
			cu.found++
		}
	}
}
