# Herald's build. Every target uses Go 1.27.3: the machine's own Go may be
# older (1.26.8 has known holes in net/http and crypto/tls), and GOTOOLCHAIN
# makes the go command fetch the pinned release from the module proxy once.
export GOTOOLCHAIN := go1.27.3

GO          ?= go
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
TOOLS       := $(CURDIR)/.testbin/tools
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: all build build-bench run test test-deps lint unit fuzz vuln chaos bench bench-wslib bench-centrifugo bench-cluster bench-floor generate web clean release

all: build

## build: the herald binary in bin/
build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/herald ./cmd/herald

## release: the herald binaries of a release, with SHA256SUMS, in dist/
## (make release VERSION=v0.1.0; docs/releases.md)
release:
	rm -rf dist && mkdir -p dist
	for p in linux/amd64 linux/arm64 darwin/amd64 darwin/arm64; do \
	  CGO_ENABLED=0 GOOS=$${p%/*} GOARCH=$${p#*/} $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" \
	    -o dist/herald-$(VERSION)-$${p%/*}-$${p#*/} ./cmd/herald || exit 1; \
	done
	cd dist && sha256sum herald-* > SHA256SUMS

## build-bench: the load generator, bin/herald-bench (bench/, its own Go module)
build-bench:
	cd bench && $(GO) build -o ../bin/herald-bench ./cmd/herald-bench

## run: herald all on embedded defaults, demo page on http://127.0.0.1:8080/
run: build
	./bin/herald all

## test: everything CI checks: formatting, vet, staticcheck, 5 s of each fuzz
## target, and every test (unit, Redis and MongoDB integration on real servers,
## end-to-end on real processes, the SDKs, the browser test)
test: test-deps lint
	@$(MAKE) --no-print-directory fuzz FUZZTIME=5s
	$(GO) test -race -count=1 -timeout 12m ./...
	HERALD_TEST_FERRETDB=sqlite $(GO) test -race -count=1 -timeout 5m ./mongo/
	cd bench && $(GO) test -race -count=1 -timeout 6m ./...

## fuzz: each fuzz target for FUZZTIME (the frame decoder, the send-request
## decoder, the token parser, the WebSocket frame parser and its UTF-8 check of
## fragments, the lane's request heads against
## net/http's, the lane's whole answers against net/http's for the same bytes);
## failing inputs land in testdata/fuzz
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzClientFrame$$' -fuzztime $(FUZZTIME) ./push/
	$(GO) test -run '^$$' -fuzz '^FuzzSendRequest$$' -fuzztime $(FUZZTIME) ./collect/
	$(GO) test -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME) ./auth/
	$(GO) test -run '^$$' -fuzz '^FuzzParser$$' -fuzztime $(FUZZTIME) ./internal/ws/
	$(GO) test -run '^$$' -fuzz '^FuzzValidPrefix$$' -fuzztime $(FUZZTIME) ./internal/utf8x/
	$(GO) test -run '^$$' -fuzz '^FuzzHead$$' -fuzztime $(FUZZTIME) ./internal/lane/
	$(GO) test -run '^$$' -fuzz '^FuzzDifferential$$' -fuzztime $(FUZZTIME) ./internal/lane/

## unit: the quick tests only (no cluster)
unit:
	$(GO) test -short -count=1 ./...

## vuln: govulncheck against a local copy of the Go vulnerability database
vuln:
	scripts/vulncheck.sh

## chaos: the chaos run at full size (2 collect, 2 dispatch, 3 push, 1,000 users
## with 2 devices each; kills, drains and restarts nodes and Redis); bounded at
## 3 minutes, it writes its table to chaos-report.md. `make test` runs it small.
## FerretDB stores in PostgreSQL (HERALD_TEST_FERRETDB=sqlite: SQLite, which
## on 2 cores takes about a fifth of the traffic; docs/guarantees.md).
chaos: test-deps
	HERALD_CHAOS_USERS=1000 HERALD_CHAOS_SECONDS=75 HERALD_CHAOS_SENDERS=16 \
	HERALD_CHAOS_REPORT=$(CURDIR)/chaos-report.md \
	  $(GO) test -count=1 -timeout 3m -run TestChaos -v ./e2e/ | grep -v ' level='

