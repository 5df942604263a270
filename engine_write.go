//go:build !js

package websocket

import (
	"net"
	"sync"
)

// This file is an EngineConn's write side: the one path every frame takes
// (sendLocked), the queue of what the socket could not take yet, and its
// flushing. What may be sent when is decided by the sender of protocol.go.
//
// A frame goes, in this order of preference: into the loop's cork buffer
// while the loop handles the connection's input (everything the callbacks
// write then leaves in one system call when they return); straight to the
// socket when nothing is queued; otherwise behind what is queued, flushed
// by the loop when the socket becomes writable. Nothing here waits.

// Write sends p as one message of type typ: one frame, compressed when
// permessage-deflate was negotiated and p is not below its threshold. It
// does not keep p and never blocks: the frame is written to the socket at
// once if the socket takes it, and what it does not take is copied to the
// connection's queue. A write that would take a non-empty queue beyond
// EngineOptions.WriteQueueLimit returns [ErrWriteQueueFull], queues
// nothing, and closes the connection with 1008. Once a close frame has
// gone out or the connection has ended, Write returns an error wrapping
// net.ErrClosed; after a failed socket write, an error wrapping the
// network's.
func (c *EngineConn) Write(typ MessageType, p []byte) error {
	if !typ.valid() {
		return ErrBadMessageType
	}
	if d := c.deflate; d != nil && len(p) >= d.threshold {
		return c.writeCompressed(opcode(typ), p)
	}
	var hb [maxHeaderSize]byte
	hdr := appendHeader(hb[:0], header{fin: true, op: opcode(typ), length: int64(len(p))})
	c.mu.Lock()
	err := c.sendLocked(opcode(typ), hdr, p)
	c.mu.Unlock()
	return err
}

// WritePrepared sends pm as one message, as Write would send its data,
// from the frame pm keeps for the connection's compression settings:
// nothing is compressed or framed per connection.
func (c *EngineConn) WritePrepared(pm *PreparedMessage) error {
	frame := pm.frame(c.deflate)
	c.mu.Lock()
	err := c.sendLocked(opcode(pm.typ), nil, frame)
	c.mu.Unlock()
	return err
}

// Buffered returns the number of bytes written to the connection that the
// socket has not taken yet. An application that would rather skip
// messages to a slow peer than have it closed can check it before a
// write.
func (c *EngineConn) Buffered() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pendingLocked()
}

// writeCompressed sends p as one compressed message in one frame (RFC
// 7692, Section 7.2.1).
func (c *EngineConn) writeCompressed(op opcode, p []byte) error {
	d := c.deflate
	z := deflateScratchPool.Get().(*byteSink)
	z.b = z.b[:0]
	deflateMessage(z, p, d.level, d.sendWindowBits)
	var hb [maxHeaderSize]byte
	hdr := appendHeader(hb[:0], header{fin: true, rsv: rsv1, op: op, length: int64(len(z.b))})
	c.mu.Lock()
	err := c.sendLocked(op, hdr, z.b)
	c.mu.Unlock()
	if cap(z.b) <= maxPooledAssembly {
		deflateScratchPool.Put(z)
	}
	return err
}

var deflateScratchPool = sync.Pool{New: func() any { return new(byteSink) }}

// sendControl sends a control frame; the loop uses it for pongs and
// pings.
func (c *EngineConn) sendControl(op opcode, payload []byte) error {
	var hb [maxHeaderSize]byte
	hdr := appendHeader(hb[:0], header{fin: true, op: op, length: int64(len(payload))})
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sendLocked(op, hdr, payload)
}

// writeCloseLocked sends a close frame with code and reason, unless one
// was sent already (then it returns net.ErrClosed).
func (c *EngineConn) writeCloseLocked(code StatusCode, reason string) error {
	var pb [maxControlPayload]byte
	payload := appendClosePayload(pb[:0], code, reason)
	var hb [maxHeaderSize]byte
	hdr := appendHeader(hb[:0], header{fin: true, op: opClose, length: int64(len(payload))})
	return c.sendLocked(opClose, hdr, payload)
}

