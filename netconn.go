//go:build !js

package websocket

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// NetConn returns a net.Conn whose bytes are the data messages of c, for
// protocols that want a stream: SSH, yamux, net/rpc, TLS inside a
// WebSocket. Reads span message boundaries (the bytes of one message, then
// of the next); each Write sends its bytes as one message of type typ;
// Close runs the closing handshake with StatusNormalClosure. Read returns
// io.EOF once the peer has closed with StatusNormalClosure or
// StatusGoingAway. A message of the other type closes the connection with
// StatusUnsupportedData.
//
// Deadlines are real: SetDeadline, SetReadDeadline and SetWriteDeadline
// apply to calls in progress and to later ones, and a deadline that passes
// makes the call return an error whose Timeout method reports true
// (os.ErrDeadlineExceeded), leaving the connection usable, as with a TCP
// connection: a read that times out loses nothing, and a write that times
// out part-way through its frame has its message finished later (the
// write then reports it written). See the package doc for the rules this
// rests on.
//
// The net.Conn reads from c: do not call c's Read, ReadAppend or Reader
// while it is in use. c's other methods stay usable.
func NetConn(c *Conn, typ MessageType) net.Conn {
	return &netConn{c: c, typ: typ}
}

type netConn struct {
	c   *Conn
	typ MessageType

	readMu sync.Mutex     // one Read at a time, as the Conn requires
	r      *messageReader // the message being read, nil between messages
	eof    bool

	rd, wd netDeadline
	closed atomic.Bool
}

// errUnexpectedType is what Read returns after a message of the wrong type.
var errUnexpectedType = errors.New("websocket: NetConn got a message of the other type")

func (n *netConn) Read(p []byte) (int, error) {
	n.readMu.Lock()
	defer n.readMu.Unlock()
	for {
		if n.closed.Load() {
			return 0, n.opError("read", net.ErrClosed)
		}
		ctx := n.rd.context()
		k, err := n.read(ctx, p)
		if k > 0 {
			return k, nil
		}
		switch {
		case err == nil:
			continue
		case err == io.EOF:
			return 0, io.EOF
		case ctx.replaced(err):
			continue // the deadline moved: wait under the new one
		case errors.Is(err, context.DeadlineExceeded):
			err = os.ErrDeadlineExceeded
		}
		return 0, n.opError("read", err)
	}
}

func (n *netConn) read(ctx context.Context, p []byte) (int, error) {
	c := n.c
	if n.eof {
		return 0, io.EOF
	}
	if n.r == nil {
		typ, r, err := c.Reader(ctx)
		if err != nil {
			if s := CloseStatus(err); s == StatusNormalClosure || s == StatusGoingAway {
				n.eof = true
				return 0, io.EOF
			}
			return 0, err
		}
		if typ != n.typ {
			c.close(StatusUnsupportedData, "unexpected message type", true)
			return 0, errUnexpectedType
		}
		n.r = r.(*messageReader)
	}
	n.r.ctx = ctx
	k, err := n.r.Read(p)
	if err == io.EOF {
		n.r = nil
		err = nil
	}
	return k, err
}

func (n *netConn) Write(p []byte) (int, error) {
	for {
		if n.closed.Load() {
			return 0, n.opError("write", net.ErrClosed)
		}
		ctx := n.wd.context()
		err := n.c.Write(ctx, n.typ, p)
		switch {
		case err == nil, errors.Is(err, ErrWritePending):
			// A frame cut part-way is finished later: the message is
			// as good as written.
			return len(p), nil
		case ctx.replaced(err):
			continue // the deadline moved before anything was sent
		case errors.Is(err, context.DeadlineExceeded):
			err = os.ErrDeadlineExceeded
		}
		return 0, n.opError("write", err)
	}
}

// Close sends the close frame and returns; the closing handshake finishes
// in the background, within the Conn's close timeout, as TCP's does in the
// kernel. Calls in progress then return, and later ones fail with an error
// wrapping net.ErrClosed.
func (n *netConn) Close() error {
	if !n.closed.CompareAndSwap(false, true) {
		return n.opError("close", net.ErrClosed)
	}
	n.rd.set(aLongTimeAgo) // wake a Read in progress
	err := n.c.close(StatusNormalClosure, "", true)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return n.opError("close", err)
	}
	return nil
}

