#!/usr/bin/env bash
# Interop tests: this library (examples/echo, examples/client,
# interop/goclient, interop/h2page) against implementations written
# elsewhere: the Node "ws" package, Python "websockets" and a real headless
# Chromium, without and with permessage-deflate compression (RFC 7692); and
# WebSockets over HTTP/2 (RFC 8441) against Node's http2, Chromium and
# Firefox ESR (section 8).
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
LANES=()
PASSED=0
FAILED=0

cleanup() {
	local pid
	# A lane (a subshell running suites one after another) is stopped with
	# the suite it is running: timeout passes the signal on.
	for pid in "${LANES[@]}"; do
		pkill -TERM -P "$pid" 2>/dev/null || true
	done
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

APT_PKGS=()
[ -x /usr/bin/chromium ] || APT_PKGS+=(chromium)
# Firefox ESR: its WebSockets over HTTP/2 (RFC 8441) in the h2 suites.
[ -x /usr/bin/firefox-esr ] || APT_PKGS+=(firefox-esr)
command -v openssl >/dev/null || APT_PKGS+=(openssl)
if [ "${#APT_PKGS[@]}" -gt 0 ]; then
	log "installing Debian ${APT_PKGS[*]}"
	as_root apt-get update -qq
	DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${APT_PKGS[@]}" >"$TMP/apt.log" 2>&1 ||
		{ tail -20 "$TMP/apt.log"; exit 1; }
fi

cd "$HERE"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ] ||
	! node -e 'require("ws"); require("playwright-core"); require("puppeteer-core")' 2>/dev/null; then
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
for prog in examples/echo examples/client examples/chat interop/goclient interop/h2page; do
	if ! go build $RACE -o "$TMP/$(basename "$prog")" "./$prog" >"$TMP/build.log" 2>&1; then
		sed 's/^/  | /' "$TMP/build.log"
		fail "build/$prog" "go build failed"
		finish
	fi
done
cd "$HERE"

log "$(go version | cut -d' ' -f3-)"
log "node $(node --version), ws $(node -p 'require("ws/package.json").version'), playwright-core $(node -p 'require("playwright-core/package.json").version')"
log "$(/usr/bin/chromium --version 2>/dev/null | head -1), $(/usr/bin/firefox-esr --version 2>/dev/null | head -1), puppeteer-core $(node -p 'require("puppeteer-core/package.json").version')"
log "Python $("$PY" -c 'import platform; print(platform.python_version())'), websockets $("$PY" -c 'import websockets; print(websockets.__version__)')"

# ---- servers -------------------------------------------------------------

