// Package receipts records what became of each message for each device:
// delivered (written to its socket) and acked, in the store for GET
// /v1/messages/{id}, and as signed webhook events (acked, not_acked) when a
// webhook is configured. Push nodes feed it; collect reads the store. It is
// off the delivery path: nothing a message does waits for a receipt.
package receipts

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald"
)

// How receipts come in. A connection's writer notes each user message it
// writes (not topic messages or broadcasts) and, once the write succeeded,
// hands the notes to the node's Recorder with the device and the time; acks come from the
// reader. Every receiptFlush the recorder writes what gathered in two
// batched store calls (deliveries first, so an ack in the same window finds
// them). Nothing on the delivery path waits for receipts: when the store
// falls behind, receipts past maxPendingReceipts are dropped and counted
// (herald_receipts_dropped_total), never the messages.
//
// With a webhook configured the recorder also tracks, in memory, what each
// device was sent and has not acked, and turns it into events: "acked" when
// an ack covers it, "not_acked" when AckTimeout passes first (unless the
// device acked it on another node meanwhile, which the store's acks say).

// receiptFlush is how often gathered receipts are written.
const receiptFlush = 200 * time.Millisecond

// maxPendingReceipts bounds the receipts (and tracked deliveries) waiting in
// memory on a node.
const maxPendingReceipts = 200_000

// Noted is one user message a connection's writer wrote.
type Noted struct {
	ID  string
	Seq herald.Seq
}

// key is a device of a user.
type key struct{ user, device string }

// sentEntry is a delivery waiting for its ack (webhook only).
type sentEntry struct {
	id        string
	seq       herald.Seq
	delivered time.Time
}

// Recorder gathers a node's receipts and writes them in batches.
type Recorder struct {
	store herald.ReceiptStore
	acks  herald.Store // the cumulative acks of devices, saved by every node
	hook  *Webhook     // nil: no events
	wait  time.Duration

	mu      sync.Mutex
	pending []herald.Receipt // deliveries not written yet
	// spare is the slice of the last flush, emptied, for the next pending:
	// a delivery's receipt then costs no allocation once the node runs at
	// a steady rate (it was 240 B a message, the slice regrowing from nil
	// after each flush).
	spare []herald.Receipt
	acked map[key]herald.AckAt
	sent  map[key][]sentEntry // webhook: delivered, not acked yet
	nSent int

	saved, dropped prometheus.Counter
}

// New returns a Recorder that writes to store; with hook it also sends
// events, not_acked after wait without an ack (acks, the devices' saved
// acks, tell of one made on another node).
func New(store herald.ReceiptStore, acks herald.Store, hook *Webhook, wait time.Duration, reg prometheus.Registerer) *Recorder {
	r := &Recorder{store: store, acks: acks, hook: hook, wait: wait,
		acked: map[key]herald.AckAt{}, sent: map[key][]sentEntry{},
		saved:   prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_receipts_saved_total", Help: "Delivery receipts written to the store."}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "herald_receipts_dropped_total", Help: "Delivery receipts not recorded because the store fell behind."}),
	}
	reg.MustRegister(r.saved, r.dropped)
	return r
}

// maxFlushReceipts bounds the receipts one flush writes: five flushes a
// second of up to 50,000, well over the 50,000-100,000 deliveries a second
// a node makes in the benchmarks.
const maxFlushReceipts = 50000

// maxSpareReceipts bounds the slice kept between flushes (about 1.7 MB): a
// burst's larger one goes to the collector.
const maxSpareReceipts = 16384

// Delivered records that ns were written to the device's socket at at.
func (r *Recorder) Delivered(user, device string, ns []Noted, at time.Time) {
	at = at.Truncate(time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.pending)+len(ns) > maxPendingReceipts {
		r.dropped.Add(float64(len(ns)))
		return
	}
	for _, n := range ns {
		r.pending = append(r.pending, herald.Receipt{MsgID: n.ID, User: user, Device: device, Seq: n.Seq, Delivered: at})
	}
}

// Sending tracks, for the webhook, messages about to be written: before the
// write, because the client's ack may be read before the writer gets back
// from it. A write that fails leaves them waiting, and they become
// not_acked events, which they are.
func (r *Recorder) Sending(user, device string, ns []Noted, at time.Time) {
	at = at.Truncate(time.Millisecond)
	k := key{user, device}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range ns {
		if r.nSent >= maxPendingReceipts {
			return
		}
		list := r.sent[k]
		if len(list) == 0 || list[len(list)-1].seq < n.Seq {
			r.sent[k] = append(list, sentEntry{n.ID, n.Seq, at})
			r.nSent++
		}
	}
}

// keepAck makes a its device's ack to save unless a later one waits
// already; r.mu is held.
func (r *Recorder) keepAck(a herald.AckAt) {
	k := key{a.User, a.Device}
	if cur, ok := r.acked[k]; !ok || a.Seq > cur.Seq {
		r.acked[k] = a
	}
}

