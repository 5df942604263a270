//go:build !js

package websocket

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Dial against hostile servers: raw TCP servers that answer the opening
// handshake with whatever a test scripts.

// scriptServer accepts connections on 127.0.0.1, reads each handshake
// request and runs script with the connection, its reader and the
// request's key, in a goroutine of its own. Scripts must not call t; they
// end when the connection is closed, which cleanup does to all of them
// before waiting for them.
func scriptServer(t *testing.T, script func(nc net.Conn, br *bufio.Reader, key string)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				nc.Close()
				return
			}
			conns = append(conns, nc)
			wg.Add(1)
			mu.Unlock()
			go func() {
				defer wg.Done()
				defer nc.Close()
				br := bufio.NewReader(nc)
				nc.SetReadDeadline(time.Now().Add(5 * time.Second))
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				nc.SetReadDeadline(time.Time{})
				script(nc, br, req.Header.Get("Sec-WebSocket-Key"))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		closed = true
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("script server goroutines did not end")
		}
	})
	return "ws://" + ln.Addr().String() + "/"
}

// hold keeps a connection open, discarding what arrives, until the client
// closes it.
func hold(nc net.Conn, br *bufio.Reader) { io.Copy(io.Discard, br) }

func okResponse(key string) string {
	return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n"
}

// dialBounded dials u with a context of timeout and reports how long it
// took.
func dialBounded(u string, timeout time.Duration, opts *DialOptions) (*Conn, *http.Response, error, time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start := time.Now()
	c, resp, err := Dial(ctx, u, opts)
	return c, resp, err, time.Since(start)
}

func TestHostileDialStatus(t *testing.T) {
	for _, code := range []int{100, 102, 103, 200, 204, 301, 302, 304, 400, 401, 403, 404, 426, 500, 503} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			u := scriptServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
				// Everything a 101 needs, but the wrong status.
				fmt.Fprintf(nc, "HTTP/1.1 %d %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\nContent-Length: 0\r\n\r\n",
					code, http.StatusText(code), acceptKey(key))
				hold(nc, br)
			})
			c, resp, err, d := dialBounded(u, 5*time.Second, nil)
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, ErrBadHandshake) || resp == nil || resp.StatusCode != code {
				t.Fatalf("Dial = %v, %v; want ErrBadHandshake with the %d response", resp, err, code)
			}
			if d > 2*time.Second {
				t.Errorf("Dial took %v", d)
			}
		})
	}
}

