//go:build !js

package websocket

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// DialOptions configures [Dial]. A nil *DialOptions means the defaults of
// every field.
type DialOptions struct {
	// Header holds extra request headers, such as Origin, Cookie or
	// Authorization. The headers the handshake itself needs are set by
	// Dial and may not be given here.
	Header http.Header

	// Subprotocols lists the subprotocols to offer, in order of
	// preference.
	Subprotocols []string

	// TLSConfig is used for wss:// URLs (and https:// proxies). Nil means
	// a default configuration with the URL's host as ServerName.
	TLSConfig *tls.Config

	// Proxy returns the proxy for a request, as http.Transport.Proxy
	// does. Nil means http.ProxyFromEnvironment (HTTPS_PROXY, HTTP_PROXY
	// and NO_PROXY; ws:// counts as http and wss:// as https). A proxy
	// is used through HTTP CONNECT; userinfo in its URL becomes
	// Proxy-Authorization (Basic).
	Proxy func(*http.Request) (*url.URL, error)

	// NetDial, if set, makes the TCP connection (to the proxy, when one is
	// used) in place of a net.Dialer.
	NetDial func(ctx context.Context, network, addr string) (net.Conn, error)

	// HandshakeTimeout bounds the whole opening handshake (DNS, TCP,
	// proxy, TLS and the HTTP exchange) when Dial's context has no earlier
	// deadline, so that a server that accepts TCP and never answers cannot
	// hang Dial(context.Background(), ...). Zero means 30 seconds.
	HandshakeTimeout time.Duration

	// ConnOptions configures the Conn: read limit, buffers, close
	// timeout, keepalive, compression (offered; used only if the server
	// accepts).
	ConnOptions
}

const defaultDialTimeout = 30 * time.Second

func (o *DialOptions) check() error {
	if o.HandshakeTimeout < 0 {
		return optionError("HandshakeTimeout", o.HandshakeTimeout, "must not be negative")
	}
	return o.ConnOptions.check()
}

// maxResponseHeader bounds the size of the handshake response a server
// may send, so a hostile one cannot make Dial read forever.
const maxResponseHeader = 64 << 10

// Dial opens a WebSocket connection to a ws:// or wss:// URL (http:// and
// https:// are taken as synonyms) and performs the opening handshake (RFC
// 6455, Section 4.1).
//
// ctx bounds the whole handshake: DNS, TCP, proxy, TLS and the HTTP
// exchange, and so does the HandshakeTimeout of the options (30 seconds by
// default) when ctx has no earlier deadline; once Dial returns, ctx no
// longer matters. Options out of range are an error wrapping
// [ErrBadOption], before anything is sent. The *http.Response is
// the server's handshake response; it is returned with the error when the
// server answered but refused, with up to 1 KiB of its body, so callers can
// see the status. Errors from a refused handshake wrap [ErrBadHandshake].
func Dial(ctx context.Context, rawURL string, opts *DialOptions) (*Conn, *http.Response, error) {
	if opts == nil {
		opts = &DialOptions{}
	}
	if err := opts.check(); err != nil {
		return nil, nil, err
	}
	timeout := opts.HandshakeTimeout
	if timeout == 0 {
		timeout = defaultDialTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, nil, fmt.Errorf("websocket: %w", err)
	}
	secure := false
	switch u.Scheme {
	case "ws", "http":
	case "wss", "https":
		secure = true
	default:
		return nil, nil, fmt.Errorf("websocket: unsupported URL scheme %q", u.Scheme)
	}
	if u.User != nil {
		return nil, nil, errors.New("websocket: user information in the URL is not supported; set an Authorization header")
	}
	host := u.Host
	if u.Port() == "" {
		if secure {
			host = net.JoinHostPort(u.Hostname(), "443")
		} else {
			host = net.JoinHostPort(u.Hostname(), "80")
		}
	}

	var keyBytes [16]byte
	rand.Read(keyBytes[:])
	key := base64.StdEncoding.EncodeToString(keyBytes[:])

	req := &http.Request{
		Method:     http.MethodGet,
		URL:        &url.URL{Scheme: map[bool]string{false: "http", true: "https"}[secure], Host: u.Host, Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery},
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     make(http.Header),
		Host:       u.Host,
	}
	for k, v := range opts.Header {
		switch http.CanonicalHeaderKey(k) {
		case "Upgrade", "Connection", "Sec-Websocket-Key", "Sec-Websocket-Version", "Sec-Websocket-Extensions", "Sec-Websocket-Protocol":
			return nil, nil, fmt.Errorf("websocket: header %q is set by Dial", k)
		case "Host":
			if len(v) > 0 {
				req.Host = v[0]
			}
		default:
			req.Header[http.CanonicalHeaderKey(k)] = v
		}
	}
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Sec-WebSocket-Key", key)
	req.Header.Set("Sec-WebSocket-Version", "13")
	if len(opts.Subprotocols) > 0 {
		for _, p := range opts.Subprotocols {
			if !isToken(p) {
				return nil, nil, fmt.Errorf("websocket: subprotocol %q is not a token", p)
			}
		}
		req.Header.Set("Sec-WebSocket-Protocol", strings.Join(opts.Subprotocols, ", "))
	}
	if opts.Compression != nil {
		req.Header.Set("Sec-WebSocket-Extensions", deflateOffer(opts.Compression))
	}

	nc, err := dialConn(ctx, req, host, secure, opts)
	if err != nil {
		return nil, nil, err
	}
	conn, resp, err := handshake(ctx, nc, req, key, opts)
	if err != nil {
		nc.Close()
		return nil, resp, err
	}
	return conn, resp, nil
}

