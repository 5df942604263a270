package h2

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// TestRecvBuffer checks the chunk queue against a plain byte slice with
// random writes, reads and peeks across chunk boundaries.
func TestRecvBuffer(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var b recvBuffer
	var want []byte
	next := byte(0)
	for range 5000 {
		switch r.IntN(3) {
		case 0:
			p := make([]byte, r.IntN(3*chunkSize))
			for i := range p {
				p[i] = next
				next++
			}
			b.write(p)
			want = append(want, p...)
		case 1:
			p := make([]byte, r.IntN(2*chunkSize))
			n := b.read(p)
			if n != min(len(p), len(want)) || !bytes.Equal(p[:n], want[:n]) {
				t.Fatalf("read %d of %d held", n, len(want))
			}
			want = want[n:]
		default:
			max := r.IntN(2 * chunkSize)
			if got := b.peek(max); !bytes.Equal(got, want[:min(max, len(want))]) {
				t.Fatalf("peek %d: %d bytes", max, len(got))
			}
		}
		if b.len() != len(want) {
			t.Fatalf("len %d, want %d", b.len(), len(want))
		}
		if most := (len(want)+b.r+chunkSize-1)/chunkSize + 1; len(b.chunks) > most {
			t.Fatalf("%d chunks for %d bytes", len(b.chunks), b.len())
		}
	}
	b.release()
	if b.len() != 0 || len(b.chunks) != 0 {
		t.Fatalf("after release: %d bytes, %d chunks", b.len(), len(b.chunks))
	}
}

// TestRecvBufferIdle checks that a buffer read empty holds no chunk.
func TestRecvBufferIdle(t *testing.T) {
	var b recvBuffer
	b.write(make([]byte, 3*chunkSize+5))
	b.read(make([]byte, 3*chunkSize+5))
	if len(b.chunks) != 0 {
		t.Fatalf("%d chunks held when empty", len(b.chunks))
	}
}
