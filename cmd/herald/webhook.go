package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/heraldpush/herald/internal/egress"
	"github.com/heraldpush/herald/receipts"
)

// receiptWebhook is a collect instance's receipts webhook, held to the
// push nodes' rules: a secret of 16 bytes or more, a URL the outbound
// policy lets it reach.
func receiptWebhook(ctx context.Context, url, secret string, outbound *egress.Policy, reg prometheus.Registerer) (*receipts.Webhook, error) {
	if len(secret) < 16 {
		return nil, errors.New("--receipts-webhook-secret: 16 bytes or more are required with --receipts-webhook-url (the webhook's requests are signed with it)")
	}
	if err := outbound.CheckURL(ctx, url); err != nil {
		return nil, fmt.Errorf("--receipts-webhook-url: %w", err)
	}
	return receipts.NewWebhook(url, secret, outbound.Client(10*time.Second), reg), nil
}
