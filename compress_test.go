//go:build !js

package websocket

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestParseExtensions(t *testing.T) {
	tests := []struct {
		in   []string
		want string // extensions as name(p=v,...) joined by |
		err  bool
	}{
		{[]string{"permessage-deflate"}, "permessage-deflate()", false},
		{[]string{"permessage-deflate; client_max_window_bits"}, "permessage-deflate(client_max_window_bits)", false},
		{[]string{`permessage-deflate;server_max_window_bits="10" ; client_no_context_takeover`}, "permessage-deflate(server_max_window_bits=10,client_no_context_takeover)", false},
		{[]string{"a, b; x=1", "c"}, "a()|b(x=1)|c()", false},
		{[]string{" , a ,, "}, "a()", false},
		{[]string{"a; =1"}, "", true},
		{[]string{"a;"}, "", true},
		{[]string{"a b"}, "", true},
		{[]string{`a; x="unterminated`}, "", true},
		{[]string{"a; x=\"ctl\x01\""}, "", true},
		{[]string{"a\r\nX: y"}, "", true},
		{[]string{"a" + strings.Repeat("; p", maxExtensionParams)}, "a(" + strings.TrimSuffix(strings.Repeat("p,", maxExtensionParams), ",") + ")", false},
		{[]string{"a" + strings.Repeat("; p", maxExtensionParams+1)}, "", true},
		{[]string{strings.Repeat("e, ", maxExtensions+1)}, "", true},
	}
	for _, tt := range tests {
		exts, err := parseExtensions(tt.in)
		if (err != nil) != tt.err {
			t.Errorf("%q: err = %v", tt.in, err)
			continue
		}
		var parts []string
		for _, e := range exts {
			var ps []string
			for _, p := range e.params {
				if p.hasValue {
					ps = append(ps, p.name+"="+p.value)
				} else {
					ps = append(ps, p.name)
				}
			}
			parts = append(parts, e.name+"("+strings.Join(ps, ",")+")")
		}
		if got := strings.Join(parts, "|"); !tt.err && got != tt.want {
			t.Errorf("%q = %s, want %s", tt.in, got, tt.want)
		}
	}
}

// Crafted headers cost time linear in their size: ten times the input,
// about ten times the work, never a blow-up.
func TestParseExtensionsLinear(t *testing.T) {
	measure := func(n int) time.Duration {
		inputs := []string{
			strings.Repeat(",", n),
			"permessage-deflate" + strings.Repeat("; a", n/3),
			`x; y="` + strings.Repeat(`\"`, n/2) + `"`,
		}
		start := time.Now()
		for i := 0; i < 5; i++ {
			for _, in := range inputs {
				parseExtensions([]string{in})
				acceptDeflate([]string{in}, &CompressionOptions{})
			}
		}
		return time.Since(start)
	}
	measure(1000)
	small, large := measure(20000), measure(200000)
	if large > 40*small+10*time.Millisecond {
		t.Errorf("10x input took %v vs %v: not linear", large, small)
	}
}

