//go:build !js

package websocket

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// engineEcho is an OnMessage that echoes every message.
func engineEcho(c *EngineConn, typ MessageType, p []byte) { c.Write(typ, p) }

// closeLog records what OnClose was told, by connection.
type closeLog struct {
	mu   sync.Mutex
	errs []error
	ch   chan error
}

func newCloseLog() *closeLog { return &closeLog{ch: make(chan error, 1024)} }

func (l *closeLog) onClose(c *EngineConn, err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
	l.ch <- err
}

func (l *closeLog) next(t *testing.T) error {
	t.Helper()
	return within(t, "OnClose", 5*time.Second, l.ch)
}

// newTestEngine starts an engine (echoing unless opts says otherwise)
// behind an httptest.Server whose handler is Engine.Accept with aopts. It
// returns the engine and the server's ws:// URL; both stop with the test.
func newTestEngine(t *testing.T, opts *EngineOptions, aopts *AcceptOptions) (*Engine, string) {
	t.Helper()
	if opts == nil {
		opts = &EngineOptions{}
	}
	if opts.OnMessage == nil {
		opts.OnMessage = engineEcho
	}
	e, err := NewEngine(opts)
	if err != nil {
		t.Fatal(err)
	}
	if aopts == nil {
		aopts = &AcceptOptions{}
	}
	if aopts.CloseTimeout == 0 {
		aopts.CloseTimeout = 2 * time.Second
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.Accept(w, r, aopts)
	}))
	t.Cleanup(func() {
		srv.Close()
		e.Close(StatusGoingAway, "")
	})
	return e, "ws" + strings.TrimPrefix(srv.URL, "http")
}

// dialEngine connects a Conn to the engine at url.
func dialEngine(t *testing.T, url string, opts *DialOptions) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, url, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return c
}

// rawEnginePeer opens a TCP connection to the engine at url, does the
// opening handshake by hand and returns a raw peer (a client: it masks).
func rawEnginePeer(t *testing.T, url string) *rawPeer {
	t.Helper()
	host := strings.TrimPrefix(url, "ws://")
	nc, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %s", resp.Status)
	}
	return &rawPeer{t: t, nc: nc, br: br, client: true}
}

func TestEngineEcho(t *testing.T) {
	for _, mode := range []string{"epoll", "goroutines"} {
		t.Run(mode, func(t *testing.T) {
			if mode == "goroutines" {
				testNoEpoll = true
				defer func() { testNoEpoll = false }()
			}
			_, url := newTestEngine(t, &EngineOptions{Loops: 2}, &AcceptOptions{ConnOptions: ConnOptions{ReadLimit: 4 << 20}})
			c := dialEngine(t, url, &DialOptions{ConnOptions: ConnOptions{ReadLimit: 4 << 20}})
			ctx := context.Background()
			for _, n := range []int{0, 1, 125, 126, 4096, 65535, 65536, 300 << 10, 3 << 20} {
				for _, typ := range []MessageType{MessageText, MessageBinary} {
					msg := bytes.Repeat([]byte("a"), n)
					if err := c.Write(ctx, typ, msg); err != nil {
						t.Fatal(err)
					}
					gt, got, err := c.Read(ctx)
					if err != nil || gt != typ || !bytes.Equal(got, msg) {
						t.Fatalf("echo of %d bytes: type %v, %d bytes, err %v", n, gt, len(got), err)
					}
				}
			}
		})
	}
}

// Section 5.4: a fragmented message is delivered whole, with control
// frames between its fragments answered.
func TestEngineFragmented(t *testing.T) {
	_, url := newTestEngine(t, nil, nil)
	p := rawEnginePeer(t, url)
	p.send(false, opText, []byte("Hel"))
	p.send(true, opPing, []byte("x"))
	p.send(false, opContinuation, []byte("lo, "))
	p.send(true, opContinuation, []byte("world"))
	h, payload := p.recv()
	if h.op != opPong || string(payload) != "x" {
		t.Fatalf("got %v %q, want the pong first", h.op, payload)
	}
	h, payload = p.recv()
	if h.op != opText || !h.fin || string(payload) != "Hello, world" {
		t.Fatalf("got %v fin=%v %q", h.op, h.fin, payload)
	}
}

