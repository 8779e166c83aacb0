package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/heraldpush/herald/dispatch"
	"github.com/heraldpush/herald/internal/httpx"
	"github.com/heraldpush/herald/rpc"
)

func runDispatch(ctx context.Context, args []string) error {
	var (
		lo         logOptions
		co         clusterOptions
		ro         redisOptions
		listen     = ":8083"
		grpcListen = privateHost + ":9083"
	)
	f := newFlags("dispatch", "The dispatch service: looks up in Redis which push nodes hold each recipient and forwards messages there.")
	lo.register(f)
	co.register(f)
	ro.register(f, []string{"127.0.0.1:6379"})
	f.str(&listen, "listen", "HTTP address for /healthz, /readyz and /metrics")
	f.str(&grpcListen, "grpc-listen", `gRPC address collect sends to; "private:PORT" is this host's first private address (":PORT" for every interface)`)
	if err := lo.parse(f, args); err != nil {
		return err
	}
	cluster, err := co.load()
	if err != nil {
		return err
	}
	grpcListen, err = resolveInternal(grpcListen)
	if err != nil {
		return fmt.Errorf("--grpc-listen: %w", err)
	}
	router, err := ro.open(ctx)
	if err != nil {
		return err
	}
	defer router.Close()
	fwd := rpc.NewPushForwarder(cluster)
	defer fwd.Close()

	reg := httpx.NewRegistry()
	httpx.BuildInfo(reg, version, "dispatch", "none")
	svc := dispatch.New(router, fwd, reg)
	gs := rpc.NewServer(cluster)
	rpc.RegisterDispatch(gs, svc)
	mux := http.NewServeMux()
	health(mux, reg, httpx.Check{Name: "redis", Fn: router.Ping})
	mux.HandleFunc("/", httpx.NotFound)
	return serve(ctx, []*listener{
		{name: "dispatch http", addr: listen, http: mux},
		{name: "dispatch grpc", addr: grpcListen, grpc: gs},
	})
}
