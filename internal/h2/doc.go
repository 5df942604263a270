// Package h2 carries WebSockets over HTTP/2 (RFC 8441) for the websocket
// package: both ends of an extended CONNECT stream as a net.Conn, so the
// WebSocket Conn runs over a stream as it runs over a TCP connection.
//
// # Server
//
// net/http's HTTP/2 server delivers an extended CONNECT to the handler
// (r.Method CONNECT, r.Header.Get(":protocol"), see
// [ExtendedConnectProtocol]) only when the process runs with
// GODEBUG=http2xconnect=1 ([ExtendedConnectEnabled]). [NewServerStream]
// answers 200 and returns a [ServerStream]. The stream belongs to the
// handler's call: the handler must not return before the stream is
// closed ([ServerStream.Done]).
//
// # Client
//
// net/http's client refuses the :protocol pseudo-header, so the client is
// this package's own HTTP/2 implementation (RFC 9113, HPACK of RFC 7541).
// A [ClientConn] runs one connection: [NewClientConn] starts it on a
// net.Conn that negotiated h2 (or h2c with prior knowledge) and
// [ClientConn.OpenStream] sends an extended CONNECT and returns a
// [Stream] for a 2xx answer. A [Pool] shares connections among the Dials
// to one server and remembers the servers that need HTTP/1.1.
//
// # Limits against hostile servers
//
// Each limit ends the connection with a [*ConnectionError] (sent to the
// server in a GOAWAY) whose value is built once: frames larger than
// [Config.MaxFrameSize]; header blocks larger than
// [Config.MaxHeaderListSize] or spread over more than 64 CONTINUATION
// frames; more than 1,000 a second of PING, of SETTINGS, of empty frames,
// or of frames for closed streams and unknown types; control answers the
// server does not read (64 KiB queued); DATA beyond a window; windows
// above 2^31-1; frames on streams the client never opened; PUSH_PROMISE;
// HPACK errors. A socket that takes nothing for [Config.WriteTimeout]
// fails the connection. Faults of one stream (a malformed response, DATA
// before HEADERS, a header list over the limit) reset only that stream,
// with a [*StreamError].
//
// # How the package is layered
//
// frame.go (frame headers and payloads, RFC 9113, Sections 4 and 6),
// hpack.go and huffman.go (RFC 7541) and errors.go are pure: byte slices
// in, values out, no I/O (a test checks their imports). message.go holds
// the HTTP semantics of the extended CONNECT (RFC 9113, Section 8).
// clientconn.go is the connection and its settings, readloop.go the
// goroutine that reads and dispatches frames, writer.go the goroutine
// that writes them, stream.go the client Stream and its flow control,
// deadline.go the resettable deadline both streams use, pool.go the
// Pool, serverstream.go the server side.
package h2
