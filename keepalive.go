package websocket

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrKeepAliveTimeout is returned by reads once the keepalive has dropped
// the connection: nothing arrived within PingInterval, and no pong within
// PongTimeout of the ping that followed. It is how half-open TCP
// connections, whose peer vanished without a FIN, are reaped.
var ErrKeepAliveTimeout = errors.New("websocket: keepalive timeout: no pong from the peer")

// keepAlive pings the peer when the connection has been silent for an
// interval. It runs on a timer, so an idle connection costs no goroutine;
// a goroutine exists only while a ping waits for its pong. Any bytes
// received count as a sign of life, so a busy connection is never pinged.
type keepAlive struct {
	c        *Conn
	interval time.Duration
	timeout  time.Duration
	mu       sync.Mutex
	timer    *time.Timer
	seen     uint64 // c.received at the last tick
}

func (c *Conn) startKeepAlive(interval, timeout time.Duration) {
	if interval <= 0 {
		return
	}
	if timeout <= 0 {
		timeout = interval
	}
	k := &keepAlive{c: c, interval: interval, timeout: timeout}
	k.mu.Lock()
	k.timer = time.AfterFunc(interval, k.tick)
	k.mu.Unlock()
	c.keepAlive = k
}

func (k *keepAlive) stop() {
	k.mu.Lock()
	k.timer.Stop()
	k.mu.Unlock()
}

func (k *keepAlive) tick() {
	c := k.c
	if c.isClosed() {
		return
	}
	if n := c.received.Load(); n != k.seen {
		k.seen = n
		k.reset()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), k.timeout)
	err := c.Ping(ctx)
	cancel()
	switch {
	case err == nil || c.received.Load() != k.seen:
		k.seen = c.received.Load()
		k.reset()
	case errors.Is(err, context.DeadlineExceeded):
		c.keepAliveFailed.Store(true)
		c.CloseNow()
	}
}

func (k *keepAlive) reset() {
	k.mu.Lock()
	if !k.c.isClosed() {
		k.timer.Reset(k.interval)
	}
	k.mu.Unlock()
}

// Group tracks connections so that they can be closed together, as when a
// server shuts down. The zero value is ready to use. [Accept] adds each
// Conn to AcceptOptions.Group; [Group.Add] adds any other. A Conn leaves its
// group when it closes.
//
// A typical server registers the group with its http.Server:
//
//	var conns websocket.Group
//	srv.RegisterOnShutdown(func() { conns.Close(websocket.StatusGoingAway, "server shutting down") })
//
// (http.Server.Shutdown does not wait for hijacked connections; Close does.)
type Group struct {
	mu      sync.Mutex
	conns   map[*Conn]struct{}
	closing bool
	code    StatusCode
	reason  string
}

// Add adds c to the group. If the group is already being closed, c is
// closed too, with the same code and reason.
func (g *Group) Add(c *Conn) {
	g.mu.Lock()
	if g.closing {
		code, reason := g.code, g.reason
		g.mu.Unlock()
		go c.Close(code, reason)
		return
	}
	if g.conns == nil {
		g.conns = make(map[*Conn]struct{})
	}
	g.conns[c] = struct{}{}
	c.groupMu.Lock()
	c.group = g
	c.groupMu.Unlock()
	g.mu.Unlock()
	if c.isClosed() {
		g.remove(c)
	}
}

func (g *Group) remove(c *Conn) {
	g.mu.Lock()
	delete(g.conns, c)
	g.mu.Unlock()
}

// Len returns the number of open connections in the group.
func (g *Group) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.conns)
}

// Close runs the closing handshake with code and reason on every
// connection of the group at once, and returns when all are closed: each
// within its own close timeout. Connections added later are closed as they
// arrive.
func (g *Group) Close(code StatusCode, reason string) {
	g.mu.Lock()
	g.closing, g.code, g.reason = true, code, reason
	conns := make([]*Conn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c.Close(code, reason)
		}()
	}
	wg.Wait()
}