func TestAcceptDeflate(t *testing.T) {
	tests := []struct {
		offer    string
		opts     CompressionOptions
		resp     string // "" = declined
		send     int
		takeover bool
		recv     int
	}{
		{"permessage-deflate", CompressionOptions{}, "permessage-deflate; server_no_context_takeover", 15, true, 15},
		{"permessage-deflate; client_max_window_bits", CompressionOptions{}, "permessage-deflate; server_no_context_takeover", 15, true, 15},
		{"permessage-deflate; client_max_window_bits", CompressionOptions{MaxWindowBits: 10}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=10", 15, true, 10},
		{"permessage-deflate; client_max_window_bits=9", CompressionOptions{MaxWindowBits: 12}, "permessage-deflate; server_no_context_takeover; client_max_window_bits=9", 15, true, 9},
		{"permessage-deflate; server_max_window_bits=8", CompressionOptions{}, "permessage-deflate; server_no_context_takeover; server_max_window_bits=8", 8, true, 15},
		{"permessage-deflate; server_no_context_takeover; client_no_context_takeover", CompressionOptions{}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", 15, false, 15},
		{"permessage-deflate", CompressionOptions{NoContextTakeover: true}, "permessage-deflate; server_no_context_takeover; client_no_context_takeover", 15, false, 15},
		// A server cannot limit a client that did not offer client_max_window_bits.
		{"permessage-deflate", CompressionOptions{MaxWindowBits: 9}, "permessage-deflate; server_no_context_takeover", 15, true, 15},
		// Malformed or unacceptable offers are declined; a later valid one is taken.
		{"permessage-deflate; server_max_window_bits=7", CompressionOptions{}, "", 0, false, 0},
		{"permessage-deflate; server_max_window_bits=16", CompressionOptions{}, "", 0, false, 0},
		{"permessage-deflate; server_max_window_bits=010", CompressionOptions{}, "", 0, false, 0},
		{"permessage-deflate; server_max_window_bits", CompressionOptions{}, "", 0, false, 0},
		{"permessage-deflate; client_no_context_takeover=1", CompressionOptions{}, "", 0, false, 0},
		{"permessage-deflate; client_no_context_takeover; client_no_context_takeover", CompressionOptions{}, "", 0, false, 0},
		{"permessage-deflate; unknown_param", CompressionOptions{}, "", 0, false, 0},
		{"x-webkit-deflate-frame", CompressionOptions{}, "", 0, false, 0},
		{"permessage-deflate; server_max_window_bits=20, permessage-deflate; server_max_window_bits=12", CompressionOptions{},
			"permessage-deflate; server_no_context_takeover; server_max_window_bits=12", 12, true, 15},
		{`permessage-deflate; server_max_window_bits="11"`, CompressionOptions{}, "permessage-deflate; server_no_context_takeover; server_max_window_bits=11", 11, true, 15},
	}
	for _, tt := range tests {
		resp, cfg := acceptDeflate([]string{tt.offer}, &tt.opts)
		if resp != tt.resp {
			t.Errorf("offer %q opts %+v:\n got response %q\nwant %q", tt.offer, tt.opts, resp, tt.resp)
			continue
		}
		if (cfg == nil) != (tt.resp == "") {
			t.Errorf("offer %q: config %v with response %q", tt.offer, cfg, resp)
			continue
		}
		if cfg != nil && (cfg.sendWindowBits != tt.send || cfg.recvTakeover != tt.takeover || cfg.recvWindowBits != tt.recv) {
			t.Errorf("offer %q: config %+v, want send %d takeover %v recv %d", tt.offer, *cfg, tt.send, tt.takeover, tt.recv)
		}
		// The response must itself be a valid response to the client.
		if resp != "" {
			if _, err := checkDeflateResponse([]string{resp}, &CompressionOptions{MaxWindowBits: max(tt.send, 8)}); err != nil && tt.send == 15 {
				t.Errorf("response %q rejected by our client: %v", resp, err)
			}
		}
	}
}

func TestCheckDeflateResponse(t *testing.T) {
	tests := []struct {
		resp string
		opts CompressionOptions
		ok   bool
	}{
		{"permessage-deflate", CompressionOptions{}, true},
		{"permessage-deflate; server_no_context_takeover; client_max_window_bits=8", CompressionOptions{}, true},
		{"permessage-deflate; client_max_window_bits", CompressionOptions{}, false}, // a value is required in a response
		{"permessage-deflate; server_max_window_bits=12", CompressionOptions{MaxWindowBits: 10}, false},
		{"permessage-deflate; server_max_window_bits=10", CompressionOptions{MaxWindowBits: 10}, true},
		{"permessage-deflate", CompressionOptions{NoContextTakeover: true}, false},
		{"permessage-deflate, permessage-deflate", CompressionOptions{}, false},
		{"x-other", CompressionOptions{}, false},
		{"permessage-deflate; bogus", CompressionOptions{}, false},
	}
	for _, tt := range tests {
		_, err := checkDeflateResponse([]string{tt.resp}, &tt.opts)
		if (err == nil) != tt.ok {
			t.Errorf("response %q opts %+v: err = %v, want ok=%v", tt.resp, tt.opts, err, tt.ok)
		}
	}
}

// deflateTail ends a compressed message for compress/flate's reader in
// the tests: the 00 00 FF FF that RFC 7692, Section 7.2.2 has the sender
// remove, then an empty final stored block so the reader reports io.EOF.
var deflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// compressedPair returns a server and a client Conn with the given options,
// connected through a real handshake.
func compressedPair(t *testing.T, server, client *CompressionOptions, limit int64) (*Conn, *Conn, *http.Response) {
	t.Helper()
	ch := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{ConnOptions: ConnOptions{Compression: server, ReadLimit: limit, WriteBufferSize: 1024}})
		if err != nil {
			t.Error(err)
			ch <- nil
			return
		}
		ch <- c
	}))
	t.Cleanup(srv.Close)
	cc, resp, err := Dial(context.Background(), wsURL(srv), &DialOptions{ConnOptions: ConnOptions{Compression: client, ReadLimit: limit, WriteBufferSize: 1024}})
	if err != nil {
		t.Fatal(err)
	}
	sc := <-ch
	t.Cleanup(func() { cc.CloseNow(); sc.CloseNow() })
	return sc, cc, resp
}

