'use strict';
// Wire-level checks of permessage-deflate (RFC 7692) for the Node test
// scripts, independent of both the library under test and zlib:
//
//   FrameTap      sees the raw bytes a socket receives (before the "ws"
//                 package parses them) and rebuilds every data message as
//                 it was on the wire: opcode, RSV1, frame count, payload.
//   inspectDeflate decodes a raw DEFLATE stream (RFC 1951) and reports
//                 every back-reference distance, so a sender that promised
//                 a window of 2^bits bytes (server_max_window_bits /
//                 client_max_window_bits) can be held to it exactly.
//
// zlib's inflate does not do that: it only rejects a distance reaching
// before its window *and* before what the current inflate() call wrote, so
// with a large output buffer (as ws and Python use) it accepts references
// far beyond a small window.

// ---- DEFLATE decoding (after Mark Adler's puff.c) ----

class Truncated extends Error {}

const LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
const CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

// A canonical Huffman code as a lookup table: for every 9-bit (or fewer)
// prefix, the symbol and its length; longer codes fall back to a walk.
class Huffman {
  constructor(lengths) {
    const count = new Int32Array(16);
    for (const l of lengths) count[l]++;
    count[0] = 0;
    let left = 1;
    for (let len = 1; len <= 15; len++) {
      left = (left << 1) - count[len];
      if (left < 0) throw new Error('over-subscribed Huffman code');
    }
    const offs = new Int32Array(16);
    for (let len = 1; len < 15; len++) offs[len + 1] = offs[len] + count[len];
    const symbol = new Int32Array(lengths.length);
    for (let s = 0; s < lengths.length; s++) if (lengths[s]) symbol[offs[lengths[s]]++] = s;
    this.count = count;
    this.symbol = symbol;
    // Fast table: index by the next 9 bits (LSB first as read); entry =
    // symbol << 4 | length, or -1 when the code is longer than 9 bits.
    const FAST = 9;
    const table = new Int32Array(1 << FAST).fill(-1);
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len <= 15; len++) {
      const n = count[len];
      if (len <= FAST) {
        for (let k = 0; k < n; k++) {
          // code (first + k) of length len, MSB first; reverse it.
          let c = code + k;
          let r = 0;
          for (let b = 0; b < len; b++) { r = (r << 1) | (c & 1); c >>= 1; }
          for (let fill = r; fill < 1 << FAST; fill += 1 << len) table[fill] = (symbol[index + k] << 4) | len;
        }
      }
      index += n;
      first += n;
      code = (code + n) << 1;
    }
    void first;
    this.table = table;
  }
}

class Bits {
  constructor(buf) {
    this.buf = buf;
    this.pos = 0;
    this.bitbuf = 0;
    this.bitcnt = 0;
  }

  need(n) {
    while (this.bitcnt < n) {
      if (this.pos >= this.buf.length) throw new Truncated('deflate data ends in the middle of a block');
      this.bitbuf |= this.buf[this.pos++] << this.bitcnt;
      this.bitcnt += 8;
    }
  }

  bits(n) {
    this.need(n);
    const v = this.bitbuf & ((1 << n) - 1);
    this.bitbuf >>>= n;
    this.bitcnt -= n;
    return v;
  }

  decode(h) {
    // Peek up to 9 bits without requiring them all (the stream may end
    // with a short code).
    while (this.bitcnt < 9 && this.pos < this.buf.length) {
      this.bitbuf |= this.buf[this.pos++] << this.bitcnt;
      this.bitcnt += 8;
    }
    const e = h.table[this.bitbuf & 511];
    if (e >= 0 && (e & 15) <= this.bitcnt) {
      this.bitbuf >>>= e & 15;
      this.bitcnt -= e & 15;
      return e >> 4;
    }
    // Slow path, bit by bit.
    let code = 0;
    let first = 0;
    let index = 0;
    for (let len = 1; len <= 15; len++) {
      code |= this.bits(1);
      const count = h.count[len];
      if (code - count < first) return h.symbol[index + (code - first)];
      index += count;
      first += count;
      first <<= 1;
      code <<= 1;
    }
    throw new Error('invalid Huffman code');
  }
}

let FIXED = null;
function fixedCodes() {
  if (!FIXED) {
    const l = new Array(288);
    for (let i = 0; i < 144; i++) l[i] = 8;
    for (let i = 144; i < 256; i++) l[i] = 9;
    for (let i = 256; i < 280; i++) l[i] = 7;
    for (let i = 280; i < 288; i++) l[i] = 8;
    FIXED = { lit: new Huffman(l), dist: new Huffman(new Array(30).fill(5)) };
  }
  return FIXED;
}

