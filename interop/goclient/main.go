// Command goclient checks this library's client (websocket.Dial) against an
// echo server written by someone else: interop/node_server.js (Node "ws") or
// interop/py_server.py (Python "websockets").
//
//	goclient -url ws://127.0.0.1:PORT -name go-client/node
//	goclient -url ws://127.0.0.1:PORT -name go-client/node/deflate -compress \
//		-want-ext 'permessage-deflate; client_no_context_takeover'
//
// With -compress it offers permessage-deflate and runs the compression
// checks of compress.go instead.
//
// With -http2 every Dial goes through one websocket.HTTP2Pool (RFC 8441),
// to wss:// (certificate not verified) or ws:// (h2c), and must be answered
// over HTTP/2; the checks of http2.go run too. The server is then
// interop/node_h2_server.js, whose report server -report names:
//
//	goclient -http2 -url wss://127.0.0.1:PORT -report http://127.0.0.1:RPORT -name h2-go-client/node
//
// The server must answer plain HTTP GET /__report/<path> with what it saw on
// the connection to /<path> (close code received, pong received); both
// interop servers do. Prints one "ok   NAME/check" or "FAIL NAME/check:
// reason" line per check and exits 1 if any failed.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ccf874ba/websocket"
)

var sizes = []int{0, 1, 125, 126, 65535, 65536, 1 << 20, 16 << 20}

var utf8Cases = []struct{ name, s string }{
	{"greek", "κόσμε"},
	{"emoji", "😀🎉👍🏽 🧑\u200d🚀"},
	{"cjk", "日本語のテキスト, 中文, 한국어"},
	{"mixed", "Hello-µ@ßöäüàá-UTF-8!! κόσμε 😀 日本"},
	{"max-codepoint", "\U0010FFFF\uFFFF\uE000"},
	{"bom-nul", "\uFEFFbom and nul\x00byte"},
}

type tester struct {
	base   string // ws://host:port
	report string // http://host:port
	suite  string
	failed int
	seq    int

	compression *websocket.CompressionOptions // -compress: offered by every dial
	wantExt     string                        // -want-ext
	big         bool                          // -big: 16 MiB messages too

	h2    *websocket.HTTP2Pool // -http2: every Dial through it
	h2TLS *tls.Config          // and this one TLS configuration: the pool shares a connection only among Dials with the same
}

// transport sets what -http2 asks of every Dial on opts (nil: new options).
func (t *tester) transport(opts *websocket.DialOptions) *websocket.DialOptions {
	if opts == nil {
		opts = &websocket.DialOptions{}
	}
	if t.h2 != nil {
		opts.HTTP2 = t.h2
		opts.TLSConfig = t.h2TLS
	}
	return opts
}

// checkProto says whether a Dial's answer came the way -http2 asks.
func (t *tester) checkProto(resp *http.Response) error {
	if t.h2 != nil && (resp == nil || resp.ProtoMajor != 2) {
		proto := "no response"
		if resp != nil {
			proto = resp.Proto
		}
		return fmt.Errorf("answered over %s, want HTTP/2", proto)
	}
	return nil
}

