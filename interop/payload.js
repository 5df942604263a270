'use strict';
// Payload helpers shared by the Node test scripts (and, as a string, by the
// browser page). Texts are valid UTF-8 of an exact byte length that mix 1-,
// 2-, 3- and 4-byte sequences; binaries are random bytes.

const crypto = require('crypto');

const SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20];

const UTF8_CASES = [
  ['greek', 'κόσμε'],
  ['emoji', '😀🎉👍🏽 🧑‍🚀'],
  ['cjk', '日本語のテキスト, 中文, 한국어'],
  ['mixed', 'Hello-µ@ßöäüàá-UTF-8!! κόσμε 😀 日本'],
  ['max-codepoint', '\u{10FFFF}\u{FFFF}\u{E000}'],
  ['bom-nul', '\uFEFFbom and nul\u0000byte'],
];

function sizeName(n) {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return (n >> 20) + 'MiB';
  return String(n);
}

// makeText returns a string whose UTF-8 encoding is exactly n bytes.
function makeText(n) {
  const unit = 'abc κόσμε 😀 日本語 '; // 1+1+1+1+10+1+4+1+9+1 = 30 bytes
  const unitLen = Buffer.byteLength(unit);
  const reps = Math.floor(n / unitLen);
  let s = unit.repeat(reps);
  s += 'x'.repeat(n - reps * unitLen);
  if (Buffer.byteLength(s) !== n) throw new Error('makeText length bug');
  return s;
}

function makeBinary(n) {
  return crypto.randomBytes(n);
}

// makeJSON returns compressible JSON-like text (records with multi-byte
// UTF-8) whose UTF-8 encoding is exactly n bytes, padded with spaces.
function makeJSON(n) {
  const parts = [];
  let len = 0;
  for (let i = 0; ; i++) {
    const rec = `{"id":${i},"user":"user-${i % 97}","name":"κόσμε ${i % 13} 😀","tags":["日本語","alpha","beta"],"score":${(i * 7919) % 1000}.${i % 10},"ok":${i % 3 === 0}},`;
    const l = Buffer.byteLength(rec);
    if (len + l > n) break;
    parts.push(rec);
    len += l;
  }
  return parts.join('') + ' '.repeat(n - len);
}

// makePeriodic returns n bytes repeating one random block of `period`
// bytes: a compressor finds matches exactly `period` bytes back, so with a
// period just over a negotiated window it shows whether the sender keeps to
// the window.
function makePeriodic(n, period) {
  const block = crypto.randomBytes(period);
  const out = Buffer.alloc(n);
  for (let i = 0; i < n; i += period) block.copy(out, i, 0, Math.min(period, n - i));
  return out;
}

module.exports = { SIZES, UTF8_CASES, sizeName, makeText, makeBinary, makeJSON, makePeriodic };
