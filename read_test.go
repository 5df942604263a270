//go:build !js

package websocket

// The read side (read.go): messages whole and streamed, protocol
// violations, limits, and contexts that end while reading.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

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

// CloseRead keeps the protocol going for a write-only application and
// applies the rule it is given to data messages.
func TestCloseRead(t *testing.T) {
	ctx := context.Background()
	t.Run("pings answered, handshake completed, Done closed", func(t *testing.T) {
		server, client := pipePair(t, ConnOptions{})
		client.CloseRead(nil) // the client only writes
		go server.Read(ctx)   // a reader on the server side receives the pong
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if err := server.Ping(pctx); err != nil {
			t.Fatalf("server Ping to a client in CloseRead = %v", err)
		}
		if err := client.Ping(pctx); err != nil {
			t.Fatalf("Ping of the CloseRead side = %v", err)
		}
		if err := server.Close(StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("Close = %v: the CloseRead side did not answer", err)
		}
		select {
		case <-client.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed after the closing handshake")
		}
	})
	t.Run("nil handle: a data message closes with 1008", func(t *testing.T) {
		server, client := pipePair(t, ConnOptions{})
		server.CloseRead(nil)
		client.Write(ctx, MessageText, []byte("unexpected"))
		if _, _, err := client.Read(ctx); CloseStatus(err) != StatusPolicyViolation {
			t.Fatalf("client Read = %v, want close 1008", err)
		}
	})
	t.Run("handle sees the messages; its error closes with 1008 and the reason", func(t *testing.T) {
		server, client := pipePair(t, ConnOptions{})
		var got []string
		server.CloseRead(func(typ MessageType, msg []byte) error {
			got = append(got, typ.String()+":"+string(msg))
			if string(msg) == "stop" {
				return errors.New("no more")
			}
			return nil
		})
		for _, m := range []string{"a", "bb", "stop"} {
			client.Write(ctx, MessageBinary, []byte(m))
		}
		_, _, err := client.Read(ctx)
		var ce CloseError
		if !errors.As(err, &ce) || ce.Code != StatusPolicyViolation || ce.Reason != "no more" {
			t.Fatalf("client Read = %v, want close 1008 \"no more\"", err)
		}
		<-server.Done()
		if strings.Join(got, ",") != "binary:a,binary:bb,binary:stop" {
			t.Fatalf("handle saw %q", got)
		}
	})
	t.Run("DiscardMessage drops them", func(t *testing.T) {
		server, client := pipePair(t, ConnOptions{})
		server.CloseRead(DiscardMessage)
		for i := 0; i < 100; i++ {
			client.Write(ctx, MessageText, []byte("ignored"))
		}
		if err := client.Close(StatusNormalClosure, ""); err != nil {
			t.Fatalf("Close = %v", err)
		}
		<-server.Done()
	})
}
