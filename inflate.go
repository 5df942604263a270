package websocket

import (
	"encoding/binary"
	"errors"
)

// This file is part of the protocol core: a raw DEFLATE decoder (RFC 1951)
// for permessage-deflate (RFC 7692) that works on byte slices only.

// errCorruptDeflate is what inflater.inflate returns for input that is
// not valid DEFLATE data; the stream cannot go on.
var errCorruptDeflate = errors.New("websocket: corrupt deflate data")

// An inflater decodes raw DEFLATE streams (RFC 1951). It never does I/O:
// inflate is given the next compressed bytes and room for output, and
// stops at any byte boundary of either, keeping inside what it has taken
// but not yet decoded (a partial code, a partial block header, a match
// not yet copied out) until the next call. It exists so that a read
// interrupted by its context does not lose a compressed message: the
// Conn gives it what has arrived and, after the interruption, simply
// goes on with the bytes that follow. A decoder that pulled its input
// from a reader (compress/flate) cannot be stopped that way, as its
// error is sticky.
//
// A stream starts with reset, either with an empty history or with the
// history of the streams before it (RFC 7692, Section 7.2.2, context
// takeover: back-references may reach into earlier messages). Its end is
// either a block with BFINAL set (ended), or, for a permessage-deflate
// message, the empty stored block 00 00 ff ff the receiver appends to the
// message (RFC 7692, Section 7.2.2) after which the decoder is idle.
//
// Memory: about 8 KiB of Huffman tables and state in the value, and a
// history buffer that grows with the output up to the window (2^bits
// bytes, at most 32 KiB): a decoder that has decoded little holds little.
// release gives the history buffer back, so that a value can be pooled.
// The zero value is ready for a stream with an empty history and a 32 KiB
// window.
type inflater struct {
	// Input taken but not yet decoded: the next nbits (at most 63) bits
	// of the stream, the first in the least significant bit (RFC 1951,
	// Section 3.1.1). Above nbits, bits is zero.
	bits  uint64
	nbits uint

	state inflateState
	final bool  // the current block has BFINAL set
	fixed bool  // the current Huffman block uses the fixed codes
	err   error // sticky: the stream is corrupt

	stored int // inStored: bytes of the stored block left
	length int // inDistance, inCopy: the match length (left to copy)
	dist   int // inCopy: the match distance

	// A dynamic block header being read (RFC 1951, Section 3.2.7): HLIT
	// + 257, HDIST + 1, HCLEN + 4, the code lengths read so far, and the
	// table of the code length code. lens first holds the code lengths of
	// the code length alphabet, then those of the other two.
	nlit, ndist, nclen int
	nlens              int
	lens               [maxLitCodes + maxDistCodes]uint8
	codeLenTable       [1 << clRootBits]uint32
	codeLenBits        uint

	// Tables of the current dynamic block and their root bits (fixed
	// blocks use the package's fixedLitTable and fixedDistTable).
	litTable  [litTableSize]uint32
	distTable [distTableSize]uint32
	litBits   uint
	distBits  uint

	// The history: the last hlen bytes of output before the current
	// call, in a ring buffer whose length is a power of two (or zero)
	// and whose next byte goes at hpos (at the end meaning at 0). winBits
	// is log2 of the window (0 meaning 15).
	hist    []byte
	hpos    int
	hlen    int
	winBits uint8
}

// inflateState is where the decoder stands in the stream.
type inflateState uint8

const (
	inBlockHeader inflateState = iota // between blocks: BFINAL and BTYPE next (RFC 1951, Section 3.2.3)
	inStoredLen                       // a stored block: LEN and NLEN next (RFC 1951, Section 3.2.4)
	inStored                          // a stored block: its bytes
	inCounts                          // a dynamic block: HLIT, HDIST, HCLEN next (RFC 1951, Section 3.2.7)
	inCodeLenCode                     // a dynamic block: code lengths of the code length alphabet
	inCodeLens                        // a dynamic block: literal/length and distance code lengths
	inLitLen                          // a Huffman block: a literal/length code next
	inDistance                        // a Huffman block: the distance code of a match next
	inCopy                            // a Huffman block: a match being copied out
	inEnd                             // a block with BFINAL set ended the stream
)

// fastRoom is the output room the fast path needs for any symbol: the
// longest match, 258 bytes (RFC 1951, Section 3.2.5), copied 8 bytes at a
// time, which may write up to 7 bytes past its end.
const fastRoom = 258 + 8

