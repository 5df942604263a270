package h2

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"testing"
	"time"
)

func forBoth(t *testing.T, f func(t *testing.T, useTLS bool)) {
	t.Run("tls", func(t *testing.T) { t.Parallel(); f(t, true) })
	t.Run("h2c", func(t *testing.T) { t.Parallel(); f(t, false) })
}

// TestEcho opens an extended CONNECT stream to net/http's server and
// echoes through it: RFC 8441, Sections 4 and 5.
func TestEcho(t *testing.T) {
	forBoth(t, func(t *testing.T, useTLS bool) {
		var got *http.Request
		srv := newServer(t, useTLS, serveStream(t, func(ss *ServerStream) {
			got = ss.r
			ss.w.Header() // headers were sent already; nothing to do
			echo(ss)
		}))
		cc := srv.clientConn(t, nil)
		if !cc.ExtendedConnect() {
			t.Fatal("net/http did not send SETTINGS_ENABLE_CONNECT_PROTOCOL=1")
		}
		req := srv.request("/chat?room=1")
		req.Header.Set("Sec-WebSocket-Protocol", "chat")
		req.Header.Set("Connection", "Upgrade") // dropped, or net/http would answer 400
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		s := open(t, cc, req)
		if s.Response().StatusCode != 200 {
			t.Fatalf("status %d", s.Response().StatusCode)
		}
		for _, n := range []int{1, 100, 16 << 10, 100 << 10} {
			roundTrip(t, s, bytes.Repeat([]byte{'x'}, n))
		}
		if err := s.CloseWrite(); err != nil {
			t.Fatal(err)
		}
		if n, err := s.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("after CloseWrite: %d, %v; want EOF once the handler returns", n, err)
		}
		if got.Method != "CONNECT" || ExtendedConnectProtocol(got) != "websocket" || got.URL.Path != "/chat" ||
			got.URL.RawQuery != "room=1" || got.Header.Get("Sec-WebSocket-Protocol") != "chat" ||
			got.Header.Get("Sec-WebSocket-Key") != "" || got.Host != srv.addr {
			t.Errorf("server saw %s %q %v host %q", got.Method, got.URL, got.Header, got.Host)
		}
	})
}

// TestManyStreamsOneConnection runs concurrent echoes on one connection.
func TestManyStreamsOneConnection(t *testing.T) {
	forBoth(t, func(t *testing.T, useTLS bool) {
		srv := newServer(t, useTLS, serveStream(t, echo))
		cc := srv.clientConn(t, nil)
		var wg sync.WaitGroup
		for i := range 60 {
			wg.Go(func() {
				s := open(t, cc, srv.request("/"))
				for j := range 20 {
					roundTrip(t, s, []byte(fmt.Sprintf("stream %d message %d %s", i, j, bytes.Repeat([]byte{'.'}, i*j))))
				}
				s.Close()
			})
		}
		wg.Wait()
		if n := srv.conns.Load(); n != 1 {
			t.Errorf("%d TCP connections, want 1", n)
		}
	})
}

// TestLargeTransfer moves 8 MiB each way at once through small windows,
// so that both directions wait on flow control (RFC 9113, Section 6.9)
// many times.
func TestLargeTransfer(t *testing.T) {
	forBoth(t, func(t *testing.T, useTLS bool) {
		srv := newServer(t, useTLS, serveStream(t, echo))
		cc := srv.clientConn(t, &Config{StreamWindow: 65535, ConnWindow: 65535, MaxFrameSize: 16384})
		s := open(t, cc, srv.request("/"))
		msg := make([]byte, 8<<20)
		for i := range msg {
			msg[i] = byte(i * 7)
		}
		roundTrip(t, s, msg)
	})
}

// TestUnreadStreamDoesNotStall checks that a stream nobody reads holds up
// no other stream of the connection, in either direction.
func TestUnreadStreamDoesNotStall(t *testing.T) {
	forBoth(t, func(t *testing.T, useTLS bool) {
		release := make(chan struct{})
		srv := newServer(t, useTLS, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ss, err := NewServerStream(w, r)
			if err != nil {
				return
			}
			defer func() { ss.Close(); <-ss.Done() }()
			switch r.URL.Path {
			case "/flood":
				// Write more than the client's stream window: the
				// client application never reads it.
				go ss.Write(make([]byte, 3<<20))
				<-release
			case "/sink":
				<-release // never reads
			default:
				echo(ss)
			}
		}))
		t.Cleanup(func() { close(release) })
		cc := srv.clientConn(t, &Config{StreamWindow: 1 << 20, ConnWindow: 1 << 20})
		flood := open(t, cc, srv.request("/flood"))
		sink := open(t, cc, srv.request("/sink"))
		// Fill the server's buffer for the sink (256 KiB): the write
		// blocks on the stream window, not on the connection.
		go func() {
			sink.SetWriteDeadline(time.Now().Add(testTimeout))
			sink.Write(make([]byte, 2<<20))
		}()
		time.Sleep(100 * time.Millisecond)
		s := open(t, cc, srv.request("/"))
		for i := range 10 {
			roundTrip(t, s, bytes.Repeat([]byte{byte(i)}, 32<<10))
		}
		_ = flood
	})
}

