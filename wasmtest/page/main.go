//go:build js

// Command page is the browser side of the wasm tests: built with GOOS=js
// GOARCH=wasm, it runs in the page that wasmtest's server serves, dials that
// server's endpoints through websocket.Dial (the browser's WebSocket) and
// posts one result per check to /result, then /done. See ../browser_test.go
// for the server and the endpoints.
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall/js"
	"time"

	"github.com/ccf874ba/websocket"
)

// origin is the page's http://host:port; base the same as ws://.
var origin, base string

func main() {
	origin = js.Global().Get("location").Get("origin").String()
	base = "ws" + strings.TrimPrefix(origin, "http")
	only := js.Global().Get("location").Get("hash").String() // "#name,name": run only these
	want := map[string]bool{}
	for _, n := range strings.Split(strings.TrimPrefix(only, "#"), ",") {
		if n != "" {
			want[n] = true
		}
	}
	passed, failed := 0, 0
	for _, c := range checks() {
		if len(want) > 0 && !want[c.name] {
			continue
		}
		r := run(c)
		if r.OK {
			passed++
		} else {
			failed++
		}
		post("/result", r)
	}
	post("/done", map[string]int{"passed": passed, "failed": failed})
	fmt.Printf("wasmtest: %d passed, %d failed\n", passed, failed)
}

type result struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
	Ms     int64  `json:"ms"`
}

type check struct {
	name    string
	timeout time.Duration
	fn      func(t *T)
}

// T is what a check reports through, as a testing.T would.
type T struct {
	name  string
	ctx   context.Context
	mu    sync.Mutex
	fails []string
}

func (t *T) Errorf(format string, args ...any) {
	t.mu.Lock()
	t.fails = append(t.fails, fmt.Sprintf(format, args...))
	t.mu.Unlock()
}

// Fatalf records the failure and ends the check.
func (t *T) Fatalf(format string, args ...any) {
	t.Errorf(format, args...)
	runtime.Goexit()
}

func run(c check) result {
	t := &T{name: c.name}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	t.ctx = ctx
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("panic: %v", p)
			}
		}()
		c.fn(t)
	}()
	select {
	case <-done:
	case <-time.After(c.timeout + 2*time.Second):
		t.Errorf("timed out after %v", c.timeout)
	}
	r := result{Name: c.name, OK: len(t.fails) == 0, Ms: time.Since(start).Milliseconds()}
	t.mu.Lock()
	r.OK = len(t.fails) == 0
	r.Detail = strings.Join(t.fails, "; ")
	t.mu.Unlock()
	return r
}

func post(path string, v any) {
	b, _ := json.Marshal(v)
	resp, err := http.Post(origin+path, "application/json", bytes.NewReader(b))
	if err != nil {
		fmt.Println("wasmtest: post", path, err)
		return
	}
	resp.Body.Close()
}

// ---- helpers ----

// dial connects to the endpoint kind of the server, naming the connection
// after the check so that the server's record of it can be asked for.
func dial(t *T, kind, query string, opts *websocket.DialOptions) *websocket.Conn {
	c, _ := dialResp(t, kind, query, opts)
	return c
}

func dialResp(t *T, kind, query string, opts *websocket.DialOptions) (*websocket.Conn, *http.Response) {
	u := base + "/ws/" + kind + "?id=" + url.QueryEscape(t.name)
	if query != "" {
		u += "&" + query
	}
	c, resp, err := websocket.Dial(t.ctx, u, opts)
	if err != nil {
		t.Fatalf("dial %s: %v", kind, err)
	}
	return c, resp
}

var bigLimit = &websocket.DialOptions{ConnOptions: websocket.ConnOptions{ReadLimit: 16 << 20}}

// serverSaw is what the server's end of the connection named id ended with.
type serverRecord struct {
	Code   int    `json:"code"`   // the CloseError's, or the ProtocolError's it sent; 0 if neither
	Reason string `json:"reason"` //
	Err    string `json:"err"`
}

func serverSaw(t *T, id string) serverRecord {
	resp, err := http.Get(origin + "/closes?id=" + url.QueryEscape(id))
	if err != nil {
		t.Fatalf("asking the server: %v", err)
	}
	defer resp.Body.Close()
	var r serverRecord
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("asking the server: %s: %s", resp.Status, b)
	}
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("asking the server: %v", err)
	}
	return r
}

func wantServerClose(t *T, code int, reason string) {
	got := serverSaw(t, t.name)
	if got.Code != code || got.Reason != reason {
		t.Errorf("server saw close %d %q (%s), want %d %q", got.Code, got.Reason, got.Err, code, reason)
	}
}

