#!/usr/bin/env bash
# Measures one scaled-out gateway node on one box: a redis-server of its own and `claimline casesvc`
# on free loopback ports, then `claimline bench` as an in-process gateway node on them. It prints the
# bench summary and the CPU that Redis and the case service used, since on one box all three share
# the cores and Redis's time per message bounds every node together.
#
#   scripts/bench-scaled-out.sh [MODE] [DURATION]     MODE: claim (default), rest, steady, twilio, telegram
#   CLAIMLINE_BIN=/tmp/claimline-old scripts/bench-scaled-out.sh claim    (a given build, not this tree's)
#
# Needs redis-server on the PATH (Debian's redis-server package); it never touches port 6379.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-claim}
duration=${2:-10s}

command -v redis-server >/dev/null || { echo "bench-scaled-out: redis-server not found (apt-get install redis-server)" >&2; exit 1; }

work=$(mktemp -d)
# CLAIMLINE_BIN runs a given build instead (to compare two builds in alternating runs).
bin=${CLAIMLINE_BIN:-$work/claimline}
[ -n "${CLAIMLINE_BIN:-}" ] || go build -o "$bin" ./cmd/claimline

# A free loopback port: below the kernel's ephemeral range (a port the load's own connections used
# lingers in TIME-WAIT there, and a server cannot bind it), and one that refuses a connection now.
ephemeral_low=$(cut -f1 /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || echo 32768)
free_port() {
  while :; do
    p=$(shuf -i "10000-$((ephemeral_low - 1))" -n 1)
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
  done
}
redis_port=$(free_port)
casesvc_port=$(free_port)
while [ "$casesvc_port" = "$redis_port" ]; do casesvc_port=$(free_port); done

# wait_listening PORT NAME LOG: waits until something listens on the port (at most 10 s), else
# prints NAME's log and fails.
wait_listening() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
    sleep 0.1
  done
  echo "bench-scaled-out: $2 does not listen on 127.0.0.1:$1 after 10 s; its log:" >&2
  cat "$3" >&2 || true
  exit 1
}

cleanup() {
  [ -n "${casesvc_pid:-}" ] && kill "$casesvc_pid" 2>/dev/null || true
  [ -f "$work/redis.pid" ] && kill "$(cat "$work/redis.pid")" 2>/dev/null || true
  sleep 0.2
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Durable as a production Redis would be: append-only, fsync every second.
redis-server --port "$redis_port" --bind 127.0.0.1 --dir "$work" --appendonly yes \
  --appendfsync everysec --save '' --daemonize yes --pidfile "$work/redis.pid" --logfile "$work/redis.log"
export CLAIMLINE_CASESVC_TOKEN=bench-casesvc-token-0123456789
export CLAIMLINE_STAFF='bench:specialist:bench-staff-token-0123456789'
"$bin" casesvc --addr "127.0.0.1:$casesvc_port" --data "$work/casesvc" >"$work/casesvc.log" 2>&1 &
casesvc_pid=$!
wait_listening "$redis_port" redis-server "$work/redis.log"
wait_listening "$casesvc_port" "claimline casesvc" "$work/casesvc.log"

"$bin" bench --mode "$mode" --duration "$duration" --quiet \
  --redis-url "redis://127.0.0.1:$redis_port/0" --casesvc-url "http://127.0.0.1:$casesvc_port"

# utime+stime of a process, in seconds of CPU.
cpu_seconds() { awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f s", ($14+$15)/hz}' "/proc/$1/stat"; }
echo "redis-server CPU $(cpu_seconds "$(cat "$work/redis.pid")"); claimline casesvc CPU $(cpu_seconds "$casesvc_pid")"
