'use strict';
// Headless Chromium (Debian's /usr/bin/chromium driven by playwright-core)
// using the browser's own WebSocket against an echo server.
//
//   node browser.js ws://127.0.0.1:PORT NAME
//
// The test page is served from http://127.0.0.1:<another free port>/, so the
// echo server must accept that origin (examples/echo -origin '127.0.0.1:*').
// Prints one "ok   NAME/check" or "FAIL NAME/check: reason" line per check.

const http = require('http');
const { chromium } = require('playwright-core');

const wsBase = process.argv[2].replace(/\/+$/, '');
const suite = process.argv[3] || 'browser';
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
function open(base) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(base + '/browser-' + (++seq));
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
  try {
    await Promise.race([
      fn(peers),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timed out after ' + timeoutMs + ' ms')), timeoutMs); }),
    ]);
    results.push({ name, ok: true });
  } catch (err) {
    results.push({ name, ok: false, reason: String(err && err.message || err) });
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
    console.error(`browser: Chromium ${version}, page ${pageURL}, echo ${wsBase}`);
    const results = await page.evaluate((base) => window.runTests(base), wsBase);
    for (const r of results) {
      if (r.ok) console.log(`ok   ${suite}/${r.name}`);
      else { failed++; console.log(`FAIL ${suite}/${r.name}: ${r.reason}`); }
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
