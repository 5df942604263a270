//go:build !js

package websocket

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Hostile opening handshakes sent as raw bytes to a real net/http server
// running Accept: every status is asserted, the server never panics and
// keeps serving, and crafted header values cost linear time.

// handshakeServer is an httptest server whose handler runs Accept and
// echoes one message. It counts the outcomes and records what the
// http.Server logs, where a handler panic would show.
type handshakeServer struct {
	*httptest.Server
	accepted, refused atomic.Int32
	logMu             sync.Mutex
	log               bytes.Buffer
}

func newHandshakeServer(t *testing.T, opts *AcceptOptions, configure func(*http.Server), before func(http.ResponseWriter, *http.Request)) *handshakeServer {
	t.Helper()
	s := &handshakeServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if before != nil {
			before(w, r)
		}
		c, err := Accept(w, r, opts)
		if err != nil {
			s.refused.Add(1)
			return
		}
		s.accepted.Add(1)
		defer c.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if typ, b, err := c.Read(ctx); err == nil {
			c.Write(ctx, typ, b)
		}
	}))
	s.Config.ErrorLog = log.New(s, "", 0)
	if configure != nil {
		configure(s.Config)
	}
	s.Start()
	t.Cleanup(func() {
		s.Close()
		if l := s.logged(); strings.Contains(l, "panic") {
			t.Errorf("the server panicked:\n%s", l)
		}
	})
	return s
}

func (s *handshakeServer) Write(p []byte) (int, error) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.Write(p)
}

func (s *handshakeServer) logged() string {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	return s.log.String()
}

func (s *handshakeServer) addr() string { return s.Listener.Addr().String() }

// acceptedCount waits up to 2 s for the count of successful Accepts to
// reach want and returns it: a handler counts its Conn only after Accept
// has sent the 101 the client already read.
func (s *handshakeServer) acceptedCount(want int32) int32 {
	deadline := time.Now().Add(2 * time.Second)
	for s.accepted.Load() != want && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	return s.accepted.Load()
}

// healthy checks the server still completes a real handshake and echoes.
func (s *handshakeServer) healthy(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := Dial(ctx, wsURL(s.Server), &DialOptions{Subprotocols: []string{"chat"}})
	if err != nil {
		t.Fatalf("server no longer healthy: Dial = %v", err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, MessageText, []byte("alive?")); err != nil {
		t.Fatal(err)
	}
	if _, b, err := c.Read(ctx); err != nil || string(b) != "alive?" {
		t.Fatalf("server no longer healthy: echo %q, %v", b, err)
	}
}

// exchange sends req on a new connection to addr and returns the response
// and its header block exactly as the server sent it. The request is
// written from another goroutine, so a server that answers before reading
// all of it (431) is seen.
func exchange(t testing.TB, addr, req string) (*http.Response, string) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(nc, req)
	br := bufio.NewReader(nc)
	var head strings.Builder
	for {
		line, err := br.ReadString('\n')
		head.WriteString(line)
		if err != nil {
			t.Fatalf("reading the response: %v (got %q)", err, head.String())
		}
		if line == "\r\n" || line == "\n" {
			break
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(strings.NewReader(head.String()), br)), nil)
	if err != nil {
		t.Fatalf("parsing the response %q: %v", head.String(), err)
	}
	return resp, head.String()
}

// statusOf sends req on a new connection and returns the status of the
// response, or -1; it is for goroutines other than the test's.
func statusOf(addr, req string) int {
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return -1
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	go io.WriteString(nc, req)
	resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil {
		return -1
	}
	return resp.StatusCode
}

// timeExchange returns how long the fastest of runs exchanges of req took,
// checking each answered with status. A collection runs before each, so
// that garbage from the previous one is not paid for in this one.
func timeExchange(t *testing.T, addr, req string, status, runs int) time.Duration {
	t.Helper()
	best := time.Duration(1<<63 - 1)
	for i := 0; i < runs; i++ {
		runtime.GC()
		start := time.Now()
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		nc.SetDeadline(time.Now().Add(20 * time.Second))
		go io.WriteString(nc, req)
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		d := time.Since(start)
		nc.Close()
		if err != nil {
			t.Fatalf("reading the response: %v", err)
		}
		if resp.StatusCode != status {
			t.Fatalf("status %d, want %d", resp.StatusCode, status)
		}
		best = min(best, d)
	}
	return best
}

