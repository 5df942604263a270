package websocket

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"unsafe"
)

// Tests of the resumable DEFLATE decoder (inflate.go), organised by what
// RFC 1951 and RFC 7692 ask of it. compress/flate is the reference: its
// writer produces the streams, its reader says what they decode to.

// feedInflater decodes src with f as a Conn would: the input comes in
// pieces of 1 to maxPiece bytes, each a fresh copy, with what a call did
// not take presented again along with the next piece; every call gets
// room for 1 to maxRoom bytes (in a buffer that holds the output of
// earlier calls: the decoder must not read it). It checks the call contract (all input
// taken unless dst is full) and returns the output and the first error.
func feedInflater(t testing.TB, f *inflater, src []byte, rng *rand.Rand, maxPiece, maxRoom int) ([]byte, error) {
	t.Helper()
	var out, pending []byte
	room := make([]byte, min(maxRoom, 1<<20))
	for len(src) > 0 || len(pending) > 0 {
		// A new piece when the last is used up, or now and then with a
		// few bytes of it left over.
		if len(src) > 0 && (len(pending) == 0 || len(pending) < 64 && rng.IntN(2) == 0) {
			k := 1 + rng.IntN(min(maxPiece, len(src)))
			pending = append(append(make([]byte, 0, len(pending)+k), pending...), src[:k]...)
			src = src[k:]
		}
		dst := room[:1+rng.IntN(len(room))]
		n, m, err := f.inflate(dst, pending)
		out = append(out, dst[:n]...)
		if err != nil {
			return out, err
		}
		if m < len(pending) && n < len(dst) {
			t.Fatalf("inflate took %d of %d input bytes with %d of %d output bytes free; want all input taken unless dst is full",
				m, len(pending), len(dst)-n, len(dst))
		}
		pending = pending[m:]
	}
	for {
		dst := room[:1+rng.IntN(len(room))]
		n, m, err := f.inflate(dst, nil)
		out = append(out, dst[:n]...)
		if err != nil || m != 0 || n < len(dst) {
			if m != 0 {
				t.Fatalf("inflate took %d bytes of empty input", m)
			}
			return out, err
		}
	}
}

// wantSame fails with the first differing byte if got != want.
func wantSame(t testing.TB, what string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Fatalf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
}

// Test data of several kinds, deterministic for a seed.
var inflateKinds = []string{"random", "text", "json", "runs", "mixed"}

func inflateTestData(kind string, size int, rng *rand.Rand) []byte {
	b := make([]byte, 0, size+300)
	switch kind {
	case "random":
		for len(b) < size {
			b = append(b, byte(rng.Uint32()))
		}
	case "text":
		words := strings.Fields("the quick brown fox jumps over a lazy dog while WebSocket frames carry compressed " +
			"messages between client and server and every byte matters to somebody somewhere today")
		for len(b) < size {
			b = append(b, words[rng.IntN(len(words))]...)
			if rng.IntN(12) == 0 {
				b = append(b, ".\n"...)
			} else {
				b = append(b, ' ')
			}
		}
	case "json":
		names := []string{"alice", "bob", "carol", "dave", "eve", "mallory", "trent"}
		for len(b) < size {
			b = fmt.Appendf(b, `{"id":%d,"name":%q,"score":%d.%02d,"tags":["t%d","t%d"],"active":%v},`,
				rng.IntN(100000), names[rng.IntN(len(names))], rng.IntN(1000), rng.IntN(100),
				rng.IntN(20), rng.IntN(20), rng.IntN(2) == 0)
		}
	case "runs":
		// Matches at every distance from 1 up, and maximal lengths.
		for len(b) < size {
			period := 1 + rng.IntN(9)
			if rng.IntN(4) == 0 {
				period = 1 + rng.IntN(3000)
			}
			for range period {
				b = append(b, byte('a'+rng.IntN(4)))
			}
			for n := rng.IntN(600); n > 0; n-- {
				b = append(b, b[len(b)-period])
			}
		}
	case "mixed":
		for len(b) < size {
			k := inflateKinds[rng.IntN(len(inflateKinds)-1)]
			b = append(b, inflateTestData(k, 1+rng.IntN(5000), rng)...)
		}
	}
	return b[:size]
}

// deflate compresses data with compress/flate at level, with a Flush at
// each of flushAt, then Close (a final block).
func deflate(t testing.TB, data []byte, level int, dict []byte, flushAt []int) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := flate.NewWriterDict(&buf, level, dict)
	if err != nil {
		t.Fatal(err)
	}
	done := 0
	for _, at := range flushAt {
		w.Write(data[done:at])
		w.Flush()
		done = at
	}
	w.Write(data[done:])
	w.Close()
	return buf.Bytes()
}

// testDeflateMessage compresses data as permessage-deflate does (RFC 7692,
// Section 7.2.1): a sync flush, whose 00 00 ff ff tail is then removed.
func testDeflateMessage(t testing.TB, w *flate.Writer, buf *bytes.Buffer, data []byte) []byte {
	t.Helper()
	buf.Reset()
	w.Write(data)
	w.Flush()
	b := buf.Bytes()
	if !bytes.HasSuffix(b, syncTailBytes) {
		t.Fatalf("flush output does not end in 00 00 ff ff: % x", b[max(0, len(b)-8):])
	}
	return append([]byte(nil), b[:len(b)-4]...)
}

