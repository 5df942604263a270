//go:build !js

package websocket

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func wsURL(s *httptest.Server) string { return "ws" + strings.TrimPrefix(s.URL, "http") }

// fakeServer answers each connection with what respond returns for the
// request's key.
func fakeServer(t *testing.T, respond func(key string) string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				req, err := http.ReadRequest(bufio.NewReader(nc))
				if err != nil {
					return
				}
				io.WriteString(nc, respond(req.Header.Get("Sec-WebSocket-Key")))
				time.Sleep(100 * time.Millisecond)
			}()
		}
	}()
	return "ws://" + ln.Addr().String() + "/"
}

func TestDialRejectsBadResponses(t *testing.T) {
	ok := func(key string) string {
		return "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + acceptKey(key) + "\r\n"
	}
	tests := []struct {
		name    string
		respond func(key string) string
	}{
		{"4.1/status 200", func(string) string { return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nno" }},
		{"4.1/no Upgrade", func(k string) string { return strings.Replace(ok(k), "Upgrade: websocket\r\n", "", 1) + "\r\n" }},
		{"4.1/no Connection", func(k string) string { return strings.Replace(ok(k), "Connection: Upgrade\r\n", "", 1) + "\r\n" }},
		{"4.1/wrong accept key", func(k string) string { return ok("AAAAAAAAAAAAAAAAAAAAAA==") + "\r\n" }},
		{"4.1/unoffered subprotocol", func(k string) string { return ok(k) + "Sec-WebSocket-Protocol: evil\r\n\r\n" }},
		{"4.1/unoffered extension", func(k string) string { return ok(k) + "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n" }},
		{"huge response header", func(k string) string {
			return ok(k) + "X-Big: " + strings.Repeat("a", 2*maxResponseHeader) + "\r\n\r\n"
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := fakeServer(t, tt.respond)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, _, err := Dial(ctx, u, &DialOptions{Subprotocols: []string{"chat"}})
			if err == nil {
				c.CloseNow()
				t.Fatal("Dial succeeded")
			}
			if !errors.Is(err, ErrBadHandshake) {
				t.Fatalf("Dial = %v, want ErrBadHandshake", err)
			}
		})
	}
	t.Run("valid response with a frame right behind it", func(t *testing.T) {
		u := fakeServer(t, func(k string) string { return ok(k) + "\r\n" + string(unhex("81 05 48 65 6c 6c 6f")) })
		c, resp, err := Dial(context.Background(), u, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if resp.StatusCode != 101 {
			t.Errorf("status %d", resp.StatusCode)
		}
		if _, b, err := c.Read(context.Background()); err != nil || string(b) != "Hello" {
			t.Fatalf("Read = %q, %v", b, err)
		}
	})
	t.Run("refusal keeps the response for the caller", func(t *testing.T) {
		u := fakeServer(t, func(string) string {
			return "HTTP/1.1 403 Forbidden\r\nContent-Length: 6\r\n\r\nbanned"
		})
		_, resp, err := Dial(context.Background(), u, nil)
		if err == nil || resp == nil || resp.StatusCode != 403 {
			t.Fatalf("Dial = %v, %v", resp, err)
		}
		if b, _ := io.ReadAll(resp.Body); string(b) != "banned" {
			t.Errorf("body %q", b)
		}
	})
}

func TestDialContextBoundsHandshake(t *testing.T) {
	// A server that accepts TCP and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			defer nc.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err = Dial(ctx, "ws://"+ln.Addr().String(), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Dial = %v, want deadline exceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Dial took %v", d)
	}
}

func TestDialOptions(t *testing.T) {
	var gotHeader atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader.Store(r.Header.Clone())
		c, err := Accept(w, r, &AcceptOptions{Subprotocols: []string{"v2"}})
		if err != nil {
			return
		}
		c.Close(StatusNormalClosure, "")
	}))
	defer srv.Close()
	c, _, err := Dial(context.Background(), wsURL(srv), &DialOptions{
		Header:       http.Header{"Authorization": {"Bearer x"}},
		Subprotocols: []string{"v1", "v2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "v2" {
		t.Errorf("Subprotocol = %q", c.Subprotocol())
	}
	h := gotHeader.Load().(http.Header)
	if h.Get("Authorization") != "Bearer x" || h.Get("Sec-WebSocket-Protocol") != "v1, v2" {
		t.Errorf("request headers %v", h)
	}
	if _, _, err := Dial(context.Background(), wsURL(srv), &DialOptions{Header: http.Header{"Sec-WebSocket-Key": {"x"}}}); err == nil {
		t.Error("Dial accepted a handshake header from the caller")
	}
	if _, _, err := Dial(context.Background(), "ftp://x", nil); err == nil {
		t.Error("Dial accepted an ftp URL")
	}
}

// An HTTP proxy that supports CONNECT, as the client meets one in the
// field; it counts the tunnels it made and checks credentials.
func TestDialThroughProxy(t *testing.T) {
	srv := httptest.NewServer(&Handler{Serve: func(c *Conn, r *http.Request) {
		typ, b, err := c.Read(context.Background())
		if err == nil {
			c.Write(context.Background(), typ, b)
		}
	}})
	defer srv.Close()
	var tunnels atomic.Int32
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect || r.Header.Get("Proxy-Authorization") != "Basic dXNlcjpwYXNz" {
			http.Error(w, "no", http.StatusProxyAuthRequired)
			return
		}
		up, err := net.Dial("tcp", r.Host)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer up.Close()
		nc, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer nc.Close()
		io.WriteString(nc, "HTTP/1.1 200 Connection established\r\n\r\n")
		tunnels.Add(1)
		go func() { io.Copy(up, brw); up.Close() }()
		io.Copy(nc, up)
	}))
	defer proxy.Close()
	pu, _ := url.Parse(proxy.URL)
	pu.User = url.UserPassword("user", "pass")
	c, _, err := Dial(context.Background(), wsURL(srv), &DialOptions{Proxy: http.ProxyURL(pu)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.Write(context.Background(), MessageText, []byte("via proxy"))
	if _, b, err := c.Read(context.Background()); err != nil || string(b) != "via proxy" {
		t.Fatalf("Read = %q, %v", b, err)
	}
	if tunnels.Load() != 1 {
		t.Errorf("%d tunnels", tunnels.Load())
	}
	pu.User = url.UserPassword("user", "wrong")
	if _, _, err := Dial(context.Background(), wsURL(srv), &DialOptions{Proxy: http.ProxyURL(pu)}); err == nil || !strings.Contains(err.Error(), "407") {
		t.Errorf("Dial with bad credentials = %v", err)
	}
}

func TestDialTLS(t *testing.T) {
	srv := httptest.NewTLSServer(&Handler{Serve: func(c *Conn, r *http.Request) {
		typ, b, err := c.Read(context.Background())
		if err == nil {
			c.Write(context.Background(), typ, b)
		}
	}})
	defer srv.Close()
	u := "wss" + strings.TrimPrefix(srv.URL, "https")
	if _, _, err := Dial(context.Background(), u, nil); err == nil {
		t.Fatal("Dial trusted an unknown certificate")
	}
	c, _, err := Dial(context.Background(), u, &DialOptions{TLSConfig: srv.Client().Transport.(*http.Transport).TLSClientConfig})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.Write(context.Background(), MessageBinary, []byte("secure"))
	if _, b, err := c.Read(context.Background()); err != nil || string(b) != "secure" {
		t.Fatalf("Read = %q, %v", b, err)
	}
}
