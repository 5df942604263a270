//go:build !js

package websocket

import "math/bits"

// This file is part of the protocol core: the message level of RFC 6455
// and RFC 7692 as two state machines that work on byte slices and values
// only. receiver is shown the bytes that arrived and says what they are:
// a frame header to consume, a control frame, message content (unmasked,
// inflated, counted against the limits, validated as UTF-8). sender says
// whether a frame may go out now. Neither touches a socket, a context or a
// clock; every transport (a TCP net.Conn, an HTTP/2 stream, an event loop)
// drives the same two machines.

// frameKind is what receiver.next found at the start of the bytes.
type frameKind uint8

const (
	frameIncomplete frameKind = iota // more bytes are needed; nothing was used
	frameData                        // the header of a data frame; its payload follows
	framePing                        // a ping; payload holds its application data
	framePong                        // a pong; payload holds its application data
	frameClose                       // the peer's close frame; close holds what it said
)

// frameEvent is the result of receiver.next.
type frameEvent struct {
	kind    frameKind
	n       int    // bytes of the input used; 0 for frameIncomplete
	payload []byte // control frames: the unmasked payload, inside the input
	close   CloseError
}

// receiver is the receiving half of the protocol. Its caller keeps the
// bytes that arrived in a buffer and alternates two steps:
//
//   - between frames (atFrameBoundary), next decodes the frame at the start
//     of the buffer: nothing is used until the header (and, for a control
//     frame, the whole payload) is there, which is what makes a read that
//     its context interrupts safe to resume;
//   - inside a data frame, content turns payload bytes into message bytes,
//     and once the last frame's payload is used up (contentDone), finish
//     ends the message.
//
// Every rule of RFC 6455, Sections 5.2 to 5.6, and of RFC 7692, Section 6,
// about what may arrive lives here: masking, reserved bits, opcodes,
// continuation, control frame limits, the read limit (decided from the
// frame headers before any payload is kept, and on the inflated size), the
// fragment cap and UTF-8 (checked as the bytes arrive). A violation is a
// *ProtocolError whose Code is the close code to fail the connection with.
type receiver struct {
	client   bool  // this endpoint is the client: frames arrive unmasked
	deflate  bool  // permessage-deflate was negotiated: RSV1 marks a compressed message
	takeover bool  // the peer may compress with the history of earlier messages
	window   uint8 // log2 of the history the peer may refer to

	// The data message being received.
	open       bool
	compressed bool        // RSV1 was set on its first frame
	fin        bool        // the current frame is its last
	typ        MessageType // its type
	tail       uint8       // compressed: bytes of syncTail given to the inflater
	key        uint32      // masking key at the current payload position
	remaining  int64       // payload bytes left in the current frame
	wire       int64       // payload bytes received for the message
	wireLimit  int64       // limit on wire, looser than limit when compressed; <0 for none
	size       int64       // bytes of the message delivered (inflated)
	limit      int64       // read limit for the message, <0 for none
	frames     int32       // frames of the message so far
	maxFrames  int32
	utf8       utf8State
	inf        *inflater // compressed messages; kept between them under takeover
	closedRecv bool      // the peer's close frame has arrived: nothing follows
}

// minFragmentCap is the fewest fragments a message may have, whatever the
// read limit. Above it, a message may have one fragment for every 16 bytes
// of the read limit, which bounds the work a stream of empty continuation
// frames can cause.
const minFragmentCap = 1024

func fragmentCap(limit int64) int32 {
	if limit < 0 {
		return 1 << 24
	}
	return int32(max(minFragmentCap, min(limit/16, 1<<30)))
}

// syncTail is what RFC 7692, Section 7.2.2 has the sender remove from the
// end of every compressed message and the receiver append again: the
// empty stored block of a sync flush, after which the inflater stands at a
// block boundary.
var syncTail = [4]byte{0x00, 0x00, 0xff, 0xff}