var syncTailBytes = []byte{0x00, 0x00, 0xff, 0xff}

// splitShapes are the (maxPiece, maxRoom) pairs the differential tests
// feed with: one byte at a time up to everything at once.
var splitShapes = [][2]int{{1, 1}, {1, 1 << 20}, {1 << 20, 1}, {7, 13}, {100, 300}, {5000, 70000}, {1 << 20, 1 << 20}}

// RFC 1951 streams from compress/flate at every level, of every kind and
// size of data, with and without sync points, decode to the same bytes
// for any split of the input and any size of dst.
func TestInflaterMatchesFlate(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 2, 100, 1000, 4099, 40000, 150000}
	if testing.Short() {
		sizes = sizes[:6]
	}
	var f inflater
	for _, kind := range inflateKinds {
		for _, size := range sizes {
			data := inflateTestData(kind, size, rng)
			for level := -2; level <= 9; level++ {
				for _, flushes := range []int{0, 1, 5} {
					var at []int
					for range flushes {
						at = append(at, rng.IntN(size+1))
					}
					slices.Sort(at)
					z := deflate(t, data, level, nil, at)
					shape := splitShapes[rng.IntN(len(splitShapes))]
					if size > 20000 && shape[0]*shape[1] < 100 {
						shape = [2]int{3, 1000} // keep the big ones quick
					}
					name := fmt.Sprintf("%s/%d/level %d/%d flushes/pieces %d/room %d", kind, size, level, flushes, shape[0], shape[1])
					f.reset(15, false)
					// Junk after the final block is ignored.
					got, err := feedInflater(t, &f, append(z, 0xde, 0xad), rng, shape[0], shape[1])
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					wantSame(t, name, got, data)
					if !f.ended() {
						t.Fatalf("%s: ended() = false after the final block", name)
					}
				}
			}
		}
	}
}

// RFC 7692, Section 7.2.2: under context takeover the window carries from
// message to message. Two ways to make such messages: one compressor that
// goes on (what a peer does), and independent streams each given the
// previous messages as a dictionary (flate.NewWriterDict), ending in a
// sync flush or in a final block.
func TestInflaterHistoryAcrossStreams(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, kind := range inflateKinds {
		for level := -2; level <= 9; level++ {
			t.Run(fmt.Sprintf("%s/level %d", kind, level), func(t *testing.T) {
				var f inflater
				var buf bytes.Buffer
				w, _ := flate.NewWriter(&buf, level)
				var history []byte
				for i := range 8 {
					msg := inflateTestData(kind, rng.IntN(3000)*(1+i%3*10), rng)
					if rng.IntN(2) == 0 && len(history) > 100 {
						// Repeat a piece of an earlier message.
						j := rng.IntN(len(history) - 50)
						msg = append(msg, history[j:j+50]...)
					}
					shape := splitShapes[rng.IntN(len(splitShapes))]
					var z []byte
					mode := i % 3
					switch mode {
					case 0: // one compressor for the whole connection
						z = append(testDeflateMessage(t, w, &buf, msg), syncTailBytes...)
					case 1: // an independent stream with the history as dictionary, sync flush
						var b bytes.Buffer
						dw, _ := flate.NewWriterDict(&b, level, history[max(0, len(history)-32768):])
						dw.Write(msg)
						dw.Flush()
						z = b.Bytes()
					case 2: // the same, ending in a final block
						z = deflate(t, msg, level, history[max(0, len(history)-32768):], nil)
					}
					f.reset(15, true)
					got, err := feedInflater(t, &f, z, rng, shape[0], shape[1])
					if err != nil {
						t.Fatalf("message %d (mode %d): %v", i, mode, err)
					}
					wantSame(t, fmt.Sprintf("message %d (mode %d)", i, mode), got, msg)
					if mode == 2 && !f.ended() || mode != 2 && !f.idle() {
						t.Fatalf("message %d (mode %d): idle() = %v, ended() = %v", i, mode, f.idle(), f.ended())
					}
					history = append(history, msg...)
					if mode != 0 {
						// The connection's compressor has not seen msg:
						// start it again with the right history.
						w, _ = flate.NewWriterDict(&buf, level, history[max(0, len(history)-32768):])
					}
				}
			})
		}
	}
}

