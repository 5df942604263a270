package websocket

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// tcpPair returns the two ends of a loopback TCP connection. Unlike
// net.Pipe, writes are buffered by the kernel, as on a real network.
func tcpPair(t testing.TB) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ch := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		ch <- c
	}()
	a, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-ch
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// rawPeer speaks frames by hand to the Conn under test.
type rawPeer struct {
	t      testing.TB
	nc     net.Conn
	br     *bufio.Reader
	client bool // the peer is a client: it masks what it sends
}

// newTestConn returns a Conn (a server unless client is set) and a raw peer
// of the opposite role on the other end of a TCP connection.
func newTestConn(t testing.TB, client bool, cfg connConfig) (*Conn, *rawPeer) {
	t.Helper()
	a, b := tcpPair(t)
	cfg.client = client
	if cfg.closeTimeout == 0 {
		cfg.closeTimeout = 2 * time.Second
	}
	c := newConn(a, cfg, nil)
	t.Cleanup(func() { c.CloseNow() })
	return c, &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: !client}
}

// frame builds the wire bytes of a frame the way this peer must send it.
func (p *rawPeer) frame(fin bool, op opcode, payload []byte) []byte {
	h := header{fin: fin, op: op, length: int64(len(payload))}
	if p.client {
		h.masked, h.key = true, 0x3d21fa37
	}
	b := appendHeader(nil, h)
	n := len(b)
	b = append(b, payload...)
	if h.masked {
		mask(b[n:], h.key)
	}
	return b
}

func (p *rawPeer) send(fin bool, op opcode, payload []byte) {
	p.t.Helper()
	p.write(p.frame(fin, op, payload))
}

func (p *rawPeer) write(b []byte) {
	p.t.Helper()
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatalf("peer write: %v", err)
	}
}

// recv reads one frame, checking the masking the RFC demands of the Conn.
func (p *rawPeer) recv() (header, []byte) {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hb []byte
	for {
		c, err := p.br.ReadByte()
		if err != nil {
			p.t.Fatalf("peer read: %v", err)
		}
		hb = append(hb, c)
		h, n, err := parseHeader(hb)
		if err != nil {
			p.t.Fatalf("peer parse: %v", err)
		}
		if n == 0 {
			continue
		}
		if h.masked == p.client {
			p.t.Fatalf("frame masked=%v sent to a peer that is client=%v", h.masked, p.client)
		}
		payload := make([]byte, h.length)
		if _, err := io.ReadFull(p.br, payload); err != nil {
			p.t.Fatalf("peer read payload: %v", err)
		}
		if h.masked {
			mask(payload, h.key)
		}
		return h, payload
	}
}

// wantClose reads frames until a close frame and checks its code.
func (p *rawPeer) wantClose(code StatusCode) {
	p.t.Helper()
	for {
		h, payload := p.recv()
		if h.op != opClose {
			continue
		}
		var got StatusCode = StatusNoStatusReceived
		if len(payload) >= 2 {
			got = StatusCode(binary.BigEndian.Uint16(payload))
		}
		if got != code {
			p.t.Fatalf("close code %v (%q), want %v", got, payload, code)
		}
		return
	}
}

// wantEOF checks the Conn closed the TCP connection.
func (p *rawPeer) wantEOF() {
	p.t.Helper()
	p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		if _, err := p.br.ReadByte(); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "reset") {
				return
			}
			p.t.Fatalf("want EOF, got %v", err)
		}
	}
}

func closePayload(code StatusCode, reason string) []byte {
	return appendClosePayload(nil, code, reason)
}

// wantFailed checks that reading fails with a ProtocolError of code and
// that the peer receives a close frame with that code.
func wantFailed(t *testing.T, c *Conn, p *rawPeer, code StatusCode) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, _, err := c.Read(context.Background())
		errc <- err
	}()
	p.wantClose(code)
	p.send(true, opClose, closePayload(code, ""))
	// A server half-closes after failing; a client waits for the peer.
	if p.client {
		p.wantEOF()
	}
	p.nc.Close()
	err := <-errc
	var pe *ProtocolError
	if !errors.As(err, &pe) || pe.Code != code {
		t.Fatalf("Read error = %v, want a ProtocolError with code %v", err, code)
	}
	if _, _, err2 := c.Read(context.Background()); err2 != err {
		t.Errorf("second Read = %v, want the same error %v", err2, err)
	}
}

