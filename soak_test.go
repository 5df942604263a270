//go:build !js

package websocket

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestSoak holds many loopback connections open at once (Dial against
// Accept behind a real http.Server), exchanges messages on all of them for
// a while, closes them all with the closing handshake, and checks that
// every goroutine and the memory they held are released. It reports the
// memory each connection costs.
//
// The full soak, 10,000 connections for 5 s, runs with WEBSOCKET_SOAK=1
// and without -short; it cannot run under the race detector, which allows
// at most 8128 live goroutines. Otherwise a small soak of 1,000
// connections for half a second runs with the rest of the suite.
func TestSoak(t *testing.T) {
	conns, duration := 1000, 500*time.Millisecond
	if os.Getenv("WEBSOCKET_SOAK") == "1" && !testing.Short() {
		if raceEnabled {
			t.Skip("the full soak needs more goroutines than the race detector allows (8128); run it without -race")
		}
		conns, duration = 10000, 5*time.Second
	}
	limit, err := raiseFileLimit()
	if err != nil {
		t.Fatalf("RLIMIT_NOFILE: %v", err)
	}
	// Both ends of every connection are in this process, plus a margin for
	// the listener, the runtime and the test binary.
	if fit := (int(limit) - 200) / 2; fit < conns {
		t.Logf("RLIMIT_NOFILE is %d: %d connections instead of %d", limit, fit, conns)
		conns = fit
	}
	if conns < 1000 {
		t.Skipf("RLIMIT_NOFILE is %d even after raising the soft limit to the hard one: room for %d connections, "+
			"fewer than the 1,000 a soak needs", limit, conns)
	}

	// The runtime keeps the descriptor of every goroutine that ever ran,
	// for reuse. Run as many goroutines as the soak will first, so that
	// those descriptors are in the baseline and the soak reuses them.
	baseGoroutines := runtime.NumGoroutine()
	warm := make(chan struct{})
	var warmWG sync.WaitGroup
	for i := 0; i < 2*conns+1000; i++ {
		warmWG.Add(1)
		go func() { defer warmWG.Done(); <-warm }()
	}
	close(warm)
	warmWG.Wait()
	if leaked := waitGoroutines(baseGoroutines, 10*time.Second); leaked != "" {
		t.Fatalf("goroutines left before the soak:\n%.4000s", leaked)
	}
	baseHeap := liveHeap()

	var serverErrs sync.Map // unexpected server-side errors, by text
	var serverWG sync.WaitGroup
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Accept(w, r, &AcceptOptions{ConnOptions: ConnOptions{CloseTimeout: 5 * time.Second}})
		if err != nil {
			serverErrs.Store(err.Error(), true)
			return
		}
		serverWG.Add(1)
		defer serverWG.Done()
		defer c.CloseNow()
		for {
			typ, b, err := c.Read(context.Background())
			if err != nil {
				if CloseStatus(err) != StatusNormalClosure {
					serverErrs.Store(err.Error(), true)
				}
				return
			}
			if err := c.Write(context.Background(), typ, b); err != nil {
				serverErrs.Store(err.Error(), true)
				return
			}
		}
	}))
	srv.Config.ReadHeaderTimeout = 10 * time.Second
	srv.Start()
	defer srv.Close()
	u := wsURL(srv)

	// Phase 1: connect, at most 64 handshakes at a time.
	start := time.Now()
	clients := make([]*Conn, conns)
	sem := make(chan struct{}, 64)
	var dialWG sync.WaitGroup
	var dialErr atomic.Value
	for i := range clients {
		dialWG.Add(1)
		sem <- struct{}{}
		go func() {
			defer dialWG.Done()
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, _, err := Dial(ctx, u, &DialOptions{ConnOptions: ConnOptions{CloseTimeout: 5 * time.Second}})
			if err != nil {
				dialErr.Store(fmt.Errorf("connection %d: %w", i, err))
				return
			}
			clients[i] = c
		}()
	}
	dialWG.Wait()
	defer func() {
		for _, c := range clients {
			if c != nil {
				c.CloseNow()
			}
		}
	}()
	if err, _ := dialErr.Load().(error); err != nil {
		t.Fatal(err)
	}
	connected := time.Since(start)

	// Phase 2: every client writes a message and reads its echo, over and
	// over, until the time is up. Halfway, the memory is measured.
	echo := func(c *Conn, id, seq int) error {
		var msg [32]byte
		binary.BigEndian.PutUint32(msg[:], uint32(id))
		binary.BigEndian.PutUint32(msg[4:], uint32(seq))
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Write(ctx, MessageBinary, msg[:]); err != nil {
			return err
		}
		_, b, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if !bytes.Equal(b, msg[:]) {
			return fmt.Errorf("echo %x, want %x", b, msg)
		}
		return nil
	}
	var msgs atomic.Int64
	var clientWG sync.WaitGroup
	errs := make(chan error, conns)
	deadline := time.Now().Add(duration)
	for i, c := range clients {
		clientWG.Add(1)
		go func() {
			defer clientWG.Done()
			for seq := 0; seq == 0 || time.Now().Before(deadline); seq++ {
				if err := echo(c, i, seq); err != nil {
					errs <- fmt.Errorf("connection %d, message %d: %w", i, seq, err)
					return
				}
				msgs.Add(1)
			}
		}()
	}
	time.Sleep(duration / 2)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	goroutinesBusy := runtime.NumGoroutine()
	clientWG.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	heapPerConn := float64(ms.HeapAlloc-min(baseHeap, ms.HeapAlloc)) / float64(conns)
	stackPerConn := float64(ms.StackInuse) / float64(conns)
	t.Logf("%d connections (both ends in this process) set up in %v; %d echoes in %v (%.0f/s); %d goroutines",
		conns, connected.Round(time.Millisecond), msgs.Load(), duration, float64(msgs.Load())/duration.Seconds(), goroutinesBusy)
	t.Logf("memory per connection, client and server Conn, their goroutines and net/http's share: "+
		"%.1f KiB of live heap after GC + %.1f KiB of goroutine stacks = %.1f KiB",
		heapPerConn/1024, stackPerConn/1024, (heapPerConn+stackPerConn)/1024)
	if msgs.Load() < int64(conns) {
		t.Errorf("%d echoes for %d connections", msgs.Load(), conns)
	}
	if heapPerConn > 64<<10 {
		t.Errorf("%.1f KiB of heap per connection", heapPerConn/1024)
	}

	// Phase 3: close every connection with the closing handshake.
	closeStart := time.Now()
	var closeWG sync.WaitGroup
	var closeFailed atomic.Int64
	var closeErr atomic.Value
	for _, c := range clients {
		closeWG.Add(1)
		sem <- struct{}{}
		go func() {
			defer closeWG.Done()
			defer func() { <-sem }()
			if err := c.Close(StatusNormalClosure, "soak done"); err != nil {
				closeFailed.Add(1)
				closeErr.Store(err)
			}
		}()
	}
	closeWG.Wait()
	serverWG.Wait()
	if n := closeFailed.Load(); n > 0 {
		t.Errorf("%d of %d Close calls failed, last: %v", n, conns, closeErr.Load())
	}
	serverErrs.Range(func(k, _ any) bool {
		t.Errorf("server: %v", k)
		return true
	})
	t.Logf("closed in %v", time.Since(closeStart).Round(time.Millisecond))
	srv.Close()
	clients = nil

	// Everything is released: the goroutines end and the heap returns to
	// about where it started.
	if leaked := waitGoroutines(baseGoroutines, 10*time.Second); leaked != "" {
		t.Errorf("goroutines left after closing every connection (%d, %d before):\n%.4000s",
			runtime.NumGoroutine(), baseGoroutines, leaked)
	}
	// What may stay: 5% of the growth, or 8 MiB.
	allowed := baseHeap + max(8<<20, (ms.HeapAlloc-min(baseHeap, ms.HeapAlloc))/20)
	var heapAfter uint64
	for i := 0; i < 50; i++ {
		if heapAfter = liveHeap(); heapAfter <= allowed {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("live heap: %d KiB before, %d KiB with the connections open, %d KiB after closing them",
		baseHeap>>10, ms.HeapAlloc>>10, heapAfter>>10)
	if heapAfter > allowed {
		t.Errorf("live heap %d KiB after closing every connection, %d KiB before, %d KiB while open",
			heapAfter>>10, baseHeap>>10, ms.HeapAlloc>>10)
	}
}
