//go:build !js

package main

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestHTTP2AgainstEcho runs the built client with -http2 against the built
// examples/echo, over TLS (-tls, a self-signed certificate: -insecure) and
// over h2c (-h2c), with the server started with GODEBUG=http2xconnect=1:
// the lines come back, and both sides say the WebSocket rode HTTP/2. Then
// the same against a server without the setting: the client falls back to
// HTTP/1.1.
func TestHTTP2AgainstEcho(t *testing.T) {
	if testing.Short() {
		t.Skip("builds two programs")
	}
	goTool := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goTool); err != nil {
		if goTool, err = exec.LookPath("go"); err != nil {
			t.Skip("no go tool to build the programs with")
		}
	}
	dir := t.TempDir()
	echoBin := filepath.Join(dir, "echo")
	clientBin := filepath.Join(dir, "client")
	for bin, pkg := range map[string]string{echoBin: "../echo", clientBin: "."} {
		if out, err := exec.Command(goTool, "build", "-o", bin, pkg).CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}

	for _, tc := range []struct {
		name      string
		flags     []string
		xconnect  bool
		wantProto string
	}{
		{"tls", []string{"-tls"}, true, "HTTP/2.0"},
		{"h2c", []string{"-h2c"}, true, "HTTP/2.0"},
		{"tls-without-setting", []string{"-tls"}, false, "HTTP/1.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			srv := exec.CommandContext(ctx, echoBin, append([]string{"-addr", "127.0.0.1:0", "-v"}, tc.flags...)...)
			srv.Env = os.Environ()
			if tc.xconnect {
				srv.Env = append(srv.Env, "GODEBUG=http2xconnect=1")
			} else {
				srv.Env = append(srv.Env, "GODEBUG=")
			}
			var serverLog bytes.Buffer
			srv.Stderr = &serverLog
			stdout, err := srv.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() {
				srv.Process.Signal(os.Interrupt)
				srv.Wait()
			}()
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err != nil {
				t.Fatalf("reading the server's first line: %v (log: %s)", err, serverLog.String())
			}
			url, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
			if !ok {
				t.Fatalf("server printed %q", line)
			}

			input := "hello\n\nκόσμε 😀\n" + strings.Repeat("long line ", 10000) + "\nlast"
			cli := exec.CommandContext(ctx, clientBin, "-http2", "-insecure", "-url", url+"/http2-test")
			cli.Stdin = strings.NewReader(input)
			var out, errOut bytes.Buffer
			cli.Stdout, cli.Stderr = &out, &errOut
			if err := cli.Run(); err != nil {
				t.Fatalf("client: %v\nstderr: %s\nserver log: %s", err, errOut.String(), serverLog.String())
			}
			if got, want := out.String(), input+"\n"; got != want {
				t.Errorf("client printed %d bytes, want the %d of its input", len(got), len(want))
			}
			if want := "client: connected over " + tc.wantProto; !strings.Contains(errOut.String(), want) {
				t.Errorf("client stderr %q, want %q", errOut.String(), want)
			}
			srv.Process.Signal(os.Interrupt)
			srv.Wait()
			if want := "/http2-test: accepted over " + tc.wantProto; !strings.Contains(serverLog.String(), want) {
				t.Errorf("server log lacks %q:\n%s", want, serverLog.String())
			}
		})
	}
}
