//go:build linux

// Command clusterbench measures the cluster example: fan-out latency from
// send to the last delivery, messages per second, and node memory per
// client, with 10,000 clients over three nodes and over one, in one room
// and in many.
//
//	cd examples/cluster && go run ./cmd/clusterbench
//
// It starts its own redis-server (in memory, on a loopback port) and node
// processes (built from this module), fresh for each scenario, and stops
// them at the end; every process dies with it. Scenarios:
//
//   - throughput: every room keeps -window (one room) or -windowN (each
//     of many) messages in flight, sent but not yet received by all its
//     members, for -duration: messages/s and deliveries/s sustained
//     without dropping anyone. Sends a node refuses (Redis too slow) are
//     counted apart.
//   - latency: then senders send at a quarter of that throughput (or -rate1
//     messages/s in one room, -rateN in all the rooms together) for
//     -duration; for each message, the time from its send to its arrival
//     at the room's last member.
//   - memory: each node's RSS with all clients connected and idle, less
//     its RSS before the first client, per client of that node.
//
// Clients, nodes, Redis and this program share the machine, so on a small
// one the clients' reading costs as much CPU as the nodes' writing.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ccf874ba/websocket"
	"github.com/ccf874ba/websocket/examples/cluster/internal/proc"
)

var (
	clients  = flag.Int("clients", 10000, "clients per scenario")
	rooms    = flag.Int("rooms", 1000, "rooms in the many-rooms scenarios")
	scenes   = flag.String("scenarios", "3x1,3xN,1x1,1xN", "nodes x rooms (1 or N) for each scenario")
	rate1    = flag.Float64("rate1", 0, "messages/s in the one-room latency phase (0: a quarter of the throughput measured)")
	rateN    = flag.Float64("rateN", 0, "messages/s over all rooms in the many-rooms latency phase (0: a quarter of the throughput measured)")
	window   = flag.Int("window", 8, "messages in flight in the one-room throughput phase")
	windowN  = flag.Int("windowN", 1, "messages in flight per room in the many-rooms throughput phase")
	duration = flag.Duration("duration", 5*time.Second, "length of each phase")
	nodeBin  = flag.String("node", "", "node binary (default: built from this module)")
	nodeArgs = flag.String("node-args", "", "extra node flags, space-separated; %d becomes the node's number")
	timeout  = flag.Duration("timeout", 10*time.Minute, "the whole run ends by then")
	cpuProf  = flag.String("cpuprofile", "", "write this program's CPU profile (the clients' side) to a file")
)

