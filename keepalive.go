//go:build !js

package websocket

import (
	"context"
	"crypto/rand"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// This file is liveness: Ping, the pong bookkeeping, and the keepalive that
// reaps peers that vanished.

// Ping sends a ping and waits for the matching pong (RFC 6455, Section
// 5.5.2). The pong is received by the goroutine reading from the Conn, so
// Ping only returns nil while another goroutine is in Read or Reader. ctx
// bounds the call; when it ends, Ping returns ctx.Err() and the Conn stays
// usable (unless the ping frame itself was cut part-way, as for Write).
// Once the Conn is closed, Ping returns an error wrapping net.ErrClosed.
func (c *Conn) Ping(ctx context.Context) error {
	id, ch := c.expectPong()
	defer c.forgetPong(id)
	if err := c.sendControl(ctx, opPing, id[:]); err != nil {
		return err
	}
	return c.awaitPong(ctx, ch)
}

func (c *Conn) expectPong() ([8]byte, chan struct{}) {
	var id [8]byte
	rand.Read(id[:])
	ch := make(chan struct{})
	c.pingMu.Lock()
	c.pings = append(c.pings, pendingPing{id: id, ch: ch, sent: time.Now()})
	c.pingMu.Unlock()
	return id, ch
}

// pendingPing is a ping of this Conn's that waits for its pong. They are
// kept in the order they were registered, which is the order they go out.
type pendingPing struct {
	id   [8]byte
	ch   chan struct{}
	sent time.Time
}

// pingHooks are the OnPing and OnPong of the options.
type pingHooks struct {
	onPing func(payload []byte)
	onPong func(payload []byte, rtt time.Duration)
}

func (c *Conn) forgetPong(id [8]byte) {
	c.pingMu.Lock()
	for i := range c.pings {
		if c.pings[i].id == id {
			c.pings = append(c.pings[:i], c.pings[i+1:]...)
			break
		}
	}
	if len(c.pings) == 0 {
		c.pings = nil
	}
	c.pingMu.Unlock()
}

func (c *Conn) awaitPong(ctx context.Context, ch chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-c.readDone.wait():
		return c.readErr
	case <-c.closed.wait():
		return c.closeErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pingReceived tells the OnPing hook.
func (c *Conn) pingReceived(payload []byte) {
	if h := c.hooks; h != nil && h.onPing != nil {
		h.onPing(payload)
	}
}

// pongReceived wakes the Ping whose payload the pong carries and every
// Ping sent before it: a peer may answer only the latest of several pings
// (RFC 6455, Section 5.5.3), and its pong shows that it has read all of
// them. It tells the OnPong hook, with the round trip of the Ping answered.
func (c *Conn) pongReceived(payload []byte) {
	var rtt time.Duration
	c.pingMu.Lock()
	for i := range c.pings {
		if string(c.pings[i].id[:]) == string(payload) {
			rtt = time.Since(c.pings[i].sent)
			for _, p := range c.pings[:i+1] {
				close(p.ch)
			}
			c.pings = append(c.pings[:0], c.pings[i+1:]...)
			break
		}
	}
	c.pingMu.Unlock()
	if h := c.hooks; h != nil && h.onPong != nil {
		h.onPong(payload, rtt)
	}
}

// keepAlive pings the peer when the connection has been silent for an
// interval. It runs on a timer, so an idle connection costs no goroutine;
// a goroutine exists only while a ping waits for its pong. Any bytes
// received count as a sign of life, so a busy connection is never pinged.
//
// A pong can only be seen while a goroutine reads, so the wait for it is
// counted only while one does: an application busy elsewhere, or a ping
// that waits behind a long write, does not make a healthy peer look dead.
type keepAlive struct {
	c        *Conn
	interval time.Duration
	timeout  time.Duration
	mu       sync.Mutex
	timer    *time.Timer
	seen     uint64 // c.received at the last tick

	waitStart atomic.Int64 // when the reader began waiting for the network (clock), 0 while it does not
	waited    atomic.Int64 // time the reader has spent waiting, in all
}

// clock is a monotonic time in nanoseconds, never 0.
func clock() int64 { return int64(time.Since(clockBase)) + 1 }

var clockBase = time.Now()

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

// waiting is told when the reader starts and stops waiting for the network.
func (k *keepAlive) waiting(on bool) {
	if on {
		k.waitStart.Store(clock())
	} else if s := k.waitStart.Swap(0); s != 0 {
		k.waited.Add(clock() - s)
	}
}

// readerWaited returns the time the reader has spent waiting, in all,
// including the wait under way.
func (k *keepAlive) readerWaited() time.Duration {
	w := k.waited.Load()
	if s := k.waitStart.Load(); s != 0 {
		w += clock() - s
	}
	return time.Duration(w)
}

func (k *keepAlive) tick() {
	c := k.c
	if c.isClosed() {
		return
	}
	if n := c.received.Load(); n != k.seen {
		k.seen = n
		k.reset(k.interval)
		return
	}
	switch alive, err := k.probe(); {
	case alive:
		k.seen = c.received.Load()
		k.reset(k.interval)
	case err == nil:
		c.terminate(ErrKeepAliveTimeout)
	case errors.Is(err, context.DeadlineExceeded):
		// The ping could not even be sent in time: a long write holds
		// the socket. That says nothing about the peer; look again later.
		k.reset(k.interval)
	}
	// Any other error: the Conn is closed already.
}

// probe pings the peer and reports whether it answered (or sent anything)
// while a goroutine was reading for at most the pong timeout. A nil error
// with alive false means the peer is gone.
func (k *keepAlive) probe() (alive bool, err error) {
	c := k.c
	id, ch := c.expectPong()
	defer c.forgetPong(id)
	// The ping waits behind other frames for up to an interval; a peer
	// that does not take a frame this small within an interval and the
	// pong timeout is gone.
	ctx, cancel := context.WithTimeout(context.Background(), k.interval+k.timeout)
	err = c.sendControl(ctx, opPing, id[:])
	cancel()
	if err != nil {
		return false, err
	}
	base, seen := k.readerWaited(), c.received.Load()
	for {
		left := k.timeout - (k.readerWaited() - base)
		if left <= 0 {
			return c.received.Load() != seen, nil
		}
		t := time.NewTimer(left)
		select {
		case <-ch:
			t.Stop()
			return true, nil
		case <-c.closed.wait():
			t.Stop()
			return false, net.ErrClosed
		case <-t.C:
		}
		if c.received.Load() != seen {
			return true, nil
		}
	}
}

func (k *keepAlive) reset(d time.Duration) {
	k.mu.Lock()
	if !k.c.isClosed() {
		k.timer.Reset(d)
	}
	k.mu.Unlock()
}
