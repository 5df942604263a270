//go:build !js

package wasmtest

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ccf874ba/websocket"
)

// browsers are the browsers TestBrowsers runs the page in, with the
// executable each is at (overridden by WASMTEST_CHROMIUM and
// WASMTEST_FIREFOX); WASMTEST_BROWSERS=chromium or =firefox picks one.
var browsers = []struct{ name, env, exe string }{
	{"chromium", "WASMTEST_CHROMIUM", "/usr/bin/chromium"},
	{"firefox", "WASMTEST_FIREFOX", "/usr/bin/firefox-esr"},
}

// driverSeconds bounds one browser's run of the whole page.
const driverSeconds = 240

// TestBrowsers builds ./page with GOOS=js GOARCH=wasm, serves it with
// wasm_exec.js from GOROOT and index.html on 127.0.0.1, next to endpoints
// of the library's own server, and runs it in headless Chromium and
// Firefox. Each check the page runs is a subtest, BROWSER/CHECK.
//
// Without node, the npm packages of driver.js (wasmtest/run.sh installs
// them into wasmtest/node_modules) or a browser, it is skipped, saying
// which is missing; with WASMTEST_REQUIRE set, as run.sh sets it, it fails
// instead.
func TestBrowsers(t *testing.T) {
	node := needDriver(t)
	dir := t.TempDir()
	wasm := filepath.Join(dir, "test.wasm")
	goBuildWasm(t, wasm, "./page")
	srv := newServer(t, map[string]string{
		"/":             "index.html",
		"/wasm_exec.js": wasmExecJS(t),
		"/test.wasm":    wasm,
	})
	for _, b := range browsers {
		t.Run(b.name, func(t *testing.T) {
			needBrowser(t, b.name, b.env, b.exe)
			run := srv.begin()
			stdout, stderr, err := runDriver(t, node, b.name, srv.URL+"/"+os.Getenv("WASMTEST_PAGE_HASH"))
			results, done := run.end()
			for _, r := range results {
				t.Run(r.Name, func(t *testing.T) {
					t.Logf("%d ms", r.Ms)
					if !r.OK {
						t.Error(r.Detail)
					}
				})
			}
			if done == nil || err != nil {
				t.Errorf("the page did not finish (reported %d results, end %v; driver: %v)\nstdout:\n%s\nstderr (last lines):\n%s",
					len(results), done, err, stdout, lastLines(stderr, 40))
			} else if done.Passed+done.Failed != len(results) {
				t.Errorf("the page counted %d passed and %d failed, but %d results arrived", done.Passed, done.Failed, len(results))
			}
			if t.Failed() && err == nil {
				t.Logf("browser console (last lines):\n%s", lastLines(stderr, 40))
			}
		})
	}
}

// needDriver returns node, or skips the test (fails it under
// WASMTEST_REQUIRE) when node or the npm packages driver.js needs are
// missing.
func needDriver(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("-short: the browser tests take a minute or more")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node", "not in PATH")
	}
	for _, pkg := range []string{"playwright-core", "puppeteer-core"} {
		if _, err := os.Stat(filepath.Join("node_modules", pkg, "package.json")); err != nil {
			missing(t, pkg, "not in wasmtest/node_modules")
		}
	}
	return node
}

// needBrowser skips the test, or fails it under WASMTEST_REQUIRE, when the
// browser's executable is missing, or when WASMTEST_BROWSERS leaves it out.
func needBrowser(t *testing.T, name, env, exe string) {
	t.Helper()
	if only := os.Getenv("WASMTEST_BROWSERS"); only != "" && !strings.Contains(","+only+",", ","+name+",") {
		t.Skipf("not in WASMTEST_BROWSERS=%s", only)
	}
	if e := os.Getenv(env); e != "" {
		exe = e
	}
	if _, err := os.Stat(exe); err != nil {
		missing(t, name, fmt.Sprintf("%s not found (set %s)", exe, env))
	}
}

func missing(t *testing.T, what, why string) {
	t.Helper()
	if os.Getenv("WASMTEST_REQUIRE") != "" {
		t.Fatalf("%s: %s (WASMTEST_REQUIRE is set)", what, why)
	}
	t.Skipf("%s: %s; bash wasmtest/run.sh installs what the browser tests need", what, why)
}

// goBuildWasm builds the package pkg with GOOS=js GOARCH=wasm into out.
func goBuildWasm(t *testing.T, out, pkg string) {
	t.Helper()
	cmd := exec.Command(goTool(t), "build", "-o", out, pkg)
	cmd.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm", "GOFLAGS=", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=js GOARCH=wasm go build %s: %v\n%s", pkg, err, b)
	}
}

