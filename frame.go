package websocket

import "encoding/binary"

// This file is part of the protocol core: it works on byte slices only and
// never touches a socket, a context or a clock.

// opcode is the frame opcode of RFC 6455, Section 5.2.
type opcode byte

const (
	opContinuation opcode = 0x0
	opText         opcode = 0x1
	opBinary       opcode = 0x2
	opClose        opcode = 0x8
	opPing         opcode = 0x9
	opPong         opcode = 0xA
)

func (op opcode) isControl() bool { return op&0x8 != 0 }

func (op opcode) known() bool {
	switch op {
	case opContinuation, opText, opBinary, opClose, opPing, opPong:
		return true
	}
	return false
}

const (
	// maxHeaderSize is the largest frame header: 2 bytes, an 8-byte
	// extended length and a 4-byte masking key.
	maxHeaderSize = 14
	// maxControlPayload is the largest control frame payload
	// (RFC 6455, Section 5.5).
	maxControlPayload = 125
)

// header is a decoded frame header (RFC 6455, Section 5.2).
type header struct {
	fin    bool
	rsv    byte // RSV1-3 in the bit positions of the first byte: 0x40, 0x20, 0x10
	op     opcode
	masked bool
	key    uint32 // masking key, wire byte 0 in the low byte (see mask)
	length int64
}

const (
	rsv1 = 0x40
	rsv2 = 0x20
	rsv3 = 0x10
)

// parseHeader decodes the frame header at the start of b. It returns the
// header and the number of bytes it used. n == 0 with a nil error means b
// holds only a prefix of a header and more bytes are needed; nothing is
// consumed, so the caller can retry with a longer b.
//
// The only error is a 64-bit length with its most significant bit set,
// which RFC 6455, Section 5.2 forbids ("the most significant bit MUST be
// 0"). Everything else that depends on the state of the connection is left
// to checkHeader.
func parseHeader(b []byte) (h header, n int, err error) {
	if len(b) < 2 {
		return h, 0, nil
	}
	b0, b1 := b[0], b[1]
	h.fin = b0&0x80 != 0
	h.rsv = b0 & (rsv1 | rsv2 | rsv3)
	h.op = opcode(b0 & 0x0F)
	h.masked = b1&0x80 != 0
	n = 2
	switch l := b1 & 0x7F; l {
	case 126:
		if len(b) < 4 {
			return header{}, 0, nil
		}
		h.length = int64(binary.BigEndian.Uint16(b[2:4]))
		n = 4
	case 127:
		if len(b) < 10 {
			return header{}, 0, nil
		}
		v := binary.BigEndian.Uint64(b[2:10])
		if v>>63 != 0 {
			return header{}, 0, errLengthOverflow
		}
		h.length = int64(v)
		n = 10
	default:
		h.length = int64(l)
	}
	if h.masked {
		if len(b) < n+4 {
			return header{}, 0, nil
		}
		h.key = binary.LittleEndian.Uint32(b[n : n+4])
		n += 4
	}
	return h, n, nil
}

// appendHeader appends the wire form of h to dst, using the shortest
// length encoding (RFC 6455, Section 5.2: "the minimal number of bytes MUST
// be used to encode the length").
func appendHeader(dst []byte, h header) []byte {
	b0 := h.rsv | byte(h.op)
	if h.fin {
		b0 |= 0x80
	}
	var b1 byte
	if h.masked {
		b1 = 0x80
	}
	switch {
	case h.length <= 125:
		dst = append(dst, b0, b1|byte(h.length))
	case h.length <= 0xFFFF:
		dst = append(dst, b0, b1|126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(h.length))
	default:
		dst = append(dst, b0, b1|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(h.length))
	}
	if h.masked {
		dst = binary.LittleEndian.AppendUint32(dst, h.key)
	}
	return dst
}

// frameRules is what checkHeader needs to know about the connection.
type frameRules struct {
	inMessage bool // a fragmented data message is open
	masked    bool // frames must be masked: we are the server
	rsv1      bool // RSV1 may mark the first frame of a message (RFC 7692)
}

// checkHeader reports whether a received frame header is legal in the state
// the rules describe, returning the violation it finds first. Each error is
// a *ProtocolError whose Code is the close code to fail the connection with.
func checkHeader(h header, r frameRules) error {
	// RFC 6455, Section 5.2: "MUST be 0 unless an extension is negotiated
	// that defines meanings for non-zero values". RFC 7692, Section 6: RSV1
	// is set on the first frame of a compressed message only.
	if h.rsv&(rsv2|rsv3) != 0 {
		return errReservedBits
	}
	if h.rsv&rsv1 != 0 && (!r.rsv1 || h.op.isControl() || h.op == opContinuation) {
		return errReservedBits
	}
	if !h.op.known() {
		return errUnknownOpcode
	}
	// RFC 6455, Section 5.1: a server MUST close the connection upon
	// receiving an unmasked frame; a client MUST close it upon receiving a
	// masked one.
	if h.masked != r.masked {
		if r.masked {
			return errUnmasked
		}
		return errMasked
	}
	if h.op.isControl() {
		// Section 5.5: "All control frames MUST have a payload length of
		// 125 bytes or less and MUST NOT be fragmented."
		if !h.fin {
			return errFragmentedControl
		}
		if h.length > maxControlPayload {
			return errControlTooLong
		}
		return nil
	}
	// Section 5.4: continuations only inside a message, and no new data
	// message until the open one has ended.
	if h.op == opContinuation && !r.inMessage {
		return errUnexpectedContinuation
	}
	if h.op != opContinuation && r.inMessage {
		return errExpectedContinuation
	}
	return nil
}
