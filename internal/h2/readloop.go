package h2

import (
	"bufio"
	"io"
)

// The read loop: one goroutine per connection reads frames and acts on
// them. It never waits on a write: answers go to the writer's control
// buffer, and data to the streams' buffers, bounded by their windows.

// Connection errors the read loop detects, built once.
var (
	errNoPreface          = connErr(ErrCodeProtocol, "server's first frame is not SETTINGS (RFC 9113, Section 3.4)")
	errExpectContinuation = connErr(ErrCodeProtocol, "frame other than CONTINUATION inside a header block")
	errStrayContinuation  = connErr(ErrCodeProtocol, "CONTINUATION outside a header block or on another stream")
	errTooManyContinue    = connErr(ErrCodeEnhanceYourCalm, "header block in too many CONTINUATION frames")
	errHeaderBlockSize    = connErr(ErrCodeEnhanceYourCalm, "header block larger than SETTINGS_MAX_HEADER_LIST_SIZE")
	errPushPromise        = connErr(ErrCodeProtocol, "PUSH_PROMISE although SETTINGS_ENABLE_PUSH is 0")
	errIdleStream         = connErr(ErrCodeProtocol, "frame on a stream the client never opened")
	errConnFlowControl    = connErr(ErrCodeFlowControl, "DATA beyond the connection's flow-control window")
	errStreamFlowControl  = connErr(ErrCodeFlowControl, "DATA beyond the stream's flow-control window")
	errConnWindowOverflow = connErr(ErrCodeFlowControl, "WINDOW_UPDATE took the connection's window above 2^31-1")
	errSettingsOverflow   = connErr(ErrCodeFlowControl, "SETTINGS_INITIAL_WINDOW_SIZE took a stream's window above 2^31-1")
	errConnectWithdrawn   = connErr(ErrCodeProtocol, "SETTINGS_ENABLE_CONNECT_PROTOCOL went from 1 to 0 (RFC 8441, Section 3)")
)

// reader is the read loop's state; only its goroutine touches it.
type reader struct {
	cc  *ClientConn
	br  *bufio.Reader
	hdr [frameHeaderLen]byte
	buf []byte // the current frame's payload; grows to the largest frame seen

	dec    *hpackDecoder
	fields []headerField

	// The header block being assembled from HEADERS and CONTINUATION.
	block         []byte
	blockStream   uint32
	blockEnd      bool // END_STREAM was on the HEADERS
	inBlock       bool
	continuations int

	// The connection's receive window: what the server may still send,
	// and what arrived since the last WINDOW_UPDATE.
	recvWindow int64
	unacked    uint32

	flood   flood
	settled bool
}

func newReader(cc *ClientConn) *reader {
	return &reader{
		cc:         cc,
		br:         newBufferedReader(cc.conn),
		dec:        newHpackDecoder(4096, cc.cfg.MaxHeaderListSize),
		recvWindow: int64(cc.cfg.ConnWindow),
	}
}

// run reads until the connection ends, then fails it with the reason.
func (r *reader) run() {
	defer close(r.cc.readDone)
	err := r.loop()
	if ce, ok := err.(*ConnectionError); ok {
		r.cc.fail(ce)
		return
	}
	r.cc.socketFailed(err)
}

func (r *reader) loop() error {
	max := r.cc.cfg.MaxFrameSize
	for {
		if _, err := io.ReadFull(r.br, r.hdr[:]); err != nil {
			return err
		}
		h := parseFrameHeader(r.hdr[:])
		if h.length > max {
			return errFrameTooLarge
		}
		if int(h.length) > cap(r.buf) {
			r.buf = make([]byte, h.length)
		}
		p := r.buf[:h.length]
		if _, err := io.ReadFull(r.br, p); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
		if !r.settled && (h.typ != frameSettings || h.has(flagAck)) {
			return errNoPreface
		}
		// RFC 9113, Section 6.10: a header block "MUST be followed by a
		// CONTINUATION frame for the same stream"; anything else is a
		// connection error.
		if r.inBlock && h.typ != frameContinuation {
			return errExpectContinuation
		}
		if err := r.frame(h, p); err != nil {
			return err
		}
	}
}

