//go:build !js

package websocket_test

// The contract tests: one test per promise the package doc makes about
// contexts, concurrency, closing, keepalive and options, each named after
// the behaviour. They use only the exported API, against the strict peer of
// peer_test.go over loopback TCP, so that they hold whatever the Conn looks
// like inside. Every wait is bounded; a call that hangs fails its test with
// the stacks of the package's goroutines, and a panic from the library is
// recovered and reported as a failure.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
	"weak"

	"github.com/ccf874ba/websocket"
)

// ---- helpers ----

// errHung is what bounded returns for a call that did not return in time.
var errHung = errors.New("call did not return in time")

// panicError is what bounded returns for a call that panicked.
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("panic: %v\n%s", e.value, e.stack) }

// bounded runs f on its own goroutine and waits up to d for it. A call that
// panics or does not return fails the test (with the stacks of the
// package's goroutines for a hang) and gives a non-nil error; f may then
// still be running, until the test's cleanup closes the Conn.
func bounded(t testing.TB, d time.Duration, what string, f func() error) error {
	t.Helper()
	ch := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				ch <- &panicError{r, debug.Stack()}
			}
		}()
		ch <- f()
	}()
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case err := <-ch:
		if pe, ok := err.(*panicError); ok {
			t.Errorf("%s panicked (the package must never panic): %v\n%s", what, pe.value, pe.stack)
		}
		return err
	case <-timer.C:
		t.Errorf("%s did not return within %v; the package's goroutines:\n%s", what, d, pkgStacks())
		return errHung
	}
}

