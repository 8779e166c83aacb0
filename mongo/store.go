// Package mongo is the herald.Store on MongoDB (replica set or sharded cluster),
// through the official Go driver v2.
//
// Collections, each small and indexed for its one query:
//
//	messages  {_id: message id, t: time, topic, p: payload JSON text}   stored once
//	inbox     {_id: "user/seq", u: user, s: seq, m: message id, t: time}  one per recipient
//	counters  {_id: user, s: last seq, e: epoch}                        seq allocation
//	acks      {_id: "user|device", u, d, s: acked seq}
//
// An inbox entry's _id is the user and the seq as 16 hex digits ("alice/000000000000002a"),
// so every read on the hot path is a point lookup by _id: replay asks for the
// next seqs by their IDs (seqs are dense, and the user's counter bounds them),
// which MongoDB and FerretDB alike answer from the _id index without a sort.
// For a sharded cluster shard inbox by {u: 1} (a user's entries stay on one
// shard; MongoDB allows the unique {u, m} index only under a shard key that
// prefixes it, and an _id, which starts with its user, stays unique across
// shards) and counters, acks and messages by {_id: "hashed"}. Behind a
// mongos every read of inbox on the delivery path names u, so it goes to one
// shard (those by message ID, a retried message's check and the receipts
// query, ask every shard: they are off that path); every hot path touches
// one user's keys, so adding shards adds throughput.
//
// Every write uses write concern majority with journaling, so a 202 from collect
// survives the loss of the primary. FerretDB (which the tests use) accepts and
// ignores it.
package mongo

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
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
	receipts *driver.Collection // receipts.go
	// receiptAcks holds the ack events of receipts (receipts.go).
	receiptAcks *driver.Collection
	// registrations holds the devices' push registrations (pushreg.go).
	registrations *driver.Collection
	// queue holds the pending pushes (pushqueue.go).
	queue        *driver.Collection
	pushReceipts *driver.Collection // pushreceipts.go
	claims       *driver.Collection
	claimsSwept  atomic.Int64       // Unix ms of the last sweep of old claims (pushqueue.go)
	collapse     *driver.Collection // lifecycle.go
	scheduled    *driver.Collection // schedule.go
	// fault, set by tests only, makes an Append step fail (retry.go).
	fault func(step string) error
	// sharded: Open found a mongos. Reads of a user's inbox entries then
	// name the shard key ({u: user}, inboxScope), so that each goes to one
	// shard. Not always: FerretDB, which the tests run, looks a document up
	// by its _id only when _id is the whole filter, and scans the
	// collection for anything more (a chaos run's p99 went from ~20 s to
	// 69 s with it).
	sharded bool
}

var _ herald.Store = (*Store)(nil)

// seqWorkers bounds the concurrent counter updates of one Append.
const seqWorkers = 16

// Options configure the store.
type Options struct {
	URI       string
	Database  string
	Retention time.Duration // messages older than this are removed; 0 keeps them forever
	// Indexes makes Open create the indexes (and TTL indexes). Collect, which
	// owns the writes, does; push nodes only read and need not, so a push node
	// restarting under load does not wait on index builds.
	Indexes bool
}

// Open connects, checks the server answers, and creates the indexes.
func Open(ctx context.Context, o Options) (*Store, error) {
	opts := options.Client().ApplyURI(o.URI).
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
	db := client.Database(o.Database, options.Database().SetWriteConcern(wc))
	s := &Store{
		client:   client,
		messages: db.Collection("messages"),
		inbox:    db.Collection("inbox"),
		counters: db.Collection("counters"),
		acks:     db.Collection("acks"),
		receipts: db.Collection("receipts"),

		receiptAcks: db.Collection("receipt_acks"),

		registrations: db.Collection("push_registrations"),
		queue:         db.Collection("push_queue"),
		claims:        db.Collection("push_claims"),
		pushReceipts:  db.Collection("push_receipts"),
		collapse:      db.Collection("collapse"),
		scheduled:     db.Collection("scheduled"),
	}
	var hello struct {
		Msg string `bson:"msg"`
	}
	// hello only tells whether reads should name the shard key; a server
	// too old for it (before MongoDB 4.4) still works, with reads that may
	// ask every shard.
	if err := db.RunCommand(pctx, bson.D{{Key: "hello", Value: 1}}).Decode(&hello); err != nil {
		slog.Warn("mongodb: hello failed; inbox reads will not name the shard key", "err", err)
	}
	s.sharded = hello.Msg == "isdbgrid" // what a mongos answers
	if o.Indexes {
		// Index builds may wait on a busy server: give them longer than the ping.
		ictx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		if err := s.ensureIndexes(ictx, o.Retention); err != nil {
			client.Disconnect(context.Background())
			return nil, err
		}
	}
	return s, nil
}

