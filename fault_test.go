//go:build !js

package websocket

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Faults: slow and stalled peers, unanswered closes, and connections that
// drop at every stage. Each case is bounded in time, ends in a documented
// error, and leaves no goroutine behind (TestMain checks the last part
// for the whole run; each test waits for the goroutines it starts).

// An http.Server with ReadHeaderTimeout gives up on a handshake trickled
// one byte at a time; Accept never runs and the server stays healthy.
func TestFaultTrickledHandshake(t *testing.T) {
	const timeout = 300 * time.Millisecond
	srv := newHandshakeServer(t, nil, func(s *http.Server) { s.ReadHeaderTimeout = timeout }, nil)
	nc, err := net.Dial("tcp", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	req := request()
	start := time.Now()
	writeErr := make(chan error, 1)
	go func() {
		for i := 0; i < len(req); i++ {
			if _, err := nc.Write([]byte{req[i]}); err != nil {
				writeErr <- err
				return
			}
			time.Sleep(10 * time.Millisecond) // the whole request would take 1.5 s
		}
		writeErr <- nil
	}()
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	b, err := io.ReadAll(nc)
	d := time.Since(start)
	// net/http closes, at most after a 400 or 408 naming no WebSocket.
	if len(b) > 0 && !strings.HasPrefix(string(b), "HTTP/1.1 408") && !strings.HasPrefix(string(b), "HTTP/1.1 400") {
		t.Errorf("the server answered a trickled request with %q", b)
	}
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read = %v, want the server to close", err)
	}
	if d < timeout-50*time.Millisecond || d > timeout+time.Second {
		t.Errorf("the server gave up after %v; ReadHeaderTimeout is %v", d, timeout)
	}
	nc.Close()
	within(t, "trickling writer", 5*time.Second, writeErr)
	if srv.accepted.Load()+srv.refused.Load() != 0 {
		t.Errorf("Accept ran on a trickled request")
	}
	srv.healthy(t)
}

// A peer that never reads: every write is bounded by its context, and
// Close is bounded by the close timeout even with a write stuck.
func TestFaultPeerNeverReads(t *testing.T) {
	// Small socket buffers, so a stalled peer stops writes quickly.
	stall := func(c *Conn, p *rawPeer) {
		c.nc.(*net.TCPConn).SetWriteBuffer(16 << 10)
		p.nc.(*net.TCPConn).SetReadBuffer(16 << 10)
	}
	big := make([]byte, 1<<20)
	for _, client := range []bool{false, true} {
		role := map[bool]string{false: "server", true: "client"}[client]
		t.Run(role+"/Write", func(t *testing.T) {
			c, p := newTestConn(t, client, connConfig{})
			stall(c, p)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			start := time.Now()
			var err error
			for i := 0; i < 1000 && err == nil; i++ {
				err = c.Write(ctx, MessageBinary, big)
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Write = %v, want deadline exceeded", err)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("Write returned after %v", d)
			}
		})
		t.Run(role+"/Writer", func(t *testing.T) {
			c, p := newTestConn(t, client, connConfig{})
			stall(c, p)
			ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
			defer cancel()
			w, err := c.Writer(ctx, MessageBinary)
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 1000 && err == nil; i++ {
				_, err = w.Write(big[:64<<10])
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Writer.Write = %v, want deadline exceeded", err)
			}
			w.Close()
		})
		t.Run(role+"/Ping, Write and Close behind a stuck write", func(t *testing.T) {
			c, p := newTestConn(t, client, connConfig{closeTimeout: 300 * time.Millisecond})
			stall(c, p)
			stuck := make(chan error, 1)
			go func() {
				var err error
				for err == nil {
					err = c.Write(context.Background(), MessageBinary, big)
				}
				stuck <- err
			}()
			time.Sleep(100 * time.Millisecond) // let it fill the buffers
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancel()
			if err := c.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Ping = %v, want deadline exceeded", err)
			}
			if err := c.Write(ctx, MessageText, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Write = %v, want deadline exceeded", err)
			}
			start := time.Now()
			closeErr := make(chan error, 1)
			go func() { closeErr <- c.Close(StatusNormalClosure, "") }()
			if err := within(t, "Close", 3*time.Second, closeErr); err == nil {
				t.Errorf("Close = nil with a frame cut short")
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("Close took %v with a close timeout of 300ms", d)
			}
			if err := within(t, "the stuck Write", 3*time.Second, stuck); !errors.Is(err, net.ErrClosed) {
				t.Errorf("stuck Write = %v, want net.ErrClosed", err)
			}
		})
	}
}

