//go:build linux

// Package proc starts the processes of the cluster's integration test and
// benchmark: redis-server and node processes, on loopback ports only. Every
// process is started with a parent-death signal, so none outlives the test
// or benchmark that started it, even if that one crashes.
package proc

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// RedisServer returns the path of redis-server, installing Debian's
// package if it is missing and install is true (apt-get, through sudo -n
// when not root). It fails with a reason when neither works.
func RedisServer(ctx context.Context, install bool) (string, error) {
	if p, err := findRedis(); err == nil {
		return p, nil
	}
	if !install {
		return "", errors.New("redis-server not found")
	}
	if _, err := exec.LookPath("apt-get"); err != nil {
		return "", errors.New("redis-server not found, and no apt-get to install it")
	}
	var prefix []string
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("sudo"); err != nil {
			return "", errors.New("redis-server not found; not root and no sudo to install it")
		}
		prefix = []string{"sudo", "-n"}
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	aptGet := func(args ...string) ([]byte, error) {
		args = append(append(prefix, "apt-get"), args...)
		cmd := exec.CommandContext(ctx, args[0], args[1:]...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	out, err := aptGet("install", "-y", "-q", "redis-server")
	if err != nil { // the package lists may be missing or stale
		if out2, err2 := aptGet("update", "-q"); err2 != nil {
			return "", fmt.Errorf("redis-server not found; apt-get update failed: %v: %s", err2, tail(out2))
		}
		if out, err = aptGet("install", "-y", "-q", "redis-server"); err != nil {
			return "", fmt.Errorf("redis-server not found; apt-get install failed: %v: %s", err, tail(out))
		}
	}
	return findRedis()
}

func findRedis() (string, error) {
	if p, err := exec.LookPath("redis-server"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("redis-server not found")
}

func tail(b []byte) string {
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}

// Redis is a redis-server on a loopback port, with its files in Dir.
type Redis struct {
	Addr string // 127.0.0.1:port
	Dir  string
	path string
	args []string

	mu     sync.Mutex
	cmd    *exec.Cmd
	log    *Log
	exited chan struct{}
}

// StartRedis starts redis-server on a free loopback port. With aof, it
// appends every write to an AOF file in dir (fsync left to the OS), so a
// restart, even after SIGKILL, finds the data; without, nothing is kept.
func StartRedis(ctx context.Context, path, dir string, aof bool) (*Redis, error) {
	var last error
	for range 5 { // the port picked may be taken before redis binds it
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		r := &Redis{Addr: "127.0.0.1:" + strconv.Itoa(port), Dir: dir, path: path}
		r.args = []string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1", "--dir", dir,
			"--save", "", "--daemonize", "no", "--protected-mode", "yes", "--maxclients", "20000",
			"--loglevel", "warning"}
		if aof {
			r.args = append(r.args, "--appendonly", "yes", "--appendfsync", "no")
		} else {
			r.args = append(r.args, "--appendonly", "no")
		}
		if last = r.Start(ctx); last == nil {
			return r, nil
		}
	}
	return nil, last
}

// Start starts the server (again), on the same port and files.
func (r *Redis) Start(ctx context.Context) error {
	cmd := exec.Command(r.path, r.args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	lg := &Log{}
	cmd.Stdout, cmd.Stderr = lg, lg
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	r.mu.Lock()
	r.cmd, r.log, r.exited = cmd, lg, exited
	r.mu.Unlock()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		select {
		case <-exited:
			return fmt.Errorf("redis-server exited: %s", lg.String())
		case <-time.After(20 * time.Millisecond):
		}
		if Ping(r.Addr) == nil {
			return nil
		}
	}
	cmd.Process.Kill()
	return fmt.Errorf("redis-server on %s not ready in 10s: %s", r.Addr, lg.String())
}

// Pid returns the server's process id.
func (r *Redis) Pid() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cmd.Process.Pid
}

// Kill kills the server with SIGKILL, as a crash would, and waits for it.
func (r *Redis) Kill() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	if cmd != nil {
		cmd.Process.Kill()
		<-exited
	}
}

// Stop ends the server: SIGTERM, then SIGKILL after 5 s.
func (r *Redis) Stop() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-exited
	}
}

