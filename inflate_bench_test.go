package websocket

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// BenchmarkInflate holds the inflater against compress/flate's reader on
// the same streams: text, JSON-like and random data (whose streams are
// stored blocks) of 100 B to 256 KiB, compressed at three levels, and fed
// whole, in 4 KiB pieces and one byte at a time. SetBytes counts output
// bytes, so MB/s is of inflated data. Both decode into one buffer of the
// message's size; compress/flate is reset, not rebuilt, for each message.
//
//	go test -run '^$' -bench Inflate -benchmem
func BenchmarkInflate(b *testing.B) {
	rng := rand.New(rand.NewPCG(17, 18))
	sizes := []struct {
		name string
		n    int
	}{{"100B", 100}, {"1KiB", 1 << 10}, {"16KiB", 16 << 10}, {"256KiB", 256 << 10}}
	levels := []struct {
		name  string
		level int
	}{{"speed", flate.BestSpeed}, {"default", flate.DefaultCompression}, {"best", flate.BestCompression}}
	feeds := []struct {
		name  string
		piece int
	}{{"whole", 0}, {"4KiB", 4 << 10}, {"1B", 1}}
	for _, kind := range []string{"text", "json", "random"} {
		for _, size := range sizes {
			data := inflateTestData(kind, size.n, rng)
			for _, lv := range levels {
				z := deflate(b, data, lv.level, nil, nil)
				for _, feed := range feeds {
					name := fmt.Sprintf("%s/%s/%s/%s", kind, size.name, lv.name, feed.name)
					b.Run(name+"/ours", func(b *testing.B) { benchInflater(b, data, z, feed.piece) })
					b.Run(name+"/flate", func(b *testing.B) { benchFlate(b, data, z, feed.piece) })
				}
			}
		}
	}
}

func benchInflater(b *testing.B, data, z []byte, piece int) {
	var f inflater
	out := make([]byte, len(data))
	if piece == 0 {
		piece = len(z)
	}
	run := func() int {
		f.reset(15, false)
		d := 0
		for src := z; len(src) > 0; {
			n, m, err := f.inflate(out[d:], src[:min(piece, len(src))])
			if err != nil {
				b.Fatal(err)
			}
			d += n
			src = src[m:]
		}
		return d
	}
	if n := run(); n != len(data) || !bytes.Equal(out, data) || !f.ended() {
		b.Fatalf("decoded %d bytes, want %d, ended() = %v", n, len(data), f.ended())
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		run()
	}
}

func benchFlate(b *testing.B, data, z []byte, piece int) {
	out := make([]byte, len(data))
	fr := flate.NewReader(nil)
	var src io.Reader
	whole := bytes.NewReader(z)
	chunks := &chunkReader{}
	run := func() {
		if piece == 0 {
			whole.Reset(z)
			src = whole // an io.ByteReader: no bufio.Reader in between
		} else {
			*chunks = chunkReader{z, piece}
			src = chunks
		}
		fr.(flate.Resetter).Reset(src, nil)
		if _, err := io.ReadFull(fr, out); err != nil {
			b.Fatal(err)
		}
	}
	run()
	if !bytes.Equal(out, data) {
		b.Fatal("compress/flate decodes something else")
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		run()
	}
}

// chunkReader returns at most piece bytes per Read, as a network
// connection might.
type chunkReader struct {
	b     []byte
	piece int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), r.piece)], r.b)
	r.b = r.b[n:]
	return n, nil
}
