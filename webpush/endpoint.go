package webpush

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/heraldpush/herald"
	"github.com/heraldpush/herald/internal/egress"
)

// DefaultHosts are the push services of the browsers in use: a Web Push
// endpoint comes from a browser, so it is untrusted input, and only these
// hosts (or the ones --webpush-hosts names instead) are taken. "*."
// allows the subdomains of a name.
var DefaultHosts = []string{
	"fcm.googleapis.com",                // Chrome, and Chromium-based browsers but Edge
	"updates.push.services.mozilla.com", // Firefox
	"*.notify.windows.com",              // Edge
	"web.push.apple.com",                // Safari
}

// CheckEndpoint is where a subscription's endpoint (an https URL, as
// herald.PushRegistration.Validate checked) may point: a host of hosts,
// reaching addresses that policy allows. Its errors are herald.EInvalid,
// naming the setting that decides.
func CheckEndpoint(ctx context.Context, endpoint string, hosts []string, policy *egress.Policy) error {
	u, err := url.Parse(endpoint)
	if err != nil {
		return herald.Errorf(herald.EInvalid, "subscription.endpoint: not a URL")
	}
	host := strings.ToLower(u.Hostname())
	if !hostListed(host, hosts) {
		return herald.Errorf(herald.EInvalid, "subscription.endpoint: %s is not a known push service (--webpush-hosts)", host)
	}
	if err := policy.CheckURL(ctx, endpoint); err != nil {
		if errors.Is(err, egress.ErrRefused) {
			return herald.Errorf(herald.EInvalid, "subscription.endpoint: %s reaches an address that is not public (--allow-private-networks)", host)
		}
		return herald.Errorf(herald.EInvalid, "subscription.endpoint: %v", err)
	}
	return nil
}

// hostListed reports whether host is one of list's names, or under one of
// its "*." suffixes.
func hostListed(host string, list []string) bool {
	for _, h := range list {
		h = strings.ToLower(strings.TrimSpace(h))
		if suffix, ok := strings.CutPrefix(h, "*."); ok {
			if strings.HasSuffix(host, "."+suffix) {
				return true
			}
			continue
		}
		if host == h {
			return true
		}
	}
	return false
}
