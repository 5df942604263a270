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

module.exports = { SIZES, UTF8_CASES, sizeName, makeText, makeBinary };
