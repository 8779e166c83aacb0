package push

import (
	"strconv"

	"github.com/heraldpush/herald"
)

// A recalled message (DELETE /v1/messages/{id}) is passed over by every
// replay from then on; a connection that asked (?recall=true) is also
// told, so that an app can take it off the screen:
//
//	{"type":"recall","id":"01a2...","seq":7}                  a user's message, its seq for this user
//	{"type":"recall","id":"01a3...","topic":"news","seq":46}  a topic's (topic "*": a broadcast)

// recallFrame is the frame of a recall of message id, seq in its stream.
func recallFrame(id, topic string, seq herald.Seq) []byte {
	b := herald.AppendJSONString(append([]byte(nil), `{"type":"recall","id":`...), id)
	if topic != "" {
		b = herald.AppendJSONString(append(b, `,"topic":`...), topic)
	}
	b = strconv.AppendUint(append(b, `,"seq":`...), seq, 10)
	return append(b, '}')
}

// recall tells the local connections that asked for it of order m
// (KindRecall: the message's ID, users and seqs).
func (s *Service) recall(m *herald.Message) int {
	n := 0
	tell := func(c *session, frame []byte) {
		if c.recall && c.enc != encProto { // no recall frame in the protobuf protocol
			c.enqueue(outItem{frame: frame})
			n++
		}
	}
	for i, u := range m.Users {
		var seq herald.Seq
		if i < len(m.Seqs) {
			seq = m.Seqs[i]
		}
		topic, isTopic := herald.IsTopicKey(u)
		switch {
		case !isTopic:
			frame := recallFrame(m.ID, "", seq)
			for _, c := range s.hub.userConns(u) {
				tell(c, frame)
			}
		case u == herald.BroadcastKey:
			frame := recallFrame(m.ID, herald.Broadcast, seq)
			s.hub.eachSession(func(c *session) { tell(c, frame) })
		default:
			frame := recallFrame(m.ID, topic, seq)
			for _, ts := range s.hub.subs(u) {
				tell(ts.c, frame)
			}
		}
	}
	return n
}
