'use strict';
// Checks of examples/chat with peers written elsewhere.
//
//   node chat_test.js http://127.0.0.1:PORT NAME
//
// - two headless Chromium pages load GET /, one sends through the form, both
//   show the message;
// - a Node ws client that stops reading (its socket paused) while another
//   floods the room: the fast readers still get every message, and the slow
//   one is dropped (close 1008) rather than holding them up.

const WebSocket = require('ws');
const { chromium } = require('playwright-core');

const base = process.argv[2].replace(/\/+$/, '');
const wsURL = base.replace(/^http/, 'ws') + '/ws';
const suite = process.argv[3] || 'chat';
let failed = 0;

async function check(name, timeoutMs, fn) {
  let timer;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error('timed out after ' + timeoutMs + ' ms')), timeoutMs); }),
    ]);
    console.log(`ok   ${suite}/${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${suite}/${name}: ${err && err.message ? err.message.split('\n')[0] : err}`);
  } finally {
    clearTimeout(timer);
  }
}

function connect() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(wsURL);
    ws.msgs = [];
    ws.on('message', (data) => ws.msgs.push(data.toString()));
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

async function waitFor(cond, ms, what) {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('gave up waiting for ' + what);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function main() {
  await check('browser-page', 60000, async () => {
    const browser = await chromium.launch({
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const alice = await browser.newPage();
      const bob = await browser.newPage();
      for (const p of [alice, bob]) {
        await p.goto(base + '/');
        await p.waitForFunction(() => document.getElementById('status').textContent === 'connected', null, { timeout: 10000 });
      }
      await alice.fill('#name', 'alice');
      await alice.fill('#text', 'hello κόσμε 😀');
      await alice.click('#send');
      for (const [who, p] of [['alice', alice], ['bob', bob]]) {
        await p.waitForFunction(
          () => [...document.querySelectorAll('#log li')].some((li) => li.textContent === 'alice: hello κόσμε 😀'),
          null, { timeout: 10000 },
        ).catch(() => { throw new Error(`${who}'s page never showed the message`); });
      }
    } finally {
      await browser.close();
    }
  });

  await check('slow-client-dropped-others-unaffected', 60000, async () => {
    const slow = await connect();
    const fast = await connect();
    const sender = await connect();
    let slowClose = null;
    slow.on('close', (code) => { slowClose = code; });
    slow._socket.pause(); // stop reading: TCP buffers fill, then its queue
    const n = 3000;
    const body = 'x'.repeat(8000);
    const before = fast.msgs.length;
    // The sender waits for its own copy of each batch of 32 before sending
    // more, as a well-behaved client would; the slow reader never reads.
    const senderBefore = sender.msgs.length;
    const echoed = () => sender.msgs.slice(senderBefore).filter((m) => m.startsWith('flood ')).length;
    for (let i = 0; i < n; i += 32) {
      for (let j = i; j < Math.min(n, i + 32); j++) sender.send(`flood ${j} ${body}`);
      await waitFor(() => echoed() >= Math.min(n, i + 32), 10000, `the sender's copy of message ${Math.min(n, i + 32) - 1}`);
    }
    const floodSeen = () => fast.msgs.slice(before).filter((m) => m.startsWith('flood ')).length;
    await waitFor(() => floodSeen() === n, 30000, `all ${n} messages at the fast client (got ${floodSeen()})`);
    const got = fast.msgs.slice(before).filter((m) => m.startsWith('flood '));
    for (let i = 0; i < n; i++) {
      if (got[i] !== `flood ${i} ${body}`) throw new Error(`fast client message ${i} out of order or damaged`);
    }
    slow._socket.resume();
    await waitFor(() => slowClose !== null, 20000, 'the slow client to be closed');
    if (slowClose !== 1008 && slowClose !== 1006) throw new Error(`slow client closed with ${slowClose}, want 1008`);
    for (const ws of [fast, sender]) ws.close(1000);
  });
}

main().then(() => process.exit(failed ? 1 : 0), (err) => {
  console.log(`FAIL ${suite}: ${err && err.stack ? err.stack : err}`);
  process.exit(1);
});
