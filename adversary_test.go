//go:build !js

package websocket_test

// The randomised adversarial test: FuzzConnInterleavings, and
// TestConnInterleavings, which runs a fixed set of its inputs inside a plain
// `go test`. One input (a PRNG seed and a shape byte) chooses a whole run:
//
//   - a Conn from Accept (against a client strict peer, which masks) or from
//     Dial (against a server strict peer), over loopback TCP with real
//     deadlines, with 4 KiB socket buffers on both ends or the defaults,
//     with or without permessage-deflate (the peer compressing with context
//     takeover or without);
//   - the peer's script: messages of 0 to 200 KiB, text (valid UTF-8) or
//     binary, compressed or not, cut into random frames (empty ones too),
//     with pings between the fragments, pauses between frames and inside
//     them; and, on its own goroutine, stretches where the peer reads
//     slowly or not at all;
//   - the application's goroutines: one reading (Read, ReadAppend, Reader
//     read whole or abandoned part-way) and one to three writing (Write,
//     WritePrepared, Writer with several Writes and a Close, Ping, and
//     writes on a Writer kept after its Close), each call with a context
//     that is already done, is cancelled at a random moment, has a short
//     deadline, is Background, or is one long-lived context shared by the
//     whole run; in chaos runs also Close (now and then with a code or
//     reason that may not be sent) and CloseNow at a random moment;
//   - and around the Conn: two Groups it must leave when it ends, a
//     keepalive in a third of the runs that must never drop the peer, and,
//     once the run is over, a check that the closed Conn is garbage
//     collected while the long-lived context lives on.
//
// Survival runs give writes only contexts that are done before the call or
// never end, so nothing may end the Conn before the final Close; chaos runs
// let contexts cut writes mid-frame and close the Conn at random, and check
// only what still holds. adversary_model_test.go records the calls and
// checks them against what the peer saw; the strict peer checks the wire.
// Every wait is bounded: a run that hangs fails with the stacks of the
// package's goroutines.
//
// Run more seeds with
//
//	go test -race -run TestConnInterleavings -interleavings=200 .
//
// and fuzz with
//
//	go test -race -run XXX -fuzz FuzzConnInterleavings -fuzztime 5m .
//
// (A run depends on timing as well as on its input, so a failing input may
// need a few tries to fail again: go test -run 'FuzzConnInterleavings/<name>' -count 20.)

import (
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
	"weak"

	"github.com/ccf874ba/websocket"
)

var (
	ilRunsFlag = flag.Int("interleavings", 0, "number of inputs TestConnInterleavings runs (0: its fixed set of 24)")
	ilCalmFlag = flag.Bool("interleavings-calm", false, "adversarial test: give every call a context that never ends (Ping one of 500ms) "+
		"and make no stale Writer writes: a check of the harness itself (main today fails it only for the two-Group bug and the Reader-vs-Close race)")
)

// ilConfig is what one input of the adversarial test chooses.
type ilConfig struct {
	Seed     uint64
	Shape    uint8
	Client   bool // the Conn is a client (Dial); otherwise a server (Accept)
	Deflate  int  // 0 none; 1 permessage-deflate, the peer keeps its context; 2 no context takeover
	Chaos    bool // writes may be cut mid-frame and the Conn closed at random; otherwise a survival run
	SmallBuf bool // 4 KiB socket buffers on both ends
}

// ilConfigFrom decodes an input: the shape picks the role, compression,
// mode and socket buffers (shapes 0 to 23 cover every combination); the
// seed everything else.
func ilConfigFrom(seed uint64, shape uint8) ilConfig {
	s := int(shape)
	return ilConfig{
		Seed: seed, Shape: shape,
		Client:   s%2 == 1,
		Deflate:  s / 2 % 3,
		Chaos:    s/6%2 == 1,
		SmallBuf: s/12%2 == 0,
	}
}

