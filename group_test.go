//go:build !js

package websocket

// Groups of connections (group.go).

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
)

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
