package websocket

import (
	"context"
	"encoding/binary"
	"errors"
	"net"
	"strconv"
	"time"
	"unicode/utf8"
)

// StatusCode is a close status code (RFC 6455, Section 7.4; the IANA
// "WebSocket Close Code Number Registry").
type StatusCode int

// The registered status codes. 1005, 1006 and 1015 are reserved for reporting
// and are never sent on the wire.
const (
	StatusNormalClosure           StatusCode = 1000
	StatusGoingAway               StatusCode = 1001
	StatusProtocolError           StatusCode = 1002
	StatusUnsupportedData         StatusCode = 1003
	StatusNoStatusReceived        StatusCode = 1005
	StatusAbnormalClosure         StatusCode = 1006
	StatusInvalidFramePayloadData StatusCode = 1007
	StatusPolicyViolation         StatusCode = 1008
	StatusMessageTooBig           StatusCode = 1009
	StatusMandatoryExtension      StatusCode = 1010
	StatusInternalError           StatusCode = 1011
	StatusServiceRestart          StatusCode = 1012
	StatusTryAgainLater           StatusCode = 1013
	StatusBadGateway              StatusCode = 1014
	StatusTLSHandshake            StatusCode = 1015
)

var statusNames = map[StatusCode]string{
	StatusNormalClosure:           "normal closure",
	StatusGoingAway:               "going away",
	StatusProtocolError:           "protocol error",
	StatusUnsupportedData:         "unsupported data",
	StatusNoStatusReceived:        "no status",
	StatusAbnormalClosure:         "abnormal closure",
	StatusInvalidFramePayloadData: "invalid payload data",
	StatusPolicyViolation:         "policy violation",
	StatusMessageTooBig:           "message too big",
	StatusMandatoryExtension:      "mandatory extension",
	StatusInternalError:           "internal server error",
	StatusServiceRestart:          "service restart",
	StatusTryAgainLater:           "try again later",
	StatusBadGateway:              "bad gateway",
	StatusTLSHandshake:            "TLS handshake",
}

// String returns the code and its registered name, as in "1001 (going away)".
func (c StatusCode) String() string {
	s := strconv.Itoa(int(c))
	if name, ok := statusNames[c]; ok {
		return s + " (" + name + ")"
	}
	return s
}

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

// validReceivedCode reports whether a peer may send code in a close frame
// (RFC 6455, Section 7.4). 1004 is reserved, 1005, 1006 and 1015 must never
// appear on the wire, 1016-2999 are unassigned or reserved for future
// revisions, and 3000-4999 belong to libraries and applications.
func validReceivedCode(code StatusCode) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// parseClosePayload decodes the payload of a received close frame
// (RFC 6455, Section 5.5.1). An empty payload means no code was given. A
// 1-byte payload, an invalid code or a reason that is not UTF-8 is an error
// whose Code is the close code to answer with.
func parseClosePayload(p []byte) (code StatusCode, reason []byte, err error) {
	switch {
	case len(p) == 0:
		return StatusNoStatusReceived, nil, nil
	case len(p) == 1:
		return 0, nil, errCloseTooShort
	}
	code = StatusCode(binary.BigEndian.Uint16(p))
	if !validReceivedCode(code) {
		return 0, nil, errInvalidCloseCode
	}
	if !utf8.Valid(p[2:]) {
		return 0, nil, errInvalidCloseReasonUTF8
	}
	return code, p[2:], nil
}