// reset starts a new stream with a window of 2^windowBits bytes, the
// window bits negotiated for the peer's compressor (RFC 7692, Section
// 7.1.2; windowBits from 8 to 15, others taken as the nearest): a
// back-reference further back is an error. With keepHistory,
// back-references may reach into the output of the streams before
// (context takeover, RFC 7692, Section 7.1.1); without, the history is
// empty. A value that served another connection (from a pool) must start
// without keepHistory, or its history would be that connection's. A
// stream in progress, or failed, is abandoned.
func (f *inflater) reset(windowBits int, keepHistory bool) {
	f.bits, f.nbits = 0, 0
	f.state, f.final, f.fixed, f.err = inBlockHeader, false, false, nil
	f.stored, f.length, f.dist = 0, 0, 0
	f.winBits = uint8(min(max(windowBits, 8), 15))
	if !keepHistory {
		f.hpos, f.hlen = 0, 0
	} else if len(f.hist) < f.window() && f.hlen == len(f.hist) && f.hlen > 0 {
		// A larger window than the buffer was made for (not in RFC 7692,
		// where the window is the connection's): a full buffer must grow
		// before it is written to, not wrap around.
		f.grow(min(2*len(f.hist), f.window()))
	}
}

// resetDict starts a new stream whose history is the end of dict (a
// preset dictionary, as compress/flate.NewReaderDict takes).
func (f *inflater) resetDict(windowBits int, dict []byte) {
	f.reset(windowBits, false)
	f.remember(dict)
}

// release drops the history and its buffer, so that the value holds only
// its tables and can be pooled. The decoder is then as a zero value.
func (f *inflater) release() {
	f.reset(15, false)
	f.hist = nil
}

// idle reports whether the decoder stands at a block boundary with all
// the input it was given decoded and all its output delivered. After a
// permessage-deflate message and the sync tail 00 00 ff ff appended to it
// (RFC 7692, Section 7.2.2), this is how the receiver knows the message
// is complete.
func (f *inflater) idle() bool { return f.state == inBlockHeader && f.err == nil }

// ended reports whether a block with BFINAL set has ended the stream, all
// of its output delivered. Further input is ignored until reset.
func (f *inflater) ended() bool { return f.state == inEnd }

// window returns the largest distance a back-reference may have.
func (f *inflater) window() int {
	if f.winBits == 0 {
		return 1 << 15
	}
	return 1 << f.winBits
}

