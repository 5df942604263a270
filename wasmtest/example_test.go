//go:build !js

package wasmtest

import (
	"bufio"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExample runs examples/wasm as a person would: it starts the
// example's server (which builds its wasm client), opens the page in each
// browser and waits for the page to show that its Go code dialled /echo
// and got a text and a 64 KiB binary message back intact.
func TestExample(t *testing.T) {
	node := needDriver(t)
	bin := filepath.Join(t.TempDir(), "wasm-example")
	if b, err := exec.Command(goTool(t), "build", "-o", bin, "../examples/wasm").CombinedOutput(); err != nil {
		t.Fatalf("go build ../examples/wasm: %v\n%s", err, b)
	}
	srv := exec.Command(bin, "-addr", "127.0.0.1:0")
	out, err := srv.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	srv.Stderr = &strings.Builder{}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		srv.Process.Signal(syscall.SIGTERM) // it then removes the wasm it built
		done := make(chan error, 1)
		go func() { done <- srv.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			srv.Process.Kill()
			<-done
		}
	})
	url := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "listening on "); ok {
				url <- u
			}
		}
		close(url)
	}()
	var page string
	select {
	case u, ok := <-url:
		if !ok {
			t.Fatalf("the example exited: %s", srv.Stderr)
		}
		page = u
	case <-time.After(3 * time.Minute):
		t.Fatalf("the example did not start in 3 minutes: %s", srv.Stderr)
	}
	const want = "binary echo: 65536 bytes, identical"
	for _, b := range browsers {
		t.Run(b.name, func(t *testing.T) {
			needBrowser(t, b.name, b.env, b.exe)
			stdout, stderr, err := runDriver(t, node, b.name, page, "--until-text", "ready: type a message")
			if err != nil || !strings.Contains(stdout, want) || !strings.Contains(stdout, "echo: hello from Go (wasm), κόσμε 😀") {
				t.Errorf("the page did not show the echoes (driver: %v)\npage:\n%s\nstderr:\n%s", err, stdout, lastLines(stderr, 20))
			}
		})
	}
}
