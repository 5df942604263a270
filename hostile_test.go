//go:build !js

package websocket

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Hostile input on an open connection: frame headers that announce
// impossible sizes, floods of fragments and of pings, and many goroutines
// at once. Each case asserts the close code the peer receives, the error
// the reader sees, and that memory and time stay bounded.

// maxHeaderAlloc is how much the whole of one hostile-header case (read,
// close exchange, errors) may allocate: a few small buffers, nothing that
// grows with the declared length.
const maxHeaderAlloc = 1 << 20

func TestHostileFrameLengths(t *testing.T) {
	type tc struct {
		name  string
		wire  func(masked bool) []byte
		limit int64 // read limit; 0 for the default
		code  StatusCode
	}
	var tests []tc
	// RFC 6455, Section 5.2: "the most significant bit MUST be 0".
	for _, op := range []opcode{opText, opBinary, opPing, opPong, opClose, 0x3, 0xB} {
		for _, l := range []uint64{1 << 63, math.MaxUint64} {
			tests = append(tests, tc{
				name: fmt.Sprintf("5.2/op %#x length %#x (top bit set)", byte(op), l),
				wire: func(m bool) []byte { return rawHeader(true, op, m, l) },
				code: StatusProtocolError,
			})
		}
	}
	// A data frame announcing 2^62 or 2^63-1 bytes is over any read limit:
	// 1009 from the header alone, whatever the limit.
	for _, op := range []opcode{opText, opBinary} {
		for _, l := range []uint64{1 << 62, math.MaxInt64} {
			for _, limit := range []int64{0, 1000, 1 << 40} {
				tests = append(tests, tc{
					name:  fmt.Sprintf("7.4.1/%v of %#x bytes, limit %d", MessageType(op), l, limit),
					wire:  func(m bool) []byte { return rawHeader(true, op, m, l) },
					limit: limit,
					code:  StatusMessageTooBig,
				})
			}
		}
	}
	// Control frames announcing 2^62 bytes (Section 5.5: at most 125).
	for _, op := range []opcode{opPing, opPong, opClose} {
		tests = append(tests, tc{
			name: fmt.Sprintf("5.5/control op %#x of 2^62 bytes", byte(op)),
			wire: func(m bool) []byte { return rawHeader(true, op, m, 1<<62) },
			code: StatusProtocolError,
		})
	}
	// Unknown opcodes with huge lengths: refused for the opcode, without
	// looking at (or skipping) the payload.
	for _, op := range []opcode{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		tests = append(tests, tc{
			name: fmt.Sprintf("5.2/unknown op %#x of 2^62 bytes", byte(op)),
			wire: func(m bool) []byte { return rawHeader(true, op, m, 1<<62) },
			code: StatusProtocolError,
		})
	}
	// A continuation announcing 2^62 bytes inside an open message.
	tests = append(tests, tc{
		name: "7.4.1/continuation of 2^62 bytes after a fragment",
		wire: func(m bool) []byte {
			p := &rawPeer{client: m}
			return append(p.frame(false, opBinary, []byte("abc")), rawHeader(true, opContinuation, m, 1<<62)...)
		},
		code: StatusMessageTooBig,
	})
	for _, tt := range tests {
		for _, client := range []bool{false, true} {
			name := map[bool]string{false: "server/", true: "client/"}[client] + tt.name
			t.Run(name, func(t *testing.T) {
				c, p := newTestConn(t, client, connConfig{readLimit: tt.limit, closeTimeout: 500 * time.Millisecond})
				n := allocatedDuring(func() {
					p.write(tt.wire(!client))
					wantFailed(t, c, p, tt.code)
				})
				if n > maxHeaderAlloc {
					t.Errorf("handling one hostile header allocated %d bytes", n)
				}
			})
		}
	}
}

// With no read limit a Read still cannot be made to allocate the declared
// length of a frame that never comes: at most a bounded first chunk.
func TestHostileNoLimitHugeFrame(t *testing.T) {
	c, p := newTestConn(t, false, connConfig{readLimit: -1})
	var err error
	n := allocatedDuring(func() {
		p.write(rawHeader(true, opBinary, true, 1<<62))
		p.write([]byte("only a few bytes"))
		p.nc.Close()
		_, _, err = c.Read(context.Background())
	})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Read = %v, want unexpected EOF", err)
	}
	if n > 80<<20 {
		t.Errorf("Read of a frame announcing 2^62 bytes allocated %d bytes", n)
	}
	t.Logf("no-limit Read of a truncated 2^62-byte frame allocated %d KiB", n>>10)
}

