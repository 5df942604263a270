package websocket

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"testing"
)

// maskBytes is the definition of RFC 6455, Section 5.3, one byte at a time.
func maskBytes(b []byte, key [4]byte, pos int) int {
	for i := range b {
		b[i] ^= key[(pos+i)&3]
	}
	return (pos + len(b)) & 3
}

func keyOf(k [4]byte) uint32 {
	return uint32(k[0]) | uint32(k[1])<<8 | uint32(k[2])<<16 | uint32(k[3])<<24
}

// The word-at-a-time mask equals the byte loop for every length 0..1024, at
// every key phase and every buffer alignment.
func TestMaskMatchesDefinition(t *testing.T) {
	key := [4]byte{0x37, 0xfa, 0x21, 0x3d}
	buf := make([]byte, 1024+16)
	want := make([]byte, len(buf))
	for n := 0; n <= 1024; n++ {
		for phase := 0; phase < 4; phase++ {
			for align := 0; align < 8; align++ {
				for i := range buf {
					buf[i] = byte(i*7 + n)
				}
				copy(want, buf)
				b := buf[align : align+n]
				maskBytes(want[align:align+n], key, phase)
				// Rotating the key by the phase is how the Conn continues a
				// payload that an earlier call left at that phase.
				k := bits.RotateLeft32(keyOf(key), -8*phase)
				got := mask(b, k)
				if string(buf) != string(want) {
					t.Fatalf("n=%d phase=%d align=%d: mask differs from the byte loop", n, phase, align)
				}
				if wantKey := bits.RotateLeft32(keyOf(key), -8*((phase+n)&3)); got != wantKey {
					t.Fatalf("n=%d phase=%d: returned key %08x, want %08x", n, phase, got, wantKey)
				}
			}
		}
	}
}

// Masking a payload in arbitrary chunks, passing the returned key on, is
// the same as masking it whole.
func TestMaskChunked(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	payload := make([]byte, 5000)
	for i := range payload {
		payload[i] = byte(i)
	}
	want := append([]byte(nil), payload...)
	maskBytes(want, key, 0)
	for _, chunk := range []int{1, 2, 3, 5, 7, 8, 63, 64, 65, 1000} {
		got := append([]byte(nil), payload...)
		k := keyOf(key)
		for b := got; len(b) > 0; {
			n := min(chunk, len(b))
			k = mask(b[:n], k)
			b = b[n:]
		}
		if string(got) != string(want) {
			t.Errorf("chunks of %d: result differs", chunk)
		}
	}
}

// Large payloads at every alignment, split in three at random points: the
// aligned 128-byte loop, its head word and its tail word must agree with
// the byte loop, and nothing around the payload may change.
func TestMaskLarge(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{127, 128, 129, 135, 1000, 4095, 4096, 65536, 65537, 1 << 20} {
		for align := 0; align < 8; align++ {
			buf := make([]byte, n+align+16)
			for i := range buf {
				buf[i] = byte(rng.Uint32())
			}
			key := [4]byte{byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32()), byte(rng.Uint32())}
			want := append([]byte(nil), buf...)
			maskBytes(want[align+8:align+8+n], key, 0)
			a := rng.IntN(n + 1)
			c := a + rng.IntN(n-a+1)
			p := buf[align+8 : align+8+n]
			k := mask(p[:a], keyOf(key))
			k = mask(p[a:c], k)
			k = mask(p[c:], k)
			if string(buf) != string(want) {
				t.Fatalf("n=%d align=%d split %d,%d: result differs from the byte loop", n, align, a, c)
			}
			if wantKey := bits.RotateLeft32(keyOf(key), -8*(n&3)); k != wantKey {
				t.Fatalf("n=%d: key %08x, want %08x", n, k, wantKey)
			}
		}
	}
}

func FuzzMask(f *testing.F) {
	f.Add([]byte("Hello, WebSocket"), uint32(0x3d21fa37), uint8(3), uint16(5))
	f.Add(make([]byte, 300), uint32(1), uint8(7), uint16(200))
	f.Fuzz(func(t *testing.T, data []byte, key uint32, align uint8, split uint16) {
		off := int(align & 7)
		buf := make([]byte, off+len(data)+8)
		copy(buf[off:], data)
		want := append([]byte(nil), buf...)
		kb := [4]byte{byte(key), byte(key >> 8), byte(key >> 16), byte(key >> 24)}
		maskBytes(want[off:off+len(data)], kb, 0)
		p := buf[off : off+len(data)]
		s := int(split) % (len(p) + 1)
		k := mask(p[:s], key)
		mask(p[s:], k)
		if string(buf) != string(want) {
			t.Fatalf("len %d align %d split %d: differs from the byte loop", len(data), off, s)
		}
	})
}

func TestMaskAllocs(t *testing.T) {
	b := make([]byte, 4096)
	if n := testing.AllocsPerRun(100, func() { mask(b, 0x01020304) }); n != 0 {
		t.Errorf("mask: %v allocs, want 0", n)
	}
}

func BenchmarkMask(b *testing.B) {
	for _, size := range []int{16, 125, 1024, 64 << 10, 1 << 20} {
		for _, align := range []int{0, 1} {
			buf := make([]byte, size+align)[align:]
			b.Run(fmt.Sprintf("%d/align%d", size, align), func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					mask(buf, 0x3d21fa37)
				}
			})
		}
	}
}
