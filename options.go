//go:build !js

package websocket

import (
	"fmt"
	"time"
)

// ConnOptions configures a Conn the same way on either side: it is embedded
// in [AcceptOptions] and [DialOptions], so one value can configure both. The
// zero value means the default of every field. Accept and Dial refuse
// values out of range with an error, before the handshake.
type ConnOptions struct {
	// ReadLimit is the largest message the Conn accepts, in bytes. Zero
	// means DefaultReadLimit (1 MiB); a negative value means no limit. A
	// larger message fails the connection with close code 1009.
	ReadLimit int64

	// ReadBufferSize and WriteBufferSize are the sizes of the Conn's
	// buffers. Zero means 4096. Messages of any size pass through them;
	// larger buffers mean fewer system calls for large messages. Buffers of
	// the default size come from pools and are held only while bytes are
	// in flight.
	ReadBufferSize, WriteBufferSize int

	// CloseTimeout bounds the closing handshake: the wait for the peer's
	// close frame and, on a client, for the server to close TCP. Zero
	// means 5 seconds.
	CloseTimeout time.Duration

	// PingInterval, if positive, turns on the keepalive: when nothing has
	// arrived from the peer for PingInterval, the Conn pings it, and if no
	// pong comes within PongTimeout (zero: PingInterval), it drops the
	// connection and reads and writes return ErrKeepAliveTimeout. This
	// reaps half-open connections. The pong is received by a goroutine in
	// Read, so the wait for it counts only while one reads: a busy
	// application does not make a healthy peer look dead. Zero means no
	// keepalive.
	PingInterval, PongTimeout time.Duration

	// Compression, if not nil, turns on permessage-deflate (RFC 7692): a
	// server accepts a client's offer, a client makes one. See
	// CompressionOptions for what it costs.
	Compression *CompressionOptions

	// OnPing, if set, is called with the payload of each ping the peer
	// sends (the Conn answers it either way), and OnPong with the payload
	// of each pong and, when the pong answers a ping of this Conn's (Ping
	// or the keepalive), the round-trip time (0 otherwise): hooks for
	// metrics. They run on the goroutine reading the Conn, between frames,
	// so they must return quickly and must not read from the Conn; the
	// payload is valid only during the call.
	OnPing func(payload []byte)
	OnPong func(payload []byte, rtt time.Duration)
}

// check reports the first field out of range.
func (o *ConnOptions) check() error {
	switch {
	case o.ReadBufferSize < 0:
		return optionError("ReadBufferSize", o.ReadBufferSize, "must not be negative")
	case o.WriteBufferSize < 0:
		return optionError("WriteBufferSize", o.WriteBufferSize, "must not be negative")
	case o.CloseTimeout < 0:
		return optionError("CloseTimeout", o.CloseTimeout, "must not be negative")
	case o.PingInterval < 0:
		return optionError("PingInterval", o.PingInterval, "must not be negative")
	case o.PongTimeout < 0:
		return optionError("PongTimeout", o.PongTimeout, "must not be negative")
	}
	if c := o.Compression; c != nil {
		switch {
		case c.Level < -2 || c.Level > 9:
			return optionError("Compression.Level", c.Level, "must be a compress/flate level, -2 to 9")
		case c.Threshold < 0:
			return optionError("Compression.Threshold", c.Threshold, "must not be negative")
		case c.MaxWindowBits != 0 && (c.MaxWindowBits < 8 || c.MaxWindowBits > 15):
			return optionError("Compression.MaxWindowBits", c.MaxWindowBits, "must be 0 or 8 to 15")
		}
	}
	return nil
}

// config turns the options into what newConn takes.
func (o *ConnOptions) config(client bool, subprotocol string, deflate *deflateConfig) connConfig {
	return connConfig{
		client:          client,
		subprotocol:     subprotocol,
		readLimit:       o.ReadLimit,
		readBufferSize:  o.ReadBufferSize,
		writeBufferSize: o.WriteBufferSize,
		closeTimeout:    o.CloseTimeout,
		deflate:         deflate,
		pingInterval:    o.PingInterval,
		pongTimeout:     o.PongTimeout,
		onPing:          o.OnPing,
		onPong:          o.OnPong,
	}
}

func optionError(field string, v any, why string) error {
	return fmt.Errorf("%w: %s = %v %s", ErrBadOption, field, v, why)
}
