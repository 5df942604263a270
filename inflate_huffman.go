package websocket

import "math/bits"

// This file is part of the protocol core: the Huffman decoding tables of
// the inflater (inflate.go), built from the code lengths a DEFLATE block
// carries (RFC 1951, Section 3.2.2) or from the fixed codes (RFC 1951,
// Section 3.2.6), and the reading of a dynamic block's code lengths
// (readCodeLens, Section 3.2.7).
//
// A table is indexed by the next input bits, least significant first, the
// order in which DEFLATE packs Huffman codes (RFC 1951, Section 3.1.1). A
// code no longer than the table's root bits fills every root entry whose
// low bits are the code, so one lookup of the next root bits finds it. A
// longer code is found in two: the root entry of its first root bits
// points to a subtable, indexed by the bits that follow, whose size is
// that of the longest code sharing those first bits. The root bits are
// those of the longest code, up to a maximum (10 for literal/length codes,
// 8 for distance codes): the small codes of short messages make small
// tables, quick to build.
//
// An entry is a uint32:
//
//	bits  0-3   code length, the bits to consume (0 for an entry of an empty code)
//	bits  4-7   extra bits that follow the code (lengths, distances),
//	            or, in a subtable pointer, the subtable's index bits
//	bits  8-11  kind: entryLiteral, entryEOB, entrySub, entryInvalid;
//	            none of them for a length or a distance
//	bits 16-31  the literal byte, the base length or distance, the
//	            code length symbol, or the subtable's offset in the table

const (
	entryLiteral = 1 << 8  // a literal byte
	entryEOB     = 1 << 9  // the end-of-block code, 256
	entrySub     = 1 << 10 // a pointer to a subtable
	entryInvalid = 1 << 11 // a symbol that must not occur, or no code at all

	entryExtraShift = 4
	entryValueShift = 16
)

const (
	maxCodeBits   = 15  // the longest Huffman code (RFC 1951, Section 3.2.7)
	maxLitCodes   = 286 // literal/length codes a dynamic block may define
	maxDistCodes  = 30  // distance codes a dynamic block may define
	numCodeLenSym = 19  // symbols of the code length alphabet

	litRootBits  = 10 // at most
	distRootBits = 8
	clRootBits   = 7 // code length codes are at most 7 bits: no subtables

	// The tables have room for the root entries and for the subtables of
	// any complete code. In a canonical code the longer codes come last,
	// so the codes under a root entry with a subtable are all at least as
	// long as the longest code under the previous one: every subtable but
	// the last is no larger than the number of symbols under the next
	// one. The subtables therefore hold at most maxLitCodes (maxDistCodes)
	// entries plus the largest subtable, 1<<(15-litRootBits) (or
	// 1<<(15-distRootBits)). buildHuffman checks the bound all the same.
	litTableSize  = 1<<litRootBits + maxLitCodes + 1<<(maxCodeBits-litRootBits)
	distTableSize = 1<<distRootBits + maxDistCodes + 1<<(maxCodeBits-distRootBits)
)

// Length and distance bases and extra bits, RFC 1951, Section 3.2.5.
var (
	lengthBase = [29]uint16{
		3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31,
		35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258,
	}
	lengthExtra = [29]uint8{
		0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2,
		3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
	}
	distBase = [30]uint16{
		1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193,
		257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145,
		8193, 12289, 16385, 24577,
	}
	distExtra = [30]uint8{
		0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6,
		7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13,
	}
)

// codeLenOrder is the order in which a dynamic block lists the code
// lengths of the code length alphabet (RFC 1951, Section 3.2.7).
var codeLenOrder = [numCodeLenSym]uint8{16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15}

// What each symbol decodes to, without its code length: built once.
// Literal/length symbols 286 and 287 and distance symbols 30 and 31 have
// fixed codes but must not occur (RFC 1951, Section 3.2.6).
var (
	litPayload  [288]uint32
	distPayload [32]uint32
	clPayload   [numCodeLenSym]uint32

	// The tables of the fixed codes, RFC 1951, Section 3.2.6, and their
	// root bits.
	fixedLitTable  *[litTableSize]uint32
	fixedDistTable *[distTableSize]uint32
	fixedLitBits   uint
	fixedDistBits  uint
)