// pkgStacks returns the stacks of the goroutines running code of the
// package or of its tests, less tests waiting for their turn to run.
func pkgStacks() string {
	var out []string
	for _, g := range strings.Split(allStacks(), "\n\n") {
		if strings.Contains(g, "ccf874ba/websocket") && !strings.Contains(g, "testing.(*T).Parallel") &&
			!strings.Contains(g, "testing.(*M).Run") && !strings.Contains(g, "testing.tRunner.func1") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// ctEnding returns a context that ends after d, by its deadline
// ("deadline") or by a cancel from a timer ("cancel").
func ctEnding(how string, d time.Duration) (context.Context, context.CancelFunc) {
	if how == "cancel" {
		ctx, cancel := context.WithCancel(context.Background())
		tm := time.AfterFunc(d, cancel)
		return ctx, func() { tm.Stop(); cancel() }
	}
	return context.WithTimeout(context.Background(), d)
}

// ctWantErr is the error of a context ended by ctEnding(how) or
// ctDone(how). (The network poller may report a deadline a moment before
// the context's own timer marks it done, so a call can rightly return
// context.DeadlineExceeded while ctx.Err() is still nil.)
func ctWantErr(how string) error {
	if how == "cancel" || how == "canceled" {
		return context.Canceled
	}
	return context.DeadlineExceeded
}

// ctDone returns a context that has already ended: canceled ("canceled")
// or past its deadline ("deadline").
func ctDone(how string) context.Context {
	if how == "canceled" {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	_ = cancel // already done; cancelling changes nothing
	return ctx
}

// ctText returns n bytes of valid UTF-8 text: words, some of them with 2-,
// 3- and 4-byte runes.
func ctText(r *rand.Rand, n int) []byte {
	words := []string{"lorem", "ipsum", "κόσμε", "данные", "日本語", "🙂", "frame", "mask", "übung", "€uro", "x"}
	b := make([]byte, 0, n)
	for {
		w := words[r.IntN(len(words))]
		if len(b)+len(w)+1 > n {
			break
		}
		b = append(b, w...)
		b = append(b, ' ')
	}
	for len(b) < n {
		b = append(b, 'x')
	}
	return b
}

// ctBinary returns n random bytes.
func ctBinary(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func ctRand(t testing.TB) *rand.Rand {
	h := uint64(0)
	for _, c := range t.Name() {
		h = h*31 + uint64(c)
	}
	return rand.New(rand.NewPCG(h, 0x5eed))
}

// ctReadVia reads one message with Read, ReadAppend (checking that the
// prefix it was given is kept) or Reader read to its end.
func ctReadVia(ctx context.Context, c *websocket.Conn, how string) (websocket.MessageType, []byte, error) {
	switch how {
	case "ReadAppend":
		prefix := []byte("prefix:")
		dst := append(make([]byte, 0, 64), prefix...)
		typ, b, err := c.ReadAppend(ctx, dst)
		if len(b) < len(prefix) || !bytes.Equal(b[:len(prefix)], prefix) {
			return typ, b, fmt.Errorf("ReadAppend returned %q, which does not start with the dst it was given (%q); err %v", wireShort(b), prefix, err)
		}
		if err != nil && len(b) != len(prefix) {
			return typ, b, fmt.Errorf("ReadAppend returned %d bytes with error %v; on error it must return dst itself", len(b), err)
		}
		return typ, b[len(prefix):], err
	case "Reader":
		typ, r, err := c.Reader(ctx)
		if err != nil {
			return typ, nil, err
		}
		b, err := io.ReadAll(r)
		return typ, b, err
	}
	return c.Read(ctx)
}

// ctReadLoop reads from c until an error and returns the channel of that
// error: the goroutine an application keeps in Read, which answers pings.
func ctReadLoop(c *websocket.Conn) <-chan error {
	ch := make(chan error, 1)
	go func() {
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				ch <- err
				return
			}
		}
	}()
	return ch
}

// ctWantMessages fails the test unless the peer has received exactly want,
// in order (waiting up to 2 s for them).
func ctWantMessages(t *testing.T, p *strictPeer, why string, want ...string) {
	t.Helper()
	got := p.WaitMessages(len(want), 2*time.Second)
	time.Sleep(20 * time.Millisecond) // let anything extra arrive
	got = p.Messages()
	var gs []string
	for _, m := range got {
		gs = append(gs, wireShort(m.Data))
	}
	ok := len(got) == len(want)
	for i := 0; ok && i < len(want); i++ {
		ok = string(got[i].Data) == want[i]
	}
	if !ok {
		var ws []string
		for _, w := range want {
			ws = append(ws, wireShort([]byte(w)))
		}
		t.Errorf("the peer received %q, want %q: %s", gs, ws, why)
	}
}

var ctRoles = []bool{false, true}

// ---- reads and contexts ----

// A read whose context ends while no byte of the next message has arrived
// returns the context's error, and the Conn goes on as if nothing happened.
func TestReadIdleContextKeepsConn(t *testing.T) {
	for _, client := range ctRoles {
		for _, how := range []string{"Read", "ReadAppend", "Reader"} {
			for _, end := range []string{"deadline", "cancel"} {
				t.Run(fmt.Sprintf("%s/%s/%s", pairRole(client), how, end), func(t *testing.T) {
					t.Parallel()
					c, p := newPair(t, client, pairOptions{})
					ctx, cancel := ctEnding(end, 50*time.Millisecond)
					defer cancel()
					err := bounded(t, 5*time.Second, how, func() error { _, _, err := ctReadVia(ctx, c, how); return err })
					if want := ctWantErr(end); !errors.Is(err, want) {
						t.Fatalf("%s while idle, context ending (%s) after 50ms: err = %v, want the context's error %v", how, end, err, want)
					}
					p.SendMessage(websocket.MessageText, []byte("after"), peerSend{})
					var got []byte
					err = bounded(t, 5*time.Second, "the next Read", func() (err error) { _, got, err = c.Read(context.Background()); return })
					if err != nil || string(got) != "after" {
						t.Fatalf("Read after the idle %s ended = %q, %v; want \"after\": the Conn must stay usable", how, got, err)
					}
					p.Check(t)
				})
			}
		}
	}
}

// A Read or ReadAppend whose context ends in the middle of a message
// returns the context's error; the next one resumes that message and
// returns it whole, then the messages after it, in order. The message is
// cut between two frames or inside a frame, with and without
// permessage-deflate, with and without context takeover.
func TestReadResumesAfterContextMidMessage(t *testing.T) {
	type shape struct {
		name     string
		deflate  bool
		takeover bool
		split    func(int) []peerFramePlan
	}
	const pause = 300 * time.Millisecond
	shapes := []shape{
		{"plain/two frames", false, false, peerSplitAt(pause, 1500)},
		{"plain/mid-frame", false, false, peerMidFrame(0.33, pause)},
		{"deflate takeover/two frames", true, true, func(n int) []peerFramePlan { return peerSplitAt(pause, n/2)(n) }},
		{"deflate takeover/mid-frame", true, true, peerMidFrame(0.5, pause)},
		{"deflate no takeover/two frames", true, false, func(n int) []peerFramePlan { return peerSplitAt(pause, n/2)(n) }},
		{"deflate no takeover/mid-frame", true, false, peerMidFrame(0.5, pause)},
	}
	for _, client := range ctRoles {
		for _, s := range shapes {
			for _, how := range []string{"Read", "ReadAppend"} {
				t.Run(fmt.Sprintf("%s/%s/%s", pairRole(client), s.name, how), func(t *testing.T) {
					t.Parallel()
					o := pairOptions{}
					if s.deflate {
						o.Compression = &websocket.CompressionOptions{}
						o.Peer = peerOptions{Deflate: true, NoContextTakeover: !s.takeover}
					}
					c, p := newPair(t, client, o)
					r := ctRand(t)
					text := ctText(r, 3000)
					send := peerSend{Compress: s.deflate}
					read := func(ctx context.Context, what string) (typ websocket.MessageType, b []byte, err error) {
						bounded(t, 5*time.Second, what, func() error { typ, b, err = ctReadVia(ctx, c, how); return nil })
						return
					}
					if s.takeover {
						// Give the compressor a history for the messages to
						// refer to.
						p.SendMessage(websocket.MessageText, text, send)
						if _, b, err := read(context.Background(), "the first "+how); err != nil || !bytes.Equal(b, text) {
							t.Fatalf("first %s = %d bytes, %v; want the %d-byte warm-up message", how, len(b), err, len(text))
						}
					}
					cut := append(ctText(r, 1000), ctText(r, 2000)...)
					sendDone := make(chan error, 1)
					go func() {
						err := p.SendMessage(websocket.MessageText, cut, peerSend{Compress: s.deflate, Split: s.split})
						if err == nil {
							err = p.SendMessage(websocket.MessageText, text, send)
						}
						sendDone <- err
					}()
					ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
					_, b, err := read(ctx, how+" with a 100ms deadline")
					cancel()
					if err == nil {
						t.Fatalf("%s returned %d bytes before the peer's %v pause inside the message ended; the test could not cut the message", how, len(b), pause)
					}
					if !isCtxErr(err) {
						t.Fatalf("%s whose context ended mid-message = %v, want context.DeadlineExceeded", how, err)
					}
					typ, b, err := read(context.Background(), "the "+how+" after the interrupted one")
					switch {
					case err != nil:
						t.Fatalf("the %s after one interrupted mid-message = %v; want the interrupted message, whole (the Conn must stay usable and must not fail the connection: no 1007, no 1011)", how, err)
					case bytes.Equal(b, text):
						t.Fatalf("the %s after one interrupted mid-message returned the message after it: the interrupted %d-byte message was skipped silently", how, len(cut))
					case !bytes.Equal(b, cut) || typ != websocket.MessageText:
						t.Fatalf("the %s after one interrupted mid-message = %v, %d bytes (%q); want the interrupted text message of %d bytes, byte-exact", how, typ, len(b), wireShort(b), len(cut))
					}
					if _, b, err = read(context.Background(), "the following "+how); err != nil || !bytes.Equal(b, text) {
						t.Fatalf("the following %s = %d bytes, %v; want the next message (%d bytes)", how, len(b), err, len(text))
					}
					if err := <-sendDone; err != nil {
						t.Errorf("the peer could not send: %v", err)
					}
					if cl, ok := p.CloseReceived(); ok {
						t.Errorf("the Conn sent a close frame (%d %q); it must not fail the connection", cl.Code, cl.Reason)
					}
					p.Check(t)
				})
			}
		}
	}
}

// Abandoning a message read through Reader part-way discards the rest of
// it: the next Read returns the message after it. This is the only skip the
// package allows.
func TestReaderAbandonDiscardsRest(t *testing.T) {
	for _, client := range ctRoles {
		for _, next := range []string{"Read", "Reader"} {
			t.Run(pairRole(client)+"/then "+next, func(t *testing.T) {
				t.Parallel()
				c, p := newPair(t, client, pairOptions{})
				r := ctRand(t)
				first := ctBinary(r, 10000)
				go func() {
					p.SendMessage(websocket.MessageBinary, first, peerSend{Split: peerSplitAt(10*time.Millisecond, 3000, 3000)})
					p.SendMessage(websocket.MessageText, []byte("second"), peerSend{})
				}()
				err := bounded(t, 5*time.Second, "Reader and a partial read", func() error {
					_, rd, err := c.Reader(context.Background())
					if err != nil {
						return err
					}
					buf := make([]byte, 100)
					if _, err := io.ReadFull(rd, buf); err != nil {
						return err
					}
					if !bytes.Equal(buf, first[:100]) {
						return fmt.Errorf("the first 100 bytes read = %q, want %q", wireShort(buf), wireShort(first))
					}
					return nil
				})
				if err != nil {
					t.Fatalf("reading the start of the first message: %v", err)
				}
				var got []byte
				err = bounded(t, 5*time.Second, next, func() (err error) { _, got, err = ctReadVia(context.Background(), c, next); return })
				if err != nil || string(got) != "second" {
					t.Fatalf("%s after abandoning a message = %q, %v; want \"second\"", next, wireShort(got), err)
				}
				p.Check(t)
			})
		}
	}
}

// ---- writes and contexts ----

// ctWriteOps are the calls that send, run with ctx.
var ctWriteOps = []struct {
	name    string
	deflate bool
	call    func(ctx context.Context, c *websocket.Conn) error
}{
	{"Write", false, func(ctx context.Context, c *websocket.Conn) error {
		return c.Write(ctx, websocket.MessageText, []byte("must not be sent"))
	}},
	{"Write 200 KiB", false, func(ctx context.Context, c *websocket.Conn) error {
		return c.Write(ctx, websocket.MessageBinary, make([]byte, 200<<10))
	}},
	{"Write 200 KiB compressed", true, func(ctx context.Context, c *websocket.Conn) error {
		return c.Write(ctx, websocket.MessageText, bytes.Repeat([]byte("must not be sent "), 12000))
	}},
	{"WritePrepared", false, func(ctx context.Context, c *websocket.Conn) error {
		pm, err := websocket.NewPreparedMessage(websocket.MessageText, []byte("must not be sent"))
		if err != nil {
			return err
		}
		return c.WritePrepared(ctx, pm)
	}},
	{"Ping", false, func(ctx context.Context, c *websocket.Conn) error { return c.Ping(ctx) }},
	{"Writer", false, func(ctx context.Context, c *websocket.Conn) error {
		// Writer may refuse at once, or hand out a writer whose Write and
		// Close then return the context's error, having sent nothing.
		w, err := c.Writer(ctx, websocket.MessageText)
		if err != nil {
			return err
		}
		_, werr := w.Write([]byte("must not be sent"))
		cerr := w.Close()
		switch {
		case werr != nil:
			return werr
		case cerr != nil:
			return cerr
		}
		return errors.New("Writer, its Write and its Close all returned nil for a context that had ended")
	}},
}

// A write, ping or Writer whose context has already ended returns the
// context's error, sends nothing, and leaves the Conn fully usable.
func TestWriteWithDoneContextKeepsConn(t *testing.T) {
	for _, client := range ctRoles {
		for _, op := range ctWriteOps {
			for _, end := range []string{"canceled", "deadline"} {
				t.Run(fmt.Sprintf("%s/%s/%s", pairRole(client), op.name, end), func(t *testing.T) {
					t.Parallel()
					o := pairOptions{}
					if op.deflate {
						o.Compression = &websocket.CompressionOptions{}
						o.Peer.Deflate = true
					}
					c, p := newPair(t, client, o)
					ctx := ctDone(end)
					err := bounded(t, 5*time.Second, op.name, func() error { return op.call(ctx, c) })
					if !errors.Is(err, ctx.Err()) {
						t.Errorf("%s with a context that had ended (%v) = %v; want the context's error, and nothing sent", op.name, ctx.Err(), err)
					}
					err = bounded(t, 5*time.Second, "the next Write", func() error {
						ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
						defer cancel()
						return c.Write(ctx, websocket.MessageText, []byte("after"))
					})
					if err != nil {
						t.Errorf("Write after %s with a done context = %v; want nil: such a call must leave the Conn usable", op.name, err)
					}
					ctWantMessages(t, p, "a call whose context had ended must send nothing", "after")
					if _, pings, _ := p.Counts(); pings != 0 {
						t.Errorf("the peer received %d ping(s); Ping with a done context must send nothing", pings)
					}
					if cl, ok := p.CloseReceived(); ok {
						t.Errorf("the Conn sent a close frame (%d %q)", cl.Code, cl.Reason)
					}
					p.Check(t)
				})
			}
		}
	}
}

// A write whose context ends while it waits for the write lock (another
// goroutine has a Writer open, or a big Write is blocked on a peer that does
// not read) returns the context's error, sends nothing, and leaves the Conn
// usable.
func TestWriteContextEndsWaitingForLockKeepsConn(t *testing.T) {
	for _, client := range ctRoles {
		for _, holder := range []string{"open Writer", "big Write to a peer that does not read"} {
			for _, op := range ctWriteOps {
				if op.deflate || op.name == "Ping" && holder == "open Writer" {
					// An open Writer does not hold the socket between frames:
					// Ping may go out then, as it should.
					continue
				}
				for _, end := range []string{"deadline", "cancel"} {
					t.Run(fmt.Sprintf("%s/%s/%s/%s", pairRole(client), holder, op.name, end), func(t *testing.T) {
						t.Parallel()
						c, p := newPair(t, client, pairOptions{SocketBuffer: 4096, Peer: peerOptions{SocketBuffer: 4096}})
						var finish func() error
						want := []string{"held message", "after"}
						if holder == "open Writer" {
							w, err := c.Writer(context.Background(), websocket.MessageText)
							if err != nil {
								t.Fatal(err)
							}
							if _, err := w.Write([]byte("held ")); err != nil {
								t.Fatal(err)
							}
							finish = func() error {
								if _, err := w.Write([]byte("message")); err != nil {
									return err
								}
								return w.Close()
							}
						} else {
							big := bytes.Repeat([]byte("b"), 4<<20)
							want[0] = string(big)
							p.PauseReading()
							done := make(chan error, 1)
							go func() { done <- c.Write(context.Background(), websocket.MessageBinary, big) }()
							time.Sleep(200 * time.Millisecond)
							select {
							case err := <-done:
								t.Fatalf("a 4 MiB Write to a peer that does not read returned (%v) at once; the test needs it blocked", err)
							default:
							}
							finish = func() error {
								p.ResumeReading()
								select {
								case err := <-done:
									return err
								case <-time.After(10 * time.Second):
									return errors.New("the big Write did not finish within 10s of the peer reading again")
								}
							}
						}
						ctx, cancel := ctEnding(end, 50*time.Millisecond)
						defer cancel()
						err := bounded(t, 5*time.Second, op.name, func() error { return op.call(ctx, c) })
						if want := ctWantErr(end); !errors.Is(err, want) {
							t.Errorf("%s whose context ended (%s, 50ms) while waiting behind the %s = %v; want the context's error %v", op.name, end, holder, err, want)
						}
						if err := finish(); err != nil {
							t.Fatalf("finishing the message that held the lock: %v (the Conn must still be usable)", err)
						}
						err = bounded(t, 5*time.Second, "the next Write", func() error {
							ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
							defer cancel()
							return c.Write(ctx, websocket.MessageText, []byte("after"))
						})
						if err != nil {
							t.Errorf("Write after the timed-out %s = %v; want nil", op.name, err)
						}
						ctWantMessages(t, p, "the call that gave up waiting must send nothing", want...)
						if _, pings, _ := p.Counts(); pings != 0 {
							t.Errorf("the peer received %d ping(s); a Ping that gave up waiting must send nothing", pings)
						}
						p.Check(t)
					})
				}
			}
		}
	}
}

// A write whose context ends part-way through a frame leaves a clean
// stream either way the package may choose: the brief for the rebuild
// closes the Conn (every later call returns net.ErrClosed, and TCP is
// closed), and main since b734799 keeps it usable instead (the Conn sends
// the rest of the frame before any other, so the cut message arrives whole
// and later writes work). What is never right is what main did before:
// the Conn neither closed nor usable, every later call returning the cut
// write's context error.
func TestWriteCutMidFrameClosesOrFinishesFrame(t *testing.T) {
	for _, client := range ctRoles {
		t.Run(pairRole(client), func(t *testing.T) {
			t.Parallel()
			c, p := newPair(t, client, pairOptions{SocketBuffer: 4096, Peer: peerOptions{SocketBuffer: 4096}})
			p.PauseReading()
			big := bytes.Repeat([]byte("cut "), 1<<20)
			err := bounded(t, 5*time.Second, "Write of 4 MiB with a 200ms deadline", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				return c.Write(ctx, websocket.MessageBinary, big)
			})
			if err == nil {
				t.Fatal("a 4 MiB Write to a peer that does not read succeeded within 200ms; the test needs it cut mid-frame")
			}
			t.Logf("the cut Write returned %v", err)
			p.ResumeReading()
			err = bounded(t, 10*time.Second, "the next Write", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 8*time.Second)
				defer cancel()
				return c.Write(ctx, websocket.MessageText, []byte("after"))
			})
			switch {
			case errors.Is(err, net.ErrClosed):
				// The Conn closed: so must every call say, and TCP end.
				ctWantClosedForAll(t, c, "a write was cut part-way through its frame")
				select {
				case <-p.ReadDone():
				case <-time.After(5 * time.Second):
					t.Errorf("the Conn's TCP connection was still open 5s after a write cut mid-frame closed the Conn")
				}
			case err == nil:
				// The Conn finished the frame: the cut message arrives whole,
				// then the next one.
				msgs := p.WaitMessages(2, 10*time.Second)
				if len(msgs) != 2 || !bytes.Equal(msgs[0].Data, big) || string(msgs[1].Data) != "after" {
					var got []string
					for _, m := range msgs {
						got = append(got, m.String())
					}
					t.Errorf("the Conn kept going after a write cut mid-frame, but the peer received %q; want the cut 4 MiB message whole, then \"after\"", got)
				}
			default:
				t.Errorf("Write after a write was cut part-way through its frame = %v; want nil (the Conn finished the frame) or net.ErrClosed (the Conn closed), not a stuck Conn", err)
			}
			p.Check(t)
		})
	}
}

