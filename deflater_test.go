//go:build !js

package websocket

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"unsafe"
)

// deflaterMessage encodes p as one message with d, as Conn.Write does.
func deflaterMessage(d *deflater, p []byte) []byte {
	d.begin()
	dst := make([]byte, 0, deflaterBound(len(p)))
	dst = d.encode(dst, p)
	if storeBetter(len(p), len(dst)) {
		d.rollback()
		d.begin()
		dst = d.store(dst[:0], p)
	}
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

// Random data goes out as stored blocks: at most 6 bytes more than the
// plaintext, where fixed Huffman codes would take 5% more.
func TestDeflaterStoresIncompressible(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	d := new(deflater)
	d.reset(15)
	for _, n := range []int{200, 5000, 20000, 31 << 10} {
		p := make([]byte, n)
		for i := range p {
			p[i] = byte(rng.Uint32())
		}
		if z := deflaterMessage(d, p); len(z) > n+6 {
			t.Errorf("%d random bytes took %d", n, len(z))
		}
	}
	c, peer := newTestConn(t, false, connConfig{deflate: &deflateConfig{level: 1, threshold: 16, sendWindowBits: 15, recvWindowBits: 15, sendTakeover: true}})
	p := make([]byte, 3000)
	for i := range p {
		p[i] = byte(rng.Uint32())
	}
	go c.Write(context.Background(), MessageBinary, p)
	h, payload := peer.recv()
	if len(payload) > len(p)+6 || h.rsv != rsv1 {
		t.Errorf("3000 random bytes sent as %d (RSV %#x)", len(payload), h.rsv)
	}
	var inf inflater
	inf.reset(15, false)
	if got, err := inflateOnce(&inf, append(payload, syncTail[:]...)); err != nil || !bytes.Equal(got, p) {
		t.Errorf("inflated %d bytes, %v", len(got), err)
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

// takeoverEcho sends msgs from cc to sc and back, every third streamed
// through a Writer in pieces, and checks every echo byte-exact.
func takeoverEcho(t *testing.T, sc, cc *Conn, msgs [][]byte) {
	t.Helper()
	ctx := context.Background()
	send := func(c *Conn, i int, m []byte) error {
		if i%3 != 2 {
			return c.Write(ctx, MessageBinary, m)
		}
		w, err := c.Writer(ctx, MessageBinary)
		if err != nil {
			return err
		}
		for len(m) > 0 {
			k := min(len(m), 1+i%3000)
			if _, err := w.Write(m[:k]); err != nil {
				return err
			}
			m = m[k:]
		}
		return w.Close()
	}
	go func() {
		for i := 0; ; i++ {
			_, m, err := sc.Read(ctx)
			if err != nil {
				return
			}
			if err := send(sc, i, m); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	errc := make(chan error, 1)
	go func() {
		for i, m := range msgs {
			if err := send(cc, i, m); err != nil {
				errc <- err
				return
			}
		}
		errc <- nil
	}()
	for i, m := range msgs {
		_, got, err := cc.Read(ctx)
		if err != nil {
			t.Fatalf("echo %d: %v", i, err)
		}
		if !bytes.Equal(got, m) {
			t.Fatalf("echo %d: %d bytes back for %d sent, not the same", i, len(got), len(m))
		}
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func mixedMessages(n int) [][]byte {
	rng := rand.New(rand.NewPCG(3, 4))
	msgs := jsonEvents(n, 5)
	for i := range msgs {
		switch i % 50 {
		case 7:
			msgs[i] = bytes.Repeat(msgs[i], 1+rng.IntN(400)) // up to about 130 KiB: compress/flate
		case 13:
			msgs[i] = randomMessages(1, rng, 20000)[0]
		case 21:
			msgs[i] = msgs[i][:rng.IntN(20)] // below the threshold
		}
	}
	return msgs
}

func TestTakeoverEcho(t *testing.T) {
	for _, bits := range []int{0, 8, 11} {
		t.Run(fmt.Sprint(bits), func(t *testing.T) {
			o := &CompressionOptions{ContextTakeover: true, MaxWindowBits: bits}
			sc, cc, _ := compressedPair(t, o, o, -1)
			if !sc.deflate.sendTakeover || !cc.deflate.sendTakeover || !sc.deflate.recvTakeover || !cc.deflate.recvTakeover {
				t.Fatalf("takeover not agreed both ways: server %+v, client %+v", *sc.deflate, *cc.deflate)
			}
			if sc.deflate.connThreshold() != defaultTakeoverThreshold {
				t.Errorf("threshold %d under takeover, want %d", sc.deflate.connThreshold(), defaultTakeoverThreshold)
			}
			takeoverEcho(t, sc, cc, mixedMessages(3000))
		})
	}
}

// A peer that does not allow takeover gets messages compressed on their own.
func TestTakeoverRefused(t *testing.T) {
	for _, tc := range []struct {
		name           string
		server, client *CompressionOptions
	}{
		{"server_no_context_takeover", &CompressionOptions{}, &CompressionOptions{ContextTakeover: true}},
		{"client_no_context_takeover", &CompressionOptions{ContextTakeover: true, NoContextTakeover: true}, &CompressionOptions{ContextTakeover: true}},
		{"both", &CompressionOptions{NoContextTakeover: true}, &CompressionOptions{ContextTakeover: true, NoContextTakeover: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc, cc, _ := compressedPair(t, tc.server, tc.client, -1)
			if tc.name != "client_no_context_takeover" && cc.deflate.recvTakeover {
				t.Errorf("client expects the server to use takeover")
			}
			if tc.name != "server_no_context_takeover" && cc.deflate.sendTakeover {
				t.Errorf("client sends with takeover though the server said client_no_context_takeover")
			}
			if tc.name != "client_no_context_takeover" && sc.deflate.sendTakeover {
				t.Errorf("server sends with takeover though it said server_no_context_takeover")
			}
			takeoverEcho(t, sc, cc, mixedMessages(500))
			for _, c := range []*Conn{sc, cc} {
				if !c.deflate.sendTakeover && c.comp.dz != nil {
					t.Errorf("a Conn without send takeover holds a deflater")
				}
			}
		})
	}
}

// A compressed message that never went out (its context had ended) must
// not enter the history: the next one may not refer to it.
func TestTakeoverUnsentMessage(t *testing.T) {
	o := &CompressionOptions{ContextTakeover: true}
	sc, cc, _ := compressedPair(t, o, o, -1)
	ctx := context.Background()
	first := []byte(`{"type":"trade","symbol":"BTC-USD","price":43125.5}`)
	if err := cc.Write(ctx, MessageText, first); err != nil {
		t.Fatal(err)
	}
	d := cc.comp.dz
	before := string(d.buf[:d.n])
	unsent := bytes.Repeat([]byte("never sent, never in the history "), 20)
	done, cancel := context.WithCancel(ctx)
	cancel()
	if err := cc.Write(done, MessageText, unsent); !errors.Is(err, context.Canceled) {
		t.Fatalf("Write with an ended context: %v", err)
	}
	w, err := cc.Writer(ctx, MessageText)
	if err != nil {
		t.Fatal(err)
	}
	// A streamed message whose first frame never went out: compressed
	// into the sink, then abandoned.
	w.Write(unsent)
	cc.writer.ctx = done
	if err := w.Close(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Close of a writer with an ended context: %v", err)
	}
	if after := string(d.buf[:d.n]); after != before || cc.comp.dz != d {
		t.Fatalf("history changed by messages that were not sent: %d bytes before, %d after", len(before), len(after))
	}
	// Were the unsent bytes in the history, this would refer to them.
	for _, m := range [][]byte{unsent, first} {
		if err := cc.Write(ctx, MessageText, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range [][]byte{first, unsent, first} {
		_, got, err := sc.Read(ctx)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("read %q, %v; want %q", got, err, want)
		}
	}
	// The deflater goes back to the pool when the Conn ends.
	cc.CloseNow()
	if cc.comp.dz != nil || !cc.comp.dzDone {
		t.Errorf("deflater kept after the Conn ended")
	}
	if err := cc.Write(ctx, MessageText, first); err == nil {
		t.Errorf("Write after CloseNow succeeded")
	}
}

func TestTakeoverWriteAllocs(t *testing.T) {
	skipOverHTTP2(t, "allocation budgets are the library's over TCP; an HTTP/2 stream allocates in net/http")
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race; .ci/run checks allocations without it")
	}
	for _, client := range []bool{false, true} {
		c, p := newTestConn(t, client, connConfig{deflate: &deflateConfig{level: 1, threshold: 16, sendWindowBits: 15, recvWindowBits: 15, sendTakeover: true}})
		go discard(p.nc)
		msgs := jsonEvents(100, 1)
		for _, m := range msgs {
			c.Write(context.Background(), MessageText, m)
		}
		i := 0
		if n := testing.AllocsPerRun(1000, func() { c.Write(context.Background(), MessageText, msgs[i%len(msgs)]); i++ }); n > 0 {
			t.Errorf("client %v: Write under takeover: %v allocs, want 0", client, n)
		}
		if c.comp.dz == nil {
			t.Errorf("client %v: no deflater", client)
		}
	}
}

// A Conn that ends while a Writer holds it gives its deflater back when the
// Writer is closed.
func TestTakeoverReleasedAfterWriter(t *testing.T) {
	o := &CompressionOptions{ContextTakeover: true}
	_, cc, _ := compressedPair(t, o, o, -1)
	ctx := context.Background()
	if err := cc.Write(ctx, MessageText, bytes.Repeat([]byte("abc"), 100)); err != nil {
		t.Fatal(err)
	}
	w, err := cc.Writer(ctx, MessageText)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("partial"))
	cc.CloseNow()
	if cc.comp.dz == nil {
		t.Fatal("deflater taken while a Writer held the Conn")
	}
	w.Close()
	if cc.comp.dz != nil || !cc.comp.dzDone {
		t.Errorf("deflater kept after the Writer of an ended Conn closed")
	}
}

func TestDeflaterSize(t *testing.T) {
	if n := unsafe.Sizeof(deflater{}); n > deflaterSize {
		t.Errorf("a deflater is %d bytes; deflaterSize, which the docs quote, says %d", n, deflaterSize)
	}
}

// A PreparedMessage cannot share a frame compressed on its own with a Conn
// under send takeover: the peer's window would then hold bytes the
// deflater's history does not, and later distances would point elsewhere.
// WritePrepared and Broadcast write it through the Conn instead.
func TestTakeoverPrepared(t *testing.T) {
	o := &CompressionOptions{ContextTakeover: true}
	sc, cc, _ := compressedPair(t, o, o, -1)
	ctx := context.Background()
	msgs := jsonEvents(300, 9)
	go func() {
		for i, m := range msgs {
			var err error
			switch i % 3 {
			case 0:
				err = sc.Write(ctx, MessageText, m)
			case 1:
				pm, _ := NewPreparedMessage(MessageText, m)
				err = sc.WritePrepared(ctx, pm)
			default:
				pm, _ := NewPreparedMessage(MessageText, m)
				err = Broadcast(ctx, []*Conn{sc}, pm)
			}
			if err != nil {
				t.Error(err)
				return
			}
		}
	}()
	for i, m := range msgs {
		_, got, err := cc.Read(ctx)
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("message %d: %q, %v; want %q", i, got, err, m)
		}
	}
}
