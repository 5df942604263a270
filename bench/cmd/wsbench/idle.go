package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/ccf874ba/websocket/bench/internal/wsb"
)

type memSnap struct {
	heapAlloc, heapInuse, stackInuse, rss, goroutines, active int64
}

func (ch *child) mem() (memSnap, error) {
	v, err := ch.ints("mem")
	if err != nil || len(v) != 6 {
		return memSnap{}, fmt.Errorf("mem: %v %v", v, err)
	}
	return memSnap{v[0], v[1], v[2], v[3], v[4], v[5]}, nil
}

type bcastResult struct {
	prepared       bool
	loop, delivery time.Duration // medians
	allocs, bytes  float64       // per connection, medians
	err            error
}

type idleResult struct {
	lib         string
	goRuntime   bool // heap, stacks and goroutines are known (a Go child)
	want, conns int
	base, after memSnap
	dialErr     error
	bcast       []bcastResult
	err         error
}

func (r idleResult) per(f func(memSnap) int64) float64 {
	if r.conns == 0 {
		return 0
	}
	return float64(f(r.after)-f(r.base)) / float64(r.conns)
}

// idleTest opens n connections to a fresh server of lib, one echo each,
// measures the server's memory, then broadcasts to them.
func idleTest(lib string, n int, o *options) idleResult {
	r := idleResult{lib: lib, want: n}
	ch, err := startServer(o, lib)
	if err != nil {
		r.err = err
		return r
	}
	defer ch.kill()
	r.goRuntime = ch.goRuntime()
	r.base, err = ch.mem()
	if err != nil {
		r.err = err
		return r
	}
	t0 := time.Now()
	cs, derr := dialMany(n, 64, func() (*wsb.RawClient, error) { return wsb.DialRaw(ch.Addr(), "/", 10*time.Second) })
	defer func() {
		// Kill the server first: its side then holds the TIME_WAIT
		// sockets, and the client's ephemeral ports are free at once.
		ch.kill()
		for _, c := range cs {
			c.Close()
		}
	}()
	r.dialErr = derr
	r.conns = len(cs)
	// One echo on each, in parallel batches.
	if err := parallel(len(cs), 64, func(i int) error {
		c := cs[i]
		c.NetConn().SetDeadline(time.Now().Add(30 * time.Second))
		c.SetPayload(16)
		defer c.NetConn().SetDeadline(time.Time{})
		return c.RoundTrip()
	}); err != nil {
		r.err = fmt.Errorf("echo: %v", err)
		return r
	}
	fmt.Fprintf(os.Stderr, "idle %-13s %d connections up and echoed in %v\n", lib, len(cs), time.Since(t0).Round(time.Millisecond))
	time.Sleep(200 * time.Millisecond)
	r.after, err = ch.mem()
	if err != nil {
		r.err = err
		return r
	}
	if r.after.active != int64(len(cs)) {
		r.err = fmt.Errorf("server reports %d open connections, want %d", r.after.active, len(cs))
		return r
	}
	// Broadcast needs the child protocol (bcast commands); an external
	// server has only its echo.
	if c, ok := ch.(*child); ok && o.bcastRounds > 0 {
		r.bcast = broadcastTest(c, cs, o)
	}
	return r
}

// broadcastTest sends one message of o.bcastSize bytes to every connection,
// o.bcastRounds times for each mode, and measures the server's loop time,
// the time until every client has the message, and the server's
// allocations (counted until delivery is complete, so asynchronous writers
// are included).
func broadcastTest(ch *child, cs []*wsb.RawClient, o *options) []bcastResult {
	f, err := ch.call("canprepare")
	if err != nil {
		return []bcastResult{{err: err}}
	}
	modes := []bool{false}
	if len(f) == 1 && f[0] == "true" {
		modes = append(modes, true)
	}
	// Persistent receivers: each reads one message per round.
	var remaining atomic.Int64
	allIn := make(chan struct{}, 1)
	var recvErr atomic.Value
	round := make([]chan struct{}, len(cs))
	for i, c := range cs {
		round[i] = make(chan struct{}, 1)
		go func() {
			for range round[i] {
				c.NetConn().SetReadDeadline(time.Now().Add(60 * time.Second))
				if err := c.ReadMessage(o.bcastSize); err != nil {
					recvErr.CompareAndSwap(nil, err)
				}
				if remaining.Add(-1) == 0 {
					allIn <- struct{}{}
				}
			}
		}()
	}
	defer func() {
		for _, r := range round {
			close(r)
		}
	}()
	var out []bcastResult
	for _, prepared := range modes {
		var loops, dels []time.Duration
		var allocs, bytes []float64
		res := bcastResult{prepared: prepared}
		for i := 0; i < o.bcastRounds && res.err == nil; i++ {
			remaining.Store(int64(len(cs)))
			for _, r := range round {
				r <- struct{}{}
			}
			p := 0
			if prepared {
				p = 1
			}
			t0 := time.Now()
			f, err := ch.call("bcast %d %d", p, o.bcastSize)
			if err != nil || len(f) != 3 {
				res.err = fmt.Errorf("bcast: %v %v", f, err)
				break
			}
			select {
			case <-allIn:
			case <-time.After(60 * time.Second):
				res.err = fmt.Errorf("broadcast not delivered to %d connections", remaining.Load())
			}
			del := time.Since(t0)
			if e := recvErr.Load(); e != nil && res.err == nil {
				res.err = fmt.Errorf("receive: %v", e)
			}
			n, _ := strconv.Atoi(f[0])
			loopNs, _ := strconv.ParseInt(f[1], 10, 64)
			if f[2] != "-" && res.err == nil {
				res.err = fmt.Errorf("server: %s", f[2])
			}
			if n != len(cs) && res.err == nil {
				res.err = fmt.Errorf("server wrote %d of %d", n, len(cs))
			}
			v, err := ch.ints("bcastdone")
			if err != nil || len(v) != 2 {
				res.err = fmt.Errorf("bcastdone: %v %v", v, err)
				break
			}
			loops = append(loops, time.Duration(loopNs))
			dels = append(dels, del)
			allocs = append(allocs, float64(v[0])/float64(len(cs)))
			bytes = append(bytes, float64(v[1])/float64(len(cs)))
		}
		if res.err == nil {
			res.loop = medianDur(loops)
			res.delivery = medianDur(dels)
			res.allocs = median(allocs)
			res.bytes = median(bytes)
			fmt.Fprintf(os.Stderr, "bcast %-13s prepared=%v loop %v delivery %v %.2f allocs/conn %.0f B/conn\n",
				ch.lib, prepared, res.loop.Round(time.Microsecond), res.delivery.Round(time.Microsecond), res.allocs, res.bytes)
		} else {
			fmt.Fprintf(os.Stderr, "bcast %-13s prepared=%v ERROR %v\n", ch.lib, prepared, res.err)
		}
		out = append(out, res)
		if res.err != nil {
			break
		}
	}
	return out
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func medianDur(v []time.Duration) time.Duration {
	f := make([]float64, len(v))
	for i, d := range v {
		f[i] = float64(d)
	}
	return time.Duration(median(f))
}
