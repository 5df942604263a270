package h2

import (
	"net"
	"sync"
	"time"
)

// The writer goroutine owns the socket's write side. Everything a
// connection sends goes through its queue, so that the read loop never
// waits on a write (it only appends to the control buffer) and a socket
// that stops draining fails the connection after the write timeout
// instead of blocking callers forever.

const (
	// maxControlBuffered caps the control frames (SETTINGS and PING
	// acknowledgements, WINDOW_UPDATE, RST_STREAM) waiting for a socket
	// that does not drain. A server that keeps sending frames that need
	// an answer while not reading ours fails the connection with
	// errControlFlood; 64 KiB is thousands of frames.
	maxControlBuffered = 64 << 10

	// maxBatch is how many bytes of stream frames one socket write
	// carries at most, so that control frames queued meanwhile wait for
	// no more than one batch.
	maxBatch = 256 << 10

	// closeGrace bounds the last write (GOAWAY) when a connection fails.
	closeGrace = time.Second
)

var errControlFlood = connErr(ErrCodeEnhanceYourCalm, "server sends frames that need an answer faster than it reads the answers")

// writeReq is a stream's request to the writer: a header block (sent as
// HEADERS and CONTINUATION frames), DATA within flow control, END_STREAM,
// RST_STREAM, or a run of these, written together and in this order. The
// stream that submits it waits on done, which the writer signals as soon
// as the frames are encoded into its buffer (the bytes are then the
// writer's to send), or with the connection's error.
type writeReq struct {
	streamID  uint32
	headers   []byte
	data      []byte
	endStream bool
	rst       bool
	code      ErrCode // for rst
	done      chan error

	queued bool // in the queue, not yet taken; guarded by writer.mu
}

// writer is the queue and the goroutine that empties it.
type writer struct {
	conn         net.Conn
	writeTimeout time.Duration
	maxFrame     func() uint32 // the peer's SETTINGS_MAX_FRAME_SIZE

	mu      sync.Mutex
	wake    chan struct{} // capacity 1
	ctrl    []byte        // control frames, sent before any request
	data    []byte        // DATA frames appendData encoded, sent after ctrl and before the queue
	queue   []*writeReq
	closing bool  // set by shutdown: no more requests
	err     error // what queued and later requests fail with
}

func newWriter(conn net.Conn, timeout time.Duration, maxFrame func() uint32) *writer {
	return &writer{
		conn:         conn,
		writeTimeout: timeout,
		maxFrame:     maxFrame,
		wake:         make(chan struct{}, 1),
	}
}

// control appends a control frame built by f, to go out before any
// queued request. It fails once the buffer passes maxControlBuffered.
func (w *writer) control(f func([]byte) []byte) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return nil // the connection is going; nothing more to answer
	}
	if len(w.ctrl) > maxControlBuffered {
		return errControlFlood
	}
	w.ctrl = f(w.ctrl)
	signal(w.wake)
	return nil
}

func (w *writer) windowUpdate(streamID, n uint32) error {
	return w.control(func(b []byte) []byte { return appendWindowUpdate(b, streamID, n) })
}

func (w *writer) rstStream(streamID uint32, code ErrCode) error {
	return w.control(func(b []byte) []byte { return appendRSTStream(b, streamID, code) })
}

// maxDataBuffered caps the DATA that appendData keeps encoded for the
// goroutine; past it Writes queue and wait, as when requests are queued.
const maxDataBuffered = maxBatch

// appendData encodes DATA frames of p for stream id into the writer's
// buffer, if nothing is queued (so the frames keep their order with what
// is) and the buffer is below maxDataBuffered, and reports whether it did.
// The caller need not wait for the writer then: its bytes are copied,
// which saves a hand-off between goroutines per Write. Once the writer is
// closing it reports true with the writer's error.
func (w *writer) appendData(id uint32, p []byte) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return true, w.err
	}
	if len(w.queue) > 0 || len(w.data) >= maxDataBuffered {
		return false, nil
	}
	w.data = appendDataFrames(w.data, id, p, false, int(w.maxFrame()))
	signal(w.wake)
	return true, nil
}

// submit queues r, or fails it at once with the writer's error.
func (w *writer) submit(r *writeReq) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		r.done <- w.err
		return
	}
	r.queued = true
	w.queue = append(w.queue, r)
	signal(w.wake)
}

