//go:build !js

package websocket

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto/rand"
	"io"
	"sync"
	"sync/atomic"
)

// This file is the write side of the I/O shell: the one write path (send)
// that every frame takes, the three ways to write a message, and the pongs
// the Conn owes its peer. What may be sent when is decided by the sender of
// protocol.go; send asks it before every frame.

// Write sends p as one message of type typ: one frame or, when
// permessage-deflate was negotiated and p is not below its threshold,
// compressed into frames of up to 64 KiB. It waits for any message being
// streamed by a [Conn.Writer] to finish first. Write does not keep p: it
// returns once the frame is handed to the kernel. To send one message to
// many connections, see [Broadcast].
//
// ctx bounds the call. If ctx ends before the message starts (while Write
// waits for another writer, or before the call), Write returns ctx.Err(),
// sends nothing and the Conn stays usable. If it ends part-way through the
// frame, Write returns ctx.Err() too, and the Conn keeps the rest of the
// frame and sends it before any other frame: the message arrives whole,
// and the Conn stays usable. Only a message of several frames cut before
// its last (a compressed message over 64 KiB), or any cut write over TLS
// or an HTTP/2 server stream, closes the Conn. See the package doc for the
// whole contract.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	return c.write(ctx, typ, p, c.deflate != nil && len(p) >= c.comp.threshold)
}

// WriteUncompressed is Write without compression, whatever was
// negotiated: for data that is compressed already (images, archives) or
// that must not share a compressor with other messages.
func (c *Conn) WriteUncompressed(ctx context.Context, typ MessageType, p []byte) error {
	return c.write(ctx, typ, p, false)
}

// Compressed reports whether permessage-deflate (RFC 7692) was negotiated
// for the Conn.
func (c *Conn) Compressed() bool { return c.deflate != nil }

func (c *Conn) write(ctx context.Context, typ MessageType, p []byte, compress bool) error {
	if !typ.valid() {
		return ErrBadMessageType
	}
	if err := c.msgMu.lock(ctx); err != nil {
		return err
	}
	var err error
	if compress {
		err = c.writeCompressed(ctx, opcode(typ), p)
	} else {
		// One frame on the stack for both cases: this is the echo path,
		// which must stay within a goroutine's first stack (see transmit).
		var f outFrame // set field by field: a literal costs a second copy on the stack
		f.op, f.fin, f.p = opcode(typ), true, p
		if len(p) <= maxControlPayload {
			// A small frame fits in the control frame buffer, which
			// frameMu guards: no pooled buffer to take and give back.
			f.buf = c.ctrlBuf[:]
			err = c.send(ctx, &f)
		} else {
			c.takeWriteBuf()
			f.buf = c.wbuf
			err = c.send(ctx, &f)
			c.dropWriteBuf()
		}
	}
	c.msgMu.unlock()
	if compress {
		c.afterWrite()
	}
	return err
}

// outFrame is a frame for send. Its payload comes in one of three forms
// (kind): p, to be copied into the scratch buffer buf after the header (and
// masked there by a client, never in the caller's slice); n bytes already
// in buf[maxHeaderSize:], the header then going right-aligned before them
// so that the frame leaves in one system call; or p as a whole frame
// encoded beforehand (a PreparedMessage's, server side only).
type outFrame struct {
	op   opcode
	fin  bool
	rsv  byte
	kind frameKindOut
	n    int32  // payloadInPlace: bytes at buf[maxHeaderSize:]
	p    []byte // the payload (copied) or, for a wire frame, the frame itself
	buf  []byte
}

// frameKindOut is how an outFrame's payload is given.
type frameKindOut uint8

const (
	payloadCopied  frameKindOut = iota // p, copied into buf after the header
	payloadInPlace                     // n bytes already at buf[maxHeaderSize:]
	wholeFrame                         // p is the whole frame, sent as it is
)

