// Command cluster is one node of a chat service that runs as many
// processes behind a load balancer, with rooms shared through Redis.
//
//	go run . -addr 127.0.0.1:8081 -redis 127.0.0.1:6379
//
// Every message sent to a room is appended to the room's Redis Stream,
// which gives it its id and its place in the room's order, and every node
// with members in the room reads it from there and sends it to them. A
// client that reconnects with since=ID (to any node) first gets what it
// missed, then the live messages, with no gap and no duplicate, or is told
// that part of it was trimmed away. See README.md for the protocol, the
// guarantees and their limits.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strings"
	"syscall"
	"time"

	"github.com/ccf874ba/websocket"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

type config struct {
	addr, redis, prefix, nodeID string
	history                     int64
	shards, queue, pending      int
	maxMessage                  int64
	maxRooms                    int
	sendRate, sendBurst         float64
	ping, writeTimeout          time.Duration
	sendTimeout, shutdown       time.Duration
	origins                     []string
	debugAddr                   string
}

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("cluster", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to listen on (port 0: any; the first line printed says which)")
	fs.StringVar(&cfg.redis, "redis", "127.0.0.1:6379", "Redis address, or a redis:// or rediss:// URL")
	fs.StringVar(&cfg.prefix, "prefix", "cluster:", "prefix of every Redis key")
	fs.StringVar(&cfg.nodeID, "node", "", "node name in logs and /healthz (default: random)")
	fs.Int64Var(&cfg.history, "history", 10000, "entries kept per room (at least; Redis trims in whole blocks)")
	fs.IntVar(&cfg.shards, "readers", 4, "reader goroutines (one Redis connection each); rooms are spread over them")
	fs.IntVar(&cfg.queue, "queue", 256, "messages queued per client before it is dropped (1008)")
	fs.IntVar(&cfg.pending, "pending", 4096, "live messages held per client while it catches up before it is dropped")
	fs.Int64Var(&cfg.maxMessage, "max-message", 64<<10, "largest client message, bytes (1009 beyond)")
	fs.IntVar(&cfg.maxRooms, "max-rooms", 32, "rooms per connection")
	fs.Float64Var(&cfg.sendRate, "send-rate", 100, "sends per second per connection (0: no limit)")
	fs.Float64Var(&cfg.sendBurst, "send-burst", 0, "burst of sends per connection (default: one second's worth)")
	fs.DurationVar(&cfg.ping, "ping", 30*time.Second, "keepalive ping interval, reaps dead peers (0: off)")
	fs.DurationVar(&cfg.writeTimeout, "write-timeout", 5*time.Second, "time a client gets to take what is queued for it")
	fs.DurationVar(&cfg.sendTimeout, "send-timeout", 3*time.Second, "time limit for storing a message in Redis")
	fs.DurationVar(&cfg.shutdown, "shutdown-timeout", 10*time.Second, "grace period at SIGTERM")
	fs.StringVar(&cfg.debugAddr, "debug-addr", "", "if set, serve /debug/pprof on this address (keep it on loopback)")
	origins := fs.String("origins", "", "comma-separated hosts whose pages may connect, besides this one (path.Match patterns)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if *origins != "" {
		cfg.origins = strings.Split(*origins, ",")
	}
	if cfg.nodeID == "" {
		var b [4]byte
		rand.Read(b[:])
		cfg.nodeID = hex.EncodeToString(b[:])
	}
	if cfg.sendBurst <= 0 {
		cfg.sendBurst = max(cfg.sendRate, 1)
	}
	switch {
	case cfg.history < 1:
		return cfg, errors.New("-history must be at least 1")
	case cfg.shards < 1 || cfg.queue < 2 || cfg.pending < 1 || cfg.maxRooms < 1:
		return cfg, errors.New("-readers, -queue, -pending and -max-rooms must be positive (-queue at least 2)")
	}
	return cfg, nil
}

func main() {
	cfg, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		os.Exit(2)
	}
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("node " + cfg.nodeID + ": ")
	redis.SetLogger(quietLogger{}) // Redis trouble is reported once, by /healthz and the log below

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

type quietLogger struct{}

func (quietLogger) Printf(context.Context, string, ...any) {}

// newRedis makes a client that never retries by itself: a retried XADD
// whose first reply was lost would store the message twice. The node
// retries reads itself, and reports failed sends to their sender.
func newRedis(addr string, pool int) (*redis.Client, error) {
	opt := &redis.Options{Addr: addr}
	if strings.Contains(addr, "://") {
		var err error
		if opt, err = redis.ParseURL(addr); err != nil {
			return nil, err
		}
	}
	opt.Protocol = 2
	opt.MaxRetries = -1
	opt.DialTimeout = time.Second
	opt.DialerRetries = 1
	opt.ReadTimeout = 3 * time.Second
	opt.WriteTimeout = 3 * time.Second
	opt.PoolSize = pool
	opt.ContextTimeoutEnabled = true
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return redis.NewClient(opt), nil
}

