'use strict';
// Headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
// using the browser's own WebSocket against an echo server.
//
//   node browser.js ws://127.0.0.1:PORT NAME
//   node browser.js --deflate NAME LABEL=ws://127.0.0.1:PORT ...
//
// The test page is served from http://127.0.0.1:<another free port>/, so the
// echo server must accept that origin (examples/echo -origin '127.0.0.1:*').
// Prints one "ok   NAME/check" or "FAIL NAME/check: reason" line per check.
// The connections go to /NAME-<n> (NAME with "/" as "-").
//
// --deflate runs the permessage-deflate checks against each echo server
// (examples/echo -compress ...; Chromium always offers permessage-deflate
// with client_max_window_bits), naming the checks NAME/LABEL/check: the
// extension the page sees in WebSocket.extensions, then compressible
// JSON-like text and random binary echoed byte-exact up to 16 MiB, messages
// repeated across the connection (Chromium keeps its compression context,
// within the window the server allowed), UTF-8, pipelining and a clean close.

const http = require('http');
const { chromium } = require('playwright-core');

const deflateMode = process.argv[2] === '--deflate';
const wsBase = deflateMode ? null : process.argv[2].replace(/\/+$/, '');
const suite = process.argv[3] || 'browser';
const deflateTargets = deflateMode ? process.argv.slice(4).map((a) => {
  const i = a.indexOf('=');
  return { label: a.slice(0, i), base: a.slice(i + 1).replace(/\/+$/, '') };
}) : [];
const executablePath = process.env.CHROMIUM || '/usr/bin/chromium';

// Everything inside PAGE runs in the browser.
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>websocket interop</title></head>
<body><pre id="log"></pre>
<script>
const SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20];
const UTF8_CASES = [
  ['greek', 'κόσμε'],
  ['emoji', '😀🎉👍🏽 🧑\\u200d🚀'],
  ['cjk', '日本語のテキスト, 中文, 한국어'],
  ['mixed', 'Hello-µ@ßöäüàá-UTF-8!! κόσμε 😀 日本'],
  ['max-codepoint', '\\u{10FFFF}\\u{FFFF}\\u{E000}'],
  ['bom-nul', '\\uFEFFbom and nul\\u0000byte'],
];
const enc = new TextEncoder();

function sizeName(n) {
  return n >= (1 << 20) && n % (1 << 20) === 0 ? (n >> 20) + 'MiB' : String(n);
}
function makeText(n) {
  const unit = 'abc κόσμε 😀 日本語 ';
  const unitLen = enc.encode(unit).length;
  const reps = Math.floor(n / unitLen);
  return unit.repeat(reps) + 'x'.repeat(n - reps * unitLen);
}
function makeBinary(n) {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
  return b;
}

let seq = 0;
let pathPrefix = '/browser-';
function open(base) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base + pathPrefix + (++seq));
    ws.binaryType = 'arraybuffer';
    const peer = { ws, queue: [], waiters: [], closeInfo: null, closeWaiters: [] };
    ws.onmessage = (ev) => {
      const w = peer.waiters.shift();
      if (w) w.resolve(ev.data); else peer.queue.push(ev.data);
    };
    ws.onclose = (ev) => {
      peer.closeInfo = { code: ev.code, reason: ev.reason, wasClean: ev.wasClean };
      for (const w of peer.waiters) w.reject(new Error('closed with code ' + ev.code + ' while waiting for a message'));
      peer.waiters = [];
      for (const w of peer.closeWaiters) w(peer.closeInfo);
      reject(new Error('connection closed before open (code ' + ev.code + ')'));
    };
    ws.onopen = () => resolve(peer);
  });
}
function recv(peer) {
  if (peer.queue.length) return Promise.resolve(peer.queue.shift());
  if (peer.closeInfo) return Promise.reject(new Error('closed with code ' + peer.closeInfo.code));
  return new Promise((resolve, reject) => peer.waiters.push({ resolve, reject }));
}
function closed(peer) {
  if (peer.closeInfo) return Promise.resolve(peer.closeInfo);
  return new Promise((resolve) => peer.closeWaiters.push(resolve));
}
async function closeClean(peer) {
  peer.ws.close(1000, '');
  const info = await closed(peer);
  if (info.code !== 1000 || info.wasClean !== true) {
    throw new Error('close event code=' + info.code + ' wasClean=' + info.wasClean + ' reason="' + info.reason + '", want code=1000 wasClean=true');
  }
}
function sameBytes(got, want) {
  if (!(got instanceof ArrayBuffer)) throw new Error('got a ' + typeof got + ' message, want binary');
  const g = new Uint8Array(got);
  if (g.length !== want.length) throw new Error('echo has ' + g.length + ' bytes, want ' + want.length);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== want[i]) throw new Error('echo differs at byte ' + i);
  }
}
function sameText(got, want) {
  if (typeof got !== 'string') throw new Error('got a binary message, want text');
  if (got !== want) {
    let i = 0;
    while (i < got.length && i < want.length && got[i] === want[i]) i++;
    throw new Error('text echo differs (' + enc.encode(got).length + ' bytes, want ' + enc.encode(want).length + ') at UTF-16 index ' + i);
  }
}