// ctWantClosedForAll checks that every call on c returns net.ErrClosed, as
// the package doc says of a closed Conn.
func ctWantClosedForAll(t *testing.T, c *websocket.Conn, why string) {
	t.Helper()
	calls := []struct {
		name string
		f    func(ctx context.Context) error
	}{
		{"Write", func(ctx context.Context) error { return c.Write(ctx, websocket.MessageText, []byte("late")) }},
		{"WritePrepared", func(ctx context.Context) error {
			pm, _ := websocket.NewPreparedMessage(websocket.MessageText, []byte("late"))
			return c.WritePrepared(ctx, pm)
		}},
		{"Writer (and its Write and Close)", func(ctx context.Context) error {
			w, err := c.Writer(ctx, websocket.MessageText)
			if err != nil {
				return err
			}
			if _, err := w.Write([]byte("late")); err != nil {
				w.Close()
				return err
			}
			return w.Close()
		}},
		{"Ping", func(ctx context.Context) error { return c.Ping(ctx) }},
		{"Read", func(ctx context.Context) error { _, _, err := c.Read(ctx); return err }},
	}
	for _, call := range calls {
		err := bounded(t, 3*time.Second, call.name, func() error {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			return call.f(ctx)
		})
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s after %s = %v; want an error that is net.ErrClosed", call.name, why, err)
		}
	}
}

