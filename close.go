//go:build !js

package websocket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"
)

// This file is the end of a connection: the closing handshake of RFC 6455,
// Section 7 (Close), the drop (CloseNow), and terminate, the one place that
// marks a Conn closed for every goroutine.

// Close performs the closing handshake: it sends a close frame with code and
// reason, waits for the peer's close frame, then closes the TCP connection
// (the server first, as Section 7.1.1 asks; a client waits for the server to
// do so). The whole exchange is bounded by the close timeout of the options
// (5 seconds by default); if it runs out, the connection is dropped and
// Close returns [ErrCloseTimeout].
//
// code must be one that may be sent (RFC 6455, Section 7.4), or
// [StatusNoStatusReceived] for a close frame without a code; the reason must
// be UTF-8 and is cut to fit a control frame (123 bytes). Otherwise Close
// returns an error wrapping [ErrInvalidCloseCode] and does nothing else.
//
// Data messages that arrive while Close waits are discarded. Close returns
// nil when the handshake completed, including when the peer closed first
// and this endpoint answered, and net.ErrClosed if the connection was
// dropped or closed before.
func (c *Conn) Close(code StatusCode, reason string) error {
	return c.close(code, reason, false)
}

// close is Close; with background set it returns once the close frame is
// out and finishes the handshake on a goroutine of its own, as a net.Conn's
// Close must not wait for the peer.
func (c *Conn) close(code StatusCode, reason string, background bool) error {
	if !checkCloseArgs(code, reason) {
		return fmt.Errorf("%w: code %d, reason %q", ErrInvalidCloseCode, int(code), reason)
	}
	first := c.closeCalled.CompareAndSwap(false, true)
	if c.closed.isSet() {
		return c.closeResult(first)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.closeTimeout)
	var buf [maxControlPayload]byte
	err := c.sendControl(ctx, opClose, appendClosePayload(buf[:0], code, reason))
	if err == nil && background {
		go func() {
			defer cancel()
			c.awaitClose(ctx)
		}()
		return nil
	}
	defer cancel()
	if err != nil {
		if err == errCloseSent {
			// A close frame went out already: another Close, or the
			// reader answering the peer's. Let that handshake finish.
			select {
			case <-c.closed.wait():
			case <-ctx.Done():
				c.CloseNow()
			}
			return c.closeResult(first)
		}
		c.CloseNow()
		return err
	}
	return c.awaitClose(ctx)
}

// awaitClose finishes a closing handshake whose close frame went out: it
// waits for the peer's, within ctx, and closes the connection.
func (c *Conn) awaitClose(ctx context.Context) error {
	// Wait for the peer's close frame: a goroutine in Read will see it;
	// with none, read it here.
	if stop, err := c.beginRead(ctx, c.readDone.wait()); err == nil {
		c.discardAll()
		c.endRead(stop)
	}
	var ce CloseError
	switch {
	case !c.readDone.isSet():
		c.CloseNow()
		return ErrCloseTimeout
	case !errors.As(c.readErr, &ce):
		c.CloseNow()
		return c.readErr
	}
	c.shutdown(true)
	return nil
}

// closeResult is what Close returns for a Conn whose closing is done or
// under way: nil to the first Close when the peer closed first and this
// endpoint answered (the handshake is complete), otherwise why the Conn was
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

// discardAll reads and drops messages until the read side ends (the peer's
// close frame) or the read's context does. The caller is in the read side.
func (c *Conn) discardAll() {
	for {
		if !c.recv.open {
			if c.advance() != nil {
				return
			}
			c.owner = ownerStream // not to be resumed by anyone
		}
		if c.discardMessage() != nil {
			return
		}
	}
}

// sendClose sends a close frame, unless one was sent already, bounded by
// the close timeout. It is used where the connection ends either way: the
// answer to the peer's close frame, and the failure of the connection.
func (c *Conn) sendClose(code StatusCode, reason string) error {
	ctx, cancel := context.WithTimeout(context.Background(), c.closeTimeout)
	defer cancel()
	var buf [maxControlPayload]byte
	return c.sendControl(ctx, opClose, appendClosePayload(buf[:0], code, reason))
}

// CloseNow closes the TCP connection at once, without a closing handshake.
// Blocked reads and writes return. It returns net.ErrClosed if the
// connection was already closed.
func (c *Conn) CloseNow() error {
	if c.terminate(net.ErrClosed) {
		return nil
	}
	// Cut short a shutdown that is waiting for the peer.
	c.nc.Close()
	return net.ErrClosed
}

// terminate marks the Conn closed because of cause, for every goroutine:
// blocked reads and writes return, later calls return the cause (wrapped
// so that errors.Is(err, net.ErrClosed) holds), the Conn leaves its groups
// and the keepalive stops. It reports whether this call closed the Conn.
func (c *Conn) terminate(cause error) bool {
	if !c.markClosed(cause) {
		return false
	}
	c.nc.Close()
	return true
}

// markClosed sets the closed signal with its cause and detaches the Conn
// from what tracks it, if no call did so before.
func (c *Conn) markClosed(cause error) bool {
	ok := c.closed.fire(func() {
		switch cause.(type) {
		case *closedError:
			c.closeErr = cause
		default:
			if cause == net.ErrClosed {
				c.closeErr = cause
			} else {
				c.closeErr = &closedError{cause: cause}
			}
		}
	})
	if ok {
		c.detach()
		c.releaseDeflater()
		if c.closeHook != nil {
			c.closeHook()
		}
	}
	return ok
}

// detach stops the keepalive and leaves the groups, once the Conn is closed.
func (c *Conn) detach() {
	if c.keepAlive != nil {
		c.keepAlive.stop()
	}
	c.groupMu.Lock()
	groups := c.groups
	c.groups = nil
	c.groupMu.Unlock()
	for _, g := range groups {
		g.remove(c)
	}
}

func (c *Conn) isClosed() bool { return c.closed.isSet() }

// Done returns a channel that is closed when the connection has ended, for
// any reason: a closing handshake, CloseNow, a failure of the connection
// by either side, the keepalive, or the network. After it is closed, every
// call on the Conn returns an error.
func (c *Conn) Done() <-chan struct{} { return c.closed.wait() }

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
	if !c.markClosed(net.ErrClosed) {
		return
	}
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