func TestReadMessages(t *testing.T) {
	t.Run("5.6/text and binary", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		p.send(true, opText, []byte("Hello"))
		p.send(true, opBinary, []byte{0, 1, 2})
		p.send(true, opText, nil)
		for _, want := range []struct {
			typ MessageType
			s   string
		}{{MessageText, "Hello"}, {MessageBinary, "\x00\x01\x02"}, {MessageText, ""}} {
			typ, b, err := c.Read(context.Background())
			if err != nil || typ != want.typ || string(b) != want.s {
				t.Fatalf("Read = %v %q %v, want %v %q", typ, b, err, want.typ, want.s)
			}
		}
	})
	t.Run("5.4/fragments with control frames between", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		p.send(false, opText, []byte("Hel"))
		p.send(true, opPing, []byte("p1"))
		p.send(false, opContinuation, nil)
		p.send(true, opPong, []byte("unsolicited"))
		p.send(true, opContinuation, []byte("lo"))
		typ, b, err := c.Read(context.Background())
		if err != nil || typ != MessageText || string(b) != "Hello" {
			t.Fatalf("Read = %v %q %v", typ, b, err)
		}
		h, payload := p.recv()
		if h.op != opPong || string(payload) != "p1" {
			t.Fatalf("got %v %q, want pong p1", h.op, payload)
		}
	})
	t.Run("5.7/boundary lengths", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		for _, n := range []int{0, 1, 125, 126, 127, 65535, 65536, 100000} {
			msg := bytes.Repeat([]byte{byte(n)}, n)
			go p.send(true, opBinary, msg)
			_, b, err := c.Read(context.Background())
			if err != nil || !bytes.Equal(b, msg) {
				t.Fatalf("length %d: got %d bytes, %v", n, len(b), err)
			}
		}
	})
	t.Run("8.1/multi-byte UTF-8 split across fragments", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		s := "κόσμε 😀"
		for i := 0; i < len(s); i++ {
			op := opContinuation
			if i == 0 {
				op = opText
			}
			p.send(i == len(s)-1, op, []byte{s[i]})
		}
		_, b, err := c.Read(context.Background())
		if err != nil || string(b) != s {
			t.Fatalf("Read = %q, %v", b, err)
		}
	})
}

func TestReadAppend(t *testing.T) {
	c, p := newTestConn(t, false, connConfig{})
	// A prefix stays; a fragmented message larger than the room grows it.
	go func() {
		p.send(true, opText, []byte("Hello"))
		p.send(false, opBinary, bytes.Repeat([]byte("a"), 3000))
		p.send(true, opPing, []byte("x"))
		p.send(true, opContinuation, bytes.Repeat([]byte("b"), 3000))
		p.send(true, opText, []byte("short"))
	}()
	typ, b, err := c.ReadAppend(context.Background(), []byte("say: "))
	if err != nil || typ != MessageText || string(b) != "say: Hello" {
		t.Fatalf("ReadAppend = %v %q %v", typ, b, err)
	}
	buf := make([]byte, 0, 16)
	typ, b, err = c.ReadAppend(context.Background(), buf)
	want := strings.Repeat("a", 3000) + strings.Repeat("b", 3000)
	if err != nil || typ != MessageBinary || string(b) != want {
		t.Fatalf("ReadAppend of a fragmented message = %v, %d bytes, %v", typ, len(b), err)
	}
	if h, _ := p.recv(); h.op != opPong {
		t.Fatalf("got %v, want the pong", h.op)
	}
	// The grown buffer is reused: the next message lands at its start.
	big := b
	typ, b, err = c.ReadAppend(context.Background(), big[:0])
	if err != nil || string(b) != "short" || &b[0] != &big[0] {
		t.Fatalf("ReadAppend into the grown buffer = %v %q %v (same array: %v)", typ, b, err, len(b) > 0 && &b[0] == &big[0])
	}
	// An error hands dst back unchanged.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	dst := []byte("keep")
	if _, b, err = c.ReadAppend(ctx, dst); !errors.Is(err, context.DeadlineExceeded) || string(b) != "keep" {
		t.Fatalf("ReadAppend past its deadline = %q, %v", b, err)
	}
}