// atFrameBoundary reports whether next is to be called: the current frame
// has no payload left and the message (if any) goes on in another frame.
func (r *receiver) atFrameBoundary() bool {
	return r.remaining == 0 && !(r.open && r.fin)
}

// contentDone reports whether every payload byte of the open message has
// been used, so that finish is to be called.
func (r *receiver) contentDone() bool { return r.open && r.fin && r.remaining == 0 }

// next decodes the frame at the start of b; call it only at a frame
// boundary. limit is the read limit for a message that starts here (<0 for
// none). A data frame's header is used and its payload left to content; a
// control frame is used whole, its payload unmasked in place in b. The
// event is written to *ev rather than returned: a 64-byte result would be
// copied at each level, on the stack of every reading goroutine.
func (r *receiver) next(b []byte, limit int64, ev *frameEvent) error {
	*ev = frameEvent{}
	h, n, err := parseHeader(b)
	if err != nil || n == 0 {
		return err
	}
	if err = checkHeader(h, frameRules{inMessage: r.open, masked: !r.client, rsv1: r.deflate}); err != nil {
		return err
	}
	if !h.op.isControl() {
		if h.op == opContinuation {
			r.frames++
			if r.frames > r.maxFrames {
				return errTooManyFragments
			}
		} else {
			r.start(h, limit)
		}
		if r.wireLimit >= 0 && h.length > r.wireLimit-r.wire {
			return errTooBig
		}
		r.fin, r.remaining, r.key = h.fin, h.length, h.key
		ev.kind, ev.n = frameData, n
		return nil
	}
	end := n + int(h.length) // h.length <= 125: checkHeader
	if len(b) < end {
		return nil
	}
	ev.n, ev.payload = end, b[n:end]
	if h.masked {
		mask(ev.payload, h.key)
	}
	switch h.op {
	case opPing:
		ev.kind = framePing
	case opPong:
		ev.kind = framePong
	default:
		code, reason, err := parseClosePayload(ev.payload)
		if err != nil {
			return err
		}
		ev.kind = frameClose
		ev.close = CloseError{Code: code, Reason: string(reason)}
		r.closedRecv = true
	}
	return nil
}

// start opens a message with the first frame's header h.
func (r *receiver) start(h header, limit int64) {
	wireLimit := limit
	compressed := h.rsv&rsv1 != 0
	if compressed && limit >= 0 && limit < 1<<56 {
		// Deflate can grow incompressible data a little; the limit that
		// matters is on the inflated size, checked as it is produced.
		wireLimit = limit + limit/64 + 1024
	}
	r.open, r.compressed, r.typ, r.tail = true, compressed, MessageType(h.op), 0
	r.wire, r.wireLimit, r.size, r.limit = 0, wireLimit, 0, limit
	r.frames, r.maxFrames = 1, fragmentCap(limit)
	r.utf8 = utf8State{}
	if compressed {
		keep := r.takeover
		if r.inf == nil {
			// A pooled inflater may hold another connection's history:
			// it must never be what this one refers back to.
			r.inf = newInflater()
			keep = false
		}
		r.inf.reset(int(r.window), keep)
	}
}

// content turns payload bytes of the current frame into message bytes:
// src holds the payload as received (masked, when the peer is a client),
// dst receives the message content. It returns how many bytes it wrote to
// dst and used of src. dst and src may be the same slice for an
// uncompressed message (the payload is then unmasked in place).
//
// A compressed message's payload is unmasked in place in src for the
// inflater; what the inflater does not take (when dst fills) is masked
// again, so that src is left as it was beyond what was used.
func (r *receiver) content(dst, src []byte) (nDst, nSrc int, err error) {
	if int64(len(src)) > r.remaining {
		src = src[:r.remaining]
	}
	if !r.compressed {
		n := min(len(dst), len(src))
		copy(dst[:n], src[:n])
		if !r.client {
			r.key = mask(dst[:n], r.key)
		}
		nDst, nSrc = n, n
	} else {
		if !r.client {
			mask(src, r.key)
		}
		nDst, nSrc, err = r.inf.inflate(dst, src)
		if !r.client {
			r.key = keyAfter(r.key, nSrc)
			if nSrc < len(src) {
				mask(src[nSrc:], r.key)
			}
		}
	}
	r.remaining -= int64(nSrc)
	r.wire += int64(nSrc)
	if err != nil {
		return 0, nSrc, errBadCompressedData
	}
	return nDst, nSrc, r.deliver(dst[:nDst])
}

