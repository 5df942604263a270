package websocket

import "math/bits"

// This file is the compressor of outgoing messages under context takeover
// (RFC 7692, Section 7.1.1): a small raw-DEFLATE encoder (RFC 1951) that
// keeps, between messages, the last window of plaintext the peer's
// inflater holds, and finds matches in it and in the message. It is part of
// the protocol core: it works on byte slices only.
//
// Why not compress/flate. A flate.Writer is about 1.2 MiB (its hash chains
// live in the struct), too much to keep for the life of every connection,
// and it cannot be given a history without a Reset that clears it. The
// deflater here is a fixed-size value of deflaterSize bytes (about 16 KiB:
// the history buffer and a hash table), taken from a pool when a Conn
// sends its first compressed message and given back when the Conn ends.
//
// What it emits for a message: one fixed-Huffman block (BTYPE=01, RFC 1951,
// Section 3.2.6) of literals and matches, the end-of-block code, and the
// three header bits of an empty stored block padded to a byte: the sync
// flush of RFC 7692, Section 7.2.1 without its 00 00 FF FF, which the
// sender strips anyway. A dynamic Huffman header costs some 60 to 80 bytes,
// more than it saves on a message of a few hundred bytes; larger messages
// (from deflaterMaxMessage, sent with Conn.Write) go through
// compress/flate, then their tail enters the history (absorb). A message
// that fixed Huffman codes would make larger (random or compressed data)
// goes out as stored blocks instead (store): they enter the peer's window
// as well. A message streamed with Conn.Writer, whose size is not known
// when compression starts, always goes through the deflater.
//
// Matches never reach further than the window: min(2^sendWindowBits, the
// deflater's own deflaterWindow) and never before the history kept. Only
// plaintext of messages sent compressed enters it (an uncompressed message
// never reaches the peer's inflater), and a message that did not go out is
// taken back out (rollback).
//
// Figures, measured on a 2-core linux/amd64 VM, Go 1.26 (go test -run X
// -bench Deflater -benchtime 10000x -count 5 .: BenchmarkDeflaterTakeover
// and BenchmarkDeflaterPerMessage), over 10,000 JSON trade events of 108
// to 324 bytes (mean 215) with random prices, quantities, ids and times:
//
//	                                 output/plaintext   CPU per message
//	takeover (this file)             30.9% (saves 69%)  2.0-2.2 us
//	each on its own (compress/flate) 68.0% (saves 32%)  12-17 us
//	memory per Conn under takeover:  deflaterSize = 16,448 bytes, taken on
//	                                 the first compressed message, given
//	                                 back when the Conn ends
//
// The VM is noisy: single runs took up to twice as long, both ways. A
// window of 8 or 16 KiB (deflaterWindow) saved under one point more on
// these events, for twice or four times the buffer; a table of 8192
// entries 0.2 points; the one-step lazy match in compress one point. The figure depends on the traffic: the random digits
// of these events are most of what is left; events with fewer changing
// fields shrink further.

const (
	// deflaterWindow is the most history the deflater keeps and refers
	// to; the peer may allow up to 32 KiB, and a smaller window is always
	// valid.
	deflaterWindow = 4 << 10

	// deflaterHashBits sizes the hash table of 4-byte sequences.
	deflaterHashBits = 12

	// deflaterMaxMessage is the size from which Conn.Write sends a message
	// through compress/flate (dynamic Huffman codes, 32 KiB searches)
	// instead of the deflater.
	deflaterMaxMessage = 32 << 10

	deflaterMinMatch = 4
	deflaterMaxMatch = 258
)

// deflater is the compression context of a Conn under send takeover. buf
// holds the history (buf[:n], of which at most window bytes are used) and
// the message being encoded after it; table maps the hash of 4 bytes to
// their last position in buf, plus one (0: none).
type deflater struct {
	buf    [2 * deflaterWindow]byte
	table  [1 << deflaterHashBits]uint16
	n      int // bytes in buf
	window int // the farthest a match may reach
	mark   int // n when the message began; -1: history before it lost
	bits   uint64
	nbits  uint
	stored bool // the message went out as stored blocks: end adds nothing
}

// deflaterSize is what a deflater costs.
const deflaterSize = 2*deflaterWindow + 2<<deflaterHashBits + 64

// reset empties the history and sets the window for a peer that allows
// 2^windowBits.
func (d *deflater) reset(windowBits int) {
	d.n, d.mark, d.bits, d.nbits = 0, 0, 0, 0
	d.window = min(1<<windowBits, deflaterWindow)
	clear(d.table[:])
}