// The closing handshake never completes: Close is bounded by the close
// timeout, whatever the peer does instead of answering.
func TestFaultCloseNotAnswered(t *testing.T) {
	const closeTimeout = 200 * time.Millisecond
	bounded := func(t *testing.T, f func() error) (error, time.Duration) {
		t.Helper()
		ch := make(chan error, 1)
		start := time.Now()
		go func() { ch <- f() }()
		err := within(t, "Close", closeTimeout+3*time.Second, ch)
		return err, time.Since(start)
	}
	for _, client := range []bool{false, true} {
		role := map[bool]string{false: "server", true: "client"}[client]
		t.Run(role+"/peer silent", func(t *testing.T) {
			c, p := newTestConn(t, client, connConfig{closeTimeout: closeTimeout})
			closeErr := make(chan error, 1)
			start := time.Now()
			go func() { closeErr <- c.Close(StatusGoingAway, "") }()
			p.wantClose(StatusGoingAway)
			err := within(t, "Close", closeTimeout+3*time.Second, closeErr)
			d := time.Since(start)
			if !errors.Is(err, ErrCloseTimeout) {
				t.Errorf("Close = %v, want %v", err, ErrCloseTimeout)
			}
			if d < closeTimeout-50*time.Millisecond || d > closeTimeout+time.Second {
				t.Errorf("Close took %v, close timeout %v", d, closeTimeout)
			}
			p.wantEOF()
		})
		t.Run(role+"/peer silent, reader running", func(t *testing.T) {
			c, p := newTestConn(t, client, connConfig{closeTimeout: closeTimeout})
			readErr := goRead(c)
			go io.Copy(io.Discard, p.nc)
			err, d := bounded(t, func() error { return c.Close(StatusNormalClosure, "") })
			if !errors.Is(err, ErrCloseTimeout) || d > closeTimeout+time.Second {
				t.Errorf("Close = %v after %v, want %v", err, d, ErrCloseTimeout)
			}
			if err := within(t, "Read", 3*time.Second, readErr); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Read = %v, want net.ErrClosed", err)
			}
		})
		t.Run(role+"/peer floods data instead of answering", func(t *testing.T) {
			c, p := newTestConn(t, client, connConfig{closeTimeout: closeTimeout})
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				frame := p.frame(true, opBinary, make([]byte, 1000))
				for {
					select {
					case <-stop:
						return
					default:
					}
					if _, err := p.nc.Write(frame); err != nil {
						return
					}
				}
			}()
			err, d := bounded(t, func() error { return c.Close(StatusNormalClosure, "") })
			if !errors.Is(err, ErrCloseTimeout) || d > closeTimeout+time.Second {
				t.Errorf("Close = %v after %v, want %v", err, d, ErrCloseTimeout)
			}
		})
	}
	t.Run("client/server answers but never closes TCP", func(t *testing.T) {
		c, p := newTestConn(t, true, connConfig{closeTimeout: closeTimeout})
		closeErr := make(chan error, 1)
		start := time.Now()
		go func() { closeErr <- c.Close(StatusNormalClosure, "") }()
		p.wantClose(StatusNormalClosure)
		p.send(true, opClose, closePayload(StatusNormalClosure, ""))
		// Then it floods, and never closes.
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			frame := p.frame(true, opBinary, make([]byte, 1000))
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := p.nc.Write(frame); err != nil {
					return
				}
			}
		}()
		err := within(t, "Close", closeTimeout+3*time.Second, closeErr)
		// The handshake completed: nil, after waiting at most the close
		// timeout for the server to close TCP.
		if err != nil {
			t.Errorf("Close = %v, want nil", err)
		}
		if d := time.Since(start); d > closeTimeout+time.Second {
			t.Errorf("Close took %v", d)
		}
	})
	t.Run("server/fails the connection while the peer floods", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{closeTimeout: closeTimeout})
		go func() {
			// An unmasked frame, then an endless flood.
			p.nc.Write(appendHeader(nil, header{fin: true, op: opText}))
			frame := p.frame(true, opBinary, make([]byte, 1000))
			for {
				if _, err := p.nc.Write(frame); err != nil {
					return
				}
			}
		}()
		start := time.Now()
		err := within(t, "Read", closeTimeout+3*time.Second, goRead(c))
		var pe *ProtocolError
		if !errors.As(err, &pe) || pe.Code != StatusProtocolError {
			t.Fatalf("Read = %v, want 1002", err)
		}
		if d := time.Since(start); d > closeTimeout+time.Second {
			t.Errorf("Read took %v to fail", d)
		}
		p.wantClose(StatusProtocolError)
	})
}