func testPayloads(r *rand.Rand) [][]byte {
	text := []byte(strings.Repeat(`{"user":"κόσμε","seq":12345,"msg":"hello hello hello"} `, 3000))
	random := make([]byte, 70000)
	for i := range random {
		random[i] = byte(r.Uint32())
	}
	return [][]byte{nil, []byte("x"), text[:127], text[:128], text[:1000], text[:40000], text, random[:5000], random}
}

// Round trips across every negotiated combination: each window size in
// each direction, with and without context takeover, whole and streamed,
// text and binary; every message byte-exact.
func TestCompressionRoundTrips(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	payloads := testPayloads(r)
	type combo struct {
		name           string
		server, client *CompressionOptions
	}
	var combos []combo
	for _, bits := range []int{8, 9, 10, 12, 14, 15} {
		combos = append(combos,
			combo{fmt.Sprintf("client asks server window %d", bits), &CompressionOptions{}, &CompressionOptions{MaxWindowBits: bits}},
			combo{fmt.Sprintf("server asks client window %d", bits), &CompressionOptions{MaxWindowBits: bits}, &CompressionOptions{}},
		)
	}
	combos = append(combos,
		combo{"no context takeover asked by server", &CompressionOptions{NoContextTakeover: true}, &CompressionOptions{}},
		combo{"no context takeover asked by client", &CompressionOptions{}, &CompressionOptions{NoContextTakeover: true}},
		combo{"level 9, threshold 1", &CompressionOptions{Level: 9, Threshold: 1}, &CompressionOptions{Level: 9, Threshold: 1}},
		combo{"huffman only", &CompressionOptions{Level: flate.HuffmanOnly}, &CompressionOptions{Level: flate.HuffmanOnly}},
		combo{"server off", nil, &CompressionOptions{}},
	)
	for _, cb := range combos {
		t.Run(cb.name, func(t *testing.T) {
			sc, cc, resp := compressedPair(t, cb.server, cb.client, 1<<20)
			if got := resp.Header.Get("Sec-WebSocket-Extensions"); (got != "") != (cb.server != nil) {
				t.Fatalf("negotiated %q", got)
			}
			for _, pair := range [][2]*Conn{{cc, sc}, {sc, cc}} {
				from, to := pair[0], pair[1]
				for i, p := range payloads {
					for _, stream := range []bool{false, true} {
						typ := MessageBinary
						if i < 7 && i > 0 {
							typ = MessageText
						}
						errc := make(chan error, 1)
						go func() {
							if !stream {
								errc <- from.Write(context.Background(), typ, p)
								return
							}
							w, err := from.Writer(context.Background(), typ)
							if err != nil {
								errc <- err
								return
							}
							for q := p; len(q) > 0; {
								n := min(len(q), 1+int(r.Uint32()%3000))
								w.Write(q[:n])
								q = q[n:]
							}
							errc <- w.Close()
						}()
						gotTyp, got, err := to.Read(context.Background())
						if err != nil || gotTyp != typ || !bytes.Equal(got, p) {
							t.Fatalf("payload %d (%d bytes, stream %v): got %v %d bytes, %v", i, len(p), stream, gotTyp, len(got), err)
						}
						if err := <-errc; err != nil {
							t.Fatal(err)
						}
					}
				}
			}
		})
	}
}