func main() {
	url := flag.String("url", "", "ws://HOST:PORT of the echo server")
	name := flag.String("name", "go-client", "prefix of the check names")
	compress := flag.Bool("compress", false, "offer permessage-deflate and run the compression checks")
	window := flag.Int("compress-window", 0, "with -compress: CompressionOptions.MaxWindowBits (offers server_max_window_bits when 8 to 14)")
	noContext := flag.Bool("compress-no-context-takeover", false, "with -compress: CompressionOptions.NoContextTakeover (offers server_no_context_takeover)")
	level := flag.Int("compress-level", 0, "with -compress: CompressionOptions.Level")
	wantExt := flag.String("want-ext", "", "with -compress: the Sec-WebSocket-Extensions response expected, compared parameter by parameter; \"none\" for no extension")
	big := flag.Bool("big", false, "with -compress: echo 16 MiB messages too")
	takeover := flag.Bool("compress-context-takeover", false, "with -compress: CompressionOptions.ContextTakeover (our messages refer to earlier ones, and the offer drops client_no_context_takeover)")
	useHTTP2 := flag.Bool("http2", false, "dial over HTTP/2 (RFC 8441) through one shared HTTP2Pool; wss:// URLs are not verified, ws:// ones use h2c")
	reportURL := flag.String("report", "", "http://HOST:PORT of the server's report endpoints (default: the -url host)")
	flag.Parse()
	if !strings.HasPrefix(*url, "ws://") && !(*useHTTP2 && strings.HasPrefix(*url, "wss://")) {
		fmt.Fprintln(os.Stderr, "goclient: -url ws://HOST:PORT is required (or wss:// with -http2)")
		os.Exit(2)
	}
	base := strings.TrimRight(*url, "/")
	t := &tester{base: base, report: "http://" + strings.TrimPrefix(base, "ws://"), suite: *name}
	if *reportURL != "" {
		t.report = strings.TrimRight(*reportURL, "/")
	}
	if *useHTTP2 {
		// One pool for the whole run, kept open between checks, so that
		// every WebSocket should ride the same connection.
		t.h2 = &websocket.HTTP2Pool{AllowHTTP: true, IdleTimeout: time.Minute}
		t.h2TLS = &tls.Config{InsecureSkipVerify: true}
		defer t.h2.Close()
	}
	if *compress {
		t.compression = &websocket.CompressionOptions{MaxWindowBits: *window, NoContextTakeover: *noContext, Level: *level, ContextTakeover: *takeover}
		t.wantExt = *wantExt
		t.big = *big
		t.runCompress()
	} else {
		t.run()
		if t.h2 != nil {
			t.runHTTP2()
		}
	}
	if t.failed > 0 {
		os.Exit(1)
	}
}

// check runs fn with a time limit and prints its outcome.
func (t *tester) check(name string, limit time.Duration, fn func(ctx context.Context) error) {
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	errc := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("panic: %v", r)
			}
		}()
		errc <- fn(ctx)
	}()
	var err error
	select {
	case err = <-errc:
	case <-time.After(limit + 5*time.Second):
		err = fmt.Errorf("timed out after %v (check ignored its context)", limit)
	}
	if err == nil {
		fmt.Printf("ok   %s/%s\n", t.suite, name)
		return
	}
	t.failed++
	msg := strings.ReplaceAll(err.Error(), "\n", " | ")
	if errors.Is(err, context.DeadlineExceeded) {
		msg = fmt.Sprintf("timed out after %v: %s", limit, msg)
	}
	fmt.Printf("FAIL %s/%s: %s\n", t.suite, name, msg)
}

// dial connects to a fresh path and returns it (without the leading slash).
func (t *tester) dial(ctx context.Context, prefix string, opts *websocket.DialOptions) (*websocket.Conn, string, error) {
	t.seq++
	path := fmt.Sprintf("%s%s-%d", prefix, strings.ReplaceAll(t.suite, "/", "-"), t.seq)
	opts = t.transport(opts)
	if opts.ReadLimit == 0 {
		opts.ReadLimit = 64 << 20
	}
	c, resp, err := websocket.Dial(ctx, t.base+"/"+path, opts)
	if err != nil {
		if resp != nil {
			return nil, "", fmt.Errorf("dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, "", fmt.Errorf("dial: %w", err)
	}
	if err := t.checkProto(resp); err != nil {
		c.CloseNow()
		return nil, "", err
	}
	return c, path, nil
}

type report struct {
	Closed     bool          `json:"closed"`
	Code       *int          `json:"code"`
	Reason     string        `json:"reason"`
	Pong       bool          `json:"pong"`
	Messages   int           `json:"messages"`
	Wire       int64         `json:"wire"`       // bytes received after the handshake
	Extensions string        `json:"extensions"` // Sec-WebSocket-Extensions sent
	Deflate    *deflateStats `json:"deflate"`    // node_server.js --deflate only
}

// deflateStats is node_server.js's account of the client's messages as
// they were on the wire.
type deflateStats struct {
	Compressed        int      `json:"compressed"`
	Uncompressed      int      `json:"uncompressed"`
	MaxDist           int      `json:"maxDist"`
	Violations        int      `json:"violations"`
	RSVOnContinuation int      `json:"rsvOnContinuation"`
	Errors            []string `json:"errors"`
}

// peerReport asks the server what it saw on the connection to /path.
func (t *tester) peerReport(ctx context.Context, path string) (*report, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", t.report+"/__report/"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("report: HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(body))
	}
	var r report
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("report: %w: %q", err, body)
	}
	return &r, nil
}