// oneByteConn delivers what it reads one byte at a time, as a slow network
// might.
type oneByteConn struct{ net.Conn }

func (c oneByteConn) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return c.Conn.Read(p)
}

// Partial input: a stream of every kind of frame read through a connection
// that returns one byte per read gives the same messages.
func TestReadOneByteAtATime(t *testing.T) {
	for _, client := range []bool{false, true} {
		a, b := tcpPair(t)
		c := newConn(oneByteConn{a}, connConfig{client: client}, nil)
		p := &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: !client}
		var stream []byte
		stream = append(stream, p.frame(false, opText, []byte("κό"))...)
		stream = append(stream, p.frame(true, opPing, []byte("x"))...)
		stream = append(stream, p.frame(true, opContinuation, []byte("σμε"))...)
		big := bytes.Repeat([]byte("0123456789"), 7000)
		stream = append(stream, p.frame(true, opBinary, big)...)
		go p.write(stream)
		if _, m, err := c.Read(context.Background()); err != nil || string(m) != "κόσμε" {
			t.Fatalf("client=%v: first message %q, %v", client, m, err)
		}
		if _, m, err := c.Read(context.Background()); err != nil || !bytes.Equal(m, big) {
			t.Fatalf("client=%v: second message %d bytes, %v", client, len(m), err)
		}
		if h, payload := p.recv(); h.op != opPong || string(payload) != "x" {
			t.Fatalf("client=%v: got %v %q, want pong", client, h.op, payload)
		}
		c.CloseNow()
	}
}

func TestProtocolViolations(t *testing.T) {
	tests := []struct {
		name   string
		client bool // the Conn under test is a client
		frames func(p *rawPeer) []byte
		code   StatusCode
	}{
		{"5.1/unmasked client frame", false, func(p *rawPeer) []byte {
			return appendHeader(nil, header{fin: true, op: opText})
		}, StatusProtocolError},
		{"5.1/masked server frame", true, func(p *rawPeer) []byte {
			return appendHeader(nil, header{fin: true, op: opText, masked: true, key: 1})
		}, StatusProtocolError},
		{"5.2/RSV1 without extension", false, func(p *rawPeer) []byte {
			b := p.frame(true, opText, []byte("x"))
			b[0] |= rsv1
			return b
		}, StatusProtocolError},
		{"5.2/opcode 3", false, func(p *rawPeer) []byte { return p.frame(true, 3, nil) }, StatusProtocolError},
		{"5.2/opcode 0xB with huge length", false, func(p *rawPeer) []byte {
			return appendHeader(nil, header{fin: true, op: 0xB, masked: true, length: 1 << 62})
		}, StatusProtocolError},
		{"5.2/64-bit length with top bit", false, func(p *rawPeer) []byte {
			return unhex("82 FF 8000000000000000 00000000")
		}, StatusProtocolError},
		{"5.5/fragmented ping", false, func(p *rawPeer) []byte { return p.frame(false, opPing, nil) }, StatusProtocolError},
		{"5.5/ping of 126 bytes", false, func(p *rawPeer) []byte { return p.frame(true, opPing, make([]byte, 126)) }, StatusProtocolError},
		{"5.5/close of 2^62 bytes", false, func(p *rawPeer) []byte {
			return appendHeader(nil, header{fin: true, op: opClose, masked: true, length: 1 << 62})
		}, StatusProtocolError},
		{"5.4/continuation with no message", false, func(p *rawPeer) []byte { return p.frame(true, opContinuation, []byte("x")) }, StatusProtocolError},
		{"5.4/text inside a fragmented message", false, func(p *rawPeer) []byte {
			return append(p.frame(false, opText, []byte("a")), p.frame(true, opText, []byte("b"))...)
		}, StatusProtocolError},
		{"5.5.1/close payload of 1 byte", false, func(p *rawPeer) []byte { return p.frame(true, opClose, []byte{3}) }, StatusProtocolError},
		{"7.4/close code 1005", false, func(p *rawPeer) []byte { return p.frame(true, opClose, []byte{0x03, 0xED}) }, StatusProtocolError},
		{"7.4/close code 999", false, func(p *rawPeer) []byte { return p.frame(true, opClose, closePayload(999, "")) }, StatusProtocolError},
		{"7.4/close code 2999", false, func(p *rawPeer) []byte { return p.frame(true, opClose, closePayload(2999, "")) }, StatusProtocolError},
		{"7.4/close code 5000", false, func(p *rawPeer) []byte { return p.frame(true, opClose, closePayload(5000, "")) }, StatusProtocolError},
		{"5.5.1/close reason not UTF-8", false, func(p *rawPeer) []byte {
			return p.frame(true, opClose, append(closePayload(1000, ""), 0xff))
		}, StatusInvalidFramePayloadData},
		{"8.1/invalid UTF-8 text", false, func(p *rawPeer) []byte { return p.frame(true, opText, []byte("a\xffb")) }, StatusInvalidFramePayloadData},
		{"8.1/text ending mid code point", false, func(p *rawPeer) []byte { return p.frame(true, opText, []byte("a\xce")) }, StatusInvalidFramePayloadData},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, p := newTestConn(t, tt.client, connConfig{})
			p.write(tt.frames(p))
			wantFailed(t, c, p, tt.code)
		})
	}
}