func (r *reader) frame(h frameHeader, p []byte) error {
	switch h.typ {
	case frameData:
		return r.data(h, p)
	case frameHeaders:
		return r.headers(h, p)
	case frameContinuation:
		return r.continuation(h, p)
	case framePriority:
		return r.priority(h, p)
	case frameRSTStream:
		return r.rstStream(h, p)
	case frameSettings:
		return r.settings(h, p)
	case framePushPromise:
		// RFC 9113, Section 8.4: a client that disabled push "MUST
		// treat receipt of a PUSH_PROMISE frame as a connection error".
		return errPushPromise
	case framePing:
		return r.ping(h, p)
	case frameGoAway:
		return r.goAway(h, p)
	case frameWindowUpdate:
		return r.windowUpdate(h, p)
	default:
		// "Implementations MUST ignore and discard frames of unknown
		// types" (RFC 9113, Section 5.5).
		return r.flood.note(floodClosed)
	}
}

// lookupLocked returns the open stream id, or nil and whether id names a
// stream in the idle state, which the client never opened (RFC 9113,
// Section 5.1): a server cannot open streams, so even identifiers are
// always idle. cc.mu is held.
func (r *reader) lookupLocked(id uint32) (s *Stream, idle bool) {
	if s = r.cc.streams[id]; s != nil {
		return s, false
	}
	return nil, id%2 == 0 || id >= r.cc.nextID
}

// noStream handles a frame for a stream that is not open: a connection
// error for an idle stream; for a closed one, the frame is ignored (RFC
// 9113, Section 5.1: "An endpoint MUST ignore frames that it receives on
// closed streams after it has sent a RST_STREAM frame"; the client keeps
// no record of how each closed stream ended, so it ignores them all) and
// counted against floods.
func (r *reader) noStream(idle bool) error {
	if idle {
		return errIdleStream
	}
	return r.flood.note(floodClosed)
}

func (r *reader) data(h frameHeader, p []byte) error {
	cc := r.cc
	if h.streamID == 0 {
		return errStreamZero
	}
	// The whole payload counts, padding included (RFC 9113, Section
	// 6.9.1), and goes back to the connection's window on receipt.
	if int64(h.length) > r.recvWindow {
		return errConnFlowControl
	}
	r.recvWindow -= int64(h.length)
	r.unacked += h.length
	if r.unacked >= cc.cfg.ConnWindow/4 {
		if err := cc.w.windowUpdate(0, r.unacked); err != nil {
			return err
		}
		r.recvWindow += int64(r.unacked)
		r.unacked = 0
	}
	data, err := dataPayload(h, p)
	if err != nil {
		return err
	}
	if len(data) == 0 && !h.has(flagEndStream) {
		if err := r.flood.note(floodEmpty); err != nil {
			return err
		}
	}
	cc.mu.Lock()
	s, idle := r.lookupLocked(h.streamID)
	if s == nil {
		cc.mu.Unlock()
		return r.noStream(idle)
	}
	gone, err := s.receiveDataLocked(h, data)
	cc.mu.Unlock()
	cc.streamGone(gone)
	return err
}

func (r *reader) headers(h frameHeader, p []byte) error {
	frag, err := headersFragment(h, p)
	if err != nil {
		return err
	}
	r.blockStream, r.blockEnd, r.continuations = h.streamID, h.has(flagEndStream), 0
	r.block = append(r.block[:0], frag...)
	if len(frag) == 0 && !h.has(flagEndHeaders) {
		if err := r.flood.note(floodEmpty); err != nil {
			return err
		}
	}
	return r.fragmentAdded(h)
}

