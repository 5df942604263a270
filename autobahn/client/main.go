// Command client is the testee for the Autobahn|Testsuite "fuzzingserver"
// mode: it connects to a running `wstest -m fuzzingserver`, asks it for the
// number of cases, runs each case by echoing every message the server sends
// until the connection ends, and finally asks the server to write its
// reports:
//
//	go run ./autobahn/client -url ws://127.0.0.1:9001 -agent NAME
//
// See autobahn/README.md and autobahn/run.sh.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/ccf874ba/websocket"
)

const readLimit = 64 << 20

// compression is what -compress asks for: nil, or the defaults.
var compression *websocket.CompressionOptions

func main() {
	base := flag.String("url", "ws://127.0.0.1:9001", "base URL of wstest -m fuzzingserver (keep it on loopback)")
	agent := flag.String("agent", "ccf874ba-websocket", "agent name the reports are filed under")
	caseTimeout := flag.Duration("case-timeout", 2*time.Minute, "upper bound for one case (section 9 cases take seconds)")
	compress := flag.Bool("compress", true, "negotiate permessage-deflate (RFC 7692); sections 12 and 13 need it")
	verbose := flag.Bool("v", false, "log every case")
	flag.Parse()

	log.SetFlags(log.Ltime | log.Lmicroseconds)
	if *compress {
		compression = &websocket.CompressionOptions{}
	}
	b := strings.TrimRight(*base, "/")
	a := url.QueryEscape(*agent)

	n, err := caseCount(b + "/getCaseCount")
	if err != nil {
		log.Fatalf("getCaseCount: %v", err)
	}
	log.Printf("fuzzingserver has %d cases; running them as agent %q", n, *agent)

	var failedDials []int
	start := time.Now()
	for i := 1; i <= n; i++ {
		u := fmt.Sprintf("%s/runCase?case=%d&agent=%s", b, i, a)
		t0 := time.Now()
		err := runCase(u, *caseTimeout)
		if err != nil {
			failedDials = append(failedDials, i)
			log.Printf("case %d/%d: %v", i, n, err)
		} else if *verbose {
			log.Printf("case %d/%d done in %v", i, n, time.Since(t0).Round(time.Millisecond))
		} else if i%50 == 0 || i == n {
			log.Printf("%d/%d cases run (%v)", i, n, time.Since(start).Round(time.Second))
		}
	}

	if err := updateReports(b + "/updateReports?agent=" + a); err != nil {
		log.Fatalf("updateReports: %v", err)
	}
	log.Printf("reports updated after %v", time.Since(start).Round(time.Millisecond))
	if len(failedDials) > 0 {
		log.Printf("could not run %d case(s): %v", len(failedDials), failedDials)
		os.Exit(1)
	}
}

func dialOptions() *websocket.DialOptions {
	return &websocket.DialOptions{
		ConnOptions: websocket.ConnOptions{
			ReadLimit:   readLimit,
			Compression: compression,
		},
	}
}

// caseCount reads the single text message the server sends on /getCaseCount.
func caseCount(u string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, u, dialOptions())
	if err != nil {
		return 0, err
	}
	defer c.CloseNow()
	typ, p, err := c.Read(ctx)
	if err != nil {
		return 0, err
	}
	if typ != websocket.MessageText {
		return 0, fmt.Errorf("got message type %v, want text", typ)
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(p)))
	if err != nil {
		return 0, fmt.Errorf("bad case count %q: %v", p, err)
	}
	if n <= 0 {
		return 0, fmt.Errorf("server reports %d cases", n)
	}
	drain(ctx, c)
	return n, nil
}

// runCase echoes every message of one case until the read fails (the peer
// closed, the library failed the connection, or the timeout hit). Only a
// failed dial is an error: how the case went is the server's verdict.
func runCase(u string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, _, err := websocket.Dial(ctx, u, dialOptions())
	if err != nil {
		return err
	}
	for {
		typ, p, err := c.Read(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				log.Printf("%s: timed out after %v", u, timeout)
				c.CloseNow()
			}
			return nil
		}
		if err := c.Write(ctx, typ, p); err != nil {
			return nil
		}
	}
}

// updateReports asks the server to write its reports. The server writes
// them before it starts the close handshake, which the library answers.
func updateReports(u string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, _, err := websocket.Dial(ctx, u, dialOptions())
	if err != nil {
		return err
	}
	defer c.CloseNow()
	err = drain(ctx, c)
	// wstest closes this connection without a status code (1005).
	switch code := websocket.CloseStatus(err); code {
	case websocket.StatusNormalClosure, websocket.StatusNoStatusReceived:
		return nil
	default:
		return fmt.Errorf("connection ended with %v (close status %d), want a normal close", err, code)
	}
}

// drain reads until the server ends the connection, so the close handshake
// the library answers completes before we move on.
func drain(ctx context.Context, c *websocket.Conn) error {
	for {
		if _, _, err := c.Read(ctx); err != nil {
			return err
		}
	}
}