// RFC 7692, Section 7.2.3: the examples, byte for byte. The receiver
// appends 00 00 ff ff to each message (Section 7.2.2), after which the
// decoder is idle; a stream with a final block ends without it.
func TestInflaterRFC7692Examples(t *testing.T) {
	const (
		tail  = iota // the message as sent: the receiver appends the tail
		asIs         // the sender's output before it removes the tail
		final        // ends in a final block: nothing appended, ended()
	)
	tests := []struct {
		name     string
		messages []string // compressed messages, in hex, decoded with shared history
		want     []string
		how      int
	}{
		{"7.2.3.1 a message compressed", []string{"f2 48 cd c9 c9 07 00"}, []string{"Hello"}, tail},
		{"7.2.3.1 with its sync flush tail", []string{"f2 48 cd c9 c9 07 00 00 00 ff ff"}, []string{"Hello"}, asIs},
		{"7.2.3.2 sharing the LZ77 window", []string{"f2 48 cd c9 c9 07 00", "f2 00 11 00 01 00"}, []string{"Hello", "Hello"}, tail},
		{"7.2.3.3 a block with no compression", []string{"00 05 00 fa ff 48 65 6c 6c 6f 00"}, []string{"Hello"}, tail},
		{"7.2.3.4 a block with BFINAL set", []string{"f3 48 cd c9 c9 07 00 00"}, []string{"Hello"}, final},
		{"7.2.3.5 two blocks in one message", []string{"f2 48 05 00 00 00 ff ff ca c9 c9 07 00"}, []string{"Hello"}, tail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, pieces := range []int{1, 2, 100} {
				var f inflater
				for i, m := range tt.messages {
					z := unhex(m)
					if tt.how == tail {
						z = append(z, syncTailBytes...)
					}
					f.reset(15, true)
					got, err := feedInflater(t, &f, z, rand.New(rand.NewPCG(uint64(pieces), 0)), pieces, pieces)
					if err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					if string(got) != tt.want[i] {
						t.Fatalf("message %d in pieces of %d: got %q, want %q", i, pieces, got, tt.want[i])
					}
					if f.ended() != (tt.how == final) || f.idle() != (tt.how != final) {
						t.Fatalf("message %d: idle() = %v, ended() = %v", i, f.idle(), f.ended())
					}
				}
			}
		})
	}
}

// Without context takeover the second message of 7.2.3.2 refers to
// nothing: it must fail, not read another message's bytes.
func TestInflaterNoTakeoverForgets(t *testing.T) {
	var f inflater
	f.reset(15, true)
	if got, err := inflateOnce(&f, unhex("f2 48 cd c9 c9 07 00 00 00 ff ff")); err != nil || string(got) != "Hello" {
		t.Fatalf("first message: got %q, %v; want \"Hello\", nil", got, err)
	}
	f.reset(15, false)
	if got, err := inflateOnce(&f, unhex("f2 00 11 00 01 00 00 00 ff ff")); err != errCorruptDeflate {
		t.Fatalf("second message without takeover: got %q, %v; want %v", got, err, errCorruptDeflate)
	}
	f.reset(15, true)
	f.release()
	f.reset(15, true)
	if got, err := inflateOnce(&f, unhex("f2 00 11 00 01 00 00 00 ff ff")); err != errCorruptDeflate {
		t.Fatalf("second message after release: got %q, %v; want %v", got, err, errCorruptDeflate)
	}
	f.resetDict(15, []byte("Hello"))
	if got, err := inflateOnce(&f, unhex("f2 00 11 00 01 00 00 00 ff ff")); err != nil || string(got) != "Hello" {
		t.Fatalf("second message with \"Hello\" as dictionary: got %q, %v; want \"Hello\", nil", got, err)
	}
}

// inflateOnce decodes src in one call with plenty of room.
func inflateOnce(f *inflater, src []byte) ([]byte, error) {
	dst := make([]byte, 1<<20)
	n, _, err := f.inflate(dst, src)
	return dst[:n], err
}

// deflateBits writes a DEFLATE stream bit by bit, for streams
// compress/flate would not produce.
type deflateBits struct {
	out []byte
	acc uint64
	n   uint
}

// bits writes the n low bits of v, least significant first.
func (w *deflateBits) bits(v uint64, n uint) {
	w.acc |= v << w.n
	w.n += n
	for w.n >= 8 {
		w.out = append(w.out, byte(w.acc))
		w.acc >>= 8
		w.n -= 8
	}
}

// code writes a Huffman code of n bits, most significant first.
func (w *deflateBits) code(c uint64, n uint) { w.bits(uint64(reverseBits(int(c), n)), n) }

// align pads to a byte boundary with zeros.
func (w *deflateBits) align() {
	if w.n > 0 {
		w.bits(0, 8-w.n)
	}
}

func (w *deflateBits) bytes() []byte {
	w.align()
	return w.out
}

// fixedSym writes literal/length symbol s in the fixed code (RFC 1951,
// Section 3.2.6).
func (w *deflateBits) fixedSym(s int) {
	switch {
	case s < 144:
		w.code(uint64(0x30+s), 8)
	case s < 256:
		w.code(uint64(0x190+s-144), 9)
	case s < 280:
		w.code(uint64(s-256), 7)
	default:
		w.code(uint64(0xc0+s-280), 8)
	}
}

// fixedMatch writes a match in the fixed code.
func (w *deflateBits) fixedMatch(length, dist int) {
	i := len(lengthBase) - 1
	for int(lengthBase[i]) > length {
		i--
	}
	if length == 258 {
		i = 28
	}
	w.fixedSym(257 + i)
	w.bits(uint64(length-int(lengthBase[i])), uint(lengthExtra[i]))
	j := len(distBase) - 1
	for int(distBase[j]) > dist {
		j--
	}
	w.code(uint64(j), 5)
	w.bits(uint64(dist-int(distBase[j])), uint(distExtra[j]))
}