func (r *reader) continuation(h frameHeader, p []byte) error {
	if !r.inBlock || h.streamID != r.blockStream {
		return errStrayContinuation
	}
	if r.continuations++; r.continuations > maxContinuations {
		return errTooManyContinue
	}
	r.block = append(r.block, p...)
	return r.fragmentAdded(h)
}

// fragmentAdded checks the block's size and, at END_HEADERS, decodes it
// and hands the fields to the stream.
func (r *reader) fragmentAdded(h frameHeader) error {
	if len(r.block) > int(r.cc.cfg.MaxHeaderListSize) {
		return errHeaderBlockSize
	}
	r.inBlock = !h.has(flagEndHeaders)
	if r.inBlock {
		return nil
	}
	// Decode first, whatever the stream: the HPACK state is the
	// connection's (RFC 9113, Section 4.3).
	fields, err := r.dec.decode(r.fields[:0], r.block)
	tooLarge := err == errHeaderListTooLarge
	if err != nil && !tooLarge {
		return err
	}
	cc := r.cc
	cc.mu.Lock()
	s, idle := r.lookupLocked(r.blockStream)
	var gone bool
	if s != nil {
		gone = s.receiveHeadersLocked(fields, r.blockEnd, tooLarge)
	}
	cc.mu.Unlock()
	clear(fields) // drop the strings
	r.fields = fields[:0]
	if s == nil {
		return r.noStream(idle)
	}
	cc.streamGone(gone)
	return nil
}

func (r *reader) priority(h frameHeader, p []byte) error {
	if err := checkPriority(h, p); err != nil {
		if err != errFrameLength {
			return err
		}
		// "A PRIORITY frame with a length other than 5 octets MUST be
		// treated as a stream error" (RFC 9113, Section 6.3).
		r.resetIfOpen(h.streamID, ErrCodeFrameSize, "PRIORITY of the wrong length")
	}
	return r.flood.note(floodClosed)
}

// resetIfOpen resets stream id with a stream error if it is open.
func (r *reader) resetIfOpen(id uint32, code ErrCode, reason string) {
	cc := r.cc
	cc.mu.Lock()
	var gone bool
	if s := cc.streams[id]; s != nil {
		gone = s.resetLocked(code, reason)
	}
	cc.mu.Unlock()
	cc.streamGone(gone)
}

func (r *reader) rstStream(h frameHeader, p []byte) error {
	code, err := rstStreamCode(h, p)
	if err != nil {
		return err
	}
	cc := r.cc
	cc.mu.Lock()
	s, idle := r.lookupLocked(h.streamID)
	if s == nil {
		cc.mu.Unlock()
		return r.noStream(idle)
	}
	gone := s.receiveResetLocked(code)
	cc.mu.Unlock()
	cc.streamGone(gone)
	return nil
}

func (r *reader) settings(h frameHeader, p []byte) error {
	n, err := checkSettingsFrame(h)
	if err != nil {
		return err
	}
	if err := r.flood.note(floodSettings); err != nil {
		return err
	}
	if h.has(flagAck) {
		return nil
	}
	cc := r.cc
	cc.mu.Lock()
	for i := range n {
		if err := cc.applySettingLocked(settingAt(p, i)); err != nil {
			cc.mu.Unlock()
			return err
		}
	}
	cc.mu.Unlock()
	// The acknowledgement goes out after the values took effect (RFC
	// 9113, Section 6.5.3), and so do the frames written after it.
	if err := cc.w.control(appendSettingsAck); err != nil {
		return err
	}
	if !r.settled {
		r.settled = true
		close(cc.settled)
	}
	return nil
}

