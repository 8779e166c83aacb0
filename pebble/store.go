// Package pebble is the embedded Store that `herald all` uses: a Pebble
// database (an LSM with a write-ahead log, CockroachDB's storage engine) under
// the data directory, no server to install.
//
// Why Pebble, on the numbers: the first embedded store was bbolt (a B+tree).
// Each commit rewrites every B+tree page it touches, and a batch of messages to
// random users touches pages all over the tree, so on this project's 2-core
// test machine ingest topped out near 3,500 messages/s with 32 single-request
// senders (4,600 with 128) and 9,200/s through the batch API, however the commits were grouped
// (docs/design/performance-log.md). Pebble commits a batch as one append to its
// write-ahead log and one fsync, and sorts keys in the background, which is
// what an ingest-heavy, read-by-range workload wants.
//
// Keys (one keyspace, ordered; IDs never contain 0x00):
//
//	m <id>                    -> message record (payload stored once)
//	i <user> 0x00 <seq:8>     -> message id: a user's inbox, in seq order
//	s <user>                  -> last seq (8), written only by retention (below)
//	a <user> 0x00 <device>    -> acked seq (8)
//	t <ms:8> <id>             -> nothing: retention's index by time
//	r, k                      -> receipts (receipts.go)
//	e                         -> the store's epoch (every stream's; herald.StreamPos)
package pebble

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	pdb "github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"

	"github.com/heraldpush/herald"
)

// A user's last seq is the seq of the last key in its inbox, so Append
// writes no counter key: that was a quarter of a unicast message's keys and
// a third of a multicast delivery's (with its receipt), each an insert into
// the memtable's skiplist, which was a fifth of the node's CPU in the
// multicast benchmark. Only retention, when it removes a user's newest
// inbox entry, writes the `s` key, so that seqs are never reused; the last
// seq is the greater of the two.

// Store is a herald.Store on Pebble.
type Store struct {
	db *pdb.DB
	// mu serialises writers: seqs are read and raised inside one critical
	// section, so seq order is commit order. Group commit in collect makes one
	// writer carry many messages.
	mu sync.Mutex
	// seqs caches each user's last seq (guarded by mu): this process is the
	// store's only writer (Pebble locks the directory), so the cache is
	// exact, and the hot path reads no seq from disk after a user's first.
	seqs map[string]uint64
	// rmu serialises receipt writes (receipts.go).
	rmu sync.Mutex
	// qmu serialises the push queue, and guards leases (pushqueue.go).
	qmu    sync.Mutex
	leases map[string]time.Time
	// pmu serialises registration writes, which read the old one to
	// update the topic index (pushreg.go).
	pmu sync.Mutex
	// appends counts the successful Appends (herald.AppendCounter).
	appends atomic.Uint64
	// epoch is every stream's epoch: the store's own, made when the store
	// is created (or first opened by a version that keeps one). The
	// embedded store is wiped whole or not at all, so one epoch per store
	// tells a client everything a per-stream one would.
	epoch string
}

var (
	_ herald.Store         = (*Store)(nil)
	_ herald.AppendCounter = (*Store)(nil)
)

type record struct {
	TS      int64           `json:"ts"`
	Topic   string          `json:"topic,omitempty"`
	Exp     int64           `json:"exp,omitempty"` // Unix ms; 0: none
	CK      string          `json:"ck,omitempty"`  // collapse key
	RC      int64           `json:"rc,omitempty"`  // recalled, Unix ms; 0: not
	Payload json.RawMessage `json:"payload"`
	Users   []string        `json:"users"` // with Seqs: lets retention find the inbox entries,
	Seqs    []herald.Seq    `json:"seqs"`  // and a retried message get its first seqs back
}

// Open opens (or creates) the store in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", dir, err)
	}
	opts := &pdb.Options{
		Logger: quietLogger{},
		Cache:  pdb.NewCache(64 << 20),
		// A larger memtable turns a burst of ingest into fewer, larger
		// flushes and less compaction work per message.
		MemTableSize:          64 << 20,
		L0CompactionThreshold: 8,
	}
	defer opts.Cache.Unref()
	// Bloom filters: most point reads (is this message ID stored already?)
	// are for keys that do not exist, which a filter answers without I/O.
	for i := range opts.Levels {
		opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	db, err := pdb.Open(dir+"/store", opts)
	if err != nil {
		return nil, fmt.Errorf("open store in %s: %w (is another herald using this data dir?)", dir, err)
	}
	s := &Store{db: db, seqs: map[string]uint64{}}
	if err := s.openEpoch(); err != nil {
		db.Close()
		return nil, fmt.Errorf("open store in %s: %w", dir, err)
	}
	return s, nil
}

