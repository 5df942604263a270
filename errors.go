package websocket

import (
	"errors"
	"net"
	"strconv"
)

// Every error the package returns is declared in this file, with who
// returns it. Callers branch on few of them:
//
//	error                  returned by                     means
//	CloseError             reads; Close                    the peer sent a close frame (its code and reason)
//	*ProtocolError         reads                           this endpoint failed the connection and sent Code
//	ErrMessageTooBig       reads                           the *ProtocolError for an exceeded read limit (1009)
//	ErrKeepAliveTimeout    reads, writes, Ping             the keepalive dropped a peer that stopped answering
//	ErrCloseTimeout        Close                           the peer did not answer the close frame in time
//	ErrInvalidCloseCode    Close, Group.Close              the code or reason may not be sent (nothing was sent)
//	ErrBadMessageType      Write, Writer, NewPreparedMessage  the type is not MessageText or MessageBinary
//	ErrWritePending        writes (wrapped, with ctx.Err)  ctx ended mid-frame; the message will still arrive whole
//	ErrWriterClosed        the Writer's Write and Close    the message writer was closed already
//	ErrBadHandshake        Accept, Dial (wrapped)          the opening handshake failed
//	ErrBadOption           Accept, Dial (wrapped)          an option is out of range
//	net.ErrClosed          every call (wrapped)            the Conn is closed; the error may also wrap why
//	context errors         every call taking a ctx         ctx ended; see the package doc for what that leaves
//
// A connection lost without a closing handshake gives an error that wraps
// the network error, or io.ErrUnexpectedEOF.
//
// Errors that hostile input can cause are allocated once, here, so that a
// flood of bad frames never becomes a flood of allocations.

var (
	// ErrMessageTooBig is returned by reads when a message exceeds the read
	// limit. The connection has been failed with close code 1009
	// (RFC 6455, Section 7.4.1).
	ErrMessageTooBig error = &ProtocolError{Code: StatusMessageTooBig, Reason: "message exceeds the read limit"}

	// ErrKeepAliveTimeout is returned by reads, writes and Ping once the
	// keepalive has dropped the connection: nothing arrived within
	// PingInterval, and no pong within PongTimeout of the ping that
	// followed, counted while a goroutine was reading. It is how half-open
	// TCP connections, whose peer vanished without a FIN, are reaped.
	ErrKeepAliveTimeout = errors.New("websocket: keepalive timeout: no pong from the peer")

	// ErrCloseTimeout is returned by Close when the peer did not answer
	// the close frame within the close timeout; the connection has been
	// dropped.
	ErrCloseTimeout = errors.New("websocket: timed out waiting for the peer's close frame")

	// ErrInvalidCloseCode is returned, wrapped with the detail, by Close and
	// Group.Close for a code that may not be sent (RFC 6455, Section 7.4:
	// 1005, 1006 and 1015 are for reporting only, codes below 1000, 1004,
	// 1016 to 2999 and from 5000 are not to be used) or a reason that is
	// not UTF-8. Nothing is sent and the Conn is left as it was.
	ErrInvalidCloseCode = errors.New("websocket: invalid close code or reason")

	// ErrBadMessageType is returned by Write, Writer and NewPreparedMessage
	// for a type other than MessageText and MessageBinary.
	ErrBadMessageType = errors.New("websocket: message type must be MessageText or MessageBinary")

	// ErrWritePending is wrapped, together with the context's error, by
	// what a write returns when its context ended part-way through the
	// last frame of its message: the Conn keeps the rest of the frame and
	// sends it before any other, so the message will arrive whole (unless
	// the connection is lost first). A caller that retries on error should
	// not retry these.
	ErrWritePending = errors.New("websocket: write cut short part-way through its frame; the rest goes out before the next frame")

	// ErrWriterClosed is returned by the Write and Close methods of the
	// writer that Conn.Writer returns, once it has been closed.
	ErrWriterClosed = errors.New("websocket: write to a closed message writer")

	// ErrBadHandshake is wrapped by the errors Accept and Dial return when
	// the opening handshake fails.
	ErrBadHandshake = errors.New("websocket: bad handshake")

	// ErrBadOption is wrapped by the errors Accept and Dial return for an
	// option out of range; nothing has been sent then (Accept answers the
	// request with 500 Internal Server Error).
	ErrBadOption = errors.New("websocket: bad option")
)

// CloseError is the close frame the peer sent. Reads return it once the
// peer has closed the connection; use [CloseStatus] or errors.As to inspect
// it. Code is [StatusNoStatusReceived] when the frame carried no code.
//
// A CloseError always describes what the peer sent. When this endpoint
// fails the connection itself, reads return a [*ProtocolError] instead.
type CloseError struct {
	Code   StatusCode
	Reason string
}

func (e CloseError) Error() string {
	if e.Reason == "" {
		return "websocket: peer closed " + e.Code.String()
	}
	return "websocket: peer closed " + e.Code.String() + ": " + e.Reason
}

