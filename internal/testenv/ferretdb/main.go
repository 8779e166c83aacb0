// Command ferretdb runs FerretDB v1, for Herald's tests only: on PostgreSQL
// (-postgresql-url; what the tests use by default) or SQLite (-dir).
//
// It lives in its own Go module so that FerretDB's many dependencies never enter
// Herald's go.mod: `go install .../cmd/ferretdb@v1.24.2` builds a binary that panics at
// start (its version file is missing), while embedding the package works.
//
// Usage: ferretdb -listen 127.0.0.1:PORT (-postgresql-url URL | -dir DIR)
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dir := flag.String("dir", "ferretdb-data", "directory for the SQLite files")
	pg := flag.String("postgresql-url", "", "PostgreSQL database to store in instead of SQLite (postgres://user@host:port/db)")
	flag.Parse()

	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	cfg := &ferretdb.Config{
		Listener: ferretdb.ListenerConfig{TCP: *listen},
		Logger:   logger,
	}
	if *pg != "" {
		cfg.Handler, cfg.PostgreSQLURL = "postgresql", *pg
	} else {
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "ferretdb:", err)
			os.Exit(1)
		}
		cfg.Handler, cfg.SQLiteURL = "sqlite", "file:"+*dir+"/"
	}
	f, err := ferretdb.New(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := f.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
}