// Frames cut at every byte still make the same messages: the core never
// uses part of a frame, and the loop keeps the start of one for the next
// read.
func TestEngineOneByteAtATime(t *testing.T) {
	_, url := newTestEngine(t, nil, nil)
	p := rawEnginePeer(t, url)
	var stream []byte
	stream = append(stream, p.frame(true, opPing, []byte("ping"))...)
	stream = append(stream, p.frame(true, opBinary, bytes.Repeat([]byte{7}, 300))...)
	stream = append(stream, p.frame(false, opText, []byte("ab"))...)
	stream = append(stream, p.frame(true, opContinuation, []byte("cd"))...)
	for i := range stream {
		p.write(stream[i : i+1])
		if i%7 == 0 {
			time.Sleep(time.Millisecond) // let the loop see the cut
		}
	}
	if h, pl := p.recv(); h.op != opPong || string(pl) != "ping" {
		t.Fatalf("got %v %q", h.op, pl)
	}
	if h, pl := p.recv(); h.op != opBinary || len(pl) != 300 {
		t.Fatalf("got %v %d bytes", h.op, len(pl))
	}
	if h, pl := p.recv(); h.op != opText || string(pl) != "abcd" {
		t.Fatalf("got %v %q", h.op, pl)
	}
}

// The core's violations fail the connection with their code, and OnClose
// is told the *ProtocolError.
func TestEngineFailures(t *testing.T) {
	cases := []struct {
		name string
		send func(p *rawPeer)
		code StatusCode
	}{
		{"5.1/unmasked", func(p *rawPeer) { p.write([]byte{0x82, 0x01, 'x'}) }, StatusProtocolError},
		{"5.2/reserved bits", func(p *rawPeer) {
			b := p.frame(true, opBinary, []byte("x"))
			b[0] |= rsv2
			p.write(b)
		}, StatusProtocolError},
		{"5.4/continuation without a message", func(p *rawPeer) { p.send(true, opContinuation, []byte("x")) }, StatusProtocolError},
		{"5.5/fragmented control", func(p *rawPeer) { p.send(false, opPing, nil) }, StatusProtocolError},
		{"8.1/invalid UTF-8", func(p *rawPeer) { p.send(true, opText, []byte{0xce, 0xba, 0xff}) }, StatusInvalidFramePayloadData},
		{"8.1/invalid UTF-8 across fragments", func(p *rawPeer) {
			p.send(false, opText, []byte{0xce})
			p.send(true, opContinuation, []byte{0x41})
		}, StatusInvalidFramePayloadData},
		{"7.4.1/too big", func(p *rawPeer) { p.write(rawHeader(true, opBinary, true, 2<<20)) }, StatusMessageTooBig},
		{"7.4.1/too big in fragments", func(p *rawPeer) {
			p.send(false, opBinary, make([]byte, 600<<10))
			p.send(true, opContinuation, make([]byte, 600<<10))
		}, StatusMessageTooBig},
		{"5.5.1/close code 1005 on the wire", func(p *rawPeer) { p.send(true, opClose, []byte{0x03, 0xed}) }, StatusProtocolError},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			log := newCloseLog()
			_, url := newTestEngine(t, &EngineOptions{OnClose: log.onClose}, &AcceptOptions{ConnOptions: ConnOptions{ReadLimit: 1 << 20}})
			p := rawEnginePeer(t, url)
			tc.send(p)
			p.wantClose(tc.code)
			// A failing server half-closes and drops what comes until
			// the peer closes.
			p.wantEOF()
			p.nc.Close()
			var pe *ProtocolError
			if err := log.next(t); !errors.As(err, &pe) || pe.Code != tc.code {
				t.Fatalf("OnClose err = %v, want a ProtocolError with code %v", err, tc.code)
			}
		})
	}
}

