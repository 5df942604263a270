//go:build js

package websocket

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"syscall/js"
	"time"
	"unicode/utf8"
)

// This file is write.go for the js build: every message goes to the
// browser's WebSocket.send whole, through send, once the browser's own
// send buffer (bufferedAmount) has room.

// maxBufferedAmount is how much the browser may hold, not yet sent, before
// a write waits: Write does not queue without bound behind a slow network.
const maxBufferedAmount = 1 << 20

// Write sends p as one message of type typ. It waits for any message being
// streamed by a [Conn.Writer] to finish first, and while the browser holds
// more than 1 MiB it has not sent yet (its bufferedAmount). Write does not
// keep p: it returns once the browser has taken its copy (p is copied once
// into a Uint8Array, which text is then decoded from into a JavaScript
// string).
// A text message must be UTF-8: a browser cannot send anything else, and
// Write returns an error rather than let it replace invalid bytes.
//
// ctx bounds the call. If ctx ends while Write waits, it returns ctx.Err(),
// sends nothing and the Conn stays usable. Once the browser has the
// message, it sends it whole: a write is never cut short part-way.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	if !typ.valid() {
		return ErrBadMessageType
	}
	if err := c.msgMu.lock(ctx); err != nil {
		return err
	}
	defer c.msgMu.unlock()
	return c.send(ctx, typ, p)
}

// WriteUncompressed is Write without compression: for data that is
// compressed already, or that must not share a compressor with other
// messages. A page cannot tell the browser not to compress a message, so
// when the browser agreed on permessage-deflate ([Conn.Compressed]) it
// returns an error wrapping errors.ErrUnsupported and sends nothing;
// otherwise it is Write.
func (c *Conn) WriteUncompressed(ctx context.Context, typ MessageType, p []byte) error {
	if c.compressed {
		return errNoUncompressed
	}
	return c.Write(ctx, typ, p)
}

// Compressed reports whether permessage-deflate (RFC 7692) was negotiated
// for the Conn: under js, whether the browser's WebSocket.extensions names
// it. The browser then compresses as it sees fit.
func (c *Conn) Compressed() bool { return c.compressed }

// send hands one message to the browser: the one write path.
func (c *Conn) send(ctx context.Context, typ MessageType, p []byte) error {
	if typ == MessageText && !utf8.Valid(p) {
		return errTextNotUTF8
	}
	if err := c.writable(ctx); err != nil {
		return err
	}
	if err := c.waitBuffered(ctx); err != nil {
		return err
	}
	var data js.Value
	if typ == MessageText {
		data = jsString(p)
	} else {
		data = jsUint8Array.New(len(p))
		js.CopyBytesToJS(data, p)
	}
	if _, err := jsCall(c.ws, "send", data); err != nil {
		return fmt.Errorf("websocket: the browser refused to send the message: %w", err)
	}
	return nil
}

// writable reports why nothing may be sent now, if anything does: the
// Conn is closed, ctx has ended, or the browser's WebSocket is closing
// (its send would drop the message without a word).
func (c *Conn) writable(ctx context.Context) error {
	if c.closed.isSet() {
		return c.closeErr
	}
	if ctx.Done() != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	if c.ws.Get("readyState").Int() != wsOpen {
		return net.ErrClosed
	}
	return nil
}

// waitBuffered waits, bounded by ctx, until the browser holds no more than
// maxBufferedAmount bytes not yet sent. No event says when bufferedAmount
// falls, so it is polled, from 1 ms up to every 16 ms.
func (c *Conn) waitBuffered(ctx context.Context) error {
	if c.ws.Get("bufferedAmount").Int() <= maxBufferedAmount {
		return nil
	}
	d := time.Millisecond
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-ctx.Done():
			return ctx.Err()
		case <-c.closed.wait():
			return c.closeErr
		}
		if err := c.writable(ctx); err != nil {
			return err
		}
		if c.ws.Get("bufferedAmount").Int() <= maxBufferedAmount {
			return nil
		}
		d = min(2*d, 16*time.Millisecond)
		t.Reset(d)
	}
}

// Writer returns a writer for a message of type typ. A browser has no API
// for fragments, so the writer collects the message and its Close sends it
// whole, as [Conn.Write] does; until then the whole message is held in
// memory. Only one message is written at a time: a second Writer, or a
// Write, waits until the first is closed. The writer is valid until its
// Close; after that its methods return [ErrWriterClosed].
//
// ctx bounds the wait for the Conn and every call of the writer. If it
// ends, the writer's calls return ctx.Err() and nothing of the message is
// sent; Close still has to be called to release the Conn for the next
// message.
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
	w := &c.writer
	w.ctx, w.typ, w.buf, w.err = ctx, typ, w.buf[:0], nil
	return &writerHandle{w: w, gen: w.gen.Add(1)}, nil
}

// maxKeptWriterBuf is the largest buffer a Conn keeps from one Writer
// message for the next.
const maxKeptWriterBuf = 64 << 10

// messageWriter is the state of the message a Writer collects; there is
// one per Conn, owned by the holder of msgMu.
type messageWriter struct {
	c   *Conn
	gen atomic.Uint32 // changes with each Writer and each Close
	ctx context.Context
	typ MessageType
	buf []byte
	err error // what stopped the message
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
	if w.ctx.Done() != nil {
		if err := w.ctx.Err(); err != nil {
			w.err = err
			return 0, err
		}
	}
	if c := w.c; c.closed.isSet() {
		w.err = c.closeErr
		return 0, w.err
	}
	w.buf = append(w.buf, p...)
	return len(p), nil
}

// Close sends the message and releases the Conn for the next one. It
// returns the error that stopped the message, if one did.
func (h *writerHandle) Close() error {
	w := h.w
	if !w.gen.CompareAndSwap(h.gen, h.gen+1) {
		return ErrWriterClosed
	}
	c := w.c
	defer c.msgMu.unlock()
	buf := w.buf
	if cap(buf) > maxKeptWriterBuf {
		w.buf = nil
	}
	ctx := w.ctx
	w.ctx = nil
	if w.err != nil {
		return w.err
	}
	return c.send(ctx, w.typ, buf)
}
