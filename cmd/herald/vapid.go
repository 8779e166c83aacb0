package main

import (
	"fmt"
	"net/http"
	"path/filepath"

	"github.com/heraldpush/herald/webpush"
)

// vapidOptions are the Web Push identity's settings. In a cluster every
// collect instance needs the same key pair: a browser's subscription is
// made for one public key and refused to any other.
type vapidOptions struct {
	public, private, subject string
}

func (o *vapidOptions) register(f *flags) {
	f.str(&o.public, "vapid-public-key", "the VAPID public key (base64url, 65 bytes uncompressed P-256) that browsers subscribe with; GET /v1/push/vapid-key serves it")
	f.str(&o.private, "vapid-private-key", "its private key (base64url, 32 bytes); prefer HERALD_VAPID_PRIVATE_KEY")
	f.str(&o.subject, "vapid-subject", "how a push service reaches this sender's operator: mailto:ops@example.com or an https URL")
}

// sender checks the settings and returns the Web Push sender, or nil when
// no key is set. In herald all (dataDir set) a missing pair is generated
// into DATA_DIR/vapid.json once and kept.
func (o *vapidOptions) sender(dataDir string, client *http.Client) (*webpush.Sender, error) {
	keys := webpush.Keys{Public: o.public, Private: o.private}
	switch {
	case o.public == "" && o.private == "" && dataDir != "":
		var err error
		if keys, err = webpush.LoadOrCreate(filepath.Join(dataDir, "vapid.json")); err != nil {
			return nil, fmt.Errorf("VAPID keys: %w", err)
		}
		if o.subject == "" {
			o.subject = "mailto:herald@localhost" // set --vapid-subject before browsers outside this machine subscribe
		}
	case o.public == "" && o.private == "":
		return nil, nil
	case o.public == "" || o.private == "":
		return nil, fmt.Errorf("--vapid-public-key and --vapid-private-key go together")
	}
	s, err := webpush.NewSender(keys, o.subject, client)
	if err != nil {
		return nil, fmt.Errorf("--vapid-*: %w", err)
	}
	return s, nil
}
