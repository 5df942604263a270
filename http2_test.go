//go:build !js

package websocket

// WebSockets over HTTP/2 (RFC 8441), both ends this package's: the server
// side (handshake_http2.go) under net/http's HTTP/2 server, over TLS and
// h2c, and the client side (dial_http2.go). TestMain runs the tests with
// GODEBUG=http2xconnect=1.

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// h2Server is an httptest server that speaks HTTP/2 (over TLS, or h2c
// with prior knowledge), counts the TCP connections it accepted and the
// HTTP/2 requests that reached the handler.
type h2Server struct {
	*httptest.Server
	conns   atomic.Int32
	overH2  atomic.Int32
	secure  bool
	handler http.Handler
}

func newH2Server(t testing.TB, secure bool, h http.Handler, configure func(*http.Server)) *h2Server {
	t.Helper()
	s := &h2Server{secure: secure, handler: h}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 {
			s.overH2.Add(1)
		}
		s.handler.ServeHTTP(w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	// A connection window well above the per-stream one, as the doc of
	// Accept advises, so that one unread WebSocket cannot stall the rest.
	s.Config.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerStream: 256 << 10, MaxReceiveBufferPerConnection: 4 << 20}
	if configure != nil {
		configure(s.Config)
	}
	if secure {
		s.EnableHTTP2 = true
		s.StartTLS()
	} else {
		var p http.Protocols
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
		s.Config.Protocols = &p
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// url returns the server's ws:// or wss:// URL.
func (s *h2Server) url(path string) string {
	if s.secure {
		return "wss" + strings.TrimPrefix(s.URL, "https") + path
	}
	return "ws" + strings.TrimPrefix(s.URL, "http") + path
}

// dialOptions returns options that dial s over HTTP/2 through pool.
func (s *h2Server) dialOptions(pool *HTTP2Pool) *DialOptions {
	opts := &DialOptions{HTTP2: pool}
	if s.secure {
		opts.TLSConfig = s.Client().Transport.(*http.Transport).TLSClientConfig
	} else {
		pool.AllowHTTP = true
	}
	return opts
}

func echoHandler(opts *AcceptOptions) http.Handler {
	return &Handler{Options: opts, Serve: func(c *Conn, r *http.Request) {
		var buf []byte
		for {
			typ, msg, err := c.ReadAppend(r.Context(), buf[:0])
			if err != nil {
				return
			}
			if err := c.Write(r.Context(), typ, msg); err != nil {
				return
			}
			buf = msg
		}
	}}
}

func TestHTTP2Echo(t *testing.T) {
	for _, secure := range []bool{true, false} {
		for _, compress := range []bool{false, true} {
			name := map[bool]string{true: "TLS", false: "h2c"}[secure] + map[bool]string{true: "/deflate", false: ""}[compress]
			t.Run(name, func(t *testing.T) {
				aopts := &AcceptOptions{}
				aopts.ReadLimit = 8 << 20
				if compress {
					aopts.Compression = &CompressionOptions{}
				}
				srv := newH2Server(t, secure, echoHandler(aopts), nil)
				pool := new(HTTP2Pool)
				defer pool.Close()
				opts := srv.dialOptions(pool)
				opts.ReadLimit = 8 << 20
				if compress {
					opts.Compression = &CompressionOptions{}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				// Several WebSockets share one TCP connection.
				const n = 4
				var wg sync.WaitGroup
				for i := 0; i < n; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						c, resp, err := Dial(ctx, srv.url("/"), opts)
						if err != nil {
							t.Errorf("Dial: %v", err)
							return
						}
						defer c.CloseNow()
						if resp.ProtoMajor != 2 {
							t.Errorf("response over HTTP/%d, want 2", resp.ProtoMajor)
						}
						if c.Compressed() != compress {
							t.Errorf("Compressed() = %v, want %v", c.Compressed(), compress)
						}
						for _, size := range []int{0, 1, 125, 126, 4096, 65535, 65536, 1 << 20, 3 << 20} {
							msg := bytes.Repeat([]byte{byte(i), byte(size)}, size/2+1)[:size]
							typ := MessageBinary
							if size%2 == 1 {
								typ = MessageText
								msg = bytes.Repeat([]byte("é"), size/2+1)[:size/2*2]
							}
							if err := c.Write(ctx, typ, msg); err != nil {
								t.Errorf("Write %d: %v", size, err)
								return
							}
							gtyp, got, err := c.Read(ctx)
							if err != nil || gtyp != typ || !bytes.Equal(got, msg) {
								t.Errorf("echo of %d bytes: %v, %d bytes, %v", len(msg), gtyp, len(got), err)
								return
							}
						}
						if err := c.Close(StatusNormalClosure, ""); err != nil {
							t.Errorf("Close = %v", err)
						}
					}()
				}
				wg.Wait()
				if got := srv.conns.Load(); got != 1 {
					t.Errorf("%d TCP connections for %d WebSockets, want 1", got, n)
				}
				if got := srv.overH2.Load(); got != n {
					t.Errorf("%d requests reached the server over HTTP/2, want %d", got, n)
				}
			})
		}
	}
}

// A plain GET over HTTP/2 gets 400 with the reason, and the connection
// (the page's, in a browser) goes on serving.
func TestHTTP2PlainGET(t *testing.T) {
	srv := newH2Server(t, true, echoHandler(nil), nil)
	client := srv.Client()
	for i := 0; i < 2; i++ {
		resp, err := client.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "RFC 8441") {
			t.Fatalf("plain GET over HTTP/%d: %s %q, want 400 naming RFC 8441", resp.ProtoMajor, resp.Status, body)
		}
		if resp.Header.Get("Connection") != "" {
			t.Errorf("Connection: %q in an HTTP/2 answer: it would end the page's connection", resp.Header.Get("Connection"))
		}
	}
	if got := srv.conns.Load(); got != 1 {
		t.Errorf("%d TCP connections for two requests: the refusal tore the first down", got)
	}
}

