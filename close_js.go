//go:build js

package websocket

import (
	"errors"
	"fmt"
	"io"
	"net"
	"time"
)

// This file is close.go for the js build: Close and CloseNow ask the
// browser to close, fail ends the connection when this endpoint decides to,
// and onClose turns the browser's close event into the end of the Conn.

// Close performs the closing handshake: it asks the browser to send a close
// frame with code and reason and waits, bounded by the close timeout of the
// options (5 seconds by default), for the browser's close event, which
// comes once the peer has answered and the connection is down. If the
// timeout runs out, the Conn is closed anyway (the browser finishes on its
// own) and Close returns [ErrCloseTimeout].
//
// code and reason are checked as the native build checks them: code must
// be one that may be sent (RFC 6455, Section 7.4), or
// [StatusNoStatusReceived] for a close frame without a code, and the reason
// must be UTF-8; it is cut to fit a control frame (123 bytes). A browser
// further lets a page send only 1000 and 3000 to 4999: for other codes
// Close returns an error wrapping both [ErrInvalidCloseCode] and
// errors.ErrUnsupported. Either way nothing is done, and the Conn is left as
// it was.
//
// Messages that arrived and were not read yet, and those that arrive while
// Close waits, are discarded. Close returns nil when the handshake
// completed, including when the peer closed first and the browser
// answered, and net.ErrClosed if the connection was dropped or closed
// before.
func (c *Conn) Close(code StatusCode, reason string) error {
	if !checkCloseArgs(code, reason) {
		return fmt.Errorf("%w: code %d, reason %q", ErrInvalidCloseCode, int(code), reason)
	}
	if !browserMaySend(code) {
		return fmt.Errorf("%w: code %d: a browser lets a page send only 1000 and 3000 to 4999 (%w)", ErrInvalidCloseCode, int(code), errors.ErrUnsupported)
	}
	first := c.closeCalled.CompareAndSwap(false, true)
	if c.closed.isSet() {
		return c.closeResult(first)
	}
	if c.closing.CompareAndSwap(false, true) {
		if err := c.closeWS(code, reason); err != nil {
			c.closing.Store(false)
			if first {
				c.closeCalled.Store(false)
			}
			return err
		}
	}
	// Else another Close or a failure has asked already: wait for that
	// handshake.
	c.dropQueue(nil)
	t := time.NewTimer(c.closeTimeout)
	defer t.Stop()
	select {
	case <-c.closeEvent.wait():
	case <-c.closed.wait(): // CloseNow, or the close event
		if !c.closeEvent.isSet() {
			return net.ErrClosed
		}
	case <-t.C:
		c.markClosed(net.ErrClosed)
		c.endRead(net.ErrClosed)
		return ErrCloseTimeout
	}
	if !first {
		return c.closeResult(false)
	}
	var ce CloseError
	if !errors.As(c.closeEvErr, &ce) {
		return c.closeEvErr
	}
	return nil
}

// browserMaySend reports whether WebSocket.close accepts code: 1000, 3000
// to 4999, or no code at all (StatusNoStatusReceived).
func browserMaySend(code StatusCode) bool {
	return code == StatusNormalClosure || code == StatusNoStatusReceived || code >= 3000 && code <= 4999
}

// closeWS asks the browser to close with code and reason (no code for
// StatusNoStatusReceived), the reason cut at a code point boundary to fit
// the 123 bytes the browser allows, as the native build cuts it.
func (c *Conn) closeWS(code StatusCode, reason string) error {
	var err error
	if code == StatusNoStatusReceived {
		_, err = jsCall(c.ws, "close")
	} else {
		var buf [maxControlPayload]byte
		p := appendClosePayload(buf[:0], code, reason)
		_, err = jsCall(c.ws, "close", int(code), jsString(p[2:]))
	}
	if err != nil {
		return fmt.Errorf("websocket: the browser refused to close: %w", err)
	}
	return nil
}

// closeResult is what Close returns for a Conn whose closing is done or
// under way: nil to the first Close when the peer closed first and the
// browser answered (the handshake is complete), otherwise why the Conn was
// closed.
func (c *Conn) closeResult(first bool) error {
	if first && c.peerClosed.Load() {
		return nil
	}
	if c.closed.isSet() {
		return c.closeErr
	}
	return net.ErrClosed
}

// CloseNow closes the Conn at once for every call: blocked reads and writes
// return, and queued messages are dropped. A browser cannot drop a
// connection without a closing handshake, so it is asked to close with no
// code (the peer sees 1005, no status) and finishes on its own. It returns
// net.ErrClosed if the Conn was already closed.
func (c *Conn) CloseNow() error {
	if !c.markClosed(net.ErrClosed) {
		return net.ErrClosed
	}
	c.dropQueue(net.ErrClosed)
	if c.closing.CompareAndSwap(false, true) {
		c.closeWS(StatusNoStatusReceived, "")
	}
	return nil
}

// fail fails the connection (RFC 6455, Section 7.1.7) for perr, which
// reads return once the messages queued before it have been read: the
// browser is asked to close with ownCloseCode(perr.Code) and perr's reason,
// and the Conn is closed for writes at once, as the native build's is.
// Called from the message handler, it does not wait.
func (c *Conn) fail(perr *ProtocolError) {
	c.endRead(perr)
	if c.closing.CompareAndSwap(false, true) {
		c.closeWS(ownCloseCode(perr.Code), perr.Reason)
	}
	c.markClosed(net.ErrClosed)
}

// onClose is the close event handler. The event's code is the peer's close
// frame's, or 1006 (1015 for TLS) when the connection was lost without one;
// the browser fires an error event just before it then, and no event after
// it. Reads return what it means once the queue is empty, unless the read
// side had ended already.
func (c *Conn) onClose(code int, reason string, clean bool) {
	var err, cause error
	switch StatusCode(code) {
	case StatusAbnormalClosure, StatusTLSHandshake:
		ne := &netError{op: "read", err: fmt.Errorf("the browser reported close code %v, wasClean %v, and says no more: %w", StatusCode(code), clean, io.ErrUnexpectedEOF)}
		err, cause = ne, ne
	default:
		err, cause = CloseError{Code: StatusCode(code), Reason: reason}, net.ErrClosed
		if !c.closing.Load() {
			// The browser answers a peer's close frame itself.
			c.peerClosed.Store(true)
		}
	}
	c.closeEvent.fire(func() { c.closeEvErr = err })
	c.endRead(err)
	c.markClosed(cause)
	c.release()
}
