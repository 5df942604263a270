package h2

import (
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// ExtendedConnectEnabled reports whether net/http's HTTP/2 server in this
// process accepts the extended CONNECT of RFC 8441, which Go 1.26 turns on
// only with GODEBUG=http2xconnect=1 in the environment at start-up. It is
// net/http's own test, read at the same time (package initialisation).
// Without it net/http resets every :protocol request before any handler
// runs, so a WebSocket over HTTP/2 never reaches the application.
func ExtendedConnectEnabled() bool { return extendedConnect }

var extendedConnect = strings.Contains(os.Getenv("GODEBUG"), "http2xconnect=1")

// ExtendedConnectProtocol returns the :protocol of r if r is an HTTP/2
// extended CONNECT (RFC 8441, Section 4), as net/http delivers it
// (r.Method CONNECT, the pseudo-header in r.Header), and "" otherwise.
func ExtendedConnectProtocol(r *http.Request) string {
	if r.ProtoMajor != 2 || r.Method != http.MethodConnect {
		return ""
	}
	return r.Header.Get(":protocol")
}

var errNotExtendedConnect = errors.New("websocket: http2: request is not an HTTP/2 extended CONNECT (RFC 8441)")

// ServerStream is the server's side of an extended CONNECT stream that
// net/http gave a handler, as a net.Conn: Read reads the request body,
// Write writes the response body, flushing each write.
//
// The stream lives inside the handler's call: net/http ends it when the
// handler returns, and using w after that is a data race (and a panic in
// net/http). So the handler must not return before the stream is closed:
// it may serve the stream itself or hand it off and wait on
// [ServerStream.Done].
//
// Read deadlines are resettable, as on a net.Conn. Write deadlines are
// resettable too, except while a write is blocked: net/http can cut a
// blocked write short only by resetting the stream (RST_STREAM
// INTERNAL_ERROR), so a write deadline that fires mid-write ends the
// stream and the write returns os.ErrDeadlineExceeded. There is no
// half-close: net/http cannot end the response while the request goes on.
type ServerStream struct {
	w     http.ResponseWriter
	r     *http.Request
	rc    *http.ResponseController
	local net.Addr

	// Reads: a goroutine calls r.Body.Read when Read asks and keeps what
	// it got in rbuf; a Read whose deadline passes leaves it there for
	// the next one.
	rmu          sync.Mutex
	rbuf         *[]byte // pooled; nil while nothing is buffered
	rsize        int     // the size of the next buffer
	roff, rlen   int
	rerr         error // sticky, after the data
	reading      bool  // the goroutine owns rbuf
	want, got    chan struct{}
	readerDone   chan struct{}
	readDeadline deadline

	// Writes.
	writeLock chan struct{} // capacity 1
	wmu       sync.Mutex
	wdeadline time.Time
	wtimer    *time.Timer
	writing   bool
	fired     bool  // the write deadline reset the stream
	werr      error // sticky

	closing   chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

// NewServerStream answers the extended CONNECT r with 200 and the header
// fields the caller set on w.Header() (minus Connection, which would make
// net/http close the whole HTTP/2 connection), flushes that answer alone,
// clears the stream's Server.ReadTimeout and WriteTimeout (which would
// otherwise end the WebSocket), and returns the stream. It fails if r is
// not an HTTP/2 extended CONNECT (see [ExtendedConnectProtocol]; the
// caller checks the :protocol) or if w cannot flush (a wrapper without
// Unwrap). A client that has gone already shows on the first Read or
// Write.
func NewServerStream(w http.ResponseWriter, r *http.Request) (*ServerStream, error) {
	if ExtendedConnectProtocol(r) == "" {
		return nil, errNotExtendedConnect
	}
	rc := http.NewResponseController(w)
	w.Header().Del("Connection")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); errors.Is(err, http.ErrNotSupported) {
		return nil, err
	}
	// Any other error means the client has gone already, perhaps after
	// sending its data and END_STREAM: the stream's reads and writes
	// tell the rest.
	rc.SetReadDeadline(time.Time{})
	rc.SetWriteDeadline(time.Time{})
	s := &ServerStream{
		w:          w,
		r:          r,
		rc:         rc,
		want:       make(chan struct{}, 1),
		got:        make(chan struct{}, 1),
		readerDone: make(chan struct{}),
		rsize:      minReadBuffer,
		writeLock:  make(chan struct{}, 1),
		closing:    make(chan struct{}),
		done:       make(chan struct{}),
	}
	s.local, _ = r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	go s.readBody()
	return s, nil
}

const (
	minReadBuffer = 4 << 10
	maxReadBuffer = 64 << 10
)

// readBufPools hold the read buffers of the streams, one pool per size
// from minReadBuffer to maxReadBuffer, doubling.
var readBufPools [5]sync.Pool

func readBufPool(size int) *sync.Pool {
	i := 0
	for n := minReadBuffer; n < size; n *= 2 {
		i++
	}
	return &readBufPools[i]
}

func getReadBuf(size int) *[]byte {
	if b, ok := readBufPool(size).Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, size)
	return &b
}