// perOp returns the time one call of f takes: the best of three batches,
// each of as many calls as fit in 10 ms (at least one), so that a
// descheduling or a collection in one call does not decide the result.
func perOp(f func()) time.Duration {
	best := time.Duration(1<<63 - 1)
	for b := 0; b < 3; b++ {
		start := time.Now()
		n := 0
		for n == 0 || time.Since(start) < 10*time.Millisecond {
			f()
			n++
		}
		best = min(best, time.Since(start)/time.Duration(n))
	}
	return best
}

// timeChecks returns how long Accept's checks of r take: the library's
// own share of an exchange, without the network and net/http's parsing.
func timeChecks(r *http.Request, subprotocols []string) time.Duration {
	return perOp(func() {
		checkRequest(r)
		checkOrigin(r, []string{"*.example.com"})
		selectSubprotocol(r.Header, subprotocols)
	})
}

// linearity measures f at a small and a ten times larger input and
// reports the ratio of the times, measuring again before concluding that
// it is worse than linear (a collection or a descheduling can slow one
// run).
func linearity(t *testing.T, what string, limit float64, f func(n int) time.Duration) {
	t.Helper()
	var small, big time.Duration
	var ratio float64
	for try := 0; try < 3; try++ {
		small, big = f(100<<10), f(1<<20)
		ratio = float64(big) / float64(max(small, time.Microsecond))
		if ratio <= limit {
			break
		}
	}
	t.Logf("%s: 100 KiB in %v, 1 MiB in %v (%.1fx)", what, small, big, ratio)
	if ratio > limit {
		t.Errorf("%s: 10x the input took %.0fx the time (%v, %v): worse than linear", what, ratio, small, big)
	}
}

// handshakeLines are the header lines of a valid request.
var handshakeLines = []string{
	"Host: example.com",
	"Upgrade: websocket",
	"Connection: Upgrade",
	"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
	"Sec-WebSocket-Version: 13",
}

// request builds a GET request from header lines; edits remove a header
// ("-Name"), replace it ("=Name: value") or add a line ("Name: value").
func request(edits ...string) string {
	lines := append([]string(nil), handshakeLines...)
	for _, e := range edits {
		switch {
		case strings.HasPrefix(e, "-"):
			lines = dropHeader(lines, e[1:])
		case strings.HasPrefix(e, "="):
			name, _, _ := strings.Cut(e[1:], ":")
			lines = append(dropHeader(lines, name), e[1:])
		default:
			lines = append(lines, e)
		}
	}
	return "GET /chat HTTP/1.1\r\n" + strings.Join(lines, "\r\n") + "\r\n\r\n"
}

func dropHeader(lines []string, name string) []string {
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":") {
			out = append(out, l)
		}
	}
	return out
}

// checkResponseHead checks a raw response header block: every line ends in
// CRLF, holds no other control character, and none was injected.
func checkResponseHead(t *testing.T, head string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(head, "\r\n\r\n"), "\r\n")
	for _, l := range lines {
		for i := 0; i < len(l); i++ {
			if c := l[i]; (c < 0x20 && c != '\t') || c == 0x7f {
				t.Errorf("control byte %#x in response header line %q", c, l)
			}
		}
		if strings.HasPrefix(strings.ToLower(l), "x-injected") {
			t.Errorf("injected response header line %q", l)
		}
	}
}

