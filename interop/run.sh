#!/usr/bin/env bash
# Interop tests: this library (examples/echo, examples/client,
# interop/goclient) against implementations written elsewhere: the Node "ws"
# package, Python "websockets" and a real headless Chromium.
#
#   bash interop/run.sh
#
# Installs what it needs (npm packages into interop/node_modules, Debian's
# chromium if /usr/bin/chromium is missing, Python websockets into a venv
# under ${XDG_CACHE_HOME:-~/.cache}), uses only 127.0.0.1, prints one
# "ok   SUITE/check" or "FAIL SUITE/check: reason" line per check and ends
# with "N passed, M failed"; exits 1 if anything failed.
set -euo pipefail

START=$SECONDS
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ws-interop.XXXXXX")
VENV=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/ccf874ba-websocket/interop-venv
PIDS=()
PASSED=0
FAILED=0

cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '# %s\n' "$*"; }
ok() { printf 'ok   %s\n' "$1"; PASSED=$((PASSED + 1)); }
fail() { printf 'FAIL %s: %s\n' "$1" "$2"; FAILED=$((FAILED + 1)); }
finish() {
	log "wall time $((SECONDS - START)) s"
	printf '%d passed, %d failed\n' "$PASSED" "$FAILED"
	if [ "$FAILED" -eq 0 ]; then exit 0; fi
	exit 1
}
as_root() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# ---- installs ------------------------------------------------------------

if [ ! -x /usr/bin/chromium ]; then
	log "installing Debian chromium"
	as_root apt-get update -qq
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq chromium >"$TMP/apt.log" 2>&1 ||
		{ tail -20 "$TMP/apt.log"; exit 1; }
fi

cd "$HERE"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
	! node -e 'require("ws"); require("playwright-core")' 2>/dev/null; then
	log "npm ci"
	npm ci --no-audit --no-fund --loglevel=error >"$TMP/npm.log" 2>&1 || { cat "$TMP/npm.log"; exit 1; }
fi

want_ws=$(sed -n 's/^websockets==//p' requirements.txt)
if ! "$VENV/bin/python" -c "import sys, websockets; sys.exit(websockets.__version__ != '$want_ws')" 2>/dev/null; then
	log "creating $VENV"
	rm -rf "$VENV"
	mkdir -p "$(dirname "$VENV")"
	if ! python3 -m venv "$VENV" >"$TMP/venv.log" 2>&1; then
		# Debian's python3 needs python3-venv for ensurepip.
		as_root apt-get update -qq
		DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq python3-venv >>"$TMP/venv.log" 2>&1
		rm -rf "$VENV"
		python3 -m venv "$VENV"
	fi
	"$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt >>"$TMP/venv.log" 2>&1 ||
		{ cat "$TMP/venv.log"; exit 1; }
fi
PY=$VENV/bin/python

# ---- build ---------------------------------------------------------------

# With the race detector where it works, so that data races in the library
# under real traffic fail the run (checked at the end).
cd "$ROOT"
RACE=-race
if ! CGO_ENABLED=1 go build -race -o "$TMP/race-probe" ./examples/echo >/dev/null 2>&1; then
	log "race detector unavailable; building without it"
	RACE=
else
	export CGO_ENABLED=1
fi
for prog in examples/echo examples/client examples/chat interop/goclient; do
	if ! go build $RACE -o "$TMP/$(basename "$prog")" "./$prog" >"$TMP/build.log" 2>&1; then
		sed 's/^/  | /' "$TMP/build.log"
		fail "build/$prog" "go build failed"
		finish
	fi
done
cd "$HERE"

log "$(go version | cut -d' ' -f3-)"
log "node $(node --version), ws $(node -p 'require("ws/package.json").version'), playwright-core $(node -p 'require("playwright-core/package.json").version')"
log "$(/usr/bin/chromium --version 2>/dev/null | head -1)"
log "Python $("$PY" -c 'import platform; print(platform.python_version())'), websockets $("$PY" -c 'import websockets; print(websockets.__version__)')"

# ---- servers -------------------------------------------------------------

