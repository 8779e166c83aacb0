// Package rpc is Herald's internal transport over gRPC: collect calls dispatch,
// dispatch calls push, each call carrying a whole batch of messages.
package rpc

import (
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/rpc/heraldpb"
)

// maxMsgSize bounds one gRPC message. Batches are split well below it
// (splitBytes) so the largest batch of the largest payloads still fits.
const (
	maxMsgSize = 64 << 20
	splitBytes = 8 << 20
)

func toPB(msgs []*herald.Message) []*heraldpb.Batch {
	var out []*heraldpb.Batch
	cur := &heraldpb.Batch{}
	size := 0
	for _, m := range msgs {
		pm := &heraldpb.Message{
			Id: m.ID, TsMs: m.Time.UnixMilli(), Topic: m.Topic, Payload: m.Payload,
			Users: m.Users, Seqs: m.Seqs, Kind: m.Kind,
		}
		sz := len(m.Payload) + 64*len(m.Users) + 64
		if size+sz > splitBytes && len(cur.Messages) > 0 {
			out = append(out, cur)
			cur, size = &heraldpb.Batch{}, 0
		}
		cur.Messages = append(cur.Messages, pm)
		size += sz
	}
	if len(cur.Messages) > 0 {
		out = append(out, cur)
	}
	return out
}

func fromPB(b *heraldpb.Batch) ([]*herald.Message, error) {
	out := make([]*herald.Message, 0, len(b.Messages))
	for _, pm := range b.Messages {
		if len(pm.Users) != len(pm.Seqs) {
			return nil, herald.Errorf(herald.EInvalid, "message %s: %d users but %d seqs", pm.Id, len(pm.Users), len(pm.Seqs))
		}
		out = append(out, &herald.Message{
			ID: pm.Id, Time: time.UnixMilli(pm.TsMs), Topic: pm.Topic, Payload: pm.Payload,
			Users: pm.Users, Seqs: pm.Seqs, Kind: pm.Kind,
		})
	}
	return out, nil
}
