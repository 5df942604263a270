"""permessage-deflate (RFC 7692) checks: the Python `websockets` (asyncio)
client, with compression on, against examples/echo -compress.

    python py_deflate.py SUITE echo=URL [echo-w9=URL] [--big]

  echo     examples/echo -compress
  echo-w9  examples/echo -compress-window 9 (asks client_max_window_bits=9)

For each client configuration (websockets' default compression="deflate",
and explicit ClientPerMessageDeflateFactory parameters) it checks the
negotiated Sec-WebSocket-Extensions response exactly, then echoes text
(compressible JSON-like UTF-8) and binary (random) messages byte-exact, and
checks that the echo of compressible text was small on the wire.
--big adds 16 MiB messages to the default configuration.

Prints one "ok   SUITE/CONFIG/check" or "FAIL SUITE/CONFIG/check: reason"
line per check and exits 1 if any check failed.
"""

import asyncio
import os
import sys
import time

from websockets.asyncio.client import connect
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory

SIZES = [0, 1, 200, 4096, 65536, 1 << 20, 16 << 20]
UTF8_CASES = [
    ("greek", "κόσμε"),
    ("emoji", "😀🎉👍🏽 🧑\u200d🚀"),
    ("cjk", "日本語のテキスト, 中文, 한국어"),
    ("mixed", "Hello-µ@ßöäüàá-UTF-8!! κόσμε 😀 日本"),
    ("max-codepoint", "\U0010ffff\uffff\ue000"),
    ("bom-nul", "\ufeffbom and nul\x00byte"),
]

SUITE = sys.argv[1]
URLS = dict(a.split("=", 1) for a in sys.argv[2:] if "=" in a)
BIG = "--big" in sys.argv
failed = 0
seq = 0


def size_name(n):
    if n >= 1 << 20 and n % (1 << 20) == 0:
        return f"{n >> 20}MiB"
    return str(n)


def make_json(n):
    """Compressible JSON-like text, exactly n bytes of UTF-8 (payload.js's)."""
    parts, length, i = [], 0, 0
    while True:
        rec = (
            f'{{"id":{i},"user":"user-{i % 97}","name":"κόσμε {i % 13} 😀",'
            f'"tags":["日本語","alpha","beta"],"score":{(i * 7919) % 1000}.{i % 10},'
            f'"ok":{"true" if i % 3 == 0 else "false"}}},'
        )
        ln = len(rec.encode())
        if length + ln > n:
            break
        parts.append(rec)
        length += ln
        i += 1
    s = "".join(parts) + " " * (n - length)
    assert len(s.encode()) == n
    return s


def make_binary(n):
    return os.urandom(n)