# start NAME CMD...: starts a server printing "listening ... PORT" and sets
# PORT to that port.
start() {
	local name=$1 i
	shift
	# Created here, not by the redirection in the background child: the
	# loop below may read them before the child has run.
	: >"$TMP/$name.out"
	: >"$TMP/$name.err"
	"$@" >>"$TMP/$name.out" 2>>"$TMP/$name.err" &
	PIDS+=($!)
	for i in $(seq 1 150); do
		# The file may not exist yet (the server's redirection is opened
		# after the fork): not an error under pipefail and -e.
		PORT=$(sed -n 's/^listening.*[^0-9]\([0-9][0-9]*\)$/\1/p' "$TMP/$name.out" 2>/dev/null | head -1) || true
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
# The same echo on the event-loop Engine (examples/echo -engine).
start echo-engine "$TMP/echo" -addr 127.0.0.1:0 -origin '127.0.0.1:*' -engine
ECHO_ENGINE=ws://127.0.0.1:$PORT
start echo-engine-z "$TMP/echo" -addr 127.0.0.1:0 -origin '127.0.0.1:*' -engine -compress
ECHO_ENGINE_Z=ws://127.0.0.1:$PORT
start echo-engine-z-w9 "$TMP/echo" -addr 127.0.0.1:0 -origin '127.0.0.1:*' -engine -compress-window 9
ECHO_ENGINE_Z_W9=ws://127.0.0.1:$PORT
start node-server node node_server.js 0
NODE=ws://127.0.0.1:$PORT
start py-server "$PY" py_server.py 0
PYS=ws://127.0.0.1:$PORT
start chat "$TMP/chat" -addr 127.0.0.1:0
CHAT=http://127.0.0.1:$PORT
log "examples/echo $ECHO, examples/echo -stream $ECHO_STREAM, node ws server $NODE, python websockets server $PYS"

# permessage-deflate (RFC 7692): examples/echo with compression, and Node ws
# and Python websockets echo servers with the compression settings of the
# go-client-deflate configurations below.
start echo-z "$TMP/echo" -addr 127.0.0.1:0 -origin '127.0.0.1:*' -v -compress
ECHO_Z=ws://127.0.0.1:$PORT
start echo-z-w9 "$TMP/echo" -addr 127.0.0.1:0 -origin '127.0.0.1:*' -v -compress-window 9
ECHO_Z_W9=ws://127.0.0.1:$PORT
start echo-z-nct "$TMP/echo" -addr 127.0.0.1:0 -v -compress-no-context-takeover
ECHO_Z_NCT=ws://127.0.0.1:$PORT
start echo-z-stream "$TMP/echo" -addr 127.0.0.1:0 -v -compress -stream
ECHO_Z_STREAM=ws://127.0.0.1:$PORT
start echo-z-bomb "$TMP/echo" -addr 127.0.0.1:0 -v -compress -read-limit 1048576
ECHO_Z_BOMB=ws://127.0.0.1:$PORT
ECHO_Z_BOMB_PID=${PIDS[-1]}
log "examples/echo -compress $ECHO_Z, -compress-window 9 $ECHO_Z_W9, -compress-no-context-takeover $ECHO_Z_NCT, -compress -stream $ECHO_Z_STREAM, -compress -read-limit 1048576 $ECHO_Z_BOMB"

# go-client-deflate configurations, one per line: NAME|SERVER SETTINGS|GOCLIENT
# FLAGS|Sec-WebSocket-Extensions EXPECTED ("none": compression declined).
# Server settings are ws's perMessageDeflate options (JSON) for node and
# ServerPerMessageDeflateFactory parameters (or "default", websockets'
# compression="deflate") for python. The Go client always offers
# "permessage-deflate; client_no_context_takeover; client_max_window_bits",
# plus server_max_window_bits=N with -compress-window N and
# server_no_context_takeover with -compress-no-context-takeover; with
# -compress-context-takeover it leaves out client_no_context_takeover and
# compresses with context takeover unless the server answers it (the go-takeover
# configurations: our messages refer to earlier ones; node_server.js checks
# every distance against client_max_window_bits).
GO_DEFLATE_NODE=(
	'default|{}|-big|permessage-deflate; client_no_context_takeover'
	'windows-10-9|{"serverMaxWindowBits":10,"clientMaxWindowBits":9}||permessage-deflate; client_no_context_takeover; server_max_window_bits=10; client_max_window_bits=9'
	'client-window-8|{"clientMaxWindowBits":8}||permessage-deflate; client_no_context_takeover; client_max_window_bits=8'
	'no-context-takeover|{"serverNoContextTakeover":true,"clientNoContextTakeover":true}||permessage-deflate; server_no_context_takeover; client_no_context_takeover'
	'go-asks-window-9-no-takeover|{}|-compress-window 9 -compress-no-context-takeover|permessage-deflate; client_no_context_takeover; server_no_context_takeover; server_max_window_bits=9'
	'go-asks-window-8|{}|-compress-window 8|permessage-deflate; client_no_context_takeover; server_max_window_bits=8'
	'go-takeover|{}|-compress-context-takeover|permessage-deflate'
	'go-takeover-window-9|{"clientMaxWindowBits":9}|-compress-context-takeover|permessage-deflate; client_max_window_bits=9'
	'go-takeover-window-8|{"clientMaxWindowBits":8}|-compress-context-takeover|permessage-deflate; client_max_window_bits=8'
	'go-takeover-refused|{"clientNoContextTakeover":true}|-compress-context-takeover|permessage-deflate; client_no_context_takeover'
)
GO_DEFLATE_PYTHON=(
	'default|default|-big|permessage-deflate; client_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12'
	'client-window-9|client_max_window_bits=9||permessage-deflate; client_no_context_takeover; client_max_window_bits=9'
	'no-context-takeover-window-10|server_no_context_takeover=true,client_no_context_takeover=true,server_max_window_bits=10||permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=10'
	'go-asks-window-9|client_max_window_bits=9|-compress-window 9 -compress-no-context-takeover|permessage-deflate; server_no_context_takeover; client_no_context_takeover; server_max_window_bits=9; client_max_window_bits=9'
	'go-asks-window-8-declined|default|-compress-window 8|none'
	'go-takeover|default|-compress-context-takeover|permessage-deflate; server_max_window_bits=12; client_max_window_bits=12'
	'go-takeover-window-9|client_max_window_bits=9|-compress-context-takeover|permessage-deflate; client_max_window_bits=9'
	'go-takeover-refused|client_no_context_takeover=true|-compress-context-takeover|permessage-deflate; client_no_context_takeover'
)
declare -A DEFLATE_URL
for cfg in "${GO_DEFLATE_NODE[@]}"; do
	IFS='|' read -r name settings _ _ <<<"$cfg"
	start "node-server-deflate-$name" node node_server.js 0 "--deflate=$settings"
	DEFLATE_URL[node/$name]=ws://127.0.0.1:$PORT
done
for cfg in "${GO_DEFLATE_PYTHON[@]}"; do
	IFS='|' read -r name settings _ _ <<<"$cfg"
	if [ "$settings" = default ]; then arg=--deflate; else arg=--deflate=$settings; fi
	start "py-server-deflate-$name" "$PY" py_server.py 0 "$arg"
	DEFLATE_URL[python/$name]=ws://127.0.0.1:$PORT
done

# ---- suites --------------------------------------------------------------

# suite NAME SECONDS CMD...: runs a program printing ok/FAIL lines.
suite() {
	run_suite "$@"
	report_suite "$1" "$2"
}

# run_suite NAME SECONDS CMD...: runs it quietly (output in $TMP/NAME.*), so
# that several can run at once; report_suite NAME SECONDS then shows and
# counts the outcome.
run_suite() {
	local name=$1 limit=$2 rc=0 t0=$SECONDS
	shift 2
	timeout -k 5 "$limit" "$@" >"$TMP/$name.out" 2>"$TMP/$name.err" || rc=$?
	echo "$rc" >"$TMP/$name.rc"
	echo "$((SECONDS - t0))" >"$TMP/$name.time"
}

report_suite() {
	local name=$1 limit=$2 rc oks fails
	log "$name ($(cat "$TMP/$name.time" 2>/dev/null || echo '?') s)"
	rc=$(cat "$TMP/$name.rc" 2>/dev/null || echo 125)
	touch "$TMP/$name.out" "$TMP/$name.err"
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

# 3b. The same three clients -> examples/echo -engine (the event-loop Engine).
suite node-client-engine 240 node node_client.js "$ECHO_ENGINE" node-client-engine --big
suite py-client-engine 180 "$PY" py_client.py "$ECHO_ENGINE" py-client-engine
suite browser-engine 240 node browser.js "$ECHO_ENGINE" browser-engine

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

# 6. permessage-deflate (RFC 7692). Three lanes at once, reported in order:
#   node-deflate:  Node ws client -> examples/echo -compress (and -compress-window
#                  9, -compress-no-context-takeover, -compress -stream, and
#                  decompression bombs against -read-limit 1048576);
#   py-deflate:    Python websockets client -> examples/echo -compress*;
#   go-client-deflate/{node,python}/CONFIG: goclient -compress -> Node ws and
#                  Python websockets servers with compression;
# then Chromium -> examples/echo -compress*, which wants the machine to itself.
GO_DEFLATE_SUITES=()
go_deflate_lane() {
	local peer=$1 cfg name flags want
	shift
	for cfg in "$@"; do
		IFS='|' read -r name _ flags want <<<"$cfg"
		# shellcheck disable=SC2086 # flags are words
		run_suite "go-client-deflate-$peer-$name" 120 "$TMP/goclient" -url "${DEFLATE_URL[$peer/$name]}" \
			-name "go-client-deflate/$peer/$name" -compress $flags -want-ext "$want"
	done
}
for cfg in "${GO_DEFLATE_NODE[@]}"; do GO_DEFLATE_SUITES+=("go-client-deflate-node-${cfg%%|*}"); done
for cfg in "${GO_DEFLATE_PYTHON[@]}"; do GO_DEFLATE_SUITES+=("go-client-deflate-python-${cfg%%|*}"); done
LANE_START=$SECONDS
(
	run_suite node-deflate 240 node node_deflate.js node-deflate "echo=$ECHO_Z" "echo-w9=$ECHO_Z_W9" \
		"echo-nct=$ECHO_Z_NCT" "echo-stream=$ECHO_Z_STREAM" "bomb=$ECHO_Z_BOMB"
) &
LANES=($!)
(
	run_suite py-deflate 180 "$PY" py_deflate.py py-deflate "echo=$ECHO_Z" "echo-w9=$ECHO_Z_W9" --big
	go_deflate_lane python "${GO_DEFLATE_PYTHON[@]}"
) &
LANES+=($!)
(
	go_deflate_lane node "${GO_DEFLATE_NODE[@]}"
	# examples/client -compress: stdin lines through a compressing server.
	rc=0
	timeout -k 5 30 "$TMP/client" -compress -url "${DEFLATE_URL[node/default]}/cli-client-deflate" \
		<"$TMP/cli.in" >"$TMP/cli.deflate.out" 2>"$TMP/cli.deflate.err" || rc=$?
	echo "$rc" >"$TMP/cli.deflate.rc"
	# The Engine's permessage-deflate, from Node ws and Python websockets.
	run_suite node-deflate-engine 240 node node_deflate.js node-deflate-engine "echo=$ECHO_ENGINE_Z" "echo-w9=$ECHO_ENGINE_Z_W9"
	run_suite py-deflate-engine 180 "$PY" py_deflate.py py-deflate-engine "echo=$ECHO_ENGINE_Z" "echo-w9=$ECHO_ENGINE_Z_W9"
) &
LANES+=($!)
PIDS+=("${LANES[@]}")
wait "${LANES[@]}" || true
LANES=()
log "compression lanes took $((SECONDS - LANE_START)) s"

report_suite node-deflate 240
# The 256 MiB bomb must not have been inflated into memory.
hwm=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$ECHO_Z_BOMB_PID/status" 2>/dev/null || true)
if [ -z "$hwm" ]; then
	fail "node-deflate/bomb/server-memory-bounded" "examples/echo -read-limit 1048576 is not running"
elif [ "$hwm" -lt $((128 * 1024)) ]; then
	ok "node-deflate/bomb/server-memory-bounded"
else
	fail "node-deflate/bomb/server-memory-bounded" "peak RSS ${hwm} kB after the bombs, want < 128 MiB"
fi
report_suite py-deflate 180
report_suite node-deflate-engine 240
report_suite py-deflate-engine 180
for name in "${GO_DEFLATE_SUITES[@]}"; do report_suite "$name" 120; done

log "cli-client-deflate/node"
rc=$(cat "$TMP/cli.deflate.rc")
if [ "$rc" -eq 0 ] && cmp -s "$TMP/cli.want" "$TMP/cli.deflate.out"; then
	ok "cli-client-deflate/node/output-equals-input"
else
	fail "cli-client-deflate/node/output-equals-input" "exit status $rc: $(tail -3 "$TMP/cli.deflate.err" | tr '\n' ' ') $(cmp "$TMP/cli.want" "$TMP/cli.deflate.out" 2>&1 | head -1)"
fi
report=$(curl -s --max-time 10 "http://${DEFLATE_URL[node/default]#ws://}/__report/cli-client-deflate" || true)
if printf '%s' "$report" | grep -Eq '"code": ?1000[^0-9]' && printf '%s' "$report" | grep -q '"extensions":"permessage-deflate' &&
	printf '%s' "$report" | grep -Eq '"compressed":[1-9]' && printf '%s' "$report" | grep -q '"violations":0,'; then
	ok "cli-client-deflate/node/server-saw-compressed-close-1000"
else
	fail "cli-client-deflate/node/server-saw-compressed-close-1000" "server report: ${report:-none}"
fi

suite browser-deflate 240 node browser.js --deflate browser-deflate "default=$ECHO_Z" "w9=$ECHO_Z_W9"
# The same negotiation seen from the server: examples/echo -v logs what it
# answered each of the page's connections.
for target in "default|echo-z|permessage-deflate; server_no_context_takeover" \
	"w9|echo-z-w9|permessage-deflate; server_no_context_takeover; client_max_window_bits=9"; do
	IFS='|' read -r label server want <<<"$target"
	lines=$(grep -c "/browser-deflate-$label-[0-9]*: accepted" "$TMP/$server.err" || true)
	others=$(grep "/browser-deflate-$label-[0-9]*: accepted" "$TMP/$server.err" | grep -vcF "extensions \"$want\"" || true)
	if [ "$lines" -gt 0 ] && [ "$others" -eq 0 ]; then
		ok "browser-deflate/$label/server-logged-extensions"
	else
		fail "browser-deflate/$label/server-logged-extensions" "$lines connections logged, $others without extensions \"$want\": $(grep "/browser-deflate-$label-" "$TMP/$server.err" | head -2 | tr '\n' ' ')"
	fi
done

# 8. WebSockets over HTTP/2 (RFC 8441). Our servers need the process
# started with GODEBUG=http2xconnect=1 (net/http's only switch in Go 1.26).
#   h2-node-client/*:  Node's http2 client (node_h2_client.js, framing by
#                      h2ws.js) -> examples/echo -tls / -h2c (-compress), all
#                      on one HTTP/2 session: the server must log one TCP
#                      connection and only HTTP/2 WebSockets;
#   h2-go-client/*:    goclient -http2 (one HTTP2Pool) -> node_h2_server.js
#                      over TLS and h2c, with and without compression; the
#                      server must have seen one session for the whole run;
#   cli-client-h2/*:   examples/client -http2 -> examples/echo -tls (-cert,
#                      -key), Node's http2 server, and a server without the
#                      setting (falls back to HTTP/1.1);
#   h2-browser/*:      Chromium and Firefox load a page from interop/h2page
#                      and open WebSockets on the same origin; the server
#                      must have seen every one over HTTP/2.
log "h2: starting servers"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj /CN=localhost \
	-addext 'subjectAltName=IP:127.0.0.1,DNS:localhost' -keyout "$TMP/h2key.pem" -out "$TMP/h2cert.pem" >"$TMP/openssl.log" 2>&1 ||
	{ cat "$TMP/openssl.log"; fail "h2/certificate" "openssl req failed"; finish; }
XC=GODEBUG=http2xconnect=1
start echo-h2 env "$XC" "$TMP/echo" -addr 127.0.0.1:0 -tls -v
ECHO_H2=https://127.0.0.1:$PORT
start echo-h2c env "$XC" "$TMP/echo" -addr 127.0.0.1:0 -h2c -v
ECHO_H2C=http://127.0.0.1:$PORT
start echo-h2-z env "$XC" "$TMP/echo" -addr 127.0.0.1:0 -tls -v -compress
ECHO_H2_Z=https://127.0.0.1:$PORT
start echo-h2c-z env "$XC" "$TMP/echo" -addr 127.0.0.1:0 -h2c -v -compress
ECHO_H2C_Z=http://127.0.0.1:$PORT
start echo-h2-cert env "$XC" "$TMP/echo" -addr 127.0.0.1:0 -tls -cert "$TMP/h2cert.pem" -key "$TMP/h2key.pem" -v -stream
ECHO_H2_CERT=wss://127.0.0.1:$PORT
start echo-h2-off "$TMP/echo" -addr 127.0.0.1:0 -tls -v
ECHO_H2_OFF=wss://127.0.0.1:$PORT
declare -A H2_NODE H2_REPORT
for cfg in "tls|--tls $TMP/h2cert.pem $TMP/h2key.pem|wss" "h2c||ws" "tls-deflate|--tls $TMP/h2cert.pem $TMP/h2key.pem --deflate|wss" "h2c-deflate|--deflate|ws"; do
	IFS='|' read -r name flags scheme <<<"$cfg"
	# shellcheck disable=SC2086 # flags are words
	start "node-h2-server-$name" node node_h2_server.js 0 $flags
	H2_NODE[$name]=$scheme://127.0.0.1:$PORT
	H2_REPORT[$name]=$(sed -n 's/^report //p' "$TMP/node-h2-server-$name.out")
done
start h2page-chromium env "$XC" "$TMP/h2page" -addr 127.0.0.1:0
H2PAGE_CHROMIUM=https://127.0.0.1:$PORT
start h2page-firefox env "$XC" "$TMP/h2page" -addr 127.0.0.1:0
H2PAGE_FIREFOX=https://127.0.0.1:$PORT
log "examples/echo -tls $ECHO_H2, -h2c $ECHO_H2C, node http2 servers ${H2_NODE[*]}, h2page $H2PAGE_CHROMIUM $H2PAGE_FIREFOX"

for target in "tls|$ECHO_H2|echo-h2|" "h2c|$ECHO_H2C|echo-h2c|" "tls-deflate|$ECHO_H2_Z|echo-h2-z|--deflate" "h2c-deflate|$ECHO_H2C_Z|echo-h2c-z|--deflate"; do
	IFS='|' read -r name url server flags <<<"$target"
	# shellcheck disable=SC2086 # flags are words
	suite "h2-node-client-$name" 180 node node_h2_client.js "h2-node-client/$name" "$url" $flags
	# The server's view: one TCP connection carried every WebSocket, and
	# each came over HTTP/2.
	conns=$(grep -c ': new connection$' "$TMP/$server.err" || true)
	h2=$(grep -c ': accepted over HTTP/2.0' "$TMP/$server.err" || true)
	h1=$(grep -c ': accepted over HTTP/1.1' "$TMP/$server.err" || true)
	if [ "$conns" -eq 1 ] && [ "$h2" -ge 3 ] && [ "$h1" -eq 0 ]; then
		ok "h2-node-client/$name/server-one-connection-all-http2"
	else
		fail "h2-node-client/$name/server-one-connection-all-http2" "server logged $conns connections, $h2 WebSockets over HTTP/2, $h1 over HTTP/1.1"
	fi
done
if grep -q 'extended CONNECT (RFC 8441) is on' "$TMP/echo-h2.err" && grep -q 'is off: .*GODEBUG=http2xconnect=1' "$TMP/echo-h2-off.err"; then
	ok "h2-echo/start-up-says-whether-extended-connect-is-on"
else
	fail "h2-echo/start-up-says-whether-extended-connect-is-on" "$(head -3 "$TMP/echo-h2.err" "$TMP/echo-h2-off.err" | tr '\n' ' ')"
fi

for name in tls h2c; do
	suite "h2-go-client-node-$name" 240 "$TMP/goclient" -http2 -url "${H2_NODE[$name]}" -report "${H2_REPORT[$name]}" -name "h2-go-client/node-$name"
	suite "h2-go-client-deflate-node-$name" 240 "$TMP/goclient" -http2 -compress -big -url "${H2_NODE[$name-deflate]}" \
		-report "${H2_REPORT[$name-deflate]}" -name "h2-go-client-deflate/node-$name" -want-ext 'permessage-deflate; client_no_context_takeover'
done

# examples/client -http2: the stdin lines come back, over HTTP/2 (or over
# HTTP/1.1 from the server without the setting).
for target in "echo-tls-cert|$ECHO_H2_CERT|HTTP/2.0|" "echo-h2c|${ECHO_H2C/http:/ws:}|HTTP/2.0|" \
	"node-tls|${H2_NODE[tls]}|HTTP/2.0|tls" "echo-without-setting|$ECHO_H2_OFF|HTTP/1.1|"; do
	IFS='|' read -r name url proto report <<<"$target"
	path=cli-client-h2-$name
	log "cli-client-h2/$name"
	rc=0
	timeout -k 5 30 "$TMP/client" -http2 -insecure -url "$url/$path" <"$TMP/cli.in" >"$TMP/cli-h2.$name.out" 2>"$TMP/cli-h2.$name.err" || rc=$?
	if [ "$rc" -eq 0 ] && cmp -s "$TMP/cli.want" "$TMP/cli-h2.$name.out"; then
		ok "cli-client-h2/$name/output-equals-input"
	else
		fail "cli-client-h2/$name/output-equals-input" "exit status $rc: $(tail -3 "$TMP/cli-h2.$name.err" | tr '\n' ' ') $(cmp "$TMP/cli.want" "$TMP/cli-h2.$name.out" 2>&1 | head -1)"
	fi
	if grep -qx "client: connected over $proto" "$TMP/cli-h2.$name.err"; then
		ok "cli-client-h2/$name/connected-over-$proto"
	else
		fail "cli-client-h2/$name/connected-over-$proto" "$(head -2 "$TMP/cli-h2.$name.err" | tr '\n' ' ')"
	fi
	if [ -n "$report" ]; then
		r=$(curl -s --max-time 10 "${H2_REPORT[$report]}/__report/$path" || true)
		if printf '%s' "$r" | grep -Eq '"code": ?1000([^0-9]|$)'; then
			ok "cli-client-h2/$name/server-got-close-1000"
		else
			fail "cli-client-h2/$name/server-got-close-1000" "server report: ${r:-none}"
		fi
	fi
done

suite h2-browser-chromium 240 node browser_h2.js chromium h2-browser/chromium "$H2PAGE_CHROMIUM"
suite h2-browser-firefox 300 node browser_h2.js firefox h2-browser/firefox "$H2PAGE_FIREFOX"
# The control: without the setting Chromium's WebSockets go over HTTP/1.1,
# and the browser check above must say so (it would not catch a fallback
# otherwise).
start h2page-off "$TMP/h2page" -addr 127.0.0.1:0
run_suite h2-browser-control 240 node browser_h2.js chromium h2-browser-control "https://127.0.0.1:$PORT"
if grep -q '^FAIL h2-browser-control/server-every-websocket-over-http2: .*HTTP/1.1' "$TMP/h2-browser-control.out" &&
	grep -q '^ok   h2-browser-control/close-1000-and-4000' "$TMP/h2-browser-control.out"; then
	ok "h2-browser/control-without-setting-is-seen-as-http1"
else
	fail "h2-browser/control-without-setting-is-seen-as-http1" "$(grep -E 'over-http2|^FAIL' "$TMP/h2-browser-control.out" | head -3 | tr '\n' ' ')"
fi

# examples/echo -tls shuts down gracefully over HTTP/2 too: the open
# WebSocket gets 1001, the connection GOAWAY, and the server exits 0
# (http.Server.Shutdown waits for HTTP/2 streams, i.e. WebSocket handlers).
start echo-h2-shutdown env "$XC" "$TMP/echo" -addr 127.0.0.1:0 -tls
H2_SHUT_PID=${PIDS[-1]}
log "h2-echo-shutdown"
node node_h2_hold.js "https://127.0.0.1:$PORT/h2-shutdown" >"$TMP/h2-shutdown.out" 2>&1 &
WATCHER=$!
PIDS+=("$WATCHER")
for i in $(seq 1 100); do
	grep -q '^open' "$TMP/h2-shutdown.out" && break
	sleep 0.1
done
kill -INT "$H2_SHUT_PID"
for i in $(seq 1 150); do
	kill -0 "$H2_SHUT_PID" 2>/dev/null || break
	sleep 0.1
done
if kill -0 "$H2_SHUT_PID" 2>/dev/null; then
	fail "h2-echo-shutdown/exits" "still running 15 s after SIGINT"
else
	rc=0
	wait "$H2_SHUT_PID" || rc=$?
	if [ "$rc" -eq 0 ]; then ok "h2-echo-shutdown/exits-0"; else fail "h2-echo-shutdown/exits-0" "exit status $rc"; fi
fi
wait "$WATCHER" 2>/dev/null || true
if grep -q '^close 1001' "$TMP/h2-shutdown.out"; then
	ok "h2-echo-shutdown/client-got-1001"
else
	fail "h2-echo-shutdown/client-got-1001" "client saw: $(tr '\n' ' ' <"$TMP/h2-shutdown.out")"
fi
if grep -q '^goaway' "$TMP/h2-shutdown.out"; then
	ok "h2-echo-shutdown/client-got-goaway"
else
	fail "h2-echo-shutdown/client-got-goaway" "client saw: $(tr '\n' ' ' <"$TMP/h2-shutdown.out")"
fi

# 7. examples/echo shuts down gracefully: open connections get 1001.
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
	for f in "$TMP"/echo.err "$TMP"/echo-stream.err "$TMP"/echo-z*.err "$TMP"/chat.err "$TMP"/cli.*.err "$TMP"/go-client-*.err \
		"$TMP"/echo-h2*.err "$TMP"/h2page-*.err "$TMP"/cli-h2.*.err "$TMP"/h2-go-client-*.err; do
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
	for name in echo echo-stream node-server py-server chat echo-z echo-z-w9 echo-z-nct echo-z-stream echo-z-bomb \
		echo-h2 echo-h2c echo-h2-z echo-h2c-z echo-h2-cert h2page-chromium h2page-firefox; do
		if [ -s "$TMP/$name.err" ]; then
			log "$name stderr (last 30 lines)"
			tail -30 "$TMP/$name.err" | sed 's/^/  | /'
		fi
	done
fi
finish