// A refusal (here, the origin check) reaches the client with its status,
// over HTTP/2, and the connection stays for the next Dial.
func TestHTTP2Refused(t *testing.T) {
	srv := newH2Server(t, true, echoHandler(nil), nil)
	pool := new(HTTP2Pool)
	defer pool.Close()
	opts := srv.dialOptions(pool)
	opts.Header = http.Header{"Origin": {"https://evil.example"}}
	_, resp, err := Dial(context.Background(), srv.url("/"), opts)
	if !errors.Is(err, ErrBadHandshake) || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("Dial from another origin = %v, %v; want ErrBadHandshake and 403", resp, err)
	}
	if b, _ := io.ReadAll(resp.Body); !strings.Contains(string(b), "origin") {
		t.Errorf("body %q does not say why", b)
	}
	opts.Header = nil
	c, _, err := Dial(context.Background(), srv.url("/"), opts)
	if err != nil {
		t.Fatalf("Dial after a refusal: %v", err)
	}
	c.CloseNow()
	if got := srv.conns.Load(); got != 1 {
		t.Errorf("%d TCP connections, want 1: the refusal must not end the connection", got)
	}
}

// Without HTTP/2 on the server, a Dial with a pool falls back to the
// HTTP/1.1 Upgrade.
func TestHTTP2Fallback(t *testing.T) {
	srv := httptest.NewTLSServer(echoHandler(nil)) // HTTP/1.1 only
	defer srv.Close()
	pool := new(HTTP2Pool)
	defer pool.Close()
	opts := &DialOptions{HTTP2: pool, TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig}
	for i := 0; i < 2; i++ {
		c, resp, err := Dial(context.Background(), "wss"+strings.TrimPrefix(srv.URL, "https"), opts)
		if err != nil {
			t.Fatalf("Dial %d: %v", i, err)
		}
		if resp.ProtoMajor != 1 {
			t.Errorf("Dial %d over HTTP/%d, want the HTTP/1.1 fallback", i, resp.ProtoMajor)
		}
		c.Write(context.Background(), MessageText, []byte("hi"))
		if _, b, err := c.Read(context.Background()); err != nil || string(b) != "hi" {
			t.Fatalf("echo over the fallback: %q, %v", b, err)
		}
		c.CloseNow()
	}
}

// The server's ReadTimeout and WriteTimeout bound requests, not the
// WebSockets they carry; Shutdown with a Group closes them with 1001.
func TestHTTP2TimeoutsAndShutdown(t *testing.T) {
	var g Group
	aopts := &AcceptOptions{Group: &g}
	srv := newH2Server(t, true, echoHandler(aopts), func(s *http.Server) {
		s.ReadTimeout, s.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
		s.RegisterOnShutdown(func() { g.Close(StatusGoingAway, "restarting") })
	})
	pool := new(HTTP2Pool)
	defer pool.Close()
	c, _, err := Dial(context.Background(), srv.url("/"), srv.dialOptions(pool))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	time.Sleep(700 * time.Millisecond) // past both timeouts
	if err := c.Write(context.Background(), MessageText, []byte("late")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.Read(context.Background()); err != nil || string(b) != "late" {
		t.Fatalf("echo after the server's timeouts: %q, %v", b, err)
	}
	readErr := make(chan error, 1)
	go func() { _, _, err := c.Read(context.Background()); readErr <- err }()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Config.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v (it waits for HTTP/2 WebSocket handlers)", err)
	}
	if err := <-readErr; CloseStatus(err) != StatusGoingAway {
		t.Fatalf("client Read during Shutdown = %v, want close 1001", err)
	}
	t.Logf("Shutdown took %v", time.Since(start))
}