// begin starts a message: a fixed-Huffman block, not the last (BFINAL=0,
// BTYPE=01). The message stays in the history unless rollback takes it
// out before the next begin.
func (d *deflater) begin() {
	d.mark = d.n
	d.bits, d.nbits, d.stored = 2, 3, false
}

// deflaterBound is the most that encode appends for n bytes of input, and
// end after it: 9 bits a byte at worst, what was pending, the end.
func deflaterBound(n int) int { return n + n/8 + 16 }

// encode appends the encoding of p to dst, which must have room for
// deflaterBound(len(p)) bytes; p enters the history.
func (d *deflater) encode(dst, p []byte) []byte {
	for len(p) > 0 {
		if d.n == len(d.buf) {
			d.slide()
		}
		k := copy(d.buf[d.n:], p)
		dst = d.compress(dst, d.n, d.n+k)
		d.n += k
		p = p[k:]
	}
	return dst
}

// end appends the end of the message: the end-of-block code (7 zero bits),
// the header of an empty stored block (3 zero bits), and padding to the
// byte. The stored block's LEN and NLEN, 00 00 FF FF, are left out.
func (d *deflater) end(dst []byte) []byte {
	if d.stored {
		d.stored = false
		return dst
	}
	d.nbits += 10
	for d.nbits > 0 {
		dst = append(dst, byte(d.bits))
		d.bits >>= 8
		d.nbits = d.nbits - min(d.nbits, 8)
	}
	d.bits, d.nbits = 0, 0
	return dst
}

// rollback takes the message being encoded back out of the history: it
// did not reach the peer. If the history before it was slid out to make
// room, the history is dropped instead, which is valid too: the peer's
// window holds more than the deflater refers to.
func (d *deflater) rollback() {
	if d.mark < 0 {
		d.n = 0
	} else {
		d.n = d.mark
	}
	d.mark = d.n
	d.bits, d.nbits = 0, 0
	// Entries of the table may now point at or past n, or at bytes that
	// will change: compress checks every candidate against the bytes.
}

// storeBetter reports whether a message of n bytes that encoded to
// encoded bytes is better sent as stored blocks: random or compressed
// data, whose bytes take 8.4 bits each in fixed Huffman codes.
func storeBetter(n, encoded int) bool { return encoded > n+n>>15*5+6 }

// store appends p, the whole message, as stored blocks (RFC 1951, Section
// 3.2.4) and the header of the empty stored block that ends the message;
// p enters the history. It is what a message that encode would make
// larger becomes: called after rollback and begin, instead of encode, and
// end then adds nothing. dst must have room for deflaterBound(len(p))
// bytes.
func (d *deflater) store(dst, p []byte) []byte {
	d.bits, d.nbits, d.stored = 0, 0, true
	d.absorb(p)
	for {
		k := min(len(p), 65535)
		dst = append(dst, 0, byte(k), byte(k>>8), ^byte(k), ^byte(k>>8))
		dst = append(dst, p[:k]...)
		if p = p[k:]; len(p) == 0 {
			return append(dst, 0)
		}
	}
}

// absorb puts p, a message sent by other means (compress/flate, stored
// blocks), into the history: its last window bytes, hashed for later
// matches.
func (d *deflater) absorb(p []byte) {
	if len(p) > d.window {
		p = p[len(p)-d.window:]
	}
	if d.n+len(p) > len(d.buf) {
		d.slide()
	}
	start := d.n
	d.n += copy(d.buf[d.n:], p)
	for i := start; i+deflaterMinMatch <= d.n; i++ {
		d.table[hash4(d.buf[i:])] = uint16(i + 1)
	}
}

// slide keeps the last window bytes of the history at the front of buf and
// moves the table with them.
func (d *deflater) slide() {
	shift := d.n - d.window
	if shift <= 0 {
		return
	}
	copy(d.buf[:], d.buf[shift:d.n])
	d.n -= shift
	d.mark -= shift
	if d.mark < 0 {
		d.mark = -1
	}
	s := uint16(shift)
	for i, v := range d.table {
		if v > s {
			d.table[i] = v - s
		} else {
			d.table[i] = 0
		}
	}
}