// openEpoch reads the store's epoch (key "e"), making and saving one for a
// new store.
func (s *Store) openEpoch() error {
	v, err := s.get([]byte("e"))
	if err != nil {
		return fmt.Errorf("read epoch: %w", err)
	}
	if v != nil {
		s.epoch = string(v)
		return nil
	}
	s.epoch = herald.NewEpoch()
	if err := s.db.Set([]byte("e"), []byte(s.epoch), pdb.Sync); err != nil {
		return fmt.Errorf("save epoch: %w", err)
	}
	return nil
}

func key(prefix byte, parts ...string) []byte {
	n := 1
	for _, p := range parts {
		n += len(p) + 1
	}
	k := make([]byte, 0, n+8)
	k = append(k, prefix)
	for i, p := range parts {
		if i > 0 {
			k = append(k, 0)
		}
		k = append(k, p...)
	}
	return k
}

func inboxKey(user string, seq herald.Seq) []byte {
	return binary.BigEndian.AppendUint64(append(key('i', user), 0), seq)
}

func timeKey(ms int64, id string) []byte {
	return append(binary.BigEndian.AppendUint64([]byte{'t'}, uint64(ms)), id...)
}

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// get returns a copy of the value at k, nil when absent.
func (s *Store) get(k []byte) ([]byte, error) {
	v, closer, err := s.db.Get(k)
	if errors.Is(err, pdb.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, nil
}

func (s *Store) getU64(k []byte) (uint64, error) {
	v, err := s.get(k)
	return u64(v), err
}

// Append implements herald.Store: one batch, one WAL write and one fsync.
func (s *Store) Append(ctx context.Context, msgs []*herald.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.append(msgs)
	if err != nil {
		for _, m := range msgs {
			m.Seqs = nil
		}
		return fmt.Errorf("append %d messages: %v: %w", len(msgs), err, herald.ErrUnavailable)
	}
	s.appends.Add(1)
	return nil
}

// Appends implements herald.AppendCounter: this process is the store's only
// writer (Open takes the directory's lock).
func (s *Store) Appends() uint64 { return s.appends.Load() }

func (s *Store) append(msgs []*herald.Message) error {
	b := s.db.NewBatch()
	defer b.Close()
	last := make(map[string]uint64)
	fresh := make(map[string]*herald.Message) // IDs first written in this batch
	var raw []byte
	for _, m := range msgs {
		if f, ok := fresh[m.ID]; ok {
			m.Users, m.Seqs, m.Dup = f.Users, f.Seqs, true
			continue
		}
		// A random ID cannot be stored already; only a keyed one (a retry)
		// costs a read. That read was 44 % of the server's CPU under the
		// batch benchmark: a miss walks every level's bloom filter.
		if !m.NewID {
			rec, err := s.record(m.ID)
			if err != nil {
				return err
			}
			if rec != nil {
				m.Users, m.Seqs, m.Dup = rec.Users, rec.Seqs, true
				continue
			}
		}
		fresh[m.ID] = m
		m.Seqs = make([]herald.Seq, len(m.Users))
		for i, u := range m.Users {
			n, ok := last[u]
			if !ok {
				var err error
				if n, err = s.lastSeq(u); err != nil {
					return err
				}
			}
			n++
			last[u] = n
			m.Seqs[i] = n
			b.Set(inboxKey(u, n), []byte(m.ID), nil)
			if m.CollapseKey != "" {
				b.Set(key('c', u, m.CollapseKey), binary.BigEndian.AppendUint64(nil, n), nil)
			}
		}
		raw = appendRecord(raw[:0], m)
		b.Set(key('m', m.ID), raw, nil) // Set copies raw into the batch
		if !timeOrdered(m.ID, m.Time.UnixMilli()) {
			// Retention finds a message whose ID begins with its time by
			// the ID itself (retention.go); any other needs this index.
			b.Set(timeKey(m.Time.UnixMilli(), m.ID), nil, nil)
		}
	}
	if err := b.Commit(pdb.Sync); err != nil {
		return err
	}
	for u, n := range last {
		s.seqs[u] = n
	}
	return nil
}

// delivery is the record as user's seq.
func (r *record) delivery(id, user string, seq herald.Seq) herald.Delivery {
	d := herald.Delivery{ID: id, User: user, Seq: seq, Time: time.UnixMilli(r.TS), Topic: r.Topic, Payload: r.Payload, CollapseKey: r.CK, Recalled: r.RC != 0}
	if r.Exp != 0 {
		d.Expires = time.UnixMilli(r.Exp)
	}
	return d
}

// NewestByKey implements herald.CollapseIndex: c<stream>\0<key> holds the
// seq of the stream's newest message with the key, written with it.
func (s *Store) NewestByKey(_ context.Context, stream string, keys []string) (map[string]herald.Seq, error) {
	out := make(map[string]herald.Seq, len(keys))
	for _, k := range keys {
		n, err := s.getU64(key('c', stream, k))
		if err != nil {
			return nil, err
		}
		if n > 0 {
			out[k] = n
		}
	}
	return out, nil
}

// record reads message id's record (nil when it is not stored).
func (s *Store) record(id string) (*record, error) {
	raw, err := s.get(key('m', id))
	if err != nil || raw == nil {
		return nil, err
	}
	var rec record
	if err := json.Unmarshal(raw, &rec); err != nil {
		return nil, fmt.Errorf("decode message %s: %w", id, err)
	}
	return &rec, nil
}

// lastSeq returns user's last seq from the cache, reading it once; s.mu held.
func (s *Store) lastSeq(user string) (uint64, error) {
	if n, ok := s.seqs[user]; ok {
		return n, nil
	}
	n, err := s.storedLastSeq(user)
	if err == nil {
		s.seqs[user] = n
	}
	return n, err
}

// storedLastSeq reads user's last seq from disk: the seq of its newest inbox
// entry, or the one retention recorded when it removed that entry, whichever
// is greater.
func (s *Store) storedLastSeq(user string) (uint64, error) {
	swept, err := s.getU64(key('s', user))
	if err != nil {
		return 0, err
	}
	newest, err := s.inboxEdge(user, true)
	return max(swept, newest), err
}

// inboxEdge returns the seq of user's newest (or oldest) inbox entry, 0 when
// the inbox is empty.
func (s *Store) inboxEdge(user string, newest bool) (uint64, error) {
	prefix := append(key('i', user), 0)
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: prefix, UpperBound: append(key('i', user), 1)})
	if err != nil {
		return 0, err
	}
	defer it.Close()
	ok := it.First()
	if newest {
		ok = it.Last()
	}
	if ok {
		return u64(it.Key()[len(prefix):]), nil
	}
	return 0, it.Error()
}

