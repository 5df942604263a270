// Package websocket implements the WebSocket protocol (RFC 6455) for clients
// and servers, using only the standard library.
//
// Use [Accept] inside an http.Handler to upgrade a request, or mount a
// [Handler]; use [Dial] to connect to a server. Either way you get a [Conn],
// which reads and writes whole messages ([Conn.Read], [Conn.Write];
// [Conn.ReadAppend] to reuse a buffer, [Conn.WritePrepared] to send one
// [PreparedMessage] to many connections) or streams them ([Conn.Reader],
// [Conn.Writer]), pings ([Conn.Ping]) and closes ([Conn.Close],
// [Conn.CloseNow]).
//
//	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
//		c, err := websocket.Accept(w, r, nil)
//		if err != nil {
//			return // Accept has answered with an HTTP error
//		}
//		defer c.CloseNow()
//		for {
//			typ, msg, err := c.Read(r.Context())
//			if err != nil {
//				return
//			}
//			if err := c.Write(r.Context(), typ, msg); err != nil {
//				return
//			}
//		}
//	})
//
// # Many connections: the Engine
//
// A Conn costs a goroutine, whose stack stays while the connection is idle,
// and a wake-up of the scheduler per message. For hundreds of thousands of
// connections use an [Engine] instead: a few event loops (epoll on Linux)
// own the connections, read each once when it is readable, run the same
// protocol core in place on the loop's buffer and call
// [EngineOptions].OnMessage inline. An [EngineConn] costs its state only,
// about 0.6 KiB while idle, and its writes never block: what the socket
// does not take is queued, up to a limit, then the connection is closed
// with 1008. Connections come from [Engine.Accept] (net/http) or
// [Engine.Serve] (a raw listener); TLS connections, and every connection on
// systems without epoll, are read by a goroutine each that feeds the same
// loop, with the same API.
//
//	e, _ := websocket.NewEngine(&websocket.EngineOptions{
//		OnMessage: func(c *websocket.EngineConn, typ websocket.MessageType, p []byte) {
//			c.Write(typ, p) // p is valid during the call; Write copies or sends it
//		},
//	})
//	http.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
//		e.Accept(w, r, nil)
//	})
//	// at shutdown: e.Close(websocket.StatusGoingAway, "")
//
// # Concurrency
//
// A Conn is safe for concurrent use, except that only one goroutine may call
// Read or Reader (and read the message Reader returns) at a time. Writes,
// pings and Close from any number of goroutines are serialised; a second
// [Conn.Writer] waits for the first to be closed. Nothing panics on misuse.
//
// The Conn sees pings, pongs and the peer's close frame only while a
// goroutine reads, so an application that only sends should still keep a
// goroutine reading. The reader never waits on a write: the pongs it owes
// go out with the next frame any goroutine writes, or from a short-lived
// goroutine of their own, so a peer that stops reading cannot stall it.
//
// # Contexts
//
// Every blocking method takes a context that bounds that call only. A
// context that cannot end (context.Background) costs nothing. What a
// context that ends leaves behind depends on where the call stood:
//
//	call                  ctx ends before the frame or message starts   ctx ends part-way
//	Read, ReadAppend      ctx.Err(); nothing consumed, Conn usable        ctx.Err(); Conn usable, the Conn keeps what
//	                                                                     arrived and the next Read, ReadAppend or
//	                                                                     Reader resumes the message: none is lost
//	Reader                ctx.Err(); Conn usable                          its io.Reader returns ctx.Err(); the next
//	                                                                     Reader, Read or ReadAppend discards the
//	                                                                     rest of that message
//	Write, WritePrepared  ctx.Err(); nothing sent, Conn usable            ctx.Err(); Conn usable: the Conn keeps the
//	                      (also while waiting for another writer)         rest of the frame and sends it before any
//	                                                                     other, so the message arrives whole
//	Writer's Write/Close  before the message's first frame: ctx.Err(),    once its first frame is out: ctx.Err(),
//	                      nothing sent, Conn usable (Close the writer)     and the Conn is closed, since no one can
//	                                                                     finish the message; its final frame is
//	                                                                     finished later, as for Write
//	Ping                  ctx.Err(); Conn usable, also while waiting      ctx.Err(); Conn usable, as for Write
//	                      for the pong
//	control frames the    never bound by a caller's context: pongs go out with the next frame written or from a
//	Conn sends itself     goroutine of their own, the close frame within the close timeout
//
// Reads can be resumed because frames are consumed only once the protocol
// core has all it needs of them, and the state of a message (inflation
// included) lives in the Conn, not on a call's stack. Writes can be because
// a frame cut short is finished, from memory the Conn keeps until then,
// before any other frame goes out; a message of several frames (a streamed
// one, or a compressed one over 64 KiB) cut before its last frame cannot,
// and closes the Conn. Over TLS, and on an HTTP/2 server stream, a write
// whose deadline fires while it is under way closes the Conn even if no
// byte had gone out: crypto/tls cannot resume a write after a timeout, and
// net/http can only cut a blocked stream write short by resetting the
// stream.
//
// # Limits
//
// A message larger than the read limit ([DefaultReadLimit], 1 MiB, unless
// set by the options or [Conn.SetReadLimit]) fails the connection with close
// code 1009, decided from the frame header before any payload is buffered.
// The number of fragments in a message is capped too (one per 16 bytes of
// the limit, at least 1024), so a stream of empty frames cannot spin a
// reader forever. Text messages are validated as UTF-8 as they arrive and
// fail with 1007 at the first invalid byte.
//
// # Closing
//
// [Conn.Close] runs the closing handshake of RFC 6455, Section 7, bounded by
// the close timeout; [Conn.CloseNow] drops the connection. When the peer
// closes, reads return a [CloseError]; use [CloseStatus] to get its code.
// When this endpoint fails the connection for a protocol violation, it sends
// the matching close code and reads return a [*ProtocolError] naming it.
//
// # Errors
//
// [CloseError] is always what the peer sent; [*ProtocolError] is always what
// this endpoint detected and sent. [ErrMessageTooBig] is the *ProtocolError
// for an exceeded read limit, and [ErrBadHandshake] is wrapped by handshake
// failures. Calls on a closed Conn return net.ErrClosed; a connection lost
// without a close frame gives an error that wraps the network error (or
// io.ErrUnexpectedEOF).
//
// # In the browser
//
// Compiled with GOOS=js GOARCH=wasm, the package has [Dial] and the [Conn]
// methods over the browser's own WebSocket, with the same names and
// signatures, and none of the server side. The browser does the protocol
// and delivers messages whole: reads take them from a queue bounded by the
// read limit in bytes and 4096 messages, writes wait while the browser
// holds more than 1 MiB unsent, and a streamed message is sent whole. What
// a page cannot do (request headers, proxies, TLS settings, pings, close
// codes other than 1000 and 3000 to 4999) returns an error wrapping
// errors.ErrUnsupported; buffer sizes and compression settings are
// ignored, the browser choosing its own. GOOS=js GOARCH=wasm go doc shows
// the details on Dial, DialOptions, ConnOptions and each method.
//
// # How the package is layered
//
// The protocol core works on byte slices and values only and never touches
// a socket, a context or a clock; a test enforces it. frame.go decodes and
// checks frame headers; protocol.go holds the message level as two state
// machines, the receiver (what a received frame means: continuation,
// limits, fragment cap, UTF-8, close frames) and the sender (what may be
// sent when); mask.go, utf8.go, inflate.go with inflate_huffman.go (a
// DEFLATE decoder that can stop at any byte and resume), deflater.go (the
// bounded encoder of outgoing messages under context takeover) and status.go
// (close codes and payloads) are what they use. Every transport drives the
// same core: a TCP or TLS connection, an HTTP/2 stream, the browser.
//
// The I/O shell moves bytes. conn.go makes the Conn; read.go is its read
// side, with the one entry every read takes (Read, ReadAppend, Reader,
// Close's wait for the peer), and rawread_unix.go the wait for a TCP
// socket that holds no buffer; write.go is its write side, with the one
// path every frame takes; close.go the closing handshake and the one place
// that marks a Conn closed; sync.go the lock, signal and deadline they
// share; buffers.go the pooled buffers; keepalive.go Ping and the
// keepalive; deflate.go the compression runtime. On top: json.go (JSON
// messages), netconn.go (a net.Conn over a Conn) and closeread.go
// (CloseRead, for write-only applications; built for the browser too).
//
// The handshakes: handshake.go is the server's (Accept), with
// handshake_http2.go for an HTTP/2 extended CONNECT (RFC 8441) and
// handler.go the Handler; dial.go is the client's (Dial), with
// dial_http2.go for HTTP/2. Both stand on internal/h2, the package's own
// HTTP/2: frames, HPACK, the client connection and the streams of both
// sides as net.Conns. compress.go is the permessage-deflate negotiation,
// options.go the options both sides share. group.go and prepared.go work
// on many Conns at once. errors.go lists every error and who returns it.
//
// The Engine (engine.go, its API) runs many connections from a few event
// loops on the same core: engine_conn.go, engine_read.go and
// engine_write.go are a connection, engine_serve.go its handshakes,
// engine_loop.go and engine_timer.go the loops, and engine_epoll_linux.go
// or engine_poll.go how a loop waits.
//
// Under GOOS=js those shell files, and the core files that only they use,
// are built out (//go:build !js); conn_js.go, read_js.go, write_js.go,
// close_js.go, dial_js.go, options_js.go, keepalive_js.go, json_js.go and
// errors_js.go take their place and make a Conn of the browser's WebSocket
// through syscall/js (json.go and netconn.go, on the native internals, are
// built out too). Of the rest they use only status.go, errors.go, frame.go's
// opcodes and sync.go's lock and signal; wasmtest/ checks that the js API
// is a subset of the native one and runs it in Chromium and Firefox.
package websocket
