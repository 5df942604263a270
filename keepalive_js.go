//go:build js

package websocket

import "context"

// This file is keepalive.go for the js build: a page has no way to send a
// ping. The browser answers the server's pings itself, so a server's
// keepalive works against a browser client as against any other.

// Ping cannot be done in a browser: a page has no API to send a ping (the
// browser answers the peer's pings itself). It returns an error wrapping
// errors.ErrUnsupported, whatever the state of the Conn and ctx.
func (c *Conn) Ping(ctx context.Context) error { return errPing }