// CloseStatus returns the code of the [CloseError] in err's chain, or -1
// when there is none. It is the usual way to tell a clean close from a
// failure:
//
//	if websocket.CloseStatus(err) == websocket.StatusNormalClosure { ... }
func CloseStatus(err error) StatusCode {
	var ce CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// ProtocolError is a violation of RFC 6455 (or RFC 7692) that made this
// endpoint fail the connection. Code is the close code it sent to the peer
// before closing the TCP connection, Reason the text it sent with it.
//
// A ProtocolError always describes something this endpoint detected and
// sent; what the peer sent arrives as a [CloseError]. The package's
// ProtocolError values are allocated once, so hostile input never makes the
// library allocate errors.
type ProtocolError struct {
	Code   StatusCode
	Reason string
}

func (e *ProtocolError) Error() string {
	return "websocket: " + e.Reason + " (sent close " + strconv.Itoa(int(e.Code)) + ")"
}

func protocolError(reason string) *ProtocolError {
	return &ProtocolError{Code: StatusProtocolError, Reason: reason}
}

// The violations the protocol core detects (frame.go, protocol.go,
// status.go). Each is the *ProtocolError reads return after the connection
// was failed with its Code.
var (
	errLengthOverflow         = protocolError("frame length has its most significant bit set")
	errReservedBits           = protocolError("reserved bits set without an extension that defines them")
	errUnknownOpcode          = protocolError("unknown opcode")
	errUnmasked               = protocolError("client frame is not masked")
	errMasked                 = protocolError("server frame is masked")
	errFragmentedControl      = protocolError("fragmented control frame")
	errControlTooLong         = protocolError("control frame payload longer than 125 bytes")
	errUnexpectedContinuation = protocolError("continuation frame with no message open")
	errExpectedContinuation   = protocolError("new data frame while a fragmented message is open")
	errCloseTooShort          = protocolError("close frame payload of 1 byte")
	errInvalidCloseCode       = protocolError("invalid close code")
	errTooManyFragments       = &ProtocolError{Code: StatusMessageTooBig, Reason: "too many fragments in one message"}
	errInvalidUTF8            = &ProtocolError{Code: StatusInvalidFramePayloadData, Reason: "invalid UTF-8 in text message"}
	errBadCompressedData      = &ProtocolError{Code: StatusInvalidFramePayloadData, Reason: "compressed message cannot be inflated"}
	errInvalidCloseReasonUTF8 = &ProtocolError{Code: StatusInvalidFramePayloadData, Reason: "invalid UTF-8 in close reason"}
	errTooBig                 = ErrMessageTooBig.(*ProtocolError)
)

// netError reports that the connection broke without a closing handshake:
// what RFC 6455, Section 7.1.5 calls close code 1006. Reads and writes
// return it when the network failed under them.
type netError struct {
	op  string
	err error
}

func (e *netError) Error() string {
	return "websocket: connection lost during " + e.op + " (1006 abnormal closure): " + e.err.Error()
}
func (e *netError) Unwrap() error { return e.err }

// closedError is what calls on a closed Conn return when something other
// than CloseNow or Close closed it: it wraps both net.ErrClosed, so that
// the documented check works, and the cause (ErrKeepAliveTimeout, the
// failed write that ended the stream, ...), so that the caller can tell
// why.
type closedError struct{ cause error }

func (e *closedError) Error() string {
	return "websocket: connection closed: " + e.cause.Error()
}
func (e *closedError) Unwrap() []error { return []error{net.ErrClosed, e.cause} }

// errCloseSent is what writes return once this endpoint's close frame has
// gone out (RFC 6455, Section 5.5.1: no data frame may follow it).
var errCloseSent = net.ErrClosed

// errFrameOrder means the library itself tried to send a frame out of
// order; the sender refuses it rather than put an invalid stream on the
// wire.
var errFrameOrder = errors.New("websocket: internal error: frame out of order")

// errWriteCut is why a Conn closed after a write's context ended part-way
// through a frame.
var errWriteCut = errors.New("websocket: a write was cut short by its context part-way through a frame")

// frameCutError is what a write returns when its context ended part-way
// through the frame: the rest of the frame is kept and goes out before any
// other, so the message will arrive whole. It wraps the context's error.
type frameCutError struct{ cause error }

func (e *frameCutError) Error() string   { return ErrWritePending.Error() + ": " + e.cause.Error() }
func (e *frameCutError) Unwrap() []error { return []error{ErrWritePending, e.cause} }

// openMessageError ends the write side when a frame of a message that has
// started on the wire cannot be sent: the next message would otherwise begin
// inside the open one (RFC 6455, Section 5.4).
type openMessageError struct{ cause error }

// It does not unwrap to its cause: the cause is the context of the write
// that gave up, and later calls, which return this error wrapped as the
// Conn's close cause, must not look as if their own context had ended.
func (e *openMessageError) Error() string {
	return "websocket: a streamed message could not be finished, so the connection was closed: " + e.cause.Error()
}
