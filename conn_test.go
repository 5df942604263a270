//go:build !js

package websocket

import (
	"bytes"
	"context"
	"io"
	"testing"
)

// The allocation budget of the hot paths, in steady state.
func TestConnAllocs(t *testing.T) {
	t.Run("server Write of a small message", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		go io.Copy(io.Discard, p.nc)
		msg := make([]byte, 1024)
		if n := testing.AllocsPerRun(200, func() { c.Write(context.Background(), MessageBinary, msg) }); n != 0 {
			t.Errorf("%v allocs, want 0", n)
		}
	})
	t.Run("server Write of a 64 KiB message", func(t *testing.T) {
		if raceEnabled {
			t.Skip("sync.Pool drops items under -race; .ci/run checks allocations without it")
		}
		c, p := newTestConn(t, false, connConfig{})
		go io.Copy(io.Discard, p.nc)
		msg := make([]byte, 64<<10)
		if n := testing.AllocsPerRun(100, func() { c.Write(context.Background(), MessageBinary, msg) }); n != 0 {
			t.Errorf("%v allocs, want 0", n)
		}
	})
	t.Run("client Write of a small message", func(t *testing.T) {
		c, p := newTestConn(t, true, connConfig{})
		go io.Copy(io.Discard, p.nc)
		msg := make([]byte, 1024)
		if n := testing.AllocsPerRun(200, func() { c.Write(context.Background(), MessageBinary, msg) }); n != 0 {
			t.Errorf("%v allocs, want 0", n)
		}
	})
	t.Run("Read of a one-frame message: one allocation of its exact size", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		frame := p.frame(true, opBinary, make([]byte, 16))
		var stream []byte
		for i := 0; i < 210; i++ {
			stream = append(stream, frame...)
		}
		go p.write(stream)
		var got []byte
		if n := testing.AllocsPerRun(200, func() {
			var err error
			if _, got, err = c.Read(context.Background()); err != nil {
				t.Fatal(err)
			}
		}); n != 1 {
			t.Errorf("%v allocs, want 1", n)
		}
		if len(got) != 16 || cap(got) != 16 {
			t.Errorf("len %d cap %d, want 16 and 16", len(got), cap(got))
		}
	})
	t.Run("ReadAppend into a reused buffer, fragmented text", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		go io.Copy(io.Discard, p.nc)
		frames := append(p.frame(false, opText, bytes.Repeat([]byte("é"), 300)), p.frame(true, opContinuation, bytes.Repeat([]byte("z"), 424))...)
		var stream []byte
		for i := 0; i < 210; i++ {
			stream = append(stream, frames...)
		}
		go p.write(stream)
		buf := make([]byte, 0, 1024)
		if n := testing.AllocsPerRun(200, func() {
			_, b, err := c.ReadAppend(context.Background(), buf[:0])
			if err != nil || len(b) != 1024 {
				t.Fatalf("%d bytes, %v", len(b), err)
			}
		}); n != 0 {
			t.Errorf("%v allocs, want 0", n)
		}
	})
	t.Run("Reader and ReadFull into a caller buffer, ping answered: the reader itself", func(t *testing.T) {
		c, p := newTestConn(t, false, connConfig{})
		go io.Copy(io.Discard, p.nc)
		frames := append(p.frame(true, opPing, []byte("pp")), p.frame(true, opText, bytes.Repeat([]byte("a"), 1024))...)
		var stream []byte
		for i := 0; i < 210; i++ {
			stream = append(stream, frames...)
		}
		go p.write(stream)
		buf := make([]byte, 1024)
		if n := testing.AllocsPerRun(200, func() {
			_, r, err := c.Reader(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(r, buf); err != nil {
				t.Fatal(err)
			}
		}); n != 1 {
			// One allocation: the reader of the message, so that a
			// reader kept past its message can tell.
			t.Errorf("%v allocs, want 1", n)
		}
	})
}
