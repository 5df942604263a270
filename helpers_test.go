//go:build !js

package websocket

// Helpers the package's tests share: loopback TCP pairs, a raw peer that
// speaks frames by hand, and waits bounded in time.

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"syscall"
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

// oneByteConn delivers what it reads one byte at a time, as a slow network
// might.
type oneByteConn struct{ net.Conn }

func (c oneByteConn) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return c.Conn.Read(p)
}

// within waits for ch, failing the test if it takes longer than d.
func within[T any](t *testing.T, what string, d time.Duration, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(d):
		t.Fatalf("%s did not return within %v", what, d)
		panic("unreachable")
	}
}

// goRead runs c.Read in a goroutine and returns the channel of its error.
func goRead(c *Conn) <-chan error {
	ch := make(chan error, 1)
	go func() {
		_, _, err := c.Read(context.Background())
		ch <- err
	}()
	return ch
}

// isConnLost reports whether err is what a read returns when the TCP
// connection ends without a closing handshake (RFC 6455, Section 7.1.5,
// close code 1006): a *netError wrapping io.ErrUnexpectedEOF or the
// network's error.
func isConnLost(err error) bool {
	var ne *netError
	if !errors.As(err, &ne) || !strings.Contains(err.Error(), "1006") || CloseStatus(err) != -1 {
		return false
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// reset makes Close of nc send RST instead of FIN.
func reset(nc net.Conn) {
	nc.(*net.TCPConn).SetLinger(0)
	nc.Close()
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// allocatedDuring returns how many bytes the process allocated while f ran
// (runtime.MemStats.TotalAlloc), a bound on what f made the library
// allocate.
func allocatedDuring(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// liveHeap returns the live heap after a full collection.
func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// rawHeader builds a frame header with any 64-bit length, bypassing the
// minimal-encoding rule of appendHeader for lengths it cannot express.
func rawHeader(fin bool, op opcode, masked bool, length uint64) []byte {
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	b1 := byte(127)
	if masked {
		b1 |= 0x80
	}
	b := []byte{b0, b1}
	b = binary.BigEndian.AppendUint64(b, length)
	if masked {
		b = append(b, 0x37, 0xfa, 0x21, 0x3d)
	}
	return b
}

// pipePair returns a server and a client Conn, both configured with opts,
// connected through a real handshake over loopback TCP. Both are dropped
// when the test ends.
func pipePair(t testing.TB, opts ConnOptions) (server, client *Conn) {
	t.Helper()
	ch := make(chan *Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{ConnOptions: opts})
		if err != nil {
			t.Errorf("Accept: %v", err)
		}
		ch <- c
	}))
	t.Cleanup(srv.Close)
	client, _, err := Dial(context.Background(), wsURL(srv), &DialOptions{ConnOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	server = <-ch
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { client.CloseNow(); server.CloseNow() })
	return server, client
}
