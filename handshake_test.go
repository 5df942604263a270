//go:build !js

package websocket

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestAcceptKeyRFCExample(t *testing.T) {
	// RFC 6455, Section 1.3.
	if got := acceptKey("dGhlIHNhbXBsZSBub25jZQ=="); got != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
		t.Fatalf("acceptKey = %q", got)
	}
}

func validRequest() *http.Request {
	r := httptest.NewRequest(http.MethodGet, "http://example.com/chat", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	r.Header.Set("Sec-WebSocket-Version", "13")
	return r
}

func TestCheckRequest(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(r *http.Request)
		status int
	}{
		{"valid", func(r *http.Request) {}, 0},
		{"4.2.1/tokens are case-insensitive lists", func(r *http.Request) {
			r.Header.Set("Connection", "keep-alive, UPGRADE")
			r.Header.Set("Upgrade", "WebSocket")
		}, 0},
		{"4.2.1/POST", func(r *http.Request) { r.Method = http.MethodPost }, http.StatusMethodNotAllowed},
		{"4.2.1/HTTP/1.0", func(r *http.Request) { r.Proto, r.ProtoMajor, r.ProtoMinor = "HTTP/1.0", 1, 0 }, http.StatusHTTPVersionNotSupported},
		{"4.2.1/no Connection", func(r *http.Request) { r.Header.Del("Connection") }, http.StatusUpgradeRequired},
		{"4.2.1/Connection without upgrade", func(r *http.Request) { r.Header.Set("Connection", "keep-alive") }, http.StatusUpgradeRequired},
		{"4.2.1/Connection upgradex", func(r *http.Request) { r.Header.Set("Connection", "upgradex") }, http.StatusUpgradeRequired},
		{"4.2.1/no Upgrade", func(r *http.Request) { r.Header.Del("Upgrade") }, http.StatusUpgradeRequired},
		{"4.2.1/Upgrade h2c", func(r *http.Request) { r.Header.Set("Upgrade", "h2c") }, http.StatusUpgradeRequired},
		{"4.4/no version", func(r *http.Request) { r.Header.Del("Sec-WebSocket-Version") }, http.StatusUpgradeRequired},
		{"4.4/version 8", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "8") }, http.StatusUpgradeRequired},
		{"4.4/two versions", func(r *http.Request) { r.Header.Add("Sec-WebSocket-Version", "13") }, http.StatusUpgradeRequired},
		{"4.2.1/no key", func(r *http.Request) { r.Header.Del("Sec-WebSocket-Key") }, http.StatusBadRequest},
		{"4.2.1/two keys", func(r *http.Request) { r.Header.Add("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==") }, http.StatusBadRequest},
		{"4.2.1/key of 15 bytes", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j") }, http.StatusBadRequest},
		{"4.2.1/key of 17 bytes", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZXg=") }, http.StatusBadRequest},
		{"4.2.1/key not base64", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!==") }, http.StatusBadRequest},
		{"hixie-76 request", func(r *http.Request) {
			r.Header.Del("Sec-WebSocket-Key")
			r.Header.Del("Sec-WebSocket-Version")
			r.Header.Set("Sec-WebSocket-Key1", "4 @1  46546xW%0l 1 5")
			r.Header.Set("Sec-WebSocket-Key2", "12998 5 Y3 1  .P00")
		}, http.StatusUpgradeRequired},
		{"request with a body", func(r *http.Request) { r.ContentLength = 5 }, http.StatusBadRequest},
		{"chunked request", func(r *http.Request) { r.TransferEncoding = []string{"chunked"} }, http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRequest()
			tt.mutate(r)
			status, err := checkRequest(r)
			if status != tt.status || (err == nil) != (tt.status == 0) {
				t.Errorf("checkRequest = %d, %v; want %d", status, err, tt.status)
			}
		})
	}
}

func TestCheckOrigin(t *testing.T) {
	tests := []struct {
		origin   string
		patterns []string
		ok       bool
	}{
		{"", nil, true}, // not a browser
		{"http://example.com", nil, true},
		{"https://EXAMPLE.com", nil, true},
		{"http://evil.com", nil, false},
		{"http://example.com.evil.com", nil, false},
		{"null", nil, false},
		{"http://app.example.org", []string{"*.example.org"}, true},
		{"http://example.org", []string{"*.example.org"}, false},
		{"http://localhost:3000", []string{"localhost:*"}, true},
	}
	for _, tt := range tests {
		r := validRequest()
		if tt.origin != "" {
			r.Header.Set("Origin", tt.origin)
		}
		status, err := checkOrigin(r, tt.patterns)
		if (err == nil) != tt.ok || (!tt.ok && status != http.StatusForbidden) {
			t.Errorf("origin %q patterns %q: %d, %v; want ok=%v", tt.origin, tt.patterns, status, err, tt.ok)
		}
	}
}

func TestSelectSubprotocol(t *testing.T) {
	tests := []struct {
		offer   []string
		server  []string
		want    string
		wantErr bool
	}{
		{nil, []string{"chat"}, "", false},
		{[]string{"chat, superchat"}, []string{"superchat", "chat"}, "superchat", false},
		{[]string{"a", "b"}, []string{"b"}, "b", false},
		{[]string{"x"}, []string{"chat"}, "", false},
		{[]string{"chat\r\nX-Evil: 1"}, []string{"chat"}, "", true},
		{[]string{"a,,b"}, []string{"b"}, "b", false}, // empty elements are ignored
		{[]string{" , ,"}, []string{"b"}, "", false},
		{[]string{"a b"}, []string{"b"}, "", true},
	}
	for _, tt := range tests {
		h := http.Header{}
		for _, o := range tt.offer {
			h.Add("Sec-WebSocket-Protocol", o)
		}
		got, err := selectSubprotocol(h, tt.server)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("offer %q server %q = %q, %v; want %q", tt.offer, tt.server, got, err, tt.want)
		}
	}
}

