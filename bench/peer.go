package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"strconv"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldpush/herald/auth"
)

// The load generator speaks to Herald or to Centrifugo. Herald's targets
// (docs/design/performance-log.md) are set against Centrifugo's figures on the
// same machine, but a figure depends on the load generator as much as on the
// server when both share two cores: measuring Centrifugo with this same
// generator (same senders, same readers, same clock) is what makes the two
// comparable. Only what differs is here: tokens, the WebSocket handshake and
// frames, and the publish API. Modes that are Herald's own (topic, --ack)
// refuse --peer centrifugo.

// Peers: the servers `herald-bench --peer` speaks to.
const (
	PeerHerald     = "herald"
	PeerCentrifugo = "centrifugo"
)

// Centrifugo's side of the comparison, as bench/centrifugo/config.json sets
// it up: each user's connection is subscribed by the server to the user's
// personal channel (personal:#<user>), a namespace with in-memory history
// and recovery, which is what Herald's per-user inbox does with its store.
const centrifugoNamespace = "personal:#"

func (c Config) checkPeer() error {
	switch c.Peer {
	case "", PeerHerald:
		return nil
	case PeerCentrifugo:
	default:
		return fmt.Errorf("unknown peer %q: herald or centrifugo", c.Peer)
	}
	switch {
	case c.Mode == "topic":
		return errors.New("topic mode is Herald's own: --peer centrifugo runs connect, unicast and multicast")
	case c.Ack:
		return errors.New("--ack is Herald's receipts: not with --peer centrifugo")
	case len(c.PeerSecret) < 32 && !c.Worker: // a worker is handed its tokens
		return errors.New("--peer centrifugo mints its own connection tokens: --peer-secret, the HMAC key in Centrifugo's client.token.hmac_secret_key (at least 32 bytes)")
	}
	return nil
}

func (c Config) centrifugo() bool { return c.Peer == PeerCentrifugo }

// mintTokens returns a connection token per user: from Herald's POST
// /v1/tokens, or for Centrifugo signed here with its HMAC key (HS256, sub =
// the user, as Centrifugo's own gentoken does).
func (c Config) mintTokens(ctx context.Context, users []string, topics ...string) ([]string, error) {
	if !c.centrifugo() {
		return tokens(ctx, c.authURL(), c.APIKey, users, topics...)
	}
	j, err := auth.NewJWT(c.PeerSecret)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(users))
	for i, u := range users {
		if out[i], err = j.Mint(u, time.Hour); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// newSender returns a sender to base with the peer's API key header and
// the status it answers an accepted publish with (Centrifugo: 200).
func (c Config) newSender(base string) (*sender, error) {
	s, err := newSender(base, c.APIKey)
	if err == nil && c.centrifugo() {
		s.auth, s.ok = "X-API-Key: "+c.APIKey, 200
	}
	return s, err
}

// dial opens one client connection and waits for the server to take it:
// Herald's hello, or the answer to Centrifugo's connect command.
func (c Config) dial(ctx context.Context, d *websocket.Dialer, base, token string) (*websocket.Conn, error) {
	u := base + "/ws?token=" + url.QueryEscape(token)
	if c.centrifugo() {
		u = base + "/connection/websocket"
	}
	ws, _, err := d.DialContext(ctx, u, nil)
	if err != nil {
		return nil, err
	}
	ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	if c.centrifugo() {
		err = ws.WriteMessage(websocket.TextMessage, []byte(`{"id":1,"connect":{"token":`+strconv.Quote(token)+`}}`))
	}
	var hello []byte
	if err == nil {
		_, hello, err = ws.ReadMessage()
	}
	if err == nil && c.centrifugo() && !bytes.Contains(hello, []byte(`"connect":`)) {
		err = fmt.Errorf("connect refused: %s", hello)
	}
	if err != nil {
		ws.Close()
		return nil, err
	}
	ws.SetReadDeadline(time.Time{})
	return ws, nil
}

// centrifugoFrame handles one frame from Centrifugo: replies and pushes,
// one JSON object a line; an empty object is the server's ping, answered
// with one.
func centrifugoFrame(ws *websocket.Conn, b []byte, handle func([]byte)) error {
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte("\n"))
		b = rest
		switch {
		case len(line) == 0:
		case bytes.Equal(line, []byte("{}")):
			if err := ws.WriteMessage(websocket.TextMessage, []byte("{}")); err != nil {
				return err
			}
		case handle != nil:
			handle(line)
		}
	}
	return nil
}

// parsePush pulls the publication's offset (a per-channel sequence, as
// Herald's seq is per user) and its payload's send time out of a push.
func parsePush(b []byte) (seq uint64, sent int64, ok bool) {
	if !bytes.HasPrefix(b, []byte(`{"push":`)) || !bytes.Contains(b, []byte(`"pub":`)) {
		return 0, 0, false
	}
	seq, ok1 := uintAfter(b, []byte(`"offset":`))
	t, ok2 := uintAfter(b, []byte(`"t":`))
	return seq, int64(t), ok1 && ok2
}

// centrifugoRequest appends one request to Centrifugo's server API: publish
// to a user's channel, batch of publishes, or broadcast to k users'
// channels (its multicast).
func centrifugoRequest(b []byte, rnd *rand.Rand, users []string, cfg Config, k int, at time.Time) ([]byte, string) {
	publish := func(b []byte) []byte {
		b = append(b, `{"channel":`...)
		b = strconv.AppendQuote(b, centrifugoNamespace+users[rnd.IntN(len(users))])
		b = append(b, `,"data":`...)
		return append(cfg.appendPayload(b, at), '}')
	}
	switch {
	case k > 1:
		b = append(b, `{"channels":[`...)
		for i, j := range rnd.Perm(len(users))[:k] {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendQuote(b, centrifugoNamespace+users[j])
		}
		b = append(b, `],"data":`...)
		return append(cfg.appendPayload(b, at), '}'), "/api/broadcast"
	case cfg.Batch > 0:
		b = append(b, `{"commands":[`...)
		for i := range cfg.Batch {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(publish(append(b, `{"publish":`...)), '}')
		}
		return append(b, "]}"...), "/api/batch"
	default:
		return publish(b), "/api/publish"
	}
}
