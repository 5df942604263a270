package websocket

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestEngineSoak holds many idle loopback connections on one Engine,
// reports the memory each costs the server, runs an echo under load on
// 10,000 of them (a smaller share in the small soak) checking that no
// message is lost, and shuts the engine down with 1001, checking that
// every connection gets it.
//
// The clients are this test binary run again as child processes
// (TestEngineSoakClient), so the memory measured is the server's alone,
// and each child holds at most what RLIMIT_NOFILE allows. They dial from
// several source addresses (127.0.0.2 and up, 25,000 each) so the
// ephemeral ports suffice. RLIMIT_NOFILE is raised as far as the process
// may: the server needs a descriptor per connection, so where the hard
// limit is lower than the soak (and the process may not raise it), the
// soak runs as many connections as fit and says so.
//
// The full soak, 100,000 idle connections and a 10,000-connection echo,
// runs with WEBSOCKET_SOAK=1 and without -short; otherwise 2,000 and 500.
func TestEngineSoak(t *testing.T) {
	idle, echoConns, rounds := 2000, 500, 20
	full := os.Getenv("WEBSOCKET_SOAK") == "1" && !testing.Short()
	if full {
		idle, echoConns, rounds = 100000, 10000, 20
	}
	limit, err := raiseFileLimitTo(uint64(idle + 500))
	if err != nil {
		t.Fatalf("RLIMIT_NOFILE: %v", err)
	}
	if fit := int(limit) - 500; fit < idle {
		t.Logf("RLIMIT_NOFILE is %d and may not be raised: %d connections instead of %d", limit, fit, idle)
		idle = fit
		echoConns = min(echoConns, idle)
	}
	closeTimeout := 20 * time.Second
	var opened, closed, went atomic.Int64
	e, err := NewEngine(&EngineOptions{
		OnOpen:    func(c *EngineConn, r *http.Request) { opened.Add(1) },
		OnMessage: engineEcho,
		OnClose: func(c *EngineConn, err error) {
			closed.Add(1)
			if CloseStatus(err) == StatusGoingAway {
				went.Add(1)
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() {
		served <- e.Serve(ln, &AcceptOptions{ConnOptions: ConnOptions{CloseTimeout: closeTimeout}})
	}()

	base := memNow()
	start := time.Now()
	// Each child holds a range of connections and echoes on the first
	// echoConns of them overall.
	per := int(limit) - 500
	var kids []*soakChild
	for lo := 0; lo < idle; lo += per {
		hi := min(lo+per, idle)
		k := startSoakChild(t, ln.Addr().String(), lo, hi, max(0, min(hi, echoConns)-lo), rounds)
		kids = append(kids, k)
	}
	total := 0
	for _, k := range kids {
		f := k.expect(t, "ready", 3*time.Minute)
		n, _ := strconv.Atoi(f[1])
		total += n
	}
	if total != idle {
		t.Fatalf("the clients hold %d connections, want %d", total, idle)
	}
	waitFor(t, func() bool { return e.Len() == idle })
	setup := time.Since(start)
	m := memNow()
	perConn := func(a, b uint64) float64 { return float64(int64(a)-int64(b)) / float64(idle) }
	t.Logf("%d idle connections (from %d client processes), set up in %v: per connection %.0f B of RSS, %.0f B of heap in use; %d goroutines",
		idle, len(kids), setup.Round(time.Millisecond), perConn(m.rss, base.rss), perConn(m.heap, base.heap), runtime.NumGoroutine())
	if full && perConn(m.rss, base.rss) > 2048 {
		t.Errorf("%.0f B of RSS per idle connection, beyond the 2 KiB bound", perConn(m.rss, base.rss))
	}

	t0 := time.Now()
	for _, k := range kids {
		fmt.Fprintln(k.stdin, "echo")
	}
	msgs, bad := 0, 0
	for _, k := range kids {
		f := k.expect(t, "echoed", 3*time.Minute)
		a, _ := strconv.Atoi(f[1])
		b, _ := strconv.Atoi(f[2])
		msgs, bad = msgs+a, bad+b
	}
	t.Logf("echo under load: %d connections × %d rounds: %d messages echoed in %v, %d lost or wrong",
		echoConns, rounds, msgs, time.Since(t0).Round(time.Millisecond), bad)
	if msgs != echoConns*rounds || bad != 0 {
		t.Errorf("echo: %d messages back, %d lost or wrong; want %d and 0", msgs, bad, echoConns*rounds)
	}

	for _, k := range kids {
		fmt.Fprintln(k.stdin, "shutdown")
	}
	t0 = time.Now()
	if err := e.Close(StatusGoingAway, "soak over"); err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, k := range kids {
		f := k.expect(t, "closed", time.Minute)
		n, _ := strconv.Atoi(f[1])
		got += n
	}
	t.Logf("Engine.Close of %d connections: %v", idle, time.Since(t0).Round(time.Millisecond))
	if got != idle {
		t.Errorf("%d connections got 1001, want %d", got, idle)
	}
	if closed.Load() != int64(idle) || went.Load() != int64(idle) || opened.Load() != int64(idle) {
		t.Errorf("opened %d, closed %d, %d of them with the peer's 1001; want %d", opened.Load(), closed.Load(), went.Load(), idle)
	}
	for _, k := range kids {
		k.stdin.Close()
		k.cmd.Wait()
	}
	if err := <-served; err != ErrEngineClosed {
		t.Errorf("Serve = %v", err)
	}
}

// soakChild is a client process of TestEngineSoak.
type soakChild struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines *bufio.Scanner
}

func startSoakChild(t *testing.T, addr string, lo, hi, echoConns, rounds int) *soakChild {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestEngineSoakClient$", "-test.v")
	cmd.Env = append(os.Environ(), "WEBSOCKET_SOAK_CHILD="+strings.Join([]string{
		addr, strconv.Itoa(lo), strconv.Itoa(hi), strconv.Itoa(echoConns), strconv.Itoa(rounds)}, ","))
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	return &soakChild{cmd: cmd, stdin: stdin, lines: bufio.NewScanner(stdout)}
}

// expect waits for the child's next line that starts with word.
func (k *soakChild) expect(t *testing.T, word string, timeout time.Duration) []string {
	t.Helper()
	got := make(chan []string, 1)
	go func() {
		for k.lines.Scan() {
			if f := strings.Fields(k.lines.Text()); len(f) > 0 && f[0] == word {
				got <- f
				return
			}
		}
		got <- nil
	}()
	select {
	case f := <-got:
		if f == nil {
			t.Fatalf("a client ended before %q", word)
		}
		return f
	case <-time.After(timeout):
		t.Fatalf("no %q from a client within %v", word, timeout)
	}
	return nil
}

// TestEngineSoakClient is the client of TestEngineSoak, run in a child
// process; it does nothing otherwise.
func TestEngineSoakClient(t *testing.T) {
	env := os.Getenv("WEBSOCKET_SOAK_CHILD")
	if env == "" {
		t.Skip("the client of TestEngineSoak")
	}
	f := strings.Split(env, ",")
	addr := f[0]
	lo, _ := strconv.Atoi(f[1])
	hi, _ := strconv.Atoi(f[2])
	echoConns, _ := strconv.Atoi(f[3])
	rounds, _ := strconv.Atoi(f[4])
	n := hi - lo
	if _, err := raiseFileLimitTo(uint64(n + 500)); err != nil {
		t.Fatal(err)
	}
	conns := make([]net.Conn, n)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				c, err := soakDial(addr, lo+i)
				if err != nil {
					failed.Store(fmt.Errorf("connection %d: %w", i, err))
					return
				}
				conns[i] = c
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		t.Fatal(err)
	}
	fmt.Println("ready", n)

	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "echo":
			t0 := time.Now()
			ok, bad := soakEcho(conns[:echoConns], rounds)
			fmt.Println("echoed", ok, bad, time.Since(t0).Round(time.Millisecond))
		case "shutdown":
			fmt.Println("closed", soakClose(conns))
			return
		}
	}
}

