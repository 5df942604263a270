//go:build !js

package websocket

import (
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// This file is the Engine's API: options, construction, the two ways in
// (an upgraded net/http request, a raw net.Listener) and shutdown. The
// connections live in engine_conn.go, engine_read.go and engine_write.go,
// the loops in engine_loop.go, their timers in engine_timer.go, and how a
// loop waits in engine_epoll_linux.go (epoll) or engine_poll_other.go.

// EngineOptions configures an [Engine]. The zero value is usable: it
// serves with GOMAXPROCS loops and drops every message.
type EngineOptions struct {
	// Loops is the number of event loops, each one goroutine that owns
	// its share of the connections. Zero means GOMAXPROCS.
	Loops int

	// OnOpen, if not nil, is called once for each connection, on its
	// loop, before any other callback of the connection; r is the
	// handshake request, whose context has ended by then but whose
	// headers, path values and context values are there. It is the place
	// to attach state with [EngineConn.SetValue].
	OnOpen func(c *EngineConn, r *http.Request)

	// OnMessage is called on the connection's loop for every data
	// message, in order. p is valid only until OnMessage returns: it may
	// point into the loop's read buffer. The loop serves its other
	// connections only once OnMessage returns, so OnMessage must not
	// block; writes never do (see [EngineConn.Write]). Writes made during
	// the call go out together, in one system call, when it returns.
	OnMessage func(c *EngineConn, typ MessageType, p []byte)

	// OnClose, if not nil, is called once for each connection, on its
	// loop, after the connection has ended and its socket is closed. err
	// says why: a [CloseError] when the peer sent a close frame (whoever
	// began the closing handshake), a [*ProtocolError] when this endpoint
	// failed the connection, [ErrWriteQueueFull], [ErrKeepAliveTimeout],
	// [ErrCloseTimeout] when the peer did not answer a close frame in
	// time, an error wrapping the network's when the connection was lost
	// (RFC 6455, Section 7.1.5: 1006), or net.ErrClosed after
	// [EngineConn.CloseNow].
	OnClose func(c *EngineConn, err error)

	// WriteQueueLimit bounds, in bytes, the frames a connection keeps
	// queued for a peer that does not read them fast enough. A write that
	// would take a queue that is not empty beyond it is refused with
	// [ErrWriteQueueFull] and the connection is closed with
	// StatusPolicyViolation (1008). A write into an empty queue is always
	// taken, so a queue holds at most the limit or one message, whichever
	// is larger, plus at most 64 KiB of control frames (so that pings are
	// answered, in order, behind a large message). Zero means 4 MiB.
	WriteQueueLimit int

	// ReadBufferSize is the size of each loop's read buffer: a message
	// whose frame fits in it whole is handed to OnMessage from it,
	// unmasked in place, without a copy. Zero means 256 KiB.
	ReadBufferSize int
}

const (
	defaultWriteQueueLimit = 4 << 20
	defaultLoopBuffer      = 256 << 10
)

// Engine serves many WebSocket connections from a few event loops. Where
// the system offers it (Linux: epoll) a loop waits for every socket it
// owns at once and reads one when it is readable, so a connection costs
// no goroutine and, while idle, no buffer: only its state, a few hundred
// bytes. Elsewhere, and for connections that are not plain sockets (TLS
// above all: crypto/tls cannot be resumed at any byte), each connection
// has a goroutine that reads it and hands the bytes to its loop; the API
// and the protocol are the same.
//
// The protocol is the Conn's, from the same core: every limit of the
// options (the read limit, the fragment cap), UTF-8 validation, control
// frames, the closing handshake, the keepalive and permessage-deflate.
// Messages are delivered whole to OnMessage. Writes ([EngineConn.Write])
// never block: they go to the socket at once when it can take them, or
// into a bounded queue that the loop flushes when it becomes writable.
//
// An Engine is safe for concurrent use. [Engine.Close] runs the closing
// handshake with every connection and stops every loop.
type Engine struct {
	opts   EngineOptions
	loops  []*loop
	next   atomic.Uint32
	active atomic.Int64

	mu         sync.Mutex
	closing    bool
	listeners  map[net.Listener]struct{}
	params     map[engineParams]*engineParams
	handshakes sync.WaitGroup // Accept and Serve handshakes under way
	loopsDone  sync.WaitGroup
	stopped    chan struct{}
}

// ErrEngineClosed is returned by [Engine.Accept] and [Engine.Serve] once
// [Engine.Close] has been called. It wraps net.ErrClosed.
var ErrEngineClosed = fmt.Errorf("websocket: engine closed: %w", net.ErrClosed)

// ErrWriteQueueFull is returned by a write on an [EngineConn] that would
// take its queue beyond EngineOptions.WriteQueueLimit; nothing of the
// message is queued, and the connection is closed with 1008. OnClose then
// receives it as the reason.
var ErrWriteQueueFull = errors.New("websocket: write queue limit exceeded: the peer does not read")

// NewEngine starts an engine's loops. opts may be nil. The loops run
// until [Engine.Close].
func NewEngine(opts *EngineOptions) (*Engine, error) {
	e := &Engine{stopped: make(chan struct{})}
	if opts != nil {
		e.opts = *opts
	}
	o := &e.opts
	switch {
	case o.Loops < 0:
		return nil, optionError("Loops", o.Loops, "must not be negative")
	case o.WriteQueueLimit < 0:
		return nil, optionError("WriteQueueLimit", o.WriteQueueLimit, "must not be negative")
	case o.ReadBufferSize < 0:
		return nil, optionError("ReadBufferSize", o.ReadBufferSize, "must not be negative")
	}
	if o.Loops == 0 {
		o.Loops = runtime.GOMAXPROCS(0)
	}
	if o.WriteQueueLimit == 0 {
		o.WriteQueueLimit = defaultWriteQueueLimit
	}
	if o.ReadBufferSize == 0 {
		o.ReadBufferSize = defaultLoopBuffer
	}
	o.ReadBufferSize = max(o.ReadBufferSize, minReadBufferSize)
	for range o.Loops {
		l, err := newLoop(e)
		if err != nil {
			for _, l := range e.loops { // none runs yet
				l.p.close()
			}
			return nil, err
		}
		e.loops = append(e.loops, l)
	}
	for _, l := range e.loops {
		e.loopsDone.Add(1)
		go l.run()
	}
	return e, nil
}

// Accept upgrades a WebSocket handshake request, as [Accept] does (the
// same checks, the same options, the same HTTP errors), and hands the
// connection to one of the engine's loops, where OnOpen runs first. The
// connection may be written to as soon as Accept returns. Options that size a Conn's buffers (ReadBufferSize,
// WriteBufferSize) do not apply: a loop's buffers serve all its
// connections. opts.Group, if set, tracks the connection.
//
// Once the engine is closed, Accept answers 503 Service Unavailable and
// returns [ErrEngineClosed].
func (e *Engine) Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*EngineConn, error) {
	if !e.enter() {
		reject(w, r, http.StatusServiceUnavailable, errors.New("server shutting down"))
		return nil, ErrEngineClosed
	}
	defer e.handshakes.Done()
	if r.ProtoMajor == 2 {
		// The loops own sockets; an HTTP/2 stream belongs to its handler.
		err := errors.New("the Engine serves WebSockets over HTTP/1.1; over HTTP/2 (RFC 8441) use Accept")
		reject(w, r, http.StatusBadRequest, err)
		return nil, fmt.Errorf("%w: %v", ErrBadHandshake, err)
	}
	if opts == nil {
		opts = &AcceptOptions{}
	}
	up, err := acceptHandshake(w, r, opts)
	if err != nil {
		return nil, err
	}
	return e.start(up, opts, r), nil
}

