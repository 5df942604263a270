package h2

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"time"
)

// maxReqData is the most one Write hands the writer at a time, so that
// streams writing large messages take turns on the connection.
const maxReqData = 64 << 10

var (
	errStreamEnded     = &wrapped{"websocket: http2: stream ended by the server", io.ErrClosedPipe}
	errWriteClosed     = &wrapped{"websocket: http2: write after CloseWrite", io.ErrClosedPipe}
	errRequestTooLarge = errors.New("websocket: http2: request header list larger than the server's SETTINGS_MAX_HEADER_LIST_SIZE")
)

// Stream is one extended CONNECT stream (RFC 8441) of a [ClientConn], as
// a net.Conn: Read returns the DATA the server sends, Write sends DATA
// within flow control. It is safe for concurrent use; concurrent Writes
// are serialised.
//
// Deadlines are the stream's own and resettable: one that passes makes the
// blocked and later calls in its direction return os.ErrDeadlineExceeded,
// and moving it into the future (or clearing it) makes the stream usable
// again, with nothing lost. A Write waiting for flow-control credit is cut
// short by its deadline; bytes already handed to the writer are sent.
type Stream struct {
	cc   *ClientConn
	id   uint32
	resp *Response // the final response; set before OpenStream returns

	// Guarded by cc.mu.
	buf         recvBuffer // received DATA not yet read
	recvWindow  int64      // what the server may still send
	unacked     uint32     // read but not yet credited back
	remoteDone  bool       // END_STREAM received
	readErr     error      // returned once buf is empty: io.EOF, a reset, the connection's end
	sendWindow  int64
	localDone   bool // END_STREAM queued
	writeErr    error
	pending     *writeReq // the request the writer has not taken yet, if any
	closed      bool
	waitingConn bool // in cc.connWaiters
	interim     int  // 1xx responses seen

	readable  chan struct{} // capacity 1: data, end or error arrived
	writable  chan struct{} // capacity 1: credit, end or error
	writeLock chan struct{} // capacity 1: held by a Write or CloseWrite
	req       writeReq      // reused by each Write
	reqDone   chan error

	readDeadline, writeDeadline deadline
}

func newStream(cc *ClientConn, id uint32) *Stream {
	return &Stream{
		cc:         cc,
		id:         id,
		recvWindow: int64(cc.cfg.StreamWindow),
		sendWindow: cc.peer.initialWindow,
		readable:   make(chan struct{}, 1),
		writable:   make(chan struct{}, 1),
		writeLock:  make(chan struct{}, 1),
		reqDone:    make(chan error, 1),
	}
}

