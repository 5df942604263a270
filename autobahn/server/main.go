//go:build !js

// Command server is the testee for the Autobahn|Testsuite "fuzzingclient"
// mode: wstest connects to it and runs every case against it.
//
// It echoes every text and binary message back, on any path:
//
//	go run ./autobahn/server -addr 127.0.0.1:9001
//
// See autobahn/README.md and autobahn/run.sh.
package main

import (
	"errors"
	"flag"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/ccf874ba/websocket"
)

// compression is what -compress asks for: nil, or the defaults.
var compression *websocket.CompressionOptions

func main() {
	addr := flag.String("addr", "127.0.0.1:9001", "listen address (keep it on loopback)")
	compress := flag.Bool("compress", true, "negotiate permessage-deflate (RFC 7692); sections 12 and 13 need it")
	verbose := flag.Bool("v", false, "log every connection error")
	flag.Parse()

	if *compress {
		compression = &websocket.CompressionOptions{}
	}

	h := &echoHandler{verbose: *verbose}
	srv := &http.Server{
		Addr:              *addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
	}

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listen: %v", err)
	}
	log.Printf("autobahn echo testee listening on ws://%s", ln.Addr())

	go func() {
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
		<-sig
		_ = srv.Close()
	}()

	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("serve: %v", err)
	}
}

type echoHandler struct {
	verbose bool
}

func (h *echoHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		InsecureSkipVerify: true,
		ConnOptions: websocket.ConnOptions{
			ReadLimit:   64 << 20,
			Compression: compression,
		},
	})
	if err != nil {
		if h.verbose {
			log.Printf("%s %s: accept: %v", r.RemoteAddr, r.URL, err)
		}
		return
	}
	ctx := r.Context()
	for {
		typ, p, err := c.Read(ctx)
		if err != nil {
			// The library answers the close handshake (or fails the
			// connection) by itself; nothing more to do here.
			if h.verbose && websocket.CloseStatus(err) == -1 {
				log.Printf("%s %s: read: %v", r.RemoteAddr, r.URL, err)
			}
			return
		}
		if err := c.Write(ctx, typ, p); err != nil {
			if h.verbose {
				log.Printf("%s %s: write: %v", r.RemoteAddr, r.URL, err)
			}
			return
		}
	}
}