// appendClosePayload appends a close frame payload to dst. The code
// StatusNoStatusReceived gives an empty payload, as it must never be sent.
// The reason is cut, at a code point boundary, to fit the 125-byte control
// frame limit.
func appendClosePayload(dst []byte, code StatusCode, reason string) []byte {
	if code == StatusNoStatusReceived {
		return dst
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	if len(reason) > maxControlPayload-2 {
		n := maxControlPayload - 2
		for n > 0 && !utf8.RuneStart(reason[n]) {
			n--
		}
		reason = reason[:n]
	}
	return append(dst, reason...)
}

// ---- the closing handshake (RFC 6455, Section 7) ----

// Close performs the closing handshake: it sends a close frame with code and
// reason, waits for the peer's close frame, then closes the TCP connection
// (the server first, as Section 7.1.1 asks; a client waits for the server to
// do so). The whole exchange is bounded by the close timeout of the options
// (5 seconds by default); if it runs out, the connection is dropped.
//
// Data messages that arrive while Close waits are discarded. The reason is
// cut to fit a control frame (123 bytes). Close returns nil when the
// handshake completed, and net.ErrClosed if the connection was already
// closed.
func (c *Conn) Close(code StatusCode, reason string) error {
	if c.isClosed() {
		return net.ErrClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.closeTimeout)
	defer cancel()
	if err := c.writeClose(ctx, code, reason); err != nil {
		if errors.Is(err, net.ErrClosed) {
			// A close frame went out already: another Close, or the
			// reader answering the peer's. Let that handshake finish.
			select {
			case <-c.closed.wait():
			case <-ctx.Done():
				c.CloseNow()
			}
			return net.ErrClosed
		}
		c.CloseNow()
		return err
	}
	// Wait for the peer's close frame: a goroutine in Read will see it;
	// with none, read it here.
	if !c.readDone.isSet() {
		if c.readMu.lockUnless(ctx, c.readDone.wait()) {
			c.armRead(ctx)
			for c.nextMessage() == nil {
			}
			c.armRead(context.Background())
			c.readMu.unlock()
		}
	}
	var ce CloseError
	switch {
	case !c.readFinished():
		c.CloseNow()
		return errCloseTimeout
	case !errors.As(c.readErr, &ce):
		c.CloseNow()
		return c.readErr
	}
	c.shutdown(true)
	return nil
}

var errCloseTimeout = errors.New("websocket: timed out waiting for the peer's close frame")

// writeClose sends a close frame; net.ErrClosed means one was sent already.
func (c *Conn) writeClose(ctx context.Context, code StatusCode, reason string) error {
	var buf [maxControlPayload]byte
	return c.writeControl(ctx, opClose, appendClosePayload(buf[:0], code, reason))
}

// sendClose sends a close frame, unless one was sent already, bounded by
// the close timeout. It is used where the connection ends either way.
func (c *Conn) sendClose(code StatusCode, reason string) {
	ctx, cancel := context.WithTimeout(context.Background(), c.closeTimeout)
	c.writeClose(ctx, code, reason)
	cancel()
}

// CloseNow closes the TCP connection at once, without a closing handshake.
// Blocked reads and writes return. It returns net.ErrClosed if the
// connection was already closed.
func (c *Conn) CloseNow() error {
	err := net.ErrClosed
	if c.closed.fire(nil) {
		c.detach()
		err = c.nc.Close()
	} else {
		// Cut short a shutdown that is waiting for the peer.
		c.nc.Close()
	}
	return err
}

// detach stops the keepalive and leaves the group, once the Conn is closed.
func (c *Conn) detach() {
	if c.keepAlive != nil {
		c.keepAlive.stop()
	}
	c.groupMu.Lock()
	g := c.group
	c.groupMu.Unlock()
	if g != nil {
		g.remove(c)
	}
}

// readFinished reports whether the read side has ended; only then may a
// goroutine other than the reader look at readErr.
func (c *Conn) readFinished() bool { return c.readDone.isSet() }

func (c *Conn) isClosed() bool { return c.closed.isSet() }

// shutdown closes the TCP connection once close frames have been exchanged
// (handshakeDone) or the connection has been failed.
//
// After a completed handshake the server closes at once (Section 7.1.1: "the
// server MUST close the underlying TCP connection immediately"), while a
// client waits, within the close timeout, for the server to do it. After a
// failure the peer may still be sending; closing with unread data would make
// the kernel reset the connection, which can destroy our close frame before
// the peer reads it. So the server half-closes and discards what arrives
// until the peer closes too or the close timeout runs out.
func (c *Conn) shutdown(handshakeDone bool) {
	if !c.closed.fire(nil) {
		return
	}
	c.detach()
	if !handshakeDone && !c.client {
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		}
	}
	if c.client || !handshakeDone {
		c.nc.SetReadDeadline(time.Now().Add(c.closeTimeout))
		d := getDiscard()
		for {
			if _, err := c.nc.Read(d[:]); err != nil {
				break
			}
		}
		putDiscard(d)
	}
	c.nc.Close()
}
