#!/usr/bin/env bash
# govulncheck against a local vulnerability database: the online one is out
# of reach here, so the database is built from the golang.org/x/vulndb module
# (pinned) with its cmd/indexdb (about 90 s the first time, then cached in
# .testbin/vulndb).
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=go1.27.3
VULNDB=golang.org/x/vulndb@v0.0.0-20261105234957-e22db6528018
GOVULNCHECK=golang.org/x/vuln/cmd/govulncheck@v1.9.0
tools="$PWD/.testbin/tools"
db="$PWD/.testbin/vulndb"
if [ ! -x "$tools/govulncheck" ]; then
  GOBIN="$tools" go install "$GOVULNCHECK"
fi
if [ ! -f "$db/index/db.json" ] && [ ! -d "$db/ID" ]; then
  src=$(GOFLAGS=-mod=mod go mod download -json "$VULNDB" | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
  rm -rf "$db.tmp"
  (cd "$src" && GOFLAGS=-mod=mod go run ./cmd/indexdb -vulns data/osv -out "$db.tmp")
  mv "$db.tmp" "$db"
fi
"$tools/govulncheck" -db "file://$db" ./...
