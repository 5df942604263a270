#!/usr/bin/env bash
# Builds the uWebSockets echo server of the benchmark (bench/uws/echo.cpp)
# against the uWebSockets and uSockets sources of a tarball, extracted into
# OUTDIR (a temporary directory; nothing is written into the repository).
#
#   bash bench/uws/build.sh OUTDIR
#
# The tarball is $UWS_TARBALL, by default ../../shared/anchors/uwebsockets-*.tar.gz
# relative to bench/. uSockets is built without TLS and without libuv
# (plain epoll), as uWebSockets' own Makefile does with WITH_OPENSSL=0.
#
# On success: exit 0, the path of the binary on stdout.
# When it cannot build (no tarball, no compiler, a compile error): exit 3
# and one line on stdout saying why; details on stderr. Callers skip the
# column then, they do not fail.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bench=$(dirname "$here")

skip() {
	echo "$*"
	exit 3
}

[ $# -eq 1 ] || { echo "usage: build.sh OUTDIR" >&2; exit 2; }
out=$1
mkdir -p "$out" || skip "cannot create $out"

tarball=${UWS_TARBALL:-}
if [ -z "$tarball" ]; then
	# The newest match if there are several.
	tarball=$(ls -1 "$bench"/../../shared/anchors/uwebsockets-*.tar.gz 2>/dev/null | sort | tail -n 1)
	[ -n "$tarball" ] || skip "no tarball (UWS_TARBALL unset, nothing matches ../../shared/anchors/uwebsockets-*.tar.gz from bench/)"
fi
[ -r "$tarball" ] || skip "tarball $tarball not readable"

CXX=${CXX:-g++}
CC=${CC:-gcc}
command -v "$CXX" >/dev/null 2>&1 || skip "no C++ compiler ($CXX not found)"
command -v "$CC" >/dev/null 2>&1 || skip "no C compiler ($CC not found)"

src="$out/src"
rm -rf "$src" && mkdir -p "$src"
tar -xzf "$tarball" -C "$src" || skip "cannot extract $tarball"
# The tarball holds src/ (uWebSockets) and uSockets/src/, perhaps under one
# top directory.
app=$(find "$src" -path '*/src/App.h' -not -path '*/uSockets/*' | head -n 1)
[ -n "$app" ] || skip "no src/App.h in $tarball"
root=$(dirname "$(dirname "$app")")
[ -f "$root/uSockets/src/libusockets.h" ] || skip "no uSockets/src/libusockets.h next to src/ in $tarball"

# zlib is only needed for permessage-deflate (echo -compress shared|dedicated);
# without its headers the server is built with UWS_NO_ZLIB.
zdefs=() zlibs=()
if echo '#include <zlib.h>' | "$CXX" -x c++ -E - >/dev/null 2>&1; then
	zlibs=(-lz)
else
	zdefs=(-DUWS_NO_ZLIB)
	echo "build.sh: zlib headers not found (apt-get install zlib1g-dev): building without compression" >&2
fi

cflags=(-DLIBUS_NO_SSL -O3 -I"$root/uSockets/src")
objs=()
pids=()
for f in "$root"/uSockets/src/*.c "$root"/uSockets/src/eventing/*.c; do
	o="$out/obj/$(basename "${f%.c}").o"
	mkdir -p "$out/obj"
	objs+=("$o")
	"$CC" "${cflags[@]}" -c "$f" -o "$o" &
	pids+=($!)
done
for p in "${pids[@]}"; do
	wait "$p" || skip "uSockets did not compile ($CC; errors above)"
done

bin="$out/uws-echo"
"$CXX" -std=c++20 -O3 "${cflags[@]}" -I"$root/src" "${zdefs[@]}" \
	"$here/echo.cpp" "${objs[@]}" "${zlibs[@]}" -o "$bin" ||
	skip "echo.cpp did not compile ($CXX; errors above)"
basename "$tarball" >"$out/source.txt"
echo "$bin"
