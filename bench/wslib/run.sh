#!/usr/bin/env bash
# Holds the same idle connections with each WebSocket library (bench/wslib)
# and with herald all, and measures each with `herald-bench connect`: the
# table in docs/benchmarks.md ("Choosing the WebSocket layer").
# CONNS and HOLD override the size (default 18000 connections, 60 s), LIBS
# the libraries (default all five; herald all is always measured last).
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=go1.27.3
conns=${CONNS:-18000} hold=${HOLD:-60s} libs=${LIBS:-gorilla gws gobwas nbio herald}
out=bench/results
mkdir -p "$out"
make build build-bench >/dev/null
(cd bench/wslib && go build -o ../../bin/wslib .)
addr=127.0.0.1:18090
data=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill $server 2>/dev/null; rm -rf "$data"' EXIT
measure() { # name, then the server's command line
  local name=$1; shift
  "$@" >"$out/wslib-$name.log" 2>&1 &
  server=$!
  for _ in $(seq 100); do curl -sf http://$addr/metrics >/dev/null && break; sleep 0.1; done
  ./bin/herald-bench connect --conns "$conns" --duration "$hold" --source-ips 127.0.0.2,127.0.0.3 \
    --target http://$addr --api-key "${key:-any}" >"$out/wslib-$name.txt"
  kill $server; wait $server 2>/dev/null || true
  server=
  echo "| $name $(grep -E '^\| [0-9]' "$out/wslib-$name.txt" | tail -1)"
}
echo "| server | connections | connect time | connects/s | server connections | server RSS before | server RSS held | RSS per connection | server CPU while idle |"
echo "|---|---|---|---|---|---|---|---|---|"
for lib in $libs; do
  measure "$lib" ./bin/wslib -lib "$lib" -listen $addr
done
key=$(openssl rand -hex 24)
HERALD_API_KEY=$key measure herald-all ./bin/herald all --listen $addr --data-dir "$data" --log-level warn
