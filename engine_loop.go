//go:build !js

package websocket

import (
	"io"
	"net"
	"net/http"
	"sync"
)

// This file is an Engine's event loop: one goroutine that owns its share
// of the connections, their timers and a read buffer, waits for its
// poller (engine_epoll_linux.go, or engine_poll.go for the goroutine-fed
// loop), and runs the tasks other goroutines hand it. Everything a
// connection's protocol state is made of is touched on its loop only.

type loop struct {
	e      *Engine
	p      poller
	buf    []byte // read buffer, shared by every connection of the loop
	cork   []byte // the frames callbacks write while the loop handles one connection's input
	now    int64  // clock() when the loop last woke
	timers []*timerList
	conns  []*EngineConn // by socket, for the poller's events
	others map[*EngineConn]struct{}
	n      int // connections owned, until their reader goroutine (if any) has ended

	stopping     bool
	code         StatusCode // the close code and reason of the engine's shutdown
	reason       string
	mu           sync.Mutex
	tasks, spare []func()
	woken        bool
	exited       bool
}

// poller is how a loop waits: for the sockets it watches and for a wake
// from post.
type poller interface {
	// detach takes the socket of nc from the runtime for the loop to
	// poll, closing nc; it reports false, leaving nc alone, when it
	// cannot (TLS, any other kind of net.Conn, no poller).
	detach(nc net.Conn) (fd int, ok bool)
	// add starts watching fd for reads (and for writes, if out).
	add(fd int, out bool) error
	// watch changes whether fd is watched for writes.
	watch(fd int, out bool)
	// wait waits up to ms milliseconds (-1: no limit) for events or a
	// wake, and hands the events to the loop.
	wait(l *loop, ms int)
	wake()
	close()
}

func newLoop(e *Engine) (*loop, error) {
	p, err := newPoller()
	if err != nil {
		return nil, err
	}
	return &loop{e: e, p: p, buf: make([]byte, e.opts.ReadBufferSize), others: make(map[*EngineConn]struct{})}, nil
}

func (l *loop) run() {
	defer l.e.loopsDone.Done()
	l.now = clock()
	for {
		l.runTasks()
		if l.stopping && l.n == 0 {
			break
		}
		l.p.wait(l, l.nextTimeout())
		l.now = clock()
		l.expire()
	}
	l.mu.Lock()
	l.exited = true
	l.tasks = nil
	l.p.close()
	l.mu.Unlock()
}

// post hands f to the loop, from any goroutine; it runs on the loop soon.
// After the loop has exited, f is dropped: nothing is left to act on.
func (l *loop) post(f func()) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.exited {
		return
	}
	l.tasks = append(l.tasks, f)
	if !l.woken {
		l.woken = true
		l.p.wake()
	}
}

func (l *loop) runTasks() {
	l.mu.Lock()
	tasks := l.tasks
	l.tasks, l.woken = l.spare[:0], false
	l.mu.Unlock()
	for i, f := range tasks {
		f()
		tasks[i] = nil
	}
	l.spare = tasks
}

// add takes c into the loop: its socket into the poller (or its reader
// goroutine started), its keepalive armed, OnOpen called and the bytes
// that came with the handshake handled.
func (l *loop) add(c *EngineConn, buffered []byte, r *http.Request) {
	l.n++
	if c.fd >= 0 {
		for c.fd >= len(l.conns) {
			l.conns = append(l.conns[:cap(l.conns)], nil)
		}
		l.conns[c.fd] = c
		c.mu.Lock()
		var err error
		if !c.dead {
			err = l.p.add(c.fd, c.wantOut)
			c.registered = err == nil
		}
		c.mu.Unlock()
		if err != nil {
			c.lost(&netError{op: "read", err: err})
			return
		}
	} else {
		l.others[c] = struct{}{}
		c.readerRun = true
		go c.readConn()
	}
	if c.par.pingInterval > 0 {
		l.arm(c, timerKeepAlive)
	}
	if f := l.e.opts.OnOpen; f != nil && !c.abort.Load() {
		c.guard(func() { f(c, r) })
	}
	if len(buffered) > 0 {
		c.input(buffered)
	}
	if l.stopping {
		c.goingAway(l.code, l.reason)
	}
}

// remove forgets c's socket, which finish is closing.
func (l *loop) remove(c *EngineConn) {
	if c.fd < len(l.conns) && l.conns[c.fd] == c {
		l.conns[c.fd] = nil
	}
}

// shutdown is the loop's part of Engine.Close: every connection begins
// the closing handshake, and the loop exits once all have ended.
func (l *loop) shutdown(code StatusCode, reason string) {
	l.stopping, l.code, l.reason = true, code, reason
	for _, c := range l.conns {
		if c != nil {
			c.goingAway(code, reason)
		}
	}
	for c := range l.others {
		c.goingAway(code, reason)
	}
}

// goingAway begins the closing handshake of an open connection, on its
// loop.
func (c *EngineConn) goingAway(code StatusCode, reason string) {
	if c.state != stateOpen {
		return
	}
	c.mu.Lock()
	err := c.writeCloseLocked(code, reason)
	c.mu.Unlock()
	if err == nil {
		c.closeSent()
	}
}

// readable reads what a polled socket has, once: a short read means the
// socket is empty, and if it is not, the poller says so again.
func (l *loop) readable(c *EngineConn) {
	k := c.takeCarry(l.buf)
	n, err := readSocket(c.fd, l.buf[k:])
	switch {
	case err == errWouldBlock:
		c.keepCarry(l.buf[:k])
	case err != nil:
		c.readFailed(err)
	case n == 0:
		c.readFailed(io.EOF)
	default:
		c.input(l.buf[:k+n])
	}
}

// readConn is the goroutine that reads a connection the loop cannot poll
// and hands each read to the loop, waiting until it has been handled; the
// loop owns the bytes meanwhile. It ends with the connection.
func (c *EngineConn) readConn() {
	l := c.l
	buf := make([]byte, 16<<10)
	var k, n int
	var err error
	done := make(chan struct{}, 1)
	handle := func() {
		if c.state != stateClosed {
			if n > 0 {
				c.input(buf[:k+n])
			}
			if err != nil {
				c.readFailed(err)
			}
		}
		k = 0
		if c.state == stateClosed {
			c.readerRun = false
			delete(l.others, c)
			l.n--
		} else {
			k = c.takeCarry(buf)
		}
		done <- struct{}{}
	}
	for {
		n, err = c.nc.Read(buf[k:])
		l.post(handle)
		<-done
		if !c.readerRun {
			return
		}
	}
}
