'use strict';
// Node "ws" client checks against an echo server (examples/echo).
//
//   node node_client.js ws://127.0.0.1:PORT NAME [--big]
//
// Prints one "ok   NAME/check" or "FAIL NAME/check: reason" line per check.
// Exits 1 if any check failed. --big adds the 64 MiB read-limit checks.

const WebSocket = require('ws');
const { SIZES, UTF8_CASES, sizeName, makeText, makeBinary } = require('./payload');

const base = process.argv[2].replace(/\/+$/, '');
const suite = process.argv[3] || 'node-client';
const big = process.argv.includes('--big');
let failed = 0;
let connSeq = 0;

async function check(name, timeoutMs, fn) {
  let timer;
  const cleanups = [];
  try {
    await Promise.race([
      fn(cleanups),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('timed out after ' + timeoutMs + ' ms')), timeoutMs);
      }),
    ]);
    console.log(`ok   ${suite}/${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${suite}/${name}: ${err && err.message ? err.message : err}`);
  } finally {
    clearTimeout(timer);
    for (const c of cleanups) {
      try { c(); } catch (_) { /* ignore */ }
    }
  }
}

// Peer wraps a ws client with a promise-based receive queue.
class Peer {
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiters = [];
    this.closeInfo = null;
    this.closeWaiters = [];
    ws.on('message', (data, isBinary) => this._push({ data, isBinary }));
    ws.on('error', (err) => { this.error = err; });
    ws.on('close', (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() };
      for (const w of this.waiters) w.reject(new Error(`connection closed (code ${code}${reason.length ? ' "' + reason + '"' : ''}) while waiting for a message`));
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
}

function open(cleanups, opts = {}) {
  const path = `/${suite}-${++connSeq}`;
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base + path, { maxPayload: 128 * 1024 * 1024, ...opts });
    cleanups.push(() => ws.terminate());
    const peer = new Peer(ws);
    ws.once('open', () => resolve(peer));
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

async function roundTrip(peer, payload, binary) {
  const want = Buffer.isBuffer(payload) ? payload : Buffer.from(payload, 'utf8');
  peer.ws.send(payload, { binary });
  const m = await peer.recv();
  expectEqual(m.data, want, m.isBinary, binary);
}

async function closeClean(peer, code = 1000, reason = '') {
  peer.ws.close(code, reason);
  const info = await peer.closed();
  if (info.code !== code) throw new Error(`close event code ${info.code} (reason "${info.reason}"), want ${code}`);
}

async function main() {
  for (const n of SIZES) {
    const t = n >= 1 << 20 ? 60000 : 10000;
    await check(`text-${sizeName(n)}`, t, async (c) => {
      const p = await open(c);
      await roundTrip(p, makeText(n), false);
      await closeClean(p);
    });
    await check(`binary-${sizeName(n)}`, t, async (c) => {
      const p = await open(c);
      await roundTrip(p, makeBinary(n), true);
      await closeClean(p);
    });
  }

  await check('utf8', 10000, async (c) => {
    const p = await open(c);
    for (const [name, s] of UTF8_CASES) {
      try {
        await roundTrip(p, s, false);
      } catch (err) {
        throw new Error(`${name}: ${err.message}`);
      }
    }
    await closeClean(p);
  });

  await check('fragmented-text', 10000, async (c) => {
    const p = await open(c);
    p.ws.send('Hello, ', { binary: false, fin: false });
    p.ws.send('frag', { binary: false, fin: false });
    p.ws.send('mented κόσμε 😀', { binary: false, fin: true });
    const m = await p.recv();
    expectEqual(m.data, Buffer.from('Hello, fragmented κόσμε 😀'), m.isBinary, false);
    await closeClean(p);
  });

  await check('fragmented-binary', 10000, async (c) => {
    const p = await open(c);
    const parts = [makeBinary(100000), makeBinary(1), makeBinary(70000)];
    parts.forEach((b, i) => p.ws.send(b, { binary: true, fin: i === parts.length - 1 }));
    const m = await p.recv();
    expectEqual(m.data, Buffer.concat(parts), m.isBinary, true);
    await closeClean(p);
  });

  await check('fragmented-utf8-split', 10000, async (c) => {
    // Fragment boundaries cut a 2-byte and a 4-byte UTF-8 sequence in half.
    const p = await open(c);
    const whole = Buffer.from('κόσμε😀!');
    const cuts = [1, 3, 11, 12, whole.length];
    let prev = 0;
    for (const cut of cuts) {
      p.ws.send(whole.subarray(prev, cut), { binary: false, fin: cut === whole.length });
      prev = cut;
    }
    const m = await p.recv();
    expectEqual(m.data, whole, m.isBinary, false);
    await closeClean(p);
  });

  await check('fragmented-with-ping-between', 10000, async (c) => {
    const p = await open(c);
    const payload = Buffer.from('between fragments');
    const pong = new Promise((resolve) => p.ws.on('pong', resolve));
    p.ws.send('first half, ', { binary: false, fin: false });
    p.ws.ping(payload);
    p.ws.send('second half', { binary: false, fin: true });
    const got = await pong;
    if (Buffer.compare(got, payload) !== 0) throw new Error(`pong payload ${describe(got)}, want ${describe(payload)}`);
    const m = await p.recv();
    expectEqual(m.data, Buffer.from('first half, second half'), m.isBinary, false);
    await closeClean(p);
  });

  await check('fragmented-16MiB-in-4096-fragments', 60000, async (c) => {
    const p = await open(c);
    const whole = makeBinary(16 << 20);
    const step = 4096;
    for (let i = 0; i < whole.length; i += step) {
      p.ws.send(whole.subarray(i, i + step), { binary: true, fin: i + step >= whole.length });
    }
    const m = await p.recv();
    expectEqual(m.data, whole, m.isBinary, true);
    await closeClean(p);
  });

  await check('pings-during-16MiB-echo', 60000, async (c) => {
    // The server answers pings while it is writing a large echo: its pongs
    // must go between frames, never inside one.
    const p = await open(c);
    const whole = makeBinary(16 << 20);
    const pongs = [];
    p.ws.on('pong', (d) => pongs.push(d.toString()));
    p.ws.send(whole, { binary: true });
    for (let i = 0; i < 200; i++) {
      p.ws.ping(`ping ${i}`);
      if (i % 20 === 0) await new Promise((r) => setTimeout(r, 2));
    }
    p.ws.send('after', { binary: false });
    const m = await p.recv();
    expectEqual(m.data, whole, m.isBinary, true);
    const m2 = await p.recv();
    expectEqual(m2.data, Buffer.from('after'), m2.isBinary, false);
    // RFC 6455, Section 5.5.3 lets an endpoint that gets pings faster than
    // it can answer them answer only the latest: the pongs must answer
    // pings in order, without repeats, and the last ping must be answered.
    const deadline = Date.now() + 5000;
    while (pongs[pongs.length - 1] !== 'ping 199' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    let last = -1;
    for (const [k, pong] of pongs.entries()) {
      const n = /^ping (\d+)$/.exec(pong);
      if (!n || Number(n[1]) <= last) throw new Error(`pong ${k} is ${JSON.stringify(pong)} after "ping ${last}": out of order, or no ping's`);
      last = Number(n[1]);
    }
    if (last !== 199) throw new Error(`the last pong answers "ping ${last}", want "ping 199" (${pongs.length} pongs)`);
    await closeClean(p);
  });

  for (const [name, payload] of [['ping', Buffer.from('ping payload κόσμε')], ['ping-empty', Buffer.alloc(0)], ['ping-125', makeBinary(125)]]) {
    await check(name, 10000, async (c) => {
      const p = await open(c);
      const pong = new Promise((resolve) => p.ws.once('pong', resolve));
      p.ws.ping(payload);
      const got = await pong;
      if (Buffer.compare(got, payload) !== 0) throw new Error(`pong payload ${describe(got)}, want ${describe(payload)}`);
      await closeClean(p);
    });
  }

  await check('many-messages-pipelined', 20000, async (c) => {
    const p = await open(c);
    const msgs = [];
    for (let i = 0; i < 1000; i++) {
      const binary = i % 2 === 1;
      const len = (i * 7919) % 3000;
      msgs.push({ binary, data: binary ? makeBinary(len) : Buffer.from(makeText(len)) });
    }
    for (const m of msgs) p.ws.send(m.data, { binary: m.binary });
    for (let i = 0; i < msgs.length; i++) {
      const m = await p.recv();
      try {
        expectEqual(m.data, msgs[i].data, m.isBinary, msgs[i].binary);
      } catch (err) {
        throw new Error(`message ${i}: ${err.message}`);
      }
    }
    await closeClean(p);
  });

  await check('close-1000', 10000, async (c) => {
    const p = await open(c);
    await roundTrip(p, 'before close', false);
    await closeClean(p, 1000, '');
  });

  await check('close-4000-with-reason-echoed', 10000, async (c) => {
    const p = await open(c);
    await closeClean(p, 4000, 'custom reason κόσμε');
  });

  await check('invalid-utf8-closes-1007', 10000, async (c) => {
    const p = await open(c);
    p.ws.send(Buffer.from([0x68, 0x69, 0xc3, 0x28]), { binary: false });
    const info = await p.closed();
    if (info.code !== 1007) throw new Error(`close event code ${info.code} (reason "${info.reason}"), want 1007`);
  });

  await check('unmasked-frame-closes-1002', 10000, async (c) => {
    const p = await open(c);
    p.ws.send('not masked', { binary: false, mask: false });
    const info = await p.closed();
    if (info.code !== 1002) throw new Error(`close event code ${info.code} (reason "${info.reason}"), want 1002`);
  });

  await check('foreign-origin-rejected-403', 10000, async (c) => {
    let p;
    try {
      p = await open(c, { origin: 'http://evil.example' });
    } catch (err) {
      if (/HTTP 403/.test(err.message)) return;
      throw err;
    }
    throw new Error('handshake with Origin http://evil.example succeeded, want HTTP 403');
  });

  if (big) {
    await check('binary-64MiB-at-read-limit', 120000, async (c) => {
      const p = await open(c);
      await roundTrip(p, makeBinary(64 << 20), true);
      await closeClean(p);
    });
    await check('binary-64MiB+1-closes-1009', 60000, async (c) => {
      const p = await open(c);
      p.ws.send(makeBinary((64 << 20) + 1), { binary: true });
      const info = await p.closed();
      if (info.code !== 1009) throw new Error(`close event code ${info.code} (reason "${info.reason}"), want 1009`);
    });
    await check('fragmented-64MiB+1-closes-1009', 60000, async (c) => {
      // The limit applies to the whole message, not to each fragment.
      const p = await open(c);
      const whole = makeBinary((64 << 20) + 1);
      const step = 1 << 20;
      for (let i = 0; i < whole.length; i += step) {
        p.ws.send(whole.subarray(i, i + step), { binary: true, fin: i + step >= whole.length });
      }
      const info = await p.closed();
      if (info.code !== 1009) throw new Error(`close event code ${info.code} (reason "${info.reason}"), want 1009`);
    });
  }
}

main().then(
  () => process.exit(failed ? 1 : 0),
  (err) => {
    console.log(`FAIL ${suite}: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  },
);
