'use strict';
// WebSockets over HTTP/2 (RFC 8441) from Node's built-in http2 client
// (nghttp2) against an echo server (examples/echo -tls or -h2c, started
// with GODEBUG=http2xconnect=1), with the WebSocket framing of h2ws.js.
//
//   node node_h2_client.js NAME https://127.0.0.1:PORT [--deflate]
//   node node_h2_client.js NAME http://127.0.0.1:PORT          (h2c)
//
// Every check runs on ONE HTTP/2 session (one TCP connection): the script
// opens no other, and the caller can count the server's connections. Paths
// are /NAME-<n> (NAME with "/" as "-"). Prints one "ok   NAME/check" or
// "FAIL NAME/check: reason" line per check.
//
// --deflate offers permessage-deflate and runs the compression checks
// (the server must be started with -compress).

const http2 = require('http2');
const { Peer, OP, parseExtensions } = require('./h2ws');
const { sizeName, makeText, makeBinary, makeJSON } = require('./payload');

const suite = process.argv[2];
const origin = process.argv[3].replace(/\/+$/, '');
const deflateMode = process.argv.includes('--deflate');
const scheme = origin.startsWith('https:') ? 'https' : 'http';
const authority = origin.replace(/^https?:\/\//, '');
const pathPrefix = '/' + suite.replace(/\//g, '-') + '-';

let failed = 0;
let seq = 0;

async function check(name, ms, fn) {
  let timer;
  try {
    await Promise.race([
      fn(),
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms); }),
    ]);
    console.log(`ok   ${suite}/${name}`);
  } catch (err) {
    failed++;
    console.log(`FAIL ${suite}/${name}: ${err && err.message ? err.message : err}`);
  } finally {
    clearTimeout(timer);
  }
}

function describe(buf) {
  const head = buf.subarray(0, 16).toString('hex');
  return `${buf.length} bytes [${head}${buf.length > 16 ? '...' : ''}]`;
}

function expectEcho(m, want, binary) {
  if (m.binary !== binary) throw new Error(`got a ${m.binary ? 'binary' : 'text'} message, want ${binary ? 'binary' : 'text'}`);
  if (Buffer.compare(m.data, want) !== 0) {
    let i = 0;
    while (i < m.data.length && i < want.length && m.data[i] === want[i]) i++;
    throw new Error(`echo differs: got ${describe(m.data)}, want ${describe(want)}, first difference at byte ${i}`);
  }
}

function connect() {
  return new Promise((resolve, reject) => {
    const session = http2.connect(origin, { rejectUnauthorized: false });
    session.once('error', reject);
    session.once('remoteSettings', (settings) => resolve({ session, settings }));
  });
}

// open starts a WebSocket on the session: resolves with {peer, headers}.
function open(session, opts = {}) {
  return new Promise((resolve, reject) => {
    const path = pathPrefix + (++seq);
    const headers = {
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': scheme,
      ':path': path,
      ':authority': authority,
      'sec-websocket-version': '13',
    };
    if (opts.offer) headers['sec-websocket-extensions'] = opts.offer;
    const stream = session.request(headers);
    stream.once('error', (err) => reject(new Error('stream: ' + err.message)));
    stream.once('response', (h) => {
      if (h[':status'] !== 200) {
        reject(new Error(`answered :status ${h[':status']}`));
        return;
      }
      let deflate = null;
      const ext = parseExtensions(h['sec-websocket-extensions']);
      if (ext.length && ext[0].name === 'permessage-deflate') {
        const p = ext[0].params;
        deflate = {
          sendNoContext: !!p.client_no_context_takeover,
          sendWindowBits: Number(p.client_max_window_bits) || 15,
          recvWindowBits: Number(p.server_max_window_bits) || 15,
        };
      }
      resolve({ peer: new Peer(stream, { client: true, deflate }), headers: h, stream, path });
    });
  });
}

async function echo(peer, data, opts = {}) {
  const want = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
  await peer.send(data, opts);
  const m = await peer.recv();
  expectEcho(m, want, typeof data !== 'string');
  return m;
}

async function closeClean(peer, code = 1000, reason = '') {
  const info = await peer.close(code, reason);
  // RFC 6455, Section 5.5.1: the answer echoes the code; the reason is the
  // answerer's own.
  if (info.code !== code) throw new Error(`server answered close ${info.code} "${info.reason}", want ${code}`);
  if (peer.violations.length) throw new Error('protocol violations: ' + peer.violations.join('; '));
}

