package h2

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countingDial counts the dials of f.
func countingDial(n *atomic.Int32, f DialFunc) DialFunc {
	return func(ctx context.Context) (net.Conn, string, error) {
		n.Add(1)
		return f(ctx)
	}
}

// TestPoolShares checks that concurrent Gets for one key dial once and
// share the connection.
func TestPoolShares(t *testing.T) {
	srv := newServer(t, true, serveStream(t, echo))
	var p Pool
	defer p.Close()
	var dials atomic.Int32
	dial := countingDial(&dials, func(ctx context.Context) (net.Conn, string, error) {
		time.Sleep(20 * time.Millisecond) // let the other Gets queue up
		return srv.dial(ctx)
	})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			cc, c, err := p.Get(testContext(t), "k", dial)
			if err != nil || c != nil {
				t.Errorf("Get: %v, %v", c, err)
				return
			}
			s := open(t, cc, srv.request("/"))
			roundTrip(t, s, []byte("shared"))
		})
	}
	wg.Wait()
	if dials.Load() != 1 || srv.conns.Load() != 1 {
		t.Fatalf("%d dials, %d connections; want 1", dials.Load(), srv.conns.Load())
	}
}

// TestPoolHTTP1 checks both fallbacks: ALPN choosing http/1.1 hands the
// connection back, and a server without the extended CONNECT gives
// ErrHTTP1; either way the key is remembered and not dialled again.
func TestPoolHTTP1(t *testing.T) {
	t.Run("ALPN http/1.1", func(t *testing.T) {
		ts := httptest.NewTLSServer(http.NotFoundHandler()) // no HTTP/2
		defer ts.Close()
		cfg := ts.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
		cfg.NextProtos = []string{"h2", "http/1.1"}
		var p Pool
		defer p.Close()
		var dials atomic.Int32
		dial := countingDial(&dials, func(ctx context.Context) (net.Conn, string, error) {
			c, err := (&tls.Dialer{Config: cfg}).DialContext(ctx, "tcp", ts.Listener.Addr().String())
			if err != nil {
				return nil, "", err
			}
			return c, c.(*tls.Conn).ConnectionState().NegotiatedProtocol, nil
		})
		cc, c, err := p.Get(testContext(t), "k", dial)
		if cc != nil || c == nil || err != nil {
			t.Fatalf("Get: %v, %v, %v; want the HTTP/1.1 connection", cc, c, err)
		}
		c.Close()
		if _, _, err := p.Get(testContext(t), "k", dial); err != ErrHTTP1 || dials.Load() != 1 {
			t.Fatalf("second Get: %v after %d dials", err, dials.Load())
		}
	})
	t.Run("no ENABLE_CONNECT_PROTOCOL", func(t *testing.T) {
		addr := startFake(t, func(f *fake) { f.settings(); f.awaitFrame(frameGoAway) })
		var p Pool
		defer p.Close()
		var dials atomic.Int32
		dial := countingDial(&dials, func(ctx context.Context) (net.Conn, string, error) {
			c, err := new(net.Dialer).DialContext(ctx, "tcp", addr)
			return c, "h2", err
		})
		for range 2 {
			if _, _, err := p.Get(testContext(t), "k", dial); err != ErrHTTP1 {
				t.Fatalf("Get: %v", err)
			}
		}
		if dials.Load() != 1 {
			t.Fatalf("%d dials", dials.Load())
		}
	})
}

// TestPoolIdle checks that a connection closes IdleTimeout after its last
// stream, and at once with a negative IdleTimeout.
func TestPoolIdle(t *testing.T) {
	for _, idle := range []time.Duration{-1, 50 * time.Millisecond} {
		srv := newServer(t, false, serveStream(t, echo))
		p := Pool{IdleTimeout: idle}
		cc, _, err := p.Get(testContext(t), "k", srv.dial)
		if err != nil {
			t.Fatal(err)
		}
		s := open(t, cc, srv.request("/"))
		roundTrip(t, s, []byte("x"))
		select {
		case <-cc.Done():
			t.Fatal("closed with a stream open")
		case <-time.After(2 * max(idle, 10*time.Millisecond)):
		}
		s.Close()
		select {
		case <-cc.Done():
		case <-time.After(testTimeout):
			t.Fatalf("IdleTimeout %v: not closed", idle)
		}
		p.Close()
	}
}

// TestPoolReplacesDeadConnections checks that Get dials again when the
// pooled connection has ended or is full (SETTINGS_MAX_CONCURRENT_STREAMS).
func TestPoolReplacesDeadConnections(t *testing.T) {
	srv := newServer(t, false, serveStream(t, echo))
	var p Pool
	defer p.Close()
	cc1, _, err := p.Get(testContext(t), "k", srv.dial)
	if err != nil {
		t.Fatal(err)
	}
	cc1.Close()
	cc2, _, err := p.Get(testContext(t), "k", srv.dial)
	if err != nil || cc2 == cc1 {
		t.Fatalf("Get after Close: %p, %v", cc2, err)
	}

	cc2.mu.Lock()
	cc2.peer.maxConcurrent = 1
	cc2.mu.Unlock()
	s := open(t, cc2, srv.request("/"))
	cc3, _, err := p.Get(testContext(t), "k", srv.dial)
	if err != nil || cc3 == cc2 {
		t.Fatalf("Get with the connection full: %p, %v", cc3, err)
	}
	// OpenStream on a full connection waits for a slot.
	done := make(chan error, 1)
	go func() {
		s2, err := cc2.OpenStream(testContext(t), srv.request("/"))
		if err == nil {
			s2.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("OpenStream did not wait: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	s.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// TestPoolDialCanceled checks that Gets waiting for a dial whose caller
// gave up dial themselves.
func TestPoolDialCanceled(t *testing.T) {
	srv := newServer(t, false, serveStream(t, echo))
	var p Pool
	defer p.Close()
	started := make(chan struct{})
	var first atomic.Bool
	dial := func(ctx context.Context) (net.Conn, string, error) {
		if first.CompareAndSwap(false, true) {
			close(started)
			<-ctx.Done()
			return nil, "", ctx.Err()
		}
		return srv.dial(ctx)
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, _, err := p.Get(ctx, "k", dial)
		errc <- err
	}()
	<-started
	got := make(chan error, 1)
	go func() {
		_, _, err := p.Get(testContext(t), "k", dial)
		got <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	wantErr(t, <-errc, context.Canceled)
	if err := <-got; err != nil {
		t.Fatalf("waiting Get: %v", err)
	}
}

func TestPoolClose(t *testing.T) {
	srv := newServer(t, false, serveStream(t, echo))
	var p Pool
	cc, _, err := p.Get(testContext(t), "k", srv.dial)
	if err != nil {
		t.Fatal(err)
	}
	s := open(t, cc, srv.request("/"))
	p.Close()
	<-cc.Done()
	if _, err := s.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write after Pool.Close: %v", err)
	}
	if _, _, err := p.Get(testContext(t), "k", srv.dial); err != ErrPoolClosed {
		t.Fatalf("Get after Close: %v", err)
	}
}