// releaseReadBuf gives the drained read buffer back to its pool; s.rmu is
// held and the goroutine does not own the buffer.
func (s *ServerStream) releaseReadBuf() {
	if s.rbuf != nil {
		readBufPool(len(*s.rbuf)).Put(s.rbuf)
		s.rbuf, s.roff, s.rlen = nil, 0, 0
	}
}

// readBody is the reader goroutine: one r.Body.Read per request from
// Read. It waits for data without a buffer: a Read of net/http's request
// body with an empty slice blocks until DATA is there (or the body's end
// or error) and consumes nothing, so an idle stream holds no read buffer.
// Only then does it take a pooled one, which Read gives back once it has
// copied everything out. Buffers start at 4 KiB and double, up to 64 KiB,
// each time a read fills one, so busy streams take large reads in few
// steps. It ends at the body's end or error, at Close, or when the
// request's context ends (the client reset the stream, the connection
// went, or the handler returned): then r.Body.Read no longer blocks, and
// Read calls it itself.
func (s *ServerStream) readBody() {
	defer close(s.readerDone)
	var empty [0]byte
	for {
		select {
		case <-s.want:
		case <-s.closing:
			return
		case <-s.r.Context().Done():
			return
		}
		var buf *[]byte
		n, err := s.r.Body.Read(empty[:])
		if err == nil {
			s.rmu.Lock()
			size := s.rsize
			s.rmu.Unlock()
			buf = getReadBuf(size)
			n, err = s.r.Body.Read(*buf)
		}
		s.rmu.Lock()
		if buf != nil && n == len(*buf) && s.rsize < maxReadBuffer {
			s.rsize *= 2
		}
		s.rbuf, s.roff, s.rlen, s.reading = buf, 0, n, false
		if n == 0 {
			s.releaseReadBuf()
		}
		if err != nil {
			s.rerr = err
		}
		s.rmu.Unlock()
		signal(s.got)
		if err != nil {
			return
		}
	}
}

// Read reads the request body: the client's DATA. It returns io.EOF when
// the client ended its side, and the stream's error when it reset it.
func (s *ServerStream) Read(p []byte) (int, error) { return s.read(p, false) }

// WaitRead waits until a Read would not block, without a buffer: for
// DATA, the end of the body or an error, under the read deadline. It
// returns the error the next Read would; nil when data is there, or when
// the stream is over and Read takes what is left without blocking. The
// Conn calls it before taking its read buffer, so that an idle
// WebSocket holds none.
func (s *ServerStream) WaitRead() error {
	_, err := s.read(nil, true)
	return err
}

func (s *ServerStream) read(p []byte, wait bool) (int, error) {
	for {
		expired := s.readDeadline.wait()
		if isClosed(expired) {
			return 0, os.ErrDeadlineExceeded
		}
		s.rmu.Lock()
		gone := isClosed(s.readerDone)
		if gone {
			s.reading = false // the goroutine may have left without reading
		}
		switch {
		case isClosed(s.closing):
			s.rmu.Unlock()
			return 0, net.ErrClosed
		case !s.reading && s.roff < s.rlen && wait:
			s.rmu.Unlock()
			return 0, nil
		case !s.reading && s.roff < s.rlen:
			n := copy(p, (*s.rbuf)[s.roff:s.rlen])
			s.roff += n
			if s.roff == s.rlen {
				s.releaseReadBuf()
			}
			s.rmu.Unlock()
			return n, nil
		case !s.reading && s.rerr != nil:
			err := s.rerr
			s.rmu.Unlock()
			return 0, err
		case len(p) == 0 && !wait, gone && wait:
			s.rmu.Unlock()
			return 0, nil
		case gone:
			// The stream is over: what the body still holds comes
			// without blocking.
			n, err := s.r.Body.Read(p)
			if err != nil {
				s.rerr = err
			}
			s.rmu.Unlock()
			return n, err
		case !s.reading:
			s.reading = true
			signal(s.want)
		}
		s.rmu.Unlock()
		select {
		case <-s.got:
		case <-expired:
		case <-s.closing:
		case <-s.readerDone:
		}
	}
}

