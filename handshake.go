//go:build !js

package websocket

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// acceptGUID is the GUID of RFC 6455, Section 1.3.
const acceptGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// acceptKey returns the Sec-WebSocket-Accept value for a client key: the
// base64 of the SHA-1 of the key followed by the GUID (RFC 6455, Section
// 4.2.2).
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte(acceptGUID))
	var sum [sha1.Size]byte
	return base64.StdEncoding.EncodeToString(h.Sum(sum[:0]))
}

// AcceptOptions configures [Accept]. A nil *AcceptOptions means the
// defaults of every field; Accept answers 500 Internal Server Error and
// returns an error wrapping [ErrBadOption] for a value out of range.
type AcceptOptions struct {
	// Subprotocols lists the subprotocols the server speaks, in order of
	// preference. The first one the client offered is chosen; with none
	// in common, the handshake succeeds without a subprotocol and
	// [Conn.Subprotocol] returns "".
	Subprotocols []string

	// OriginPatterns lists the hosts, besides the request's own Host,
	// that browsers may connect from. Each pattern is matched against the
	// host (with port, if any) of the Origin header using path.Match, so
	// "*.example.com" and "localhost:*" work. A request without an Origin
	// header (not from a browser) is always allowed. A disallowed origin
	// gets 403 Forbidden. This is what stops cross-site WebSocket
	// hijacking; see RFC 6455, Section 10.2.
	OriginPatterns []string

	// InsecureSkipVerify disables the origin check. Only use it for
	// endpoints that authenticate every connection by other means than
	// cookies.
	InsecureSkipVerify bool

	// HandshakeTimeout bounds the writing of the handshake response. Zero
	// means 10 seconds. The reading of the request is bounded by the
	// http.Server (ReadHeaderTimeout), before Accept is called.
	HandshakeTimeout time.Duration

	// Group, if not nil, tracks the Conn, so that Group.Close can close it
	// with the server's other connections.
	Group *Group

	// ConnOptions configures the Conn: read limit, buffers, close
	// timeout, keepalive, compression.
	ConnOptions
}

const defaultHandshakeTimeout = 10 * time.Second

func (o *AcceptOptions) check() error {
	if o.HandshakeTimeout < 0 {
		return optionError("HandshakeTimeout", o.HandshakeTimeout, "must not be negative")
	}
	return o.ConnOptions.check()
}

// Accept validates a WebSocket opening handshake (RFC 6455, Section 4.2),
// takes over the connection and returns it as a *Conn.
//
// If the request is not an acceptable handshake, Accept answers it with an
// HTTP error (400, 403, 405, 426 with Sec-WebSocket-Version: 13, or 505)
// and returns an error wrapping [ErrBadHandshake]; the caller writes
// nothing more. Headers set on w before the call are sent with the 101
// response. Bytes the client sent after its request, already buffered by
// the server, are kept for the Conn.
//
// Over HTTP/1.1, the Conn does not depend on the handler: a handler may
// return and leave the Conn to another goroutine, which frees the memory
// net/http holds for the request (the request's context ends then, so do
// not use it for the Conn). [Handler] does this.
//
// Over HTTP/2, Accept takes an extended CONNECT (RFC 8441) with the same
// checks and options; the process must run with GODEBUG=http2xconnect=1
// for net/http to offer it (see [ExtendedConnectEnabled]), and a plain
// HTTP/2 GET gets 400 saying so. The Conn is then a stream of the request:
// the handler must not return while the Conn is in use ([Handler] waits),
// and http.Server.Shutdown waits for such handlers, so close them with a
// [Group] from RegisterOnShutdown. The server's ReadTimeout and
// WriteTimeout do not apply to the stream. Give the server's HTTP2Config a
// connection receive buffer well above the per-stream one (say 4 MiB and
// 256 KiB): net/http returns flow-control credit only as the application
// reads, so a WebSocket whose application stops reading could otherwise
// stall every other stream of the browser's connection.
func Accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (*Conn, error) {
	return accept(w, r, opts, nil)
}

// accept is Accept; closeHook, if not nil, runs once the Conn is closed
// (it is set before the Conn can be seen by anyone, a Group included).
func accept(w http.ResponseWriter, r *http.Request, opts *AcceptOptions, closeHook func()) (*Conn, error) {
	if opts == nil {
		opts = &AcceptOptions{}
	}
	up, err := acceptHandshake(w, r, opts)
	if err != nil {
		return nil, err
	}
	c := newConn(up.nc, opts.config(false, up.subprotocol, up.deflate), up.buffered)
	c.closeHook = closeHook
	if opts.Group != nil {
		opts.Group.Add(c)
	}
	return c, nil
}

