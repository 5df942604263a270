package h2

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config tunes a [ClientConn]. The zero value (or nil) gives the defaults
// documented on each field.
type Config struct {
	// StreamWindow is each stream's receive window (sent as
	// SETTINGS_INITIAL_WINDOW_SIZE): how many bytes the server may send on
	// a stream beyond what the application has read. It is also the most
	// a stream buffers. Default 1 MiB; at least 65535, at most 2^31-1.
	StreamWindow uint32

	// ConnWindow is the connection's receive window. Credit for it goes
	// back as data arrives, not as it is read, so a stream whose
	// application stops reading holds up no other stream: the stream
	// windows bound the memory held. Default 4 MiB.
	ConnWindow uint32

	// MaxFrameSize is the largest frame payload accepted (sent as
	// SETTINGS_MAX_FRAME_SIZE); a larger frame fails the connection.
	// Default 256 KiB.
	MaxFrameSize uint32

	// MaxHeaderListSize caps a response's header list (sent as
	// SETTINGS_MAX_HEADER_LIST_SIZE) and, encoded, its header block.
	// Default 64 KiB.
	MaxHeaderListSize uint32

	// WriteTimeout bounds each write to the socket. A socket that accepts
	// nothing for that long fails the connection and all its streams; a
	// stream's own write deadline cannot help there, since the socket is
	// shared. Default 30 s; negative means none.
	WriteTimeout time.Duration
}

const (
	defaultStreamWindow      = 1 << 20
	defaultConnWindow        = 4 << 20
	defaultMaxFrameSize      = 256 << 10
	defaultMaxHeaderListSize = 64 << 10
	defaultWriteTimeout      = 30 * time.Second

	// maxContinuations caps the CONTINUATION frames of one header block,
	// against an endless run of small ones (CVE-2024-27316's pattern).
	maxContinuations = 64

	// maxInformational caps the 1xx responses before the final one.
	maxInformational = 8

	// floodLimit is how many frames of one kind that need work but carry
	// nothing for the application (PING, SETTINGS, GOAWAY, empty frames) a server
	// may send within floodWindow. Frames for closed streams get ten
	// times more: a client closing many streams at once legitimately
	// receives a few for each.
	floodLimit  = 1000
	floodWindow = time.Second

	// maxDebugData is how much of a GOAWAY's debug data is kept.
	maxDebugData = 256
)

func (c *Config) resolved() Config {
	var r Config
	if c != nil {
		r = *c
	}
	if r.StreamWindow == 0 {
		r.StreamWindow = defaultStreamWindow
	}
	r.StreamWindow = min(max(r.StreamWindow, initialWindow), maxWindow)
	if r.ConnWindow == 0 {
		r.ConnWindow = defaultConnWindow
	}
	r.ConnWindow = min(max(r.ConnWindow, initialWindow), maxWindow)
	if r.MaxFrameSize == 0 {
		r.MaxFrameSize = defaultMaxFrameSize
	}
	r.MaxFrameSize = min(max(r.MaxFrameSize, minMaxFrameSize), maxMaxFrameSize)
	if r.MaxHeaderListSize == 0 {
		r.MaxHeaderListSize = defaultMaxHeaderListSize
	}
	if r.WriteTimeout == 0 {
		r.WriteTimeout = defaultWriteTimeout
	}
	return r
}

// ClientConn is the client side of one HTTP/2 connection (RFC 9113) that
// carries WebSocket streams opened with the extended CONNECT of RFC 8441.
// It is safe for concurrent use.
//
// Two goroutines serve it: a read loop, which never waits on a write, and
// a writer, which sends control frames before stream data. Both end when
// the connection does; Close ends it.
type ClientConn struct {
	conn net.Conn
	cfg  Config
	w    *writer
	rd   *reader // the read loop's state, for tests once it has ended

	settled  chan struct{} // closed at the server's first SETTINGS
	dead     chan struct{} // closed when err is set
	readDone chan struct{} // closed when the read loop has returned

	peerMaxFrame atomic.Uint32 // read by the writer

	mu             sync.Mutex
	err            error // why the connection ended; set once
	streams        map[uint32]*Stream
	nextID         uint32
	goAway         *GoAwayError
	peer           peerSettings
	sendWindow     int64     // the connection's send window (RFC 9113, Section 6.9)
	connWaiters    []*Stream // streams waiting for sendWindow
	slotFree       chan struct{}
	sentFirstBlock bool   // whether a header block went out yet
	onIdle         func() // the pool's hook, run when the last stream ends
	onDead         func() // the pool's hook, run once when the connection ends
}