// Section 7: the closing handshake, begun by either side.
func TestEngineClosingHandshake(t *testing.T) {
	t.Run("peer first", func(t *testing.T) {
		log := newCloseLog()
		_, url := newTestEngine(t, &EngineOptions{OnClose: log.onClose}, nil)
		c := dialEngine(t, url, nil)
		if err := c.Close(StatusNormalClosure, "bye"); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := log.next(t); CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("OnClose err = %v", err)
		}
	})
	t.Run("server first", func(t *testing.T) {
		log := newCloseLog()
		opened := make(chan *EngineConn, 1)
		_, url := newTestEngine(t, &EngineOptions{OnClose: log.onClose, OnOpen: func(c *EngineConn, r *http.Request) { opened <- c }}, nil)
		c := dialEngine(t, url, nil)
		ec := within(t, "OnOpen", 5*time.Second, opened)
		if err := ec.Close(StatusNormalClosure, "done"); err != nil {
			t.Fatal(err)
		}
		if err := ec.Close(StatusNormalClosure, "again"); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("second Close = %v, want net.ErrClosed", err)
		}
		if err := ec.Write(MessageText, []byte("late")); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Write after Close = %v, want net.ErrClosed", err)
		}
		_, _, err := c.Read(context.Background())
		if CloseStatus(err) != StatusNormalClosure || err.(CloseError).Reason != "done" {
			t.Fatalf("client Read = %v", err)
		}
		if err := log.next(t); CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("OnClose err = %v", err)
		}
		<-ec.Done()
	})
	t.Run("no answer", func(t *testing.T) {
		log := newCloseLog()
		opened := make(chan *EngineConn, 1)
		_, url := newTestEngine(t, &EngineOptions{OnClose: log.onClose, OnOpen: func(c *EngineConn, r *http.Request) { opened <- c }},
			&AcceptOptions{ConnOptions: ConnOptions{CloseTimeout: 100 * time.Millisecond}})
		p := rawEnginePeer(t, url)
		ec := within(t, "OnOpen", 5*time.Second, opened)
		ec.Close(StatusGoingAway, "")
		p.wantClose(StatusGoingAway)
		if err := log.next(t); err != ErrCloseTimeout {
			t.Fatalf("OnClose err = %v, want ErrCloseTimeout", err)
		}
	})
	t.Run("lost", func(t *testing.T) {
		log := newCloseLog()
		_, url := newTestEngine(t, &EngineOptions{OnClose: log.onClose}, nil)
		p := rawEnginePeer(t, url)
		p.send(true, opBinary, []byte("x"))
		p.recv()
		p.nc.Close()
		if err := log.next(t); !isConnLost(err) {
			t.Fatalf("OnClose err = %v, want the connection lost", err)
		}
	})
	t.Run("invalid code", func(t *testing.T) {
		opened := make(chan *EngineConn, 1)
		_, url := newTestEngine(t, &EngineOptions{OnOpen: func(c *EngineConn, r *http.Request) { opened <- c }}, nil)
		dialEngine(t, url, nil)
		ec := within(t, "OnOpen", 5*time.Second, opened)
		for _, code := range []StatusCode{StatusAbnormalClosure, 999, 1004, 5000} {
			if err := ec.Close(code, ""); !errors.Is(err, ErrInvalidCloseCode) {
				t.Fatalf("Close(%d) = %v", code, err)
			}
		}
	})
}

// A peer that stops reading fills its queue, up to the limit; then the
// write is refused and the connection closed with 1008.
func TestEngineBackPressure(t *testing.T) {
	log := newCloseLog()
	opened := make(chan *EngineConn, 1)
	_, url := newTestEngine(t, &EngineOptions{WriteQueueLimit: 256 << 10, OnClose: log.onClose,
		OnOpen: func(c *EngineConn, r *http.Request) { opened <- c }},
		&AcceptOptions{ConnOptions: ConnOptions{CloseTimeout: 200 * time.Millisecond}})
	p := rawEnginePeer(t, url)
	ec := within(t, "OnOpen", 5*time.Second, opened)
	msg := make([]byte, 16<<10)
	var err error
	sent := 0
	for i := 0; i < 10000 && err == nil; i++ {
		err = ec.Write(MessageBinary, msg)
		sent++
	}
	if err != ErrWriteQueueFull {
		t.Fatalf("after %d writes: %v, want ErrWriteQueueFull", sent, err)
	}
	if b := ec.Buffered(); b > 256<<10 {
		t.Fatalf("Buffered = %d, beyond the limit", b)
	}
	if err := log.next(t); err != ErrWriteQueueFull {
		t.Fatalf("OnClose err = %v", err)
	}
	// What was queued is dropped; the peer sees the end of the stream.
	p.wantEOF()
}

