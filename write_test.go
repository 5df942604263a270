//go:build !js

package websocket

// The write side (write.go): messages, streamed writers, writers at once,
// contexts that end while writing.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"
	"time"
)

func TestWrite(t *testing.T) {
	for _, client := range []bool{false, true} {
		name := map[bool]string{false: "server", true: "client"}[client]
		t.Run(name+"/5.6/whole messages of every size", func(t *testing.T) {
			c, p := newTestConn(t, client, connConfig{writeBufferSize: 512})
			for _, n := range []int{0, 1, 125, 126, 511, 512, 513, 65536, 200000} {
				msg := bytes.Repeat([]byte{byte(n), 1, 2}, n/3+1)[:n]
				orig := append([]byte(nil), msg...)
				go c.Write(context.Background(), MessageBinary, msg)
				h, got := p.recv()
				if !h.fin || h.op != opBinary || !bytes.Equal(got, orig) {
					t.Fatalf("size %d: got fin=%v op=%v %d bytes", n, h.fin, h.op, len(got))
				}
				time.Sleep(time.Millisecond)
				if !bytes.Equal(msg, orig) {
					t.Fatalf("size %d: Write changed the caller's slice", n)
				}
			}
		})
		t.Run(name+"/5.4/Writer streams fragments", func(t *testing.T) {
			c, p := newTestConn(t, client, connConfig{writeBufferSize: 256})
			want := bytes.Repeat([]byte("abcdefghij"), 100)
			go func() {
				w, _ := c.Writer(context.Background(), MessageText)
				for i := 0; i < len(want); i += 70 {
					w.Write(want[i:min(i+70, len(want))])
				}
				w.Close()
			}()
			var got []byte
			for i := 0; ; i++ {
				h, payload := p.recv()
				wantOp := opContinuation
				if i == 0 {
					wantOp = opText
				}
				if h.op != wantOp {
					t.Fatalf("fragment %d: op %v, want %v", i, h.op, wantOp)
				}
				got = append(got, payload...)
				if h.fin {
					break
				}
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("reassembled %d bytes, want %d", len(got), len(want))
			}
		})
	}
	t.Run("client masking keys differ per frame", func(t *testing.T) {
		c, p := newTestConn(t, true, connConfig{})
		seen := map[uint32]bool{}
		go func() {
			for i := 0; i < 40; i++ {
				c.Write(context.Background(), MessageText, []byte("k"))
			}
		}()
		for i := 0; i < 40; i++ {
			h, _ := p.recv()
			seen[h.key] = true
		}
		if len(seen) < 39 {
			t.Errorf("%d distinct keys in 40 frames", len(seen))
		}
	})
	t.Run("bad message type", func(t *testing.T) {
		c, _ := newTestConn(t, false, connConfig{})
		if err := c.Write(context.Background(), MessageType(9), nil); err == nil {
			t.Error("Write with type 9 succeeded")
		}
	})
	t.Run("writer closed twice", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		w, _ := c.Writer(context.Background(), MessageBinary)
		w.Close()
		p.recv()
		if err := w.Close(); err == nil {
			t.Error("second Close succeeded")
		}
		if _, err := w.Write([]byte("x")); err == nil {
			t.Error("Write after Close succeeded")
		}
	})
	t.Run("cancelled context before the frame leaves the Conn usable", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		w, _ := c.Writer(context.Background(), MessageBinary) // holds the message lock
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		if err := c.Write(ctx, MessageText, []byte("x")); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Write = %v, want deadline exceeded", err)
		}
		w.Close()
		p.recv()
		go c.Write(context.Background(), MessageText, []byte("ok"))
		if _, payload := p.recv(); string(payload) != "ok" {
			t.Fatalf("got %q", payload)
		}
	})
	t.Run("peer that never reads: write bounded by context, frame finished later", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		big := make([]byte, 1<<20)
		for i := range big {
			big[i] = byte(i)
		}
		var err error
		sent := 0
		for ; sent < 1000 && err == nil; sent++ {
			err = c.Write(ctx, MessageBinary, big)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Write = %v, want deadline exceeded", err)
		}
		c.frameMu.lock(context.Background())
		cut := len(c.rest)
		c.frameMu.unlock()
		if cut == 0 {
			t.Fatal("no frame was cut part-way: the test proves nothing")
		}
		// The frame cut short is kept. Once the peer reads, it gets every
		// frame whole, the cut one included, then what comes next.
		done := make(chan error, 1)
		go func() { done <- c.Write(context.Background(), MessageText, []byte("x")) }()
		for i := 0; ; i++ {
			h, payload := p.recv()
			if h.op == opText {
				if string(payload) != "x" || i != sent {
					t.Fatalf("after %d frames (%d writes started) got text %q, want %q after %d", i, sent, payload, "x", sent)
				}
				break
			}
			if h.op != opBinary || !h.fin || !bytes.Equal(payload, big) {
				t.Fatalf("frame %d: %v fin=%v, %d bytes, want the whole 1 MiB message", i, h.op, h.fin, len(payload))
			}
		}
		if err := <-done; err != nil {
			t.Fatalf("Write once the peer reads = %v", err)
		}
	})
}