function dynamicCodes(s) {
  const nlen = s.bits(5) + 257;
  const ndist = s.bits(5) + 1;
  const ncode = s.bits(4) + 4;
  if (nlen > 286 || ndist > 30) throw new Error('bad dynamic block counts');
  const cl = new Array(19).fill(0);
  for (let i = 0; i < ncode; i++) cl[CL_ORDER[i]] = s.bits(3);
  const clh = new Huffman(cl);
  const lengths = [];
  while (lengths.length < nlen + ndist) {
    const sym = s.decode(clh);
    if (sym < 16) { lengths.push(sym); continue; }
    let len = 0;
    let rep;
    if (sym === 16) {
      if (!lengths.length) throw new Error('repeat with no first length');
      len = lengths[lengths.length - 1];
      rep = 3 + s.bits(2);
    } else if (sym === 17) rep = 3 + s.bits(3);
    else rep = 11 + s.bits(7);
    if (lengths.length + rep > nlen + ndist) throw new Error('too many code lengths');
    for (let i = 0; i < rep; i++) lengths.push(len);
  }
  if (!lengths[256]) throw new Error('no end-of-block code');
  return { lit: new Huffman(lengths.slice(0, nlen)), dist: new Huffman(lengths.slice(nlen)) };
}

// inspectDeflate decodes buf, a raw DEFLATE stream (a permessage-deflate
// message payload with 00 00 FF FF appended), without producing output.
//   windowBits: the window the sender promised (8 to 15)
//   history:    bytes of earlier messages the sender may refer to (0 when
//               it does not use context takeover)
// It returns { out, maxDist, violations, firstViolation, blocks: {stored,
// fixed, dynamic}, trailing } where out is the inflated length and a
// violation is a distance beyond the window or beyond the data available.
// It throws on malformed data.
function inspectDeflate(buf, windowBits, history = 0) {
  const window = 1 << windowBits;
  const s = new Bits(buf);
  const res = { out: 0, maxDist: 0, violations: 0, firstViolation: null, blocks: { stored: 0, fixed: 0, dynamic: 0 }, trailing: 0 };
  for (;;) {
    if (s.pos >= buf.length && s.bitcnt < 3) break; // ended at a block boundary (after the sync marker)
    const last = s.bits(1);
    const type = s.bits(2);
    if (type === 0) {
      res.blocks.stored++;
      // Skip to a byte boundary: drop the rest of the current byte and give
      // back the whole bytes decode() read ahead.
      s.pos -= s.bitcnt >> 3;
      s.bitbuf = 0;
      s.bitcnt = 0;
      if (s.pos + 4 > buf.length) throw new Truncated('stored block header truncated');
      const len = buf[s.pos] | (buf[s.pos + 1] << 8);
      const nlen = buf[s.pos + 2] | (buf[s.pos + 3] << 8);
      if (len !== (~nlen & 0xffff)) throw new Error('stored block length check failed');
      s.pos += 4;
      if (s.pos + len > buf.length) throw new Truncated('stored block data truncated');
      s.pos += len;
      res.out += len;
    } else if (type === 1 || type === 2) {
      let codes;
      if (type === 1) { res.blocks.fixed++; codes = fixedCodes(); } else { res.blocks.dynamic++; codes = dynamicCodes(s); }
      for (;;) {
        const sym = s.decode(codes.lit);
        if (sym < 256) { res.out++; continue; }
        if (sym === 256) break;
        const li = sym - 257;
        if (li >= 29) throw new Error('invalid length symbol ' + sym);
        const len = LEN_BASE[li] + s.bits(LEN_EXTRA[li]);
        const di = s.decode(codes.dist);
        if (di >= 30) throw new Error('invalid distance symbol ' + di);
        const dist = DIST_BASE[di] + s.bits(DIST_EXTRA[di]);
        if (dist > res.maxDist) res.maxDist = dist;
        if (dist > window || dist > res.out + history) {
          res.violations++;
          if (!res.firstViolation) res.firstViolation = { dist, at: res.out, window, available: res.out + history };
        }
        res.out += len;
      }
    } else {
      throw new Error('invalid block type 3');
    }
    if (last) {
      res.trailing = buf.length - (s.pos - (s.bitcnt >> 3));
      break;
    }
  }
  return res;
}

// ---- frame tap ----

const SYNC_TAIL = Buffer.from([0x00, 0x00, 0xff, 0xff]);

// FrameTap parses the byte stream a socket receives. It must see the bytes
// before "ws" does (ws unmasks in place): attach with tap.attach(socket),
// which uses prependListener. For every complete data message it calls
// onMessage({ opcode, compressed, frames, payload }), payload being the
// concatenated frame payloads (unmasked) as sent on the wire.
class FrameTap {
  constructor(onMessage) {
    this.onMessage = onMessage;
    this.hdr = Buffer.alloc(0);
    this.frame = null; // { fin, rsv, opcode, masked, key, remaining, offset }
    this.msg = null; // { opcode, compressed, frames, parts }
    this.error = null;
    this.bytes = 0;
  }

  attach(socket) {
    socket.prependListener('data', (chunk) => {
      try {
        this.push(chunk);
      } catch (err) {
        if (!this.error) this.error = err;
      }
    });
  }

