// Package bench holds the mask micro-benchmarks (go test -bench Mask) and
// in-process echo benchmarks for profiling (go test -bench Echo); the
// loopback comparison program is ./cmd/wsbench. See README.md.
package bench

import (
	"encoding/binary"
	"math/bits"
	"unsafe"
)

// ourMask is a verbatim copy of the unexported mask function of this
// module's library (../mask.go), renamed; TestOurMaskInSync fails when the
// two bodies differ, so the benchmark always measures the library's code.
//
// ourMask XORs b in place with the masking key, as RFC 6455, Section 5.3
// defines it: byte i of the payload is XORed with byte i mod 4 of the key.
//
// key holds the four key bytes in wire order as a little-endian uint32
// (wire byte 0 is the low byte). mask returns the key rotated by len(b), so
// that a payload split across several calls is masked as one:
//
//	key = mask(p[:n], key)
//	key = mask(p[n:], key)
//
// How it is fast (pure Go, no assembly; see BenchmarkMask):
//
//   - No byte loop for tails. The last 8 bytes (4 when len(b) < 8) are
//     loaded and masked with the key rotated to their phase before anything
//     is stored, and stored last. That word overlaps bytes the word loop
//     also masks, which is fine only because its value was computed from
//     the original bytes: XOR is not idempotent, so the overlapped bytes
//     must never be masked twice in place. 8..16 bytes are two such words.
//   - The whole function is a leaf without bounds checks
//     (-gcflags=-d=ssa/check_bce/debug=1 reports none), so it needs no
//     stack frame; worth ~0.5 ns at 16 bytes in our runs.
//   - From 128 bytes on, the word loop starts at an 8-byte aligned address
//     so that no 8-byte store straddles a cache line (1.5x at 64 KiB and
//     1 MiB on unaligned buffers, which is what frames after a header are).
//     unsafe is used only to read the address; correctness does not depend
//     on its value, any a in 0..7 masks correctly. The skipped head bytes
//     are covered by the first word, masked from the original bytes and
//     stored after the loop, like the tail.
//   - The loop is unrolled to 128 bytes and indexed from a fixed slice (no
//     re-slicing per iteration), and the words are written as byte shifts
//     and a tuple assignment rather than encoding/binary calls: the compiler
//     fuses either form into one XORQ to memory per word, but every
//     inlined encoding/binary call also leaves a one-byte NOP (an inlining
//     mark), a NOP per word, measurably slower in L1 (1 KiB).
func ourMask(b []byte, key uint32) uint32 {
	n := len(b)
	// r is the key after len(b) bytes; it is also the key phase of the
	// last 8 (or 4) bytes, which start at n-8 (n-4), a multiple of 4 away.
	r := bits.RotateLeft32(key, -8*(n&3))
	if n < 8 {
		if n >= 4 {
			t := binary.LittleEndian.Uint32(b[n-4:]) ^ r
			binary.LittleEndian.PutUint32(b, binary.LittleEndian.Uint32(b)^key)
			binary.LittleEndian.PutUint32(b[n-4:], t)
			return r
		}
		for i := range b {
			b[i] ^= byte(key >> (8 * (uint(i) & 3)))
		}
		return r
	}
	orig := b
	k := uint64(key)<<32 | uint64(key)
	t := binary.LittleEndian.Uint64(b[n-8:]) ^ (uint64(r)<<32 | uint64(r))
	if n <= 16 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		binary.LittleEndian.PutUint64(b[n-8:], t)
		return r
	}
	var x uint64
	if n >= 128 {
		h := binary.LittleEndian.Uint64(b) ^ k
		a := int(-uintptr(unsafe.Pointer(unsafe.SliceData(b)))) & 7
		if n-a < 128 {
			a = 0 // the loop must run at least once; see below
		}
		k = bits.RotateLeft64(k, -8*a)
		b = b[a:]
		for i := 0; i <= len(b)-128; i += 128 {
			v := b[i : i+128 : i+128]
			x = (uint64(v[0]) | uint64(v[1])<<8 | uint64(v[2])<<16 | uint64(v[3])<<24 | uint64(v[4])<<32 | uint64(v[5])<<40 | uint64(v[6])<<48 | uint64(v[7])<<56) ^ k
			v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
			x = (uint64(v[8]) | uint64(v[9])<<8 | uint64(v[10])<<16 | uint64(v[11])<<24 | uint64(v[12])<<32 | uint64(v[13])<<40 | uint64(v[14])<<48 | uint64(v[15])<<56) ^ k
			v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
			x = (uint64(v[16]) | uint64(v[17])<<8 | uint64(v[18])<<16 | uint64(v[19])<<24 | uint64(v[20])<<32 | uint64(v[21])<<40 | uint64(v[22])<<48 | uint64(v[23])<<56) ^ k
			v[16], v[17], v[18], v[19], v[20], v[21], v[22], v[23] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
			x = (uint64(v[24]) | uint64(v[25])<<8 | uint64(v[26])<<16 | uint64(v[27])<<24 | uint64(v[28])<<32 | uint64(v[29])<<40 | uint64(v[30])<<48 | uint64(v[31])<<56) ^ k
			v[24], v[25], v[26], v[27], v[28], v[29], v[30], v[31] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
			x = (uint64(v[32]) | uint64(v[33])<<8 | uint64(v[34])<<16 | uint64(v[35])<<24 | uint64(v[36])<<32 | uint64(v[37])<<40 | uint64(v[38])<<48 | uint64(v[39])<<56) ^ k
			v[32], v[33], v[34], v[35], v[36], v[37], v[38], v[39] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
			x = (uint64(v[40]) | uint64(v[41])<<8 | uint64(v[42])<<16 | uint64(v[43])<<24 | uint64(v[44])<<32 | uint64(v[45])<<40 | uint64(v[46])<<48 | uint64(v[47])<<56) ^ k
			v[40], v[41], v[42], v[43], v[44], v[45], v[46], v[47] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
			x = (uint64(v[48]) | uint64(v[49])<<8 | uint64(v[50])<<16 | uint64(v[51])<<24 | uint64(v[52])<<32 | uint64(v[53])<<40 | uint64(v[54])<<48 | uint64(v[55])<<56) ^ k
			v[48], v[49], v[50], v[51], v[52], v[53], v[54], v[55] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
			x = (uint64(v[56]) | uint64(v[57])<<8 | uint64(v[58])<<16 | uint64(v[59])<<24 | uint64(v[60])<<32 | uint64(v[61])<<40 | uint64(v[62])<<48 | uint64(v[63])<<56) ^ k
			v[56], v[57], v[58], v[59], v[60], v[61], v[62], v[63] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
			x = (uint64(v[64]) | uint64(v[65])<<8 | uint64(v[66])<<16 | uint64(v[67])<<24 | uint64(v[68])<<32 | uint64(v[69])<<40 | uint64(v[70])<<48 | uint64(v[71])<<56) ^ k
			v[64], v[65], v[66], v[67], v[68], v[69], v[70], v[71] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
			x = (uint64(v[72]) | uint64(v[73])<<8 | uint64(v[74])<<16 | uint64(v[75])<<24 | uint64(v[76])<<32 | uint64(v[77])<<40 | uint64(v[78])<<48 | uint64(v[79])<<56) ^ k
			v[72], v[73], v[74], v[75], v[76], v[77], v[78], v[79] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
			x = (uint64(v[80]) | uint64(v[81])<<8 | uint64(v[82])<<16 | uint64(v[83])<<24 | uint64(v[84])<<32 | uint64(v[85])<<40 | uint64(v[86])<<48 | uint64(v[87])<<56) ^ k
			v[80], v[81], v[82], v[83], v[84], v[85], v[86], v[87] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
			x = (uint64(v[88]) | uint64(v[89])<<8 | uint64(v[90])<<16 | uint64(v[91])<<24 | uint64(v[92])<<32 | uint64(v[93])<<40 | uint64(v[94])<<48 | uint64(v[95])<<56) ^ k
			v[88], v[89], v[90], v[91], v[92], v[93], v[94], v[95] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
			x = (uint64(v[96]) | uint64(v[97])<<8 | uint64(v[98])<<16 | uint64(v[99])<<24 | uint64(v[100])<<32 | uint64(v[101])<<40 | uint64(v[102])<<48 | uint64(v[103])<<56) ^ k
			v[96], v[97], v[98], v[99], v[100], v[101], v[102], v[103] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
			x = (uint64(v[104]) | uint64(v[105])<<8 | uint64(v[106])<<16 | uint64(v[107])<<24 | uint64(v[108])<<32 | uint64(v[109])<<40 | uint64(v[110])<<48 | uint64(v[111])<<56) ^ k
			v[104], v[105], v[106], v[107], v[108], v[109], v[110], v[111] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
			x = (uint64(v[112]) | uint64(v[113])<<8 | uint64(v[114])<<16 | uint64(v[115])<<24 | uint64(v[116])<<32 | uint64(v[117])<<40 | uint64(v[118])<<48 | uint64(v[119])<<56) ^ k
			v[112], v[113], v[114], v[115], v[116], v[117], v[118], v[119] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
			x = (uint64(v[120]) | uint64(v[121])<<8 | uint64(v[122])<<16 | uint64(v[123])<<24 | uint64(v[124])<<32 | uint64(v[125])<<40 | uint64(v[126])<<48 | uint64(v[127])<<56) ^ k
			v[120], v[121], v[122], v[123], v[124], v[125], v[126], v[127] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		}
		// The first loop iteration covered b[a:8]; nothing after this
		// touches orig[:8] (a+128 > 8), so the head can be stored now.
		binary.LittleEndian.PutUint64(orig, h)
		b = b[uint(len(b))&^127:]
	}
	// Under 128 bytes are left: straight-line blocks of 64, 32, 16 and 8
	// (a loop of 8-byte words took twice as long at 125 bytes).
	if len(b) >= 64 {
		v := b[:64:64]
		x = (uint64(v[0]) | uint64(v[1])<<8 | uint64(v[2])<<16 | uint64(v[3])<<24 | uint64(v[4])<<32 | uint64(v[5])<<40 | uint64(v[6])<<48 | uint64(v[7])<<56) ^ k
		v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		x = (uint64(v[8]) | uint64(v[9])<<8 | uint64(v[10])<<16 | uint64(v[11])<<24 | uint64(v[12])<<32 | uint64(v[13])<<40 | uint64(v[14])<<48 | uint64(v[15])<<56) ^ k
		v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		x = (uint64(v[16]) | uint64(v[17])<<8 | uint64(v[18])<<16 | uint64(v[19])<<24 | uint64(v[20])<<32 | uint64(v[21])<<40 | uint64(v[22])<<48 | uint64(v[23])<<56) ^ k
		v[16], v[17], v[18], v[19], v[20], v[21], v[22], v[23] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		x = (uint64(v[24]) | uint64(v[25])<<8 | uint64(v[26])<<16 | uint64(v[27])<<24 | uint64(v[28])<<32 | uint64(v[29])<<40 | uint64(v[30])<<48 | uint64(v[31])<<56) ^ k
		v[24], v[25], v[26], v[27], v[28], v[29], v[30], v[31] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		x = (uint64(v[32]) | uint64(v[33])<<8 | uint64(v[34])<<16 | uint64(v[35])<<24 | uint64(v[36])<<32 | uint64(v[37])<<40 | uint64(v[38])<<48 | uint64(v[39])<<56) ^ k
		v[32], v[33], v[34], v[35], v[36], v[37], v[38], v[39] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		x = (uint64(v[40]) | uint64(v[41])<<8 | uint64(v[42])<<16 | uint64(v[43])<<24 | uint64(v[44])<<32 | uint64(v[45])<<40 | uint64(v[46])<<48 | uint64(v[47])<<56) ^ k
		v[40], v[41], v[42], v[43], v[44], v[45], v[46], v[47] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		x = (uint64(v[48]) | uint64(v[49])<<8 | uint64(v[50])<<16 | uint64(v[51])<<24 | uint64(v[52])<<32 | uint64(v[53])<<40 | uint64(v[54])<<48 | uint64(v[55])<<56) ^ k
		v[48], v[49], v[50], v[51], v[52], v[53], v[54], v[55] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		x = (uint64(v[56]) | uint64(v[57])<<8 | uint64(v[58])<<16 | uint64(v[59])<<24 | uint64(v[60])<<32 | uint64(v[61])<<40 | uint64(v[62])<<48 | uint64(v[63])<<56) ^ k
		v[56], v[57], v[58], v[59], v[60], v[61], v[62], v[63] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		b = b[64:]
	}
	if len(b) >= 32 {
		v := b[:32:32]
		x = (uint64(v[0]) | uint64(v[1])<<8 | uint64(v[2])<<16 | uint64(v[3])<<24 | uint64(v[4])<<32 | uint64(v[5])<<40 | uint64(v[6])<<48 | uint64(v[7])<<56) ^ k
		v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		x = (uint64(v[8]) | uint64(v[9])<<8 | uint64(v[10])<<16 | uint64(v[11])<<24 | uint64(v[12])<<32 | uint64(v[13])<<40 | uint64(v[14])<<48 | uint64(v[15])<<56) ^ k
		v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		x = (uint64(v[16]) | uint64(v[17])<<8 | uint64(v[18])<<16 | uint64(v[19])<<24 | uint64(v[20])<<32 | uint64(v[21])<<40 | uint64(v[22])<<48 | uint64(v[23])<<56) ^ k
		v[16], v[17], v[18], v[19], v[20], v[21], v[22], v[23] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		x = (uint64(v[24]) | uint64(v[25])<<8 | uint64(v[26])<<16 | uint64(v[27])<<24 | uint64(v[28])<<32 | uint64(v[29])<<40 | uint64(v[30])<<48 | uint64(v[31])<<56) ^ k
		v[24], v[25], v[26], v[27], v[28], v[29], v[30], v[31] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		b = b[32:]
	}
	if len(b) >= 16 {
		v := b[:16:16]
		x = (uint64(v[0]) | uint64(v[1])<<8 | uint64(v[2])<<16 | uint64(v[3])<<24 | uint64(v[4])<<32 | uint64(v[5])<<40 | uint64(v[6])<<48 | uint64(v[7])<<56) ^ k
		v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		x = (uint64(v[8]) | uint64(v[9])<<8 | uint64(v[10])<<16 | uint64(v[11])<<24 | uint64(v[12])<<32 | uint64(v[13])<<40 | uint64(v[14])<<48 | uint64(v[15])<<56) ^ k
		v[8], v[9], v[10], v[11], v[12], v[13], v[14], v[15] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
		b = b[16:]
	}
	if len(b) >= 8 {
		v := b[:8:8]
		x = (uint64(v[0]) | uint64(v[1])<<8 | uint64(v[2])<<16 | uint64(v[3])<<24 | uint64(v[4])<<32 | uint64(v[5])<<40 | uint64(v[6])<<48 | uint64(v[7])<<56) ^ k
		v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24), byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
	}
	binary.LittleEndian.PutUint64(orig[n-8:], t)
	return r
}