func goTool(t *testing.T) string {
	t.Helper()
	g, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go not in PATH: %v", err)
	}
	return g
}

// wasmExecJS is the path of the wasm_exec.js of the Go that builds the
// page: lib/wasm since Go 1.24, misc/wasm before.
func wasmExecJS(t *testing.T) string {
	t.Helper()
	b, err := exec.Command(goTool(t), "env", "GOROOT").Output()
	if err != nil {
		t.Fatalf("go env GOROOT: %v", err)
	}
	root := strings.TrimSpace(string(b))
	for _, p := range []string{"lib/wasm/wasm_exec.js", "misc/wasm/wasm_exec.js"} {
		if _, err := os.Stat(filepath.Join(root, p)); err == nil {
			return filepath.Join(root, p)
		}
	}
	t.Fatalf("no wasm_exec.js under %s", root)
	return ""
}

// runDriver runs driver.js for one browser and page, bounded in time: the
// driver stops by itself after driverSeconds, and is sent SIGTERM (it then
// closes the browser) and, after 15 s more, killed if it has not.
func runDriver(t *testing.T, node, browser, url string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), (driverSeconds+40)*time.Second)
	defer cancel()
	args = append([]string{"driver.js", browser, url, strconv.Itoa(driverSeconds)}, args...)
	cmd := exec.CommandContext(ctx, node, args...)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 15 * time.Second
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.String(), e.String(), err
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// ---- the server ----

// server serves the page and the endpoints the page's checks dial, all on
// 127.0.0.1. /ws/KIND?id=CHECK opens a connection of the library's own
// server side; what it ended with is kept under CHECK for GET /closes.
//
//	/ws/echo        echoes every message (subprotocol wasmtest.v1, read limit 16 MiB)
//	/ws/echo-limit  echoes, with a read limit of 1024 bytes: more fails the connection with 1009
//	/ws/echo-deflate echoes, accepting permessage-deflate
//	/ws/push        sends n messages of size bytes (or of sizes=a,b,...), gap apart, then reads until the end;
//	                each binary message starts with its index, big-endian, when it has room for it
//	/ws/close       sends n text messages "message I", then closes with code and reason
//	/ws/drop        sends n messages, then drops the TCP connection (CloseNow): no close frame
//	/ws/sink        reads nothing (so the client's writes back up) until the test ends or 30 s pass
//
// POST /result and /done take the page's reports.
type server struct {
	*httptest.Server
	ctx    context.Context // ends with the test
	mu     sync.Mutex
	run    *pageRun
	closes map[string]record
	conns  map[*websocket.Conn]bool
	wg     sync.WaitGroup
}

type result struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Ms     int64  `json:"ms"`
}

type doneReport struct{ Passed, Failed int }

// pageRun collects what one run of the page reports.
type pageRun struct {
	s       *server
	results []result
	done    *doneReport
}

// record is how the server's end of a connection ended: the code and
// reason of the CloseError it read, or of the ProtocolError it sent.
type record struct {
	Code   int    `json:"code"`
	Reason string `json:"reason"`
	Err    string `json:"err"`
}

func newServer(t *testing.T, files map[string]string) *server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{ctx: ctx, closes: map[string]record{}, conns: map[*websocket.Conn]bool{}}
	mux := http.NewServeMux()
	for path, file := range files {
		mux.HandleFunc("GET "+pattern(path), func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Cache-Control", "no-store")
			http.ServeFile(w, r, file)
		})
	}
	mux.HandleFunc("POST /result", func(w http.ResponseWriter, r *http.Request) {
		var res result
		if err := json.NewDecoder(r.Body).Decode(&res); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		if s.run != nil {
			s.run.results = append(s.run.results, res)
		}
		s.mu.Unlock()
	})
	mux.HandleFunc("POST /done", func(w http.ResponseWriter, r *http.Request) {
		var d doneReport
		if err := json.NewDecoder(r.Body).Decode(&d); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		if s.run != nil {
			s.run.done = &d
		}
		s.mu.Unlock()
	})
	mux.HandleFunc("GET /closes", s.serveCloses)
	mux.HandleFunc("GET /ws/{kind}", s.serveWS)
	s.Server = httptest.NewServer(mux) // 127.0.0.1
	t.Cleanup(func() {
		cancel()
		s.mu.Lock()
		for c := range s.conns {
			c.CloseNow()
		}
		s.mu.Unlock()
		s.wg.Wait()
		s.Close()
	})
	return s
}