// A streamed message whose first frame has gone out, and one of whose later
// frames cannot be sent (its context ends while pongs hold the socket of a
// peer that stopped reading), ends the write side: the peer never sees a new
// data message start inside the open one, and later writes return
// net.ErrClosed.
func TestWriterFrameFailureEndsWriteSide(t *testing.T) {
	for _, client := range ctRoles {
		t.Run(pairRole(client), func(t *testing.T) {
			t.Parallel()
			c, p := newPair(t, client, pairOptions{SocketBuffer: 4096, WriteBufferSize: 4096, Peer: peerOptions{SocketBuffer: 4096}})
			ctReadLoop(c) // answers the pings
			wctx, wcancel := context.WithCancel(context.Background())
			defer wcancel()
			w, err := c.Writer(wctx, websocket.MessageText)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := w.Write(bytes.Repeat([]byte("a"), 6000)); err != nil {
				t.Fatalf("first Write of the streamed message: %v", err)
			}
			if !p.WaitUntil(3*time.Second, p.InMessage) {
				t.Fatal("the first frame of the streamed message never reached the peer")
			}
			// Stop reading and flood pings: the pongs fill the socket.
			p.PauseReading()
			stalled := ctFloodPings(t, p, 4000)
			defer stalled()
			time.AfterFunc(100*time.Millisecond, wcancel)
			var werr error
			bounded(t, 5*time.Second, "the Writer's Write of a second frame", func() error {
				_, werr = w.Write(bytes.Repeat([]byte("b"), 6000))
				return nil
			})
			cerr := bounded(t, 5*time.Second, "the Writer's Close", w.Close)
			t.Logf("with the socket full and its context cancelled, the Writer's Write = %v, Close = %v", werr, cerr)
			if werr == nil && cerr == nil {
				t.Log("the streamed message went out although the socket was full; nothing to check beyond the wire")
			}
			stalled()
			p.ResumeReading()
			err = bounded(t, 5*time.Second, "the next Write", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				return c.Write(ctx, websocket.MessageText, []byte("next message"))
			})
			if (werr != nil || cerr != nil) && !errors.Is(err, net.ErrClosed) {
				t.Errorf("Write after a streamed message lost a frame = %v; want net.ErrClosed: the message is open on the wire and cannot be finished, so the write side must end", err)
			}
			p.WaitUntil(2*time.Second, func() bool {
				select {
				case <-p.ReadDone():
					return true
				default:
					return len(p.Violations()) > 0
				}
			})
			for _, m := range p.Messages() {
				if string(m.Data) == "next message" && (werr != nil || cerr != nil) {
					t.Errorf("the peer received %q after the streamed message broke off", m.Data)
				}
			}
			p.Check(t)
		})
	}
}

// ctFloodPings sends up to n pings from the peer (which is not reading)
// until its writes stall for 300ms, so that the Conn's pongs have filled the
// socket. It returns a function that stops the flood and waits for it.
func ctFloodPings(t *testing.T, p *strictPeer, n int) (stop func()) {
	t.Helper()
	var sent atomic.Int64
	quit := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < n; i++ {
			select {
			case <-quit:
				return
			default:
			}
			payload := fmt.Appendf(nil, "%05d:%s", i, strings.Repeat("p", 119))
			if p.SendPing(payload) != nil {
				return
			}
			sent.Add(1)
		}
	}()
	last, since := int64(-1), time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if s := sent.Load(); s != last {
			last, since = s, time.Now()
		} else if time.Since(since) > 300*time.Millisecond || s == int64(n) {
			break
		}
	}
	t.Logf("the peer sent %d pings before its writes stalled", sent.Load())
	var once sync.Once
	return func() {
		once.Do(func() {
			close(quit)
			p.ResumeReading()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Errorf("the ping flood did not stop within 5s of the peer reading again")
			}
		})
	}
}

// A Writer handle kept after its Close writes nothing, even after a new
// Writer was opened for the next message: its Write and Close return
// errors and the next message is untouched.
func TestStaleWriterCannotWrite(t *testing.T) {
	for _, client := range ctRoles {
		for _, deflate := range []bool{false, true} {
			name := pairRole(client)
			o := pairOptions{}
			if deflate {
				name += "/deflate"
				o.Compression = &websocket.CompressionOptions{Threshold: 1}
				o.Peer.Deflate = true
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c, p := newPair(t, client, o)
				ctx := context.Background()
				w1, err := c.Writer(ctx, websocket.MessageText)
				if err != nil {
					t.Fatal(err)
				}
				w1.Write([]byte("first"))
				if err := w1.Close(); err != nil {
					t.Fatalf("Close of the first Writer: %v", err)
				}
				var w2 io.WriteCloser
				err = bounded(t, 5*time.Second, "the second Writer", func() (err error) { w2, err = c.Writer(ctx, websocket.MessageText); return })
				if err != nil {
					t.Fatalf("second Writer: %v", err)
				}
				if n, err := w1.Write([]byte("STALE")); err == nil || n != 0 {
					t.Errorf("Write on a Writer after its Close = %d, %v; want 0 and an error", n, err)
				}
				w2.Write([]byte("second"))
				if err := w1.Close(); err == nil {
					t.Errorf("a second Close of the first Writer = nil; want an error (it must not close the second Writer's message)")
				}
				if _, err := w2.Write([]byte(" message")); err != nil {
					t.Errorf("Write on the second Writer after the stale one's Close = %v; want nil", err)
				}
				if err := w2.Close(); err != nil {
					t.Errorf("Close of the second Writer = %v", err)
				}
				ctWantMessages(t, p, "a stale Writer must not write into the next message", "first", "second message")
				p.Check(t)
			})
		}
	}
}

// ---- the reader never waits for the writer ----

// A peer that floods pings and never reads (4 KiB socket buffers) must not
// make Read fail or hang beyond its own context; once that context has
// ended, a Read with context.Background() still works.
func TestReaderNeverBlocksOnWrite(t *testing.T) {
	for _, client := range ctRoles {
		t.Run(pairRole(client), func(t *testing.T) {
			t.Parallel()
			c, p := newPair(t, client, pairOptions{SocketBuffer: 4096, Peer: peerOptions{SocketBuffer: 4096}})
			p.PauseReading()
			quit := make(chan struct{})
			flood := make(chan struct{})
			go func() {
				defer close(flood)
				for i := 0; ; i++ {
					select {
					case <-quit:
						return
					default:
					}
					if p.SendPing(fmt.Appendf(nil, "%06d:%s", i, strings.Repeat("f", 100))) != nil {
						return
					}
				}
			}()
			for i := range 3 {
				start := time.Now()
				err := bounded(t, 5*time.Second, "Read with a 300ms deadline under a ping flood", func() error {
					ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
					defer cancel()
					_, _, err := c.Read(ctx)
					return err
				})
				if !errors.Is(err, context.DeadlineExceeded) {
					close(quit)
					t.Fatalf("Read %d with a 300ms deadline, while the peer floods pings and does not read = %v; want context.DeadlineExceeded (the reader must not fail because its pongs cannot go out)", i, err)
				}
				if d := time.Since(start); d > 1300*time.Millisecond {
					t.Errorf("Read %d with a 300ms deadline took %v: blocked on a pong write beyond its context", i, d)
				}
			}
			close(quit)
			p.ResumeReading()
			select {
			case <-flood:
			case <-time.After(5 * time.Second):
				t.Fatal("the ping flood did not stop within 5s of the peer reading again: the Conn no longer reads")
			}
			if err := p.SendMessage(websocket.MessageText, []byte("after the flood"), peerSend{}); err != nil {
				t.Fatalf("after the flood the peer cannot send (%v): the Conn dropped the connection while its pongs could not go out; reads whose contexts end must leave it usable", err)
			}
			var got []byte
			err := bounded(t, 5*time.Second, "Read with context.Background() after the flood", func() (err error) { _, got, err = c.Read(context.Background()); return })
			if err != nil || string(got) != "after the flood" {
				t.Fatalf("Read with context.Background() after reads whose deadlines fired = %q, %v; want \"after the flood\" (a past deadline must not stay on the Conn)", got, err)
			}
			err = bounded(t, 5*time.Second, "Write after the flood", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				return c.Write(ctx, websocket.MessageText, []byte("reply"))
			})
			if err != nil {
				t.Fatalf("Write after the flood = %v", err)
			}
			ctWantMessages(t, p, "", "reply")
			p.Check(t)
		})
	}
}

