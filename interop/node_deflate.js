'use strict';
// permessage-deflate (RFC 7692) checks: the Node "ws" client, with
// compression on, against examples/echo -compress.
//
//   node node_deflate.js SUITE echo=URL [echo-w9=URL] [echo-nct=URL]
//        [echo-stream=URL] [bomb=URL] [--only=CONFIG,...]
//
//   echo         examples/echo -compress
//   echo-w9      examples/echo -compress-window 9 (asks client_max_window_bits=9)
//   echo-nct     examples/echo -compress-no-context-takeover
//   echo-stream  examples/echo -compress -stream
//   bomb         examples/echo -compress -read-limit 1048576
//
// For every configuration of the client's offer it checks the negotiated
// Sec-WebSocket-Extensions response exactly, then echoes text (compressible
// JSON-like UTF-8) and binary (random) messages byte-exact. Every message the
// server sends is also taken off the wire before ws parses it (FrameTap):
// RSV1 must be set exactly on messages of at least the server's threshold,
// and every back-reference in the compressed data must stay within the
// window the server agreed to (server_max_window_bits) and within the
// message (the server always announces server_no_context_takeover).
//
// Prints one "ok   SUITE/CONFIG/check" or "FAIL SUITE/CONFIG/check: reason"
// line per check and exits 1 if any failed.

const WebSocket = require('ws');
const { UTF8_CASES, sizeName, makeBinary, makeJSON, makePeriodic } = require('./payload');
const { FrameTap, MessageChecker, verdictError } = require('./deflate_check');

const suite = process.argv[2];
const urls = {};
let only = null;
for (const a of process.argv.slice(3)) {
  const m = /^--only=(.*)$/.exec(a);
  if (m) only = new Set(m[1].split(','));
  else {
    const i = a.indexOf('=');
    urls[a.slice(0, i)] = a.slice(i + 1).replace(/\/+$/, '');
  }
}

const SIZES = [0, 1, 200, 4096, 65536, 1 << 20, 16 << 20];
const SERVER_THRESHOLD = 128; // the library's default, examples/echo's unless -compress-threshold
let failed = 0;
let connSeq = 0;

async function check(name, timeoutMs, fn) {
  let timer;
  const t0 = Date.now();
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out after ' + timeoutMs + ' ms')), timeoutMs);
      }),
    ]);
    console.log(`ok   ${suite}/${name}`);
    return true;
  } catch (err) {
    failed++;
    console.log(`FAIL ${suite}/${name}: ${err && err.message ? err.message : err}`);
    return false;
  } finally {
    clearTimeout(timer);
    if (Date.now() - t0 > 1000) console.error(`${suite}/${name}: ${Date.now() - t0} ms`);
  }
}

// parseExtensions splits a Sec-WebSocket-Extensions value into elements,
// each "name; param; param=value" normalised to a sorted list of strings.
function parseExtensions(header) {
  if (!header) return [];
  return header.split(',').map((el) => {
    const [name, ...params] = el.split(';').map((s) => s.trim());
    return { name, params: params.map((p) => p.replace(/\s*=\s*/, '=').replace(/="(.*)"$/, '=$1')).sort() };
  });
}

function paramValue(params, key) {
  for (const p of params) {
    const [k, v] = p.split('=');
    if (k === key) return v === undefined ? true : Number(v);
  }
  return undefined;
}

class Peer {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    this.closeInfo = null;
    this.closeWaiters = [];
    this.extHeader = undefined;
    this.checker = null;
    this.tap = null;
    ws.on('message', (data, isBinary) => this._push({ data, isBinary }));
    ws.on('error', (err) => { this.error = err; });
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() };
      const why = this.error ? `; ws: ${this.error.message}` : '';
      for (const w of this.waiters) w.reject(new Error(`connection closed (code ${code}${reason.length ? ' "' + reason + '"' : ''}${why}) while waiting for a message`));
      this.waiters = [];
      for (const w of this.closeWaiters) w(this.closeInfo);
      this.closeWaiters = [];
    });
  }

  _push(m) {
    const w = this.waiters.shift();
    if (w) w.resolve(m); else this.queue.push(m);
  }

  recv() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closeInfo) return Promise.reject(new Error(`connection closed (code ${this.closeInfo.code})`));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  closed() {
    if (this.closeInfo) return Promise.resolve(this.closeInfo);
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  // The negotiated permessage-deflate parameters, as the server sent them.
  get params() {
    const e = parseExtensions(this.extHeader).find((x) => x.name === 'permessage-deflate');
    return e ? e.params : null;
  }
}

