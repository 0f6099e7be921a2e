#!/usr/bin/env bash
# make bench: tokend's speed, measured side by side on this machine.
#
# Builds the binaries, starts the Entra ID emulator and a daemon with a
# hermetic config (nothing of the user's is read or touched), signs the
# Azure CLI in to the same emulator, then measures
#   - whole `token get` processes against a floor program doing one HTTP GET
#     over the same socket, and against cached `az account get-access-token`
#     (commands interleaved, see bench/cmd/bench/cli.go);
#   - the daemon under load over the socket and TCP (bench/cmd/bench), its
#     memory, goroutines and allocations, and refresh fan-in;
#   - the server side alone (go test -bench ServeToken ./daemon);
# prints a table with the targets of issue 9, and writes it all as JSON to
# bench/results/latest.json (and a copy named after the commit).
#
# All of the benchmark is in bench/: this script; cmd/bench (the driver:
# cli, run, report); cmd/floor and cmd/rawfloor (the yardsticks of `token
# get`); rawhttp (the load generator's HTTP client, which the daemon's
# ServeToken benchmark uses too); reference.md and reference.json (a full
# run, committed); results/ (runs, not committed).
#
# Linux only (epoll, /proc, taskset). Needs go and the Debian packages
# util-linux (taskset), jq and curl; for the Azure CLI row, azure-cli
# (skipped with a note if az is missing). Everything talks to 127.0.0.1
# only; the Azure CLI gets a private config dir, no telemetry.
#
# Knobs (environment): BENCH_RUNS (300 runs of each command), BENCH_AZ_RUNS
# (30), BENCH_DURATION (3s per load run), BENCH_CLIENTS (1,16,64,256),
# BENCH_DAEMON_CPU (1) and BENCH_LOAD_CPU (0): the daemon and the load
# generator each get a CPU of their own, so that neither's threads preempt
# the other's mid-request (on one CPU both get it), BENCH_LOG_LEVEL (the
# daemon's, default info as installed: one audit line per token served),
# BENCH_QUIET (1: also load a daemon at --log-level warn), BENCH_OUT
# (bench/results), BENCH_SHORT=1 (a quick pass for CI: fewer runs, shorter),
# BENCH_STRICT=1 (exit 1 when a measured figure misses its target).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/usr/local/go/bin:$PATH"

runs=${BENCH_RUNS:-300}
az_runs=${BENCH_AZ_RUNS:-30}
duration=${BENCH_DURATION:-3s}
clients=${BENCH_CLIENTS:-1,16,64,256}
log_level=${BENCH_LOG_LEVEL:-info}
quiet=${BENCH_QUIET:-1}
out=${BENCH_OUT:-bench/results}
gobench_time=20000x
if [ "${BENCH_SHORT:-0}" = 1 ]; then
  runs=${BENCH_RUNS:-60} az_runs=${BENCH_AZ_RUNS:-5} duration=${BENCH_DURATION:-1s} gobench_time=2000x quiet=${BENCH_QUIET:-0}
fi
if [ "$(nproc)" -ge 2 ]; then
  dcpu=${BENCH_DAEMON_CPU:-1} lcpu=${BENCH_LOAD_CPU:-0}
else
  dcpu=0 lcpu=0
fi

tmp=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$tmp"
}
trap cleanup EXIT

say() { printf '== %s\n' "$*" >&2; }
wait_for() { # path
  for _ in $(seq 200); do [ -e "$1" ] && return 0; sleep 0.05; done
  echo "bench: $1 did not appear" >&2
  return 1
}

say "build (CGO_ENABLED=${CGO_ENABLED:-0}, -trimpath)"
bin=$tmp/bin
CGO_ENABLED=${CGO_ENABLED:-0} go build -trimpath -o "$bin/" ./cmd/tokend ./cmd/token ./bench/cmd/bench ./bench/cmd/floor ./bench/cmd/rawfloor

