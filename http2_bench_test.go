//go:build linux

package websocket

// HTTP/1.1 against HTTP/2 (RFC 8441), measured in one run so that the
// ratios mean something on a shared machine:
//
//	go test -run '^$' -bench 'HTTP2' -benchtime 2s .
//
// BenchmarkHTTP2Echo reports the process CPU (getrusage: user + system of
// this one process, which runs both the server and the client) per echoed
// message as cpu-ns/echo, next to the wall time per echo; BenchmarkHTTP2Dial
// the cost of a Dial; BenchmarkHTTP2Idle the server's memory per idle
// WebSocket, measured in a child process that runs the server alone.
// Everything runs on 127.0.0.1 and every loop is bounded by b.N.

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// processCPU returns the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchTransports are the ways a WebSocket reaches the server: its own TCP
// connection (HTTP/1.1 Upgrade), with and without TLS, or a stream of a
// shared HTTP/2 connection, with TLS or h2c.
var benchTransports = []struct {
	name       string
	secure, h2 bool
}{{"h1-tls", true, false}, {"h2-tls", true, true}, {"h1", false, false}, {"h2c", false, true}}

// benchEchoHandler echoes every message with a reused buffer, reading and
// writing without a deadline: the loop the benchmarks measure.
func benchEchoHandler() http.Handler {
	opts := &AcceptOptions{}
	opts.ReadLimit = 1 << 20
	return &Handler{Options: opts, Serve: func(c *Conn, r *http.Request) {
		ctx := context.Background()
		var buf []byte
		for {
			typ, msg, err := c.ReadAppend(ctx, buf[:0])
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return
			}
			buf = msg
		}
	}}
}

// benchTarget is a server of one transport and the options that dial it.
type benchTarget struct {
	url  string
	opts func() *DialOptions // a new pool per call for HTTP/2
	srv  *h2Server
}

func newBenchTarget(tb testing.TB, secure, overH2 bool, h http.Handler, maxStreams uint32) *benchTarget {
	tb.Helper()
	var configure func(*http.Server)
	if maxStreams > 0 {
		configure = func(s *http.Server) { s.HTTP2.MaxConcurrentStreams = int(maxStreams) }
	}
	srv := newH2Server(tb, secure, h, configure)
	t := &benchTarget{url: srv.url("/"), srv: srv}
	t.opts = func() *DialOptions {
		opts := &DialOptions{Proxy: func(*http.Request) (*url.URL, error) { return nil, nil }}
		if secure {
			opts.TLSConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig
		}
		if overH2 {
			opts.HTTP2 = &HTTP2Pool{AllowHTTP: !secure}
		}
		opts.ReadLimit = 1 << 20
		return opts
	}
	return t
}

func benchDial(tb testing.TB, ctx context.Context, url string, opts *DialOptions, wantH2 bool) *Conn {
	c, resp, err := Dial(ctx, url, opts)
	if err != nil {
		tb.Fatalf("Dial: %v", err)
	}
	if got := resp.ProtoMajor == 2; got != wantH2 {
		tb.Fatalf("WebSocket over HTTP/%d", resp.ProtoMajor)
	}
	return c
}

// BenchmarkHTTP2Echo: conns WebSockets (over HTTP/2 all on one connection)
// each send a message and wait for its echo, again and again; an op is one
// echo. cpu-ns/echo is the process's CPU, server and client together.
func BenchmarkHTTP2Echo(b *testing.B) {
	for _, conns := range []int{1, 16} {
		for _, size := range []int{1 << 10, 64 << 10} {
			for _, tr := range benchTransports {
				b.Run(fmt.Sprintf("conns=%d/%dKiB/%s", conns, size>>10, tr.name), func(b *testing.B) {
					benchEcho(b, tr.secure, tr.h2, conns, size)
				})
			}
		}
	}
}

// BenchmarkHTTP2EchoMany is the echo of 1,000 WebSockets at once: over
// HTTP/2 all streams of one TCP connection, over HTTP/1.1 1,000 of them.
func BenchmarkHTTP2EchoMany(b *testing.B) {
	for _, tr := range benchTransports[:2] {
		b.Run("conns=1000/1KiB/"+tr.name, func(b *testing.B) {
			benchEcho(b, tr.secure, tr.h2, 1000, 1<<10)
		})
	}
}

func benchEcho(b *testing.B, secure, overH2 bool, conns, size int) {
	t := newBenchTarget(b, secure, overH2, benchEchoHandler(), uint32(conns+16))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	opts := t.opts()
	if opts.HTTP2 != nil {
		defer opts.HTTP2.Close()
	}
	cs := make([]*Conn, conns)
	for i := range cs {
		cs[i] = benchDial(b, ctx, t.url, opts, overH2)
		defer cs[i].CloseNow()
	}
	if overH2 {
		if got := t.srv.conns.Load(); got != 1 {
			b.Fatalf("%d TCP connections for %d WebSockets over HTTP/2", got, conns)
		}
	}
	msg := make([]byte, size)
	var left atomic.Int64
	left.Store(int64(b.N))
	var wg sync.WaitGroup
	b.SetBytes(int64(size))
	b.ReportAllocs()
	runtime.GC()
	b.ResetTimer()
	cpu0 := processCPU()
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for left.Add(-1) >= 0 {
				if err := c.Write(ctx, MessageBinary, msg); err != nil {
					b.Error(err)
					return
				}
				_, got, err := c.ReadAppend(ctx, buf[:0])
				if err != nil || len(got) != size {
					b.Errorf("echo: %d bytes, %v", len(got), err)
					return
				}
				buf = got
			}
		}()
	}
	wg.Wait()
	cpu := processCPU() - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/echo")
}

// BenchmarkHTTP2Dial: a new connection per Dial (TCP, TLS, the handshake;
// over HTTP/2 also the SETTINGS exchange), against a Dial that opens a
// stream on an HTTP/2 connection already in the pool. Each WebSocket is
// closed again (CloseNow) in the loop.
func BenchmarkHTTP2Dial(b *testing.B) {
	for _, tr := range benchTransports {
		b.Run("new/"+tr.name, func(b *testing.B) {
			t := newBenchTarget(b, tr.secure, tr.h2, benchEchoHandler(), 0)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				opts := t.opts()
				c := benchDial(b, ctx, t.url, opts, tr.h2)
				c.CloseNow()
				if opts.HTTP2 != nil {
					opts.HTTP2.Close()
				}
			}
		})
	}
	for _, tr := range benchTransports {
		if !tr.h2 {
			continue
		}
		b.Run("shared/"+tr.name, func(b *testing.B) {
			t := newBenchTarget(b, tr.secure, true, benchEchoHandler(), 0)
			ctx := context.Background()
			opts := t.opts()
			defer opts.HTTP2.Close()
			keep := benchDial(b, ctx, t.url, opts, true)
			defer keep.CloseNow()
			b.ReportAllocs()
			for b.Loop() {
				c := benchDial(b, ctx, t.url, opts, true)
				c.CloseNow()
			}
		})
	}
}