func TestHostileDialHeaders(t *testing.T) {
	const offered = "chat"
	tests := []struct {
		name    string
		respond func(key string) string
		ok      bool
	}{
		{"valid", func(k string) string { return okResponse(k) + "\r\n" }, true},
		{"valid, offered subprotocol", func(k string) string { return okResponse(k) + "Sec-WebSocket-Protocol: chat\r\n\r\n" }, true},

		// RFC 6455, Section 4.1, the client's check 4: the accept key.
		{"accept of another key", func(k string) string { return okResponse("AAAAAAAAAAAAAAAAAAAAAA==") + "\r\n" }, false},
		{"the key itself echoed", func(k string) string {
			return strings.Replace(okResponse(k), acceptKey(k), k, 1) + "\r\n"
		}, false},
		{"accept in lower case", func(k string) string {
			return strings.Replace(okResponse(k), acceptKey(k), strings.ToLower(acceptKey(k)), 1) + "\r\n"
		}, false},
		{"accept with a suffix", func(k string) string {
			return strings.Replace(okResponse(k), acceptKey(k), acceptKey(k)+"x", 1) + "\r\n"
		}, false},
		{"accept empty", func(k string) string {
			return strings.Replace(okResponse(k), acceptKey(k), "", 1) + "\r\n"
		}, false},
		{"accept missing", func(k string) string {
			return strings.Replace(okResponse(k), "Sec-WebSocket-Accept: "+acceptKey(k)+"\r\n", "", 1) + "\r\n"
		}, false},
		{"accept twice, right and wrong", func(k string) string {
			return okResponse(k) + "Sec-WebSocket-Accept: AAAA\r\n\r\n"
		}, false},
		{"accept twice, both right", func(k string) string {
			return okResponse(k) + "Sec-WebSocket-Accept: " + acceptKey(k) + "\r\n\r\n"
		}, false},

		// Checks 5 and 6: subprotocol and extensions not offered.
		{"unoffered subprotocol", func(k string) string { return okResponse(k) + "Sec-WebSocket-Protocol: evil\r\n\r\n" }, false},
		{"subprotocol in another case", func(k string) string { return okResponse(k) + "Sec-WebSocket-Protocol: CHAT\r\n\r\n" }, false},
		{"subprotocol list", func(k string) string { return okResponse(k) + "Sec-WebSocket-Protocol: chat, chat\r\n\r\n" }, false},
		{"subprotocol twice", func(k string) string {
			return okResponse(k) + "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
		}, false},
		{"subprotocol empty", func(k string) string { return okResponse(k) + "Sec-WebSocket-Protocol:\r\n\r\n" }, false},
		{"unoffered extension", func(k string) string {
			return okResponse(k) + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
		}, false},
		{"empty extension header", func(k string) string { return okResponse(k) + "Sec-WebSocket-Extensions:\r\n\r\n" }, false},

		// Checks 2 and 3.
		{"Upgrade h2c", func(k string) string {
			return strings.Replace(okResponse(k), "Upgrade: websocket", "Upgrade: h2c", 1) + "\r\n"
		}, false},
		{"Connection close", func(k string) string {
			return strings.Replace(okResponse(k), "Connection: Upgrade", "Connection: close", 1) + "\r\n"
		}, false},

		// Not HTTP.
		{"garbage", func(k string) string { return "\x00\x01\x02 not http at all\r\n\r\n" }, false},
		{"HTTP/2 preface", func(k string) string { return "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" }, false},
		{"status line only", func(k string) string { return "HTTP/1.1 101\r\n\r\n" }, false},
		{"status 101 in HTTP/0.9 style", func(k string) string { return "101\r\n\r\n" }, false},
		{"status out of range", func(k string) string { return "HTTP/1.1 1010 Switching\r\n\r\n" }, false},
		{"header line without a colon", func(k string) string { return okResponse(k) + "no colon here\r\n\r\n" }, false},
		{"CR LF injected in the status text", func(k string) string {
			return "HTTP/1.1 101 Switching\rSec-WebSocket-Accept: x\r\n\r\n"
		}, false},

		// Check 4 again with a response header just under and over the
		// 64 KiB bound.
		{"60 KiB of headers", func(k string) string {
			return okResponse(k) + "X-Pad: " + strings.Repeat("p", 60<<10) + "\r\n\r\n"
		}, true},
		{"70 KiB of headers", func(k string) string {
			return okResponse(k) + "X-Pad: " + strings.Repeat("p", 70<<10) + "\r\n\r\n"
		}, false},
		{"10,000 header lines", func(k string) string {
			return okResponse(k) + strings.Repeat("X-Pad: p\r\n", 10000) + "\r\n"
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := scriptServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
				io.WriteString(nc, tt.respond(key))
				hold(nc, br)
			})
			c, _, err, d := dialBounded(u, 5*time.Second, &DialOptions{Subprotocols: []string{offered}})
			if d > 2*time.Second {
				t.Errorf("Dial took %v", d)
			}
			if tt.ok {
				if err != nil {
					t.Fatalf("Dial = %v", err)
				}
				c.CloseNow()
				return
			}
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, ErrBadHandshake) {
				t.Fatalf("Dial = %v, want ErrBadHandshake", err)
			}
		})
	}
}

// A response header that never ends is bounded by the 64 KiB limit when
// it comes fast, and by the context when it comes slowly.
func TestHostileDialEndlessResponse(t *testing.T) {
	t.Run("fast: 64 KiB limit", func(t *testing.T) {
		for name, line := range map[string]string{
			"header lines":   "X-More: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
			"one long line":  "a",
			"blank-ish junk": " \t",
		} {
			t.Run(name, func(t *testing.T) {
				u := scriptServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
					io.WriteString(nc, okResponse(key))
					chunk := strings.Repeat(line, 4096/len(line))
					for {
						if _, err := io.WriteString(nc, chunk); err != nil {
							return
						}
					}
				})
				_, _, err, d := dialBounded(u, 10*time.Second, nil)
				// The error may name the limit, or the truncated line
				// textproto saw when the limit cut it.
				if !errors.Is(err, ErrBadHandshake) {
					t.Fatalf("Dial = %.200v, want ErrBadHandshake", err)
				}
				if d > 5*time.Second {
					t.Errorf("Dial took %v: not bounded by the 64 KiB limit", d)
				}
			})
		}
	})
	t.Run("slow: context", func(t *testing.T) {
		u := scriptServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
			resp := okResponse(key)
			for i := 0; ; i++ {
				b := "X"
				if i < len(resp) {
					b = resp[i : i+1]
				}
				if _, err := io.WriteString(nc, b); err != nil {
					return
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
		_, _, err, d := dialBounded(u, 300*time.Millisecond, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial = %v, want deadline exceeded", err)
		}
		if d > 2*time.Second {
			t.Errorf("Dial took %v", d)
		}
	})
	t.Run("status but no header end: context", func(t *testing.T) {
		u := scriptServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
			io.WriteString(nc, okResponse(key))
			hold(nc, br)
		})
		_, _, err, d := dialBounded(u, 300*time.Millisecond, nil)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Dial = %v, want deadline exceeded", err)
		}
		if d > 2*time.Second {
			t.Errorf("Dial took %v", d)
		}
	})
}

