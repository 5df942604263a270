//go:build !js

// Command h2page is the browsers' server for the HTTP/2 interop cases
// (interop/browser_h2.js): over TLS with a self-signed certificate it serves
// a page at / and, on every other path, a WebSocket echo (websocket.Accept,
// permessage-deflate accepted), and remembers over which protocol each
// request came, so the test can tell that the browser's WebSockets rode
// HTTP/2 (RFC 8441) and not HTTP/1.1. Start it with GODEBUG=http2xconnect=1.
//
//	GODEBUG=http2xconnect=1 h2page -addr 127.0.0.1:0
//
// It prints "listening on https://ADDR" once ready. GET /__report answers
// JSON {"extendedConnect":bool,"page":"HTTP/2.0","connections":n,
// "websockets":{"/path":{"proto":"HTTP/2.0","extensions":"...",
// "messages":n,"close":1000}}}, waiting up to 3 s for the WebSockets still
// open to end.
package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/ccf874ba/websocket"
)

type wsRecord struct {
	Proto      string `json:"proto"`
	Extensions string `json:"extensions"`
	Messages   int    `json:"messages"`
	Close      int    `json:"close"` // close code received; -1 while open
}

type server struct {
	mu          sync.Mutex
	page        string
	connections int
	websockets  map[string]*wsRecord
	open        sync.WaitGroup
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	cert, err := selfSigned()
	if err != nil {
		log.Fatal(err)
	}
	s := &server{websockets: map[string]*wsRecord{}}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	hs := &http.Server{
		Handler:   s,
		Protocols: &protos,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2", "http/1.1"}},
		ConnState: func(c net.Conn, st http.ConnState) {
			if st == http.StateNew {
				s.mu.Lock()
				s.connections++
				s.mu.Unlock()
				log.Printf("%s: new connection", c.RemoteAddr())
			}
		},
		ErrorLog: log.Default(),
	}
	log.Printf("extended CONNECT (RFC 8441) enabled: %v", websocket.ExtendedConnectEnabled())
	fmt.Printf("listening on https://%s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		hs.Shutdown(sctx)
	}()
	if err := hs.ServeTLS(ln, "", ""); err != http.ErrServerClosed {
		log.Fatal(err)
	}
}

func (s *server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path == "/" && r.Method == http.MethodGet:
		s.mu.Lock()
		s.page = r.Proto
		s.mu.Unlock()
		log.Printf("%s %s: page over %s", r.RemoteAddr, r.URL.Path, r.Proto)
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, "<!doctype html><html><head><meta charset=\"utf-8\"><title>h2 interop</title></head><body>served over %s</body></html>\n", r.Proto)
	case r.URL.Path == "/favicon.ico":
		http.NotFound(w, r)
	case r.URL.Path == "/__report":
		s.report(w)
	default:
		s.echo(w, r)
	}
}

func (s *server) report(w http.ResponseWriter) {
	done := make(chan struct{})
	go func() { s.open.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{
		"extendedConnect": websocket.ExtendedConnectEnabled(),
		"page":            s.page,
		"connections":     s.connections,
		"websockets":      s.websockets,
	})
}

func (s *server) echo(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		ConnOptions: websocket.ConnOptions{ReadLimit: 64 << 20, Compression: &websocket.CompressionOptions{}},
	})
	if err != nil {
		log.Printf("%s %s over %s: %v", r.RemoteAddr, r.URL.Path, r.Proto, err)
		return
	}
	rec := &wsRecord{Proto: r.Proto, Extensions: w.Header().Get("Sec-WebSocket-Extensions"), Close: -1}
	s.mu.Lock()
	s.websockets[r.URL.Path] = rec
	s.open.Add(1)
	s.mu.Unlock()
	defer s.open.Done()
	defer c.CloseNow()
	log.Printf("%s %s: WebSocket over %s, extensions %q", r.RemoteAddr, r.URL.Path, r.Proto, rec.Extensions)
	for {
		typ, p, err := c.Read(context.Background())
		if err != nil {
			s.mu.Lock()
			rec.Close = int(websocket.CloseStatus(err))
			s.mu.Unlock()
			return
		}
		s.mu.Lock()
		rec.Messages++
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		err = c.Write(ctx, typ, p)
		cancel()
		if err != nil {
			return
		}
	}
}

func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()),
		Subject:      pkix.Name{CommonName: "interop h2page"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
