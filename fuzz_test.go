//go:build !js

package websocket

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// Fuzz targets for the parsers a peer controls: the stream of frames a
// Conn reads, the handshake response Dial reads, and close payloads.
// FuzzCheckRequest, in handshake_test.go, covers the request side.

// streamConn is a net.Conn that serves a fixed input in chunks of a fixed
// size, then io.EOF, and records what is written to it. Its reads never
// block, so a Conn on it can neither hang nor race with a peer.
type streamConn struct {
	mu     sync.Mutex
	in     []byte
	chunk  int
	out    bytes.Buffer
	eofs   int // reads answered with io.EOF
	closed bool
	// onFirstRead, if set, computes the input from what was written so
	// far, the first time the Conn reads.
	onFirstRead func(written []byte) []byte
}

func (c *streamConn) Read(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.onFirstRead != nil {
		c.in = c.onFirstRead(c.out.Bytes())
		c.onFirstRead = nil
	}
	if c.closed {
		return 0, net.ErrClosed
	}
	if len(c.in) == 0 {
		c.eofs++
		return 0, io.EOF
	}
	n := min(len(p), c.chunk, len(c.in))
	copy(p, c.in[:n])
	c.in = c.in[n:]
	return n, nil
}

func (c *streamConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return 0, net.ErrClosed
	}
	return c.out.Write(p)
}

func (c *streamConn) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	return nil
}

func (c *streamConn) written() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.out.Bytes())
}