// Serve accepts connections from ln, reads each one's handshake request
// and upgrades it as [Engine.Accept] does (a request that is not an
// acceptable handshake gets its HTTP error and the connection is closed),
// then hands it to a loop. Each handshake runs on a goroutine of its own,
// bounded by opts.HandshakeTimeout, which ends with it. Serve returns when
// ln fails; after [Engine.Close], which closes ln, it returns
// [ErrEngineClosed].
//
// Serve speaks HTTP/1.1 only as far as the WebSocket handshake needs: one
// request per connection, no keep-alive. Use net/http and Accept to serve
// other requests on the same port.
func (e *Engine) Serve(ln net.Listener, opts *AcceptOptions) error {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	if err := opts.check(); err != nil {
		return err
	}
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		return ErrEngineClosed
	}
	if e.listeners == nil {
		e.listeners = make(map[net.Listener]struct{})
	}
	e.listeners[ln] = struct{}{}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.listeners, ln)
		e.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if e.isClosing() {
				return ErrEngineClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.EMFILE) {
				// As net/http does: out of descriptors, wait and retry.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				log.Printf("websocket: engine accept: %v; retrying in %v", err, backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		if !e.enter() {
			nc.Close()
			continue
		}
		go e.serveConn(nc, opts)
	}
}

