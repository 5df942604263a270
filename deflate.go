//go:build !js

package websocket

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"sync"
)

// This file is the permessage-deflate runtime (RFC 7692, Section 7.2): the
// pooled compressors, the sink that frames their output, and the pool of
// inflaters the receiver takes. What was negotiated, and how, is in
// compress.go.

// compression is the permessage-deflate state of a Conn that negotiated
// it; a Conn without compression carries a nil pointer instead, which keeps
// the Conn of the common case small.
type compression struct {
	threshold int         // the size from which Write compresses (connThreshold)
	sink      deflateSink // frames the compressor's output
	pos       int         // input bytes since the compressor was last reset
	// Under send context takeover: the Conn's deflater (deflater.go),
	// taken on the first compressed message, and whether it was given
	// back for good because the Conn ended. The holder of msgMu owns both.
	dz     *deflater
	dzDone bool
}

var deflaterPool = sync.Pool{New: func() any { return new(deflater) }}

// takeover returns the deflater of a Conn that compresses with context
// takeover, taking one from the pool on first use; nil without takeover or
// once the Conn has ended. The caller holds msgMu.
func (c *Conn) takeover() *deflater {
	comp := c.comp
	if !c.deflate.sendTakeover || comp.dzDone {
		return nil
	}
	if comp.dz == nil {
		comp.dz = deflaterPool.Get().(*deflater)
		comp.dz.reset(c.deflate.sendWindowBits)
	}
	return comp.dz
}

// releaseDeflater gives the deflater of an ended Conn back to the pool.
// Whoever holds msgMu when the Conn ends may be using it, so both sides
// try: markClosed, if msgMu is free, and every writer that finds the Conn
// closed after it let go of msgMu (afterWrite). One of them gets it. Out
// of line, so that the write path's frame stays small
// (TestIdleStackAfterEcho).
//
//go:noinline
func (c *Conn) releaseDeflater() {
	if c.deflate == nil || !c.deflate.sendTakeover || !c.msgMu.tryLock() {
		return
	}
	if comp := c.comp; comp.dz != nil {
		deflaterPool.Put(comp.dz)
		comp.dz = nil
	}
	c.comp.dzDone = true
	c.msgMu.unlock()
}

// afterWrite runs once a writer has let go of msgMu.
func (c *Conn) afterWrite() {
	if c.deflate != nil && c.deflate.sendTakeover && c.closed.isSet() {
		c.releaseDeflater()
	}
}

var flateWriterPools [12]sync.Pool // by level + 2: HuffmanOnly (-2) to BestCompression (9)

func getFlateWriter(level int, w io.Writer) *flate.Writer {
	if fw, ok := flateWriterPools[level+2].Get().(*flate.Writer); ok {
		fw.Reset(w)
		return fw
	}
	fw, _ := flate.NewWriter(w, level)
	return fw
}

func putFlateWriter(level int, fw *flate.Writer) { flateWriterPools[level+2].Put(fw) }

var inflaterPool = sync.Pool{New: func() any { return new(inflater) }}

// newInflater and freeInflater are how the receiver gets and gives back
// the state of a compressed message: a Conn holds an inflater only while
// it reads a compressed message, or for good while the peer uses context
// takeover (the history is then the inflater's).
func newInflater() *inflater { return inflaterPool.Get().(*inflater) }

func freeInflater(f *inflater) { inflaterPool.Put(f) }

// windowedDeflate writes p to fw. Below 15 window bits, fw is flushed and
// reset onto dst every 2^bits input bytes (pos counts the input since the
// last reset), so that no back-reference reaches further than the window
// the peer allows: compress/flate always searches 32 KiB.
func windowedDeflate(fw *flate.Writer, dst io.Writer, p []byte, pos *int, bits int) error {
	if bits >= 15 {
		_, err := fw.Write(p)
		return err
	}
	size := 1 << bits
	for len(p) > 0 {
		if *pos == size {
			if err := fw.Flush(); err != nil {
				return err
			}
			fw.Reset(dst)
			*pos = 0
		}
		k := min(size-*pos, len(p))
		if _, err := fw.Write(p[:k]); err != nil {
			return err
		}
		*pos += k
		p = p[k:]
	}
	return nil
}

// compressBufPool holds buffers for compressed output: room for a frame
// header, then up to compressFrameSize bytes of payload.
const compressFrameSize = 64 << 10

