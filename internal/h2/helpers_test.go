package h2

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// testTimeout bounds every wait in the tests.
const testTimeout = 10 * time.Second

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// h2Server is a net/http server speaking HTTP/2 over TLS or h2c.
type h2Server struct {
	addr  string
	tls   *tls.Config // for the client; nil for h2c
	conns atomic.Int32
	srv   *http.Server
}

// serverHTTP2Config keeps a stream whose handler does not read from
// holding up the connection: net/http's per-stream buffer is otherwise
// as large as its per-connection one.
var serverHTTP2Config = &http.HTTP2Config{
	MaxReceiveBufferPerStream:     256 << 10,
	MaxReceiveBufferPerConnection: 4 << 20,
	MaxConcurrentStreams:          2000,
}

// newServer starts an HTTP/2 server running h, over TLS when useTLS,
// after the configure functions have seen its http.Server.
func newServer(t testing.TB, useTLS bool, h http.Handler, configure ...func(*http.Server)) *h2Server {
	t.Helper()
	s := &h2Server{}
	countConns := func(c net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	if useTLS {
		ts := httptest.NewUnstartedServer(h)
		ts.EnableHTTP2 = true
		ts.Config.HTTP2 = serverHTTP2Config
		ts.Config.ConnState = countConns
		ts.Config.ErrorLog = quietLog
		for _, f := range configure {
			f(ts.Config)
		}
		ts.StartTLS()
		t.Cleanup(ts.Close)
		s.addr, s.srv = ts.Listener.Addr().String(), ts.Config
		s.tls = ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		s.tls.NextProtos = []string{"h2", "http/1.1"}
		return s
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	s.srv = &http.Server{Handler: h, Protocols: &protocols, HTTP2: serverHTTP2Config, ConnState: countConns, ErrorLog: quietLog}
	for _, f := range configure {
		f(s.srv)
	}
	go s.srv.Serve(ln)
	t.Cleanup(func() { s.srv.Close() })
	s.addr = ln.Addr().String()
	return s
}

// dial opens a connection to the server, as a DialFunc.
func (s *h2Server) dial(ctx context.Context) (net.Conn, string, error) {
	var d net.Dialer
	if s.tls == nil {
		c, err := d.DialContext(ctx, "tcp", s.addr)
		return c, "h2", err
	}
	td := tls.Dialer{Config: s.tls}
	c, err := td.DialContext(ctx, "tcp", s.addr)
	if err != nil {
		return nil, "", err
	}
	return c, c.(*tls.Conn).ConnectionState().NegotiatedProtocol, nil
}

// clientConn opens a ClientConn to the server, closed at the end of the
// test.
func (s *h2Server) clientConn(t testing.TB, cfg *Config) *ClientConn {
	t.Helper()
	ctx := testContext(t)
	c, proto, err := s.dial(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if proto != "h2" {
		t.Fatalf("negotiated %q", proto)
	}
	cc, err := NewClientConn(ctx, c, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func (s *h2Server) request(path string) *Request {
	scheme := "https"
	if s.tls == nil {
		scheme = "http"
	}
	return &Request{Scheme: scheme, Authority: s.addr, Path: path, Header: http.Header{"Sec-Websocket-Version": {"13"}}}
}

// open opens a stream, closed at the end of the test.
func open(t testing.TB, cc *ClientConn, req *Request) *Stream {
	t.Helper()
	s, err := cc.OpenStream(testContext(t), req)
	if err != nil {
		t.Fatalf("OpenStream: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// serveStream is a handler that runs f on the request's ServerStream and
// closes it.
func serveStream(_ testing.TB, f func(ss *ServerStream)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss, err := NewServerStream(w, r)
		if err != nil {
			// The client went already (a benchmark closes at once);
			// tests see the failure on their side.
			return
		}
		defer func() {
			ss.Close()
			<-ss.Done()
		}()
		f(ss)
	})
}

// echo copies what it reads back until the client ends its side.
func echo(ss *ServerStream) { io.Copy(ss, ss) }

// roundTrip writes msg and reads it back.
func roundTrip(t testing.TB, s net.Conn, msg []byte) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		_, err := s.Write(msg)
		errc <- err
	}()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(s, got); err != nil {
		t.Fatalf("read back: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("write: %v", err)
	}
	if string(got) != string(msg) {
		t.Fatalf("echo differs (%d bytes)", len(msg))
	}
}

// wantErr fails unless errors.Is(err, want).
func wantErr(t testing.TB, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("error %v, want %v", err, want)
	}
}

// quietLog drops net/http's server log lines for the streams the tests
// reset on purpose.
var quietLog = newDiscardLogger()

func newDiscardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
