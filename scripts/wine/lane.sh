#!/usr/bin/env bash
# The Windows lane of make test: the packages with Windows code and the two
# binaries end to end, built with GOOS=windows and run under Wine (Debian's
# wine64 and gcc-mingw-w64-x86-64), in a throwaway Wine prefix per run.
# Wine runs every process as one user and does not enforce DACLs: this
# lane proves function; the SID and DACL rules have unit tests that run on
# Linux too. With CI set, a missing Wine or MinGW fails the lane.
set -euo pipefail
cd "$(dirname "$0")/../.."
GO=${GO:-go}
WINE=${WINE:-$(command -v wine64 || echo /usr/lib/wine/wine64)}
WINESERVER=${WINESERVER:-$(command -v wineserver64 || echo /usr/lib/wine/wineserver64)}
CC=${MINGW_CC:-x86_64-w64-mingw32-gcc}

missing=()
[ -x "$WINE" ] && [ -x "$WINESERVER" ] || missing+=(wine64)
command -v "$CC" >/dev/null || missing+=(gcc-mingw-w64-x86-64)
if [ ${#missing[@]} -gt 0 ]; then
  if [ -n "${CI:-}" ]; then
    echo "windows lane: ${missing[*]} missing (apt-get install ${missing[*]}; .ci/run does)" >&2
    exit 1
  fi
  echo "windows lane: skipped: apt-get install ${missing[*]} to run it"
  exit 0
fi

start=$SECONDS
work=$(mktemp -d "${TMPDIR:-/tmp}/tokend-wine.XXXXXX")
export WINEPREFIX=$work/prefix WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
cleanup() {
  "$WINESERVER" -k 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# The packages with Windows code, and which of their tests run here: all
# of ours; in shared packages the Windows ones (the others are unix tests,
# or clean up with os.RemoveAll, which fails under Wine 8: see
# internal/wintest).
packages=(
  "internal/winpipe|"
  "internal/peercred|"
  "internal/safesocket|"
  "internal/config|^TestWindows"
  "store|^(TestLockDirWindows|TestCredentialManager)$"
  "internal/tokendcli|^(TestTaskDefinition|TestWinQuote|TestWinQuoteWindows|TestUTF16LE|TestLaunchdPlist)$"
  "internal/e2ewin|"
)

# The prefix boots while Go builds (and its wineserver exits: services
# started by the boot hold the service database locked).
(
  "$WINE" wineboot --init >"$work/wineboot.log" 2>&1
  "$WINESERVER" -w
  "$CC" -shared -O2 -s -o "$WINEPREFIX/drive_c/windows/system32/bcryptprimitives.dll" scripts/wine/bcryptprimitives.c -ladvapi32
) &
boot=$!
mkdir -p "$work/bin" "$work/tests"
GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $GO build -o "$work/bin/" ./cmd/tokend ./cmd/token
for p in "${packages[@]}"; do
  pkg=${p%%|*}
  GOOS=windows GOARCH=amd64 CGO_ENABLED=0 $GO test -c -o "$work/tests/${pkg//\//_}.test.exe" "./$pkg"
done
if ! wait $boot; then
  cat "$work/wineboot.log" >&2
  echo "windows lane: the Wine prefix or the shim failed" >&2
  exit 1
fi
# One wineserver for the tests: services they start (Task Scheduler) live
# in it.
"$WINESERVER" -p
winpath() { local p=$1; printf 'Z:%s' "${p//\//\\}"; }
export TOKEND_WIN_BIN
TOKEND_WIN_BIN=$(winpath "$work/bin")

passed=0 skipped=0 failed=0
for p in "${packages[@]}"; do
  pkg=${p%%|*} run=${p#*|}
  exe=$work/tests/${pkg//\//_}.test.exe
  args=(-test.v -test.count=1 -test.timeout=5m)
  [ -n "$run" ] && args+=(-test.run "$run")
  log=$work/${pkg//\//_}.log
  if (cd "$pkg" && "$WINE" "$exe" "${args[@]}") >"$log" 2>&1; then
    status=ok
  else
    status=FAIL
    cat "$log"
  fi
  # Top-level tests only (a subtest's name has a '/'), wherever the line
  # starts: Wine's own messages on stderr can land in front of one.
  count() { { grep -Eo -- "--- $1: [^ /]+ \\(" "$log" || true; } | wc -l; }
  p_=$(count PASS) s_=$(count SKIP) f_=$(count FAIL)
  passed=$((passed + p_)) skipped=$((skipped + s_)) failed=$((failed + f_))
  printf '%-4s %-22s %3d passed, %d skipped (windows/amd64 under Wine)\n' "$status" "$pkg" "$p_" "$s_"
  grep -B1 '^--- SKIP' "$log" | grep -v '^--' | sed 's/^ */     skip: /' || true
  [ $status = ok ] || failed=$((failed + 1))
done
echo "windows lane: $passed tests passed, $skipped skipped, under $("$WINE" --version) in $((SECONDS - start))s"
[ $failed -eq 0 ]
