// An RFC 8441 peer for TestNodeInterop: Node's http2 (nghttp2) over h2c
// with SETTINGS_ENABLE_CONNECT_PROTOCOL=1. Extended CONNECT streams with
// :protocol websocket are echoed; /refuse answers 403 with a body. It
// prints its port, then serves until stdin closes.
const http2 = require('http2');

const server = http2.createServer({ settings: { enableConnectProtocol: true } });
let n = 0;
server.on('stream', (stream, headers) => {
  if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
    stream.respond({ ':status': 400 });
    stream.end('not an extended CONNECT');
    return;
  }
  if (headers[':path'] === '/refuse') {
    stream.respond({ ':status': 403, 'content-type': 'text/plain' });
    stream.end('refused by node');
    return;
  }
  n++;
  // The same fields on every response let nghttp2 index them and refer to
  // its dynamic table, and the counter makes each response differ.
  stream.respond({
    ':status': 200,
    'sec-websocket-protocol': headers['sec-websocket-protocol'] || 'none',
    'x-node-stream': String(n),
    'x-node-static': 'the same value on every response',
  });
  stream.pipe(stream);
});
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(server.address().port + '\n');
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
