// Package bolt is the embedded Store that `herald all` uses: one bbolt file under
// the data directory, no server to install.
//
// Why bbolt (and not Pebble): Herald's embedded store needs ordered per-user range
// scans, ACID commits that are durable when they return, and a small footprint for
// a one-process demo or a small deployment. bbolt is a single pure-Go file format
// (a B+tree, used by etcd and kept by the etcd maintainers) with one fsync per
// write transaction and no background work; Pebble is an LSM built for far larger
// write volumes, with many dependencies and background compactions. Group commit in
// the collect service turns bbolt's one-writer, one-fsync-per-transaction model
// into thousands of messages per fsync.
package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bbolt "go.etcd.io/bbolt"

	"github.com/heraldpush/herald"
)

// Buckets. Keys built from IDs use 0x00 as separator: herald.ValidID never
// allows it, so "u1\x00" can never be a prefix of another user's keys.
var (
	bMsgs  = []byte("msgs")  // message id -> record
	bInbox = []byte("inbox") // user 0x00 seq(8, big endian) -> message id
	bSeq   = []byte("seq")   // user -> last seq (8)
	bAcks  = []byte("acks")  // user 0x00 device -> acked seq (8)
	bTime  = []byte("time")  // ts ms (8) message id -> nothing: retention's index
)

// Store is a herald.Store on bbolt.
type Store struct {
	db *bbolt.DB
}

var _ herald.Store = (*Store)(nil)

type record struct {
	TS      int64           `json:"ts"`
	Topic   string          `json:"topic,omitempty"`
	Payload json.RawMessage `json:"payload"`
	Users   []string        `json:"users"` // with Seqs: lets retention find the inbox entries,
	Seqs    []herald.Seq    `json:"seqs"`  // and a retried message get its first seqs back
}

// Open opens (or creates) the store in dir.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create data dir %s: %w", dir, err)
	}
	path := filepath.Join(dir, "herald.db")
	// The timeout turns "another herald already uses this directory" into an
	// error instead of a silent hang on the file lock.
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: 2 * time.Second, FreelistType: bbolt.FreelistMapType})
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w (is another herald using this data dir?)", path, err)
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bMsgs, bInbox, bSeq, bAcks, bTime} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("init store %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

func inboxKey(user string, seq herald.Seq) []byte {
	k := make([]byte, 0, len(user)+9)
	k = append(k, user...)
	k = append(k, 0)
	return binary.BigEndian.AppendUint64(k, seq)
}

func u64(b []byte) uint64 {
	if len(b) != 8 {
		return 0
	}
	return binary.BigEndian.Uint64(b)
}

// Append implements herald.Store: one transaction, so one fsync, for the batch.
// Seqs are assigned inside the write transaction, and bbolt has one writer at a
// time, so seq order is commit order: no reader ever sees seq n+1 before n.
// A message is written whole or not at all, so a stored ID means every
// recipient has it.
func (s *Store) Append(ctx context.Context, msgs []*herald.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		mb, ib, sb, tb := tx.Bucket(bMsgs), tx.Bucket(bInbox), tx.Bucket(bSeq), tx.Bucket(bTime)
		last := make(map[string]uint64)
		for _, m := range msgs {
			if raw := mb.Get([]byte(m.ID)); raw != nil {
				var rec record
				if err := json.Unmarshal(raw, &rec); err != nil {
					return fmt.Errorf("decode message %s: %w", m.ID, err)
				}
				m.Users, m.Seqs, m.Dup = rec.Users, rec.Seqs, true
				continue
			}
			m.Seqs = make([]herald.Seq, len(m.Users))
			for i, u := range m.Users {
				n, ok := last[u]
				if !ok {
					n = u64(sb.Get([]byte(u)))
				}
				n++
				last[u] = n
				m.Seqs[i] = n
				if err := ib.Put(inboxKey(u, n), []byte(m.ID)); err != nil {
					return err
				}
			}
			rec, err := json.Marshal(record{TS: m.Time.UnixMilli(), Topic: m.Topic, Payload: m.Payload, Users: m.Users, Seqs: m.Seqs})
			if err != nil {
				return fmt.Errorf("encode message %s: %w", m.ID, err)
			}
			if err := mb.Put([]byte(m.ID), rec); err != nil {
				return err
			}
			if err := tb.Put(timeKey(m.Time.UnixMilli(), m.ID), nil); err != nil {
				return err
			}
		}
		for u, n := range last {
			if err := sb.Put([]byte(u), binary.BigEndian.AppendUint64(nil, n)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for _, m := range msgs {
			m.Seqs = nil
		}
		return fmt.Errorf("append %d messages: %v: %w", len(msgs), err, herald.ErrUnavailable)
	}
	return nil
}

func timeKey(ms int64, id string) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(ms)), id...)
}