say "emulator"
"$bin/tokend" emulator --addr 127.0.0.1:0 --dir "$tmp/emulator" >"$tmp/emulator.out" 2>&1 &
pids+=($!)
wait_for "$tmp/emulator/fixture.json"
authority=$(jq -r .authority "$tmp/emulator/fixture.json")
ca=$(jq -r .ca_file "$tmp/emulator/fixture.json")
tenant=$(jq -r .tenant_id "$tmp/emulator/fixture.json")
client_id=$(jq -r .confidential_client_id "$tmp/emulator/fixture.json")
secret=$(jq -r .client_secret "$tmp/emulator/fixture.json")
emulator=${authority%/*}

# The hermetic environment: the daemon's default socket under a private
# XDG_RUNTIME_DIR, so that `token get` finds it the way it does for a user
# (config file consulted, no TOKEND_SOCKET).
mkdir -m 700 "$tmp/run"
export XDG_RUNTIME_DIR=$tmp/run TOKEND_CONFIG=$tmp/config.toml TOKEND_STATE_DIR=$tmp/state
unset TOKEND_SOCKET TOKEND_PROFILE
sock=$tmp/run/tokend/tokend.sock
cat >"$TOKEND_CONFIG" <<EOF
default_profile = "demo"

[daemon]
http = "127.0.0.1:0"
store = "memory"

[profiles.demo]
flow = "client-secret"
client_id = "$client_id"
authority = "$authority"
ca_file = "$ca"
EOF

start_daemon() { # log level; sets dpid
  rm -f "$sock"
  taskset -c "$dcpu" "$bin/tokend" serve --log-level "$1" >/dev/null 2>"$tmp/tokend-$1.log" &
  dpid=$!
  pids+=("$dpid")
  wait_for "$sock"
  printf %s "$secret" | "$bin/token" login demo --client-secret-stdin >/dev/null
  "$bin/token" get demo >/dev/null
}
stop_daemon() {
  kill "$dpid"
  wait "$dpid" 2>/dev/null || true
}

say "daemon (CPU $dcpu, log level $log_level)"
start_daemon "$log_level"

azcmd=()
az_version=""
if command -v az >/dev/null; then
  say "Azure CLI against the emulator"
  # A custom cloud with an ADFS-style authority: MSAL Python then skips its
  # online authority check. No telemetry, no survey, no update check.
  export AZURE_CONFIG_DIR=$tmp/az AZURE_CORE_COLLECT_TELEMETRY=false AZURE_CORE_ONLY_SHOW_ERRORS=true \
    AZURE_CORE_SURVEY_MESSAGE=false AZURE_CORE_NO_COLOR=true REQUESTS_CA_BUNDLE=$ca
  az cloud register -n tokend-emulator --endpoint-active-directory "$emulator/adfs" \
    --endpoint-active-directory-resource-id https://management.core.windows.net/ \
    --endpoint-active-directory-graph-resource-id https://graph.windows.net/ \
    --endpoint-resource-manager "$emulator/" >/dev/null
  az cloud set -n tokend-emulator >/dev/null
  az login --service-principal --allow-no-subscriptions -u "$client_id" -p "$secret" --tenant "$tenant" >/dev/null
  azcmd=(az account get-access-token --resource 2ff814a6-3304-4ab8-85cb-cd0e6f879c1d)
  "${azcmd[@]}" >/dev/null # the token is now in the CLI's cache
  curl -fsS --cacert "$ca" -X POST "$emulator/_emulator/counts/reset" >/dev/null
  "${azcmd[@]}" >/dev/null
  if [ "$(curl -fsS --cacert "$ca" "$emulator/_emulator/counts" | jq '[.[]] | add // 0')" != 0 ]; then
    echo "bench: the second az account get-access-token asked the emulator: not a cached run" >&2
    exit 1
  fi
  az_version=$(dpkg-query -W -f '${Version}' azure-cli 2>/dev/null || az version --query '"azure-cli"' -o tsv)
else
  say "no az: the Azure CLI comparison is skipped (apt-get install azure-cli)"
fi

say "whole processes: $runs runs each, az $az_runs"
cli_args=(-runs "$runs" -out "$tmp/cli.json"
  -cmd "token get=$bin/token get demo"
  -cmd "floor=$bin/floor $sock demo"
  -cmd "raw floor=$bin/rawfloor $sock demo")
if [ ${#azcmd[@]} -gt 0 ]; then
  cli_args+=(-cmd "az:$az_runs=${azcmd[*]}")
fi
"$bin/bench" cli -pid "$dpid" "${cli_args[@]}"

say "daemon under load: $clients clients, $duration each, load generator on CPU $lcpu"
taskset -c "$lcpu" "$bin/bench" run -socket "$sock" -pid "$dpid" -clients "$clients" -duration "$duration" \
  -emulator "$emulator" -ca "$ca" -out "$tmp/run.json"
report_args=()
if [ "${BENCH_STRICT:-0}" = 1 ]; then report_args+=(-strict); fi
if [ "$quiet" = 1 ] && [ "$log_level" != warn ]; then
  stop_daemon
  say "the same at --log-level warn (no audit lines), 64 clients"
  start_daemon warn
  taskset -c "$lcpu" "$bin/bench" run -socket "$sock" -pid "$dpid" -clients 64 -duration "$duration" \
    -fanin 0 -out "$tmp/quiet.json"
  report_args+=(-quiet "$tmp/quiet.json")
fi
stop_daemon

say "server side alone: go test -bench ServeToken ./daemon"
go test -run '^$' -bench 'ServeToken' -benchmem -benchtime "$gobench_time" ./daemon | tee "$tmp/gobench.txt" | grep -E '^Benchmark' >&2 || true

commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git status --porcelain 2>/dev/null)" ]; then commit="$commit+dirty"; fi
mkdir -p "$out"
status=0
"$bin/bench" report -cli "$tmp/cli.json" -run "$tmp/run.json" -gobench "$tmp/gobench.txt" "${report_args[@]}" \
  -commit "$commit" -azure-cli "$az_version" -daemon-cpus "$dcpu" -load-cpus "$lcpu" -log-level "$log_level" \
  -out "$out/latest.json" -markdown "$out/latest.md" || status=$?
cp "$out/latest.json" "$out/$(date -u +%Y%m%dT%H%M%SZ)-$commit.json"
echo "(JSON: $out/latest.json, Markdown: $out/latest.md)"
exit $status
