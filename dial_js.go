//go:build js

package websocket

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall/js"
	"time"
)

// This file is dial.go for the js build: Dial opens the browser's
// WebSocket and waits for its open event.

// DialOptions configures [Dial]. A nil *DialOptions means the defaults of
// every field. It has the fields of the native build, so that one program
// builds for both, but a browser makes the connection itself, with its own
// headers, network, proxies and TLS: a field it cannot honour makes Dial
// return an error wrapping [ErrBadOption] and errors.ErrUnsupported, never
// a connection that quietly lacks it.
type DialOptions struct {
	// Header must be empty: a page cannot set request headers. The
	// browser sends the page's origin and the cookies of the server's
	// site itself.
	Header http.Header

	// Subprotocols lists the subprotocols to offer, in order of
	// preference.
	Subprotocols []string

	// TLSConfig must be nil: the browser does TLS for wss:// with its own
	// settings and certificate store.
	TLSConfig *tls.Config

	// Proxy must be nil: the browser uses its own proxy settings.
	Proxy func(*http.Request) (*url.URL, error)

	// NetDial must be nil: the browser makes the connection.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)

	// HandshakeTimeout bounds the wait for the browser to open the
	// connection when Dial's context has no earlier deadline. Zero means
	// 30 seconds.
	HandshakeTimeout time.Duration

	// ConnOptions configures the Conn; see there what a browser makes of
	// each field.
	ConnOptions
}

const defaultDialTimeout = 30 * time.Second

func (o *DialOptions) check() error {
	if o.HandshakeTimeout < 0 {
		return optionError("HandshakeTimeout", o.HandshakeTimeout, "must not be negative")
	}
	if err := o.ConnOptions.check(); err != nil {
		return err
	}
	switch {
	case len(o.Header) > 0:
		return unsupportedOption("Header", "a page cannot set request headers")
	case o.TLSConfig != nil:
		return unsupportedOption("TLSConfig", "the browser does TLS with its own settings")
	case o.Proxy != nil:
		return unsupportedOption("Proxy", "the browser uses its own proxy settings")
	case o.NetDial != nil:
		return unsupportedOption("NetDial", "the browser makes the connection")
	}
	return nil
}

// Dial opens a WebSocket connection to a ws:// or wss:// URL (http:// and
// https:// are taken as synonyms) through the browser's WebSocket. A URL
// without a scheme, such as "/echo", is resolved against the page's
// address, so a page can connect back to the server it came from.
//
// ctx bounds the opening handshake, and so does the HandshakeTimeout of the
// options (30 seconds by default) when ctx has no earlier deadline; once
// Dial returns, ctx no longer matters. Options out of range, or that a
// browser cannot honour, are an error wrapping [ErrBadOption], before
// anything is sent.
//
// A browser shows a page nothing of a refused handshake: the error wraps
// [ErrBadHandshake] and says only that the browser could not open the
// connection (its console says why), and the *http.Response is nil. On
// success the *http.Response has status 101 and, of the server's headers,
// only what the browser reveals: Sec-WebSocket-Protocol and
// Sec-WebSocket-Extensions.
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	if err := opts.check(); err != nil {
		return nil, nil, err
	}
	u, err := browserURL(rawURL)
	if err != nil {
		return nil, nil, err
	}
	protocols := make([]any, len(opts.Subprotocols))
	for i, p := range opts.Subprotocols {
		if !validToken(p) {
			return nil, nil, fmt.Errorf("websocket: subprotocol %q is not a token", p)
		}
		protocols[i] = p
	}
	ctor := js.Global().Get("WebSocket")
	if ctor.Type() != js.TypeFunction || jsTextEncoder.IsUndefined() || jsTextDecoder.IsUndefined() {
		return nil, nil, errNoWebSocket
	}
	timeout := opts.HandshakeTimeout
	if timeout == 0 {
		timeout = defaultDialTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("websocket: handshake: %w", err)
	}
	ws, err := jsNew(ctor, u.String(), protocols)
	if err != nil {
		return nil, nil, fmt.Errorf("websocket: the browser refused the URL %q: %w", u.String(), err)
	}
	ws.Set("binaryType", "arraybuffer")
	c := newConn(ws, &opts.ConnOptions)
	select {
	case <-c.opened.wait():
	case <-c.closeEvent.wait():
	case <-ctx.Done():
	}
	if !c.opened.isSet() {
		if c.closeEvent.isSet() {
			return nil, nil, fmt.Errorf("%w: the browser could not open the connection to %s (close code %v); it tells a page no more, its console may say why",
				ErrBadHandshake, u.Redacted(), closeEventCode(c.closeEvErr))
		}
		// A WebSocket still connecting may be closed: the browser then
		// abandons the handshake.
		c.release()
		c.closeWS(StatusNoStatusReceived, "")
		return nil, nil, fmt.Errorf("websocket: handshake: %w", ctx.Err())
	}
	c.subprotocol = ws.Get("protocol").String()
	resp := &http.Response{
		Status:     "101 Switching Protocols",
		StatusCode: http.StatusSwitchingProtocols,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header),
		Body:       http.NoBody,
		Request:    &http.Request{Method: http.MethodGet, URL: u, Header: make(http.Header), Host: u.Host},
	}
	if c.subprotocol != "" {
		resp.Header.Set("Sec-WebSocket-Protocol", c.subprotocol)
	}
	if ext := ws.Get("extensions").String(); ext != "" {
		resp.Header.Set("Sec-WebSocket-Extensions", ext)
		c.compressed = strings.Contains(ext, "permessage-deflate")
	}
	return c, resp, nil
}

// closeEventCode is the code of a close event's meaning: the CloseError's,
// or 1006 for a connection lost.
func closeEventCode(err error) StatusCode {
	if code := CloseStatus(err); code >= 0 {
		return code
	}
	return StatusAbnormalClosure
}

// browserURL makes rawURL the URL the browser is to open: absolute, with a
// ws or wss scheme and no fragment.
func browserURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("websocket: %w", err)
	}
	if !u.IsAbs() {
		loc := js.Global().Get("location")
		if loc.Type() != js.TypeObject {
			return nil, fmt.Errorf("websocket: relative URL %q, and no page address to resolve it against", rawURL)
		}
		base, err := url.Parse(loc.Get("href").String())
		if err != nil {
			return nil, fmt.Errorf("websocket: the page's address: %w", err)
		}
		u = base.ResolveReference(u)
	}
	switch u.Scheme {
	case "ws", "wss":
	case "http":
		u.Scheme = "ws"
	case "https":
		u.Scheme = "wss"
	default:
		return nil, fmt.Errorf("websocket: unsupported URL scheme %q", u.Scheme)
	}
	if u.User != nil {
		return nil, errors.New("websocket: user information in the URL is not supported (a page cannot send an Authorization header either)")
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

// validToken reports whether s is an HTTP token (RFC 9110, Section 5.6.2),
// as a subprotocol must be.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case c < 0x7f && c > ' ' && !isSeparator(c):
		default:
			return false
		}
	}
	return true
}

func isSeparator(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=', '{', '}':
		return true
	}
	return false
}
