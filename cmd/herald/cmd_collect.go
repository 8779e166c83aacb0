package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/heraldpush/herald/collect"
	"github.com/heraldpush/herald/internal/egress"
	"github.com/heraldpush/herald/internal/httpx"
	"github.com/heraldpush/herald/rpc"
	"github.com/heraldpush/herald/web"
)

func runCollect(ctx context.Context, args []string) error {
	var (
		lo       logOptions
		co       clusterOptions
		ro       redisOptions
		mo       mongoOptions
		cfg      = collect.DefaultConfig()
		listen   = ":8082"
		apiKey   string
		keysFile string
		dispatch = []string{"127.0.0.1:9083"}
	)
	f := newFlags("collect", "The collect service: POST /v1/messages stores a message (MongoDB) and hands it to dispatch.")
	lo.register(f)
	co.register(f)
	mo.register(f)
	ro.register(f, nil)
	f.str(&listen, "listen", "HTTP address of the public API")
	f.str(&apiKey, "api-key", "API key business systems send as Authorization: Bearer, with every scope (this or --api-keys-file is required)")
	f.str(&keysFile, "api-keys-file", "YAML file of named API keys with scopes (send, read, admin); read again when it changes")
	f.list(&dispatch, "dispatch-addrs", "gRPC addresses of the dispatch instances, comma-separated")
	collectFlags(f, &cfg)
	var private []string
	var hookURL, hookSecret string
	var pushOpts pushOptions
	pushOpts.register(f)
	f.list(&private, "allow-private-networks", "networks (CIDRs or addresses, comma-separated) that a Web Push subscription's endpoint may reach although loopback, private or link-local; empty: public addresses only")
	f.str(&hookURL, "receipts-webhook-url", "POST receipt events of pushes (pushed, push_failed) here, in signed batches, as the push nodes' --receipts-webhook-url does the others; empty: none")
	f.str(&hookSecret, "receipts-webhook-secret", "HMAC-SHA256 key that signs the webhook's requests (required with --receipts-webhook-url)")
	f.namespaces(&cfg.Namespaces, "namespaces", "the push nodes' --namespaces (the same value): which topics keep presence, for GET /v1/topics/{topic}/presence")
	if err := lo.parse(f, args); err != nil {
		return err
	}
	cluster, err := co.load()
	if err != nil {
		return err
	}
	if cfg.PrivateNetworks, err = egress.ParseAllow(private); err != nil {
		return fmt.Errorf("--allow-private-networks: %w", err)
	}
	providers, vapidKey, err := pushOpts.providers(egress.NewPolicy(cfg.PrivateNetworks), "")
	if err != nil {
		return err
	}
	cfg.VAPIDPublicKey = vapidKey
	keys, err := httpx.NewKeys(apiKey, keysFile)
	if err != nil {
		return err
	}
	store, err := mo.open(ctx, true, cfg.Retention)
	if err != nil {
		return err
	}
	defer closeStore(store)
	checks := []httpx.Check{{Name: "store", Fn: store.Ping}}
	// Redis is optional for collect: it answers presence, the admin API and
	// disconnects (their revocations), and nothing else.
	deps := collect.Deps{Store: store, Receipts: store, Registrations: store, Queue: store, Schedule: store, Collapse: store, Recalls: store, Providers: providers}
	services := []runner{}
	reg := httpx.NewRegistry()
	if hookURL != "" {
		if deps.Events, err = receiptWebhook(ctx, hookURL, hookSecret, egress.NewPolicy(cfg.PrivateNetworks), reg); err != nil {
			return err
		}
		services = append(services, runFunc(func(ctx context.Context) error { deps.Events.Run(ctx); return nil }))
	}
	if len(ro.addrs) > 0 {
		r, err := ro.open(ctx)
		if err != nil {
			return err
		}
		defer r.Close()
		deps.Directory, deps.Revocations, deps.Presence = r, r, r.TopicPresence()
		checks = append(checks, httpx.Check{Name: "redis", Fn: r.Ping})
	}
	dc, err := rpc.NewDispatchClient(dispatch, cluster)
	if err != nil {
		return err
	}
	defer dc.Close()

	httpx.BuildInfo(reg, version, "collect", "mongo")
	deps.Dispatcher, deps.Registry = dc, reg
	svc := collect.New(cfg, deps)
	mux := http.NewServeMux()
	svc.Register(mux, keys)
	svc.RegisterAdmin(mux, keys)
	web.RegisterAdmin(mux)
	health(mux, reg, checks...)
	mux.HandleFunc("/", httpx.NotFound)
	return serve(ctx, []*listener{{name: "collect http", addr: listen, http: mux, lane: svc.LaneRoutes(keys), reg: reg}}, append(services, svc)...)
}

// collectFlags registers the collect service's limits on f.
func collectFlags(f *flags, cfg *collect.Config) {
	f.int64(&cfg.MaxPayload, "max-payload", "largest message payload in bytes")
	f.int(&cfg.MaxUsers, "max-users", "most recipients of one message")
	f.int(&cfg.MaxBatch, "max-batch", "most messages in one group commit")
	f.dur(&cfg.CommitInterval, "commit-interval", "least time between the starts of two group commits (each one write and one fsync); 0 writes as soon as the last write is done")
	f.int(&cfg.MaxBatchAPI, "max-batch-messages", "most messages in one POST /v1/messages/batch")
	f.int64(&cfg.MaxBatchBytes, "max-batch-bytes", "largest body of one POST /v1/messages/batch, in bytes")
	f.dur(&cfg.Retention, "retention", "how long stored messages are kept (0: forever); also how long Idempotency-Keys are remembered")
	f.dur(&cfg.SweepInterval, "sweep-interval", "how often messages past retention are removed")
	f.dur(&cfg.Lease, "lease", "how long a collect instance holds the pushes and scheduled messages it took: when it dies, another takes them after this")
	f.dur(&cfg.ScheduleHorizon, "schedule-horizon", "how far ahead a message's deliver_at may be")
	f.dur(&cfg.PushAfter, "push-after", "how long after a message is accepted its notification waits for a device to ack it before pushing (push: if_not_acked)")
	f.list(&cfg.WebPushHosts, "webpush-hosts", "hosts a Web Push subscription's endpoint may name, comma-separated (*.example.com: its subdomains); the browsers' push services by default")
	f.dur(&cfg.RevokeTTL, "revoke-ttl", "after POST /v1/users/{user}/disconnect, the user's older tokens are refused this long (longer than tokens live)")
}
