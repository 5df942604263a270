"""Python `websockets` (asyncio) client checks against an echo server.

    python py_client.py ws://127.0.0.1:PORT NAME

Prints one "ok   NAME/check" or "FAIL NAME/check: reason" line per check and
exits 1 if any check failed.
"""

import asyncio
import os
import sys

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20]
UTF8_CASES = [
    ("greek", "κόσμε"),
    ("emoji", "😀🎉👍🏽 🧑\u200d🚀"),
    ("cjk", "日本語のテキスト, 中文, 한국어"),
    ("mixed", "Hello-µ@ßöäüàá-UTF-8!! κόσμε 😀 日本"),
    ("max-codepoint", "\U0010ffff\uffff\ue000"),
    ("bom-nul", "\ufeffbom and nul\x00byte"),
]

BASE = sys.argv[1].rstrip("/")
SUITE = sys.argv[2] if len(sys.argv) > 2 else "py-client"
failed = 0
seq = 0


def size_name(n):
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20}MiB"
    return str(n)


def make_text(n):
    unit = "abc κόσμε 😀 日本語 "  # 30 bytes of UTF-8
    ulen = len(unit.encode())
    reps = n // ulen
    s = unit * reps + "x" * (n - reps * ulen)
    assert len(s.encode()) == n
    return s


def make_binary(n):
    return os.urandom(n)


def describe(b):
    head = b[:16].hex()
    return f"{len(b)} bytes [{head}{'...' if len(b) > 16 else ''}]"


def expect_equal(got, want):
    if type(got) is not type(want):
        kind = lambda v: "text" if isinstance(v, str) else "binary"
        raise AssertionError(f"got a {kind(got)} message, want {kind(want)}")
    if got != want:
        g = got.encode() if isinstance(got, str) else got
        w = want.encode() if isinstance(want, str) else want
        i = 0
        while i < len(g) and i < len(w) and g[i] == w[i]:
            i += 1
        raise AssertionError(
            f"echo differs: got {describe(g)}, want {describe(w)}, first difference at byte {i}"
        )


def dial():
    global seq
    seq += 1
    return connect(
        f"{BASE}/{SUITE}-{seq}",
        max_size=None,
        open_timeout=10,
        close_timeout=10,
        ping_interval=None,
        proxy=None,  # loopback only, whatever the environment says
    )


async def close_clean(ws, code=1000, reason=""):
    await ws.close(code, reason)
    if ws.close_code != code:
        raise AssertionError(
            f"close code received {ws.close_code} (reason {ws.close_reason!r}), want {code}"
        )


async def check(name, timeout, fn):
    global failed
    try:
        async with asyncio.timeout(timeout):
            await fn()
        print(f"ok   {SUITE}/{name}", flush=True)
    except Exception as e:  # noqa: BLE001 - report every failure
        failed += 1
        msg = str(e) or type(e).__name__
        if isinstance(e, TimeoutError):
            msg = f"timed out after {timeout} s"
        print(f"FAIL {SUITE}/{name}: {msg}", flush=True)


async def round_trip(ws, payload):
    await ws.send(payload)
    expect_equal(await ws.recv(), payload)


async def main():
    for n in SIZES:
        t = 60 if n >= 1 << 20 else 10
        for kind, make in (("text", make_text), ("binary", make_binary)):

            async def run(make=make, n=n):
                async with dial() as ws:
                    await round_trip(ws, make(n))
                    await close_clean(ws)

            await check(f"{kind}-{size_name(n)}", t, run)

    async def utf8():
        async with dial() as ws:
            for name, s in UTF8_CASES:
                try:
                    await round_trip(ws, s)
                except AssertionError as e:
                    raise AssertionError(f"{name}: {e}") from None
            await close_clean(ws)

    await check("utf8", 10, utf8)

    async def frag_text():
        async def fragments():
            for f in ("Hello, ", "frag", "mented κόσμε 😀"):
                yield f

        async with dial() as ws:
            await ws.send(fragments())
            expect_equal(await ws.recv(), "Hello, fragmented κόσμε 😀")
            await close_clean(ws)

    await check("fragmented-text-async-iterator", 10, frag_text)

    async def frag_binary():
        parts = [make_binary(100000), make_binary(1), make_binary(70000)]
        async with dial() as ws:
            await ws.send(parts)
            expect_equal(await ws.recv(), b"".join(parts))
            await close_clean(ws)

    await check("fragmented-binary-list", 10, frag_binary)

    async def frag_split():
        whole = "κόσμε😀!".encode()
        cuts = [0, 1, 3, 11, 12, len(whole)]
        parts = [whole[a:b] for a, b in zip(cuts, cuts[1:])]
        async with dial() as ws:
            await ws.send(parts, text=True)
            expect_equal(await ws.recv(), whole.decode())
            await close_clean(ws)

    await check("fragmented-utf8-split", 10, frag_split)

    for name, payload in (
        ("ping", "ping payload κόσμε".encode()),
        ("ping-125", make_binary(125)),
    ):

        async def ping(payload=payload):
            async with dial() as ws:
                waiter = await ws.ping(payload)
                # websockets resolves the waiter only for a pong whose payload
                # equals the ping's.
                await asyncio.wait_for(waiter, 5)
                await close_clean(ws)

        await check(name, 10, ping)

    async def many():
        msgs = []
        for i in range(1000):
            ln = (i * 7919) % 3000
            msgs.append(make_binary(ln) if i % 2 else make_text(ln))
        async with dial() as ws:
            for m in msgs:
                await ws.send(m)
            for i, m in enumerate(msgs):
                try:
                    expect_equal(await ws.recv(), m)
                except AssertionError as e:
                    raise AssertionError(f"message {i}: {e}") from None
            await close_clean(ws)

    await check("many-messages-pipelined", 20, many)

    async def close1000():
        async with dial() as ws:
            await round_trip(ws, "before close")
            await close_clean(ws, 1000)

    await check("close-1000", 10, close1000)

    async def close4000():
        async with dial() as ws:
            await close_clean(ws, 4000, "custom reason κόσμε")

    await check("close-4000-with-reason-echoed", 10, close4000)

    async def invalid_utf8():
        async with dial() as ws:
            await ws.send(b"hi\xc3\x28", text=True)
            try:
                got = await ws.recv()
                raise AssertionError(f"invalid UTF-8 text was echoed: {got!r}")
            except ConnectionClosed as e:
                code = e.rcvd.code if e.rcvd else None
                if code != 1007:
                    raise AssertionError(f"close code received {code}, want 1007") from None

    await check("invalid-utf8-closes-1007", 10, invalid_utf8)

    return failed


if __name__ == "__main__":
    try:
        sys.exit(1 if asyncio.run(main()) else 0)
    except Exception as e:  # noqa: BLE001
        print(f"FAIL {SUITE}: {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
