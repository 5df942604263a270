package h2

import "sync"

// chunkSize is the unit of a stream's receive buffer.
const chunkSize = 16 << 10

var chunkPool = sync.Pool{New: func() any { return new([chunkSize]byte) }}

// recvBuffer holds a stream's received DATA until the application reads
// it: a queue of fixed-size chunks from a pool shared by all streams. An
// idle stream holds none, a busy one never copies what it holds to grow
// (an append-grown slice made growslice and memmove a tenth of the echo
// benchmark), and chunks go back to the pool as they are read. Flow
// control bounds what it holds to the stream's window.
type recvBuffer struct {
	chunks []*[chunkSize]byte
	r      int // read offset in chunks[0]
	w      int // write offset in the last chunk
	n      int // bytes held
}

func (b *recvBuffer) len() int { return b.n }

// write appends p.
func (b *recvBuffer) write(p []byte) {
	for len(p) > 0 {
		if len(b.chunks) == 0 || b.w == chunkSize {
			b.chunks = append(b.chunks, chunkPool.Get().(*[chunkSize]byte))
			b.w = 0
		}
		k := copy(b.chunks[len(b.chunks)-1][b.w:], p)
		b.w += k
		b.n += k
		p = p[k:]
	}
}

// read moves up to len(p) bytes into p and returns how many.
func (b *recvBuffer) read(p []byte) int {
	n := 0
	for n < len(p) && b.n > 0 {
		end := chunkSize
		if len(b.chunks) == 1 {
			end = b.w
		}
		k := copy(p[n:], b.chunks[0][b.r:end])
		b.r += k
		b.n -= k
		n += k
		if b.r == end {
			b.pop()
		}
	}
	return n
}

// peek copies out up to max bytes without consuming them.
func (b *recvBuffer) peek(max int) []byte {
	out := make([]byte, 0, min(max, b.n))
	r := b.r
	for i, c := range b.chunks {
		end := chunkSize
		if i == len(b.chunks)-1 {
			end = b.w
		}
		k := min(end-r, max-len(out))
		out = append(out, c[r:r+k]...)
		if len(out) == max {
			break
		}
		r = 0
	}
	return out
}

// pop returns the first chunk, read to its end, to the pool.
func (b *recvBuffer) pop() {
	chunkPool.Put(b.chunks[0])
	n := copy(b.chunks, b.chunks[1:])
	b.chunks[n] = nil
	b.chunks = b.chunks[:n]
	b.r = 0
	if n == 0 {
		b.w = 0
	}
}

// release returns every chunk to the pool, dropping what they hold.
func (b *recvBuffer) release() {
	for len(b.chunks) > 0 {
		b.pop()
	}
	b.n = 0
}
