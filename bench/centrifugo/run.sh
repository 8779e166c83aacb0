#!/usr/bin/env bash
# Measures Centrifugo v6.9.1 and herald all with the same load generator
# (`herald-bench`, with --peer centrifugo for Centrifugo), figure by figure,
# each run on a fresh server, the two servers alternating: the comparison
# in docs/benchmarks.md ("Herald and Centrifugo, same load generator").
# Centrifugo runs as issue 4 describes its figures: memory engine, each
# user's personal channel with in-memory history, HS256 tokens, the HTTP
# server API (config.json here). Herald stores every message on disk first.
# ROUNDS (default 1) repeats every pair; FIGURES picks some of
# connect unicast batch steady multicast multicast-paced; DURATION the
# sending time (15s).
set -euo pipefail
cd "$(dirname "$0")/../.."
export GOTOOLCHAIN=go1.27.3
rounds=${ROUNDS:-1} figures=${FIGURES:-connect unicast batch steady multicast multicast-paced} dur=${DURATION:-15s}
out=bench/results
mkdir -p "$out"
make build build-bench >/dev/null
(cd bench/centrifugo && go build -ldflags "-X github.com/centrifugal/centrifugo/v6/internal/build.Version=6.9.1" \
  -o ../../bin/centrifugo github.com/centrifugal/centrifugo/v6)
cfg=bench/centrifugo/config.json
secret=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["client"]["token"]["hmac_secret_key"])' $cfg)
cfkey=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["http_api"]["key"])' $cfg)
cfaddr=127.0.0.1:18000 haddr=127.0.0.1:18080
data=
server=
stop() { if [ -n "$server" ]; then kill $server 2>/dev/null; wait $server 2>/dev/null || true; fi; server=; [ -n "$data" ] && rm -rf "$data"; data=; }
trap stop EXIT

args() { # the figure's bench arguments, as in bench/run-all.sh
  case $1 in
  connect)   echo "connect --conns 18000 --duration 30s --source-ips 127.0.0.2,127.0.0.3" ;;
  unicast)   echo "unicast --users 10000 --senders 32 --duration $dur" ;;
  batch)     echo "unicast --users 10000 --senders 8 --batch 100 --duration $dur" ;;
  steady)    echo "unicast --users 10000 --senders 16 --rate 5000 --duration $dur" ;;
  multicast) echo "multicast --users 10000 --recipients 1000 --senders 4 --duration $dur" ;;
  # Flat out, each server accepts as many messages as it delivers, so
  # latencies under different loads would be compared: this one offers
  # both the same 15,000 deliveries a second (below either's maximum here).
  multicast-paced) echo "multicast --users 10000 --recipients 1000 --senders 4 --rate 15 --duration $dur" ;;
  *) echo "unknown figure $1" >&2; exit 2 ;;
  esac
}
wait_up() { for _ in $(seq 100); do curl -sf "$1" >/dev/null && return; sleep 0.1; done; echo "no server at $1" >&2; exit 1; }

run() { # server figure round
  local f="$out/centrifugo-vs-herald-$2-$1-r$3.txt"
  if [ "$1" = centrifugo ]; then
    ./bin/centrifugo -c $cfg >"$out/centrifugo.log" 2>&1 &
    server=$!
    wait_up http://$cfaddr/health
    # shellcheck disable=SC2046
    ./bin/herald-bench $(args "$2") --peer centrifugo --peer-secret "$secret" --api-key "$cfkey" \
      --target http://$cfaddr >"$f"
  else
    data=$(mktemp -d)
    ./bin/herald all --listen $haddr --data-dir "$data" --log-level warn >"$out/herald.log" 2>&1 &
    server=$!
    wait_up http://$haddr/readyz
    # shellcheck disable=SC2046
    ./bin/herald-bench $(args "$2") --target http://$haddr --data-dir "$data" >"$f"
  fi
  stop
  local cpu
  cpu=$(sed -n 's/^  cpu      while sending: //p' "$f")
  echo "| $2 | $1 | $3 | ${cpu:--} $(grep -E '^\| [0-9]' "$f" | tail -1)"
}

echo "| figure | server | round | CPU while sending (delivery runs) | the bench's table row |"
echo "|---|---|---|---|---|"
for r in $(seq "$rounds"); do
  for fig in $figures; do
    if [ $((r % 2)) = 1 ]; then order="centrifugo herald"; else order="herald centrifugo"; fi
    for s in $order; do run "$s" "$fig" "$r"; done
  done
done