// send is the one write path: every frame — a message, a fragment of a
// streamed one, a frame of a compressed one, a prepared one, a ping, a
// pong, a close — goes out through it, so its rules hold for all of them:
//
//   - frameMu is taken for the frame, bounded by ctx, and waiting for it
//     costs no goroutine;
//   - a context that has ended (before the call or while it waited) sends
//     nothing: the call returns ctx.Err() and the Conn is untouched;
//   - pongs the reader queued go out first, so a pong never waits behind
//     more than one frame;
//   - the sender decides whether the frame may go out now: nothing after a
//     close frame, a message's fragments in order;
//   - ctx bounds the socket write through the write deadline, which is
//     cleared again before send returns;
//   - the rest of a frame an earlier context cut short goes out before
//     anything else, and a frame cut short now is kept to be finished so
//     (writeFailed); only a message that can no longer be finished (a
//     frame of it cut or unsendable while more frames are to come) closes
//     the Conn, for every goroutine, and later calls say why.
func (c *Conn) send(ctx context.Context, f *outFrame) error {
	done := ctx.Done()
	if !c.frameMu.lockUnless(done, nil) {
		return c.unsent(f.op, ctx.Err())
	}
	var err error
	switch q := c.pongs.Load(); {
	case c.closed.isSet():
		err = c.closeErr
	case done != nil && ctx.Err() != nil:
		err = c.unsent(f.op, ctx.Err())
	case q != nil && q.queued.Load() > 0:
		err = c.flushPongs(ctx, q, false)
		if err == nil {
			err = c.transmit(ctx, done, f)
		}
	default:
		err = c.transmit(ctx, done, f)
	}
	c.frameMu.unlock()
	return err
}

// transmit writes f; the caller holds frameMu, and done is ctx.Done(). It
// is one function, with every rare path (a frame to finish, a large frame,
// a failure) out of line, so that a goroutine echoing small messages stays
// within its first 2 KiB of stack (TestIdleStackAfterEcho): the standard
// library's write path below it takes half of that.
func (c *Conn) transmit(ctx context.Context, done <-chan struct{}, f *outFrame) error {
	// One err for the whole function: each variable scoped to an if of its
	// own would take a stack slot of its own.
	err := c.snd.check(f.op)
	if err != nil {
		return err
	}
	stop := c.writeDeadline.arm(ctx, done, c.nc)
	if len(c.rest) > 0 {
		if err = c.finishRest(ctx); err != nil {
			c.writeDeadline.disarm(stop, c.nc)
			return c.unsent(f.op, err)
		}
	}
	frame := f.p
	switch {
	case f.kind == payloadInPlace:
		frame = c.frameInPlace(f)
	case f.kind == wholeFrame:
	case len(f.p) > cap(f.buf)-maxHeaderSize:
		return c.writeLarge(ctx, stop, f)
	default:
		frame = c.frameCopied(f)
	}
	var n int
	n, err = c.nc.Write(frame)
	c.writeDeadline.disarm(stop, c.nc)
	if err != nil {
		f.kind, f.p = wholeFrame, frame // what writeFailed keeps the rest of
		return c.writeFailed(ctx, f, n, err)
	}
	c.snd.sent(f.op, f.fin)
	return nil
}

// header returns the header of f, with a fresh masking key for a client.
func (c *Conn) header(f *outFrame, length int) header {
	h := header{fin: f.fin, rsv: f.rsv, op: f.op, length: int64(length)}
	if c.client {
		h.masked = true
		h.key = c.nextKey()
	}
	return h
}

// frameInPlace puts the header right-aligned before the n bytes of payload
// that sit at f.buf[maxHeaderSize:], masks them for a client, and returns
// the frame.
func (c *Conn) frameInPlace(f *outFrame) []byte {
	n := int(f.n)
	h := c.header(f, n)
	if h.masked {
		mask(f.buf[maxHeaderSize:maxHeaderSize+n], h.key)
	}
	var hb [maxHeaderSize]byte
	hdr := appendHeader(hb[:0], h)
	start := maxHeaderSize - len(hdr)
	copy(f.buf[start:], hdr)
	return f.buf[start : maxHeaderSize+n]
}

// frameCopied builds the frame of f in f.buf: the header, then a copy of
// the payload, masked there by a client (never in the caller's slice).
func (c *Conn) frameCopied(f *outFrame) []byte {
	h := c.header(f, len(f.p))
	b := appendHeader(f.buf[:0], h)
	k := copy(f.buf[len(b):cap(f.buf)], f.p)
	if h.masked {
		mask(f.buf[len(b):len(b)+k], h.key)
	}
	return f.buf[:len(b)+k]
}

// finishRest sends what is left of a frame whose write an earlier context
// cut short; the caller holds frameMu and has armed the write deadline.
// Until it has gone out, no other frame may.
//
//go:noinline
func (c *Conn) finishRest(ctx context.Context) error {
	n, err := c.nc.Write(c.rest)
	c.rest = c.rest[n:]
	if err == nil {
		c.rest = nil
		return nil
	}
	if ctxErr := ctxCause(ctx, err); ctxErr != nil && !c.noResume {
		return ctxErr
	}
	return c.writeFailed(ctx, &outFrame{op: opContinuation, kind: wholeFrame, p: c.rest}, 0, err)
}