// Messages implements herald.Store.
func (s *Store) Messages(_ context.Context, user string, after herald.Seq, limit int) ([]herald.Delivery, error) {
	prefix := append(key('i', user), 0)
	it, err := s.db.NewIter(&pdb.IterOptions{LowerBound: inboxKey(user, after+1), UpperBound: append(key('i', user), 1)})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []herald.Delivery
	for ok := it.First(); ok && len(out) < limit; ok = it.Next() {
		seq := u64(it.Key()[len(prefix):])
		id := string(it.Value())
		rec, err := s.record(id)
		if err != nil {
			return nil, err
		}
		if rec == nil {
			continue // removed by retention between the two reads
		}
		out = append(out, rec.delivery(id, user, seq))
	}
	return out, it.Error()
}

// LastSeq implements herald.Store. It reads the disk rather than the cache,
// without the writers' lock, which is held through every commit's fsync.
func (s *Store) LastSeq(_ context.Context, user string) (herald.StreamPos, error) {
	n, err := s.storedLastSeq(user)
	return herald.StreamPos{Seq: n, Epoch: s.epoch}, err
}

// LastSeqs implements herald.Store, from the in-memory seq cache where it can:
// push nodes ask for every connected user every few seconds.
func (s *Store) LastSeqs(_ context.Context, users []string) (map[string]herald.Seq, error) {
	out := make(map[string]herald.Seq, len(users))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range users {
		n, err := s.lastSeq(u)
		if err != nil {
			return nil, err
		}
		if n > 0 {
			out[u] = n
		}
	}
	return out, nil
}

// OldestSeq implements herald.Store.
func (s *Store) OldestSeq(_ context.Context, user string) (herald.Seq, error) {
	return s.inboxEdge(user, false)
}

// SaveAcks implements herald.Store. Acks are written without an fsync: they
// only steer where a resume starts, and losing the last ones in a crash
// means a few repeated messages, never a lost one.
func (s *Store) SaveAcks(_ context.Context, acks []herald.Ack) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	for _, a := range acks {
		k := key('a', a.User, a.Device)
		cur, err := s.getU64(k)
		if err != nil {
			return err
		}
		if a.Seq > cur {
			b.Set(k, binary.BigEndian.AppendUint64(nil, a.Seq), nil)
		}
	}
	if err := b.Commit(pdb.NoSync); err != nil {
		return fmt.Errorf("save %d acks: %w", len(acks), err)
	}
	return nil
}

// AckedSeq implements herald.Store.
func (s *Store) AckedSeq(_ context.Context, user, device string) (herald.Seq, error) {
	return s.getU64(key('a', user, device))
}

// Ping implements herald.Store.
func (s *Store) Ping(context.Context) error { return nil }

// Close implements herald.Store.
func (s *Store) Close(context.Context) error { return s.db.Close() }

// quietLogger keeps Pebble's informational chatter out of Herald's logs.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
	os.Exit(1)
}