// Len returns the number of open connections.
func (e *Engine) Len() int { return int(e.active.Load()) }

// Close shuts the engine down: it stops accepting (closing the listeners
// of Serve), runs the closing handshake with code and reason (typically
// StatusGoingAway) on every connection at once, each bounded by its close
// timeout, and returns once every connection has ended and every loop,
// timer and goroutine of the engine has stopped. A code or reason that
// [Conn.Close] would refuse is an error wrapping [ErrInvalidCloseCode]
// and nothing is closed. A second Close waits for the first and returns
// [ErrEngineClosed].
func (e *Engine) Close(code StatusCode, reason string) error {
	if !checkCloseArgs(code, reason) {
		return fmt.Errorf("%w: code %d, reason %q", ErrInvalidCloseCode, int(code), reason)
	}
	e.mu.Lock()
	if e.closing {
		e.mu.Unlock()
		<-e.stopped
		return ErrEngineClosed
	}
	e.closing = true
	for ln := range e.listeners {
		ln.Close()
	}
	e.mu.Unlock()
	e.handshakes.Wait()
	for _, l := range e.loops {
		l.post(func() { l.shutdown(code, reason) })
	}
	e.loopsDone.Wait()
	close(e.stopped)
	return nil
}

// enter registers a handshake unless the engine is closing.
func (e *Engine) enter() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closing {
		return false
	}
	e.handshakes.Add(1)
	return true
}

func (e *Engine) isClosing() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closing
}

// engineParams are the options a connection of the engine keeps, shared
// by every connection accepted with the same values.
type engineParams struct {
	readLimit    int64
	closeTimeout time.Duration
	pingInterval time.Duration
	pongTimeout  time.Duration
}

func (e *Engine) paramsFor(o *ConnOptions) *engineParams {
	cfg := o.config(false, "", nil)
	p := engineParams{readLimit: cfg.readLimit, closeTimeout: cfg.closeTimeout,
		pingInterval: cfg.pingInterval, pongTimeout: cfg.pongTimeout}
	if p.readLimit == 0 {
		p.readLimit = DefaultReadLimit
	}
	if p.closeTimeout <= 0 {
		p.closeTimeout = defaultCloseTimeout
	}
	if p.pingInterval > 0 && p.pongTimeout <= 0 {
		p.pongTimeout = p.pingInterval
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if q, ok := e.params[p]; ok {
		return q
	}
	if e.params == nil {
		e.params = make(map[engineParams]*engineParams)
	}
	q := &p
	e.params[p] = q
	return q
}

// start makes the connection of a completed handshake and hands it to a
// loop; the caller holds a handshake registration (enter), so the loops
// are running.
func (e *Engine) start(up upgraded, opts *AcceptOptions, r *http.Request) *EngineConn {
	l := e.loops[int(e.next.Add(1))%len(e.loops)]
	c := newEngineConn(l, up, e.paramsFor(&opts.ConnOptions))
	var buffered []byte
	if len(up.buffered) > 0 {
		buffered = append([]byte(nil), up.buffered...)
	}
	e.active.Add(1)
	l.post(func() { l.add(c, buffered, r) })
	if opts.Group != nil {
		opts.Group.add(c)
	}
	return c
}