// inflate decodes src, the next bytes of the stream, into dst. It
// returns the number of bytes written to dst and taken from src.
//
// It takes all of src unless dst fills first; the caller then presents
// the rest of src again, with more room. Output the decoder still owes
// (a long match cut short by a small dst) comes with later calls, even
// with an empty src. Any split of the input and any size of dst give the
// same output. Input after the end of the stream (ended) is taken and
// ignored.
//
// Beyond nDst, dst may have been written to (it is scratch space, as for
// io.Reader.Read: a match is copied 8 bytes at a time and may write up
// to 7 bytes past its end). dst and src must not overlap.
//
// The error is errCorruptDeflate, or nil: truncated input is not an
// error, the decoder waits for more. After an error, nDst bytes of dst
// are the output decoded before it, and the stream cannot go on: every
// later call returns the error until reset.
//
// Once the history buffer has grown to the window, inflate allocates
// nothing.
func (f *inflater) inflate(dst, src []byte) (nDst, nSrc int, err error) {
	if f.err != nil {
		return 0, 0, f.err
	}
	d, p := 0, 0 // output written, input taken
loop:
	for {
		switch f.state {
		case inBlockHeader:
			p = f.fill(src, p)
			if f.nbits < 3 {
				break loop
			}
			f.final = f.bits&1 != 0
			typ := f.bits >> 1 & 3
			f.drop(3)
			switch typ {
			case 0:
				f.state = inStoredLen
			case 1:
				f.fixed = true
				f.state = inLitLen
			case 2:
				f.state = inCounts
			default:
				f.err = errCorruptDeflate // BTYPE 11 is reserved
				break loop
			}

		case inStoredLen:
			f.drop(f.nbits & 7) // the rest of the current byte
			p = f.fill(src, p)
			if f.nbits < 32 {
				break loop
			}
			n := uint16(f.bits)
			if uint16(f.bits>>16) != ^n {
				f.err = errCorruptDeflate // NLEN is not the complement of LEN
				break loop
			}
			f.drop(32)
			f.stored = int(n)
			f.state = inStored

		case inStored:
			// Whole bytes already in the bit buffer come first.
			for f.stored > 0 && f.nbits != 0 && d < len(dst) {
				dst[d] = byte(f.bits)
				f.drop(8)
				d++
				f.stored--
			}
			if f.nbits == 0 {
				n := min(f.stored, len(dst)-d, len(src)-p)
				if n == 1 {
					dst[d] = src[p] // no call to memmove for input in single bytes
				} else {
					copy(dst[d:d+n], src[p:p+n])
				}
				d += n
				p += n
				f.stored -= n
			}
			if f.stored > 0 {
				break loop // dst is full or src used up
			}
			f.endBlock()

		case inCounts:
			p = f.fill(src, p)
			if f.nbits < 14 {
				break loop
			}
			f.nlit = int(f.bits&31) + 257
			f.ndist = int(f.bits>>5&31) + 1
			f.nclen = int(f.bits>>10&15) + 4
			f.drop(14)
			if f.nlit > maxLitCodes || f.ndist > maxDistCodes {
				f.err = errCorruptDeflate
				break loop
			}
			f.lens = [len(f.lens)]uint8{}
			f.nlens = 0
			f.state = inCodeLenCode

		case inCodeLenCode:
			for f.nlens < f.nclen {
				p = f.fill(src, p)
				if f.nbits < 3 {
					break loop
				}
				f.lens[codeLenOrder[f.nlens]] = uint8(f.bits & 7)
				f.drop(3)
				f.nlens++
			}
			var ok bool
			if f.codeLenBits, ok = buildHuffman(f.codeLenTable[:], clRootBits, f.lens[:numCodeLenSym], clPayload[:]); !ok {
				f.err = errCorruptDeflate
				break loop
			}
			f.nlens = 0
			f.state = inCodeLens

		case inCodeLens:
			if !f.readCodeLens(src, &p) {
				break loop
			}
			nlit, total := f.nlit, f.nlit+f.ndist
			var ok1, ok2 bool
			f.litBits, ok1 = buildHuffman(f.litTable[:], litRootBits, f.lens[:nlit], litPayload[:])
			f.distBits, ok2 = buildHuffman(f.distTable[:], distRootBits, f.lens[nlit:total], distPayload[:])
			if !ok1 || !ok2 {
				f.err = errCorruptDeflate
				break loop
			}
			f.fixed = false
			f.state = inLitLen

		case inLitLen:
			if len(src)-p >= 8 && len(dst)-d >= fastRoom {
				d, p = f.decodeFast(dst, src, d, p)
				if f.err != nil {
					break loop
				}
				continue // the block ended, or the slow path takes over
			}
			// One symbol at a time, with whatever input there is.
			p = f.fill(src, p)
			lit, litBits, _, _ := f.tables()
			e := lookup(lit[:], litBits, f.bits)
			n := uint(e & 15)
			if n > f.nbits {
				break loop // a partial code
			}
			switch {
			case e&entryLiteral != 0:
				if d == len(dst) {
					break loop
				}
				dst[d] = byte(e >> entryValueShift)
				d++
				f.drop(n)
			case e&entryEOB != 0:
				f.drop(n)
				f.endBlock()
			case e&entryInvalid != 0:
				f.err = errCorruptDeflate
				break loop
			default:
				extra := uint(e >> entryExtraShift & 15)
				if n+extra > f.nbits {
					break loop
				}
				f.length = int(e>>entryValueShift) + int(f.bits>>n&(1<<extra-1))
				f.drop(n + extra)
				f.state = inDistance
			}

		case inDistance:
			p = f.fill(src, p)
			_, _, dist, distBits := f.tables()
			e := lookup(dist[:], distBits, f.bits)
			n, extra := uint(e&15), uint(e>>entryExtraShift&15)
			if e&entryInvalid != 0 && n <= f.nbits {
				f.err = errCorruptDeflate
				break loop
			}
			if n+extra > f.nbits {
				break loop
			}
			f.dist = int(e>>entryValueShift) + int(f.bits>>n&(1<<extra-1))
			f.drop(n + extra)
			if f.dist > f.window() || f.dist > d+f.hlen {
				f.err = errCorruptDeflate // further back than the window or the history
				break loop
			}
			f.state = inCopy

		case inCopy:
			if d == len(dst) {
				break loop
			}
			n := f.copyMatch(dst, d, f.dist, f.length)
			d += n
			f.length -= n
			if f.length == 0 {
				f.state = inLitLen
			}

		case inEnd:
			f.bits, f.nbits = 0, 0
			p = len(src)
			break loop
		}
	}
	f.remember(dst[:d])
	return d, p, f.err
}

