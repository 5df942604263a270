//go:build !js

package websocket

import (
	"io"
	"slices"
	"sync"
)

// This file is an EngineConn's read side: it runs the receiver of
// protocol.go over the bytes its loop read, in place in the loop's buffer,
// and acts on what the receiver says. What a byte means is the receiver's
// business; this file only decides where message bytes go and what a
// failure leaves.

// input handles bytes read from the connection; b is the loop's (its
// read buffer, or what a reader goroutine handed over) and only valid
// during the call. Writes made meanwhile are corked and leave together.
func (c *EngineConn) input(b []byte) {
	c.active = true
	if c.state >= stateFlushing {
		return // nothing the peer sends now matters
	}
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
	c.consume(b)
	c.uncork()
}

// consume runs the receiver over b (RFC 6455, Sections 5 and 6). A frame
// whose header, or whole control frame, is not in b yet is kept in carry
// for the next read, which the loop puts in front of what it reads.
func (c *EngineConn) consume(b []byte) {
	r := &c.recv
	var ev frameEvent
	for c.state < stateFlushing && !c.abort.Load() {
		switch {
		case r.contentDone():
			if !c.endMessage() {
				return
			}
		case r.atFrameBoundary():
			err := r.next(b, c.par.readLimit, &ev)
			if err != nil {
				c.fail(err)
				return
			}
			if ev.kind == frameIncomplete {
				c.keepCarry(b)
				return
			}
			b = b[ev.n:]
			if ev.kind != frameData {
				c.control(&ev)
				continue
			}
			if c.msg == nil && !r.compressed && r.fin && r.remaining <= int64(len(b)) {
				// The common case: a message in one frame, all in b. It
				// is unmasked in place and handed over from b.
				n := int(r.remaining)
				p := b[:n:n]
				b = b[n:]
				if _, _, err := r.content(p, p); err != nil {
					c.fail(err)
					return
				}
				if _, _, err := r.finish(nil); err != nil {
					c.fail(err)
					return
				}
				c.deliver(r.typ, p)
			}
		default:
			if len(b) == 0 {
				c.keepCarry(nil)
				return
			}
			var err error
			if b, err = c.appendContent(b); err != nil {
				c.fail(err)
				return
			}
		}
	}
}

// appendContent moves payload of the current frame from b into the
// message being assembled and returns what is left of b.
func (c *EngineConn) appendContent(b []byte) ([]byte, error) {
	r := &c.recv
	for {
		hint := int(min(r.remaining, int64(len(b))))
		if r.compressed {
			hint = max(2*hint, 4096)
		}
		room := c.room(hint)
		nDst, nSrc, err := r.content(room, b)
		*c.msg = (*c.msg)[:len(*c.msg)+nDst]
		b = b[nSrc:]
		switch {
		case err != nil:
			return b, err
		case r.remaining == 0 || len(b) == 0:
			// The frame's payload or the input is used up. Only an
			// inflater that filled room may have more output.
			if !r.compressed || nDst < len(room) || nDst == 0 {
				return b, nil
			}
		case nDst == 0 && nSrc == 0:
			return b, nil // no progress: cannot happen, but never spin
		}
	}
}

// endMessage finishes the message whose payload is all in and delivers
// it. It reports whether input is still to be read.
func (c *EngineConn) endMessage() bool {
	r := &c.recv
	for {
		var room []byte
		if r.compressed {
			room = c.room(4096)
		}
		n, done, err := r.finish(room)
		if err != nil {
			c.fail(err)
			return false
		}
		if c.msg != nil {
			*c.msg = (*c.msg)[:len(*c.msg)+n]
		}
		if done {
			break
		}
	}
	var p []byte
	if c.msg != nil {
		p = *c.msg
	}
	c.deliver(r.typ, p)
	c.dropMessage()
	return c.state < stateFlushing
}

