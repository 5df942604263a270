//go:build !js

package websocket

import (
	"bytes"
	"compress/flate"
	"context"
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
	sink deflateSink // frames the compressor's output
	pos  int         // input bytes since the compressor was last reset
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
// msgMu.
func (c *Conn) writeCompressed(ctx context.Context, op opcode, p []byte) error {
	w := &c.writer
	w.ctx, w.op, w.n, w.err = ctx, op, 0, nil
	w.startDeflate()
	return w.finishDeflate(w.deflateWrite(p))
}

// startDeflate takes a compressor and a sink from the pools and feeds the
// compressor whatever was buffered so far.
func (w *messageWriter) startDeflate() {
	c := w.c
	c.comp.sink.start(c, w.ctx, w.op)
	w.fw = getFlateWriter(c.deflate.level, &c.comp.sink)
	c.comp.pos = 0
	if w.n > 0 {
		w.deflateWrite(c.wbuf[maxHeaderSize : maxHeaderSize+w.n])
		w.n = 0
	}
}

// deflateWrite compresses p within the window the peer allows.
func (w *messageWriter) deflateWrite(p []byte) error {
	return windowedDeflate(w.fw, &w.c.comp.sink, p, &w.c.comp.pos, w.c.deflate.sendWindowBits)
}

// finishDeflate ends a compressed message: flush, strip the 00 00 FF FF
// tail, send the final frame, and return the state to the pools.
func (w *messageWriter) finishDeflate(err error) error {
	if err == nil {
		err = w.fw.Flush()
	}
	if err == nil {
		err = w.c.comp.sink.finish()
	}
	w.abandon()
	w.op = opContinuation
	return err
}

// abandon returns the compression state of a message that ends, sent or
// not, to the pools.
func (w *messageWriter) abandon() {
	if w.fw != nil {
		putFlateWriter(w.c.deflate.level, w.fw)
		w.fw = nil
		w.c.comp.sink.release()
	}
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
	s.op, s.rsv = opContinuation, 0
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
