//go:build !js

// Command wasm serves a page whose Go code, compiled to WebAssembly, runs in
// the browser and talks WebSocket back to this server through the same
// websocket package: there it is the browser's own WebSocket.
//
//	go run ./examples/wasm -addr 127.0.0.1:8080
//
// builds ./client with GOOS=js GOARCH=wasm (with the go command in PATH),
// then serves the page at /, the binary at /main.wasm, the wasm_exec.js of
// the same Go at /wasm_exec.js and an echo endpoint at /echo. Open the
// address it prints in a browser. See README.md.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/ccf874ba/websocket"
)

//go:embed index.html
var indexHTML []byte

const clientPkg = "github.com/ccf874ba/websocket/examples/wasm/client"

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on (port 0 picks a free port)")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	if err := serve(*addr); err != nil {
		log.Fatal(err)
	}
}

func serve(addr string) error {
	dir, err := os.MkdirTemp("", "websocket-wasm-example-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	wasm := filepath.Join(dir, "main.wasm")
	if err := buildWasm(wasm); err != nil {
		return err
	}
	wasmExec, err := wasmExecJS()
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(indexHTML)
	})
	mux.HandleFunc("GET /main.wasm", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, wasm) // as application/wasm, which instantiateStreaming needs
	})
	mux.HandleFunc("GET /wasm_exec.js", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFile(w, r, wasmExec)
	})
	mux.Handle("GET /echo", &websocket.Handler{Serve: echo})

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on http://%s/\n", ln.Addr())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	// Ctrl-C or SIGTERM: stop, and remove the built binary.
	stop, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	go func() {
		<-stop.Done()
		srv.Close()
	}()
	if err := srv.Serve(ln); err != http.ErrServerClosed {
		return err
	}
	return nil
}

// echo sends every message back, with its type. The page is served from
// this server, so the browser's Origin is this host and Accept's default
// same-origin check lets it in.
func echo(c *websocket.Conn, r *http.Request) {
	ctx := r.Context()
	var buf []byte
	for {
		typ, msg, err := c.ReadAppend(ctx, buf[:0])
		if err != nil {
			if websocket.CloseStatus(err) == -1 {
				log.Printf("%s: %v", r.RemoteAddr, err)
			}
			return
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			log.Printf("%s: %v", r.RemoteAddr, err)
			return
		}
		buf = msg
	}
}

// buildWasm compiles the page's Go code for the browser.
func buildWasm(out string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, clientPkg)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("GOOS=js GOARCH=wasm go build %s: %v\n%s", clientPkg, err, b)
	}
	return nil
}

// wasmExecJS finds the wasm_exec.js that goes with the Go that built the
// binary: in lib/wasm since Go 1.24, in misc/wasm before.
func wasmExecJS() (string, error) {
	b, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOROOT: %v", err)
	}
	root := strings.TrimSpace(string(b))
	for _, p := range []string{"lib/wasm/wasm_exec.js", "misc/wasm/wasm_exec.js"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			return filepath.Join(root, p), nil
		}
	}
	return "", fmt.Errorf("no wasm_exec.js under %s", root)
}
