package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ccf874ba/websocket/bench/internal/wsb"
)

// The parent talks to each child over its stdin and stdout, one command
// line and one answer line at a time. Servers and library clients run in
// children so that their MemStats, CPU time and RSS are theirs alone.

// raiseNofile raises the soft limit on open files to the hard limit.
func raiseNofile() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	if rl.Cur < rl.Max {
		rl.Cur = rl.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
		syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl)
	}
	return rl.Cur
}

func cpuNanos() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

// rssBytes reads VmRSS from /proc/self/status.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return -1
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("VmRSS:")); ok {
			f := strings.Fields(string(v))
			if len(f) >= 1 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return -1
}

// childServer runs one library's echo server and answers the parent.
func childServer(lib string) error {
	raiseNofile()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	var srv wsb.Server
	if mode := os.Getenv(deflateEnv); mode != "" {
		// The compress part: the library's server with permessage-deflate.
		srv, err = wsb.StartDeflateServer(lib, mode == "takeover", ln)
	} else {
		srv, err = wsb.StartServer(lib, ln)
	}
	if err != nil {
		return err
	}
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "ready %s\n", ln.Addr())
	out.Flush()
	sc := bufio.NewScanner(os.Stdin)
	var ms, bm0 runtime.MemStats
	var prof *os.File
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "stats":
			runtime.ReadMemStats(&ms)
			fmt.Fprintf(out, "%d %d %d %d\n", ms.Mallocs, ms.TotalAlloc, cpuNanos(), srv.Active())
		case "mem":
			runtime.GC()
			debug.FreeOSMemory()
			runtime.ReadMemStats(&ms)
			fmt.Fprintf(out, "%d %d %d %d %d %d\n", ms.HeapAlloc, ms.HeapInuse, ms.StackInuse, rssBytes(), runtime.NumGoroutine(), srv.Active())
		case "bcast":
			prepared := f[1] == "1"
			size, _ := strconv.Atoi(f[2])
			p := make([]byte, size)
			for i := range p {
				p[i] = byte(i*7 + 1)
			}
			runtime.ReadMemStats(&bm0)
			t := time.Now()
			n, err := srv.Broadcast(p, prepared)
			d := time.Since(t)
			es := "-"
			if err != nil {
				es = strings.ReplaceAll(err.Error(), " ", "_")
			}
			fmt.Fprintf(out, "%d %d %s\n", n, d.Nanoseconds(), es)
		case "bcastdone":
			runtime.ReadMemStats(&ms)
			fmt.Fprintf(out, "%d %d\n", ms.Mallocs-bm0.Mallocs, ms.TotalAlloc-bm0.TotalAlloc)
		case "canprepare":
			fmt.Fprintf(out, "%v\n", srv.CanPrepare())
		case "cpuprofile":
			prof, err = os.Create(f[1])
			if err == nil {
				err = pprof.StartCPUProfile(prof)
			}
			fmt.Fprintf(out, "%v\n", err)
		case "cpuprofile-stop":
			pprof.StopCPUProfile()
			if prof != nil {
				prof.Close()
			}
			fmt.Fprintf(out, "ok\n")
		case "quit":
			return nil
		default:
			fmt.Fprintf(out, "unknown\n")
		}
		out.Flush()
	}
	return nil
}

// childClient runs one library's load client on command.
//
//	run ADDR CONNS SIZE WARMUP_NS DUR_NS
//	-> ok MSGS ELAPSED_NS MALLOCS BYTES CPU_NS | err TEXT
func childClient(lib string) error {
	raiseNofile()
	out := bufio.NewWriter(os.Stdout)
	fmt.Fprintf(out, "ready -\n")
	out.Flush()
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 {
			continue
		}
		switch f[0] {
		case "run":
			addr := f[1]
			conns, _ := strconv.Atoi(f[2])
			size, _ := strconv.Atoi(f[3])
			warm, _ := strconv.ParseInt(f[4], 10, 64)
			dur, _ := strconv.ParseInt(f[5], 10, 64)
			r, err := clientCell(lib, addr, conns, size, time.Duration(warm), time.Duration(dur))
			if err != nil {
				fmt.Fprintf(out, "err %s\n", strings.ReplaceAll(err.Error(), "\n", " "))
			} else {
				fmt.Fprintf(out, "ok %d %d %d %d %d\n", r.msgs, r.elapsed, r.mallocs, r.bytes, r.cpu)
			}
		case "quit":
			return nil
		}
		out.Flush()
	}
	return nil
}

type windowResult struct {
	msgs, elapsed, mallocs, bytes, cpu int64
}

// paddedCounter keeps each connection's counter on its own cache line.
type paddedCounter struct {
	n atomic.Int64
	_ [56]byte
}

// waitEvery waits until every counter has reached n or timeout has passed,
// so that the first messages of a connection, which grow its buffers, fall
// in the warm-up and not in the measured window.
func waitEvery(cs []paddedCounter, n int64, timeout time.Duration) {
	end := time.Now().Add(timeout)
	for i := range cs {
		for cs[i].n.Load() < n && time.Now().Before(end) {
			time.Sleep(time.Millisecond)
		}
	}
}

func sumCounters(cs []paddedCounter) int64 {
	var s int64
	for i := range cs {
		s += cs[i].n.Load()
	}
	return s
}

