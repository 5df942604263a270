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
// # Concurrency
//
// A Conn is safe for concurrent use, except that only one goroutine may call
// Read or Reader (and read the message Reader returns) at a time. Writes,
// pings and Close from any number of goroutines are serialised; a second
// [Conn.Writer] waits for the first to be closed. Nothing panics on misuse.
//
// The Conn answers pings and the peer's close frame from inside Read, so an
// application that only sends should still keep a goroutine reading.
//
// # Contexts
//
// Every blocking method takes a context that bounds that call only. A
// context that cannot end (context.Background) costs nothing. When a read's
// context ends, the read returns ctx.Err() and the Conn stays usable: frames
// are consumed only once complete, so the next read resumes where the
// stream stands. A write whose context ends before its frame starts is
// likewise harmless; one that ends part-way through a frame closes the Conn,
// since the stream can no longer be framed.
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
// # How the package is layered
//
// The protocol core — frame.go (header codec and legality checks), mask.go,
// utf8.go and the payload half of close.go — works on byte slices only and
// never touches a socket, a context or a clock; a test enforces it. conn.go
// is the only file that moves bytes: it peeks a header from its own buffer,
// asks the core whether it is legal, and consumes it only then. This split
// is what makes the core easy to fuzz and the reader restartable.
package websocket
