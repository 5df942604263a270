'use strict';
// Holds one WebSocket over HTTP/2 (RFC 8441) open to an echo server until
// the server ends it, for the shutdown check of run.sh: prints "open" once
// the WebSocket is up, "goaway" when the session receives GOAWAY, and
// "close CODE REASON" when the server's close frame arrives; exits 0 then,
// 1 after 20 s.
//
//   node node_h2_hold.js https://127.0.0.1:PORT/PATH

const http2 = require('http2');
const { Peer } = require('./h2ws');

const url = new URL(process.argv[2]);
const session = http2.connect(url.origin, { rejectUnauthorized: false });
session.on('error', (err) => console.log('session error ' + err.message));
session.on('goaway', () => console.log('goaway'));
setTimeout(() => { console.log('timeout'); process.exit(1); }, 20000).unref();
session.once('remoteSettings', () => {
  const stream = session.request({
    ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': url.protocol.replace(':', ''),
    ':path': url.pathname, ':authority': url.host, 'sec-websocket-version': '13',
  });
  stream.on('error', (err) => console.log('stream error ' + err.message));
  stream.once('response', async (h) => {
    if (h[':status'] !== 200) {
      console.log('status ' + h[':status']);
      process.exit(1);
    }
    const peer = new Peer(stream, { client: true });
    await peer.send('hello');
    await peer.recv();
    console.log('open');
    const info = await peer.closed();
    console.log(`close ${info.code} ${info.reason}`);
    // Let the stream end and the GOAWAY arrive, then leave.
    setTimeout(() => process.exit(0), 500);
  });
});