// RFC 6455, Section 8.1 and Autobahn 6.4: invalid UTF-8 fails the
// connection when the fragment carrying it arrives, not at the end of the
// message.
func TestUTF8FailFast(t *testing.T) {
	c, p := newTestConn(t, false, connConfig{})
	p.send(false, opText, []byte("κόσμε"))
	p.send(false, opContinuation, []byte("\xf4\x90\x80\x80")) // above U+10FFFF
	// No final fragment is ever sent: the close must come anyway.
	wantFailed(t, c, p, StatusInvalidFramePayloadData)
}

func TestReadLimit(t *testing.T) {
	t.Run("7.4.1/declared length over the limit fails from the header", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{readLimit: 1000})
		// Announce 2^62 bytes and send none: the header alone must fail it.
		p.write(appendHeader(nil, header{fin: true, op: opBinary, masked: true, key: 1, length: 1 << 62}))
		wantFailed(t, c, p, StatusMessageTooBig)
	})
	t.Run("7.4.1/limit counts the whole message, not the frame", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{readLimit: 1000})
		for i := 0; i < 3; i++ {
			p.send(false, map[bool]opcode{true: opBinary, false: opContinuation}[i == 0], make([]byte, 400))
		}
		errc := make(chan error, 1)
		go func() { _, _, err := c.Read(context.Background()); errc <- err }()
		p.wantClose(StatusMessageTooBig)
		p.nc.Close()
		if err := <-errc; !errors.Is(err, ErrMessageTooBig) {
			t.Fatalf("Read = %v, want ErrMessageTooBig", err)
		}
	})
	t.Run("message of exactly the limit passes", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{readLimit: 1000})
		p.send(false, opBinary, make([]byte, 600))
		p.send(true, opContinuation, make([]byte, 400))
		if _, b, err := c.Read(context.Background()); err != nil || len(b) != 1000 {
			t.Fatalf("Read = %d bytes, %v", len(b), err)
		}
	})
	t.Run("SetReadLimit applies to the next message", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		c.SetReadLimit(10)
		p.send(true, opBinary, make([]byte, 11))
		wantFailed(t, c, p, StatusMessageTooBig)
	})
	t.Run("endless empty continuation frames are capped", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{readLimit: 1000})
		go func() {
			b := p.frame(false, opText, nil)
			empty := p.frame(false, opContinuation, nil)
			for i := 0; i < minFragmentCap+10; i++ {
				b = append(b, empty...)
			}
			p.nc.Write(b)
		}()
		errc := make(chan error, 1)
		go func() { _, _, err := c.Read(context.Background()); errc <- err }()
		p.wantClose(StatusMessageTooBig)
		p.nc.Close()
		var pe *ProtocolError
		if err := <-errc; !errors.As(err, &pe) || pe != errTooManyFragments {
			t.Fatalf("Read = %v, want too many fragments", err)
		}
	})
}