// soakDial connects from 127.0.0.(2 + i/25000) and does the handshake,
// then one echo of 16 bytes.
func soakDial(addr string, i int) (net.Conn, error) {
	d := net.Dialer{Timeout: 10 * time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i/25000))},
		Control: func(_, _ string, rc syscall.RawConn) error {
			// Pick the port at connect time, per destination, instead of
			// bind() searching for one free on the source address.
			return rc.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.IPPROTO_IP, ipBindAddressNoPort, 1) })
		}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	msg := soakFrame(opBinary, []byte("0123456789abcdef"))
	if _, err := c.Write(append([]byte(req), msg...)); err != nil {
		return nil, err
	}
	// The 101 response is 129 bytes; read up to its end, then the echo.
	var buf [512]byte
	got := 0
	for !bytes.Contains(buf[:got], []byte("\r\n\r\n")) {
		k, err := c.Read(buf[got:])
		if err != nil {
			return nil, err
		}
		got += k
	}
	if !bytes.HasPrefix(buf[:got], []byte("HTTP/1.1 101 ")) {
		return nil, fmt.Errorf("handshake: %q", buf[:got])
	}
	rest := got - (bytes.Index(buf[:got], []byte("\r\n\r\n")) + 4)
	if _, err := io.ReadFull(c, buf[got:got+18-rest]); err != nil {
		return nil, err
	}
	c.SetDeadline(time.Time{})
	return c, nil
}

