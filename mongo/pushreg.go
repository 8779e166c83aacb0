package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/heraldpush/herald"
)

// Push registrations, one document a device:
//
//	push_registrations {_id: "user|device", u, d, p: provider, tok, top, env, sub: {endpoint, keys}, tops: topics, up: updated},
//	                   indexed by u, and by tops (a multikey index: one entry a topic)
//
// A page of a topic's registrations is in _id order; its cursor is the
// last _id.

var _ herald.PushRegistrations = (*Store)(nil)

type registrationDoc struct {
	U    string                      `bson:"u"`
	D    string                      `bson:"d"`
	P    string                      `bson:"p"`
	Tok  string                      `bson:"tok,omitempty"`
	Top  string                      `bson:"top,omitempty"`
	Env  string                      `bson:"env,omitempty"`
	Sub  *herald.WebPushSubscription `bson:"sub,omitempty"`
	Tops []string                    `bson:"tops,omitempty"`
	Up   time.Time                   `bson:"up"`
}

func (d registrationDoc) registration() herald.PushRegistration {
	return herald.PushRegistration{User: d.U, Device: d.D, Provider: d.P, Token: d.Tok, Topic: d.Top, Environment: d.Env,
		Subscription: d.Sub, Topics: d.Tops, Updated: d.Up}
}

// PutRegistration implements herald.PushRegistrations: the device's
// document, replaced whole.
func (s *Store) PutRegistration(ctx context.Context, r herald.PushRegistration) error {
	doc := registrationDoc{U: r.User, D: r.Device, P: r.Provider, Tok: r.Token, Top: r.Topic, Env: r.Environment, Sub: r.Subscription, Tops: r.Topics, Up: r.Updated}
	_, err := s.registrations.ReplaceOne(ctx, bson.D{{Key: "_id", Value: ackID(r.User, r.Device)}}, doc, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("push registration of %s/%s: %w", r.User, r.Device, err)
	}
	return nil
}

// Registrations implements herald.PushRegistrations.
func (s *Store) Registrations(ctx context.Context, user string) ([]herald.PushRegistration, error) {
	docs, err := findAll[registrationDoc](ctx, s.registrations, bson.D{{Key: "u", Value: user}}, options.Find().SetSort(bson.D{{Key: "d", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("push registrations of %s: %w", user, err)
	}
	out := make([]herald.PushRegistration, len(docs))
	for i, d := range docs {
		out[i] = d.registration()
	}
	return out, nil
}

// TopicRegistrations implements herald.PushRegistrations.
func (s *Store) TopicRegistrations(ctx context.Context, topic, after string, limit int) ([]herald.PushRegistration, string, error) {
	filter := bson.D{}
	if topic != herald.Broadcast {
		filter = append(filter, bson.E{Key: "tops", Value: topic})
	}
	if after != "" {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: after}}})
	}
	cur, err := s.registrations.Find(ctx, filter, options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)))
	if err != nil {
		return nil, "", fmt.Errorf("push registrations of topic %s: %w", topic, err)
	}
	defer cur.Close(ctx)
	var out []herald.PushRegistration
	var last string
	for cur.Next(ctx) {
		var d registrationDoc
		if err := cur.Decode(&d); err != nil {
			return nil, "", fmt.Errorf("push registrations of topic %s: %w", topic, err)
		}
		out, last = append(out, d.registration()), cur.Current.Lookup("_id").StringValue()
	}
	if err := cur.Err(); err != nil {
		return nil, "", fmt.Errorf("push registrations of topic %s: %w", topic, err)
	}
	if len(out) < limit {
		last = ""
	}
	return out, last, nil
}

// DeleteRegistration implements herald.PushRegistrations.
func (s *Store) DeleteRegistration(ctx context.Context, user, device string) (bool, error) {
	res, err := s.registrations.DeleteOne(ctx, bson.D{{Key: "_id", Value: ackID(user, device)}})
	if err != nil {
		return false, fmt.Errorf("push registration of %s/%s: %w", user, device, err)
	}
	return res.DeletedCount > 0, nil
}