func TestCloseHandshake(t *testing.T) {
	t.Run("5.5.1/peer closes: echo the code, report it, server closes TCP", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		p.send(true, opClose, closePayload(StatusGoingAway, "bye"))
		_, _, err := c.Read(context.Background())
		var ce CloseError
		if !errors.As(err, &ce) || ce.Code != StatusGoingAway || ce.Reason != "bye" {
			t.Fatalf("Read = %v, want CloseError 1001 bye", err)
		}
		if CloseStatus(err) != StatusGoingAway {
			t.Errorf("CloseStatus = %v", CloseStatus(err))
		}
		p.wantClose(StatusGoingAway)
		p.wantEOF()
		if err := c.Write(context.Background(), MessageText, []byte("late")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write after close = %v, want net.ErrClosed", err)
		}
	})
	t.Run("5.5.1/empty close payload is answered with an empty one", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		p.send(true, opClose, nil)
		if _, _, err := c.Read(context.Background()); CloseStatus(err) != StatusNoStatusReceived {
			t.Fatalf("Read = %v, want 1005", err)
		}
		if h, payload := p.recv(); h.op != opClose || len(payload) != 0 {
			t.Fatalf("got %v %q, want an empty close", h.op, payload)
		}
	})
	t.Run("7.1.2/server Close with a reader running", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		readErr := make(chan error, 1)
		go func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					readErr <- err
					return
				}
			}
		}()
		done := make(chan error, 1)
		go func() { done <- c.Close(StatusNormalClosure, "done") }()
		p.wantClose(StatusNormalClosure)
		p.send(true, opText, []byte("in flight")) // data after our close is discarded
		p.send(true, opClose, closePayload(StatusNormalClosure, ""))
		if err := <-done; err != nil {
			t.Fatalf("Close = %v", err)
		}
		if err := <-readErr; CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("Read = %v", err)
		}
		p.wantEOF()
		if err := c.Close(StatusNormalClosure, ""); !errors.Is(err, net.ErrClosed) {
			t.Errorf("second Close = %v, want net.ErrClosed", err)
		}
	})
	t.Run("7.1.2/client Close with no reader waits for the server to close TCP", func(t *testing.T) {
		c, p := newTestConn(t, true, connConfig{})
		done := make(chan error, 1)
		go func() { done <- c.Close(StatusNormalClosure, "") }()
		p.wantClose(StatusNormalClosure)
		p.send(true, opClose, closePayload(StatusNormalClosure, ""))
		select {
		case err := <-done:
			t.Fatalf("client Close returned %v before the server closed TCP", err)
		case <-time.After(50 * time.Millisecond):
		}
		p.nc.Close()
		if err := <-done; err != nil {
			t.Fatalf("Close = %v", err)
		}
	})
	t.Run("close timeout when the peer never answers", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{closeTimeout: 100 * time.Millisecond})
		start := time.Now()
		err := c.Close(StatusNormalClosure, "")
		if !errors.Is(err, ErrCloseTimeout) {
			t.Fatalf("Close = %v, want timeout", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Close took %v", d)
		}
		p.wantClose(StatusNormalClosure)
		p.wantEOF()
	})
	t.Run("CloseNow unblocks a reader", func(t *testing.T) {
		c, _ := newTestConn(t, false, connConfig{})
		errc := make(chan error, 1)
		go func() { _, _, err := c.Read(context.Background()); errc <- err }()
		time.Sleep(10 * time.Millisecond)
		c.CloseNow()
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read = %v, want net.ErrClosed", err)
		}
	})
	t.Run("7.1.5/TCP drop without close frame", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		p.write(p.frame(false, opText, []byte("half"))[:4])
		p.nc.Close()
		_, _, err := c.Read(context.Background())
		var ne *netError
		if !errors.As(err, &ne) || !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "1006") {
			t.Fatalf("Read = %v, want a 1006 connection-lost error", err)
		}
	})
	t.Run("long reason is cut at a code point", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{closeTimeout: 50 * time.Millisecond})
		go c.Close(StatusNormalClosure, strings.Repeat("é", 100))
		h, payload := p.recv()
		if h.op != opClose || len(payload) > maxControlPayload || !bytes.HasPrefix(payload[2:], []byte("éé")) {
			t.Fatalf("close frame %d bytes: %q", len(payload), payload)
		}
		if _, reason, err := parseClosePayload(payload); err != nil || len(reason)%2 != 0 {
			t.Fatalf("reason %q, %v", reason, err)
		}
	})
}