// applySettingLocked applies one of the server's settings, in the order
// they came (RFC 9113, Section 6.5.3); cc.mu is held.
func (cc *ClientConn) applySettingLocked(s setting) error {
	if err := checkServerSetting(s); err != nil {
		return err
	}
	switch s.id {
	case settingMaxConcurrentStreams:
		cc.peer.maxConcurrent = s.val
		cc.freeSlotLocked()
	case settingInitialWindowSize:
		// The change applies to every stream's send window, which may go
		// negative (RFC 9113, Section 6.9.2).
		delta := int64(s.val) - cc.peer.initialWindow
		for _, st := range cc.streams {
			st.sendWindow += delta
			if st.sendWindow > maxWindow {
				return errSettingsOverflow
			}
			signal(st.writable)
		}
		cc.peer.initialWindow = int64(s.val)
	case settingMaxFrameSize:
		cc.peerMaxFrame.Store(s.val)
	case settingMaxHeaderListSize:
		cc.peer.maxHeaderList = s.val
	case settingEnableConnectProtocol:
		// "A sender MUST NOT send a SETTINGS_ENABLE_CONNECT_PROTOCOL
		// parameter with the value of 0 after previously sending a value
		// of 1" (RFC 8441, Section 3).
		if cc.peer.extendedConnect && s.val == 0 {
			return errConnectWithdrawn
		}
		cc.peer.extendedConnect = s.val == 1
	}
	return nil
}

func (r *reader) ping(h frameHeader, p []byte) error {
	data, err := pingData(h, p)
	if err != nil {
		return err
	}
	if err := r.flood.note(floodPing); err != nil {
		return err
	}
	if h.has(flagAck) {
		return nil // the client sends no PING: an acknowledgement is stray
	}
	return r.cc.w.control(func(b []byte) []byte { return appendPing(b, true, data) })
}

func (r *reader) goAway(h frameHeader, p []byte) error {
	last, code, debug, err := goAway(h, p)
	if err != nil {
		return err
	}
	if err := r.flood.note(floodGoAway); err != nil {
		return err
	}
	cc := r.cc
	cc.mu.Lock()
	if prev := cc.goAway; prev != nil {
		if prev.LastStreamID <= last && prev.Code == code {
			cc.mu.Unlock()
			return nil // nothing new: no allocation for a repeat
		}
		last = min(last, prev.LastStreamID) // it may only go down
	}
	ga := &GoAwayError{LastStreamID: last, Code: code, Debug: string(debug[:min(len(debug), maxDebugData)])}
	cc.goAway = ga
	cc.freeSlotLocked() // OpenStream calls waiting for a slot give up
	// Streams above the last identifier were not processed (RFC 9113,
	// Section 6.8): they fail with ga, which callers may retry.
	var gone bool
	for id, s := range cc.streams {
		if id > ga.LastStreamID {
			gone = s.failLocked(ga) || gone
		}
	}
	if len(cc.streams) == 0 {
		gone = true
	}
	cc.mu.Unlock()
	cc.streamGone(gone)
	return nil
}

func (r *reader) windowUpdate(h frameHeader, p []byte) error {
	n, err := windowIncrement(h, p)
	if err != nil && (err != errZeroIncrement || h.streamID == 0) {
		return err
	}
	cc := r.cc
	cc.mu.Lock()
	if h.streamID == 0 {
		cc.sendWindow += int64(n)
		if cc.sendWindow > maxWindow {
			cc.mu.Unlock()
			return errConnWindowOverflow
		}
		cc.wakeConnWaitersLocked()
		cc.mu.Unlock()
		return nil
	}
	s, idle := r.lookupLocked(h.streamID)
	if s == nil {
		cc.mu.Unlock()
		return r.noStream(idle)
	}
	var gone bool
	switch {
	case err != nil:
		// An increment of 0 on a stream is a stream error (RFC 9113,
		// Section 6.9).
		gone = s.resetLocked(ErrCodeProtocol, "WINDOW_UPDATE with an increment of 0")
	case s.sendWindow+int64(n) > maxWindow:
		gone = s.resetLocked(ErrCodeFlowControl, "WINDOW_UPDATE took the stream's window above 2^31-1")
	default:
		s.sendWindow += int64(n)
		signal(s.writable)
	}
	cc.mu.Unlock()
	cc.streamGone(gone)
	return nil
}
