package tlsfiles

import (
	"crypto/x509"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldpush/herald/internal/testenv/certs"
)

func TestReload(t *testing.T) {
	dir := t.TempDir()
	cf, kf := filepath.Join(dir, "c.pem"), filepath.Join(dir, "k.pem")
	certs.WriteSelfSigned(t, cf, kf, "first")
	p, err := Load(cf, kf)
	if err != nil {
		t.Fatal(err)
	}
	cn := func() string {
		c, _ := x509.ParseCertificate(p.Certificate().Certificate[0])
		return c.Subject.CommonName
	}
	if cn() != "first" {
		t.Fatal(cn())
	}
	later := time.Now().Add(time.Minute)
	certs.WriteSelfSigned(t, cf, kf, "second")
	os.Chtimes(cf, later, later)
	p.files.Now = func() time.Time { return later }
	if cn() != "second" {
		t.Fatalf("after renewal: %s", cn())
	}
	// A half-written renewal (a key that does not match) keeps the old pair.
	os.WriteFile(kf, []byte("not a key"), 0o600)
	later2 := later.Add(time.Minute)
	os.Chtimes(kf, later2, later2)
	p.files.Now = func() time.Time { return later2 }
	if cn() != "second" {
		t.Fatalf("after a broken renewal: %s", cn())
	}
	if _, err := Load(filepath.Join(dir, "missing"), kf); err == nil {
		t.Fatal("missing files loaded")
	}
}