func (c ilConfig) String() string {
	role := "server"
	if c.Client {
		role = "client"
	}
	mode := "survival"
	if c.Chaos {
		mode = "chaos"
	}
	comp := [...]string{"plain", "deflate-takeover", "deflate-nocontext"}[c.Deflate]
	buf := "defaultbuf"
	if c.SmallBuf {
		buf = "4KiB"
	}
	return fmt.Sprintf("%s-%s-%s-%s-seed%d-shape%d", role, comp, mode, buf, c.Seed, c.Shape)
}

// TestConnInterleavings runs a fixed set of inputs of the adversarial test
// (see the file comment), every combination of role, compression, mode and
// buffers, each with its own seed.
func TestConnInterleavings(t *testing.T) {
	n := 24
	if *ilRunsFlag > 0 {
		n = *ilRunsFlag
	}
	for i := range n {
		cfg := ilConfigFrom(uint64(i+1)*0x9E3779B97F4A7C15, uint8(i%24))
		t.Run(cfg.String(), func(t *testing.T) {
			t.Parallel()
			ilRunAndCollect(t, cfg)
		})
	}
}

// FuzzConnInterleavings is the adversarial test as a fuzz target: the input
// seeds the PRNG and picks the shape of the run.
func FuzzConnInterleavings(f *testing.F) {
	// A few seeds only: plain go test runs them too, and
	// TestConnInterleavings already covers every shape.
	for _, shape := range []uint8{3, 10, 17} {
		f.Add(uint64(shape)*0xBF58476D1CE4E5B9+7, shape)
	}
	f.Fuzz(func(t *testing.T, seed uint64, shape uint8) {
		ilRunAndCollect(t, ilConfigFrom(seed, shape))
		if !t.Failed() {
			ilWantNoPackageGoroutines(t, 3*time.Second)
		}
	})
}

