//go:build !js

package websocket

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// leakGrace is how long TestMain waits, after the tests, for the number of
// goroutines to come back to what it was before them. Connections that
// failed drain for at most their close timeout (2 s in the tests).
const leakGrace = 5 * time.Second

// TestMain fails the run when goroutines outlive the tests: every reader,
// writer, AfterFunc and server goroutine the tests start must have ended a
// few seconds after the last test. It prints the stacks of those left.
func TestMain(m *testing.M) {
	base := runtime.NumGoroutine()
	code := m.Run()
	if code != 0 || fuzzing() {
		// After a failure goroutines may well be stuck; the failure is
		// what to look at. A fuzzing run's workers are not tests.
		os.Exit(code)
	}
	if leaked := waitGoroutines(base, leakGrace); leaked != "" {
		fmt.Fprintf(os.Stderr, "goroutine leak: %d goroutines before the tests, %d still running %v after them:\n\n%s\n",
			base, runtime.NumGoroutine(), leakGrace, leaked)
		os.Exit(1)
	}
	os.Exit(code)
}

func fuzzing() bool {
	f := flag.Lookup("test.fuzz")
	w := flag.Lookup("test.fuzzworker")
	return (f != nil && f.Value.String() != "") || (w != nil && w.Value.String() == "true")
}

// waitGoroutines waits up to grace for the number of goroutines to fall to
// base. It returns "" if it does, and otherwise the stacks of the
// goroutines other than the caller's, less those the standard library
// starts once and keeps for good.
func waitGoroutines(base int, grace time.Duration) string {
	deadline := time.Now().Add(grace)
	for {
		if runtime.NumGoroutine() <= base {
			return ""
		}
		stacks := otherGoroutines()
		if len(stacks) == 0 || time.Now().After(deadline) {
			if len(stacks) == 0 {
				return ""
			}
			return strings.Join(stacks, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// permanentGoroutines are started lazily by the runtime or the standard
// library and live until the process exits; they are not leaks.
var permanentGoroutines = []string{
	"os/signal.signal_recv",
	"os/signal.loop",
	"runtime.ensureSigM",
	"testing.(*M).startAlarm",
	"testing.runFuzzing",
	"internal/fuzz.",
}

// otherGoroutines returns the stacks of every goroutine but the calling
// one and the permanent ones.
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
		if i == 0 { // the caller comes first
			continue
		}
		s := string(g)
		permanent := false
		for _, p := range permanentGoroutines {
			if strings.Contains(s, p) {
				permanent = true
				break
			}
		}
		if !permanent && strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}