  push(chunk) {
    this.bytes += chunk.length;
    let p = 0;
    while (p < chunk.length) {
      if (!this.frame) {
        const take = Math.min(14 - this.hdr.length, chunk.length - p);
        const h = Buffer.concat([this.hdr, chunk.subarray(p, p + take)]);
        const parsed = parseHeader(h);
        if (!parsed) { this.hdr = h; p += take; continue; }
        p += parsed.size - this.hdr.length;
        this.hdr = Buffer.alloc(0);
        this.frame = parsed;
        this.startFrame();
        if (this.frame.remaining === 0) this.endFrame();
        continue;
      }
      const n = Math.min(this.frame.remaining, chunk.length - p);
      let part = chunk.subarray(p, p + n);
      if (this.frame.masked) {
        part = Buffer.from(part); // copy: never touch bytes ws will parse
        const k = this.frame.key;
        const off = this.frame.offset;
        for (let i = 0; i < part.length; i++) part[i] ^= k[(off + i) & 3];
      }
      this.frame.offset += n;
      this.frame.remaining -= n;
      if (this.frame.opcode < 8) this.msg.parts.push(part);
      p += n;
      if (this.frame.remaining === 0) this.endFrame();
    }
  }

  startFrame() {
    const f = this.frame;
    if (f.opcode >= 8) return; // control frames are not part of messages
    if (f.opcode !== 0) {
      if (this.msg) throw new Error('new data frame inside a fragmented message');
      this.msg = { opcode: f.opcode, compressed: (f.rsv & 4) !== 0, frames: 0, rsvLater: 0, parts: [] };
    } else if (!this.msg) {
      throw new Error('continuation frame without a message');
    } else if (f.rsv & 4) {
      this.msg.rsvLater++;
    }
    this.msg.frames++;
  }

  endFrame() {
    const f = this.frame;
    this.frame = null;
    if (f.opcode >= 8 || !f.fin) return;
    const m = this.msg;
    this.msg = null;
    this.onMessage({ opcode: m.opcode, compressed: m.compressed, frames: m.frames, rsvOnContinuation: m.rsvLater, payload: Buffer.concat(m.parts) });
  }
}

function parseHeader(b) {
  if (b.length < 2) return null;
  let len = b[1] & 0x7f;
  const masked = (b[1] & 0x80) !== 0;
  let size = 2;
  if (len === 126) {
    if (b.length < 4) return null;
    len = b.readUInt16BE(2);
    size = 4;
  } else if (len === 127) {
    if (b.length < 10) return null;
    len = Number(b.readBigUInt64BE(2));
    size = 10;
  }
  let key = null;
  if (masked) {
    if (b.length < size + 4) return null;
    key = Buffer.from(b.subarray(size, size + 4));
    size += 4;
  }
  return { size, fin: (b[0] & 0x80) !== 0, rsv: (b[0] >> 4) & 7, opcode: b[0] & 0x0f, masked, key, remaining: len, offset: 0 };
}

// MessageChecker turns the tap's messages into per-message verdicts for one
// direction of one connection: windowBits is what the sender promised,
// takeover whether it may refer to earlier messages.
class MessageChecker {
  constructor(windowBits, takeover) {
    this.windowBits = windowBits;
    this.takeover = takeover;
    this.seen = 0; // inflated bytes of earlier messages
    this.results = [];
    this.waiters = [];
  }

  onMessage(m) {
    const r = { opcode: m.opcode, compressed: m.compressed, frames: m.frames, wire: m.payload.length, rsvOnContinuation: m.rsvOnContinuation };
    if (m.compressed) {
      try {
        const d = inspectDeflate(Buffer.concat([m.payload, SYNC_TAIL]), this.windowBits, this.takeover ? Math.min(this.seen, 1 << 15) : 0);
        Object.assign(r, { out: d.out, maxDist: d.maxDist, violations: d.violations, firstViolation: d.firstViolation, blocks: d.blocks });
      } catch (err) {
        r.error = err.message;
      }
    } else {
      r.out = m.payload.length;
    }
    if (r.out !== undefined) this.seen += r.out;
    const w = this.waiters.shift();
    if (w) w(r); else this.results.push(r);
  }

  // next resolves with the verdict of the next message received.
  next() {
    if (this.results.length) return Promise.resolve(this.results.shift());
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}

// verdictError returns why a verdict fails, or null. wantLen is the
// message's inflated length; wantCompressed true/false/undefined (either).
function verdictError(r, wantLen, wantCompressed) {
  if (r.error) return 'wire check: ' + r.error;
  if (r.rsvOnContinuation) return `RSV1 set on ${r.rsvOnContinuation} continuation frame(s)`;
  if (wantCompressed === true && !r.compressed) return `sent uncompressed (RSV1 clear, ${r.wire} bytes), want compressed`;
  if (wantCompressed === false && r.compressed) return `sent compressed (RSV1 set), want uncompressed below the threshold`;
  if (r.out !== wantLen) return `wire payload inflates to ${r.out} bytes, want ${wantLen}`;
  if (r.violations) {
    const v = r.firstViolation;
    return `${r.violations} back-reference(s) outside the window: distance ${v.dist} at output byte ${v.at}, window ${v.window}, data available ${v.available}`;
  }
  return null;
}

module.exports = { inspectDeflate, FrameTap, MessageChecker, verdictError, Truncated };