func soakFrame(op opcode, p []byte) []byte {
	b := appendHeader(nil, header{fin: true, op: op, masked: true, key: 0x01020304, length: int64(len(p))})
	n := len(b)
	b = append(b, p...)
	mask(b[n:], 0x01020304)
	return b
}

// soakEcho sends rounds numbered messages on every connection and checks
// every echo, from 16 goroutines each owning a share of the connections
// (all of its connections written, then all read, every round).
func soakEcho(conns []net.Conn, rounds int) (ok, bad int64) {
	var okN, badN atomic.Int64
	var wg sync.WaitGroup
	const workers = 16
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var payload [64]byte
			echo := make([]byte, 2+len(payload))
			for r := range rounds {
				for i := w; i < len(conns); i += workers {
					binary.BigEndian.PutUint32(payload[:], uint32(i))
					binary.BigEndian.PutUint32(payload[4:], uint32(r))
					if _, err := conns[i].Write(soakFrame(opBinary, payload[:])); err != nil {
						badN.Add(1)
					}
				}
				for i := w; i < len(conns); i += workers {
					conns[i].SetReadDeadline(time.Now().Add(30 * time.Second))
					if _, err := io.ReadFull(conns[i], echo); err != nil ||
						binary.BigEndian.Uint32(echo[2:]) != uint32(i) || binary.BigEndian.Uint32(echo[6:]) != uint32(r) {
						badN.Add(1)
						continue
					}
					okN.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return okN.Load(), badN.Load()
}

// soakClose reads the server's close frame on every connection, answers
// it and closes; it returns how many said 1001.
func soakClose(conns []net.Conn) int64 {
	var n atomic.Int64
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf [256]byte
			for {
				i := int(next.Add(1)) - 1
				if i >= len(conns) {
					return
				}
				c := conns[i]
				c.SetReadDeadline(time.Now().Add(30 * time.Second))
				if _, err := io.ReadFull(c, buf[:4]); err == nil && buf[0] == 0x88 &&
					StatusCode(binary.BigEndian.Uint16(buf[2:4])) == StatusGoingAway {
					n.Add(1)
					c.Write(soakFrame(opClose, buf[2:4]))
				}
				c.Close()
			}
		}()
	}
	wg.Wait()
	return n.Load()
}

const ipBindAddressNoPort = 24 // IP_BIND_ADDRESS_NO_PORT, linux/in.h

type memFigures struct{ rss, heap uint64 }

// memNow returns the RSS and the heap in use after a full collection
// with the freed memory given back to the system.
func memNow() memFigures {
	runtime.GC()
	debug.FreeOSMemory()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memFigures{rss: rssBytes(), heap: ms.HeapInuse}
}

func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// raiseFileLimitTo raises RLIMIT_NOFILE towards n: the hard limit too
// when the process may (CAP_SYS_RESOURCE), else the soft limit to the
// hard one. It returns the soft limit in force.
func raiseFileLimitTo(n uint64) (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	if rl.Cur >= n {
		return rl.Cur, nil
	}
	want := rl
	want.Cur, want.Max = n, max(n, rl.Max)
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
		return n, nil
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Cur, nil
}
