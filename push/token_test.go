package push

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/testenv/probe"
)

// A connection whose token is about to expire is asked for a new one; the
// client that answers stays, the one that does not is closed with 4001.
func TestTokenRefresh(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.PingInterval = 100 * time.Millisecond
		c.PongTimeout = 10 * time.Second
		c.TokenGrace = 300 * time.Millisecond
	})
	short := func(user string) string {
		tok, err := f.jwt.Mint(user, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	good := probe.MustDialWS(t, f.ws, short("r"), "", nil)
	lazy := probe.MustDialWS(t, f.ws, short("r"), "", nil)
	if good.Hello.Expires == 0 {
		t.Fatal("hello has no expires")
	}

	// good answers the refresh with a fresh token.
	deadline := time.Now().Add(5 * time.Second)
	for {
		fr, err := good.Next(time.Until(deadline))
		if err != nil {
			t.Fatalf("no refresh frame: %v", err)
		}
		if fr.Type != "refresh" {
			continue
		}
		if fr.Expires != good.Hello.Expires {
			t.Fatalf("refresh names expiry %d, hello said %d", fr.Expires, good.Hello.Expires)
		}
		if err := good.Send(map[string]string{"type": "refresh", "token": f.token(t, "r")}); err != nil {
			t.Fatal(err)
		}
		break
	}
	for {
		fr, err := good.Next(2 * time.Second)
		if err != nil {
			t.Fatalf("no refreshed frame: %v", err)
		}
		if fr.Type == "refreshed" {
			if fr.Expires < time.Now().Add(30*time.Minute).UnixMilli() {
				t.Fatalf("refreshed expiry %d", fr.Expires)
			}
			break
		}
	}

	// lazy never answers: closed once the token is past expiry and grace.
	code, reason := lazy.CloseCode(6 * time.Second)
	if code != CloseTokenExpired || !strings.Contains(reason, "expired") {
		t.Fatalf("lazy client: close %d %q", code, reason)
	}
	if ms := time.Now().UnixMilli() - good.Hello.Expires; ms < 300 {
		t.Fatalf("closed %d ms after expiry, before the grace", ms)
	}
	// good is still served.
	if err := good.Send(map[string]string{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	for {
		fr, err := good.Next(2 * time.Second)
		if err != nil {
			t.Fatalf("refreshed client dropped: %v", err)
		}
		if fr.Type == "pong" {
			break
		}
	}

	// A refresh with another user's token is refused.
	other := probe.MustDialWS(t, f.ws, f.token(t, "s"), "", nil)
	other.Send(map[string]string{"type": "refresh", "token": f.token(t, "mallory")})
	if code, _ := other.CloseCode(2 * time.Second); code != ClosePolicy {
		t.Fatalf("refresh for another user: close %d", code)
	}
	forged := probe.MustDialWS(t, f.ws, f.token(t, "s"), "", nil)
	forged.Send(map[string]string{"type": "refresh", "token": "forged.token.here"})
	if code, _ := forged.CloseCode(2 * time.Second); code != CloseTokenExpired {
		t.Fatalf("forged refresh: close %d", code)
	}
}

// A disconnect order closes the user's connections with 4003 and its
// reason; tokens issued before the revocation no longer connect, later ones
// do, and other users are untouched.
func TestDisconnectAndRevocation(t *testing.T) {
	f := newFixture(t, nil)
	old := f.token(t, "v")
	a := probe.MustDialWS(t, f.ws, old, "phone", nil)
	b := probe.MustDialWS(t, f.ws, old, "laptop", nil)
	bystander := probe.MustDialWS(t, f.ws, f.token(t, "w"), "", nil)

	now := time.Now()
	if err := f.svc.revocations.Revoke(context.Background(), "v", now, time.Hour); err != nil {
		t.Fatal(err)
	}
	reason, _ := json.Marshal("account suspended")
	f.svc.Deliver(context.Background(), []*herald.Message{{Kind: herald.KindDisconnect, Users: []string{"v"}, Seqs: []herald.Seq{0}, Payload: reason}})
	for _, ws := range []*probe.WS{a, b} {
		if code, r := ws.CloseCode(2 * time.Second); code != CloseRevoked || r != "account suspended" {
			t.Fatalf("close %d %q", code, r)
		}
	}
	if _, err := probe.DialWS(t, f.ws, old, "", nil); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("revoked token connected: %v", err)
	}
	time.Sleep(time.Until(now.Truncate(time.Second).Add(time.Second + 50*time.Millisecond)))
	probe.MustDialWS(t, f.ws, f.token(t, "v"), "", nil)
	if err := bystander.Send(map[string]string{"type": "ping"}); err != nil {
		t.Fatal(err)
	}
	if fr, err := bystander.Next(2 * time.Second); err != nil || fr.Type != "pong" {
		t.Fatalf("bystander: %+v %v", fr, err)
	}
}

// An order naming a device closes that device's connections only, on
// whichever node holds them; an order in the older form (a bare reason)
// still closes all.
func TestDisconnectOneDevice(t *testing.T) {
	f := newFixture(t, nil)
	tok := f.token(t, "v")
	phone := probe.MustDialWS(t, f.ws, tok, "phone", nil)
	phone2 := probe.MustDialWS(t, f.ws, tok, "phone", nil)
	laptop := probe.MustDialWS(t, f.ws, tok, "laptop", nil)
	order, _ := json.Marshal(herald.DisconnectOrder{Reason: "lost phone", Device: "phone"})
	f.svc.Deliver(context.Background(), []*herald.Message{{Kind: herald.KindDisconnect, Users: []string{"v"}, Seqs: []herald.Seq{0}, Payload: order}})
	for _, ws := range []*probe.WS{phone, phone2} {
		if code, r := ws.CloseCode(2 * time.Second); code != CloseRevoked || r != "lost phone" {
			t.Fatalf("phone: close %d %q", code, r)
		}
	}
	laptop.Send(map[string]string{"type": "ping"})
	if fr, err := laptop.Next(2 * time.Second); err != nil || fr.Type != "pong" {
		t.Fatalf("laptop after the phone's disconnect: %+v %v", fr, err)
	}
	probe.MustDialWS(t, f.ws, tok, "phone", nil) // nothing revoked
	f.svc.Deliver(context.Background(), []*herald.Message{{Kind: herald.KindDisconnect, Users: []string{"v"}, Seqs: []herald.Seq{0}, Payload: []byte(`"bye"`)}})
	if code, r := laptop.CloseCode(2 * time.Second); code != CloseRevoked || r != "bye" {
		t.Fatalf("laptop: close %d %q", code, r)
	}
}
