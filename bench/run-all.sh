#!/usr/bin/env bash
# Runs every `herald-bench` mode against a fresh `herald all` on this machine
# and leaves the tables and plots in bench/results/. Used for docs/benchmarks.md.
set -euo pipefail
cd "$(dirname "$0")/.."
export GOTOOLCHAIN=go1.27.3
make build build-bench >/dev/null
out=bench/results
mkdir -p "$out"
data=$(mktemp -d)
addr=127.0.0.1:18080
./bin/herald all --listen $addr --data-dir "$data" --log-level warn >"$out/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -sf http://$addr/readyz >/dev/null && break; sleep 0.1; done
b() { ./bin/herald-bench "$@" --target http://$addr --data-dir "$data"; }

b connect --conns 18000 --duration 30s                              | tee "$out/connect.txt"
b unicast --users 10000 --senders 32 --duration 15s \
  --plot "$out/unicast.png"                                         | tee "$out/unicast.txt"
b unicast --users 10000 --senders 8 --batch 100 --duration 15s \
  --plot "$out/batch.png"                                           | tee "$out/batch.txt"
b unicast --users 10000 --senders 16 --rate 5000 --duration 15s \
  --plot "$out/steady.png"                                          | tee "$out/steady.txt"
b multicast --users 10000 --recipients 1000 --senders 4 --duration 15s \
  --plot "$out/multicast.png"                                       | tee "$out/multicast.txt"
for r in 1 2 5 10; do
  b topic --users 18000 --senders 2 --rate $r --duration 15s --source-ips 127.0.0.2,127.0.0.3 \
    --plot "$out/topic-r$r.png"                                     | tee "$out/topic-r$r.txt"
done

# Encodings and compression: a 1 KiB JSON payload at a fixed rate, so that
# CPU per delivery and bytes on the wire compare row by row.
for mode in unicast multicast; do
  args=(--users 10000 --senders 16 --rate 5000)
  [ $mode = multicast ] && args=(--users 10000 --recipients 100 --senders 4 --rate 100)
  for enc in json protobuf; do
    for z in false true; do
      b $mode "${args[@]}" --payload-bytes 1024 --encoding $enc --compression=$z --duration 15s \
                                                                    | tee "$out/encoding-$mode-$enc-z$z.txt"
    done
  done
done