// expectPeerClose checks the server received a close frame with code.
func (t *tester) expectPeerClose(ctx context.Context, path string, code int) error {
	r, err := t.peerReport(ctx, path)
	if err != nil {
		return err
	}
	if !r.Closed || r.Code == nil {
		return fmt.Errorf("server saw no close of the connection within 3 s")
	}
	if *r.Code != code {
		return fmt.Errorf("server received close code %d (reason %q), want %d", *r.Code, r.Reason, code)
	}
	return nil
}

// closeClean closes with 1000 and checks the server received 1000.
func (t *tester) closeClean(ctx context.Context, c *websocket.Conn, path string) error {
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		return fmt.Errorf("Close(1000): %w", err)
	}
	return t.expectPeerClose(ctx, path, 1000)
}

func makeText(n int) []byte {
	const unit = "abc κόσμε 😀 日本語 " // 30 bytes
	b := bytes.Repeat([]byte(unit), n/len(unit))
	b = append(b, bytes.Repeat([]byte("x"), n-len(b))...)
	return b
}

func makeBinary(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func sizeName(n int) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprint(n)
}

func describe(b []byte) string {
	h := b
	if len(h) > 16 {
		h = h[:16]
	}
	s := fmt.Sprintf("%d bytes [%s", len(b), hex.EncodeToString(h))
	if len(b) > 16 {
		s += "..."
	}
	return s + "]"
}

func typeName(t websocket.MessageType) string {
	switch t {
	case websocket.MessageText:
		return "text"
	case websocket.MessageBinary:
		return "binary"
	}
	return fmt.Sprintf("type %d", int(t))
}

func expectEqual(gotType websocket.MessageType, got []byte, wantType websocket.MessageType, want []byte) error {
	if gotType != wantType {
		return fmt.Errorf("got a %s message, want %s", typeName(gotType), typeName(wantType))
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		return fmt.Errorf("echo differs: got %s, want %s, first difference at byte %d", describe(got), describe(want), i)
	}
	return nil
}

func roundTrip(ctx context.Context, c *websocket.Conn, typ websocket.MessageType, p []byte) error {
	if err := c.Write(ctx, typ, p); err != nil {
		return fmt.Errorf("Write: %w", err)
	}
	gotType, got, err := c.Read(ctx)
	if err != nil {
		return fmt.Errorf("Read: %w", err)
	}
	return expectEqual(gotType, got, typ, p)
}

