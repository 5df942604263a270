package h2

import "encoding/binary"

// This file is pure: the frame layer of RFC 9113, Sections 4 and 6, as
// functions over byte slices. The connection's reader and writer call it;
// it never touches a socket.

// frameType is the type octet of a frame header (RFC 9113, Section 4.1).
type frameType uint8

const (
	frameData         frameType = 0x0
	frameHeaders      frameType = 0x1
	framePriority     frameType = 0x2
	frameRSTStream    frameType = 0x3
	frameSettings     frameType = 0x4
	framePushPromise  frameType = 0x5
	framePing         frameType = 0x6
	frameGoAway       frameType = 0x7
	frameWindowUpdate frameType = 0x8
	frameContinuation frameType = 0x9
)

// frameFlags is the flags octet of a frame header.
type frameFlags uint8

const (
	flagEndStream  frameFlags = 0x1  // DATA, HEADERS
	flagAck        frameFlags = 0x1  // SETTINGS, PING
	flagEndHeaders frameFlags = 0x4  // HEADERS, CONTINUATION
	flagPadded     frameFlags = 0x8  // DATA, HEADERS
	flagPriority   frameFlags = 0x20 // HEADERS
)

const (
	frameHeaderLen = 9

	// minMaxFrameSize and maxMaxFrameSize bound SETTINGS_MAX_FRAME_SIZE
	// (RFC 9113, Section 6.5.2); the first is also its initial value.
	minMaxFrameSize = 1 << 14
	maxMaxFrameSize = 1<<24 - 1

	// maxWindow is the largest flow-control window (RFC 9113, Section
	// 6.9.1); initialWindow is every window's size before SETTINGS and
	// WINDOW_UPDATE change it (Section 6.9.2).
	maxWindow     = 1<<31 - 1
	initialWindow = 65535

	maxStreamID = 1<<31 - 1
)

// clientPreface is what a client sends first (RFC 9113, Section 3.4),
// followed by its SETTINGS frame.
const clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

// frameHeader is the fixed 9-octet header of every frame (RFC 9113,
// Section 4.1).
type frameHeader struct {
	length   uint32 // of the payload, 24 bits
	typ      frameType
	flags    frameFlags
	streamID uint32 // 31 bits; the reserved bit is dropped on parsing
}

func (h frameHeader) has(f frameFlags) bool { return h.flags&f != 0 }

// parseFrameHeader decodes the first frameHeaderLen bytes of b, which the
// caller has checked are there. "The semantics of this bit are undefined,
// and the bit MUST remain unset (0x00) when sending and MUST be ignored
// when receiving" (RFC 9113, Section 4.1): the reserved bit is dropped.
func parseFrameHeader(b []byte) frameHeader {
	_ = b[8] // one bounds check for the lot
	return frameHeader{
		length:   uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]),
		typ:      frameType(b[3]),
		flags:    frameFlags(b[4]),
		streamID: binary.BigEndian.Uint32(b[5:]) & maxStreamID,
	}
}

// appendFrameHeader appends h's 9 octets to dst.
func appendFrameHeader(dst []byte, h frameHeader) []byte {
	return append(dst, byte(h.length>>16), byte(h.length>>8), byte(h.length),
		byte(h.typ), byte(h.flags),
		byte(h.streamID>>24), byte(h.streamID>>16), byte(h.streamID>>8), byte(h.streamID))
}

// Connection errors the frame layer detects, built once.
var (
	errPadding         = connErr(ErrCodeProtocol, "padding as long as the frame payload or longer")
	errFrameTooShort   = connErr(ErrCodeFrameSize, "frame payload shorter than its type requires")
	errFrameLength     = connErr(ErrCodeFrameSize, "frame payload of the wrong length for its type")
	errFrameTooLarge   = connErr(ErrCodeFrameSize, "frame larger than SETTINGS_MAX_FRAME_SIZE")
	errStreamZero      = connErr(ErrCodeProtocol, "frame that needs a stream sent on stream 0")
	errStreamNotZero   = connErr(ErrCodeProtocol, "connection frame sent on a stream")
	errSettingsAckBody = connErr(ErrCodeFrameSize, "SETTINGS ACK with a payload")
	errSettingsLength  = connErr(ErrCodeFrameSize, "SETTINGS payload not a multiple of 6 octets")
	errZeroIncrement   = connErr(ErrCodeProtocol, "WINDOW_UPDATE with an increment of 0")
	errEnablePush      = connErr(ErrCodeProtocol, "server sent SETTINGS_ENABLE_PUSH other than 0")
	errBadInitWindow   = connErr(ErrCodeFlowControl, "SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1")
	errBadMaxFrame     = connErr(ErrCodeProtocol, "SETTINGS_MAX_FRAME_SIZE outside 16384..16777215")
	errBadConnectProto = connErr(ErrCodeProtocol, "SETTINGS_ENABLE_CONNECT_PROTOCOL other than 0 or 1")
)

