package main

// The -compress checks: websocket.Dial with DialOptions.Compression against
// node_server.js --deflate=... or py_server.py --deflate=...

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/ccf874ba/websocket"
)

var compressSizes = []int{0, 1, 200, 4096, 65536, 1 << 20, 16 << 20}

// compressThreshold is the library's default CompressionOptions.Threshold:
// shorter messages go out uncompressed. With ContextTakeover agreed it is
// 16 bytes (session.threshold).
const compressThreshold = 128

// makeJSON returns compressible JSON-like text with multi-byte UTF-8, exactly
// n bytes (padded with spaces); the same records as payload.js.
func makeJSON(n int) []byte {
	var b bytes.Buffer
	for i := 0; ; i++ {
		rec := fmt.Sprintf(`{"id":%d,"user":"user-%d","name":"κόσμε %d 😀","tags":["日本語","alpha","beta"],"score":%d.%d,"ok":%t},`,
			i, i%97, i%13, (i*7919)%1000, i%10, i%3 == 0)
		if b.Len()+len(rec) > n {
			break
		}
		b.WriteString(rec)
	}
	for b.Len() < n {
		b.WriteByte(' ')
	}
	return b.Bytes()
}

// makePeriodic repeats one random block of period bytes: a compressor finds
// matches exactly period bytes back.
func makePeriodic(n, period int) []byte {
	block := makeBinary(period)
	out := make([]byte, n)
	for i := 0; i < n; i += period {
		copy(out[i:], block)
	}
	return out
}

// extParams normalises one Sec-WebSocket-Extensions value: the elements,
// each as its name followed by its sorted parameters ("k" or "k=v").
func extParams(h string) [][]string {
	var out [][]string
	for _, el := range strings.Split(h, ",") {
		if strings.TrimSpace(el) == "" {
			continue
		}
		parts := strings.Split(el, ";")
		var params []string
		for _, p := range parts[1:] {
			k, v, hasV := strings.Cut(p, "=")
			k = strings.TrimSpace(k)
			if hasV {
				k += "=" + strings.Trim(strings.TrimSpace(v), `"`)
			}
			params = append(params, k)
		}
		sort.Strings(params)
		out = append(out, append([]string{strings.TrimSpace(parts[0])}, params...))
	}
	return out
}

func sameExtensions(a, b string) bool {
	return fmt.Sprint(extParams(a)) == fmt.Sprint(extParams(b))
}

// windowParam returns the value of a *_max_window_bits parameter in the
// negotiated extension, 15 when absent.
func windowParam(h, key string) int {
	for _, el := range extParams(h) {
		for _, p := range el[1:] {
			if v, ok := strings.CutPrefix(p, key+"="); ok {
				if n, err := strconv.Atoi(v); err == nil {
					return n
				}
			}
		}
	}
	return 15
}

// session is one connection that consecutive checks share, so that the
// server's context takeover spans many messages.
type session struct {
	c      *websocket.Conn
	path   string
	header string // the server's Sec-WebSocket-Extensions
	sent   int    // messages sent
	big    int    // of which at least threshold bytes long
	// threshold is the size from which the library compresses: lower
	// when we compress with context takeover (the server did not answer
	// client_no_context_takeover).
	threshold int
}

func (s *session) write(ctx context.Context, typ websocket.MessageType, p []byte) error {
	s.count(len(p))
	return s.c.Write(ctx, typ, p)
}

func (s *session) count(n int) {
	s.sent++
	if n >= s.threshold {
		s.big++
	}
}

func (s *session) roundTrip(ctx context.Context, typ websocket.MessageType, p []byte) error {
	if err := s.write(ctx, typ, p); err != nil {
		return fmt.Errorf("Write: %w", err)
	}
	gotType, got, err := s.c.Read(ctx)
	if err != nil {
		return fmt.Errorf("Read: %w", err)
	}
	return expectEqual(gotType, got, typ, p)
}