// ---- nothing outlives a call ----

// A server that reads with one long-lived context (never cancelled) must
// not keep every Conn it served reachable: no callback registered on the
// context may outlive the read.
func TestLongLivedReadContextDoesNotPinConns(t *testing.T) {
	const n = 200
	longCtx, cancelLong := context.WithCancel(context.Background())
	defer cancelLong()
	var (
		mu    sync.Mutex
		conns []weak.Pointer[websocket.Conn]
	)
	ended := make(chan struct{}, n)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		mu.Lock()
		conns = append(conns, weak.Make(c))
		mu.Unlock()
		go func() {
			defer func() { ended <- struct{}{} }()
			defer c.CloseNow()
			for {
				if _, _, err := c.Read(longCtx); err != nil {
					return
				}
			}
		}()
	}))
	defer srv.Close()
	u := "ws" + strings.TrimPrefix(srv.URL, "http")
	for i := range n {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		cc, _, err := websocket.Dial(ctx, u, nil)
		cancel()
		if err != nil {
			t.Fatalf("Dial %d: %v", i, err)
		}
		for j := range 3 {
			if err := cc.Write(context.Background(), websocket.MessageText, fmt.Appendf(nil, "message %d", j)); err != nil {
				t.Fatalf("Write: %v", err)
			}
		}
		cc.CloseNow()
	}
	timeout := time.After(10 * time.Second)
	for i := range n {
		select {
		case <-ended:
		case <-timeout:
			t.Fatalf("only %d of the server's %d read loops ended within 10s of their clients closing", i, n)
		}
	}
	alive := 0
	for range 5 {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
		alive = 0
		mu.Lock()
		for _, wp := range conns {
			if wp.Value() != nil {
				alive++
			}
		}
		mu.Unlock()
		if alive <= n/20 {
			break
		}
	}
	if alive > n/20 {
		t.Errorf("%d of %d server Conns still reachable after they closed and the GC ran; something registered on the long-lived read context (an AfterFunc?) outlives the Read and pins them", alive, len(conns))
	}
	runtime.KeepAlive(longCtx)
}

// Timed writes that give up waiting for a held lock leave no goroutine
// behind.
func TestTimedWritesLeaveNoGoroutines(t *testing.T) {
	c, p := newPair(t, false, pairOptions{})
	w, err := c.Writer(context.Background(), websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("held"))
	time.Sleep(50 * time.Millisecond)
	before := runtime.NumGoroutine()
	pm, _ := websocket.NewPreparedMessage(websocket.MessageText, []byte("x"))
	for i := range 300 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
		var err error
		switch i % 3 {
		case 0:
			err = c.Write(ctx, websocket.MessageText, []byte("x"))
		case 1:
			err = c.WritePrepared(ctx, pm)
		case 2:
			var w io.WriteCloser
			if w, err = c.Writer(ctx, websocket.MessageText); err == nil {
				w.Close()
			}
		}
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("call %d with a 1ms timeout while a Writer is open = %v; want context.DeadlineExceeded", i, err)
		}
	}
	time.Sleep(100 * time.Millisecond)
	after := runtime.NumGoroutine()
	if after-before > 20 {
		t.Errorf("%d goroutines before 300 writes that gave up waiting for the lock, %d after: every timed-out wait left a goroutine behind", before, after)
	}
	w.Close()
	ctWantMessages(t, p, "", "held")
}

// ---- Ping ----

// Ping returns net.ErrClosed after CloseNow even when no goroutine reads,
// and returns when its context ends.
func TestPingReturnsWithoutReader(t *testing.T) {
	for _, client := range ctRoles {
		t.Run(pairRole(client)+"/CloseNow while waiting", func(t *testing.T) {
			t.Parallel()
			c, _ := newPair(t, client, pairOptions{})
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- c.Ping(ctx) }()
			time.Sleep(100 * time.Millisecond)
			c.CloseNow()
			select {
			case err := <-done:
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("Ping after CloseNow = %v; want net.ErrClosed", err)
				}
			case <-time.After(2 * time.Second):
				t.Errorf("Ping did not return within 2s of CloseNow (no goroutine reads; it waits for a pong that cannot come)")
			}
		})
		t.Run(pairRole(client)+"/after CloseNow", func(t *testing.T) {
			t.Parallel()
			c, _ := newPair(t, client, pairOptions{})
			c.CloseNow()
			err := bounded(t, 2*time.Second, "Ping on a closed Conn", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				return c.Ping(ctx)
			})
			if !errors.Is(err, net.ErrClosed) {
				t.Errorf("Ping on a Conn closed by CloseNow = %v; want net.ErrClosed", err)
			}
		})
		t.Run(pairRole(client)+"/context ends", func(t *testing.T) {
			t.Parallel()
			c, p := newPair(t, client, pairOptions{})
			start := time.Now()
			err := bounded(t, 3*time.Second, "Ping with a 200ms deadline and no reader", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
				defer cancel()
				return c.Ping(ctx)
			})
			if !errors.Is(err, context.DeadlineExceeded) && err != nil {
				t.Errorf("Ping with no reader and a 200ms deadline = %v; want nil or context.DeadlineExceeded", err)
			}
			if d := time.Since(start); d > 1500*time.Millisecond {
				t.Errorf("Ping with a 200ms deadline took %v", d)
			}
			err = bounded(t, 3*time.Second, "Write after Ping", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				return c.Write(ctx, websocket.MessageText, []byte("after"))
			})
			if err != nil {
				t.Errorf("Write after a Ping whose context ended = %v; the Conn must stay usable", err)
			}
			ctWantMessages(t, p, "", "after")
		})
	}
}

// Two Pings in flight are both answered by one pong for the later one: a
// peer that has not yet answered earlier pings may answer only the most
// recent (RFC 6455, Section 5.5.3), so a pong acknowledges every ping sent
// before it. (Not in the rebuild's list: found by the adversarial test,
// whose peer coalesces pongs and whose Pings then wait for their contexts.)
func TestConcurrentPingsWithCoalescingPeer(t *testing.T) {
	for _, client := range ctRoles {
		t.Run(pairRole(client), func(t *testing.T) {
			t.Parallel()
			c, p := newPair(t, client, pairOptions{Peer: peerOptions{NoPong: true}})
			ctReadLoop(c) // receives the pong
			results := make(chan error, 2)
			ping := func() {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				results <- c.Ping(ctx)
			}
			go ping()
			if !p.WaitUntil(2*time.Second, func() bool { return len(p.PingsReceived()) >= 1 }) {
				t.Fatal("the first Ping never reached the peer")
			}
			go ping()
			if !p.WaitUntil(2*time.Second, func() bool { return len(p.PingsReceived()) >= 2 }) {
				t.Fatal("the second Ping never reached the peer")
			}
			latest := p.PingsReceived()[1]
			if err := p.SendFrame(true, 0, wirePong, latest); err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				select {
				case err := <-results:
					if err != nil {
						t.Errorf("Ping %d = %v; want nil: the pong for the later ping answers the earlier one too (RFC 6455 5.5.3 lets a peer answer only the most recent ping)", i, err)
					}
				case <-time.After(time.Second):
					t.Errorf("a Ping did not return within 1s of the pong for the later of two pings; a peer may answer only the most recent ping (RFC 6455 5.5.3)")
				}
			}
		})
	}
}

// ---- groups ----

