package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/collect"
	"github.com/heraldpush/herald/dispatch"
	"github.com/heraldpush/herald/internal/egress"
	"github.com/heraldpush/herald/internal/httpx"
	"github.com/heraldpush/herald/memory"
	"github.com/heraldpush/herald/pebble"
	"github.com/heraldpush/herald/push"
	"github.com/heraldpush/herald/web"
)

func runAll(ctx context.Context, args []string) error {
	var (
		lo      logOptions
		ccfg    = collect.DefaultConfig()
		pcfg    = push.DefaultConfig()
		listen  = "127.0.0.1:8080"
		dataDir = "./herald-data"
		secret  string
		apiKey  string
		keysF   string
		dev     = true
		topts   = defaultTokenOptions()
	)
	pcfg.NodeID = "local"
	f := newFlags("all", "All four services in one process on embedded defaults: an on-disk store under --data-dir and in-memory routing. No Redis or MongoDB needed.")
	lo.register(f)
	f.str(&listen, "listen", "HTTP address of everything: API, WebSocket, demo page (loopback by default: dev mode mints tokens for anyone)")
	f.str(&dataDir, "data-dir", "directory of the embedded store (and of generated secrets)")
	f.str(&secret, "jwt-secret", "HS256 token secret, at least 32 bytes (default: generated once into DATA_DIR/jwt-secret)")
	f.str(&apiKey, "api-key", "API key (default: generated once into DATA_DIR/api-key)")
	f.str(&keysF, "api-keys-file", "YAML file of more API keys, named, with scopes (send, read, admin); read again when it changes")
	f.bool(&dev, "dev", "serve the demo page and its token and send endpoints under /dev/ (given on an address that is not loopback, Herald warns loudly)")
	f.fs.Lookup("dev").DefValue = "on only when --listen is loopback" // decideDev
	tokenFlags(f, &topts)
	var pushOpts pushOptions
	pushOpts.register(f)
	collectFlags(f, &ccfg)
	pushFlags(f, &pcfg)
	if err := lo.parse(f, args); err != nil {
		return err
	}
	devMode := decideDev(listen, dev, f.given("dev"))
	if devMode.exposed() {
		warnDevExposed(listen)
	}
	var err error
	if secret == "" {
		if secret, err = devSecret(dataDir, "jwt-secret", 32); err != nil {
			return err
		}
	}
	keyFile := ""
	if apiKey == "" {
		if apiKey, err = devSecret(dataDir, "api-key", 24); err != nil {
			return err
		}
		keyFile = filepath.Join(dataDir, "api-key")
	}
	topts.Secret = secret
	verifier, minter, err := auth.New(ctx, topts)
	if err != nil {
		return err
	}
	store, err := pebble.Open(dataDir)
	if err != nil {
		return err
	}
	defer closeStore(store)
	router := memory.NewRouter()

	reg := httpx.NewRegistry()
	httpx.BuildInfo(reg, version, "all", "pebble")
	if err := push.CheckConfig(pcfg); err != nil {
		return err
	}
	pcfg.WebPushHosts = ccfg.WebPushHosts // one --webpush-hosts for both
	presence := memory.NewTopicPresence(router)
	psvc := push.New(pcfg, push.Deps{Auth: verifier, Store: store, Router: router, Revocations: router,
		Receipts: store, Appends: store, Presence: presence, PresenceBus: presence, Directory: router, Online: memory.NewOnline(), Registrations: store, Collapse: store, Registry: reg})
	dsvc := dispatch.New(router, psvc, reg)
	ccfg.Namespaces = pcfg.Namespaces
	if ccfg.PrivateNetworks, err = egress.ParseAllow(pcfg.PrivateNetworks); err != nil {
		return fmt.Errorf("--allow-private-networks: %w", err)
	}
	providers, vapidKey, err := pushOpts.providers(egress.NewPolicy(ccfg.PrivateNetworks), dataDir)
	if err != nil {
		return err
	}
	ccfg.VAPIDPublicKey = vapidKey
	csvc := collect.New(ccfg, collect.Deps{Store: store, Dispatcher: dsvc, Directory: router, Revocations: router,
		Receipts: store, Presence: presence, Registrations: store, Queue: store, Schedule: store, Collapse: store, Recalls: store, Providers: providers, Events: psvc.ReceiptWebhook(), Registry: reg})

	mux := http.NewServeMux()
	keys, err := httpx.NewKeys(apiKey, keysF)
	if err != nil {
		return err
	}
	auth.Register(mux, verifier, minter, keys)
	csvc.Register(mux, keys)
	csvc.RegisterAdmin(mux, keys)
	mux.HandleFunc("/ws", psvc.ServeWS)
	mux.HandleFunc("/sse", psvc.ServeSSE)
	mux.HandleFunc("/sse/frames", psvc.ServeSSEFrames)
	health(mux, reg, httpx.Check{Name: "registered", Fn: psvc.Ready})
	var devAPI *web.Dev
	if devMode.on && minter != nil { // other token modes: your system mints, so no demo tokens
		devAPI = &web.Dev{Mint: minter.MintTopics, APIKey: apiKey, Send: mux, LoopbackOnly: devMode.loopback}
	}
	web.RegisterAdmin(mux)
	web.Register(mux, devAPI)

	ln := &listener{name: "herald all", addr: listen, http: mux, lane: csvc.LaneRoutes(keys), reg: reg}
	printBanner(listen, keyFile, devMode)
	return serve(ctx, []*listener{ln}, psvc, csvc)
}

// printBanner tells a newcomer where Herald listens and how to get a token.
// The API key itself is never printed: the commands read it from its file.
func printBanner(listen, keyFile string, dev devDecision) {
	host, port, _ := net.SplitHostPort(listen)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	scheme, wsScheme := "http", "ws"
	if tlsPair != nil {
		scheme, wsScheme = "https", "wss"
	}
	base := scheme + "://" + net.JoinHostPort(host, port)
	key := "$HERALD_API_KEY"
	if keyFile != "" {
		key = "$(cat " + keyFile + ")"
	}
	fmt.Fprintf(os.Stderr, "\nHerald is running (all services in one process).\n")
	switch {
	case dev.exposed():
		fmt.Fprintf(os.Stderr, "  WARNING: dev mode is on and %s is reachable from other machines: anyone who\n"+
			"           reaches it can mint tokens for any user and send without the API key.\n", listen)
		fmt.Fprintf(os.Stderr, "  Demo page:    %s/\n", base)
	case dev.on:
		fmt.Fprintf(os.Stderr, "  Demo page:    %s/\n", base)
	case !dev.loopback:
		fmt.Fprintf(os.Stderr, "  Dev mode off (--listen is not loopback): no demo page, no /dev/ endpoints.\n")
	default:
		fmt.Fprintf(os.Stderr, "  Dev mode off (--dev=false): no demo page, no /dev/ endpoints.\n")
	}
	fmt.Fprintf(os.Stderr, "  Get a token:  curl -s %s/v1/tokens -H \"Authorization: Bearer %s\" --json '{\"user\":\"alice\"}'\n", base, key)
	fmt.Fprintf(os.Stderr, "  Connect:      %s://%s/ws?token=TOKEN&device=laptop\n", wsScheme, net.JoinHostPort(host, port))
	fmt.Fprintf(os.Stderr, "  Send:         curl -s %s/v1/messages -H \"Authorization: Bearer %s\" --json '{\"users\":[\"alice\"],\"payload\":{\"text\":\"hi\"}}'\n\n", base, key)
}