// upgraded is a connection whose opening handshake upgrade has completed.
type upgraded struct {
	nc          net.Conn
	buffered    []byte // bytes the client sent after its request, already read
	subprotocol string
	deflate     *deflateConfig // nil: permessage-deflate not negotiated
}

// acceptHandshake is the server's opening handshake, shared by every transport
// (the Conn of Accept and the Engine): it checks the options and the
// request, answers a bad one with the HTTP error it deserves, or takes
// over the connection and sends the 101 response, bounded by the
// handshake timeout. opts is not nil.
func acceptHandshake(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (upgraded, error) {
	if err := opts.check(); err != nil {
		reject(w, r, http.StatusInternalServerError, errors.New("the server's WebSocket options are invalid"))
		return upgraded{}, err
	}
	overHTTP2 := r.ProtoMajor == 2
	var status int
	var err error
	if overHTTP2 {
		status, err = checkRequestHTTP2(r)
	} else {
		status, err = checkRequest(r)
	}
	if err == nil && !opts.InsecureSkipVerify {
		status, err = checkOrigin(r, opts.OriginPatterns)
	}
	var subprotocol string
	if err == nil {
		subprotocol, err = selectSubprotocol(r.Header, opts.Subprotocols)
		if err != nil {
			status = http.StatusBadRequest
		}
	}
	if err != nil {
		reject(w, r, status, err)
		return upgraded{}, fmt.Errorf("%w: %d: %v", ErrBadHandshake, status, err)
	}

	// The agreed subprotocol and extensions go in the response headers,
	// however the response is sent.
	h := w.Header()
	h.Del("Sec-WebSocket-Protocol")
	if subprotocol != "" {
		h.Set("Sec-WebSocket-Protocol", subprotocol)
	}
	h.Del("Sec-WebSocket-Extensions")
	var deflate *deflateConfig
	if opts.Compression != nil {
		var resp string
		if resp, deflate = acceptDeflate(r.Header.Values("Sec-WebSocket-Extensions"), opts.Compression); deflate != nil {
			h.Set("Sec-WebSocket-Extensions", resp)
		}
	}
	var nc net.Conn
	var buffered []byte
	if overHTTP2 {
		nc, err = takeOverHTTP2(w, r)
	} else {
		nc, buffered, err = takeOver(w, r, opts)
	}
	if err != nil {
		return upgraded{}, err
	}
	return upgraded{nc: nc, buffered: buffered, subprotocol: subprotocol, deflate: deflate}, nil
}

// takeOver answers an HTTP/1.1 handshake with 101 Switching Protocols and
// takes the connection from net/http. It returns the bytes the client sent
// after its request that the server had already read.
func takeOver(w http.ResponseWriter, r *http.Request, opts *AcceptOptions) (net.Conn, []byte, error) {
	nc, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		reject(w, r, http.StatusInternalServerError, errors.New("cannot take over the connection"))
		return nil, nil, fmt.Errorf("%w: %v", ErrBadHandshake, err)
	}
	// The client may send frames right behind its request; the server's
	// reader may already hold them (golang/go#32314).
	var buffered []byte
	if n := brw.Reader.Buffered(); n > 0 {
		buffered, _ = brw.Reader.Peek(n)
	}
	h := w.Header()
	h.Set("Upgrade", "websocket")
	h.Set("Connection", "Upgrade")
	h.Set("Sec-WebSocket-Accept", acceptKey(r.Header.Get("Sec-WebSocket-Key")))
	var resp bytes.Buffer
	resp.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	h.Write(&resp) // Header.Write replaces CR and LF in values with spaces
	resp.WriteString("\r\n")

	timeout := opts.HandshakeTimeout
	if timeout == 0 {
		timeout = defaultHandshakeTimeout
	}
	nc.SetDeadline(time.Now().Add(timeout))
	if _, err := nc.Write(resp.Bytes()); err != nil {
		nc.Close()
		return nil, nil, fmt.Errorf("%w: writing response: %v", ErrBadHandshake, err)
	}
	nc.SetDeadline(time.Time{})
	return nc, buffered, nil
}

// errUnsupportedVersion is the handshake error for a version other than 13.
var errUnsupportedVersion = errors.New("only Sec-WebSocket-Version 13 is supported")

