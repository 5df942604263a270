package bench

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ccf874ba/websocket/bench/internal/wsb"
)

// BenchmarkEcho runs every library's echo server in this process under the
// common raw client (which allocates nothing per round trip), so
// allocations per op are the server's. It exists for profiling:
//
//	go test -run '^$' -bench 'Echo/ours/1KiB/conns=16' -cpuprofile cpu.prof
//	go tool pprof -top cpu.prof
//
// The CPU profile holds the client's work too; the side-by-side numbers
// come from ./cmd/wsbench, which runs each server in a process of its own.
func BenchmarkEcho(b *testing.B) {
	for _, lib := range wsb.ServerNames {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		srv, err := wsb.StartServer(lib, ln)
		if err != nil {
			b.Fatal(err)
		}
		for _, size := range []int{16, 1 << 10, 64 << 10} {
			for _, conns := range []int{1, 16} {
				b.Run(fmt.Sprintf("%s/%s/conns=%d", lib, sizeName(size), conns), func(b *testing.B) {
					benchEcho(b, ln.Addr().String(), srv, size, conns)
				})
			}
		}
		ln.Close()
	}
}

func benchEcho(b *testing.B, addr string, srv wsb.Server, size, conns int) {
	cs := make([]*wsb.RawClient, conns)
	for i := range cs {
		c, err := wsb.DialRaw(addr, "/", 10*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		c.SetPayload(size)
		// Warm up the connection (buffers grow on the first message).
		if err := c.RoundTrip(); err != nil {
			b.Fatal(err)
		}
		cs[i] = c
	}
	defer func() {
		for _, c := range cs {
			c.Close()
		}
		for srv.Active() > 0 {
			time.Sleep(time.Millisecond)
		}
	}()
	b.SetBytes(int64(size))
	b.ReportAllocs()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	start := time.Now()
	b.ResetTimer()
	for _, c := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(b.N) {
				if err := c.RoundTrip(); err != nil {
					failed.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err := failed.Load(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
