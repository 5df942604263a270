//go:build !js

package websocket

import (
	"bytes"
	"compress/flate"
	"context"
	"net"
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
