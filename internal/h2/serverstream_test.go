package h2

import (
	"errors"
	"io"
	"net/http"
	"os"
	"testing"
	"time"
)

// handlerResult runs f as the stream's handler and reports its error.
func handlerResult(t *testing.T, f func(ss *ServerStream) error) (http.Handler, <-chan error) {
	errc := make(chan error, 1)
	return serveStream(t, func(ss *ServerStream) { errc <- f(ss) }), errc
}

// TestServerStreamReadDeadline checks that a read deadline that fired
// leaves the stream usable, with nothing lost (pitfall 3: net/http's own
// read deadline is final).
func TestServerStreamReadDeadline(t *testing.T) {
	sent := make(chan struct{})
	h, errc := handlerResult(t, func(ss *ServerStream) error {
		ss.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := ss.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			return errors.New("first read: " + errString(err))
		}
		// A blocked read cut short by a deadline in the past.
		ss.SetReadDeadline(time.Time{})
		go func() { time.Sleep(20 * time.Millisecond); ss.SetReadDeadline(time.Unix(1, 0)) }()
		if _, err := ss.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			return errors.New("blocked read: " + errString(err))
		}
		ss.SetReadDeadline(time.Time{})
		close(sent)
		b := make([]byte, 5)
		if _, err := io.ReadFull(ss, b); err != nil || string(b) != "hello" {
			return errors.New("read after reset: " + string(b) + errString(err))
		}
		return nil
	})
	srv := newServer(t, true, h)
	s := open(t, srv.clientConn(t, nil), srv.request("/"))
	<-sent
	s.Write([]byte("hello"))
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

// TestServerStreamWriteDeadline checks that a write deadline that passed
// before a write refuses it and leaves the stream usable once moved.
func TestServerStreamWriteDeadline(t *testing.T) {
	h, errc := handlerResult(t, func(ss *ServerStream) error {
		ss.SetWriteDeadline(time.Unix(1, 0))
		if _, err := ss.Write([]byte("no")); !errors.Is(err, os.ErrDeadlineExceeded) {
			return errors.New("write: " + errString(err))
		}
		ss.SetWriteDeadline(time.Now().Add(time.Minute))
		_, err := ss.Write([]byte("yes"))
		return err
	})
	srv := newServer(t, false, h)
	s := open(t, srv.clientConn(t, nil), srv.request("/"))
	b := make([]byte, 3)
	if _, err := io.ReadFull(s, b); err != nil || string(b) != "yes" {
		t.Fatalf("read %q, %v", b, err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}

// TestServerStreamCloseCutsBlockedWrite checks pitfall 2: Close must cut
// short a write blocked on the client's window, so that the handler can
// return while no write is inside the ResponseWriter.
func TestServerStreamCloseCutsBlockedWrite(t *testing.T) {
	writeErr := make(chan error, 1)
	closed := make(chan struct{})
	srv := newServer(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ss, err := NewServerStream(w, r)
		if err != nil {
			return
		}
		go func() {
			_, err := ss.Write(make([]byte, 4<<20)) // the client never reads
			writeErr <- err
		}()
		time.Sleep(50 * time.Millisecond)
		ss.Close()
		<-ss.Done()
		close(closed)
	}))
	s := open(t, srv.clientConn(t, &Config{StreamWindow: 65535}), srv.request("/"))
	select {
	case <-closed:
	case <-time.After(testTimeout):
		t.Fatal("Close did not return")
	}
	if err := <-writeErr; err == nil {
		t.Fatal("blocked write succeeded")
	}
	if _, err := io.ReadAll(s); err == nil {
		t.Fatal("client read a clean end after a cut write")
	}
}

// TestServerTimeoutsCleared checks pitfall 4: Server.ReadTimeout and
// WriteTimeout must not end a WebSocket.
func TestServerTimeoutsCleared(t *testing.T) {
	srv := newServer(t, true, serveStream(t, echo), func(s *http.Server) {
		s.ReadTimeout = 200 * time.Millisecond
		s.WriteTimeout = 200 * time.Millisecond
	})
	s := open(t, srv.clientConn(t, nil), srv.request("/"))
	for range 3 {
		time.Sleep(200 * time.Millisecond)
		roundTrip(t, s, []byte("still here"))
	}
}

// TestNewServerStreamChecks checks that only an HTTP/2 extended CONNECT
// gets a stream, and that a Connection field set by the caller is not
// sent (it would make net/http close the whole connection).
func TestNewServerStreamChecks(t *testing.T) {
	srv := newServer(t, true, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		ss, err := NewServerStream(w, r)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		defer func() { ss.Close(); <-ss.Done() }()
		echo(ss)
	}))
	// A plain GET over HTTP/2.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: srv.tls, ForceAttemptHTTP2: true}}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + srv.addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.ProtoMajor != 2 {
		t.Fatalf("plain GET: %s over %s", resp.Status, resp.Proto)
	}
	cc := srv.clientConn(t, nil)
	for range 3 {
		s := open(t, cc, srv.request("/"))
		if c := s.Response().Header.Get("Connection"); c != "" {
			t.Fatalf("Connection: %s sent", c)
		}
		roundTrip(t, s, []byte("x"))
		s.Close()
	}
	if !cc.usable() {
		t.Fatal("connection got GOAWAY")
	}
}

// TestServerStreamClientGoneWhileReading checks the reads after the
// client's END_STREAM and RST_STREAM CANCEL, which cancel the request's
// context while the body still holds data: nothing is lost, and the
// handler's read ends with EOF rather than hanging.
func TestServerStreamClientGoneWhileReading(t *testing.T) {
	got := make(chan string, 1)
	srv := newServer(t, false, serveStream(t, func(ss *ServerStream) {
		b, err := io.ReadAll(ss)
		got <- string(b) + " " + errString(err)
	}))
	cc := srv.clientConn(t, nil)
	for i := range 100 {
		s := open(t, cc, srv.request("/"))
		s.Write([]byte("abc"))
		s.Close()
		select {
		case g := <-got:
			if g != "abc <nil>" {
				t.Fatalf("round %d: handler read %q", i, g)
			}
		case <-time.After(testTimeout):
			t.Fatalf("round %d: handler still reading", i)
		}
	}
}

// TestServerStreamWaitRead checks WaitRead, the wait without a buffer: it
// obeys the read deadline, returns once DATA is there without taking it,
// and then returns the body's end.
func TestServerStreamWaitRead(t *testing.T) {
	sent := make(chan struct{})
	h, errc := handlerResult(t, func(ss *ServerStream) error {
		ss.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if err := ss.WaitRead(); !errors.Is(err, os.ErrDeadlineExceeded) {
			return errors.New("wait with a deadline: " + errString(err))
		}
		ss.SetReadDeadline(time.Time{})
		close(sent)
		if err := ss.WaitRead(); err != nil {
			return errors.New("wait for data: " + errString(err))
		}
		if err := ss.WaitRead(); err != nil {
			return errors.New("wait with data buffered: " + errString(err))
		}
		b := make([]byte, 5)
		if _, err := io.ReadFull(ss, b); err != nil || string(b) != "hello" {
			return errors.New("read after the wait: " + string(b) + errString(err))
		}
		if err := ss.WaitRead(); err != io.EOF {
			return errors.New("wait at the end: " + errString(err))
		}
		return nil
	})
	srv := newServer(t, true, h)
	s := open(t, srv.clientConn(t, nil), srv.request("/"))
	<-sent
	s.Write([]byte("hello"))
	s.CloseWrite()
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
}
