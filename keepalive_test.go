//go:build !js

package websocket

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"
)

func TestKeepAlive(t *testing.T) {
	t.Run("a silent peer is dropped", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{pingInterval: 30 * time.Millisecond, pongTimeout: 30 * time.Millisecond})
		errc := make(chan error, 1)
		go func() { _, _, err := c.Read(context.Background()); errc <- err }()
		if h, _ := p.recv(); h.op != opPing { // the peer sees the ping and ignores it
			t.Fatalf("got %v, want a ping", h.op)
		}
		select {
		case err := <-errc:
			if !errors.Is(err, ErrKeepAliveTimeout) {
				t.Fatalf("Read = %v, want ErrKeepAliveTimeout", err)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("silent peer not dropped")
		}
		p.wantEOF()
	})
	t.Run("a peer answering pings stays", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{pingInterval: 20 * time.Millisecond, pongTimeout: 100 * time.Millisecond})
		go c.Read(context.Background())
		for i := 0; i < 5; i++ {
			h, payload := p.recv()
			if h.op != opPing {
				t.Fatalf("got %v, want a ping", h.op)
			}
			p.send(true, opPong, payload)
		}
		if c.isClosed() {
			t.Fatal("connection dropped although every ping was answered")
		}
	})
	t.Run("a busy connection is not pinged", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{pingInterval: 40 * time.Millisecond})
		var mu sync.Mutex
		pinged := false
		go func() {
			for {
				if _, _, err := c.Read(context.Background()); err != nil {
					return
				}
			}
		}()
		go func() {
			for {
				h, _ := p.recvOrClose()
				if h == nil {
					return
				}
				if h.op == opPing {
					mu.Lock()
					pinged = true
					mu.Unlock()
				}
			}
		}()
		for i := 0; i < 30; i++ {
			p.send(true, opText, []byte("busy"))
			time.Sleep(5 * time.Millisecond)
		}
		mu.Lock()
		defer mu.Unlock()
		if pinged {
			t.Error("pinged a connection that received data every 5 ms with a 40 ms interval")
		}
	})
}

// recvOrClose is recv that returns nil once the connection ends.
func (p *rawPeer) recvOrClose() (*header, []byte) {
	p.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hb []byte
	for {
		b, err := p.br.ReadByte()
		if err != nil {
			return nil, nil
		}
		hb = append(hb, b)
		h, n, err := parseHeader(hb)
		if err != nil {
			return nil, nil
		}
		if n == 0 {
			continue
		}
		payload := make([]byte, h.length)
		for i := range payload {
			if payload[i], err = p.br.ReadByte(); err != nil {
				return nil, nil
			}
		}
		return &h, payload
	}
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

// The ping and pong hooks see every control frame, with the round trip of
// this Conn's own pings.
func TestPingHooks(t *testing.T) {
	var mu sync.Mutex
	var pings, pongs []string
	var rtt time.Duration
	opts := ConnOptions{
		OnPing: func(p []byte) { mu.Lock(); pings = append(pings, string(p)); mu.Unlock() },
		OnPong: func(p []byte, d time.Duration) { mu.Lock(); pongs = append(pongs, string(p)); rtt = d; mu.Unlock() },
	}
	c, p := newTestConn(t, false, opts.config(false, "", nil))
	go c.Read(context.Background())
	p.send(true, opPing, []byte("from peer"))
	if h, payload := p.recv(); h.op != opPong || string(payload) != "from peer" {
		t.Fatalf("got %v %q, want the pong", h.op, payload)
	}
	p.send(true, opPong, []byte("unsolicited"))
	done := make(chan error, 1)
	go func() { done <- c.Ping(context.Background()) }()
	h, id := p.recv()
	if h.op != opPing {
		t.Fatalf("got %v, want a ping", h.op)
	}
	time.Sleep(10 * time.Millisecond)
	p.send(true, opPong, id)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(pings) != 1 || pings[0] != "from peer" {
		t.Errorf("OnPing saw %q", pings)
	}
	if len(pongs) != 2 || pongs[0] != "unsolicited" || pongs[1] != string(id) {
		t.Errorf("OnPong saw %q", pongs)
	}
	if rtt < 10*time.Millisecond || rtt > 5*time.Second {
		t.Errorf("round trip of the answered ping %v, want at least the 10 ms the peer waited", rtt)
	}
}