func init() {
	for s := range litPayload {
		switch {
		case s < 256:
			litPayload[s] = entryLiteral | uint32(s)<<entryValueShift
		case s == 256:
			litPayload[s] = entryEOB
		case s < 257+len(lengthBase):
			i := s - 257
			litPayload[s] = uint32(lengthBase[i])<<entryValueShift | uint32(lengthExtra[i])<<entryExtraShift
		default:
			litPayload[s] = entryInvalid
		}
	}
	for s := range distPayload {
		if s < len(distBase) {
			distPayload[s] = uint32(distBase[s])<<entryValueShift | uint32(distExtra[s])<<entryExtraShift
		} else {
			distPayload[s] = entryInvalid
		}
	}
	for s := range clPayload {
		clPayload[s] = uint32(s) << entryValueShift
	}

	var lens [288]uint8
	for s := range lens {
		switch {
		case s < 144:
			lens[s] = 8
		case s < 256:
			lens[s] = 9
		case s < 280:
			lens[s] = 7
		default:
			lens[s] = 8
		}
	}
	fixedLitTable = new([litTableSize]uint32)
	fixedLitBits, _ = buildHuffman(fixedLitTable[:], litRootBits, lens[:], litPayload[:])
	for s := range 32 {
		lens[s] = 5
	}
	fixedDistTable = new([distTableSize]uint32)
	fixedDistBits, _ = buildHuffman(fixedDistTable[:], distRootBits, lens[:32], distPayload[:])
}

// buildHuffman fills table with the decoding table of the canonical
// Huffman code whose code lengths (0 for an unused symbol, at most
// maxCodeBits) are lens; payload[s] is what symbol s decodes to. It
// returns the table's root bits, those of the longest code but no more
// than maxRoot, and reports false if the lengths are over-subscribed or
// incomplete, RFC 1951, Section 3.2.2 (the alphabet must be a prefix code
// that uses every bit sequence).
//
// As zlib and compress/flate do, two incomplete codes are accepted: no
// codes at all (every entry is then invalid and consumes nothing: a block
// may have no distance codes when it has no matches), and a single code of
// one bit, whose unused bit is invalid (RFC 1951, Section 3.2.7: "If only
// one distance code is used, it is encoded using one bit").
func buildHuffman(table []uint32, maxRoot uint, lens []uint8, payload []uint32) (rootBits uint, ok bool) {
	// Two tallies, so that runs of equal lengths do not wait on one
	// counter in memory.
	var count, odd [maxCodeBits + 1]int
	for i := 1; i < len(lens); i += 2 {
		count[lens[i-1]&15]++
		odd[lens[i]&15]++
	}
	if len(lens)%2 != 0 {
		count[lens[len(lens)-1]&15]++
	}
	for n := range count {
		count[n] += odd[n]
	}
	count[0] = 0
	used, left := 0, 1 // left: bit sequences of the current length not yet taken
	rootBits = 1
	for n := 1; n <= maxCodeBits; n++ {
		left = left<<1 - count[n]
		if left < 0 {
			return 0, false // over-subscribed
		}
		used += count[n]
		if count[n] != 0 {
			rootBits = uint(n)
		}
	}
	rootBits = min(rootBits, maxRoot)
	rootSize := 1 << rootBits
	if left > 0 {
		if used > 1 || used == 1 && count[1] != 1 {
			return 0, false // incomplete
		}
		// rootBits is 1: a table of two entries.
		table[0], table[1] = entryInvalid, entryInvalid // no codes: consuming no bits
		for s, n := range lens {
			if n == 1 {
				table[0], table[1] = payload[s]|1, entryInvalid|1
			}
		}
		return rootBits, true
	}

	// The symbols in canonical order: by code length, then by value.
	var offset [maxCodeBits + 2]int
	for n := 1; n <= maxCodeBits; n++ {
		offset[n+1] = offset[n] + count[n]
	}
	var sorted [288]uint16
	for s, n := range lens {
		if n != 0 {
			sorted[offset[n]] = uint16(s)
			offset[n]++
		}
	}
	order := sorted[:used]

	// Codes of up to rootBits bits, one length after the other. Once the
	// codes of length n are in, the first 1<<n entries are complete for
	// them and the shorter codes; doubling those entries (a copy) gives
	// the first 1<<(n+1), where each code of length n+1 then takes its
	// one entry. This costs a copy of the table rather than a store for
	// each of the entries a short code fills.
	code, length := 0, uint(0) // the next code, most significant bit first
	size := 1
	i := 0
	for ; i < len(order); i++ {
		s := order[i]
		n := uint(lens[s])
		if n > rootBits {
			break
		}
		code <<= n - length
		length = n
		for ; size < 1<<n; size <<= 1 {
			copy(table[size:size<<1], table[:size])
		}
		table[reverseBits(code, n)] = payload[s] | uint32(n)
		code++
	}
	for ; size < rootSize; size <<= 1 {
		copy(table[size:size<<1], table[:size])
	}

	// Longer codes: one subtable for each run of codes that share their
	// first rootBits bits, as large as the run's last (longest) code needs.
	next := rootSize
	for i < len(order) {
		n := uint(lens[order[i]])
		code <<= n - length
		length = n
		prefix := code >> (n - rootBits)
		last := n
		for j, c, cn := i+1, code+1, n; j < len(order); j, c = j+1, c+1 {
			m := uint(lens[order[j]])
			c <<= m - cn
			cn = m
			if c>>(m-rootBits) != prefix {
				break
			}
			last = m
		}
		subBits := last - rootBits
		if next+1<<subBits > len(table) {
			return 0, false // cannot happen for a complete code (see litTableSize)
		}
		table[reverseBits(prefix, rootBits)] = entrySub | uint32(next)<<entryValueShift | uint32(subBits)<<entryExtraShift
		sub := table[next : next+1<<subBits]
		next += len(sub)
		for ; i < len(order); i++ {
			s := order[i]
			n := uint(lens[s])
			code <<= n - length
			length = n
			if code>>(n-rootBits) != prefix {
				break
			}
			e := payload[s] | uint32(n)
			for j := reverseBits(code, n) >> rootBits; j < len(sub); j += 1 << (n - rootBits) {
				sub[j] = e
			}
			code++
		}
	}
	return rootBits, true
}

