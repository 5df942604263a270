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
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
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

// BenchmarkHTTP2Idle opens idleConns WebSockets over TLS to a server in a
// child process (this test binary, TestHTTP2BenchServerChild), one echo
// each, and reports the server's memory per WebSocket after a GC: heap in
// use, goroutine stacks, their sum, and RSS. Over HTTP/2 they are streams
// of one connection. It measures once, whatever b.N; run it with
// -benchtime 1x.
func BenchmarkHTTP2Idle(b *testing.B) {
	const idleConns = 1000
	if _, err := raiseFileLimit(); err != nil {
		b.Log(err)
	}
	for _, tr := range benchTransports[:2] {
		b.Run(fmt.Sprintf("conns=%d/%s", idleConns, tr.name), func(b *testing.B) {
			child := startBenchServer(b)
			before := child.mem(b)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			opts := &DialOptions{TLSConfig: &tls.Config{InsecureSkipVerify: true}, Proxy: func(*http.Request) (*url.URL, error) { return nil, nil }}
			if tr.h2 {
				opts.HTTP2 = &HTTP2Pool{}
				defer opts.HTTP2.Close()
			}
			msg := []byte("sixteen bytes...")
			for range idleConns {
				c := benchDial(b, ctx, child.url, opts, tr.h2)
				defer c.CloseNow()
				if err := c.Write(ctx, MessageBinary, msg); err != nil {
					b.Fatal(err)
				}
				if _, _, err := c.Read(ctx); err != nil {
					b.Fatal(err)
				}
			}
			time.Sleep(200 * time.Millisecond)
			after := child.mem(b)
			for range b.N {
			}
			per := func(i int) float64 { return float64(after[i]-before[i]) / idleConns }
			b.ReportMetric(per(0), "heap-B/conn")
			b.ReportMetric(per(1), "stack-B/conn")
			b.ReportMetric(per(0)+per(1), "heap+stack-B/conn")
			b.ReportMetric(per(2), "rss-B/conn")
			b.ReportMetric(per(3), "goroutines/conn")
		})
	}
}

// benchServer is the child process that serves BenchmarkHTTP2Idle.
type benchServer struct {
	url string
	in  *bufio.Writer
	out *bufio.Scanner
}

func startBenchServer(b *testing.B) *benchServer {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHTTP2BenchServerChild$")
	cmd.Env = append(os.Environ(), "WS_BENCH_SERVER=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	s := &benchServer{in: bufio.NewWriter(stdin), out: bufio.NewScanner(stdout)}
	line := s.line(b)
	s.url = strings.TrimPrefix(line, "ready ")
	return s
}

// line returns the next line of the child that starts with "wsbench: ",
// without the prefix; within 30 seconds.
func (s *benchServer) line(b *testing.B) string {
	got := make(chan string, 1)
	go func() {
		for s.out.Scan() {
			if l, ok := strings.CutPrefix(s.out.Text(), "wsbench: "); ok {
				got <- l
				return
			}
		}
		close(got)
	}()
	select {
	case l, ok := <-got:
		if !ok {
			b.Fatal("the server child ended")
		}
		return l
	case <-time.After(30 * time.Second):
		b.Fatal("no answer from the server child in 30 s")
	}
	return ""
}

// mem returns the child's heap in use, stack in use, RSS (bytes) and
// number of goroutines.
func (s *benchServer) mem(b *testing.B) [4]int64 {
	s.in.WriteString("mem\n")
	s.in.Flush()
	var v [4]int64
	for i, f := range strings.Fields(s.line(b)) {
		if i < len(v) {
			v[i], _ = strconv.ParseInt(f, 10, 64)
		}
	}
	return v
}

// TestHTTP2BenchServerChild is the server of BenchmarkHTTP2Idle, run in a
// child process: an echo server over TLS that speaks HTTP/1.1 and HTTP/2,
// answering "mem" on stdin with its memory after a GC, until stdin ends.
func TestHTTP2BenchServerChild(t *testing.T) {
	if os.Getenv("WS_BENCH_SERVER") != "1" {
		t.Skip("the server child of BenchmarkHTTP2Idle")
	}
	if _, err := raiseFileLimit(); err != nil {
		t.Log(err)
	}
	srv := newH2Server(t, true, benchEchoHandler(), func(s *http.Server) { s.HTTP2.MaxConcurrentStreams = 4000 })
	fmt.Printf("wsbench: ready %s\n", srv.url("/"))
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() != "mem" {
			continue
		}
		for range 4 { // each GC may halve a stack that uses little of it
			runtime.GC()
		}
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Printf("wsbench: %d %d %d %d\n", ms.HeapInuse, ms.StackInuse, rssBytes(), runtime.NumGoroutine())
	}
	os.Exit(0) // the WebSockets are the parent's to end; no leak check
}