// refill tops up the bit buffer b of nb bits from src[p:] to 56 bits or
// more, and returns the buffer and the new p. With 8 bytes of input or
// more it loads them at once, which leaves above nb the low bits of
// src[p]: loaded again by the next refill, they are ORed over themselves,
// and the caller clears them before it stores the buffer.
func refill(b uint64, nb uint, src []byte, p int) (uint64, uint, int) {
	if nb >= 56 {
		return b, nb, p
	}
	if len(src)-p >= 8 {
		b |= binary.LittleEndian.Uint64(src[p:]) << nb
		return b, nb | 56, p + int(63-nb)>>3
	}
	for ; nb < 56 && p < len(src); p++ {
		b |= uint64(src[p]) << nb
		nb += 8
	}
	return b, nb, p
}

// decodeFast decodes the symbols of a Huffman block while at least 8
// bytes of input and fastRoom bytes of output room are left: a refill of
// the bit buffer is then one 8-byte load, and no symbol needs a check for
// room. It returns when the block ends, on an error (f.err), or when
// either margin runs out; dst[:d] and src[:p] are the output and input so
// far.
func (f *inflater) decodeFast(dst, src []byte, d, p int) (int, int) {
	lit, litBits, dist, distBits := f.tables()
	litMask, distMask := uint64(1)<<litBits-1, uint64(1)<<distBits-1
	window := f.window()
	b, nb := f.bits, f.nbits
	for len(src)-p >= 8 && len(dst)-d >= fastRoom {
		// Refill to 56 bits or more. Bits above nb are then the low bits
		// of src[p]: loaded again by the next refill, they are ORed over
		// themselves.
		b |= binary.LittleEndian.Uint64(src[p:]) << nb
		p += int(63-nb) >> 3
		nb |= 56

		// A literal/length code, up to 15 bits, and its extra bits, up
		// to 5; a distance code, up to 15, and its extra bits, up to 13:
		// 48 bits in all, fewer than the refill guarantees.
		e := lit[b&litMask]
		if e&entrySub != 0 {
			e = lit[int(e>>entryValueShift)+int(b>>litBits&(1<<(e>>entryExtraShift&15)-1))]
		}
		n := uint(e & 15)
		if e&entryLiteral != 0 {
			b >>= n
			nb -= n
			dst[d] = byte(e >> entryValueShift)
			d++
			// At least 41 bits are left: enough for a second literal
			// without a refill, which literal-heavy data gains from.
			e = lit[b&litMask]
			if e&entryLiteral != 0 {
				n = uint(e & 15)
				b >>= n
				nb -= n
				dst[d] = byte(e >> entryValueShift)
				d++
			}
			continue
		}
		if e&(entryEOB|entryInvalid) != 0 {
			if e&entryInvalid != 0 {
				f.err = errCorruptDeflate
				break
			}
			b >>= n
			nb -= n
			f.endBlock()
			break
		}
		extra := uint(e >> entryExtraShift & 15)
		length := int(e>>entryValueShift) + int(b>>n&(1<<extra-1))
		b >>= n + extra
		nb -= n + extra

		e = dist[b&distMask]
		if e&entrySub != 0 {
			e = dist[int(e>>entryValueShift)+int(b>>distBits&(1<<(e>>entryExtraShift&15)-1))]
		}
		if e&entryInvalid != 0 {
			f.err = errCorruptDeflate
			break
		}
		n, extra = uint(e&15), uint(e>>entryExtraShift&15)
		distance := int(e>>entryValueShift) + int(b>>n&(1<<extra-1))
		b >>= n + extra
		nb -= n + extra

		if distance > d || distance > window {
			if distance > window || distance-d > f.hlen {
				f.err = errCorruptDeflate
				break
			}
			d += f.copyMatch(dst, d, distance, length) // reaches into the history
			continue
		}
		s := d - distance
		switch {
		case distance >= 8:
			// Each load reads bytes at least 8 before the store. Most
			// matches are short: the first 16 bytes go without a loop.
			binary.LittleEndian.PutUint64(dst[d:], binary.LittleEndian.Uint64(dst[s:]))
			binary.LittleEndian.PutUint64(dst[d+8:], binary.LittleEndian.Uint64(dst[s+8:]))
			for i := 16; i < length; i += 8 {
				binary.LittleEndian.PutUint64(dst[d+i:], binary.LittleEndian.Uint64(dst[s+i:]))
			}
		case distance == 1:
			v := uint64(dst[s]) * 0x0101010101010101
			for i := 0; i < length; i += 8 {
				binary.LittleEndian.PutUint64(dst[d+i:], v)
			}
		default:
			for i := range length {
				dst[d+i] = dst[s+i]
			}
		}
		d += length
	}
	f.bits, f.nbits = b&(1<<nb-1), nb
	return d, p
}

