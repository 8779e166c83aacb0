#!/usr/bin/env bash
# Installs what Herald's tests need from Debian's packages, when missing:
# redis-server (the Redis router's tests and the cluster tests start real ones)
# and chromium (the demo page's browser test drives it through playwright-core,
# which npm installs in tests/browser; no browser download is used).
# postgresql: FerretDB, the MongoDB-wire server the store and cluster tests
# use, stores in it (internal/testenv/postgres.go starts a server of its own
# per test process); FerretDB itself is built from Go sources by the tests
# (internal/testenv/ferretdb).
# python3 and python3-websockets: the Python SDK's tests (clients/python)
# run on Debian's interpreter, not whichever python3 is first on PATH.
set -euo pipefail

missing=()
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
[ -x /usr/bin/chromium ] || missing+=(chromium)
command -v npm >/dev/null 2>&1 || missing+=(npm)
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null && command -v psql >/dev/null 2>&1 || missing+=(postgresql)
/usr/bin/python3 -c 'import websockets' >/dev/null 2>&1 || missing+=(python3 python3-websockets)
[ ${#missing[@]} -eq 0 ] && exit 0

echo "installing test dependencies: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
    echo "need root (or sudo) to apt-get install ${missing[*]}" >&2; exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged service; the tests run their own servers.
$sudo systemctl disable --now redis-server >/dev/null 2>&1 || true
$sudo systemctl disable --now postgresql >/dev/null 2>&1 || true