// One message larger than the queue limit is taken by an empty queue.
func TestEngineLargeMessageOverLimit(t *testing.T) {
	_, url := newTestEngine(t, &EngineOptions{WriteQueueLimit: 64 << 10}, &AcceptOptions{ConnOptions: ConnOptions{ReadLimit: 8 << 20}})
	c := dialEngine(t, url, &DialOptions{ConnOptions: ConnOptions{ReadLimit: 8 << 20}})
	msg := bytes.Repeat([]byte("big "), 1<<20)
	if err := c.Write(context.Background(), MessageBinary, msg); err != nil {
		t.Fatal(err)
	}
	if _, m, err := c.Read(context.Background()); err != nil || !bytes.Equal(m, msg) {
		t.Fatalf("echo: %d bytes, %v", len(m), err)
	}
}

// Writes from many goroutines at once, while the loop echoes: every
// message arrives whole.
func TestEngineConcurrentWrites(t *testing.T) {
	opened := make(chan *EngineConn, 1)
	_, url := newTestEngine(t, &EngineOptions{OnOpen: func(c *EngineConn, r *http.Request) { opened <- c }}, nil)
	c := dialEngine(t, url, nil)
	ec := within(t, "OnOpen", 5*time.Second, opened)
	const writers, each = 8, 200
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			msg := bytes.Repeat([]byte{byte('a' + w)}, 100+w*500)
			for range each {
				if err := ec.Write(MessageBinary, msg); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	counts := map[byte]int{}
	for range writers * each {
		_, m, err := c.Read(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(m) != 100+int(m[0]-'a')*500 || bytes.Count(m, m[:1]) != len(m) {
			t.Fatalf("message of %d bytes mixed up", len(m))
		}
		counts[m[0]]++
	}
	wg.Wait()
	for w := range writers {
		if counts[byte('a'+w)] != each {
			t.Fatalf("writer %d: %d messages", w, counts[byte('a'+w)])
		}
	}
}

// The keepalive pings a silent peer and drops it when no pong comes.
func TestEngineKeepAlive(t *testing.T) {
	t.Run("answering peer stays", func(t *testing.T) {
		log := newCloseLog()
		_, url := newTestEngine(t, &EngineOptions{OnClose: log.onClose},
			&AcceptOptions{ConnOptions: ConnOptions{PingInterval: 30 * time.Millisecond, PongTimeout: 2 * time.Second}})
		c := dialEngine(t, url, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
		defer cancel()
		_, _, err := c.Read(ctx) // answers the pings while it waits
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Read = %v, want the deadline", err)
		}
		c.Close(StatusNormalClosure, "")
		if err := log.next(t); CloseStatus(err) != StatusNormalClosure {
			t.Fatalf("OnClose err = %v", err)
		}
	})
	t.Run("silent peer is dropped", func(t *testing.T) {
		log := newCloseLog()
		_, url := newTestEngine(t, &EngineOptions{OnClose: log.onClose},
			&AcceptOptions{ConnOptions: ConnOptions{PingInterval: 50 * time.Millisecond, PongTimeout: 50 * time.Millisecond}})
		p := rawEnginePeer(t, url)
		if h, _ := p.recv(); h.op != opPing {
			t.Fatalf("got %v, want a ping", h.op)
		}
		if err := log.next(t); err != ErrKeepAliveTimeout {
			t.Fatalf("OnClose err = %v, want ErrKeepAliveTimeout", err)
		}
	})
}

// Engine.Close and Group.Close say 1001 to every connection and wait.
func TestEngineShutdown(t *testing.T) {
	t.Run("engine", func(t *testing.T) {
		log := newCloseLog()
		e, url := newTestEngine(t, &EngineOptions{OnClose: log.onClose}, nil)
		var conns []*Conn
		for range 20 {
			conns = append(conns, dialEngine(t, url, nil))
		}
		waitFor(t, func() bool { return e.Len() == 20 })
		errc := make(chan error, len(conns))
		for _, c := range conns {
			go func() { _, _, err := c.Read(context.Background()); errc <- err }()
		}
		if err := e.Close(StatusGoingAway, "shutting down"); err != nil {
			t.Fatal(err)
		}
		for range conns {
			if err := <-errc; CloseStatus(err) != StatusGoingAway {
				t.Fatalf("client Read = %v, want 1001", err)
			}
		}
		if e.Len() != 0 {
			t.Fatalf("Len = %d after Close", e.Len())
		}
		if err := e.Close(StatusGoingAway, ""); err != ErrEngineClosed {
			t.Fatalf("second Close = %v", err)
		}
	})
	t.Run("group", func(t *testing.T) {
		var g Group
		_, url := newTestEngine(t, nil, &AcceptOptions{Group: &g})
		c1, c2 := dialEngine(t, url, nil), dialEngine(t, url, nil)
		waitFor(t, func() bool { return g.Len() == 2 })
		pm, _ := NewPreparedMessage(MessageText, []byte("to all"))
		if err := g.Broadcast(context.Background(), pm); err != nil {
			t.Fatal(err)
		}
		for _, c := range []*Conn{c1, c2} {
			if _, m, err := c.Read(context.Background()); err != nil || string(m) != "to all" {
				t.Fatalf("Read = %q, %v", m, err)
			}
			go c.Read(context.Background()) // answers the close frame
		}
		if err := g.Close(StatusGoingAway, "bye"); err != nil {
			t.Fatal(err)
		}
		if g.Len() != 0 {
			t.Fatalf("Len = %d after Close", g.Len())
		}
	})
}

// Serve takes connections from a raw listener, with the same handshake
// checks as Accept.
func TestEngineServe(t *testing.T) {
	e, err := NewEngine(&EngineOptions{Loops: 1, OnMessage: engineEcho})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- e.Serve(ln, &AcceptOptions{Subprotocols: []string{"chat"}}) }()
	url := "ws://" + ln.Addr().String()

	c := dialEngine(t, url, &DialOptions{Subprotocols: []string{"x", "chat"}})
	if c.Subprotocol() != "chat" {
		t.Fatalf("subprotocol %q", c.Subprotocol())
	}
	if err := c.Write(context.Background(), MessageText, []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if _, m, err := c.Read(context.Background()); err != nil || string(m) != "hi" {
		t.Fatalf("Read = %q, %v", m, err)
	}
	go c.Read(context.Background())

	// Not a WebSocket handshake: 426 from the same checks as Accept.
	resp, err := http.Get("http://" + ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("plain GET: %s", resp.Status)
	}
	if err := e.Close(StatusGoingAway, ""); err != nil {
		t.Fatal(err)
	}
	if err := within(t, "Serve", 5*time.Second, served); err != ErrEngineClosed {
		t.Fatalf("Serve = %v", err)
	}
}

// TLS connections cannot be polled; they run on a goroutine each, with the
// same API and protocol.
func TestEngineTLS(t *testing.T) {
	e, err := NewEngine(&EngineOptions{OnMessage: engineEcho})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.Accept(w, r, &AcceptOptions{ConnOptions: ConnOptions{Compression: &CompressionOptions{}}})
	}))
	defer srv.Close()
	defer e.Close(StatusGoingAway, "")
	ctx := context.Background()
	c, _, err := Dial(ctx, "wss"+strings.TrimPrefix(srv.URL, "https"), &DialOptions{
		TLSConfig:   &tls.Config{InsecureSkipVerify: true},
		ConnOptions: ConnOptions{Compression: &CompressionOptions{}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for _, n := range []int{5, 200, 100 << 10} {
		msg := bytes.Repeat([]byte("tls "), n)
		if err := c.Write(ctx, MessageText, msg); err != nil {
			t.Fatal(err)
		}
		if _, m, err := c.Read(ctx); err != nil || !bytes.Equal(m, msg) {
			t.Fatalf("echo: %d bytes, %v", len(m), err)
		}
	}
	if err := c.Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
}

// permessage-deflate both ways, with and without context takeover.
func TestEngineCompression(t *testing.T) {
	for _, noCtx := range []bool{false, true} {
		copts := &CompressionOptions{NoContextTakeover: noCtx}
		_, url := newTestEngine(t, nil, &AcceptOptions{ConnOptions: ConnOptions{Compression: copts}})
		c := dialEngine(t, url, &DialOptions{ConnOptions: ConnOptions{Compression: copts}})
		ctx := context.Background()
		for i, n := range []int{10, 1000, 100 << 10, 600 << 10} {
			msg := bytes.Repeat([]byte("compress me "), n/12+i)
			if err := c.Write(ctx, MessageText, msg); err != nil {
				t.Fatal(err)
			}
			if _, m, err := c.Read(ctx); err != nil || !bytes.Equal(m, msg) {
				t.Fatalf("echo of %d bytes: %d bytes, %v", len(msg), len(m), err)
			}
		}
	}
}

// A panic in a callback closes that connection with 1011; the loop goes on.
func TestEngineCallbackPanic(t *testing.T) {
	var calls atomic.Int32
	_, url := newTestEngine(t, &EngineOptions{OnMessage: func(c *EngineConn, typ MessageType, p []byte) {
		if calls.Add(1) == 1 {
			panic("boom")
		}
		c.Write(typ, p)
	}}, nil)
	c1 := dialEngine(t, url, nil)
	c1.Write(context.Background(), MessageText, []byte("x"))
	if _, _, err := c1.Read(context.Background()); CloseStatus(err) != StatusInternalError {
		t.Fatalf("Read = %v, want 1011", err)
	}
	c2 := dialEngine(t, url, nil)
	c2.Write(context.Background(), MessageText, []byte("y"))
	if _, m, err := c2.Read(context.Background()); err != nil || string(m) != "y" {
		t.Fatalf("Read = %q, %v", m, err)
	}
}

// Bytes the client sends right behind its handshake request reach the
// engine (golang/go#32314).
func TestEngineDataWithHandshake(t *testing.T) {
	_, url := newTestEngine(t, nil, nil)
	host := strings.TrimPrefix(url, "ws://")
	nc, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	p := &rawPeer{t: t, nc: nc, br: bufio.NewReader(nc), client: true}
	req := "GET / HTTP/1.1\r\nHost: " + host + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	p.write(append([]byte(req), p.frame(true, opText, []byte("early"))...))
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil || resp.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	if h, m := p.recv(); h.op != opText || string(m) != "early" {
		t.Fatalf("got %v %q", h.op, m)
	}
}

// The steady state costs no allocation per message: echoes of 16 B and
// 1 KiB through the loop, the client side a raw peer writing a prebuilt
// frame and reading into a fixed buffer.
func TestEngineEchoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool is randomised under the race detector")
	}
	_, url := newTestEngine(t, &EngineOptions{Loops: 1}, nil)
	p := rawEnginePeer(t, url)
	p.nc.SetReadDeadline(time.Time{})
	for _, n := range []int{16, 1024} {
		frame := p.frame(true, opBinary, make([]byte, n))
		echo := make([]byte, len(appendHeader(nil, header{length: int64(n)}))+n)
		round := func() {
			p.nc.Write(frame)
			io.ReadFull(p.nc, echo)
		}
		for range 100 {
			round()
		}
		if a := testing.AllocsPerRun(500, round); a > 0.05 {
			t.Errorf("%d B echo: %.2f allocations per message, want 0", n, a)
		}
	}
}