// A Conn in two Groups (AcceptOptions.Group and Group.Add) leaves both when
// it closes, however it closes.
func TestConnLeavesEveryGroup(t *testing.T) {
	ends := []struct {
		name string
		end  func(c *websocket.Conn, p *strictPeer)
	}{
		{"CloseNow", func(c *websocket.Conn, p *strictPeer) { c.CloseNow() }},
		{"Close", func(c *websocket.Conn, p *strictPeer) { c.Close(websocket.StatusNormalClosure, "") }},
		{"peer closes", func(c *websocket.Conn, p *strictPeer) { p.SendClose(websocket.StatusGoingAway, "") }},
		{"peer resets", func(c *websocket.Conn, p *strictPeer) { p.Reset() }},
	}
	for _, client := range ctRoles {
		for _, e := range ends {
			t.Run(pairRole(client)+"/"+e.name, func(t *testing.T) {
				t.Parallel()
				var g1, g2 websocket.Group
				c, p := newPair(t, client, pairOptions{Group: &g1})
				g2.Add(c)
				if g1.Len() != 1 || g2.Len() != 1 {
					t.Fatalf("Len = %d and %d after joining, want 1 and 1", g1.Len(), g2.Len())
				}
				ctReadLoop(c)
				e.end(c, p)
				deadline := time.Now().Add(3 * time.Second)
				for (g1.Len() != 0 || g2.Len() != 0) && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if g1.Len() != 0 || g2.Len() != 0 {
					t.Errorf("3s after the Conn ended (%s), the groups' Len are %d (joined first) and %d (joined second); want 0 and 0", e.name, g1.Len(), g2.Len())
				}
			})
		}
	}
}

// ---- closing ----

// Close and Group.Close never put an invalid close frame on the wire: the
// codes RFC 6455, Section 7.4 reserves or leaves unassigned, and reasons
// that are not UTF-8, make Close return an error; valid ones go out as
// given.
func TestCloseNeverSendsInvalidCode(t *testing.T) {
	type row struct {
		code   websocket.StatusCode
		reason string
	}
	var invalid []row
	for _, code := range []websocket.StatusCode{1005, 1006, 1015, 999, 0, 1004, 1016, 2999, 5000, 65535} {
		invalid = append(invalid, row{code, "bye"})
	}
	invalid = append(invalid, row{1000, "bad \xff reason"}, row{4000, "cut \xc3"})
	valid := []row{{1000, ""}, {1001, "going"}, {1002, ""}, {1003, ""}, {1007, ""}, {1008, ""}, {1009, ""}, {1010, ""},
		{1011, ""}, {1012, ""}, {1013, ""}, {1014, ""}, {3000, "app"}, {4999, strings.Repeat("é", 20)}}

	for _, client := range ctRoles {
		for _, via := range []string{"Close", "Group.Close"} {
			for _, r := range invalid {
				t.Run(fmt.Sprintf("%s/%s/invalid %d %q", pairRole(client), via, int(r.code), r.reason), func(t *testing.T) {
					t.Parallel()
					var g websocket.Group
					c, p := newPair(t, client, pairOptions{CloseTimeout: 500 * time.Millisecond, Group: &g})
					var err error
					bounded(t, 5*time.Second, via, func() error {
						if via == "Close" {
							err = c.Close(r.code, r.reason)
						} else {
							g.Close(r.code, r.reason)
						}
						return nil
					})
					if via == "Close" && err == nil && r.code != 1005 {
						t.Errorf("Close(%d, %q) = nil; want an error: that code or reason may not be sent", int(r.code), r.reason)
					}
					time.Sleep(50 * time.Millisecond)
					if cl, ok := p.CloseReceived(); ok {
						switch {
						case r.code == 1005 && !cl.HasCode:
							// 1005 means "no code": an empty close frame is right.
						case cl.HasCode && (cl.Code == r.code || cl.Reason == r.reason && !utf8.ValidString(r.reason)):
							t.Errorf("%s(%d, %q) put close code %d with reason %q on the wire", via, int(r.code), r.reason, int(cl.Code), cl.Reason)
						}
					}
					p.Check(t)
				})
			}
		}
		for _, r := range valid {
			t.Run(fmt.Sprintf("%s/Close/valid %d", pairRole(client), int(r.code)), func(t *testing.T) {
				t.Parallel()
				c, p := newPair(t, client, pairOptions{CloseTimeout: time.Second})
				err := bounded(t, 5*time.Second, "Close", func() error { return c.Close(r.code, r.reason) })
				if err != nil {
					t.Errorf("Close(%d, %q) = %v; want nil (the peer answers)", int(r.code), r.reason, err)
				}
				cl, ok := p.CloseReceived()
				if !ok || !cl.HasCode || cl.Code != r.code || cl.Reason != r.reason {
					t.Errorf("close frame on the wire = %+v (present: %v); want code %d, reason %q", cl, ok, int(r.code), r.reason)
				}
				p.Check(t)
			})
		}
	}
}

// Closing a Conn whose peer has already closed cleanly neither panics nor
// hangs; it returns nil or net.ErrClosed.
func TestCloseAfterPeerClosed(t *testing.T) {
	for _, client := range ctRoles {
		for _, reader := range []bool{true, false} {
			name := pairRole(client) + "/with a reader"
			if !reader {
				name = pairRole(client) + "/no reader"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c, p := newPair(t, client, pairOptions{})
				var readErr <-chan error
				if reader {
					readErr = ctReadLoop(c)
				}
				p.SendClose(websocket.StatusNormalClosure, "bye")
				if reader {
					select {
					case err := <-readErr:
						if websocket.CloseStatus(err) != websocket.StatusNormalClosure {
							t.Errorf("Read after the peer's close = %v; want a CloseError with code 1000", err)
						}
					case <-time.After(3 * time.Second):
						t.Fatal("Read did not return within 3s of the peer's close frame")
					}
				} else {
					time.Sleep(100 * time.Millisecond)
				}
				err := bounded(t, 5*time.Second, "Close after the peer closed", func() error { return c.Close(websocket.StatusNormalClosure, "") })
				if err != nil && !errors.Is(err, net.ErrClosed) {
					t.Errorf("Close after the peer closed cleanly = %v; want nil or net.ErrClosed", err)
				}
				bounded(t, 2*time.Second, "CloseNow after Close", c.CloseNow)
				p.Check(t)
			})
		}
	}
}

// Streaming a message through Reader while another goroutine calls Close,
// the pattern the package documents, is free of data races (run with -race).
func TestReaderRaceWithClose(t *testing.T) {
	for _, client := range ctRoles {
		t.Run(pairRole(client), func(t *testing.T) {
			t.Parallel()
			for i := range 4 {
				// The peer streams a message slowly and does not answer the
				// close frame at once, so that Close reads while the Reader
				// is still streaming.
				c, p := newPair(t, client, pairOptions{CloseTimeout: 300 * time.Millisecond, Peer: peerOptions{NoCloseEcho: true}})
				go p.SendMessage(websocket.MessageBinary, make([]byte, 256<<10), peerSend{Split: func(n int) []peerFramePlan {
					plan := make([]peerFramePlan, 128)
					for j := range plan {
						plan[j] = peerFramePlan{Size: n / 128, PauseBefore: 2 * time.Millisecond}
					}
					return plan
				}})
				readDone := make(chan struct{})
				go func() {
					defer close(readDone)
					for {
						_, r, err := c.Reader(context.Background())
						if err != nil {
							return
						}
						buf := make([]byte, 1024)
						for {
							if _, err := r.Read(buf); err != nil {
								break
							}
						}
					}
				}()
				time.Sleep(time.Duration(5+5*i) * time.Millisecond)
				bounded(t, 5*time.Second, "Close while a Reader streams", func() error { c.Close(websocket.StatusNormalClosure, ""); return nil })
				select {
				case <-readDone:
				case <-time.After(5 * time.Second):
					t.Fatalf("the reading goroutine did not end within 5s of Close")
				}
				p.Check(t)
			}
		})
	}
}

// ---- options ----