// dialConn connects to the server, through a proxy if one applies, and
// runs TLS for wss.
func dialConn(ctx context.Context, req *http.Request, host string, secure bool, opts *DialOptions) (net.Conn, error) {
	netDial := opts.NetDial
	if netDial == nil {
		var d net.Dialer
		netDial = d.DialContext
	}
	proxyFunc := opts.Proxy
	if proxyFunc == nil {
		proxyFunc = http.ProxyFromEnvironment
	}
	proxyURL, err := proxyFunc(req)
	if err != nil {
		return nil, fmt.Errorf("websocket: proxy: %w", err)
	}
	var nc net.Conn
	if proxyURL == nil {
		nc, err = netDial(ctx, "tcp", host)
		if err != nil {
			return nil, fmt.Errorf("websocket: %w", err)
		}
	} else {
		nc, err = dialProxy(ctx, netDial, proxyURL, host, opts)
		if err != nil {
			return nil, err
		}
	}
	if !secure {
		return nc, nil
	}
	cfg := opts.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		h, _, err := net.SplitHostPort(host)
		if err != nil {
			h = host
		}
		cfg.ServerName = h
	}
	// The WebSocket upgrade is an HTTP/1.1 exchange: never offer h2.
	if len(cfg.NextProtos) > 0 {
		cfg = cfg.Clone()
		cfg.NextProtos = nil
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: TLS handshake: %w", err)
	}
	return tc, nil
}

// dialProxy opens a tunnel to host through an HTTP(S) proxy with CONNECT.
func dialProxy(ctx context.Context, netDial func(context.Context, string, string) (net.Conn, error), proxyURL *url.URL, host string, opts *DialOptions) (net.Conn, error) {
	phost := proxyURL.Host
	if proxyURL.Port() == "" {
		port := "80"
		if proxyURL.Scheme == "https" {
			port = "443"
		}
		phost = net.JoinHostPort(proxyURL.Hostname(), port)
	}
	nc, err := netDial(ctx, "tcp", phost)
	if err != nil {
		return nil, fmt.Errorf("websocket: proxy: %w", err)
	}
	switch proxyURL.Scheme {
	case "http":
	case "https":
		cfg := &tls.Config{ServerName: proxyURL.Hostname()}
		if opts.TLSConfig != nil {
			cfg = opts.TLSConfig.Clone()
			cfg.ServerName = proxyURL.Hostname()
			cfg.NextProtos = nil
		}
		tc := tls.Client(nc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, fmt.Errorf("websocket: proxy TLS handshake: %w", err)
		}
		nc = tc
	default:
		nc.Close()
		return nil, fmt.Errorf("websocket: unsupported proxy scheme %q", proxyURL.Scheme)
	}
	connect := &http.Request{
		Method: http.MethodConnect,
		URL:    &url.URL{Opaque: host},
		Host:   host,
		Header: make(http.Header),
	}
	if u := proxyURL.User; u != nil {
		pw, _ := u.Password()
		connect.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)))
	}
	stop := watchDeadline(ctx, nc)
	defer stop()
	if err := connect.Write(nc); err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: proxy: %w", err)
	}
	// Read the proxy's answer byte-exact up to its end, so no byte of the
	// tunnel is lost in a buffer.
	br := bufio.NewReaderSize(&limitReader{r: nc, n: maxResponseHeader}, 1)
	resp, err := http.ReadResponse(br, connect)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("websocket: proxy: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		nc.Close()
		return nil, fmt.Errorf("websocket: proxy refused CONNECT: %s", resp.Status)
	}
	return nc, nil
}