// unsent handles a frame that ctx stopped before any of it was written.
// That is harmless unless the frame belongs to a message whose first frame
// is already out: the next message would then begin inside the open one
// (RFC 6455, Section 5.4), so the write side ends instead. Only the holder
// of msgMu sends data frames and changes snd.open, so it may read it here
// without frameMu.
func (c *Conn) unsent(op opcode, err error) error {
	if !op.isControl() && c.snd.open {
		c.terminate(&openMessageError{cause: err})
	}
	return err
}

// writeFailed turns the failure of the write of frame f, after n bytes of
// it went out, into what the write returns; f.p holds the frame's bytes as
// they were written (the caller made f a whole frame).
//
// A write its context stopped leaves the stream intact when nothing went
// out. When part of the frame did, the rest is kept and sent before any
// other frame (finishRest), so the Conn stays usable, if the frame ends
// its message (or is a control frame): the message is then as good as
// sent. The frame of a message that has more to come cannot be finished
// by anyone once its writer's context has ended, nor can anything be
// resumed over TLS (crypto/tls makes any write timeout permanent): the
// Conn is closed then.
//
//go:noinline
func (c *Conn) writeFailed(ctx context.Context, f *outFrame, n int, err error) error {
	if ctxErr := ctxCause(ctx, err); ctxErr != nil {
		switch {
		case c.noResume:
		case n == 0:
			return c.unsent(f.op, ctxErr)
		case f.fin && f.op != opClose:
			c.rest = bytes.Clone(f.p[n:])
			c.snd.sent(f.op, f.fin)
			return &frameCutError{ctxErr}
		}
		c.terminate(errWriteCut)
		return ctxErr
	}
	if c.closed.isSet() {
		return c.closeErr
	}
	ne := &netError{op: "write", err: err}
	c.terminate(ne)
	return ne
}

// writeLarge sends a frame larger than the buffer through a pooled 256 KiB
// buffer held for this write only, in which a client masks its copy of the
// payload. A server copies too: measured in the loopback echo at 64 KiB
// (bench/, wsbench profile), copy and write took 45 us of CPU per echo
// against 57 us for a writev of header and payload. Kept out of transmit
// so that the frame of the common path stays small.
//
//go:noinline
func (c *Conn) writeLarge(ctx context.Context, stop func() bool, f *outFrame) error {
	h, p := c.header(f, len(f.p)), f.p
	big := largeBufPool.Get().(*[]byte)
	defer largeBufPool.Put(big)
	buf := *big
	b := appendHeader(buf[:0], h)
	key := h.key
	written := 0
	for {
		n := copy(buf[len(b):cap(buf)], p)
		if c.client {
			key = mask(buf[len(b):len(b)+n], key)
		}
		chunk := buf[:len(b)+n]
		m, err := c.nc.Write(chunk)
		written += m
		p = p[n:]
		if err != nil {
			c.writeDeadline.disarm(stop, c.nc)
			// The frame's bytes as written: what went out, then the
			// rest of this chunk and of p, masked with the key where it
			// stands; writeFailed keeps what did not go out.
			frame := make([]byte, written, written+len(chunk)-m+len(p))
			frame = append(append(frame, chunk[m:]...), p...)
			if c.client {
				mask(frame[written+len(chunk)-m:], key)
			}
			f.kind, f.p = wholeFrame, frame
			return c.writeFailed(ctx, f, written, err)
		}
		if len(p) == 0 {
			c.writeDeadline.disarm(stop, c.nc)
			c.snd.sent(f.op, f.fin)
			return nil
		}
		b = buf[:0]
	}
}

// nextKey returns a fresh masking key. RFC 6455, Section 5.3: the key
// "MUST be derived from a strong source of entropy"; keys come from
// crypto/rand, 16 at a time. The caller holds frameMu.
func (c *Conn) nextKey() uint32 {
	if c.keys == nil || c.keyPos+4 > len(c.keys) {
		if c.keys == nil {
			c.keys = new([64]byte)
		}
		rand.Read(c.keys[:])
		c.keyPos = 0
	}
	k := c.keys[c.keyPos : c.keyPos+4]
	c.keyPos += 4
	return uint32(k[0]) | uint32(k[1])<<8 | uint32(k[2])<<16 | uint32(k[3])<<24
}

