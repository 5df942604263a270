#!/usr/bin/env bash
# Autobahn|Testsuite gate for github.com/ccf874ba/websocket.
#
#   bash autobahn/run.sh
#
# 1. installs wstest (autobahntestsuite 0.8.2, Python 2.7) into a virtualenv
#    in a cache dir outside the repository (skipped when already there);
# 2. builds the two testees and the report checker with `go build`;
# 3. mode fuzzingclient: our echo server, wstest as the client;
# 4. mode fuzzingserver: wstest as the server, our client;
# 5. checks both index.json files (autobahn/report); exits non-zero on any
#    failure.
#
# Knobs (environment):
#   AUTOBAHN_CASES             comma-separated case patterns, e.g. "1.*,9.1.1"
#                              (default: the "cases" of the JSON specs, i.e. all)
#   AUTOBAHN_MODES             "fuzzingclient fuzzingserver" (default) or one of them
#   AUTOBAHN_SERVER_PORT       port of our server testee (default 9001)
#   AUTOBAHN_SERVER            "conn" (default): autobahn/server, a goroutine per
#                              Conn; "engine": examples/echo -engine -compress, the
#                              event-loop Engine (reports in reports/servers-engine)
#   AUTOBAHN_FUZZINGSERVER_PORT port of wstest -m fuzzingserver (default 9002)
#   AUTOBAHN_TIMEOUT           seconds allowed for each mode (default 1800)
#   AUTOBAHN_CACHE_DIR         where the virtualenv lives
#                              (default ${XDG_CACHE_HOME:-$HOME/.cache}/ccf874ba-websocket/autobahn-py27)
#   AUTOBAHN_PYTHON27          a Python 2.7 interpreter (default: pyenv's 2.7.18)
#
# Everything listens on and connects to 127.0.0.1 only.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
CACHE=${AUTOBAHN_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ccf874ba-websocket/autobahn-py27}
MODES=${AUTOBAHN_MODES:-fuzzingclient fuzzingserver}
SERVER_PORT=${AUTOBAHN_SERVER_PORT:-9001}
FUZZ_PORT=${AUTOBAHN_FUZZINGSERVER_PORT:-9002}
MODE_TIMEOUT=${AUTOBAHN_TIMEOUT:-2700}
AGENT=ccf874ba-websocket
REPORTS="$HERE/reports"
TESTEE=${AUTOBAHN_SERVER:-conn}
case $TESTEE in
conn) SERVER_REPORTS=servers LOGS="$REPORTS/logs" ;;
engine) SERVER_REPORTS=servers-engine LOGS="$REPORTS/logs-engine" ;;
*) echo "AUTOBAHN_SERVER=$TESTEE: want conn or engine" >&2; exit 2 ;;
esac