func TestHostileHandshakeHeaders(t *testing.T) {
	srv := newHandshakeServer(t, &AcceptOptions{Subprotocols: []string{"chat"}}, nil, nil)
	const key = "dGhlIHNhbXBsZSBub25jZQ=="
	tests := []struct {
		name   string
		req    string
		status int
	}{
		{"valid", request(), 101},

		// Each required header missing.
		{"missing Host", request("-Host"), 400},
		{"missing Upgrade", request("-Upgrade"), 426},
		{"missing Connection", request("-Connection"), 426},
		{"missing Sec-WebSocket-Key", request("-Sec-WebSocket-Key"), 400},
		{"missing Sec-WebSocket-Version", request("-Sec-WebSocket-Version"), 426},
		{"no headers at all", "GET /chat HTTP/1.1\r\nHost: example.com\r\n\r\n", 426},

		// Duplicated.
		{"two Host headers", request("Host: other.example"), 400},
		{"two identical keys", request("Sec-WebSocket-Key: " + key), 400},
		{"two different keys", request("Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA=="), 400},
		{"two version headers, both 13", request("Sec-WebSocket-Version: 13"), 426},
		{"two versions in one header", request("=Sec-WebSocket-Version: 13, 13"), 426},
		{"versions 13 and 8", request("=Sec-WebSocket-Version: 13, 8"), 426},
		{"two Origin headers", request("Origin: http://example.com", "Origin: http://example.com"), 403},
		{"two Upgrade headers", request("Upgrade: websocket"), 101},
		{"two Connection headers", request("=Connection: keep-alive", "Connection: Upgrade"), 101},

		// Malformed.
		{"Upgrade websockets", request("=Upgrade: websockets"), 426},
		{"Upgrade web socket", request("=Upgrade: web socket"), 426},
		{"Upgrade empty", request("=Upgrade:"), 426},
		{"Upgrade list with websocket", request("=Upgrade: h2c, WebSocket"), 101},
		{"Connection close", request("=Connection: close"), 426},
		{"Connection Upgrade2", request("=Connection: Upgrade2"), 426},
		{"Connection list of commas", request("=Connection: ,,,,"), 426},
		{"version 13a", request("=Sec-WebSocket-Version: 13a"), 426},
		{"version 013", request("=Sec-WebSocket-Version: 013"), 426},
		{"version +13", request("=Sec-WebSocket-Version: +13"), 426},
		{"version empty", request("=Sec-WebSocket-Version:"), 426},
		{"key with spaces around", request("=Sec-WebSocket-Key:    " + key + "   "), 101},
		{"key empty", request("=Sec-WebSocket-Key:"), 400},
		{"key not base64", request("=Sec-WebSocket-Key: !!!!!!!!!!!!!!!!!!!!!!=="), 400},
		{"key with a tab inside", request("=Sec-WebSocket-Key: dGhlIHNhbXBs\tZSBub25jZQ=="), 400},
		{"key without padding", request("=Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ"), 400},
		{"key in base64url", request("=Sec-WebSocket-Key: -_-_-_-_-_-_-_-_-_-_-w=="), 400},
		{"key of 1 KiB", request("=Sec-WebSocket-Key: " + strings.Repeat("A", 1024)), 400},
		{"method POST", strings.Replace(request(), "GET", "POST", 1), 405},
		{"method HEAD", strings.Replace(request(), "GET", "HEAD", 1), 405},
		{"method get (lower case)", strings.Replace(request(), "GET", "get", 1), 405},
		{"HTTP/1.0", strings.Replace(request(), "HTTP/1.1", "HTTP/1.0", 1), 505},
		{"subprotocol list with empty elements", request("Sec-WebSocket-Protocol: ,chat,,x,"), 101}, // RFC 7230, Section 7
		{"subprotocol with a slash", request("Sec-WebSocket-Protocol: chat/1"), 400},
		{"Origin not a URL", request("Origin: ://"), 403},
	}
	// RFC 6455, Section 4.2.1: a key that is not 16 bytes.
	for _, n := range []int{0, 1, 8, 15, 17, 18, 32, 64} {
		k := strings.Repeat("k", n)
		tests = append(tests, struct {
			name   string
			req    string
			status int
		}{fmt.Sprintf("key of %d bytes", n), request("=Sec-WebSocket-Key: " + b64(k)), 400})
	}
	want101 := 0
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, head := exchange(t, srv.addr(), tt.req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tt.status, head)
			}
			checkResponseHead(t, head)
			switch tt.status {
			case 101:
				if got := resp.Header.Get("Sec-WebSocket-Accept"); got != acceptKey(key) {
					t.Errorf("Sec-WebSocket-Accept %q", got)
				}
			case 426:
				if v := resp.Header.Values("Sec-WebSocket-Version"); len(v) != 1 || v[0] != "13" {
					t.Errorf("426 with Sec-WebSocket-Version %q, want 13", v)
				}
			case 405:
				if resp.Header.Get("Allow") != "GET" {
					t.Errorf("405 with Allow %q", resp.Header.Get("Allow"))
				}
			}
		})
		if tt.status == 101 {
			want101++
		}
	}
	if got := int(srv.acceptedCount(int32(want101))); got != want101 {
		t.Errorf("Accept succeeded %d times, want %d", got, want101)
	}
	srv.healthy(t)
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// RFC 6455, Section 4.4: any version but 13 gets 426 naming 13.
func TestHostileHandshakeVersions(t *testing.T) {
	srv := newHandshakeServer(t, nil, nil, nil)
	for _, v := range []string{"0", "1", "7", "8", "12", "14", "25", "255", "99999999999999999999", "-13", "13.0", "thirteen", "\t13x"} {
		t.Run(v, func(t *testing.T) {
			resp, head := exchange(t, srv.addr(), request("=Sec-WebSocket-Version: "+v))
			if resp.StatusCode != 426 {
				t.Fatalf("status %d, want 426\n%s", resp.StatusCode, head)
			}
			if got := resp.Header.Values("Sec-WebSocket-Version"); len(got) != 1 || got[0] != "13" {
				t.Errorf("Sec-WebSocket-Version %q, want [13]", got)
			}
			if !headerHasToken(resp.Header, "Upgrade", "websocket") {
				t.Errorf("426 without Upgrade: websocket: %v", resp.Header)
			}
		})
	}
	if srv.accepted.Load() != 0 {
		t.Errorf("%d accepted", srv.accepted.Load())
	}
	srv.healthy(t)
}

