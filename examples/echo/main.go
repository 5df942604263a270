//go:build !js

// Command echo is a WebSocket echo server: every text and binary message
// received on any path is sent back unchanged, with the same message type.
//
//	go run ./examples/echo -addr 127.0.0.1:9001
//
// With -tls it serves wss:// over HTTP/2 and HTTP/1.1 (ALPN h2, http/1.1),
// with a self-signed certificate it makes at start unless -cert and -key
// name one; -h2c serves ws:// over cleartext HTTP/2 (prior knowledge) as
// well as HTTP/1.1. WebSockets over HTTP/2 (RFC 8441) need the process to be
// started with GODEBUG=http2xconnect=1: Go 1.26 has no other switch (a
// //go:debug line does not build: net/http's setting is not a registered
// GODEBUG), and the server says at start whether it is on:
//
//	GODEBUG=http2xconnect=1 go run ./examples/echo -tls
//
// See README.md for the flags.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"log"
	"math/big"
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
	verbose := flag.Bool("v", false, "log every accepted connection with its protocol (HTTP/1.1 or HTTP/2.0), negotiated subprotocol and extensions, and every new TCP connection")
	useTLS := flag.Bool("tls", false, "serve wss:// over TLS with HTTP/2 and HTTP/1.1 (ALPN h2, http/1.1), with a self-signed certificate for 127.0.0.1 and localhost made at start unless -cert and -key are given")
	certFile := flag.String("cert", "", "with -tls: PEM certificate (chain) file to serve instead of a self-signed one; needs -key")
	keyFile := flag.String("key", "", "with -tls: PEM private key file of -cert")
	h2c := flag.Bool("h2c", false, "serve ws:// over cleartext HTTP/2 with prior knowledge (h2c) as well as HTTP/1.1; not with -tls")
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
	if (*certFile == "") != (*keyFile == "") {
		log.Fatal("-cert and -key go together")
	}
	if *certFile != "" && !*useTLS {
		log.Fatal("-cert and -key need -tls")
	}
	if *useTLS && *h2c {
		log.Fatal("-tls and -h2c do not go together: over TLS, HTTP/2 is negotiated with ALPN")
	}
	var cfg serveConfig
	if *useTLS {
		cert, err := loadOrMakeCert(*certFile, *keyFile)
		if err != nil {
			log.Fatal(err)
		}
		cfg.tls = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	cfg.http2 = (*useTLS || *h2c) && s.engine == nil
	cfg.h2c = *h2c
	if (*useTLS || *h2c) && s.engine != nil {
		log.Print("-engine serves WebSockets over HTTP/1.1 only: HTTP/2 is not offered")
	}
	if cfg.http2 {
		if websocket.ExtendedConnectEnabled() {
			log.Print("HTTP/2: extended CONNECT (RFC 8441) is on: WebSockets over HTTP/2 are accepted")
		} else {
			log.Print("HTTP/2: extended CONNECT (RFC 8441) is off: net/http refuses WebSockets over HTTP/2 (browsers then use HTTP/1.1); " +
				"start the server with GODEBUG=http2xconnect=1 in its environment to turn it on")
		}
	}
	if err := run(ctx, *addr, s, cfg); err != nil {
		log.Fatal(err)
	}
}

// serveConfig is how run serves: plain HTTP/1.1 (the zero value), TLS,
// and which HTTP versions.
type serveConfig struct {
	tls   *tls.Config // nil: cleartext
	http2 bool        // offer HTTP/2 (over TLS with ALPN, or h2c)
	h2c   bool        // cleartext HTTP/2 with prior knowledge
}

func run(ctx context.Context, addr string, s *server, cfg serveConfig) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.Default(),
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	if cfg.http2 {
		if cfg.h2c {
			protos.SetUnencryptedHTTP2(true)
		} else {
			protos.SetHTTP2(true)
		}
		// Each WebSocket is a stream of a shared connection: a stream
		// buffer well below the connection's keeps one WebSocket whose
		// handler is not reading from stalling the others.
		hs.HTTP2 = &http.HTTP2Config{MaxReceiveBufferPerStream: 256 << 10, MaxReceiveBufferPerConnection: 4 << 20}
	}
	hs.Protocols = &protos
	if s.verbose {
		hs.ConnState = func(c net.Conn, st http.ConnState) {
			if st == http.StateNew {
				log.Printf("%s: new connection", c.RemoteAddr())
			}
		}
	}
	scheme := "ws"
	if cfg.tls != nil {
		scheme = "wss"
		tc := cfg.tls.Clone()
		if cfg.http2 {
			tc.NextProtos = []string{"h2", "http/1.1"}
		} else {
			tc.NextProtos = []string{"http/1.1"}
		}
		hs.TLSConfig = tc
	}
	// The actual address, for scripts that listen on port 0.
	fmt.Printf("listening on %s://%s\n", scheme, ln.Addr())

	errc := make(chan error, 1)
	go func() {
		if cfg.tls != nil {
			errc <- hs.ServeTLS(ln, "", "") // the certificate is in hs.TLSConfig
		} else {
			errc <- hs.Serve(ln)
		}
	}()
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
		log.Printf("%s %s: accepted over %s, subprotocol %q, extensions %q (offered %q)", r.RemoteAddr, r.URL.Path,
			r.Proto, c.Subprotocol(), w.Header().Get("Sec-WebSocket-Extensions"), strings.Join(r.Header.Values("Sec-WebSocket-Extensions"), ", "))
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

// loadOrMakeCert loads the -cert and -key files, or without them makes a
// self-signed ECDSA P-256 certificate for 127.0.0.1, ::1 and localhost,
// valid for a day, that clients must be told to trust (or not to verify).
func loadOrMakeCert(certFile, keyFile string) (tls.Certificate, error) {
	if certFile != "" {
		return tls.LoadX509KeyPair(certFile, keyFile)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "examples/echo self-signed"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	log.Print("TLS: serving a self-signed certificate for 127.0.0.1, ::1 and localhost (clients must skip verification, e.g. examples/client -insecure)")
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
