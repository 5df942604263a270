package websocket

import (
	"fmt"
	"time"
)

// This file is shared by every build: the options of a Conn and their
// ranges. What a browser makes of each is said on the field.

// ConnOptions configures a Conn the same way on either side: it is embedded
// in [AcceptOptions] and [DialOptions], so one value can configure both. The
// zero value means the default of every field. Accept and Dial refuse
// values out of range with an error, before the handshake.
type ConnOptions struct {
	// ReadLimit is the largest message the Conn accepts, in bytes. Zero
	// means DefaultReadLimit (1 MiB); a negative value means no limit. A
	// larger message fails the connection with close code 1009 (in a
	// browser, which lets a page send only 1000 and 3000 to 4999, with
	// 4009); there it also bounds what the Conn holds of messages that
	// arrived and were not read yet (see Conn.Read).
	ReadLimit int64

	// ReadBufferSize and WriteBufferSize are the sizes of the Conn's
	// buffers. Zero means 4096. Messages of any size pass through them;
	// larger buffers mean fewer system calls for large messages. Buffers of
	// the default size come from pools and are held only while bytes are
	// in flight. Ignored in a browser, which has the buffers.
	ReadBufferSize, WriteBufferSize int

	// CloseTimeout bounds the closing handshake: the wait for the peer's
	// close frame and, on a client, for the server to close TCP (in a
	// browser, for the close event). Zero means 5 seconds.
	CloseTimeout time.Duration

	// PingInterval, if positive, turns on the keepalive: when nothing has
	// arrived from the peer for PingInterval, the Conn pings it, and if no
	// pong comes within PongTimeout (zero: PingInterval), it drops the
	// connection and reads and writes return ErrKeepAliveTimeout. This
	// reaps half-open connections. The pong is received by a goroutine in
	// Read, so the wait for it counts only while one reads: a busy
	// application does not make a healthy peer look dead. Zero means no
	// keepalive. In a browser they must be zero: a page cannot send pings
	// (the browser answers the server's itself), and Dial returns an error
	// wrapping ErrBadOption and errors.ErrUnsupported rather than run
	// without the keepalive.
	PingInterval, PongTimeout time.Duration

	// Compression, if not nil, turns on permessage-deflate (RFC 7692): a
	// server accepts a client's offer, a client makes one. See
	// CompressionOptions for what it costs. Ignored in a browser, which
	// decides itself (Chromium and Firefox always offer it);
	// [Conn.Compressed] tells what was agreed.
	Compression *CompressionOptions

	// OnPing, if set, is called with the payload of each ping the peer
	// sends (the Conn answers it either way), and OnPong with the payload
	// of each pong and, when the pong answers a ping of this Conn's (Ping
	// or the keepalive), the round-trip time (0 otherwise): hooks for
	// metrics. They run on the goroutine reading the Conn, between frames,
	// so they must return quickly and must not read from the Conn; the
	// payload is valid only during the call. In a browser they must be
	// nil: it tells a page of no ping or pong.
	OnPing func(payload []byte)
	OnPong func(payload []byte, rtt time.Duration)
}

// checkRange reports the first field out of range, in every build.
func (o *ConnOptions) checkRange() error {
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

func optionError(field string, v any, why string) error {
	return fmt.Errorf("%w: %s = %v %s", ErrBadOption, field, v, why)
}

// CompressionOptions turns on permessage-deflate (RFC 7692) for a Conn, in
// [AcceptOptions] or [DialOptions]. A nil *CompressionOptions leaves
// compression off; a non-nil one with zero fields uses the defaults. In a
// browser they are ignored (the browser negotiates compression itself),
// though Dial still checks them for range.
//
// Memory. Without ContextTakeover a Conn keeps no compressor state of its
// own between messages: outgoing messages are compressed with a pooled
// flate.Writer that is reset for every message (the RFC allows a sender to
// ignore the history it may keep, and this endpoint then announces it
// does), and incoming ones are inflated with a pooled reader. With
// ContextTakeover, once the peer agreed, the Conn holds a deflater of
// about 16 KiB (a 4 KiB history, its buffer and a hash table; see
// deflater.go) from its first compressed message until it ends. Only when
// the peer keeps its compression context across messages does the Conn
// keep the last window of inflated data as the dictionary for the next
// message: at most 2^window bytes (32 KiB by default, 512 bytes with
// MaxWindowBits 9).
type CompressionOptions struct {
	// Level is the compress/flate level for outgoing messages. Zero means
	// flate.BestSpeed, the usual choice for messaging; levels 2 to 9 clear
	// a 512 KiB hash table for every message, so they pay off only for
	// large messages.
	Level int

	// Threshold is the size below which a message is sent uncompressed.
	// Zero means 128 bytes, or 16 bytes when outgoing messages are
	// compressed with context takeover: compressing a few bytes on their
	// own costs more than it saves, while with the history of the earlier
	// messages a short message that repeats them shrinks to a few bytes.
	Threshold int

	// NoContextTakeover asks the peer to compress every message on its own
	// (server: client_no_context_takeover; client:
	// server_no_context_takeover), so this endpoint keeps nothing between
	// messages. It costs compression ratio on repetitive traffic.
	NoContextTakeover bool

	// ContextTakeover compresses outgoing messages with the history of the
	// earlier ones, when the peer allows it (RFC 7692, Section 7.1.1): on
	// a stream of small similar messages (JSON events, say) that shrinks
	// them much more than compressing each on its own: 200-byte JSON
	// events to about 31% of their size instead of 68%, in a sixth of the
	// CPU time (2 against 12-17 us per message). It costs a compressor per connection for the connection's
	// life, of bounded size (about 16 KiB, whatever the window): see
	// deflater.go for the figures. Messages of 32 KiB and more still go
	// through compress/flate. A PreparedMessage is then compressed for each
	// connection (see PreparedMessage). The Engine's connections compress
	// every message on its own either way. Off by default.
	ContextTakeover bool

	// MaxWindowBits (8 to 15) limits the history window the peer may use
	// when it keeps its context, which is the size of the dictionary this
	// endpoint keeps. Zero means 15 (32 KiB). A server can only ask this of
	// a client that offered client_max_window_bits.
	MaxWindowBits int
}
