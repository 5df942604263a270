//go:build !js

package websocket

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"
)

// This file is the read side of the I/O shell: the one entry every read
// takes (beginRead, endRead), the loops that feed the receiver of
// protocol.go from the read buffer, and the three ways to read a message.
// What a received byte means is decided by the receiver; this file only
// moves bytes and decides what a failure leaves.

// Reader waits for the next data message and returns its type and a reader
// of its payload. The reader returns io.EOF at the end of the message; it is
// valid until the next call to Reader, Read or ReadAppend, after which it
// returns an error. If the previous message was being read through a Reader
// and was not read to its end, the rest of it is discarded first.
//
// ctx bounds the wait for the message and every read of it. If ctx ends,
// the call (or the reader's Read) returns ctx.Err() and the Conn stays
// usable: no partial frame is ever consumed. Once the peer has closed the
// connection, Reader returns a [CloseError]; when this endpoint failed the
// connection, a [*ProtocolError]; after that every call returns the same
// error.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	stop, err := c.beginRead(ctx, nil)
	if err != nil {
		return 0, nil, err
	}
	defer c.endRead(stop)
	if err := c.waitIdle(); err != nil {
		return 0, nil, err
	}
	if err := c.openMessage(ownerStream); err != nil {
		return 0, nil, err
	}
	return c.recv.typ, &messageReader{c: c, ctx: ctx, gen: c.readGen}, nil
}

// Read waits for the next data message and returns it whole. The returned
// slice is newly allocated, exactly the message's size, and belongs to the
// caller. A loop that reads many or large messages does better with
// [Conn.ReadAppend], which reuses a buffer: a fresh 64 KiB slice per
// message costs more than reading it.
//
// ctx bounds the call. If ctx ends, Read returns ctx.Err() and the Conn
// stays usable; if the message had begun to arrive, the Conn keeps what
// came and the next Read or ReadAppend resumes it, so no message is ever
// lost. See [Conn.Reader] for the errors that end the connection.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	typ, b, err := c.readWhole(ctx, nil)
	if err != nil {
		return 0, nil, err
	}
	return typ, b, nil
}

// ReadAppend is Read into a buffer of the caller's: it waits for the next
// data message and appends it whole to dst, returning the extended slice
// (dst itself on error). Nothing is allocated when the message fits in
// dst's capacity, so a loop that passes the last result back, cut to zero
// length, reads without allocating once its buffer has grown to the
// largest message:
//
//	var buf []byte
//	for {
//		typ, msg, err := c.ReadAppend(ctx, buf[:0])
//		if err != nil {
//			return err
//		}
//		handle(typ, msg) // msg is overwritten by the next ReadAppend
//		buf = msg
//	}
//
// ctx bounds the call as for [Conn.Read], and an interrupted message is
// resumed by the next call in the same way.
func (c *Conn) ReadAppend(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	return c.readWhole(ctx, dst)
}

// beginRead is the one way into the read side: Read, ReadAppend, Reader,
// the reader Reader returns, and Close's wait for the peer's close frame
// all pass through it and endRead. It takes the read lock, unless ctx ends
// (or stop closes) first, returns the sticky error of a finished read side,
// refuses a context that has already ended before touching the socket, and
// makes ctx bound the socket reads to come. endRead undoes all of it, so no
// callback registered for ctx outlives the call. Neither is inlined: their
// frames then stay off the stack of a read that waits, which must fit in a
// goroutine's first 2 KiB (TestIdleStackAfterEcho).
//
//go:noinline
func (c *Conn) beginRead(ctx context.Context, stop <-chan struct{}) (func() bool, error) {
	done := ctx.Done()
	if !c.readMu.lockUnless(done, stop) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, errReadEnded
	}
	if c.readErr == nil && c.closed.isSet() {
		// Closed by CloseNow, the keepalive or a failed write: what is
		// still buffered is not delivered.
		c.readFatal(c.closeErr)
	}
	if c.readErr != nil {
		c.readMu.unlock()
		return nil, c.readErr
	}
	if done != nil {
		if err := ctx.Err(); err != nil {
			c.readMu.unlock()
			return nil, err
		}
	}
	c.rctx = ctx
	return c.readDeadline.arm(ctx, done, c.nc), nil
}

//go:noinline
func (c *Conn) endRead(stop func() bool) {
	c.readDeadline.disarm(stop, c.nc)
	c.rctx = nil
	c.readMu.unlock()
}

// errReadEnded is what beginRead returns when its stop channel closed
// first; only Close passes one, and it does not return the error.
var errReadEnded = errors.New("websocket: read side ended while waiting")