log() { printf '[autobahn %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------- python 2.7
find_python27() {
	local cands=() p root
	if [[ -n ${AUTOBAHN_PYTHON27:-} ]]; then
		cands+=("$AUTOBAHN_PYTHON27")
	fi
	if command -v pyenv >/dev/null 2>&1 && root=$(pyenv root 2>/dev/null); then
		cands+=("$root/versions/2.7.18/bin/python")
	fi
	cands+=("${PYENV_ROOT:-$HOME/.pyenv}/versions/2.7.18/bin/python" /root/.pyenv/versions/2.7.18/bin/python)
	for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/2.7.*/bin/python; do
		cands+=("$p")
	done
	if command -v python2.7 >/dev/null 2>&1; then
		cands+=("$(command -v python2.7)")
	fi
	for p in "${cands[@]}"; do
		if [[ -x $p ]] && "$p" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (2, 7) else 1)' 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

VENV="$CACHE/venv"
WSTEST_PY="$VENV/bin/python"
REQS="$HERE/requirements-py27.txt"
STAMP="$CACHE/installed-$(sha256sum "$REQS" | cut -c1-16)"

wstest_ok() {
	[[ -f $STAMP ]] && PYTHONWARNINGS=ignore "$VENV/bin/wstest" --help >/dev/null 2>&1
}

install_wstest() {
	local py
	py=$(find_python27) || die "no Python 2.7 found (tried AUTOBAHN_PYTHON27, \$(pyenv root)/versions/2.7.18, python2.7); set AUTOBAHN_PYTHON27"
	log "installing autobahntestsuite into $VENV with $py"
	rm -rf "$VENV" "$CACHE/boot" "$CACHE"/installed-*
	mkdir -p "$CACHE"
	# virtualenv 16.7.12: single package, runs on Python 2.7, bundles
	# pip 20.3.4 / setuptools 44.1.1 / wheel 0.36.2 (used with --no-download).
	"$py" -m pip install --disable-pip-version-check --target "$CACHE/boot" 'virtualenv==16.7.12'
	PYTHONPATH="$CACHE/boot" "$py" -m virtualenv --no-download "$VENV"
	# incremental first: Twisted 19.10 needs it at build time, and an
	# unpinned resolve picks a Python-3-only release.
	"$VENV/bin/pip" install --disable-pip-version-check 'incremental==16.10.1'
	"$VENV/bin/pip" install --disable-pip-version-check -r "$REQS"
	touch "$STAMP"
	wstest_ok || die "wstest does not run after install"
}

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if wstest_ok; then
	log "wstest already installed in $VENV"
else
	install_wstest
fi
flock -u 9
PYTHONWARNINGS=ignore "$VENV/bin/wstest" -a 2>/dev/null | sed 's/^/    /' >&2 || true

# ---------------------------------------------------------------- build
TMP=$(mktemp -d "${TMPDIR:-/tmp}/autobahn-run.XXXXXX")
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			kill "$pid" 2>/dev/null || true
			wait "$pid" 2>/dev/null || true
		fi
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building testees"
(cd "$ROOT" && go build -o "$TMP/server" ./autobahn/server && go build -o "$TMP/echo" ./examples/echo && go build -o "$TMP/client" ./autobahn/client && go build -o "$TMP/report" ./autobahn/report)

# spec SRC DST PORT: copy a JSON spec, pointing it at 127.0.0.1:PORT and
# applying AUTOBAHN_CASES.
spec() {
	PYTHONWARNINGS=ignore "$WSTEST_PY" - "$1" "$2" "$3" <<'EOF'
import json, os, sys
src, dst, port = sys.argv[1], sys.argv[2], sys.argv[3]
spec = json.load(open(src))
if "servers" in spec and os.environ.get("SERVER_REPORTS"):
    spec["outdir"] = "./reports/" + os.environ["SERVER_REPORTS"]
url = "ws://127.0.0.1:%s" % port
if "servers" in spec:
    for s in spec["servers"]:
        s["url"] = url
else:
    spec["url"] = url
cases = os.environ.get("AUTOBAHN_CASES", "").strip()
if cases:
    spec["cases"] = [c.strip() for c in cases.split(",") if c.strip()]
json.dump(spec, open(dst, "w"), indent=2)
EOF
}

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# wait_listen PORT PID NAME: wait up to 30s until PORT accepts connections.
wait_listen() {
	local i
	for ((i = 0; i < 300; i++)); do
		kill -0 "$2" 2>/dev/null || die "$3 exited before listening on 127.0.0.1:$1"
		if ! port_free "$1"; then
			return 0
		fi
		sleep 0.1
	done
	die "$3 did not listen on 127.0.0.1:$1 within 30s"
}

rm -rf "$LOGS"
mkdir -p "$LOGS"
STATUS=0
INDEXES=()
export PYTHONWARNINGS=ignore

# The two modes are independent (their own ports, processes and report
# folders) and each mostly keeps one core busy with wstest's Python, so
# they run at the same time. Long-lived processes are started here, in
# this shell, so that the cleanup trap owns them; then one driver per mode
# runs in the background and is waited for.
DRIVERS=()
t0=$SECONDS
for mode in $MODES; do
	case $mode in
	fuzzingclient)
		port_free "$SERVER_PORT" || die "127.0.0.1:$SERVER_PORT is already in use"
		rm -rf "${REPORTS:?}/$SERVER_REPORTS"
		SERVER_REPORTS=$SERVER_REPORTS spec "$HERE/fuzzingclient.json" "$TMP/fuzzingclient.json" "$SERVER_PORT"
		log "mode fuzzingclient: our $TESTEE server on 127.0.0.1:$SERVER_PORT (log: $LOGS/server.log)"
		if [[ $TESTEE == engine ]]; then
			"$TMP/echo" -engine -compress -insecure-skip-verify -read-limit 67108864 -addr "127.0.0.1:$SERVER_PORT" >"$LOGS/server.log" 2>&1 &
		else
			"$TMP/server" -addr "127.0.0.1:$SERVER_PORT" >"$LOGS/server.log" 2>&1 &
		fi
		PIDS+=($!)
		wait_listen "$SERVER_PORT" "$!" "server testee"
		(cd "$HERE" && exec timeout "$MODE_TIMEOUT" "$WSTEST_PY" "$HERE/wstest_loopback.py" -m fuzzingclient -s "$TMP/fuzzingclient.json") >"$LOGS/wstest-fuzzingclient.log" 2>&1 &
		PIDS+=($!)
		DRIVERS+=("$!:fuzzingclient:wstest:$LOGS/wstest-fuzzingclient.log")
		INDEXES+=("$REPORTS/$SERVER_REPORTS/index.json")
		;;
	fuzzingserver)
		port_free "$FUZZ_PORT" || die "127.0.0.1:$FUZZ_PORT is already in use"
		rm -rf "$REPORTS/clients"
		spec "$HERE/fuzzingserver.json" "$TMP/fuzzingserver.json" "$FUZZ_PORT"
		log "mode fuzzingserver: wstest on 127.0.0.1:$FUZZ_PORT (log: $LOGS/wstest-fuzzingserver.log)"
		(cd "$HERE" && exec "$WSTEST_PY" "$HERE/wstest_loopback.py" -m fuzzingserver -s "$TMP/fuzzingserver.json" -u 0) >"$LOGS/wstest-fuzzingserver.log" 2>&1 &
		PIDS+=($!)
		wait_listen "$FUZZ_PORT" "$!" "wstest fuzzingserver"
		timeout "$MODE_TIMEOUT" "$TMP/client" -url "ws://127.0.0.1:$FUZZ_PORT" -agent "$AGENT" >"$LOGS/client.log" 2>&1 &
		PIDS+=($!)
		DRIVERS+=("$!:fuzzingserver:client:$LOGS/client.log")
		INDEXES+=("$REPORTS/clients/index.json")
		;;
	*)
		die "unknown mode $mode (want fuzzingclient and/or fuzzingserver)"
		;;
	esac
done
for d in "${DRIVERS[@]}"; do
	IFS=: read -r pid mode what logfile <<<"$d"
	if wait "$pid"; then
		log "mode $mode: $what done after $((SECONDS - t0))s"
	else
		rc=$?
		log "mode $mode: $what failed (exit $rc) after $((SECONDS - t0))s; tail of $logfile:"
		tail -n 20 "$logfile" >&2 || true
		STATUS=1
	fi
done

# ---------------------------------------------------------------- check
log "reports in $REPORTS (HTML: $REPORTS/*/index.html)"
if ! "$TMP/report" "${INDEXES[@]}"; then
	STATUS=1
fi
exit "$STATUS"