// compressingPeer is a raw client that compresses like a peer that keeps
// its context across messages (one flate.Writer for the connection).
func compressMessage(fw *flate.Writer, buf *bytes.Buffer, p []byte) []byte {
	buf.Reset()
	fw.Write(p)
	fw.Flush()
	out := bytes.Clone(buf.Bytes())
	return bytes.TrimSuffix(out, []byte{0, 0, 0xff, 0xff})
}

// RFC 7692, Section 7.2.3: with context takeover the peer's messages refer
// back into earlier ones; the reader must keep that history.
func TestInflateContextTakeover(t *testing.T) {
	for _, takeover := range []bool{true, false} {
		t.Run(fmt.Sprintf("takeover=%v", takeover), func(t *testing.T) {
			a, b := tcpPair(t)
			c := newConn(a, connConfig{deflate: &deflateConfig{level: 1, threshold: 1, sendWindowBits: 15, recvTakeover: takeover, recvWindowBits: 15}}, nil)
			defer c.CloseNow()
			p := &rawPeer{t: t, nc: b, client: true}
			var buf bytes.Buffer
			fw, _ := flate.NewWriter(&buf, 9)
			msg := []byte(strings.Repeat("the same sentence again and again. ", 20))
			for i := 0; i < 5; i++ {
				if !takeover {
					fw.Reset(&buf)
				}
				z := compressMessage(fw, &buf, msg)
				if takeover && i > 0 && len(z) > 20 {
					t.Fatalf("message %d compressed to %d bytes: the peer did not use its context", i, len(z))
				}
				// Fragment it: RSV1 only on the first frame.
				frames := p.frame(false, opText, z[:len(z)/2])
				frames[0] |= rsv1
				frames = append(frames, p.frame(true, opContinuation, z[len(z)/2:])...)
				p.write(frames)
				if _, got, err := c.Read(context.Background()); err != nil || !bytes.Equal(got, msg) {
					t.Fatalf("message %d: %q, %v", i, got, err)
				}
			}
		})
	}
}

// A small message that inflates past the read limit fails with 1009, and
// memory stays bounded by the limit, not by what the bomb would become.
func TestDecompressionBomb(t *testing.T) {
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, 9)
	z := compressMessage(fw, &buf, make([]byte, 64<<20)) // 64 MiB of zeros
	if len(z) > 100<<10 {
		t.Fatalf("bomb is %d bytes", len(z))
	}
	a, b := tcpPair(t)
	c := newConn(a, connConfig{readLimit: 1 << 20, deflate: &deflateConfig{level: 1, threshold: 1, sendWindowBits: 15, recvWindowBits: 15}}, nil)
	defer c.CloseNow()
	p := &rawPeer{t: t, nc: b, br: nil, client: true}
	p.br = bufioReader(b)
	frame := p.frame(true, opBinary, z)
	frame[0] |= rsv1
	go p.write(frame)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, got, err := c.Read(context.Background())
	runtime.ReadMemStats(&after)
	if !errors.Is(err, ErrMessageTooBig) || got != nil {
		t.Fatalf("Read = %d bytes, %v; want ErrMessageTooBig", len(got), err)
	}
	if grew := after.TotalAlloc - before.TotalAlloc; grew > 8<<20 {
		t.Errorf("allocated %d MiB reading a bomb against a 1 MiB limit", grew>>20)
	}
	p.wantClose(StatusMessageTooBig)
}

