'use strict';
// WebSocket framing (RFC 6455) and permessage-deflate (RFC 7692) on any
// duplex stream, written here for the HTTP/2 interop scripts: an RFC 8441
// WebSocket is an HTTP/2 stream (Node's http2 ClientHttp2Stream or
// ServerHttp2Stream) carrying plain WebSocket frames, and no Node package
// speaks it. node_h2_client.js (client: masks) and node_h2_server.js
// (server: unmasks and echoes) use it.
//
// A Peer delivers whole messages in order (recv), answers pings, answers a
// close frame with one of the same code, and counts protocol violations of
// the other side (wrong masking, bad opcodes or fragmentation).

const crypto = require('crypto');
const zlib = require('zlib');

const OP = { cont: 0, text: 1, binary: 2, close: 8, ping: 9, pong: 10 };
const TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

// parseExtensions parses a Sec-WebSocket-Extensions value into
// [{name, params: {key: value|true}}].
function parseExtensions(value) {
  if (!value) return [];
  return String(value).split(',').map((ext) => {
    const parts = ext.split(';').map((s) => s.trim()).filter(Boolean);
    const params = {};
    for (const p of parts.slice(1)) {
      const i = p.indexOf('=');
      if (i < 0) params[p] = true; else params[p.slice(0, i).trim()] = p.slice(i + 1).trim().replace(/^"|"$/g, '');
    }
    return { name: parts[0], params };
  }).filter((e) => e.name);
}

// zflush writes data into a zlib stream and resolves with the output of a
// Z_SYNC_FLUSH after it.
function zflush(z, data) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    const onData = (c) => chunks.push(c);
    const onError = (err) => { z.off('data', onData); reject(err); };
    z.on('data', onData);
    z.once('error', onError);
    if (data.length) z.write(data);
    z.flush(zlib.constants.Z_SYNC_FLUSH, () => {
      z.off('data', onData);
      z.off('error', onError);
      resolve(Buffer.concat(chunks));
    });
  });
}

class Peer {
  // opts: client (mask outgoing, want unmasked incoming), deflate: null or
  // {sendNoContext, sendWindowBits, recvWindowBits} (the negotiated
  // parameters as seen by this side).
  constructor(stream, opts = {}) {
    this.stream = stream;
    this.client = !!opts.client;
    this.deflate = opts.deflate || null;
    this.bufs = [];
    this.buffered = 0;
    this.frag = null; // message being assembled: {opcode, parts, compressed}
    this.queue = [];
    this.waiters = [];
    this.closeInfo = null; // close frame received: {code, reason}
    this.closeWaiters = [];
    this.closeSent = false;
    this.ended = false;
    this.violations = [];
    this.stats = { messages: 0, compressed: 0, frames: 0 };
    this.chain = Promise.resolve(); // incoming messages, in order
    this.sendChain = Promise.resolve(); // outgoing messages, in order
    if (this.deflate) {
      this.inflater = zlib.createInflateRaw({ windowBits: Math.max(9, this.deflate.recvWindowBits || 15) });
      if (!this.deflate.sendNoContext) this.deflater = this.newDeflater();
    }
    stream.on('data', (chunk) => this.onData(chunk));
    stream.on('end', () => this.onEnd('end of stream'));
    stream.on('close', () => this.onEnd('stream closed'));
    stream.on('error', (err) => this.onEnd('stream error: ' + err.message));
  }

  newDeflater() {
    return zlib.createDeflateRaw({ windowBits: Math.max(9, this.deflate.sendWindowBits || 15), memLevel: 8 });
  }

  violation(msg) {
    this.violations.push(msg);
    if (!this.closeSent) this.sendClose(1002, 'protocol error');
  }

  onEnd(why) {
    if (this.ended) return;
    this.ended = true;
    this.chain = this.chain.then(() => {
      if (!this.closeInfo) this.closeInfo = { code: 1006, reason: why, abnormal: true };
      this.wake();
    });
  }

  wake() {
    if (this.closeInfo) {
      for (const w of this.waiters) w.reject(new Error(`closed (code ${this.closeInfo.code} "${this.closeInfo.reason}") while waiting for a message`));
      this.waiters = [];
      for (const w of this.closeWaiters) w(this.closeInfo);
      this.closeWaiters = [];
    }
  }

  onData(chunk) {
    this.bufs.push(chunk);
    this.buffered += chunk.length;
    try {
      while (this.parseFrame()) { /* next */ }
    } catch (err) {
      this.violation(String(err.message || err));
    }
  }

