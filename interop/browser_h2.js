'use strict';
// A real browser's WebSocket over HTTP/2 (RFC 8441) against this library's
// server (interop/h2page, GODEBUG=http2xconnect=1): headless Chromium driven
// by playwright-core, or Firefox ESR driven by puppeteer-core (WebDriver
// BiDi).
//
//   node browser_h2.js chromium NAME https://127.0.0.1:PORT
//   node browser_h2.js firefox NAME https://127.0.0.1:PORT
//
// The browser first loads the page from the server (so that an HTTP/2
// connection with SETTINGS_ENABLE_CONNECT_PROTOCOL exists: Chromium uses
// RFC 8441 only then), then the page opens WebSockets to the same origin:
// three at once, echoing text and binary up to 4 MiB byte-exact, UTF-8,
// pipelined messages, and closing with 1000 and 4000. Afterwards the
// server's report must show every WebSocket arrived over HTTP/2 — the
// checks fail if the browser fell back to HTTP/1.1. Prints one
// "ok   NAME/check" or "FAIL NAME/check: reason" line per check.

const https = require('https');

const browserName = process.argv[2];
const suite = process.argv[3];
const origin = process.argv[4].replace(/\/+$/, '');
const wsOrigin = origin.replace(/^https:/, 'wss:');
const prefix = '/' + suite.replace(/\//g, '-') + '-';

let failed = 0;
function ok(name) { console.log(`ok   ${suite}/${name}`); }
function fail(name, why) { failed++; console.log(`FAIL ${suite}/${name}: ${why}`); }

// Runs in the page: returns [{name, error}] per check and the paths used.
async function pageChecks({ wsOrigin, prefix }) {
  const results = [];
  const enc = new TextEncoder();
  let seq = 0;
  function makeText(n) {
    const unit = 'abc κόσμε 😀 日本語 ';
    const l = enc.encode(unit).length;
    const reps = Math.floor(n / l);
    return unit.repeat(reps) + 'x'.repeat(n - reps * l);
  }
  function makeBinary(n) {
    const b = new Uint8Array(n);
    for (let i = 0; i < n; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(n, i + 65536)));
    return b;
  }
  function open() {
    return new Promise((resolve, reject) => {
      const path = prefix + (++seq);
      const ws = new WebSocket(wsOrigin + path);
      ws.binaryType = 'arraybuffer';
      const peer = { ws, path, queue: [], waiters: [], closeInfo: null, closeWaiters: [] };
      ws.onmessage = (ev) => {
        const w = peer.waiters.shift();
        if (w) w.resolve(ev.data); else peer.queue.push(ev.data);
      };
      ws.onclose = (ev) => {
        peer.closeInfo = { code: ev.code, reason: ev.reason, wasClean: ev.wasClean };
        for (const w of peer.waiters) w.reject(new Error('closed with code ' + ev.code));
        peer.waiters = [];
        for (const w of peer.closeWaiters) w(peer.closeInfo);
        reject(new Error('closed before open (code ' + ev.code + ')'));
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
  function same(got, want) {
    if (typeof want === 'string') {
      if (typeof got !== 'string') throw new Error('got a binary message, want text');
      if (got !== want) throw new Error(`text differs: got ${got.length} chars, want ${want.length}`);
      return;
    }
    if (!(got instanceof ArrayBuffer)) throw new Error('got a text message, want binary');
    const g = new Uint8Array(got);
    if (g.length !== want.length) throw new Error(`got ${g.length} bytes, want ${want.length}`);
    for (let i = 0; i < g.length; i++) if (g[i] !== want[i]) throw new Error('binary differs at byte ' + i);
  }
  async function echo(peer, data) {
    peer.ws.send(data);
    same(await recv(peer), data);
  }
  async function check(name, fn) {
    let t;
    try {
      await Promise.race([fn(), new Promise((_, rej) => { t = setTimeout(() => rej(new Error('timed out after 60 s')), 60000); })]);
      results.push({ name });
    } catch (err) {
      results.push({ name, error: String(err && err.message || err) });
    }
    clearTimeout(t);
  }
  async function closeWith(peer, code, reason) {
    peer.ws.close(code, reason);
    const info = await closed(peer);
    if (info.code !== code || !info.wasClean) throw new Error(`close event code ${info.code} wasClean ${info.wasClean}, want ${code} clean`);
  }

  const peers = [];
  await check('open-3-at-once', async () => {
    peers.push(...await Promise.all([open(), open(), open()]));
  });
  if (peers.length === 3) {
    await check('extensions-permessage-deflate', async () => {
      for (const p of peers) if (!/permessage-deflate/.test(p.ws.extensions)) throw new Error(`extensions ${JSON.stringify(p.ws.extensions)}`);
    });
    for (const n of [0, 1, 125, 126, 65536, 1 << 20, 4 << 20]) {
      await check('text-' + n, () => Promise.all(peers.map((p) => echo(p, makeText(n)))));
      await check('binary-' + n, () => Promise.all(peers.map((p) => echo(p, makeBinary(n)))));
    }
    await check('utf8', () => Promise.all(peers.map((p) => echo(p, 'κόσμε 😀🎉👍🏽 🧑\u200d🚀 日本語 \u{10FFFF}\uFEFF\u0000'))));
    await check('pipelined-200', () => Promise.all(peers.map(async (p, k) => {
      const sent = [];
      for (let i = 0; i < 200; i++) {
        const d = i % 2 ? makeBinary(1 + (i * 131) % 3000) : `ws ${k} message ${i} κόσμε`;
        sent.push(d);
        p.ws.send(d);
      }
      for (const d of sent) same(await recv(p), d);
    })));
    await check('close-1000-and-4000', async () => {
      await closeWith(peers[0], 1000, '');
      await closeWith(peers[1], 4000, 'custom κόσμε');
      await closeWith(peers[2], 1000, 'bye');
    });
  }
  await check('reopen-after-close', async () => {
    const p = await open();
    await echo(p, 'again');
    await closeWith(p, 1000, '');
  });
  return results;
}

function getJSON(url) {
  return new Promise((resolve, reject) => {
    https.get(url, { rejectUnauthorized: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => { body += d; });
      res.on('end', () => {
        try { resolve(JSON.parse(body)); } catch (err) { reject(new Error(`${err.message}: ${body}`)); }
      });
    }).on('error', reject);
  });
}

async function launch() {
  if (browserName === 'chromium') {
    const { chromium } = require('playwright-core');
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--ignore-certificate-errors'],
    });
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    return {
      page,
      goto: async (url) => {
        const resp = await page.goto(url);
        return resp.status();
      },
      close: () => browser.close(),
    };
  }
  if (browserName === 'firefox') {
    const puppeteer = require('puppeteer-core');
    const browser = await puppeteer.launch({
      browser: 'firefox',
      executablePath: process.env.FIREFOX || '/usr/bin/firefox-esr',
      headless: true,
      acceptInsecureCerts: true,
      protocolTimeout: 120000,
    });
    const page = await browser.newPage();
    return {
      page,
      goto: async (url) => {
        const resp = await page.goto(url);
        return resp ? resp.status() : 0;
      },
      close: () => browser.close(),
    };
  }
  throw new Error('unknown browser ' + browserName);
}

async function main() {
  const b = await launch();
  try {
    const status = await b.goto(origin + '/');
    if (status === 200) ok('page-loaded'); else fail('page-loaded', `HTTP ${status}`);
    const results = await b.page.evaluate(pageChecks, { wsOrigin, prefix });
    for (const r of results) {
      if (r.error) fail(r.name, r.error); else ok(r.name);
    }
  } finally {
    await b.close().catch(() => {});
  }
  const rep = await getJSON(origin + '/__report');
  if (rep.page === 'HTTP/2.0') ok('server-page-over-http2'); else fail('server-page-over-http2', `page served over ${rep.page}`);
  const mine = Object.entries(rep.websockets).filter(([path]) => path.startsWith(prefix));
  const notH2 = mine.filter(([, r]) => r.proto !== 'HTTP/2.0');
  if (mine.length >= 4 && notH2.length === 0) {
    ok('server-every-websocket-over-http2');
  } else {
    fail('server-every-websocket-over-http2', `${mine.length} WebSockets, over ${JSON.stringify(mine.map(([p, r]) => p + ' ' + r.proto))}; extended CONNECT on: ${rep.extendedConnect}`);
  }
  const unclosed = mine.filter(([, r]) => r.close !== 1000 && r.close !== 4000);
  if (mine.length && unclosed.length === 0) ok('server-got-close-codes'); else fail('server-got-close-codes', JSON.stringify(mine));
  const deflated = mine.filter(([, r]) => /permessage-deflate/.test(r.extensions));
  if (mine.length && deflated.length === mine.length) ok('server-negotiated-permessage-deflate'); else fail('server-negotiated-permessage-deflate', JSON.stringify(mine.map(([, r]) => r.extensions)));
  // The page and its WebSockets on one connection (Chromium), or at most
  // one more (Firefox may open a connection of its own for WebSockets).
  // The report's own request (from here) is one more.
  const most = browserName === 'chromium' ? 1 : 2;
  const conns = rep.connections - 1;
  if (conns >= 1 && conns <= most) ok(`server-browser-connections-at-most-${most}`); else fail(`server-browser-connections-at-most-${most}`, `${conns} TCP connections from the browser`);
}

main().then(
  () => process.exit(failed ? 1 : 0),
  (err) => {
    console.log(`FAIL ${suite}: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  },
);
