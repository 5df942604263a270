//go:build !js

package websocket

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
)

// PreparedMessage is a message framed once and sent to many connections
// with [Conn.WritePrepared] or [Broadcast]. A server connection sends the
// prepared frame as it is, in one system call: no copy into the write
// buffer and, with permessage-deflate, no compression per connection (the
// compressed frame is made once for each compression level and window size
// in use, then shared). A client connection must mask every frame with a
// fresh key, so for it WritePrepared is [Conn.Write].
//
// Neither can a connection that compresses with context takeover
// ([CompressionOptions.ContextTakeover], when the peer agreed) share a
// compressed frame: its messages refer to the history of its own earlier
// ones. For it too WritePrepared is [Conn.Write]: the message is
// compressed for that connection, with its history, which costs the
// compression per connection (about 2 us for a 200-byte JSON event) and
// gains the ratio of takeover.
//
// A PreparedMessage is safe for concurrent use by several connections.
type PreparedMessage struct {
	typ  MessageType
	data []byte

	mu       sync.Mutex
	plain    []byte                // the uncompressed server frame
	deflated map[deflateKey][]byte // compressed server frames
}

type deflateKey struct{ level, bits int }

// NewPreparedMessage prepares data to be sent as a message of type typ.
// The PreparedMessage keeps data, which must not change afterwards. Frames
// are made on first use.
func NewPreparedMessage(typ MessageType, data []byte) (*PreparedMessage, error) {
	if typ != MessageText && typ != MessageBinary {
		return nil, ErrBadMessageType
	}
	return &PreparedMessage{typ: typ, data: data}, nil
}

// frame returns the server frame for a connection with deflate settings
// cfg (nil: no compression).
func (pm *PreparedMessage) frame(cfg *deflateConfig) []byte {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	h := header{fin: true, op: opcode(pm.typ)}
	if cfg == nil || len(pm.data) < cfg.threshold {
		if pm.plain == nil {
			h.length = int64(len(pm.data))
			f := make([]byte, 0, maxHeaderSize+len(pm.data))
			pm.plain = append(appendHeader(f, h), pm.data...)
		}
		return pm.plain
	}
	key := deflateKey{cfg.level, cfg.sendWindowBits}
	if f, ok := pm.deflated[key]; ok {
		return f
	}
	// The whole message goes in one frame.
	z := byteSink{b: make([]byte, 0, len(pm.data)/2+64)}
	deflateMessage(&z, pm.data, cfg.level, cfg.sendWindowBits)
	payload := z.b
	h.rsv = rsv1
	h.length = int64(len(payload))
	f := make([]byte, 0, maxHeaderSize+len(payload))
	f = append(appendHeader(f, h), payload...)
	if pm.deflated == nil {
		pm.deflated = make(map[deflateKey][]byte)
	}
	pm.deflated[key] = f
	return f
}

// WritePrepared sends pm as one message, as [Conn.Write] would send its
// data. ctx bounds the call as for Write.
func (c *Conn) WritePrepared(ctx context.Context, pm *PreparedMessage) error {
	if c.client || c.deflate != nil && c.deflate.sendTakeover {
		return c.Write(ctx, pm.typ, pm.data)
	}
	frame := pm.frame(c.deflate)
	if err := c.msgMu.lock(ctx); err != nil {
		return err
	}
	defer c.msgMu.unlock()
	return c.send(ctx, &outFrame{op: opcode(pm.typ), fin: true, kind: wholeFrame, p: frame})
}

// Broadcast sends pm to every connection in conns and returns once every
// write has ended. Writes run on up to GOMAXPROCS goroutines, each taking
// the next connection not yet written to, so the system calls of a large
// broadcast use every core and a connection slow to accept the message
// holds up one goroutine, not the others. ctx bounds every write, as for
// [Conn.WritePrepared]; give it a deadline so that peers that stopped
// reading cannot stall the broadcast.
//
// The error joins those of the connections the message could not be
// written to (a failed write closes its connection), each prefixed with the
// connection's remote address; nil means every connection got it.
func Broadcast(ctx context.Context, conns []*Conn, pm *PreparedMessage) error {
	return broadcast(ctx, conns, pm)
}

// broadcast is Broadcast over any kind of connection.
func broadcast[M groupMember](ctx context.Context, conns []M, pm *PreparedMessage) error {
	workers := min(runtime.GOMAXPROCS(0), len(conns)/broadcastShare+1)
	var (
		next atomic.Int64
		mu   sync.Mutex
		errs []error
	)
	work := func() {
		for {
			i := int(next.Add(1)) - 1
			if i >= len(conns) {
				return
			}
			c := conns[i]
			if err := c.broadcast(ctx, pm); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%v: %w", c.RemoteAddr(), err))
				mu.Unlock()
			}
		}
	}
	var wg sync.WaitGroup
	for range workers - 1 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			work()
		}()
	}
	work()
	wg.Wait()
	return errors.Join(errs...)
}

// broadcastShare is the number of connections below which another
// goroutine is not worth starting.
const broadcastShare = 32
