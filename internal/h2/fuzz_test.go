package h2

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"
)

// FuzzClientFrames feeds arbitrary bytes from a server to a ClientConn
// with one stream open, after a valid SETTINGS, and checks that it never
// panics and always ends, within a bound, with a ConnectionError (what
// the client detected, sent in a GOAWAY) or the connection's loss (the
// fake server closes after its input).
func FuzzClientFrames(f *testing.F) {
	var hdrs []byte
	hdrs = appendField(hdrs, headerField{name: ":status", value: "200"})
	hdrs = appendField(hdrs, headerField{name: "sec-websocket-protocol", value: "chat"})
	ok := appendFrame(nil, frameHeaders, flagEndHeaders, 1, hdrs)
	data := appendFrame(nil, frameData, 0, 1, []byte("hello"))
	for _, seed := range [][]byte{
		ok,
		append(append([]byte{}, ok...), data...),
		append(append(append([]byte{}, ok...), data...), appendFrame(nil, frameData, flagEndStream|flagPadded, 1, []byte{2, 'x', 0, 0})...),
		append(append([]byte{}, ok...), appendRSTStream(nil, 1, ErrCodeNo)...),
		appendFrame(nil, frameHeaders, 0, 1, hdrs[:1]),
		append(appendFrame(nil, frameHeaders, 0, 1, hdrs[:1]), appendFrame(nil, frameContinuation, flagEndHeaders, 1, hdrs[1:])...),
		appendPing(nil, false, [8]byte{1}),
		appendSettings(nil, []setting{{settingInitialWindowSize, 1 << 20}, {settingMaxFrameSize, 1 << 20}}),
		appendWindowUpdate(appendWindowUpdate(nil, 0, 1000), 1, 1000),
		appendGoAway(nil, 1, ErrCodeNo, "bye"),
		appendFrame(nil, framePriority, 0, 1, make([]byte, 5)),
		appendFrame(nil, framePushPromise, flagEndHeaders, 1, []byte{0, 0, 0, 2}),
		appendFrame(nil, 0xee, 0xff, 7, []byte("unknown")),
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		client, server := net.Pipe()
		go fuzzServer(server, in)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		cc, err := NewClientConn(ctx, client, &Config{WriteTimeout: time.Second, StreamWindow: 1 << 16})
		if err != nil {
			checkEnd(t, err)
			return
		}
		defer cc.Close()
		if s, err := cc.OpenStream(ctx, fakeRequest); err == nil {
			s.SetDeadline(time.Now().Add(5 * time.Second))
			io.Copy(io.Discard, s)
			s.Write([]byte("x"))
			s.Close()
		}
		select {
		case <-cc.Done():
		case <-ctx.Done():
			t.Fatal("connection did not end")
		}
		checkEnd(t, cc.Err())
	})
}

// fuzzServer sends SETTINGS, waits for the client's HEADERS, sends in and
// closes.
func fuzzServer(c net.Conn, in []byte) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	go c.Write(appendSettings(nil, []setting{{settingEnableConnectProtocol, 1}}))
	br := bufio.NewReader(c)
	if _, err := io.ReadFull(br, make([]byte, len(clientPreface))); err != nil {
		return
	}
	for {
		var hdr [frameHeaderLen]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			return
		}
		h := parseFrameHeader(hdr[:])
		if _, err := io.CopyN(io.Discard, br, int64(h.length)); err != nil {
			return
		}
		if h.typ == frameHeaders {
			break
		}
	}
	go io.Copy(io.Discard, br) // keep the client's writes flowing
	c.Write(in)
}

// checkEnd accepts the ways a fuzzed connection may end.
func checkEnd(t *testing.T, err error) {
	t.Helper()
	var ce *ConnectionError
	var lost *lostError
	var ga *GoAwayError
	switch {
	case errors.As(err, &ce), errors.As(err, &lost), errors.As(err, &ga), err == errConnClosed:
	default:
		t.Fatalf("connection ended with %T %v", err, err)
	}
}