// assemblePool holds the buffers in which Read assembles a message whose
// size the first frame does not tell (fragmented or compressed), so that
// the caller's copy is one allocation of the exact size rather than a
// chain of doublings. At 16 KiB compressed that was 6 allocations and
// 2.4 times the bytes. It also holds what an interrupted read keeps.
var assemblePool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledAssembly caps the buffers assemblePool keeps.
const maxPooledAssembly = 1 << 20

func (c *Conn) readWhole(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	stop, err := c.beginRead(ctx, nil)
	if err != nil {
		return 0, dst, err
	}
	defer c.endRead(stop)
	if err := c.waitIdle(); err != nil {
		return 0, dst, err
	}
	return c.readWholeLocked(dst)
}

// readWholeLocked is readWhole's work, in a function of its own so that
// the frame a connection parks in while idle stays small.
func (c *Conn) readWholeLocked(dst []byte) (MessageType, []byte, error) {
	if err := c.openMessage(ownerWhole); err != nil {
		return 0, dst, err
	}
	if c.held != nil {
		return c.readHeld(dst)
	}
	// Size the room from the first frame, within the limit: a message in
	// one uncompressed frame needs at most one allocation of exactly its
	// size. Trust a declared length only so far: a 14-byte header must not
	// cost a full read limit of memory before the bytes arrive.
	r := &c.recv
	n := r.remaining
	if r.limit >= 0 {
		n = min(n, r.limit)
	}
	n = min(n, maxPresize)
	if !r.fin || r.compressed {
		if dst == nil {
			return c.readAssembled()
		}
		n = max(n, 512)
	}
	b := dst
	if int64(cap(b)-len(b)) < n {
		b = slices.Grow(b, int(n))
	}
	b, err := c.appendContent(b)
	if err != nil {
		c.keepInterrupted(b[len(dst):], nil)
		return 0, dst, err
	}
	return r.typ, b, nil
}

// readAssembled reads the open message into a pooled buffer and returns an
// exact-size copy: Read's path for messages of unknown size.
func (c *Conn) readAssembled() (MessageType, []byte, error) {
	bp := assemblePool.Get().(*[]byte)
	b := (*bp)[:0]
	if cap(b) < 4096 {
		b = make([]byte, 0, 4096)
	}
	b, err := c.appendContent(b)
	if err != nil {
		*bp = b
		c.keepInterrupted(b, bp)
		return 0, nil, err
	}
	out := make([]byte, len(b))
	copy(out, b)
	putAssembly(bp, b)
	return c.recv.typ, out, nil
}

// readHeld resumes a message an interrupted Read or ReadAppend kept.
func (c *Conn) readHeld(dst []byte) (MessageType, []byte, error) {
	b, err := c.appendContent(*c.held)
	if err != nil {
		if c.held != nil { // not dropped by the end of the read side
			*c.held = b
		}
		return 0, dst, err
	}
	var out []byte
	if dst == nil {
		out = make([]byte, len(b))
		copy(out, b)
	} else {
		out = append(dst, b...)
	}
	c.dropHeld()
	return c.recv.typ, out, nil
}

// keepInterrupted keeps the part b of the open message that a read
// returned without, when the read was interrupted by its context and the
// message can be resumed; bp is b's pooled buffer, if it is one. Anything
// else that ends a read either completed the message or ended the read
// side, and the bytes are dropped.
func (c *Conn) keepInterrupted(b []byte, bp *[]byte) {
	if c.readErr != nil || !c.recv.open {
		if bp != nil {
			putAssembly(bp, b)
		}
		return
	}
	if bp == nil && len(b) > 0 {
		bp = assemblePool.Get().(*[]byte)
		*bp = append((*bp)[:0], b...)
	}
	c.held = bp
}

func (c *Conn) dropHeld() {
	if c.held != nil {
		putAssembly(c.held, *c.held)
		c.held = nil
	}
}

func putAssembly(bp *[]byte, b []byte) {
	if cap(b) <= maxPooledAssembly {
		*bp = b[:0]
		assemblePool.Put(bp)
	}
}