func (c *streamConn) LocalAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (c *streamConn) RemoteAddr() net.Addr             { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (c *streamConn) SetDeadline(time.Time) error      { return nil }
func (c *streamConn) SetReadDeadline(time.Time) error  { return nil }
func (c *streamConn) SetWriteDeadline(time.Time) error { return nil }

// refFrame is a frame as the reference decoder below reads it.
type refFrame struct {
	fin     bool
	op      byte
	payload []byte
}

// refFrames decodes the frames of b the plain way RFC 6455, Section 5.2
// draws them, independently of parseHeader, stopping at the first
// incomplete one or one with a length the RFC forbids.
func refFrames(b []byte) []refFrame {
	var frames []refFrame
	for len(b) >= 2 {
		f := refFrame{fin: b[0]&0x80 != 0, op: b[0] & 0x0F}
		masked := b[1]&0x80 != 0
		length := uint64(b[1] & 0x7F)
		i := 2
		switch length {
		case 126:
			if len(b) < 4 {
				return frames
			}
			length = uint64(b[2])<<8 | uint64(b[3])
			i = 4
		case 127:
			if len(b) < 10 {
				return frames
			}
			length = binary.BigEndian.Uint64(b[2:10])
			i = 10
			if length>>63 != 0 {
				return frames
			}
		}
		var key []byte
		if masked {
			if len(b) < i+4 {
				return frames
			}
			key = b[i : i+4]
			i += 4
		}
		if uint64(len(b)-i) < length {
			return frames
		}
		f.payload = bytes.Clone(b[i : i+int(length)])
		for j := range f.payload {
			if masked {
				f.payload[j] ^= key[j%4]
			}
		}
		frames = append(frames, f)
		b = b[i+int(length):]
	}
	return frames
}

// refStream is what a correct reader makes of a stream, as far as it
// goes without a protocol question arising: the complete data messages,
// the payloads of the pings before the point it stops, and the close frame
// if it stopped at one.
type refStream struct {
	msgs   []refFrame // op is the message type, payload the message
	pings  [][]byte
	closed bool
	close  []byte // payload of the close frame
}

func refDecode(b []byte) refStream {
	var r refStream
	var cur *refFrame
	for _, f := range refFrames(b) {
		switch {
		case f.op == 0x9:
			r.pings = append(r.pings, f.payload)
		case f.op == 0xA:
		case f.op == 0x8:
			r.closed, r.close = true, f.payload
			return r
		case f.op == 0x1 || f.op == 0x2:
			if cur != nil {
				return r
			}
			cur = &refFrame{op: f.op, payload: f.payload}
		case f.op == 0x0:
			if cur == nil {
				return r
			}
			cur.payload = append(cur.payload, f.payload...)
		default:
			return r
		}
		if cur != nil && f.op < 0x8 && f.fin {
			r.msgs = append(r.msgs, *cur)
			cur = nil
		}
	}
	return r
}

// packageProtocolErrors are the errors a failing Conn may return; hostile
// input must never make it allocate a new one.
var packageProtocolErrors = []*ProtocolError{
	errLengthOverflow, errReservedBits, errUnknownOpcode, errUnmasked, errMasked,
	errFragmentedControl, errControlTooLong, errUnexpectedContinuation, errExpectedContinuation,
	errCloseTooShort, errInvalidCloseCode, errTooManyFragments, errInvalidUTF8, errInvalidCloseReasonUTF8,
	errBadCompressedData, ErrMessageTooBig.(*ProtocolError),
}

const fuzzReadLimit = 1 << 16

// FuzzReadStream feeds arbitrary bytes to a server Conn or a client Conn,
// read with Read or streamed with Reader, delivered in chunks of 1 byte to
// 1 MiB, with or without permessage-deflate (mode: bit 0 client, bit 1
// Reader, bits 2-6 the chunk size, bit 7 deflate). Reading must end, never panic, in one of the documented errors;
// the messages delivered must be exactly those in the stream; every ping
// read must be answered; and the Conn must send a close frame exactly when
// the documentation says, last, with the right code.
func FuzzReadStream(f *testing.F) {
	client := &rawPeer{client: true} // frames a client sends
	server := &rawPeer{}
	cat := func(frames ...[]byte) []byte { return bytes.Join(frames, nil) }
	f.Add(unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58"), byte(0))
	f.Add(unhex("81 05 48 65 6c 6c 6f"), byte(1))
	f.Add(cat(client.frame(false, opText, []byte("Hel")), client.frame(true, opPing, []byte("p")),
		client.frame(true, opContinuation, []byte("lo")), client.frame(true, opClose, closePayload(1000, "bye"))), byte(2))
	f.Add(cat(server.frame(false, opBinary, []byte{1, 2}), server.frame(true, opPong, nil),
		server.frame(true, opContinuation, []byte{3})), byte(3|4<<2))
	f.Add(rawHeader(true, opBinary, true, 1<<62), byte(0))
	f.Add(rawHeader(true, opPing, false, 1<<63), byte(1))
	f.Add(client.frame(true, opText, []byte("a\xffb")), byte(2))
	f.Add(client.frame(true, opClose, []byte{3}), byte(0))
	f.Add(client.frame(true, opClose, closePayload(1005, "")), byte(0))
	f.Add(append(client.frame(false, opText, nil), bytes.Repeat(client.frame(false, opContinuation, nil), 1100)...), byte(1<<2))
	f.Add(client.frame(true, 0x3, nil), byte(0))
	f.Add(client.frame(true, opBinary, make([]byte, fuzzReadLimit+1)), byte(6<<2))
	// permessage-deflate (mode bit 7): RFC 7692, Section 7.2.3.1 "Hello",
	// compressed, in one frame and in two fragments, and a frame whose
	// deflate data is garbage.
	rsv1 := func(b []byte) []byte { b[0] |= rsv1; return b }
	hello := []byte{0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00}
	f.Add(rsv1(client.frame(true, opText, hello)), byte(0x80))
	f.Add(rsv1(server.frame(true, opText, hello)), byte(0x81|5<<2))
	f.Add(cat(rsv1(client.frame(false, opText, hello[:3])), client.frame(true, opContinuation, hello[3:])), byte(0x82))
	f.Add(rsv1(client.frame(true, opBinary, []byte("not deflate data"))), byte(0x80))
	f.Add(rsv1(client.frame(true, opPing, nil)), byte(0x80))
	// ReadAppend into a reused buffer, plain and compressed.
	f.Add(cat(client.frame(false, opText, []byte("Hel")), client.frame(true, opContinuation, []byte("lo")),
		client.frame(true, opBinary, []byte{9})), byte(16<<2))
	f.Add(cat(rsv1(client.frame(false, opText, hello[:3])), client.frame(true, opContinuation, hello[3:]),
		rsv1(client.frame(true, opText, hello))), byte(0x80|17<<2))

	f.Fuzz(fuzzReadStream)
}

func fuzzReadStream(t *testing.T, data []byte, mode byte) {
	if len(data) > 1<<17 {
		// Larger inputs only make each run slower: every length
		// boundary is crossed well below this.
		return
	}
	{
		isClient := mode&1 != 0
		streamed := mode&2 != 0
		chunk := []int{1, 2, 3, 7, 64, 4096, 1 << 20}[int(mode>>2&0x1F)%7]
		cfg := connConfig{client: isClient, readLimit: fuzzReadLimit, closeTimeout: time.Second}
		compressed := mode&0x80 != 0 // permessage-deflate negotiated
		if compressed {
			cfg.deflate = newDeflateConfig(&CompressionOptions{})
		}
		nc := &streamConn{in: data, chunk: chunk}
		c := newConn(nc, cfg, nil)

		// Whole messages come from Read, or from ReadAppend into one
		// reused buffer (chunk selector 16 and up), copied out since the
		// next call overwrites them.
		appendInto := mode>>2&0x1F >= 16
		var reuse []byte
		read := func() (MessageType, []byte, error) {
			if !streamed && appendInto {
				typ, b, err := c.ReadAppend(context.Background(), reuse[:0])
				if err != nil {
					return 0, nil, err
				}
				reuse = b
				return typ, bytes.Clone(b), nil
			}
			if !streamed {
				return c.Read(context.Background())
			}
			typ, r, err := c.Reader(context.Background())
			if err != nil {
				return 0, nil, err
			}
			b, err := io.ReadAll(r)
			if err != nil {
				return 0, nil, err
			}
			return typ, b, nil
		}
		var msgs []refFrame
		var err error
		for {
			if len(msgs) > len(data)/2 {
				t.Fatalf("%d messages from %d bytes", len(msgs), len(data))
			}
			typ, b, rerr := read()
			if rerr != nil {
				err = rerr
				break
			}
			if len(b) > fuzzReadLimit {
				t.Fatalf("message of %d bytes over the read limit %d", len(b), fuzzReadLimit)
			}
			if typ == MessageText && !utf8.Valid(b) {
				t.Fatalf("text message is not UTF-8: %q", b)
			}
			msgs = append(msgs, refFrame{op: byte(typ), payload: b})
		}
		if nc.eofs > 3 {
			t.Fatalf("read %d times past the end of the stream", nc.eofs)
		}
		if _, _, err2 := read(); err2 != err {
			t.Fatalf("second read = %v, want the same error %v", err2, err)
		}

		// The error is a documented one.
		var (
			pe *ProtocolError
			ce CloseError
			ne *netError
		)
		switch {
		case errors.As(err, &pe):
			found := false
			for _, known := range packageProtocolErrors {
				found = found || pe == known
			}
			if !found {
				t.Fatalf("ProtocolError %v is not one of the package's", pe)
			}
		case errors.As(err, &ce):
			if ce.Code != StatusNoStatusReceived && !validWireCode(ce.Code) || !utf8.ValidString(ce.Reason) {
				t.Fatalf("CloseError %+v with an invalid code or reason", ce)
			}
		case errors.As(err, &ne):
			if !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("connection lost with %v, want io.ErrUnexpectedEOF", err)
			}
		default:
			t.Fatalf("undocumented error %T: %v", err, err)
		}

		// The messages are those of the stream, in order, all of them
		// unless the Conn failed first.
		ref := refDecode(data)
		if len(msgs) > len(ref.msgs) {
			t.Fatalf("%d messages, the stream holds %d", len(msgs), len(ref.msgs))
		}
		for i, m := range msgs {
			// Compressed messages are the same messages, inflated.
			if m.op != ref.msgs[i].op || (!compressed && !bytes.Equal(m.payload, ref.msgs[i].payload)) {
				t.Fatalf("message %d: type %d %q, want type %d %q", i, m.op, m.payload, ref.msgs[i].op, ref.msgs[i].payload)
			}
		}
		if pe == nil && len(msgs) != len(ref.msgs) {
			t.Fatalf("%d messages before %v, the stream holds %d", len(msgs), err, len(ref.msgs))
		}
		if ce.Code != 0 {
			if !ref.closed {
				t.Fatalf("CloseError %v, but the stream has no close frame where the reader stopped", ce)
			}
			want := StatusNoStatusReceived
			if len(ref.close) >= 2 {
				want = StatusCode(binary.BigEndian.Uint16(ref.close))
			}
			if ce.Code != want {
				t.Fatalf("CloseError code %v, the close frame says %v", ce.Code, want)
			}
		}

		// What the Conn sent: frames masked as its role demands, pongs for
		// the pings read (in order, possibly coalesced, RFC 6455, Section
		// 5.5.3, but never dropping the last one before a close frame),
		// and a close frame, last, exactly when it failed the connection
		// or answered the peer's close.
		waitPongsSent(c)
		out := refFrames(nc.written())
		var pongs [][]byte
		closes := 0
		for i, fr := range out {
			switch fr.op {
			case 0xA:
				pongs = append(pongs, fr.payload)
			case 0x8:
				closes++
				if i != len(out)-1 {
					t.Fatalf("frame after the close frame")
				}
			default:
				t.Fatalf("the reader sent a frame of op %#x", fr.op)
			}
			if len(fr.payload) > maxControlPayload {
				t.Fatalf("control frame of %d bytes sent", len(fr.payload))
			}
		}
		masks := refMasks(nc.written())
		if len(masks) != len(out) {
			t.Fatalf("%d frames sent, %d readable", len(out), len(masks))
		}
		for _, m := range masks {
			if m != isClient {
				t.Fatalf("frame masked=%v sent by a client=%v", m, isClient)
			}
		}
		next := 0 // pongs answer pings in order
		for i, p := range pongs {
			for next < len(ref.pings) && !bytes.Equal(p, ref.pings[next]) {
				next++
			}
			if next == len(ref.pings) {
				t.Fatalf("pong %d %q answers no ping after the previous pong's", i, p)
			}
			next++
		}
		// A stream that just ends (1006) may leave the last pong unsent:
		// the Conn closes the socket on a lost connection and drops what
		// it still owed.
		if pe == nil && ce.Code != 0 && len(ref.pings) > 0 && (len(pongs) == 0 || !bytes.Equal(pongs[len(pongs)-1], ref.pings[len(ref.pings)-1])) {
			t.Fatalf("%d pongs for %d pings before %v: the last ping is not answered", len(pongs), len(ref.pings), err)
		}
		switch {
		case pe != nil:
			if closes != 1 || closeCodeOf(out[len(out)-1].payload) != pe.Code {
				t.Fatalf("failed with %v; sent %d close frames, last %q", pe, closes, out[len(out)-1].payload)
			}
		case ce.Code != 0:
			want := closePayload(ce.Code, "")
			if closes != 1 || !bytes.Equal(out[len(out)-1].payload, want) {
				t.Fatalf("peer closed with %v; sent %d close frames, last %q", ce.Code, closes, out[len(out)-1].payload)
			}
		default:
			if closes != 0 {
				t.Fatalf("connection lost, yet a close frame was sent")
			}
		}
		c.CloseNow()
	}
}

// waitPongsSent waits until no goroutine of c is sending pongs.
func waitPongsSent(c *Conn) {
	q := c.pongs.Load()
	if q == nil {
		return
	}
	for i := 0; i < 1000; i++ {
		q.mu.Lock()
		running := q.running
		q.mu.Unlock()
		if !running {
			return
		}
		time.Sleep(100 * time.Microsecond)
	}
}

// refMasks returns, for each frame of b, whether it is masked.
func refMasks(b []byte) []bool {
	var masks []bool
	for len(b) >= 2 {
		masked := b[1]&0x80 != 0
		length := int(b[1] & 0x7F) // a reader only sends control frames
		n := 2 + length
		if masked {
			n += 4
		}
		if length > 125 || len(b) < n {
			return masks
		}
		masks = append(masks, masked)
		b = b[n:]
	}
	return masks
}

func closeCodeOf(payload []byte) StatusCode {
	if len(payload) < 2 {
		return StatusNoStatusReceived
	}
	return StatusCode(binary.BigEndian.Uint16(payload))
}

// FuzzClientResponse gives Dial arbitrary bytes as the server's handshake
// response. "{ACCEPT}" in the input stands for the right
// Sec-WebSocket-Accept value, so the fuzzer can reach valid responses; an
// input that starts with "deflate:" is answered to a Dial that offers
// permessage-deflate. Dial must never panic, must fail with
// ErrBadHandshake unless the response is valid, must succeed when it is
// (whether a permessage-deflate answer is acceptable is only checked for
// its name), and a Conn it returns must read what followed the response
// without hanging.
func FuzzClientResponse(f *testing.F) {
	ok := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n"
	f.Add([]byte(ok + "\r\n"))
	f.Add([]byte(ok + "Sec-WebSocket-Protocol: chat\r\n\r\n"))
	f.Add([]byte(ok + "Sec-WebSocket-Protocol: evil\r\n\r\n"))
	f.Add([]byte(ok + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"))
	f.Add([]byte(ok + "\r\n\x81\x05Hello\x88\x02\x03\xe8"))
	f.Add([]byte(strings.Replace(ok, "{ACCEPT}", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", 1) + "\r\n"))
	f.Add([]byte("HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nbanned"))
	f.Add([]byte("HTTP/1.1 100 Continue\r\n\r\n" + ok + "\r\n"))
	f.Add([]byte("HTTP/1.0 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, upgrade\r\nSec-WebSocket-Accept: {ACCEPT}\r\n\r\n"))
	f.Add([]byte(ok + "Sec-WebSocket-Accept: {ACCEPT}\r\n\r\n"))
	f.Add([]byte(ok + " folded: x\r\n\r\n"))
	f.Add([]byte(ok + "X-Pad: " + strings.Repeat("p", 70<<10) + "\r\n\r\n"))
	f.Add([]byte("HTTP/1.1 101\r\n\r\n"))
	deflateHello := "\xc1\x07\xf2\x48\xcd\xc9\xc9\x07\x00" // RFC 7692, Section 7.2.3.1
	f.Add([]byte("deflate:" + ok + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n" + deflateHello))
	f.Add([]byte("deflate:" + ok + "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover; client_max_window_bits=10\r\n\r\n" + deflateHello))
	f.Add([]byte("deflate:" + ok + "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=\"8\"\r\n\r\n"))
	f.Add([]byte("deflate:" + ok + "Sec-WebSocket-Extensions: permessage-deflate, permessage-deflate\r\n\r\n"))
	f.Add([]byte("deflate:" + ok + "Sec-WebSocket-Extensions: x-webkit-deflate-frame\r\n\r\n"))
	f.Add([]byte("deflate:" + ok + "\r\n" + deflateHello))

	offered := []string{"chat", "v2"}
	f.Fuzz(func(t *testing.T, input []byte) {
		var compression *CompressionOptions
		if rest, ok := bytes.CutPrefix(input, []byte("deflate:")); ok {
			input, compression = rest, &CompressionOptions{}
		}
		var response []byte
		var accept string
		nc := &streamConn{chunk: 1 << 20}
		nc.onFirstRead = func(written []byte) []byte {
			req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(written)))
			if err != nil {
				t.Errorf("Dial wrote a request that does not parse: %v", err)
				return nil
			}
			accept = acceptKey(req.Header.Get("Sec-WebSocket-Key"))
			response = bytes.ReplaceAll(input, []byte("{ACCEPT}"), []byte(accept))
			return response
		}
		c, resp, err := Dial(context.Background(), "ws://127.0.0.1:1/", &DialOptions{
			Subprotocols: offered,
			Proxy:        func(*http.Request) (*url.URL, error) { return nil, nil },
			NetDial:      func(context.Context, string, string) (net.Conn, error) { return nc, nil },
			ConnOptions: ConnOptions{
				ReadLimit:    fuzzReadLimit,
				CloseTimeout: time.Millisecond,
				Compression:  compression,
			},
		})
		valid, proto, checkable := validResponse(response, accept, offered)
		exts := extensionsOf(response)
		if len(exts) > 0 && compression == nil {
			valid = false // an extension that was not offered
		}
		if compression != nil && len(exts) > 0 && valid {
			// Valid but for the extension: whether this permessage-deflate
			// answer is acceptable is not modelled here.
			checkable = false
		}
		if err != nil {
			if !errors.Is(err, ErrBadHandshake) {
				t.Fatalf("Dial = %v, want ErrBadHandshake", err)
			}
			if valid && checkable {
				t.Fatalf("Dial refused a valid response: %v\n%q", err, response)
			}
			if resp != nil && resp.StatusCode == http.StatusSwitchingProtocols && resp.Body == nil {
				t.Fatalf("refused response without a body")
			}
			return
		}
		defer c.CloseNow()
		if !valid && checkable {
			t.Fatalf("Dial accepted an invalid response:\n%q", response)
		}
		if len(exts) > 0 && !strings.HasPrefix(strings.ToLower(strings.TrimSpace(exts[0])), "permessage-deflate") {
			t.Fatalf("Dial accepted the extension %q", exts)
		}
		if resp.StatusCode != http.StatusSwitchingProtocols || c.Subprotocol() != proto {
			t.Fatalf("Dial = status %d, subprotocol %q; want 101, %q", resp.StatusCode, c.Subprotocol(), proto)
		}
		// Whatever follows the response is read as frames, and the
		// reading ends.
		for i := 0; ; i++ {
			if i > len(response) {
				t.Fatalf("more messages than bytes")
			}
			if _, _, err := c.Read(context.Background()); err != nil {
				break
			}
		}
	})
}

// validResponse says whether b is a response a client must accept
// (RFC 6455, Section 4.1, checks 1 to 4 and 6, with the offered
// subprotocols), and which subprotocol it selects; check 5, the
// extensions, is the caller's, with extensionsOf. checkable is false when b is too large
// for Dial to read it whole (64 KiB), where Dial refuses whatever it holds.
func validResponse(b []byte, accept string, offered []string) (valid bool, proto string, checkable bool) {
	if len(b) > maxResponseHeader-1024 {
		return false, "", false
	}
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), &http.Request{Method: http.MethodGet})
	if err != nil || resp.StatusCode != 101 {
		return false, "", true
	}
	hasToken := func(name, token string) bool {
		for _, v := range resp.Header.Values(name) {
			for _, t := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(t), token) {
					return true
				}
			}
		}
		return false
	}
	if !hasToken("Upgrade", "websocket") || !hasToken("Connection", "upgrade") {
		return false, "", true
	}
	if accepts := resp.Header.Values("Sec-WebSocket-Accept"); len(accepts) != 1 || accepts[0] != accept {
		return false, "", true
	}
	switch p := resp.Header.Values("Sec-WebSocket-Protocol"); len(p) {
	case 0:
		return true, "", true
	case 1:
		for _, o := range offered {
			if p[0] == o {
				return true, o, true
			}
		}
	}
	return false, "", true
}

// FuzzParseClosePayload: never a panic, and a payload is accepted iff it
// is empty, or holds a code a peer may send (RFC 6455, Section 7.4) and a
// UTF-8 reason; a refused one names the code to fail with.
func FuzzParseClosePayload(f *testing.F) {
	for _, p := range [][]byte{nil, {3}, {0x03, 0xE8}, {0x03, 0xED}, {0x0B, 0xB8, 'o', 'k'}, {0x03, 0xE8, 0xff},
		{0x13, 0x87}, {0x13, 0x88}, {0x03, 0xF6}, {0x03, 0xF7}, {0x03, 0xE8, 0xed, 0xa0, 0x80}} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		code, reason, err := parseClosePayload(p)
		var want bool
		var c StatusCode
		if len(p) >= 2 {
			c = StatusCode(binary.BigEndian.Uint16(p))
		}
		switch {
		case len(p) == 0:
			want = true
		case len(p) == 1:
			want = false
		default:
			okCode := (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999)
			want = okCode && utf8.Valid(p[2:])
		}
		if (err == nil) != want {
			t.Fatalf("parseClosePayload(%x) = %v, %q, %v; want accepted=%v", p, code, reason, err, want)
		}
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T %v is not a ProtocolError", err, err)
			}
			wantCode := StatusProtocolError
			if len(p) >= 2 && ((c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1014) || (c >= 3000 && c <= 4999)) {
				wantCode = StatusInvalidFramePayloadData // a valid code, a reason that is not UTF-8
			}
			if pe.Code != wantCode {
				t.Fatalf("refused with %v", pe.Code)
			}
			return
		}
		if len(p) == 0 {
			if code != StatusNoStatusReceived || len(reason) != 0 {
				t.Fatalf("empty payload = %v, %q", code, reason)
			}
			return
		}
		if code != c || !bytes.Equal(reason, p[2:]) {
			t.Fatalf("parseClosePayload(%x) = %v, %q", p, code, reason)
		}
		// What appendClosePayload makes of it parses back the same, the
		// reason cut to fit a control frame at a code point boundary.
		back := appendClosePayload(nil, code, string(reason))
		if len(back) > maxControlPayload {
			t.Fatalf("appendClosePayload made %d bytes", len(back))
		}
		code2, reason2, err := parseClosePayload(back)
		if err != nil || code2 != code || !bytes.HasPrefix(reason, reason2) {
			t.Fatalf("round trip of %x: %v, %q, %v", p, code2, reason2, err)
		}
	})
}

// extensionsOf returns the Sec-WebSocket-Extensions values of the response
// in b, if it parses.
func extensionsOf(b []byte) []string {
	resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), &http.Request{Method: http.MethodGet})
	if err != nil {
		return nil
	}
	return resp.Header.Values("Sec-WebSocket-Extensions")
}
