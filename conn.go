package websocket

import (
	"compress/flate"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// MessageType is the type of a data message (RFC 6455, Section 5.6).
type MessageType int

const (
	// MessageText is a message of UTF-8 text. Received text is validated;
	// invalid UTF-8 fails the connection with close code 1007.
	MessageText MessageType = MessageType(opText)
	// MessageBinary is a message of arbitrary bytes.
	MessageBinary MessageType = MessageType(opBinary)
)

func (t MessageType) String() string {
	switch t {
	case MessageText:
		return "text"
	case MessageBinary:
		return "binary"
	}
	return fmt.Sprintf("MessageType(%d)", int(t))
}

// DefaultReadLimit is the largest message a Conn accepts unless its options
// or [Conn.SetReadLimit] say otherwise. Larger messages fail the connection
// with close code 1009.
const DefaultReadLimit = 1 << 20

const (
	defaultBufferSize   = 4096
	minReadBufferSize   = maxHeaderSize + maxControlPayload + 1
	defaultCloseTimeout = 5 * time.Second
	// minFragmentCap is the fewest fragments a message may have, whatever
	// the read limit. Above it, a message may have one fragment for every
	// 16 bytes of the read limit, which bounds the work a stream of empty
	// continuation frames can cause.
	minFragmentCap = 1024
)

// maxPresize is the most Read allocates for a message before its bytes
// arrive; larger messages grow as they are read.
const maxPresize = 64 << 10

// connConfig is what Accept and Dial pass to newConn.
type connConfig struct {
	client          bool
	subprotocol     string
	readLimit       int64
	readBufferSize  int
	writeBufferSize int
	closeTimeout    time.Duration
	deflate         *deflateConfig // nil: permessage-deflate not negotiated
	pingInterval    time.Duration
	pongTimeout     time.Duration
}

// Conn is a WebSocket connection, made by [Accept] on the server side or by
// [Dial] on the client side.
//
// A Conn is safe for concurrent use, except that only one goroutine may call
// Read or Reader (and read the message Reader returns) at a time. Any number
// of goroutines may call Write, Writer, Ping and Close while one reads;
// frames are never interleaved.
//
// Pings are answered and close frames echoed while a goroutine reads, so an
// application that only writes should still keep a goroutine in Read. Ping
// needs that reader to receive its pong.
type Conn struct {
	nc           net.Conn
	client       bool
	subprotocol  string
	closeTimeout time.Duration
	readLimit    atomic.Int64

	// Read side: owned by the holder of readMu.
	readMu       ctxMutex
	rbuf         []byte  // nil while idle, when it comes from the pool
	rbufp        *[]byte // the pooled buffer behind rbuf, if any
	rsize        int
	raw          *rawReader // waits for data without a buffer (unix TCP)
	rpos         int
	rend         int
	rs           readState
	msg          messageReader
	readCtx      context.Context
	readStop     func() bool // stops the AfterFunc that cancels reads
	readDeadline deadline
	readErr      error         // sticky: set once the read side is finished
	readDone     event         // set when the read side has ended, with readErr
	inflater     io.ReadCloser // pooled, held while a compressed message is read

	// Write side. msgMu is held for a whole data message, frameMu for the
	// write of one frame, so control frames go out between the fragments
	// of a streamed message.
	msgMu         ctxMutex
	frameMu       ctxMutex
	wbuf          []byte // data frames, owned by the holder of msgMu; nil between messages when pooled
	wbufp         *[]byte
	wsize         int
	ctrlBuf       [maxHeaderSize + maxControlPayload]byte
	writer        messageWriter
	deflate       *deflateConfig
	comp          *compression // non-nil when deflate is
	keys          *[64]byte    // client only: masking keys, refilled from crypto/rand
	keyPos        int
	writeDeadline deadline
	writeErr      error // sticky, guarded by frameMu
	closeSent     bool  // guarded by frameMu

	pingMu sync.Mutex
	pings  map[string]chan struct{}

	received        atomic.Uint64 // successful reads from the network, for the keepalive
	keepAlive       *keepAlive
	keepAliveFailed atomic.Bool
	groupMu         sync.Mutex
	group           *Group

	closed event // set when the TCP connection is (being) closed
}

// readState is where the reader is within the stream of frames.
type readState struct {
	open          bool        // a data message has started and has not ended
	typ           MessageType // type of the open message
	fin           bool        // the current frame is the last of the message
	remaining     int64       // payload bytes left in the current frame
	key           uint32      // masking key at the current payload position
	size          int64       // bytes of the message read so far (inflated)
	wire          int64       // payload bytes received for the message
	wireLimit     int64       // limit on wire, looser than limit when compressed
	compressed    bool        // RSV1 was set on the first frame (RFC 7692)
	inflateBroken bool        // a read of the compressed message was interrupted
	frames        int         // frames of the message so far
	limit         int64       // read limit for this message, <0 for none
	maxFrames     int
	utf8          utf8State
}

func newConn(nc net.Conn, cfg connConfig, buffered []byte) *Conn {
	c := &Conn{
		nc:           nc,
		client:       cfg.client,
		subprotocol:  cfg.subprotocol,
		closeTimeout: cfg.closeTimeout,
	}
	if c.closeTimeout <= 0 {
		c.closeTimeout = defaultCloseTimeout
	}
	switch {
	case cfg.readLimit == 0:
		c.readLimit.Store(DefaultReadLimit)
	default:
		c.readLimit.Store(cfg.readLimit)
	}
	size := cfg.readBufferSize
	if size <= 0 {
		size = defaultBufferSize
	}
	c.rsize = max(size, minReadBufferSize)
	if len(buffered) > 0 {
		if len(buffered) > c.rsize {
			c.rbuf = make([]byte, len(buffered))
		} else {
			c.takeReadBuf()
		}
		c.rend = copy(c.rbuf, buffered)
	}
	c.wsize = cfg.writeBufferSize
	if c.wsize <= 0 {
		c.wsize = defaultBufferSize
	}
	c.setupRawReader()
	c.msg.c = c
	c.writer.c = c
	c.startKeepAlive(cfg.pingInterval, cfg.pongTimeout)
	if cfg.deflate != nil {
		c.deflate = cfg.deflate
		c.comp = &compression{src: inflateSource{c: c}}
		if cfg.deflate.recvTakeover {
			c.comp.dict.max = 1 << cfg.deflate.recvWindowBits
		}
	}
	return c
}

// Subprotocol returns the subprotocol agreed in the opening handshake, or ""
// if none was.
func (c *Conn) Subprotocol() string { return c.subprotocol }

// SetReadLimit sets the largest message, in bytes, the Conn accepts from
// now on. A larger message fails the connection with close code 1009 and
// reads return [ErrMessageTooBig]. A negative n removes the limit. The
// default is [DefaultReadLimit] unless the options of Accept or Dial set
// another.
func (c *Conn) SetReadLimit(n int64) { c.readLimit.Store(n) }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// ---- reading ----

// Reader waits for the next data message and returns its type and a reader
// of its payload. The reader returns io.EOF at the end of the message; it is
// valid until the next call to Reader or Read. If the previous message was
// not read to its end, the rest of it is discarded first.
//
// ctx bounds the wait for the message and every read of it. If ctx ends
// while Reader waits, Reader returns ctx.Err() and the Conn stays usable:
// no partial frame is ever consumed. Once the peer has closed the
// connection, Reader returns a [CloseError]; when this endpoint failed the
// connection, a [*ProtocolError]; after that every call returns the same
// error.
func (c *Conn) Reader(ctx context.Context) (MessageType, io.Reader, error) {
	if err := c.readMu.lock(ctx); err != nil {
		return 0, nil, err
	}
	defer c.readMu.unlock()
	c.armRead(ctx)
	if err := c.waitIdle(); err != nil {
		return 0, nil, err
	}
	if err := c.nextMessage(); err != nil {
		return 0, nil, err
	}
	return c.rs.typ, &c.msg, nil
}

// Read waits for the next data message and returns it whole. The returned
// slice is newly allocated, exactly the message's size, and belongs to the
// caller. A loop that reads many or large messages does better with
// [Conn.ReadAppend], which reuses a buffer: a fresh 64 KiB slice per
// message costs more than reading it. See [Conn.Reader] for what ctx bounds
// and which errors end the connection.
func (c *Conn) Read(ctx context.Context) (MessageType, []byte, error) {
	typ, b, err := c.readWhole(ctx, nil)
	if err != nil {
		return 0, nil, err
	}
	return typ, b, nil
}

// assemblePool holds the buffers in which Read assembles a message whose
// size the first frame does not tell (fragmented or compressed), so that
// the caller's copy is one allocation of the exact size rather than a
// chain of doublings. At 16 KiB compressed that was 6 allocations and
// 2.4 times the bytes.
var assemblePool = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledAssembly caps the buffers assemblePool keeps.
const maxPooledAssembly = 1 << 20

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
func (c *Conn) ReadAppend(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	return c.readWhole(ctx, dst)
}

func (c *Conn) readWhole(ctx context.Context, dst []byte) (MessageType, []byte, error) {
	if err := c.readMu.lock(ctx); err != nil {
		return 0, dst, err
	}
	defer c.readMu.unlock()
	c.armRead(ctx)
	if err := c.waitIdle(); err != nil {
		return 0, dst, err
	}
	return c.readWholeLocked(dst)
}

// readWholeLocked is readWhole's work, in a function of its own so that
// the frame a connection parks in while idle stays small.
func (c *Conn) readWholeLocked(dst []byte) (MessageType, []byte, error) {
	if err := c.nextMessage(); err != nil {
		return 0, dst, err
	}
	// Size the room from the first frame, within the limit: a message in
	// one uncompressed frame needs at most one allocation of exactly its
	// size.
	n := c.rs.remaining
	if c.rs.limit >= 0 {
		n = min(n, c.rs.limit)
	}
	// Trust a declared length only so far: a 14-byte header must not cost
	// a full read limit of memory before the bytes arrive.
	n = min(n, maxPresize)
	if !c.rs.fin || c.rs.compressed {
		if dst == nil {
			return c.readAssembled()
		}
		n = max(n, 512)
	}
	b := dst
	if int64(cap(b)-len(b)) < n {
		b = slices.Grow(b, int(n))
	}
	b, err := c.appendMessage(b)
	if err != nil {
		return 0, dst, err
	}
	return c.rs.typ, b, nil
}

// appendMessage reads the rest of the open message into b's spare
// capacity, growing b as needed, and returns it extended.
func (c *Conn) appendMessage(b []byte) ([]byte, error) {
	for {
		m, err := c.readMessage(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if m == 0 && len(b) == cap(b) { // more to come and no room: grow
			b = append(b, 0)[:len(b)]
		}
	}
}

// waitIdle waits for bytes when nothing is buffered and no message is
// open, which is where an idle connection spends its time. Waiting here
// rather than deeper in the frame parser keeps the parked goroutine's
// stack shallow, so that the garbage collector can shrink it.
func (c *Conn) waitIdle() error {
	if c.rpos != c.rend || c.rs.open || c.readErr != nil {
		return nil
	}
	return c.fill()
}

// readAssembled reads the open message into a pooled buffer and returns an
// exact-size copy: Read's path for messages of unknown size.
func (c *Conn) readAssembled() (MessageType, []byte, error) {
	bp := assemblePool.Get().(*[]byte)
	b := (*bp)[:0]
	if cap(b) < 4096 {
		b = make([]byte, 0, 4096)
	}
	b, err := c.appendMessage(b)
	var out []byte
	if err == nil {
		out = make([]byte, len(b))
		copy(out, b)
	}
	if cap(b) <= maxPooledAssembly {
		*bp = b[:0]
		assemblePool.Put(bp)
	}
	return c.rs.typ, out, err
}

// nextMessage discards what is left of the open message and reads frames
// until the first frame of the next data message.
func (c *Conn) nextMessage() error {
	if c.readErr != nil {
		return c.readErr
	}
	for c.rs.open {
		// Drain the unread rest of the previous message; the read limit
		// still bounds it.
		if c.rs.inflateBroken {
			if err := c.skipBrokenMessage(); err != nil {
				return err
			}
			continue
		}
		d := getDiscard()
		_, err := c.readMessage(d[:])
		putDiscard(d)
		if err != nil && err != io.EOF {
			return err
		}
	}
	h, err := c.nextFrame(false)
	if err != nil {
		return err
	}
	limit := c.readLimit.Load()
	compressed := h.rsv&rsv1 != 0
	wireLimit := limit
	if compressed && limit >= 0 && limit < 1<<56 {
		// Deflate can grow incompressible data a little; the limit that
		// matters is on the inflated size, checked as it is produced.
		wireLimit = limit + limit/64 + 1024
	}
	c.rs = readState{
		open:       true,
		typ:        MessageType(h.op),
		fin:        h.fin,
		remaining:  h.length,
		key:        h.key,
		frames:     1,
		limit:      limit,
		wireLimit:  wireLimit,
		compressed: compressed,
		maxFrames:  fragmentCap(limit),
	}
	if wireLimit >= 0 && h.length > wireLimit {
		return c.fail(ErrMessageTooBig.(*ProtocolError))
	}
	if compressed {
		c.comp.src.tail, c.comp.src.done = nil, false
		c.inflater = getFlateReader(&c.comp.src, c.comp.dict.buf)
	}
	return nil
}

// skipBrokenMessage discards the frames of a compressed message whose
// inflation a context interrupted. Under context takeover the next message
// may refer to the lost data, so the connection cannot go on.
func (c *Conn) skipBrokenMessage() error {
	d := getDiscard()
	defer putDiscard(d)
	for {
		_, err := c.readRaw(d[:])
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
	}
	c.rs.open = false
	c.inflater = nil
	if c.comp.dict.max > 0 {
		return c.fail(errLostContext)
	}
	return nil
}

func fragmentCap(limit int64) int {
	if limit < 0 {
		return 1 << 24
	}
	return int(max(minFragmentCap, min(limit/16, 1<<30)))
}

// readMessage reads payload of the open message into p, inflating it if
// it is compressed. It returns io.EOF once the message has ended (possibly
// with the last bytes). Every byte is counted against the read limit and,
// for text, validated as UTF-8 as it arrives.
func (c *Conn) readMessage(p []byte) (n int, err error) {
	rs := &c.rs
	if rs.compressed {
		n, err = c.inflater.Read(p)
		if n > 0 {
			rs.size += int64(n)
			if rs.limit >= 0 && rs.size > rs.limit {
				return 0, c.fail(ErrMessageTooBig.(*ProtocolError))
			}
			if c.comp.dict.max > 0 {
				c.comp.dict.write(p[:n])
			}
		}
		switch {
		case err == io.EOF:
			// The inflater saw the final block of the tail; make sure the
			// frames are consumed to the end of the message.
			if !c.comp.src.rawDone() {
				// The peer ended its deflate stream early, with a block
				// marked BFINAL (RFC 7692, Section 7.2.3.5): what follows
				// it in the message is ignored. readRaw says io.EOF at the
				// end of the message's last frame, and keeps saying it.
				d := getDiscard()
				for {
					_, err := c.readRaw(d[:])
					if err == io.EOF {
						break
					}
					if err != nil {
						putDiscard(d)
						return 0, err
					}
				}
				putDiscard(d)
			}
			putFlateReader(c.inflater)
			c.inflater = nil
		case err == nil:
		case errors.As(err, new(flate.CorruptInputError)) || err == io.ErrUnexpectedEOF:
			// Corrupt or truncated deflate data (RFC 7692, Section 8).
			return 0, c.fail(errBadCompressedData)
		case err != nil:
			// Our source failed (context, network): the inflater's error is
			// sticky, so the rest of this message can only be skipped.
			rs.inflateBroken = true
		}
	} else {
		n, err = c.readRaw(p)
		rs.size += int64(n)
	}
	if n > 0 && rs.typ == MessageText && !rs.utf8.feed(p[:n]) {
		return 0, c.fail(errInvalidUTF8)
	}
	if err == io.EOF {
		if rs.typ == MessageText && !rs.utf8.done() {
			return 0, c.fail(errInvalidUTF8)
		}
		rs.open = false
	}
	return n, err
}

// readRaw reads the payload of the open message as it is on the wire,
// unmasked, into p. It returns io.EOF at the end of the message's last
// frame, moving across continuation frames and handling the control frames
// between them.
func (c *Conn) readRaw(p []byte) (int, error) {
	rs := &c.rs
	for rs.remaining == 0 {
		if rs.fin {
			return 0, io.EOF
		}
		h, err := c.nextFrame(true)
		if err != nil {
			return 0, err
		}
		rs.frames++
		if rs.frames > rs.maxFrames {
			return 0, c.fail(errTooManyFragments)
		}
		if rs.wireLimit >= 0 && h.length > rs.wireLimit-rs.wire {
			return 0, c.fail(ErrMessageTooBig.(*ProtocolError))
		}
		rs.fin, rs.remaining, rs.key = h.fin, h.length, h.key
	}
	if len(p) == 0 {
		return 0, nil
	}
	if int64(len(p)) > rs.remaining {
		p = p[:rs.remaining]
	}
	n, err := c.readPayload(p)
	if n > 0 {
		if !c.client {
			rs.key = mask(p[:n], rs.key)
		}
		rs.remaining -= int64(n)
		rs.wire += int64(n)
	}
	return n, err
}

// inflateSource feeds the inflater the payload of a compressed message,
// followed by deflateTail. It is a flate.Reader (it has ReadByte), so the
// inflater reads exactly the message and never wraps it in a bufio.Reader.
type inflateSource struct {
	c    *Conn
	tail []byte // what is left of deflateTail once the frames are done
	done bool   // the frames are done and tail has been set
}

func (s *inflateSource) rawDone() bool { return s.done }

func (s *inflateSource) Read(p []byte) (int, error) {
	if !s.done {
		n, err := s.c.readRaw(p)
		if err != io.EOF {
			return n, err
		}
		s.done, s.tail = true, deflateTail
	}
	if len(s.tail) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.tail)
	s.tail = s.tail[n:]
	return n, nil
}

func (s *inflateSource) ReadByte() (byte, error) {
	c := s.c
	if rs := &c.rs; !s.done && rs.remaining > 0 && c.rpos < c.rend {
		b := c.rbuf[c.rpos]
		if !c.client {
			b ^= byte(rs.key)
			rs.key = rs.key>>8 | rs.key<<24
		}
		c.rpos++
		rs.remaining--
		rs.wire++
		return b, nil
	}
	one := c.comp.one[:] // not a local array: it would escape to the heap
	for {
		n, err := s.Read(one)
		if n == 1 {
			return one[0], nil
		}
		if err != nil {
			return 0, err
		}
	}
}

// readPayload reads up to len(p) bytes of the current frame's payload from
// the buffer or, for large reads with an empty buffer, straight from the
// connection.
func (c *Conn) readPayload(p []byte) (int, error) {
	if c.rpos == c.rend {
		if len(p) >= c.rsize {
			n, err := c.nc.Read(p)
			if n > 0 {
				c.received.Add(1)
				return n, nil
			}
			return 0, c.readFailed(err)
		}
		if err := c.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(p, c.rbuf[c.rpos:c.rend])
	c.rpos += n
	return n, nil
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
		n, err := c.nc.Read(c.rbuf[c.rend:])
		c.rend += n
		if n > 0 {
			c.received.Add(1)
			return nil
		}
		if err != nil {
			return c.readFailed(err)
		}
	}
}

// readFailed turns an error from the network into what a read returns. An
// error caused by the read's context leaves the Conn usable, because the
// reader never consumes part of a frame it cannot finish; anything else
// ends the read side.
func (c *Conn) readFailed(err error) error {
	if ctxErr := ctxCause(c.readCtx, err); ctxErr != nil {
		return ctxErr
	}
	if c.isClosed() {
		if c.keepAliveFailed.Load() {
			return c.readFatal(ErrKeepAliveTimeout)
		}
		return c.readFatal(net.ErrClosed)
	}
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return c.readFatal(&netError{op: "read", err: err})
}

// netError reports that the connection broke without a closing handshake:
// what RFC 6455, Section 7.1.5 calls close code 1006.
type netError struct {
	op  string
	err error
}

func (e *netError) Error() string {
	return "websocket: connection lost during " + e.op + " (1006 abnormal closure): " + e.err.Error()
}
func (e *netError) Unwrap() error { return e.err }

// nextFrame reads frame headers until a data frame, handling every control
// frame on the way. continuation says whether the data frame must continue
// the open message. It consumes nothing of a frame before the whole header
// (and, for a control frame, the whole payload) is buffered, which is what
// makes a read interrupted by its context safe to retry.
func (c *Conn) nextFrame(continuation bool) (header, error) {
	rules := frameRules{inMessage: continuation, masked: !c.client, rsv1: c.deflate != nil}
	for {
		h, n, err := parseHeader(c.rbuf[c.rpos:c.rend])
		if err != nil {
			return h, c.fail(err.(*ProtocolError))
		}
		if n == 0 {
			if err := c.fill(); err != nil {
				return h, err
			}
			continue
		}
		if err := checkHeader(h, rules); err != nil {
			return h, c.fail(err.(*ProtocolError))
		}
		if !h.op.isControl() {
			c.rpos += n
			return h, nil
		}
		if int64(c.rend-c.rpos-n) < h.length {
			if err := c.fill(); err != nil {
				return h, err
			}
			continue
		}
		payload := c.rbuf[c.rpos+n : c.rpos+n+int(h.length)]
		c.rpos += n + int(h.length)
		if h.masked {
			mask(payload, h.key)
		}
		if err := c.handleControl(h.op, payload); err != nil {
			return h, err
		}
	}
}

// handleControl acts on a received control frame (RFC 6455, Section 5.5).
func (c *Conn) handleControl(op opcode, payload []byte) error {
	switch op {
	case opPing:
		// Section 5.5.2: "Upon receipt of a Ping frame, an endpoint MUST
		// send a Pong frame in response ... the Pong frame MUST have
		// identical Application data". After our close frame no pong may
		// follow it, so writeControl refuses and the ping goes unanswered.
		err := c.writeControl(c.readContext(), opPong, payload)
		if err != nil && !errors.Is(err, net.ErrClosed) {
			if ctxErr := c.readContext().Err(); ctxErr != nil {
				return ctxErr
			}
			return c.readFatal(err)
		}
	case opPong:
		c.pingMu.Lock()
		if ch, ok := c.pings[string(payload)]; ok {
			delete(c.pings, string(payload))
			close(ch)
		}
		c.pingMu.Unlock()
	case opClose:
		code, reason, err := parseClosePayload(payload)
		if err != nil {
			return c.fail(err.(*ProtocolError))
		}
		ce := CloseError{Code: code, Reason: string(reason)}
		// Section 5.5.1: "If an endpoint receives a Close frame and did
		// not previously send a Close frame, the endpoint MUST send a
		// Close frame in response", typically echoing the status code.
		c.sendClose(code, "")
		err = c.readFatal(ce)
		c.shutdown(true)
		return err
	}
	return nil
}

func (c *Conn) readContext() context.Context {
	if c.readCtx != nil {
		return c.readCtx
	}
	return context.Background()
}

// readFatal ends the read side with err, which every later read returns.
func (c *Conn) readFatal(err error) error {
	c.readDone.fire(func() {
		c.readErr = err
		c.rs.open = false
	})
	return c.readErr
}

// fail fails the connection (RFC 6455, Section 7.1.7): it sends a close
// frame with the error's code, then closes the TCP connection. It returns
// the read side's sticky error, which is perr unless the read side had
// already ended (then nothing more is sent).
func (c *Conn) fail(perr *ProtocolError) error {
	if c.readFinished() {
		return c.readErr
	}
	c.sendClose(perr.Code, perr.Reason)
	err := c.readFatal(perr)
	c.shutdown(false)
	return err
}

// armRead makes ctx bound the reads to come. A context that can never end
// costs nothing; any other sets the read deadline and, for cancellation,
// registers a function that moves it into the past.
func (c *Conn) armRead(ctx context.Context) {
	prev := c.readCtx
	c.readCtx = ctx
	if c.readStop != nil {
		c.readStop()
		c.readStop = nil
	}
	if prev == nil || prev.Done() == nil {
		if ctx.Done() == nil {
			return
		}
	}
	c.readStop = c.readDeadline.arm(ctx, c.nc.SetReadDeadline)
}

// deadline ties a net.Conn deadline to a context. The function that
// context.AfterFunc runs on cancellation may still be running after stop
// has returned; the generation makes such a late call harmless, so it can
// never cut short the next operation.
type deadline struct {
	mu  sync.Mutex
	gen uint64
}

// arm sets the deadline for ctx (or clears it, for a context that cannot
// end) and returns the function that stops watching ctx, or nil.
func (d *deadline) arm(ctx context.Context, set func(time.Time) error) (stop func() bool) {
	d.mu.Lock()
	d.gen++
	gen := d.gen
	t, _ := ctx.Deadline()
	set(t)
	d.mu.Unlock()
	if ctx.Done() == nil {
		return nil
	}
	return context.AfterFunc(ctx, func() {
		d.mu.Lock()
		if d.gen == gen {
			set(aLongTimeAgo)
		}
		d.mu.Unlock()
	})
}

// disarm stops watching and clears the deadline.
func (d *deadline) disarm(stop func() bool, set func(time.Time) error) {
	if stop != nil {
		stop()
	}
	d.mu.Lock()
	d.gen++
	set(time.Time{})
	d.mu.Unlock()
}

// ctxCause reports whether err, from I/O bounded by ctx, was caused by ctx
// ending, and if so returns ctx's error. The network poller can report the
// deadline a moment before the context's own timer marks it done.
func ctxCause(ctx context.Context, err error) error {
	if ctx == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

var aLongTimeAgo = time.Unix(1, 0)

// messageReader is the io.Reader that Reader returns. There is one per
// Conn, reused for every message, which is why it is valid only until the
// next call to Reader or Read.
type messageReader struct {
	c *Conn
}

func (r *messageReader) Read(p []byte) (int, error) {
	c := r.c
	if err := c.readMu.lock(c.readContext()); err != nil {
		return 0, err
	}
	defer c.readMu.unlock()
	if c.readErr != nil {
		return 0, c.readErr
	}
	if !c.rs.open {
		return 0, io.EOF
	}
	return c.readMessage(p)
}

// ---- writing ----

// Write sends p as one message of type typ: one frame or, when
// permessage-deflate was negotiated and p is not below its threshold,
// compressed into frames of up to 64 KiB.
// It waits for any message being streamed by a [Conn.Writer] to finish
// first. Write does not keep p: it returns once the frame is handed to the
// kernel. To send one message to many connections, see [Broadcast].
//
// ctx bounds the call. If ctx ends before the frame starts, Write returns
// ctx.Err() and the Conn stays usable; if it ends part-way through the
// frame, the Conn is closed, since the stream can no longer be framed.
func (c *Conn) Write(ctx context.Context, typ MessageType, p []byte) error {
	if typ != MessageText && typ != MessageBinary {
		return errBadMessageType
	}
	if err := c.msgMu.lock(ctx); err != nil {
		return err
	}
	defer c.msgMu.unlock()
	if c.deflate != nil && len(p) >= c.deflate.threshold {
		return c.writeCompressed(ctx, opcode(typ), p)
	}
	h := header{fin: true, op: opcode(typ)}
	if len(p) <= maxControlPayload {
		// A small frame fits in the control frame buffer, which frameMu
		// guards: no pooled buffer to take and give back.
		return c.writeData(ctx, h, p, c.ctrlBuf[:])
	}
	c.takeWriteBuf()
	err := c.writeData(ctx, h, p, c.wbuf)
	c.dropWriteBuf()
	return err
}

// writeCompressed sends p as one compressed message (RFC 7692, Section
// 7.2.1), in frames of up to compressFrameSize bytes. The caller holds
// msgMu.
func (c *Conn) writeCompressed(ctx context.Context, op opcode, p []byte) error {
	w := &c.writer
	w.ctx, w.op = ctx, op
	w.startDeflate()
	return w.finishDeflate(w.deflateWrite(p))
}

var errBadMessageType = errors.New("websocket: message type must be MessageText or MessageBinary")

// lockFrame takes frameMu for the write of one frame, unless the write side
// is over: a close frame went out (RFC 6455, Section 5.5.1: nothing may
// follow it) or an earlier write broke the stream.
func (c *Conn) lockFrame(ctx context.Context) error {
	if err := c.frameMu.lock(ctx); err != nil {
		return err
	}
	err := c.writeErr
	if c.closeSent {
		err = net.ErrClosed
	}
	if err != nil {
		c.frameMu.unlock()
	}
	return err
}

// writeData writes one data frame with payload p, using buf as scratch:
// the data buffer (the caller holds msgMu) or, for a frame that fits,
// ctrlBuf (guarded by frameMu, which writeData takes).
func (c *Conn) writeData(ctx context.Context, h header, p, buf []byte) error {
	if err := c.lockFrame(ctx); err != nil {
		return err
	}
	defer c.frameMu.unlock()
	h.length = int64(len(p))
	stop := c.armWrite(ctx)
	err := c.writeFrame(buf, h, p)
	return c.disarmWrite(ctx, stop, err)
}

// writeFrame writes the frame h with payload p, using buf as scratch. The
// caller holds frameMu. A frame that fits in buf leaves with one copy and
// one system call. A larger frame is copied (and, by a client, masked) into
// a pooled 256 KiB buffer and leaves in 256 KiB writes: going through the
// 4 KiB buffer cost 16 system calls per 64 KiB and 1.7 times the time
// (BenchmarkWrite). A client never masks the caller's slice, only its copy.
func (c *Conn) writeFrame(buf []byte, h header, p []byte) error {
	if c.client {
		h.masked = true
		h.key = c.nextKey()
	}
	if int64(len(p)) > int64(cap(buf)-maxHeaderSize) {
		return c.writeLarge(h, p)
	}
	b := appendHeader(buf[:0], h)
	n := copy(buf[len(b):cap(buf)], p)
	if c.client {
		mask(buf[len(b):len(b)+n], h.key)
	}
	_, err := c.nc.Write(buf[:len(b)+n])
	return err
}

// writeLarge sends a frame larger than the buffer through a pooled 256 KiB
// buffer held for this write only, in which a client masks its copy of the
// payload. A server copies too: measured in the loopback echo at 64 KiB
// (bench/, wsbench profile), copy and write took 45 us of CPU per echo
// against 57 us for a writev of header and payload. Kept out of
// writeFrame so that the frame of the common path stays small: a
// connection's goroutine then echoes small messages within its first 2 KiB
// of stack.
//
//go:noinline
func (c *Conn) writeLarge(h header, p []byte) error {
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
		if _, err := c.nc.Write(buf[:len(b)+n]); err != nil {
			return err
		}
		p = p[n:]
		if len(p) == 0 {
			return nil
		}
		b = buf[:0]
	}
}

// nextKey returns a fresh masking key. RFC 6455, Section 5.3: the key
// "MUST be derived from a strong source of entropy"; keys come from
// crypto/rand, 16 at a time.
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

// writeControl sends a control frame. The caller must not hold frameMu.
func (c *Conn) writeControl(ctx context.Context, op opcode, payload []byte) error {
	if err := c.lockFrame(ctx); err != nil {
		return err
	}
	defer c.frameMu.unlock()
	if op == opClose {
		c.closeSent = true
	}
	stop := c.armWrite(ctx)
	err := c.writeFrame(c.ctrlBuf[:], header{fin: true, op: op, length: int64(len(payload))}, payload)
	return c.disarmWrite(ctx, stop, err)
}

// armWrite makes ctx bound the frame write to come; disarmWrite undoes it
// and turns the outcome into what the write returns. A write error ends the
// write side for good (and closes the connection): part of a frame may have
// gone out. The caller holds frameMu.
func (c *Conn) armWrite(ctx context.Context) func() bool {
	if ctx.Done() == nil {
		return nil
	}
	return c.writeDeadline.arm(ctx, c.nc.SetWriteDeadline)
}

func (c *Conn) disarmWrite(ctx context.Context, stop func() bool, err error) error {
	if ctx.Done() != nil {
		c.writeDeadline.disarm(stop, c.nc.SetWriteDeadline)
	}
	if err == nil {
		return nil
	}
	if ctxErr := ctxCause(ctx, err); ctxErr != nil {
		err = ctxErr
	} else if c.isClosed() {
		err = net.ErrClosed
	} else {
		err = &netError{op: "write", err: err}
	}
	c.writeErr = err
	c.nc.Close()
	return err
}

// Writer returns a writer for a message of type typ, streamed as fragments
// (RFC 6455, Section 5.4): each time its buffer fills, a frame goes out;
// Close sends the final frame. Only one message is written at a time: a
// second Writer, or a Write, waits until the first is closed. ctx bounds
// the wait and every write of the message, as for [Conn.Write].
func (c *Conn) Writer(ctx context.Context, typ MessageType) (io.WriteCloser, error) {
	if typ != MessageText && typ != MessageBinary {
		return nil, errBadMessageType
	}
	if err := c.msgMu.lock(ctx); err != nil {
		return nil, err
	}
	c.takeWriteBuf()
	w := &c.writer
	w.ctx, w.op, w.n, w.done = ctx, opcode(typ), 0, false
	return w, nil
}

// messageWriter is the io.WriteCloser that Writer returns; there is one per
// Conn. It holds msgMu from Writer until Close. It collects payload in the
// data buffer after room for the largest header. With permessage-deflate, a
// message that outgrows the buffer (or reaches the threshold by Close) is
// compressed from then on: the flate.Writer feeds a deflateSink that frames
// its output.
type messageWriter struct {
	c    *Conn
	ctx  context.Context
	op   opcode // opcode of the next frame: the type, then continuation
	n    int    // bytes collected in c.wbuf[maxHeaderSize:]
	done bool

	fw *flate.Writer // non-nil while compressing this message
}

// compression is the permessage-deflate state of a Conn that negotiated
// it. A Conn without compression carries a nil pointer instead, which
// keeps the Conn of the common case small.
type compression struct {
	src  inflateSource // feeds the inflater
	dict window        // history for the next message under context takeover
	sink deflateSink   // frames the compressor's output
	pos  int           // input bytes since the compressor was last reset
	one  [1]byte       // inflateSource.ReadByte's slow path reads into it
}

var errWriterClosed = errors.New("websocket: write to a closed message writer")

func (w *messageWriter) Write(p []byte) (int, error) {
	if w.done {
		return 0, errWriterClosed
	}
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
			err := c.writeData(w.ctx, header{op: w.op}, p, c.wbuf)
			w.op = opContinuation
			if err != nil {
				return written, err
			}
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

// startDeflate takes a compressor and a sink from the pools and feeds the
// compressor whatever was buffered so far.
func (w *messageWriter) startDeflate() {
	c := w.c
	w.c.comp.sink.start(c, w.ctx, w.op)
	w.fw = getFlateWriter(c.deflate.level, &w.c.comp.sink)
	w.c.comp.pos = 0
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
	putFlateWriter(w.c.deflate.level, w.fw)
	w.fw = nil
	if err == nil {
		err = w.c.comp.sink.finish()
	}
	w.c.comp.sink.release()
	w.op = opContinuation
	return err
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
	err := s.c.writeInPlace(s.ctx, header{fin: fin, rsv: s.rsv, op: s.op}, buf, k)
	s.op, s.rsv = opContinuation, 0
	s.n = copy(buf[maxHeaderSize:], buf[maxHeaderSize+k:maxHeaderSize+s.n])
	return err
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

// flushBuffered sends the payload collected in c.wbuf as the next frame.
func (w *messageWriter) flushBuffered(fin bool) error {
	err := w.c.writeInPlace(w.ctx, header{fin: fin, op: w.op}, w.c.wbuf, w.n)
	w.op, w.n = opContinuation, 0
	return err
}

// writeInPlace writes a frame whose n-byte payload already sits in buf
// after maxHeaderSize bytes of room: the header goes right-aligned before
// it, so the frame leaves in one system call. A client masks the payload in
// place, which is fine: buf is the Conn's own.
func (c *Conn) writeInPlace(ctx context.Context, h header, buf []byte, n int) error {
	if err := c.lockFrame(ctx); err != nil {
		return err
	}
	defer c.frameMu.unlock()
	h.length = int64(n)
	if c.client {
		h.masked = true
		h.key = c.nextKey()
		mask(buf[maxHeaderSize:maxHeaderSize+n], h.key)
	}
	var hb [maxHeaderSize]byte
	hdr := appendHeader(hb[:0], h)
	start := maxHeaderSize - len(hdr)
	copy(buf[start:], hdr)
	stop := c.armWrite(ctx)
	_, err := c.nc.Write(buf[start : maxHeaderSize+n])
	return c.disarmWrite(ctx, stop, err)
}

// Close sends the final frame of the message and releases the Conn for the
// next message. It is an error to write after Close.
func (w *messageWriter) Close() error {
	if w.done {
		return errWriterClosed
	}
	w.done = true
	defer w.c.msgMu.unlock()
	defer w.c.dropWriteBuf()
	if w.fw == nil && w.c.deflate != nil && w.op != opContinuation && w.n >= w.c.deflate.threshold {
		w.startDeflate()
	}
	if w.fw != nil {
		return w.finishDeflate(nil)
	}
	return w.flushBuffered(true)
}

// ---- ping ----

// Ping sends a ping and waits for the matching pong (RFC 6455, Section
// 5.5.2). The pong is received by the goroutine reading from the Conn, so
// Ping only returns nil while another goroutine is in Read or Reader. ctx
// bounds the wait; when it ends, Ping returns ctx.Err() and the Conn stays
// usable.
func (c *Conn) Ping(ctx context.Context) error {
	var id [8]byte
	rand.Read(id[:])
	ch := make(chan struct{})
	c.pingMu.Lock()
	if c.pings == nil {
		c.pings = make(map[string]chan struct{})
	}
	c.pings[string(id[:])] = ch
	c.pingMu.Unlock()
	defer func() {
		c.pingMu.Lock()
		delete(c.pings, string(id[:]))
		c.pingMu.Unlock()
	}()
	if err := c.writeControl(ctx, opPing, id[:]); err != nil {
		return err
	}
	select {
	case <-ch:
		return nil
	case <-c.readDone.wait():
		return c.readErr
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ---- locks ----

// event is a signal given once, like closing a channel, but the channel is
// made only when someone waits for it: every Conn has two events, and two
// channels would add 192 bytes to each idle connection.
type event struct {
	mu  sync.Mutex
	set atomic.Bool
	ch  chan struct{}
}

// fire gives the signal and reports whether this call did; only the first
// does. f, if not nil, runs first, under the event's lock: what it writes is
// visible to whoever sees the event set.
func (e *event) fire(f func()) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.set.Load() {
		return false
	}
	if f != nil {
		f()
	}
	e.set.Store(true)
	if e.ch != nil {
		close(e.ch)
	}
	return true
}

func (e *event) isSet() bool { return e.set.Load() }

// wait returns a channel that is closed once the event is set.
func (e *event) wait() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.ch == nil {
		e.ch = make(chan struct{})
		if e.set.Load() {
			close(e.ch)
		}
	}
	return e.ch
}

// ctxMutex is a lock whose lock can give up when a context ends. Taking a
// free lock is one atomic compare-and-swap and releasing it one atomic add,
// as for the sync.Mutex inside: the hot path of an echo takes three locks,
// and the channel this used to be spent 45% of the library's CPU time on
// them (BenchmarkFraming, 16 B). Only a caller that must wait and can give
// up pays for a goroutine.
type ctxMutex struct{ mu sync.Mutex }

func (m *ctxMutex) lock(ctx context.Context) error {
	if m.mu.TryLock() {
		return nil
	}
	if ctx.Done() == nil {
		m.mu.Lock()
		return nil
	}
	if m.lockSlow(ctx.Done(), nil) {
		return nil
	}
	return ctx.Err()
}

// lockUnless takes the lock unless stop closes or ctx ends first, and
// reports whether it did.
func (m *ctxMutex) lockUnless(ctx context.Context, stop <-chan struct{}) bool {
	return m.mu.TryLock() || m.lockSlow(ctx.Done(), stop)
}

// lockSlow waits for the lock until it is taken (true) or a or b closes
// (false). A goroutine waits in sync.Mutex.Lock on the caller's behalf and
// hands the lock over, or releases it at once if the caller gave up.
func (m *ctxMutex) lockSlow(a, b <-chan struct{}) bool {
	select {
	case <-a:
		return false
	case <-b:
		return false
	default:
	}
	got, gaveUp := make(chan struct{}), make(chan struct{})
	go func() {
		m.mu.Lock()
		select {
		case got <- struct{}{}:
		case <-gaveUp:
			m.mu.Unlock()
		}
	}()
	select {
	case <-got:
		return true
	case <-a:
	case <-b:
	}
	close(gaveUp)
	return false
}

func (m *ctxMutex) unlock() { m.mu.Unlock() }