// TestStreamDeadlines checks that the client stream's deadlines are its
// own, cut blocked calls short, and can be reset without losing data.
func TestStreamDeadlines(t *testing.T) {
	startReading := make(chan struct{})
	srv := newServer(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss, err := NewServerStream(w, r)
		if err != nil {
			return
		}
		defer func() { ss.Close(); <-ss.Done() }()
		if r.URL.Path == "/slow" {
			<-startReading
		}
		echo(ss)
	}))
	cc := srv.clientConn(t, &Config{StreamWindow: 65535})

	t.Run("read", func(t *testing.T) {
		s := open(t, cc, srv.request("/"))
		s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
		if _, err := s.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read: %v, want deadline exceeded", err)
		}
		// A blocked Read cut short by a deadline in the past, as a
		// cancelled context does it.
		done := make(chan error, 1)
		go func() {
			_, err := s.Read(make([]byte, 1))
			done <- err
		}()
		s.SetReadDeadline(time.Time{})
		time.Sleep(20 * time.Millisecond)
		s.SetReadDeadline(time.Unix(1, 0))
		wantErr(t, <-done, os.ErrDeadlineExceeded)
		s.SetReadDeadline(time.Time{})
		roundTrip(t, s, []byte("still usable"))
	})

	t.Run("write blocked on flow control", func(t *testing.T) {
		s := open(t, cc, srv.request("/slow"))
		// The server does not read: its 256 KiB buffer and the 64 KiB
		// window fill, and the write waits for credit.
		s.SetWriteDeadline(time.Now().Add(200 * time.Millisecond))
		msg := make([]byte, 4<<20)
		n, err := s.Write(msg)
		wantErr(t, err, os.ErrDeadlineExceeded)
		if n == 0 || n == len(msg) {
			t.Fatalf("wrote %d of %d", n, len(msg))
		}
		s.SetWriteDeadline(time.Time{})
		close(startReading)
		// The rest goes out once the server reads; all of it comes back.
		go s.Write(msg[n:])
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(s, got); err != nil {
			t.Fatal(err)
		}
	})
}

// TestResets covers RST_STREAM both ways (RFC 9113, Section 6.4).
func TestResets(t *testing.T) {
	handlerErr := make(chan error, 1)
	srv := newServer(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss, err := NewServerStream(w, r)
		if err != nil {
			return
		}
		defer func() { ss.Close(); <-ss.Done() }()
		switch r.URL.Path {
		case "/reset-me":
			// A write deadline that fires mid-write resets the stream.
			ss.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			_, err := ss.Write(make([]byte, 8<<20))
			handlerErr <- err
		case "/return":
			// Returning with the client's side open: net/http sends
			// END_STREAM then RST_STREAM NO_ERROR.
		case "/read":
			_, err := io.ReadAll(ss)
			handlerErr <- err
		}
	}))
	cc := srv.clientConn(t, &Config{StreamWindow: 65535})

	t.Run("server resets", func(t *testing.T) {
		s := open(t, cc, srv.request("/reset-me"))
		wantErr(t, <-handlerErr, os.ErrDeadlineExceeded)
		_, err := io.ReadAll(s)
		var se *StreamError
		if !errors.As(err, &se) || !se.Remote || se.Code != ErrCodeInternal {
			t.Fatalf("read: %v, want a reset INTERNAL_ERROR by the server", err)
		}
		if _, err := s.Write([]byte("x")); !errors.As(err, &se) {
			t.Fatalf("write after reset: %v", err)
		}
	})
	t.Run("RST_STREAM NO_ERROR after END_STREAM is a normal end", func(t *testing.T) {
		s := open(t, cc, srv.request("/return"))
		if b, err := io.ReadAll(s); err != nil || len(b) != 0 {
			t.Fatalf("read: %q, %v", b, err)
		}
		time.Sleep(50 * time.Millisecond) // let the RST_STREAM arrive
		if _, err := s.Write([]byte("x")); !errors.Is(err, errStreamEnded) {
			t.Fatalf("write after the server ended: %v", err)
		}
	})
	t.Run("client closes", func(t *testing.T) {
		s := open(t, cc, srv.request("/read"))
		s.Write([]byte("bye"))
		s.Close()
		// END_STREAM then RST_STREAM CANCEL: the server reads a clean end.
		if err := <-handlerErr; err != nil {
			t.Fatalf("server read: %v", err)
		}
		if _, err := s.Read(nil); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read after Close: %v", err)
		}
	})
	if n := cc.activeStreams(); n != 0 {
		t.Errorf("%d streams left open", n)
	}
}

