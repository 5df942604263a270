package h2

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// The benchmarks measure the transport alone, without WebSocket framing:
// an echo over an HTTP/2 stream (this package's client, net/http's server
// through ServerStream) against an echo over the hijacked HTTP/1.1
// connection the root package uses today. Both processes share the
// machine's cores, so ns/op is CPU per echoed message.

var echoSizes = []struct {
	name string
	n    int
}{{"1KiB", 1 << 10}, {"64KiB", 64 << 10}}

func BenchmarkEcho(b *testing.B) {
	for _, proto := range []struct {
		name string
		tls  bool
		h2   bool
	}{{"h2c", false, true}, {"h2-tls", true, true}, {"http1", false, false}, {"http1-tls", true, false}} {
		for _, size := range echoSizes {
			b.Run(proto.name+"/"+size.name, func(b *testing.B) {
				var c net.Conn
				if proto.h2 {
					srv := newServer(b, proto.tls, serveStream(b, echo))
					cc := srv.clientConn(b, nil)
					c = open(b, cc, srv.request("/"))
				} else {
					c = dialHijackEcho(b, proto.tls)
				}
				benchEcho(b, c, size.n)
			})
		}
	}
}

// BenchmarkPingPong sends one message and waits for its echo before the
// next: the latency path, where nothing is batched.
func BenchmarkPingPong(b *testing.B) {
	for _, proto := range []struct {
		name string
		tls  bool
		h2   bool
	}{{"h2c", false, true}, {"h2-tls", true, true}, {"http1", false, false}, {"http1-tls", true, false}} {
		b.Run(proto.name+"/1KiB", func(b *testing.B) {
			var c net.Conn
			if proto.h2 {
				srv := newServer(b, proto.tls, serveStream(b, echo))
				c = open(b, srv.clientConn(b, nil), srv.request("/"))
			} else {
				c = dialHijackEcho(b, proto.tls)
			}
			msg := make([]byte, 1<<10)
			b.SetBytes(int64(len(msg)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, msg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func benchEcho(b *testing.B, c net.Conn, n int) {
	msg := make([]byte, n)
	got := make([]byte, n)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range b.N {
			if _, err := io.ReadFull(c, got); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	b.SetBytes(int64(n))
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
	}
	<-done
}

// dialHijackEcho connects to a server that hijacks the HTTP/1.1
// connection and echoes raw bytes on it.
func dialHijackEcho(b *testing.B, useTLS bool) net.Conn {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, brw)
	})
	ts := httptest.NewUnstartedServer(h)
	if useTLS {
		ts.StartTLS()
	} else {
		ts.Start()
	}
	b.Cleanup(ts.Close)
	var c net.Conn
	var err error
	if useTLS {
		cfg := ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		cfg.NextProtos = []string{"http/1.1"}
		c, err = tls.Dial("tcp", ts.Listener.Addr().String(), cfg)
	} else {
		c, err = net.Dial("tcp", ts.Listener.Addr().String())
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: bench\r\n\r\n"); err != nil {
		b.Fatal(err)
	}
	return &bufferedConn{Conn: c, r: bufio.NewReader(c)}
}

type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// BenchmarkOpenStream measures an extended CONNECT round trip on a shared
// connection: what a Dial costs once the pool has a connection to the
// server (target: 0.3 ms). One stream stays open, as the pool's would.
func BenchmarkOpenStream(b *testing.B) {
	for _, useTLS := range []bool{false, true} {
		name := "h2c"
		if useTLS {
			name = "h2-tls"
		}
		b.Run(name, func(b *testing.B) {
			srv := newServer(b, useTLS, serveStream(b, echo))
			cc := srv.clientConn(b, nil)
			open(b, cc, srv.request("/keep"))
			req := srv.request("/")
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				s, err := cc.OpenStream(testContext(b), req)
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
		})
	}
}
