package websocket

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
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

func TestGroup(t *testing.T) {
	var g Group
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{Group: &g})
		if err != nil {
			return
		}
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	var clients []*Conn
	for i := 0; i < 4; i++ {
		c, _, err := Dial(context.Background(), wsURL(srv), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		clients = append(clients, c)
	}
	waitFor(t, func() bool { return g.Len() == 4 })
	// One client leaves by itself: the group forgets it.
	go clients[0].Read(context.Background())
	if err := clients[0].Close(StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return g.Len() == 3 })
	// A broadcast reaches the three members, and only them.
	pm, _ := NewPreparedMessage(MessageText, []byte("to the group"))
	if err := g.Broadcast(context.Background(), pm); err != nil {
		t.Fatalf("Broadcast = %v", err)
	}
	for _, c := range clients[1:] {
		if _, msg, err := c.Read(context.Background()); err != nil || string(msg) != "to the group" {
			t.Fatalf("member read %q, %v", msg, err)
		}
	}
	errs := make(chan error, 3)
	for _, c := range clients[1:] {
		go func() { _, _, err := c.Read(context.Background()); errs <- err }()
	}
	g.Close(StatusGoingAway, "shutting down")
	for i := 0; i < 3; i++ {
		err := <-errs
		var ce CloseError
		if !errors.As(err, &ce) || ce.Code != StatusGoingAway || ce.Reason != "shutting down" {
			t.Fatalf("client read %v, want close 1001", err)
		}
	}
	if g.Len() != 0 {
		t.Errorf("Len = %d after Close", g.Len())
	}
	// A connection accepted after Close is closed at once.
	c, _, err := Dial(context.Background(), wsURL(srv), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if _, _, err := c.Read(context.Background()); CloseStatus(err) != StatusGoingAway {
		t.Fatalf("late client read %v, want close 1001", err)
	}
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