// Requests of the drafts before RFC 6455 (hixie-75, hixie-76 with its
// Key1/Key2 and 8 bytes after the header) get 426 naming version 13.
func TestHostileHandshakeHixie(t *testing.T) {
	srv := newHandshakeServer(t, nil, nil, nil)
	hixie76 := "GET /demo HTTP/1.1\r\nHost: example.com\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key2: 12998 5 Y3 1  .P00\r\nSec-WebSocket-Protocol: sample\r\nUpgrade: WebSocket\r\n" +
		"Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5\r\nOrigin: http://example.com\r\n\r\n^n:ds[4U"
	hixie75 := "GET /demo HTTP/1.1\r\nUpgrade: WebSocket\r\nConnection: Upgrade\r\nHost: example.com\r\n" +
		"Origin: http://example.com\r\nWebSocket-Protocol: sample\r\n\r\n"
	for name, req := range map[string]string{"hixie-76": hixie76, "hixie-75": hixie75} {
		t.Run(name, func(t *testing.T) {
			resp, head := exchange(t, srv.addr(), req)
			if resp.StatusCode != 426 {
				t.Fatalf("status %d, want 426\n%s", resp.StatusCode, head)
			}
			if got := resp.Header.Values("Sec-WebSocket-Version"); len(got) != 1 || got[0] != "13" {
				t.Errorf("Sec-WebSocket-Version %q", got)
			}
			if bytes.Contains([]byte(head), []byte("Sec-WebSocket-Location")) || resp.Header.Get("Sec-WebSocket-Accept") != "" {
				t.Errorf("answered as a WebSocket handshake:\n%s", head)
			}
		})
	}
	if srv.accepted.Load() != 0 {
		t.Errorf("%d accepted", srv.accepted.Load())
	}
	srv.healthy(t)
}

// An Upgrade request with a body is refused with 400: a body before an
// upgrade would let a proxy and the server disagree on where the frames
// start.
func TestHostileHandshakeBody(t *testing.T) {
	srv := newHandshakeServer(t, nil, nil, nil)
	tests := []struct {
		name, req string
		status    int
	}{
		{"Content-Length 5", request("Content-Length: 5") + "hello", 400},
		{"chunked", request("Transfer-Encoding: chunked") + "5\r\nhello\r\n0\r\n\r\n", 400},
		{"chunked and Content-Length", request("Transfer-Encoding: chunked", "Content-Length: 5") + "5\r\nhello\r\n0\r\n\r\n", 400},
		{"Content-Length 0", request("Content-Length: 0"), 101},
		// net/http answers these before Accept runs.
		{"Transfer-Encoding identity", request("Transfer-Encoding: identity"), 501},
		{"two different Content-Lengths", request("Content-Length: 5", "Content-Length: 6") + "hello!", 400},
		{"negative Content-Length", request("Content-Length: -1"), 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, head := exchange(t, srv.addr(), tt.req)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tt.status, head)
			}
		})
	}
	if got := srv.acceptedCount(1); got != 1 {
		t.Errorf("%d accepted, want 1", got)
	}
	srv.healthy(t)
}