function open(url, pmd, extra = {}) {
  const path = `/${suite.replace(/\//g, '-')}-${++connSeq}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url + path, { maxPayload: 128 << 20, perMessageDeflate: pmd, ...extra });
    const peer = new Peer(ws);
    ws.once('upgrade', (res) => { peer.extHeader = res.headers['sec-websocket-extensions']; });
    ws.once('open', () => {
      const params = peer.params || [];
      peer.checker = new MessageChecker(paramValue(params, 'server_max_window_bits') || 15, !paramValue(params, 'server_no_context_takeover'));
      peer.tap = new FrameTap((m) => peer.checker.onMessage(m));
      // Frames the server sent before 'open' would have been seen already
      // (in the upgrade's head); the echo server sends nothing unasked.
      peer.tap.attach(ws._socket);
      resolve(peer);
    });
    ws.once('error', (err) => reject(new Error('connect: ' + err.message)));
    ws.once('unexpected-response', (req, res) => reject(new Error('handshake answered HTTP ' + res.statusCode)));
  });
}

function describe(buf) {
  const head = buf.subarray(0, 16).toString('hex');
  return `${buf.length} bytes [${head}${buf.length > 16 ? '...' : ''}]`;
}

function expectEqual(got, want, isBinary, wantBinary) {
  if (isBinary !== wantBinary) throw new Error(`got a ${isBinary ? 'binary' : 'text'} message, want ${wantBinary ? 'binary' : 'text'}`);
  if (Buffer.compare(got, want) !== 0) {
    let i = 0;
    while (i < got.length && i < want.length && got[i] === want[i]) i++;
    throw new Error(`echo differs: got ${describe(got)}, want ${describe(want)}, first difference at byte ${i}`);
  }
}

// wireVerdict checks how the server sent the echo of a len-byte message.
async function wireVerdict(peer, len, threshold = SERVER_THRESHOLD) {
  if (peer.tap.error) throw new Error('frame tap: ' + peer.tap.error.message);
  const v = await peer.checker.next();
  const e = verdictError(v, len, len >= threshold);
  if (e) throw new Error('server frames: ' + e);
  return v;
}

// echo sends payload (a Buffer; or a list of fragments) and checks the
// echo, on the wire and as ws delivers it.
async function echo(peer, payload, binary, threshold) {
  let want;
  if (Array.isArray(payload)) {
    want = Buffer.concat(payload);
    payload.forEach((f, i) => peer.ws.send(f, { binary, fin: i === payload.length - 1 }));
  } else {
    want = payload;
    peer.ws.send(payload, { binary });
  }
  const m = await peer.recv();
  expectEqual(m.data, want, m.isBinary, binary);
  return wireVerdict(peer, want.length, threshold);
}

async function closeClean(peer) {
  peer.ws.close(1000, '');
  const info = await peer.closed();
  if (info.code !== 1000) throw new Error(`close event code ${info.code} (reason "${info.reason}"), want 1000`);
}

// One configuration: what the client offers (ws perMessageDeflate options,
// threshold 0 so that every message is compressed) and the exact response
// parameters expected from examples/echo.
function configs() {
  const nct = 'server_no_context_takeover';
  const list = [
    { name: 'default', url: urls.echo, pmd: {}, want: [nct] },
    { name: 'no-context-takeover', url: urls.echo, pmd: { serverNoContextTakeover: true, clientNoContextTakeover: true }, want: [nct, 'client_no_context_takeover'] },
  ];
  for (let n = 8; n <= 15; n++) {
    list.push({ name: `server-window-${n}`, url: urls.echo, pmd: { serverMaxWindowBits: n }, want: [nct, `server_max_window_bits=${n}`], big: n === 15 });
  }
  for (const n of [8, 9, 12]) {
    list.push({ name: `client-window-${n}`, url: urls.echo, pmd: { clientMaxWindowBits: n }, want: [nct, `client_max_window_bits=${n}`] });
  }
  list.push({
    name: 'windows-9-10-no-takeover', url: urls.echo,
    pmd: { serverMaxWindowBits: 9, clientMaxWindowBits: 10, clientNoContextTakeover: true },
    want: [nct, 'server_max_window_bits=9', 'client_max_window_bits=10', 'client_no_context_takeover'],
  });
  if (urls['echo-w9']) list.push({ name: 'server-limits-client-window-9', url: urls['echo-w9'], pmd: {}, want: [nct, 'client_max_window_bits=9'], big: true });
  if (urls['echo-nct']) list.push({ name: 'server-asks-no-context-takeover', url: urls['echo-nct'], pmd: {}, want: [nct, 'client_no_context_takeover'] });
  if (urls['echo-stream']) list.push({ name: 'stream', url: urls['echo-stream'], pmd: {}, want: [nct], big: true });
  for (const c of list) if (c.name === 'default' || c.name === 'no-context-takeover') c.big = true;
  return list.filter((c) => !only || only.has(c.name));
}

async function runConfig(cfg) {
  const pmd = { threshold: 0, ...cfg.pmd };
  const want = ['permessage-deflate', ...cfg.want].sort();
  let peer = null;
  // Checks share one connection (so that the client's context takeover
  // spans many messages); a failed check drops it and the next opens anew.
  const get = async () => {
    if (!peer || peer.closeInfo) peer = await open(cfg.url, pmd);
    return peer;
  };
  const step = async (name, ms, fn) => {
    const okd = await check(`${cfg.name}/${name}`, ms, async () => fn(await get()));
    if (!okd && peer) {
      peer.ws.terminate();
      peer = null;
    }
    return okd;
  };

  const negotiated = await step('negotiated', 10000, async (p) => {
    const got = p.params;
    if (!got) throw new Error(`no permessage-deflate in the response (Sec-WebSocket-Extensions: ${JSON.stringify(p.extHeader)})`);
    const gotAll = ['permessage-deflate', ...got].sort();
    if (gotAll.join('; ') !== want.join('; ')) throw new Error(`response "${p.extHeader}", want the parameters ${want.join('; ')}`);
    if (p.ws.extensions !== 'permessage-deflate') throw new Error(`ws.extensions is ${JSON.stringify(p.ws.extensions)}`);
  });
  if (!negotiated) return;

  const params = peer ? peer.params : want.slice(1);
  const serverBits = paramValue(params, 'server_max_window_bits') || 15;
  const clientBits = paramValue(params, 'client_max_window_bits') || 15;

  const sizes = cfg.big ? SIZES : SIZES.filter((n) => n <= 1 << 20);
  for (const n of sizes) {
    const ms = n >= 1 << 20 ? 60000 : 10000;
    await step(`text-${sizeName(n)}`, ms, async (p) => {
      const v = await echo(p, Buffer.from(makeJSON(n)), false);
      // Resetting the compressor every 2^bits bytes costs ratio in small
      // windows (about 0.6 at 8 bits, 0.4 at 9 with this text).
      const most = serverBits >= 10 ? n / 4 : (n * 3) / 4;
      if (n >= 65536 && v.wire > most) throw new Error(`compressible text of ${n} bytes took ${v.wire} bytes on the wire`);
    });
    await step(`binary-${sizeName(n)}`, ms, async (p) => {
      await echo(p, makeBinary(n), true);
    });
  }

  await step('window-edge-periods', 20000, async (p) => {
    // Random blocks repeated with a period of the window size and one byte
    // either side: a compressor that searched further back than agreed
    // would use distance window+1.
    const w = 1 << serverBits;
    for (const period of [w - 1, w, w + 1]) {
      try {
        await echo(p, makePeriodic(Math.max(65536, 4 * w), period), true);
      } catch (err) {
        throw new Error(`period ${period}: ${err.message}`);
      }
    }
  });

  await step('repeat-across-messages', 20000, async (p) => {
    // Under context takeover the client refers back into earlier
    // messages: up to its window (2^client_max_window_bits), which the
    // server must keep as its dictionary.
    const w = 1 << clientBits;
    for (const len of [w, Math.max(w - 7, 1), 3000]) {
      const block = makeBinary(len);
      for (let i = 0; i < 3; i++) {
        try {
          await echo(p, block, true);
        } catch (err) {
          throw new Error(`${len}-byte block, copy ${i + 1}: ${err.message}`);
        }
      }
    }
  });

  await step('utf8', 10000, async (p) => {
    for (const [name, s] of UTF8_CASES) {
      try {
        await echo(p, Buffer.from(s.repeat(20)), false);
        await echo(p, Buffer.from(s), false);
      } catch (err) {
        throw new Error(`${name}: ${err.message}`);
      }
    }
  });

  await step('fragmented-text', 10000, async (p) => {
    // Compressed fragments (one deflate stream, RSV1 on the first); the
    // cuts fall inside multi-byte UTF-8 sequences.
    const whole = Buffer.from(makeJSON(100000));
    const parts = [whole.subarray(0, 1), whole.subarray(1, 53), whole.subarray(53, 60001), whole.subarray(60001)];
    await echo(p, parts, false);
  });

  await step('fragmented-binary', 20000, async (p) => {
    await echo(p, [makeBinary(100000), makeBinary(1), Buffer.from(makeJSON(70000)), Buffer.alloc(0)], true);
    const whole = Buffer.from(makeJSON(1 << 20));
    const frags = [];
    for (let i = 0; i < whole.length; i += 4096) frags.push(whole.subarray(i, i + 4096));
    await echo(p, frags, true);
  });

  await step('fragments-4096+8192', 10000, async (p) => {
    // Inflated, the fragments are exactly the server's write buffer (4 KiB)
    // and then twice that: a streaming echo (Reader -> Writer) sees Write
    // calls of those sizes, and must still send one well-formed message.
    for (const binary of [true, false]) {
      const mk = binary ? makeBinary : (n) => Buffer.from(makeJSON(n));
      try {
        await echo(p, [mk(4096), mk(8192)], binary);
        await echo(p, [mk(4096), mk(4096), mk(100)], binary);
      } catch (err) {
        throw new Error(`${binary ? 'binary' : 'text'}: ${err.message}`);
      }
    }
  });

  await step('pipelined', 20000, async (p) => {
    const msgs = [];
    for (let i = 0; i < 300; i++) {
      const len = (i * 7919) % 3000;
      msgs.push(i % 2 ? { binary: true, data: makeBinary(len) } : { binary: false, data: Buffer.from(makeJSON(len)) });
    }
    for (const m of msgs) p.ws.send(m.data, { binary: m.binary });
    for (let i = 0; i < msgs.length; i++) {
      try {
        const m = await p.recv();
        expectEqual(m.data, msgs[i].data, m.isBinary, msgs[i].binary);
        await wireVerdict(p, msgs[i].data.length);
      } catch (err) {
        throw new Error(`message ${i}: ${err.message}`);
      }
    }
  });

  await step('close-1000', 10000, async (p) => {
    await closeClean(p);
  });
  if (peer) peer.ws.terminate();
}

// Decompression bombs against an echo server with -read-limit 1 MiB.
async function runBomb(url) {
  const LIMIT = 1 << 20;
  const name = (n) => `bomb/${n}`;
  await check(name('at-limit-echoed'), 20000, async () => {
    const p = await open(url, { threshold: 0 });
    try {
      await echo(p, Buffer.alloc(LIMIT), true);
      await closeClean(p);
    } finally { p.ws.terminate(); }
  });
  for (const [n, total, fragment] of [['2MiB-of-zeros-closes-1009', 2 << 20, 0], ['256MiB-in-1MiB-fragments-closes-1009', 256 << 20, 1 << 20], ['limit+1-closes-1009', LIMIT + 1, 0]]) {
    await check(name(n), 30000, async () => {
      const p = await open(url, { threshold: 0 });
      try {
        const before = p.ws._socket.bytesWritten;
        if (!fragment) {
          p.ws.send(Buffer.alloc(total), { binary: true });
        } else {
          const zeros = Buffer.alloc(fragment);
          for (let sent = 0; sent < total && !p.closeInfo; sent += fragment) {
            p.ws.send(zeros, { binary: true, fin: sent + fragment >= total });
            // Let the close come in between fragments.
            if ((sent / fragment) % 16 === 15) await new Promise((r) => setTimeout(r, 1));
          }
        }
        const info = await p.closed();
        const wire = p.ws._socket.bytesWritten - before;
        if (info.code !== 1009) throw new Error(`close event code ${info.code} (reason "${info.reason}"), want 1009 (message of ${total} bytes sent as ${wire} bytes)`);
        if (total > 2 * LIMIT && wire > LIMIT / 4) throw new Error(`the bomb took ${wire} bytes on the wire: not a bomb`);
      } finally { p.ws.terminate(); }
    });
  }
  await check(name('server-still-serves'), 10000, async () => {
    const p = await open(url, { threshold: 0 });
    try {
      await echo(p, Buffer.from(makeJSON(5000)), false);
      await closeClean(p);
    } finally { p.ws.terminate(); }
  });
}

async function main() {
  for (const cfg of configs()) await runConfig(cfg);
  if (urls.bomb && (!only || only.has('bomb'))) await runBomb(urls.bomb);
}

main().then(
  () => process.exit(failed ? 1 : 0),
  (err) => {
    console.log(`FAIL ${suite}: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  },
);