// Contexts that end on either side leave an HTTP/2 Conn usable, as over
// TCP: the stream's deadlines can be moved again.
func TestHTTP2ContextKeepsConn(t *testing.T) {
	got := make(chan error, 1)
	srv := newH2Server(t, true, &Handler{Serve: func(c *Conn, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 50*time.Millisecond)
		defer cancel()
		if _, _, err := c.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
			got <- err
			return
		}
		_, msg, err := c.Read(r.Context())
		if err == nil {
			err = c.Write(r.Context(), MessageText, msg)
		}
		got <- err
		c.Read(r.Context())
	}}, nil)
	pool := new(HTTP2Pool)
	defer pool.Close()
	c, _, err := Dial(context.Background(), srv.url("/"), srv.dialOptions(pool))
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := c.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("client Read with a 50 ms context = %v", err)
	}
	time.Sleep(100 * time.Millisecond) // the server's read has timed out too
	c.Write(context.Background(), MessageText, []byte("after"))
	if err := <-got; err != nil {
		t.Fatalf("server: %v", err)
	}
	if _, b, err := c.Read(context.Background()); err != nil || string(b) != "after" {
		t.Fatalf("client Read after its timeout = %q, %v", b, err)
	}
}

// 1,000 WebSockets on one HTTP/2 connection echo at the same time, and
// every echo arrives within a bound: no stream starves the others, and
// flow control (the connection's windows shared by all) never stalls.
func TestHTTP2ThousandStreams(t *testing.T) {
	const (
		streams = 1000
		rounds  = 5
		bound   = 20 * time.Second // per echo; far above the worst seen under -race
	)
	if _, err := raiseFileLimit(); err != nil {
		t.Log(err)
	}
	for _, secure := range []bool{true, false} {
		t.Run(map[bool]string{true: "TLS", false: "h2c"}[secure], func(t *testing.T) {
			srv := newH2Server(t, secure, echoHandler(nil), func(s *http.Server) { s.HTTP2.MaxConcurrentStreams = streams + 10 })
			pool := new(HTTP2Pool)
			defer pool.Close()
			opts := srv.dialOptions(pool)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			conns := make([]*Conn, streams)
			var wg sync.WaitGroup
			for i := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, _, err := Dial(ctx, srv.url("/"), opts)
					if err != nil {
						t.Errorf("Dial %d: %v", i, err)
						return
					}
					conns[i] = c
				}()
			}
			wg.Wait()
			defer func() {
				for _, c := range conns {
					if c != nil {
						c.CloseNow()
					}
				}
			}()
			if t.Failed() {
				return
			}
			if got := srv.conns.Load(); got != 1 {
				t.Fatalf("%d TCP connections for %d WebSockets, want 1", got, streams)
			}
			// All start together, so the echoes of every stream are in
			// flight at once on the connection.
			start := make(chan struct{})
			var slowest atomic.Int64
			for i, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					msg := bytes.Repeat([]byte{byte(i)}, 1<<10)
					for r := range rounds {
						msg[0] = byte(r)
						t0 := time.Now()
						ectx, ecancel := context.WithTimeout(ctx, bound)
						err := c.Write(ectx, MessageBinary, msg)
						var got []byte
						if err == nil {
							_, got, err = c.Read(ectx)
						}
						ecancel()
						d := time.Since(t0)
						if err != nil || !bytes.Equal(got, msg) {
							t.Errorf("stream %d, echo %d: %d bytes after %v, %v", i, r, len(got), d, err)
							return
						}
						for {
							s := slowest.Load()
							if int64(d) <= s || slowest.CompareAndSwap(s, int64(d)) {
								break
							}
						}
					}
				}()
			}
			t0 := time.Now()
			close(start)
			wg.Wait()
			t.Logf("%d streams × %d echoes of 1 KiB in %v; slowest echo %v", streams, rounds, time.Since(t0), time.Duration(slowest.Load()))
		})
	}
}
