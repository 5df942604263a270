#!/usr/bin/env bash
# Runs every benchmark of bench/ in one go, prints the tables and writes
# them to bench/RESULTS.md.
#
#   bash bench/run.sh            full run, about 11 minutes on 2 cores
#   QUICK=1 bash bench/run.sh    short run, about 2 minutes
#
# Extra arguments go to wsbench (go run ./cmd/wsbench all -h lists them), e.g.
#   bash bench/run.sh -parts echo -conns 16 -sizes 1024
# Traffic goes to 127.0.0.1 only; everything stops by itself.
set -euo pipefail
cd "$(dirname "$0")"
export BENCH_START BENCH_LIB_REV
BENCH_START=$(date +%s)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

if [ "${QUICK:-0}" = 1 ]; then
	runs=1 masktime=20ms frametime=50ms
else
	runs=3 masktime=50ms frametime=200ms
fi

# Which library code is measured: ../ as it is on disk.
if [ -z "${BENCH_LIB_REV:-}" ]; then
	if rev=$(git -C .. rev-parse --short HEAD 2>/dev/null); then
		if [ -n "$(git -C .. status --porcelain -- . ':!bench' 2>/dev/null)" ]; then
			BENCH_LIB_REV="commit $rev plus uncommitted changes in the work tree"
		else
			BENCH_LIB_REV="commit $rev (clean work tree)"
		fi
	else
		BENCH_LIB_REV="unknown (not a git work tree)"
	fi
fi
echo "== library: $BENCH_LIB_REV" >&2

echo "== tests of bench/ (mask copy in sync with ../mask.go, implementations agree, in-memory echo)" >&2
go test -count=1 . >&2

# Separate go test runs rather than -count: the routines then take turns,
# and a burst of load from elsewhere hits one run of each, not all of one.
echo "== mask and framing micro-benchmarks ($runs runs)" >&2
for i in $(seq "$runs"); do
	go test -run '^$' -bench '^BenchmarkMask$' -benchtime "$masktime" . >>"$tmp/mask.txt"
	go test -run '^$' -bench '^BenchmarkFraming$' -benchtime "$frametime" . >>"$tmp/framing.txt"
done

echo "== building wsbench" >&2
go build -o "$tmp/wsbench" ./cmd/wsbench

# External server columns (wsbench -external NAME=COMMAND, see README.md).
# uws: uWebSockets, the practical limit, built from the tarball of
# $UWS_TARBALL (default ../../shared/anchors/uwebsockets-*.tar.gz) into
# $tmp; when it cannot be built, the report says why and the run goes on.
ext=()
echo "== building the uWebSockets echo server (uws/build.sh)" >&2
if uws_bin=$(bash uws/build.sh "$tmp/uws"); then
	uws_src=$(cat "$tmp/uws/source.txt" 2>/dev/null || echo "?")
	ext+=(-external "uws=$(printf %q "$uws_bin") {port}"
		-describe "uws=uWebSockets (C++; $uws_src), the practical limit, not a peer: our bench/uws/echo.cpp, uWS::App().ws echoing every message with its opcode from the message handler; one thread, epoll (no libuv), no TLS, compression off, messages up to 64 MiB, no idle timeout, no backpressure limit; built -O3 from the tarball's sources")
else
	echo "== uWebSockets: skipped: ${uws_bin:-uws/build.sh failed}" >&2
	ext+=(-note "uWebSockets: skipped: ${uws_bin:-uws/build.sh failed}")
fi

cmd="QUICK=${QUICK:-0} bash bench/run.sh${*:+ $*}"
echo "== wsbench all" >&2
"$tmp/wsbench" all -mask "$tmp/mask.txt" -framing "$tmp/framing.txt" -out RESULTS.md -command "$cmd" "${ext[@]}" "$@"
echo "== done in $(($(date +%s) - BENCH_START))s; tables in bench/RESULTS.md" >&2