// rawHandshake sends a request as bytes to a server running Accept and
// returns the response.
func rawHandshake(t *testing.T, h http.Handler, req string) (*http.Response, *bufio.Reader, net.Conn) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	nc, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	return resp, br, nc
}

const goodRequest = "GET /chat HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"

func TestAcceptResponses(t *testing.T) {
	echo := func(opts *AcceptOptions) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Custom", "kept")
			c, err := Accept(w, r, opts)
			if err != nil {
				return
			}
			defer c.CloseNow()
			typ, b, err := c.Read(context.Background())
			if err == nil {
				c.Write(context.Background(), typ, b)
			}
		})
	}
	t.Run("4.2.2/101 with the accept key", func(t *testing.T) {
		resp, _, _ := rawHandshake(t, echo(nil), goodRequest+"\r\n")
		if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" ||
			!headerHasToken(resp.Header, "Upgrade", "websocket") || !headerHasToken(resp.Header, "Connection", "upgrade") {
			t.Fatalf("response %v %v", resp.Status, resp.Header)
		}
		if resp.Header.Get("X-Custom") != "kept" {
			t.Errorf("headers set before Accept were dropped: %v", resp.Header)
		}
	})
	t.Run("4.4/426 names version 13", func(t *testing.T) {
		req := strings.Replace(goodRequest, "Version: 13", "Version: 8", 1) + "\r\n"
		resp, _, _ := rawHandshake(t, echo(nil), req)
		if resp.StatusCode != 426 || resp.Header.Get("Sec-WebSocket-Version") != "13" {
			t.Fatalf("response %v %v", resp.Status, resp.Header)
		}
	})
	t.Run("10.2/cross-origin request forbidden", func(t *testing.T) {
		resp, _, _ := rawHandshake(t, echo(nil), goodRequest+"Origin: http://evil.com\r\n\r\n")
		if resp.StatusCode != 403 {
			t.Fatalf("status %v", resp.Status)
		}
		resp, _, _ = rawHandshake(t, echo(&AcceptOptions{InsecureSkipVerify: true}), goodRequest+"Origin: http://evil.com\r\n\r\n")
		if resp.StatusCode != 101 {
			t.Fatalf("InsecureSkipVerify: status %v", resp.Status)
		}
	})
	t.Run("subprotocol chosen by server preference", func(t *testing.T) {
		opts := &AcceptOptions{Subprotocols: []string{"v2", "v1"}}
		resp, _, _ := rawHandshake(t, echo(opts), goodRequest+"Sec-WebSocket-Protocol: v1, v2\r\n\r\n")
		if got := resp.Header.Values("Sec-WebSocket-Protocol"); len(got) != 1 || got[0] != "v2" {
			t.Fatalf("subprotocol %q", got)
		}
	})
	t.Run("CR LF never reaches the response headers", func(t *testing.T) {
		resp, _, _ := rawHandshake(t, echo(&AcceptOptions{Subprotocols: []string{"a"}}), goodRequest+"Sec-WebSocket-Protocol: a\rX-Injected: 1\r\n\r\n")
		if resp.Header.Get("X-Injected") != "" {
			t.Fatalf("header injected: %v", resp.Header)
		}
	})
	t.Run("bytes sent with the request are not lost", func(t *testing.T) {
		// Half of the RFC 6455, Section 5.7 masked frame rides in the same
		// write as the request, so the server's reader buffers it before
		// Accept runs; the rest follows later.
		frame := unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58")
		resp, br, nc := rawHandshake(t, echo(nil), goodRequest+"\r\n"+string(frame[:6]))
		if resp.StatusCode != 101 {
			t.Fatalf("status %v", resp.Status)
		}
		nc.Write(frame[6:])
		got := make([]byte, 7)
		if _, err := io.ReadFull(br, got); err != nil || !bytes.Equal(got, unhex("81 05 48 65 6c 6c 6f")) {
			t.Fatalf("echo = % x, %v", got, err)
		}
	})
}

// FuzzCheckRequest feeds arbitrary header values to the handshake checks:
// they must never panic, and must accept only what the RFC allows.
func FuzzCheckRequest(f *testing.F) {
	f.Add("GET", "websocket", "Upgrade", "dGhlIHNhbXBsZSBub25jZQ==", "13", "chat, v2", "http://example.com")
	f.Add("GET", "WebSocket, x", "keep-alive,upgrade", "AAAAAAAAAAAAAAAAAAAAAA==", "13", ",,", "null")
	f.Fuzz(func(t *testing.T, method, upgrade, connection, key, version, protocols, origin string) {
		r := httptest.NewRequest(http.MethodGet, "http://example.com/", nil)
		r.Method = method
		r.Header["Upgrade"] = []string{upgrade}
		r.Header["Connection"] = []string{connection}
		r.Header["Sec-Websocket-Key"] = []string{key}
		r.Header["Sec-Websocket-Version"] = []string{version}
		r.Header["Sec-Websocket-Protocol"] = []string{protocols}
		r.Header["Origin"] = []string{origin}
		status, err := checkRequest(r)
		if err == nil {
			if method != "GET" || !validKey(key) || strings.TrimSpace(version) != "13" {
				t.Fatalf("accepted method %q key %q version %q", method, key, version)
			}
		} else if status < 400 || status > 505 {
			t.Fatalf("status %d for %v", status, err)
		}
		checkOrigin(r, []string{"*.example.com"})
		p, err := selectSubprotocol(r.Header, []string{"chat", "v2"})
		if err == nil && p != "" && p != "chat" && p != "v2" {
			t.Fatalf("selected %q", p)
		}
	})
}
