package push

import (
	"context"
	"time"
)

// keepAlive is the one loop that pings every connection every PingInterval
// and closes those that sent nothing (not even a pong) for PongTimeout. One
// loop for the node replaces a ticker and a blocked read deadline per
// connection. Each tick visits one slot of the wheel, so a connection is
// visited once per PingInterval, and a silent one is closed between
// PongTimeout and PongTimeout+PingInterval after its last frame.
func (s *Service) keepAlive(ctx context.Context) {
	n := len(s.wheel.slots)
	t := time.NewTicker(max(s.cfg.PingInterval/time.Duration(n), time.Millisecond))
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case now := <-t.C:
			s.keepAliveSlot(i%n, now)
		case <-ctx.Done():
			return
		}
	}
}

// keepAliveSlot checks the tokens of one slot's connections
// (token.go) and pings those that have been quiet in
// either direction for a PingInterval. A client that talks (the SDKs send an
// application ping every 20 s, which the server answers) is not pinged: its
// frames prove it alive, and the answers keep proxies from timing it out.
func (s *Service) keepAliveSlot(slot int, now time.Time) {
	// A little early, so that timer jitter does not push a ping to the
	// next round.
	quiet := now.Add(-s.cfg.PingInterval * 9 / 10).UnixNano()
	dead := now.Add(-s.cfg.PongTimeout).UnixNano()
	s.wheel.visit(slot, func(c *session) {
		if c.closing() {
			return
		}
		if c.lastRead.Load() < dead && c.t.answersPings() {
			c.close(CloseGoingAway, "no pong or frame within the timeout")
			return
		}
		c.checkToken(now)
		if !c.closing() && c.lastPing.Load() < quiet && (c.lastRead.Load() < quiet || c.lastWrite.Load() < quiet) {
			c.lastPing.Store(now.UnixNano())
			if !c.pingNow() {
				c.enqueue(outItem{ctl: ctlPing})
			}
		}
	})
}

// pingNow has the transport write a ping from the keep-alive loop itself
// when no writer runs and the socket takes it at once: no goroutine, no
// deadline. It reports false when the ping must be queued instead.
func (c *session) pingNow() bool {
	if !c.writing.CompareAndSwap(false, true) {
		return false
	}
	r := c.t.ping()
	switch r {
	case pingFailed:
		c.writing.Store(false)
		c.close(CloseGoingAway, "ping failed")
		return true
	case pingPart:
		// Half a frame is out: a writer that still holds the flag must
		// finish it before anything else.
		go func() {
			if err := c.flush(); err != nil {
				c.close(CloseGoingAway, "write failed")
			}
			c.writeLoop()
		}()
		return true
	case pingWritten:
		c.lastWrite.Store(time.Now().UnixNano())
	}
	c.writing.Store(false)
	// Something queued or a close while the flag was held found a writer
	// running and started none.
	if !c.send.empty() || c.closing() {
		c.kick()
	}
	return r == pingWritten
}