func main() {
	flag.Parse()
	log.SetFlags(log.Ltime)
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			log.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if err := run(ctx); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) error {
	if err := raiseFileLimit(*clients + 1000); err != nil {
		return err
	}
	redisPath, err := proc.RedisServer(ctx, true)
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "clusterbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := *nodeBin
	if bin == "" {
		bin = filepath.Join(dir, "node")
		log.Printf("building the node")
		if err := proc.BuildNode(ctx, ".", bin, false); err != nil {
			return err
		}
	}
	ver, _ := exec.Command(redisPath, "--version").Output()
	fmt.Printf("clusterbench: %d clients, %d rooms when many, %v phases; %d CPUs, %s, %s\n\n",
		*clients, *rooms, *duration, runtime.NumCPU(), runtime.Version(), bytes.Fields(ver)[2])
	var results []result
	for _, sc := range strings.Split(*scenes, ",") {
		nodes, r, ok := strings.Cut(sc, "x")
		n, err := strconv.Atoi(nodes)
		if !ok || err != nil || n < 1 || (r != "1" && r != "N") {
			return fmt.Errorf("bad scenario %q: want NODESx1 or NODESxN", sc)
		}
		nr := 1
		if r == "N" {
			nr = *rooms
		}
		res, err := scenario(ctx, redisPath, bin, dir, n, nr)
		if err != nil {
			return fmt.Errorf("scenario %s: %w", sc, err)
		}
		results = append(results, res)
	}
	fmt.Println()
	fmt.Println("| nodes | rooms × members | latency p50 / p99 | at msg/s | max msg/s | deliveries/s | node CPU/delivery | Redis CPU/msg | RSS/client/node: idle, after GC, after load | lost | refused | dropped, cut | load avg |")
	fmt.Println("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
	for _, r := range results {
		fmt.Printf("| %d | %d × %d | %s / %s | %.3g | %.0f | %.0f | %.1f µs | %.1f µs | %.1f, %.1f, %.1f KiB | %d | %d | %d, %d | %s |\n",
			r.nodes, r.rooms, *clients/r.rooms, ms(r.p50), ms(r.p99), r.rate, r.msgsPerSec, r.delivPerSec,
			float64(r.cpuPerDelivery)/1e3, float64(r.redisCPUPerMessage)/1e3, r.memIdle/1024, r.memIdleGC/1024, r.memLoad/1024,
			r.lost, r.refused, r.dropped, r.cut, r.load)
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

type result struct {
	nodes, rooms       int
	p50, p99           time.Duration
	rate               float64
	msgsPerSec         float64
	delivPerSec        float64
	memIdle, memLoad   float64 // bytes per client per node
	memIdleGC          float64 // idle, after a GC in each node
	cpuPerDelivery     time.Duration
	redisCPUPerMessage time.Duration
	lost, dropped      int64
	refused, cut       int64 // sends refused; clients cut off (write timeout)
	throughputMessages int64
	load               string
}

// bench is the clients' side of one scenario.
type bench struct {
	roomSize []int64        // members per room
	msgRoom  []int32        // seq -> room
	sentAt   []atomic.Int64 // seq -> unix ns
	lastAt   []atomic.Int64 // seq -> unix ns of the latest arrival
	count    []atomic.Int64 // seq -> arrivals
	failed   []atomic.Bool  // seq -> the send was refused
	windows  []chan struct{}
	refused  atomic.Int64
	seq      atomic.Int64
	received atomic.Int64
	closed   atomic.Int64 // connections the node ended
}

const maxMessages = 1 << 20

func scenario(ctx context.Context, redisPath, bin, dir string, nNodes, nRooms int) (result, error) {
	res := result{nodes: nNodes, rooms: nRooms}
	log.Printf("== %d node(s), %d room(s), %d clients", nNodes, nRooms, *clients)
	rdir, err := os.MkdirTemp(dir, "redis-")
	if err != nil {
		return res, err
	}
	r, err := proc.StartRedis(ctx, redisPath, rdir, false)
	if err != nil {
		return res, err
	}
	defer r.Stop()
	var nodes []*proc.Node
	defer func() {
		var wg sync.WaitGroup
		for _, n := range nodes {
			wg.Go(n.Stop)
		}
		wg.Wait()
	}()
	var debugAddrs []string
	for i := range nNodes {
		port, err := proc.FreePort()
		if err != nil {
			return res, err
		}
		debugAddrs = append(debugAddrs, "127.0.0.1:"+strconv.Itoa(port))
		args := append([]string{"-addr", "127.0.0.1:0", "-redis", r.Addr, "-send-rate", "0", "-max-rooms", "1", "-ping", "0",
			"-debug-addr", debugAddrs[i]},
			strings.Fields(strings.ReplaceAll(*nodeArgs, "%d", strconv.Itoa(i)))...)
		n, err := proc.StartNode(ctx, bin, fmt.Sprintf("b%d", i), args...)
		if err != nil {
			return res, err
		}
		nodes = append(nodes, n)
		if err := n.WaitHealth(ctx, 200, 10*time.Second); err != nil {
			return res, err
		}
	}
	time.Sleep(500 * time.Millisecond)
	gcNodes(debugAddrs)
	base := make([]int64, nNodes)
	for i, n := range nodes {
		base[i] = rss(n.Pid())
	}

	b := &bench{
		roomSize: make([]int64, nRooms),
		msgRoom:  make([]int32, maxMessages),
		sentAt:   make([]atomic.Int64, maxMessages),
		lastAt:   make([]atomic.Int64, maxMessages),
		count:    make([]atomic.Int64, maxMessages),
		failed:   make([]atomic.Bool, maxMessages),
		windows:  make([]chan struct{}, nRooms),
	}
	w := *window
	if nRooms > 1 {
		w = *windowN
	}
	for i := range b.windows {
		b.windows[i] = make(chan struct{}, w)
	}
	cctx, stopClients := context.WithCancel(ctx)
	defer stopClients()
	conns := make([]*websocket.Conn, *clients)
	senders := make([][]*websocket.Conn, nRooms) // per room, its members on different nodes first
	var wg sync.WaitGroup
	defer wg.Wait()
	start := time.Now()
	sem := make(chan struct{}, 64)
	var dialErr atomic.Value
	var dialWG sync.WaitGroup
	for i := range *clients {
		room := i % nRooms
		node := (i / nRooms) % nNodes
		if nRooms == 1 {
			node = i % nNodes
		}
		b.roomSize[room]++
		sem <- struct{}{}
		dialWG.Go(func() {
			defer func() { <-sem }()
			c, err := dialJoined(cctx, nodes[node].WS("room=r"+strconv.Itoa(room)))
			if err != nil {
				dialErr.Store(err)
				return
			}
			conns[i] = c
			wg.Go(func() { b.read(cctx, c) })
		})
		if dialErr.Load() != nil {
			break
		}
	}
	dialWG.Wait()
	if err, _ := dialErr.Load().(error); err != nil {
		return res, fmt.Errorf("dial: %w", err)
	}
	for i, c := range conns {
		room := i % nRooms
		if len(senders[room]) < nNodes {
			senders[room] = append(senders[room], c)
		}
	}
	log.Printf("%d clients connected and joined in %v", *clients, time.Since(start).Round(time.Millisecond))
	time.Sleep(time.Second)
	res.memIdle = memPerClient(nodes, base, *clients)
	gcNodes(debugAddrs)
	res.memIdleGC = memPerClient(nodes, base, *clients)
	res.load = loadavg()

	// Throughput: every room keeps window messages in flight.
	first := b.seq.Load()
	r0 := b.received.Load()
	cpu0 := nodesCPU(nodes)
	rcpu0 := cpuOf(r.Pid())
	t0 := time.Now()
	end := t0.Add(*duration)
	var tw sync.WaitGroup
	for room := range nRooms {
		tw.Go(func() {
			for k := 0; time.Now().Before(end) && ctx.Err() == nil; k++ {
				select {
				case b.windows[room] <- struct{}{}:
				case <-time.After(10 * time.Second):
					return // a message was lost; counted below
				}
				seq := b.seq.Add(1) - 1
				if seq >= maxMessages {
					return
				}
				b.msgRoom[seq] = int32(room)
				b.sentAt[seq].Store(time.Now().UnixNano())
				s := senders[room][k%len(senders[room])]
				send(cctx, s, room, seq)
			}
		})
	}
	tw.Wait()
	last := b.seq.Load()
	b.waitComplete(ctx, first, last, 20*time.Second)
	elapsed := time.Duration(0)
	for s := first; s < last; s++ {
		if t := time.Duration(b.lastAt[s].Load() - t0.UnixNano()); t > elapsed {
			elapsed = t
		}
		if b.count[s].Load() != b.roomSize[b.msgRoom[s]] && !b.failed[s].Load() {
			res.lost++
		}
	}
	res.throughputMessages = last - first
	res.refused = b.refused.Load()
	res.msgsPerSec = float64(last-first-res.refused) / elapsed.Seconds()
	res.delivPerSec = float64(b.received.Load()-r0) / elapsed.Seconds()
	res.cpuPerDelivery = (nodesCPU(nodes) - cpu0) / time.Duration(max(b.received.Load()-r0, 1))
	res.redisCPUPerMessage = (cpuOf(r.Pid()) - rcpu0) / time.Duration(max(last-first, 1))
	log.Printf("throughput: %d messages in %v: %.0f msg/s, %.0f deliveries/s", last-first,
		elapsed.Round(time.Millisecond), res.msgsPerSec, res.delivPerSec)
	// Latency at a fixed rate.
	rate := *rate1
	if nRooms > 1 {
		rate = *rateN
	}
	if rate <= 0 {
		rate = max(res.msgsPerSec/4, 0.25)
	}
	res.rate = rate
	first = b.seq.Load()
	interval := time.Duration(float64(time.Second) / rate)
	end = time.Now().Add(*duration)
	next := time.Now()
	var sendWG sync.WaitGroup
	for k := 0; time.Now().Before(end) && ctx.Err() == nil; k++ {
		room := k % nRooms
		s := senders[room][(k/nRooms)%len(senders[room])]
		seq := b.seq.Add(1) - 1
		if seq >= maxMessages {
			break
		}
		b.msgRoom[seq] = int32(room)
		b.sentAt[seq].Store(time.Now().UnixNano())
		sendWG.Go(func() { send(cctx, s, room, seq) })
		next = next.Add(interval)
		if d := time.Until(next); d > 0 {
			time.Sleep(d)
		}
	}
	sendWG.Wait()
	last = b.seq.Load()
	b.waitComplete(ctx, first, last, 20*time.Second)
	var lat []time.Duration
	for s := first; s < last; s++ {
		switch {
		case b.count[s].Load() == b.roomSize[b.msgRoom[s]]:
			lat = append(lat, time.Duration(b.lastAt[s].Load()-b.sentAt[s].Load()))
		case !b.failed[s].Load():
			res.lost++
		}
	}
	slices.Sort(lat)
	res.p50, res.p99 = quantile(lat, 0.5), quantile(lat, 0.99)
	log.Printf("latency at %.3g msg/s: p50 %v p99 %v over %d messages", rate, res.p50, res.p99, len(lat))

	time.Sleep(time.Second)
	res.memLoad = memPerClient(nodes, base, *clients)
	for _, n := range nodes {
		_, body, err := n.Health(ctx)
		var h struct {
			Dropped  int64
			Timeouts int64 `json:"write_timeouts"`
		}
		if err == nil && json.Unmarshal(body, &h) == nil {
			res.dropped += h.Dropped
			res.cut += h.Timeouts
		}
	}
	log.Printf("memory per client per node: %.1f KiB idle (%.1f after a GC), %.1f KiB after load; node CPU %v per delivery, Redis %v per message; %d lost, %d refused, %d dropped, %d cut off; load average %s",
		res.memIdle/1024, res.memIdleGC/1024, res.memLoad/1024, res.cpuPerDelivery, res.redisCPUPerMessage, res.lost, res.refused, res.dropped, res.cut, res.load)
	stopClients()
	for _, c := range conns {
		c.CloseNow()
	}
	return res, nil
}

// dialJoined connects and waits for "joined".
func dialJoined(ctx context.Context, u string) (*websocket.Conn, error) {
	var err error
	for attempt := range 5 {
		dctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		var c *websocket.Conn
		c, _, err = websocket.Dial(dctx, u, nil)
		if err == nil {
			var p []byte
			_, p, err = c.Read(dctx)
			if err == nil && !bytes.Contains(p, []byte(`"type":"joined"`)) {
				err = fmt.Errorf("first message %q", p)
			}
			if err == nil {
				cancel()
				return c, nil
			}
			c.CloseNow()
		}
		cancel()
		time.Sleep(time.Duration(attempt+1) * 100 * time.Millisecond)
	}
	return nil, err
}

func send(ctx context.Context, c *websocket.Conn, room int, seq int64) {
	n := strconv.FormatInt(seq, 10)
	msg := `{"type":"send","room":"r` + strconv.Itoa(room) + `","data":"` + n + `","ref":"` + n + `"}`
	wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c.Write(wctx, websocket.MessageText, []byte(msg))
}

var (
	dataKey = []byte(`"data":"`)
	refKey  = []byte(`"ref":"`)
)

// read counts the arrivals of each message; the last member to get one
// releases a place in its room's window.
func (b *bench) read(ctx context.Context, c *websocket.Conn) {
	var buf []byte
	for {
		var err error
		_, buf, err = c.ReadAppend(ctx, buf[:0])
		if err != nil {
			if ctx.Err() == nil {
				b.closed.Add(1)
			}
			return
		}
		now := time.Now().UnixNano()
		if bytes.HasPrefix(buf, []byte(`{"type":"error"`)) {
			// A send the node refused (overloaded Redis, timeout): it
			// will not arrive; free its place in the window.
			if seq, ok := field(buf, refKey); ok {
				b.refused.Add(1)
				b.failed[seq].Store(true)
				select {
				case <-b.windows[b.msgRoom[seq]]:
				default:
				}
			}
			continue
		}
		i := bytes.Index(buf, dataKey)
		if i < 0 || !bytes.HasPrefix(buf, []byte(`{"type":"message"`)) {
			continue
		}
		rest := buf[i+len(dataKey):]
		j := bytes.IndexByte(rest, '"')
		seq, err := strconv.ParseInt(string(rest[:max(j, 0)]), 10, 64)
		if err != nil || seq < 0 || seq >= maxMessages {
			continue
		}
		b.received.Add(1)
		for {
			old := b.lastAt[seq].Load()
			if now <= old || b.lastAt[seq].CompareAndSwap(old, now) {
				break
			}
		}
		if b.count[seq].Add(1) == b.roomSize[b.msgRoom[seq]] {
			select {
			case <-b.windows[b.msgRoom[seq]]:
			default:
			}
		}
	}
}

// field parses the number in the string field that starts at key.
func field(buf, key []byte) (int64, bool) {
	i := bytes.Index(buf, key)
	if i < 0 {
		return 0, false
	}
	rest := buf[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, false
	}
	n, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return n, err == nil && n >= 0 && n < maxMessages
}

// waitComplete waits up to d for messages [first, last) to reach every
// member of their room.
func (b *bench) waitComplete(ctx context.Context, first, last int64, d time.Duration) {
	deadline := time.Now().Add(d)
	for s := first; s < last && time.Now().Before(deadline) && ctx.Err() == nil; {
		if b.count[s].Load() >= b.roomSize[b.msgRoom[s]] || b.failed[s].Load() {
			s++
			continue
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[int(math.Ceil(q*float64(len(sorted))))-1]
}

// memPerClient is the mean, over the nodes, of each node's RSS growth
// since base divided by its clients.
func memPerClient(nodes []*proc.Node, base []int64, clients int) float64 {
	perNode := float64(clients) / float64(len(nodes))
	var sum float64
	for i, n := range nodes {
		sum += float64(rss(n.Pid())-base[i]) / perNode
	}
	return sum / float64(len(nodes))
}

// gcNodes asks each node to collect garbage and return free memory to the
// OS, so that RSS shows what is live.
func gcNodes(addrs []string) {
	for _, a := range addrs {
		if resp, err := http.Post("http://"+a+"/debug/gc", "", nil); err == nil {
			resp.Body.Close()
		}
	}
	time.Sleep(200 * time.Millisecond)
}

// nodesCPU returns the CPU time (user and system) the nodes have used.
func nodesCPU(nodes []*proc.Node) time.Duration {
	var d time.Duration
	for _, n := range nodes {
		d += cpuOf(n.Pid())
	}
	return d
}

// cpuOf returns the CPU time (user and system) process pid has used.
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which ends with ")"): utime and
	// stime are the 12th and 13th.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / 100 // USER_HZ
}

// loadavg returns the 1-minute load average: other work on the machine
// shows in the latencies.
func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "?"
}

// rss returns a process's resident set size in bytes.
func rss(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// raiseFileLimit raises RLIMIT_NOFILE to at least n (up to the hard
// limit): each client is a file here and one at its node.
func raiseFileLimit(n int) error {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur < uint64(n) {
		lim.Cur = min(max(uint64(n), lim.Cur), lim.Max)
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			return err
		}
	}
	if lim.Cur < uint64(n) {
		return errors.New("RLIMIT_NOFILE hard limit " + strconv.FormatUint(lim.Max, 10) + " is below " + strconv.Itoa(n) + ": raise it (ulimit -Hn) or use fewer -clients")
	}
	return nil
}