// fixedBlock writes a fixed Huffman block encoding data with greedy LZ77
// matches no further back than window bytes, into history (the bytes
// before data, which matches may also reach).
func (w *deflateBits) fixedBlock(history, data []byte, window int, final bool) {
	w.bits(boolBit(final)|1<<1, 3)
	all := append(append([]byte(nil), history...), data...)
	last := map[[3]byte]int{} // the latest position of each 3 bytes
	insert := func(k int) {
		if k+3 <= len(all) {
			last[[3]byte(all[k:])] = k
		}
	}
	for k := range history {
		insert(k)
	}
	for i := len(history); i < len(all); {
		j, ok := 0, false
		if i+3 <= len(all) {
			j, ok = last[[3]byte(all[i:])]
		}
		if ok && i-j <= window {
			n := 3
			for n < 258 && i+n < len(all) && all[j+n] == all[i+n] {
				n++
			}
			w.fixedMatch(n, i-j)
			for k := i; k < i+n; k++ {
				insert(k)
			}
			i += n
			continue
		}
		w.fixedSym(int(all[i]))
		insert(i)
		i++
	}
	w.fixedSym(256)
}

func boolByte(b bool) uint8 { return uint8(boolBit(b)) }

func boolBit(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// RFC 7692, Section 7.1.2: a window of 2^bits bytes. Back-references up
// to that far decode; one further, or further than the history, fails.
func TestInflaterWindowBits(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for bits := 8; bits <= 15; bits++ {
		window := 1 << bits
		// Data that repeats at distances up to the window and beyond.
		data := inflateTestData("runs", 3*window, rng)
		var w deflateBits
		w.fixedBlock(nil, data, window, true)
		z := w.bytes()
		if ref, err := io.ReadAll(flate.NewReader(bytes.NewReader(z))); err != nil || !bytes.Equal(ref, data) {
			t.Fatalf("bits %d: the test encoder is wrong: compress/flate says %v", bits, err)
		}
		var f inflater
		f.reset(bits, false)
		got, err := feedInflater(t, &f, z, rng, 50, 70)
		if err != nil {
			t.Fatalf("bits %d: %v", bits, err)
		}
		wantSame(t, fmt.Sprintf("bits %d", bits), got, data)

		// A match exactly window back, then one window+1 back.
		for _, tc := range []struct {
			dist int
			want error
		}{{window, nil}, {window + 1, errCorruptDeflate}} {
			if tc.dist > 32768 {
				continue
			}
			var w deflateBits
			lits := inflateTestData("random", window+1, rng)
			w.fixedBlock(nil, lits, 0, false)
			w.bits(1|1<<1, 3)
			w.fixedMatch(10, tc.dist)
			w.fixedSym(256)
			for _, shape := range splitShapes {
				f.reset(bits, false)
				_, err := feedInflater(t, &f, w.bytes(), rng, shape[0], shape[1])
				if err != tc.want {
					t.Errorf("bits %d, distance %d, pieces %d, room %d: got %v, want %v", bits, tc.dist, shape[0], shape[1], err, tc.want)
				}
			}
		}
	}

	// Beyond the history: 100 bytes in, a match 101 back; then the same
	// with 1 byte of an earlier message kept (takeover), which is enough.
	var w deflateBits
	w.fixedBlock(nil, inflateTestData("random", 100, rng), 0, false)
	w.bits(1|1<<1, 3)
	w.fixedMatch(3, 101)
	w.fixedSym(256)
	z := w.bytes()
	var f inflater
	for _, shape := range splitShapes {
		f.reset(15, false)
		if _, err := feedInflater(t, &f, z, rng, shape[0], shape[1]); err != errCorruptDeflate {
			t.Errorf("distance beyond the history, pieces %d, room %d: got %v, want %v", shape[0], shape[1], err, errCorruptDeflate)
		}
		f.resetDict(15, []byte{'x'})
		if _, err := feedInflater(t, &f, z, rng, shape[0], shape[1]); err != nil {
			t.Errorf("distance into a 1-byte history, pieces %d, room %d: %v", shape[0], shape[1], err)
		}
	}
	// The history kept is that of the window: with 8 bits, 256 bytes.
	f.reset(15, false)
	inflateOnce(&f, deflate(t, inflateTestData("random", 1000, rng), 0, nil, nil))
	f.reset(8, true)
	var w2 deflateBits
	w2.bits(1|1<<1, 3)
	w2.fixedMatch(3, 257)
	w2.fixedSym(256)
	if _, err := inflateOnce(&f, w2.bytes()); err != errCorruptDeflate {
		t.Errorf("distance 257 with 8 window bits and 1000 bytes of history: got %v, want %v", err, errCorruptDeflate)
	}
}

// Hand-built streams at the edges of RFC 1951.
func TestInflaterEdgeCases(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	random32k := inflateTestData("random", 32768, rng)
	stored := func(final bool, data []byte) []byte {
		b := []byte{byte(boolBit(final)), byte(len(data)), byte(len(data) >> 8), ^byte(len(data)), ^byte(len(data) >> 8)}
		return append(b, data...)
	}
	concat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	var maxMatch deflateBits // 258 bytes from 32768 back
	maxMatch.bits(1|1<<1, 3)
	maxMatch.fixedMatch(258, 32768)
	maxMatch.fixedMatch(258, 1)
	maxMatch.fixedSym(256)
	var fixedHello deflateBits
	fixedHello.fixedBlock(nil, []byte("Hello, Hello, Hello!"), 32768, true)
	big := inflateTestData("random", 65535, rng)

	tests := []struct {
		name  string
		z     []byte
		want  []byte
		ended bool // else idle
	}{
		{"empty stored block", unhex("00 00 00 ff ff"), nil, false},
		{"final empty stored block", unhex("01 00 00 ff ff"), nil, true},
		{"empty stored blocks in a row", unhex("00 00 00 ff ff 00 00 00 ff ff 00 00 00 ff ff"), nil, false},
		{"stored block of 65535 bytes", stored(true, big), big, true},
		{"stored blocks of 0 and 65535 bytes", concat(stored(false, nil), stored(false, big), stored(true, nil)), big, true},
		{"fixed Huffman block", fixedHello.bytes(), []byte("Hello, Hello, Hello!"), true},
		{"empty fixed block", unhex("03 00"), nil, true},
		{"length 258 at distance 32768, then at distance 1", concat(stored(false, random32k), maxMatch.bytes()),
			concat(random32k, random32k[:258], bytes.Repeat(random32k[257:258], 258)), true},
		{"BFINAL then junk", unhex("f3 48 cd c9 c9 07 00 ff ff ff 07 de ad be ef"), []byte("Hello"), true},
	}
	for _, tt := range tests {
		for _, shape := range splitShapes {
			var f inflater
			got, err := feedInflater(t, &f, tt.z, rng, shape[0], shape[1])
			if err != nil {
				t.Fatalf("%s, pieces %d, room %d: %v", tt.name, shape[0], shape[1], err)
			}
			wantSame(t, tt.name, got, tt.want)
			if f.ended() != tt.ended || f.idle() == tt.ended {
				t.Fatalf("%s: ended() = %v, idle() = %v; want ended() = %v", tt.name, f.ended(), f.idle(), tt.ended)
			}
			if ref, err := io.ReadAll(flate.NewReader(bytes.NewReader(tt.z))); tt.ended && (err != nil || !bytes.Equal(ref, tt.want)) {
				t.Fatalf("%s: compress/flate disagrees: %v", tt.name, err)
			}
		}
	}
}

// A dynamic Huffman header can be split anywhere, even between the bits
// of a code length: every split point of a stream gives the same output.
func TestInflaterSplitEverywhere(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	data := inflateTestData("text", 3000, rng)
	z := deflate(t, data, 9, nil, []int{1000, 1001, 2000})
	if z[0]>>1&3 != 2 {
		t.Fatalf("the first block is of type %d, want a dynamic block (2)", z[0]>>1&3)
	}
	var f inflater
	for i := range z {
		f.reset(15, false)
		out := make([]byte, len(data)+1)
		n1, m1, err1 := f.inflate(out, z[:i])
		n2, m2, err2 := f.inflate(out[n1:], append([]byte(nil), z[i:]...))
		if err1 != nil || err2 != nil || m1 != i || m2 != len(z)-i {
			t.Fatalf("split at %d: took %d and %d bytes, errors %v, %v", i, m1, m2, err1, err2)
		}
		wantSame(t, fmt.Sprintf("split at %d", i), out[:n1+n2], data)
		if !f.ended() {
			t.Fatalf("split at %d: not ended", i)
		}
	}
}

// Corrupt streams fail with errCorruptDeflate, wherever the input is cut,
// and the error sticks; compress/flate calls them corrupt too.
func TestInflaterCorrupt(t *testing.T) {
	fixed := func(build func(w *deflateBits)) []byte {
		var w deflateBits
		w.bits(1|1<<1, 3)
		build(&w)
		return w.bytes()
	}
	// dynamic writes a dynamic block header with the given counts and
	// code length code lengths, then the raw bits of codes.
	dynamic := func(hlit, hdist, hclen int, clens []uint8, rest func(w *deflateBits)) []byte {
		var w deflateBits
		w.bits(1|2<<1, 3)
		w.bits(uint64(hlit), 5)
		w.bits(uint64(hdist), 5)
		w.bits(uint64(hclen), 4)
		for _, l := range clens {
			w.bits(uint64(l), 3)
		}
		if rest != nil {
			rest(&w)
		}
		w.bits(0, 32) // plenty of zero bits after
		w.bits(0, 32)
		return w.bytes()
	}
	// A code length code where symbols 0-15 have 4 bits, 16-18 none:
	// lengths in codeLenOrder.
	var clens4 []uint8
	for _, s := range codeLenOrder {
		clens4 = append(clens4, 4*boolByte(s < 16))
	}
	tests := []struct {
		name string
		z    []byte
	}{
		{"reserved block type", unhex("07 00")},
		{"stored LEN and NLEN disagree", unhex("01 05 00 fa fe 48 65 6c 6c 6f")},
		{"stored NLEN of zero length not ffff", unhex("01 00 00 00 00")},
		{"fixed: literal/length symbol 286", fixed(func(w *deflateBits) { w.fixedSym(286) })},
		{"fixed: literal/length symbol 287", fixed(func(w *deflateBits) { w.fixedSym(287) })},
		{"fixed: distance symbol 30", fixed(func(w *deflateBits) { w.fixedSym('a'); w.fixedSym(257); w.code(30, 5) })},
		{"fixed: distance before any output", fixed(func(w *deflateBits) { w.fixedMatch(3, 1) })},
		{"fixed: distance beyond the output", fixed(func(w *deflateBits) { w.fixedSym('a'); w.fixedMatch(3, 2) })},
		{"dynamic: 287 literal/length codes", dynamic(30, 0, 15, clens4, nil)},
		{"dynamic: 31 distance codes", dynamic(0, 30, 15, clens4, nil)},
		{"dynamic: code length code over-subscribed", dynamic(0, 0, 15, bytes.Repeat([]byte{1}, 19), nil)},
		{"dynamic: code length code incomplete", dynamic(0, 0, 0, []uint8{2, 2, 2, 0}, nil)},
		{"dynamic: no code length codes", dynamic(0, 0, 0, []uint8{0, 0, 0, 0}, nil)},
		{"dynamic: repeat with nothing before", dynamic(0, 0, 0, []uint8{1, 0, 0, 1}, func(w *deflateBits) { w.code(1, 1) })},
		{"dynamic: literal/length code over-subscribed", dynamic(0, 0, 15, clens4, func(w *deflateBits) {
			for range 258 {
				w.code(1, 4) // every length 1
			}
		})},
		{"dynamic: literal/length code incomplete", dynamic(0, 0, 15, clens4, func(w *deflateBits) {
			for range 258 {
				w.code(9, 4) // every length 9: 258 of 512
			}
		})},
		{"dynamic: lengths run past HLIT+HDIST", dynamic(0, 0, 15, clens4, func(w *deflateBits) {
			// 18 with 4 bits: code lengths 0-15 take 4 bits each, so
			// rebuild: lengths 1 for 0 and 18, 0 for the rest.
		})},
	}
	// The last case needs its own code length code: symbols 0 and 18 of
	// one bit each; then 18 (138 zeros) three times runs past 258.
	{
		var cl []uint8
		for _, s := range codeLenOrder {
			cl = append(cl, boolByte(s == 0 || s == 18))
		}
		tests[len(tests)-1].z = dynamic(0, 0, 15, cl, func(w *deflateBits) {
			for range 3 {
				w.code(1, 1)
				w.bits(127, 7)
			}
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := io.ReadAll(flate.NewReader(bytes.NewReader(tt.z))); !errors.As(err, new(flate.CorruptInputError)) {
				t.Fatalf("compress/flate: got %v, want a CorruptInputError", err)
			}
			rng := rand.New(rand.NewPCG(11, 12))
			for _, shape := range splitShapes {
				var f inflater
				_, err := feedInflater(t, &f, tt.z, rng, shape[0], shape[1])
				if err != errCorruptDeflate {
					t.Fatalf("pieces %d, room %d: got %v, want %v", shape[0], shape[1], err, errCorruptDeflate)
				}
				if f.idle() || f.ended() {
					t.Fatalf("after the error: idle() = %v, ended() = %v, want both false", f.idle(), f.ended())
				}
				if _, _, err := f.inflate(make([]byte, 10), []byte{0}); err != errCorruptDeflate {
					t.Fatalf("the call after the error: got %v, want %v", err, errCorruptDeflate)
				}
			}
		})
	}
}

// A message that the receiver ends with 00 00 ff ff leaves the decoder
// idle only once that tail is in, and not while a match is still being
// copied out into a small dst.
func TestInflaterIdle(t *testing.T) {
	var f inflater
	if !f.idle() || f.ended() {
		t.Fatalf("zero value: idle() = %v, ended() = %v; want true, false", f.idle(), f.ended())
	}
	var w deflateBits
	w.bits(0|1<<1, 3)
	w.fixedSym('a')
	w.fixedMatch(258, 1)
	w.fixedSym(256)
	w.bits(0, 3) // the empty stored block of a sync flush
	msg := w.bytes()
	dst := make([]byte, 100)
	n, m, err := f.inflate(dst, msg)
	if err != nil || m != len(msg) || n != 100 {
		t.Fatalf("got %d, %d, %v; want 100, %d, nil", n, m, err, len(msg))
	}
	if f.idle() {
		t.Fatal("idle() with 159 bytes of a match still to copy")
	}
	n, m, err = f.inflate(dst, syncTailBytes)
	if err != nil || n != 100 || m != 0 {
		t.Fatalf("with the tail and a full dst: got %d, %d, %v; want 100, 0, nil", n, m, err)
	}
	n, m, err = f.inflate(dst, syncTailBytes)
	if err != nil || n != 59 || m != 4 || !f.idle() {
		t.Fatalf("got %d, %d, %v, idle() = %v; want 59, 4, nil, true", n, m, err, f.idle())
	}
	// A full dst does not stop the decoder taking input that gives no
	// output: the tail after a message whose output fitted exactly.
	f.reset(15, false)
	z := unhex("f2 48 cd c9 c9 07 00")
	if n, m, err := f.inflate(dst[:5], z); n != 5 || m != len(z) || err != nil {
		t.Fatalf("\"Hello\" into 5 bytes: got %d, %d, %v; want 5, %d, nil", n, m, len(z), err)
	}
	if n, m, err := f.inflate(dst[:0], syncTailBytes); n != 0 || m != 4 || err != nil || !f.idle() {
		t.Fatalf("the tail into no room: got %d, %d, %v, idle() = %v; want 0, 4, nil, true", n, m, err, f.idle())
	}
}

// Steady state costs no allocation: not per call, not per message.
func TestInflaterAllocs(t *testing.T) {
	rng := rand.New(rand.NewPCG(13, 14))
	data := inflateTestData("mixed", 50000, rng)
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, 6)
	msg := append(testDeflateMessage(t, w, &buf, data), syncTailBytes...)
	var f inflater
	dst := make([]byte, 4096)
	run := func() {
		f.reset(15, true)
		for src := msg; len(src) > 0 || !f.idle(); {
			k := min(len(src), 1000)
			_, m, err := f.inflate(dst, src[:k])
			if err != nil {
				t.Fatal(err)
			}
			src = src[m:]
		}
	}
	run() // the history grows to the window
	if allocs := testing.AllocsPerRun(20, run); allocs != 0 {
		t.Errorf("inflating a 50 KB message in 1000-byte pieces: %v allocs, want 0", allocs)
	}
}

