package bench

import (
	"testing"

	"github.com/ccf874ba/websocket/bench/internal/wsb"
)

// BenchmarkFraming runs each library's echo loop (the same code as its
// loopback echo server) over an in-memory connection: every Read returns
// one masked frame, every Write is discarded. With no kernel in the way it
// measures what the library itself costs per message: parsing, unmasking,
// buffering, locking, allocation and framing the reply. It is the
// low-noise complement of the loopback numbers.
func BenchmarkFraming(b *testing.B) {
	for _, size := range []int{16, 1 << 10, 64 << 10} {
		for _, lib := range wsb.MemNames {
			b.Run(sizeName(size)+"/"+lib, func(b *testing.B) {
				b.SetBytes(int64(size))
				b.ReportAllocs()
				mc := wsb.NewMemConn(size, b.N)
				if err := wsb.MemEcho(lib, mc); err != nil {
					b.Fatal(err)
				}
			})
		}
	}
}

// TestFramingEchoes checks that every library's in-memory echo consumes all
// frames and writes every echo back.
func TestFramingEchoes(t *testing.T) {
	for _, lib := range wsb.MemNames {
		mc := wsb.NewMemConn(1000, 50)
		if err := wsb.MemEcho(lib, mc); err != nil {
			t.Fatalf("%s: %v", lib, err)
		}
		// 50 echoes of 1000 bytes with a 4-byte header, plus the
		// handshake response.
		if mc.Written < 50*1004 {
			t.Errorf("%s: wrote %d bytes, want at least %d", lib, mc.Written, 50*1004)
		}
	}
}