func TestContextOnRead(t *testing.T) {
	t.Run("expiry while idle leaves the Conn usable", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if _, _, err := c.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Read = %v, want deadline exceeded", err)
		}
		p.send(true, opText, []byte("after"))
		if _, b, err := c.Read(context.Background()); err != nil || string(b) != "after" {
			t.Fatalf("Read after timeout = %q, %v", b, err)
		}
	})
	t.Run("expiry mid-header loses no byte", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		frame := p.frame(true, opBinary, bytes.Repeat([]byte("x"), 300))
		for _, cut := range []int{1, 3, 7} { // the header is 8 bytes
			p.write(frame[:cut])
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
			_, _, err := c.Read(ctx)
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("cut %d: got %v, want deadline exceeded", cut, err)
			}
			p.write(frame[cut:])
			if _, b, err := c.Read(context.Background()); err != nil || len(b) != 300 {
				t.Fatalf("cut %d: Read = %d bytes, %v", cut, len(b), err)
			}
		}
	})
	t.Run("expiry mid-payload: the next Reader skips the rest cleanly", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		frame := p.frame(true, opText, bytes.Repeat([]byte("x"), 300))
		p.write(frame[:20])
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		_, r, err := c.Reader(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if !errors.Is(err, context.DeadlineExceeded) || len(got) != 12 {
			t.Fatalf("ReadAll = %d bytes, %v; want 12 and deadline exceeded", len(got), err)
		}
		p.write(frame[20:])
		p.send(true, opText, []byte("next"))
		if _, b, err := c.Read(context.Background()); err != nil || string(b) != "next" {
			t.Fatalf("Read = %q, %v", b, err)
		}
	})
	t.Run("cancel unblocks a waiting Read", func(t *testing.T) {
		c, _ := newTestConn(t, false, connConfig{})
		ctx, cancel := context.WithCancel(context.Background())
		go func() { time.Sleep(20 * time.Millisecond); cancel() }()
		if _, _, err := c.Read(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Read = %v, want canceled", err)
		}
	})
}

func TestWrite(t *testing.T) {
	for _, client := range []bool{false, true} {
		name := map[bool]string{false: "server", true: "client"}[client]
		t.Run(name+"/5.6/whole messages of every size", func(t *testing.T) {
			c, p := newTestConn(t, client, connConfig{writeBufferSize: 512})
			for _, n := range []int{0, 1, 125, 126, 511, 512, 513, 65536, 200000} {
				msg := bytes.Repeat([]byte{byte(n), 1, 2}, n/3+1)[:n]
				orig := append([]byte(nil), msg...)
				go c.Write(context.Background(), MessageBinary, msg)
				h, got := p.recv()
				if !h.fin || h.op != opBinary || !bytes.Equal(got, orig) {
					t.Fatalf("size %d: got fin=%v op=%v %d bytes", n, h.fin, h.op, len(got))
				}
				time.Sleep(time.Millisecond)
				if !bytes.Equal(msg, orig) {
					t.Fatalf("size %d: Write changed the caller's slice", n)
				}
			}
		})
		t.Run(name+"/5.4/Writer streams fragments", func(t *testing.T) {
			c, p := newTestConn(t, client, connConfig{writeBufferSize: 256})
			want := bytes.Repeat([]byte("abcdefghij"), 100)
			go func() {
				w, _ := c.Writer(context.Background(), MessageText)
				for i := 0; i < len(want); i += 70 {
					w.Write(want[i:min(i+70, len(want))])
				}
				w.Close()
			}()
			var got []byte
			for i := 0; ; i++ {
				h, payload := p.recv()
				wantOp := opContinuation
				if i == 0 {
					wantOp = opText
				}
				if h.op != wantOp {
					t.Fatalf("fragment %d: op %v, want %v", i, h.op, wantOp)
				}
				got = append(got, payload...)
				if h.fin {
					break
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("reassembled %d bytes, want %d", len(got), len(want))
			}
		})
	}
	t.Run("client masking keys differ per frame", func(t *testing.T) {
		c, p := newTestConn(t, true, connConfig{})
		seen := map[uint32]bool{}
		go func() {
			for i := 0; i < 40; i++ {
				c.Write(context.Background(), MessageText, []byte("k"))
			}
		}()
		for i := 0; i < 40; i++ {
			h, _ := p.recv()
			seen[h.key] = true
		}
		if len(seen) < 39 {
			t.Errorf("%d distinct keys in 40 frames", len(seen))
		}
	})
	t.Run("bad message type", func(t *testing.T) {
		c, _ := newTestConn(t, false, connConfig{})
		if err := c.Write(context.Background(), MessageType(9), nil); err == nil {
			t.Error("Write with type 9 succeeded")
		}
	})
	t.Run("writer closed twice", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		w, _ := c.Writer(context.Background(), MessageBinary)
		w.Close()
		p.recv()
		if err := w.Close(); err == nil {
			t.Error("second Close succeeded")
		}
		if _, err := w.Write([]byte("x")); err == nil {
			t.Error("Write after Close succeeded")
		}
	})
	t.Run("cancelled context before the frame leaves the Conn usable", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		w, _ := c.Writer(context.Background(), MessageBinary) // holds the message lock
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := c.Write(ctx, MessageText, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Write = %v, want deadline exceeded", err)
		}
		w.Close()
		p.recv()
		go c.Write(context.Background(), MessageText, []byte("ok"))
		if _, payload := p.recv(); string(payload) != "ok" {
			t.Fatalf("got %q", payload)
		}
	})
	t.Run("peer that never reads: write bounded by context", func(t *testing.T) {
		c, _ := newTestConn(t, false, connConfig{})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		big := make([]byte, 1<<20)
		var err error
		for i := 0; i < 1000 && err == nil; i++ {
			err = c.Write(ctx, MessageBinary, big)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Write = %v, want deadline exceeded", err)
		}
		if err := c.Write(context.Background(), MessageBinary, []byte("x")); err == nil {
			t.Fatal("Write after a frame was cut succeeded")
		}
	})
}

