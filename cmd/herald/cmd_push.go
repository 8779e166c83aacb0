package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/httpx"
	"github.com/heraldpush/herald/push"
	"github.com/heraldpush/herald/rpc"
)

// pushFlags registers the push service's tuning flags on f.
func pushFlags(f *flags, cfg *push.Config) {
	f.int(&cfg.SendQueue, "send-queue", "frames queued per connection before it is closed as too slow (close 4000)")
	f.int64(&cfg.MaxFrame, "max-frame", "largest frame a client may send, in bytes (close 1009 above it)")
	f.int(&cfg.MaxFrameRate, "max-frame-rate", "client frames a second per connection, acks and pings alike (close 1008 above it; 0: no limit)")
	f.bool(&cfg.Compression, "compression", "offer permessage-deflate (RFC 7692) to WebSocket clients, with no context takeover so an idle connection keeps no compressor state")
	f.int(&cfg.CompressThreshold, "compression-threshold", "server frames shorter than this many bytes go uncompressed even when compression was negotiated")
	f.dur(&cfg.PingInterval, "ping-interval", "WebSocket ping period")
	f.dur(&cfg.PongTimeout, "pong-timeout", "a connection with no frame or pong for this long is closed")
	f.dur(&cfg.TokenGrace, "token-grace", "a connection stays this long past its token's expiry waiting for a refresh, then closes with 4001")
	f.dur(&cfg.HeartbeatInterval, "heartbeat-interval", "how often the node refreshes its liveness key")
	f.dur(&cfg.HeartbeatTTL, "heartbeat-ttl", "a node is dead this long after its last heartbeat")
	f.dur(&cfg.RouteTTL, "route-ttl", "safety expiry of a user's route (node liveness is what normally ends it)")
	f.dur(&cfg.RouteRefresh, "route-refresh", "how often every local route is written again")
	f.dur(&cfg.DrainTimeout, "drain-timeout", "bound on graceful shutdown")
	f.int(&cfg.MaxConnections, "max-connections", "open connections per node; past it upgrades get 503 (0: no limit)")
	f.int(&cfg.MaxUserConns, "max-user-connections", "one user's connections per node; past it upgrades get 429 (0: no limit)")
	f.int(&cfg.MaxIPConns, "max-ip-connections", "connections from one client address per node; past it upgrades get 429 (0: no limit; set --trusted-proxies behind a load balancer)")
	f.int(&cfg.MaxIPRate, "max-ip-rate", "new connections a second from one client address per node; past it 429 (0: no limit)")
	f.list(&cfg.TrustedProxies, "trusted-proxies", "addresses or CIDRs of proxies (nginx, the load balancer) whose X-Forwarded-For names the client, comma-separated")
	f.list(&cfg.AllowedOrigins, "allowed-origins", "browser origins allowed to open WebSockets, comma-separated; empty: the page's own origin only; * for any")
	f.int(&cfg.ResumeConcurrency, "resume-concurrency", "connection handshakes (hello and replay) reading the store at once, at most; halved while the store answers slowly, others wait their turn (up to 10 s)")
	f.dur(&cfg.GapWait, "gap-wait", "how long a connection's stream waits for a missing seq (a message still being stored by another collect instance) before moving past it")
	f.dur(&cfg.CatchUpInterval, "catchup-interval", "how often connections are checked against the store for messages that missed live delivery (such a message arrives within two intervals)")
	f.bool(&cfg.Receipts, "receipts", "record delivery receipts (delivered, acked) per message and device, for GET /v1/messages/{id}")
	f.str(&cfg.WebhookURL, "receipts-webhook-url", "POST receipt events (acked, not_acked) here, in signed batches; empty: none")
	f.str(&cfg.WebhookSecret, "receipts-webhook-secret", "HMAC-SHA256 key that signs the webhook's requests (required with --receipts-webhook-url)")
	f.dur(&cfg.AckTimeout, "receipts-ack-timeout", "a delivery not acked this long becomes a not_acked event")
	f.str(&cfg.ConnWebhookURL, "connection-webhook-url", "POST connection events (connect, disconnect, subscribe, unsubscribe, online, offline) here, in signed batches; empty: none")
	f.str(&cfg.ConnWebhookSecret, "connection-webhook-secret", "HMAC-SHA256 key that signs the connection webhook's requests (required with --connection-webhook-url)")
	f.list(&cfg.ConnWebhookEvents, "connection-webhook-events", "the connection events to send, comma-separated (connect, disconnect, subscribe, unsubscribe, online, offline); empty: all")
	f.dur(&cfg.OfflineGrace, "offline-grace", "a user's last connection closing sends offline only if none opens within this (a page reload is neither offline nor online)")
	f.int(&cfg.MaxTopics, "max-topics", "topics one connection may subscribe to (0: no limit)")
	f.namespaces(&cfg.Namespaces, "namespaces", `options of the topics named "<namespace>:...", as a JSON object (a YAML mapping in --config): {"chat": {"presence": true, "client_presence": true, "join_leave": true, "max_subscribers": 10000, "subscribe": "claim|proxy|any"}} (docs/protocol.md, "Namespaces")`)
	f.str(&cfg.SubProxyURL, "subscribe-proxy-url", "your system's URL that decides subscriptions the token's topics claim does not allow (POST {user, topics} -> {allowed}); empty: refuse them")
	f.str(&cfg.SubProxySecret, "subscribe-proxy-secret", "sent to --subscribe-proxy-url as Authorization: Bearer, so it knows Herald is asking")
	f.dur(&cfg.SubProxyTimeout, "subscribe-proxy-timeout", "bound on one question to --subscribe-proxy-url")
	f.list(&cfg.PrivateNetworks, "allow-private-networks", "networks (CIDRs or addresses, comma-separated) that --receipts-webhook-url, --subscribe-proxy-url and Web Push endpoints may reach although loopback, private or link-local; empty: public addresses only")
}

