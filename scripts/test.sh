#!/usr/bin/env bash
# Runs every test of claimline on a fresh machine. It installs what the tests need and is missing
# (Debian's chromium for the browser tests, CJK fonts so screenshots show Chinese, redis-server and
# postgresql for the scaled-out tests, which start their own servers on free ports), then runs go vet
# and the whole test suite. A test that cannot find what it needs fails; nothing is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
# The scaled-out tests start their own redis-server and PostgreSQL on free loopback ports.
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]} from Debian's packages"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
export CLAIMLINE_CHROMIUM="${CLAIMLINE_CHROMIUM:-$(command -v chromium)}"

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
# -race covers the router, the websocket server and the stores; -count=1 so nothing is cached.
go test -race -count=1 -timeout 20m "$@" ./...