## bench: every herald-bench mode against a fresh herald all (bench/results/)
bench:
	bench/run-all.sh

## bench-wslib: memory and idle CPU per connection of gorilla/websocket, gws,
## gobwas/ws, nbio and Herald's own WebSocket layer, then herald all
## (bench/wslib, its own Go module; tables in bench/results/wslib-*.txt)
bench-wslib:
	bench/wslib/run.sh

## bench-centrifugo: Centrifugo v6.9.1 (the peer Herald's targets are set against) and
## herald all measured by the same load generator, figure by figure
## (bench/centrifugo, its own Go module; tables in bench/results/centrifugo-vs-herald-*.txt)
bench-centrifugo:
	bench/centrifugo/run.sh

## bench-floor: what this machine's kernel and Go runtime cost for each
## figure's bare traffic, with no push server (bench/floor): the ceiling of
## one-write deliveries, of single-message HTTP requests, their latency at
## 5,000/s (also with each request on disk before its 202: --durable), and
## the CPU of 18,000 connections' pings alone
bench-floor:
	cd bench && $(GO) build -o ../bin/floor ./floor
	./bin/floor frames --conns 10000 --writers 8 --duration 10s
	./bin/floor http --conns 10000 --senders 32 --duration 10s
	./bin/floor http --conns 10000 --senders 16 --rate 5000 --duration 15s
	./bin/floor http --conns 10000 --senders 32 --duration 15s --server raw --durable bench/results/floor-log --commit-interval 500us
	./bin/floor http --conns 10000 --senders 16 --rate 5000 --duration 15s --server raw --durable bench/results/floor-log --commit-interval 500us
	./bin/floor pings --conns 18000 --interval 25s --duration 60s

## bench-cluster: the cluster figures (Redis commands per 1,000 idle connections,
## collect with 1 and 2 instances, deliveries/s with 1-3 push nodes, each
## service's CPU, a topic on 1-3 push nodes, a join/leave storm) on a local
## cluster with Redis and FerretDB on PostgreSQL; reports in bench/results/cluster*.md.
## HERALD_FIGURES_ONLY=throughput|topic|presence runs one part
bench-cluster: test-deps
	mkdir -p bench/results
	HERALD_FIGURES=1 HERALD_FIGURES_REPORT=$(CURDIR)/bench/results/cluster.md \
	  sh -c 'cd bench && $(GO) test -count=1 -timeout 20m -run TestClusterFigures -v ./e2e/' | grep -v ' level='

## test-deps: installs from Debian's packages what the tests need and is missing
## (redis-server, postgresql, chromium, npm)
test-deps:
	@scripts/install-test-deps.sh

lint:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$unformatted" ]; then echo "not gofmt-formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	cd bench && $(GO) vet ./...
	cd bench/wslib && $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...
	cd bench && $(GO) run $(STATICCHECK) ./...

## generate: regenerates the gRPC code from rpc/heraldpb/herald.proto and the
## client protocol's from clientpb/client.proto (needs protoc)
generate:
	GOBIN=$(TOOLS) $(GO) install $(PROTOC_GEN_GO)
	GOBIN=$(TOOLS) $(GO) install $(PROTOC_GEN_GO_GRPC)
	PATH="$(TOOLS):$$PATH" protoc -I rpc/heraldpb \
	  --go_out=paths=source_relative:rpc/heraldpb \
	  --go-grpc_out=paths=source_relative:rpc/heraldpb rpc/heraldpb/herald.proto
	PATH="$(TOOLS):$$PATH" protoc -I clientpb --go_out=paths=source_relative:clientpb clientpb/client.proto

## web: rebuilds the JavaScript SDK and copies it into the demo page's assets
## (embedded with go:embed, so herald all needs no build step)
web:
	cd clients/js && npm install --no-audit --no-fund && npx tsc -p .
	cp clients/js/dist/index.js web/static/herald-client.js
	cp clients/js/dist/herald-eventstream.js web/static/herald-eventstream.js

clean:
	rm -rf bin .testbin
