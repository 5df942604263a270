package h2

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"
)

// fake is the server end of a hostile HTTP/2 server: it speaks raw frames
// on a loopback connection, as a script says.
type fake struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

// startFake runs script on the first connection to a loopback listener,
// after reading the client's preface, and returns the listener's address.
func startFake(t testing.TB, script func(f *fake)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(testTimeout))
		f := &fake{t: t, c: c, br: bufio.NewReader(c)}
		preface := make([]byte, len(clientPreface))
		if _, err := io.ReadFull(f.br, preface); err != nil || string(preface) != clientPreface {
			t.Errorf("client preface %q, %v", preface, err)
			return
		}
		if h, _, err := f.readFrame(); err != nil || h.typ != frameSettings {
			t.Errorf("client's first frame %+v, %v", h, err)
			return
		}
		script(f)
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
	})
	return ln.Addr().String()
}

func dialFake(t testing.TB, addr string, cfg *Config) (*ClientConn, error) {
	t.Helper()
	ctx := testContext(t)
	c, err := new(net.Dialer).DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := NewClientConn(ctx, c, cfg)
	if cc != nil {
		t.Cleanup(func() { cc.Close() })
	}
	return cc, err
}

var fakeRequest = &Request{Scheme: "http", Authority: "fake", Path: "/"}

func (f *fake) write(b []byte) {
	if _, err := f.c.Write(b); err != nil {
		f.t.Logf("fake server write: %v", err)
	}
}

func (f *fake) frame(typ frameType, flags frameFlags, stream uint32, payload []byte) {
	f.write(appendFrame(nil, typ, flags, stream, payload))
}

func appendFrame(b []byte, typ frameType, flags frameFlags, stream uint32, payload []byte) []byte {
	b = appendFrameHeader(b, frameHeader{length: uint32(len(payload)), typ: typ, flags: flags, streamID: stream})
	return append(b, payload...)
}

func (f *fake) settings(ss ...setting) { f.write(appendSettings(nil, ss)) }

// hello sends SETTINGS with the extended CONNECT enabled and more.
func (f *fake) hello(ss ...setting) {
	f.settings(append([]setting{{settingEnableConnectProtocol, 1}}, ss...)...)
}

func (f *fake) headers(stream uint32, flags frameFlags, fields ...headerField) {
	var block []byte
	for _, h := range fields {
		block = appendField(block, h)
	}
	f.frame(frameHeaders, flags|flagEndHeaders, stream, block)
}

// ok answers stream with 200.
func (f *fake) ok(stream uint32) { f.headers(stream, 0, headerField{name: ":status", value: "200"}) }

func (f *fake) windowUpdate(stream, n uint32) {
	f.frame(frameWindowUpdate, 0, stream, binary.BigEndian.AppendUint32(nil, n))
}

func (f *fake) readFrame() (frameHeader, []byte, error) {
	var hdr [frameHeaderLen]byte
	if _, err := io.ReadFull(f.br, hdr[:]); err != nil {
		return frameHeader{}, nil, err
	}
	h := parseFrameHeader(hdr[:])
	p := make([]byte, h.length)
	_, err := io.ReadFull(f.br, p)
	return h, p, err
}

// awaitFrame reads frames until one of type typ and returns it; ok is
// false at the end of the connection.
func (f *fake) awaitFrame(typ frameType) (h frameHeader, p []byte, ok bool) {
	for {
		h, p, err := f.readFrame()
		if err != nil {
			return h, nil, false
		}
		if h.typ == typ {
			return h, p, true
		}
	}
}

// goAwayCode waits for the client's GOAWAY and returns its code, or -1.
func (f *fake) goAwayCode() int64 {
	_, p, ok := f.awaitFrame(frameGoAway)
	if !ok || len(p) < 8 {
		return -1
	}
	return int64(binary.BigEndian.Uint32(p[4:]))
}

// rstCode waits for an RST_STREAM and returns its code, or -1.
func (f *fake) rstCode() int64 {
	_, p, ok := f.awaitFrame(frameRSTStream)
	if !ok {
		return -1
	}
	return int64(binary.BigEndian.Uint32(p))
}

// openInBackground opens a stream and returns a channel with the result.
func openInBackground(cc *ClientConn, ctx context.Context) <-chan openResult {
	c := make(chan openResult, 1)
	go func() {
		s, err := cc.OpenStream(ctx, fakeRequest)
		c <- openResult{s, err}
	}()
	return c
}

type openResult struct {
	s   *Stream
	err error
}
