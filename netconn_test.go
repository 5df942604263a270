//go:build !js

package websocket

// The net.Conn adapter (netconn.go). The conformance suite of
// golang.org/x/net/nettest runs against it from the nettest module.

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

func TestNetConnStream(t *testing.T) {
	c, p := newTestConn(t, false, connConfig{})
	nc := NetConn(c, MessageBinary)
	// Reads span messages, and a read deadline that fires in the middle
	// of one loses nothing.
	p.send(true, opBinary, []byte("first "))
	p.send(false, opBinary, []byte("sec"))
	buf := make([]byte, 64)
	var got []byte
	for len(got) < len("first sec") {
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("Read = %v", err)
		}
		got = append(got, buf[:n]...)
	}
	nc.SetReadDeadline(time.Now().Add(30 * time.Millisecond))
	_, err := nc.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past the deadline = %v, want a timeout", err)
	}
	nc.SetReadDeadline(time.Time{})
	p.send(true, opContinuation, []byte("ond"))
	for len(got) < len("first second") {
		n, err := nc.Read(buf)
		if err != nil {
			t.Fatalf("Read after the timeout = %v", err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "first second" {
		t.Fatalf("read %q", got)
	}
	// A deadline moved while a Read waits applies to that Read.
	nc.SetReadDeadline(time.Now().Add(time.Hour))
	result := make(chan error, 1)
	go func() { _, err := nc.Read(buf); result <- err }()
	time.Sleep(20 * time.Millisecond)
	nc.SetReadDeadline(time.Now())
	select {
	case err := <-result:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read whose deadline was moved = %v, want a timeout", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a deadline moved into the past did not end the Read waiting under it")
	}
	// Writes: a deadline in the past sends nothing and keeps the Conn.
	nc.SetWriteDeadline(time.Now().Add(-time.Second))
	if n, err := nc.Write([]byte("late")); n != 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Write past the deadline = %d, %v", n, err)
	}
	nc.SetWriteDeadline(time.Time{})
	go nc.Write([]byte("on time"))
	if h, payload := p.recv(); h.op != opBinary || string(payload) != "on time" {
		t.Fatalf("peer got %v %q", h.op, payload)
	}
	// A message of the other type ends the stream with 1003.
	nc.SetReadDeadline(time.Time{})
	p.send(true, opText, []byte("text"))
	if _, err := nc.Read(buf); !errors.Is(err, errUnexpectedType) {
		t.Fatalf("Read of a text message = %v", err)
	}
	p.wantClose(StatusUnsupportedData)
}

func TestNetConnEOF(t *testing.T) {
	c, p := newTestConn(t, false, connConfig{})
	nc := NetConn(c, MessageText)
	p.send(true, opText, []byte("last words"))
	p.send(true, opClose, closePayload(StatusNormalClosure, ""))
	b, err := io.ReadAll(nc)
	if err != nil || string(b) != "last words" {
		t.Fatalf("ReadAll = %q, %v; want the message, then io.EOF at the peer's close", b, err)
	}
	if err := nc.Close(); err != nil {
		t.Fatalf("Close after the peer closed = %v", err)
	}
	if _, err := nc.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Close = %v, want net.ErrClosed", err)
	}
}
