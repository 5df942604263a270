//go:build !js

package websocket

// The closing handshake and the drop (close.go).

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

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

// CloseNow cuts short a shutdown that waits for the peer to hang up after
// the Conn failed the connection.
func TestCloseNowCutsShutdownShort(t *testing.T) {
	c, p := newTestConn(t, false, connConfig{closeTimeout: 10 * time.Second})
	p.send(true, opcode(3), nil) // reserved opcode: the Conn fails with 1002
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Read(context.Background())
		done <- err
	}()
	p.wantClose(StatusProtocolError)
	// The peer keeps the connection open: the reader is draining it now.
	time.Sleep(50 * time.Millisecond)
	start := time.Now()
	if err := c.CloseNow(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("CloseNow during shutdown = %v, want net.ErrClosed", err)
	}
	select {
	case err := <-done:
		var perr *ProtocolError
		if !errors.As(err, &perr) {
			t.Fatalf("Read = %v, want the protocol error", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Read still blocked 2 s after CloseNow")
	}
	t.Logf("Read returned %v after CloseNow", time.Since(start))
}