// sendLocked is the one write path: every frame (a message, a prepared
// one, a ping, a pong, a close) goes out through it, with its header hdr
// already encoded and its payload p (or the whole frame in p, hdr empty).
// The caller holds mu.
func (c *EngineConn) sendLocked(op opcode, hdr, p []byte) error {
	switch {
	case c.werr != nil:
		return c.werr
	case c.dead:
		return net.ErrClosed
	}
	if err := c.snd.check(op); err != nil {
		return err
	}
	// The limit bounds what piles up for a slow peer, not the size of a
	// message: a frame into an empty queue is always taken. Beyond the
	// limit a few control frames still are, so that the pings of a peer
	// that reads are answered, in order, behind a large message, while a
	// flood of them from one that does not ends in 1008 like any write.
	pending := c.pendingLocked()
	if pending == 0 {
		c.overLimit = 0
	}
	if op != opClose && pending > 0 && pending+len(hdr)+len(p) > c.l.e.opts.WriteQueueLimit {
		size := len(hdr) + len(p)
		if !op.isControl() || c.overLimit+size > maxControlOverLimit {
			c.overflowLocked()
			return ErrWriteQueueFull
		}
		c.overLimit += size
	}
	c.snd.sent(op, true)
	switch {
	case c.corked:
		l := c.l
		l.cork = append(append(l.cork, hdr...), p...)
	case c.out != nil || c.nc != nil || c.flusher:
		c.queueLocked(hdr, p)
	default:
		c.writeNowLocked(hdr, p)
	}
	return nil
}

// maxControlOverLimit is how many bytes of control frames a queue takes
// beyond WriteQueueLimit, counted since a write last found it empty: 500
// of the largest pongs, or thousands of the usual small ones.
const maxControlOverLimit = 64 << 10

// pendingLocked is what the connection has written that the socket has
// not taken.
func (c *EngineConn) pendingLocked() int {
	n := 0
	if c.out != nil {
		n = len(c.out.b) - c.out.pos
	}
	n += c.inflight
	if c.corked {
		n += len(c.l.cork)
	}
	return n
}

// overflowLocked closes a connection whose peer does not take what is
// written to it: a close frame with 1008 goes behind the queue, and the
// loop waits for the peer's close for the close timeout at most.
func (c *EngineConn) overflowLocked() {
	if c.snd.closed {
		return
	}
	c.writeCloseLocked(StatusPolicyViolation, "write queue limit exceeded")
	c.l.post(func() {
		if c.why == nil {
			c.why = ErrWriteQueueFull
		}
		if c.state < stateFlushing {
			c.state = stateDraining
			c.l.arm(c, timerClose)
		}
	})
}

// writeNowLocked writes a frame to a socket with nothing queued; what the
// socket does not take is queued.
func (c *EngineConn) writeNowLocked(hdr, p []byte) {
	if len(hdr) == 0 {
		n := c.writeSocketLocked(p)
		if n < len(p) {
			c.queueLocked(nil, p[n:])
		}
		return
	}
	o := getOut(len(hdr) + len(p))
	o.b = append(append(o.b, hdr...), p...)
	n := c.writeSocketLocked(o.b)
	if n == len(o.b) {
		putOut(o)
		return
	}
	o.pos = n
	c.out = o
	c.armOutLocked()
}

// queueLocked appends a frame to the queue and makes sure it will be
// flushed.
func (c *EngineConn) queueLocked(hdr, p []byte) {
	if c.out == nil {
		c.out = getOut(len(hdr) + len(p))
	}
	c.out.b = append(append(c.out.b, hdr...), p...)
	if c.nc != nil {
		if !c.flusher {
			c.flusher = true
			go c.flushConn()
		}
		return
	}
	c.armOutLocked()
}

// armOutLocked asks the poller to report when the socket is writable.
func (c *EngineConn) armOutLocked() {
	if c.wantOut {
		return
	}
	c.wantOut = true
	if c.registered {
		c.l.p.watch(c.fd, true)
	}
}

// writeSocketLocked writes b to the socket without waiting and returns
// how much it took. A failure loses the connection: the rest is dropped
// and the loop is told.
func (c *EngineConn) writeSocketLocked(b []byte) int {
	n, err := writeSocket(c.fd, b)
	if err != nil {
		c.lostWriteLocked(err)
		return len(b)
	}
	return n
}

func (c *EngineConn) lostWriteLocked(err error) {
	if c.werr != nil || c.dead {
		return
	}
	c.werr = &netError{op: "write", err: err}
	c.releaseOut()
	werr := c.werr
	c.l.post(func() { c.lost(werr) })
}