func (t *tester) run() {
	for _, n := range sizes {
		limit := 10 * time.Second
		if n >= 1<<20 {
			limit = time.Minute
		}
		for _, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
			t.check(typeName(typ)+"-"+sizeName(n), limit, func(ctx context.Context) error {
				c, path, err := t.dial(ctx, "", nil)
				if err != nil {
					return err
				}
				defer c.CloseNow()
				p := makeBinary(n)
				if typ == websocket.MessageText {
					p = makeText(n)
				}
				if err := roundTrip(ctx, c, typ, p); err != nil {
					return err
				}
				return t.closeClean(ctx, c, path)
			})
		}
	}

	t.check("utf8", 10*time.Second, func(ctx context.Context) error {
		c, path, err := t.dial(ctx, "", nil)
		if err != nil {
			return err
		}
		defer c.CloseNow()
		for _, tc := range utf8Cases {
			if err := roundTrip(ctx, c, websocket.MessageText, []byte(tc.s)); err != nil {
				return fmt.Errorf("%s: %w", tc.name, err)
			}
		}
		return t.closeClean(ctx, c, path)
	})

	for _, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
		t.check("writer-fragmented-"+typeName(typ), 20*time.Second, func(ctx context.Context) error {
			c, path, err := t.dial(ctx, "", nil)
			if err != nil {
				return err
			}
			defer c.CloseNow()
			whole := makeBinary(300000)
			if typ == websocket.MessageText {
				whole = makeText(300000)
			}
			w, err := c.Writer(ctx, typ)
			if err != nil {
				return fmt.Errorf("Writer: %w", err)
			}
			// Uneven pieces, cutting UTF-8 sequences in the text case.
			for _, piece := range [][]byte{whole[:1], whole[1:13], whole[13:100001], whole[100001:]} {
				if _, err := w.Write(piece); err != nil {
					return fmt.Errorf("Writer.Write: %w", err)
				}
			}
			if err := w.Close(); err != nil {
				return fmt.Errorf("Writer.Close: %w", err)
			}
			gotType, r, err := c.Reader(ctx)
			if err != nil {
				return fmt.Errorf("Reader: %w", err)
			}
			got, err := io.ReadAll(r)
			if err != nil {
				return fmt.Errorf("reading the message: %w", err)
			}
			if err := expectEqual(gotType, got, typ, whole); err != nil {
				return err
			}
			return t.closeClean(ctx, c, path)
		})
	}

	for _, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
		t.check("server-fragmented-"+typeName(typ), 20*time.Second, func(ctx context.Context) error {
			// The server echoes in 3 fragments cut at byte offsets.
			c, path, err := t.dial(ctx, "frag-", nil)
			if err != nil {
				return err
			}
			defer c.CloseNow()
			for _, n := range []int{3, 1000, 1 << 20} {
				p := makeBinary(n)
				if typ == websocket.MessageText {
					p = makeText(n)
				}
				if err := roundTrip(ctx, c, typ, p); err != nil {
					return fmt.Errorf("%d bytes: %w", n, err)
				}
			}
			return t.closeClean(ctx, c, path)
		})
	}

	t.check("ping", 10*time.Second, func(ctx context.Context) error {
		c, path, err := t.dial(ctx, "", nil)
		if err != nil {
			return err
		}
		defer c.CloseNow()
		// A reader goroutine, as an application has, receives the pongs
		// and the echoes.
		readErr := make(chan error, 1)
		msgs := make(chan []byte, 1)
		go func() {
			for {
				_, p, err := c.Read(context.Background())
				if err != nil {
					readErr <- err
					return
				}
				msgs <- p
			}
		}()
		for i := 0; i < 3; i++ {
			if err := c.Ping(ctx); err != nil {
				return fmt.Errorf("Ping %d: %w", i+1, err)
			}
		}
		if err := c.Write(ctx, websocket.MessageText, []byte("after pings")); err != nil {
			return fmt.Errorf("Write: %w", err)
		}
		select {
		case p := <-msgs:
			if string(p) != "after pings" {
				return fmt.Errorf("echo %q, want %q", p, "after pings")
			}
		case err := <-readErr:
			return fmt.Errorf("Read: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		}
		if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
			return fmt.Errorf("Close(1000): %w", err)
		}
		return t.expectPeerClose(ctx, path, 1000)
	})

	t.check("server-ping-answered", 10*time.Second, func(ctx context.Context) error {
		// The server pings every connection on open with payload
		// "srv-ping:/<path>" and records a pong with that payload.
		c, path, err := t.dial(ctx, "", nil)
		if err != nil {
			return err
		}
		defer c.CloseNow()
		if err := roundTrip(ctx, c, websocket.MessageText, []byte("read so the ping is seen")); err != nil {
			return err
		}
		if err := t.closeClean(ctx, c, path); err != nil {
			return err
		}
		r, err := t.peerReport(ctx, path)
		if err != nil {
			return err
		}
		if !r.Pong {
			return fmt.Errorf("server got no pong carrying its ping's payload")
		}
		return nil
	})

	t.check("many-messages-pipelined", 20*time.Second, func(ctx context.Context) error {
		c, path, err := t.dial(ctx, "", nil)
		if err != nil {
			return err
		}
		defer c.CloseNow()
		type msg struct {
			typ websocket.MessageType
			p   []byte
		}
		var msgs []msg
		for i := 0; i < 1000; i++ {
			n := (i * 7919) % 3000
			if i%2 == 1 {
				msgs = append(msgs, msg{websocket.MessageBinary, makeBinary(n)})
			} else {
				msgs = append(msgs, msg{websocket.MessageText, makeText(n)})
			}
		}
		werr := make(chan error, 1)
		go func() {
			for i, m := range msgs {
				if err := c.Write(ctx, m.typ, m.p); err != nil {
					werr <- fmt.Errorf("Write %d: %w", i, err)
					return
				}
			}
			werr <- nil
		}()
		for i, m := range msgs {
			typ, p, err := c.Read(ctx)
			if err != nil {
				return fmt.Errorf("Read %d: %w", i, err)
			}
			if err := expectEqual(typ, p, m.typ, m.p); err != nil {
				return fmt.Errorf("message %d: %w", i, err)
			}
		}
		if err := <-werr; err != nil {
			return err
		}
		return t.closeClean(ctx, c, path)
	})

	t.check("concurrent-writers", 30*time.Second, func(ctx context.Context) error {
		// Conn is safe for concurrent use: 8 goroutines write at once;
		// every message must come back whole.
		c, path, err := t.dial(ctx, "", nil)
		if err != nil {
			return err
		}
		defer c.CloseNow()
		const writers, each = 8, 50
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			sent []string
			werr error
		)
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < each; i++ {
					body := fmt.Sprintf("writer %d message %d ", w, i) + strings.Repeat(string(rune('a'+w)), (i*997)%70000)
					mu.Lock()
					sent = append(sent, body)
					mu.Unlock()
					if err := c.Write(ctx, websocket.MessageText, []byte(body)); err != nil {
						mu.Lock()
						werr = fmt.Errorf("Write: %w", err)
						mu.Unlock()
						return
					}
				}
			}()
		}
		var got []string
		for len(got) < writers*each {
			_, p, err := c.Read(ctx)
			if err != nil {
				mu.Lock()
				defer mu.Unlock()
				return fmt.Errorf("Read after %d messages: %w (write error: %v)", len(got), err, werr)
			}
			got = append(got, string(p))
		}
		wg.Wait()
		if werr != nil {
			return werr
		}
		sort.Strings(sent)
		sort.Strings(got)
		for i := range sent {
			if sent[i] != got[i] {
				return fmt.Errorf("the echoed messages differ from those sent (first sorted difference: got %d bytes %.40q, want %d bytes %.40q)", len(got[i]), got[i], len(sent[i]), sent[i])
			}
		}
		return t.closeClean(ctx, c, path)
	})

	t.check("close-1000", 10*time.Second, func(ctx context.Context) error {
		c, path, err := t.dial(ctx, "", nil)
		if err != nil {
			return err
		}
		defer c.CloseNow()
		if err := roundTrip(ctx, c, websocket.MessageText, []byte("before close")); err != nil {
			return err
		}
		return t.closeClean(ctx, c, path)
	})

	t.check("server-close-4001", 10*time.Second, func(ctx context.Context) error {
		// The server closes at once with 4001 "bye".
		c, path, err := t.dial(ctx, "close-4001-", nil)
		if err != nil {
			return err
		}
		defer c.CloseNow()
		_, p, err := c.Read(ctx)
		if err == nil {
			return fmt.Errorf("Read returned a message (%s), want the close", describe(p))
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			return fmt.Errorf("Read error %v (%T), want a websocket.CloseError", err, err)
		}
		if websocket.CloseStatus(err) != 4001 || ce.Reason != "bye" {
			return fmt.Errorf("CloseStatus %d, reason %q; want 4001, \"bye\"", websocket.CloseStatus(err), ce.Reason)
		}
		// The library answers the close frame itself, echoing the code.
		return t.expectPeerClose(ctx, path, 4001)
	})

	t.check("read-limit-closes-1009", 10*time.Second, func(ctx context.Context) error {
		c, path, err := t.dial(ctx, "", &websocket.DialOptions{ConnOptions: websocket.ConnOptions{ReadLimit: 1024}})
		if err != nil {
			return err
		}
		defer c.CloseNow()
		if err := roundTrip(ctx, c, websocket.MessageBinary, makeBinary(1024)); err != nil {
			return fmt.Errorf("at the limit: %w", err)
		}
		if err := c.Write(ctx, websocket.MessageBinary, makeBinary(1025)); err != nil {
			return fmt.Errorf("Write: %w", err)
		}
		_, p, err := c.Read(ctx)
		if err == nil {
			return fmt.Errorf("Read returned %s beyond the 1024-byte limit", describe(p))
		}
		if !errors.Is(err, websocket.ErrMessageTooBig) {
			return fmt.Errorf("Read error %v, want ErrMessageTooBig", err)
		}
		return t.expectPeerClose(ctx, path, 1009)
	})

	t.check("subprotocol", 10*time.Second, func(ctx context.Context) error {
		c, path, err := t.dial(ctx, "", &websocket.DialOptions{Subprotocols: []string{"chat.v2", "echo.v1"}})
		if err != nil {
			return err
		}
		defer c.CloseNow()
		if got := c.Subprotocol(); got != "echo.v1" {
			return fmt.Errorf("Subprotocol() = %q, want %q", got, "echo.v1")
		}
		return t.closeClean(ctx, c, path)
	})

	t.check("handshake-403-is-ErrBadHandshake", 10*time.Second, func(ctx context.Context) error {
		t.seq++
		c, resp, err := websocket.Dial(ctx, fmt.Sprintf("%s/reject-%d", t.base, t.seq), t.transport(nil))
		if err == nil {
			c.CloseNow()
			return fmt.Errorf("Dial succeeded, want the server's 403")
		}
		if !errors.Is(err, websocket.ErrBadHandshake) {
			return fmt.Errorf("Dial error %v, want one wrapping ErrBadHandshake", err)
		}
		if resp == nil || resp.StatusCode != http.StatusForbidden {
			return fmt.Errorf("Dial response %v, want status 403", resp)
		}
		return nil
	})

	t.check("close-reason-utf8", 10*time.Second, func(ctx context.Context) error {
		c, path, err := t.dial(ctx, "", nil)
		if err != nil {
			return err
		}
		defer c.CloseNow()
		reason := "done κόσμε 😀"
		if err := c.Close(4000, reason); err != nil {
			return fmt.Errorf("Close(4000): %w", err)
		}
		r, err := t.peerReport(ctx, path)
		if err != nil {
			return err
		}
		if r.Code == nil || *r.Code != 4000 || r.Reason != reason || !utf8.ValidString(r.Reason) {
			code := -1
			if r.Code != nil {
				code = *r.Code
			}
			return fmt.Errorf("server received close %d %q, want 4000 %q", code, r.Reason, reason)
		}
		return nil
	})
}