// Write writes p to the response body and flushes it, so that it leaves
// as DATA now rather than when net/http's 4 KiB buffer fills. It waits for
// the client's flow-control window; see [ServerStream] for what its
// deadline does then.
func (s *ServerStream) Write(p []byte) (n int, err error) {
	if err := s.lockWrite(); err != nil {
		return 0, err
	}
	defer func() { <-s.writeLock }()
	s.wmu.Lock()
	switch {
	case isClosed(s.closing):
		err = net.ErrClosed
	case s.werr != nil:
		err = s.werr
	case !s.wdeadline.IsZero() && !time.Now().Before(s.wdeadline):
		err = os.ErrDeadlineExceeded
	}
	if err != nil {
		s.wmu.Unlock()
		return 0, err
	}
	s.writing = true
	s.wmu.Unlock()

	n, err = s.writeFlush(p)

	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.writing = false
	if err != nil {
		if s.fired {
			err = os.ErrDeadlineExceeded
		}
		s.werr = err
	}
	return n, err
}

// writeFlush writes and flushes, turning net/http's panic for a stream
// whose handler has returned into an error (the race remains: see
// ServerStream).
func (s *ServerStream) writeFlush(p []byte) (n int, err error) {
	defer func() {
		if recover() != nil {
			err = net.ErrClosed
		}
	}()
	if n, err = s.w.Write(p); err != nil {
		return n, err
	}
	return n, s.rc.Flush()
}

// lockWrite takes the write lock, waiting no longer than the write
// deadline or Close.
func (s *ServerStream) lockWrite() error {
	select {
	case s.writeLock <- struct{}{}:
		return nil
	default:
	}
	s.wmu.Lock()
	var expired <-chan time.Time
	if !s.wdeadline.IsZero() {
		t := time.NewTimer(time.Until(s.wdeadline))
		defer t.Stop()
		expired = t.C
	}
	s.wmu.Unlock()
	select {
	case s.writeLock <- struct{}{}:
		return nil
	case <-expired:
		return os.ErrDeadlineExceeded
	case <-s.closing:
		return net.ErrClosed
	}
}

// SetDeadline sets both deadlines; see [ServerStream].
func (s *ServerStream) SetDeadline(t time.Time) error {
	s.SetReadDeadline(t)
	return s.SetWriteDeadline(t)
}

// SetReadDeadline sets the read deadline, resettable.
func (s *ServerStream) SetReadDeadline(t time.Time) error {
	s.readDeadline.set(t)
	return nil
}

// SetWriteDeadline sets the write deadline. If it passes while a write is
// blocked, the stream is reset; see [ServerStream].
func (s *ServerStream) SetWriteDeadline(t time.Time) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	s.wdeadline = t
	if t.IsZero() {
		if s.wtimer != nil {
			s.wtimer.Stop()
		}
		return nil
	}
	d := time.Until(t)
	if s.wtimer == nil {
		s.wtimer = time.AfterFunc(d, s.writeDeadlinePassed)
	} else {
		s.wtimer.Reset(d)
	}
	return nil
}

// writeDeadlinePassed cuts a blocked write short, the only way net/http
// offers: a write deadline in the past resets the stream at once.
func (s *ServerStream) writeDeadlinePassed() {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.wdeadline.IsZero() {
		return
	}
	if d := time.Until(s.wdeadline); d > 0 {
		s.wtimer.Reset(d) // moved since the timer was set
		return
	}
	if s.writing && !s.fired {
		s.fired = true
		s.rc.SetWriteDeadline(time.Unix(1, 0))
	}
}

// Close ends the stream: a write blocked on flow control is cut short
// (which resets the stream), the request body is closed, and once no
// goroutine of the stream touches w or r any more, Done is closed. The
// handler may then return, and net/http ends the stream (END_STREAM, and
// RST_STREAM NO_ERROR if the client's side is still open). A second Close
// returns net.ErrClosed.
func (s *ServerStream) Close() error {
	err := net.ErrClosed
	s.closeOnce.Do(func() {
		err = nil
		s.wmu.Lock()
		close(s.closing)
		if s.writing && !s.fired {
			s.fired = true
			s.rc.SetWriteDeadline(time.Unix(1, 0))
		}
		if s.wtimer != nil {
			s.wtimer.Stop()
		}
		s.wmu.Unlock()
		s.writeLock <- struct{}{} // the blocked write has returned
		s.r.Body.Close()
		<-s.readerDone
		s.readDeadline.stop()
		close(s.done)
	})
	return err
}

// Done returns a channel closed when Close has finished: the handler can
// return then.
func (s *ServerStream) Done() <-chan struct{} { return s.done }

// LocalAddr returns the server's address for the connection.
func (s *ServerStream) LocalAddr() net.Addr { return s.local }

// RemoteAddr returns the client's address, from r.RemoteAddr.
func (s *ServerStream) RemoteAddr() net.Addr { return stringAddr(s.r.RemoteAddr) }

// stringAddr is a TCP address known only as a string.
type stringAddr string

func (a stringAddr) Network() string { return "tcp" }
func (a stringAddr) String() string  { return string(a) }

var _ net.Conn = (*ServerStream)(nil)
var _ net.Conn = (*Stream)(nil)
var _ io.Closer = (*Pool)(nil)