// sendControl sends a control frame with payload p.
func (c *Conn) sendControl(ctx context.Context, op opcode, p []byte) error {
	return c.send(ctx, &outFrame{op: op, fin: true, p: p, buf: c.ctrlBuf[:]})
}

// ---- the message writer ----

// Writer returns a writer for a message of type typ, streamed as fragments
// (RFC 6455, Section 5.4): each time its buffer fills, a frame goes out;
// Close sends the final frame. Only one message is written at a time: a
// second Writer, or a Write, waits until the first is closed. The writer
// is valid until its Close; after that its methods return
// [ErrWriterClosed], whatever message is being written then.
//
// ctx bounds the wait and every write of the message. If it ends before
// the message's first frame has gone out, the writer's calls return
// ctx.Err() and nothing of the message is sent; Close still has to be
// called to release the Conn for the next message. If it ends once the
// message has started on the wire, the Conn is closed: a message cannot be
// abandoned half-way.
func (c *Conn) Writer(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	if !typ.valid() {
		return nil, ErrBadMessageType
	}
	if err := c.msgMu.lock(ctx); err != nil {
		return nil, err
	}
	if c.closed.isSet() {
		c.msgMu.unlock()
		return nil, c.closeErr
	}
	if ctx.Done() != nil && ctx.Err() != nil {
		c.msgMu.unlock()
		return nil, ctx.Err()
	}
	c.takeWriteBuf()
	w := &c.writer
	w.ctx, w.op, w.n, w.err = ctx, opcode(typ), 0, nil
	return &writerHandle{w: w, gen: w.gen.Add(1)}, nil
}

// messageWriter is the state of the message a Writer streams; there is one
// per Conn, owned by the holder of msgMu. It collects payload in the data
// buffer after room for the largest header. With permessage-deflate, a
// message that outgrows the buffer (or reaches the threshold by Close) is
// compressed from then on: the flate.Writer feeds a deflateSink that frames
// its output.
type messageWriter struct {
	c   *Conn
	gen atomic.Uint32 // changes with each Writer and each Close
	ctx context.Context
	op  opcode        // opcode of the next frame: the type, then continuation
	n   int           // bytes collected in c.wbuf[maxHeaderSize:]
	err error         // a frame of the message could not be sent
	fw  *flate.Writer // non-nil while compressing this message with compress/flate
	dz  *deflater     // non-nil while compressing it with the Conn's deflater (send takeover)
	// tail is a message compressed with fw under send takeover, which
	// enters the deflater's history once sent.
	tail []byte
}

// writerHandle is what Writer returns: one per message, so that a writer
// kept after its Close can tell and never writes into a later message.
type writerHandle struct {
	w   *messageWriter
	gen uint32
}

func (h *writerHandle) Write(p []byte) (int, error) {
	w := h.w
	if w.gen.Load() != h.gen {
		return 0, ErrWriterClosed
	}
	if w.err != nil {
		return 0, w.err
	}
	n, err := w.write(p)
	if err != nil {
		w.err = err
	}
	return n, err
}

// Close sends the final frame of the message and releases the Conn for the
// next message. It returns the error that stopped the message, if one did.
func (h *writerHandle) Close() error {
	w := h.w
	if !w.gen.CompareAndSwap(h.gen, h.gen+1) {
		return ErrWriterClosed
	}
	c := w.c
	defer c.afterWrite() // after the unlock: see releaseDeflater
	defer c.msgMu.unlock()
	defer c.dropWriteBuf()
	if w.err != nil {
		w.end(w.err)
		return w.err
	}
	return w.close()
}