// The body of a refused handshake, which Dial reads (up to 1 KiB) for the
// caller, is bounded by the context too.
func TestHostileDialRefusalBody(t *testing.T) {
	for name, resp := range map[string]string{
		"Content-Length larger than sent": "HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\nshort",
		"no Content-Length":               "HTTP/1.1 200 OK\r\n\r\nbody until EOF",
		"unterminated chunked":            "HTTP/1.1 500 Oops\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			u := scriptServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
				io.WriteString(nc, resp)
				hold(nc, br)
			})
			done := make(chan error, 1)
			go func() {
				_, _, err, _ := dialBounded(u, 300*time.Millisecond, nil)
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, ErrBadHandshake) && !errors.Is(err, context.DeadlineExceeded) {
					t.Fatalf("Dial = %v", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Dial did not return 2 s after its 300 ms context ended")
			}
		})
	}
}

// readCloseFrame reads frames sent by a client until a close frame and
// returns its code. It is for server goroutines: it never calls t.
func readCloseFrame(nc net.Conn, br *bufio.Reader) (StatusCode, error) {
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var hb []byte
		var h header
		for {
			c, err := br.ReadByte()
			if err != nil {
				return 0, err
			}
			hb = append(hb, c)
			var n int
			if h, n, err = parseHeader(hb); err != nil {
				return 0, err
			} else if n > 0 {
				break
			}
		}
		if h.length > 1<<20 {
			return 0, fmt.Errorf("frame of %d bytes", h.length)
		}
		payload := make([]byte, h.length)
		if _, err := io.ReadFull(br, payload); err != nil {
			return 0, err
		}
		if !h.masked {
			return 0, errors.New("client frame not masked")
		}
		mask(payload, h.key)
		if h.op == opClose {
			if len(payload) < 2 {
				return StatusNoStatusReceived, nil
			}
			return StatusCode(binary.BigEndian.Uint16(payload)), nil
		}
	}
}

// RFC 6455, Section 5.1: a client that receives a masked frame fails the
// connection with 1002, whether the frame came with the 101 or after it.
func TestHostileDialMaskedFrames(t *testing.T) {
	masked := (&rawPeer{client: true}).frame(true, opText, []byte("masked"))
	for _, together := range []bool{true, false} {
		t.Run(fmt.Sprintf("with the 101=%v", together), func(t *testing.T) {
			codes := make(chan StatusCode, 1)
			u := scriptServer(t, func(nc net.Conn, br *bufio.Reader, key string) {
				if together {
					io.WriteString(nc, okResponse(key)+"\r\n"+string(masked))
				} else {
					io.WriteString(nc, okResponse(key)+"\r\n")
					time.Sleep(20 * time.Millisecond)
					nc.Write(masked)
				}
				code, err := readCloseFrame(nc, br)
				if err != nil {
					code = -1
				}
				codes <- code
				// Answer, then close: the client waits for it.
				nc.Write((&rawPeer{}).frame(true, opClose, closePayload(code, "")))
			})
			c, _, err, _ := dialBounded(u, 5*time.Second, &DialOptions{ConnOptions: ConnOptions{CloseTimeout: time.Second}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.CloseNow()
			_, _, err = c.Read(context.Background())
			var pe *ProtocolError
			if !errors.As(err, &pe) || pe.Code != StatusProtocolError {
				t.Fatalf("Read = %v, want a 1002 ProtocolError", err)
			}
			if code := <-codes; code != StatusProtocolError {
				t.Fatalf("server received close %v, want 1002", code)
			}
		})
	}
}