// The TCP connection drops mid-frame, mid-message, mid-close: reads end in
// a clear 1006 error, with FIN and with RST, and nothing hangs.
func TestFaultAbruptClose(t *testing.T) {
	frames := func(p *rawPeer) map[string][]byte {
		long := p.frame(true, opBinary, make([]byte, 70000)) // 64-bit length
		mid := p.frame(true, opBinary, make([]byte, 300))    // 16-bit length
		return map[string][]byte{
			"after 1 header byte":                long[:1],
			"inside the 16-bit length":           mid[:3],
			"inside the 64-bit length":           long[:6],
			"inside the masking key or payload":  long[:11],
			"inside the payload":                 long[:1000],
			"one byte before the end":            mid[:len(mid)-1],
			"between fragments":                  p.frame(false, opText, []byte("first")),
			"inside a ping":                      p.frame(true, opPing, []byte("ping!"))[:4],
			"inside a close frame":               p.frame(true, opClose, closePayload(StatusNormalClosure, "bye"))[:5],
			"inside a close frame's code":        p.frame(true, opClose, closePayload(StatusNormalClosure, ""))[:3],
			"after a ping, before its pong read": p.frame(true, opPing, []byte("x")),
		}
	}
	for _, client := range []bool{false, true} {
		for _, rst := range []bool{false, true} {
			name := map[bool]string{false: "server", true: "client"}[client] + map[bool]string{false: "/FIN", true: "/RST"}[rst]
			t.Run(name, func(t *testing.T) {
				for cut, b := range frames(&rawPeer{client: !client}) {
					t.Run(cut, func(t *testing.T) {
						c, p := newTestConn(t, client, connConfig{})
						readErr := goRead(c)
						p.write(b)
						time.Sleep(5 * time.Millisecond)
						if rst {
							reset(p.nc)
						} else {
							p.nc.Close()
						}
						err := within(t, "Read", 5*time.Second, readErr)
						if !isConnLost(err) {
							t.Fatalf("Read = %v (%T), want a 1006 connection-lost error", err, err)
						}
						// After FIN the read sees EOF, unless the Conn
						// answered a ping into the closed socket first and
						// got the peer's RST back.
						if !rst && !strings.Contains(cut, "ping") && !errors.Is(err, io.ErrUnexpectedEOF) {
							t.Errorf("Read = %v, want io.ErrUnexpectedEOF after FIN", err)
						}
						// Sticky.
						if _, _, err2 := c.Read(context.Background()); err2 != err {
							t.Errorf("second Read = %v, want %v", err2, err)
						}
					})
				}
			})
		}
	}
	t.Run("mid-payload through Reader", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		frame := p.frame(true, opBinary, make([]byte, 10000))
		p.write(frame[:5000])
		_, r, err := c.Reader(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		p.nc.Close()
		n, err := io.Copy(io.Discard, r)
		if !isConnLost(err) || n > 10000 {
			t.Fatalf("read %d bytes, %v; want a 1006 error", n, err)
		}
	})
	for _, client := range []bool{false, true} {
		role := map[bool]string{false: "server", true: "client"}[client]
		t.Run(role+"/Close, then the peer drops TCP without answering", func(t *testing.T) {
			for _, rst := range []bool{false, true} {
				c, p := newTestConn(t, client, connConfig{closeTimeout: 3 * time.Second})
				closeErr := make(chan error, 1)
				start := time.Now()
				go func() { closeErr <- c.Close(StatusNormalClosure, "") }()
				p.wantClose(StatusNormalClosure)
				if rst {
					reset(p.nc)
				} else {
					p.nc.Close()
				}
				err := within(t, "Close", 5*time.Second, closeErr)
				if !isConnLost(err) {
					t.Errorf("rst=%v: Close = %v, want a 1006 connection-lost error", rst, err)
				}
				if d := time.Since(start); d > time.Second {
					t.Errorf("rst=%v: Close took %v: it waited for the close timeout", rst, d)
				}
			}
		})
	}
}