// Log returns what the server printed.
func (r *Redis) Log() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.log == nil {
		return ""
	}
	return r.log.String()
}

// Ping sends PING to a Redis server and expects PONG, within 1 s.
func Ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") {
		return fmt.Errorf("PING: %q", line)
	}
	return nil
}

// FreePort returns a TCP port free on 127.0.0.1 just now.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// BuildNode builds the node binary of the module in dir to out, with the
// race detector if race is set.
func BuildNode(ctx context.Context, dir, out string, race bool) error {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	args := []string{"build", "-o", out}
	if race {
		args = append(args, "-race")
	}
	cmd := exec.CommandContext(ctx, gobin, append(args, ".")...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v: %s", err, b)
	}
	return nil
}

// Node is a running node process.
type Node struct {
	Addr string // host:port it listens on
	Name string
	cmd  *exec.Cmd
	log  *Log
	done chan struct{}
	err  error // from Wait, once done is closed
}

// StartNode starts bin with args (which should include -addr
// 127.0.0.1:0) and waits for the line that says where it listens.
func StartNode(ctx context.Context, bin, name string, args ...string) (*Node, error) {
	cmd := exec.Command(bin, append([]string{"-node", name}, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	n := &Node{Name: name, cmd: cmd, log: &Log{}, done: make(chan struct{})}
	cmd.Stderr = n.log
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if a, ok := strings.CutPrefix(line, "listening on http://"); ok {
				select {
				case addr <- a:
				default:
				}
			}
			fmt.Fprintln(n.log, line)
		}
		io.Copy(io.Discard, out)
		n.err = cmd.Wait()
		close(n.done)
	}()
	select {
	case n.Addr = <-addr:
	case <-n.done:
		return nil, fmt.Errorf("node %s exited: %v: %s", name, n.err, n.log.String())
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		return nil, fmt.Errorf("node %s: no address in 20s: %s", name, n.log.String())
	case <-ctx.Done():
		cmd.Process.Kill()
		return nil, ctx.Err()
	}
	return n, nil
}

// WS returns the node's WebSocket URL with query q (may be empty).
func (n *Node) WS(q string) string {
	u := "ws://" + n.Addr + "/ws"
	if q != "" {
		u += "?" + q
	}
	return u
}

// Pid returns the node's process id.
func (n *Node) Pid() int { return n.cmd.Process.Pid }

// Signal sends sig to the node.
func (n *Node) Signal(sig os.Signal) error { return n.cmd.Process.Signal(sig) }

// Wait waits up to d for the node to exit and returns its error (nil for
// exit status 0); it kills the node if it is still running after d.
func (n *Node) Wait(d time.Duration) error {
	select {
	case <-n.done:
		return n.err
	case <-time.After(d):
		n.cmd.Process.Kill()
		<-n.done
		return fmt.Errorf("node %s still running after %v: killed", n.Name, d)
	}
}

// Exited reports whether the node process has ended.
func (n *Node) Exited() bool {
	select {
	case <-n.done:
		return true
	default:
		return false
	}
}

// Stop ends the node: SIGTERM, then SIGKILL after 15 s.
func (n *Node) Stop() {
	if !n.Exited() {
		n.Signal(syscall.SIGTERM)
		n.Wait(15 * time.Second)
	}
}

// Log returns what the node printed.
func (n *Node) Log() string { return n.log.String() }

// Health fetches /healthz and returns its status code and body.
func (n *Node) Health(ctx context.Context) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+n.Addr+"/healthz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	return resp.StatusCode, b, err
}

// WaitHealth polls /healthz until it answers code, for up to d.
func (n *Node) WaitHealth(ctx context.Context, code int, d time.Duration) error {
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) && ctx.Err() == nil {
		c, b, err := n.Health(ctx)
		if err == nil && c == code {
			return nil
		}
		last = fmt.Sprintf("%d %s %v", c, bytes.TrimSpace(b), err)
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("node %s: /healthz not %d within %v (last: %s)", n.Name, code, d, last)
}

// Log is a goroutine-safe buffer that keeps the last 256 KiB written.
type Log struct {
	mu sync.Mutex
	b  []byte
}

func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	if over := len(l.b) - 256<<10; over > 0 {
		l.b = append(l.b[:0], l.b[over:]...)
	}
	return len(p), nil
}

func (l *Log) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}
