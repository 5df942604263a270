package h2

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

// TestNodeInterop runs the client against Node's http2 server (nghttp2)
// as an RFC 8441 peer over h2c: several streams on one connection, large
// echoes, response fields that use nghttp2's dynamic table, and a
// refusal with its body. It is skipped when node is not installed.
func TestNodeInterop(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node not found in PATH: skipping the Node http2 interop check")
	}
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "testdata/node-h2-server.js")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close() // the script exits when stdin ends
		cmd.Wait()
	}()
	port, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("node did not print its port: %v", err)
	}
	addr := net.JoinHostPort("127.0.0.1", strings.TrimSpace(port))
	c, err := new(net.Dialer).DialContext(ctx, "tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	cc, err := NewClientConn(ctx, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	if !cc.ExtendedConnect() {
		t.Fatal("node did not enable the extended CONNECT")
	}
	req := &Request{Scheme: "http", Authority: addr, Path: "/chat", Header: http.Header{"Sec-WebSocket-Protocol": {"chat"}}}
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			s := open(t, cc, req)
			if h := s.Response().Header; h.Get("Sec-Websocket-Protocol") != "chat" ||
				h.Get("X-Node-Static") != "the same value on every response" || h.Get("X-Node-Stream") == "" {
				t.Errorf("response header %v", h)
			}
			for j := range 5 {
				roundTrip(t, s, bytes.Repeat([]byte{byte(i), byte(j)}, 50<<10))
			}
			s.Close()
		})
	}
	wg.Wait()
	_, err = cc.OpenStream(ctx, &Request{Scheme: "http", Authority: addr, Path: "/refuse"})
	var se *StatusError
	if !errors.As(err, &se) || se.StatusCode != 403 || string(se.Body) != "refused by node" {
		t.Fatalf("refusal: %v (%+v); connection: %v", err, se, cc.Err())
	}
}