// The TCP connection drops during the opening handshake, on either side.
func TestFaultAbruptHandshake(t *testing.T) {
	t.Run("server: request cut short", func(t *testing.T) {
		srv := newHandshakeServer(t, nil, nil, nil)
		req := request()
		for _, cut := range []int{1, 16, len(req) / 2, len(req) - 2} {
			for _, rst := range []bool{false, true} {
				nc, err := net.Dial("tcp", srv.addr())
				if err != nil {
					t.Fatal(err)
				}
				io.WriteString(nc, req[:cut])
				time.Sleep(5 * time.Millisecond)
				if rst {
					reset(nc)
				} else {
					nc.Close()
				}
			}
		}
		srv.healthy(t)
		if srv.acceptedCount(1) != 1 || srv.refused.Load() != 0 {
			t.Errorf("Accept ran on cut requests: %d accepted, %d refused", srv.accepted.Load(), srv.refused.Load())
		}
	})
	t.Run("server: client gone before the 101 is written", func(t *testing.T) {
		srv := newHandshakeServer(t, nil, nil, nil)
		for i := 0; i < 20; i++ {
			nc, err := net.Dial("tcp", srv.addr())
			if err != nil {
				t.Fatal(err)
			}
			io.WriteString(nc, request())
			reset(nc)
		}
		srv.healthy(t)
	})
	t.Run("client: response cut short", func(t *testing.T) {
		for _, cut := range []int{0, 1, 12, 40, 90} {
			for _, rst := range []bool{false, true} {
				t.Run(fmt.Sprintf("cut %d rst=%v", cut, rst), func(t *testing.T) {
					u := scriptServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
						resp := okResponse(key) + "\r\n"
						io.WriteString(nc, resp[:min(cut, len(resp)-1)])
						time.Sleep(5 * time.Millisecond)
						if rst {
							nc.(*net.TCPConn).SetLinger(0)
						}
						nc.Close()
					})
					_, _, err, d := dialBounded(u, 5*time.Second, nil)
					if !errors.Is(err, ErrBadHandshake) {
						t.Fatalf("Dial = %v, want ErrBadHandshake", err)
					}
					if d > 2*time.Second {
						t.Errorf("Dial took %v", d)
					}
				})
			}
		}
	})
	t.Run("client: connection drops right after the 101", func(t *testing.T) {
		u := scriptServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
			io.WriteString(nc, okResponse(key)+"\r\n")
		})
		c, _, err, _ := dialBounded(u, 5*time.Second, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if err := within(t, "Read", 5*time.Second, goRead(c)); !isConnLost(err) {
			t.Fatalf("Read = %v, want a 1006 connection-lost error", err)
		}
	})
}

// A Dial whose connection drops during the response says so in a way a
// caller can test: errors.Is(err, io.ErrUnexpectedEOF) (or io.EOF before
// any byte), or the network's error, as reads do after the handshake.
func TestFaultAbruptHandshakeError(t *testing.T) {
	for _, cut := range []int{0, 1, 12, 40, 90} {
		for _, rst := range []bool{false, true} {
			t.Run(fmt.Sprintf("cut %d rst=%v", cut, rst), func(t *testing.T) {
				u := scriptServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
					resp := okResponse(key) + "\r\n"
					io.WriteString(nc, resp[:min(cut, len(resp)-1)])
					time.Sleep(5 * time.Millisecond)
					if rst {
						nc.(*net.TCPConn).SetLinger(0)
					}
					nc.Close()
				})
				_, _, err, _ := dialBounded(u, 5*time.Second, nil)
				if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
					t.Errorf("Dial = %v, want it to wrap io.ErrUnexpectedEOF, io.EOF or ECONNRESET", err)
				}
			})
		}
	}
}