// Several goroutines write, ping and stream while one reads: every message
// arrives whole, none interleaved, under -race.
func TestConcurrentWriters(t *testing.T) {
	c, p := newTestConn(t, false, connConfig{writeBufferSize: 128})
	const writers, perWriter = 8, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				msg := bytes.Repeat([]byte{byte('a' + w)}, 100+i*7)
				if i%2 == 0 {
					c.Write(context.Background(), MessageText, msg)
				} else {
					wr, err := c.Writer(context.Background(), MessageText)
					if err != nil {
						t.Error(err)
						return
					}
					wr.Write(msg[:50])
					wr.Write(msg[50:])
					wr.Close()
				}
			}
		}()
	}
	go func() { // the reader answers the peer's pings meanwhile
		c.Read(context.Background())
	}()
	go func() {
		for i := 0; i < 20; i++ {
			p.send(true, opPing, []byte{byte(i)})
		}
	}()
	// Pongs may be coalesced (RFC 6455, Section 5.5.3): they come in
	// order, and the last ping is answered.
	msgs, lastPong := 0, -1
	var cur []byte
	inMsg := false
	for msgs < writers*perWriter || lastPong < 19 {
		h, payload := p.recv()
		switch h.op {
		case opPong:
			if int(payload[0]) <= lastPong {
				t.Fatalf("pong %d after pong %d", payload[0], lastPong)
			}
			lastPong = int(payload[0])
			continue
		case opText:
			if inMsg {
				t.Fatal("new message inside a fragmented one")
			}
			cur = append(cur[:0], payload...)
		case opContinuation:
			if !inMsg {
				t.Fatal("continuation with no message")
			}
			cur = append(cur, payload...)
		}
		inMsg = !h.fin
		if h.fin {
			if len(cur) == 0 || bytes.Count(cur, cur[:1]) != len(cur) {
				t.Fatalf("message mixes writers: %q", cur)
			}
			msgs++
		}
	}
	wg.Wait()
}

func TestPing(t *testing.T) {
	c, p := newTestConn(t, false, connConfig{})
	go c.Read(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Ping(context.Background()) }()
	h, payload := p.recv()
	if h.op != opPing {
		t.Fatalf("got %v, want ping", h.op)
	}
	p.send(true, opPong, []byte("not it"))
	select {
	case err := <-done:
		t.Fatalf("Ping returned %v on a pong with another payload", err)
	case <-time.After(20 * time.Millisecond):
	}
	p.send(true, opPong, payload)
	if err := <-done; err != nil {
		t.Fatalf("Ping = %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unanswered Ping = %v", err)
	}
}