// room returns at least n bytes of spare capacity at the end of the
// message being assembled (taken from assemblePool on first use).
func (c *EngineConn) room(n int) []byte {
	if c.msg == nil {
		c.msg = assemblePool.Get().(*[]byte)
		*c.msg = (*c.msg)[:0]
	}
	m := *c.msg
	if cap(m)-len(m) < n {
		m = slices.Grow(m, n)
		*c.msg = m
	}
	return m[len(m):cap(m)]
}

func (c *EngineConn) dropMessage() {
	if c.msg != nil {
		putAssembly(c.msg, *c.msg)
		c.msg = nil
	}
}

// deliver hands a whole message to OnMessage. While the connection
// closes, data messages are dropped (as Conn.Close does).
func (c *EngineConn) deliver(typ MessageType, p []byte) {
	if c.state != stateOpen {
		return
	}
	if f := c.l.e.opts.OnMessage; f != nil {
		c.guard(func() { f(c, typ, p) })
	}
}

// control acts on a received control frame (RFC 6455, Section 5.5).
func (c *EngineConn) control(ev *frameEvent) {
	switch ev.kind {
	case framePing:
		// Section 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST
		// send a Pong frame in response". It goes out with whatever the
		// callbacks write for this read, in the same system call; a
		// flood of pings from a peer that does not read fills the queue
		// and closes the connection like any other write.
		c.sendControl(opPong, ev.payload)
	case framePong:
		// Any bytes count as a sign of life for the keepalive.
	case frameClose:
		// Section 5.5.1: "If an endpoint receives a Close frame and did
		// not previously send a Close frame, the endpoint MUST send a
		// Close frame in response", typically echoing the status code.
		// If it had sent one, the handshake is now complete.
		if c.why == nil {
			c.why = ev.close
		}
		c.mu.Lock()
		c.writeCloseLocked(ev.close.Code, "")
		c.mu.Unlock()
		c.state = stateFlushing
		c.l.arm(c, timerClose) // bounds the wait for the queue to drain
	}
}

// fail fails the connection (RFC 6455, Section 7.1.7): a close frame with
// the violation's code goes out, then the write side is shut down and
// whatever the peer still sends is dropped, until it closes or the close
// timeout runs out.
func (c *EngineConn) fail(err error) {
	perr := err.(*ProtocolError)
	if c.why == nil {
		c.why = perr
	}
	c.mu.Lock()
	c.writeCloseLocked(perr.Code, perr.Reason)
	c.mu.Unlock()
	c.state = stateDraining
	c.l.arm(c, timerClose)
}

// lost ends a connection whose socket failed or reached its end; err is
// what OnClose is told unless the connection was closing for another
// reason already.
func (c *EngineConn) lost(err error) {
	if c.state == stateClosed {
		return
	}
	if c.why == nil {
		c.why = err
	}
	c.finish()
}

// readFailed is what the loop does when a read returns err (io.EOF for
// the end of the stream).
func (c *EngineConn) readFailed(err error) {
	if c.state == stateDraining || c.state == stateFlushing {
		c.finish()
		return
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	c.lost(&netError{op: "read", err: err})
}

// carryBuf holds the start of a frame that a read cut: at most a header,
// or a control frame, so never more than maxHeaderSize+maxControlPayload
// bytes.
type carryBuf struct {
	n int
	b [maxHeaderSize + maxControlPayload]byte
}

var carryPool = sync.Pool{New: func() any { return new(carryBuf) }}

// keepCarry keeps b, the start of a frame, for the next read.
func (c *EngineConn) keepCarry(b []byte) {
	if len(b) == 0 {
		c.dropCarry()
		return
	}
	if c.carry == nil {
		c.carry = carryPool.Get().(*carryBuf)
	}
	c.carry.n = copy(c.carry.b[:], b)
}

// takeCarry copies the kept bytes to the front of buf and returns their
// number.
func (c *EngineConn) takeCarry(buf []byte) int {
	if c.carry == nil {
		return 0
	}
	n := copy(buf, c.carry.b[:c.carry.n])
	c.dropCarry()
	return n
}

func (c *EngineConn) dropCarry() {
	if c.carry != nil {
		carryPool.Put(c.carry)
		c.carry = nil
	}
}
