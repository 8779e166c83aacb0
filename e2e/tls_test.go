package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/heraldpush/herald/internal/testenv"
	"github.com/heraldpush/herald/internal/testenv/certs"
)

// herald all over TLS: WSS and HTTPS with the configured certificate, and a
// renewed certificate is served without a restart.
func TestAllOverTLS(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	first := certs.WriteSelfSigned(t, cf, kf, "first")
	addr := testenv.FreePort(t, "127.0.0.1")
	bin := testenv.HeraldBinary(t)
	testenv.Start(t, "herald all (tls)", bin, nil, "all", "--listen", addr, "--data-dir", filepath.Join(dir, "data"),
		"--tls-cert", cf, "--tls-key", kf)

	trust := func(c *x509.Certificate) *tls.Config {
		pool := x509.NewCertPool()
		pool.AddCert(c)
		return &tls.Config{RootCAs: pool}
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: trust(first)}}
	testenv.CheckFor(t, 15*time.Second, 100*time.Millisecond, func() error {
		resp, err := client.Get("https://" + addr + "/readyz")
		if err != nil {
			return fmt.Errorf("no HTTPS: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz: %d", resp.StatusCode)
		}
		return nil
	})
	key, err := os.ReadFile(filepath.Join(dir, "data", "api-key"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", "https://"+addr+"/v1/tokens", strings.NewReader(`{"user":"alice"}`))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(key)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var minted struct{ Token string }
	json.NewDecoder(resp.Body).Decode(&minted)
	resp.Body.Close()
	tok := minted.Token
	d := websocket.Dialer{TLSClientConfig: trust(first), HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("wss://"+addr+"/ws?token="+tok, nil)
	if err != nil {
		t.Fatalf("wss: %v", err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, data, err := ws.ReadMessage(); err != nil || !strings.Contains(string(data), `"hello"`) {
		t.Fatalf("hello over wss: %s %v", data, err)
	}
	// Reading over TLS (a goroutine per connection, not the poller).
	ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"ping"}`))
	if _, data, err := ws.ReadMessage(); err != nil || !strings.Contains(string(data), `"pong"`) {
		t.Fatalf("pong over wss: %s %v", data, err)
	}
	// Plain HTTP gets Go's TLS server's 400, never the API.
	if resp, err := (&http.Client{Timeout: 2 * time.Second}).Get("http://" + addr + "/readyz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode != 400 {
			t.Fatalf("plain HTTP on the TLS listener: %d", resp.StatusCode)
		}
	}

	// Renewal: the files are replaced; within the check interval new
	// handshakes get the new certificate.
	second := certs.WriteSelfSigned(t, cf, kf, "second")
	testenv.CheckFor(t, 15*time.Second, 250*time.Millisecond, func() error {
		conn, err := tls.Dial("tcp", addr, trust(second))
		if err != nil {
			return fmt.Errorf("renewed certificate not served: %w", err)
		}
		conn.Close()
		return nil
	})
}
