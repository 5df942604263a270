package h2

import (
	"context"
	"errors"
	"net"
	"sync"
	"time"
)

// DefaultIdleTimeout is how long a pooled connection without streams
// stays open for the next Dial.
const DefaultIdleTimeout = 5 * time.Second

// ErrPoolClosed is what [Pool.Get] returns after [Pool.Close].
var ErrPoolClosed = errors.New("websocket: http2: pool closed")

// DialFunc opens a connection for a [Pool]: a TLS connection whose ALPN
// offered h2 then http/1.1, or a cleartext one. proto is the protocol to
// speak on it: "h2" (ALPN chose h2, or h2c with prior knowledge) or
// anything else, such as "http/1.1" or "" when ALPN chose nothing, for
// HTTP/1.1.
type DialFunc func(ctx context.Context) (conn net.Conn, proto string, err error)

// Pool shares HTTP/2 connections among the WebSockets opened to the same
// server. A key, chosen by the caller, names a server: it must tell apart
// everything that makes connections different (scheme, host and port,
// proxy, TLS configuration). The zero Pool is ready to use; it is safe for
// concurrent use.
//
// The Pool opens at most one connection per key at a time: Gets for a key
// being dialled wait for that dial. It remembers, for its life, the keys
// whose server chose HTTP/1.1 or did not enable the extended CONNECT, and
// answers them at once with ErrHTTP1. A connection stays while it is up
// and closes IdleTimeout after its last stream ended.
type Pool struct {
	// Config tunes the connections the Pool opens; nil means defaults.
	Config *Config

	// IdleTimeout is how long a connection stays open after its last
	// stream ended; zero means DefaultIdleTimeout, negative closes it at
	// once. A connection Get hands out without streams stays open at
	// least DefaultIdleTimeout, for the caller's first stream.
	IdleTimeout time.Duration

	mu     sync.Mutex
	conns  map[string][]*ClientConn
	dials  map[string]*dialCall
	http1  map[string]bool
	idle   map[*ClientConn]*idleTimer
	closed bool
}

// idleTimer closes a connection without streams at the end of its idle
// period; until is that end, so that a timer that fires as the period is
// being renewed does nothing.
type idleTimer struct {
	timer *time.Timer
	until time.Time
}

// handoutGrace is the least idle period a connection gets when Get hands
// it out, for the caller to open its stream in, even with a negative
// IdleTimeout.
const handoutGrace = DefaultIdleTimeout

// dialCall is a dial in flight, which other Gets for its key wait for.
type dialCall struct {
	done     chan struct{}
	err      error
	canceled bool // it failed because the dialing caller's ctx ended
}

// Get returns a connection for key that can take a new stream, dialling
// one with dial (bounded by ctx, and by ctx only) when none can. The
// results are one of:
//
//   - a *ClientConn: open the stream with [ClientConn.OpenStream]; if
//     that fails with [ErrStreamRefused], Get again;
//   - a net.Conn: dial's connection chose HTTP/1.1 in ALPN; it is the
//     caller's, for the HTTP/1.1 Upgrade;
//   - ErrHTTP1: the server is known not to offer WebSockets over HTTP/2
//     (this dial found it so, or an earlier one did); dial anew for
//     HTTP/1.1;
//   - another error: the dial's, ctx's, or ErrPoolClosed.
//
// A Get that waits for another caller's dial dials itself if that one
// was cut short by its caller's ctx.
func (p *Pool) Get(ctx context.Context, key string, dial DialFunc) (*ClientConn, net.Conn, error) {
	for {
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			return nil, nil, ErrPoolClosed
		}
		if p.http1[key] {
			p.mu.Unlock()
			return nil, nil, ErrHTTP1
		}
		if cc := p.pickLocked(key); cc != nil {
			p.mu.Unlock()
			return cc, nil, nil
		}
		if d := p.dials[key]; d != nil {
			p.mu.Unlock()
			select {
			case <-d.done:
			case <-ctx.Done():
				return nil, nil, ctx.Err()
			}
			if d.err != nil && !d.canceled {
				return nil, nil, d.err
			}
			continue
		}
		d := &dialCall{done: make(chan struct{})}
		if p.dials == nil {
			p.dials = make(map[string]*dialCall)
		}
		p.dials[key] = d
		p.mu.Unlock()

		cc, h1, err := p.dial(ctx, key, dial)

		p.mu.Lock()
		delete(p.dials, key)
		d.err, d.canceled = err, err != nil && ctx.Err() != nil
		if cc != nil && p.closed {
			defer cc.Close()
			cc, err = nil, ErrPoolClosed
		}
		if cc != nil {
			if p.conns == nil {
				p.conns = make(map[string][]*ClientConn)
			}
			p.conns[key] = append(p.conns[key], cc)
			p.armIdleLocked(key, cc, true)
		}
		close(d.done)
		p.mu.Unlock()
		if cc != nil {
			p.watch(key, cc)
		}
		return cc, h1, err
	}
}

