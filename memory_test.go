//go:build !js

package websocket

import (
	"bytes"
	"compress/flate"
	"context"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// BenchmarkConnMemory reports what a server Conn costs while idle after one
// message, per mode: heap ("heap-B/conn") and heap plus goroutine stacks
// ("B/conn"), with a goroutine parked in Read on each Conn as a server
// has. Run with -benchtime=1x (each run sets up 500 connections). Pooled
// compressors are shared by all connections and show up amortized. The peer's compressed message is prepared once, as
// a peer with context takeover (a browser, say) would send it, so that the
// receiving Conn keeps its dictionary.
//
//	go test -run XXX -bench ConnMemory -benchtime 1x
func BenchmarkConnMemory(b *testing.B) {
	msg := []byte(strings.Repeat(`{"id":12345,"user":"κόσμε","text":"the same words again and again"} `, 600)) // ~45 KiB
	var zbuf bytes.Buffer
	fw, _ := flate.NewWriter(&zbuf, 1)
	fw.Write(msg)
	fw.Flush()
	z := bytes.TrimSuffix(zbuf.Bytes(), []byte{0, 0, 0xff, 0xff})
	modes := []struct {
		name  string
		cfg   *deflateConfig
		frame func(p *rawPeer) []byte
	}{
		{"plain", nil, func(p *rawPeer) []byte { return p.frame(true, opText, msg) }},
		{"deflate/no-context-takeover", &deflateConfig{level: 1, threshold: 128, sendWindowBits: 15, recvWindowBits: 15},
			func(p *rawPeer) []byte { f := p.frame(true, opText, z); f[0] |= rsv1; return f }},
		{"deflate/context-takeover-window-15", &deflateConfig{level: 1, threshold: 128, sendWindowBits: 15, recvTakeover: true, recvWindowBits: 15},
			func(p *rawPeer) []byte { f := p.frame(true, opText, z); f[0] |= rsv1; return f }},
		{"deflate/context-takeover-window-9", &deflateConfig{level: 1, threshold: 128, sendWindowBits: 15, recvTakeover: true, recvWindowBits: 9},
			func(p *rawPeer) []byte { f := p.frame(true, opText, z); f[0] |= rsv1; return f }},
	}
	const n = 500
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			for b.Loop() {
				peers := make([]net.Conn, 0, n)
				locals := make([]net.Conn, 0, n)
				for i := 0; i < n; i++ {
					a, p := tcpPair(b)
					locals = append(locals, a)
					peers = append(peers, p)
				}
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				conns := make([]*Conn, n)
				for i := range conns {
					c := newConn(locals[i], connConfig{deflate: m.cfg}, nil)
					p := &rawPeer{t: b, nc: peers[i], client: true}
					p.write(m.frame(p))
					// The echo goes out compressed too when negotiated.
					_, got, err := c.Read(context.Background())
					if err != nil || len(got) != len(msg) {
						b.Fatalf("read %d bytes, %v", len(got), err)
					}
					if err := c.Write(context.Background(), MessageText, got); err != nil {
						b.Fatal(err)
					}
					conns[i] = c
				}
				var parked sync.WaitGroup
				parked.Add(n)
				for _, c := range conns {
					go func() {
						parked.Done()
						c.Read(context.Background())
					}()
				}
				parked.Wait()
				time.Sleep(100 * time.Millisecond) // let every reader reach its wait
				// Two collections: sync.Pool keeps what was put back through
				// one, in its victim cache.
				for range 4 {
					runtime.GC()
				}
				runtime.ReadMemStats(&after)
				heap := float64(after.HeapAlloc-before.HeapAlloc) / n
				b.ReportMetric(heap, "heap-B/conn")
				b.ReportMetric(heap+float64(after.StackInuse-before.StackInuse)/n, "B/conn")
				for _, c := range conns {
					c.CloseNow()
				}
				runtime.KeepAlive(conns)
			}
		})
	}
}