var compressBufPool = sync.Pool{New: func() any {
	b := make([]byte, maxHeaderSize+compressFrameSize)
	return &b
}}

// writeCompressed sends p as one compressed message (RFC 7692, Section
// 7.2.1), in frames of up to compressFrameSize bytes. The caller holds
// msgMu. Under send takeover, p goes through the Conn's deflater, unless it
// is large: then through compress/flate, as a stream that refers to nothing
// before it, after which its tail enters the deflater's history.
func (c *Conn) writeCompressed(ctx context.Context, op opcode, p []byte) error {
	w := &c.writer
	w.ctx, w.op, w.n, w.err = ctx, op, 0, nil
	large := len(p) >= deflaterMaxMessage
	w.startDeflate(!large)
	if large && w.fw != nil && c.takeover() != nil {
		w.tail = p
	}
	err := w.deflateWrite(p)
	if s := &c.comp.sink; err == nil && w.dz != nil && !s.out && storeBetter(len(p), s.n) {
		// Incompressible: stored blocks instead, still in one frame.
		w.dz.rollback()
		w.dz.begin()
		s.n = len(w.dz.store((*s.buf)[maxHeaderSize:maxHeaderSize], p))
	}
	return w.finishDeflate(err)
}

// startDeflate takes a compressor and a sink and feeds the compressor
// whatever was buffered so far: under send takeover the Conn's deflater
// (unless useDeflater is false), otherwise a pooled flate.Writer.
func (w *messageWriter) startDeflate(useDeflater bool) {
	c := w.c
	c.comp.sink.start(c, w.ctx, w.op)
	if d := c.takeover(); d != nil && useDeflater {
		w.dz = d
		d.begin()
	} else {
		w.fw = getFlateWriter(c.deflate.level, &c.comp.sink)
		c.comp.pos = 0
	}
	if w.n > 0 {
		w.deflateWrite(c.wbuf[maxHeaderSize : maxHeaderSize+w.n])
		w.n = 0
	}
}

// compressing reports whether the message is being compressed.
func (w *messageWriter) compressing() bool { return w.fw != nil || w.dz != nil }

// deflateWrite compresses p within the window the peer allows.
func (w *messageWriter) deflateWrite(p []byte) error {
	if w.dz != nil {
		return w.c.comp.sink.deflate(w.dz, p)
	}
	return windowedDeflate(w.fw, &w.c.comp.sink, p, &w.c.comp.pos, w.c.deflate.sendWindowBits)
}

// finishDeflate ends a compressed message: flush, strip the 00 00 FF FF
// tail, send the final frame, and return the state to the pools.
func (w *messageWriter) finishDeflate(err error) error {
	if err == nil {
		if w.dz != nil {
			err = w.c.comp.sink.finishDeflater(w.dz)
		} else if err = w.fw.Flush(); err == nil {
			err = w.c.comp.sink.finish()
		}
	}
	w.end(err)
	w.op = opContinuation
	return err
}

// end returns the compression state of a message that ends, sent or not
// (err is why not), to the pools, and settles the deflater's history. This
// is the one place of the rule that keeps the history in step with the
// peer's: the message enters it if any frame of it went out, or the final
// frame was cut and kept to be finished (ErrWritePending): if the message
// can then not arrive whole, the Conn has been closed (writeFailed,
// unsent), and no history matters any more. A message none of which went
// out is taken back out.
func (w *messageWriter) end(err error) {
	c := w.c
	if !w.compressing() {
		return
	}
	sent := err == nil || c.comp.sink.out || isFrameCut(err)
	if w.dz != nil {
		if !sent {
			w.dz.rollback()
		}
		w.dz = nil
	}
	if w.fw != nil {
		if sent && w.tail != nil {
			c.comp.dz.absorb(w.tail)
		}
		putFlateWriter(c.deflate.level, w.fw)
		w.fw = nil
	}
	w.tail = nil
	c.comp.sink.release()
}

// isFrameCut reports whether err says the final frame was cut and will be
// finished (ErrWritePending). Out of line: its variable escapes.
//
//go:noinline
func isFrameCut(err error) bool {
	var cut *frameCutError
	return errors.As(err, &cut)
}