def make_periodic(n, period):
    block = os.urandom(period)
    return (block * (n // period + 1))[:n]


def describe(b):
    return f"{len(b)} bytes [{b[:16].hex()}{'...' if len(b) > 16 else ''}]"


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
        raise AssertionError(f"echo differs: got {describe(g)}, want {describe(w)}, first difference at byte {i}")


def ext_params(header):
    """Normalised Sec-WebSocket-Extensions: [[name, sorted params...], ...]."""
    out = []
    for el in (header or "").split(","):
        if not el.strip():
            continue
        name, *params = [p.strip() for p in el.split(";")]
        norm = []
        for p in params:
            k, eq, v = p.partition("=")
            norm.append(k.strip() + (("=" + v.strip().strip('"')) if eq else ""))
        out.append([name] + sorted(norm))
    return out


def window_param(header, key):
    for el in ext_params(header):
        for p in el[1:]:
            if p.startswith(key + "="):
                return int(p.split("=", 1)[1])
    return 15


class Conn:
    """A client connection counting the bytes it receives on the wire."""

    def __init__(self, ws):
        self.ws = ws
        self.wire = 0
        received = ws.data_received

        def counting(data):
            self.wire += len(data)
            received(data)

        ws.data_received = counting  # the transport looks it up on the instance
        self.header = ws.response.headers.get("Sec-WebSocket-Extensions", "")

    async def round_trip(self, payload):
        await self.ws.send(payload)
        expect_equal(await self.ws.recv(), payload)


async def dial(url, extensions, compression):
    global seq
    seq += 1
    ws = await connect(
        f"{url}/{SUITE.replace('/', '-')}-{seq}",
        max_size=None,
        open_timeout=10,
        close_timeout=10,
        ping_interval=None,
        proxy=None,  # loopback only, whatever the environment says
        compression=compression,
        extensions=extensions,
    )
    return Conn(ws)


async def check(name, timeout, fn):
    global failed
    t0 = time.monotonic()
    try:
        async with asyncio.timeout(timeout):
            await fn()
        print(f"ok   {SUITE}/{name}", flush=True)
        return True
    except Exception as e:  # noqa: BLE001 - report every failure
        failed += 1
        msg = str(e) or type(e).__name__
        if isinstance(e, TimeoutError):
            msg = f"timed out after {timeout} s"
        print(f"FAIL {SUITE}/{name}: {msg}", flush=True)
        return False
    finally:
        if time.monotonic() - t0 > 1:
            print(f"{SUITE}/{name}: {time.monotonic() - t0:.1f} s", file=sys.stderr, flush=True)


def configs():
    nct = "server_no_context_takeover"
    f = ClientPerMessageDeflateFactory
    out = [
        # websockets' default: client_max_window_bits offered, memLevel 5.
        ("default", URLS["echo"], None, "deflate", [nct], True),
        (
            "no-context-takeover",
            URLS["echo"],
            [f(server_no_context_takeover=True, client_no_context_takeover=True)],
            None,
            [nct, "client_no_context_takeover"],
            False,
        ),
        (
            "server-8-client-9",
            URLS["echo"],
            [f(server_max_window_bits=8, client_max_window_bits=9)],
            None,
            [nct, "server_max_window_bits=8", "client_max_window_bits=9"],
            False,
        ),
    ]
    for n in (9, 10, 12, 15):
        out.append(
            (
                f"windows-{n}",
                URLS["echo"],
                [f(server_max_window_bits=n, client_max_window_bits=n)],
                None,
                [nct, f"server_max_window_bits={n}", f"client_max_window_bits={n}"],
                False,
            )
        )
    if "echo-w9" in URLS:
        out.append(("server-limits-client-window-9", URLS["echo-w9"], None, "deflate", [nct, "client_max_window_bits=9"], False))
        # A client that does not offer client_max_window_bits cannot be
        # limited: the server accepts without the parameter.
        out.append(("no-client-window-offered", URLS["echo-w9"], [f(client_max_window_bits=None)], None, [nct], False))
    return out


async def run_config(name, url, extensions, compression, want_params, big):
    want = [["permessage-deflate"] + sorted(want_params)]
    state = {"c": None, "header": ""}

    async def get():
        if state["c"] is None or state["c"].ws.close_code is not None:
            state["c"] = await dial(url, extensions, compression)
        return state["c"]

    async def step(check_name, timeout, fn):
        async def run():
            await fn(await get())

        okd = await check(f"{name}/{check_name}", timeout, run)
        if not okd and state["c"] is not None:
            state["c"].ws.transport.abort()
            state["c"] = None
        return okd

    async def negotiated(c):
        state["header"] = c.header
        if ext_params(c.header) != want:
            raise AssertionError(f"response {c.header!r}, want the parameters {'; '.join(want[0])}")
        if [e.name for e in c.ws.protocol.extensions] != ["permessage-deflate"]:
            raise AssertionError(f"websockets activated {c.ws.protocol.extensions}")

    if not await step("negotiated", 10, negotiated):
        return
    server_bits = window_param(state["header"], "server_max_window_bits")
    client_bits = window_param(state["header"], "client_max_window_bits")

    for n in SIZES:
        if n > 1 << 20 and not (big and BIG):
            continue
        t = 60 if n >= 1 << 20 else 10
        for kind, make in (("text", make_json), ("binary", make_binary)):

            async def echo(c, make=make, n=n, kind=kind):
                before = c.wire
                await c.round_trip(make(n))
                wire = c.wire - before
                most = n // 4 if server_bits >= 10 else n * 3 // 4
                if kind == "text" and n >= 65536 and wire > most:
                    raise AssertionError(f"the echo of {n} bytes of compressible text took {wire} bytes on the wire")

            await step(f"{kind}-{size_name(n)}", t, echo)

    async def periods(c):
        # Our server must not refer back further than server_max_window_bits.
        w = 1 << server_bits
        for period in (w - 1, w, w + 1):
            try:
                await c.round_trip(make_periodic(max(65536, 4 * w), period))
            except AssertionError as e:
                raise AssertionError(f"period {period}: {e}") from None

    await step("window-edge-periods", 20, periods)

    async def repeats(c):
        # Under context takeover websockets refers back into its earlier
        # messages, up to client_max_window_bits: our server's dictionary.
        w = 1 << client_bits
        for n in (w, max(w - 7, 1), 3000):
            block = make_binary(n)
            for i in range(3):
                try:
                    await c.round_trip(block)
                except AssertionError as e:
                    raise AssertionError(f"{n}-byte block, copy {i + 1}: {e}") from None

    await step("repeat-across-messages", 20, repeats)

    async def utf8(c):
        for case, s in UTF8_CASES:
            for p in (s * 20, s):
                try:
                    await c.round_trip(p)
                except AssertionError as e:
                    raise AssertionError(f"{case}: {e}") from None

    await step("utf8", 10, utf8)

    async def fragmented(c):
        # websockets compresses fragments as one message; the cuts fall in
        # UTF-8 sequences.
        whole = make_json(100000).encode()
        cuts = [0, 1, 53, 60001, len(whole)]
        await c.ws.send([whole[a:b] for a, b in zip(cuts, cuts[1:])], text=True)
        expect_equal(await c.ws.recv(), whole.decode())
        parts = [make_binary(100000), make_binary(1), make_json(70000).encode()]
        await c.ws.send(parts)
        expect_equal(await c.ws.recv(), b"".join(parts))

    await step("fragmented", 10, fragmented)

    async def pipelined(c):
        msgs = []
        for i in range(300):
            ln = (i * 7919) % 3000
            msgs.append(make_binary(ln) if i % 2 else make_json(ln))
        for m in msgs:
            await c.ws.send(m)
        for i, m in enumerate(msgs):
            try:
                expect_equal(await c.ws.recv(), m)
            except AssertionError as e:
                raise AssertionError(f"message {i}: {e}") from None

    await step("pipelined", 20, pipelined)

    async def close(c):
        await c.ws.close(1000)
        if c.ws.close_code != 1000:
            raise AssertionError(f"close code received {c.ws.close_code} (reason {c.ws.close_reason!r}), want 1000")

    await step("close-1000", 10, close)


async def main():
    for cfg in configs():
        await run_config(*cfg)
    return failed


if __name__ == "__main__":
    try:
        sys.exit(1 if asyncio.run(main()) else 0)
    except Exception as e:  # noqa: BLE001
        print(f"FAIL {SUITE}: {type(e).__name__}: {e}", flush=True)
        sys.exit(1)