// The value is as large as its doc comment says, and the buffer of a
// short history is short.
func TestInflaterMemory(t *testing.T) {
	var f inflater
	if size := unsafe.Sizeof(f); size > 8<<10 {
		t.Errorf("an inflater is %d bytes, want at most 8 KiB as documented", size)
	}
	if _, err := inflateOnce(&f, unhex("f3 48 cd c9 c9 07 00")); err != nil {
		t.Fatal(err)
	}
	if got := cap(f.hist); got != 256 {
		t.Errorf("history buffer after 5 bytes: %d bytes, want 256", got)
	}
	f.reset(10, true)
	inflateOnce(&f, deflate(t, inflateTestData("random", 5000, rand.New(rand.NewPCG(1, 1))), 1, nil, nil))
	if got := cap(f.hist); got != 1024 {
		t.Errorf("history buffer with 10 window bits: %d bytes, want 1024", got)
	}
	f.release()
	if f.hist != nil || !f.idle() {
		t.Errorf("after release: %d bytes of history buffer, idle() = %v; want none, true", cap(f.hist), f.idle())
	}
}

// FuzzInflate decodes arbitrary bytes, split as the seed says, and holds
// the result against compress/flate:
//
//   - flate decodes the stream: so do we, to the same bytes, and ended();
//   - flate finds it corrupt: we fail too, with the same output before;
//   - flate runs out of input (io.ErrUnexpectedEOF): for us that is
//     "needs more input", or an error flate would find with more bits
//     (it waits for more bits than a code may need); flate's output is a
//     prefix of ours.
//
// No input may panic, and the call contract holds for every split.
func FuzzInflate(f *testing.F) {
	rng := rand.New(rand.NewPCG(15, 16))
	for _, level := range []int{-2, 0, 1, 6, 9} {
		for _, kind := range inflateKinds {
			f.Add(deflate(f, inflateTestData(kind, 200, rng), level, nil, []int{100}), uint64(level))
		}
	}
	for _, s := range []string{
		"f2 48 cd c9 c9 07 00 00 00 ff ff", "f3 48 cd c9 c9 07 00", "00 05 00 fa ff 48 65 6c 6c 6f 01 00 00 ff ff",
		"07 00", "01 05 00 fa fe", "05 c0 81 00 00 00 00 00 90 ff 6b 04",
	} {
		f.Add(unhex(s), uint64(len(s)))
	}
	f.Add(unhex("f2 00 11 00 01 00 00 00 ff ff"), uint64(1<<12|5<<16))
	const limit = 1 << 20 // of output
	// Some runs start with a preset dictionary, up to more than the
	// window, so that back-references reach into the history buffer.
	dictionary := inflateTestData("mixed", 40000, rng)
	f.Fuzz(func(t *testing.T, z []byte, seed uint64) {
		var dict []byte
		if seed&(1<<12) != 0 {
			dict = dictionary[int(seed>>16%uint64(len(dictionary))):]
		}
		ref, refErr := io.ReadAll(io.LimitReader(flate.NewReaderDict(bytes.NewReader(z), dict), limit+1))
		rng := rand.New(rand.NewPCG(seed, seed>>32))
		maxPiece := 1 + int(seed%64)
		if seed&(1<<10) != 0 {
			maxPiece = len(z) + 1
		}
		maxRoom := 1 + int(seed>>6%300)
		if seed&(1<<11) != 0 {
			maxRoom = limit
		}
		var inf inflater
		inf.resetDict(15, dict)
		got, err := feedInflaterLimited(t, &inf, z, rng, maxPiece, maxRoom, limit)
		if len(ref) > limit {
			// compress/flate got that far without an error: so must we.
			if len(got) <= limit {
				t.Fatalf("compress/flate gives more than %d bytes; we: %d bytes, %v", limit, len(got), err)
			}
			wantSame(t, "output up to the limit", got[:limit], ref[:limit])
			return
		}
		switch {
		case refErr == nil:
			if err != nil || !inf.ended() {
				t.Fatalf("compress/flate decodes the stream; we: %v, ended() = %v", err, inf.ended())
			}
			wantSame(t, "output", got, ref)
		case errors.As(refErr, new(flate.CorruptInputError)):
			if err != errCorruptDeflate {
				t.Fatalf("compress/flate: %v; we: %v", refErr, err)
			}
			wantSame(t, "output before the error", got, ref)
		case refErr == io.ErrUnexpectedEOF:
			if inf.ended() {
				t.Fatalf("compress/flate: %v; we: ended", refErr)
			}
			if len(got) < len(ref) {
				t.Fatalf("compress/flate: %v with %d bytes; we: %v with %d", refErr, len(ref), err, len(got))
			}
			wantSame(t, "output before the end of the input", got[:len(ref)], ref)
		default:
			t.Fatalf("compress/flate: unexpected error %v", refErr)
		}
	})
}