func TestCompressionProtocolErrors(t *testing.T) {
	cfg := connConfig{deflate: &deflateConfig{level: 1, threshold: 1, sendWindowBits: 15, recvTakeover: true, recvWindowBits: 15}}
	tests := []struct {
		name   string
		frames func(p *rawPeer) []byte
		code   StatusCode
	}{
		{"7692 6.1/RSV1 on a continuation", func(p *rawPeer) []byte {
			b := p.frame(false, opText, []byte("a"))
			c := p.frame(true, opContinuation, []byte("b"))
			c[0] |= rsv1
			return append(b, c...)
		}, StatusProtocolError},
		{"7692 6.1/RSV1 on a ping", func(p *rawPeer) []byte {
			b := p.frame(true, opPing, nil)
			b[0] |= rsv1
			return b
		}, StatusProtocolError},
		{"7692 8/garbage that does not inflate", func(p *rawPeer) []byte {
			b := p.frame(true, opBinary, []byte{0xff, 0xff, 0xff, 0xff, 0xff})
			b[0] |= rsv1
			return b
		}, StatusInvalidFramePayloadData},
		{"8.1/compressed invalid UTF-8", func(p *rawPeer) []byte {
			var buf bytes.Buffer
			fw, _ := flate.NewWriter(&buf, 1)
			b := p.frame(true, opText, compressMessage(fw, &buf, []byte("ok \xff bad")))
			b[0] |= rsv1
			return b
		}, StatusInvalidFramePayloadData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, p := newTestConn(t, false, cfg)
			p.write(tt.frames(p))
			wantFailed(t, c, p, tt.code)
		})
	}
}

// What the wire carries: RSV1 on the first frame only, compressed data, and
// small messages below the threshold sent plain.
func TestCompressedFramesOnTheWire(t *testing.T) {
	c, p := newTestConn(t, false, connConfig{writeBufferSize: 512, deflate: &deflateConfig{level: 1, threshold: 64, sendWindowBits: 15, recvWindowBits: 15}})
	go c.Write(context.Background(), MessageText, []byte("tiny"))
	if h, payload := p.recv(); h.rsv != 0 || string(payload) != "tiny" {
		t.Fatalf("small message: rsv %x payload %q", h.rsv, payload)
	}
	big := bytes.Repeat([]byte("compress me please "), 20000)
	go func() {
		w, _ := c.Writer(context.Background(), MessageText)
		for i := 0; i < len(big); i += 1000 {
			w.Write(big[i : i+1000])
		}
		w.Close()
	}()
	var z []byte
	for i := 0; ; i++ {
		h, payload := p.recv()
		if (h.rsv == rsv1) != (i == 0) || (i == 0) != (h.op == opText) {
			t.Fatalf("frame %d: rsv %x op %v", i, h.rsv, h.op)
		}
		z = append(z, payload...)
		if h.fin {
			break
		}
	}
	if len(z) > len(big)/20 {
		t.Errorf("%d bytes compressed to %d", len(big), len(z))
	}
	got, err := ioReadAll(flate.NewReader(bytes.NewReader(append(z, deflateTail...))))
	if err != nil || !bytes.Equal(got, big) {
		t.Fatalf("inflated %d bytes, %v", len(got), err)
	}
}

func TestCompressedWriteAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race; .ci/run checks allocations without it")
	}
	c, p := newTestConn(t, false, connConfig{deflate: &deflateConfig{level: 1, threshold: 1, sendWindowBits: 15, recvWindowBits: 15}})
	go discard(p.nc)
	msg := bytes.Repeat([]byte(`{"k":"v"} `), 100)
	c.Write(context.Background(), MessageText, msg)
	if n := testing.AllocsPerRun(100, func() { c.Write(context.Background(), MessageText, msg) }); n > 0 {
		t.Errorf("compressed Write: %v allocs, want 0", n)
	}
}

