package push

import (
	"context"
	"log/slog"
	"time"
)

// catchUpChunk is how many users one LastSeqs query covers.
const catchUpChunk = 1000

// catchUp is the re-dispatch path: a message that was stored but never reached
// this node live (dispatch down, a forward lost, a dispatch queue overflow)
// still reaches a connection that stays open, within CatchUpInterval. Every
// interval the node asks the store for the newest seq of all its users, in
// chunks of 1,000 per query, and each connection that is behind replays the
// difference from the store, in order, through its own writer.
//
// The cost is O(users on the node / 1,000) store queries per interval, not a
// query per connection or per message.
func (s *Service) catchUp(ctx context.Context) {
	t := time.NewTicker(s.cfg.CatchUpInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.catchUpOnce(ctx)
		case <-ctx.Done():
			return
		}
	}
}

func (s *Service) catchUpOnce(ctx context.Context) {
	var users []string
	byUser := map[string][]*conn{}
	flush := func() {
		if len(users) == 0 {
			return
		}
		last, err := s.store.LastSeqs(ctx, users)
		if err != nil {
			if ctx.Err() == nil {
				slog.Warn("catch-up: read last seqs", "users", len(users), "err", err)
			}
		} else {
			for u, seq := range last {
				for _, c := range byUser[u] {
					if c.lastSent.Load() < seq {
						c.enqueue(outItem{seq: seq, catchUp: true})
						s.m.catchUps.Inc()
					}
				}
			}
		}
		users, byUser = users[:0], map[string][]*conn{}
	}
	s.hub.eachConns(func(u string, cs []*conn) {
		users = append(users, u)
		byUser[u] = cs
		if len(users) >= catchUpChunk {
			flush()
		}
	})
	flush()
}
