#!/usr/bin/env bash
# Prints tokend's performance figures: the testing.B benchmarks of
# GET /v1/token over the socket and TCP, and the wall time of a whole
# `token get` process against a daemon running with the emulator.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

echo "== go benchmarks (GET /v1/token of a cached token, client included)"
go test -run '^$' -bench . -benchmem -benchtime 20000x ./daemon | grep -E '^(Benchmark|cpu)'

tmp=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
go build -o "$tmp/" ./cmd/tokend ./cmd/token
export TOKEND_SOCKET="$tmp/s.sock" TOKEND_STATE_DIR="$tmp/state" TOKEND_CONFIG="$tmp/none.toml"
"$tmp/tokend" serve --emulator 2>"$tmp/log" &
pid=$!
for _ in $(seq 100); do [ -S "$TOKEND_SOCKET" ] && break; sleep 0.05; done
"$tmp/token" get demo >/dev/null

n=200
echo "== token get demo, whole process, $n runs"
for _ in $(seq $n); do
  s=$(date +%s%N); "$tmp/token" get demo >/dev/null; e=$(date +%s%N)
  echo $(( (e - s) / 1000 ))
done | sort -n | awk '{a[NR]=$1} END {printf "median %d µs, p90 %d µs, min %d µs\n", a[int(NR/2)], a[int(NR*0.9)], a[1]}'
echo "daemon RSS: $(ps -o rss= -p "$pid") KiB"
