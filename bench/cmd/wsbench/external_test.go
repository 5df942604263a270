package main

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ccf874ba/websocket/bench/internal/wsb"
)

// testExternalEnv makes the test binary an external echo server (see
// TestMain): "TESTBINARY PORT" prints "ready ADDR" and serves gobwas-ll.
const testExternalEnv = "WSBENCH_TEST_EXTERNAL"

func TestMain(m *testing.M) {
	if os.Getenv(testExternalEnv) == "1" {
		ln, err := net.Listen("tcp", "127.0.0.1:"+os.Args[len(os.Args)-1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if _, err := wsb.StartServer("gobwas-ll", ln); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		fmt.Printf("some other line\nready %s\n", ln.Addr())
		time.Sleep(time.Minute) // bounded; the test stops it long before
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestParseExternal(t *testing.T) {
	for _, tc := range []struct {
		in, name, cmd string
		ok            bool
	}{
		{"uws=/tmp/x/uws-echo {port}", "uws", "/tmp/x/uws-echo {port}", true},
		{" engine = prog -a=b {port} ", "engine", "prog -a=b {port}", true},
		{"uws", "", "", false},
		{"=prog", "", "", false},
		{"uws=", "", "", false},
		{"a,b=prog", "", "", false},
	} {
		s, err := parseExternal(tc.in)
		if (err == nil) != tc.ok || s.name != tc.name || s.command != tc.cmd {
			t.Errorf("parseExternal(%q) = %+v, %v; want %q %q ok=%v", tc.in, s, err, tc.name, tc.cmd, tc.ok)
		}
	}
}

func TestReadyAddr(t *testing.T) {
	for _, tc := range []struct {
		line, want string
		ok         bool
	}{
		{"ready 127.0.0.1:4000", "127.0.0.1:4000", true},
		{"ready", "fallback:1", true},
		{"ready now", "fallback:1", true},
		{"listening on 127.0.0.1:4000", "", false},
		{"", "", false},
	} {
		a, ok := readyAddr(tc.line, "fallback:1")
		if a != tc.want || ok != tc.ok {
			t.Errorf("readyAddr(%q) = %q %v, want %q %v", tc.line, a, ok, tc.want, tc.ok)
		}
	}
}

func TestParseProc(t *testing.T) {
	// Field 2 with spaces and a parenthesis; utime 150, stime 25 ticks.
	stat := "4242 (uws echo) x) S 1 4242 4242 0 -1 4194560 300 0 0 0 150 25 0 0 20 0 1 0 100 1000 50"
	ns, err := parseStatCPU(stat, 100)
	if err != nil || ns != 1750*1e6 {
		t.Errorf("parseStatCPU = %d, %v; want 1.75 s", ns, err)
	}
	if _, err := parseStatCPU("4242 (x) S 1", 100); err == nil {
		t.Error("parseStatCPU accepted a short line")
	}
	rss, err := parseVmRSS("Name:\tuws-echo\nVmHWM:\t    9000 kB\nVmRSS:\t    4321 kB\nThreads:\t1\n")
	if err != nil || rss != 4321*1024 {
		t.Errorf("parseVmRSS = %d, %v", rss, err)
	}
	if _, err := parseVmRSS("Name:\tx\n"); err == nil {
		t.Error("parseVmRSS without VmRSS: no error")
	}
}

// TestProcCPU checks that the CPU clock of a process read from outside
// agrees with getrusage inside it (the Go children's figure).
func TestProcCPU(t *testing.T) {
	end := time.Now().Add(50 * time.Millisecond)
	for time.Now().Before(end) {
	}
	r0 := cpuNanos()
	p, err := procCPU(os.Getpid())
	r1 := cpuNanos()
	if err != nil {
		t.Fatal(err)
	}
	if p < r0-int64(5*time.Millisecond) || p > r1+int64(5*time.Millisecond) {
		t.Errorf("procCPU %v, getrusage %v..%v", time.Duration(p), time.Duration(r0), time.Duration(r1))
	}
	if rss, err := procRSS(os.Getpid()); err != nil || rss <= 0 {
		t.Errorf("procRSS = %d, %v", rss, err)
	}
}

// TestExternalServer runs the whole external path: start, ready line,
// echo cells measured from /proc, open connections counted, memory, stop.
func TestExternalServer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	spec, err := parseExternal("ext=env " + testExternalEnv + "=1 " + exe + " {port}")
	if err != nil {
		t.Fatal(err)
	}
	s, err := startExternal(spec)
	if err != nil {
		t.Fatal(err)
	}
	defer s.kill()
	if !strings.HasPrefix(s.Addr(), "127.0.0.1:") || s.goRuntime() {
		t.Fatalf("addr %q goRuntime %v", s.Addr(), s.goRuntime())
	}
	r := serverCell(s, 4, 1024, 20*time.Millisecond, 100*time.Millisecond)
	if r.err != nil {
		t.Fatal(r.err)
	}
	if r.msgs == 0 || r.cpuUs <= 0 || !r.noAlloc {
		t.Errorf("cell %+v", r)
	}
	cs, err := dialMany(3, 3, func() (*wsb.RawClient, error) { return wsb.DialRaw(s.Addr(), "/", 5*time.Second) })
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		c.SetPayload(16)
		if err := c.RoundTrip(); err != nil {
			t.Fatal(err)
		}
	}
	m, err := s.mem()
	if err != nil || m.active != 3 || m.rss <= 0 {
		t.Errorf("mem %+v, %v; want 3 open connections", m, err)
	}
	for _, c := range cs {
		c.Close()
	}
	if err := waitIdle(s, 5*time.Second); err != nil {
		t.Error(err)
	}
	s.stop()
	if s.alive() == nil {
		t.Error("still running after stop")
	}
	if _, err := s.stats(); err == nil {
		t.Error("stats of a stopped server: no error")
	}
}

func TestStartExternalFails(t *testing.T) {
	if _, err := startExternal(externalSpec{"bad", "false {port}"}); err == nil {
		t.Error("a command that exits at once started")
	}
}
