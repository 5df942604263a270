//go:build js

package websocket

import (
	"context"
	"errors"
	"io"
	"slices"
	"syscall/js"
)

// This file is read.go for the js build: the queue that the browser's
// message events fill and the three ways to read a message from it. A
// message arrives whole, so a read either takes a whole message from the
// queue or takes nothing: a read whose context ends never loses one.

// Reader waits for the next data message and returns its type and a reader
// of its payload. The reader returns io.EOF at the end of the message; it is
// valid until the next call to Reader, Read or ReadAppend, after which it
// returns an error. If the previous message was being read through a Reader
// and was not read to its end, the rest of it is discarded first.
//
// ctx bounds the wait for the message and every read of it. If ctx ends,
// the call (or the reader's Read) returns ctx.Err() and the Conn stays
// usable: the message stays queued for the next read. Once the peer has
// closed the connection and the messages that came before its close have
// been read, Reader returns a [CloseError]; after a failure, the error
// that ended the connection; after that every call returns the same
// error.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	if err := c.lockRead(ctx); err != nil {
		return 0, nil, err
	}
	defer c.readMu.unlock()
	m, err := c.next(ctx)
	if err != nil {
		return 0, nil, err
	}
	c.cur, c.curOpen, c.curPos = m, true, 0
	return m.typ, &messageReader{c: c, ctx: ctx, gen: c.readGen}, nil
}

// Read waits for the next data message and returns it whole. The returned
// slice is newly allocated, exactly the message's size, and belongs to the
// caller; the bytes are copied once, from the browser's ArrayBuffer. A loop
// that reads many or large messages does better with [Conn.ReadAppend],
// which reuses a buffer.
//
// ctx bounds the call. If ctx ends, Read returns ctx.Err() and the Conn
// stays usable; the message it waited for stays queued for the next read.
//
// The browser delivers messages as they arrive, whether or not a goroutine
// reads, and cannot be told to wait. The Conn queues them until they are
// read, up to the read limit in bytes (the default is 1 MiB; see
// [Conn.SetReadLimit]) and 4096 messages. A message that goes past either
// bound, or is by itself larger than the read limit, fails the connection:
// the browser sends close code 4009 with the reason of the error, and once
// the messages queued before it have been read, reads return
// [ErrMessageTooBig] (for a message over the limit) or a [*ProtocolError]
// whose reason says that unread messages exceeded it. A goroutine that
// reads in a loop, and waits on nothing else between reads, never meets
// the queue bound: the browser hands the next event to Go only once the
// goroutines the last one woke are all waiting again.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	return c.readWhole(ctx, nil)
}

// ReadAppend is Read into a buffer of the caller's: it waits for the next
// data message and appends it whole to dst, returning the extended slice
// (dst itself on error). Nothing is allocated when the message fits in
// dst's capacity: the bytes are copied once, straight from the browser's
// ArrayBuffer into dst.
//
// ctx bounds the call as for [Conn.Read].
func (c *Conn) ReadAppend(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	return c.readWhole(ctx, dst)
}

func (c *Conn) readWhole(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	if err := c.lockRead(ctx); err != nil {
		return 0, dst, err
	}
	defer c.readMu.unlock()
	m, err := c.next(ctx)
	if err != nil {
		return 0, dst, err
	}
	var b []byte
	if dst == nil {
		b = make([]byte, m.n)
	} else {
		b = slices.Grow(dst, m.n)[:len(dst)+m.n]
	}
	if m.n > 0 {
		js.CopyBytesToGo(b[len(dst):], m.data)
	}
	return m.typ, b, nil
}

// lockRead takes the read lock, bounded by ctx, and refuses a context that
// has ended already, so that such a read never takes a message.
func (c *Conn) lockRead(ctx context.Context) error {
	if err := c.readMu.lock(ctx); err != nil {
		return err
	}
	if ctx.Done() != nil {
		if err := ctx.Err(); err != nil {
			c.readMu.unlock()
			return err
		}
	}
	return nil
}

// next discards what is left of a message a Reader was reading and takes
// the next message from the queue, waiting for one unless the read side has
// ended. The caller holds readMu.
func (c *Conn) next(ctx context.Context) (inMessage, error) {
	c.readGen++
	c.cur, c.curOpen = inMessage{}, false
	done := ctx.Done()
	for {
		c.mu.Lock()
		if c.qhead < len(c.queue) {
			m := c.pop()
			c.mu.Unlock()
			return m, nil
		}
		err := c.readErr
		c.mu.Unlock()
		if err != nil {
			return inMessage{}, err
		}
		select {
		case <-c.arrived:
		case <-done:
			return inMessage{}, ctx.Err()
		}
	}
}