// reject answers a failed handshake.
func reject(w http.ResponseWriter, r *http.Request, status int, err error) {
	h := w.Header()
	if r.ProtoMajor < 2 {
		// Without it, net/http would first read and discard a declared
		// request body, which a client may never send. Over HTTP/2 it
		// would end the whole connection with GOAWAY, every other
		// stream of the page with it, so it is never sent there.
		h.Set("Connection", "close")
	}
	if status == http.StatusUpgradeRequired || err == errUnsupportedVersion {
		// RFC 6455, Section 4.4: say which versions are supported.
		h.Set("Sec-WebSocket-Version", "13")
	}
	switch status {
	case http.StatusUpgradeRequired:
		h.Set("Upgrade", "websocket")
	case http.StatusMethodNotAllowed:
		h.Set("Allow", "GET")
	}
	http.Error(w, http.StatusText(status)+": "+err.Error(), status)
}

// checkRequest validates the client's opening handshake (RFC 6455, Section
// 4.2.1) and returns the HTTP status to answer a bad one with.
func checkRequest(r *http.Request) (status int, err error) {
	if r.Method != http.MethodGet {
		return http.StatusMethodNotAllowed, errors.New("method must be GET")
	}
	if !r.ProtoAtLeast(1, 1) {
		return http.StatusHTTPVersionNotSupported, errors.New("HTTP/1.1 or later required")
	}
	if !headerHasToken(r.Header, "Connection", "upgrade") {
		return http.StatusUpgradeRequired, errors.New(`"Connection" header must contain "Upgrade"`)
	}
	if !headerHasToken(r.Header, "Upgrade", "websocket") {
		return http.StatusUpgradeRequired, errors.New(`"Upgrade" header must contain "websocket"`)
	}
	if v := r.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || strings.TrimSpace(v[0]) != "13" {
		return http.StatusUpgradeRequired, errUnsupportedVersion
	}
	keys := r.Header.Values("Sec-WebSocket-Key")
	if len(keys) != 1 {
		return http.StatusBadRequest, errors.New("exactly one Sec-WebSocket-Key header required")
	}
	if !validKey(keys[0]) {
		return http.StatusBadRequest, errors.New("Sec-WebSocket-Key must be 16 bytes in base64")
	}
	// A request body makes no sense before an upgrade, and would let a
	// proxy and this server disagree on where the next request starts.
	if r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		return http.StatusBadRequest, errors.New("handshake request must not have a body")
	}
	return 0, nil
}

// validKey reports whether k is the base64 of 16 bytes (RFC 6455, Section
// 4.1: "a randomly selected 16-byte value that has been base64-encoded").
func validKey(k string) bool {
	if len(k) != 24 {
		return false
	}
	var b [18]byte
	n, err := base64.StdEncoding.Decode(b[:], []byte(k))
	return err == nil && n == 16
}

// checkOrigin applies the same-origin policy: a browser's Origin must name
// the request's host or match one of the patterns.
func checkOrigin(r *http.Request, patterns []string) (int, error) {
	origins := r.Header.Values("Origin")
	if len(origins) == 0 {
		return 0, nil
	}
	if len(origins) > 1 {
		return http.StatusForbidden, errors.New("more than one Origin header")
	}
	u, err := url.Parse(origins[0])
	if err != nil || u.Host == "" {
		return http.StatusForbidden, errors.New("malformed Origin header")
	}
	if strings.EqualFold(u.Host, r.Host) {
		return 0, nil
	}
	for _, p := range patterns {
		if ok, _ := path.Match(strings.ToLower(p), strings.ToLower(u.Host)); ok {
			return 0, nil
		}
	}
	return http.StatusForbidden, errors.New("origin not allowed")
}

// selectSubprotocol picks, in the server's order of preference, a
// subprotocol the client offered. Empty list elements are ignored (RFC 7230,
// Section 7); an element that is not a token is an error. It scans the
// header in place, without allocating, however long it is.
func selectSubprotocol(h http.Header, server []string) (string, error) {
	best := len(server)
	for _, v := range h.Values("Sec-WebSocket-Protocol") {
		for v != "" {
			var p string
			p, v, _ = strings.Cut(v, ",")
			p = strings.TrimSpace(p)
			if p == "" {
				continue
			}
			if !isToken(p) {
				return "", errors.New("malformed Sec-WebSocket-Protocol header")
			}
			for i := 0; i < best; i++ {
				if server[i] == p {
					best = i
					break
				}
			}
		}
	}
	if best < len(server) {
		return server[best], nil
	}
	return "", nil
}

// headerHasToken reports whether a comma-separated header of h contains
// token, compared case-insensitively (RFC 7230, Section 6.1 for Connection;
// RFC 6455, Section 4.2.1 for Upgrade).
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[http.CanonicalHeaderKey(name)] {
		for v != "" {
			var t string
			t, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// isToken reports whether s is a token of RFC 7230, Section 3.2.6.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

func isTokenByte(c byte) bool {
	if c <= ' ' || c >= 0x7F {
		return false
	}
	return !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, rune(c))
}
