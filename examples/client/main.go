// Command client sends each line of standard input as a WebSocket text
// message and prints each message it receives as a line on standard output.
//
//	go run ./examples/client -url ws://127.0.0.1:9001/
//
// At the end of input it waits for as many replies as it sent lines (at most
// -wait), then closes the connection with 1000 (normal closure). It exits
// with status 1 on any error.
//
// With -http2 it opens the WebSocket as a stream of an HTTP/2 connection
// (RFC 8441, DialOptions.HTTP2): over TLS when the server offers HTTP/2 and
// WebSockets over it, else over HTTP/1.1 as without the flag; for ws:// URLs
// over cleartext HTTP/2 with prior knowledge (h2c), with no fallback. It
// prints the protocol used on standard error. -insecure skips the
// verification of the server's certificate, for a self-signed test server:
//
//	go run ./examples/client -http2 -insecure -url wss://127.0.0.1:9001/
//
// See README.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/ccf874ba/websocket"
)

func main() {
	url := flag.String("url", "ws://127.0.0.1:9001/", "WebSocket URL to connect to (ws:// or wss://)")
	wait := flag.Duration("wait", 10*time.Second, "at end of input, how long to wait for outstanding replies")
	dialTimeout := flag.Duration("dial-timeout", 10*time.Second, "time limit for connecting and the opening handshake")
	readLimit := flag.Int64("read-limit", 64<<20, "largest message accepted, in bytes")
	compress := flag.Bool("compress", false, "offer permessage-deflate (RFC 7692)")
	useHTTP2 := flag.Bool("http2", false, "open the WebSocket over HTTP/2 (RFC 8441): for wss:// if the server offers it (else HTTP/1.1), for ws:// over cleartext HTTP/2 (h2c, no fallback)")
	insecure := flag.Bool("insecure", false, "do not verify the server's TLS certificate (for a self-signed test server)")
	flag.Parse()
	opts := &websocket.DialOptions{ConnOptions: websocket.ConnOptions{ReadLimit: *readLimit}}
	if *compress {
		opts.Compression = &websocket.CompressionOptions{}
	}
	if *insecure {
		opts.TLSConfig = &tls.Config{InsecureSkipVerify: true}
	}
	if *useHTTP2 {
		pool := &websocket.HTTP2Pool{AllowHTTP: true, IdleTimeout: -1}
		defer pool.Close()
		opts.HTTP2 = pool
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *url, *wait, *dialTimeout, opts, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "client:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, url string, wait, dialTimeout time.Duration, opts *websocket.DialOptions, in io.Reader, out io.Writer) error {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	c, resp, err := websocket.Dial(dctx, url, opts)
	cancel()
	if err != nil {
		return err
	}
	defer c.CloseNow()
	if opts.HTTP2 != nil {
		fmt.Fprintf(os.Stderr, "client: connected over %s\n", resp.Proto)
	}

	// Ctrl-C: say goodbye and leave, even while blocked reading input.
	finished := make(chan struct{})
	defer close(finished)
	go func() {
		select {
		case <-ctx.Done():
			c.Close(websocket.StatusGoingAway, "")
			fmt.Fprintln(os.Stderr, "client: interrupted")
			os.Exit(1)
		case <-finished:
		}
	}()

	var (
		mu       sync.Mutex
		received int
		changed  = make(chan struct{}, 1)
		readErr  error
		readDone = make(chan struct{})
	)
	// Print replies as they come.
	go func() {
		defer close(readDone)
		w := bufio.NewWriter(out)
		for {
			_, p, err := c.Read(context.Background())
			if err != nil {
				w.Flush()
				mu.Lock()
				readErr = err
				mu.Unlock()
				return
			}
			w.Write(p)
			w.WriteByte('\n')
			if err := w.Flush(); err != nil {
				mu.Lock()
				readErr = err
				mu.Unlock()
				c.CloseNow()
				return
			}
			mu.Lock()
			received++
			mu.Unlock()
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}()

	// Send lines.
	sent := 0
	br := bufio.NewReaderSize(in, 64<<10)
	for {
		line, rerr := br.ReadBytes('\n')
		if len(line) > 0 || rerr == nil {
			line = bytes.TrimSuffix(line, []byte("\n"))
			line = bytes.TrimSuffix(line, []byte("\r"))
			if !utf8.Valid(line) {
				c.Close(websocket.StatusGoingAway, "")
				return fmt.Errorf("input line %d is not valid UTF-8", sent+1)
			}
			wctx, cancel := context.WithTimeout(ctx, time.Minute)
			err := c.Write(wctx, websocket.MessageText, line)
			cancel()
			if err != nil {
				return fmt.Errorf("sending line %d: %w", sent+1, err)
			}
			sent++
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			c.Close(websocket.StatusGoingAway, "")
			return fmt.Errorf("reading input: %w", rerr)
		}
	}

	// Wait for the outstanding replies.
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		mu.Lock()
		n, rerr := received, readErr
		mu.Unlock()
		if n >= sent {
			break
		}
		if rerr != nil {
			if st := websocket.CloseStatus(rerr); st == websocket.StatusNormalClosure || st == websocket.StatusGoingAway {
				return fmt.Errorf("server closed the connection (%v) after %d of %d replies", rerr, n, sent)
			}
			return fmt.Errorf("reading: %w (after %d of %d replies)", rerr, n, sent)
		}
		select {
		case <-changed:
		case <-readDone:
		case <-timer.C:
			c.Close(websocket.StatusNormalClosure, "")
			return fmt.Errorf("timed out after %v waiting for replies: got %d of %d", wait, n, sent)
		}
	}

	// Close cleanly: send 1000 and wait for the server's close frame, which
	// the reading goroutine receives.
	if err := c.Close(websocket.StatusNormalClosure, ""); err != nil {
		mu.Lock()
		rerr := readErr
		mu.Unlock()
		// The server may have closed first, after the last reply.
		st := websocket.CloseStatus(rerr)
		if !errors.Is(err, net.ErrClosed) || (st != websocket.StatusNormalClosure && st != websocket.StatusGoingAway) {
			return fmt.Errorf("closing: %w", err)
		}
	}
	select {
	case <-readDone:
	case <-time.After(time.Second):
	}
	return nil
}