// OpenStream sends an extended CONNECT (RFC 8441, Section 4) and waits,
// bounded by ctx, for the response. A 2xx response gives the Stream; any
// other a [*StatusError] with the status, header and the start of the
// body. When the server's SETTINGS_MAX_CONCURRENT_STREAMS is reached,
// OpenStream waits for a stream to end. It fails with [ErrHTTP1] when the
// server has not enabled the extended CONNECT, and with an error matching
// [ErrStreamRefused] when the connection takes no new streams (GOAWAY,
// closed, identifiers used up) or the server refused this one: the caller
// may retry on another connection.
func (cc *ClientConn) OpenStream(ctx context.Context, req *Request) (*Stream, error) {
	cc.mu.Lock()
	for {
		switch {
		case cc.err != nil, cc.goAway != nil, cc.nextID > maxStreamID:
			cc.mu.Unlock()
			return nil, errNoNewStreams
		case !cc.peer.extendedConnect:
			cc.mu.Unlock()
			return nil, ErrHTTP1
		}
		if uint32(len(cc.streams)) < cc.peer.maxConcurrent {
			break
		}
		free := cc.slotFree
		cc.mu.Unlock()
		select {
		case <-free:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		cc.mu.Lock()
	}
	var block []byte
	if !cc.sentFirstBlock {
		// The client's encoder never uses the dynamic table; saying so
		// once keeps any later SETTINGS_HEADER_TABLE_SIZE satisfied
		// (RFC 7541, Section 4.2).
		block = appendTableSizeUpdate(block, 0)
	}
	block, size, err := appendRequest(block, req)
	if err == nil && size > uint64(cc.peer.maxHeaderList) {
		err = errRequestTooLarge
	}
	if err != nil {
		cc.mu.Unlock()
		return nil, err
	}
	s := newStream(cc, cc.nextID)
	cc.nextID += 2
	cc.streams[s.id] = s
	cc.sentFirstBlock = true
	s.req = writeReq{streamID: s.id, headers: block, done: s.reqDone}
	s.pending = &s.req
	// Submitted under cc.mu, so HEADERS go out in identifier order (RFC
	// 9113, Section 5.1.1).
	cc.w.submit(&s.req)
	cc.mu.Unlock()

	if err := s.awaitResponse(ctx); err != nil {
		return nil, err
	}
	if s.resp.StatusCode/100 != 2 {
		body := s.errorBody(ctx)
		s.Close()
		return nil, &StatusError{Response: *s.resp, Body: body}
	}
	return s, nil
}

// awaitResponse waits for the HEADERS to go out and the final response to
// come back.
func (s *Stream) awaitResponse(ctx context.Context) error {
	cc := s.cc
	sent := false
	for {
		cc.mu.Lock()
		resp, err := s.resp, s.readErr
		cc.mu.Unlock()
		if sent && resp != nil {
			return nil
		}
		if sent && err != nil {
			return err
		}
		select {
		case err := <-s.reqDone:
			cc.mu.Lock()
			s.pending = nil
			cc.mu.Unlock()
			if err != nil {
				return err
			}
			sent = true
		case <-s.readable:
		case <-ctx.Done():
			s.abandon()
			return ctx.Err()
		}
	}
}

// abandon ends a stream OpenStream gives up on: one whose HEADERS never
// left is dropped without a word (a RST_STREAM on a stream the server
// never saw is an error, RFC 9113, Section 5.1); one the server knows is
// reset with CANCEL.
func (s *Stream) abandon() {
	cc := s.cc
	cc.mu.Lock()
	var gone bool
	if s.pending != nil && cc.w.cancel(s.pending) {
		s.pending = nil
		gone = s.endLocked(context.Canceled, context.Canceled)
	} else if cc.streams[s.id] == s {
		gone = s.resetLocked(ErrCodeCancel, "request canceled")
	}
	s.closed = true
	cc.mu.Unlock()
	cc.streamGone(gone)
}

// errorBody returns up to maxErrorBody bytes of a refusal's body, waiting
// for it until END_STREAM, the limit, an error or the end of ctx.
func (s *Stream) errorBody(ctx context.Context) []byte {
	cc := s.cc
	for {
		cc.mu.Lock()
		if s.buf.len() >= maxErrorBody || s.readErr != nil {
			body := s.buf.peek(maxErrorBody)
			cc.mu.Unlock()
			return body
		}
		cc.mu.Unlock()
		select {
		case <-s.readable:
		case <-ctx.Done():
			cc.mu.Lock()
			body := s.buf.peek(maxErrorBody)
			cc.mu.Unlock()
			return body
		}
	}
}

// Response returns the server's response to the extended CONNECT.
func (s *Stream) Response() *Response { return s.resp }

// Read reads DATA from the stream. It returns io.EOF once the server has
// ended its side (END_STREAM, RFC 9113, Section 8.1) and the data before
// it has been read; a reset gives a [*StreamError] (after the data that
// came before it), the end of the connection its error. Credit goes back
// to the server as the application reads.
func (s *Stream) Read(p []byte) (int, error) {
	cc := s.cc
	for {
		expired := s.readDeadline.wait()
		if isClosed(expired) {
			return 0, os.ErrDeadlineExceeded
		}
		cc.mu.Lock()
		if s.closed {
			cc.mu.Unlock()
			return 0, net.ErrClosed
		}
		if s.buf.len() > 0 && len(p) > 0 {
			n := s.buf.read(p)
			credit := s.creditLocked(n)
			cc.mu.Unlock()
			if credit > 0 {
				if err := cc.w.windowUpdate(s.id, credit); err != nil {
					cc.fail(err)
				}
			}
			return n, nil
		}
		if s.readErr != nil || len(p) == 0 {
			err := s.readErr
			cc.mu.Unlock()
			return 0, err
		}
		cc.mu.Unlock()
		select {
		case <-s.readable:
		case <-expired:
		}
	}
}

// creditLocked notes n bytes read and returns the credit to send back, in
// batches of a quarter of the window; cc.mu is held.
func (s *Stream) creditLocked(n int) uint32 {
	if s.remoteDone {
		return 0 // nothing more will come
	}
	s.unacked += uint32(n)
	if s.unacked < s.cc.cfg.StreamWindow/4 {
		return 0
	}
	c := s.unacked
	s.unacked = 0
	s.recvWindow += int64(c)
	return c
}

// Write sends p as DATA, split by the server's SETTINGS_MAX_FRAME_SIZE and
// by the stream's and the connection's send windows (RFC 9113, Section
// 6.9), waiting for credit as needed. It returns once every byte is handed
// to the connection's writer, which sends them in order; an error of the
// socket after that shows on later calls.
func (s *Stream) Write(p []byte) (int, error) {
	if err := s.lockWrite(); err != nil {
		return 0, err
	}
	defer func() { <-s.writeLock }()
	cc := s.cc
	n := 0
	for {
		k, err := s.reserve(len(p) - n)
		if err != nil || k == 0 {
			return n, err
		}
		cc.mu.Lock()
		if err := s.writeErrLocked(); err != nil {
			s.returnCreditLocked(k)
			cc.mu.Unlock()
			return n, err
		}
		if ok, err := cc.w.appendData(s.id, p[n:n+k]); ok {
			cc.mu.Unlock()
			if err != nil {
				return n, err
			}
			if n += k; n == len(p) {
				return n, nil
			}
			continue
		}
		s.req = writeReq{streamID: s.id, data: p[n : n+k], done: s.reqDone}
		s.pending = &s.req
		cc.w.submit(&s.req)
		cc.mu.Unlock()
		select {
		case err = <-s.reqDone:
		case <-s.writeDeadline.wait():
			cc.mu.Lock()
			if cc.w.cancel(&s.req) {
				s.pending = nil
				s.returnCreditLocked(k)
				cc.mu.Unlock()
				return n, os.ErrDeadlineExceeded
			}
			cc.mu.Unlock()
			err = <-s.reqDone // taken: it is being encoded
		}
		cc.mu.Lock()
		s.pending = nil
		cc.mu.Unlock()
		if err != nil {
			return n, err
		}
		if n += k; n == len(p) {
			return n, nil
		}
	}
}

// lockWrite takes the write lock, waiting no longer than the write
// deadline.
func (s *Stream) lockWrite() error {
	select {
	case s.writeLock <- struct{}{}:
		return nil
	default:
	}
	select {
	case s.writeLock <- struct{}{}:
		return nil
	case <-s.writeDeadline.wait():
		return os.ErrDeadlineExceeded
	}
}

// reserve waits until both send windows are open and takes up to want
// bytes (at most maxReqData) of them. It returns 0 for want 0.
func (s *Stream) reserve(want int) (int, error) {
	cc := s.cc
	for {
		expired := s.writeDeadline.wait()
		if isClosed(expired) {
			return 0, os.ErrDeadlineExceeded
		}
		cc.mu.Lock()
		if err := s.writeErrLocked(); err != nil {
			cc.mu.Unlock()
			return 0, err
		}
		if want == 0 {
			cc.mu.Unlock()
			return 0, nil
		}
		if s.sendWindow > 0 && cc.sendWindow > 0 {
			k := min(int64(min(want, maxReqData)), s.sendWindow, cc.sendWindow)
			s.sendWindow -= k
			cc.sendWindow -= k
			cc.mu.Unlock()
			return int(k), nil
		}
		if cc.sendWindow <= 0 && !s.waitingConn {
			s.waitingConn = true
			cc.connWaiters = append(cc.connWaiters, s)
		}
		cc.mu.Unlock()
		select {
		case <-s.writable:
		case <-expired:
		}
	}
}

// returnCreditLocked gives back credit taken for a write that never went
// out; cc.mu is held.
func (s *Stream) returnCreditLocked(k int) {
	cc := s.cc
	s.sendWindow += int64(k)
	cc.sendWindow += int64(k)
	cc.wakeConnWaitersLocked()
}

func (s *Stream) writeErrLocked() error {
	switch {
	case s.closed:
		return net.ErrClosed
	case s.writeErr != nil:
		return s.writeErr
	case s.localDone:
		return errWriteClosed
	}
	return nil
}

// CloseWrite ends the client's side of the stream (END_STREAM) after any
// write in progress; reads go on until the server ends its side.
func (s *Stream) CloseWrite() error {
	if err := s.lockWrite(); err != nil {
		return err
	}
	defer func() { <-s.writeLock }()
	cc := s.cc
	cc.mu.Lock()
	if err := s.writeErrLocked(); err != nil {
		cc.mu.Unlock()
		return err
	}
	s.localDone = true
	cc.w.submit(&writeReq{streamID: s.id, endStream: true, done: make(chan error, 1)})
	var gone bool
	if s.remoteDone {
		gone = cc.removeStreamLocked(s)
	}
	cc.mu.Unlock()
	cc.streamGone(gone)
	return nil
}

// Close ends the stream: blocked and later calls return net.ErrClosed.
// If the client's side is still open it sends END_STREAM, so the server
// reads a clean end; if the server's side is still open it then sends
// RST_STREAM CANCEL, so the stream's resources go at once on both ends
// (RFC 9113, Section 8.1 allows either side to do so). Close does not wait
// for the frames to be written. A second Close returns net.ErrClosed.
func (s *Stream) Close() error {
	cc := s.cc
	cc.mu.Lock()
	if s.closed {
		cc.mu.Unlock()
		return net.ErrClosed
	}
	s.closed = true
	s.cancelPendingLocked(net.ErrClosed)
	var gone bool
	if cc.streams[s.id] == s {
		r := &writeReq{streamID: s.id, done: make(chan error, 1)}
		r.endStream = !s.localDone
		r.rst, r.code = !s.remoteDone, ErrCodeCancel
		s.localDone = true
		cc.w.submit(r)
		gone = cc.removeStreamLocked(s)
	}
	s.buf.release()
	signal(s.readable)
	signal(s.writable)
	cc.mu.Unlock()
	s.readDeadline.stop()
	s.writeDeadline.stop()
	cc.streamGone(gone)
	return nil
}

// LocalAddr returns the connection's local address.
func (s *Stream) LocalAddr() net.Addr { return s.cc.localAddr() }

// RemoteAddr returns the connection's remote address.
func (s *Stream) RemoteAddr() net.Addr { return s.cc.remoteAddr() }

// SetDeadline sets both deadlines; see [Stream].
func (s *Stream) SetDeadline(t time.Time) error {
	s.readDeadline.set(t)
	s.writeDeadline.set(t)
	return nil
}

// SetReadDeadline sets the read deadline; see [Stream].
func (s *Stream) SetReadDeadline(t time.Time) error {
	s.readDeadline.set(t)
	return nil
}

// SetWriteDeadline sets the write deadline; see [Stream].
func (s *Stream) SetWriteDeadline(t time.Time) error {
	s.writeDeadline.set(t)
	return nil
}

// The read loop's side: what frames do to a stream. Every method is
// called with cc.mu held and reports, for streamGone, whether the stream
// left the connection without streams.

// receiveHeadersLocked takes a decoded header block: the response (after
// any 1xx), or trailers.
func (s *Stream) receiveHeadersLocked(fields []headerField, endStream, tooLarge bool) bool {
	switch {
	case s.remoteDone:
		return s.resetLocked(ErrCodeStreamClosed, "HEADERS after END_STREAM")
	case tooLarge:
		return s.resetLocked(ErrCodeProtocol, "response header list larger than SETTINGS_MAX_HEADER_LIST_SIZE")
	case s.resp != nil:
		if !endStream {
			return s.resetLocked(ErrCodeProtocol, "trailers without END_STREAM")
		}
		if _, _, reason := parseResponse(fields, true); reason != "" {
			return s.resetLocked(ErrCodeProtocol, reason)
		}
		return s.remoteEndLocked()
	}
	status, h, reason := parseResponse(fields, false)
	switch {
	case reason != "":
		return s.resetLocked(ErrCodeProtocol, reason)
	case status == 101:
		return s.resetLocked(ErrCodeProtocol, reasonStatus101)
	case status < 200 && endStream:
		return s.resetLocked(ErrCodeProtocol, reasonInterimEnd)
	case status < 200:
		if s.interim++; s.interim > maxInformational {
			return s.resetLocked(ErrCodeProtocol, reasonTooManyInterim)
		}
		return false
	}
	s.resp = &Response{StatusCode: status, Header: h}
	if endStream {
		return s.remoteEndLocked()
	}
	signal(s.readable)
	return false
}

// receiveDataLocked takes the data of a DATA frame whose header is h.
// Only a flow-control violation is a connection error; the rest reset the
// stream.
func (s *Stream) receiveDataLocked(h frameHeader, data []byte) (bool, error) {
	switch {
	case s.resp == nil:
		return s.resetLocked(ErrCodeProtocol, "DATA before the response HEADERS"), nil
	case s.remoteDone:
		return s.resetLocked(ErrCodeStreamClosed, "DATA after END_STREAM"), nil
	case int64(h.length) > s.recvWindow:
		return false, errStreamFlowControl
	}
	s.recvWindow -= int64(h.length)
	if pad := h.length - uint32(len(data)); pad > 0 {
		// Padding is never read: its credit goes back at once.
		s.recvWindow += int64(pad)
		if err := s.cc.w.windowUpdate(s.id, pad); err != nil {
			return false, err
		}
	}
	s.buf.write(data)
	if h.has(flagEndStream) {
		return s.remoteEndLocked(), nil
	}
	signal(s.readable)
	return false, nil
}

// receiveResetLocked takes the server's RST_STREAM. RST_STREAM NO_ERROR
// after the server's END_STREAM is a normal end, the server asking the
// client to stop sending (RFC 9113, Section 8.1); net/http sends exactly
// that when a handler returns.
func (s *Stream) receiveResetLocked(code ErrCode) bool {
	if code == ErrCodeNo && s.remoteDone {
		return s.endLocked(io.EOF, errStreamEnded)
	}
	err := &StreamError{StreamID: s.id, Code: code, Remote: true}
	return s.endLocked(err, err)
}

// remoteEndLocked records the server's END_STREAM.
func (s *Stream) remoteEndLocked() bool {
	s.remoteDone = true
	if s.readErr == nil {
		s.readErr = io.EOF
	}
	signal(s.readable)
	if s.localDone {
		return s.cc.removeStreamLocked(s)
	}
	return false
}

// resetLocked resets the stream with a stream error this endpoint
// detected (RFC 9113, Section 5.4.2).
func (s *Stream) resetLocked(code ErrCode, reason string) bool {
	err := &StreamError{StreamID: s.id, Code: code, Reason: reason}
	s.cc.w.rstStream(s.id, code)
	return s.endLocked(err, err)
}

// failLocked ends the stream with err, sending nothing: the GOAWAY case.
func (s *Stream) failLocked(err error) bool { return s.endLocked(err, err) }

// endLocked ends both directions with the errors given (a direction that
// already ended keeps its own), cuts short a write not yet taken, wakes
// both sides and takes the stream off the connection.
func (s *Stream) endLocked(readErr, writeErr error) bool {
	if s.readErr == nil {
		s.readErr = readErr
	}
	if s.writeErr == nil {
		s.writeErr = writeErr
	}
	s.cancelPendingLocked(s.writeErr)
	signal(s.readable)
	signal(s.writable)
	return s.cc.removeStreamLocked(s)
}

// cancelPendingLocked fails the request the writer has not taken yet,
// giving the connection back the credit its data had taken: the stream is
// ending, but the other streams need that window.
func (s *Stream) cancelPendingLocked(err error) {
	if s.pending != nil && s.cc.w.cancel(s.pending) {
		s.returnCreditLocked(len(s.pending.data))
		s.pending.done <- err
	}
}

// connFailed ends the stream with the connection's error; the stream is
// already off the connection.
func (s *Stream) connFailed(err error) {
	s.cc.mu.Lock()
	defer s.cc.mu.Unlock()
	if s.readErr == nil {
		s.readErr = err
	}
	if s.writeErr == nil {
		s.writeErr = err
	}
	signal(s.readable)
	signal(s.writable)
}
