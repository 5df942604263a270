package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/ccf874ba/websocket"
)

// sessions is node_h2_server.js's GET /__sessions.
type sessions struct {
	Sessions   int            `json:"sessions"`
	Streams    int            `json:"streams"`
	WebSockets map[string]int `json:"websockets"` // per session number
}

func (t *tester) sessions(ctx context.Context) (*sessions, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", t.report+"/__sessions", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("sessions: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var s sessions
	if err := json.Unmarshal(body, &s); err != nil {
		return nil, fmt.Errorf("sessions: %w: %q", err, body)
	}
	return &s, nil
}

// runHTTP2 checks what is particular to WebSockets over HTTP/2: several
// Dials at once share the pool's one connection, each WebSocket on a
// stream of its own, and the server counts one HTTP/2 session for the
// whole run.
func (t *tester) runHTTP2() {
	const k = 8
	t.check(fmt.Sprintf("http2/%d-concurrent-dials-one-session", k), 30*time.Second, func(ctx context.Context) error {
		type result struct {
			c       *websocket.Conn
			session string
			err     error
		}
		results := make([]result, k)
		var wg sync.WaitGroup
		for i := range k {
			wg.Add(1)
			go func() {
				defer wg.Done()
				path := fmt.Sprintf("%s/h2-concurrent-%d-%d", t.base, i, time.Now().UnixNano())
				opts := t.transport(&websocket.DialOptions{ConnOptions: websocket.ConnOptions{ReadLimit: 64 << 20}})
				c, resp, err := websocket.Dial(ctx, path, opts)
				if err == nil {
					err = t.checkProto(resp)
					results[i].session = resp.Header.Get("X-H2-Session")
				}
				results[i].c, results[i].err = c, err
			}()
		}
		wg.Wait()
		defer func() {
			for _, r := range results {
				if r.c != nil {
					r.c.CloseNow()
				}
			}
		}()
		for i, r := range results {
			if r.err != nil {
				return fmt.Errorf("dial %d: %w", i, r.err)
			}
			if r.session != results[0].session || r.session == "" {
				return fmt.Errorf("dial %d on session %q, dial 0 on %q: want one session", i, r.session, results[0].session)
			}
		}
		// All of them at once, a large message each.
		errs := make([]error, k)
		for i, r := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := makeBinary(1<<20 + i)
				if err := roundTrip(ctx, r.c, websocket.MessageBinary, p); err != nil {
					errs[i] = err
					return
				}
				errs[i] = roundTrip(ctx, r.c, websocket.MessageText, makeText(100_000+i))
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				return fmt.Errorf("websocket %d: %w", i, err)
			}
		}
		for i, r := range results {
			if err := r.c.Close(websocket.StatusNormalClosure, ""); err != nil {
				return fmt.Errorf("websocket %d: Close: %w", i, err)
			}
		}
		return nil
	})

	t.check("http2/closed-websocket-leaves-others", 20*time.Second, func(ctx context.Context) error {
		a, _, err := t.dial(ctx, "", nil)
		if err != nil {
			return err
		}
		defer a.CloseNow()
		b, pathB, err := t.dial(ctx, "", nil)
		if err != nil {
			return err
		}
		defer b.CloseNow()
		if err := a.CloseNow(); err != nil {
			return fmt.Errorf("CloseNow: %w", err)
		}
		if err := roundTrip(ctx, b, websocket.MessageText, []byte("still here")); err != nil {
			return fmt.Errorf("after the other WebSocket's CloseNow: %w", err)
		}
		return t.closeClean(ctx, b, pathB)
	})

	t.check("http2/server-saw-one-session", 10*time.Second, func(ctx context.Context) error {
		s, err := t.sessions(ctx)
		if err != nil {
			return err
		}
		if s.Sessions != 1 {
			return fmt.Errorf("server saw %d HTTP/2 sessions (%v), want 1 for the whole run", s.Sessions, s.WebSockets)
		}
		if n := s.WebSockets[strconv.Itoa(1)]; n < k+2 {
			return fmt.Errorf("session 1 carried %d WebSockets, want at least %d", n, k+2)
		}
		return nil
	})
}