// The allocation budget of the hot paths, in steady state.
func TestConnAllocs(t *testing.T) {
	t.Run("server Write of a small message", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		go io.Copy(io.Discard, p.nc)
		msg := make([]byte, 1024)
		if n := testing.AllocsPerRun(200, func() { c.Write(context.Background(), MessageBinary, msg) }); n != 0 {
			t.Errorf("%v allocs, want 0", n)
		}
	})
	t.Run("server Write of a 64 KiB message", func(t *testing.T) {
		if raceEnabled {
			t.Skip("sync.Pool drops items under -race; .ci/run checks allocations without it")
		}
		c, p := newTestConn(t, false, connConfig{})
		go io.Copy(io.Discard, p.nc)
		msg := make([]byte, 64<<10)
		if n := testing.AllocsPerRun(100, func() { c.Write(context.Background(), MessageBinary, msg) }); n != 0 {
			t.Errorf("%v allocs, want 0", n)
		}
	})
	t.Run("client Write of a small message", func(t *testing.T) {
		c, p := newTestConn(t, true, connConfig{})
		go io.Copy(io.Discard, p.nc)
		msg := make([]byte, 1024)
		if n := testing.AllocsPerRun(200, func() { c.Write(context.Background(), MessageBinary, msg) }); n != 0 {
			t.Errorf("%v allocs, want 0", n)
		}
	})
	t.Run("Read of a one-frame message: one allocation of its exact size", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		frame := p.frame(true, opBinary, make([]byte, 16))
		var stream []byte
		for i := 0; i < 210; i++ {
			stream = append(stream, frame...)
		}
		go p.write(stream)
		var got []byte
		if n := testing.AllocsPerRun(200, func() {
			var err error
			if _, got, err = c.Read(context.Background()); err != nil {
				t.Fatal(err)
			}
		}); n != 1 {
			t.Errorf("%v allocs, want 1", n)
		}
		if len(got) != 16 || cap(got) != 16 {
			t.Errorf("len %d cap %d, want 16 and 16", len(got), cap(got))
		}
	})
	t.Run("ReadAppend into a reused buffer, fragmented text", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		go io.Copy(io.Discard, p.nc)
		frames := append(p.frame(false, opText, bytes.Repeat([]byte("é"), 300)), p.frame(true, opContinuation, bytes.Repeat([]byte("z"), 424))...)
		var stream []byte
		for i := 0; i < 210; i++ {
			stream = append(stream, frames...)
		}
		go p.write(stream)
		buf := make([]byte, 0, 1024)
		if n := testing.AllocsPerRun(200, func() {
			_, b, err := c.ReadAppend(context.Background(), buf[:0])
			if err != nil || len(b) != 1024 {
				t.Fatalf("%d bytes, %v", len(b), err)
			}
		}); n != 0 {
			t.Errorf("%v allocs, want 0", n)
		}
	})
	t.Run("Reader and ReadFull into a caller buffer, ping answered: the reader itself", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		go io.Copy(io.Discard, p.nc)
		frames := append(p.frame(true, opPing, []byte("pp")), p.frame(true, opText, bytes.Repeat([]byte("a"), 1024))...)
		var stream []byte
		for i := 0; i < 210; i++ {
			stream = append(stream, frames...)
		}
		go p.write(stream)
		buf := make([]byte, 1024)
		if n := testing.AllocsPerRun(200, func() {
			_, r, err := c.Reader(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(r, buf); err != nil {
				t.Fatal(err)
			}
		}); n != 1 {
			// One allocation: the reader of the message, so that a
			// reader kept past its message can tell.
			t.Errorf("%v allocs, want 1", n)
		}
	})
}

// BenchmarkWrite measures whole-message writes over loopback TCP to a peer
// that discards, for both sides (a client masks).
func BenchmarkWrite(b *testing.B) {
	for _, client := range []bool{false, true} {
		for _, size := range []int{16, 1024, 64 << 10, 1 << 20} {
			name := fmt.Sprintf("%s/%d", map[bool]string{false: "server", true: "client"}[client], size)
			b.Run(name, func(b *testing.B) {
				c, p := newTestConn(b, client, connConfig{})
				go io.Copy(io.Discard, p.nc)
				msg := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := c.Write(context.Background(), MessageBinary, msg); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