// begin starts collecting the reports of a new run of the page.
func (s *server) begin() *pageRun {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.run = &pageRun{s: s}
	clear(s.closes)
	return s.run
}

func (r *pageRun) end() ([]result, *doneReport) {
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	r.s.run = nil
	return r.results, r.done
}

// serveCloses answers with the record of a connection, waiting for it up
// to 5 s: the page asks as soon as its own end has closed.
func (s *server) serveCloses(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("id")
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		rec, ok := s.closes[id]
		s.mu.Unlock()
		if ok {
			json.NewEncoder(w).Encode(rec)
			return
		}
		if time.Now().After(deadline) {
			http.Error(w, "no record of "+id, http.StatusNotFound)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// pattern is the ServeMux pattern of exactly path.
func pattern(path string) string {
	if path == "/" {
		return "/{$}"
	}
	return path
}

func recordOf(err error) record {
	var ce websocket.CloseError
	var pe *websocket.ProtocolError
	switch {
	case err == nil:
		return record{}
	case errors.As(err, &ce):
		return record{Code: int(ce.Code), Reason: ce.Reason, Err: err.Error()}
	case errors.As(err, &pe):
		return record{Code: int(pe.Code), Reason: pe.Reason, Err: err.Error()}
	}
	return record{Err: err.Error()}
}

func (s *server) serveWS(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	kind := r.PathValue("kind")
	limit := int64(16 << 20)
	if kind == "echo-limit" {
		limit = 1024
	}
	opts := &websocket.AcceptOptions{
		Subprotocols: []string{"wasmtest.v1"},
		ConnOptions:  websocket.ConnOptions{ReadLimit: limit, CloseTimeout: 2 * time.Second},
	}
	if kind == "echo-deflate" {
		opts.Compression = &websocket.CompressionOptions{}
	}
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.conns[c] = true
	s.wg.Add(1)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.CloseNow()
		s.wg.Done()
	}()
	ctx, cancel := context.WithTimeout(s.ctx, 2*time.Minute)
	defer cancel()
	end := s.serveKind(ctx, c, kind, q)
	s.mu.Lock()
	s.closes[q.Get("id")] = recordOf(end)
	s.mu.Unlock()
}

// serveKind runs one endpoint and returns what ended it.
func (s *server) serveKind(ctx context.Context, c *websocket.Conn, kind string, q map[string][]string) error {
	get := func(k string) string {
		if v := q[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	n, _ := strconv.Atoi(get("n"))
	switch kind {
	case "echo", "echo-limit", "echo-deflate":
		var buf []byte
		for {
			typ, msg, err := c.ReadAppend(ctx, buf[:0])
			if err != nil {
				return err
			}
			if err := c.Write(ctx, typ, msg); err != nil {
				return err
			}
			buf = msg
		}
	case "push":
		var sizes []int
		if v := get("sizes"); v != "" {
			for _, f := range strings.Split(v, ",") {
				k, _ := strconv.Atoi(f)
				sizes = append(sizes, k)
			}
		} else {
			size, _ := strconv.Atoi(get("size"))
			for range n {
				sizes = append(sizes, size)
			}
		}
		gap, _ := time.ParseDuration(get("gap"))
		for i, size := range sizes {
			msg := bytes.Repeat([]byte{byte(i)}, size)
			if size >= 4 {
				binary.BigEndian.PutUint32(msg, uint32(i))
			}
			if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
				return err
			}
			if gap > 0 {
				time.Sleep(gap)
			}
		}
		for {
			if _, _, err := c.Read(ctx); err != nil {
				return err
			}
		}
	case "close":
		for i := range n {
			if err := c.Write(ctx, websocket.MessageText, []byte("message "+strconv.Itoa(i))); err != nil {
				return err
			}
		}
		code, _ := strconv.Atoi(get("code"))
		if err := c.Close(websocket.StatusCode(code), get("reason")); err != nil {
			return err
		}
		return websocket.CloseError{Code: websocket.StatusCode(code), Reason: get("reason")}
	case "drop":
		for i := range n {
			if err := c.Write(ctx, websocket.MessageText, []byte("message "+strconv.Itoa(i))); err != nil {
				return err
			}
		}
		// Let the messages reach the browser before the connection goes.
		time.Sleep(100 * time.Millisecond)
		c.CloseNow()
		return errors.New("dropped")
	case "sink":
		select {
		case <-ctx.Done():
		case <-time.After(30 * time.Second):
		}
		return errors.New("sink ended")
	}
	return fmt.Errorf("unknown endpoint %q", kind)
}