// sweepChunk bounds the messages removed per write transaction, so retention
// never holds the single writer (and so every send) for long.
const sweepChunk = 1000

// Sweep implements herald.Store.
func (s *Store) Sweep(ctx context.Context, cutoff time.Time) (int, error) {
	total := 0
	for ctx.Err() == nil {
		n := 0
		err := s.db.Update(func(tx *bbolt.Tx) error {
			mb, ib, tb := tx.Bucket(bMsgs), tx.Bucket(bInbox), tx.Bucket(bTime)
			c := tb.Cursor()
			limit := uint64(cutoff.UnixMilli())
			for k, _ := c.First(); k != nil && n < sweepChunk && u64(k[:8]) < limit; k, _ = c.First() {
				id := k[8:]
				if raw := mb.Get(id); raw != nil {
					var rec record
					if err := json.Unmarshal(raw, &rec); err == nil {
						for i, u := range rec.Users {
							if err := ib.Delete(inboxKey(u, rec.Seqs[i])); err != nil {
								return err
							}
						}
					}
					if err := mb.Delete(id); err != nil {
						return err
					}
				}
				if err := tb.Delete(k); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		total += n
		if err != nil {
			return total, fmt.Errorf("sweep: %w", err)
		}
		if n < sweepChunk {
			return total, nil
		}
	}
	return total, ctx.Err()
}

// LastSeqs implements herald.Store.
func (s *Store) LastSeqs(_ context.Context, users []string) (map[string]herald.Seq, error) {
	out := make(map[string]herald.Seq, len(users))
	err := s.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bSeq)
		for _, u := range users {
			if n := u64(b.Get([]byte(u))); n > 0 {
				out[u] = n
			}
		}
		return nil
	})
	return out, err
}

// OldestSeq implements herald.Store.
func (s *Store) OldestSeq(_ context.Context, user string) (herald.Seq, error) {
	var n uint64
	prefix := append([]byte(user), 0)
	err := s.db.View(func(tx *bbolt.Tx) error {
		k, _ := tx.Bucket(bInbox).Cursor().Seek(prefix)
		if k != nil && bytes.HasPrefix(k, prefix) {
			n = u64(k[len(prefix):])
		}
		return nil
	})
	return n, err
}

// Messages implements herald.Store.
func (s *Store) Messages(_ context.Context, user string, after herald.Seq, limit int) ([]herald.Delivery, error) {
	var out []herald.Delivery
	prefix := append([]byte(user), 0)
	err := s.db.View(func(tx *bbolt.Tx) error {
		mb := tx.Bucket(bMsgs)
		c := tx.Bucket(bInbox).Cursor()
		for k, v := c.Seek(inboxKey(user, after+1)); k != nil && bytes.HasPrefix(k, prefix) && len(out) < limit; k, v = c.Next() {
			seq := u64(k[len(prefix):])
			raw := mb.Get(v)
			if raw == nil {
				continue // expired by retention between the two reads
			}
			var rec record
			if err := json.Unmarshal(raw, &rec); err != nil {
				return fmt.Errorf("decode message %s: %w", v, err)
			}
			out = append(out, herald.Delivery{
				ID: string(v), User: user, Seq: seq, Time: time.UnixMilli(rec.TS),
				Topic: rec.Topic, Payload: append(json.RawMessage(nil), rec.Payload...),
			})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read messages of %s: %w", user, err)
	}
	return out, nil
}

// LastSeq implements herald.Store.
func (s *Store) LastSeq(_ context.Context, user string) (herald.Seq, error) {
	var n uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		n = u64(tx.Bucket(bSeq).Get([]byte(user)))
		return nil
	})
	return n, err
}

func ackKey(user, device string) []byte {
	return []byte(user + "\x00" + device)
}

// SaveAcks implements herald.Store.
func (s *Store) SaveAcks(_ context.Context, acks []herald.Ack) error {
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(bAcks)
		for _, a := range acks {
			k := ackKey(a.User, a.Device)
			if u64(b.Get(k)) >= a.Seq {
				continue
			}
			if err := b.Put(k, binary.BigEndian.AppendUint64(nil, a.Seq)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save %d acks: %w", len(acks), err)
	}
	return nil
}

// AckedSeq implements herald.Store.
func (s *Store) AckedSeq(_ context.Context, user, device string) (herald.Seq, error) {
	var n uint64
	err := s.db.View(func(tx *bbolt.Tx) error {
		n = u64(tx.Bucket(bAcks).Get(ackKey(user, device)))
		return nil
	})
	return n, err
}

// Ping implements herald.Store.
func (s *Store) Ping(context.Context) error { return nil }

// Close implements herald.Store.
func (s *Store) Close(context.Context) error { return s.db.Close() }