// tables returns the Huffman tables of the current block and their root
// bits.
func (f *inflater) tables() (lit *[litTableSize]uint32, litBits uint, dist *[distTableSize]uint32, distBits uint) {
	if f.fixed {
		return fixedLitTable, fixedLitBits, fixedDistTable, fixedDistBits
	}
	return &f.litTable, f.litBits, &f.distTable, f.distBits
}

// lookup returns the entry of table (see inflate_huffman.go) for the code
// at the start of bits. Bits not yet in the buffer read as zeros: the
// entry is right if its code length is no more than the bits there are.
func lookup(table []uint32, rootBits uint, bits uint64) uint32 {
	e := table[bits&(1<<rootBits-1)]
	if e&entrySub != 0 {
		e = table[int(e>>entryValueShift)+int(bits>>rootBits&(1<<(e>>entryExtraShift&15)-1))]
	}
	return e
}

// fill moves input bytes from src[p:] into the bit buffer, up to 56 bits
// or more, and returns the new p. The buffer keeps at most 63 bits.
func (f *inflater) fill(src []byte, p int) int {
	for f.nbits < 56 && p < len(src) {
		f.bits |= uint64(src[p]) << f.nbits
		f.nbits += 8
		p++
	}
	return p
}

// drop consumes n bits of the bit buffer.
func (f *inflater) drop(n uint) {
	f.bits >>= n
	f.nbits -= n
}

// endBlock moves on after the end of a block.
func (f *inflater) endBlock() {
	if f.final {
		f.state = inEnd
	} else {
		f.state = inBlockHeader
	}
}

// copyMatch copies into dst[d:] as much as fits of the match of length
// bytes at distance dist, which the caller has checked reaches no further
// back than dst[:d] and the history. It returns the bytes copied.
func (f *inflater) copyMatch(dst []byte, d, dist, length int) int {
	end := min(d+length, len(dst))
	start := d
	if dist > d {
		// The first bytes are in the history, dist-d back from its end.
		back := dist - d
		n := min(end-d, back)
		i := (f.hpos - back) & (len(f.hist) - 1)
		k := copy(dst[d:d+n], f.hist[i:])
		copy(dst[d+k:d+n], f.hist)
		d += n
	}
	// The rest repeats dst[s:d]; the source grows with each copy.
	s := d - dist
	for d < end {
		d += copy(dst[d:end], dst[s:d])
	}
	return d - start
}

// remember appends the output p to the history, of which only the last
// window bytes matter. The buffer grows to a power of two no larger than
// needed, up to the window. What fits before the end of the buffer is one
// copy, which keeps the calls of a caller with small pieces cheap.
func (f *inflater) remember(p []byte) {
	if len(p) > len(f.hist)-f.hpos {
		f.rememberWrap(p)
		return
	}
	if len(p) == 1 {
		f.hist[f.hpos] = p[0]
		f.hpos++
	} else {
		f.hpos += copy(f.hist[f.hpos:], p)
	}
	f.hlen = max(f.hlen, f.hpos) // the same, once the buffer has wrapped around
}

// rememberWrap is remember when the buffer must grow or wrap around.
func (f *inflater) rememberWrap(p []byte) {
	w := f.window()
	if len(p) > w {
		p = p[len(p)-w:]
	}
	if need := min(f.hlen+len(p), w); need > len(f.hist) {
		size := 256
		for size < need {
			size <<= 1
		}
		f.grow(size)
	}
	hpos := f.hpos
	if hpos == len(f.hist) {
		hpos = 0
	}
	k := copy(f.hist[hpos:], p)
	copy(f.hist, p[k:])
	if f.hpos = hpos + len(p); f.hpos > len(f.hist) {
		f.hpos -= len(f.hist)
	}
	f.hlen = min(f.hlen+len(p), len(f.hist))
}

// grow moves the history to a new buffer of size bytes, oldest first.
// Until the buffer has the size of the window, the history does not wrap
// around in it: hpos is hlen, and remember grows it rather than overwrite
// the oldest bytes.
func (f *inflater) grow(size int) {
	h := make([]byte, size)
	if f.hlen > 0 {
		i := (f.hpos - f.hlen) & (len(f.hist) - 1)
		k := copy(h[:f.hlen], f.hist[i:])
		copy(h[k:f.hlen], f.hist)
	}
	f.hist, f.hpos = h, f.hlen
}