async function check(results, name, timeoutMs, fn) {
  let timer;
  const peers = [];
  const t0 = Date.now();
  try {
    await Promise.race([
      fn(peers),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timed out after ' + timeoutMs + ' ms')), timeoutMs); }),
    ]);
    results.push({ name, ok: true, ms: Date.now() - t0 });
  } catch (err) {
    results.push({ name, ok: false, reason: String(err && err.message || err), ms: Date.now() - t0 });
  } finally {
    clearTimeout(timer);
    for (const p of peers) { try { p.ws.close(); } catch (_) {} }
  }
}

async function runTests(base) {
  const results = [];
  const openP = async (peers) => { const p = await open(base); peers.push(p); return p; };
  for (const n of SIZES) {
    const t = n >= (1 << 20) ? 60000 : 10000;
    await check(results, 'text-' + sizeName(n), t, async (peers) => {
      const p = await openP(peers);
      const s = makeText(n);
      p.ws.send(s);
      sameText(await recv(p), s);
      await closeClean(p);
    });
    await check(results, 'binary-' + sizeName(n), t, async (peers) => {
      const p = await openP(peers);
      const b = makeBinary(n);
      p.ws.send(b.buffer);
      sameBytes(await recv(p), b);
      await closeClean(p);
    });
  }
  await check(results, 'utf8', 10000, async (peers) => {
    const p = await openP(peers);
    for (const [name, s] of UTF8_CASES) {
      p.ws.send(s);
      try { sameText(await recv(p), s); } catch (err) { throw new Error(name + ': ' + err.message); }
    }
    await closeClean(p);
  });
  await check(results, 'blob-binary', 10000, async (peers) => {
    const p = await openP(peers);
    const b = makeBinary(300000);
    p.ws.send(new Blob([b.subarray(0, 1000), b.subarray(1000)]));
    sameBytes(await recv(p), b);
    await closeClean(p);
  });
  await check(results, 'many-messages-pipelined', 20000, async (peers) => {
    const p = await openP(peers);
    const msgs = [];
    for (let i = 0; i < 500; i++) {
      const len = (i * 7919) % 3000;
      msgs.push(i % 2 ? makeBinary(len) : makeText(len));
    }
    for (const m of msgs) p.ws.send(typeof m === 'string' ? m : m.buffer);
    for (let i = 0; i < msgs.length; i++) {
      const got = await recv(p);
      try {
        if (typeof msgs[i] === 'string') sameText(got, msgs[i]); else sameBytes(got, msgs[i]);
      } catch (err) { throw new Error('message ' + i + ': ' + err.message); }
    }
    await closeClean(p);
  });
  await check(results, 'close-1000-clean', 10000, async (peers) => {
    const p = await openP(peers);
    p.ws.send('before close');
    sameText(await recv(p), 'before close');
    await closeClean(p);
  });
  return results;
}
window.runTests = runTests;

function makeJSON(n) {
  const parts = [];
  let len = 0;
  for (let i = 0; ; i++) {
    const rec = '{"id":' + i + ',"user":"user-' + (i % 97) + '","name":"κόσμε ' + (i % 13) + ' 😀","tags":["日本語","alpha","beta"],"score":' + ((i * 7919) % 1000) + '.' + (i % 10) + ',"ok":' + (i % 3 === 0) + '},';
    const l = enc.encode(rec).length;
    if (len + l > n) break;
    parts.push(rec);
    len += l;
  }
  return parts.join('') + ' '.repeat(n - len);
}

// The parameters of the negotiated extension, as "k" or "k=v", sorted.
function extParams(header) {
  const el = (header || '').split(',')[0].split(';').map((x) => x.trim());
  return { name: el[0], params: el.slice(1).map((p) => p.split("=").map((x) => x.trim()).join("=")).sort() };
}