func (t *tester) dialCompressed(ctx context.Context, prefix string, readLimit int64) (*session, error) {
	t.seq++
	path := fmt.Sprintf("%s%s-%d", prefix, strings.ReplaceAll(t.suite, "/", "-"), t.seq)
	if readLimit == 0 {
		readLimit = 64 << 20
	}
	c, resp, err := websocket.Dial(ctx, t.base+"/"+path, t.transport(&websocket.DialOptions{ConnOptions: websocket.ConnOptions{Compression: t.compression, ReadLimit: readLimit}}))
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dial: %w", err)
	}
	if err := t.checkProto(resp); err != nil {
		c.CloseNow()
		return nil, err
	}
	s := &session{c: c, path: path, header: resp.Header.Get("Sec-WebSocket-Extensions"), threshold: compressThreshold}
	if t.compression.ContextTakeover && s.header != "" && !strings.Contains(s.header, "client_no_context_takeover") {
		s.threshold = 16
	}
	return s, nil
}

// checkReport closes s with 1000 and checks what the server saw: the close,
// the extension it sent, and (node_server.js) every message of at least
// compressThreshold bytes compressed, the others not, and no back-reference
// outside the window our client agreed to.
func (t *tester) checkReport(ctx context.Context, s *session) error {
	if err := s.c.Close(websocket.StatusNormalClosure, ""); err != nil {
		return fmt.Errorf("Close(1000): %w", err)
	}
	r, err := t.peerReport(ctx, s.path)
	if err != nil {
		return err
	}
	if r.Code == nil || *r.Code != 1000 {
		return fmt.Errorf("server saw close %v (reason %q), want 1000", r.Code, r.Reason)
	}
	if r.Extensions != s.header {
		return fmt.Errorf("server reports having sent extensions %q, Dial saw %q", r.Extensions, s.header)
	}
	if d := r.Deflate; d != nil {
		if len(d.Errors) > 0 || d.Violations > 0 || d.RSVOnContinuation > 0 {
			return fmt.Errorf("server's wire check of our frames: %d window violations, RSV1 on %d continuations, %s", d.Violations, d.RSVOnContinuation, strings.Join(d.Errors, "; "))
		}
		if s.header != "" && (d.Compressed != s.big || d.Uncompressed != s.sent-s.big) {
			return fmt.Errorf("server saw %d compressed and %d uncompressed messages, want %d and %d (threshold %d bytes)", d.Compressed, d.Uncompressed, s.big, s.sent-s.big, s.threshold)
		}
		if s.header == "" && d.Compressed > 0 {
			return fmt.Errorf("server saw %d compressed messages on a connection without compression", d.Compressed)
		}
	}
	return nil
}