// The 400 for a request with a body must not wait for the body: a client
// that announces one and never sends it would otherwise hold the server
// goroutine for as long as the http.Server lets it read, which with only
// ReadHeaderTimeout set is for ever.
func TestHostileHandshakeBodyWithheld(t *testing.T) {
	srv := newHandshakeServer(t, nil, func(s *http.Server) { s.ReadHeaderTimeout = 5 * time.Second }, nil)
	for _, req := range []string{request("Content-Length: 5"), request("Transfer-Encoding: chunked")} {
		nc, err := net.Dial("tcp", srv.addr())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		io.WriteString(nc, req)
		nc.SetReadDeadline(time.Now().Add(2 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(nc), nil)
		if err != nil {
			t.Fatalf("no response while the body is withheld: %v", err)
		}
		if resp.StatusCode != 400 {
			t.Fatalf("status %d, want 400", resp.StatusCode)
		}
	}
}

// Oversized header blocks are refused by net/http with 431 before Accept
// runs, and the server keeps serving, also while several arrive at once.
func TestHostileHandshakeOversizedHeaders(t *testing.T) {
	t.Run("default MaxHeaderBytes (1 MiB)", func(t *testing.T) {
		srv := newHandshakeServer(t, nil, nil, nil)
		reqs := map[string]string{
			"one 1.1 MiB header":             request("X-Big: " + strings.Repeat("a", 1100<<10)),
			"28,000 headers of 40 bytes":     request(strings.Repeat("X-Many: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n", 28000) + "X-End: 1"),
			"a 1.1 MiB subprotocol offer":    request("Sec-WebSocket-Protocol: " + strings.Repeat("a", 1100<<10)),
			"a 1.1 MiB request line":         strings.Replace(request(), "/chat", "/"+strings.Repeat("p", 1100<<10), 1),
			"1.1 MiB of folded continuation": request("X-Fold: a" + strings.Repeat("\r\n b", 380000)),
		}
		for name, req := range reqs {
			t.Run(name, func(t *testing.T) {
				resp, head := exchange(t, srv.addr(), req)
				if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge && !(strings.Contains(name, "request line") && resp.StatusCode == 414) {
					t.Fatalf("status %d, want 431\n%s", resp.StatusCode, head)
				}
			})
		}
		t.Run("8 at once", func(t *testing.T) {
			var wg sync.WaitGroup
			statuses := make(chan int, 8)
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					statuses <- statusOf(srv.addr(), reqs["one 1.1 MiB header"])
				}()
			}
			wg.Wait()
			close(statuses)
			for s := range statuses {
				if s != http.StatusRequestHeaderFieldsTooLarge {
					t.Errorf("status %d, want 431", s)
				}
			}
		})
		if srv.accepted.Load() != 0 || srv.refused.Load() != 0 {
			t.Errorf("Accept ran: %d accepted, %d refused", srv.accepted.Load(), srv.refused.Load())
		}
		srv.healthy(t)
	})
	t.Run("MaxHeaderBytes 4096", func(t *testing.T) {
		srv := newHandshakeServer(t, nil, func(s *http.Server) { s.MaxHeaderBytes = 4096 }, nil)
		resp, head := exchange(t, srv.addr(), request("X-Big: "+strings.Repeat("a", 16<<10)))
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Fatalf("status %d, want 431\n%s", resp.StatusCode, head)
		}
		srv.healthy(t)
	})
}