// cancel takes r out of the queue if the writer has not taken it yet, and
// reports whether it did; then r will not be written and done will not be
// signalled.
func (w *writer) cancel(r *writeReq) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !r.queued {
		return false
	}
	r.queued = false
	for i, q := range w.queue {
		if q == r {
			w.queue = append(w.queue[:i], w.queue[i+1:]...)
			w.queue[len(w.queue):cap(w.queue)][0] = nil
			break
		}
	}
	return true
}

// shutdown makes the writer send what control frames it has, then last
// (a GOAWAY, or nil), close the socket and stop; queued and later
// requests fail with err.
func (w *writer) shutdown(err error, last []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closing {
		return
	}
	w.closing = true
	w.err = err
	w.ctrl = append(w.ctrl, last...)
	// Bound a write blocked on a full socket, and the last one. The
	// writer sets its own deadlines under w.mu and only while not
	// closing, so it cannot push this one back.
	w.conn.SetWriteDeadline(time.Now().Add(closeGrace))
	for _, r := range w.queue {
		r.queued = false
		r.done <- err
	}
	clear(w.queue)
	w.queue = w.queue[:0]
	signal(w.wake)
}

// run is the writer goroutine. fail is called with the socket's error if
// a write fails.
func (w *writer) run(fail func(error)) {
	defer w.conn.Close()
	var (
		buf   []byte // what one socket write carries
		spare []byte // the control buffer to hand back
		batch []*writeReq
	)
	for {
		w.mu.Lock()
		for len(w.ctrl) == 0 && len(w.data) == 0 && len(w.queue) == 0 && !w.closing {
			w.mu.Unlock()
			<-w.wake
			w.mu.Lock()
		}
		closing := w.closing
		if w.writeTimeout > 0 && !closing {
			w.conn.SetWriteDeadline(time.Now().Add(w.writeTimeout))
		}
		if len(w.ctrl) == 0 {
			buf, w.data = w.data, buf[:0]
		} else {
			buf = append(buf[:0], w.ctrl...)
			w.ctrl, spare = spare[:0], w.ctrl
			buf = append(buf, w.data...)
			w.data = w.data[:0]
		}
		n, size := 0, 0
		for n < len(w.queue) && size < maxBatch {
			r := w.queue[n]
			r.queued = false // taken: cancel no longer can
			batch = append(batch, r)
			size += len(r.headers) + len(r.data)
			n++
		}
		w.queue = w.queue[:copy(w.queue, w.queue[n:])]
		clear(w.queue[len(w.queue) : len(w.queue)+n])
		w.mu.Unlock()
		// Encoding copies the data, so it runs without the lock; the
		// callers wait for done, keeping their slices valid until then.
		for _, r := range batch {
			buf = w.appendReq(buf, r)
			r.done <- nil
		}
		clear(batch)
		batch = batch[:0]

		if len(buf) > 0 {
			if _, err := w.conn.Write(buf); err != nil {
				fail(err)
				w.shutdown(err, nil)
				return
			}
		}
		if closing {
			return
		}
		if cap(buf) > 4*maxBatch {
			buf = nil // a huge control burst; do not keep it
		}
	}
}

// appendReq encodes r's frames: HEADERS and CONTINUATION, then DATA split
// at the peer's maximum frame size, then RST_STREAM.
func (w *writer) appendReq(buf []byte, r *writeReq) []byte {
	max := int(w.maxFrame())
	if r.headers != nil {
		block, typ := r.headers, frameHeaders
		for {
			n := min(len(block), max)
			var f frameFlags
			if n == len(block) {
				f = flagEndHeaders
			}
			buf = appendFrameHeader(buf, frameHeader{length: uint32(n), typ: typ, flags: f, streamID: r.streamID})
			buf = append(buf, block[:n]...)
			block, typ = block[n:], frameContinuation
			if len(block) == 0 {
				break
			}
		}
	}
	if len(r.data) > 0 || r.endStream {
		buf = appendDataFrames(buf, r.streamID, r.data, r.endStream, max)
	}
	if r.rst {
		buf = appendRSTStream(buf, r.streamID, r.code)
	}
	return buf
}

// appendDataFrames encodes data as DATA frames of at most max bytes, the
// last with END_STREAM if end (a single empty one for no data).
func appendDataFrames(buf []byte, id uint32, data []byte, end bool, max int) []byte {
	for {
		n := min(len(data), max)
		var f frameFlags
		if n == len(data) && end {
			f = flagEndStream
		}
		buf = appendFrameHeader(buf, frameHeader{length: uint32(n), typ: frameData, flags: f, streamID: id})
		buf = append(buf, data[:n]...)
		data = data[n:]
		if len(data) == 0 {
			return buf
		}
	}
}
