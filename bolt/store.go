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
		for _, b := range [][]byte{bMsgs, bInbox, bSeq, bAcks} {
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
func (s *Store) Append(ctx context.Context, msgs []*herald.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bbolt.Tx) error {
		mb, ib, sb := tx.Bucket(bMsgs), tx.Bucket(bInbox), tx.Bucket(bSeq)
		last := make(map[string]uint64)
		for _, m := range msgs {
			rec, err := json.Marshal(record{TS: m.Time.UnixMilli(), Topic: m.Topic, Payload: m.Payload})
			if err != nil {
				return fmt.Errorf("encode message %s: %w", m.ID, err)
			}
			if err := mb.Put([]byte(m.ID), rec); err != nil {
				return err
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