async function runDeflateTests(base, prefix, wantParams) {
  pathPrefix = prefix;
  const results = [];
  const openP = async (peers) => { const p = await open(base); peers.push(p); return p; };
  let shared = null;
  const getShared = async (peers) => {
    if (!shared || shared.closeInfo) shared = await open(base);
    return shared;
  };
  const sizes = [0, 1, 200, 4096, 65536, 1 << 20, 16 << 20];
  let clientBits = 15;
  await check(results, 'negotiated', 10000, async (peers) => {
    const p = await getShared(peers);
    const got = extParams(p.ws.extensions);
    const want = wantParams.slice().sort();
    if (got.name !== 'permessage-deflate' || got.params.join('; ') !== want.join('; ')) {
      throw new Error('WebSocket.extensions is ' + JSON.stringify(p.ws.extensions) + ', want permessage-deflate with ' + JSON.stringify(want.join('; ')));
    }
    for (const q of got.params) if (q.startsWith('client_max_window_bits=')) clientBits = Number(q.split('=')[1]);
  });
  // One connection for the echoes: Chromium keeps its compression context
  // from message to message, which the server must follow.
  const step = (name, ms, fn) => check(results, name, ms, async (peers) => {
    try {
      await fn(await getShared(peers));
    } catch (err) {
      if (shared) { try { shared.ws.close(); } catch (_) {} shared = null; }
      throw err;
    }
  });
  for (const n of sizes) {
    const t = n >= (1 << 20) ? 60000 : 10000;
    await step('text-' + sizeName(n), t, async (p) => {
      const s = makeJSON(n);
      p.ws.send(s);
      sameText(await recv(p), s);
    });
    await step('binary-' + sizeName(n), t, async (p) => {
      const b = makeBinary(n);
      p.ws.send(b.buffer);
      sameBytes(await recv(p), b);
    });
  }
  await step('repeat-across-messages', 20000, async (p) => {
    const w = 1 << clientBits;
    for (const n of [w, Math.max(w - 7, 1), 3000]) {
      const b = makeBinary(n);
      for (let i = 0; i < 3; i++) {
        p.ws.send(b.buffer);
        try { sameBytes(await recv(p), b); } catch (err) { throw new Error(n + '-byte block, copy ' + (i + 1) + ': ' + err.message); }
      }
    }
  });
  await step('utf8', 10000, async (p) => {
    for (const [name, s] of UTF8_CASES) {
      for (const m of [s.repeat(20), s]) {
        p.ws.send(m);
        try { sameText(await recv(p), m); } catch (err) { throw new Error(name + ': ' + err.message); }
      }
    }
  });
  await step('pipelined', 20000, async (p) => {
    const msgs = [];
    for (let i = 0; i < 300; i++) {
      const len = (i * 7919) % 3000;
      msgs.push(i % 2 ? makeBinary(len) : makeJSON(len));
    }
    for (const m of msgs) p.ws.send(typeof m === 'string' ? m : m.buffer);
    for (let i = 0; i < msgs.length; i++) {
      const got = await recv(p);
      try {
        if (typeof msgs[i] === 'string') sameText(got, msgs[i]); else sameBytes(got, msgs[i]);
      } catch (err) { throw new Error('message ' + i + ': ' + err.message); }
    }
  });
  await step('close-1000-clean', 10000, async (p) => {
    const s = shared;
    shared = null;
    await closeClean(s);
  });
  return results;
}
window.runDeflateTests = runDeflateTests;
document.getElementById('log').textContent = 'ready';
</script></body></html>`;

async function main() {
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(PAGE);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const pageURL = `http://127.0.0.1:${server.address().port}/`;

  let browser;
  let failed = 0;
  try {
    browser = await chromium.launch({
      executablePath,
      headless: true,
      timeout: 60000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    const page = await browser.newPage();
    page.on('pageerror', (err) => console.error('page error:', err.message));
    await page.goto(pageURL, { timeout: 30000 });
    const version = browser.version();
    const prefix = '/' + suite.replace(/\//g, '-') + '-';
    if (!deflateMode) {
      console.error(`browser: Chromium ${version}, page ${pageURL}, echo ${wsBase}`);
      const results = await page.evaluate(([base, pre]) => { pathPrefix = pre; return window.runTests(base); }, [wsBase, prefix]);
      for (const r of results) {
        if (r.ok) console.log(`ok   ${suite}/${r.name}`);
        else { failed++; console.log(`FAIL ${suite}/${r.name}: ${r.reason}`); }
      }
    }
    for (const t of deflateTargets) {
      // The echo server's answer to Chromium's offer
      // ("permessage-deflate; client_max_window_bits"): it always says
      // server_no_context_takeover, and names client_max_window_bits only
      // to lower it (examples/echo -compress-window N).
      const want = ['server_no_context_takeover'];
      const m = /^w(\d+)$/.exec(t.label);
      if (m) want.push('client_max_window_bits=' + m[1]);
      console.error(`browser: Chromium ${version}, page ${pageURL}, ${t.label} echo ${t.base}`);
      const results = await page.evaluate(([base, pre, w]) => window.runDeflateTests(base, pre, w), [t.base, prefix + t.label + '-', want]);
      for (const r of results) {
        if (r.ms > 1000) console.error(`${suite}/${t.label}/${r.name}: ${r.ms} ms`);
        if (r.ok) console.log(`ok   ${suite}/${t.label}/${r.name}`);
        else { failed++; console.log(`FAIL ${suite}/${t.label}/${r.name}: ${r.reason}`); }
      }
    }
  } catch (err) {
    failed++;
    console.log(`FAIL ${suite}: ${err && err.message ? err.message.split('\n')[0] : err}`);
  } finally {
    if (browser) await browser.close().catch(() => {});
    server.close();
  }
  process.exit(failed ? 1 : 0);
}

main();