  peek(n) {
    if (this.bufs[0].length >= n) return this.bufs[0];
    const out = Buffer.alloc(n);
    let off = 0;
    for (const b of this.bufs) {
      off += b.copy(out, off, 0, Math.min(b.length, n - off));
      if (off === n) break;
    }
    return out;
  }

  take(n) {
    if (n === 0) return Buffer.alloc(0);
    this.buffered -= n;
    if (this.bufs[0].length > n) {
      const out = this.bufs[0].subarray(0, n);
      this.bufs[0] = this.bufs[0].subarray(n);
      return out;
    }
    if (this.bufs[0].length === n) return this.bufs.shift();
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const b = this.bufs[0];
      const k = Math.min(b.length, n - off);
      b.copy(out, off, 0, k);
      off += k;
      if (k === b.length) this.bufs.shift(); else this.bufs[0] = b.subarray(k);
    }
    return out;
  }

  parseFrame() {
    if (this.buffered < 2) return false;
    const h = this.peek(Math.min(14, this.buffered));
    const fin = (h[0] & 0x80) !== 0;
    const rsv1 = (h[0] & 0x40) !== 0;
    const rsv23 = h[0] & 0x30;
    const opcode = h[0] & 0x0f;
    const masked = (h[1] & 0x80) !== 0;
    let len = h[1] & 0x7f;
    let hl = 2;
    if (len === 126) {
      if (h.length < 4) return false;
      len = h.readUInt16BE(2);
      hl = 4;
    } else if (len === 127) {
      if (h.length < 10) return false;
      len = Number(h.readBigUInt64BE(2));
      hl = 10;
    }
    if (masked) hl += 4;
    if (this.buffered < hl + len) return false;
    const head = this.take(hl);
    let payload = this.take(len);
    this.stats.frames++;
    if (masked !== !this.client) {
      throw new Error(this.client ? 'server sent a masked frame' : 'client sent an unmasked frame');
    }
    if (masked) {
      const key = head.subarray(hl - 4, hl);
      payload = Buffer.from(payload); // own copy
      for (let i = 0; i < payload.length; i++) payload[i] ^= key[i & 3];
    }
    if (rsv23) throw new Error('RSV2/RSV3 set');
    if (opcode >= 8) {
      if (!fin || len > 125) throw new Error('fragmented or long control frame');
      if (rsv1) throw new Error('RSV1 on a control frame');
      this.onControl(opcode, payload);
      return true;
    }
    if (opcode === OP.cont) {
      if (!this.frag) throw new Error('continuation without a message');
      if (rsv1) throw new Error('RSV1 on a continuation frame');
      this.frag.parts.push(payload);
    } else if (opcode === OP.text || opcode === OP.binary) {
      if (this.frag) throw new Error('new message inside a fragmented one');
      if (rsv1 && !this.deflate) throw new Error('RSV1 without permessage-deflate');
      this.frag = { opcode, parts: [payload], compressed: rsv1 };
    } else {
      throw new Error('reserved opcode ' + opcode);
    }
    if (fin) {
      const m = this.frag;
      this.frag = null;
      this.deliver(m);
    }
    return true;
  }

  deliver(m) {
    const data = Buffer.concat(m.parts);
    // The message as it was on the wire, for deflate_check.js's
    // MessageChecker (RSV1 on a continuation never gets here).
    if (this.onWireMessage) this.onWireMessage({ opcode: m.opcode, compressed: m.compressed, frames: m.parts.length, payload: data, rsvOnContinuation: 0 });
    this.chain = this.chain.then(async () => {
      let payload = data;
      if (m.compressed) payload = await zflush(this.inflater, Buffer.concat([data, TAIL]));
      this.stats.messages++;
      if (m.compressed) this.stats.compressed++;
      const msg = { binary: m.opcode === OP.binary, data: payload, compressed: m.compressed, frames: m.parts.length };
      const w = this.waiters.shift();
      if (w) w.resolve(msg); else this.queue.push(msg);
    }).catch((err) => this.violation('inflate: ' + err.message));
  }

  onControl(opcode, payload) {
    if (opcode === OP.ping) {
      this.writeFrame(OP.pong, payload, true, false);
    } else if (opcode === OP.pong) {
      if (this.onPong) this.onPong(payload);
    } else if (opcode === OP.close) {
      let code = 1005;
      let reason = '';
      if (payload.length === 1) throw new Error('close frame of 1 byte');
      if (payload.length >= 2) {
        code = payload.readUInt16BE(0);
        reason = payload.subarray(2).toString('utf8');
      }
      this.chain = this.chain.then(() => {
        if (this.closeInfo) return;
        this.closeInfo = { code, reason };
        if (!this.closeSent) {
          // Echo the code (RFC 6455, Section 5.5.1), then end our side.
          this.sendClose(code === 1005 ? undefined : code, reason);
        }
        // After the close frame (sends are queued on sendChain).
        this.sendChain.then(() => {
          if (this.client) {
            // The server ends the stream; a client waits for it briefly.
            setTimeout(() => this.stream.end(), 2000).unref();
          } else {
            this.stream.end();
          }
        });
        this.wake();
      });
    }
  }

  writeFrame(opcode, payload, fin, rsv1, unmasked = false) {
    if (this.stream.destroyed || this.stream.writableEnded) return;
    const len = payload.length;
    const mask = this.client && !unmasked;
    const hl = (len < 126 ? 2 : len < 65536 ? 4 : 10) + (mask ? 4 : 0);
    const head = Buffer.alloc(hl);
    head[0] = (fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode;
    let off = 2;
    if (len < 126) {
      head[1] = len;
    } else if (len < 65536) {
      head[1] = 126;
      head.writeUInt16BE(len, 2);
      off = 4;
    } else {
      head[1] = 127;
      head.writeBigUInt64BE(BigInt(len), 2);
      off = 10;
    }
    if (mask) {
      head[1] |= 0x80;
      const key = crypto.randomBytes(4);
      key.copy(head, off);
      const masked = Buffer.allocUnsafe(len);
      for (let i = 0; i < len; i++) masked[i] = payload[i] ^ key[i & 3];
      payload = masked;
    }
    this.stream.write(len ? Buffer.concat([head, payload]) : head);
  }

  // send queues a message: data a string (text) or Buffer (binary unless
  // opts.text); opts.fragments splits it into that many frames,
  // opts.compress sends it with RSV1 (permessage-deflate), opts.between
  // (a function) runs between fragments (e.g. to inject a ping).
  send(data, opts = {}) {
    const binary = !(typeof data === 'string' || opts.text);
    const raw = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    const p = this.sendChain.then(async () => {
      let payload = raw;
      const compress = !!opts.compress;
      if (compress) {
        if (!this.deflate) throw new Error('compression not negotiated');
        const z = this.deflater || this.newDeflater();
        payload = await zflush(z, raw);
        if (!this.deflater) z.close();
        if (payload.length >= 4 && payload.subarray(-4).equals(TAIL)) payload = payload.subarray(0, -4);
        // A flush with nothing pending writes nothing: an empty message is
        // one empty stored block's first byte (RFC 7692, Section 7.2.3.6).
        if (payload.length === 0) payload = Buffer.from([0x00]);
      }
      const n = Math.max(1, Math.min(opts.fragments || 1, Math.max(1, payload.length)));
      const step = Math.ceil(payload.length / n) || 0;
      for (let i = 0; i < n; i++) {
        const part = payload.subarray(i * step, i === n - 1 ? payload.length : (i + 1) * step);
        this.writeFrame(i === 0 ? (binary ? OP.binary : OP.text) : OP.cont, part, i === n - 1, compress && i === 0);
        if (opts.between && i < n - 1) opts.between(this, i);
      }
    });
    this.sendChain = p.catch(() => {});
    return p;
  }

  ping(payload = Buffer.alloc(0)) { this.writeFrame(OP.ping, payload, true, false); }

  // writeRaw writes a frame as given (for invalid ones).
  writeRaw(opcode, payload, fin = true, rsv1 = false, unmasked = false) {
    this.sendChain = this.sendChain.then(() => this.writeFrame(opcode, payload, fin, rsv1, unmasked));
    return this.sendChain;
  }

  sendClose(code, reason = '') {
    this.closeSent = true;
    let payload = Buffer.alloc(0);
    if (code !== undefined) {
      const r = Buffer.from(reason, 'utf8');
      payload = Buffer.alloc(2 + r.length);
      payload.writeUInt16BE(code, 0);
      r.copy(payload, 2);
    }
    this.sendChain = this.sendChain.then(() => this.writeFrame(OP.close, payload, true, false));
    return this.sendChain;
  }

  // close sends a close frame and resolves with the peer's {code, reason}.
  close(code, reason) {
    if (!this.closeSent) this.sendClose(code, reason);
    return this.closed();
  }

  recv() {
    if (this.queue.length) return Promise.resolve(this.queue.shift());
    if (this.closeInfo) return Promise.reject(new Error(`closed (code ${this.closeInfo.code} "${this.closeInfo.reason}")`));
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  closed() {
    if (this.closeInfo) return Promise.resolve(this.closeInfo);
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }
}

module.exports = { Peer, OP, parseExtensions };
