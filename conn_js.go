//go:build js

package websocket

import (
	"net"
	"sync"
	"sync/atomic"
	"syscall/js"
	"time"
)

// This file is conn.go for the js build (GOOS=js GOARCH=wasm, a Go program
// in a browser), where no socket exists: a Conn is the browser's own
// WebSocket object, reached through syscall/js. The browser does the whole
// protocol (framing, masking, UTF-8 checks, pings, compression, the closing
// handshake) and hands over messages whole, as events. This build queues
// them for the reads (read_js.go), gives writes to the browser's send
// (write_js.go) and maps its close to the Conn's (close_js.go); Dial is in
// dial_js.go. The protocol core is not used. The exported API is a subset
// of the native one, with the same names and signatures
// (wasmtest/api_test.go checks it).

const defaultCloseTimeout = 5 * time.Second

// maxQueued is the most messages a Conn holds that arrived and were not
// read yet: the browser cannot be told to stop delivering, so the queue is
// bounded by this count and by the read limit in bytes, and a peer that
// goes past either fails the connection (see [Conn.Read]).
const maxQueued = 4096

// ownCloseCode is the code the browser sends for a close this endpoint
// decides on its own (a failure, CloseRead's policy violation): a page may
// send only 1000 and 3000 to 4999, so the native build's 1001 to 1014
// become 4001 to 4014 (4000 + the code - 1000), with the same reason.
func ownCloseCode(code StatusCode) StatusCode {
	if code > StatusNormalClosure && code < 1015 {
		return 4000 + code - 1000
	}
	return code
}

// Conn is a WebSocket connection. Under js it is made by [Dial] only, and
// is the browser's WebSocket object.
//
// A Conn is safe for concurrent use, except that only one goroutine may call
// Read, ReadAppend or Reader (and read the message Reader returns) at a
// time. Any number of goroutines may call Write, Writer and Close while one
// reads; messages are never interleaved.
//
// The browser delivers messages whole, as they arrive, whether or not a
// goroutine reads: the Conn queues them for the reads, so none is lost to a
// read whose context ends, and the queue is bounded (see [Conn.Read]).
// Pings are answered by the browser; [Conn.Ping] returns an error.
type Conn struct {
	ws           js.Value
	subprotocol  string
	compressed   bool // the browser agreed on permessage-deflate
	closeTimeout time.Duration
	readLimit    atomic.Int64
	funcs        [3]js.Func // the event handlers, released with the close event
	released     atomic.Bool

	// Read side (read_js.go). mu guards the queue and the end of the read
	// side; the event handlers take it as well as the reads, and nobody
	// waits while holding it.
	mu       sync.Mutex
	queue    []inMessage   // arrived and not read yet, from qhead on
	qhead    int           //
	queued   int64         // bytes in the queue
	readErr  error         // what reads return once the queue is empty; nil while messages may come
	dropping bool          // Close or CloseNow was called: the queue is dropped, arrivals too
	arrived  chan struct{} // one slot: the queue or readErr changed

	readMu  ctxMutex  // held by the read call in progress; guards what follows
	cur     inMessage // the message a Reader is reading
	curOpen bool
	curPos  int
	readGen uint32 // counts read calls, so a stale Reader can tell

	// Write side (write_js.go).
	msgMu  ctxMutex // held for a whole message: a Write, or a Writer until its Close
	writer messageWriter

	opened      signal      // the browser's open event has arrived
	closeEvent  signal      // the browser's close event has arrived, with closeEvErr
	closeEvErr  error       // what the close event means: a CloseError or a netError
	closed      signal      // set when the connection is (being) closed, with closeErr
	closeErr    error       // what calls return once closed
	closing     atomic.Bool // the browser has been asked to close
	closeCalled atomic.Bool // Close has been called
	peerClosed  atomic.Bool // the peer closed first and the browser answered
}

// inMessage is a message as the browser delivered it.
type inMessage struct {
	typ  MessageType
	data js.Value // a Uint8Array of the payload, in the JavaScript heap
	n    int
}

// The JavaScript values every Conn uses, made once. The decoder keeps a
// leading U+FEFF: a TextDecoder made without ignoreBOM drops it, and so
// does syscall/js's conversion of a Go string (wasm_exec.js decodes with
// one), which would change the first bytes of a text message.
var (
	jsUint8Array  = js.Global().Get("Uint8Array")
	jsTextEncoder = newJS("TextEncoder")
	jsTextDecoder = newJS("TextDecoder", "utf-8", map[string]any{"ignoreBOM": true})
)