func redact(o *options.ClientOptions) string {
	return fmt.Sprint(o.Hosts)
}

func (s *Store) ensureIndexes(ctx context.Context, retention time.Duration) error {
	indexes := []struct {
		coll  *driver.Collection
		name  string
		model driver.IndexModel
	}{
		// (u, m) unique: a message reaches a user once, even when a retried
		// request (Idempotency-Key) races its first attempt.
		{s.inbox, "user_msg", driver.IndexModel{Keys: bson.D{{Key: "u", Value: 1}, {Key: "m", Value: 1}},
			Options: options.Index().SetUnique(true).SetName("user_msg")}},
		{s.inbox, "msg", driver.IndexModel{Keys: bson.D{{Key: "m", Value: 1}}, Options: options.Index().SetName("msg")}},
		// t: retention's sweep (and, on MongoDB, the TTL monitor) finds old entries by it.
		{s.inbox, "time", driver.IndexModel{Keys: bson.D{{Key: "t", Value: 1}}, Options: options.Index().SetName("time")}},
		{s.messages, "time", driver.IndexModel{Keys: bson.D{{Key: "t", Value: 1}}, Options: options.Index().SetName("time")}},
		{s.receipts, "msg", driver.IndexModel{Keys: bson.D{{Key: "m", Value: 1}}, Options: options.Index().SetName("msg")}},
		{s.receipts, "time", driver.IndexModel{Keys: bson.D{{Key: "t", Value: 1}}, Options: options.Index().SetName("time")}},
		{s.receiptAcks, "device_seq", driver.IndexModel{Keys: bson.D{{Key: "u", Value: 1}, {Key: "d", Value: 1}, {Key: "s", Value: 1}},
			Options: options.Index().SetName("device_seq")}},
		{s.receiptAcks, "time", driver.IndexModel{Keys: bson.D{{Key: "t", Value: 1}}, Options: options.Index().SetName("time")}},
		{s.pushReceipts, "msg", driver.IndexModel{Keys: bson.D{{Key: "m", Value: 1}}, Options: options.Index().SetName("msg")}},
		{s.claims, "time", driver.IndexModel{Keys: bson.D{{Key: "t", Value: 1}}, Options: options.Index().SetName("time")}},
		{s.queue, "due", driver.IndexModel{Keys: bson.D{{Key: "due", Value: 1}}, Options: options.Index().SetName("due")}},
		{s.queue, "message", driver.IndexModel{Keys: bson.D{{Key: "m", Value: 1}}, Options: options.Index().SetName("message")}},
		{s.registrations, "user", driver.IndexModel{Keys: bson.D{{Key: "u", Value: 1}, {Key: "d", Value: 1}}, Options: options.Index().SetName("user")}},
		{s.scheduled, "due", driver.IndexModel{Keys: bson.D{{Key: "due", Value: 1}}, Options: options.Index().SetName("due")}},
		{s.registrations, "topics", driver.IndexModel{Keys: bson.D{{Key: "tops", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("topics")}},
	}
	have := map[string]map[string]bool{}
	for _, ix := range indexes {
		name := ix.coll.Name()
		if have[name] == nil {
			names, err := indexNames(ctx, ix.coll)
			if err != nil {
				return fmt.Errorf("list indexes of %s: %w", name, err)
			}
			have[name] = names
		}
		if have[name][ix.name] {
			continue // a restart need not ask a busy server to build it again
		}
		if _, err := ix.coll.Indexes().CreateOne(ctx, ix.model); err != nil {
			return fmt.Errorf("create index %s.%s: %w", name, ix.name, err)
		}
	}
	if retention > 0 {
		s.ensureTTL(ctx, retention)
	}
	return nil
}

func indexNames(ctx context.Context, c *driver.Collection) (map[string]bool, error) {
	cur, err := c.Indexes().List(ctx)
	if err != nil {
		return nil, err
	}
	var specs []struct {
		Name string `bson:"name"`
	}
	if err := cur.All(ctx, &specs); err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(specs))
	for _, sp := range specs {
		out[sp.Name] = true
	}
	return out, nil
}

// ensureTTL adds TTL indexes so that MongoDB itself expires old messages. They
// are a convenience: servers without TTL support (FerretDB) refuse or ignore
// them, and the sweeper (Sweep, run by collect) removes old messages anyway.
func (s *Store) ensureTTL(ctx context.Context, retention time.Duration) {
	secs := int32(retention / time.Second)
	for _, c := range []*driver.Collection{s.messages, s.inbox, s.receipts, s.receiptAcks} {
		_, err := c.Indexes().CreateOne(ctx, driver.IndexModel{
			Keys:    bson.D{{Key: "t", Value: 1}, {Key: "ttl", Value: 1}},
			Options: options.Index().SetName("ttl").SetExpireAfterSeconds(secs),
		})
		if err != nil {
			// Retention changed since the index was made: update it in place.
			err = c.Database().RunCommand(ctx, bson.D{{Key: "collMod", Value: c.Name()},
				{Key: "index", Value: bson.D{{Key: "name", Value: "ttl"}, {Key: "expireAfterSeconds", Value: secs}}}}).Err()
		}
		if err != nil {
			slog.Info("no TTL index; the sweeper enforces retention", "collection", c.Name(), "err", err)
		}
	}
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
//
// A write that fails transiently (retry.go) is tried again, a few times, before
// collect answers 503: each try finishes what the one before stored.
func (s *Store) Append(ctx context.Context, batch []*herald.Message) error {
	msgs, repeats := splitRepeats(batch)
	err := s.appendRetrying(ctx, msgs)
	for r, f := range repeats {
		r.Users, r.Seqs, r.Dup = f.Users, f.Seqs, true
	}
	return err
}

// append is one try of Append. ours holds the IDs of the messages that an
// earlier try of the same Append stored: finding one of them stored is not a
// client's retry (Dup), only this Append's own unfinished work.
func (s *Store) append(ctx context.Context, msgs []*herald.Message, ours map[string]bool) error {
	mdocs := make([]any, 0, len(msgs))
	for _, m := range msgs {
		doc := bson.D{
			{Key: "_id", Value: m.ID}, {Key: "t", Value: m.Time},
			{Key: "topic", Value: m.Topic}, {Key: "p", Value: string(m.Payload)},
		}
		if !m.Expires.IsZero() {
			doc = append(doc, bson.E{Key: "exp", Value: m.Expires})
		}
		if m.CollapseKey != "" {
			doc = append(doc, bson.E{Key: "ck", Value: m.CollapseKey})
		}
		mdocs = append(mdocs, doc)
		m.Seqs = make([]herald.Seq, len(m.Users))
		m.Dup = false
	}
	// Payloads first: an inbox entry must never point at a message not yet stored.
	_, err := s.messages.InsertMany(ctx, mdocs, options.InsertMany().SetOrdered(false))
	notePayloads(msgs, err, ours)
	var pending []entry
	if err != nil {
		if !onlyDuplicates(err) {
			return s.failAppend(msgs, "insert messages", err)
		}
		// Some IDs were stored before: a retry. Keep the recipients they
		// already reached with their seqs, and finish the rest.
		if pending, err = s.resume(ctx, msgs, err, ours); err != nil {
			return s.failAppend(msgs, "resume a retried message", err)
		}
	} else {
		pending = allEntries(msgs)
	}
	for attempt := 0; len(pending) > 0; attempt++ {
		if attempt == maxSeqAttempts {
			return s.failAppend(msgs, "insert inbox entries", errSeqContention)
		}
		if err := s.allocate(ctx, pending); err != nil {
			return s.failAppend(msgs, "allocate seqs", err)
		}
		if err := s.faultAt("insert inbox"); err != nil {
			return s.failAppend(msgs, "insert inbox entries", err)
		}
		lost, err := s.insertInbox(ctx, pending)
		if err != nil {
			return s.failAppend(msgs, "insert inbox entries", err)
		}
		// A lost entry either raced another writer for its seq, or its
		// (user, message) pair is already stored by a concurrent retry.
		if pending, err = s.dropStored(ctx, lost); err != nil {
			return s.failAppend(msgs, "check inbox entries", err)
		}
		if err := s.repairCounters(ctx, pending); err != nil {
			return s.failAppend(msgs, "repair seq counters", err)
		}
	}
	if err := s.indexCollapse(ctx, msgs); err != nil {
		return s.failAppend(msgs, "index collapse keys", err)
	}
	return nil
}

// splitRepeats drops repeated IDs from a batch (say, two tries of one request
// in one group commit); each repeat maps to the first of its ID, whose outcome
// it gets.
func splitRepeats(batch []*herald.Message) ([]*herald.Message, map[*herald.Message]*herald.Message) {
	first := make(map[string]*herald.Message, len(batch))
	var repeats map[*herald.Message]*herald.Message
	out := batch[:0:0]
	for _, m := range batch {
		if f, ok := first[m.ID]; ok {
			if repeats == nil {
				repeats = map[*herald.Message]*herald.Message{}
			}
			repeats[m] = f
			continue
		}
		first[m.ID] = m
		out = append(out, m)
	}
	return out, repeats
}

// stored returns the inbox entries of the given messages: (message, user) -> seq.
func (s *Store) stored(ctx context.Context, ids []string) (map[[2]string]herald.Seq, error) {
	cur, err := s.inbox.Find(ctx, bson.D{{Key: "m", Value: bson.D{{Key: "$in", Value: ids}}}})
	if err != nil {
		return nil, err
	}
	var docs []struct {
		U string `bson:"u"`
		S int64  `bson:"s"`
		M string `bson:"m"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, err
	}
	out := make(map[[2]string]herald.Seq, len(docs))
	for _, d := range docs {
		out[[2]string{d.M, d.U}] = herald.Seq(d.S)
	}
	return out, nil
}

// resume handles messages whose ID was already stored (insertErr holds the
// duplicate-key errors), by a client's earlier request (Dup) or by an earlier
// try of this Append (ours): recipients already reached keep their seq, the
// others are returned to be written, with every entry of the new messages.
func (s *Store) resume(ctx context.Context, msgs []*herald.Message, insertErr error, ours map[string]bool) ([]entry, error) {
	var bwe driver.BulkWriteException
	errors.As(insertErr, &bwe)
	var ids []string
	for _, we := range bwe.WriteErrors {
		m := msgs[we.Index]
		m.Dup = !ours[m.ID]
		ids = append(ids, m.ID)
	}
	have, err := s.stored(ctx, ids)
	if err != nil {
		return nil, err
	}
	var pending []entry
	for _, m := range msgs {
		for i, u := range m.Users {
			if seq, ok := have[[2]string{m.ID, u}]; ok {
				m.Seqs[i] = seq
				continue
			}
			pending = append(pending, entry{m, i})
		}
	}
	return pending, nil
}

// dropStored removes from lost the entries whose (message, user) is already
// stored, taking their stored seq; what remains lost a seq race.
func (s *Store) dropStored(ctx context.Context, lost []entry) ([]entry, error) {
	if len(lost) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(lost))
	for _, e := range lost {
		ids = append(ids, e.m.ID)
	}
	have, err := s.stored(ctx, ids)
	if err != nil {
		return nil, err
	}
	var out []entry
	for _, e := range lost {
		if seq, ok := have[[2]string{e.m.ID, e.m.Users[e.i]}]; ok {
			e.m.Seqs[e.i] = seq
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

func allEntries(msgs []*herald.Message) []entry {
	var out []entry
	for _, m := range msgs {
		for i := range m.Users {
			out = append(out, entry{m, i})
		}
	}
	return out
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
		last, err := s.newestStored(ctx, u)
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
					bson.D{{Key: "$inc", Value: bson.D{{Key: "s", Value: n}}},
						// The stream's epoch is made with its counter (herald.StreamPos).
						{Key: "$setOnInsert", Value: bson.D{{Key: "e", Value: herald.NewEpoch()}}}},
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

// inboxID is the _id of user's entry with seq: the _id index then orders a
// user's entries by seq ('/' is not in user IDs, and '0' follows it).
func inboxID(user string, seq herald.Seq) string {
	return fmt.Sprintf("%s/%016x", user, seq)
}

// insertInbox inserts the entries and returns those that lost a seq conflict
// (the _id, i.e. user and seq, was taken) or were already stored (user and
// message: the unique user_msg index).
func (s *Store) insertInbox(ctx context.Context, entries []entry) ([]entry, error) {
	docs := make([]any, len(entries))
	for k, e := range entries {
		u, seq := e.m.Users[e.i], e.m.Seqs[e.i]
		docs[k] = bson.D{
			{Key: "_id", Value: inboxID(u, seq)},
			{Key: "u", Value: u}, {Key: "s", Value: int64(seq)},
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
	// Both wrapped: collect needs ErrUnavailable (503), and the retry the
	// driver's error to judge whether another try may do better.
	return fmt.Errorf("%s: %w: %w", what, err, herald.ErrUnavailable)
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
	Exp   time.Time `bson:"exp,omitempty"` // expiry; zero: none
	CK    string    `bson:"ck,omitempty"`  // collapse key
	RC    time.Time `bson:"rc,omitempty"`  // recalled; zero: not
}

// delivery is the message as user's seq.
func (d *messageDoc) delivery(user string, seq herald.Seq) herald.Delivery {
	return herald.Delivery{ID: d.ID, User: user, Seq: seq, Time: d.T, Topic: d.Topic, Payload: []byte(d.P), Expires: d.Exp, CollapseKey: d.CK,
		Recalled: !d.RC.IsZero()}
}

// counter returns the user's seq counter (an upper bound of the stored
// seqs) and the stream's epoch.
func (s *Store) counter(ctx context.Context, user string) (herald.Seq, string, error) {
	var doc struct {
		S int64  `bson:"s"`
		E string `bson:"e"`
	}
	err := s.counters.FindOne(ctx, bson.D{{Key: "_id", Value: user}}).Decode(&doc)
	if errors.Is(err, driver.ErrNoDocuments) {
		return 0, "", nil
	}
	if err != nil {
		return 0, "", fmt.Errorf("seq counter of %s: %w", user, err)
	}
	return herald.Seq(doc.S), doc.E, nil
}

// pointReads is the most _ids read with one-document lookups (concurrently)
// rather than one $in query. A resume usually misses a few messages; point
// reads by _id are answered from the _id index by every MongoDB-wire server
// (FerretDB's SQLite back end, which the tests use, pushes down only _id
// equality and scans the collection for $in).
const pointReads = 8

// findAll decodes every document of coll that filter matches.
func findAll[T any](ctx context.Context, coll *driver.Collection, filter any, opts ...options.Lister[options.FindOptions]) ([]T, error) {
	cur, err := coll.Find(ctx, filter, opts...)
	if err != nil {
		return nil, err
	}
	var out []T
	err = cur.All(ctx, &out)
	return out, err
}

// byIDs reads the documents of coll with the given _ids, in no order. scope
// adds conditions every one of them meets: the shard key, so that on a
// sharded collection each read goes to one shard rather than to all.
func byIDs[T any](ctx context.Context, coll *driver.Collection, ids []string, scope ...bson.E) ([]T, error) {
	if len(ids) > pointReads {
		return findAll[T](ctx, coll, append(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, scope...))
	}
	found := make([]*T, len(ids))
	g, gctx := errgroup.WithContext(ctx)
	for i, id := range ids {
		g.Go(func() error {
			var doc T
			err := coll.FindOne(gctx, append(bson.D{{Key: "_id", Value: id}}, scope...)).Decode(&doc)
			if errors.Is(err, driver.ErrNoDocuments) {
				return nil
			}
			if err == nil {
				found[i] = &doc
			}
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	out := make([]T, 0, len(ids))
	for _, d := range found {
		if d != nil {
			out = append(out, *d)
		}
	}
	return out, nil
}

// inboxScope is what reads of user's inbox entries add to their filter:
// the shard key on a sharded cluster (see sharded).
func (s *Store) inboxScope(user string) []bson.E {
	if !s.sharded {
		return nil
	}
	return []bson.E{{Key: "u", Value: user}}
}

// entries reads the user's inbox entries with seqs from..to by their _ids.
func (s *Store) entries(ctx context.Context, user string, from, to herald.Seq) ([]inboxDoc, error) {
	if to < from {
		return nil, nil
	}
	ids := make([]string, 0, to-from+1)
	for seq := from; seq <= to; seq++ {
		ids = append(ids, inboxID(user, seq))
	}
	out, err := byIDs[inboxDoc](ctx, s.inbox, ids, s.inboxScope(user)...)
	if err != nil {
		return nil, fmt.Errorf("read inbox of %s: %w", user, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].S < out[j].S })
	return out, nil
}

// Messages implements herald.Store. Seqs are dense (holes come only from
// failed writes), so the next limit seqs are asked for by _id, up to the
// user's counter; a window that holds only holes moves on to the next.
func (s *Store) Messages(ctx context.Context, user string, after herald.Seq, limit int) ([]herald.Delivery, error) {
	upper, _, err := s.counter(ctx, user)
	if err != nil {
		return nil, err
	}
	var entries []inboxDoc
	for from := after + 1; from <= upper && len(entries) < limit; {
		to := min(from+herald.Seq(limit-len(entries))-1, upper)
		got, err := s.entries(ctx, user, from, to)
		if err != nil {
			return nil, err
		}
		entries = append(entries, got...)
		from = to + 1
	}
	if len(entries) == 0 {
		return nil, nil
	}
	ids := make([]string, 0, len(entries))
	for _, e := range entries {
		if !strings.HasPrefix(e.M, deadPrefix) { // a seq closed by Gap holds no message
			ids = append(ids, e.M)
		}
	}
	docs, err := byIDs[messageDoc](ctx, s.messages, ids)
	if err != nil {
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
		out = append(out, d.delivery(user, herald.Seq(e.S)))
	}
	return out, nil
}

// lastWindow is how far below the counter LastSeq looks by _id before it
// falls back to a range query: only a run of failed writes leaves more holes.
const lastWindow = 32

// LastSeq implements herald.Store. It answers with the newest stored entry,
// not the counter: the counter may already count a message whose insert is
// still in flight (or failed), and hello must only announce stored messages.
func (s *Store) LastSeq(ctx context.Context, user string) (herald.StreamPos, error) {
	upper, epoch, err := s.counter(ctx, user)
	if err != nil || upper == 0 {
		return herald.StreamPos{Epoch: epoch}, err
	}
	seq, err := s.lastStored(ctx, user, upper)
	return herald.StreamPos{Seq: seq, Epoch: epoch}, err
}

// lastStored is the newest stored seq at or below the counter, upper.
func (s *Store) lastStored(ctx context.Context, user string, upper herald.Seq) (herald.Seq, error) {
	// Usually the newest seq is stored: one point read. Else look below it.
	got, err := s.entries(ctx, user, upper, upper)
	if err != nil {
		return 0, err
	}
	if len(got) > 0 {
		return upper, nil
	}
	from := herald.Seq(1)
	if upper > lastWindow {
		from = upper - lastWindow + 1
	}
	got, err = s.entries(ctx, user, from, upper-1)
	if err != nil {
		return 0, err
	}
	if len(got) > 0 {
		return herald.Seq(got[len(got)-1].S), nil
	}
	return s.newestStored(ctx, user)
}

// edge returns the user's oldest (dir 1) or newest (dir -1) stored entry's
// seq by a range query on _id: exact whatever the counter says, but a sort,
// so it stays off the hot path.
func (s *Store) edge(ctx context.Context, user string, dir int) (herald.Seq, error) {
	var e inboxDoc
	filter := append(bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: user + "/"}, {Key: "$lt", Value: user + "0"}}}}, s.inboxScope(user)...)
	err := s.inbox.FindOne(ctx, filter, options.FindOne().SetSort(bson.D{{Key: "_id", Value: dir}})).Decode(&e)
	if errors.Is(err, driver.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("inbox edge of %s: %w", user, err)
	}
	return herald.Seq(e.S), nil
}

func (s *Store) newestStored(ctx context.Context, user string) (herald.Seq, error) {
	return s.edge(ctx, user, -1)
}

// LastSeqs implements herald.Store from the counters: one query for many
// users. A counter can run ahead of what is stored by a write in flight (or a
// failed one), which LastSeqs allows.
func (s *Store) LastSeqs(ctx context.Context, users []string) (map[string]herald.Seq, error) {
	cur, err := s.counters.Find(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: users}}}})
	if err != nil {
		return nil, fmt.Errorf("last seqs of %d users: %w", len(users), err)
	}
	var docs []struct {
		ID string `bson:"_id"`
		S  int64  `bson:"s"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("last seqs of %d users: %w", len(users), err)
	}
	out := make(map[string]herald.Seq, len(docs))
	for _, d := range docs {
		out[d.ID] = herald.Seq(d.S)
	}
	return out, nil
}

// OldestSeq implements herald.Store.
func (s *Store) OldestSeq(ctx context.Context, user string) (herald.Seq, error) {
	return s.edge(ctx, user, 1)
}

// Sweep implements herald.Store: inbox entries first, then the payloads, so
// no entry is left pointing at a removed message for long.
func (s *Store) Sweep(ctx context.Context, cutoff time.Time) (int, error) {
	filter := bson.D{{Key: "t", Value: bson.D{{Key: "$lt", Value: cutoff}}}}
	if _, err := s.inbox.DeleteMany(ctx, filter); err != nil {
		return 0, fmt.Errorf("sweep inbox: %w", err)
	}
	if err := s.sweepReceipts(ctx, filter); err != nil {
		return 0, err
	}
	res, err := s.messages.DeleteMany(ctx, filter)
	if err != nil {
		return 0, fmt.Errorf("sweep messages: %w", err)
	}
	return int(res.DeletedCount), nil
}

// idSep joins the parts of a compound _id. It is a character no user,
// device, topic or message ID may hold (herald.ValidID; message IDs are
// hex), and one every MongoDB-compatible store and tool takes: NUL, which
// older versions used, is refused by PostgreSQL's jsonb (FerretDB on
// PostgreSQL) and fragile elsewhere. Acks stored under the NUL form are
// still read (AckedSeq); receipts are found by their fields, not their _id.
const idSep = "|"

// legacyIDSep is the separator of the _ids older versions wrote.
const legacyIDSep = "\x00"

func ackID(user, device string) string { return user + idSep + device }

// upsertByID is one statement of a bulk upsert: update the document with
// this _id, or insert it. Sent as a multi-document update ("multi": true),
// which on MongoDB is the same statement (an _id matches one document at
// most, and the _id is the filter, so it is targeted on a sharded
// collection too), because FerretDB v1, which the tests run, keeps the
// cursor of every single-document update statement open, each holding a
// pooled SQLite connection, until the whole command ends: one ack flush of
// 500 devices took its pool of 100 and held every other query for as long
// as the driver waited (seconds at a time, in the full-size chaos run). A
// multi update reads its cursor to the end, which frees the connection.
// The cost: MongoDB does not retry multi updates by itself; every caller
// retries or tolerates a failed flush already.
func upsertByID(id string, update bson.D) driver.WriteModel {
	return driver.NewUpdateManyModel().SetFilter(bson.D{{Key: "_id", Value: id}}).SetUpdate(update).SetUpsert(true)
}

// SaveAcks implements herald.Store: one unordered bulk write; $max keeps an ack
// from moving back when an older one arrives late.
func (s *Store) SaveAcks(ctx context.Context, acks []herald.Ack) error {
	if len(acks) == 0 {
		return nil
	}
	models := make([]driver.WriteModel, len(acks))
	for i, a := range acks {
		models[i] = upsertByID(ackID(a.User, a.Device), bson.D{
			{Key: "$max", Value: bson.D{{Key: "s", Value: int64(a.Seq)}}},
			{Key: "$set", Value: bson.D{{Key: "u", Value: a.User}, {Key: "d", Value: a.Device}}},
		})
	}
	if _, err := s.acks.BulkWrite(ctx, models, options.BulkWrite().SetOrdered(false)); err != nil {
		return fmt.Errorf("save %d acks: %w", len(acks), err)
	}
	return nil
}

// AckedSeq implements herald.Store: the higher of the ack under its _id
// and under the form an older version wrote (which only stops being read
// once no store holds it: the two are one indexed lookup).
func (s *Store) AckedSeq(ctx context.Context, user, device string) (herald.Seq, error) {
	ids := bson.A{ackID(user, device), user + legacyIDSep + device}
	opts := options.FindOne().SetSort(bson.D{{Key: "s", Value: -1}})
	var doc struct {
		S int64 `bson:"s"`
	}
	err := s.acks.FindOne(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, opts).Decode(&doc)
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