func (n *netConn) LocalAddr() net.Addr  { return n.c.LocalAddr() }
func (n *netConn) RemoteAddr() net.Addr { return n.c.RemoteAddr() }

func (n *netConn) SetDeadline(t time.Time) error {
	if n.closed.Load() {
		return n.opError("set", net.ErrClosed)
	}
	n.rd.set(t)
	n.wd.set(t)
	return nil
}

func (n *netConn) SetReadDeadline(t time.Time) error {
	n.rd.set(t)
	return nil
}

func (n *netConn) SetWriteDeadline(t time.Time) error {
	n.wd.set(t)
	return nil
}

func (n *netConn) opError(op string, err error) error {
	return &net.OpError{Op: op, Net: "websocket", Source: n.c.LocalAddr(), Addr: n.c.RemoteAddr(), Err: err}
}

// netDeadline is one deadline of a netConn. Each setting of it is an epoch:
// a context whose Done closes when the deadline passes or when a new one
// replaces it, so that a call in progress wakes up and either returns a
// timeout or goes on under the new deadline. Calls on the Conn take the
// epoch as their context, which is how the Conn's own rules (a read
// interrupted by its context loses nothing) make the deadlines real.
type netDeadline struct {
	mu  sync.Mutex
	cur *epoch
}

// context returns the epoch in force.
func (d *netDeadline) context() *epoch {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur == nil {
		d.cur = newEpoch(time.Time{})
	}
	return d.cur
}

func (d *netDeadline) set(t time.Time) {
	e := newEpoch(t)
	d.mu.Lock()
	old := d.cur
	d.cur = e
	d.mu.Unlock()
	if old != nil {
		old.end(false)
	}
}

// epoch is a context.Context that ends at its deadline (expired) or when it
// is replaced. It implements the AfterFunc method that package context
// looks for, so that a Conn call arming it costs no goroutine.
type epoch struct {
	t     time.Time
	done  chan struct{}
	timer *time.Timer

	mu    sync.Mutex
	over  bool
	timed bool // ended because t passed
	funcs map[*func()]struct{}
}

func newEpoch(t time.Time) *epoch {
	e := &epoch{t: t, done: make(chan struct{})}
	if !t.IsZero() {
		if d := time.Until(t); d <= 0 {
			e.end(true)
		} else {
			e.mu.Lock()
			e.timer = time.AfterFunc(d, func() { e.end(true) })
			e.mu.Unlock()
		}
	}
	return e
}

func (e *epoch) end(timed bool) {
	e.mu.Lock()
	if e.over {
		e.mu.Unlock()
		return
	}
	e.over, e.timed = true, timed
	funcs, timer := e.funcs, e.timer
	e.funcs = nil
	close(e.done)
	e.mu.Unlock()
	if timer != nil {
		timer.Stop()
	}
	for f := range funcs {
		go (*f)()
	}
}

// replaced reports whether err, from a call under e, comes from e's having
// been replaced by a new deadline (rather than from its deadline passing).
func (e *epoch) replaced(err error) bool {
	return errors.Is(err, context.Canceled) && e.Err() == context.Canceled
}

func (e *epoch) Deadline() (time.Time, bool) { return e.t, !e.t.IsZero() }
func (e *epoch) Done() <-chan struct{}       { return e.done }
func (e *epoch) Value(any) any               { return nil }

func (e *epoch) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case !e.over:
		return nil
	case e.timed:
		return context.DeadlineExceeded
	}
	return context.Canceled
}

// AfterFunc arranges for f to run, in a goroutine of its own, once e ends,
// as context.AfterFunc does; stop unregisters it.
func (e *epoch) AfterFunc(f func()) (stop func() bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.over {
		go f()
		return func() bool { return false }
	}
	if e.funcs == nil {
		e.funcs = make(map[*func()]struct{})
	}
	key := &f
	e.funcs[key] = struct{}{}
	return func() bool {
		e.mu.Lock()
		defer e.mu.Unlock()
		_, ok := e.funcs[key]
		delete(e.funcs, key)
		return ok
	}
}