// A frame header that announces up to the read limit, with no payload
// behind it: what a Read allocates is bounded by the limit (today it is the
// whole limit, allocated up front for the one-allocation fast path).
func TestHostileDeclaredLengthWithinLimit(t *testing.T) {
	for _, limit := range []int64{DefaultReadLimit, 16 << 20} {
		c, p := newTestConn(t, false, connConfig{readLimit: limit})
		p.write(rawHeader(true, opBinary, true, uint64(limit)))
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		var err error
		n := allocatedDuring(func() { _, _, err = c.Read(ctx) })
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Read = %v, want deadline exceeded", err)
		}
		t.Logf("limit %d: a 14-byte header made Read allocate %d KiB before any payload", limit, n>>10)
		if n > uint64(limit)+1<<20 {
			t.Errorf("limit %d: Read allocated %d bytes for a frame announced at the limit", limit, n)
		}
	}
}

// The counters of a message (frames, bytes) at and just past their limits,
// across many frames and many messages.
func TestHostileMessageCounters(t *testing.T) {
	for _, tt := range []struct {
		limit int64
		cap   int
	}{{1000, minFragmentCap}, {1 << 16, 1 << 12}, {DefaultReadLimit, DefaultReadLimit / 16}} {
		t.Run(fmt.Sprintf("fragment cap %d at limit %d", tt.cap, tt.limit), func(t *testing.T) {
			if got := int(fragmentCap(tt.limit)); got != tt.cap {
				t.Fatalf("fragmentCap(%d) = %d, want %d", tt.limit, got, tt.cap)
			}
			c, p := newTestConn(t, false, connConfig{readLimit: tt.limit})
			// A message of exactly cap frames passes, three times over:
			// the count starts again with each message.
			msg := func(frames int) []byte {
				b := p.frame(false, opBinary, []byte("x"))
				empty := p.frame(false, opContinuation, nil)
				for i := 2; i < frames; i++ {
					b = append(b, empty...)
				}
				return append(b, p.frame(true, opContinuation, []byte("y"))...)
			}
			for i := 0; i < 3; i++ {
				go p.nc.Write(msg(tt.cap))
				if _, b, err := c.Read(context.Background()); err != nil || string(b) != "xy" {
					t.Fatalf("message %d of %d frames: %q, %v", i, tt.cap, b, err)
				}
			}
			go p.nc.Write(msg(tt.cap + 1))
			errc := make(chan error, 1)
			go func() { _, _, err := c.Read(context.Background()); errc <- err }()
			p.wantClose(StatusMessageTooBig)
			p.nc.Close()
			if err := <-errc; err != errTooManyFragments {
				t.Fatalf("message of %d frames: Read = %v, want %v", tt.cap+1, err, errTooManyFragments)
			}
		})
	}
	t.Run("bytes: messages of exactly the limit in 16 frames, then one byte more", func(t *testing.T) {
		const limit = 1 << 16
		c, p := newTestConn(t, false, connConfig{readLimit: limit})
		msg := func(extra int) []byte {
			var b []byte
			for i := 0; i < 16; i++ {
				op := opContinuation
				if i == 0 {
					op = opBinary
				}
				n := limit / 16
				if i == 15 {
					n += extra
				}
				b = append(b, p.frame(i == 15, op, make([]byte, n))...)
			}
			return b
		}
		for i := 0; i < 3; i++ {
			go p.nc.Write(msg(0))
			if _, b, err := c.Read(context.Background()); err != nil || len(b) != limit {
				t.Fatalf("message %d: %d bytes, %v", i, len(b), err)
			}
		}
		go p.nc.Write(msg(1))
		wantFailedAfterClose(t, c, p, StatusMessageTooBig, ErrMessageTooBig)
	})
	t.Run("bytes: continuation of 2^63-1 bytes under a limit of MaxInt64", func(t *testing.T) {
		// limit - size must not overflow: 100 bytes read, then a fragment
		// announcing MaxInt64 more.
		c, p := newTestConn(t, false, connConfig{})
		c.SetReadLimit(math.MaxInt64)
		p.send(false, opBinary, make([]byte, 100))
		p.write(rawHeader(false, opContinuation, true, math.MaxInt64))
		_, r, err := c.Reader(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			n     int
			err   error
			alloc uint64
		}
		res := make(chan result, 1)
		go func() {
			var b []byte
			var err error
			n := allocatedDuring(func() { b, err = io.ReadAll(io.LimitReader(r, 1<<20)) })
			res <- result{len(b), err, n}
		}()
		p.wantClose(StatusMessageTooBig)
		p.nc.Close()
		got := <-res
		if got.n != 100 || !errors.Is(got.err, ErrMessageTooBig) {
			t.Fatalf("read %d bytes, %v; want 100 and ErrMessageTooBig", got.n, got.err)
		}
		if got.alloc > maxHeaderAlloc {
			t.Errorf("allocated %d bytes", got.alloc)
		}
	})
	t.Run("limit is on the message: streamed through Reader", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{readLimit: 1000})
		go func() {
			p.nc.Write(p.frame(false, opBinary, make([]byte, 300)))
			for i := 0; i < 3; i++ {
				p.nc.Write(p.frame(false, opContinuation, make([]byte, 300)))
			}
		}()
		_, r, err := c.Reader(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			n   int
			err error
		}
		res := make(chan result, 1)
		go func() { b, err := io.ReadAll(r); res <- result{len(b), err} }()
		p.wantClose(StatusMessageTooBig)
		p.nc.Close()
		if got := <-res; got.n != 900 || !errors.Is(got.err, ErrMessageTooBig) {
			t.Fatalf("read %d bytes, %v; want 900 then ErrMessageTooBig", got.n, got.err)
		}
	})
	t.Run("limit is on the message: control frames between fragments do not count", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{readLimit: 1000})
		go func() {
			var b []byte
			for i := 0; i < 10; i++ {
				op := opContinuation
				if i == 0 {
					op = opText
				}
				b = append(b, p.frame(true, opPing, bytes.Repeat([]byte{byte(i)}, 125))...)
				b = append(b, p.frame(i == 9, op, bytes.Repeat([]byte("a"), 100))...)
			}
			p.nc.Write(b)
		}()
		if _, b, err := c.Read(context.Background()); err != nil || len(b) != 1000 {
			t.Fatalf("Read = %d bytes, %v", len(b), err)
		}
		for i := 0; i < 10; i++ {
			if h, payload := p.recv(); h.op != opPong || len(payload) != 125 || payload[0] != byte(i) {
				t.Fatalf("pong %d: %v %d bytes", i, h.op, len(payload))
			}
		}
	})
}

