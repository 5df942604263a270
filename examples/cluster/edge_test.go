//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ccf874ba/websocket"
)

// raw is a client for protocol tests: one connection, read by hand.
type raw struct {
	t       *testing.T
	ctx     context.Context
	conn    *websocket.Conn
	backlog []serverMsg // read, not yet asked for
}

func dialRaw(t *testing.T, ctx context.Context, url string) *raw {
	t.Helper()
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{}
	opts.ReadLimit = 1 << 20
	c, _, err := websocket.Dial(dctx, url, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { c.CloseNow() })
	return &raw{t: t, ctx: ctx, conn: c}
}

func (r *raw) send(v map[string]string) {
	r.t.Helper()
	b, _ := json.Marshal(v)
	if err := r.conn.Write(r.ctx, websocket.MessageText, b); err != nil {
		r.t.Fatal(err)
	}
}

// next returns the first message of type typ not returned yet, within
// 10 s; messages of other types stay for later calls.
func (r *raw) next(typ string) serverMsg {
	r.t.Helper()
	for i, m := range r.backlog {
		if m.Type == typ {
			r.backlog = append(r.backlog[:i], r.backlog[i+1:]...)
			return m
		}
	}
	ctx, cancel := context.WithTimeout(r.ctx, 10*time.Second)
	defer cancel()
	for {
		_, p, err := r.conn.Read(ctx)
		if err != nil {
			r.t.Fatalf("waiting for %s: %v", typ, err)
		}
		var m serverMsg
		if err := json.Unmarshal(p, &m); err != nil {
			r.t.Fatalf("bad JSON %q", p)
		}
		if m.Type == typ {
			return m
		}
		r.backlog = append(r.backlog, m)
	}
}

// sendAll sends data to room from c, each with a ref, and waits for every
// ack; it returns the ids.
func (r *raw) sendAll(room string, datas []string) []string {
	r.t.Helper()
	for i, d := range datas {
		r.send(map[string]string{"type": "send", "room": room, "data": d, "ref": fmt.Sprint(i)})
	}
	ids := make([]string, len(datas))
	for range datas {
		m := r.next("ack")
		var i int
		fmt.Sscan(m.Ref, &i)
		ids[i] = m.ID
	}
	return ids
}

func numbered(prefix string, n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return s
}

// TestTrimmed: a client that comes back with a since older than the
// history is told so, with the oldest id left, and then gets everything
// that is left, in order, then live messages.
func TestTrimmed(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := startCluster(t, ctx, 1, false, "-send-rate", "0", "-history", "50")
	n := cl.alive()[0]

	a := dialRaw(t, ctx, n.WS("room=t"))
	a.next("joined")
	ids := a.sendAll("t", numbered("m", 500))
	hist := cl.history("t")
	if len(hist) >= 500 || len(hist) < 50 {
		t.Fatalf("history has %d entries after 500 sends with -history 50", len(hist))
	}

	for _, tc := range []struct {
		name, since string
		trimmed     bool
	}{
		{"trimmed away", ids[2], true},
		{"from the start", "0", true},
		{"from the future", "99999999999999-0", true},
		{"oldest left", hist[0].ID, false},
		{"newest", ids[len(ids)-1], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(ctx, "c", []string{"t"}, 0, cl.urls)
			id, _ := parseID(tc.since)
			c.pos["t"] = id
			go c.run()
			defer func() { c.close(); <-c.done }()
			waitLive(t, []*tclient{c}, 10*time.Second)
			c.mu.Lock()
			tr, an := c.trimmed, c.anomalies
			c.mu.Unlock()
			if len(an) > 0 {
				t.Fatal(an)
			}
			switch {
			case tc.trimmed && (len(tr) != 1 || tr[0].Since != id.String() || tr[0].Oldest != hist[0].ID):
				t.Fatalf("trimmed notices %+v, want one with since %s and oldest %s", tr, tc.since, hist[0].ID)
			case !tc.trimmed && len(tr) > 0:
				t.Fatalf("unexpected trimmed notice %+v", tr)
			}
			// It has every entry after its position that is left.
			want := hist
			for len(want) > 0 && !tc.trimmed {
				if w, _ := parseID(want[0].ID); id.less(w) {
					break
				}
				want = want[1:]
			}
			got, datas := c.received("t")
			if d := diff(want, got, datas); d != "" {
				t.Fatal(d)
			}
		})
	}

	// A since that is no stream id is refused before the upgrade.
	_, resp, err := websocket.Dial(ctx, n.WS("room=t&since=yesterday"), nil)
	if !errors.Is(err, websocket.ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("since=yesterday: %v (response %v), want 400", err, resp)
	}
}