// Section 5.5.2: pings that arrive while a large message waits in the
// queue are answered, in order, behind it; a peer that floods pings and
// reads nothing is still closed with 1008.
func TestEnginePongsBehindQueue(t *testing.T) {
	opened := make(chan *EngineConn, 1)
	log := newCloseLog()
	_, url := newTestEngine(t, &EngineOptions{WriteQueueLimit: 64 << 10, OnClose: log.onClose,
		OnOpen: func(c *EngineConn, r *http.Request) { opened <- c }}, nil)
	p := rawEnginePeer(t, url)
	ec := within(t, "OnOpen", 5*time.Second, opened)
	big := make([]byte, 8<<20) // far more than the socket buffers take
	if err := ec.Write(MessageBinary, big); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		p.send(true, opPing, []byte{byte('0' + i)})
	}
	time.Sleep(50 * time.Millisecond)
	if h, m := p.recv(); h.op != opBinary || len(m) != len(big) {
		t.Fatalf("got %v, %d bytes; want the big message first", h.op, len(m))
	}
	for i := range 5 {
		if h, m := p.recv(); h.op != opPong || string(m) != string(rune('0'+i)) {
			t.Fatalf("pong %d: got %v %q", i, h.op, m)
		}
	}

	// Now a flood, without reading, behind a message larger than any
	// socket buffer: beyond 64 KiB of pongs over the limit, the queue is
	// full.
	if err := ec.Write(MessageBinary, make([]byte, 32<<20)); err != nil {
		t.Fatal(err)
	}
	if ec.Buffered() <= 64<<10 {
		t.Skipf("the socket took all but %d bytes of 32 MiB", ec.Buffered())
	}
	flood := bytes.Repeat(p.frame(true, opPing, make([]byte, 125)), 64)
	for range 16 {
		p.write(flood)
	}
	if err := log.next(t); err != ErrWriteQueueFull {
		t.Fatalf("OnClose err = %v, want ErrWriteQueueFull", err)
	}
}