// handshake sends the opening handshake on nc and checks the response.
func handshake(ctx context.Context, nc net.Conn, req *http.Request, key string, opts *DialOptions) (*Conn, *http.Response, error) {
	stop := watchDeadline(ctx, nc)
	if err := req.Write(nc); err != nil {
		stop()
		return nil, nil, ctxOr(ctx, err, fmt.Errorf("%w: writing request: %w", ErrBadHandshake, err))
	}
	size := opts.ReadBufferSize
	if size <= 0 {
		size = defaultBufferSize
	}
	lr := &limitReader{r: nc, n: maxResponseHeader}
	br := bufio.NewReaderSize(lr, size)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		stop()
		if lr.err != nil && lr.err != errResponseTooLarge {
			// The connection ended mid-response: say so, whatever the
			// parser made of the truncated line.
			cause := lr.err
			if cause == io.EOF {
				cause = io.ErrUnexpectedEOF
			}
			err = cause
		}
		return nil, nil, ctxOr(ctx, err, fmt.Errorf("%w: reading response: %w", ErrBadHandshake, err))
	}
	subprotocol, deflate, err := checkResponse(resp, key, opts)
	if err != nil {
		// Keep a little of the body for the caller, still bounded by ctx.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		stop()
		resp.Body = io.NopCloser(strings.NewReader(string(body)))
		return nil, resp, err
	}
	stop()
	resp.Body = http.NoBody
	var buffered []byte
	if n := br.Buffered(); n > 0 {
		buffered, _ = br.Peek(n)
	}
	c := newConn(nc, opts.config(true, subprotocol, deflate), buffered)
	return c, resp, nil
}

// checkResponse validates the server's handshake response (RFC 6455,
// Section 4.1, the client's checks 1 to 6) and returns the subprotocol and
// the negotiated compression.
func checkResponse(resp *http.Response, key string, opts *DialOptions) (string, *deflateConfig, error) {
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return "", nil, fmt.Errorf("%w: status %s", ErrBadHandshake, resp.Status)
	}
	if !headerHasToken(resp.Header, "Upgrade", "websocket") {
		return "", nil, fmt.Errorf(`%w: "Upgrade" header must be "websocket"`, ErrBadHandshake)
	}
	if !headerHasToken(resp.Header, "Connection", "upgrade") {
		return "", nil, fmt.Errorf(`%w: "Connection" header must contain "Upgrade"`, ErrBadHandshake)
	}
	if v := resp.Header.Values("Sec-WebSocket-Accept"); len(v) != 1 || v[0] != acceptKey(key) {
		return "", nil, fmt.Errorf("%w: wrong Sec-WebSocket-Accept", ErrBadHandshake)
	}
	var deflate *deflateConfig
	if exts := resp.Header.Values("Sec-WebSocket-Extensions"); len(exts) > 0 {
		if opts.Compression == nil {
			return "", nil, fmt.Errorf("%w: server chose an extension that was not offered", ErrBadHandshake)
		}
		var err error
		if deflate, err = checkDeflateResponse(exts, opts.Compression); err != nil {
			return "", nil, fmt.Errorf("%w: %v", ErrBadHandshake, err)
		}
	}
	protos := resp.Header.Values("Sec-WebSocket-Protocol")
	switch len(protos) {
	case 0:
		return "", deflate, nil
	case 1:
		for _, p := range opts.Subprotocols {
			if p == protos[0] {
				return p, deflate, nil
			}
		}
	}
	return "", nil, fmt.Errorf("%w: server chose a subprotocol that was not offered", ErrBadHandshake)
}

// watchDeadline makes ctx bound the I/O on nc until the returned function
// is called.
func watchDeadline(ctx context.Context, nc net.Conn) (stop func()) {
	d := &deadline{kind: bothDeadlines}
	s := d.arm(ctx, ctx.Done(), nc)
	// Once stop returns, no deadline of ctx's is left on nc, even if ctx
	// ends at that very moment: the Conn made from nc starts clean.
	return func() { d.disarm(s, nc) }
}

// ctxOr returns ctx's error if the I/O error ioErr was caused by ctx
// ending, and err otherwise.
func ctxOr(ctx context.Context, ioErr, err error) error {
	ctxErr := ctxCause(ctx, ioErr)
	if ctxErr == nil {
		ctxErr = ctx.Err()
	}
	if ctxErr != nil {
		return fmt.Errorf("websocket: handshake: %w", ctxErr)
	}
	return err
}

// limitReader returns errResponseTooLarge after n bytes, bounding what a
// hostile server can make Dial read during the handshake.
type limitReader struct {
	r   io.Reader
	n   int64
	err error // the last error, kept to explain a truncated response
}

var errResponseTooLarge = errors.New("handshake response header too large")

func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		l.err = errResponseTooLarge
		return 0, l.err
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if err != nil {
		l.err = err
	}
	return n, err
}
