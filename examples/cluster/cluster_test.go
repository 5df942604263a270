//go:build linux

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ccf874ba/websocket"
	"github.com/ccf874ba/websocket/examples/cluster/internal/proc"
	"github.com/redis/go-redis/v9"
)

var (
	redisOnce sync.Once
	redisPath string
	redisErr  error

	buildOnce sync.Once
	buildDir  string
	nodeBin   string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
	os.Exit(code)
}

// needProcesses returns redis-server (installed if missing) and the node
// binary (built once, with -race when the test is), or skips the test if
// redis-server can be neither found nor installed.
func needProcesses(t *testing.T) (string, string) {
	t.Helper()
	redisOnce.Do(func() {
		redisPath, redisErr = proc.RedisServer(context.Background(), true)
	})
	if redisErr != nil {
		t.Skipf("this test runs redis-server, which could not be found or installed: %v", redisErr)
	}
	buildOnce.Do(func() {
		if buildDir, buildErr = os.MkdirTemp("", "cluster-node-"); buildErr != nil {
			return
		}
		nodeBin = filepath.Join(buildDir, "node")
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		buildErr = proc.BuildNode(ctx, ".", nodeBin, raceEnabled)
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return redisPath, nodeBin
}

// cluster is a redis-server and nodes, all stopped at the end of the test.
type cluster struct {
	t     *testing.T
	ctx   context.Context
	bin   string
	redis *proc.Redis
	rdb   *redis.Client // the test's own view of the histories
	args  []string

	mu    sync.Mutex
	nodes []*proc.Node
	dead  map[*proc.Node]bool
}

func startCluster(t *testing.T, ctx context.Context, nodes int, aof bool, args ...string) *cluster {
	t.Helper()
	rpath, bin := needProcesses(t)
	r, err := proc.StartRedis(ctx, rpath, t.TempDir(), aof)
	if err != nil {
		t.Fatal(err)
	}
	cl := &cluster{t: t, ctx: ctx, bin: bin, redis: r, args: args, dead: make(map[*proc.Node]bool)}
	cl.rdb = redis.NewClient(&redis.Options{Addr: r.Addr, Protocol: 2, DisableIdentity: true, MaxRetries: -1})
	t.Cleanup(func() {
		cl.mu.Lock()
		ns := slices.Clone(cl.nodes)
		cl.mu.Unlock()
		var wg sync.WaitGroup
		for _, n := range ns {
			wg.Go(n.Stop)
		}
		wg.Wait()
		cl.rdb.Close()
		r.Stop()
		if t.Failed() {
			for _, n := range ns {
				t.Logf("log of node %s:\n%s", n.Name, lastLines(n.Log(), 40))
			}
			t.Logf("log of redis:\n%s", lastLines(r.Log(), 20))
		}
	})
	for i := range nodes {
		cl.startNode(fmt.Sprintf("n%d", i))
	}
	return cl
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (cl *cluster) startNode(name string, extra ...string) *proc.Node {
	cl.t.Helper()
	args := append([]string{"-addr", "127.0.0.1:0", "-redis", cl.redis.Addr}, cl.args...)
	n, err := proc.StartNode(cl.ctx, cl.bin, name, append(args, extra...)...)
	if err != nil {
		cl.t.Fatal(err)
	}
	cl.mu.Lock()
	cl.nodes = append(cl.nodes, n)
	cl.mu.Unlock()
	if err := n.WaitHealth(cl.ctx, 200, 10*time.Second); err != nil {
		cl.t.Fatal(err)
	}
	return n
}

// urls returns the WebSocket URLs of the nodes not marked dead.
func (cl *cluster) urls() []string {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	var us []string
	for _, n := range cl.nodes {
		if !cl.dead[n] {
			us = append(us, n.WS(""))
		}
	}
	return us
}

func (cl *cluster) markDead(n *proc.Node) {
	cl.mu.Lock()
	cl.dead[n] = true
	cl.mu.Unlock()
}

func (cl *cluster) alive() []*proc.Node {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	var ns []*proc.Node
	for _, n := range cl.nodes {
		if !cl.dead[n] {
			ns = append(ns, n)
		}
	}
	return ns
}

// history reads a room's whole stream from Redis.
func (cl *cluster) history(room string) []redis.XMessage {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(cl.ctx, 5*time.Second)
	defer cancel()
	msgs, err := cl.rdb.XRange(ctx, "cluster:room:"+room, "-", "+").Result()
	if err != nil {
		cl.t.Fatalf("XRANGE %s: %v", room, err)
	}
	return msgs
}

// waitLive waits until every client is connected and live in its rooms.
func waitLive(t *testing.T, clients []*tclient, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		n := 0
		for _, c := range clients {
			if c.isLive() {
				n++
			}
		}
		if n == len(clients) {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range clients {
		if !c.isLive() {
			t.Fatalf("client %s not live after %v", c.name, d)
		}
	}
}

// converge waits until every client has exactly its rooms' histories
// (same ids, same data, same order), and fails with the differences if
// that does not happen within d. It returns the number of messages
// checked.
func converge(t *testing.T, cl *cluster, clients []*tclient, d time.Duration) int {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		hist := make(map[string][]redis.XMessage)
		var bad []string
		checked := 0
		for _, c := range clients {
			for _, room := range c.rooms {
				h, ok := hist[room]
				if !ok {
					h = cl.history(room)
					hist[room] = h
				}
				ids, datas := c.received(room)
				if d := diff(h, ids, datas); d != "" {
					bad = append(bad, fmt.Sprintf("%s in %s: %s", c.name, room, d))
				}
				checked += len(ids)
			}
		}
		if len(bad) == 0 {
			return checked
		}
		if time.Now().After(deadline) {
			if len(bad) > 10 {
				bad = append(bad[:10], fmt.Sprintf("... and %d more", len(bad)-10))
			}
			t.Fatalf("clients did not converge to the histories within %v:\n%s", d, strings.Join(bad, "\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// diff describes how what a client received differs from the history.
func diff(h []redis.XMessage, ids, datas []string) string {
	for i := range min(len(h), len(ids)) {
		if h[i].ID != ids[i] || entryData(h[i]) != datas[i] {
			return fmt.Sprintf("entry %d is %s %q, history has %s %q", i, ids[i], datas[i], h[i].ID, entryData(h[i]))
		}
	}
	if len(ids) != len(h) {
		return fmt.Sprintf("got %d entries, history has %d", len(ids), len(h))
	}
	return ""
}

// checkClean fails on any anomaly a client recorded, and on trimmed
// notices when none are expected.
func checkClean(t *testing.T, clients []*tclient) {
	t.Helper()
	for _, c := range clients {
		c.mu.Lock()
		an, tr := slices.Clone(c.anomalies), slices.Clone(c.trimmed)
		c.mu.Unlock()
		for _, a := range an {
			t.Error(a)
		}
		for _, m := range tr {
			t.Errorf("%s: unexpected trimmed notice %+v", c.name, m)
		}
	}
}

// checkSends checks the histories against what was sent: every message
// stored at most once, every acknowledged one stored at its id, none that
// was answered "unavailable" stored. It returns the counts.
func checkSends(t *testing.T, cl *cluster, rooms []string, clients []*tclient, attempts map[string]bool) (acked, unavailable, unconfirmed int) {
	t.Helper()
	where := make(map[string]string) // data -> id
	for _, room := range rooms {
		for _, m := range cl.history(room) {
			d := entryData(m)
			if _, dup := where[d]; dup {
				t.Errorf("room %s: %q stored twice", room, d)
			}
			if !attempts[d] {
				t.Errorf("room %s: %q stored but never sent", room, d)
			}
			where[d] = m.ID
		}
	}
	for _, c := range clients {
		c.mu.Lock()
		for ref, id := range c.acks {
			acked++
			if where[ref] != id {
				t.Errorf("%s: %s acknowledged at %s, history has it at %q", c.name, ref, id, where[ref])
			}
		}
		for ref, code := range c.nacks {
			switch code {
			case errUnavailable:
				unavailable++
				if id, ok := where[ref]; ok {
					t.Errorf("%s: %s refused as unavailable, but stored at %s", c.name, ref, id)
				}
			case errUnconfirmed:
				unconfirmed++
			default:
				t.Errorf("%s: %s refused with %s", c.name, ref, code)
			}
		}
		c.mu.Unlock()
	}
	return acked, unavailable, unconfirmed
}

// closeMarks and closesSince give the close codes clients received
// between two points of a test.
func closeMarks(clients []*tclient) []int {
	marks := make([]int, len(clients))
	for i, c := range clients {
		c.mu.Lock()
		marks[i] = len(c.closes)
		c.mu.Unlock()
	}
	return marks
}

func closesSince(clients []*tclient, marks []int) []websocket.StatusCode {
	var codes []websocket.StatusCode
	for i, c := range clients {
		c.mu.Lock()
		codes = append(codes, c.closes[marks[i]:]...)
		c.mu.Unlock()
	}
	return codes
}

func reconnects(clients []*tclient) int {
	n := 0
	for _, c := range clients {
		c.mu.Lock()
		n += c.reconnects
		c.mu.Unlock()
	}
	return n
}

// TestCluster runs three nodes on one Redis and 300 clients in seven
// rooms (six of 50, and a lobby that some are in as well), spread over
// the nodes so that every room has members on every node. Senders send
// throughout; between the phases every client must hold exactly its
// rooms' histories, in order. The phases: steady traffic; a node killed
// with SIGKILL (its clients reconnect elsewhere with since); Redis killed
// and restarted (the nodes keep their clients, say so on /healthz, refuse
// sends, then catch up); a node stopped with SIGTERM (1001, and its
// clients move).
func TestCluster(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := startCluster(t, ctx, 3, true, "-send-rate", "0")
	nodes := cl.alive()

	rooms := []string{"r0", "r1", "r2", "r3", "r4", "r5", "lobby"}
	cctx, stopClients := context.WithCancel(ctx)
	defer stopClients()
	var clients, senders []*tclient
	origin := make(map[*tclient]int) // node index first connected to
	for i := range 300 {
		rs := []string{rooms[(i/3)%6]}
		if i%7 == 0 {
			rs = append(rs, "lobby")
		}
		c := newClient(cctx, "c"+strconv.Itoa(i), rs, i%3, cl.urls)
		clients = append(clients, c)
		origin[c] = i % 3
		if i%10 == 0 || i%35 == 0 {
			senders = append(senders, c)
		}
	}
	for _, c := range clients {
		go c.run()
	}
	defer func() {
		stopClients()
		for _, c := range clients {
			<-c.done
		}
	}()
	waitLive(t, clients, 30*time.Second)

	var (
		mu       sync.Mutex
		attempts = make(map[string]bool)
		seq      atomic.Int64
	)
	// sendFor makes every sender send one message every interval for d,
	// alternating between its rooms.
	sendFor := func(d, interval time.Duration) {
		var wg sync.WaitGroup
		end := time.Now().Add(d)
		for _, s := range senders {
			wg.Go(func() {
				for k := 0; time.Now().Before(end); k++ {
					ref := fmt.Sprintf("%s-%d", s.name, seq.Add(1))
					mu.Lock()
					attempts[ref] = true
					mu.Unlock()
					s.send(s.rooms[k%len(s.rooms)], ref, ref) // an error: not connected, retried at the next tick
					sleep(ctx, interval)
				}
			})
		}
		wg.Wait()
	}
	// check takes the subtest's t: a FailNow on TestCluster's own t from
	// a subtest would end the next subtest too once one had failed.
	check := func(t *testing.T, phase string) {
		t.Helper()
		n := converge(t, cl, clients, 45*time.Second)
		checkClean(t, clients)
		mu.Lock()
		acked, unavail, unconf := checkSends(t, cl, rooms, clients, attempts)
		mu.Unlock()
		t.Logf("%s: %d deliveries checked; sends: %d acknowledged, %d unavailable, %d unconfirmed", phase, n, acked, unavail, unconf)
		if t.Failed() {
			t.FailNow()
		}
	}

	t.Run("steady", func(t *testing.T) {
		sendFor(time.Second, 50*time.Millisecond)
		check(t, "steady")
	})

	t.Run("node killed", func(t *testing.T) {
		before := reconnects(clients)
		var wg sync.WaitGroup
		wg.Go(func() { sendFor(3*time.Second, 30*time.Millisecond) })
		time.Sleep(time.Second)
		nodes[1].Signal(syscall.SIGKILL)
		cl.markDead(nodes[1])
		nodes[1].Wait(5 * time.Second)
		wg.Wait()
		waitLive(t, clients, 30*time.Second)
		check(t, "node killed")
		moved := 0
		for c, o := range origin {
			if o == 1 {
				c.mu.Lock()
				if c.reconnects > 0 && !strings.Contains(c.connNode, nodes[1].Addr) {
					moved++
				}
				c.mu.Unlock()
			}
		}
		if moved != 100 {
			t.Errorf("%d of the killed node's 100 clients reconnected elsewhere", moved)
		}
		t.Logf("%d reconnections", reconnects(clients)-before)
	})

	t.Run("redis restarted", func(t *testing.T) {
		before := reconnects(clients)
		closesBefore := closeMarks(clients)
		var wg sync.WaitGroup
		wg.Go(func() { sendFor(4*time.Second, 30*time.Millisecond) })
		time.Sleep(time.Second)
		cl.redis.Kill()
		for _, n := range cl.alive() {
			if err := n.WaitHealth(ctx, 503, 5*time.Second); err != nil {
				t.Error(err)
			}
			_, body, _ := n.Health(ctx)
			if !strings.Contains(string(body), `"status":"degraded"`) {
				t.Errorf("node %s: /healthz while Redis is down: %s", n.Name, body)
			}
		}
		time.Sleep(time.Second)
		if err := cl.redis.Start(ctx); err != nil {
			t.Fatal(err)
		}
		for _, n := range cl.alive() {
			if err := n.WaitHealth(ctx, 200, 10*time.Second); err != nil {
				t.Error(err)
			}
		}
		wg.Wait()
		check(t, "redis restarted")
		// A node keeps its clients while Redis is away. The drops it makes
		// by design still happen meanwhile: a member too slow for its
		// queue (1008, likely on a loaded machine under -race) and one
		// still catching up when the history it reads changed (1013);
		// any other reconnection is a client the node lost.
		if n := reconnects(clients) - before; n != 0 {
			codes := closesSince(clients, closesBefore)
			explained := 0
			for _, code := range codes {
				if code == websocket.StatusPolicyViolation || code == websocket.StatusTryAgainLater {
					explained++
				}
			}
			t.Logf("%d reconnections while Redis was away, after closes %v", n, codes)
			if n > explained {
				t.Errorf("%d clients reconnected while Redis was away (closes %v); nodes should keep them", n-explained, codes)
			}
		}
		unavailable := 0
		for _, s := range senders {
			s.mu.Lock()
			for _, code := range s.nacks {
				if code == errUnavailable {
					unavailable++
				}
			}
			s.mu.Unlock()
		}
		if unavailable == 0 {
			t.Error("no send was refused as unavailable while Redis was down")
		}
	})

	t.Run("node stopped", func(t *testing.T) {
		var wg sync.WaitGroup
		wg.Go(func() { sendFor(3*time.Second, 30*time.Millisecond) })
		time.Sleep(time.Second)
		var onNode0 []*tclient
		for _, c := range clients {
			c.mu.Lock()
			if strings.Contains(c.connNode, nodes[0].Addr) {
				onNode0 = append(onNode0, c)
			}
			c.mu.Unlock()
		}
		nodes[0].Signal(syscall.SIGTERM)
		cl.markDead(nodes[0])
		if err := nodes[0].Wait(15 * time.Second); err != nil {
			t.Errorf("node stopped with SIGTERM: %v", err)
		}
		wg.Wait()
		waitLive(t, clients, 30*time.Second)
		check(t, "node stopped")
		for _, c := range onNode0 {
			c.mu.Lock()
			if !slices.Contains(c.closes, websocket.StatusGoingAway) {
				t.Errorf("%s: closes %v, want 1001 from the stopped node", c.name, c.closes)
			}
			if strings.Contains(c.connNode, nodes[0].Addr) {
				t.Errorf("%s still on the stopped node", c.name)
			}
			c.mu.Unlock()
		}
		if len(onNode0) < 100 {
			t.Errorf("only %d clients were on the stopped node", len(onNode0))
		}
	})
}