func clientCell(lib, addr string, conns, size int, warm, dur time.Duration) (windowResult, error) {
	var r windowResult
	cs, dialErr := dialMany(conns, 32, func() (wsb.Client, error) { return wsb.DialClient(lib, addr) })
	defer func() {
		for _, c := range cs {
			c.Close()
		}
	}()
	if dialErr != nil {
		return r, dialErr
	}
	payload := make([]byte, size)
	for i := range payload {
		payload[i] = byte(i*13 + 5)
	}
	counters := make([]paddedCounter, conns)
	var stop atomic.Bool
	errc := make(chan error, conns)
	for i, c := range cs {
		go func() { errc <- c.Run(payload, &stop, &counters[i].n) }()
	}
	var m0, m1 runtime.MemStats
	waitEvery(counters, 2, 5*time.Second)
	time.Sleep(warm)
	c0 := sumCounters(counters)
	runtime.ReadMemStats(&m0)
	cpu0 := cpuNanos()
	t0 := time.Now()
	time.Sleep(dur)
	runtime.ReadMemStats(&m1)
	cpu1 := cpuNanos()
	t1 := time.Now()
	c1 := sumCounters(counters)
	stop.Store(true)
	timeout := time.After(10 * time.Second)
	var firstErr error
	for range cs {
		select {
		case err := <-errc:
			if err != nil && firstErr == nil {
				firstErr = err
			}
		case <-timeout:
			return r, fmt.Errorf("%s client: loops did not stop", lib)
		}
	}
	if firstErr != nil {
		return r, firstErr
	}
	r = windowResult{
		msgs:    c1 - c0,
		elapsed: t1.Sub(t0).Nanoseconds(),
		mallocs: int64(m1.Mallocs - m0.Mallocs),
		bytes:   int64(m1.TotalAlloc - m0.TotalAlloc),
		cpu:     cpu1 - cpu0,
	}
	return r, nil
}

// ---- parent side ----

// child is a running child process.
type child struct {
	role, lib string
	cmd       *exec.Cmd
	in        io.WriteCloser
	out       *bufio.Scanner
	addr      string
}

func startChild(role, lib string, extraEnv ...string) (*child, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, role, lib)
	cmd.Stderr = os.Stderr
	cmd.Env = append(os.Environ(), extraEnv...)
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	outp, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	ch := &child{role: role, lib: lib, cmd: cmd, in: in, out: bufio.NewScanner(outp)}
	ch.out.Buffer(make([]byte, 64<<10), 1<<20)
	if !ch.out.Scan() {
		ch.kill()
		return nil, fmt.Errorf("%s %s: child did not start", role, lib)
	}
	f := strings.Fields(ch.out.Text())
	if len(f) != 2 || f[0] != "ready" {
		ch.kill()
		return nil, fmt.Errorf("%s %s: child said %q", role, lib, ch.out.Text())
	}
	ch.addr = f[1]
	return ch, nil
}

// call sends one command and returns the fields of the answer.
func (ch *child) call(format string, args ...any) ([]string, error) {
	if _, err := fmt.Fprintf(ch.in, format+"\n", args...); err != nil {
		return nil, fmt.Errorf("%s %s: %w", ch.role, ch.lib, err)
	}
	if !ch.out.Scan() {
		return nil, fmt.Errorf("%s %s: child exited", ch.role, ch.lib)
	}
	return strings.Fields(ch.out.Text()), nil
}

func (ch *child) ints(format string, args ...any) ([]int64, error) {
	f, err := ch.call(format, args...)
	if err != nil {
		return nil, err
	}
	v := make([]int64, len(f))
	for i, s := range f {
		v[i], err = strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s %s: bad answer %q", ch.role, ch.lib, f)
		}
	}
	return v, nil
}

type serverStats struct{ mallocs, bytes, cpu, active int64 }

func (ch *child) stats() (serverStats, error) {
	v, err := ch.ints("stats")
	if err != nil || len(v) != 4 {
		return serverStats{}, fmt.Errorf("stats: %v %v", v, err)
	}
	return serverStats{v[0], v[1], v[2], v[3]}, nil
}

// echoServer is a running echo server that the parent measures: a child
// of this binary (child, role child-server) or an external program
// (extServer, see external.go).
type echoServer interface {
	Lib() string
	Addr() string
	// stats returns allocation counters (-1 when goRuntime is false), CPU
	// time and open connections.
	stats() (serverStats, error)
	// mem returns memory figures; only rss and active when goRuntime is
	// false.
	mem() (memSnap, error)
	// goRuntime reports whether the server is a Go child that reports
	// MemStats (allocations, heap, stacks, goroutines).
	goRuntime() bool
	stop()
	kill()
}

func (ch *child) Lib() string     { return ch.lib }
func (ch *child) Addr() string    { return ch.addr }
func (ch *child) goRuntime() bool { return true }

// startServer starts the echo server lib: an external program if
// -external named it, else a child-server of this binary.
func startServer(o *options, lib string, extraEnv ...string) (echoServer, error) {
	if spec, ok := o.externals[lib]; ok {
		s, err := startExternal(spec)
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	ch, err := startChild("child-server", lib, extraEnv...)
	if err != nil {
		return nil, err
	}
	return ch, nil
}

// waitIdle waits until the server has no open connections.
func waitIdle(s echoServer, timeout time.Duration) error {
	end := time.Now().Add(timeout)
	for {
		st, err := s.stats()
		if err != nil {
			return err
		}
		if st.active == 0 {
			return nil
		}
		if time.Now().After(end) {
			return fmt.Errorf("%s: %d connections still open after %v", s.Lib(), st.active, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (ch *child) stop() {
	fmt.Fprintf(ch.in, "quit\n")
	ch.in.Close()
	done := make(chan struct{})
	go func() { ch.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		ch.kill()
	}
}

func (ch *child) kill() {
	ch.cmd.Process.Kill()
	ch.cmd.Wait()
}
