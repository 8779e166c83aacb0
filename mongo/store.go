// Package mongo is the herald.Store on MongoDB (replica set or sharded cluster),
// through the official Go driver v2.
//
// Collections, each small and indexed for its one query:
//
//	messages  {_id: message id, t: time, topic, p: payload JSON text}   stored once
//	inbox     {u: user, s: seq, m: message id, t: time}                 one per recipient
//	counters  {_id: user, s: last seq}                                  seq allocation
//	acks      {_id: "user\x00device", u, d, s: acked seq}
//
// For a sharded cluster shard inbox by {u: 1, s: 1} and counters and acks by _id
// (hashed): every hot path touches one user's keys, so adding shards adds throughput.
//
// Every write uses write concern majority with journaling, so a 202 from collect
// survives the loss of the primary. FerretDB (which the tests use) accepts and
// ignores it.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	driver "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"golang.org/x/sync/errgroup"

	"github.com/heraldpush/herald"
)

// Store is a herald.Store on MongoDB.
type Store struct {
	client   *driver.Client
	messages *driver.Collection
	inbox    *driver.Collection
	counters *driver.Collection
	acks     *driver.Collection
}

var _ herald.Store = (*Store)(nil)

// seqWorkers bounds the concurrent counter updates of one Append.
const seqWorkers = 16