func bufioReader(nc interface{ Read([]byte) (int, error) }) *bufio.Reader { return bufio.NewReader(nc) }

func ioReadAll(r io.Reader) ([]byte, error) { return io.ReadAll(r) }

func discard(r io.Reader) { io.Copy(io.Discard, r) }

// FuzzParseExtensions: any header value parses or is rejected without a
// panic, within the caps, and whatever acceptDeflate answers is a response
// our own client accepts.
func FuzzParseExtensions(f *testing.F) {
	for _, s := range []string{
		"permessage-deflate",
		"permessage-deflate; client_max_window_bits",
		`permessage-deflate; server_max_window_bits="10"; client_no_context_takeover, x-foo`,
		"permessage-deflate; server_max_window_bits=8; server_no_context_takeover",
		" , ,a;b=c;d",
		`a; b="\"x\""`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		exts, err := parseExtensions([]string{s})
		if err == nil {
			if len(exts) > maxExtensions {
				t.Fatalf("%d extensions", len(exts))
			}
			for _, e := range exts {
				if !isToken(e.name) || len(e.params) > maxExtensionParams {
					t.Fatalf("bad extension %+v", e)
				}
			}
		}
		resp, cfg := acceptDeflate([]string{s}, &CompressionOptions{})
		if (resp == "") != (cfg == nil) {
			t.Fatalf("response %q with config %v", resp, cfg)
		}
		if resp != "" {
			if _, err := checkDeflateResponse([]string{resp}, &CompressionOptions{MaxWindowBits: 15}); err != nil {
				t.Fatalf("our response %q to %q is refused by our client: %v", resp, s, err)
			}
		}
	})
}

// A streamed message whose writes line up with the buffer size must still
// be compressed as one message: RSV1 on its first frame only (found by the
// interop tests: a first Write of exactly the buffer size went out plain,
// and a later deflate put RSV1 on a continuation).
func TestCompressedWriterBufferBoundaries(t *testing.T) {
	for _, writes := range [][]int{{4096}, {4096, 8192}, {4096, 200}, {4095, 1}, {8192}, {100, 3996, 1}} {
		t.Run(fmt.Sprint(writes), func(t *testing.T) {
			c, p := newTestConn(t, false, connConfig{deflate: &deflateConfig{level: 1, threshold: 128, sendWindowBits: 15, recvWindowBits: 15}})
			var want []byte
			go func() {
				w, _ := c.Writer(context.Background(), MessageBinary)
				for i, n := range writes {
					chunk := bytes.Repeat([]byte{byte('a' + i)}, n)
					want = append(want, chunk...)
					w.Write(chunk)
				}
				w.Close()
			}()
			var z []byte
			for i := 0; ; i++ {
				h, payload := p.recv()
				if (h.rsv == rsv1) != (i == 0) {
					t.Fatalf("frame %d: rsv %#x; want RSV1 on the first frame only", i, h.rsv)
				}
				z = append(z, payload...)
				if h.fin {
					break
				}
			}
			got, err := ioReadAll(flate.NewReader(bytes.NewReader(append(z, deflateTail...))))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("inflated %d bytes (%v), want %d", len(got), err, len(want))
			}
		})
	}
}

// compressedStream returns a frame of size bytes of JSON-like text
// compressed as a peer without context takeover sends it, and the text.
func compressedFrame(p *rawPeer, size int) (frame, text []byte) {
	for i := 0; len(text) < size; i++ {
		text = fmt.Appendf(text, `{"id":%d,"name":"user%d","tags":["a","b"]},`, i, i*7)
	}
	text = text[:size]
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestSpeed)
	fw.Write(text)
	fw.Flush()
	frame = p.frame(true, opText, z.Bytes()[:z.Len()-4]) // without the flush marker 00 00 ff ff
	frame[0] |= rsv1
	return frame, text
}