func (w *messageWriter) write(p []byte) (int, error) {
	if w.compressing() {
		if err := w.deflateWrite(p); err != nil {
			return 0, err
		}
		return len(p), nil
	}
	c := w.c
	buf := c.wbuf[maxHeaderSize:]
	written := 0
	// A message is compressed whole or not at all (RFC 7692, Section 6:
	// RSV1 marks its first frame), so compression may start only while
	// no frame of it has gone out.
	canDeflate := c.deflate != nil && w.op != opContinuation
	for len(p) > 0 {
		if canDeflate && w.n+len(p) > len(buf) {
			// Too much for one frame: compress from here on.
			w.startDeflate(true)
			if err := w.deflateWrite(p); err != nil {
				return written, err
			}
			return written + len(p), nil
		}
		if w.n == 0 && len(p) >= len(buf) && !c.client && c.deflate == nil {
			// A server's large write with nothing buffered goes out as a
			// frame of its own instead of being copied.
			err := c.send(w.ctx, &outFrame{op: w.op, p: p, buf: c.wbuf})
			if err != nil {
				return written, err
			}
			w.op = opContinuation
			return written + len(p), nil
		}
		k := copy(buf[w.n:], p)
		w.n += k
		p = p[k:]
		written += k
		if w.n == len(buf) && len(p) > 0 {
			if err := w.flushBuffered(false); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// flushBuffered sends the payload collected in c.wbuf as the next frame.
func (w *messageWriter) flushBuffered(fin bool) error {
	err := w.c.send(w.ctx, &outFrame{op: w.op, fin: fin, kind: payloadInPlace, buf: w.c.wbuf, n: int32(w.n)})
	if err != nil {
		return err
	}
	w.op, w.n = opContinuation, 0
	return nil
}

// close ends the message: the final frame, compressed or not.
func (w *messageWriter) close() error {
	c := w.c
	if !w.compressing() && c.deflate != nil && w.op != opContinuation && w.n >= c.comp.threshold {
		w.startDeflate(true)
	}
	if w.compressing() {
		return w.finishDeflate(nil)
	}
	return w.flushBuffered(true)
}

// ---- pongs ----

// pongQueue holds the pongs the Conn owes its peer. The reader only queues
// them: a pong goes out with the next frame any goroutine writes (send
// flushes the queue first) or, when nobody writes, from a goroutine started
// for the purpose, which lives only while pongs are waiting. So a peer that
// floods pings and stops reading can block that goroutine, never the
// reader. At most maxPongs wait; beyond that the oldest is dropped, which
// RFC 6455, Section 5.5.3 allows ("an endpoint MAY elect to send a Pong
// frame for only the most recently processed Ping frame").
type pongQueue struct {
	queued  atomic.Int32
	mu      sync.Mutex
	pongs   [][]byte // oldest first; each a payload, reused
	running bool     // a goroutine is sending the queue
}

const maxPongs = 16

func (c *Conn) queuePong(payload []byte) {
	q := c.pongs.Load()
	if q == nil {
		q = new(pongQueue)
		c.pongs.Store(q) // only the reader stores it
	}
	q.mu.Lock()
	var b []byte
	if len(q.pongs) == maxPongs {
		b = q.pongs[0][:0]
		copy(q.pongs, q.pongs[1:])
		q.pongs = q.pongs[:maxPongs-1]
	} else if n := len(q.pongs); n < cap(q.pongs) {
		b = q.pongs[:n+1][n][:0] // reuse the buffer of an old entry
	}
	q.pongs = append(q.pongs, append(b, payload...))
	q.queued.Store(int32(len(q.pongs)))
	start := !q.running
	q.running = true
	q.mu.Unlock()
	if start {
		go c.sendPongs(q)
	}
}

// pop takes the oldest pong into buf. If the queue is empty and last is
// set, the calling goroutine stops being the queue's sender.
func (q *pongQueue) pop(buf []byte, last bool) ([]byte, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.pongs) == 0 {
		if last {
			q.running = false
		}
		return nil, false
	}
	p := append(buf, q.pongs[0]...)
	first := q.pongs[0]
	copy(q.pongs, q.pongs[1:])
	q.pongs[len(q.pongs)-1] = first
	q.pongs = q.pongs[:len(q.pongs)-1]
	q.queued.Store(int32(len(q.pongs)))
	return p, true
}

// sendPongs is the goroutine that sends the queue when no writer does.
func (c *Conn) sendPongs(q *pongQueue) {
	if err := c.frameMu.lock(context.Background()); err != nil {
		return
	}
	defer c.frameMu.unlock()
	c.flushPongs(context.Background(), q, true)
}

// flushPongs sends the queued pongs; the caller holds frameMu. After the
// close frame has gone out or the Conn has closed, they are dropped.
func (c *Conn) flushPongs(ctx context.Context, q *pongQueue, last bool) error {
	var buf [maxControlPayload]byte
	for {
		p, ok := q.pop(buf[:0], last)
		if !ok {
			return nil
		}
		if c.snd.closed || c.closed.isSet() {
			continue
		}
		if err := c.transmit(ctx, ctx.Done(), &outFrame{op: opPong, fin: true, p: p, buf: c.ctrlBuf[:]}); err != nil {
			if last {
				for _, ok := q.pop(buf[:0], true); ok; _, ok = q.pop(buf[:0], true) {
				}
			}
			return err
		}
	}
}
