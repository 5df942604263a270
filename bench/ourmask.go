// Package bench holds the mask micro-benchmarks (go test -bench Mask) and
// in-process echo benchmarks for profiling (go test -bench Echo); the
// loopback comparison program is ./cmd/wsbench. See README.md.
package bench

import (
	"encoding/binary"
	"math/bits"
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
// The loop works on 64-bit words through encoding/binary (no unsafe, no
// assembly) and is unrolled to 128 bytes per iteration (measured 10-20%
// faster than 64 at 1 KiB and 64 KiB, see BenchmarkMask); the slice
// re-assignments let the compiler drop the bounds checks inside the loop.
func ourMask(b []byte, key uint32) uint32 {
	if len(b) >= 8 {
		k := uint64(key) | uint64(key)<<32
		for len(b) >= 128 {
			v := b[:128:128]
			binary.LittleEndian.PutUint64(v[0:8], binary.LittleEndian.Uint64(v[0:8])^k)
			binary.LittleEndian.PutUint64(v[8:16], binary.LittleEndian.Uint64(v[8:16])^k)
			binary.LittleEndian.PutUint64(v[16:24], binary.LittleEndian.Uint64(v[16:24])^k)
			binary.LittleEndian.PutUint64(v[24:32], binary.LittleEndian.Uint64(v[24:32])^k)
			binary.LittleEndian.PutUint64(v[32:40], binary.LittleEndian.Uint64(v[32:40])^k)
			binary.LittleEndian.PutUint64(v[40:48], binary.LittleEndian.Uint64(v[40:48])^k)
			binary.LittleEndian.PutUint64(v[48:56], binary.LittleEndian.Uint64(v[48:56])^k)
			binary.LittleEndian.PutUint64(v[56:64], binary.LittleEndian.Uint64(v[56:64])^k)
			binary.LittleEndian.PutUint64(v[64:72], binary.LittleEndian.Uint64(v[64:72])^k)
			binary.LittleEndian.PutUint64(v[72:80], binary.LittleEndian.Uint64(v[72:80])^k)
			binary.LittleEndian.PutUint64(v[80:88], binary.LittleEndian.Uint64(v[80:88])^k)
			binary.LittleEndian.PutUint64(v[88:96], binary.LittleEndian.Uint64(v[88:96])^k)
			binary.LittleEndian.PutUint64(v[96:104], binary.LittleEndian.Uint64(v[96:104])^k)
			binary.LittleEndian.PutUint64(v[104:112], binary.LittleEndian.Uint64(v[104:112])^k)
			binary.LittleEndian.PutUint64(v[112:120], binary.LittleEndian.Uint64(v[112:120])^k)
			binary.LittleEndian.PutUint64(v[120:128], binary.LittleEndian.Uint64(v[120:128])^k)
			b = b[128:]
		}
		for len(b) >= 32 {
			v := b[:32:32]
			binary.LittleEndian.PutUint64(v[0:8], binary.LittleEndian.Uint64(v[0:8])^k)
			binary.LittleEndian.PutUint64(v[8:16], binary.LittleEndian.Uint64(v[8:16])^k)
			binary.LittleEndian.PutUint64(v[16:24], binary.LittleEndian.Uint64(v[16:24])^k)
			binary.LittleEndian.PutUint64(v[24:32], binary.LittleEndian.Uint64(v[24:32])^k)
			b = b[32:]
		}
		for len(b) >= 8 {
			v := b[:8:8]
			binary.LittleEndian.PutUint64(v, binary.LittleEndian.Uint64(v)^k)
			b = b[8:]
		}
	}
	// Whole words never change the key phase; only the tail does.
	for i := range b {
		b[i] ^= byte(key >> (8 * (uint(i) & 3)))
	}
	return bits.RotateLeft32(key, -8*(len(b)&3))
}