// Bad options are an error from Accept (which answers the handshake with
// 500) or Dial (before connecting), never a panic on a later write.
func TestBadOptionsAreErrors(t *testing.T) {
	type row struct {
		name string
		bad  bool
		set  func(comp *websocket.CompressionOptions, rbuf, wbuf *int, limit *int64)
	}
	rows := []row{
		{"Compression Level 10", true, func(c *websocket.CompressionOptions, _, _ *int, _ *int64) { c.Level = 10 }},
		{"Compression Level -3", true, func(c *websocket.CompressionOptions, _, _ *int, _ *int64) { c.Level = -3 }},
		{"MaxWindowBits 7", true, func(c *websocket.CompressionOptions, _, _ *int, _ *int64) { c.MaxWindowBits = 7 }},
		{"MaxWindowBits 16", true, func(c *websocket.CompressionOptions, _, _ *int, _ *int64) { c.MaxWindowBits = 16 }},
		{"ReadBufferSize -1", true, func(_ *websocket.CompressionOptions, r, _ *int, _ *int64) { *r = -1 }},
		{"WriteBufferSize -1", true, func(_ *websocket.CompressionOptions, _, w *int, _ *int64) { *w = -1 }},
		{"valid: Level 9", false, func(c *websocket.CompressionOptions, _, _ *int, _ *int64) { c.Level = 9 }},
		{"valid: Level -1", false, func(c *websocket.CompressionOptions, _, _ *int, _ *int64) { c.Level = -1 }},
		{"valid: MaxWindowBits 8", false, func(c *websocket.CompressionOptions, _, _ *int, _ *int64) { c.MaxWindowBits = 8 }},
		{"valid: MaxWindowBits 15", false, func(c *websocket.CompressionOptions, _, _ *int, _ *int64) { c.MaxWindowBits = 15 }},
		{"valid: ReadLimit -1 (no limit)", false, func(_ *websocket.CompressionOptions, _, _ *int, l *int64) { *l = -1 }},
	}
	payload := bytes.Repeat([]byte("compressible text "), 200)
	// tryWrite writes a compressed message, reporting a panic as an error.
	tryWrite := func(c *websocket.Conn) (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = &panicError{r, debug.Stack()}
			}
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		return c.Write(ctx, websocket.MessageText, payload)
	}
	for _, r := range rows {
		t.Run("Accept/"+r.name, func(t *testing.T) {
			t.Parallel()
			comp := &websocket.CompressionOptions{}
			var o websocket.AcceptOptions
			o.Compression = comp
			r.set(comp, &o.ReadBufferSize, &o.WriteBufferSize, &o.ReadLimit)
			type result struct{ accept, write error }
			ch := make(chan result, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				c, err := websocket.Accept(w, req, &o)
				if err != nil {
					ch <- result{accept: err}
					return
				}
				defer c.CloseNow()
				ch <- result{write: tryWrite(c)}
			}))
			defer srv.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			var do websocket.DialOptions
			do.Compression = &websocket.CompressionOptions{}
			cc, resp, derr := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), &do)
			if cc != nil {
				defer cc.CloseNow()
				go cc.Read(ctx)
			}
			var res result
			select {
			case res = <-ch:
			case <-time.After(5 * time.Second):
				t.Fatal("the handler did not finish within 5s")
			}
			var pe *panicError
			switch {
			case errors.As(res.write, &pe):
				t.Errorf("Accept with %s succeeded, and the first compressed Write panicked: %v\n%s", r.name, pe.value, pe.stack)
			case r.bad && res.accept == nil:
				t.Errorf("Accept with %s succeeded; want an error (and an HTTP 500 to the client)", r.name)
			case r.bad && (derr == nil || resp == nil || resp.StatusCode != http.StatusInternalServerError):
				status := 0
				if resp != nil {
					status = resp.StatusCode
				}
				t.Errorf("Accept with %s failed (%v), but the client's Dial got status %d, error %v; want HTTP 500", r.name, res.accept, status, derr)
			case !r.bad && (res.accept != nil || res.write != nil || derr != nil):
				t.Errorf("with %s: Accept = %v, Write = %v, Dial = %v; want all nil", r.name, res.accept, res.write, derr)
			}
		})
		t.Run("Dial/"+r.name, func(t *testing.T) {
			t.Parallel()
			u, accept := listenStrictPeer(t, peerOptions{Deflate: true})
			comp := &websocket.CompressionOptions{}
			var o websocket.DialOptions
			o.Compression = comp
			r.set(comp, &o.ReadBufferSize, &o.WriteBufferSize, &o.ReadLimit)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, _, err := websocket.Dial(ctx, u, &o)
			p, _ := accept(100 * time.Millisecond)
			if c != nil {
				defer c.CloseNow()
				werr := tryWrite(c)
				var pe *panicError
				if errors.As(werr, &pe) {
					t.Errorf("Dial with %s succeeded, and the first compressed Write panicked: %v\n%s", r.name, pe.value, pe.stack)
				} else if !r.bad && werr != nil {
					t.Errorf("Write with %s = %v", r.name, werr)
				}
			}
			switch {
			case r.bad && err == nil:
				t.Errorf("Dial with %s succeeded; want an error before connecting", r.name)
			case r.bad && p != nil:
				t.Errorf("Dial with %s returned %v, but only after connecting to the server; options must be checked first", r.name, err)
			case !r.bad && err != nil:
				t.Errorf("Dial with %s = %v; want success", r.name, err)
			}
		})
	}
}

// A Dial whose context ends just as the 101 response is read must never
// return a Conn with a past deadline on its connection: whenever Dial
// succeeds, a Write and a Read with context.Background() work. The context
// ends by a deadline swept in 50µs steps around the handshake's length, and
// by a cancel fired a few microseconds after the server has written its 101
// (which lands in the window far more often).
func TestDialContextEndingAtHandshakeLeavesNoDeadline(t *testing.T) {
	var (
		mu       sync.Mutex
		onSwitch func() // called once the server has written a 101
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, b, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if c.Write(context.Background(), typ, b) != nil {
				return
			}
		}
	}))
	srv.Listener = ctHookListener{srv.Listener, func() {
		mu.Lock()
		f := onSwitch
		onSwitch = nil
		mu.Unlock()
		if f != nil {
			f()
		}
	}}
	srv.Start()
	defer srv.Close()
	u := "ws" + strings.TrimPrefix(srv.URL, "http")
	// Time a handshake, to aim the deadlines around its end.
	var took []time.Duration
	for range 5 {
		start := time.Now()
		c, _, err := websocket.Dial(context.Background(), u, nil)
		if err != nil {
			t.Fatal(err)
		}
		took = append(took, time.Since(start))
		c.CloseNow()
	}
	median := took[2]
	lo, hi := median/3, 2*median+500*time.Microsecond
	successes, failures := 0, 0
	try := func(what string, ctx context.Context) {
		c, _, err := websocket.Dial(ctx, u, nil)
		if err != nil {
			return
		}
		successes++
		werr := c.Write(context.Background(), websocket.MessageText, []byte("echo"))
		var got []byte
		var rerr error
		if werr == nil {
			rctx, rcancel := context.WithTimeout(context.Background(), 3*time.Second)
			_, got, rerr = c.Read(rctx)
			rcancel()
		}
		if werr != nil || rerr != nil || string(got) != "echo" {
			failures++
			t.Errorf("Dial with a context that ended %s succeeded; then Write(context.Background()) = %v, Read = %q, %v: the handshake's deadline was left on the connection", what, werr, got, rerr)
		}
		c.CloseNow()
	}
	start := time.Now()
	for round := 0; time.Since(start) < ctDialRaceDuration && failures == 0; round++ {
		for d := lo; d < hi && failures == 0; d += 50 * time.Microsecond {
			ctx, cancel := context.WithTimeout(context.Background(), d)
			try(fmt.Sprintf("by a %v deadline", d), ctx)
			cancel()
		}
		for delay := time.Duration(0); delay < 100*time.Microsecond && failures == 0; delay += 5 * time.Microsecond {
			ctx, cancel := context.WithCancel(context.Background())
			mu.Lock()
			onSwitch = func() {
				for t0 := time.Now(); time.Since(t0) < delay; {
				}
				cancel()
			}
			mu.Unlock()
			try(fmt.Sprintf("by a cancel %v after the server wrote its 101", delay), ctx)
			cancel()
		}
	}
	t.Logf("handshake ~%v; %d Dials succeeded with deadlines from %v to %v or cancels right after the 101", median, successes, lo, hi)
	if successes == 0 {
		t.Errorf("no Dial succeeded; the test did not exercise the race")
	}
}