// appendContent reads the rest of the open message into b's spare
// capacity, growing b as needed, and returns it extended.
func (c *Conn) appendContent(b []byte) ([]byte, error) {
	for {
		n, done, err := c.readContent(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil || done {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// openMessage makes sure a data message is open for owner. A message an
// interrupted Read or ReadAppend left is resumed, by the same kind of call
// or by a Reader; one a Reader left unfinished is discarded. Otherwise it
// reads frames up to the first frame of the next data message.
func (c *Conn) openMessage(owner msgOwner) error {
	if c.recv.open {
		if c.owner == ownerWhole {
			c.owner = owner
			c.readGen++
			return nil
		}
		if err := c.discardMessage(); err != nil {
			return err
		}
	}
	if err := c.advance(); err != nil {
		return err
	}
	c.owner = owner
	c.readGen++
	return nil
}

// discardMessage reads the open message to its end and drops it.
func (c *Conn) discardMessage() error {
	c.dropHeld()
	d := getDiscard()
	defer putDiscard(d)
	for {
		_, done, err := c.readContent(d[:])
		if err != nil || done {
			return err
		}
	}
}

// readContent reads content of the open message into p. It returns at
// least one byte unless the message ends (done) or p is empty.
func (c *Conn) readContent(p []byte) (n int, done bool, err error) {
	r := &c.recv
	for {
		if r.contentDone() {
			n, done, err := r.finish(p)
			if err != nil {
				return 0, false, c.fail(err)
			}
			if done {
				c.owner = ownerNone
			}
			return n, done, nil
		}
		if r.atFrameBoundary() {
			if err := c.advance(); err != nil {
				return 0, false, err
			}
			continue
		}
		if len(p) == 0 {
			return 0, false, nil
		}
		if c.rpos == c.rend {
			if r.compressed {
				// Output the inflater still holds needs no input.
				n, _, err := r.content(p, nil)
				if err != nil {
					return 0, false, c.fail(err)
				}
				if n > 0 {
					return n, false, nil
				}
			} else if len(p) >= c.rsize {
				return c.readDirect(p)
			}
			if err := c.fill(); err != nil {
				return 0, false, err
			}
		}
		n, used, err := r.content(p, c.rbuf[c.rpos:c.rend])
		c.rpos += used
		if err != nil {
			return 0, false, c.fail(err)
		}
		if n > 0 {
			return c.delivered(n)
		}
	}
}

// delivered returns n bytes just read, ending an uncompressed message
// whose last byte they hold at once, so that a caller whose buffer they
// fill exactly need not grow it to learn that the message is over.
func (c *Conn) delivered(n int) (int, bool, error) {
	r := &c.recv
	if !r.contentDone() || r.compressed {
		return n, false, nil
	}
	_, done, err := r.finish(nil)
	if err != nil {
		return 0, false, c.fail(err)
	}
	if done {
		c.owner = ownerNone
	}
	return n, done, nil
}

// readDirect reads payload of an uncompressed frame from the connection
// straight into p, which is at least a read buffer long: large messages
// then cost no copy.
func (c *Conn) readDirect(p []byte) (int, bool, error) {
	r := &c.recv
	if int64(len(p)) > r.remaining {
		p = p[:r.remaining]
	}
	n, err := c.netRead(p)
	if n == 0 {
		return 0, false, err
	}
	n, _, perr := r.content(p[:n], p[:n])
	if perr != nil {
		return 0, false, c.fail(perr)
	}
	return c.delivered(n)
}

// advance reads frames until the header of a data frame, handling control
// frames on the way. It is called at a frame boundary. Nothing of a frame
// is consumed before the receiver has all it needs of it, which is what
// makes a read interrupted by its context safe to resume.
func (c *Conn) advance() error {
	var ev frameEvent
	for {
		err := c.recv.next(c.rbuf[c.rpos:c.rend], c.readLimit.Load(), &ev)
		switch {
		case err != nil:
			return c.fail(err)
		case ev.kind == frameIncomplete:
			err = c.fill()
		case ev.kind == frameData:
			c.rpos += ev.n
			return nil
		default:
			c.rpos += ev.n
			err = c.control(&ev)
		}
		if err != nil {
			return err
		}
	}
}

// control acts on a received control frame (RFC 6455, Section 5.5).
func (c *Conn) control(ev *frameEvent) error {
	switch ev.kind {
	case framePing:
		// Section 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST
		// send a Pong frame in response". The reader never writes: the
		// pong is queued and sent by the next frame write or by a
		// goroutine of its own (see pongQueue), so that a peer that stops
		// reading cannot block the reader.
		c.queuePong(ev.payload)
		c.pingReceived(ev.payload)
	case framePong:
		c.pongReceived(ev.payload)
	case frameClose:
		// Section 5.5.1: "If an endpoint receives a Close frame and did
		// not previously send a Close frame, the endpoint MUST send a
		// Close frame in response", typically echoing the status code.
		if c.sendClose(ev.close.Code, "") == nil {
			c.peerClosed.Store(true)
		}
		err := c.readFatal(ev.close)
		c.shutdown(true)
		return err
	}
	return nil
}

// waitIdle waits for bytes when nothing is buffered and no message is
// open, which is where an idle connection spends its time. Waiting here
// rather than deeper in the frame parser keeps the parked goroutine's
// stack shallow, so that the garbage collector can shrink it.
func (c *Conn) waitIdle() error {
	if c.rpos != c.rend || c.recv.open {
		return nil
	}
	// Taken here, high on the stack, rather than in the frames below: when
	// the pool is empty the allocation's own frames are deep. A raw reader
	// gives it back if the socket has nothing yet.
	if w, ok := c.nc.(readWaiter); ok {
		if err := c.waitReadable(w); err != nil {
			return err
		}
	}
	c.takeReadBuf()
	return c.fill()
}

// readWaiter is a connection that can wait for data without a buffer: an
// HTTP/2 server stream (internal/h2.ServerStream.WaitRead), which reads
// net/http's request body on a goroutine of its own.
type readWaiter interface {
	WaitRead() error
}

// waitReadable waits on w with no read buffer held, as the raw reader
// does on a TCP socket.
func (c *Conn) waitReadable(w readWaiter) error {
	c.dropReadBuf()
	k := c.keepAlive
	if k != nil {
		k.waiting(true)
	}
	err := w.WaitRead()
	if k != nil {
		k.waiting(false)
	}
	if err != nil {
		return c.readFailed(err)
	}
	return nil
}

// fill reads more bytes into the read buffer, keeping the unread ones.
func (c *Conn) fill() error {
	if c.rpos == c.rend {
		c.rpos, c.rend = 0, 0
		if c.raw != nil {
			return c.fillRaw()
		}
	} else if c.rpos > 0 && len(c.rbuf)-c.rpos < minReadBufferSize {
		c.rend = copy(c.rbuf, c.rbuf[c.rpos:c.rend])
		c.rpos = 0
	}
	c.takeReadBuf()
	for {
		n, err := c.netRead(c.rbuf[c.rend:])
		c.rend += n
		if n > 0 || err != nil {
			return err
		}
	}
}

// netRead reads from the connection, turning a failure into what a read
// returns (see readFailed).
func (c *Conn) netRead(p []byte) (int, error) {
	k := c.keepAlive
	if k != nil {
		k.waiting(true)
	}
	n, err := c.nc.Read(p)
	if k != nil {
		k.waiting(false)
	}
	if n > 0 {
		c.received.Add(1)
		return n, nil
	}
	if err == nil {
		return 0, nil
	}
	return 0, c.readFailed(err)
}

// readFailed turns an error from the network into what a read returns. An
// error caused by the read's context leaves the Conn usable, because the
// reader never consumes part of a frame it cannot finish; anything else
// ends the read side.
func (c *Conn) readFailed(err error) error {
	if ctxErr := ctxCause(c.rctx, err); ctxErr != nil {
		return ctxErr
	}
	if c.isClosed() {
		return c.readFatal(c.closeErr)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	// The connection is lost (RFC 6455, Section 7.1.5: 1006): the Conn
	// is over for everyone, not only for the reader.
	ne := &netError{op: "read", err: err}
	err = c.readFatal(ne)
	c.terminate(ne)
	return err
}

// readFatal ends the read side with err, which every later read returns.
func (c *Conn) readFatal(err error) error {
	c.readDone.fire(func() {
		c.readErr = err
		c.dropHeld()
		c.recv.release()
	})
	return c.readErr
}

// fail fails the connection (RFC 6455, Section 7.1.7): it sends a close
// frame with the violation's code, then closes the TCP connection. It
// returns the read side's sticky error, which is the violation unless the
// read side had already ended (then nothing more is sent).
func (c *Conn) fail(err error) error {
	if c.readDone.isSet() {
		return c.readErr
	}
	perr := err.(*ProtocolError)
	c.sendClose(perr.Code, perr.Reason)
	err = c.readFatal(perr)
	c.shutdown(false)
	return err
}

// messageReader is the io.Reader that Reader returns, one per message.
type messageReader struct {
	c   *Conn
	ctx context.Context
	gen uint32 // c.readGen of its message
}

var errStaleReader = errors.New("websocket: read from a message reader after the next message was asked for")

func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	stop, err := c.beginRead(r.ctx, nil)
	if err != nil {
		return 0, err
	}
	defer c.endRead(stop)
	if c.readGen != r.gen {
		return 0, errStaleReader
	}
	if c.owner != ownerStream {
		return 0, io.EOF
	}
	if c.held != nil {
		// The message began under a Read that was interrupted.
		n := copy(p, *c.held)
		*c.held = (*c.held)[n:]
		if len(*c.held) == 0 {
			c.dropHeld()
		}
		return n, nil
	}
	n, done, err := c.readContent(p)
	if done {
		return n, io.EOF
	}
	return n, err
}