func runPush(ctx context.Context, args []string) error {
	var (
		lo         logOptions
		co         clusterOptions
		ro         redisOptions
		mo         mongoOptions
		cfg        = push.DefaultConfig()
		listen     = ":8080"
		grpcListen = privateHost + ":9080"
		authURLs   = []string{"http://" + privateHost + ":8081"}
		authCache  = auth.CacheTTL
	)
	host, _ := os.Hostname()
	cfg.NodeID = ""
	f := newFlags("push", "The push service: holds WebSocket connections at GET /ws and event streams at GET /sse, and writes each message to its user's connections.")
	lo.register(f)
	co.register(f)
	ro.register(f, []string{"127.0.0.1:6379"})
	mo.register(f)
	f.str(&listen, "listen", "HTTP address for GET /ws, GET /sse, POST /sse/frames and the health endpoints")
	f.str(&grpcListen, "grpc-listen", `gRPC address dispatch (and other push nodes, with event streams' frames) sends to; "private:PORT" is this host's first private address (":PORT" for every interface)`)
	f.str(&cfg.Addr, "advertise-addr", "gRPC address other nodes reach this node at (default: --grpc-listen, with this host's name if it has no host)")
	f.str(&cfg.NodeID, "node-id", "unique name of this node in the cluster (default: host name and gRPC port)")
	f.list(&authURLs, "auth-urls", `base URLs of the auth service, comma-separated; the host "private" is this host's first private address (auth's default --listen)`)
	f.dur(&authCache, "auth-cache-ttl", "how long a verified token is trusted without asking the auth service again")
	pushFlags(f, &cfg)
	f.list(&cfg.WebPushHosts, "webpush-hosts", "hosts a Web Push subscription's endpoint a client registers (push_register) may name, comma-separated (*.example.com: its subdomains); the browsers' push services by default")
	if err := lo.parse(f, args); err != nil {
		return err
	}
	cluster, err := co.load()
	if err != nil {
		return err
	}
	for i, u := range authURLs {
		if authURLs[i], err = resolveInternalURL(u); err != nil {
			return fmt.Errorf("--auth-urls: %w", err)
		}
	}
	grpcListen, err = resolveInternal(grpcListen)
	if err != nil {
		return fmt.Errorf("--grpc-listen: %w", err)
	}
	h, port, err := net.SplitHostPort(grpcListen)
	if err != nil {
		return fmt.Errorf("--grpc-listen: %w", err)
	}
	if cfg.Addr == "" {
		if h == "" || h == "0.0.0.0" || h == "::" {
			h = host
		}
		cfg.Addr = net.JoinHostPort(h, port)
	}
	if cfg.NodeID == "" {
		cfg.NodeID = host + "-" + port
	}
	store, err := mo.open(ctx, false, 0)
	if err != nil {
		return err
	}
	defer closeStore(store)
	router, err := ro.open(ctx)
	if err != nil {
		return err
	}
	defer router.Close()

	reg := httpx.NewRegistry()
	httpx.BuildInfo(reg, version, "push", "mongo")
	if err := push.CheckConfig(cfg); err != nil {
		return err
	}
	relay := rpc.NewPushForwarder(cluster)
	defer relay.Close()
	svc := push.New(cfg, push.Deps{Auth: auth.NewClient(authURLs, authCache), Store: store, Router: router, Revocations: router,
		Receipts: store, Gaps: store, Relay: relay, Presence: router.TopicPresence(), PresenceBus: router.TopicPresence(),
		Directory: router, Online: router.UserOnline(), Registrations: store, Collapse: store, Registry: reg})
	gs := rpc.NewServer(cluster)
	rpc.RegisterPush(gs, svc, svc)
	mux := http.NewServeMux()
	mux.HandleFunc("/ws", svc.ServeWS)
	mux.HandleFunc("/sse", svc.ServeSSE)
	mux.HandleFunc("/sse/frames", svc.ServeSSEFrames)
	health(mux, reg, httpx.Check{Name: "store", Fn: store.Ping}, httpx.Check{Name: "redis", Fn: router.Ping}, httpx.Check{Name: "registered", Fn: svc.Ready})
	mux.HandleFunc("/", httpx.NotFound)
	return serve(ctx, []*listener{
		{name: "push http", addr: listen, http: mux},
		{name: "push grpc", addr: grpcListen, grpc: gs},
	}, svc)
}