// uncork ends the loop's handling of the connection's input: what the
// callbacks wrote leaves in one write, behind anything queued before.
func (c *EngineConn) uncork() {
	l := c.l
	c.mu.Lock()
	c.corked = false
	if len(l.cork) > 0 && !c.dead && c.werr == nil {
		if c.out != nil || c.nc != nil || c.flusher {
			c.queueLocked(nil, l.cork)
		} else if n := c.writeSocketLocked(l.cork); n < len(l.cork) {
			c.queueLocked(nil, l.cork[n:])
		}
	}
	empty := c.out == nil && !c.flusher
	c.mu.Unlock()
	l.cork = l.cork[:0]
	if cap(l.cork) > maxCork {
		l.cork = nil
	}
	if empty {
		c.drained()
	}
}

// maxCork is the largest cork buffer a loop keeps between connections.
const maxCork = 1 << 20

// writable flushes the queue when the poller reports the socket writable.
func (c *EngineConn) writable() {
	c.mu.Lock()
	if o := c.out; o != nil && !c.dead {
		o.pos += c.writeSocketLocked(o.b[o.pos:])
		if c.out != nil && o.pos == len(o.b) {
			c.releaseOut()
		}
	}
	empty := c.out == nil
	if empty && c.wantOut && !c.dead {
		c.wantOut = false
		c.l.p.watch(c.fd, false)
	}
	c.mu.Unlock()
	if empty {
		c.drained()
	}
}

// drained is told, on the loop, that nothing is queued any more: the
// moment a closing connection waited for. It looks again, since a flusher
// goroutine's word may be stale by the time the loop reads it.
func (c *EngineConn) drained() {
	if c.state != stateFlushing && c.state != stateDraining {
		return
	}
	c.mu.Lock()
	empty := c.out == nil && !c.flusher
	c.mu.Unlock()
	if !empty {
		return
	}
	switch c.state {
	case stateFlushing:
		// RFC 6455, Section 7.1.1: after the closing handshake "the
		// server MUST close the underlying TCP connection immediately".
		c.finish()
	case stateDraining:
		// A failed connection: closing now, with the peer's bytes unread,
		// would make the kernel reset it and could destroy the close
		// frame before the peer reads it. Half-close and drop what comes
		// until the peer closes too (Conn.shutdown does the same).
		if !c.wclosed {
			c.wclosed = true
			c.mu.Lock()
			if !c.dead {
				if c.fd >= 0 {
					shutdownWrite(c.fd)
				} else if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
					cw.CloseWrite()
				}
			}
			c.mu.Unlock()
		}
	}
}

// flushConn is the goroutine that writes the queue of a connection the
// loop cannot poll; it lives while there is something to write.
func (c *EngineConn) flushConn() {
	for {
		c.mu.Lock()
		o := c.out
		if o == nil || c.dead || c.werr != nil {
			c.flusher = false
			dead := c.dead
			c.mu.Unlock()
			if !dead {
				c.l.post(c.drained)
			}
			return
		}
		// While o is written it counts against the limit as inflight.
		c.inflight = len(o.b) - o.pos
		c.out = nil
		c.mu.Unlock()
		_, err := c.nc.Write(o.b[o.pos:])
		c.mu.Lock()
		c.inflight = 0
		c.mu.Unlock()
		putOut(o)
		if err != nil {
			c.mu.Lock()
			c.lostWriteLocked(err)
			c.flusher = false
			c.mu.Unlock()
			return
		}
	}
}

// releaseOut gives the queue back; the caller holds mu.
func (c *EngineConn) releaseOut() {
	if c.out != nil {
		putOut(c.out)
		c.out = nil
	}
}

// outBuf is a queue of frames: what is written to the socket from pos on.
type outBuf struct {
	b   []byte
	pos int
}

// outSizes are the capacities of the pooled queue buffers.
var outSizes = [...]int{4 << 10, 64 << 10, 1 << 20}

var outPools [len(outSizes)]sync.Pool

func getOut(n int) *outBuf {
	for i, size := range outSizes {
		if n <= size {
			if o, ok := outPools[i].Get().(*outBuf); ok {
				return o
			}
			return &outBuf{b: make([]byte, 0, size)}
		}
	}
	return &outBuf{b: make([]byte, 0, n)}
}

func putOut(o *outBuf) {
	c := cap(o.b)
	for i := len(outSizes) - 1; i >= 0; i-- {
		if c >= outSizes[i] {
			if c <= 2*outSizes[i] {
				o.b, o.pos = o.b[:0], 0
				outPools[i].Put(o)
			}
			return
		}
	}
}
