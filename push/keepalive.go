package push

import (
	"context"
	"time"

	"github.com/heraldpush/herald/internal/netpoll"
	"github.com/heraldpush/herald/internal/ws"
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
	s.wheel.visit(slot, func(c *conn) {
		if c.closing() {
			return
		}
		if c.lastRead.Load() < dead {
			c.close(CloseGoingAway, "no pong or frame within the timeout")
			return
		}
		c.checkToken(now)
		if !c.closing() && c.lastPing.Load() < quiet && (c.lastRead.Load() < quiet || c.lastWrite.Load() < quiet) {
			c.lastPing.Store(now.UnixNano())
			if !c.pingNow() {
				c.enqueue(outItem{control: ws.OpPing})
			}
		}
	})
}

// pingFrame is an empty ping.
var pingFrame = ws.AppendFrame(nil, ws.OpPing, nil)

// pingNow writes a ping from the keep-alive loop itself when no writer runs
// and the socket takes the two bytes at once: no goroutine, no deadline. It
// reports false when the ping must be queued instead.
func (c *conn) pingNow() bool {
	if c.raw == nil || !c.writing.CompareAndSwap(false, true) {
		return false
	}
	n, err := netpoll.TryWrite(c.raw, pingFrame)
	switch {
	case err != nil:
		c.writing.Store(false)
		c.close(CloseGoingAway, "ping failed")
		return true
	case n > 0 && n < len(pingFrame):
		// Half a frame is out: the writer must finish it before anything
		// else, so it goes to a writer that still holds the flag.
		go func() {
			c.wbuf = writeBufs.Get().(*[]byte)
			*c.wbuf = append(*c.wbuf, pingFrame[n:]...)
			if err := c.flush(); err != nil {
				c.close(CloseGoingAway, "write failed")
			}
			c.writeLoop()
		}()
		return true
	}
	c.writing.Store(false)
	if n > 0 {
		c.lastWrite.Store(time.Now().UnixNano())
	}
	// Something queued or a close while the flag was held found a writer
	// running and started none.
	if !c.send.empty() || c.closing() {
		c.kick()
	}
	return n > 0
}