// wantFailedAfterClose checks that a Read fails with want (and the peer
// gets close code) while the peer may still be writing.
func wantFailedAfterClose(t *testing.T, c *Conn, p *rawPeer, code StatusCode, want error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { _, _, err := c.Read(context.Background()); errc <- err }()
	p.wantClose(code)
	p.nc.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, want) {
			t.Fatalf("Read = %v, want %v", err, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Read did not return")
	}
}

func TestHostileContinuationFlood(t *testing.T) {
	t.Run("endless continuation frames end in 1009", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			batch := p.frame(false, opContinuation, []byte("z"))
			batch = bytes.Repeat(batch, 4096)
			if _, err := p.nc.Write(p.frame(false, opText, []byte("a"))); err != nil {
				return
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := p.nc.Write(batch); err != nil {
					return
				}
			}
		}()
		start := time.Now()
		wantFailedAfterClose(t, c, p, StatusMessageTooBig, errTooManyFragments)
		t.Logf("capped after %v", time.Since(start))
	})
	t.Run("a million zero-length fragments end in 1009 at the cap", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		const n = 1000000
		stream := p.frame(false, opBinary, nil)
		stream = append(stream, bytes.Repeat(p.frame(false, opContinuation, nil), n)...)
		go p.nc.Write(stream)
		start := time.Now()
		var heapBefore = liveHeap()
		wantFailedAfterClose(t, c, p, StatusMessageTooBig, errTooManyFragments)
		d := time.Since(start)
		if heap := liveHeap(); heap > heapBefore+uint64(len(stream))+4<<20 {
			t.Errorf("live heap grew from %d to %d", heapBefore, heap)
		}
		t.Logf("failed after %v (cap %d frames)", d, fragmentCap(DefaultReadLimit))
	})
	t.Run("a million zero-length fragments under a cap above it take linear time", func(t *testing.T) {
		// A 16 MiB limit allows 2^20 fragments: the whole million is
		// read. The time for a million is compared with the time for
		// 100,000, so a cost per fragment that grows with the count fails.
		c, p := newTestConn(t, false, connConfig{readLimit: 16 << 20})
		if fragmentCap(16<<20) < 1000001 {
			t.Fatalf("cap %d", fragmentCap(16<<20))
		}
		read := func(n int) time.Duration {
			stream := p.frame(false, opBinary, []byte("<"))
			stream = append(stream, bytes.Repeat(p.frame(false, opContinuation, nil), n-2)...)
			stream = append(stream, p.frame(true, opContinuation, []byte(">"))...)
			go p.nc.Write(stream)
			start := time.Now()
			_, b, err := c.Read(context.Background())
			d := time.Since(start)
			if err != nil || string(b) != "<>" {
				t.Fatalf("%d fragments: %q, %v", n, b, err)
			}
			return d
		}
		// Timing on a shared machine is noisy: a superlinear reader fails
		// every try, a linear one passes one of three.
		var small, big time.Duration
		for try := 0; try < 3; try++ {
			small = min(read(100000), read(100000))
			big = read(1000000)
			if big <= 30*small+100*time.Millisecond {
				break
			}
		}
		t.Logf("100,000 fragments in %v, 1,000,000 in %v", small, big)
		if big > 30*small+100*time.Millisecond {
			t.Errorf("10x the fragments took %.0fx the time, three times", float64(big)/float64(small))
		}
	})
}