// finish ends the open message once its payload is used up: for a
// compressed message it gives the inflater the sync tail and delivers what
// is left of the output into dst. It reports whether the message is
// complete; if not, dst was too small and finish is to be called again
// with more room.
func (r *receiver) finish(dst []byte) (nDst int, done bool, err error) {
	if r.compressed {
		inf := r.inf
		for int(r.tail) < len(syncTail) && !inf.ended() {
			n, m, err := inf.inflate(dst[nDst:], syncTail[r.tail:])
			nDst += n
			r.tail += uint8(m)
			if err != nil {
				return 0, false, errBadCompressedData
			}
			if m == 0 {
				break // dst is full
			}
		}
		for nDst < len(dst) && !inf.idle() && !inf.ended() {
			n, _, err := inf.inflate(dst[nDst:], nil)
			if err != nil {
				return 0, false, errBadCompressedData
			}
			if n == 0 {
				break
			}
			nDst += n
		}
		if err := r.deliver(dst[:nDst]); err != nil {
			return 0, false, err
		}
		if complete := inf.ended() || int(r.tail) == len(syncTail) && inf.idle(); !complete {
			if nDst < len(dst) {
				// Room left, nothing more to come, and the stream not at
				// a block boundary: the sender did not end the message
				// with a flush (RFC 7692, Section 7.2.1).
				return 0, false, errBadCompressedData
			}
			return nDst, false, nil
		}
	}
	if r.typ == MessageText && !r.utf8.done() {
		return 0, false, errInvalidUTF8
	}
	r.open = false
	if r.compressed && !r.takeover {
		freeInflater(r.inf)
		r.inf = nil
	}
	return nDst, true, nil
}

// deliver counts message bytes against the read limit and validates text.
func (r *receiver) deliver(p []byte) error {
	r.size += int64(len(p))
	if r.limit >= 0 && r.size > r.limit {
		return errTooBig
	}
	if r.typ == MessageText && !r.utf8.feed(p) {
		return errInvalidUTF8
	}
	return nil
}

// release gives back what the receiver holds between messages.
func (r *receiver) release() {
	if r.inf != nil {
		freeInflater(r.inf)
		r.inf = nil
	}
}

// keyAfter returns the masking key n bytes further into the payload: the
// key turns one byte per payload byte (see mask).
func keyAfter(key uint32, n int) uint32 {
	return bits.RotateLeft32(key, -8*(n&3))
}

// sender is the sending half of the protocol: the order in which frames may
// go out (RFC 6455, Section 5.4: a message's fragments in order, with only
// control frames between them; Section 5.5.1: nothing after a close frame).
// The write path asks it before every frame and tells it after.
type sender struct {
	open   bool // a data message has started on the wire and not ended
	closed bool // a close frame has gone out
}

// check reports whether a frame with opcode op may be sent now.
func (s *sender) check(op opcode) error {
	switch {
	case s.closed:
		return errCloseSent
	case op == opContinuation && !s.open, (op == opText || op == opBinary) && s.open:
		return errFrameOrder
	}
	return nil
}

// sent records that a frame went out whole.
func (s *sender) sent(op opcode, fin bool) {
	switch {
	case op == opClose:
		s.closed = true
	case !op.isControl():
		s.open = !fin
	}
}