// An idle connection's goroutine must park within the 2 KiB a goroutine
// starts with: the runtime only shrinks a stack when less than a quarter of
// it is in use, so a goroutine that once grew to 4 KiB (one echo of a deep
// call chain is enough) stays at 4 KiB, which doubled the RSS of an idle
// server. Each goroutine here echoes one small message, plain or
// compressed, then waits in ReadAppend, as an echo server's does; the
// stacks they hold are measured. (A compressed echo goes through
// compress/flate's frames, which alone need more than 2 KiB; it is only
// reported.)
//
// It runs in a child process of its own: the runtime starts goroutines
// with the average stack size it has seen, so after the rest of the suite
// (deep test goroutines) even a shallow goroutine would start at 4 KiB.
func TestIdleStackAfterEcho(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector makes every frame larger")
	}
	skipOverHTTP2(t, "the stack is that of the TCP path")
	if os.Getenv("WS_STACK_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestIdleStackAfterEcho$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), "WS_STACK_CHILD=1")
		out, err := cmd.CombinedOutput()
		for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if strings.Contains(line, "_test.go:") {
				t.Log(strings.TrimSpace(line))
			}
		}
		if err != nil {
			t.Fatalf("child process: %v\n%s", err, out)
		}
		return
	}
	for _, tt := range []struct {
		name string
		cfg  connConfig
	}{
		{"plain", connConfig{}},
		{"deflate", connConfig{deflate: newDeflateConfig(&CompressionOptions{})}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			const n = 200
			// Warm the pools first: their first use on each P takes a
			// lock whose slow path allocates, deep, once per process.
			warm, wp := newTestConn(t, false, tt.cfg)
			wp.send(true, opText, []byte("warm"))
			go wp.recv()
			if typ, b, err := warm.Read(context.Background()); err == nil {
				warm.Write(context.Background(), typ, b)
			}
			conns := make([]*Conn, n)
			peers := make([]*rawPeer, n)
			for i := range conns {
				conns[i], peers[i] = newTestConn(t, false, tt.cfg)
			}
			msg := bytes.Repeat([]byte("an echo of a small message "), 6) // over the compression threshold
			var zbuf bytes.Buffer
			fw, _ := flate.NewWriter(&zbuf, flate.BestSpeed)
			z := compressMessage(fw, &zbuf, msg)
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			var echoed sync.WaitGroup
			echoed.Add(n)
			for i, c := range conns {
				frame := peers[i].frame(true, opText, msg)
				if tt.cfg.deflate != nil {
					frame = peers[i].frame(true, opText, z)
					frame[0] |= rsv1
				}
				peers[i].write(frame)
				// The shape of a server's echo goroutine (bench/'s, say):
				// a closure with deferred calls around a loop function,
				// whose frames take stack before the library's do; half
				// the goroutines Read, half ReadAppend.
				useRead := i%2 == 0
				go func() {
					defer c.CloseNow()
					echoOnceThenPark(c, useRead, &echoed)
				}()
			}
			echoed.Wait()
			time.Sleep(50 * time.Millisecond)
			for range 3 {
				runtime.GC()
			}
			runtime.ReadMemStats(&after)
			per := float64(after.StackInuse-before.StackInuse) / n
			t.Logf("%.0f bytes of stack per idle connection after one echo", per)
			if tt.cfg.deflate == nil && per > 2600 { // compress/flate's own frames are deeper than 2 KiB
				t.Errorf("%.0f bytes of stack per idle goroutine after one echo, want 2 KiB: the echo path's frames outgrew the first stack", per)
			}
		})
	}
}

// echoOnceThenPark echoes one message and reads again, which parks until
// the end of the test.
//
//go:noinline
func echoOnceThenPark(c *Conn, useRead bool, echoed *sync.WaitGroup) {
	ctx := context.Background()
	var typ MessageType
	var b []byte
	var err error
	if useRead {
		typ, b, err = c.Read(ctx)
	} else {
		typ, b, err = c.ReadAppend(ctx, nil)
	}
	if err == nil {
		err = c.Write(ctx, typ, b)
	}
	echoed.Done()
	if err == nil {
		c.ReadAppend(ctx, b[:0])
	}
}