// pickLocked returns a usable connection for key, dropping dead ones. A
// connection handed out without streams gets a fresh idle period of at
// least handoutGrace, for the caller to open its stream in.
func (p *Pool) pickLocked(key string) *ClientConn {
	list := p.conns[key]
	var pick *ClientConn
	live := list[:0]
	for _, cc := range list {
		if cc.Err() != nil {
			p.stopIdleLocked(cc)
			continue
		}
		live = append(live, cc)
		if pick == nil && cc.usable() {
			pick = cc
		}
	}
	clear(list[len(live):])
	if len(live) == 0 {
		delete(p.conns, key)
	} else {
		p.conns[key] = live
	}
	if pick != nil && pick.activeStreams() == 0 {
		p.armIdleLocked(key, pick, true)
	}
	return pick
}

// dial opens a connection and starts HTTP/2 on it, or says why not.
func (p *Pool) dial(ctx context.Context, key string, dial DialFunc) (*ClientConn, net.Conn, error) {
	c, proto, err := dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	if proto != "h2" {
		p.rememberHTTP1(key)
		return nil, c, nil
	}
	cc, err := NewClientConn(ctx, c, p.Config)
	if err != nil {
		return nil, nil, err
	}
	if !cc.ExtendedConnect() {
		cc.Close()
		p.rememberHTTP1(key)
		return nil, nil, ErrHTTP1
	}
	return cc, nil, nil
}

func (p *Pool) rememberHTTP1(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.http1 == nil {
		p.http1 = make(map[string]bool)
	}
	p.http1[key] = true
}

// watch installs the connection's hooks: idle starts the idle period,
// the end takes it out of the pool.
func (p *Pool) watch(key string, cc *ClientConn) {
	cc.mu.Lock()
	cc.onIdle = func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.armIdleLocked(key, cc, false)
	}
	cc.onDead = func() { p.remove(key, cc) }
	dead := cc.err != nil
	cc.mu.Unlock()
	if dead {
		p.remove(key, cc)
	}
}

// armIdleLocked (re)starts cc's idle period, at whose end cc is closed if
// it still has no stream: IdleTimeout after its last stream, and at least
// handoutGrace after Get handed it out.
func (p *Pool) armIdleLocked(key string, cc *ClientConn, handout bool) {
	if p.closed {
		return
	}
	d := p.IdleTimeout
	if d == 0 {
		d = DefaultIdleTimeout
	}
	if handout {
		d = max(d, handoutGrace)
	}
	d = max(d, 0)
	it := p.idle[cc]
	if it == nil {
		if p.idle == nil {
			p.idle = make(map[*ClientConn]*idleTimer)
		}
		it = &idleTimer{}
		p.idle[cc] = it
		it.until = time.Now().Add(d)
		it.timer = time.AfterFunc(d, func() { p.idleEnded(key, cc) })
		return
	}
	// until first: the timer then cannot end before it.
	it.until = time.Now().Add(d)
	it.timer.Reset(d)
}

// idleEnded runs when cc's idle timer fires.
func (p *Pool) idleEnded(key string, cc *ClientConn) {
	p.mu.Lock()
	it := p.idle[cc]
	if it == nil || time.Now().Before(it.until) || cc.activeStreams() > 0 {
		p.mu.Unlock()
		return
	}
	p.removeLocked(key, cc)
	p.mu.Unlock()
	cc.Close()
}

func (p *Pool) stopIdleLocked(cc *ClientConn) {
	if it := p.idle[cc]; it != nil {
		it.timer.Stop()
		delete(p.idle, cc)
	}
}

// remove takes cc out of the pool.
func (p *Pool) remove(key string, cc *ClientConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.removeLocked(key, cc)
}

func (p *Pool) removeLocked(key string, cc *ClientConn) {
	p.stopIdleLocked(cc)
	list := p.conns[key]
	for i, c := range list {
		if c == cc {
			list = append(list[:i], list[i+1:]...)
			list[:len(list)+1][len(list)] = nil
			break
		}
	}
	if len(list) == 0 {
		delete(p.conns, key)
	} else {
		p.conns[key] = list
	}
}

// Close closes every connection of the pool, ending their streams, and
// makes later Gets fail with ErrPoolClosed. A dial in flight is closed
// when it completes.
func (p *Pool) Close() error {
	p.mu.Lock()
	p.closed = true
	var all []*ClientConn
	for _, list := range p.conns {
		all = append(all, list...)
	}
	for cc := range p.idle {
		p.stopIdleLocked(cc)
	}
	p.conns = nil
	p.mu.Unlock()
	for _, cc := range all {
		cc.Close()
	}
	return nil
}
