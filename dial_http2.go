//go:build !js

package websocket

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/ccf874ba/websocket/internal/h2"
)

// This file is the client side of WebSockets over HTTP/2 (RFC 8441): an
// extended CONNECT on a shared connection, by this package's own HTTP/2
// client (internal/h2; net/http's refuses the :protocol pseudo-header).

// HTTP2Pool shares HTTP/2 connections among the Dials that name it in
// DialOptions.HTTP2: one connection per server (scheme, host and port,
// proxy, TLS configuration) carries all their WebSockets, each a stream,
// and at most one connection to a server is being opened at a time. A
// connection closes IdleTimeout after its last WebSocket. The zero value is
// ready to use; a pool must not be copied after first use.
//
// HTTP/2 is worth it for clients that open many WebSockets to one server
// (one TCP and TLS handshake instead of many) and for servers behind
// HTTP/2-only fronts. It is not a speed feature: a message costs more CPU
// over a stream than over a connection of its own.
type HTTP2Pool struct {
	// AllowHTTP lets ws:// URLs use HTTP/2 without TLS (h2c with prior
	// knowledge), for servers known to speak it: there is no fallback to
	// HTTP/1.1 then.
	AllowHTTP bool

	// IdleTimeout is how long a connection stays open after its last
	// WebSocket closed. Zero means 5 seconds; negative closes it at once.
	IdleTimeout time.Duration

	once sync.Once
	pool h2.Pool
}

func (p *HTTP2Pool) get() *h2.Pool {
	p.once.Do(func() { p.pool.IdleTimeout = p.IdleTimeout })
	return &p.pool
}

// Close closes the pool's connections, and the WebSockets on them; later
// Dials through the pool fail.
func (p *HTTP2Pool) Close() error { return p.get().Close() }

// maxStreamAttempts is how many connections a Dial tries when streams are
// refused (a GOAWAY, REFUSED_STREAM: the server did not process them).
const maxStreamAttempts = 3

// dialHTTP2 opens the WebSocket of req over HTTP/2 through pool p. It
// returns the Conn; or nc, a connection on which the server chose HTTP/1.1,
// for the Upgrade; or neither and no error when the server does not offer
// WebSockets over HTTP/2, for a new HTTP/1.1 connection.
func dialHTTP2(ctx context.Context, p *HTTP2Pool, req *http.Request, host string, secure bool, opts *DialOptions) (*Conn, *http.Response, net.Conn, error) {
	key, err := poolKey(req, host, secure, opts)
	if err != nil {
		return nil, nil, nil, err
	}
	dial := func(ctx context.Context) (net.Conn, string, error) {
		nc, proto, err := dialConn(ctx, req, host, secure, opts, []string{"h2", "http/1.1"})
		if err == nil && !secure {
			proto = "h2" // prior knowledge
		}
		return nc, proto, err
	}
	sreq := &h2.Request{
		Scheme:    req.URL.Scheme,
		Authority: req.Host,
		Path:      req.URL.RequestURI(),
		Header:    req.Header,
	}
	pool := p.get()
	for attempt := 0; ; attempt++ {
		cc, nc, err := pool.Get(ctx, key, dial)
		switch {
		case errors.Is(err, h2.ErrHTTP1):
			return nil, nil, nil, nil
		case err != nil:
			return nil, nil, nil, fmt.Errorf("websocket: http2: %w", err)
		case nc != nil:
			return nil, nil, nc, nil
		}
		s, err := cc.OpenStream(ctx, sreq)
		var refused *h2.StatusError
		switch {
		case errors.Is(err, h2.ErrHTTP1):
			return nil, nil, nil, nil
		case errors.Is(err, h2.ErrStreamRefused) && attempt+1 < maxStreamAttempts:
			continue
		case errors.As(err, &refused):
			resp := http2Response(refused.StatusCode, refused.Header)
			resp.Body = bodyOf(refused.Body)
			return nil, resp, nil, fmt.Errorf("%w: status %s", ErrBadHandshake, resp.Status)
		case err != nil:
			return nil, nil, nil, ctxOr(ctx, err, fmt.Errorf("%w: %w", ErrBadHandshake, err))
		}
		r := s.Response()
		resp := http2Response(r.StatusCode, r.Header)
		subprotocol, deflate, err := checkAgreed(r.Header, opts)
		if err != nil {
			s.Close()
			return nil, resp, nil, err
		}
		return newConn(s, opts.config(true, subprotocol, deflate), nil), resp, nil, nil
	}
}

// poolKey names the server a connection of the pool may be shared with:
// the scheme, the host and port, the proxy, and the TLS configuration
// (by identity, and the server name it will verify).
func poolKey(req *http.Request, host string, secure bool, opts *DialOptions) (string, error) {
	proxyFunc := opts.Proxy
	if proxyFunc == nil {
		proxyFunc = http.ProxyFromEnvironment
	}
	proxyURL, err := proxyFunc(req)
	if err != nil {
		return "", fmt.Errorf("websocket: proxy: %w", err)
	}
	proxy := ""
	if proxyURL != nil {
		proxy = proxyURL.String()
	}
	serverName := ""
	if opts.TLSConfig != nil {
		serverName = opts.TLSConfig.ServerName
	}
	return fmt.Sprintf("%v|%s|%s|%p|%s|%p", secure, host, proxy, opts.TLSConfig, serverName, opts.NetDial), nil
}

// http2Response is the *http.Response Dial returns for an answer over
// HTTP/2.
func http2Response(status int, header http.Header) *http.Response {
	return &http.Response{
		Status:     fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode: status,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     header,
		Body:       http.NoBody,
	}
}
