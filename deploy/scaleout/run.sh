#!/usr/bin/env bash
# Starts the scaled-out deployment on one machine: Redis, the case service (PostgreSQL when
# CLAIMLINE_POSTGRES_URL is set, else SQLite) and three gateway nodes on 127.0.0.1:8081-8083.
# Put a load balancer of your choice in front of the gateways (websockets need no stickiness: any
# node resumes any conversation from Redis). Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")/../.."

export DATA="${DATA:-$(mktemp -d /tmp/claimline-scaleout.XXXXXX)}"
export REDIS_PORT="${REDIS_PORT:-6390}" CASESVC_PORT="${CASESVC_PORT:-8090}"
export BIN="$DATA/claimline"
mkdir -p "$DATA/redis" "$DATA/casesvc" "$DATA/gateway1" "$DATA/gateway2" "$DATA/gateway3"
go build -o "$BIN" ./cmd/claimline

export CLAIMLINE_CASESVC_TOKEN="${CLAIMLINE_CASESVC_TOKEN:-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')}"
if [ -z "${CLAIMLINE_STAFF:-}" ]; then
  # One set of staff accounts for every process, so a token works on any node.
  t() { head -c 18 /dev/urandom | base64 | tr -d '/+='; }
  export CLAIMLINE_STAFF="lin:specialist:$(t),chen:supervisor:$(t),wang:manager:$(t),ops:admin:$(t)"
  echo "staff accounts: $CLAIMLINE_STAFF" | tr ',' '\n'
fi
export CLAIMLINE_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export CLAIMLINE_CASESVC_URL="http://127.0.0.1:$CASESVC_PORT"

pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait' EXIT INT TERM
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  name="${line%%:*}"; cmd="$(eval echo "${line#*:}")"
  echo "starting $name: $cmd"
  bash -c "exec $cmd" > "$DATA/$name.log" 2>&1 &
  pids+=($!)
  [ "$name" = redis ] && sleep 0.5
  [ "$name" = casesvc ] && sleep 1
done < deploy/scaleout/Procfile
echo "gateways: http://127.0.0.1:8081 http://127.0.0.1:8082 http://127.0.0.1:8083 — logs in $DATA"
wait
