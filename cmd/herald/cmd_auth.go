package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/heraldpush/herald/auth"
	"github.com/heraldpush/herald/internal/httpx"
)

func runAuth(ctx context.Context, args []string) error {
	var lo logOptions
	listen, secret, apiKey, keysFile := privateHost+":8081", "", "", ""
	topts := defaultTokenOptions()
	f := newFlags("auth", "The auth service: POST /v1/verify turns a token into a user ID; POST /v1/tokens (API key) mints tokens.")
	lo.register(f)
	f.str(&listen, "listen", `HTTP address; "private:PORT" is this host's first private address (":PORT" for every interface): only push and business systems call auth`)
	f.str(&secret, "jwt-secret", "HS256 secret for tokens, at least 32 bytes (required in HS256 mode, the default)")
	f.str(&apiKey, "api-key", "API key for POST /v1/tokens (this or --api-keys-file is required)")
	f.str(&keysFile, "api-keys-file", "YAML file of named API keys with scopes; POST /v1/tokens needs admin")
	tokenFlags(f, &topts)
	err := lo.parse(f, args)
	if err != nil {
		return err
	}
	if listen, err = resolveInternal(listen); err != nil {
		return fmt.Errorf("--listen: %w", err)
	}
	topts.Secret = secret
	if topts.Mode() == "hs256" {
		if err := require("jwt-secret", secret); err != nil {
			return err
		}
	}
	keys, err := httpx.NewKeys(apiKey, keysFile)
	if err != nil {
		return err
	}
	verifier, minter, err := auth.New(ctx, topts)
	if err != nil {
		return err
	}
	reg := httpx.NewRegistry()
	httpx.BuildInfo(reg, version, "auth", "none")
	mux := http.NewServeMux()
	auth.Register(mux, verifier, minter, keys)
	health(mux, reg)
	mux.HandleFunc("/", httpx.NotFound)
	return serve(ctx, []*listener{{name: "auth http", addr: listen, http: mux}})
}
