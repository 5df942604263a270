package main

import (
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/ccf874ba/websocket/bench/internal/wsb"
)

// cellResult is one measurement of one library in one cell.
type cellResult struct {
	rate    float64 // round trips per second
	allocs  float64 // allocations per round trip (side under test)
	bytes   float64 // bytes allocated per round trip
	noAlloc bool    // allocations unknown (an external server)
	cpuUs   float64 // CPU µs per round trip (side under test)
	elapsed time.Duration
	msgs    int64
	err     error
}

// serverCell measures one echo server under the common raw client.
func serverCell(ch echoServer, conns, size int, warm, dur time.Duration) cellResult {
	cs, err := dialMany(conns, 32, func() (*wsb.RawClient, error) { return wsb.DialRaw(ch.Addr(), "/", 10*time.Second) })
	closeAll := func() {
		for _, c := range cs {
			c.Close()
		}
		cs = nil
	}
	defer closeAll()
	if err != nil {
		return cellResult{err: fmt.Errorf("dial: %w", err)}
	}
	deadline := time.Now().Add(warm + dur + 20*time.Second)
	trips := make([]func() error, len(cs))
	for i, c := range cs {
		c.SetPayload(size)
		c.NetConn().SetDeadline(deadline)
		trips[i] = c.RoundTrip
	}
	return loadCell(ch, trips, warm, dur, closeAll)
}

// clientCell measures one library client (in its child) against the common
// raw server.
func clientCellRemote(ch *child, rs *wsb.RawServer, conns, size int, warm, dur time.Duration) cellResult {
	f, err := ch.call("run %s %d %d %d %d", rs.Addr(), conns, size, warm.Nanoseconds(), dur.Nanoseconds())
	if err != nil {
		return cellResult{err: err}
	}
	// Let the raw server see every close before the next cell.
	end := time.Now().Add(10 * time.Second)
	for rs.Active() > 0 && time.Now().Before(end) {
		time.Sleep(5 * time.Millisecond)
	}
	if len(f) == 0 || f[0] != "ok" || len(f) != 6 {
		return cellResult{err: fmt.Errorf("%s client: %v", ch.lib, f)}
	}
	v := make([]int64, 5)
	for i := range v {
		v[i], _ = strconv.ParseInt(f[i+1], 10, 64)
	}
	msgs, el := v[0], time.Duration(v[1])
	if msgs == 0 {
		return cellResult{err: fmt.Errorf("%s client: no round trip completed", ch.lib)}
	}
	return cellResult{
		rate:    float64(msgs) / el.Seconds(),
		allocs:  float64(v[2]) / float64(msgs),
		bytes:   float64(v[3]) / float64(msgs),
		cpuUs:   float64(v[4]) / 1e3 / float64(msgs),
		elapsed: el,
		msgs:    msgs,
	}
}

type cellKey struct {
	conns, size int
	lib         string
}

// matrix runs every library in every cell, reps times, interleaving the
// libraries within each cell, and returns all results.
func runMatrix(kind string, libs []string, o *options, run func(lib string, conns, size int) cellResult) map[cellKey][]cellResult {
	res := make(map[cellKey][]cellResult)
	for rep := 0; rep < o.reps; rep++ {
		for _, conns := range o.conns {
			for _, size := range o.sizes {
				// Rotate the order each repetition so that no library is
				// always first after a change of cell.
				for i := range libs {
					lib := libs[(i+rep)%len(libs)]
					r := run(lib, conns, size)
					k := cellKey{conns, size, lib}
					res[k] = append(res[k], r)
					if r.err != nil {
						fmt.Fprintf(os.Stderr, "%s rep %d conns=%d size=%d %-13s ERROR %v\n", kind, rep+1, conns, size, lib, r.err)
					} else if r.noAlloc {
						fmt.Fprintf(os.Stderr, "%s rep %d conns=%d size=%d %-13s %9.0f msg/s %6s allocs %8s B %6.2f cpu-µs\n",
							kind, rep+1, conns, size, lib, r.rate, "–", "–", r.cpuUs)
					} else {
						fmt.Fprintf(os.Stderr, "%s rep %d conns=%d size=%d %-13s %9.0f msg/s %6.2f allocs %8.0f B %6.2f cpu-µs\n",
							kind, rep+1, conns, size, lib, r.rate, r.allocs, r.bytes, r.cpuUs)
					}
				}
			}
		}
	}
	return res
}
