//go:build js

package websocket

import (
	"errors"
	"fmt"
	"time"
)

// This file is options.go for the js build: the same ConnOptions and
// CompressionOptions, field for field (wasmtest/api_test.go checks it), with
// what a browser makes of each field.

// ConnOptions configures a Conn the same way on either side: it is embedded
// in [DialOptions] (and, outside js, in AcceptOptions), so one value can
// configure both. The zero value means the default of every field. Dial
// refuses values out of range with an error, before the handshake.
//
// Under js the browser owns the connection; each field says what it means
// there.
type ConnOptions struct {
	// ReadLimit is the largest message the Conn accepts, in bytes, and also
	// the most it holds of messages that arrived and were not read yet
	// (see [Conn.Read]). Zero means DefaultReadLimit (1 MiB); a negative
	// value means no limit. A larger message fails the connection with
	// ErrMessageTooBig (the browser sends close code 4009: it lets a page
	// send only 1000 and 3000 to 4999).
	ReadLimit int64

	// ReadBufferSize and WriteBufferSize are ignored: the browser has the
	// buffers. They are still checked for range.
	ReadBufferSize, WriteBufferSize int

	// CloseTimeout bounds Close's wait for the browser's close event. Zero
	// means 5 seconds.
	CloseTimeout time.Duration

	// PingInterval and PongTimeout must be zero: a page cannot send pings
	// (the browser answers the server's pings itself), so the keepalive
	// cannot run, and Dial returns an error wrapping ErrBadOption and
	// errors.ErrUnsupported rather than run without it.
	PingInterval, PongTimeout time.Duration

	// Compression is ignored: the browser decides on permessage-deflate
	// itself (Chromium and Firefox always offer it, with parameters of
	// their own), whether Compression is nil or not. [Conn.Compressed]
	// tells what it agreed.
	Compression *CompressionOptions

	// OnPing and OnPong must be nil: the browser answers pings itself and
	// tells a page of no ping or pong, so the hooks would never run, and
	// Dial returns an error wrapping ErrBadOption and
	// errors.ErrUnsupported rather than accept them.
	OnPing func(payload []byte)
	OnPong func(payload []byte, rtt time.Duration)
}

// CompressionOptions are the permessage-deflate settings of the native
// build. Under js they are ignored: the browser negotiates compression on
// its own (see [ConnOptions]).
type CompressionOptions struct {
	// Level, Threshold, NoContextTakeover and MaxWindowBits are ignored
	// under js; Dial still checks them for range.
	Level             int
	Threshold         int
	NoContextTakeover bool
	MaxWindowBits     int
}

// check reports the first field out of range, with the same rules as the
// native build, then the first field a browser cannot honour.
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
	switch {
	case o.PingInterval != 0:
		return unsupportedOption("PingInterval", "a page cannot send pings, so there is no keepalive")
	case o.PongTimeout != 0:
		return unsupportedOption("PongTimeout", "a page cannot send pings, so there is no keepalive")
	case o.OnPing != nil:
		return unsupportedOption("OnPing", "the browser tells a page of no ping")
	case o.OnPong != nil:
		return unsupportedOption("OnPong", "the browser tells a page of no pong")
	}
	return nil
}

func optionError(field string, v any, why string) error {
	return fmt.Errorf("%w: %s = %v %s", ErrBadOption, field, v, why)
}

// unsupportedOption is the error for an option a browser cannot honour: it
// wraps ErrBadOption, like any option Dial refuses, and
// errors.ErrUnsupported, which says why.
func unsupportedOption(field, why string) error {
	return fmt.Errorf("%w: %s cannot be used in a browser: %s (%w)", ErrBadOption, field, why, errors.ErrUnsupported)
}