// Several goroutines write, ping and stream while one reads: every message
// arrives whole, none interleaved, under -race.
func TestConcurrentWriters(t *testing.T) {
	c, p := newTestConn(t, false, connConfig{writeBufferSize: 128})
	const writers, perWriter = 8, 50
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				msg := bytes.Repeat([]byte{byte('a' + w)}, 100+i*7)
				if i%2 == 0 {
					c.Write(context.Background(), MessageText, msg)
				} else {
					wr, err := c.Writer(context.Background(), MessageText)
					if err != nil {
						t.Error(err)
						return
					}
					wr.Write(msg[:50])
					wr.Write(msg[50:])
					wr.Close()
				}
			}
		}()
	}
	go func() { // the reader answers the peer's pings meanwhile
		c.Read(context.Background())
	}()
	go func() {
		for i := 0; i < 20; i++ {
			p.send(true, opPing, []byte{byte(i)})
		}
	}()
	// Pongs may be coalesced (RFC 6455, Section 5.5.3): they come in
	// order, and the last ping is answered.
	msgs, lastPong := 0, -1
	var cur []byte
	inMsg := false
	for msgs < writers*perWriter || lastPong < 19 {
		h, payload := p.recv()
		switch h.op {
		case opPong:
			if int(payload[0]) <= lastPong {
				t.Fatalf("pong %d after pong %d", payload[0], lastPong)
			}
			lastPong = int(payload[0])
			continue
		case opText:
			if inMsg {
				t.Fatal("new message inside a fragmented one")
			}
			cur = append(cur[:0], payload...)
		case opContinuation:
			if !inMsg {
				t.Fatal("continuation with no message")
			}
			cur = append(cur, payload...)
		}
		inMsg = !h.fin
		if h.fin {
			if len(cur) == 0 || bytes.Count(cur, cur[:1]) != len(cur) {
				t.Fatalf("message mixes writers: %q", cur)
			}
			msgs++
		}
	}
	wg.Wait()
}

// BenchmarkWrite measures whole-message writes over loopback TCP to a peer
// that discards, for both sides (a client masks).
func BenchmarkWrite(b *testing.B) {
	for _, client := range []bool{false, true} {
		for _, size := range []int{16, 1024, 64 << 10, 1 << 20} {
			name := fmt.Sprintf("%s/%d", map[bool]string{false: "server", true: "client"}[client], size)
			b.Run(name, func(b *testing.B) {
				c, p := newTestConn(b, client, connConfig{})
				go io.Copy(io.Discard, p.nc)
				msg := make([]byte, size)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					if err := c.Write(context.Background(), MessageBinary, msg); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// WriteUncompressed skips compression for one message on a compressed Conn.
func TestWriteUncompressed(t *testing.T) {
	c, p := newTestConn(t, false, connConfig{deflate: newDeflateConfig(&CompressionOptions{})})
	if !c.Compressed() {
		t.Fatal("Compressed() = false with permessage-deflate negotiated")
	}
	big := bytes.Repeat([]byte("compressible "), 100)
	go func() {
		c.Write(context.Background(), MessageText, big)
		c.WriteUncompressed(context.Background(), MessageText, big)
	}()
	if h, payload := p.recv(); h.rsv&rsv1 == 0 || len(payload) >= len(big) {
		t.Fatalf("Write: rsv %#x, %d bytes, want a compressed frame", h.rsv, len(payload))
	}
	if h, payload := p.recv(); h.rsv != 0 || !bytes.Equal(payload, big) {
		t.Fatalf("WriteUncompressed: rsv %#x, %d bytes, want the message as it is", h.rsv, len(payload))
	}
	plain, _ := newTestConn(t, false, connConfig{})
	if plain.Compressed() {
		t.Fatal("Compressed() = true without permessage-deflate")
	}
}
