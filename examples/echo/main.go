//go:build !js

// Command echo is a WebSocket echo server: every text and binary message
// received on any path is sent back unchanged, with the same message type.
//
//	go run ./examples/echo -addr 127.0.0.1:9001
//
// See README.md for the flags.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/ccf874ba/websocket"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "address to listen on (port 0 picks a free port)")
	readLimit := flag.Int64("read-limit", 64<<20, "largest message accepted, in bytes")
	origins := flag.String("origin", "", "comma-separated path.Match patterns of Origin hosts to accept besides the server's own host, e.g. '127.0.0.1:*'")
	anyOrigin := flag.Bool("insecure-skip-verify", false, "accept a handshake from any Origin (disables the cross-site check)")
	stream := flag.Bool("stream", false, "echo through Conn.Reader/Conn.Writer instead of whole-message Read/Write")
	compress := flag.Bool("compress", false, "accept permessage-deflate (RFC 7692) when the client offers it")
	level := flag.Int("compress-level", 0, "compress/flate level of outgoing messages, -2 to 9 (0: the library's default, BestSpeed); implies -compress")
	threshold := flag.Int("compress-threshold", 0, "messages shorter than this are sent uncompressed (0: the library's default, 128); implies -compress")
	window := flag.Int("compress-window", 0, "largest LZ77 window, in bits (8 to 15), the client may compress with; implies -compress")
	noContext := flag.Bool("compress-no-context-takeover", false, "ask the client to compress every message on its own (client_no_context_takeover); implies -compress")
	engine := flag.Bool("engine", false, "serve the connections from an event-loop websocket.Engine (a few loops, no goroutine per connection) instead of a goroutine per connection")
	loops := flag.Int("loops", 0, "with -engine: the number of event loops (0: GOMAXPROCS)")
	verbose := flag.Bool("v", false, "log every accepted connection with its negotiated subprotocol and extensions")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	var copts *websocket.CompressionOptions
	flag.Visit(func(f *flag.Flag) { // any -compress-* flag given implies -compress
		if strings.HasPrefix(f.Name, "compress-") {
			*compress = true
		}
	})
	if *compress {
		if *window != 0 && (*window < 8 || *window > 15) {
			log.Fatalf("-compress-window %d: want 8 to 15", *window)
		}
		if *level < -2 || *level > 9 {
			log.Fatalf("-compress-level %d: want -2 to 9", *level)
		}
		copts = &websocket.CompressionOptions{
			Level:             *level,
			Threshold:         *threshold,
			NoContextTakeover: *noContext,
			MaxWindowBits:     *window,
		}
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	s := &server{
		ctx:     ctx,
		stream:  *stream,
		verbose: *verbose,
		opts: websocket.AcceptOptions{
			InsecureSkipVerify: *anyOrigin,
			OriginPatterns:     splitList(*origins),
			ConnOptions: websocket.ConnOptions{
				ReadLimit:   *readLimit,
				Compression: copts,
			},
		},
	}
	if *engine {
		if *stream {
			log.Fatal("-stream and -engine do not go together: an Engine delivers whole messages")
		}
		e, err := websocket.NewEngine(&websocket.EngineOptions{
			Loops: *loops,
			// An echo of a message as large as the read limit must fit in
			// the queue with room behind it for the next ones.
			WriteQueueLimit: int(min(2**readLimit, 1<<40)),
			OnMessage: func(c *websocket.EngineConn, typ websocket.MessageType, p []byte) {
				c.Write(typ, p) // never blocks; a peer that stops reading is closed with 1008
			},
		})
		if err != nil {
			log.Fatal(err)
		}
		s.engine = e
	}
	if err := run(ctx, *addr, s); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string, s *server) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.Default(),
	}
	// The actual address, for scripts that listen on port 0.
	fmt.Printf("listening on ws://%s\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}

	log.Print("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Shutdown stops the listener and waits for plain HTTP requests; the
	// hijacked WebSocket connections are closed by their handlers (1001
	// going away), which s.wg waits for.
	err = hs.Shutdown(sctx)
	if s.engine != nil {
		// The engine's connections: 1001 to each, then every loop stops.
		s.engine.Close(websocket.StatusGoingAway, "server shutting down")
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-sctx.Done():
		log.Print("some connections did not close in time")
	}
	return err
}

type server struct {
	ctx     context.Context // canceled at shutdown
	opts    websocket.AcceptOptions
	stream  bool
	verbose bool
	engine  *websocket.Engine // -engine: connections go to it
	wg      sync.WaitGroup
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	opts := s.opts
	if s.engine != nil {
		c, err := s.engine.Accept(w, r, &opts)
		if err != nil {
			log.Printf("%s %s: %v", r.RemoteAddr, r.URL.Path, err)
		} else if s.verbose {
			log.Printf("%s %s: accepted by the engine, subprotocol %q, extensions %q", r.RemoteAddr, r.URL.Path,
				c.Subprotocol(), w.Header().Get("Sec-WebSocket-Extensions"))
		}
		return // the engine's loop echoes from here on
	}
	c, err := websocket.Accept(w, r, &opts)
	if err != nil {
		// Accept has already written an HTTP error response.
		log.Printf("%s %s: %v", r.RemoteAddr, r.URL.Path, err)
		return
	}
	if s.verbose {
		// Accept sent the headers of w with its 101 response, the
		// negotiated Sec-WebSocket-Extensions among them.
		log.Printf("%s %s: accepted, subprotocol %q, extensions %q (offered %q)", r.RemoteAddr, r.URL.Path,
			c.Subprotocol(), w.Header().Get("Sec-WebSocket-Extensions"), strings.Join(r.Header.Values("Sec-WebSocket-Extensions"), ", "))
	}
	s.wg.Add(1)
	defer s.wg.Done()
	defer c.CloseNow()

	// At shutdown, say goodbye; the pending Read then returns.
	stop := context.AfterFunc(s.ctx, func() {
		c.Close(websocket.StatusGoingAway, "server shutting down")
	})
	defer stop()

	echo := s.echoMessage
	if s.stream {
		echo = s.echoStream
	}
	for {
		if err := echo(c); err != nil {
			switch websocket.CloseStatus(err) {
			case websocket.StatusNormalClosure, websocket.StatusGoingAway:
				// The peer closed cleanly; the library answered its close frame.
			default:
				if s.ctx.Err() == nil {
					log.Printf("%s %s: %v", r.RemoteAddr, r.URL.Path, err)
				}
			}
			return
		}
	}
}

// echoMessage reads one whole message and writes it back.
func (s *server) echoMessage(c *websocket.Conn) error {
	typ, p, err := c.Read(context.Background())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return c.Write(ctx, typ, p)
}

// echoStream copies one message from a Reader to a Writer without holding it
// in memory whole.
func (s *server) echoStream(c *websocket.Conn) error {
	typ, r, err := c.Reader(context.Background())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w, err := c.Writer(ctx, typ)
	if err != nil {
		return err
	}
	if _, err := io.Copy(w, r); err != nil {
		w.Close()
		return err
	}
	return w.Close()
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