// dataPayload returns the data of a DATA frame's payload p, without its
// padding (RFC 9113, Section 6.1).
func dataPayload(h frameHeader, p []byte) ([]byte, error) {
	if h.streamID == 0 {
		return nil, errStreamZero
	}
	return unpad(h, p)
}

// headersFragment returns the field block fragment of a HEADERS frame's
// payload p, without padding and priority fields (RFC 9113, Section 6.2).
func headersFragment(h frameHeader, p []byte) ([]byte, error) {
	if h.streamID == 0 {
		return nil, errStreamZero
	}
	pad := 0
	if h.has(flagPadded) {
		if len(p) < 1 {
			return nil, errFrameTooShort
		}
		pad, p = int(p[0]), p[1:]
	}
	if h.has(flagPriority) {
		if len(p) < 5 {
			return nil, errFrameTooShort
		}
		p = p[5:] // exclusive bit, stream dependency, weight: ignored
	}
	if pad > len(p) {
		return nil, errPadding
	}
	return p[:len(p)-pad], nil
}

// unpad strips the Pad Length octet and the padding of a DATA frame (RFC
// 9113, Section 6.1): "If the length of the padding is the length of the
// frame payload or greater, the recipient MUST treat this as a connection
// error".
func unpad(h frameHeader, p []byte) ([]byte, error) {
	if !h.has(flagPadded) {
		return p, nil
	}
	if len(p) < 1 {
		return nil, errFrameTooShort
	}
	pad := int(p[0])
	if pad >= len(p) {
		return nil, errPadding
	}
	return p[1 : len(p)-pad], nil
}

// checkPriority checks a PRIORITY frame, whose content is then ignored:
// RFC 9113, Section 5.3.2 deprecates the priority signals.
func checkPriority(h frameHeader, p []byte) error {
	if h.streamID == 0 {
		return errStreamZero
	}
	if len(p) != 5 {
		return errFrameLength
	}
	return nil
}

// rstStreamCode returns the error code of an RST_STREAM frame (RFC 9113,
// Section 6.4).
func rstStreamCode(h frameHeader, p []byte) (ErrCode, error) {
	if h.streamID == 0 {
		return 0, errStreamZero
	}
	if len(p) != 4 {
		return 0, errFrameLength
	}
	return ErrCode(binary.BigEndian.Uint32(p)), nil
}

// pingData checks a PING frame and returns its opaque data (RFC 9113,
// Section 6.7).
func pingData(h frameHeader, p []byte) ([8]byte, error) {
	var d [8]byte
	if h.streamID != 0 {
		return d, errStreamNotZero
	}
	if len(p) != 8 {
		return d, errFrameLength
	}
	copy(d[:], p)
	return d, nil
}

// goAway decodes a GOAWAY frame (RFC 9113, Section 6.8).
func goAway(h frameHeader, p []byte) (lastStreamID uint32, code ErrCode, debug []byte, err error) {
	if h.streamID != 0 {
		return 0, 0, nil, errStreamNotZero
	}
	if len(p) < 8 {
		return 0, 0, nil, errFrameTooShort
	}
	return binary.BigEndian.Uint32(p) & maxStreamID, ErrCode(binary.BigEndian.Uint32(p[4:])), p[8:], nil
}

// windowIncrement decodes a WINDOW_UPDATE frame (RFC 9113, Section 6.9).
// An increment of 0 is reported as errZeroIncrement, which the caller
// makes a stream error when the frame is on a stream.
func windowIncrement(h frameHeader, p []byte) (uint32, error) {
	if len(p) != 4 {
		return 0, errFrameLength
	}
	n := binary.BigEndian.Uint32(p) & maxWindow
	if n == 0 {
		return 0, errZeroIncrement
	}
	return n, nil
}

// settingID identifies a setting (RFC 9113, Section 6.5.2; RFC 8441,
// Section 3).
type settingID uint16

