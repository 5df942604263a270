//go:build !js

package websocket

import (
	"context"
	"fmt"
	"log"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
)

// This file is an Engine's connection: its state, its public methods and
// the end of it (finish). engine_read.go drives the receiver over the
// bytes its loop reads; engine_write.go is its one write path and queue.

// EngineConn is a WebSocket connection owned by an [Engine]. Its messages
// arrive through EngineOptions.OnMessage; its methods are safe for
// concurrent use from any goroutine, the callbacks included, and none of
// them blocks: a write goes to the socket at once when it can take it and
// is queued otherwise, and Close starts the closing handshake and returns.
//
// While it is idle an EngineConn holds no buffer and no goroutine (on
// Linux, for a plain TCP or Unix socket): its memory is this struct.
type EngineConn struct {
	l   *loop
	par *engineParams
	fd  int      // the socket, owned by the loop; -1 when nc carries the connection
	nc  net.Conn // a connection the loop cannot poll (TLS, or no poller): read by a goroutine

	// Owned by the loop.
	recv      receiver
	state     connState
	timerKind timerKind
	active    bool // bytes arrived since the timer was armed
	wclosed   bool // the write side has been shut down (after a failure)
	readerRun bool // nc: the reader goroutine is running
	carry     *carryBuf
	msg       *[]byte // the message being assembled, from assemblePool
	timer     timerNode
	why       error // what OnClose is told
	abort     atomic.Bool

	// Guarded by mu: the write side, and whether the socket is still ours.
	mu          sync.Mutex
	snd         sender
	deflate     *deflateConfig
	corked      bool // the loop is handling input: writes gather in its cork buffer
	wantOut     bool // waiting for the socket to become writable
	registered  bool // fd: in the loop's poller
	flusher     bool // nc: a goroutine is writing the queue
	dead        bool // the socket is closed, or about to be: nothing more goes out
	ended       bool // finish has run
	out         *outBuf
	inflight    int   // nc: bytes flushConn took off the queue and is writing
	overLimit   int   // bytes of control frames queued beyond the limit (see sendLocked)
	werr        error // a write failed: the connection is lost
	done        chan struct{}
	value       any
	groups      []*Group
	subprotocol string
}

// connState is where an EngineConn stands in its life (RFC 6455, Section
// 7: open, closing, closed). Only its loop changes it.
type connState uint8

const (
	stateOpen     connState = iota
	stateClosing            // our close frame is out: waiting for the peer's
	stateFlushing           // close frames exchanged: close the socket once the queue is out
	stateDraining           // failed: our close frame is queued; drop input until the peer closes
	stateClosed
)

func newEngineConn(l *loop, up upgraded, par *engineParams) *EngineConn {
	c := &EngineConn{l: l, par: par, fd: -1, subprotocol: up.subprotocol}
	c.recv.maxFrames = fragmentCap(par.readLimit)
	if up.deflate != nil {
		c.deflate = up.deflate
		c.recv.deflate = true
		c.recv.takeover = up.deflate.recvTakeover
		c.recv.window = uint8(up.deflate.recvWindowBits)
	}
	if fd, ok := l.p.detach(up.nc); ok {
		c.fd = fd
	} else {
		c.nc = up.nc
	}
	return c
}

// Subprotocol returns the subprotocol agreed in the opening handshake, or
// "" if none was.
func (c *EngineConn) Subprotocol() string { return c.subprotocol }

// Value returns the value SetValue stored, or nil.
func (c *EngineConn) Value() any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.value
}

// SetValue stores v with the connection, for the application's state.
func (c *EngineConn) SetValue(v any) {
	c.mu.Lock()
	c.value = v
	c.mu.Unlock()
}

// RemoteAddr returns the peer's network address, or nil once the
// connection is closed.
func (c *EngineConn) RemoteAddr() net.Addr { return c.addr(true) }

// LocalAddr returns the local network address, or nil once the
// connection is closed.
func (c *EngineConn) LocalAddr() net.Addr { return c.addr(false) }

func (c *EngineConn) addr(remote bool) net.Addr {
	if c.nc != nil {
		if remote {
			return c.nc.RemoteAddr()
		}
		return c.nc.LocalAddr()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return nil
	}
	return socketAddr(c.fd, remote)
}

