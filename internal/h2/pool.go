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

	// IdleTimeout is how long a connection without streams stays open;
	// zero means DefaultIdleTimeout, negative closes it at once.
	IdleTimeout time.Duration

	mu     sync.Mutex
	conns  map[string][]*ClientConn
	dials  map[string]*dialCall
	http1  map[string]bool
	idle   map[*ClientConn]*time.Timer
	closed bool
}

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
			p.armIdleLocked(key, cc)
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
// connection handed out gets a fresh idle period, for the caller to open
// its stream in.
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
		p.armIdleLocked(key, pick)
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
		p.armIdleLocked(key, cc)
	}
	cc.onDead = func() { p.remove(key, cc) }
	dead := cc.err != nil
	cc.mu.Unlock()
	if dead {
		p.remove(key, cc)
	}
}

// armIdleLocked (re)starts cc's idle period, at whose end cc is closed if
// it still has no stream.
func (p *Pool) armIdleLocked(key string, cc *ClientConn) {
	if p.closed {
		return
	}
	timeout := p.IdleTimeout
	if timeout == 0 {
		timeout = DefaultIdleTimeout
	}
	if timeout < 0 {
		timeout = 0
	}
	if t := p.idle[cc]; t != nil {
		t.Reset(timeout)
		return
	}
	if p.idle == nil {
		p.idle = make(map[*ClientConn]*time.Timer)
	}
	p.idle[cc] = time.AfterFunc(timeout, func() {
		if cc.activeStreams() == 0 {
			p.remove(key, cc)
			cc.Close()
		}
	})
}

func (p *Pool) stopIdleLocked(cc *ClientConn) {
	if t := p.idle[cc]; t != nil {
		t.Stop()
		delete(p.idle, cc)
	}
}

// remove takes cc out of the pool.
func (p *Pool) remove(key string, cc *ClientConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
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