// peerSettings are the server's settings in force.
type peerSettings struct {
	maxConcurrent   uint32
	initialWindow   int64
	maxHeaderList   uint32
	extendedConnect bool
}

// NewClientConn starts HTTP/2 on c, which must have negotiated h2 in ALPN
// or be a cleartext connection to a server known to speak h2c with prior
// knowledge (RFC 9113, Section 3.3). It sends the preface and its SETTINGS
// (no push, the configured windows and limits) and waits, bounded by ctx,
// for the server's first SETTINGS, whose SETTINGS_ENABLE_CONNECT_PROTOCOL
// [ClientConn.ExtendedConnect] then reports. The ClientConn owns c from
// then on; on error c is closed.
func NewClientConn(ctx context.Context, c net.Conn, cfg *Config) (*ClientConn, error) {
	cc := &ClientConn{
		conn:     c,
		cfg:      cfg.resolved(),
		settled:  make(chan struct{}),
		dead:     make(chan struct{}),
		readDone: make(chan struct{}),
		streams:  make(map[uint32]*Stream),
		nextID:   1,
		peer: peerSettings{
			maxConcurrent: 1<<32 - 1, // "Initially, there is no limit" (RFC 9113, Section 6.5.2)
			initialWindow: initialWindow,
			maxHeaderList: 1<<32 - 1,
		},
		sendWindow: initialWindow,
		slotFree:   make(chan struct{}),
	}
	cc.peerMaxFrame.Store(minMaxFrameSize)
	cc.w = newWriter(c, cc.cfg.WriteTimeout, cc.peerMaxFrame.Load)

	preface := append([]byte(clientPreface), appendSettings(nil, []setting{
		{settingEnablePush, 0},
		{settingInitialWindowSize, cc.cfg.StreamWindow},
		{settingMaxFrameSize, cc.cfg.MaxFrameSize},
		{settingMaxHeaderListSize, cc.cfg.MaxHeaderListSize},
	})...)
	if n := cc.cfg.ConnWindow - initialWindow; n > 0 {
		preface = appendWindowUpdate(preface, 0, n)
	}
	cc.w.control(func(b []byte) []byte { return append(b, preface...) })

	cc.rd = newReader(cc)
	go cc.w.run(cc.socketFailed)
	go cc.rd.run()

	select {
	case <-cc.settled:
		return cc, nil
	case <-cc.dead:
		<-cc.readDone
		return nil, cc.err
	case <-ctx.Done():
		cc.fail(ctx.Err())
		<-cc.readDone
		return nil, ctx.Err()
	}
}

// ExtendedConnect reports whether the server allows the extended CONNECT
// (it sent SETTINGS_ENABLE_CONNECT_PROTOCOL=1, RFC 8441, Section 3), which
// [ClientConn.OpenStream] needs.
func (cc *ClientConn) ExtendedConnect() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.peer.extendedConnect
}

// Close sends GOAWAY and closes the connection at once; every stream's
// reads and writes then fail with an error matching net.ErrClosed. Close
// waits for the read loop to end, and returns nil, or net.ErrClosed when
// the connection had already ended.
func (cc *ClientConn) Close() error {
	first := cc.fail(errConnClosed)
	<-cc.readDone
	if !first {
		return net.ErrClosed
	}
	return nil
}

// Done returns a channel closed when the connection has ended.
func (cc *ClientConn) Done() <-chan struct{} { return cc.dead }

// Err returns why the connection ended, or nil while it is up.
func (cc *ClientConn) Err() error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.err
}

var errConnClosed = &wrapped{"websocket: http2: connection closed", net.ErrClosed}

// lostError is a connection that ended under the client: the socket failed
// or the server closed it. It wraps the network error, io.ErrUnexpectedEOF
// for a plain end of file.
type lostError struct{ err error }

func (e *lostError) Error() string { return "websocket: http2: connection lost: " + e.err.Error() }
func (e *lostError) Unwrap() error { return e.err }

// socketFailed is called by the writer and the read loop when the socket
// does.
func (cc *ClientConn) socketFailed(err error) {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	cc.fail(&lostError{err})
}