func (t *tester) runCompress() {
	var s *session // shared by the steps below
	drop := func() {
		if s != nil {
			s.c.CloseNow()
			s = nil
		}
	}
	step := func(name string, limit time.Duration, fn func(ctx context.Context, s *session) error) {
		t.check(name, limit, func(ctx context.Context) error {
			if s == nil {
				var err error
				if s, err = t.dialCompressed(ctx, "", 0); err != nil {
					return err
				}
			}
			err := fn(ctx, s)
			if err != nil {
				drop()
			}
			return err
		})
	}
	defer drop()

	header := ""
	step("negotiated", 10*time.Second, func(ctx context.Context, s *session) error {
		header = s.header
		if t.wantExt == "none" {
			if s.header != "" {
				return fmt.Errorf("server answered Sec-WebSocket-Extensions %q, want none", s.header)
			}
			return nil
		}
		if s.header == "" {
			return fmt.Errorf("server accepted no extension, want %q", t.wantExt)
		}
		if t.wantExt != "" && !sameExtensions(s.header, t.wantExt) {
			return fmt.Errorf("server answered %q, want %q", s.header, t.wantExt)
		}
		return nil
	})
	serverBits := windowParam(header, "server_max_window_bits")
	clientBits := windowParam(header, "client_max_window_bits")

	for _, n := range compressSizes {
		if n > 1<<20 && !t.big {
			continue
		}
		limit := 10 * time.Second
		if n >= 1<<20 {
			limit = time.Minute
		}
		step("text-"+sizeName(n), limit, func(ctx context.Context, s *session) error {
			return s.roundTrip(ctx, websocket.MessageText, makeJSON(n))
		})
		step("binary-"+sizeName(n), limit, func(ctx context.Context, s *session) error {
			return s.roundTrip(ctx, websocket.MessageBinary, makeBinary(n))
		})
	}

	step("json-event-stream", 30*time.Second, func(ctx context.Context, s *session) error {
		// 2000 small JSON events of varying values, each echoed: with
		// ContextTakeover our messages refer to the ones before them.
		rng := rand.New(rand.NewPCG(11, 12))
		for i := range 2000 {
			ev := fmt.Appendf(nil, `{"type":"trade","symbol":"%s","price":%.1f,"qty":%.3f,"ts":%d,"side":"%s"}`,
				[]string{"BTC-USD", "ETH-USD", "SOL-USD"}[rng.IntN(3)], 40000+rng.Float64()*5000, rng.Float64(), 1733097600000+rng.Int64N(1e6), []string{"buy", "sell"}[rng.IntN(2)])
			if err := s.roundTrip(ctx, websocket.MessageText, ev[:rng.IntN(len(ev)+1)]); err != nil {
				return fmt.Errorf("event %d: %w", i, err)
			}
		}
		return nil
	})

	step("window-edge-periods", 20*time.Second, func(ctx context.Context, s *session) error {
		// Random blocks repeated with a period of our window and one byte
		// either side: our compressor must not refer back further than
		// client_max_window_bits allows (the server checks every distance).
		w := 1 << clientBits
		for _, period := range []int{w - 1, w, w + 1} {
			if err := s.roundTrip(ctx, websocket.MessageBinary, makePeriodic(max(65536, 4*w), period)); err != nil {
				return fmt.Errorf("period %d: %w", period, err)
			}
		}
		return nil
	})

	step("repeat-across-messages", 20*time.Second, func(ctx context.Context, s *session) error {
		// Under context takeover the server refers back into the messages
		// it sent before, up to its window: our dictionary.
		w := 1 << serverBits
		for _, n := range []int{w, max(w-7, 1), 3000} {
			block := makeBinary(n)
			for i := 0; i < 3; i++ {
				if err := s.roundTrip(ctx, websocket.MessageBinary, block); err != nil {
					return fmt.Errorf("%d-byte block, copy %d: %w", n, i+1, err)
				}
			}
		}
		return nil
	})

	step("utf8", 10*time.Second, func(ctx context.Context, s *session) error {
		for _, tc := range utf8Cases {
			for _, p := range [][]byte{bytes.Repeat([]byte(tc.s), 20), []byte(tc.s)} {
				if err := s.roundTrip(ctx, websocket.MessageText, p); err != nil {
					return fmt.Errorf("%s: %w", tc.name, err)
				}
			}
		}
		return nil
	})

	for _, typ := range []websocket.MessageType{websocket.MessageText, websocket.MessageBinary} {
		step("writer-"+typeName(typ), 20*time.Second, func(ctx context.Context, s *session) error {
			// Through Writer in uneven pieces (cutting UTF-8 sequences),
			// some of exactly the write buffer's size, and read back
			// through Reader.
			for _, n := range []int{100, 4096, 300000} {
				whole := makeJSON(n)
				if typ == websocket.MessageBinary {
					whole = makeBinary(n)
				}
				w, err := s.c.Writer(ctx, typ)
				if err != nil {
					return fmt.Errorf("Writer: %w", err)
				}
				s.count(n)
				for p := whole; len(p) > 0; {
					k := min(len(p), []int{1, 12, 4096, 4096, 87001, 70000}[rand.IntN(6)])
					if _, err := w.Write(p[:k]); err != nil {
						return fmt.Errorf("Writer.Write: %w", err)
					}
					p = p[k:]
				}
				if err := w.Close(); err != nil {
					return fmt.Errorf("Writer.Close: %w", err)
				}
				gotType, r, err := s.c.Reader(ctx)
				if err != nil {
					return fmt.Errorf("Reader: %w", err)
				}
				got, err := io.ReadAll(r)
				if err != nil {
					return fmt.Errorf("reading the message: %w", err)
				}
				if err := expectEqual(gotType, got, typ, whole); err != nil {
					return fmt.Errorf("%d bytes: %w", n, err)
				}
			}
			return nil
		})
	}

	step("pipelined", 20*time.Second, func(ctx context.Context, s *session) error {
		type msg struct {
			typ websocket.MessageType
			p   []byte
		}
		var msgs []msg
		for i := 0; i < 300; i++ {
			n := (i * 7919) % 3000
			if i%2 == 1 {
				msgs = append(msgs, msg{websocket.MessageBinary, makeBinary(n)})
			} else {
				msgs = append(msgs, msg{websocket.MessageText, makeJSON(n)})
			}
			s.count(n)
		}
		werr := make(chan error, 1)
		go func() {
			for i, m := range msgs {
				if err := s.c.Write(ctx, m.typ, m.p); err != nil {
					werr <- fmt.Errorf("Write %d: %w", i, err)
					return
				}
			}
			werr <- nil
		}()
		for i, m := range msgs {
			typ, p, err := s.c.Read(ctx)
			if err != nil {
				return fmt.Errorf("Read %d: %w", i, err)
			}
			if err := expectEqual(typ, p, m.typ, m.p); err != nil {
				return fmt.Errorf("message %d: %w", i, err)
			}
		}
		return <-werr
	})

	step("close-1000-server-report", 10*time.Second, func(ctx context.Context, s *session) error {
		err := t.checkReport(ctx, s)
		drop()
		return err
	})

	t.check("compressed-on-the-wire", 20*time.Second, func(ctx context.Context) error {
		s, err := t.dialCompressed(ctx, "", 0)
		if err != nil {
			return err
		}
		defer s.c.CloseNow()
		for _, n := range []int{1 << 20, 200} {
			if err := s.roundTrip(ctx, websocket.MessageText, makeJSON(n)); err != nil {
				return err
			}
		}
		if err := t.checkReport(ctx, s); err != nil {
			return err
		}
		r, err := t.peerReport(ctx, s.path)
		if err != nil {
			return err
		}
		sent := int64(1<<20 + 200)
		if s.header == "" {
			if r.Wire < sent {
				return fmt.Errorf("server received %d bytes for %d bytes of uncompressed messages", r.Wire, sent)
			}
			return nil
		}
		// Resetting the compressor every 2^bits bytes costs ratio in small
		// windows (about 0.6 at 8 bits, 0.4 at 9 with this text).
		most := sent / 4
		if windowParam(s.header, "client_max_window_bits") < 10 {
			most = sent * 3 / 4
		}
		if r.Wire > most {
			return fmt.Errorf("server received %d bytes for %d bytes of compressible text", r.Wire, sent)
		}
		return nil
	})

	t.check("server-fragmented", 20*time.Second, func(ctx context.Context) error {
		// The server sends each echo as 3 fragments, compressed as one
		// message.
		s, err := t.dialCompressed(ctx, "frag-", 0)
		if err != nil {
			return err
		}
		defer s.c.CloseNow()
		for _, p := range [][]byte{makeJSON(3), makeJSON(1000), makeJSON(1 << 20)} {
			if err := s.roundTrip(ctx, websocket.MessageText, p); err != nil {
				return fmt.Errorf("text, %d bytes: %w", len(p), err)
			}
		}
		for _, p := range [][]byte{makeBinary(1000), makeBinary(65536)} {
			if err := s.roundTrip(ctx, websocket.MessageBinary, p); err != nil {
				return fmt.Errorf("binary, %d bytes: %w", len(p), err)
			}
		}
		return t.checkReport(ctx, s)
	})

	t.check("read-limit-applies-inflated", 20*time.Second, func(ctx context.Context) error {
		// The server's echo of 2 MiB of text is small on the wire; the
		// 1 MiB ReadLimit applies to it inflated.
		s, err := t.dialCompressed(ctx, "", 1<<20)
		if err != nil {
			return err
		}
		defer s.c.CloseNow()
		if err := s.roundTrip(ctx, websocket.MessageText, makeJSON(1<<20)); err != nil {
			return fmt.Errorf("at the limit: %w", err)
		}
		if err := s.write(ctx, websocket.MessageText, makeJSON(2<<20)); err != nil {
			return fmt.Errorf("Write: %w", err)
		}
		_, p, err := s.c.Read(ctx)
		if err == nil {
			return fmt.Errorf("Read returned %s beyond the 1 MiB limit", describe(p))
		}
		if !errors.Is(err, websocket.ErrMessageTooBig) {
			return fmt.Errorf("Read error %v, want ErrMessageTooBig", err)
		}
		return t.expectPeerClose(ctx, s.path, 1009)
	})
}
