//go:build !js

package websocket

import (
	"bytes"
	"compress/flate"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
)

// deflaterMessage encodes p as one message with d, as a Conn does.
func deflaterMessage(d *deflater, p []byte) []byte {
	d.begin()
	dst := make([]byte, 0, deflaterBound(len(p)))
	// In pieces, as a streamed Writer feeds it.
	dst = d.encode(dst, p)
	return d.end(dst)
}

// jsonEvent is a small JSON event of the kind a market feed sends.
func jsonEvent(rng *rand.Rand) []byte {
	syms := []string{"BTC-USD", "ETH-USD", "SOL-USD", "DOGE-USD", "ADA-EUR"}
	sides := []string{"buy", "sell"}
	b := fmt.Appendf(nil, `{"type":"trade","id":%d,"symbol":%q,"price":%.1f,"qty":%.3f,"ts":%d,"side":%q`,
		rng.IntN(1e9), syms[rng.IntN(len(syms))], 40000+rng.Float64()*5000, rng.Float64(), 1733097600000+rng.Int64N(1e6), sides[rng.IntN(2)])
	for range rng.IntN(5) {
		b = fmt.Appendf(b, `,"maker":{"id":%d,"venue":"exch-%d","fee":%.5f}`, rng.IntN(1e6), rng.IntN(8), rng.Float64()/100)
	}
	return append(b, '}')
}

func jsonEvents(n int, seed uint64) [][]byte {
	rng := rand.New(rand.NewPCG(seed, 1))
	msgs := make([][]byte, n)
	for i := range msgs {
		msgs[i] = jsonEvent(rng)
	}
	return msgs
}

func randomMessages(n int, rng *rand.Rand, maxSize int) [][]byte {
	msgs := make([][]byte, n)
	for i := range msgs {
		size := rng.IntN(maxSize + 1)
		switch rng.IntN(4) {
		case 0: // random bytes
			b := make([]byte, size)
			for j := range b {
				b[j] = byte(rng.Uint32())
			}
			msgs[i] = b
		case 1: // a small alphabet: long matches
			b := make([]byte, size)
			for j := range b {
				b[j] = "ab"[rng.IntN(2)]
			}
			msgs[i] = b
		case 2: // a repeat of an earlier message, or part of one
			if i > 0 {
				m := msgs[rng.IntN(i)]
				msgs[i] = m[rng.IntN(len(m)+1):]
				break
			}
			fallthrough
		default:
			var b []byte
			for len(b) < size {
				b = append(b, jsonEvent(rng)...)
			}
			msgs[i] = b[:size]
		}
	}
	return msgs
}

// checkTakeoverStream encodes msgs with a deflater for the window bits and
// decodes them with compress/flate as one stream and with the package's
// inflater, which refuses distances beyond the window.
func checkTakeoverStream(t testing.TB, bits int, msgs [][]byte) {
	t.Helper()
	d := new(deflater)
	d.reset(bits)
	var stream bytes.Buffer
	var f inflater
	f.reset(bits, false)
	for i, m := range msgs {
		z := deflaterMessage(d, m)
		if len(z) > deflaterBound(len(m)) {
			t.Fatalf("message %d: %d bytes encoded to %d, above the bound %d", i, len(m), len(z), deflaterBound(len(m)))
		}
		z = append(z, syncTail[:]...)
		stream.Write(z)
		if i > 0 {
			f.reset(bits, true)
		}
		got, err := inflateOnce(&f, z)
		if err != nil || !bytes.Equal(got, m) || !f.idle() {
			t.Fatalf("bits %d, message %d of %d bytes: inflater got %d bytes, %v (idle %v)", bits, i, len(m), len(got), err, f.idle())
		}
	}
	r := flate.NewReader(&stream)
	for i, m := range msgs {
		got := make([]byte, len(m))
		if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, m) {
			t.Fatalf("bits %d, message %d: compress/flate read %v, equal %v", bits, i, err, bytes.Equal(got, m))
		}
	}
}

func TestDeflaterRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for bits := 8; bits <= 15; bits++ {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			checkTakeoverStream(t, bits, jsonEvents(500, uint64(bits)))
			checkTakeoverStream(t, bits, randomMessages(200, rng, 600))
			// At and across the window and the buffer.
			w := min(1<<bits, deflaterWindow)
			var sizes [][]byte
			for _, n := range []int{w - 1, w, w + 1, 2 * w, 2*deflaterWindow - 1, 2 * deflaterWindow, 2*deflaterWindow + 7, 5 * deflaterWindow} {
				sizes = append(sizes, randomMessages(3, rng, n)...)
				b := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
				sizes = append(sizes, b, b)
			}
			checkTakeoverStream(t, bits, sizes)
		})
	}
}

func TestDeflaterEmpty(t *testing.T) {
	checkTakeoverStream(t, 15, [][]byte{{}, []byte("a"), {}, {}, []byte("a")})
}

func FuzzDeflaterTakeover(f *testing.F) {
	f.Add([]byte(`{"type":"trade"}|{"type":"trade","x":1}`), uint8(15))
	f.Add(bytes.Repeat([]byte("ab"), 3000), uint8(8))
	f.Fuzz(func(t *testing.T, data []byte, bits uint8) {
		// '|' splits the input into messages.
		checkTakeoverStream(t, 8+int(bits%8), bytes.Split(data, []byte("|")))
	})
}

// The figures in deflater.go and README.md: 10,000 JSON events of 100 to
// 400 bytes, compressed with the Conn's deflater (context takeover) and
// each on its own with compress/flate (as without takeover); the size of
// the output as a percentage of the plaintext, and the time per message.
func BenchmarkDeflaterTakeover(b *testing.B) {
	msgs := jsonEvents(10000, 7)
	d := new(deflater)
	dst := make([]byte, 0, 64<<10)
	var in, out int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%len(msgs) == 0 {
			d.reset(15)
		}
		m := msgs[i%len(msgs)]
		d.begin()
		z := d.end(d.encode(dst, m))
		in += len(m)
		out += len(z)
	}
	b.ReportMetric(100*float64(out)/float64(in), "%size")
}

func BenchmarkDeflaterPerMessage(b *testing.B) {
	msgs := jsonEvents(10000, 7)
	z := byteSink{b: make([]byte, 0, 64<<10)}
	var in, out int
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m := msgs[i%len(msgs)]
		z.b = z.b[:0]
		deflateMessage(&z, m, flate.BestSpeed, 15)
		in += len(m)
		out += len(z.b)
	}
	b.ReportMetric(100*float64(out)/float64(in), "%size")
}

func TestJSONEventSizes(t *testing.T) {
	msgs := jsonEvents(10000, 7)
	lo, hi, sum := 1<<30, 0, 0
	for _, m := range msgs {
		lo, hi, sum = min(lo, len(m)), max(hi, len(m)), sum+len(m)
	}
	t.Logf("%d events, %d to %d bytes, mean %d", len(msgs), lo, hi, sum/len(msgs))
	if lo < 100 || hi > 400 {
		t.Errorf("events of %d to %d bytes, want 100 to 400", lo, hi)
	}
}