// fail ends the connection with err, once, and reports whether this call
// did. A ConnectionError goes to the server in a GOAWAY; every stream
// fails with err.
func (cc *ClientConn) fail(err error) bool {
	cc.mu.Lock()
	if cc.err != nil {
		cc.mu.Unlock()
		return false
	}
	cc.err = err
	close(cc.dead)
	streams := make([]*Stream, 0, len(cc.streams))
	for _, s := range cc.streams {
		streams = append(streams, s)
	}
	clear(cc.streams)
	cc.connWaiters = nil
	close(cc.slotFree)
	onDead := cc.onDead
	cc.mu.Unlock()

	var goAway []byte
	var ce *ConnectionError
	switch {
	case errors.As(err, &ce):
		goAway = appendGoAway(nil, 0, ce.Code, ce.Reason)
	case err == errConnClosed || errors.As(err, new(*GoAwayError)):
		goAway = appendGoAway(nil, 0, ErrCodeNo, "")
	}
	cc.w.shutdown(err, goAway)
	for _, s := range streams {
		s.connFailed(err)
	}
	if onDead != nil {
		onDead()
	}
	return true
}

// removeStreamLocked takes s, both of whose sides are done or which was
// reset, off the connection, freeing its slot; cc.mu is held. It reports
// whether that left the connection without streams, for streamGone.
func (cc *ClientConn) removeStreamLocked(s *Stream) (idle bool) {
	if cc.streams[s.id] != s {
		return false
	}
	delete(cc.streams, s.id)
	cc.freeSlotLocked()
	return len(cc.streams) == 0
}

// freeSlotLocked wakes the OpenStream calls waiting for a stream slot;
// cc.mu is held.
func (cc *ClientConn) freeSlotLocked() {
	if cc.err == nil { // else fail has closed slotFree for good
		close(cc.slotFree)
		cc.slotFree = make(chan struct{})
	}
}

// streamGone runs, without cc.mu, after removeStreamLocked reported the
// connection idle: after a GOAWAY nothing more can happen on it, so it is
// closed; otherwise the pool's hook is told.
func (cc *ClientConn) streamGone(idle bool) {
	if !idle {
		return
	}
	cc.mu.Lock()
	goAway, onIdle := cc.goAway, cc.onIdle
	cc.mu.Unlock()
	if goAway != nil {
		cc.fail(goAway)
	} else if onIdle != nil {
		onIdle()
	}
}

// wakeConnWaitersLocked wakes the streams waiting for the connection's
// send window, which has grown; cc.mu is held.
func (cc *ClientConn) wakeConnWaitersLocked() {
	for _, s := range cc.connWaiters {
		s.waitingConn = false
		signal(s.writable)
	}
	clear(cc.connWaiters)
	cc.connWaiters = cc.connWaiters[:0]
}

// usable reports whether the connection can take a new stream now: up,
// with extended CONNECT, no GOAWAY, identifiers left and a free slot under
// the server's SETTINGS_MAX_CONCURRENT_STREAMS.
func (cc *ClientConn) usable() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.err == nil && cc.goAway == nil && cc.peer.extendedConnect &&
		cc.nextID <= maxStreamID && uint32(len(cc.streams)) < cc.peer.maxConcurrent
}

// activeStreams returns the number of open streams.
func (cc *ClientConn) activeStreams() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.streams)
}

// localAddr and remoteAddr are the socket's.
func (cc *ClientConn) localAddr() net.Addr  { return cc.conn.LocalAddr() }
func (cc *ClientConn) remoteAddr() net.Addr { return cc.conn.RemoteAddr() }

// flood counts, per kind, frames that cost work but carry nothing, within
// the current window of floodWindow.
type flood struct {
	start  time.Time
	counts [floodKinds]int
}

type floodKind int

const (
	floodPing floodKind = iota
	floodSettings
	floodEmpty
	floodClosed
	floodGoAway
	floodKinds
)

var floodErrors = [floodKinds]error{
	connErr(ErrCodeEnhanceYourCalm, "PING flood"),
	connErr(ErrCodeEnhanceYourCalm, "SETTINGS flood"),
	connErr(ErrCodeEnhanceYourCalm, "flood of empty frames"),
	connErr(ErrCodeEnhanceYourCalm, "flood of frames for closed streams or of ignored frames"),
	connErr(ErrCodeEnhanceYourCalm, "GOAWAY flood"),
}

// note counts one frame of kind k and fails past floodLimit in a window.
func (f *flood) note(k floodKind) error {
	if now := time.Now(); now.Sub(f.start) > floodWindow {
		f.start = now
		f.counts = [floodKinds]int{}
	}
	f.counts[k]++
	limit := floodLimit
	if k == floodClosed {
		limit *= 10
	}
	if f.counts[k] > limit {
		return floodErrors[k]
	}
	return nil
}

// newBufferedReader sizes the read buffer for small frames; a frame
// larger than it is read straight into the frame buffer.
func newBufferedReader(c net.Conn) *bufio.Reader { return bufio.NewReaderSize(c, 16<<10) }