# start NAME CMD...: starts a server printing "listening ... PORT" and sets
# PORT to that port.
start() {
	local name=$1 i
	shift
	"$@" >"$TMP/$name.out" 2>"$TMP/$name.err" &
	PIDS+=($!)
	for i in $(seq 1 150); do
		PORT=$(sed -n 's/^listening.*[^0-9]\([0-9][0-9]*\)$/\1/p' "$TMP/$name.out" | head -1)
		if [ -n "$PORT" ]; then
			return 0
		fi
		if ! kill -0 "$!" 2>/dev/null; then
			break
		fi
		sleep 0.1
	done
	sed 's/^/  | /' "$TMP/$name.err" | tail -20
	fail "$name/start" "server did not start"
	finish
}

start echo "$TMP/echo" -addr 127.0.0.1:0 -origin '127.0.0.1:*'
ECHO=ws://127.0.0.1:$PORT
ECHO_PID=${PIDS[-1]}
start echo-stream "$TMP/echo" -addr 127.0.0.1:0 -stream
ECHO_STREAM=ws://127.0.0.1:$PORT
start node-server node node_server.js 0
NODE=ws://127.0.0.1:$PORT
start py-server "$PY" py_server.py 0
PYS=ws://127.0.0.1:$PORT
start chat "$TMP/chat" -addr 127.0.0.1:0
CHAT=http://127.0.0.1:$PORT
log "examples/echo $ECHO, examples/echo -stream $ECHO_STREAM, node ws server $NODE, python websockets server $PYS"

# ---- suites --------------------------------------------------------------

# suite NAME SECONDS CMD...: runs a program printing ok/FAIL lines.
suite() {
	local name=$1 limit=$2 rc=0 oks fails
	shift 2
	log "$name"
	timeout -k 5 "$limit" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
	cat "$TMP/$name.out"
	oks=$(grep -c '^ok ' "$TMP/$name.out" || true)
	fails=$(grep -c '^FAIL' "$TMP/$name.out" || true)
	PASSED=$((PASSED + oks))
	FAILED=$((FAILED + fails))
	if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
		fail "$name" "timed out after $limit s"
	elif [ "$rc" -ne 0 ] && [ "$fails" -eq 0 ]; then
		fail "$name" "exited with status $rc"
	elif [ "$oks" -eq 0 ] && [ "$fails" -eq 0 ]; then
		fail "$name" "ran no check"
	fi
	if [ "$rc" -ne 0 ] && [ -s "$TMP/$name.err" ]; then
		tail -20 "$TMP/$name.err" | sed 's/^/  | /'
	fi
}

# 1. Node ws client -> examples/echo (whole messages and streaming).
suite node-client 240 node node_client.js "$ECHO" node-client --big
suite node-client-stream 240 node node_client.js "$ECHO_STREAM" node-client-stream --big

# 2. Python websockets client -> examples/echo.
suite py-client 180 "$PY" py_client.py "$ECHO" py-client

# 3. Headless Chromium's WebSocket -> examples/echo.
suite browser 240 node browser.js "$ECHO" browser

