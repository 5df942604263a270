package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// External servers: echo servers that are programs of their own (not this
// binary's child-server), e.g. the uWebSockets echo of bench/uws. wsbench
// starts each with `sh -c 'exec COMMAND'` ({port} in COMMAND replaced by a
// free loopback port), waits for a line starting with "ready" on its
// stdout, and measures it from outside, through /proc: CPU time (the same
// user+sys total as the Go children's getrusage), RSS, and open
// connections (socket descriptors). Allocations, heap, stacks and
// goroutines exist only for Go children; the tables show "–" for externals.

// externalSpec is one -external flag: NAME=COMMAND.
type externalSpec struct {
	name, command string
}

// parseExternal parses NAME=COMMAND.
func parseExternal(s string) (externalSpec, error) {
	name, cmd, ok := strings.Cut(s, "=")
	name, cmd = strings.TrimSpace(name), strings.TrimSpace(cmd)
	if !ok || name == "" || cmd == "" {
		return externalSpec{}, fmt.Errorf("want NAME=COMMAND, got %q", s)
	}
	if strings.ContainsAny(name, ", \t") {
		return externalSpec{}, fmt.Errorf("server name %q must not contain commas or spaces", name)
	}
	return externalSpec{name, cmd}, nil
}

// readyAddr reads the address from a ready line: "ready" alone (then the
// server listens on fallback), or "ready HOST:PORT".
func readyAddr(line, fallback string) (string, bool) {
	f := strings.Fields(line)
	if len(f) == 0 || f[0] != "ready" {
		return "", false
	}
	if len(f) >= 2 {
		if _, _, err := net.SplitHostPort(f[1]); err == nil {
			return f[1], true
		}
	}
	return fallback, true
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// extServer is a running external server.
type extServer struct {
	lib, addr  string
	cmd        *exec.Cmd
	pid        int
	baseSocks  int64 // socket descriptors when ready (the listener)
	exited     chan struct{}
	waitErr    error
	stdoutDone chan struct{}
}

const extReadyTimeout = 10 * time.Second

func startExternal(spec externalSpec) (*extServer, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	command := strings.ReplaceAll(spec.command, "{port}", strconv.Itoa(port))
	cmd := exec.Command("/bin/sh", "-c", "exec "+command)
	cmd.Stderr = os.Stderr
	// Its own process group, so that kill reaches anything it starts; and
	// killed if wsbench dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("external %s: %w", spec.name, err)
	}
	s := &extServer{lib: spec.name, cmd: cmd, pid: cmd.Process.Pid, exited: make(chan struct{}), stdoutDone: make(chan struct{})}
	ready := make(chan string, 1)
	go func() {
		defer close(s.stdoutDone)
		sc := bufio.NewScanner(outp)
		got := false
		for sc.Scan() {
			if a, ok := readyAddr(sc.Text(), "127.0.0.1:"+strconv.Itoa(port)); ok && !got {
				got = true
				ready <- a
				continue
			}
			fmt.Fprintf(os.Stderr, "%s: %s\n", spec.name, sc.Text())
		}
	}()
	go func() {
		<-s.stdoutDone
		s.waitErr = cmd.Wait()
		close(s.exited)
	}()
	select {
	case s.addr = <-ready:
	case <-s.exited:
		return nil, fmt.Errorf("external %s: exited before ready: %v", spec.name, s.waitErr)
	case <-time.After(extReadyTimeout):
		s.kill()
		return nil, fmt.Errorf("external %s: no ready line within %v", spec.name, extReadyTimeout)
	}
	if s.baseSocks, err = procSockets(s.pid); err != nil {
		s.kill()
		return nil, fmt.Errorf("external %s: %w", spec.name, err)
	}
	return s, nil
}

func (s *extServer) Lib() string     { return s.lib }
func (s *extServer) Addr() string    { return s.addr }
func (s *extServer) goRuntime() bool { return false }

func (s *extServer) alive() error {
	select {
	case <-s.exited:
		return fmt.Errorf("external %s exited: %v", s.lib, s.waitErr)
	default:
		return nil
	}
}

func (s *extServer) stats() (serverStats, error) {
	if err := s.alive(); err != nil {
		return serverStats{}, err
	}
	cpu, err := procCPU(s.pid)
	if err != nil {
		return serverStats{}, err
	}
	n, err := procSockets(s.pid)
	if err != nil {
		return serverStats{}, err
	}
	return serverStats{mallocs: -1, bytes: -1, cpu: cpu, active: n - s.baseSocks}, nil
}

func (s *extServer) mem() (memSnap, error) {
	if err := s.alive(); err != nil {
		return memSnap{}, err
	}
	rss, err := procRSS(s.pid)
	if err != nil {
		return memSnap{}, err
	}
	n, err := procSockets(s.pid)
	if err != nil {
		return memSnap{}, err
	}
	return memSnap{rss: rss, active: n - s.baseSocks}, nil
}

// stop sends SIGTERM to the process group and waits; SIGKILL after 3 s.
// Once the process has been waited for, its id may be another process's:
// then neither stop nor kill signals anything.
func (s *extServer) stop() {
	if s.alive() != nil {
		return
	}
	syscall.Kill(-s.pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(3 * time.Second):
		s.kill()
	}
}

func (s *extServer) kill() {
	if s.alive() != nil {
		return
	}
	syscall.Kill(-s.pid, syscall.SIGKILL)
	select {
	case <-s.exited:
	case <-time.After(3 * time.Second):
	}
}

// ---- /proc readers ----

// procCPU returns the CPU time (user+sys, ns) of process pid, all its
// threads, through the process's CPU-time clock (clock_gettime on
// MAKE_PROCESS_CPUCLOCK(pid, CPUCLOCK_SCHED)): the same sum the kernel
// reports to getrusage, at nanosecond resolution and up to date for a
// thread that is running. Falls back to /proc/PID/stat (clock ticks).
func procCPU(pid int) (int64, error) {
	clk := (^int32(pid))<<3 | 2
	var ts syscall.Timespec
	_, _, e := syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(int(clk)), uintptr(unsafe.Pointer(&ts)), 0)
	if e == 0 {
		return ts.Nano(), nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	return parseStatCPU(string(b), 100)
}

// parseStatCPU returns utime+stime of a /proc/PID/stat line in ns, given
// the clock ticks per second.
func parseStatCPU(stat string, hz int64) (int64, error) {
	// The command name (field 2) is in parentheses and may hold spaces.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no ')'")
	}
	f := strings.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, errors.New("stat: too few fields")
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("stat: bad utime/stime %q %q", f[11], f[12])
	}
	return (ut + st) * (1e9 / hz), nil
}

// procRSS returns VmRSS of process pid in bytes.
func procRSS(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	return parseVmRSS(string(b))
}

func parseVmRSS(status string) (int64, error) {
	for _, line := range strings.Split(status, "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(v)
			if len(f) >= 1 {
				n, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return 0, err
				}
				return n * 1024, nil
			}
		}
	}
	return 0, errors.New("status: no VmRSS")
}

// procSockets counts the socket descriptors of process pid.
func procSockets(pid int) (int64, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	ents, err := os.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	var n int64
	for _, e := range ents {
		if t, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasPrefix(t, "socket:") {
			n++
		}
	}
	return n, nil
}
