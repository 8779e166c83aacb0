package push

import (
	"context"
	"time"

	"github.com/heraldpush/herald/internal/ws"
)

// keepAlive is the one loop that pings every connection every PingInterval
// and closes those that sent nothing (not even a pong) for PongTimeout. One
// loop for the node replaces a ticker and a blocked read deadline per
// connection; each tick costs a pass over the hub, about 20 ns a connection.
func (s *Service) keepAlive(ctx context.Context) {
	tick := min(s.cfg.PingInterval, s.cfg.PongTimeout) / 4
	tick = max(min(tick, time.Second), 10*time.Millisecond)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			s.keepAliveOnce(now)
		case <-ctx.Done():
			return
		}
	}
}

func (s *Service) keepAliveOnce(now time.Time) {
	ping := now.Add(-s.cfg.PingInterval).UnixNano()
	dead := now.Add(-s.cfg.PongTimeout).UnixNano()
	s.hub.forEach(func(c *conn) {
		switch {
		case c.closing():
		case c.lastRead.Load() < dead:
			c.close(CloseGoingAway, "no pong or frame within the timeout")
		case c.lastPing.Load() < ping:
			// Connections opened at different times are pinged at
			// different times, so the pings of a node spread out.
			c.lastPing.Store(now.UnixNano())
			c.enqueue(outItem{control: ws.OpPing})
		}
	})
}
