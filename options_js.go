//go:build js

package websocket

import (
	"errors"
	"fmt"
)

// This file is the js build's check of the options (options.go), for what
// a browser cannot honour.

// check reports the first field out of range, with the same rules as the
// native build, then the first field a browser cannot honour.
func (o *ConnOptions) check() error {
	if err := o.checkRange(); err != nil {
		return err
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

// unsupportedOption is the error for an option a browser cannot honour: it
// wraps ErrBadOption, like any option Dial refuses, and
// errors.ErrUnsupported, which says why.
func unsupportedOption(field, why string) error {
	return fmt.Errorf("%w: %s cannot be used in a browser: %s (%w)", ErrBadOption, field, why, errors.ErrUnsupported)
}
