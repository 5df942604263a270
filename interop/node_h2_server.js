'use strict';
// A WebSocket-over-HTTP/2 (RFC 8441) echo server on Node's built-in http2
// (nghttp2), the peer for this library's HTTP/2 client (interop/goclient
// -http2, examples/client -http2). Framing and permessage-deflate are
// h2ws.js's.
//
//   node node_h2_server.js PORT [--tls CERT.pem KEY.pem] [--deflate]
//
// Without --tls it speaks h2c (cleartext HTTP/2, prior knowledge). It
// advertises SETTINGS_ENABLE_CONNECT_PROTOCOL, answers an extended CONNECT
// with :protocol websocket and sec-websocket-version 13 with :status 200
// (and x-h2-session: the number of the HTTP/2 session, 1, 2, ... in order
// of arrival) and echoes every message. It prints "report http://ADDR" (the
// plain HTTP/1.1 report server) and then "listening PORT" on stdout.
//
// Paths, as node_server.js's:
//   /frag-*        echo every message back split into 3 fragments
//   /close-<code>  close at once with <code> and reason "bye"
//   /reject-*      refuse with :status 403
//   anything else  echo every message back unchanged (same opcode)
// Every WebSocket is pinged once with "srv-ping:<path>". Subprotocol
// "echo.v1" is selected when offered. With --deflate, permessage-deflate is
// accepted (server_no_context_takeover and server_max_window_bits 9 to 15
// honoured when asked for) and every message is sent compressed.
//
// The report server answers GET /__report/<path without leading slash>
// with JSON {"closed","code","reason","pong","messages","wire":0,
// "extensions","session","compressed","deflate"} for the last WebSocket on
// /<path> ("deflate" with --deflate: the client's messages as they were on
// the wire, checked by deflate_check.js as node_server.js does)
// (waiting up to 3 s for it to close), and GET /__sessions with
// {"sessions":n,"streams":n,"websockets":{"<session>":n}}.

const http = require('http');
const http2 = require('http2');
const fs = require('fs');
const { Peer, parseExtensions } = require('./h2ws');
const { MessageChecker } = require('./deflate_check');

let port = 0;
let tls = null;
let deflate = false;
const args = process.argv.slice(2);
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--tls') {
    tls = { cert: fs.readFileSync(args[i + 1]), key: fs.readFileSync(args[i + 2]) };
    i += 2;
  } else if (args[i] === '--deflate') {
    deflate = true;
  } else {
    port = Number(args[i]);
  }
}

const records = new Map(); // path -> record
const waiters = new Map(); // path -> [fn]
let sessions = 0;
let streams = 0;
const perSession = {};

function notify(path) {
  const fns = waiters.get(path) || [];
  waiters.delete(path);
  for (const fn of fns) fn();
}

// negotiate picks the first acceptable permessage-deflate offer: returns
// {response, deflate} or null.
function negotiate(header) {
  for (const ext of parseExtensions(header)) {
    if (ext.name !== 'permessage-deflate') continue;
    const p = ext.params;
    const resp = ['permessage-deflate'];
    const d = { sendNoContext: false, sendWindowBits: 15, recvWindowBits: 15 };
    if (p.server_no_context_takeover) {
      resp.push('server_no_context_takeover');
      d.sendNoContext = true;
    }
    if (p.server_max_window_bits !== undefined) {
      const n = Number(p.server_max_window_bits);
      // zlib's raw deflate cannot keep to a 256-byte window (it uses 512).
      if (!(n >= 9 && n <= 15)) continue;
      resp.push('server_max_window_bits=' + n);
      d.sendWindowBits = n;
    }
    if (p.client_no_context_takeover) resp.push('client_no_context_takeover');
    return { response: resp.join('; '), deflate: d };
  }
  return null;
}

const settings = { enableConnectProtocol: true };
const server = tls
  ? http2.createSecureServer({ ...tls, settings, allowHTTP1: false })
  : http2.createServer({ settings });

server.on('session', (session) => {
  session.number = ++sessions;
  perSession[session.number] = 0;
  session.on('error', (err) => console.error(`session ${session.number}: ${err.message}`));
  session.on('goaway', (code) => console.error(`session ${session.number}: GOAWAY ${code} received`));
  session.on('close', () => console.error(`session ${session.number}: closed`));
  session.on('frameError', (type, code, id) => console.error(`session ${session.number}: frame error type ${type} code ${code} stream ${id}`));
});