// Subprotocol, extension and token-list values crafted to make a parser
// backtrack or allocate: each is answered with the right status, and ten
// times the input costs about ten times the time, not a hundred.
func TestHostileHandshakeCraftedValues(t *testing.T) {
	srv := newHandshakeServer(t, &AcceptOptions{Subprotocols: []string{"v2", "chat"}},
		func(s *http.Server) { s.MaxHeaderBytes = 16 << 20 }, nil)
	tests := []struct {
		name   string
		req    func(n int) string // n is about the size in bytes
		status int
		proto  string // the subprotocol the 101 must carry
		http   bool   // measure the whole HTTP exchange too
	}{
		{"subprotocol: commas", func(n int) string {
			return request("Sec-WebSocket-Protocol: " + strings.Repeat(",", n))
		}, 101, "", false},
		{"subprotocol: commas, then ours", func(n int) string {
			return request("Sec-WebSocket-Protocol: " + strings.Repeat(",", n) + "v2")
		}, 101, "v2", false},
		{"subprotocol: one huge token", func(n int) string {
			return request("Sec-WebSocket-Protocol: " + strings.Repeat("a", n))
		}, 101, "", true},
		{"subprotocol: many tokens, none ours", func(n int) string {
			return request("Sec-WebSocket-Protocol: " + strings.Repeat("a, ", n/3) + "b")
		}, 101, "", false},
		{"subprotocol: many distinct tokens, ours last", func(n int) string {
			var b strings.Builder
			for i := 0; b.Len() < n; i++ {
				b.WriteString("p" + strconv.Itoa(i) + ", ")
			}
			return request("Sec-WebSocket-Protocol: " + b.String() + "chat")
		}, 101, "chat", false},
		{"subprotocol: many header lines", func(n int) string {
			return request(strings.Repeat("Sec-WebSocket-Protocol: x\r\n", n/27) + "Sec-WebSocket-Protocol: v2")
		}, 101, "v2", false},
		{"subprotocol: spaces and tabs", func(n int) string {
			return request("Sec-WebSocket-Protocol: chat" + strings.Repeat(" \t", n/2) + ", v2")
		}, 101, "v2", false},
		{"subprotocol: a token ending in a quote", func(n int) string {
			return request("Sec-WebSocket-Protocol: " + strings.Repeat("a", n) + `"`)
		}, 400, "", false},
		{"extensions: commas", func(n int) string {
			return request("Sec-WebSocket-Extensions: " + strings.Repeat(",", n))
		}, 101, "", false},
		{"extensions: parameters", func(n int) string {
			return request("Sec-WebSocket-Extensions: " + strings.Repeat("permessage-deflate; client_max_window_bits; server_no_context_takeover, ", n/70))
		}, 101, "", false},
		{"extensions: unterminated quotes", func(n int) string {
			return request(`Sec-WebSocket-Extensions: x; a="` + strings.Repeat(`\"`, n/2))
		}, 101, "", false},
		{"extensions: semicolons", func(n int) string {
			return request("Sec-WebSocket-Extensions: x" + strings.Repeat(";", n))
		}, 101, "", false},
		{"Connection: many tokens, upgrade last", func(n int) string {
			return request("=Connection: " + strings.Repeat("keep-alive, ", n/12) + "Upgrade")
		}, 101, "", false},
		{"Connection: commas only", func(n int) string {
			return request("=Connection: " + strings.Repeat(",", n))
		}, 426, "", false},
		{"Upgrade: many tokens, websocket last", func(n int) string {
			return request("=Upgrade: " + strings.Repeat("h2c, ", n/5) + "websocket")
		}, 101, "", false},
		{"Origin: huge host", func(n int) string {
			return request("Origin: http://" + strings.Repeat("a", n))
		}, 403, "", false},
		{"Origin: huge path of dots", func(n int) string {
			return request("Origin: http://example.org/" + strings.Repeat("../", n/3))
		}, 403, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The status, and what the 101 carries, at the large size.
			resp, head := exchange(t, srv.addr(), tt.req(1<<20))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d\n%.300s", resp.StatusCode, tt.status, head)
			}
			checkResponseHead(t, head)
			if tt.status == 101 {
				if got := resp.Header.Get("Sec-WebSocket-Protocol"); got != tt.proto {
					t.Errorf("subprotocol %q, want %q", got, tt.proto)
				}
				if v := resp.Header.Values("Sec-WebSocket-Extensions"); len(v) != 0 {
					t.Errorf("extensions %q answered; none are supported", v)
				}
			}
			linearity(t, "Accept's checks", 30, func(n int) time.Duration {
				r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(tt.req(n))))
				if err != nil {
					t.Fatal(err)
				}
				return timeChecks(r, []string{"v2", "chat"})
			})
			if tt.http {
				linearity(t, "HTTP exchange", 30, func(n int) time.Duration {
					return timeExchange(t, srv.addr(), tt.req(n), tt.status, 2)
				})
			}
		})
	}
	srv.healthy(t)
}