// Done returns a channel that is closed once the connection has ended,
// just before OnClose is called.
func (c *EngineConn) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
		if c.ended {
			close(c.done)
		}
	}
	return c.done
}

// Close starts the closing handshake (RFC 6455, Section 7): it queues a
// close frame with code and reason and returns. The connection ends when
// the peer answers, or after the close timeout of its options; OnClose
// then says which. Data messages that arrive meanwhile are dropped.
//
// code and reason follow the rules of [Conn.Close]; otherwise Close returns
// an error wrapping [ErrInvalidCloseCode] and does nothing. Once a close
// frame has been sent, or the connection has ended, Close returns an
// error wrapping net.ErrClosed.
func (c *EngineConn) Close(code StatusCode, reason string) error {
	if !checkCloseArgs(code, reason) {
		return fmt.Errorf("%w: code %d, reason %q", ErrInvalidCloseCode, int(code), reason)
	}
	c.mu.Lock()
	err := c.writeCloseLocked(code, reason)
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.l.post(func() { c.closeSent() })
	return nil
}

// CloseNow drops the connection without a closing handshake: nothing more
// is sent, and OnClose is called with net.ErrClosed (unless the
// connection had ended already, which makes CloseNow return
// net.ErrClosed).
func (c *EngineConn) CloseNow() error {
	if c.abort.Swap(true) {
		return net.ErrClosed
	}
	c.mu.Lock()
	ended := c.dead
	c.dead = true
	c.mu.Unlock()
	if ended {
		return net.ErrClosed
	}
	c.l.post(func() {
		if c.why == nil {
			c.why = net.ErrClosed
		}
		c.finish()
	})
	return nil
}

// closeSent is the loop's side of Close: wait for the peer's answer,
// within the close timeout.
func (c *EngineConn) closeSent() {
	if c.state != stateOpen {
		return
	}
	c.state = stateClosing
	c.l.arm(c, timerClose)
}

// finish ends the connection, on its loop: the socket is closed, what the
// connection holds is given back, and OnClose is told why.
func (c *EngineConn) finish() {
	if c.state == stateClosed {
		return
	}
	c.state = stateClosed
	c.l.disarm(c)
	c.mu.Lock()
	c.dead = true
	c.releaseOut()
	if c.fd >= 0 {
		c.l.remove(c)
		closeSocket(c.fd)
	} else {
		c.nc.Close()
	}
	groups := c.groups
	c.groups = nil
	c.mu.Unlock()
	for _, g := range groups {
		g.remove(c)
	}
	// Done closes once the connection has left its groups, so that
	// Group.Close, which waits for it, finds the group empty.
	c.mu.Lock()
	c.ended = true
	if c.done != nil {
		close(c.done)
	}
	c.mu.Unlock()
	c.dropCarry()
	c.dropMessage()
	c.recv.release()
	c.l.e.active.Add(-1)
	if c.nc == nil || !c.readerRun {
		c.l.n--
	}
	if c.why == nil {
		c.why = net.ErrClosed
	}
	if f := c.l.e.opts.OnClose; f != nil {
		c.guard(func() { f(c, c.why) })
	}
}

// guard runs a callback of the application; a panic in it is logged, as
// net/http does for handlers, and closes the connection with
// StatusInternalError instead of killing the loop.
func (c *EngineConn) guard(f func()) {
	defer func() {
		if err := recover(); err != nil {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			log.Printf("websocket: engine callback panicked: %v\n%s", err, buf)
			c.Close(StatusInternalError, "")
		}
	}()
	f()
}

// The Group membership of an EngineConn (see groupMember).

func (c *EngineConn) closeWait(code StatusCode, reason string) {
	done := c.Done()
	c.Close(code, reason) // if it is closing or closed already, wait all the same
	<-done
}

func (c *EngineConn) broadcast(_ context.Context, pm *PreparedMessage) error {
	return c.WritePrepared(pm)
}

func (c *EngineConn) joined(g *Group) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.dead {
		return false
	}
	c.groups = append(c.groups, g)
	return true
}