# 4a. examples/client (stdin lines) -> Node ws and Python websockets servers.
{
	printf 'hello\n\nκόσμε\n😀🎉👍🏽 🧑\xe2\x80\x8d🚀\n日本語のテキスト, 中文, 한국어\n'
	printf 'tab\there, trailing spaces  \n'
	"$PY" -c 'import sys; sys.stdout.write("long " + "κόσμε 😀 日本 " * 5000 + "\n")'
	printf 'last line without a newline: Ω'
} >"$TMP/cli.in"
{ cat "$TMP/cli.in"; printf '\n'; } >"$TMP/cli.want"
for peer in node:$NODE python:$PYS; do
	name=${peer%%:*}
	url=${peer#*:}
	path=cli-client-$name
	log "cli-client/$name"
	rc=0
	timeout -k 5 30 "$TMP/client" -url "$url/$path" <"$TMP/cli.in" >"$TMP/cli.$name.out" 2>"$TMP/cli.$name.err" || rc=$?
	if [ "$rc" -eq 0 ]; then
		ok "cli-client/$name/exit-0"
	else
		fail "cli-client/$name/exit-0" "exit status $rc: $(tail -3 "$TMP/cli.$name.err" | tr '\n' ' ')"
	fi
	if cmp -s "$TMP/cli.want" "$TMP/cli.$name.out"; then
		ok "cli-client/$name/output-equals-input"
	else
		fail "cli-client/$name/output-equals-input" "$(cmp "$TMP/cli.want" "$TMP/cli.$name.out" 2>&1 | head -1); got $(wc -c <"$TMP/cli.$name.out") bytes, want $(wc -c <"$TMP/cli.want")"
	fi
	report=$(curl -s --max-time 10 "http://${url#ws://}/__report/$path" || true)
	if printf '%s' "$report" | grep -Eq '"code": ?1000([^0-9]|$)'; then
		ok "cli-client/$name/server-got-close-1000"
	else
		fail "cli-client/$name/server-got-close-1000" "server report: ${report:-none}"
	fi
done

# 4b. interop/goclient (websocket.Dial) -> Node ws and Python websockets servers.
suite go-client-node 240 "$TMP/goclient" -url "$NODE" -name go-client/node
suite go-client-python 240 "$TMP/goclient" -url "$PYS" -name go-client/python

# 5. examples/chat: a browser page, and a slow reader does not block others.
suite chat 120 node chat_test.js "$CHAT" chat

# 6. examples/echo shuts down gracefully: open connections get 1001.
log "echo-shutdown"
node -e '
const WebSocket = require("ws");
const ws = new WebSocket(process.argv[1]);
ws.on("open", () => console.log("open"));
ws.on("close", (code, reason) => { console.log("close " + code + " " + reason); process.exit(0); });
ws.on("error", (err) => { console.log("error " + err.message); process.exit(1); });
setTimeout(() => { console.log("timeout"); process.exit(1); }, 20000);
' "$ECHO/shutdown" >"$TMP/shutdown.out" 2>&1 &
WATCHER=$!
PIDS+=("$WATCHER")
for i in $(seq 1 100); do
	grep -q '^open' "$TMP/shutdown.out" && break
	sleep 0.1
done
kill -INT "$ECHO_PID"
rc=0
for i in $(seq 1 150); do
	kill -0 "$ECHO_PID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$ECHO_PID" 2>/dev/null; then
	fail "echo-shutdown/exits" "still running 15 s after SIGINT"
else
	wait "$ECHO_PID" || rc=$?
	if [ "$rc" -eq 0 ]; then ok "echo-shutdown/exits-0"; else fail "echo-shutdown/exits-0" "exit status $rc"; fi
fi
wait "$WATCHER" 2>/dev/null || true
if grep -q '^close 1001' "$TMP/shutdown.out"; then
	ok "echo-shutdown/client-got-1001"
else
	fail "echo-shutdown/client-got-1001" "client saw: $(tr '\n' ' ' <"$TMP/shutdown.out")"
fi

# Data races reported by any of the Go programs.
if [ -n "$RACE" ]; then
	kill "${PIDS[@]}" 2>/dev/null || true
	wait "${PIDS[@]}" 2>/dev/null || true
	for f in "$TMP"/echo.err "$TMP"/echo-stream.err "$TMP"/chat.err "$TMP"/cli.*.err "$TMP"/go-client-*.err; do
		name=$(basename "$f" .err)
		if grep -q 'WARNING: DATA RACE' "$f"; then
			fail "race/$name" "data race reported (first report below)"
			sed -n '/WARNING: DATA RACE/,/^==================$/p' "$f" | head -60 | sed 's/^/  | /'
		else
			ok "race/$name"
		fi
	done
fi

if [ "$FAILED" -gt 0 ]; then
	for name in echo echo-stream node-server py-server chat; do
		if [ -s "$TMP/$name.err" ]; then
			log "$name stderr (last 30 lines)"
			tail -30 "$TMP/$name.err" | sed 's/^/  | /'
		fi
	done
fi
finish