func TestHostilePingFlood(t *testing.T) {
	t.Run("100k pings while the peer reads no pong", func(t *testing.T) {
		// Over net.Pipe, which buffers nothing: a pong write blocks until
		// the peer reads, and the peer reads nothing until the end.
		a, b := net.Pipe()
		c := newConn(a, connConfig{closeTimeout: 2 * time.Second}, nil)
		t.Cleanup(func() { c.CloseNow(); b.Close() })
		p := &rawPeer{t: t, nc: b, br: bufio.NewReader(b), client: true}
		const n = 100000
		var stream []byte
		for i := 0; i < n; i++ {
			payload := make([]byte, maxControlPayload)
			binary.BigEndian.PutUint32(payload, uint32(i))
			stream = append(stream, p.frame(true, opPing, payload)...)
		}
		stream = append(stream, p.frame(true, opText, []byte("after the flood"))...)
		msgs := make(chan string, 1)
		go func() {
			_, b, err := c.Read(context.Background())
			if err != nil {
				msgs <- err.Error()
				return
			}
			msgs <- string(b)
		}()
		heapBefore := liveHeap() // the stream is live already
		goroutinesBefore := runtime.NumGoroutine()
		written := make(chan error, 1)
		go func() { _, err := p.nc.Write(stream); written <- err }()
		// The peer reads nothing: the pong writes block, but the reader
		// must not. It reads the whole flood and the message after it,
		// keeping at most a few pongs (RFC 6455, Section 5.5.3 allows
		// answering only the latest ping).
		var m string
		select {
		case m = <-msgs:
		case <-time.After(20 * time.Second):
			t.Fatal("the reader did not get through the flood of pings while the peer read no pong: it blocks on writes")
		}
		if m != "after the flood" {
			t.Fatalf("Read = %q", m)
		}
		if err := <-written; err != nil {
			t.Fatalf("peer write: %v", err)
		}
		heapStalled := liveHeap()
		if g := runtime.NumGoroutine(); g > goroutinesBefore+3 {
			t.Errorf("%d goroutines during the flood, %d before", g, goroutinesBefore)
		}
		if heapStalled > heapBefore+4<<20 {
			t.Errorf("live heap grew by %d KiB while pongs were unread", (heapStalled-heapBefore)>>10)
		}
		// Now read: pongs for some of the pings, in order, the last one
		// among them, then what the Conn writes next.
		go c.Write(context.Background(), MessageText, []byte("still usable"))
		last, pongs := -1, 0
		for {
			h, payload := p.recv()
			if h.op == opText {
				if string(payload) != "still usable" {
					t.Fatalf("got %q", payload)
				}
				break
			}
			if h.op != opPong || len(payload) != maxControlPayload {
				t.Fatalf("got %v with %d bytes, want a pong of %d", h.op, len(payload), maxControlPayload)
			}
			i := int(binary.BigEndian.Uint32(payload))
			if i <= last {
				t.Fatalf("pong %d after pong %d", i, last)
			}
			last = i
			pongs++
		}
		if last != n-1 {
			t.Fatalf("last pong answers ping %d, want the last ping, %d", last, n-1)
		}
		t.Logf("%d pongs for %d pings; live heap: %d KiB before, %d KiB after the flood", pongs, n, heapBefore>>10, heapStalled>>10)
	})
	t.Run("100k unsolicited pongs", func(t *testing.T) {
		c, p := newTestConn(t, true, connConfig{})
		stream := bytes.Repeat(p.frame(true, opPong, []byte("unsolicited")), 100000)
		stream = append(stream, p.frame(true, opBinary, []byte("end"))...)
		go p.nc.Write(stream)
		heapBefore := liveHeap()
		if _, b, err := c.Read(context.Background()); err != nil || string(b) != "end" {
			t.Fatalf("Read = %q, %v", b, err)
		}
		if heap := liveHeap(); heap > heapBefore+uint64(len(stream))+1<<20 {
			t.Errorf("live heap grew by %d KiB", (heap-heapBefore)>>10)
		}
	})
	t.Run("10k unanswered Pings leave no state behind", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		go io.Copy(io.Discard, p.nc)
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		var wg sync.WaitGroup
		var timedOut, cutOff atomic.Int32
		var other atomic.Pointer[error]
		for i := 0; i < 10000; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := c.Ping(ctx)
				switch {
				case errors.Is(err, context.DeadlineExceeded):
					timedOut.Add(1)
				case c.noResume && errors.Is(err, errWriteCut):
					// Over a stream that cannot resume a cut write (an
					// HTTP/2 server stream, TLS), the deadline that
					// fired during one Ping's frame closed the Conn:
					// the Pings still waiting then fail with that cause.
					cutOff.Add(1)
				default:
					other.CompareAndSwap(nil, &err)
				}
			}()
		}
		wg.Wait()
		if e := other.Load(); e != nil || timedOut.Load() == 0 {
			t.Errorf("%d of 10000 unanswered Pings timed out, %d closed by a cut write; another returned %v", timedOut.Load(), cutOff.Load(), e)
		}
		c.pingMu.Lock()
		left := len(c.pings)
		c.pingMu.Unlock()
		if left != 0 {
			t.Errorf("%d pings still registered after every Ping returned", left)
		}
	})
}

