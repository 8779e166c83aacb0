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
//	push_registrations {_id: "user|device", u, d, p: provider, tok, top, env, sub: {endpoint, keys}, up: updated}, indexed by u

var _ herald.PushRegistrations = (*Store)(nil)

type registrationDoc struct {
	U   string                      `bson:"u"`
	D   string                      `bson:"d"`
	P   string                      `bson:"p"`
	Tok string                      `bson:"tok,omitempty"`
	Top string                      `bson:"top,omitempty"`
	Env string                      `bson:"env,omitempty"`
	Sub *herald.WebPushSubscription `bson:"sub,omitempty"`
	Up  time.Time                   `bson:"up"`
}

// PutRegistration implements herald.PushRegistrations: the device's
// document, replaced whole.
func (s *Store) PutRegistration(ctx context.Context, r herald.PushRegistration) error {
	doc := registrationDoc{U: r.User, D: r.Device, P: r.Provider, Tok: r.Token, Top: r.Topic, Env: r.Environment, Sub: r.Subscription, Up: r.Updated}
	_, err := s.registrations.ReplaceOne(ctx, bson.D{{Key: "_id", Value: ackID(r.User, r.Device)}}, doc, options.Replace().SetUpsert(true))
	if err != nil {
		return fmt.Errorf("push registration of %s/%s: %w", r.User, r.Device, err)
	}
	return nil
}

// Registrations implements herald.PushRegistrations.
func (s *Store) Registrations(ctx context.Context, user string) ([]herald.PushRegistration, error) {
	cur, err := s.registrations.Find(ctx, bson.D{{Key: "u", Value: user}}, options.Find().SetSort(bson.D{{Key: "d", Value: 1}}))
	if err != nil {
		return nil, fmt.Errorf("push registrations of %s: %w", user, err)
	}
	var docs []registrationDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("push registrations of %s: %w", user, err)
	}
	out := make([]herald.PushRegistration, len(docs))
	for i, d := range docs {
		out[i] = herald.PushRegistration{User: d.U, Device: d.D, Provider: d.P, Token: d.Tok, Topic: d.Top, Environment: d.Env,
			Subscription: d.Sub, Updated: d.Up}
	}
	return out, nil
}

// DeleteRegistration implements herald.PushRegistrations.
func (s *Store) DeleteRegistration(ctx context.Context, user, device string) (bool, error) {
	res, err := s.registrations.DeleteOne(ctx, bson.D{{Key: "_id", Value: ackID(user, device)}})
	if err != nil {
		return false, fmt.Errorf("push registration of %s/%s: %w", user, device, err)
	}
	return res.DeletedCount > 0, nil
}