server.on('stream', (stream, headers) => {
  streams++;
  stream.on('error', () => {});
  if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
    stream.respond({ ':status': 400, 'content-type': 'text/plain' });
    stream.end('WebSocket over HTTP/2 only (extended CONNECT, RFC 8441)\n');
    return;
  }
  if (headers['sec-websocket-version'] !== '13') {
    stream.respond({ ':status': 400, 'sec-websocket-version': '13' });
    stream.end();
    return;
  }
  const path = headers[':path'];
  if (path.startsWith('/reject-')) {
    stream.respond({ ':status': 403, 'content-type': 'text/plain' });
    stream.end('rejected on purpose');
    return;
  }
  const sessionNumber = stream.session.number;
  perSession[sessionNumber]++;
  const resp = { ':status': 200, 'x-h2-session': String(sessionNumber) };
  const protos = String(headers['sec-websocket-protocol'] || '').split(',').map((s) => s.trim());
  if (protos.includes('echo.v1')) resp['sec-websocket-protocol'] = 'echo.v1';
  const neg = deflate ? negotiate(headers['sec-websocket-extensions']) : null;
  if (neg) resp['sec-websocket-extensions'] = neg.response;
  stream.respond(resp);

  const rec = { closed: false, code: null, reason: '', pong: false, messages: 0, wire: 0, extensions: neg ? neg.response : '', session: sessionNumber, compressed: 0 };
  records.set(path, rec);
  const peer = new Peer(stream, { client: false, deflate: neg ? neg.deflate : null });
  if (neg) {
    // Our side of the client's compression: its window (15: the answer
    // never lowers it) and whether it may refer to earlier messages.
    const checker = new MessageChecker(15, !/client_no_context_takeover/.test(neg.response));
    const d = { compressed: 0, uncompressed: 0, maxDist: 0, violations: 0, rsvOnContinuation: 0, errors: [] };
    rec.deflate = d;
    peer.onWireMessage = (m) => {
      checker.onMessage(m);
      const r = checker.results.shift();
      if (r.compressed) d.compressed++; else d.uncompressed++;
      d.maxDist = Math.max(d.maxDist, r.maxDist || 0);
      if (r.violations) {
        d.violations += r.violations;
        if (d.errors.length < 5) d.errors.push(`message ${d.compressed + d.uncompressed}: distance ${r.firstViolation.dist} at output byte ${r.firstViolation.at}, window ${r.firstViolation.window}`);
      }
      if (r.error && d.errors.length < 5) d.errors.push(`message ${d.compressed + d.uncompressed}: ${r.error}`);
    };
  }
  const pingPayload = Buffer.from('srv-ping:' + path);
  peer.onPong = (data) => {
    if (Buffer.compare(data, pingPayload) === 0) rec.pong = true;
  };
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    rec.closed = true;
    rec.compressed = peer.stats.compressed;
    if (peer.closeInfo && !peer.closeInfo.abnormal) {
      rec.code = peer.closeInfo.code;
      rec.reason = peer.closeInfo.reason;
    } else {
      rec.code = 1006;
    }
    if (peer.violations.length) rec.violations = peer.violations;
    notify(path);
  };
  peer.closed().then(finish);
  stream.on('close', () => setImmediate(finish));

  const cm = /^\/close-(\d+)(-|$)/.exec(path);
  if (cm) {
    peer.sendClose(Number(cm[1]), 'bye');
    return;
  }
  peer.ping(pingPayload);
  const frag = path.startsWith('/frag-');
  (async () => {
    for (;;) {
      let m;
      try {
        m = await peer.recv();
      } catch {
        return;
      }
      rec.messages++;
      peer.send(m.data, { text: !m.binary, compress: !!neg, fragments: frag && m.data.length >= 3 ? 3 : 1 }).catch(() => {});
    }
  })();
});

const reportServer = http.createServer((req, res) => {
  if (req.url === '/__sessions') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ sessions, streams, websockets: perSession }) + '\n');
    return;
  }
  const m = /^\/__report\/(.*)$/.exec(req.url);
  if (!m) {
    res.writeHead(404);
    res.end();
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

reportServer.listen(0, '127.0.0.1', () => {
  process.stdout.write('report http://127.0.0.1:' + reportServer.address().port + '\n');
  server.listen(port, '127.0.0.1', () => {
    process.stdout.write('listening ' + server.address().port + '\n');
  });
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => process.exit(0));
}