// feedInflaterLimited is feedInflater, stopping once limit bytes are out.
func feedInflaterLimited(t *testing.T, f *inflater, src []byte, rng *rand.Rand, maxPiece, maxRoom, limit int) ([]byte, error) {
	var out, pending []byte
	room := make([]byte, min(maxRoom, 1<<20))
	for {
		if len(src) > 0 && (len(pending) == 0 || len(pending) < 64 && rng.IntN(2) == 0) {
			k := 1 + rng.IntN(min(maxPiece, len(src)))
			pending = append(append(make([]byte, 0, len(pending)+k), pending...), src[:k]...)
			src = src[k:]
		}
		dst := room[:1+rng.IntN(len(room))]
		n, m, err := f.inflate(dst, pending)
		out = append(out, dst[:n]...)
		if err != nil || len(out) > limit {
			return out, err
		}
		if m < len(pending) && n < len(dst) {
			t.Fatalf("inflate took %d of %d input bytes with %d output bytes free", m, len(pending), len(dst)-n)
		}
		pending = pending[m:]
		if len(src) == 0 && len(pending) == 0 && n < len(dst) {
			return out, nil
		}
	}
}

// Random complete codes up to 15 bits, for every alphabet size, decode
// through the tables to their symbols: every code, whatever bits follow
// it. The canonical codes here come from the algorithm of RFC 1951,
// Section 3.2.2, as the RFC writes it. Deep codes make subtables, and
// none of them runs out of table room.
func TestInflaterHuffmanTables(t *testing.T) {
	rng := rand.New(rand.NewPCG(19, 20))
	var table [litTableSize]uint32
	for round := range 3000 {
		nsym := 2 + rng.IntN(maxLitCodes-1)
		maxRoot := uint(litRootBits)
		if round%2 == 1 {
			nsym = 2 + rng.IntN(maxDistCodes-1)
			maxRoot = distRootBits
		}
		// Split leaves of a binary tree until it has nsym of them,
		// mostly the deepest (long codes, many subtables).
		depths := []int{0}
		for len(depths) < nsym {
			i := rng.IntN(len(depths))
			if rng.IntN(3) != 0 {
				for j, d := range depths {
					if d < maxCodeBits && (depths[i] >= maxCodeBits || d > depths[i]) {
						i = j
					}
				}
			}
			if depths[i] >= maxCodeBits {
				break
			}
			depths[i]++
			depths = append(depths, depths[i])
		}
		lens := make([]uint8, nsym)
		for i, s := range rng.Perm(nsym)[:len(depths)] {
			lens[s] = uint8(depths[i])
		}
		payload := make([]uint32, nsym)
		for s := range payload {
			payload[s] = uint32(s) << entryValueShift
		}
		root, ok := buildHuffman(table[:], maxRoot, lens, payload)
		if !ok {
			t.Fatalf("round %d: a complete code of %d symbols was refused: %v", round, nsym, lens)
		}
		var blCount [maxCodeBits + 1]int
		for _, n := range lens {
			blCount[n]++
		}
		blCount[0] = 0
		var nextCode [maxCodeBits + 1]int
		code := 0
		for bits := 1; bits <= maxCodeBits; bits++ {
			code = (code + blCount[bits-1]) << 1
			nextCode[bits] = code
		}
		for s, n := range lens {
			if n == 0 {
				continue
			}
			c := nextCode[n]
			nextCode[n]++
			for range 4 {
				in := uint64(reverseBits(c, uint(n))) | rng.Uint64()<<n
				e := lookup(table[:], root, in)
				if got := int(e >> entryValueShift); got != s || e&15 != uint32(n) {
					t.Fatalf("round %d: symbol %d (code length %d): got symbol %d, length %d", round, s, n, got, e&15)
				}
			}
		}
	}
}