async function main() {
  const { session, settings } = await connect();
  session.on('error', () => {});
  let goaway = null;
  session.on('goaway', (code) => { goaway = code; });

  await check('settings-enable-connect-protocol', 5000, async () => {
    if (settings.enableConnectProtocol !== true) {
      throw new Error(`server SETTINGS: ${JSON.stringify(settings)}; want enableConnectProtocol (SETTINGS_ENABLE_CONNECT_PROTOCOL=1)`);
    }
  });
  if (settings.enableConnectProtocol !== true) return;

  await check('connect-200-no-accept-header', 10000, async () => {
    const { peer, headers } = await open(session);
    if (headers['sec-websocket-accept'] !== undefined) throw new Error('Sec-WebSocket-Accept over HTTP/2');
    await echo(peer, 'hello over HTTP/2');
    await closeClean(peer);
  });

  if (!deflateMode) {
    // Several WebSockets on the one session at once, every size each.
    const K = 4;
    const peers = [];
    await check(`concurrent-${K}/open`, 10000, async () => {
      const opened = await Promise.all(Array.from({ length: K }, () => open(session)));
      for (const o of opened) peers.push(o.peer);
      const ids = new Set(opened.map((o) => o.stream.id));
      if (ids.size !== K) throw new Error('stream ids not distinct');
    });
    if (peers.length === K) {
      for (const n of [0, 1, 125, 126, 65535, 65536, 1 << 20, 4 << 20]) {
        for (const binary of [false, true]) {
          await check(`concurrent-${K}/${binary ? 'binary' : 'text'}-${sizeName(n)}`, 60000, async () => {
            await Promise.all(peers.map((p) => echo(p, binary ? makeBinary(n) : makeText(n))));
          });
        }
      }
      await check(`concurrent-${K}/interleaved-100-each`, 30000, async () => {
        await Promise.all(peers.map(async (p, k) => {
          const sent = [];
          for (let i = 0; i < 100; i++) {
            const d = i % 2 ? makeBinary(1 + ((i * 977) % 5000)) : `ws ${k} message ${i} κόσμε`;
            sent.push(d);
            p.send(d);
          }
          for (const d of sent) {
            const m = await p.recv();
            expectEcho(m, typeof d === 'string' ? Buffer.from(d) : d, typeof d !== 'string');
          }
        }));
      });
      await check(`concurrent-${K}/close-1000-all`, 10000, async () => {
        await Promise.all(peers.map((p) => closeClean(p)));
      });
    }

    await check('fragmented/text-3-with-ping-between', 10000, async () => {
      const { peer } = await open(session);
      const pongs = [];
      const text = makeText(3000);
      await echo(peer, text, { fragments: 3, between: (p, i) => { p.ping(Buffer.from('p' + i)); pongs.push(i); } });
      await closeClean(peer);
    });
    await check('fragmented/binary-1MiB-in-100', 20000, async () => {
      const { peer } = await open(session);
      await echo(peer, makeBinary(1 << 20), { fragments: 100 });
      await closeClean(peer);
    });
    await check('fragmented/empty-fragments', 10000, async () => {
      const { peer } = await open(session);
      await peer.writeRaw(OP.text, Buffer.alloc(0), false);
      await peer.writeRaw(OP.cont, Buffer.from('κό'), false);
      await peer.writeRaw(OP.cont, Buffer.alloc(0), false);
      await peer.writeRaw(OP.cont, Buffer.from('σμε'), true);
      const m = await peer.recv();
      expectEcho(m, Buffer.from('κόσμε'), false);
      await closeClean(peer);
    });
    await check('binary-16MiB', 60000, async () => {
      const { peer } = await open(session);
      await echo(peer, makeBinary(16 << 20));
      await closeClean(peer);
    });

    // Close codes both ways.
    await check('close/client-4000-with-reason', 10000, async () => {
      const { peer } = await open(session);
      await echo(peer, 'before close');
      await closeClean(peer, 4000, 'custom reason κόσμε');
    });
    await check('close/client-1001', 10000, async () => {
      const { peer } = await open(session);
      await closeClean(peer, 1001, 'going away');
    });
    await check('close/server-1007-on-invalid-utf8', 10000, async () => {
      const { peer } = await open(session);
      await peer.writeRaw(OP.text, Buffer.from([0x61, 0xc3, 0x28]));
      const info = await peer.closed();
      if (info.code !== 1007) throw new Error(`close ${info.code} "${info.reason}", want 1007`);
    });
    await check('close/server-1002-on-unmasked-frame', 10000, async () => {
      const { peer } = await open(session);
      await peer.writeRaw(OP.text, Buffer.from('unmasked'), true, false, true);
      const info = await peer.closed();
      if (info.code !== 1002) throw new Error(`close ${info.code} "${info.reason}", want 1002`);
    });
    await check('close/server-stream-ends-after-close', 10000, async () => {
      const { peer, stream } = await open(session);
      const ended = new Promise((resolve) => stream.once('end', resolve));
      await closeClean(peer);
      await ended;
    });

    await check('reset-stream-leaves-session-usable', 10000, async () => {
      const { peer, stream } = await open(session);
      await echo(peer, 'about to be reset');
      stream.close(http2.constants.NGHTTP2_CANCEL);
      const o = await open(session);
      await echo(o.peer, 'after the reset');
      await closeClean(o.peer);
    });
    await check('plain-get-answered-400-session-kept', 10000, async () => {
      const status = await new Promise((resolve, reject) => {
        const req = session.request({ ':path': pathPrefix + 'get', 'sec-websocket-version': '13' });
        req.once('response', (h) => resolve(h[':status']));
        req.once('error', reject);
        req.resume();
      });
      if (status !== 400) throw new Error(`:status ${status}, want 400`);
      const o = await open(session);
      await echo(o.peer, 'after the 400');
      await closeClean(o.peer);
      if (goaway !== null) throw new Error('server sent GOAWAY ' + goaway);
    });
  } else {
    // permessage-deflate over HTTP/2.
    for (const offer of ['permessage-deflate; client_max_window_bits', 'permessage-deflate; client_no_context_takeover']) {
      const label = offer.includes('no_context') ? 'no-context' : 'context-takeover';
      let o = null;
      await check(`${label}/negotiated`, 10000, async () => {
        o = await open(session, { offer });
        const ext = parseExtensions(o.headers['sec-websocket-extensions']);
        if (!ext.length || ext[0].name !== 'permessage-deflate') {
          throw new Error(`Sec-WebSocket-Extensions ${JSON.stringify(o.headers['sec-websocket-extensions'])}`);
        }
      });
      if (!o) continue;
      const peer = o.peer;
      for (const n of [0, 1, 200, 65536, 1 << 20, 4 << 20]) {
        await check(`${label}/json-text-${sizeName(n)}`, 60000, async () => {
          const m = await echo(peer, makeJSON(n), { compress: true });
          if (n >= 1024 && !m.compressed) throw new Error('the server sent it uncompressed');
        });
        await check(`${label}/random-binary-${sizeName(n)}`, 60000, async () => {
          await echo(peer, makeBinary(n), { compress: true });
        });
      }
      await check(`${label}/same-text-twice`, 10000, async () => {
        const t = makeJSON(50000);
        await echo(peer, t, { compress: true });
        await echo(peer, t, { compress: true });
      });
      await check(`${label}/fragmented-compressed-in-10`, 20000, async () => {
        await echo(peer, makeJSON(300000), { compress: true, fragments: 10 });
      });
      await check(`${label}/uncompressed-between-compressed`, 10000, async () => {
        await echo(peer, makeJSON(5000), { compress: true });
        await echo(peer, makeJSON(5000));
        await echo(peer, makeBinary(5000), { compress: true });
      });
      await check(`${label}/pipelined-50`, 20000, async () => {
        const sent = [];
        for (let i = 0; i < 50; i++) {
          const d = makeJSON(100 + i * 200);
          sent.push(d);
          peer.send(d, { compress: i % 3 !== 0 });
        }
        for (const d of sent) expectEcho(await peer.recv(), Buffer.from(d), false);
      });
      await check(`${label}/close-1000`, 10000, async () => {
        await closeClean(peer);
        if (peer.stats.compressed === 0) throw new Error('no compressed message received');
      });
    }
  }
  if (goaway !== null) {
    failed++;
    console.log(`FAIL ${suite}/no-goaway: server sent GOAWAY ${goaway}`);
  }
  await new Promise((resolve) => session.close(resolve));
}

main().then(
  () => process.exit(failed ? 1 : 0),
  (err) => {
    console.log(`FAIL ${suite}: ${err && err.stack ? err.stack : err}`);
    process.exit(1);
  },
);