// ctDialRaceDuration is how long TestDialContextEndingAtHandshakeLeavesNoDeadline
// tries.
var ctDialRaceDuration = 3 * time.Second

// ctHookListener calls switched after the first write on every connection
// it accepts: for a WebSocket server, right after the 101 response.
type ctHookListener struct {
	net.Listener
	switched func()
}

func (l ctHookListener) Accept() (net.Conn, error) {
	nc, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &ctHookConn{Conn: nc, switched: l.switched}, nil
}

type ctHookConn struct {
	net.Conn
	once     sync.Once
	switched func()
}

func (c *ctHookConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	c.once.Do(c.switched)
	return n, err
}

// ---- keepalive ----

// The keepalive does not drop a healthy peer when the application is busy:
// no goroutine in Read for longer than PongTimeout, or one large write that
// takes longer than PongTimeout to a slow but reading peer.
func TestKeepAliveSparesBusyHealthyPeer(t *testing.T) {
	for _, client := range ctRoles {
		t.Run(pairRole(client)+"/no reader for a while", func(t *testing.T) {
			t.Parallel()
			c, p := newPair(t, client, pairOptions{PingInterval: 50 * time.Millisecond, PongTimeout: 250 * time.Millisecond})
			time.Sleep(time.Second) // the application is busy elsewhere
			p.SendMessage(websocket.MessageText, []byte("still here"), peerSend{})
			var got []byte
			err := bounded(t, 5*time.Second, "Read", func() (err error) {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				_, got, err = c.Read(ctx)
				return
			})
			if err != nil || string(got) != "still here" {
				t.Fatalf("Read after 1s without a reader (PingInterval 50ms, PongTimeout 250ms, a peer that answers every ping) = %q, %v; the keepalive must not drop a healthy peer because nobody read its pongs", got, err)
			}
			err = bounded(t, 5*time.Second, "Write", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
				defer cancel()
				return c.Write(ctx, websocket.MessageText, []byte("reply"))
			})
			if err != nil {
				t.Fatalf("Write = %v", err)
			}
			ctWantMessages(t, p, "", "reply")
			p.Check(t)
		})
		t.Run(pairRole(client)+"/large write to a slow reader", func(t *testing.T) {
			t.Parallel()
			big := ctBinary(ctRand(t), 2<<20) // made first: under -race it takes a while
			c, p := newPair(t, client, pairOptions{
				PingInterval: 50 * time.Millisecond, PongTimeout: 250 * time.Millisecond,
				SocketBuffer: 4096, Peer: peerOptions{SocketBuffer: 4096},
			})
			readErr := ctReadLoop(c)
			p.Throttle(4096, 4*time.Millisecond) // about 1 MB/s
			start := time.Now()
			err := bounded(t, 15*time.Second, "Write of 2 MiB", func() error {
				ctx, cancel := context.WithTimeout(context.Background(), 12*time.Second)
				defer cancel()
				return c.Write(ctx, websocket.MessageBinary, big)
			})
			took := time.Since(start)
			if err != nil {
				t.Fatalf("Write of 2 MiB to a peer reading at ~1 MB/s (took %v; PongTimeout 250ms) = %v; the keepalive must not drop a peer that is reading", took, err)
			}
			p.Throttle(0, 0)
			msgs := p.WaitMessages(1, 5*time.Second)
			if len(msgs) != 1 || !bytes.Equal(msgs[0].Data, big) {
				t.Fatalf("the peer received %d messages; want the 2 MiB one", len(msgs))
			}
			select {
			case err := <-readErr:
				t.Fatalf("Read returned %v during the write; the keepalive dropped a healthy peer", err)
			default:
			}
			t.Logf("the write took %v", took)
			p.Check(t)
		})
	}
}

// A peer that really vanished (it reads but never answers pings) is
// dropped, and then reads and writes return ErrKeepAliveTimeout.
func TestKeepAliveDropsVanishedPeer(t *testing.T) {
	for _, client := range ctRoles {
		t.Run(pairRole(client), func(t *testing.T) {
			t.Parallel()
			c, _ := newPair(t, client, pairOptions{
				PingInterval: 50 * time.Millisecond, PongTimeout: 100 * time.Millisecond,
				Peer: peerOptions{NoPong: true},
			})
			readErr := ctReadLoop(c)
			select {
			case err := <-readErr:
				if !errors.Is(err, websocket.ErrKeepAliveTimeout) {
					t.Errorf("Read after the peer stopped answering pings = %v; want ErrKeepAliveTimeout", err)
				}
			case <-time.After(3 * time.Second):
				t.Fatal("the keepalive (PingInterval 50ms, PongTimeout 100ms) did not drop a peer that never answers within 3s")
			}
			calls := []struct {
				name string
				f    func(ctx context.Context) error
			}{
				{"Write", func(ctx context.Context) error { return c.Write(ctx, websocket.MessageText, []byte("x")) }},
				{"Ping", c.Ping},
				{"Read", func(ctx context.Context) error { _, _, err := c.Read(ctx); return err }},
			}
			for _, call := range calls {
				err := bounded(t, 3*time.Second, call.name, func() error {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					defer cancel()
					return call.f(ctx)
				})
				if !errors.Is(err, websocket.ErrKeepAliveTimeout) {
					t.Errorf("%s after the keepalive dropped the peer = %v; want an error that is ErrKeepAliveTimeout (it says why the Conn closed)", call.name, err)
				}
			}
		})
	}
}

// ---- failures close the Conn for everyone ----

// A write failure (the peer reset the connection, or a frame of a streamed
// message cut mid-way, which no one can finish) marks the Conn closed for
// everyone: a goroutine blocked in Read returns,
// the Conn leaves its Group, and later calls return net.ErrClosed.
func TestWriteFailureClosesConnForEveryone(t *testing.T) {
	for _, client := range ctRoles {
		for _, how := range []string{"peer resets", "streamed message cut mid-frame"} {
			t.Run(pairRole(client)+"/"+how, func(t *testing.T) {
				t.Parallel()
				var g websocket.Group
				c, p := newPair(t, client, pairOptions{
					Group: &g, PingInterval: 200 * time.Millisecond,
					SocketBuffer: 4096, Peer: peerOptions{SocketBuffer: 4096},
				})
				readErr := ctReadLoop(c)
				var werr error
				if how == "peer resets" {
					p.Reset()
					for i := 0; i < 50 && werr == nil; i++ {
						time.Sleep(10 * time.Millisecond)
						werr = bounded(t, 3*time.Second, "Write to a reset peer", func() error {
							ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
							defer cancel()
							return c.Write(ctx, websocket.MessageBinary, make([]byte, 64<<10))
						})
					}
				} else {
					// A frame of a message with more to come, cut: no one can
					// finish the message, so the Conn must close.
					p.PauseReading()
					werr = bounded(t, 5*time.Second, "a Writer's Write of 4 MiB with a 200ms deadline", func() error {
						ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
						defer cancel()
						w, err := c.Writer(ctx, websocket.MessageBinary)
						if err != nil {
							return err
						}
						defer w.Close()
						_, err = w.Write(make([]byte, 4<<20))
						return err
					})
				}
				if werr == nil {
					t.Fatalf("the write never failed (%s)", how)
				}
				select {
				case <-readErr:
				case <-time.After(2 * time.Second):
					t.Errorf("a goroutine blocked in Read did not return within 2s of a failed write (%v)", werr)
				}
				deadline := time.Now().Add(2 * time.Second)
				for g.Len() != 0 && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if g.Len() != 0 {
					t.Errorf("the Conn is still in its Group 2s after a write failed (%v); a failed write must close it for everyone", werr)
				}
				err := bounded(t, 3*time.Second, "the next Write", func() error {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
					defer cancel()
					return c.Write(ctx, websocket.MessageText, []byte("late"))
				})
				if !errors.Is(err, net.ErrClosed) {
					t.Errorf("Write after a failed write = %v; want net.ErrClosed", err)
				}
			})
		}
	}
}
