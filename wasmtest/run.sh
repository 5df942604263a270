#!/usr/bin/env bash
# The js/wasm build of the package, for CI:
#
#   bash wasmtest/run.sh
#
# 1. GOOS=js GOARCH=wasm go vet ./... and go build ./... of the whole module;
# 2. go test ./wasmtest: TestJSAPI (the js API is a subset of the native one),
#    TestBrowsers (wasmtest/page, built for js, in headless Chromium and
#    Firefox against the library's own server) and TestExample
#    (examples/wasm in both browsers), with the race detector on the Go side
#    where it works.
#
# Installs what it needs: Debian's chromium and firefox-esr if missing (with
# sudo unless root), and the npm packages of package-lock.json into
# wasmtest/node_modules (playwright-core drives Chromium, puppeteer-core
# Firefox; neither downloads a browser). Uses only 127.0.0.1, stops every
# process it starts, is bounded in time, and ends with "N passed, M failed"
# (each static check counts one, each go test --- PASS/--- FAIL line one);
# exits 1 if anything failed.
set -uo pipefail

START=$SECONDS
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ws-wasmtest.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
PASSED=0
FAILED=0

log() { printf '# %s\n' "$*"; }
ok() { printf 'ok   %s\n' "$1"; PASSED=$((PASSED + 1)); }
fail() { printf 'FAIL %s: %s\n' "$1" "$2"; FAILED=$((FAILED + 1)); }
finish() {
	log "wall time $((SECONDS - START)) s"
	printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
	[ "$FAILED" -eq 0 ]
	exit
}
as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ---- installs ------------------------------------------------------------

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/bin/firefox-esr ] || need_apt+=(firefox-esr)
if [ "${#need_apt[@]}" -gt 0 ]; then
	log "installing Debian ${need_apt[*]}"
	if ! { as_root apt-get update -qq &&
		as_root env DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -qq "${need_apt[@]}"; } >"$TMP/apt.log" 2>&1; then
		tail -20 "$TMP/apt.log"
		fail install/apt "apt-get install ${need_apt[*]} failed"
		finish
	fi
fi

cd "$HERE"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
	! node -e 'require("playwright-core"); require("puppeteer-core")' 2>/dev/null; then
	log "npm ci"
	# puppeteer-core downloads nothing; the variable says so to any
	# dependency that might.
	if ! PUPPETEER_SKIP_DOWNLOAD=1 timeout 600 npm ci --no-audit --no-fund --loglevel=error >"$TMP/npm.log" 2>&1; then
		cat "$TMP/npm.log"
		fail install/npm "npm ci failed"
		finish
	fi
fi

log "$(go version | cut -d' ' -f3-)"
log "node $(node --version), playwright-core $(node -p 'require("playwright-core/package.json").version'), puppeteer-core $(node -p 'require("puppeteer-core/package.json").version')"
log "$(/usr/bin/chromium --version 2>/dev/null | head -1)"
log "$(/usr/bin/firefox-esr --version 2>/dev/null | head -1)"

# ---- static checks of the js build -----------------------------------------

cd "$ROOT"
for cmd in vet build; do
	if GOOS=js GOARCH=wasm GOFLAGS= CGO_ENABLED=0 timeout 600 go "$cmd" ./... >"$TMP/js-$cmd.log" 2>&1; then
		ok "js/go-$cmd"
	else
		sed 's/^/  | /' "$TMP/js-$cmd.log" | tail -30
		fail "js/go-$cmd" "GOOS=js GOARCH=wasm go $cmd ./... failed"
	fi
done

# ---- the browser tests -----------------------------------------------------

RACE=
if CGO_ENABLED=1 go build -race -o "$TMP/race-probe" ./examples/echo >/dev/null 2>&1; then
	RACE=-race
	export CGO_ENABLED=1
else
	log "race detector unavailable; testing without it"
fi
WASMTEST_REQUIRE=1 timeout -k 30 1200 go test $RACE -count=1 -v -timeout 19m ./wasmtest/ >"$TMP/gotest.log" 2>&1
rc=$?
grep -E '^(ok|FAIL|panic)|^\s*--- (FAIL|SKIP)|^\s+browser_test.go:[0-9]+: [^0-9]|^\s+(example|api)_test.go' "$TMP/gotest.log" | grep -v -- '--- PASS' || true
p=$(grep -cE '^\s*--- PASS' "$TMP/gotest.log" || true)
f=$(grep -cE '^\s*--- FAIL' "$TMP/gotest.log" || true)
log "go test ./wasmtest: $p passed, $f failed (exit $rc)"
PASSED=$((PASSED + p))
FAILED=$((FAILED + f))
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
	tail -40 "$TMP/gotest.log" | sed 's/^/  | /'
	fail "wasmtest/go-test" "go test exited $rc"
fi
finish
