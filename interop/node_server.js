'use strict';
// A WebSocket echo server built on the Node "ws" package, used as the peer
// for this library's clients (examples/client and interop/goclient).
//
//   node node_server.js [PORT] [--deflate=JSON]
//
// It listens on 127.0.0.1 (PORT 0 or absent = any free port) and prints
// "listening <port>" on stdout once ready. --deflate turns permessage-deflate
// on with JSON as ws's perMessageDeflate options (threshold 0 unless given,
// so every message is compressed); without it compression is off.
//
// Paths:
//   /frag-*        echo every message back split into 3 fragments
//   /close-<code>  close immediately with <code> and reason "bye"
//   /reject-*      refuse the handshake with HTTP 403
//   anything else  echo every message back unchanged (same opcode)
// Every connection is pinged once by the server with the payload
// "srv-ping:<path>"; whether the matching pong came back is recorded.
// Subprotocol "echo.v1" is selected when the client offers it.
//
// Plain HTTP GET /__report/<path without leading slash> answers JSON
// {"closed":bool,"code":n,"reason":"...","pong":bool,"messages":n,
//  "wire":n,"extensions":"...","deflate":{...}}
// describing the last WebSocket connection on /<path>, waiting up to 3 s for
// it to finish closing. 404 if no such connection was seen. "wire" counts the
// bytes received after the handshake, "extensions" is the
// Sec-WebSocket-Extensions response sent, and with --deflate, "deflate" sums
// up the client's data messages as they were on the wire (before ws parsed
// them): {"compressed":n,"uncompressed":n,"maxDist":n,"violations":n,
// "errors":[...]}, a violation being a back-reference outside the window the
// client agreed to (client_max_window_bits) or before the message when it
// agreed to client_no_context_takeover; see deflate_check.js.

const http = require('http');
const { WebSocketServer } = require('ws');
const { FrameTap, MessageChecker } = require('./deflate_check');

let deflate = false;
let port = 0;
for (const a of process.argv.slice(2)) {
  const m = /^--deflate=(.*)$/s.exec(a);
  if (m) deflate = { threshold: 0, ...JSON.parse(m[1]) };
  else port = Number(a);
}

const records = new Map(); // path -> record
const waiters = new Map(); // path -> [fn]

function notify(path) {
  const fns = waiters.get(path) || [];
  waiters.delete(path);
  for (const fn of fns) fn();
}

const server = http.createServer((req, res) => {
  const m = /^\/__report\/(.*)$/.exec(req.url);
  if (!m) {
    res.writeHead(426, { 'Content-Type': 'text/plain' });
    res.end('websocket only\n');
    return;
  }
  const path = '/' + decodeURIComponent(m[1]);
  const send = () => {
    const rec = records.get(path);
    if (!rec) {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('no connection seen on ' + path + '\n');
      return;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(rec) + '\n');
  };
  const rec = records.get(path);
  if (rec && rec.closed) return send();
  const timer = setTimeout(send, 3000);
  const list = waiters.get(path) || [];
  list.push(() => { clearTimeout(timer); send(); });
  waiters.set(path, list);
});

const wss = new WebSocketServer({
  server,
  maxPayload: 128 * 1024 * 1024,
  perMessageDeflate: deflate,
  verifyClient: (info, cb) => (info.req.url.startsWith('/reject-') ? cb(false, 403, 'rejected on purpose') : cb(true)),
  handleProtocols: (protocols) => (protocols.has('echo.v1') ? 'echo.v1' : false),
});

// The response headers, to report the negotiated extensions.
wss.on('headers', (headers, req) => {
  const h = headers.find((l) => /^sec-websocket-extensions:/i.test(l));
  req.extensionsResponse = h ? h.replace(/^[^:]*:\s*/, '') : '';
});

wss.on('connection', (ws, req) => {
  const path = req.url;
  const rec = { closed: false, code: null, reason: '', pong: false, messages: 0, wire: 0, extensions: req.extensionsResponse || '' };
  records.set(path, rec);
  const tap = new FrameTap(() => {});
  const pmd = ws._extensions['permessage-deflate'];
  if (pmd) {
    // What the client agreed to: its window and whether it may refer to
    // earlier messages.
    const checker = new MessageChecker(pmd.params.client_max_window_bits || 15, !pmd.params.client_no_context_takeover);
    const d = { compressed: 0, uncompressed: 0, maxDist: 0, violations: 0, rsvOnContinuation: 0, errors: [] };
    rec.deflate = d;
    tap.onMessage = (m) => {
      checker.onMessage(m);
      const r = checker.results.shift();
      if (r.compressed) d.compressed++; else d.uncompressed++;
      d.maxDist = Math.max(d.maxDist, r.maxDist || 0);
      d.rsvOnContinuation += r.rsvOnContinuation;
      if (r.violations) {
        d.violations += r.violations;
        if (d.errors.length < 5) d.errors.push(`message ${d.compressed + d.uncompressed}: distance ${r.firstViolation.dist} at output byte ${r.firstViolation.at}, window ${r.firstViolation.window}, data available ${r.firstViolation.available}`);
      }
      if (r.error && d.errors.length < 5) d.errors.push(`message ${d.compressed + d.uncompressed}: ${r.error}`);
    };
  }
  tap.attach(ws._socket);
  const pingPayload = Buffer.from('srv-ping:' + path);

  ws.on('pong', (data) => {
    if (Buffer.compare(data, pingPayload) === 0) rec.pong = true;
  });
  ws.on('error', (err) => {
    rec.error = String(err && err.message);
  });
  ws.on('close', (code, reason) => {
    rec.wire = tap.bytes;
    if (tap.error && rec.deflate) rec.deflate.errors.push('frame tap: ' + tap.error.message);
    rec.closed = true;
    rec.code = code;
    rec.reason = reason.toString();
    notify(path);
  });

  const cm = /^\/close-(\d+)(-|$)/.exec(path);
  if (cm) {
    ws.close(Number(cm[1]), 'bye');
    return;
  }
  ws.ping(pingPayload);

  const frag = path.startsWith('/frag-');
  ws.on('message', (data, isBinary) => {
    rec.messages++;
    if (!frag || data.length < 3) {
      ws.send(data, { binary: isBinary });
      return;
    }
    const a = Math.floor(data.length / 3);
    const b = Math.floor((2 * data.length) / 3);
    // Split at byte offsets: for text this may cut a UTF-8 sequence in two,
    // which a receiver must accept (validation applies to the whole message).
    ws.send(data.subarray(0, a), { binary: isBinary, fin: false });
    ws.send(data.subarray(a, b), { binary: isBinary, fin: false });
    ws.send(data.subarray(b), { binary: isBinary, fin: true });
  });
});

server.listen(port, '127.0.0.1', () => {
  process.stdout.write('listening ' + server.address().port + '\n');
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(0));
}