// Open connects to uri, checks the server answers, and creates the indexes.
func Open(ctx context.Context, uri, database string) (*Store, error) {
	opts := options.Client().ApplyURI(uri).
		SetServerSelectionTimeout(5 * time.Second).
		SetConnectTimeout(5 * time.Second).
		SetAppName("herald")
	client, err := driver.Connect(opts)
	if err != nil {
		return nil, fmt.Errorf("mongodb %s: %w", redact(opts), err)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := client.Ping(pctx, readpref.Primary()); err != nil {
		client.Disconnect(context.Background())
		return nil, fmt.Errorf("mongodb %s unreachable: %w", redact(opts), err)
	}
	journal := true
	wc := &writeconcern.WriteConcern{W: "majority", Journal: &journal}
	db := client.Database(database, options.Database().SetWriteConcern(wc))
	s := &Store{
		client:   client,
		messages: db.Collection("messages"),
		inbox:    db.Collection("inbox"),
		counters: db.Collection("counters"),
		acks:     db.Collection("acks"),
	}
	if err := s.ensureIndexes(pctx); err != nil {
		client.Disconnect(context.Background())
		return nil, err
	}
	return s, nil
}

func redact(o *options.ClientOptions) string {
	return fmt.Sprint(o.Hosts)
}

func (s *Store) ensureIndexes(ctx context.Context) error {
	// (u, s) unique: replay is a range scan on it, LastSeq its last key, and a
	// seq can never be given twice to one user even by a buggy writer.
	_, err := s.inbox.Indexes().CreateOne(ctx, driver.IndexModel{
		Keys:    bson.D{{Key: "u", Value: 1}, {Key: "s", Value: 1}},
		Options: options.Index().SetUnique(true).SetName("user_seq"),
	})
	if err != nil {
		return fmt.Errorf("create inbox index: %w", err)
	}
	return nil
}

// Append implements herald.Store.
//
// Seqs come from one counter document per user, raised by the number of that
// user's messages in the batch with one findAndModify: one round trip per user
// per batch (not per message), run concurrently, and spread over shards by user,
// so a second collect instance adds throughput instead of contending on a global
// counter. Then one insertMany for the payloads and one for the inbox entries.
//
// The unique (u, s) index is the last word on seqs: should two writers ever get
// the same seq (MongoDB's $inc is atomic, but FerretDB's findAndModify is not),
// the loser's entries get fresh seqs and are inserted again.
func (s *Store) Append(ctx context.Context, msgs []*herald.Message) error {
	mdocs := make([]any, 0, len(msgs))
	var pending []entry
	for _, m := range msgs {
		mdocs = append(mdocs, bson.D{
			{Key: "_id", Value: m.ID}, {Key: "t", Value: m.Time},
			{Key: "topic", Value: m.Topic}, {Key: "p", Value: string(m.Payload)},
		})
		m.Seqs = make([]herald.Seq, len(m.Users))
		for i := range m.Users {
			pending = append(pending, entry{m, i})
		}
	}
	// Payloads first: an inbox entry must never point at a message not yet stored.
	unordered := options.InsertMany().SetOrdered(false)
	if _, err := s.messages.InsertMany(ctx, mdocs, unordered); err != nil && !onlyDuplicates(err) {
		return s.failAppend(msgs, "insert messages", err)
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == maxSeqAttempts {
			return s.failAppend(msgs, "insert inbox entries", errors.New("seq conflicts did not settle"))
		}
		if err := s.allocate(ctx, pending); err != nil {
			return s.failAppend(msgs, "allocate seqs", err)
		}
		var err error
		if pending, err = s.insertInbox(ctx, pending); err != nil {
			return s.failAppend(msgs, "insert inbox entries", err)
		}
		if err := s.repairCounters(ctx, pending); err != nil {
			return s.failAppend(msgs, "repair seq counters", err)
		}
	}
	return nil
}

// repairCounters raises the counter of each user in entries to at least the
// highest seq stored for that user, so that the next allocation cannot hand
// out a seq that is already taken.
func (s *Store) repairCounters(ctx context.Context, entries []entry) error {
	done := map[string]bool{}
	for _, e := range entries {
		u := e.m.Users[e.i]
		if done[u] {
			continue
		}
		done[u] = true
		last, err := s.LastSeq(ctx, u)
		if err != nil {
			return err
		}
		_, err = s.counters.UpdateOne(ctx, bson.D{{Key: "_id", Value: u}},
			bson.D{{Key: "$max", Value: bson.D{{Key: "s", Value: int64(last)}}}})
		if err != nil {
			return fmt.Errorf("raise seq counter of %s: %w", u, err)
		}
	}
	return nil
}

// maxSeqAttempts bounds the retries after seq conflicts.
const maxSeqAttempts = 16

// entry is one recipient of one message: m.Users[i].
type entry struct {
	m *herald.Message
	i int
}

// allocate gives each entry the next seq of its user, in entry order.
func (s *Store) allocate(ctx context.Context, entries []entry) error {
	counts := make(map[string]int64)
	for _, e := range entries {
		counts[e.m.Users[e.i]]++
	}
	var mu sync.Mutex
	next := make(map[string]int64, len(counts))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(seqWorkers)
	for u, n := range counts {
		g.Go(func() error {
			var doc struct {
				S int64 `bson:"s"`
			}
			var err error
			// Two first-ever upserts of one user can race: the loser gets a
			// duplicate-key error, and its retry finds the document to $inc.
			for try := 0; try < 3; try++ {
				err = s.counters.FindOneAndUpdate(gctx,
					bson.D{{Key: "_id", Value: u}},
					bson.D{{Key: "$inc", Value: bson.D{{Key: "s", Value: n}}}},
					options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After),
				).Decode(&doc)
				if !driver.IsDuplicateKeyError(err) {
					break
				}
			}
			if err != nil {
				return fmt.Errorf("allocate seq for %s: %w", u, err)
			}
			mu.Lock()
			next[u] = doc.S - n + 1
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for _, e := range entries {
		u := e.m.Users[e.i]
		e.m.Seqs[e.i] = herald.Seq(next[u])
		next[u]++
	}
	return nil
}

// insertInbox inserts the entries and returns those that lost a seq conflict.
func (s *Store) insertInbox(ctx context.Context, entries []entry) ([]entry, error) {
	docs := make([]any, len(entries))
	for k, e := range entries {
		docs[k] = bson.D{
			{Key: "u", Value: e.m.Users[e.i]}, {Key: "s", Value: int64(e.m.Seqs[e.i])},
			{Key: "m", Value: e.m.ID}, {Key: "t", Value: e.m.Time},
		}
	}
	_, err := s.inbox.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	if err == nil {
		return nil, nil
	}
	var bwe driver.BulkWriteException
	if !errors.As(err, &bwe) || !onlyDuplicates(err) {
		return nil, err
	}
	var lost []entry
	for _, we := range bwe.WriteErrors {
		lost = append(lost, entries[we.Index])
	}
	sort.Slice(lost, func(a, b int) bool { return lost[a].m.Seqs[lost[a].i] < lost[b].m.Seqs[lost[b].i] })
	return lost, nil
}

// onlyDuplicates reports whether err is a bulk write error made only of
// duplicate-key errors (and no write-concern error).
func onlyDuplicates(err error) bool {
	var bwe driver.BulkWriteException
	if !errors.As(err, &bwe) || bwe.WriteConcernError != nil || len(bwe.WriteErrors) == 0 {
		return false
	}
	for _, we := range bwe.WriteErrors {
		if !driver.IsDuplicateKeyError(we) {
			return false
		}
	}
	return true
}

func (s *Store) failAppend(msgs []*herald.Message, what string, err error) error {
	for _, m := range msgs {
		m.Seqs = nil
	}
	return fmt.Errorf("%s: %v: %w", what, err, herald.ErrUnavailable)
}

type inboxDoc struct {
	S int64  `bson:"s"`
	M string `bson:"m"`
}

type messageDoc struct {
	ID    string    `bson:"_id"`
	T     time.Time `bson:"t"`
	Topic string    `bson:"topic"`
	P     string    `bson:"p"`
}

// Messages implements herald.Store.
func (s *Store) Messages(ctx context.Context, user string, after herald.Seq, limit int) ([]herald.Delivery, error) {
	cur, err := s.inbox.Find(ctx,
		bson.D{{Key: "u", Value: user}, {Key: "s", Value: bson.D{{Key: "$gt", Value: int64(after)}}}},
		options.Find().SetSort(bson.D{{Key: "s", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, fmt.Errorf("read inbox of %s: %w", user, err)
	}
	var entries []inboxDoc
	if err := cur.All(ctx, &entries); err != nil {
		return nil, fmt.Errorf("read inbox of %s: %w", user, err)
	}
	if len(entries) == 0 {
		return nil, nil
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.M
	}
	cur, err = s.messages.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, fmt.Errorf("read messages of %s: %w", user, err)
	}
	var docs []messageDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("read messages of %s: %w", user, err)
	}
	byID := make(map[string]*messageDoc, len(docs))
	for i := range docs {
		byID[docs[i].ID] = &docs[i]
	}
	out := make([]herald.Delivery, 0, len(entries))
	for _, e := range entries {
		d, ok := byID[e.M]
		if !ok {
			continue // expired by retention between the two reads
		}
		out = append(out, herald.Delivery{
			ID: d.ID, User: user, Seq: herald.Seq(e.S), Time: d.T,
			Topic: d.Topic, Payload: []byte(d.P),
		})
	}
	return out, nil
}

// LastSeq implements herald.Store. It reads the newest inbox entry, not the
// counter: the counter may already count a message whose insert is still in
// flight (or failed), and hello must only announce stored messages.
func (s *Store) LastSeq(ctx context.Context, user string) (herald.Seq, error) {
	var e inboxDoc
	err := s.inbox.FindOne(ctx, bson.D{{Key: "u", Value: user}},
		options.FindOne().SetSort(bson.D{{Key: "s", Value: -1}})).Decode(&e)
	if errors.Is(err, driver.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("last seq of %s: %w", user, err)
	}
	return herald.Seq(e.S), nil
}

func ackID(user, device string) string { return user + "\x00" + device }

// SaveAcks implements herald.Store: one unordered bulk write; $max keeps an ack
// from moving back when an older one arrives late.
func (s *Store) SaveAcks(ctx context.Context, acks []herald.Ack) error {
	if len(acks) == 0 {
		return nil
	}
	models := make([]driver.WriteModel, len(acks))
	for i, a := range acks {
		models[i] = driver.NewUpdateOneModel().
			SetFilter(bson.D{{Key: "_id", Value: ackID(a.User, a.Device)}}).
			SetUpdate(bson.D{
				{Key: "$max", Value: bson.D{{Key: "s", Value: int64(a.Seq)}}},
				{Key: "$set", Value: bson.D{{Key: "u", Value: a.User}, {Key: "d", Value: a.Device}}},
			}).
			SetUpsert(true)
	}
	if _, err := s.acks.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("save %d acks: %w", len(acks), err)
	}
	return nil
}

// AckedSeq implements herald.Store.
func (s *Store) AckedSeq(ctx context.Context, user, device string) (herald.Seq, error) {
	var doc struct {
		S int64 `bson:"s"`
	}
	err := s.acks.FindOne(ctx, bson.D{{Key: "_id", Value: ackID(user, device)}}).Decode(&doc)
	if errors.Is(err, driver.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("acked seq of %s/%s: %w", user, device, err)
	}
	return herald.Seq(doc.S), nil
}

// Ping implements herald.Store.
func (s *Store) Ping(ctx context.Context) error {
	return s.client.Ping(ctx, readpref.Primary())
}

// Close implements herald.Store.
func (s *Store) Close(ctx context.Context) error { return s.client.Disconnect(ctx) }
