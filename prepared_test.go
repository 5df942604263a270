//go:build !js

package websocket

import (
	"bytes"
	"compress/flate"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
)

// A prepared message leaves a server exactly as Write would send it.
func TestPreparedMatchesWrite(t *testing.T) {
	text := []byte(strings.Repeat(`{"event":"tick","n":12345} `, 40))
	for _, tc := range []struct {
		name string
		cfg  *deflateConfig
		data []byte
	}{
		{"plain", nil, text},
		{"plain empty", nil, nil},
		{"deflate", &deflateConfig{level: 1, threshold: 128, sendWindowBits: 15, recvWindowBits: 15}, text},
		{"deflate window 9", &deflateConfig{level: 1, threshold: 128, sendWindowBits: 9, recvWindowBits: 15}, text},
		{"deflate below threshold", &deflateConfig{level: 1, threshold: 128, sendWindowBits: 15, recvWindowBits: 15}, text[:100]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pm, err := NewPreparedMessage(MessageText, tc.data)
			if err != nil {
				t.Fatal(err)
			}
			c, p := newTestConn(t, false, connConfig{deflate: tc.cfg})
			if err := c.Write(context.Background(), MessageText, tc.data); err != nil {
				t.Fatal(err)
			}
			wh, wp := p.recv()
			for range 2 { // the second time from the cache
				if err := c.WritePrepared(context.Background(), pm); err != nil {
					t.Fatal(err)
				}
				ph, pp := p.recv()
				if ph != wh || !bytes.Equal(pp, wp) {
					t.Fatalf("prepared frame %+v (%d bytes), Write sent %+v (%d bytes)", ph, len(pp), wh, len(wp))
				}
			}
			if tc.cfg != nil && len(tc.data) >= tc.cfg.threshold {
				if wh.rsv != rsv1 {
					t.Fatalf("not compressed: %+v", wh)
				}
				got, err := io.ReadAll(flate.NewReader(bytes.NewReader(append(wp, deflateTail...))))
				if err != nil || !bytes.Equal(got, tc.data) {
					t.Fatalf("inflated %d bytes, %v", len(got), err)
				}
			}
		})
	}
}

// Through real handshakes: one prepared message to servers with and
// without compression and from a client, read back whole, concurrently.
func TestPreparedBroadcast(t *testing.T) {
	data := bytes.Repeat([]byte("broadcast "), 300)
	pm, err := NewPreparedMessage(MessageBinary, data)
	if err != nil {
		t.Fatal(err)
	}
	type pair struct{ send, recv *Conn }
	var pairs []pair
	for i := range 6 {
		var opts *CompressionOptions
		if i%2 == 0 {
			opts = &CompressionOptions{}
		}
		s, c, _ := compressedPair(t, opts, opts, 1<<20)
		pairs = append(pairs, pair{s, c})
		if i == 5 {
			pairs = append(pairs, pair{c, s}) // a client sends it too
		}
	}
	var wg sync.WaitGroup
	for _, pr := range pairs {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 20 {
				if err := pr.send.WritePrepared(context.Background(), pm); err != nil {
					t.Error(err)
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			for range 20 {
				typ, got, err := pr.recv.Read(context.Background())
				if err != nil || typ != MessageBinary || !bytes.Equal(got, data) {
					t.Errorf("read %v, %d bytes, %v", typ, len(got), err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if _, err := NewPreparedMessage(MessageType(9), nil); err == nil {
		t.Fatal("NewPreparedMessage accepted a control opcode")
	}
}

func TestPreparedAllocs(t *testing.T) {
	c, p := newTestConn(t, false, connConfig{deflate: &deflateConfig{level: 1, threshold: 128, sendWindowBits: 15, recvWindowBits: 15}})
	go discard(p.nc)
	pm, _ := NewPreparedMessage(MessageText, bytes.Repeat([]byte("x"), 1024))
	c.WritePrepared(context.Background(), pm)
	if n := testing.AllocsPerRun(100, func() { c.WritePrepared(context.Background(), pm) }); n != 0 {
		t.Errorf("WritePrepared: %v allocs, want 0", n)
	}
}

// BenchmarkBroadcast sends one 1 KiB JSON-like message to 64 compressed
// connections, with Write (compressing for each) and with WritePrepared.
func BenchmarkBroadcast(b *testing.B) {
	data := []byte(strings.Repeat(`{"event":"tick","n":12345,"user":"someone"} `, 24))[:1024]
	for _, prepared := range []bool{false, true} {
		name := map[bool]string{false: "Write", true: "WritePrepared"}[prepared]
		b.Run(name, func(b *testing.B) {
			var conns []*Conn
			for range 64 {
				c, p := newTestConn(b, false, connConfig{deflate: &deflateConfig{level: 1, threshold: 128, sendWindowBits: 15, recvWindowBits: 15}})
				go discard(p.nc)
				conns = append(conns, c)
			}
			b.ReportAllocs()
			for b.Loop() {
				pm, _ := NewPreparedMessage(MessageText, data)
				for _, c := range conns {
					var err error
					if prepared {
						err = c.WritePrepared(context.Background(), pm)
					} else {
						err = c.Write(context.Background(), MessageText, data)
					}
					if err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// Broadcast reaches every connection, from several goroutines, and names
// the ones it could not write to.
func TestBroadcastFunc(t *testing.T) {
	data := bytes.Repeat([]byte("all of you "), 100)
	pm, _ := NewPreparedMessage(MessageText, data)
	const n = 100 // enough for more than one goroutine
	var conns []*Conn
	var peers []*rawPeer
	for i := range n {
		var cfg *deflateConfig
		if i%3 == 0 {
			cfg = &deflateConfig{level: 1, threshold: 128, sendWindowBits: 15, recvWindowBits: 15}
		}
		c, p := newTestConn(t, false, connConfig{deflate: cfg})
		conns = append(conns, c)
		peers = append(peers, p)
	}
	conns[7].CloseNow()
	conns[42].CloseNow()
	err := Broadcast(context.Background(), conns, pm)
	if err == nil {
		t.Fatal("Broadcast to two closed connections returned nil")
	}
	for _, i := range []int{7, 42} {
		if !strings.Contains(err.Error(), conns[i].RemoteAddr().String()) {
			t.Errorf("error %q does not name connection %d (%v)", err, i, conns[i].RemoteAddr())
		}
	}
	if strings.Count(err.Error(), "\n") != 1 {
		t.Errorf("error %q should join exactly two errors", err)
	}
	for i, p := range peers {
		if i == 7 || i == 42 {
			continue
		}
		h, payload := p.recv()
		if h.rsv == rsv1 {
			payload, err = io.ReadAll(flate.NewReader(bytes.NewReader(append(payload, deflateTail...))))
			if err != nil {
				t.Fatal(err)
			}
		}
		if h.op != opText || !bytes.Equal(payload, data) {
			t.Fatalf("connection %d got %v, %d bytes", i, h.op, len(payload))
		}
	}
	if err := Broadcast(context.Background(), nil, pm); err != nil {
		t.Fatalf("Broadcast to no connection = %v", err)
	}
}