func run(ctx context.Context, cfg config, stdout io.Writer) error {
	rdb, err := newRedis(cfg.redis, 64)
	if err != nil {
		return err
	}
	defer rdb.Close()
	readers, err := newRedis(cfg.redis, cfg.shards+1)
	if err != nil {
		return err
	}
	defer readers.Close()

	n := newNode(cfg, rdb, readers)
	nctx, cancel := context.WithCancel(context.Background())
	bg := n.start(nctx)
	defer func() {
		cancel()
		bg.Wait()
	}()

	if cfg.debugAddr != "" {
		dl, err := net.Listen("tcp", cfg.debugAddr)
		if err != nil {
			return err
		}
		defer dl.Close()
		dm := http.NewServeMux()
		dm.HandleFunc("/debug/pprof/", pprof.Index)
		dm.HandleFunc("/debug/pprof/profile", pprof.Profile)
		dm.HandleFunc("POST /debug/gc", func(w http.ResponseWriter, r *http.Request) {
			debug.FreeOSMemory() // a GC, and memory returned to the OS: RSS shows what is live
		})
		go http.Serve(dl, dm)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /ws", n.serveWS)
	mux.HandleFunc("GET /healthz", n.serveHealth)
	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	log.Printf("listening on %s, Redis %s, history %d per room", ln.Addr(), cfg.redis, cfg.history)

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}

	// Stop accepting, then close every client with 1001 (going away) so
	// that it reconnects, to another node, with since.
	start := time.Now()
	log.Printf("shutting down: %d clients", n.conns.Len())
	n.health.mu.Lock()
	n.health.shutting = true
	n.health.mu.Unlock()
	sctx, scancel := context.WithTimeout(context.Background(), cfg.shutdown)
	defer scancel()
	hs.Shutdown(sctx)
	n.stopMembers()
	closed := make(chan struct{})
	go func() {
		n.conns.Close(websocket.StatusGoingAway, "server shutting down")
		n.wg.Wait()
		close(closed)
	}()
	select {
	case <-closed:
	case <-sctx.Done():
		log.Printf("shutdown: %d clients still open after %v", n.conns.Len(), cfg.shutdown)
	}
	log.Printf("shut down in %v", time.Since(start).Round(time.Millisecond))
	return nil
}

// healthReport is the body of /healthz.
type healthReport struct {
	Status     string `json:"status"` // ok, degraded (Redis unreachable) or shutting_down
	Node       string `json:"node"`
	Redis      string `json:"redis"` // ok or unreachable
	Error      string `json:"error,omitempty"`
	DownSince  string `json:"down_since,omitempty"`
	Clients    int    `json:"clients"`
	Rooms      int    `json:"rooms"`
	Delivered  int64  `json:"delivered"`
	Replayed   int64  `json:"replayed"`
	Dropped    int64  `json:"dropped"`        // too slow: queue full (1008)
	Timeouts   int64  `json:"write_timeouts"` // too slow: a write over -write-timeout (cut off)
	Sent       int64  `json:"sent"`
	SendErrors int64  `json:"send_errors"`
	Gaps       int64  `json:"gaps"`
	Goroutines int    `json:"goroutines"`
	HeapBytes  uint64 `json:"heap_bytes"`  // live heap objects
	StackBytes uint64 `json:"stack_bytes"` // goroutine stacks
}

// serveHealth answers 200 when the node can serve, and 503 with the
// reason otherwise (Redis unreachable, shutting down), for a load
// balancer's health check.
func (n *node) serveHealth(w http.ResponseWriter, r *http.Request) {
	st, errText, since := n.health.status()
	rep := healthReport{
		Status:     st,
		Node:       n.id,
		Redis:      "ok",
		Error:      errText,
		Clients:    n.conns.Len(),
		Delivered:  n.stats.delivered.Load(),
		Replayed:   n.stats.replayed.Load(),
		Dropped:    n.stats.dropped.Load(),
		Timeouts:   n.stats.timeouts.Load(),
		Sent:       n.stats.sent.Load(),
		SendErrors: n.stats.sendErrs.Load(),
		Gaps:       n.stats.gaps.Load(),
		Goroutines: runtime.NumGoroutine(),
	}
	samples := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(samples)
	rep.HeapBytes, rep.StackBytes = samples[0].Value.Uint64(), samples[1].Value.Uint64()
	if !since.IsZero() {
		rep.Redis = "unreachable"
		rep.DownSince = since.UTC().Format(time.RFC3339Nano)
	}
	for _, sh := range n.shards {
		sh.mu.Lock()
		rep.Rooms += len(sh.rooms)
		sh.mu.Unlock()
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if st != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(rep)
}