// Many goroutines write, stream, ping and close while one reads, between a
// client and a server Conn; run under -race. Every message a write
// reported sent comes back whole, every error is a documented one, and
// every goroutine returns.
func TestHostileConcurrency(t *testing.T) {
	a, b := tcpPair(t)
	srv := newConn(a, connConfig{closeTimeout: 2 * time.Second}, nil)
	cli := newConn(b, connConfig{client: true, closeTimeout: 2 * time.Second, writeBufferSize: 128}, nil)
	t.Cleanup(func() { srv.CloseNow(); cli.CloseNow() })

	srvDone := make(chan error, 1)
	var received atomic.Int64
	go func() { // echo server
		for {
			typ, m, err := srv.Read(context.Background())
			if err != nil {
				srvDone <- err
				return
			}
			if len(m) == 0 || bytes.Count(m, m[:1]) != len(m) {
				srvDone <- fmt.Errorf("received message mixes writers: %q", m)
				return
			}
			received.Add(1)
			if err := srv.Write(context.Background(), typ, m); err != nil {
				srvDone <- err
				return
			}
		}
	}()
	var echoed atomic.Int64
	readDone := make(chan error, 1)
	go func() { // the one reader of the client
		for {
			_, m, err := cli.Read(context.Background())
			if err != nil {
				readDone <- err
				return
			}
			if len(m) == 0 || bytes.Count(m, m[:1]) != len(m) {
				readDone <- fmt.Errorf("echoed message mixes writers: %q", m)
				return
			}
			echoed.Add(1)
		}
	}()

	documented := func(err error) bool {
		var ce CloseError
		var pe *ProtocolError
		var ne *netError
		return err == nil || errors.Is(err, net.ErrClosed) || errors.As(err, &ce) || errors.As(err, &pe) ||
			errors.As(err, &ne) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrCloseTimeout)
	}
	var sent atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 1000)
	stopAt := time.Now().Add(300 * time.Millisecond)
	for w := 0; w < 12; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			for i := 0; ; i++ {
				msg := bytes.Repeat([]byte{byte('a' + w)}, 1+(i*37+w*11)%700)
				var err error
				switch w % 3 {
				case 0:
					err = cli.Write(ctx, MessageBinary, msg)
				case 1:
					var wr io.WriteCloser
					wr, err = cli.Writer(ctx, MessageText)
					if err == nil {
						for len(msg) > 0 && err == nil {
							k := min(len(msg), 50)
							_, err = wr.Write(msg[:k])
							msg = msg[k:]
						}
						if cerr := wr.Close(); err == nil {
							err = cerr
						}
					}
				case 2:
					err = cli.Ping(ctx)
					if err == nil {
						continue
					}
				}
				if err != nil {
					if !documented(err) {
						errs <- fmt.Errorf("writer %d: undocumented error %T %v", w, err, err)
					}
					return
				}
				if w%3 != 2 {
					sent.Add(1)
				}
				if i > 20 && time.Now().After(stopAt) {
					// Keep going until Close stops us.
					time.Sleep(time.Millisecond)
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	closeErr := make(chan error, 1)
	go func() { closeErr <- cli.Close(StatusNormalClosure, "done") }()

	wait := func(name string, ch chan error) error {
		select {
		case err := <-ch:
			return err
		case <-time.After(10 * time.Second):
			t.Fatalf("%s did not return", name)
			return nil
		}
	}
	if err := wait("Close", closeErr); err != nil {
		t.Errorf("Close = %v, want nil", err)
	}
	allDone := make(chan error, 1)
	go func() { wg.Wait(); allDone <- nil }()
	wait("writers", allDone)
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := wait("client reader", readDone); CloseStatus(err) != StatusNormalClosure {
		t.Errorf("client Read = %v, want the server's close 1000", err)
	}
	if err := wait("server", srvDone); CloseStatus(err) != StatusNormalClosure {
		t.Errorf("server Read = %v, want close 1000", err)
	}
	// Every message a write reported sent reached the server before the
	// close frame. Echoes that arrive while Close itself holds the read
	// side are discarded, as Close documents, so fewer may come back.
	if sent.Load() == 0 || received.Load() != sent.Load() || echoed.Load() > sent.Load() {
		t.Errorf("%d messages reported sent, %d received by the server, %d echoed back", sent.Load(), received.Load(), echoed.Load())
	}
	t.Logf("%d messages sent, %d echoed back before the close", sent.Load(), echoed.Load())
}

// Close called from several goroutines at once: one of them performs the
// closing handshake and returns nil, the others return net.ErrClosed, and
// the handshake is not cut short.
func TestHostileConcurrentClose(t *testing.T) {
	for _, reader := range []bool{false, true} {
		t.Run(fmt.Sprintf("reader=%v", reader), func(t *testing.T) {
			c, p := newTestConn(t, true, connConfig{})
			readErr := make(chan error, 1)
			if reader {
				go func() { _, _, err := c.Read(context.Background()); readErr <- err }()
			}
			const n = 4
			results := make(chan error, n)
			var start sync.WaitGroup
			start.Add(1)
			for i := 0; i < n; i++ {
				go func() { start.Wait(); results <- c.Close(StatusNormalClosure, "") }()
			}
			start.Done()
			p.wantClose(StatusNormalClosure)
			time.Sleep(50 * time.Millisecond) // the server takes its time to answer
			p.nc.SetWriteDeadline(time.Now().Add(time.Second))
			_, werr := p.nc.Write(p.frame(true, opClose, closePayload(StatusNormalClosure, "")))
			// The client must still be there to read the answer, and
			// must wait for the server to close TCP.
			p.nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
			_, rerr := p.br.ReadByte()
			p.nc.Close()
			var nilCount, closedCount int
			for i := 0; i < n; i++ {
				select {
				case err := <-results:
					switch {
					case err == nil:
						nilCount++
					case errors.Is(err, net.ErrClosed):
						closedCount++
					default:
						t.Errorf("Close = %v", err)
					}
				case <-time.After(5 * time.Second):
					t.Fatal("Close did not return")
				}
			}
			if reader {
				if err := <-readErr; CloseStatus(err) != StatusNormalClosure {
					t.Errorf("Read = %v, want the peer's close 1000", err)
				}
			}
			if nilCount != 1 || closedCount != n-1 {
				t.Errorf("%d concurrent Close calls: %d returned nil, %d net.ErrClosed; want 1 and %d", n, nilCount, closedCount, n-1)
			}
			if werr != nil {
				t.Errorf("the server could not send its close reply: %v", werr)
			}
			var ne net.Error
			if !errors.As(rerr, &ne) || !ne.Timeout() {
				t.Errorf("the client closed TCP before the server (peer read: %v), want it to wait", rerr)
			}
		})
	}
}