const (
	settingHeaderTableSize       settingID = 0x1
	settingEnablePush            settingID = 0x2
	settingMaxConcurrentStreams  settingID = 0x3
	settingInitialWindowSize     settingID = 0x4
	settingMaxFrameSize          settingID = 0x5
	settingMaxHeaderListSize     settingID = 0x6
	settingEnableConnectProtocol settingID = 0x8
)

// setting is one identifier/value pair of a SETTINGS frame.
type setting struct {
	id  settingID
	val uint32
}

// checkSettingsFrame checks a SETTINGS frame's header and length (RFC 9113,
// Section 6.5) and returns the number of settings it carries.
func checkSettingsFrame(h frameHeader) (int, error) {
	if h.streamID != 0 {
		return 0, errStreamNotZero
	}
	if h.has(flagAck) {
		if h.length != 0 {
			return 0, errSettingsAckBody
		}
		return 0, nil
	}
	if h.length%6 != 0 {
		return 0, errSettingsLength
	}
	return int(h.length / 6), nil
}

// settingAt returns the i-th setting of a SETTINGS payload.
func settingAt(p []byte, i int) setting {
	p = p[6*i : 6*i+6]
	return setting{settingID(binary.BigEndian.Uint16(p)), binary.BigEndian.Uint32(p[2:])}
}

// checkServerSetting checks one value a server sent (RFC 9113, Section
// 6.5.2; RFC 8441, Section 3). Unknown settings are ignored, as the RFC
// requires.
func checkServerSetting(s setting) error {
	switch s.id {
	case settingEnablePush:
		// "A client MUST treat receipt of a SETTINGS frame with
		// SETTINGS_ENABLE_PUSH set to 1 as a connection error".
		if s.val != 0 {
			return errEnablePush
		}
	case settingInitialWindowSize:
		if s.val > maxWindow {
			return errBadInitWindow
		}
	case settingMaxFrameSize:
		if s.val < minMaxFrameSize || s.val > maxMaxFrameSize {
			return errBadMaxFrame
		}
	case settingEnableConnectProtocol:
		if s.val > 1 {
			return errBadConnectProto
		}
	}
	return nil
}

// appendSettings appends a SETTINGS frame carrying ss.
func appendSettings(dst []byte, ss []setting) []byte {
	dst = appendFrameHeader(dst, frameHeader{length: uint32(6 * len(ss)), typ: frameSettings})
	for _, s := range ss {
		dst = binary.BigEndian.AppendUint16(dst, uint16(s.id))
		dst = binary.BigEndian.AppendUint32(dst, s.val)
	}
	return dst
}

// appendSettingsAck appends a SETTINGS frame with the ACK flag.
func appendSettingsAck(dst []byte) []byte {
	return appendFrameHeader(dst, frameHeader{typ: frameSettings, flags: flagAck})
}

// appendPing appends a PING frame; ack is set on the answer to a PING.
func appendPing(dst []byte, ack bool, data [8]byte) []byte {
	var f frameFlags
	if ack {
		f = flagAck
	}
	dst = appendFrameHeader(dst, frameHeader{length: 8, typ: framePing, flags: f})
	return append(dst, data[:]...)
}

// appendWindowUpdate appends a WINDOW_UPDATE frame; stream 0 is the
// connection.
func appendWindowUpdate(dst []byte, streamID, increment uint32) []byte {
	dst = appendFrameHeader(dst, frameHeader{length: 4, typ: frameWindowUpdate, streamID: streamID})
	return binary.BigEndian.AppendUint32(dst, increment)
}

// appendRSTStream appends an RST_STREAM frame.
func appendRSTStream(dst []byte, streamID uint32, code ErrCode) []byte {
	dst = appendFrameHeader(dst, frameHeader{length: 4, typ: frameRSTStream, streamID: streamID})
	return binary.BigEndian.AppendUint32(dst, uint32(code))
}

// appendGoAway appends a GOAWAY frame.
func appendGoAway(dst []byte, lastStreamID uint32, code ErrCode, debug string) []byte {
	dst = appendFrameHeader(dst, frameHeader{length: uint32(8 + len(debug)), typ: frameGoAway})
	dst = binary.BigEndian.AppendUint32(dst, lastStreamID)
	dst = binary.BigEndian.AppendUint32(dst, uint32(code))
	return append(dst, debug...)
}
