package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ccf874ba/websocket"
	"github.com/redis/go-redis/v9"
)

// testRoom is a room of a node that has no Redis, with live members.
func testRoom(queue int) (*node, *room) {
	n := newNode(config{shards: 1, queue: queue, pending: 16, prefix: "t:"}, nil, nil)
	sh := n.shards[0]
	r := &room{name: "r", key: "t:room:r", shard: sh, known: true, subs: make(map[*sub]struct{})}
	sh.rooms["r"] = r
	return n, r
}

func (r *room) add(n *node, live bool, last streamID) *sub {
	// writing: the test plays the writer, taking from m.q itself.
	m := &member{n: n, wake: make(chan struct{}, 1), space: make(chan struct{}, 1), writing: true}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	s := &sub{m: m, room: r, live: live, buffering: !live, last: last}
	r.subs[s] = struct{}{}
	return s
}

func entries(from, to uint64) []redis.XMessage {
	var ms []redis.XMessage
	for i := from; i <= to; i++ {
		ms = append(ms, redis.XMessage{ID: strconv.FormatUint(i, 10) + "-0", Values: map[string]any{"d": "m" + strconv.FormatUint(i, 10)}})
	}
	return ms
}

// queuedIDs returns the ids of the room messages queued for m.
func queuedIDs(t *testing.T, m *member) []string {
	t.Helper()
	var ids []string
	for _, pm := range m.q {
		var msg roomMessage
		if err := json.Unmarshal(preparedData(t, pm), &msg); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, msg.ID)
	}
	return ids
}

// TestDeliver: each entry once and in order, to every live member that
// has not had it; entries for members still catching up go to pending;
// the cursor follows.
func TestDeliver(t *testing.T) {
	n, r := testRoom(256)
	a := r.add(n, true, streamID{})     // live from the start
	b := r.add(n, true, streamID{3, 0}) // live, already had up to 3-0 (from its catch-up)
	c := r.add(n, false, streamID{})    // catching up
	r.deliver(entries(1, 5))
	r.deliver(entries(4, 6)) // overlapping: 4-0 and 5-0 again
	if got := queuedIDs(t, a.m); !equal(got, "1-0", "2-0", "3-0", "4-0", "5-0", "6-0") {
		t.Errorf("a: %v", got)
	}
	if got := queuedIDs(t, b.m); !equal(got, "4-0", "5-0", "6-0") {
		t.Errorf("b: %v", got)
	}
	if len(c.m.q) != 0 || len(c.pending) != 6 || c.pending[0].id != (streamID{1, 0}) || c.pending[5].id != (streamID{6, 0}) {
		t.Errorf("c: %d queued, %d pending; want 0 and 1-0 to 6-0", len(c.m.q), len(c.pending))
	}
	if r.cursor != (streamID{6, 0}) {
		t.Errorf("cursor %v", r.cursor)
	}
}

// TestDeliverBacklog: a batch larger than a queue goes out in chunks,
// waiting for the members to drain, so that none is dropped.
func TestDeliverBacklog(t *testing.T) {
	n, r := testRoom(16)
	a := r.add(n, true, streamID{})
	var got []string
	done := make(chan struct{})
	go func() { // a member taking messages as they come
		defer close(done)
		for len(got) < 100 {
			a.m.mu.Lock()
			for _, pm := range a.m.q {
				var msg roomMessage
				json.Unmarshal(preparedData(t, pm), &msg)
				got = append(got, msg.ID)
			}
			a.m.q = a.m.q[:0]
			a.m.mu.Unlock()
			time.Sleep(100 * time.Microsecond)
		}
	}()
	r.deliver(entries(1, 100))
	<-done
	if len(got) != 100 || got[0] != "1-0" || got[99] != "100-0" {
		t.Errorf("member got %d messages (%v ... )", len(got), got[:min(3, len(got))])
	}
}

func equal(got []string, want ...string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

func TestLimiter(t *testing.T) {
	l := limiter{rate: 10, burst: 5}
	now := time.Unix(0, 0)
	n := 0
	for range 20 {
		if l.allow(now) {
			n++
		}
	}
	if n != 5 {
		t.Errorf("burst: %d allowed, want 5", n)
	}
	now = now.Add(time.Second) // 10 more, capped at the burst
	n = 0
	for range 20 {
		if l.allow(now) {
			n++
		}
	}
	if n != 5 {
		t.Errorf("after 1 s: %d allowed, want 5", n)
	}
	if !(&limiter{}).allow(now) {
		t.Error("rate 0 limits")
	}
}

func TestParseFlags(t *testing.T) {
	cfg, err := parseFlags([]string{"-send-rate", "20", "-origins", "a.example,b.example"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.sendBurst != 20 || len(cfg.origins) != 2 || cfg.nodeID == "" || cfg.history != 10000 {
		t.Errorf("%+v", cfg)
	}
	for _, bad := range [][]string{{"-history", "0"}, {"-queue", "1"}, {"extra"}, {"-nope"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

// preparedData returns what pm sends, by sending it over a loopback
// WebSocket connection made for the test.
func preparedData(t *testing.T, pm *websocket.PreparedMessage) []byte {
	t.Helper()
	pairOnce.Do(func() {
		accepted := make(chan *websocket.Conn, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, nil)
			if err == nil {
				accepted <- c
			}
		}))
		c, _, err := websocket.Dial(context.Background(), "ws://"+srv.Listener.Addr().String(), nil)
		if err != nil {
			panic(err)
		}
		pairServer, pairClient = <-accepted, c
	})
	errc := make(chan error, 1)
	go func() { errc <- pairServer.WritePrepared(context.Background(), pm) }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, p, err := pairClient.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	return p
}

var (
	pairOnce               sync.Once
	pairServer, pairClient *websocket.Conn
)