// Ack records the device's cumulative ack of seq.
func (r *Recorder) Ack(user, device string, seq herald.Seq, at time.Time) {
	k := key{user, device}
	at = at.Truncate(time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.keepAck(herald.AckAt{Ack: herald.Ack{User: user, Device: device, Seq: seq}, At: at})
	if r.hook == nil {
		return
	}
	list := r.sent[k]
	i := 0
	for i < len(list) && list[i].seq <= seq {
		e := list[i]
		r.hook.Add(Event{Type: EventAcked, ID: e.id, User: user, Device: device, Seq: e.seq,
			DeliveredAt: e.delivered.UnixMilli(), AckedAt: at.UnixMilli()})
		i++
	}
	r.nSent -= i
	if i == len(list) {
		delete(r.sent, k)
	} else if i > 0 {
		r.sent[k] = append(list[:0:0], list[i:]...)
	}
}

// Run flushes until ctx ends, then once more within final.
func (r *Recorder) Run(ctx, flushes context.Context, final func() (context.Context, context.CancelFunc)) {
	t := time.NewTicker(receiptFlush)
	defer t.Stop()
	for tick := 0; ; tick++ {
		select {
		case <-t.C:
			fctx, cancel := context.WithTimeout(flushes, 10*time.Second) // as acks: ends with the drain
			r.flush(fctx)
			cancel()
			if tick%5 == 0 { // a second is fine enough for --receipts-ack-timeout, and expire walks every device waiting
				r.expire(time.Now())
			}
		case <-ctx.Done():
			fctx, cancel := final() // what is left of the node's drain
			r.flush(fctx)
			cancel()
			// What that last flush could not write goes with the process.
			r.mu.Lock()
			r.dropped.Add(float64(len(r.pending)))
			r.mu.Unlock()
			return
		}
	}
}

// flush writes the gathered deliveries, then the acks.
func (r *Recorder) flush(ctx context.Context) {
	r.mu.Lock()
	ds := r.pending
	if len(ds) > maxFlushReceipts {
		// Behind (a store that was down): one flush writes a bounded
		// part, so that a store coming back is not handed one huge write
		// that times out and comes back again whole.
		r.pending = append(r.spare[:0], ds[maxFlushReceipts:]...)
		ds = ds[:maxFlushReceipts]
	} else {
		r.pending = r.spare
	}
	r.spare = nil
	var as []herald.AckAt
	for _, a := range r.acked {
		as = append(as, a)
	}
	clear(r.acked)
	r.mu.Unlock()
	if len(ds) == 0 && len(as) == 0 {
		return
	}
	if err := r.store.SaveDelivered(ctx, ds); err != nil {
		// A store that is down for a moment (an election, a lock held too
		// long) loses no receipt: the next flush tries them again. They
		// are upserts that keep the first delivery time, so writing one
		// twice changes nothing.
		slog.Warn("save delivery receipts; trying again at the next flush", "receipts", len(ds), "err", err)
		r.requeue(ds)
	} else {
		r.saved.Add(float64(len(ds)))
		if cap(ds) <= maxSpareReceipts {
			clear(ds[:cap(ds)]) // no strings kept alive
			r.mu.Lock()
			r.spare = ds[:0]
			r.mu.Unlock()
		}
	}
	if err := r.store.SaveAcked(ctx, as); err != nil {
		slog.Warn("save receipt acks; trying again at the next flush", "acks", len(as), "err", err)
		r.mu.Lock()
		for _, a := range as {
			r.keepAck(a)
		}
		r.mu.Unlock()
	}
}

// requeue puts receipts that a flush could not write back in front of those
// gathered since, as many as maxPendingReceipts allows (the rest are counted
// as dropped).
func (r *Recorder) requeue(ds []herald.Receipt) {
	r.mu.Lock()
	defer r.mu.Unlock()
	keep := min(len(ds), max(maxPendingReceipts-len(r.pending), 0))
	r.dropped.Add(float64(len(ds) - keep))
	r.pending = append(ds[:keep:keep], r.pending...)
}

// expire turns deliveries not acked within the wait into not_acked events,
// unless the store's acks show the device acked them (on another node).
func (r *Recorder) expire(now time.Time) {
	if r.hook == nil {
		return
	}
	type due struct {
		k  key
		es []sentEntry
	}
	var dues []due
	r.mu.Lock()
	for k, list := range r.sent {
		i := 0
		for i < len(list) && now.Sub(list[i].delivered) >= r.wait {
			i++
		}
		if i == 0 {
			continue
		}
		dues = append(dues, due{k, list[:i:i]})
		r.nSent -= i
		if i == len(list) {
			delete(r.sent, k)
		} else {
			r.sent[k] = append(list[:0:0], list[i:]...)
		}
	}
	r.mu.Unlock()
	for _, d := range dues {
		var acked herald.Seq
		if r.acks != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			acked, _ = r.acks.AckedSeq(ctx, d.k.user, d.k.device)
			cancel()
		}
		for _, e := range d.es {
			if e.seq <= acked {
				continue // acked elsewhere; that node sent the event
			}
			r.hook.Add(Event{Type: EventNotAcked, ID: e.id, User: d.k.user, Device: d.k.device, Seq: e.seq, DeliveredAt: e.delivered.UnixMilli()})
		}
	}
}
