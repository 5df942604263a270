package h2

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// leakGrace is how long TestMain waits after the tests for the goroutines
// they started to end.
const leakGrace = 5 * time.Second

// TestMain runs the tests with GODEBUG=http2xconnect=1, which net/http
// reads once at initialisation: without it net/http's server resets every
// extended CONNECT. It re-executes the test binary with the setting added
// when it is missing. After the tests it fails the run if goroutines
// (read loops, writers, server streams, servers) outlive them.
func TestMain(m *testing.M) {
	if !ExtendedConnectEnabled() {
		os.Exit(reexecWithExtendedConnect())
	}
	base := runtime.NumGoroutine()
	code := m.Run()
	if code != 0 || fuzzing() {
		os.Exit(code)
	}
	if leaked := waitGoroutines(base, leakGrace); leaked != "" {
		fmt.Fprintf(os.Stderr, "goroutine leak: %d goroutines before the tests, %d still running %v after them:\n\n%s\n",
			base, runtime.NumGoroutine(), leakGrace, leaked)
		os.Exit(1)
	}
	os.Exit(code)
}

// reexecWithExtendedConnect runs this test binary again with the setting
// and returns its exit code.
func reexecWithExtendedConnect() int {
	godebug := "http2xconnect=1"
	if g := os.Getenv("GODEBUG"); g != "" {
		godebug = g + "," + godebug
	}
	cmd := exec.Command(os.Args[0], os.Args[1:]...)
	cmd.Env = append(os.Environ(), "GODEBUG="+godebug)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "re-executing the tests with GODEBUG=http2xconnect=1:", err)
		return 1
	}
	return 0
}

func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	w := flag.Lookup("test.fuzzworker")
	return (f != nil && f.Value.String() != "") || (w != nil && w.Value.String() == "true")
}

// waitGoroutines waits up to grace for the goroutines to fall back to
// base, and otherwise returns the stacks of those left.
func waitGoroutines(base int, grace time.Duration) string {
	deadline := time.Now().Add(grace)
	for {
		if runtime.NumGoroutine() <= base {
			return ""
		}
		stacks := otherGoroutines()
		if len(stacks) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(stacks, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// permanentGoroutines are started once by the runtime or the standard
// library and live until the process exits.
var permanentGoroutines = []string{
	"os/signal.signal_recv", "os/signal.loop", "runtime.ensureSigM",
	"testing.(*M).startAlarm", "testing.runFuzzing", "internal/fuzz.",
}

func otherGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range bytes.Split(buf, []byte("\n\n")) {
		s := string(g)
		if i == 0 || strings.TrimSpace(s) == "" {
			continue
		}
		permanent := false
		for _, p := range permanentGoroutines {
			permanent = permanent || strings.Contains(s, p)
		}
		if !permanent {
			out = append(out, s)
		}
	}
	return out
}

// TestReexecSetsExtendedConnect checks what every other test relies on.
func TestReexecSetsExtendedConnect(t *testing.T) {
	if !ExtendedConnectEnabled() {
		t.Fatal("tests run without GODEBUG=http2xconnect=1")
	}
}
