#!/usr/bin/env bash
# CI stage for examples/cluster (a module of its own).
#
# 1. installs redis-server from Debian if it is missing (apt-get, through
#    sudo -n when not root); the integration test needs it, and a CI run
#    without it fails here rather than skipping the test;
# 2. gofmt and go vet ./... in the module;
# 3. go test -race -count=1 ./...: unit tests and the integration tests,
#    which start redis-server and node processes on loopback ports;
# 4. a short run of the benchmark command (a few clients), so it keeps
#    working.
# Everything runs on 127.0.0.1 and stops by itself. The last line is
# "N passed, M failed", counting Go tests as .ci/run does.
set -uo pipefail
cd "$(dirname "$0")"
export GOFLAGS=${GOFLAGS:-}
LOG=$(mktemp -d)
trap 'rm -rf "$LOG"' EXIT
passed=0
failed=0
fail() { echo "cluster: FAILED: $1"; failed=$((failed + 1)); }

have_redis() { command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || [ -x /usr/sbin/redis-server ]; }
if ! have_redis; then
	echo "== installing redis-server"
	sudo=""
	if [ "$(id -u)" -ne 0 ]; then sudo="sudo -n"; fi
	export DEBIAN_FRONTEND=noninteractive
	{ $sudo apt-get install -y -q redis-server || { $sudo apt-get update -q && $sudo apt-get install -y -q redis-server; }; } >"$LOG/apt.txt" 2>&1
fi
if have_redis; then
	passed=$((passed + 1))
else
	tail -20 "$LOG/apt.txt" 2>/dev/null
	fail "redis-server is not installed and could not be installed"
fi

echo "== gofmt, go vet"
fmt=$(gofmt -l .)
if [ -n "$fmt" ]; then fail "gofmt: $fmt"; else passed=$((passed + 1)); fi
if go vet ./...; then passed=$((passed + 1)); else fail "go vet"; fi

echo "== go test -race -count=1 ./..."
timeout 1200 go test -race -count=1 -v ./... >"$LOG/test.txt" 2>&1
rc=$?
grep -E '^(ok|FAIL|---|panic)|^\s+--- (FAIL|SKIP)|^\s+\S+_test\.go:[0-9]+: ' "$LOG/test.txt" | grep -v -- '--- PASS' | head -200 || true
p=$(grep -cE '^\s*--- PASS' "$LOG/test.txt" || true)
f=$(grep -cE '^\s*--- FAIL' "$LOG/test.txt" || true)
s=$(grep -cE '^\s*--- SKIP' "$LOG/test.txt" || true)
echo "go test: $p passed, $f failed, $s skipped"
passed=$((passed + p))
failed=$((failed + f))
if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
	tail -50 "$LOG/test.txt"
	fail "go test exited $rc"
fi

echo "== clusterbench, small"
if timeout 300 go run ./cmd/clusterbench -clients 60 -rooms 6 -duration 1s -scenarios 2x1,1xN >"$LOG/bench.txt" 2>&1 &&
	grep -qE '^\| 2 \| 1 × 60 \|.*\| 0 \| 0 \| 0, 0 \| [0-9.]+ \|$' "$LOG/bench.txt" &&
	grep -qE '^\| 1 \| 6 × 10 \|.*\| 0 \| 0 \| 0, 0 \| [0-9.]+ \|$' "$LOG/bench.txt"; then
	passed=$((passed + 1))
else
	tail -20 "$LOG/bench.txt"
	fail "clusterbench (want every message delivered: none lost, refused or dropped)"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