// feed writes frame to the Conn in a loop until the connection closes.
func feed(p *rawPeer, frame []byte) {
	var stream []byte
	for range 64 {
		stream = append(stream, frame...)
	}
	for {
		if _, err := p.nc.Write(stream); err != nil {
			return
		}
	}
}

// Reading a compressed message: Read makes one allocation, the message,
// and ReadAppend into a reused buffer none (for a message whose Huffman
// codes compress/flate decodes without its overflow tables).
func TestCompressedReadAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops items under -race; .ci/run checks allocations without it")
	}
	for _, reuse := range []bool{false, true} {
		c, p := newTestConn(t, false, connConfig{deflate: &deflateConfig{level: 1, threshold: 128, sendWindowBits: 15, recvWindowBits: 15}})
		frame, text := compressedFrame(p, 1024)
		go feed(p, frame)
		var buf []byte
		read := func() {
			var got []byte
			var err error
			if reuse {
				_, got, err = c.ReadAppend(context.Background(), buf[:0])
				buf = got
			} else {
				_, got, err = c.Read(context.Background())
			}
			if err != nil || !bytes.Equal(got, text) {
				t.Fatalf("read %d bytes, %v", len(got), err)
			}
		}
		read()
		want := 1.0
		if reuse {
			want = 0
		}
		if n := testing.AllocsPerRun(100, read); n > want {
			t.Errorf("reuse=%v: %v allocs per compressed 1 KiB message, want %v", reuse, n, want)
		}
	}
}

// BenchmarkCompressedEcho reads a compressed message and writes it back
// compressed, through Read or ReadAppend.
func BenchmarkCompressedEcho(b *testing.B) {
	for _, size := range []int{1024, 16 << 10} {
		for _, reuse := range []bool{false, true} {
			b.Run(fmt.Sprintf("%d/ReadAppend=%v", size, reuse), func(b *testing.B) {
				c, p := newTestConn(b, false, connConfig{deflate: &deflateConfig{level: 1, threshold: 128, sendWindowBits: 15, recvWindowBits: 15}})
				go discard(p.nc)
				frame, _ := compressedFrame(p, size)
				go feed(p, frame)
				b.ReportAllocs()
				b.SetBytes(int64(size))
				var buf []byte
				for b.Loop() {
					var got []byte
					var err error
					var typ MessageType
					if reuse {
						typ, got, err = c.ReadAppend(context.Background(), buf[:0])
						buf = got
					} else {
						typ, got, err = c.Read(context.Background())
					}
					if err != nil || len(got) != size {
						b.Fatal(err, len(got))
					}
					c.Write(context.Background(), typ, got)
				}
			})
		}
	}
}

// RFC 7692, Section 7.2.3.5: a peer may end a message's deflate stream with
// a block marked BFINAL. Whatever follows in the message is ignored, across
// frames, and the next message reads normally. (A fuzzer found the reader
// spinning forever on this before.)
func TestCompressedFinalBlock(t *testing.T) {
	c, p := newTestConn(t, false, connConfig{deflate: &deflateConfig{level: 1, threshold: 128, sendWindowBits: 15, recvWindowBits: 15}})
	var z bytes.Buffer
	fw, _ := flate.NewWriter(&z, flate.BestSpeed)
	fw.Write([]byte("Hello, final block"))
	fw.Close() // BFINAL=1
	data := append(z.Bytes(), 0x00, 0x00, 0xAB, 0xCD, 0xEF)
	half := len(data) - 3
	go func() {
		f := p.frame(false, opText, data[:half])
		f[0] |= rsv1
		p.write(f)
		p.send(true, opContinuation, data[half:])
		p.send(true, opText, []byte("next"))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	typ, got, err := c.Read(ctx)
	if err != nil || typ != MessageText || string(got) != "Hello, final block" {
		t.Fatalf("Read = %v %q %v", typ, got, err)
	}
	if _, got, err = c.Read(ctx); err != nil || string(got) != "next" {
		t.Fatalf("next Read = %q %v", got, err)
	}
}
