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