// ilPackageGoroutines returns the stacks of the goroutines running the
// package's code.
func ilPackageGoroutines() string {
	var out []string
	for _, g := range strings.Split(allStacks(), "\n\n") {
		if strings.Contains(g, "github.com/ccf874ba/websocket.") && !strings.Contains(g, "websocket.TestMain") && !strings.Contains(g, "allStacks") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// ilWantNoPackageGoroutines fails the test if goroutines running the
// package's code are left once a run is over (fuzzing skips the leak check
// of TestMain, so each input checks its own).
func ilWantNoPackageGoroutines(t *testing.T, grace time.Duration) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(grace); ; time.Sleep(20 * time.Millisecond) {
		left = left[:0]
		for _, g := range strings.Split(allStacks(), "\n\n") {
			if strings.Contains(g, "github.com/ccf874ba/websocket.") && !strings.Contains(g, "ilWantNoPackageGoroutines") &&
				!strings.Contains(g, "websocket.TestMain") {
				left = append(left, g)
			}
		}
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		t.Errorf("%d goroutines running the package's code outlived the run by %v:\n%s", len(left), grace, strings.Join(left, "\n\n"))
	}
}

// ilPeerItem is one step of the peer's script.
type ilPeerItem struct {
	Pause time.Duration // before the step
	Ping  []byte        // a ping, or
	Type  websocket.MessageType
	Data  []byte
	Send  peerSend
}

// ilRun is one run of the adversarial test. Calls of the kind ilLongLived
// use longLived, which the caller keeps alive (and not cancelled) while it
// checks that the Conn, returned as a weak pointer, can be collected. The
// pointer is zero if the run hung.
func ilRun(t *testing.T, cfg ilConfig, longLived context.Context) weak.Pointer[websocket.Conn] {
	r := rand.New(rand.NewPCG(cfg.Seed, 1))
	o := pairOptions{CloseTimeout: time.Second}
	if cfg.SmallBuf {
		o.SocketBuffer, o.Peer.SocketBuffer = 4096, 4096
	}
	if cfg.Deflate > 0 {
		o.Compression = &websocket.CompressionOptions{Threshold: []int{0, 1, 512}[r.IntN(3)]}
		o.Peer.Deflate = true
		if cfg.Deflate == 2 {
			if r.IntN(2) == 0 {
				o.Peer.NoContextTakeover = true
			} else {
				o.Compression.NoContextTakeover = true
			}
		}
	}
	o.ReadBufferSize = []int{0, 512, 4096, 32 << 10}[r.IntN(4)]
	o.WriteBufferSize = []int{0, 512, 4096, 32 << 10}[r.IntN(4)]
	if r.IntN(3) == 0 {
		// A keepalive that must never drop this peer: it stops reading
		// for at most 300ms, and the application's goroutines stall less.
		o.PingInterval = time.Duration(20+r.IntN(60)) * time.Millisecond
		o.PongTimeout = 1500 * time.Millisecond
	}
	// Two groups: AcceptOptions.Group (or Group.Add for a client) and
	// Group.Add; the Conn must leave both when it ends.
	var g1, g2 websocket.Group
	o.Group = &g1
	c, p := newPair(t, cfg.Client, o)
	g2.Add(c)
	wc := weak.Make(c)

	var log ilLog
	var panicsMu sync.Mutex
	var panics []string
	guard := func(who string) {
		if v := recover(); v != nil {
			panicsMu.Lock()
			panics = append(panics, fmt.Sprintf("%s panicked (the package must never panic): %v\n%s", who, v, debug.Stack()))
			panicsMu.Unlock()
		}
	}

	// The peer's script.
	script := ilPeerScript(r, cfg, p.deflater != nil)
	total := 0
	for _, it := range script {
		if it.Ping == nil {
			total++
		}
	}
	peerClose := cfg.Chaos && r.IntN(4) == 0
	peerCloseCode := websocket.StatusCode(3000 + r.IntN(1000))
	peerDone := make(chan struct{})
	go func() {
		defer close(peerDone)
		defer guard("the peer's sender")
		for _, it := range script {
			if it.Pause > 0 {
				time.Sleep(it.Pause)
			}
			var err error
			if it.Ping != nil {
				err = p.SendPing(it.Ping)
			} else {
				err = p.SendMessage(it.Type, it.Data, it.Send)
			}
			if err != nil {
				return
			}
		}
		if peerClose {
			p.SendClose(peerCloseCode, "peer done")
		}
	}()

	// The peer's reading: stretches of slow reads and of none.
	stopControl := make(chan struct{})
	controlDone := make(chan struct{})
	controlSeed := r.Uint64()
	go func() {
		defer close(controlDone)
		rr := rand.New(rand.NewPCG(controlSeed, 2))
		defer func() { p.Throttle(0, 0); p.ResumeReading() }()
		for {
			select {
			case <-stopControl:
				return
			case <-time.After(time.Duration(50+rr.IntN(200)) * time.Millisecond):
			}
			d := time.Duration(30+rr.IntN(220)) * time.Millisecond
			switch x := rr.IntN(10); {
			case x < 2:
				p.PauseReading()
			case x < 4:
				p.Throttle(2048+rr.IntN(14<<10), time.Millisecond)
			default:
				continue
			}
			select {
			case <-stopControl:
				return
			case <-time.After(d):
			}
			p.Throttle(0, 0)
			p.ResumeReading()
		}
	}()

	// The application: one reader, one to three writers, maybe a closer.
	allRead := make(chan struct{})
	readerDone := make(chan struct{})
	readerSeed := r.Uint64()
	go func() {
		defer close(readerDone)
		defer guard("the reading goroutine")
		ilReader(c, rand.New(rand.NewPCG(readerSeed, 3)), &log, total, allRead, longLived)
	}()
	writers := 1 + r.IntN(3)
	var wg sync.WaitGroup
	for g := 1; g <= writers; g++ {
		wg.Add(1)
		seed := r.Uint64()
		go func() {
			defer wg.Done()
			defer guard(fmt.Sprintf("writing goroutine %d", g))
			ilWriter(c, rand.New(rand.NewPCG(seed, uint64(10+g))), &log, g, cfg, longLived)
		}()
	}
	if cfg.Chaos && r.IntN(5) < 3 {
		wg.Add(1)
		seed := r.Uint64()
		go func() {
			defer wg.Done()
			defer guard("the closing goroutine")
			rr := rand.New(rand.NewPCG(seed, 4))
			time.Sleep(time.Duration(rr.IntN(400)) * time.Millisecond)
			switch x := rr.IntN(10); {
			case x < 2:
				// A code or reason that may not be sent: Close must fail
				// and put nothing invalid on the wire (the peer checks).
				codes := []websocket.StatusCode{1004, 1006, 1015, 999, 0, 1016, 2999, 5000}
				code, reason := codes[rr.IntN(len(codes))], "closer"
				if rr.IntN(3) == 0 {
					code, reason = 1000, "bad \xff reason"
				}
				call := log.begin(&ilCall{G: -1, Kind: "Close", How: fmt.Sprintf("code %d, reason %q", int(code), reason), ID: "invalid"})
				log.end(call, nil, c.Close(code, reason))
			case x < 6:
				code := []websocket.StatusCode{1000, 1001, 1008, 1011, 4000}[rr.IntN(5)]
				call := log.begin(&ilCall{G: -1, Kind: "Close", How: "-"})
				log.end(call, nil, c.Close(code, "closer"))
			default:
				call := log.begin(&ilCall{G: -1, Kind: "CloseNow", How: "-"})
				log.end(call, nil, c.CloseNow())
			}
		}()
	}
	writersDone := make(chan struct{})
	go func() { wg.Wait(); close(writersDone) }()

	start := time.Now()
	defer func() { t.Logf("%v: run took %v", cfg, time.Since(start)) }()

	// Teardown, every step bounded.
	hung := false
	wait := func(what string, ch <-chan struct{}, d time.Duration) bool {
		select {
		case <-ch:
			return true
		case <-time.After(d):
		}
		if !hung {
			hung = true
			t.Errorf("%v: %s did not finish within %v (a hang); the package's goroutines:\n%s", cfg, what, d, pkgStacks())
			c.CloseNow()
			p.Kill()
		}
		return false
	}
	wait("the writing goroutines", writersDone, 10*time.Second)
	var finalErr error
	var finalStart int64
	if !cfg.Chaos {
		wait("the peer's script", peerDone, 10*time.Second)
		select {
		case <-allRead:
		case <-time.After(2 * time.Second): // the model says which messages never came
		}
		close(stopControl)
		wait("the peer's read control", controlDone, 5*time.Second)
		call := log.begin(&ilCall{G: -2, Kind: "Close", How: "-"})
		finalStart = call.Start
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			defer guard("the final Close")
			finalErr = c.Close(websocket.StatusNormalClosure, "done")
		}()
		wait("the final Close", closed, 5*time.Second)
		log.end(call, nil, finalErr)
	} else {
		close(stopControl)
		if r.IntN(2) == 0 {
			closed := make(chan struct{})
			go func() { defer close(closed); defer guard("Close"); c.Close(websocket.StatusNormalClosure, "done") }()
			wait("the last Close", closed, 5*time.Second)
		} else {
			c.CloseNow()
		}
		wait("the peer's script", peerDone, 10*time.Second)
		wait("the peer's read control", controlDone, 5*time.Second)
	}
	wait("the reading goroutine", readerDone, 5*time.Second)
	select {
	case <-p.ReadDone():
	case <-time.After(3 * time.Second):
		if !cfg.Chaos && finalErr == nil {
			t.Errorf("%v: the TCP connection was still open 3s after a completed closing handshake", cfg)
		}
	}
	p.Kill()
	c.CloseNow()
	if hung {
		wc = weak.Pointer[websocket.Conn]{}
	}

	groupsLeft := ""
	for deadline := time.Now().Add(time.Second); (g1.Len() != 0 || g2.Len() != 0) && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if g1.Len() != 0 || g2.Len() != 0 {
		groupsLeft = fmt.Sprintf("1s after the Conn ended, its two Groups have Len %d (AcceptOptions.Group or the first Add) and %d (the second Add); want 0 and 0", g1.Len(), g2.Len())
	}
	_, fromConn := p.CloseReceived()
	calls := log.snapshot()
	problems := append([]string(nil), panics...)
	problems = append(problems, ilCheck(calls, ilRunInfo{
		Survival:      !cfg.Chaos,
		PeerSent:      p.Sent(),
		PeerStarted:   p.Started(),
		PeerReceived:  p.Messages(),
		Violations:    p.Violations(),
		CloseFromConn: fromConn,
		PeerClosed:    peerClose,
		FinalClose:    finalErr,
		FinalStart:    finalStart,
		GroupsLeft:    groupsLeft,
	})...)
	if len(problems) > 0 {
		const max = 12
		shown := problems
		if len(shown) > max {
			shown = shown[:max]
		}
		t.Errorf("%v: %d broken rule(s) (rerun: go test -race -run 'TestConnInterleavings/%v' -count 10; fuzz input seed=%d shape=%d):\n  - %s\n%s\nthe calls, in the order made:\n%s",
			cfg, len(problems), cfg, cfg.Seed, cfg.Shape, strings.Join(shown, "\n  - "),
			map[bool]string{true: fmt.Sprintf("  (and %d more)", len(problems)-max), false: ""}[len(problems) > max],
			ilDescribe(calls, 80))
	}
	return wc
}