// TestSlowClientDropped: a member that stops reading fills its queue and
// is dropped with 1008; the others are not held up.
func TestSlowClientDropped(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := startCluster(t, ctx, 1, false, "-send-rate", "0", "-queue", "8", "-write-timeout", "30s")
	n := cl.alive()[0]

	slow := dialRaw(t, ctx, n.WS("room=s"))
	slow.next("joined") // then it reads nothing until the end
	fast := dialRaw(t, ctx, n.WS("room=s"))
	fast.next("joined")
	// Once the node has dropped it, the slow member reads again: the
	// close frame waits behind the frame its writer is stuck in, and is
	// sent if the client takes that frame within the close timeout.
	slowErr := make(chan error, 1)
	go func() {
		for ctx.Err() == nil {
			if _, body, _ := n.Health(ctx); strings.Contains(string(body), `"dropped":1,`) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		var err error
		for err == nil {
			_, _, err = slow.conn.Read(ctx)
		}
		slowErr <- err
	}()
	big := strings.Repeat("x", 32<<10)
	for i := range 600 { // 19 MB: more than the socket buffers hold
		d := fmt.Sprint(i, big)
		fast.send(map[string]string{"type": "send", "room": "s", "data": d})
		if m := fast.next("message"); m.Data != d {
			t.Fatalf("fast member: message %d is %.10q", i, m.Data)
		}
	}
	select {
	case err := <-slowErr:
		if code := websocket.CloseStatus(err); code != websocket.StatusPolicyViolation {
			t.Fatalf("slow member: %v, want close 1008", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("slow member not dropped")
	}
	_, body, _ := n.Health(ctx)
	if !strings.Contains(string(body), `"dropped":1,`) {
		t.Errorf("/healthz: %s, want dropped 1", body)
	}
}

// TestRedisLost: Redis comes back without its data (no persistence). The
// node keeps its clients, tells them the history after their position is
// gone, and goes on with the new stream; a client that reconnects with a
// position from the lost stream is told too.
func TestRedisLost(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := startCluster(t, ctx, 1, false, "-send-rate", "0")
	n := cl.alive()[0]

	a := dialRaw(t, ctx, n.WS("room=x"))
	a.next("joined")
	old := a.sendAll("x", numbered("before", 5))
	for range old {
		a.next("message")
	}
	cl.redis.Kill()
	if err := n.WaitHealth(ctx, 503, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// While Redis is away, a send is refused, and says so.
	a.send(map[string]string{"type": "send", "room": "x", "data": "lost", "ref": "r"})
	if m := a.next("error"); m.Code != errUnavailable || m.Ref != "r" {
		t.Errorf("send while Redis is down: %+v, want unavailable", m)
	}
	if err := cl.redis.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := n.WaitHealth(ctx, 200, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if m := a.next("trimmed"); m.Since != old[4] || m.Oldest != "" {
		t.Errorf("after Redis lost the room: %+v, want trimmed since %s, oldest empty", m, old[4])
	}
	after := a.sendAll("x", numbered("after", 3))
	for i := range after {
		if m := a.next("message"); m.ID != after[i] {
			t.Errorf("after: message %s, want %s", m.ID, after[i])
		}
	}

	b := dialRaw(t, ctx, n.WS("room=x&since="+old[2]))
	if m := b.next("trimmed"); m.Since != old[2] || m.Oldest != after[0] {
		t.Errorf("since from the lost stream: %+v, want since %s, oldest %s", m, old[2], after[0])
	}
	for i := range after {
		if m := b.next("message"); m.ID != after[i] {
			t.Errorf("replay: message %s, want %s", m.ID, after[i])
		}
	}
	b.next("joined")
}

// TestProtocol: the errors a client can get, and join, leave and the
// limits.
func TestProtocol(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl := startCluster(t, ctx, 1, false, "-send-rate", "5", "-max-rooms", "2")
	n := cl.alive()[0]

	c := dialRaw(t, ctx, n.WS(""))
	for _, tc := range []struct {
		msg  string
		code string
	}{
		{`{"type":"send","room":"a","data":"x","ref":"1"}`, errNotJoined},
		{`{"type":"join","room":"no spaces"}`, errBadRequest},
		{`{"type":"join","room":"a","since":"x-1"}`, errBadRequest},
		{`{"type":"leave","room":"a"}`, errNotJoined},
		{`{"type":"shout","room":"a"}`, errBadRequest},
		{`not json`, errBadRequest},
	} {
		if err := c.conn.Write(ctx, websocket.MessageText, []byte(tc.msg)); err != nil {
			t.Fatal(err)
		}
		if m := c.next("error"); m.Code != tc.code {
			t.Errorf("%s: %+v, want %s", tc.msg, m, tc.code)
		}
	}

	c.send(map[string]string{"type": "join", "room": "a"})
	c.next("joined")
	c.send(map[string]string{"type": "join", "room": "a"})
	if m := c.next("error"); m.Code != errJoined {
		t.Errorf("second join: %+v", m)
	}
	c.send(map[string]string{"type": "join", "room": "b"})
	c.next("joined")
	c.send(map[string]string{"type": "join", "room": "c"})
	if m := c.next("error"); m.Code != errTooManyRooms {
		t.Errorf("third room: %+v", m)
	}

	// After leaving b, messages to b no longer come; those to a do.
	other := dialRaw(t, ctx, n.WS("room=b"))
	other.next("joined")
	c.send(map[string]string{"type": "leave", "room": "b"})
	time.Sleep(100 * time.Millisecond) // leave has no answer
	other.sendAll("b", []string{"to b"})
	c.sendAll("a", []string{"to a"})
	if m := c.next("message"); m.Room != "a" {
		t.Errorf("after leaving b: %+v", m)
	}

	// The send rate is 5/s with a burst of 5: of 10 sends at once, 5
	// are refused. (c sent one already.)
	for i := range 10 {
		c.send(map[string]string{"type": "send", "room": "a", "data": "x", "ref": fmt.Sprint(i)})
	}
	limited := 0
	for answered := 0; answered < 10; { // an ack or an error for each
		_, p, err := c.conn.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.Contains(string(p), `"code":"rate_limited"`):
			limited++
			answered++
		case strings.Contains(string(p), `"type":"ack"`):
			answered++
		}
	}
	if limited < 4 || limited > 6 {
		t.Errorf("%d of 10 sends rate limited, want about 5", limited)
	}

	// Binary messages end the connection with 1003.
	c.conn.Write(ctx, websocket.MessageBinary, []byte{1})
	var err error
	for err == nil {
		_, _, err = c.conn.Read(ctx)
	}
	if code := websocket.CloseStatus(err); code != websocket.StatusUnsupportedData {
		t.Errorf("binary message: %v, want 1003", err)
	}

	code, body, err := n.Health(ctx)
	var h healthReport
	if err != nil || code != 200 || json.Unmarshal(body, &h) != nil || h.Status != "ok" || h.Redis != "ok" {
		t.Errorf("/healthz: %d %s %v", code, body, err)
	}
}
