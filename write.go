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
// its last (a compressed message over 64 KiB), or any cut write over TLS,
// closes the Conn. See the package doc for the whole contract.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	return c.write(ctx, typ, p, c.deflate != nil && len(p) >= c.deflate.threshold)
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
	defer c.msgMu.unlock()
	if compress {
		return c.writeCompressed(ctx, opcode(typ), p)
	}
	f := outFrame{op: opcode(typ), fin: true, p: p}
	if len(p) <= maxControlPayload {
		// A small frame fits in the control frame buffer, which frameMu
		// guards: no pooled buffer to take and give back.
		f.buf = c.ctrlBuf[:]
		return c.send(ctx, &f)
	}
	c.takeWriteBuf()
	f.buf = c.wbuf
	err := c.send(ctx, &f)
	c.dropWriteBuf()
	return err
}

// outFrame is a frame for send. Its payload comes in one of three forms:
// p, to be copied into the scratch buffer buf after the header (and masked
// there by a client, never in the caller's slice); n bytes already in
// buf[maxHeaderSize:] (inPlace), the header then going right-aligned before
// them so the frame leaves in one system call; or wire, a whole frame
// encoded beforehand (a PreparedMessage's, server side only).
type outFrame struct {
	op      opcode
	fin     bool
	inPlace bool
	rsv     byte
	n       int
	p       []byte
	buf     []byte
	wire    []byte
}

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
	defer c.frameMu.unlock()
	if c.closed.isSet() {
		return c.closeErr
	}
	if done != nil {
		if err := ctx.Err(); err != nil {
			return c.unsent(f.op, err)
		}
	}
	if q := c.pongs.Load(); q != nil && q.queued.Load() > 0 {
		if err := c.flushPongs(ctx, q, false); err != nil {
			return err
		}
	}
	return c.sendLocked(ctx, done, f)
}

// sendLocked writes f; the caller holds frameMu. done is ctx.Done().
func (c *Conn) sendLocked(ctx context.Context, done <-chan struct{}, f *outFrame) error {
	if err := c.snd.check(f.op); err != nil {
		return err
	}
	stop := c.writeDeadline.arm(ctx, done, c.nc)
	defer c.writeDeadline.disarm(stop, c.nc)
	if len(c.rest) > 0 {
		if err := c.finishRest(ctx); err != nil {
			return c.unsent(f.op, err)
		}
	}
	n, rest, err := c.emit(f)
	if err != nil {
		return c.writeFailed(ctx, f, n, rest, err)
	}
	c.snd.sent(f.op, f.fin)
	return nil
}