// CR, LF and other control characters in a request never reach the
// response headers, and headers the handler set before Accept cannot be
// used to split the 101.
func TestHostileHandshakeNoEcho(t *testing.T) {
	t.Run("from the request", func(t *testing.T) {
		srv := newHandshakeServer(t, &AcceptOptions{Subprotocols: []string{"chat", "chat X-Injected: 1"}}, nil, nil)
		tests := []struct {
			name, req string
			status    int
			proto     string
		}{
			{"folded subprotocol", request("Sec-WebSocket-Protocol: chat\r\n X-Injected: 1"), 400, ""},
			{"bare CR in subprotocol", request("Sec-WebSocket-Protocol: chat\rX-Injected: 1"), 400, ""},
			{"NUL in subprotocol", request("Sec-WebSocket-Protocol: chat\x00"), 400, ""},
			{"DEL in subprotocol", request("Sec-WebSocket-Protocol: chat\x7f"), 400, ""},
			{"tab in subprotocol", request("Sec-WebSocket-Protocol: ch\tat"), 400, ""},
			{"obs-text in subprotocol", request("Sec-WebSocket-Protocol: chat\xff"), 400, ""},
			{"ESC in subprotocol", request("Sec-WebSocket-Protocol: \x1b[31mchat"), 400, ""},
			{"folded key", request("=Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n X-Injected: 1"), 400, ""},
			{"folded Origin", request("Origin: http://example.com\r\n X-Injected: 1"), 403, ""},
			{"CR in Origin", request("Origin: http://example.com\rX-Injected: 1"), 400, ""},
			{"folded version", request("=Sec-WebSocket-Version: 13\r\n X-Injected: 1"), 426, ""},
			{"control bytes in an unrelated header", request("X-Junk: \x01\x02\x03"), 400, ""},
			{"obs-text in an unrelated header", request("X-Junk: \xff\xfe"), 101, ""},
			// net/http ends a header line at a bare LF: two request
			// headers, the second one never echoed.
			{"bare LF in subprotocol", request("Sec-WebSocket-Protocol: chat\nX-Injected: 1"), 101, "chat"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, head := exchange(t, srv.addr(), tt.req)
				if resp.StatusCode != tt.status {
					t.Fatalf("status %d, want %d\n%s", resp.StatusCode, tt.status, head)
				}
				checkResponseHead(t, head)
				if p := resp.Header.Get("Sec-WebSocket-Protocol"); p != tt.proto {
					t.Errorf("subprotocol %q, want %q", p, tt.proto)
				}
				body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				if bytes.Contains(body, []byte("Injected")) || bytes.ContainsAny(body, "\x00\x01\x1b\x7f\xff") {
					t.Errorf("request bytes echoed in the body: %q", body)
				}
			})
		}
	})
	t.Run("from headers the handler set", func(t *testing.T) {
		srv := newHandshakeServer(t, nil, nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Echo", "a\r\nX-Injected: 1")
			w.Header().Set("X-Echo-Lf", "b\nX-Injected: 2")
			w.Header()["X-Bad-Name\r\nX-Injected"] = []string{"3"}
			w.Header().Set("Sec-WebSocket-Protocol", "evil") // not negotiated: dropped
		})
		resp, head := exchange(t, srv.addr(), request())
		if resp.StatusCode != 101 {
			t.Fatalf("status %d\n%s", resp.StatusCode, head)
		}
		checkResponseHead(t, head)
		if resp.Header.Get("Sec-WebSocket-Protocol") != "" {
			t.Errorf("a subprotocol the client never offered was sent: %q", resp.Header.Get("Sec-WebSocket-Protocol"))
		}
		if !strings.HasPrefix(resp.Header.Get("X-Echo"), "a") {
			t.Errorf("X-Echo = %q", resp.Header.Get("X-Echo"))
		}
	})
}