// reverseBits returns the n low bits of code in reverse order: Huffman
// codes are packed most significant bit first (RFC 1951, Section 3.1.1).
func reverseBits(code int, n uint) int {
	return int(bits.Reverse16(uint16(code)) >> (16 - n))
}

// readCodeLens reads the literal/length and distance code lengths of a
// dynamic block with the code length code (RFC 1951, Section 3.2.7). It
// reports whether all of them are in; if not, it needs more input or
// failed (f.err).
func (f *inflater) readCodeLens(src []byte, p *int) bool {
	// The bit buffer lives in locals here: a dynamic header has some 300
	// code lengths, and small messages spend much of their time on it.
	b, nb, q, i := f.bits, f.nbits, *p, f.nlens
	total := f.nlit + f.ndist
	done := false
	for {
		if i == total {
			done = true
			break
		}
		b, nb, q = refill(b, nb, src, q)
		e := f.codeLenTable[b&(1<<f.codeLenBits-1)]
		n := uint(e & 15)
		if e&entryInvalid != 0 && n <= nb {
			f.err = errCorruptDeflate
			break
		}
		if n > nb {
			break // a partial code
		}
		sym := e >> entryValueShift
		if sym < 16 {
			f.lens[i] = uint8(sym)
			i++
			b >>= n
			nb -= n
			continue
		}
		// 16: repeat the previous length 3-6 times; 17: 3-10 zeros;
		// 18: 11-138 zeros.
		if sym == 16 && i == 0 {
			f.err = errCorruptDeflate // nothing to repeat
			break
		}
		extra, rep := uint(2), 3
		switch sym {
		case 17:
			extra = 3
		case 18:
			extra, rep = 7, 11
		}
		if n+extra > nb {
			break
		}
		rep += int(b >> n & (1<<extra - 1))
		b >>= n + extra
		nb -= n + extra
		if i+rep > total {
			f.err = errCorruptDeflate // more lengths than HLIT and HDIST give
			break
		}
		var v uint8
		if sym == 16 {
			v = f.lens[i-1]
		}
		clear8(f.lens[i:i+rep], v)
		i += rep
	}
	f.bits, f.nbits, f.nlens, *p = b&(1<<nb-1), nb, i, q
	return done
}

// clear8 sets every byte of b to v.
func clear8(b []byte, v uint8) {
	for i := range b {
		b[i] = v
	}
}