// finishRest sends what is left of a frame whose write an earlier context
// cut short; the caller holds frameMu and has armed the write deadline.
// Until it has gone out, no other frame may.
func (c *Conn) finishRest(ctx context.Context) error {
	n, err := c.nc.Write(c.rest)
	c.rest = c.rest[n:]
	if err == nil {
		c.rest = nil
		return nil
	}
	if ctxErr := ctxCause(ctx, err); ctxErr != nil && !c.tls {
		return ctxErr
	}
	return c.writeFailed(ctx, &outFrame{op: opContinuation}, 1, nil, err)
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
// it went out, into what the write returns; rest is what did not.
//
// A write its context stopped leaves the stream intact when nothing went
// out. When part of the frame did, the rest is kept and sent before any
// other frame (finishRest), so the Conn stays usable, if the frame ends
// its message (or is a control frame): the message is then as good as
// sent. The frame of a message that has more to come cannot be finished
// by anyone once its writer's context has ended, nor can anything be
// resumed over TLS (crypto/tls makes any write timeout permanent): the
// Conn is closed then.
func (c *Conn) writeFailed(ctx context.Context, f *outFrame, n int, rest []byte, err error) error {
	if ctxErr := ctxCause(ctx, err); ctxErr != nil {
		switch {
		case c.tls:
		case n == 0:
			return c.unsent(f.op, ctxErr)
		case f.fin && f.op != opClose:
			c.rest = rest
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

// emit writes the bytes of f and returns how many went out. When the write
// fails part-way, rest is what of the frame did not go out, in memory of
// its own, so that the frame can be finished later.
func (c *Conn) emit(f *outFrame) (n int, rest []byte, err error) {
	if f.wire != nil {
		n, err = c.nc.Write(f.wire)
		return n, f.wire[n:], err // a prepared frame never changes
	}
	h := header{fin: f.fin, rsv: f.rsv, op: f.op}
	if c.client {
		h.masked = true
		h.key = c.nextKey()
	}
	var frame []byte
	if f.inPlace {
		h.length = int64(f.n)
		if c.client {
			mask(f.buf[maxHeaderSize:maxHeaderSize+f.n], h.key)
		}
		var hb [maxHeaderSize]byte
		hdr := appendHeader(hb[:0], h)
		start := maxHeaderSize - len(hdr)
		copy(f.buf[start:], hdr)
		frame = f.buf[start : maxHeaderSize+f.n]
	} else {
		h.length = int64(len(f.p))
		if int64(len(f.p)) > int64(cap(f.buf)-maxHeaderSize) {
			return c.writeLarge(h, f.p)
		}
		b := appendHeader(f.buf[:0], h)
		k := copy(f.buf[len(b):cap(f.buf)], f.p)
		if c.client {
			mask(f.buf[len(b):len(b)+k], h.key)
		}
		frame = f.buf[:len(b)+k]
	}
	if n, err = c.nc.Write(frame); err != nil {
		return n, bytes.Clone(frame[n:]), err
	}
	return n, nil, nil
}

// writeLarge sends a frame larger than the buffer through a pooled 256 KiB
// buffer held for this write only, in which a client masks its copy of the
// payload. A server copies too: measured in the loopback echo at 64 KiB
// (bench/, wsbench profile), copy and write took 45 us of CPU per echo
// against 57 us for a writev of header and payload. Kept out of emit so
// that the frame of the common path stays small: a connection's goroutine
// then echoes small messages within its first 2 KiB of stack.
//
//go:noinline
func (c *Conn) writeLarge(h header, p []byte) (written int, rest []byte, err error) {
	big := largeBufPool.Get().(*[]byte)
	defer largeBufPool.Put(big)
	buf := *big
	b := appendHeader(buf[:0], h)
	key := h.key
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
			// The rest of the frame: of this chunk, then of p, masked
			// with the key where it stands.
			rest = append(bytes.Clone(chunk[m:]), p...)
			if c.client {
				mask(rest[len(chunk)-m:], key)
			}
			return written, rest, err
		}
		if len(p) == 0 {
			return written, nil, nil
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
	fw  *flate.Writer // non-nil while compressing this message
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
	defer c.msgMu.unlock()
	defer c.dropWriteBuf()
	if w.err != nil {
		w.abandon()
		return w.err
	}
	return w.close()
}

func (w *messageWriter) write(p []byte) (int, error) {
	if w.fw != nil {
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
			w.startDeflate()
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
	err := w.c.send(w.ctx, &outFrame{op: w.op, fin: fin, inPlace: true, buf: w.c.wbuf, n: w.n})
	if err != nil {
		return err
	}
	w.op, w.n = opContinuation, 0
	return nil
}

// close ends the message: the final frame, compressed or not.
func (w *messageWriter) close() error {
	c := w.c
	if w.fw == nil && c.deflate != nil && w.op != opContinuation && w.n >= c.deflate.threshold {
		w.startDeflate()
	}
	if w.fw != nil {
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
		if err := c.sendLocked(ctx, ctx.Done(), &outFrame{op: opPong, fin: true, p: p, buf: c.ctrlBuf[:]}); err != nil {
			if last {
				for _, ok := q.pop(buf[:0], true); ok; _, ok = q.pop(buf[:0], true) {
				}
			}
			return err
		}
	}
}