// What Accept's checks allocate for a crafted header of 1 MiB, the most
// net/http lets through by default, must stay within the size of the
// header: a list parsed by scanning needs no copy of it at all.
func TestHostileHandshakeAllocation(t *testing.T) {
	tests := []struct {
		name, header string
	}{
		{"Connection: many tokens", "Connection: " + strings.Repeat("keep-alive, ", 1<<20/12) + "Upgrade"},
		{"Upgrade: many tokens", "Upgrade: " + strings.Repeat("h2c, ", 1<<20/5) + "websocket"},
		{"Origin: huge", "Origin: http://" + strings.Repeat("a", 1<<20)},
		{"Sec-WebSocket-Extensions: commas", "Sec-WebSocket-Extensions: " + strings.Repeat(",", 1<<20)},
		{"Sec-WebSocket-Protocol: one huge token", "Sec-WebSocket-Protocol: " + strings.Repeat("a", 1<<20)},
		{"Sec-WebSocket-Protocol: commas", "Sec-WebSocket-Protocol: " + strings.Repeat(",", 1<<20)},
		{"Sec-WebSocket-Protocol: many tokens", "Sec-WebSocket-Protocol: " + strings.Repeat("a, ", 1<<20/3)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			edit := tt.header
			if strings.HasPrefix(edit, "Connection:") || strings.HasPrefix(edit, "Upgrade:") {
				edit = "=" + edit
			}
			r, err := http.ReadRequest(bufio.NewReader(strings.NewReader(request(edit))))
			if err != nil {
				t.Fatal(err)
			}
			n := allocatedDuring(func() {
				checkRequest(r)
				checkOrigin(r, []string{"*.example.com"})
				selectSubprotocol(r.Header, []string{"chat"})
			})
			t.Logf("%d bytes allocated for a header of %d bytes", n, len(tt.header))
			if n > uint64(len(tt.header))+64<<10 {
				t.Errorf("Accept's checks allocated %d bytes (%.1fx) for a header of %d bytes", n, float64(n)/float64(len(tt.header)), len(tt.header))
			}
		})
	}
}

// Sec-WebSocket-Extensions crafted against the permessage-deflate
// negotiation of a server that offers compression: the right answer, in
// time linear in the header, allocating no more than a few times its size
// (a quoted value is copied byte by byte into a growing buffer: some 5x).
func TestHostileHandshakeExtensionsCompression(t *testing.T) {
	opts := &AcceptOptions{ConnOptions: ConnOptions{Compression: &CompressionOptions{}}}
	srv := newHandshakeServer(t, opts, func(s *http.Server) { s.MaxHeaderBytes = 16 << 20 }, nil)
	const deflate = "permessage-deflate; server_no_context_takeover"
	tests := []struct {
		name  string
		value func(n int) string // the header value, about n bytes
		want  string             // the extension answered
	}{
		{"empty elements, then deflate", func(n int) string { return strings.Repeat(",", n) + ", permessage-deflate" }, deflate},
		{"too many extensions", func(n int) string { return strings.Repeat("x, ", n/3) + "permessage-deflate" }, ""},
		{"too many parameters", func(n int) string { return "permessage-deflate" + strings.Repeat("; a", n/3) }, ""},
		{"unterminated quoted value", func(n int) string {
			return `permessage-deflate; client_max_window_bits="` + strings.Repeat(`\"`, n/2)
		}, ""},
		{"huge quoted value", func(n int) string {
			return `permessage-deflate; client_max_window_bits="` + strings.Repeat("1", n) + `"`
		}, ""},
		{"huge name", func(n int) string { return "permessage-deflate" + strings.Repeat("e", n) }, ""},
		{"whitespace", func(n int) string {
			return "permessage-deflate" + strings.Repeat(" \t", n/2) + "; client_no_context_takeover"
		}, deflate + "; client_no_context_takeover"},
		{"semicolons", func(n int) string { return "permessage-deflate" + strings.Repeat(";", n) }, ""},
		{"equals signs", func(n int) string { return "permessage-deflate; a" + strings.Repeat("=", n) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, head := exchange(t, srv.addr(), request("Sec-WebSocket-Extensions: "+tt.value(1<<20)))
			if resp.StatusCode != 101 {
				t.Fatalf("status %d\n%.300s", resp.StatusCode, head)
			}
			checkResponseHead(t, head)
			if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != tt.want {
				t.Fatalf("extension %q, want %q", got, tt.want)
			}
			values := []string{tt.value(1 << 20)}
			n := allocatedDuring(func() { acceptDeflate(values, opts.Compression) })
			if n > 8*uint64(len(values[0]))+64<<10 {
				t.Errorf("negotiating a %d-byte header allocated %d bytes", len(values[0]), n)
			}
			linearity(t, "negotiation", 30, func(n int) time.Duration {
				v := []string{tt.value(n)}
				return perOp(func() { acceptDeflate(v, opts.Compression) })
			})
		})
	}
	srv.healthy(t)
}