func makeText(n int) []byte {
	const unit = "abc κόσμε 😀 日本語 "
	s := strings.Repeat(unit, n/len(unit))
	return []byte(s + strings.Repeat("x", n-len(s)))
}

func makeBinary(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 7})
	r.Read(b)
	return b
}

func sameBytes(t *T, what string, got, want []byte) bool {
	if bytes.Equal(got, want) {
		return true
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Errorf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
	return false
}

func echo(t *T, c *websocket.Conn, typ websocket.MessageType, p []byte) {
	if err := c.Write(t.ctx, typ, p); err != nil {
		t.Fatalf("write %d bytes: %v", len(p), err)
	}
	gt, got, err := c.Read(t.ctx)
	if err != nil {
		t.Fatalf("read the echo of %d bytes: %v", len(p), err)
	}
	if gt != typ {
		t.Errorf("echo is %v, want %v", gt, typ)
	}
	sameBytes(t, "echo", got, p)
}

func closeClean(t *T, c *websocket.Conn) {
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func isDone(c *websocket.Conn) bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

func waitDone(t *T, c *websocket.Conn) {
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Errorf("Done not closed 5 s after the end")
	}
}

func sizeName(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return strconv.Itoa(n>>20) + "MiB"
	}
	return strconv.Itoa(n)
}

// ---- the checks ----

