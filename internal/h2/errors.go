package h2

import (
	"errors"
	"strconv"
)

// ErrCode is an HTTP/2 error code, as carried by RST_STREAM and GOAWAY
// (RFC 9113, Section 7).
type ErrCode uint32

// The error codes of RFC 9113, Section 7.
const (
	ErrCodeNo                 ErrCode = 0x0
	ErrCodeProtocol           ErrCode = 0x1
	ErrCodeInternal           ErrCode = 0x2
	ErrCodeFlowControl        ErrCode = 0x3
	ErrCodeSettingsTimeout    ErrCode = 0x4
	ErrCodeStreamClosed       ErrCode = 0x5
	ErrCodeFrameSize          ErrCode = 0x6
	ErrCodeRefusedStream      ErrCode = 0x7
	ErrCodeCancel             ErrCode = 0x8
	ErrCodeCompression        ErrCode = 0x9
	ErrCodeConnect            ErrCode = 0xa
	ErrCodeEnhanceYourCalm    ErrCode = 0xb
	ErrCodeInadequateSecurity ErrCode = 0xc
	ErrCodeHTTP11Required     ErrCode = 0xd
)

var errCodeNames = [...]string{
	ErrCodeNo:                 "NO_ERROR",
	ErrCodeProtocol:           "PROTOCOL_ERROR",
	ErrCodeInternal:           "INTERNAL_ERROR",
	ErrCodeFlowControl:        "FLOW_CONTROL_ERROR",
	ErrCodeSettingsTimeout:    "SETTINGS_TIMEOUT",
	ErrCodeStreamClosed:       "STREAM_CLOSED",
	ErrCodeFrameSize:          "FRAME_SIZE_ERROR",
	ErrCodeRefusedStream:      "REFUSED_STREAM",
	ErrCodeCancel:             "CANCEL",
	ErrCodeCompression:        "COMPRESSION_ERROR",
	ErrCodeConnect:            "CONNECT_ERROR",
	ErrCodeEnhanceYourCalm:    "ENHANCE_YOUR_CALM",
	ErrCodeInadequateSecurity: "INADEQUATE_SECURITY",
	ErrCodeHTTP11Required:     "HTTP_1_1_REQUIRED",
}

// String returns the code's name from RFC 9113, Section 7, or its value in
// hexadecimal for a code the RFC does not define.
func (c ErrCode) String() string {
	if int(c) < len(errCodeNames) {
		return errCodeNames[c]
	}
	return "error code 0x" + strconv.FormatUint(uint64(c), 16)
}

// ConnectionError is a connection error this endpoint detected (RFC 9113,
// Section 5.4.1): it sent GOAWAY with Code and closed the connection, and
// every stream of the connection fails with it. The values the frame reader
// returns for hostile input are allocated once, so a flood of bad frames
// costs no allocation.
type ConnectionError struct {
	Code   ErrCode
	Reason string
}

func (e *ConnectionError) Error() string {
	return "websocket: http2: connection error " + e.Code.String() + ": " + e.Reason
}

// StreamError ends one stream (RFC 9113, Section 5.4.2). When Remote is
// true the server sent RST_STREAM with Code; otherwise this endpoint reset
// the stream with Code, for Reason. A StreamError with code REFUSED_STREAM
// matches [ErrStreamRefused] under errors.Is.
type StreamError struct {
	StreamID uint32
	Code     ErrCode
	Remote   bool
	Reason   string
}

func (e *StreamError) Error() string {
	s := "websocket: http2: stream " + strconv.FormatUint(uint64(e.StreamID), 10)
	if e.Remote {
		return s + " reset by the server: " + e.Code.String()
	}
	return s + " reset: " + e.Code.String() + ": " + e.Reason
}

// Is reports whether the server refused the stream without processing it.
func (e *StreamError) Is(target error) bool {
	return target == ErrStreamRefused && e.Remote && e.Code == ErrCodeRefusedStream
}

// GoAwayError is the server's GOAWAY (RFC 9113, Section 6.8). The streams
// it names as not processed (identifiers above LastStreamID) fail with it,
// and it then matches [ErrStreamRefused] under errors.Is.
type GoAwayError struct {
	LastStreamID uint32
	Code         ErrCode
	Debug        string // the GOAWAY's debug data, cut to 256 bytes
}

func (e *GoAwayError) Error() string {
	s := "websocket: http2: server sent GOAWAY " + e.Code.String() +
		" (last stream " + strconv.FormatUint(uint64(e.LastStreamID), 10) + ")"
	if e.Debug != "" {
		s += ": " + strconv.Quote(e.Debug)
	}
	return s
}

// Is reports true for ErrStreamRefused: a stream that fails with a
// GoAwayError was not processed by the server.
func (e *GoAwayError) Is(target error) bool { return target == ErrStreamRefused }

var (
	// ErrStreamRefused is matched by the errors of streams the server did
	// not process (RST_STREAM REFUSED_STREAM, or GOAWAY with a lower last
	// stream identifier) and by [ClientConn.OpenStream] on a connection that
	// takes no new streams. Such a request can be retried on another
	// connection (RFC 9113, Section 8.7).
	ErrStreamRefused = errors.New("websocket: http2: stream refused (not processed by the server; retry on another connection)")

	// ErrHTTP1 says that a server does not offer WebSockets over HTTP/2:
	// it chose HTTP/1.1 in ALPN or did not send
	// SETTINGS_ENABLE_CONNECT_PROTOCOL=1 (RFC 8441, Section 3). The
	// WebSocket should be opened with the HTTP/1.1 Upgrade instead.
	ErrHTTP1 = errors.New("websocket: http2: server does not offer WebSockets over HTTP/2 (RFC 8441); use HTTP/1.1")

	// errNoNewStreams is what OpenStream returns on a connection that got
	// GOAWAY, is closing, or has used up its stream identifiers.
	errNoNewStreams = &wrapped{"websocket: http2: connection takes no new streams", ErrStreamRefused}
)

// wrapped is an error with its own message that matches another under
// errors.Is; built once, it costs nothing to return.
type wrapped struct {
	msg string
	err error
}

func (e *wrapped) Error() string { return e.msg }
func (e *wrapped) Unwrap() error { return e.err }

// connErr builds a ConnectionError value; every call site keeps the result
// in a package-level variable.
func connErr(code ErrCode, reason string) *ConnectionError {
	return &ConnectionError{Code: code, Reason: reason}
}