func load32(b []byte, i int) uint32 {
	b = b[i : i+4]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

func hash4(b []byte) uint32 {
	return (load32(b, 0) * 0x1e35a7bd) >> (32 - deflaterHashBits)
}

// compress encodes buf[start:end] with greedy matching, one step lazy,
// against everything in buf before it, within the window.
func (d *deflater) compress(dst []byte, start, end int) []byte {
	buf := d.buf[:end]
	bits, nbits := d.bits, d.nbits
	i := start
	for i < end {
		n, dist := 0, 0
		if i+deflaterMinMatch <= end {
			cur := load32(buf, i)
			h := (cur * 0x1e35a7bd) >> (32 - deflaterHashBits)
			cand := int(d.table[h]) - 1
			d.table[h] = uint16(i + 1)
			if cand >= 0 && cand < i && i-cand <= d.window && load32(buf, cand) == cur {
				n = deflaterMinMatch
				limit := min(end-i, deflaterMaxMatch)
				for n < limit && buf[cand+n] == buf[i+n] {
					n++
				}
				dist = i - cand
			}
		}
		if n > 0 && n < 32 && i+1+deflaterMinMatch <= end {
			// Lazy: a longer match one byte on is worth a literal.
			next := load32(buf, i+1)
			h2 := (next * 0x1e35a7bd) >> (32 - deflaterHashBits)
			c2 := int(d.table[h2]) - 1
			if c2 >= 0 && c2 < i+1 && i+1-c2 <= d.window && load32(buf, c2) == next {
				m := deflaterMinMatch
				limit := min(end-i-1, deflaterMaxMatch)
				for m < limit && buf[c2+m] == buf[i+1+m] {
					m++
				}
				if m > n+1 {
					n = 0
				}
			}
		}
		if n == 0 {
			c := fixedLit[buf[i]]
			bits |= uint64(c.code) << nbits
			nbits += uint(c.len)
			i++
		} else {
			c := fixedLength[n-deflaterMinMatch]
			bits |= uint64(c.code) << nbits
			nbits += uint(c.len)
			c = distCode(dist)
			bits |= uint64(c.code) << nbits
			nbits += uint(c.len)
			for j := i + 1; j < i+n && j+deflaterMinMatch <= end; j++ {
				d.table[hash4(buf[j:])] = uint16(j + 1)
			}
			i += n
		}
		if nbits >= 32 {
			dst = append(dst, byte(bits), byte(bits>>8), byte(bits>>16), byte(bits>>24))
			bits >>= 32
			nbits -= 32
		}
	}
	d.bits, d.nbits = bits, nbits
	return dst
}

// huffCode is a code as it goes out: bit-reversed (Huffman codes are
// packed starting with their most significant bit, RFC 1951, Section
// 3.1.1), followed by its extra bits, len bits in all.
type huffCode struct {
	code uint32
	len  uint8
}

var (
	fixedLit    [256]huffCode                                     // literal bytes
	fixedLength [deflaterMaxMatch - deflaterMinMatch + 1]huffCode // lengths 4 to 258, with extra bits
	fixedDist   [30]huffCode                                      // distance codes, without extra bits
)

// lengthBase, lengthExtra, distBase and distExtra are in inflate_huffman.go.

func reverse(code uint32, n uint8) uint32 { return uint32(bits.Reverse16(uint16(code))) >> (16 - n) }

// fixedSymbol is the fixed Huffman code of a literal/length symbol (RFC
// 1951, Section 3.2.6).
func fixedSymbol(v int) huffCode {
	switch {
	case v < 144:
		return huffCode{reverse(uint32(0x30+v), 8), 8}
	case v < 256:
		return huffCode{reverse(uint32(0x190+v-144), 9), 9}
	case v < 280:
		return huffCode{reverse(uint32(v-256), 7), 7}
	default:
		return huffCode{reverse(uint32(0xc0+v-280), 8), 8}
	}
}

func init() {
	for v := range 256 {
		fixedLit[v] = fixedSymbol(v)
	}
	code := 0
	for n := deflaterMinMatch; n <= deflaterMaxMatch; n++ {
		for code+1 < len(lengthBase) && int(lengthBase[code+1]) <= n {
			code++
		}
		s := fixedSymbol(257 + code)
		s.code |= uint32(n-int(lengthBase[code])) << s.len
		s.len += lengthExtra[code]
		fixedLength[n-deflaterMinMatch] = s
	}
	for c := range fixedDist {
		fixedDist[c] = huffCode{reverse(uint32(c), 5), 5}
	}
}

// distCode is the code of a distance with its extra bits.
func distCode(dist int) huffCode {
	// The code is the position of the highest bit of dist-1 twice, plus
	// the bit below it.
	c := 0
	if d := uint32(dist - 1); d < 4 {
		c = int(d)
	} else {
		hb := bits.Len32(d) - 1
		c = 2*hb + int(d>>(hb-1)&1)
	}
	s := fixedDist[c]
	s.code |= uint32(dist-int(distBase[c])) << s.len
	s.len += distExtra[c]
	return s
}
