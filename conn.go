//go:build !js

package websocket

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	defaultBufferSize   = 4096
	minReadBufferSize   = maxHeaderSize + maxControlPayload + 1
	defaultCloseTimeout = 5 * time.Second
)

// connConfig is what Accept and Dial pass to newConn.
type connConfig struct {
	client          bool
	subprotocol     string
	readLimit       int64
	readBufferSize  int
	writeBufferSize int
	closeTimeout    time.Duration
	deflate         *deflateConfig // nil: permessage-deflate not negotiated
	pingInterval    time.Duration
	pongTimeout     time.Duration
	onPing          func(payload []byte)
	onPong          func(payload []byte, rtt time.Duration)
}

// config turns the options into what newConn takes.
func (o *ConnOptions) config(client bool, subprotocol string, deflate *deflateConfig) connConfig {
	return connConfig{
		client:          client,
		subprotocol:     subprotocol,
		readLimit:       o.ReadLimit,
		readBufferSize:  o.ReadBufferSize,
		writeBufferSize: o.WriteBufferSize,
		closeTimeout:    o.CloseTimeout,
		deflate:         deflate,
		pingInterval:    o.PingInterval,
		pongTimeout:     o.PongTimeout,
		onPing:          o.OnPing,
		onPong:          o.OnPong,
	}
}

// check reports the first option out of range.
func (o *ConnOptions) check() error { return o.checkRange() }

// Conn is a WebSocket connection, made by [Accept] on the server side or by
// [Dial] on the client side.
//
// A Conn is safe for concurrent use, except that only one goroutine may call
// Read, ReadAppend or Reader (and read the message Reader returns) at a
// time. Any number of goroutines may call Write, Writer, WritePrepared, Ping
// and Close while one reads; frames are never interleaved.
//
// Pings are answered and close frames echoed while a goroutine reads, so an
// application that only writes should still keep a goroutine in Read. Ping
// needs that reader to receive its pong.
type Conn struct {
	nc           net.Conn
	client       bool
	noResume     bool // a write its deadline cut short cannot be resumed (crypto/tls, an HTTP/2 server stream)
	subprotocol  string
	closeTimeout time.Duration
	readLimit    atomic.Int64

	// Read side (read.go): owned by the holder of readMu.
	readMu       ctxMutex
	rctx         context.Context // the context of the read call in progress
	rbuf         []byte          // nil while idle, when it comes from the pool
	rbufp        *[]byte         // the pooled buffer behind rbuf, if any
	rsize        int
	raw          *rawReader // waits for data without a buffer (unix TCP)
	rpos, rend   int
	recv         receiver
	owner        msgOwner // who has the open message
	readGen      uint32   // counts messages, so a stale Reader can tell
	held         *[]byte  // the open message so far, kept for the next read when one was interrupted
	readDeadline deadline
	readErr      error  // sticky: set once the read side is finished
	readDone     signal // set when the read side has ended, with readErr

	// Write side (write.go). msgMu is held for a whole data message,
	// frameMu for the write of one frame, so control frames go out between
	// the fragments of a streamed message.
	msgMu         ctxMutex
	frameMu       ctxMutex
	snd           sender // guarded by frameMu
	wbuf          []byte // data frames, owned by the holder of msgMu; nil between messages when pooled
	wbufp         *[]byte
	wsize         int
	ctrlBuf       [maxHeaderSize + maxControlPayload]byte // guarded by frameMu
	writer        messageWriter                           // guarded by msgMu
	deflate       *deflateConfig
	comp          *compression // non-nil when deflate is
	keys          *[64]byte    // client only: masking keys, refilled from crypto/rand
	keyPos        int
	writeDeadline deadline
	rest          []byte                    // guarded by frameMu: the unsent end of a frame a context cut short
	pongs         atomic.Pointer[pongQueue] // pongs owed to the peer, sent by the Conn itself
	pingMu        sync.Mutex                // guards pings
	pings         []pendingPing
	hooks         *pingHooks    // nil unless OnPing or OnPong is set
	received      atomic.Uint64 // successful reads from the network, for the keepalive
	keepAlive     *keepAlive
	groupMu       sync.Mutex
	groups        []*Group

	closed      signal      // set when the connection is (being) closed, with closeErr
	closeErr    error       // what calls return once closed
	closeHook   func()      // runs once closed (the Handler's request context)
	closeCalled atomic.Bool // Close has been called
	peerClosed  atomic.Bool // the peer closed first and this endpoint answered
}

// msgOwner says which read call started the open message.
type msgOwner uint8

const (
	ownerNone   msgOwner = iota
	ownerWhole           // Read or ReadAppend; its bytes so far may be in held
	ownerStream          // a Reader handle
)

func newConn(nc net.Conn, cfg connConfig, buffered []byte) *Conn {
	c := &Conn{
		nc:           nc,
		client:       cfg.client,
		subprotocol:  cfg.subprotocol,
		closeTimeout: cfg.closeTimeout,
	}
	c.noResume = !resumableWrites(nc)
	if c.closeTimeout <= 0 {
		c.closeTimeout = defaultCloseTimeout
	}
	if cfg.readLimit == 0 {
		c.readLimit.Store(DefaultReadLimit)
	} else {
		c.readLimit.Store(cfg.readLimit)
	}
	size := cfg.readBufferSize
	if size <= 0 {
		size = defaultBufferSize
	}
	c.rsize = max(size, minReadBufferSize)
	if len(buffered) > 0 {
		if len(buffered) > c.rsize {
			c.rbuf = make([]byte, len(buffered))
		} else {
			c.takeReadBuf()
		}
		c.rend = copy(c.rbuf, buffered)
	}
	c.wsize = cfg.writeBufferSize
	if c.wsize <= 0 {
		c.wsize = defaultBufferSize
	}
	c.setupRawReader()
	c.writeDeadline.kind = writeDeadline
	c.writer.c = c
	c.recv.client = cfg.client
	if cfg.deflate != nil {
		c.deflate = cfg.deflate
		c.comp = &compression{threshold: cfg.deflate.connThreshold()}
		c.recv.deflate = true
		c.recv.takeover = cfg.deflate.recvTakeover
		c.recv.window = uint8(cfg.deflate.recvWindowBits)
	}
	if cfg.onPing != nil || cfg.onPong != nil {
		c.hooks = &pingHooks{onPing: cfg.onPing, onPong: cfg.onPong}
	}
	c.startKeepAlive(cfg.pingInterval, cfg.pongTimeout)
	return c
}

// Subprotocol returns the subprotocol agreed in the opening handshake, or ""
// if none was.
func (c *Conn) Subprotocol() string { return c.subprotocol }

// SetReadLimit sets the largest message, in bytes, the Conn accepts from
// now on. A larger message fails the connection with close code 1009 and
// reads return [ErrMessageTooBig]. A negative n removes the limit. The
// default is [DefaultReadLimit] unless the options of Accept or Dial set
// another.
func (c *Conn) SetReadLimit(n int64) { c.readLimit.Store(n) }

// LocalAddr returns the local network address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// RemoteAddr returns the remote network address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// ownCloseCode is the code sent for a close this endpoint decides on its
// own (a failure, CloseRead's policy violation): the code itself here; the
// browser build maps the codes a page may not send.
func ownCloseCode(code StatusCode) StatusCode { return code }