// TestRefusal checks that a non-2xx answer comes back with its status,
// header and body, and leaves the connection usable.
func TestRefusal(t *testing.T) {
	srv := newServer(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/no" {
			w.Header().Set("X-Reason", "origin")
			http.Error(w, "forbidden origin", http.StatusForbidden)
			return
		}
		serveStream(t, echo).ServeHTTP(w, r)
	}))
	cc := srv.clientConn(t, nil)
	_, err := cc.OpenStream(testContext(t), srv.request("/no"))
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 403 || se.Header.Get("X-Reason") != "origin" || string(se.Body) != "forbidden origin\n" {
		t.Fatalf("OpenStream: %v (%+v)", err, se)
	}
	roundTrip(t, open(t, cc, srv.request("/")), []byte("connection still fine"))
}

// TestOpenStreamCanceled checks that a context ending while the server
// has not answered resets only that stream.
func TestOpenStreamCanceled(t *testing.T) {
	block := make(chan struct{})
	srv := newServer(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-block:
			case <-r.Context().Done():
			}
			return
		}
		serveStream(t, echo).ServeHTTP(w, r)
	}))
	defer close(block)
	cc := srv.clientConn(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := cc.OpenStream(ctx, srv.request("/hang")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("OpenStream: %v", err)
	}
	roundTrip(t, open(t, cc, srv.request("/")), []byte("fine"))
}

// TestGoAway checks the server's graceful shutdown: GOAWAY (RFC 9113,
// Section 6.8) stops new streams, which fail with ErrStreamRefused, while
// the open one goes on until it ends.
func TestGoAway(t *testing.T) {
	srv := newServer(t, false, serveStream(t, echo))
	cc := srv.clientConn(t, nil)
	s := open(t, cc, srv.request("/"))
	shutdown := make(chan error, 1)
	go func() { shutdown <- srv.srv.Shutdown(testContext(t)) }()
	deadline := time.Now().Add(testTimeout)
	for cc.usable() && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if cc.usable() {
		t.Fatal("no GOAWAY")
	}
	if _, err := cc.OpenStream(testContext(t), srv.request("/")); !errors.Is(err, ErrStreamRefused) {
		t.Fatalf("OpenStream after GOAWAY: %v", err)
	}
	roundTrip(t, s, []byte("the open stream goes on"))
	s.Close()
	if err := <-shutdown; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	select {
	case <-cc.Done():
	case <-time.After(testTimeout):
		t.Fatal("connection not closed after GOAWAY and its last stream")
	}
}

// TestThousandStreams echoes on 1,000 streams of one connection at once.
func TestThousandStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	srv := newServer(t, false, serveStream(t, echo))
	cc := srv.clientConn(t, nil)
	var wg sync.WaitGroup
	streams := make([]*Stream, 1000)
	for i := range streams {
		wg.Go(func() { streams[i] = open(t, cc, srv.request("/")) })
	}
	wg.Wait()
	for i, s := range streams {
		wg.Go(func() {
			for j := range 5 {
				roundTrip(t, s, []byte(fmt.Sprintf("%d/%d", i, j)))
			}
		})
	}
	wg.Wait()
	if n := srv.conns.Load(); n != 1 {
		t.Errorf("%d TCP connections", n)
	}
}

// TestSharedConnectionWindow has many streams write at once through a
// server connection window of 64 KiB, so that they queue for the
// connection's credit (RFC 9113, Section 6.9.1) again and again; a lost
// wake-up stalls them (Node's 64 KiB window found one).
func TestSharedConnectionWindow(t *testing.T) {
	srv := newServer(t, false, serveStream(t, echo), func(s *http.Server) {
		s.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerConnection: 65535, MaxReceiveBufferPerStream: 65535}
	})
	cc := srv.clientConn(t, nil)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			s := open(t, cc, srv.request("/"))
			s.SetDeadline(time.Now().Add(testTimeout))
			for j := range 5 {
				roundTrip(t, s, bytes.Repeat([]byte{byte(i), byte(j)}, 100<<10))
			}
		})
	}
	wg.Wait()
}
