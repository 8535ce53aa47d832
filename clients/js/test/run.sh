#!/usr/bin/env bash
# Every test of the JavaScript client and the web demo, against a real roomcast:
#   ROOMCAST_BIN=build/release/roomcast clients/js/test/run.sh
# Installs the npm packages if missing (npm ci, else npm install), installs Debian's
# chromium if missing (as root), builds web/demo/dist, runs the node tests, then the
# end-to-end test. Screenshots go to build/artifacts/. Exits non-zero on any failure.
set -euo pipefail

: "${ROOMCAST_BIN:?set ROOMCAST_BIN to the roomcast binary}"
ROOMCAST_BIN=$(realpath "$ROOMCAST_BIN")
export ROOMCAST_BIN
[ -x "$ROOMCAST_BIN" ] || { echo "run.sh: $ROOMCAST_BIN is not executable" >&2; exit 1; }
client=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
repo=$(cd "$client/../.." && pwd)
demo=$repo/web/demo
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

npm_install() {
  cd "$1"
  if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund || npm install --no-audit --no-fund
  fi
}
(npm_install "$client")
(npm_install "$demo")

if [ ! -x "$CHROMIUM" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
  else
    echo "run.sh: no chromium at $CHROMIUM (apt-get install -y chromium)" >&2
    exit 1
  fi
fi

(cd "$demo" && npm run --silent build)

cd "$client"
echo "== node tests: clients/js/test/*.test.js"
node --test --test-reporter=spec --test-timeout=120000 test/*.test.js
echo "== end to end: web/demo in chromium"
node --test --test-reporter=spec --test-timeout=180000 test/e2e/*.test.js
