"""A WebSocket echo server built on Python `websockets` (asyncio), used as
the peer for this library's clients (examples/client and interop/goclient).

    python py_server.py [PORT] [--deflate[=NAME=VALUE,...]]

Listens on 127.0.0.1 (PORT 0 or absent = any free port) and prints
"listening <port>" once ready. Compression is off unless --deflate is given:
bare --deflate is websockets' default (compression="deflate"), with
NAME=VALUE pairs it is ServerPerMessageDeflateFactory(NAME=VALUE, ...), e.g.
--deflate=client_max_window_bits=9,server_no_context_takeover=true.
Same behaviour as node_server.js:

  /frag-*        echo every message back split into 3 fragments
  /close-<code>  close immediately with <code> and reason "bye"
  /reject-*      refuse the handshake with HTTP 403
  anything else  echo every message back unchanged (same opcode)

Every connection is pinged once with the payload "srv-ping:<path>".
Subprotocol "echo.v1" is selected when offered.
Plain HTTP GET /__report/<path without leading slash> answers JSON
{"closed","code","reason","pong","messages","wire","extensions"} for the last
connection on that path, waiting up to 3 s for it to finish closing; 404 if
none was seen. "wire" counts the bytes received after the handshake,
"extensions" is the Sec-WebSocket-Extensions response sent.
"""

import asyncio
import http
import json
import re
import sys
import urllib.parse

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory

records = {}  # path -> dict
events = {}  # path -> asyncio.Event set when the connection closed


async def report(path):
    ev = events.get(path)
    if ev is not None:
        try:
            await asyncio.wait_for(ev.wait(), 3)
        except TimeoutError:
            pass
    return records.get(path)


async def process_request(connection, request):
    if request.path.startswith("/reject-"):
        return connection.respond(http.HTTPStatus.FORBIDDEN, "rejected on purpose\n")
    m = re.match(r"^/__report/(.*)$", request.path)
    if m:
        path = "/" + urllib.parse.unquote(m.group(1))
        if path not in records:
            # Let a connection that is still being set up show up first.
            for _ in range(30):
                await asyncio.sleep(0.1)
                if path in records:
                    break
        rec = await report(path)
        if rec is None:
            return connection.respond(http.HTTPStatus.NOT_FOUND, f"no connection seen on {path}\n")
        return connection.respond(http.HTTPStatus.OK, json.dumps(rec) + "\n")
    return None


def select_subprotocol(connection, offered):
    return "echo.v1" if "echo.v1" in offered else None


async def handler(ws):
    path = ws.request.path
    rec = {
        "closed": False,
        "code": None,
        "reason": "",
        "pong": False,
        "messages": 0,
        "wire": 0,
        "extensions": ws.response.headers.get("Sec-WebSocket-Extensions", ""),
    }
    records[path] = rec
    # Count the bytes received from now on: the transport calls the
    # connection's data_received, looked up on the instance.
    received = ws.data_received

    def counting(data):
        rec["wire"] += len(data)
        received(data)

    ws.data_received = counting
    ev = asyncio.Event()
    events[path] = ev
    waiter = None
    try:
        m = re.match(r"^/close-(\d+)(-|$)", path)
        if m:
            await ws.close(int(m.group(1)), "bye")
            return
        waiter = await ws.ping(f"srv-ping:{path}".encode())
        frag = path.startswith("/frag-")
        async for msg in ws:
            rec["messages"] += 1
            if not frag or len(msg) < 3:
                await ws.send(msg)
                continue
            if isinstance(msg, str):
                data, text = msg.encode(), True
            else:
                data, text = msg, False
            a, b = len(data) // 3, 2 * len(data) // 3
            # Byte offsets: a text message may be cut inside a UTF-8 sequence.
            await ws.send([data[:a], data[a:b], data[b:]], text=text)
    except ConnectionClosed:
        pass
    finally:
        await ws.wait_closed()
        rec["closed"] = True
        rec["code"] = ws.close_code
        rec["reason"] = ws.close_reason or ""
        rec["pong"] = bool(waiter is not None and waiter.done() and not waiter.cancelled())
        ev.set()


def parse_deflate(spec):
    """--deflate[=k=v,...] -> (compression, extensions) arguments of serve."""
    if spec == "":
        return "deflate", None
    kwargs = {}
    for item in spec.split(","):
        k, v = item.split("=", 1)
        kwargs[k] = v.lower() == "true" if v.lower() in ("true", "false") else int(v)
    return None, [ServerPerMessageDeflateFactory(**kwargs)]


async def main():
    port = 0
    compression, extensions = None, None
    for arg in sys.argv[1:]:
        if arg == "--deflate" or arg.startswith("--deflate="):
            compression, extensions = parse_deflate(arg[len("--deflate=") :])
        else:
            port = int(arg)
    async with serve(
        handler,
        "127.0.0.1",
        port,
        max_size=128 * 1024 * 1024,
        ping_interval=None,
        compression=compression,
        extensions=extensions,
        select_subprotocol=select_subprotocol,
        process_request=process_request,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        print(f"listening {port}", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