// ilRunAndCollect runs cfg, then checks that the closed Conn can be
// garbage collected while the long-lived context its calls used is still
// alive: nothing a call registered on a context (an AfterFunc, a goroutine)
// may outlive the call.
func ilRunAndCollect(t *testing.T, cfg ilConfig) {
	longLived, cancel := context.WithCancel(context.Background())
	defer cancel()
	wc := ilRun(t, cfg, longLived)
	if wc == (weak.Pointer[websocket.Conn]{}) {
		return
	}
	for range 5 {
		runtime.GC()
		if wc.Value() == nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Errorf("%v: the Conn is still reachable 100ms after the run ended, though it was closed and the GC ran, while a context its calls used (long-lived, never cancelled) lives on: something registered on that context outlives the calls and pins the Conn, or one of the package's goroutines still runs (those of other runs in parallel show too):\n%s", cfg, ilPackageGoroutines())
	runtime.KeepAlive(longLived)
}

// ilPeerScript draws the peer's script: messages with their framing and
// pauses, and pings between them.
func ilPeerScript(r *rand.Rand, cfg ilConfig, deflate bool) []ilPeerItem {
	n := 3 + r.IntN(10)
	var out []ilPeerItem
	pings := 0
	ping := func(rr *rand.Rand) []byte {
		pings++
		b := fmt.Appendf(nil, "peer ping %d ", pings)
		for k := rr.IntN(wireMaxControl - len(b) + 1); k > 0; k-- {
			b = append(b, byte('a'+rr.IntN(26)))
		}
		return b
	}
	for i := range n {
		if r.IntN(10) == 0 {
			out = append(out, ilPeerItem{Ping: ping(r)})
		}
		typ := websocket.MessageText
		if r.IntN(2) == 0 {
			typ = websocket.MessageBinary
		}
		size := ilSize(r)
		var data []byte
		if size >= 12 {
			// A label for the failure reports.
			data = fmt.Appendf(nil, "P%03d:", i)
		}
		switch rest := size - len(data); {
		case typ == websocket.MessageText:
			data = append(data, ctText(r, rest)...)
		case r.IntN(2) == 0:
			data = append(data, ctBinary(r, rest)...)
		default:
			data = append(data, []byte(strings.Repeat("binary repeats ", rest/15+1))[:rest]...)
		}
		item := ilPeerItem{Type: typ, Data: data, Send: peerSend{Compress: deflate && r.IntN(10) < 7}}
		if r.IntN(5) == 0 {
			item.Pause = time.Duration(r.IntN(30)) * time.Millisecond
		}
		splitSeed := r.Uint64()
		item.Send.Split = func(n int) []peerFramePlan {
			rr := rand.New(rand.NewPCG(splitSeed, 5))
			frames := 1
			switch x := rr.IntN(20); {
			case x >= 17:
				frames = 5 + rr.IntN(26)
			case x >= 10:
				frames = 2 + rr.IntN(3)
			}
			cuts := make([]int, frames-1)
			for k := range cuts {
				cuts[k] = rr.IntN(n + 1)
			}
			slicesSortInts(cuts)
			plan := make([]peerFramePlan, frames)
			prev := 0
			for k := range plan {
				end := n
				if k < len(cuts) {
					end = cuts[k]
				}
				fp := peerFramePlan{Size: end - prev}
				prev = end
				if k > 0 {
					switch x := rr.IntN(10); {
					case x == 0:
						fp.PauseBefore = time.Duration(20+rr.IntN(100)) * time.Millisecond
					case x < 3:
						fp.PauseBefore = time.Duration(rr.IntN(5000)) * time.Microsecond
					}
				}
				if rr.IntN(7) == 0 {
					fp.PingBefore = ping(rr)
				}
				if rr.IntN(10) == 0 {
					fp.SplitAt = 1 + rr.IntN(fp.Size+2)
					fp.SplitPause = time.Duration(20+rr.IntN(100)) * time.Millisecond
				}
				plan[k] = fp
			}
			return plan
		}
		out = append(out, item)
	}
	return out
}

func slicesSortInts(a []int) {
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && a[j] < a[j-1]; j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

// ilSize draws a message size: mostly small, some up to 200 KiB.
func ilSize(r *rand.Rand) int {
	switch x := r.IntN(100); {
	case x < 60:
		return r.IntN(1024)
	case x < 88:
		return 1024 + r.IntN(15<<10)
	case x < 97:
		return 16<<10 + r.IntN(48<<10)
	default:
		return 64<<10 + r.IntN(136<<10)
	}
}

// ilContext makes a context of kind k, with the function that releases it
// and a description. long is for Ping, which waits for a pong.
func ilContext(r *rand.Rand, k ilCtxKind, long bool, longLived context.Context) (context.Context, func(), string) {
	switch k {
	case ilLongLived:
		return longLived, func() {}, "long-lived"
	case ilDone:
		if r.IntN(2) == 0 {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel, "done: canceled"
		}
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
		return ctx, cancel, "done: deadline passed"
	case ilCancelMid:
		d := time.Duration(r.IntN(20000)) * time.Microsecond
		if long {
			d += 50 * time.Millisecond
		}
		ctx, cancel := context.WithCancel(context.Background())
		tm := time.AfterFunc(d, cancel)
		return ctx, func() { tm.Stop(); cancel() }, fmt.Sprintf("cancel after %v", d)
	case ilDeadline:
		d := time.Millisecond + time.Duration(r.IntN(50000))*time.Microsecond
		if long {
			d = 50*time.Millisecond + time.Duration(r.IntN(250))*time.Millisecond
		}
		ctx, cancel := context.WithTimeout(context.Background(), d)
		return ctx, cancel, fmt.Sprintf("deadline %v", d)
	}
	return context.Background(), func() {}, "Background"
}

// ilPick returns an index drawn with the given weights.
func ilPick(r *rand.Rand, weights ...int) int {
	sum := 0
	for _, w := range weights {
		sum += w
	}
	x := r.IntN(sum)
	for i, w := range weights {
		if x < w {
			return i
		}
		x -= w
	}
	return len(weights) - 1
}

// ilReader is the reading goroutine: it reads until the read side ends,
// closing allRead once it has consumed total messages.
func ilReader(c *websocket.Conn, r *rand.Rand, log *ilLog, total int, allRead chan struct{}, longLived context.Context) {
	consumed, wholeNext := 0, false
	buf := make([]byte, 64<<10)
	for n := 0; ; n++ {
		kind := []string{"Read", "ReadAppend", "Reader", "Reader"}[ilPick(r, 30, 25, 25, 20)]
		if wholeNext && kind == "Reader" {
			// After a Read cut short by its context, only a Read or
			// ReadAppend is promised the rest of the message.
			kind = "Read"
		}
		partial := kind == "Reader" && r.IntN(2) == 0
		ck := ilCtxKind(ilPick(r, 25, 15, 20, 25, 15))
		if *ilCalmFlag {
			ck = ilBackground
		}
		ctx, release, how := ilContext(r, ck, false, longLived)
		call := log.begin(&ilCall{G: 0, N: n, Kind: kind, Ctx: ck, How: how})
		switch kind {
		case "Read":
			typ, b, err := c.Read(ctx)
			log.end(call, ctx, err)
			if err == nil {
				call.Type, call.Got, call.Complete = typ, b, true
			}
		case "ReadAppend":
			prefix := ctBinary(r, r.IntN(16))
			dst := append(make([]byte, 0, len(prefix)+r.IntN(1024)), prefix...)
			typ, b, err := c.ReadAppend(ctx, dst)
			log.end(call, ctx, err)
			switch {
			case len(b) < len(prefix) || string(b[:len(prefix)]) != string(prefix):
				call.Problem = fmt.Sprintf("ReadAppend returned %d bytes that do not start with the %d bytes of dst", len(b), len(prefix))
			case err != nil && len(b) != len(prefix):
				call.Problem = fmt.Sprintf("ReadAppend failed (%v) but returned %d bytes beyond dst; on error it returns dst", err, len(b)-len(prefix))
			case err == nil:
				call.Type, call.Got, call.Complete = typ, b[len(prefix):], true
			}
		case "Reader":
			typ, rd, err := c.Reader(ctx)
			if err != nil {
				log.end(call, ctx, err)
				break
			}
			call.Opened, call.Type, call.Got = true, typ, []byte{}
			limit := 1 << 30
			if partial {
				call.Kind = "Reader(partial)"
				limit = r.IntN(64 << 10)
			}
			for {
				k := 1 + r.IntN(len(buf))
				if r.IntN(3) == 0 {
					k = 1 + r.IntN(64)
				}
				m, err := rd.Read(buf[:k])
				call.Got = append(call.Got, buf[:m]...)
				if err == io.EOF {
					call.Complete = true
					log.end(call, ctx, nil)
					break
				}
				if err != nil {
					log.end(call, ctx, err)
					break
				}
				if len(call.Got) >= limit {
					log.end(call, ctx, nil)
					break
				}
			}
		}
		release()
		if call.Got != nil || call.Opened {
			consumed++
			if consumed == total {
				close(allRead)
			}
		}
		wholeNext = (kind == "Read" || kind == "ReadAppend") && isCtxErr(call.Err)
		if call.Err != nil && (!isCtxErr(call.Err) || !call.CtxEnded) {
			// Over; a context error from a context that had not ended
			// counts too (the model reports it), or the loop might spin.
			return
		}
		switch x := r.IntN(20); {
		case x == 0:
			time.Sleep(time.Duration(20+r.IntN(80)) * time.Millisecond) // busy elsewhere
		case x < 8:
			time.Sleep(time.Duration(r.IntN(3000)) * time.Microsecond)
		}
	}
}

// ilWriter is a writing goroutine.
func ilWriter(c *websocket.Conn, r *rand.Rand, log *ilLog, g int, cfg ilConfig, longLived context.Context) {
	var stale io.WriteCloser // a Writer kept after its Close
	ops := 3 + r.IntN(8)
	for n := range ops {
		kind := []string{"Write", "WritePrepared", "Writer", "Ping", "stale Writer"}[ilPick(r, 35, 15, 25, 15, 10)]
		if kind == "stale Writer" && (stale == nil || *ilCalmFlag) {
			kind = "Write"
		}
		var ck ilCtxKind
		switch {
		case kind == "Ping" && !cfg.Chaos:
			ck = []ilCtxKind{ilDone, ilDeadline}[ilPick(r, 30, 70)]
		case kind == "Ping":
			ck = []ilCtxKind{ilDone, ilCancelMid, ilDeadline}[ilPick(r, 20, 40, 40)]
		case !cfg.Chaos:
			ck = []ilCtxKind{ilBackground, ilDone, ilLongLived}[ilPick(r, 55, 25, 20)]
		default:
			ck = ilCtxKind(ilPick(r, 30, 15, 20, 20, 15))
		}
		if *ilCalmFlag {
			ck = ilBackground
		}
		ctx, release, how := ilContext(r, ck, kind == "Ping", longLived)
		if *ilCalmFlag && kind == "Ping" {
			ctx, release = context.WithTimeout(context.Background(), 500*time.Millisecond)
			ck, how = ilDeadline, "deadline 500ms"
		}
		typ := websocket.MessageText
		if r.IntN(2) == 0 {
			typ = websocket.MessageBinary
		}
		id := fmt.Sprintf("#%d.%d#", g, n)
		data := ilPayload(r, typ, ilSize(r), id)
		call := &ilCall{G: g, N: n, Kind: kind, Ctx: ck, How: how}
		if kind == "Write" || kind == "WritePrepared" || kind == "Writer" {
			call.ID, call.Type, call.Data = id, typ, data
		}
		log.begin(call)
		switch kind {
		case "Write":
			log.end(call, ctx, c.Write(ctx, typ, data))
		case "WritePrepared":
			pm, err := websocket.NewPreparedMessage(typ, data)
			if err == nil {
				err = c.WritePrepared(ctx, pm)
			}
			log.end(call, ctx, err)
		case "Writer":
			w, err := c.Writer(ctx, typ)
			if err == nil {
				rest := data
				for len(rest) > 0 && err == nil {
					k := min(len(rest), 1+r.IntN(8<<10))
					if r.IntN(4) == 0 {
						k = min(len(rest), 1+r.IntN(64))
					}
					_, err = w.Write(rest[:k])
					rest = rest[k:]
				}
				if cerr := w.Close(); err == nil {
					err = cerr
				}
				if r.IntN(3) == 0 {
					stale = w
				}
			}
			log.end(call, ctx, err)
		case "Ping":
			log.end(call, ctx, c.Ping(ctx))
		case "stale Writer":
			call.How = "-"
			k, err := stale.Write([]byte("#STALE#"))
			if err == nil && k != 0 {
				call.Problem = fmt.Sprintf("Write on a Writer after its Close wrote %d bytes", k)
			}
			if r.IntN(2) == 0 {
				if cerr := stale.Close(); cerr == nil {
					call.Problem += "; a second Close of a closed Writer returned nil (it must not close another message)"
				}
			}
			log.end(call, nil, err)
		}
		release()
		if x := r.IntN(10); x < 6 {
			time.Sleep(time.Duration(r.IntN(8000)) * time.Microsecond)
		}
	}
}

// ilPayload returns size bytes (at least the id) starting with id: text
// that is valid UTF-8, or binary, random or repetitive.
func ilPayload(r *rand.Rand, typ websocket.MessageType, size int, id string) []byte {
	size = max(size, len(id))
	b := []byte(id)
	rest := size - len(b)
	switch {
	case typ == websocket.MessageText:
		b = append(b, ctText(r, rest)...)
	case r.IntN(2) == 0:
		b = append(b, ctBinary(r, rest)...)
	default:
		b = append(b, []byte(strings.Repeat("0123456789abcdef", rest/16+1))[:rest]...)
	}
	return b
}