// deflateSink receives compressed bytes and sends them as frames: the first
// with RSV1 and the message's opcode, the rest as continuations. It always
// holds back the last four bytes, which may be the start of the 00 00 FF FF
// that the final frame must not carry (RFC 7692, Section 7.2.1).
type deflateSink struct {
	c   *Conn
	ctx context.Context
	op  opcode
	rsv byte
	buf *[]byte // pooled: maxHeaderSize of room, then payload
	n   int
	err error
	out bool // a frame of the message went out
}

func (s *deflateSink) start(c *Conn, ctx context.Context, op opcode) {
	*s = deflateSink{c: c, ctx: ctx, op: op, rsv: rsv1, buf: compressBufPool.Get().(*[]byte)}
}

func (s *deflateSink) release() {
	if s.buf != nil {
		compressBufPool.Put(s.buf)
		s.buf = nil
	}
	s.ctx = nil
}

func (s *deflateSink) Write(p []byte) (int, error) {
	if s.err != nil {
		return 0, s.err
	}
	b := (*s.buf)[maxHeaderSize:]
	total := len(p)
	for len(p) > 0 {
		if s.n == len(b) {
			if s.err = s.emit(s.n-4, false); s.err != nil {
				return 0, s.err
			}
		}
		k := copy(b[s.n:], p)
		s.n += k
		p = p[k:]
	}
	return total, nil
}

// emit sends the first k collected bytes as a frame and keeps the rest.
func (s *deflateSink) emit(k int, fin bool) error {
	buf := *s.buf
	err := s.c.send(s.ctx, &outFrame{op: s.op, fin: fin, rsv: s.rsv, kind: payloadInPlace, buf: buf, n: int32(k)})
	if err != nil {
		return err
	}
	s.op, s.rsv, s.out = opContinuation, 0, true
	s.n = copy(buf[maxHeaderSize:], buf[maxHeaderSize+k:maxHeaderSize+s.n])
	return nil
}

func (s *deflateSink) finish() error {
	if s.err != nil {
		return s.err
	}
	b := (*s.buf)[maxHeaderSize : maxHeaderSize+s.n]
	if len(b) >= 4 && b[len(b)-4] == 0 && b[len(b)-3] == 0 && b[len(b)-2] == 0xff && b[len(b)-1] == 0xff {
		s.n -= 4
	}
	return s.emit(s.n, true)
}

// deflate encodes p with the Conn's deflater d into the frame buffer,
// sending a frame whenever the buffer fills.
func (s *deflateSink) deflate(d *deflater, p []byte) error {
	for len(p) > 0 {
		if s.err != nil {
			return s.err
		}
		b := (*s.buf)[maxHeaderSize:]
		k := min(len(p), (len(b)-s.n-32)*8/9)
		if k < len(p) && k < 1024 {
			// Little room left: send what is there first. The encoding
			// never ends in 00 00 FF FF, so nothing is held back.
			if s.err = s.emit(s.n, false); s.err != nil {
				return s.err
			}
			continue
		}
		s.n = len(d.encode(b[:s.n], p[:k]))
		p = p[k:]
	}
	return nil
}

// finishDeflater ends a message encoded with d and sends its final frame.
func (s *deflateSink) finishDeflater(d *deflater) error {
	if s.err != nil {
		return s.err
	}
	s.n = len(d.end((*s.buf)[maxHeaderSize : maxHeaderSize+s.n]))
	return s.emit(s.n, true)
}

// byteSink is an io.Writer that appends to b.
type byteSink struct{ b []byte }

func (s *byteSink) Write(p []byte) (int, error) {
	s.b = append(s.b, p...)
	return len(p), nil
}

// deflateMessage appends to sink the payload of p as one compressed
// message (RFC 7692, Section 7.2.1): compressed within the window the peer
// allows, flushed, without the 00 00 FF FF the flush ends with.
func deflateMessage(sink *byteSink, p []byte, level, bits int) {
	fw := getFlateWriter(level, sink)
	pos := 0
	err := windowedDeflate(fw, sink, p, &pos, bits)
	if err == nil {
		err = fw.Flush()
	}
	putFlateWriter(level, fw)
	if err != nil { // writing to a byteSink cannot fail
		panic("websocket: compressing a message: " + err.Error())
	}
	sink.b = bytes.TrimSuffix(sink.b, syncTail[:])
}