func checks() []check {
	var cs []check
	add := func(name string, timeout time.Duration, fn func(t *T)) {
		cs = append(cs, check{name, timeout, fn})
	}

	add("dial-subprotocol-response", 10*time.Second, func(t *T) {
		c, resp := dialResp(t, "echo", "", &websocket.DialOptions{Subprotocols: []string{"nope.v0", "wasmtest.v1"}})
		if got := c.Subprotocol(); got != "wasmtest.v1" {
			t.Errorf("Subprotocol() = %q, want wasmtest.v1", got)
		}
		if resp == nil || resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Protocol") != "wasmtest.v1" {
			t.Errorf("response %+v, want 101 with Sec-WebSocket-Protocol wasmtest.v1", resp)
		}
		if isDone(c) {
			t.Errorf("Done closed on an open Conn")
		}
		closeClean(t, c)
		waitDone(t, c)
	})

	add("dial-relative-url", 10*time.Second, func(t *T) {
		c, _, err := websocket.Dial(t.ctx, "/ws/echo?id="+t.name, nil)
		if err != nil {
			t.Fatalf("Dial(/ws/echo): %v", err)
		}
		echo(t, c, websocket.MessageText, []byte("relative"))
		closeClean(t, c)
	})

	add("dial-refused", 10*time.Second, func(t *T) {
		c, resp, err := websocket.Dial(t.ctx, base+"/not-a-websocket", nil)
		if !errors.Is(err, websocket.ErrBadHandshake) || c != nil || resp != nil {
			t.Errorf("Dial of a 404 page = %v, %v, %v; want an error wrapping ErrBadHandshake", c, resp, err)
		}
		c, _, err = websocket.Dial(t.ctx, "ftp://127.0.0.1/", nil)
		if err == nil || c != nil {
			t.Errorf("Dial(ftp://) = %v, want an error", err)
		}
		ctx, cancel := context.WithCancel(t.ctx)
		cancel()
		_, _, err = websocket.Dial(ctx, base+"/ws/echo", nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Dial with a cancelled context: %v, want context.Canceled", err)
		}
	})

	add("dial-unsupported-options", 10*time.Second, func(t *T) {
		bad := map[string]*websocket.DialOptions{
			"Header":       {Header: http.Header{"Authorization": {"Bearer x"}}},
			"TLSConfig":    {TLSConfig: &tls.Config{}},
			"Proxy":        {Proxy: http.ProxyFromEnvironment},
			"NetDial":      {NetDial: (&net.Dialer{}).DialContext},
			"PingInterval": {ConnOptions: websocket.ConnOptions{PingInterval: time.Second}},
			"PongTimeout":  {ConnOptions: websocket.ConnOptions{PongTimeout: time.Second}},
			"OnPing":       {ConnOptions: websocket.ConnOptions{OnPing: func([]byte) {}}},
			"OnPong":       {ConnOptions: websocket.ConnOptions{OnPong: func([]byte, time.Duration) {}}},
		}
		for name, o := range bad {
			c, _, err := websocket.Dial(t.ctx, base+"/ws/echo?id="+t.name, o)
			if !errors.Is(err, websocket.ErrBadOption) || !errors.Is(err, errors.ErrUnsupported) || c != nil {
				t.Errorf("Dial with %s: %v, want an error wrapping ErrBadOption and errors.ErrUnsupported", name, err)
			}
		}
		_, _, err := websocket.Dial(t.ctx, base+"/ws/echo", &websocket.DialOptions{ConnOptions: websocket.ConnOptions{ReadBufferSize: -1}})
		if !errors.Is(err, websocket.ErrBadOption) || errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Dial with ReadBufferSize -1: %v, want ErrBadOption only", err)
		}
		// Compression is ignored (the browser decides), not refused.
		c := dial(t, "echo", "", &websocket.DialOptions{ConnOptions: websocket.ConnOptions{Compression: &websocket.CompressionOptions{Level: 5}}})
		echo(t, c, websocket.MessageText, makeText(3000))
		closeClean(t, c)
	})

	for _, n := range []int{0, 1, 125, 126, 65535, 65536, 1 << 20, 8 << 20} {
		timeout := 20 * time.Second
		if n >= 1<<20 {
			timeout = 60 * time.Second
		}
		add("text-"+sizeName(n), timeout, func(t *T) {
			c := dial(t, "echo", "", bigLimit)
			echo(t, c, websocket.MessageText, makeText(n))
			closeClean(t, c)
		})
		add("binary-"+sizeName(n), timeout, func(t *T) {
			c := dial(t, "echo", "", bigLimit)
			echo(t, c, websocket.MessageBinary, makeBinary(n, uint64(n)))
			closeClean(t, c)
		})
	}

	add("utf8", 10*time.Second, func(t *T) {
		c := dial(t, "echo", "", nil)
		for _, s := range []string{"κόσμε", "😀🎉👍🏽 🧑\u200d🚀", "日本語のテキスト, 中文, 한국어",
			"\U0010FFFF\uFFFF\uE000", "\uFEFFbom and nul\x00byte", "\uFEFF", "\uFEFF\uFEFF two", "Hello-µ@ßöäüàá-UTF-8!!",
			"\uFEFF" + string(makeText(70000))} {
			echo(t, c, websocket.MessageText, []byte(s))
		}
		closeClean(t, c)
	})

	add("text-not-utf8-refused", 10*time.Second, func(t *T) {
		c := dial(t, "echo", "", nil)
		if err := c.Write(t.ctx, websocket.MessageText, []byte("ok\xff")); err == nil {
			t.Errorf("Write of invalid UTF-8 text succeeded; a browser would have changed the bytes")
		}
		w, _ := c.Writer(t.ctx, websocket.MessageText)
		w.Write([]byte("\xc3"))
		if err := w.Close(); err == nil {
			t.Errorf("Writer of invalid UTF-8 text: Close succeeded")
		}
		echo(t, c, websocket.MessageText, []byte("nothing was sent before"))
		closeClean(t, c)
	})

	add("readappend-copies-once", 20*time.Second, func(t *T) {
		const n, size = 40, 64 << 10
		c := dial(t, "push", fmt.Sprintf("n=%d&size=%d", n, size), bigLimit)
		buf := make([]byte, 0, size)
		var before, after runtime.MemStats
		for i := 0; i < n; i++ {
			if i == 1 {
				runtime.ReadMemStats(&before)
			}
			typ, msg, err := c.ReadAppend(t.ctx, buf[:0])
			if err != nil {
				t.Fatalf("ReadAppend %d: %v", i, err)
			}
			if typ != websocket.MessageBinary || len(msg) != size || binary.BigEndian.Uint32(msg) != uint32(i) || &msg[0] != &buf[:1][0] {
				t.Fatalf("ReadAppend %d: %v of %d bytes, index %d, in the buffer: %v", i, typ, len(msg), binary.BigEndian.Uint32(msg), &msg[0] == &buf[:1][0])
			}
		}
		runtime.ReadMemStats(&after)
		if got := after.TotalAlloc - before.TotalAlloc; got > 256<<10 {
			t.Errorf("%d ReadAppends of %d KiB into a reused buffer allocated %d bytes, want far less than the %d they read", n-1, size>>10, got, (n-1)*size)
		}
		closeClean(t, c)
	})

	add("reader-writer-streaming", 20*time.Second, func(t *T) {
		c := dial(t, "echo", "", bigLimit)
		want := makeBinary(1<<20+17, 3)
		w, err := c.Writer(t.ctx, websocket.MessageBinary)
		if err != nil {
			t.Fatalf("Writer: %v", err)
		}
		for p := want; len(p) > 0; {
			k := min(len(p), 4093)
			if _, err := w.Write(p[:k]); err != nil {
				t.Fatalf("writer Write: %v", err)
			}
			p = p[k:]
		}
		if err := w.Close(); err != nil {
			t.Fatalf("writer Close: %v", err)
		}
		if _, err := w.Write([]byte("x")); !errors.Is(err, websocket.ErrWriterClosed) {
			t.Errorf("Write after Close: %v, want ErrWriterClosed", err)
		}
		typ, r, err := c.Reader(t.ctx)
		if err != nil || typ != websocket.MessageBinary {
			t.Fatalf("Reader: %v %v", typ, err)
		}
		var got []byte
		p := make([]byte, 1000)
		for {
			n, err := r.Read(p)
			got = append(got, p[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("reader Read: %v", err)
			}
		}
		sameBytes(t, "streamed echo (one message)", got, want)
		closeClean(t, c)
	})

	add("writer-then-write-in-order", 10*time.Second, func(t *T) {
		c := dial(t, "echo", "", nil)
		w, _ := c.Writer(t.ctx, websocket.MessageText)
		w.Write([]byte("first, "))
		second := make(chan error, 1)
		go func() { second <- c.Write(t.ctx, websocket.MessageText, []byte("second")) }()
		time.Sleep(50 * time.Millisecond)
		select {
		case err := <-second:
			t.Errorf("Write did not wait for the open Writer (returned %v)", err)
		default:
		}
		w.Write([]byte("streamed"))
		if err := w.Close(); err != nil {
			t.Fatalf("writer Close: %v", err)
		}
		if err := <-second; err != nil {
			t.Fatalf("Write: %v", err)
		}
		for _, want := range []string{"first, streamed", "second"} {
			_, got, err := c.Read(t.ctx)
			if err != nil || string(got) != want {
				t.Errorf("read %q, %v; want %q", got, err, want)
			}
		}
		closeClean(t, c)
	})

	add("writer-context-ends", 10*time.Second, func(t *T) {
		c := dial(t, "echo", "", nil)
		ctx, cancel := context.WithCancel(t.ctx)
		w, _ := c.Writer(ctx, websocket.MessageText)
		w.Write([]byte("never sent"))
		cancel()
		if _, err := w.Write([]byte("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("writer Write after its context ended: %v, want context.Canceled", err)
		}
		if err := w.Close(); !errors.Is(err, context.Canceled) {
			t.Errorf("writer Close after its context ended: %v, want context.Canceled", err)
		}
		echo(t, c, websocket.MessageText, []byte("the first message the server got"))
		closeClean(t, c)
	})

	add("read-context-ends-idle", 10*time.Second, func(t *T) {
		c := dial(t, "echo", "", nil)
		ctx, cancel := context.WithTimeout(t.ctx, 100*time.Millisecond)
		_, _, err := c.Read(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Read on an idle Conn with a 100 ms context: %v, want DeadlineExceeded", err)
		}
		ctx, cancel = context.WithCancel(t.ctx)
		go func() { time.Sleep(50 * time.Millisecond); cancel() }()
		if _, _, err := c.Read(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Read cancelled while waiting: %v, want context.Canceled", err)
		}
		if _, _, err := c.Read(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Read with a context already ended: %v, want context.Canceled", err)
		}
		echo(t, c, websocket.MessageText, []byte("still usable"))
		closeClean(t, c)
	})

	add("read-context-ends-nothing-lost", 30*time.Second, func(t *T) {
		// The server sends 60 messages 3 ms apart; every read has a
		// context of a millisecond or two, so most end while waiting.
		const n = 60
		c := dial(t, "push", fmt.Sprintf("n=%d&size=64&gap=3ms", n), nil)
		timeouts := 0
		for i := 0; i < n; {
			ctx, cancel := context.WithTimeout(t.ctx, time.Duration(1+i%2)*time.Millisecond)
			_, msg, err := c.Read(ctx)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				timeouts++
				continue
			}
			if err != nil {
				t.Fatalf("message %d: %v", i, err)
			}
			if got := binary.BigEndian.Uint32(msg); got != uint32(i) {
				t.Fatalf("message %d: got index %d: a message was lost", i, got)
			}
			i++
		}
		if timeouts == 0 {
			t.Errorf("no read timed out: the check proved nothing")
		}
		closeClean(t, c)
	})

	add("reader-context-ends", 10*time.Second, func(t *T) {
		c := dial(t, "push", "sizes=10000,10", nil)
		ctx, cancel := context.WithCancel(t.ctx)
		_, r, err := c.Reader(ctx)
		if err != nil {
			t.Fatalf("Reader: %v", err)
		}
		p := make([]byte, 100)
		if n, err := r.Read(p); n != 100 || err != nil {
			t.Fatalf("reader Read: %d, %v", n, err)
		}
		cancel()
		if _, err := r.Read(p); !errors.Is(err, context.Canceled) {
			t.Errorf("reader Read after its context ended: %v, want context.Canceled", err)
		}
		_, msg, err := c.Read(t.ctx)
		if err != nil || len(msg) != 10 || binary.BigEndian.Uint32(msg) != 1 {
			t.Errorf("the next Read: %d bytes, %v; want message 1 of 10 bytes", len(msg), err)
		}
		if _, err := r.Read(p); err == nil || err == io.EOF {
			t.Errorf("stale reader Read: %v, want an error", err)
		}
		closeClean(t, c)
	})

	add("close-client-1000", 10*time.Second, func(t *T) {
		c := dial(t, "echo", "", nil)
		echo(t, c, websocket.MessageText, []byte("before close"))
		if err := c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
			t.Errorf("Close: %v", err)
		}
		if !isDone(c) {
			t.Errorf("Done not closed after Close")
		}
		if err := c.Write(t.ctx, websocket.MessageText, []byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write after Close: %v, want net.ErrClosed", err)
		}
		if _, _, err := c.Read(t.ctx); err == nil {
			t.Errorf("Read after Close succeeded")
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); !errors.Is(err, net.ErrClosed) {
			t.Errorf("second Close: %v, want net.ErrClosed", err)
		}
		wantServerClose(t, 1000, "bye")
	})

	for _, tc := range []struct {
		name   string
		code   websocket.StatusCode
		reason string
		want   int
		wantR  string
	}{
		{"close-client-4321-utf8", 4321, "κόσμε 😀", 4321, "κόσμε 😀"},
		{"close-client-3000", 3000, "", 3000, ""},
		{"close-client-bom-reason", 4002, "\uFEFFbom", 4002, "\uFEFFbom"},
		{"close-client-no-code", websocket.StatusNoStatusReceived, "", 1005, ""},
		{"close-client-long-reason", 4000, strings.Repeat("é", 100), 4000, strings.Repeat("é", 61)},
	} {
		add(tc.name, 10*time.Second, func(t *T) {
			c := dial(t, "echo", "", nil)
			if err := c.Close(tc.code, tc.reason); err != nil {
				t.Errorf("Close(%d): %v", tc.code, err)
			}
			wantServerClose(t, tc.want, tc.wantR)
		})
	}

	add("close-invalid-codes", 10*time.Second, func(t *T) {
		c := dial(t, "echo", "", nil)
		for _, tc := range []struct {
			code        websocket.StatusCode
			reason      string
			unsupported bool // valid on the wire, but not from a page
		}{
			{999, "", false}, {1004, "", false}, {1005, "x", false}, {1006, "", false}, {1015, "", false},
			{2999, "", false}, {5000, "", false}, {1000, "bad \xff utf-8", false},
			{1001, "", true}, {1002, "", true}, {1009, "", true}, {1011, "", true}, {1014, "", true},
		} {
			err := c.Close(tc.code, tc.reason)
			if !errors.Is(err, websocket.ErrInvalidCloseCode) || errors.Is(err, errors.ErrUnsupported) != tc.unsupported {
				t.Errorf("Close(%d, %q): %v; want ErrInvalidCloseCode, errors.ErrUnsupported %v", tc.code, tc.reason, err, tc.unsupported)
			}
		}
		if isDone(c) {
			t.Fatalf("an invalid Close closed the Conn")
		}
		echo(t, c, websocket.MessageText, []byte("still open"))
		closeClean(t, c)
		wantServerClose(t, 1000, "")
	})

	for _, tc := range []struct {
		code   int
		reason string
	}{
		{1000, ""}, {1001, "going away"}, {1002, "protocol error"}, {1003, "unsupported"}, {1008, "policy"},
		{1011, "internal error"}, {1013, "later"}, {3000, "app"}, {4998, "\uFEFFbom"}, {4999, "κόσμε 😀"},
	} {
		add(fmt.Sprintf("close-server-%d", tc.code), 10*time.Second, func(t *T) {
			c := dial(t, "close", fmt.Sprintf("n=3&code=%d&reason=%s", tc.code, url.QueryEscape(tc.reason)), nil)
			for i := 0; i < 3; i++ {
				if _, msg, err := c.Read(t.ctx); err != nil || string(msg) != "message "+strconv.Itoa(i) {
					t.Fatalf("read %d before the close: %q, %v", i, msg, err)
				}
			}
			_, _, err := c.Read(t.ctx)
			var ce websocket.CloseError
			if !errors.As(err, &ce) || int(ce.Code) != tc.code || ce.Reason != tc.reason || websocket.CloseStatus(err) != websocket.StatusCode(tc.code) {
				t.Errorf("read after the server's close: %v; want CloseError %d %q", err, tc.code, tc.reason)
			}
			waitDone(t, c)
			if _, _, err2 := c.Read(t.ctx); err2 != err {
				t.Errorf("the next read: %v, want the same error", err2)
			}
			if err := c.Write(t.ctx, websocket.MessageText, []byte("x")); !errors.Is(err, net.ErrClosed) {
				t.Errorf("Write after the peer closed: %v, want net.ErrClosed", err)
			}
			if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
				t.Errorf("first Close after the peer closed: %v, want nil (the handshake completed)", err)
			}
			if err := c.Close(websocket.StatusNormalClosure, ""); !errors.Is(err, net.ErrClosed) {
				t.Errorf("second Close: %v, want net.ErrClosed", err)
			}
		})
	}

	add("server-fails-1009", 10*time.Second, func(t *T) {
		c := dial(t, "echo-limit", "", nil)
		echo(t, c, websocket.MessageBinary, make([]byte, 1024))
		if err := c.Write(t.ctx, websocket.MessageBinary, make([]byte, 1025)); err != nil {
			t.Fatalf("Write: %v", err)
		}
		_, _, err := c.Read(t.ctx)
		if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
			t.Errorf("read after sending more than the server's limit: %v, want CloseError 1009", err)
		}
		waitDone(t, c)
		if got := serverSaw(t, t.name); got.Code != 1009 || !strings.Contains(got.Err, "read limit") {
			t.Errorf("server ended with %+v, want its ErrMessageTooBig", got)
		}
	})

	add("server-drops", 10*time.Second, func(t *T) {
		c := dial(t, "drop", "n=2", nil)
		for i := 0; i < 2; i++ {
			if _, _, err := c.Read(t.ctx); err != nil {
				t.Fatalf("read %d before the drop: %v", i, err)
			}
		}
		_, _, err := c.Read(t.ctx)
		if !errors.Is(err, io.ErrUnexpectedEOF) || websocket.CloseStatus(err) != -1 {
			t.Errorf("read after the server dropped TCP: %v, want an error wrapping io.ErrUnexpectedEOF", err)
		}
		waitDone(t, c)
		if err := c.Write(t.ctx, websocket.MessageText, []byte("x")); !errors.Is(err, net.ErrClosed) {
			t.Errorf("Write after the drop: %v, want net.ErrClosed", err)
		}
	})

	add("client-read-limit-1009", 10*time.Second, func(t *T) {
		c := dial(t, "push", "sizes=1000,10,1001,20", &websocket.DialOptions{ConnOptions: websocket.ConnOptions{ReadLimit: 1000}})
		for i := 0; i < 2; i++ {
			if _, msg, err := c.Read(t.ctx); err != nil || binary.BigEndian.Uint32(msg) != uint32(i) {
				t.Fatalf("read %d before the big one: %v", i, err)
			}
		}
		_, _, err := c.Read(t.ctx)
		if !errors.Is(err, websocket.ErrMessageTooBig) {
			t.Errorf("read of a message over the limit: %v, want ErrMessageTooBig", err)
		}
		waitDone(t, c)
		wantServerClose(t, 4009, "message exceeds the read limit")
	})

	add("set-read-limit", 10*time.Second, func(t *T) {
		c := dial(t, "echo", "", nil)
		c.SetReadLimit(100)
		echo(t, c, websocket.MessageText, makeText(100))
		c.Write(t.ctx, websocket.MessageText, makeText(101))
		if _, _, err := c.Read(t.ctx); !errors.Is(err, websocket.ErrMessageTooBig) {
			t.Errorf("read over SetReadLimit(100): %v, want ErrMessageTooBig", err)
		}
	})

	add("queue-bound-bytes", 20*time.Second, func(t *T) {
		// 100 messages of 1 KiB against a 64 KiB limit, none read while
		// they arrive: the first 64 fit, the 65th fails the connection.
		c := dial(t, "push", "n=100&size=1024", &websocket.DialOptions{ConnOptions: websocket.ConnOptions{ReadLimit: 64 << 10}})
		waitDone(t, c)
		for i := 0; i < 64; i++ {
			if _, msg, err := c.Read(t.ctx); err != nil || binary.BigEndian.Uint32(msg) != uint32(i) {
				t.Fatalf("queued message %d: %v", i, err)
			}
		}
		_, _, err := c.Read(t.ctx)
		var pe *websocket.ProtocolError
		if !errors.As(err, &pe) || pe.Code != websocket.StatusMessageTooBig || !strings.Contains(pe.Reason, "unread") {
			t.Errorf("read after the queue bound: %v, want the *ProtocolError for unread messages", err)
		}
		wantServerClose(t, 4009, pe.Reason)
	})

	add("queue-bound-count", 30*time.Second, func(t *T) {
		c := dial(t, "push", "n=4200&size=0", &websocket.DialOptions{ConnOptions: websocket.ConnOptions{ReadLimit: -1}})
		waitDone(t, c)
		got := 0
		var err error
		for {
			if _, _, err = c.Read(t.ctx); err != nil {
				break
			}
			got++
		}
		var pe *websocket.ProtocolError
		if got != 4096 || !errors.As(err, &pe) {
			t.Errorf("read %d messages then %v; want 4096, then the *ProtocolError for unread messages", got, err)
		}
	})

	add("many-messages-in-flight", 60*time.Second, func(t *T) {
		c := dial(t, "echo", "", bigLimit)
		const n = 1000
		msgs := make([][]byte, n)
		for i := range msgs {
			if i%2 == 0 {
				msgs[i] = makeText((i * 7919) % 3000)
			} else {
				msgs[i] = makeBinary((i*7919)%3000, uint64(i))
			}
		}
		read := make(chan error, 1)
		go func() {
			for i := range msgs {
				typ, got, err := c.Read(t.ctx)
				if err != nil {
					read <- fmt.Errorf("read %d: %w", i, err)
					return
				}
				if typ != websocket.MessageType(1+i%2) || !bytes.Equal(got, msgs[i]) {
					read <- fmt.Errorf("message %d: %v of %d bytes, want %d bytes", i, typ, len(got), len(msgs[i]))
					return
				}
			}
			read <- nil
		}()
		for i, m := range msgs {
			typ := websocket.MessageText
			if i%2 == 1 {
				typ = websocket.MessageBinary
			}
			if err := c.Write(t.ctx, typ, m); err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
		if err := <-read; err != nil {
			t.Fatalf("%v", err)
		}
		closeClean(t, c)
	})

	add("concurrent-writers", 60*time.Second, func(t *T) {
		c := dial(t, "echo", "", nil)
		const writers, each = 4, 200
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					var err error
					msg := fmt.Appendf(nil, "%d %d %s", w, i, makeText(i*5))
					if i%3 == 0 {
						var wr io.WriteCloser
						if wr, err = c.Writer(t.ctx, websocket.MessageText); err == nil {
							wr.Write(msg[:len(msg)/2])
							wr.Write(msg[len(msg)/2:])
							err = wr.Close()
						}
					} else {
						err = c.Write(t.ctx, websocket.MessageText, msg)
					}
					if err != nil {
						t.Errorf("writer %d, message %d: %v", w, i, err)
						return
					}
				}
			}()
		}
		next := make([]int, writers)
		for k := 0; k < writers*each; k++ {
			_, got, err := c.Read(t.ctx)
			if err != nil {
				t.Fatalf("read %d: %v", k, err)
			}
			var w, i int
			fmt.Sscanf(string(got), "%d %d", &w, &i)
			if w < 0 || w >= writers || i != next[w] || !bytes.Equal(got, fmt.Appendf(nil, "%d %d %s", w, i, makeText(i*5))) {
				t.Fatalf("read %d: %.20q, want writer %d's message %d intact", k, got, w, next[max(0, min(w, writers-1))])
			}
			next[w]++
		}
		wg.Wait()
		closeClean(t, c)
	})

	add("write-backpressure", 60*time.Second, func(t *T) {
		// The server reads nothing: once the socket buffers are full, the
		// browser's bufferedAmount grows, and Write must wait rather than
		// queue without bound.
		c := dial(t, "sink", "", nil)
		defer c.CloseNow()
		msg := make([]byte, 1<<20)
		for i := 0; i < 256; i++ {
			ctx, cancel := context.WithTimeout(t.ctx, 2*time.Second)
			err := c.Write(ctx, websocket.MessageBinary, msg)
			cancel()
			if errors.Is(err, context.DeadlineExceeded) {
				if isDone(c) {
					t.Errorf("a Write that waited closed the Conn")
				}
				return
			}
			if err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
		}
		t.Errorf("256 MiB went to a peer that reads nothing and no Write waited")
	})

	add("close-timeout", 20*time.Second, func(t *T) {
		c := dial(t, "sink", "", &websocket.DialOptions{ConnOptions: websocket.ConnOptions{CloseTimeout: 300 * time.Millisecond}})
		start := time.Now()
		err := c.Close(websocket.StatusNormalClosure, "")
		if !errors.Is(err, websocket.ErrCloseTimeout) {
			t.Errorf("Close against a peer that never answers: %v, want ErrCloseTimeout", err)
		}
		if d := time.Since(start); d > 3*time.Second {
			t.Errorf("Close took %v with a 300 ms close timeout", d)
		}
		if !isDone(c) {
			t.Errorf("Done not closed after the close timeout")
		}
	})

	add("ping-unsupported", 10*time.Second, func(t *T) {
		c := dial(t, "echo", "", nil)
		if err := c.Ping(t.ctx); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("Ping: %v, want an error wrapping errors.ErrUnsupported", err)
		}
		echo(t, c, websocket.MessageText, []byte("Ping left it usable"))
		closeClean(t, c)
	})

	add("compressed-and-write-uncompressed", 20*time.Second, func(t *T) {
		c := dial(t, "echo", "", bigLimit)
		if c.Compressed() {
			t.Errorf("Compressed() with a server that declines compression")
		}
		if err := c.WriteUncompressed(t.ctx, websocket.MessageBinary, []byte("plain")); err != nil {
			t.Errorf("WriteUncompressed without compression: %v", err)
		}
		if _, msg, err := c.Read(t.ctx); err != nil || string(msg) != "plain" {
			t.Errorf("echo of WriteUncompressed: %q, %v", msg, err)
		}
		closeClean(t, c)
		c = dial(t, "echo-deflate", "", bigLimit)
		if !c.Compressed() {
			t.Errorf("Compressed() false with a server that accepts the browser's permessage-deflate")
		}
		if err := c.WriteUncompressed(t.ctx, websocket.MessageBinary, []byte("x")); !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("WriteUncompressed with compression agreed: %v, want errors.ErrUnsupported", err)
		}
		echo(t, c, websocket.MessageText, makeText(1<<20))
		echo(t, c, websocket.MessageBinary, makeBinary(100000, 9))
		closeClean(t, c)
	})

	add("json", 10*time.Second, func(t *T) {
		c := dial(t, "echo", "", nil)
		type doc struct {
			Name string         `json:"name"`
			N    []int          `json:"n"`
			M    map[string]any `json:"m"`
		}
		want := doc{Name: "κόσμε <&>", N: []int{1, 2, 3}, M: map[string]any{"ok": true}}
		if err := c.WriteJSON(t.ctx, want); err != nil {
			t.Fatalf("WriteJSON: %v", err)
		}
		var got doc
		if err := c.ReadJSON(t.ctx, &got); err != nil || got.Name != want.Name || len(got.N) != 3 || got.M["ok"] != true {
			t.Errorf("ReadJSON: %+v, %v; want %+v", got, err, want)
		}
		c.Write(t.ctx, websocket.MessageText, []byte("{not json"))
		if err := c.ReadJSON(t.ctx, &got); err == nil {
			t.Errorf("ReadJSON of invalid JSON succeeded")
		}
		echo(t, c, websocket.MessageText, []byte("usable after a bad JSON message"))
		closeClean(t, c)
	})

	add("close-read", 10*time.Second, func(t *T) {
		c := dial(t, "push", "n=5&size=8", nil)
		seen := 0
		c.CloseRead(func(typ websocket.MessageType, msg []byte) error {
			if seen++; seen == 3 {
				return errors.New("three is enough")
			}
			return nil
		})
		waitDone(t, c)
		if seen != 3 {
			t.Errorf("handle saw %d messages, want 3", seen)
		}
		wantServerClose(t, 4008, "three is enough")
		c, _, err := websocket.Dial(t.ctx, base+"/ws/close?id="+t.name+"-discard&n=4&code=1000&reason=bye", nil)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		c.CloseRead(websocket.DiscardMessage)
		waitDone(t, c)
		if got := serverSaw(t, t.name+"-discard"); got.Code != 1000 || got.Reason != "bye" {
			t.Errorf("server of the DiscardMessage connection ended with %+v, want its close 1000 bye", got)
		}
	})

	add("close-now", 10*time.Second, func(t *T) {
		c := dial(t, "push", "n=3&size=8", nil)
		time.Sleep(100 * time.Millisecond) // let the messages arrive
		blocked := make(chan error, 1)
		if err := c.CloseNow(); err != nil {
			t.Errorf("CloseNow: %v", err)
		}
		go func() { _, _, err := c.Read(t.ctx); blocked <- err }()
		if err := <-blocked; !errors.Is(err, net.ErrClosed) {
			t.Errorf("Read after CloseNow: %v, want net.ErrClosed (queued messages are dropped)", err)
		}
		if !isDone(c) {
			t.Errorf("Done not closed after CloseNow")
		}
		if err := c.CloseNow(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("second CloseNow: %v, want net.ErrClosed", err)
		}
		wantServerClose(t, 1005, "")
	})

	add("close-unblocks-read", 10*time.Second, func(t *T) {
		c := dial(t, "echo", "", nil)
		read := make(chan error, 1)
		go func() { _, _, err := c.Read(t.ctx); read <- err }()
		time.Sleep(50 * time.Millisecond)
		if err := c.Close(4001, "done"); err != nil {
			t.Errorf("Close: %v", err)
		}
		if err := <-read; websocket.CloseStatus(err) != 4001 {
			t.Errorf("the blocked Read: %v, want the CloseError of the echoed close 4001", err)
		}
	})
	return cs
}
