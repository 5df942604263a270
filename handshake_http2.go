//go:build !js

package websocket

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"github.com/ccf874ba/websocket/internal/h2"
)

// This file is the server side of WebSockets over HTTP/2 (RFC 8441): a
// browser that shares the page's HTTP/2 connection opens a WebSocket as an
// extended CONNECT stream, which net/http hands to the handler like any
// request when the process runs with GODEBUG=http2xconnect=1 (Go 1.26 has
// no other switch). Accept takes it with the same checks as an HTTP/1.1
// Upgrade and runs the Conn over the stream.

// ExtendedConnectEnabled reports whether net/http in this process accepts
// WebSockets over HTTP/2: whether it advertises
// SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441, Section 3), which it does
// when the process started with GODEBUG=http2xconnect=1 (the setting is
// read once, as net/http starts, and applies to every http.Server of the
// process). Without it, browsers open their WebSockets over HTTP/1.1 to
// the same server, which Accept takes as before.
func ExtendedConnectEnabled() bool { return h2.ExtendedConnectEnabled() }

// checkRequestHTTP2 validates an extended CONNECT that opens a WebSocket
// (RFC 8441, Section 4: :method CONNECT, :protocol websocket, and
// Sec-WebSocket-Version 13; there is no key) and returns the status to
// answer a bad one with.
func checkRequestHTTP2(r *http.Request) (int, error) {
	proto := h2.ExtendedConnectProtocol(r)
	if proto == "" {
		msg := "over HTTP/2 a WebSocket is opened with an extended CONNECT (RFC 8441), not a GET"
		if !h2.ExtendedConnectEnabled() {
			msg += "; this server does not offer it: start it with GODEBUG=http2xconnect=1"
		}
		return http.StatusBadRequest, errors.New(msg)
	}
	if !strings.EqualFold(proto, "websocket") {
		return http.StatusBadRequest, fmt.Errorf("extended CONNECT for protocol %q; only websocket is served", proto)
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		// 400 rather than HTTP/1.1's 426 Upgrade Required: HTTP/2 has no
		// Upgrade. reject names the version supported either way.
		return http.StatusBadRequest, errUnsupportedVersion
	}
	return 0, nil
}

// takeOverHTTP2 answers the extended CONNECT with 200, the headers set on
// w going with it, and returns the stream as the Conn's connection.
func takeOverHTTP2(w http.ResponseWriter, r *http.Request) (net.Conn, error) {
	s, err := h2.NewServerStream(w, r)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadHandshake, err)
	}
	return s, nil
}

// serverStreamDone returns the channel that closes once an HTTP/2 Conn's
// stream is done with the handler's ResponseWriter and request, or nil for
// a Conn that is not over HTTP/2.
func (c *Conn) serverStreamDone() <-chan struct{} {
	if s, ok := c.nc.(*h2.ServerStream); ok {
		return s.Done()
	}
	return nil
}

// resumableWrites reports whether a write to nc that its deadline cut
// short leaves nc usable, so that the Conn can finish the frame later.
// crypto/tls makes a write timeout permanent, and net/http resets an
// HTTP/2 server stream whose write deadline fires.
func resumableWrites(nc net.Conn) bool {
	switch nc.(type) {
	case *tls.Conn, *h2.ServerStream:
		return false
	}
	return true
}