func newJS(class string, args ...any) js.Value {
	if ctor := js.Global().Get(class); ctor.Type() == js.TypeFunction {
		if v, err := jsNew(ctor, args...); err == nil {
			return v
		}
	}
	return js.Undefined()
}

// jsString makes the JavaScript string of p, which is UTF-8, keeping every
// code point: one copy into a Uint8Array, one decoding.
func jsString(p []byte) js.Value {
	b := jsUint8Array.New(len(p))
	js.CopyBytesToJS(b, p)
	return jsTextDecoder.Call("decode", b)
}

// The browser's WebSocket.readyState values.
const (
	wsConnecting = 0
	wsOpen       = 1
)

func newConn(ws js.Value, opts *ConnOptions) *Conn {
	c := &Conn{
		ws:           ws,
		closeTimeout: opts.CloseTimeout,
		arrived:      make(chan struct{}, 1),
	}
	if c.closeTimeout <= 0 {
		c.closeTimeout = defaultCloseTimeout
	}
	if opts.ReadLimit == 0 {
		c.readLimit.Store(DefaultReadLimit)
	} else {
		c.readLimit.Store(opts.ReadLimit)
	}
	c.writer.c = c
	// The handlers run on the browser's event loop: none of them may
	// block, and none does (see read_js.go and close_js.go).
	c.funcs[0] = js.FuncOf(func(js.Value, []js.Value) any {
		c.opened.fire(nil)
		return nil
	})
	c.funcs[1] = js.FuncOf(func(_ js.Value, args []js.Value) any {
		c.onMessage(args[0])
		return nil
	})
	c.funcs[2] = js.FuncOf(func(_ js.Value, args []js.Value) any {
		ev := args[0]
		c.onClose(ev.Get("code").Int(), ev.Get("reason").String(), ev.Get("wasClean").Bool())
		return nil
	})
	ws.Set("onopen", c.funcs[0])
	ws.Set("onmessage", c.funcs[1])
	ws.Set("onclose", c.funcs[2])
	return c
}

// release detaches the event handlers from the WebSocket and frees them;
// it is called once no event can come any more (the close event has
// arrived) or none is wanted (Dial gave up).
func (c *Conn) release() {
	if !c.released.CompareAndSwap(false, true) {
		return
	}
	for _, name := range [...]string{"onopen", "onmessage", "onclose"} {
		c.ws.Set(name, js.Null())
	}
	for _, f := range c.funcs {
		f.Release()
	}
}

// Subprotocol returns the subprotocol agreed in the opening handshake, or ""
// if none was (the browser's WebSocket.protocol).
func (c *Conn) Subprotocol() string { return c.subprotocol }

// SetReadLimit sets the largest message, in bytes, the Conn accepts from
// now on, which under js also bounds the bytes of messages that arrived and
// were not read yet. A larger message fails the connection and reads
// return [ErrMessageTooBig] (the browser sends close code 4009: it lets a
// page send only 1000 and 3000 to 4999). A negative n removes the limit.
// The default is [DefaultReadLimit] unless the options of Dial set
// another.
func (c *Conn) SetReadLimit(n int64) { c.readLimit.Store(n) }

// Done returns a channel that is closed when the connection has ended, for
// any reason: the browser's close event (which follows any error event at
// once), Close, CloseNow or a failure of the connection by this endpoint.
// After it is closed, writes return an error; reads first return the
// messages that arrived before the end and were not read yet (unless Close
// or CloseNow dropped them), then the error.
func (c *Conn) Done() <-chan struct{} { return c.closed.wait() }

// markClosed sets the closed signal with its cause, if no call did so
// before, and reports whether this call did.
func (c *Conn) markClosed(cause error) bool {
	return c.closed.fire(func() {
		if cause == net.ErrClosed {
			c.closeErr = cause
		} else {
			c.closeErr = &closedError{cause: cause}
		}
	})
}

// jsCall calls a method of v and turns a JavaScript exception into an
// error, so that none escapes as a panic.
func jsCall(v js.Value, method string, args ...any) (res js.Value, err error) {
	defer catchJS(&err)
	return v.Call(method, args...), nil
}

// jsNew is jsCall for a constructor.
func jsNew(ctor js.Value, args ...any) (res js.Value, err error) {
	defer catchJS(&err)
	return ctor.New(args...), nil
}

func catchJS(err *error) {
	r := recover()
	if r == nil {
		return
	}
	if je, ok := r.(js.Error); ok {
		*err = je
		return
	}
	panic(r)
}