// pop takes the oldest message of the queue; the caller holds mu.
func (c *Conn) pop() inMessage {
	m := c.queue[c.qhead]
	c.queue[c.qhead] = inMessage{}
	c.qhead++
	c.queued -= int64(m.n)
	switch {
	case c.qhead == len(c.queue):
		c.queue, c.qhead = c.queue[:0], 0
	case c.qhead >= 64 && 2*c.qhead >= len(c.queue):
		n := copy(c.queue, c.queue[c.qhead:])
		clear(c.queue[n:])
		c.queue, c.qhead = c.queue[:n], 0
	}
	return m
}

// notify wakes the reader, if one waits.
func (c *Conn) notify() {
	select {
	case c.arrived <- struct{}{}:
	default:
	}
}

// onMessage is the message event handler: it queues the message, or fails
// the connection if the message goes past the read limit or the queue's
// bounds. Text arrives as a JavaScript string and is encoded to UTF-8 once,
// by the browser's TextEncoder; binary arrives as an ArrayBuffer (the
// binaryType is "arraybuffer") and is only wrapped in a Uint8Array view.
// The bytes stay in the JavaScript heap until a read copies them.
func (c *Conn) onMessage(ev js.Value) {
	data := ev.Get("data")
	var m inMessage
	if data.Type() == js.TypeString {
		m.typ = MessageText
		m.data = jsTextEncoder.Call("encode", data)
	} else {
		m.typ = MessageBinary
		m.data = jsUint8Array.New(data)
	}
	m.n = m.data.Length()
	c.mu.Lock()
	if c.dropping || c.readErr != nil {
		c.mu.Unlock()
		return
	}
	limit := c.readLimit.Load()
	var fail *ProtocolError
	switch {
	case limit >= 0 && int64(m.n) > limit:
		fail = errTooBig
	case len(c.queue)-c.qhead >= maxQueued || limit >= 0 && c.queued+int64(m.n) > limit:
		fail = errQueueFull
	default:
		c.queue = append(c.queue, m)
		c.queued += int64(m.n)
	}
	c.mu.Unlock()
	if fail != nil {
		c.fail(fail)
		return
	}
	c.notify()
}

// endRead ends the read side with err, unless it has ended already: once
// the queue is empty, reads return err.
func (c *Conn) endRead(err error) {
	c.mu.Lock()
	if c.readErr == nil {
		c.readErr = err
	}
	c.mu.Unlock()
	c.notify()
}

// dropQueue drops the queued messages and every message still to arrive:
// Close and CloseNow do not deliver them. err, if not nil, ends the read
// side.
func (c *Conn) dropQueue(err error) {
	c.mu.Lock()
	c.dropping = true
	clear(c.queue)
	c.queue, c.qhead, c.queued = nil, 0, 0
	if c.readErr == nil {
		c.readErr = err
	}
	c.mu.Unlock()
	c.notify()
}

// droppedErr reports, once Close or CloseNow has been called, what a read
// of a message Reader had opened returns.
func (c *Conn) droppedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case !c.dropping:
		return nil
	case c.readErr != nil:
		return c.readErr
	}
	return errReadClosed
}

// messageReader is the io.Reader that Reader returns, one per message.
type messageReader struct {
	c   *Conn
	ctx context.Context
	gen uint32 // c.readGen of its message
}

func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	if err := c.lockRead(r.ctx); err != nil {
		return 0, err
	}
	defer c.readMu.unlock()
	if c.readGen != r.gen {
		return 0, errStaleReader
	}
	if err := c.droppedErr(); err != nil {
		return 0, err
	}
	if !c.curOpen {
		return 0, io.EOF
	}
	n := min(len(p), c.cur.n-c.curPos)
	switch {
	case n == 0 && c.curPos < c.cur.n:
		return 0, nil
	case n == c.cur.n:
		js.CopyBytesToGo(p, c.cur.data)
	case n > 0:
		js.CopyBytesToGo(p[:n], c.cur.data.Call("subarray", c.curPos, c.curPos+n))
	}
	c.curPos += n
	if c.curPos == c.cur.n {
		c.cur, c.curOpen = inMessage{}, false
		return n, io.EOF
	}
	return n, nil
}

var errStaleReader = errors.New("websocket: read from a message reader after the next message was asked for")
