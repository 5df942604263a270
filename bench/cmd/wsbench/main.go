// Command wsbench compares this module's WebSocket library with
// gorilla/websocket, coder/websocket, gobwas/ws and lxzan/gws on loopback,
// all in one run, and writes the tables to RESULTS.md.
//
//	wsbench all [flags]            everything (see bench/run.sh)
//	wsbench profile -lib ours ...  CPU profile of one echo server under load
//
// Servers and library clients run in child processes of this same binary
// (roles child-server and child-client), so their allocations, CPU time and
// RSS are measured alone; the common load client and the common echo server
// are hand-written raw RFC 6455 code that allocates nothing per message.
// Traffic goes to 127.0.0.1 only, and every loop is bounded in time.
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ccf874ba/websocket/bench/internal/wsb"
)

type options struct {
	quick       bool
	warm, dur   time.Duration
	reps        int
	conns       []int
	sizes       []int
	servers     []string
	idleServers []string
	clients     []string
	idleConns   int
	// compress part
	compressServers []string
	compressConns   []int
	compressSizes   []int
	compressIdle    int
	bcastSize       int
	bcastRounds     int
	parts           map[string]bool
	maskFile        string
	framingFile     string
	out             string
	command         string
	// external servers (external.go), by name, in flag order
	externals    map[string]externalSpec
	externalList []string
	descriptions map[string]string // -describe, for externals
	limit        string            // the reference column of the "÷ limit" tables
	notes        []string          // -note lines for the report's header
	// profile
	lib      string
	profOut  string
	profTime time.Duration
}

func main() {
	if len(os.Args) >= 3 {
		switch os.Args[1] {
		case "child-server":
			if err := childServer(os.Args[2]); err != nil {
				fmt.Fprintln(os.Stderr, "child-server:", err)
				os.Exit(1)
			}
			return
		case "child-client":
			if err := childClient(os.Args[2]); err != nil {
				fmt.Fprintln(os.Stderr, "child-client:", err)
				os.Exit(1)
			}
			return
		}
	}
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: wsbench all|profile [flags]")
		os.Exit(2)
	}
	sub := os.Args[1]
	fs := flag.NewFlagSet(sub, flag.ExitOnError)
	o := &options{}
	fs.BoolVar(&o.quick, "quick", os.Getenv("QUICK") == "1", "short run (about two minutes): 1 repetition, short cells, 2,000 idle connections (1,000 per deflate server and mode)")
	dur := fs.Duration("dur", 0, "measured time per echo cell (default 400ms, quick 200ms)")
	warm := fs.Duration("warmup", 0, "warm-up per echo cell before measuring (default 100ms, quick 60ms)")
	reps := fs.Int("reps", 0, "repetitions of every echo cell; medians are reported (default 5, quick 1)")
	conns := fs.String("conns", "1,16,256", "connection counts of the echo matrix")
	sizes := fs.String("sizes", "16,1024,65536", "payload sizes of the echo matrix, bytes")
	servers := fs.String("servers", strings.Join(wsb.ServerNames, ","), "echo servers to measure")
	idleServers := fs.String("idle-servers", strings.Join(wsb.ServerNames, ","), "servers of the idle and broadcast test")
	clients := fs.String("clients", strings.Join(wsb.ClientNames, ","), "library clients to measure")
	idle := fs.Int("idle", 0, "idle connections per server (default 10000, quick 2000)")
	fs.IntVar(&o.bcastSize, "bcast-size", 1024, "broadcast message size, bytes")
	bcastRounds := fs.Int("bcast-rounds", 0, "broadcasts per mode; medians are reported (default 7, quick 2)")
	compressServers := fs.String("compress-servers", strings.Join(wsb.DeflateServerNames, ","), "servers of the compress part")
	compressConns := fs.String("compress-conns", "16", "connection counts of the compress part's echo cells")
	compressSizes := fs.String("compress-sizes", "1024,16384", "message sizes of the compress part's echo cells, bytes")
	compressIdle := fs.Int("compress-idle", 0, "idle connections per server and mode in the compress part (default 3000, quick 1000; -1: skip)")
	parts := fs.String("parts", "echo,client,idle,compress", "parts to run: echo (server side), client (client side), idle (idle memory and broadcast), compress (permessage-deflate: echo and idle memory per mode)")
	fs.StringVar(&o.maskFile, "mask", "", "output of the go test -bench Mask runs to include")
	fs.StringVar(&o.framingFile, "framing", "", "output of the go test -bench Framing runs to include")
	fs.StringVar(&o.out, "out", "", "write the report (markdown) to this file too")
	fs.StringVar(&o.command, "command", "", "the command line to quote in the report")
	o.externals = map[string]externalSpec{}
	o.descriptions = map[string]string{}
	fs.Func("external", "NAME=COMMAND: an echo server that is a program of its own (repeatable); {port} in COMMAND is replaced by a free loopback port, "+
		"and the program must print a line starting with \"ready\" (optionally \"ready HOST:PORT\") on stdout once it listens; "+
		"added to -servers and -idle-servers unless those are given", func(v string) error {
		spec, err := parseExternal(v)
		if err != nil {
			return err
		}
		if _, dup := o.externals[spec.name]; !dup {
			o.externalList = append(o.externalList, spec.name)
		}
		o.externals[spec.name] = spec
		return nil
	})
	fs.Func("describe", "NAME=TEXT: the report's description of an -external server (repeatable)", func(v string) error {
		name, text, ok := strings.Cut(v, "=")
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("want NAME=TEXT, got %q", v)
		}
		o.descriptions[strings.TrimSpace(name)] = strings.TrimSpace(text)
		return nil
	})
	fs.StringVar(&o.limit, "limit", "uws", "the reference server (the practical limit): never a peer; every other server is compared with it in \"÷ NAME\" tables when it was measured")
	fs.Func("note", "a line for the report's header, e.g. why a column was skipped (repeatable)", func(v string) error {
		o.notes = append(o.notes, v)
		return nil
	})
	fs.StringVar(&o.lib, "lib", "ours", "profile: the server to profile")
	fs.StringVar(&o.profOut, "o", "server.prof", "profile: CPU profile file")
	fs.DurationVar(&o.profTime, "ptime", 3*time.Second, "profile: load time per cell")
	fs.Parse(os.Args[2:])

	o.warm = pick(*warm, 100*time.Millisecond, 60*time.Millisecond, o.quick)
	o.dur = pick(*dur, 400*time.Millisecond, 200*time.Millisecond, o.quick)
	o.reps = pick(*reps, 5, 1, o.quick)
	o.idleConns = pick(*idle, 10000, 2000, o.quick)
	o.bcastRounds = pick(*bcastRounds, 7, 2, o.quick)
	o.conns = intList(*conns)
	o.sizes = intList(*sizes)
	o.servers = strList(*servers)
	o.clients = strList(*clients)
	o.idleServers = strList(*idleServers)
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	for _, name := range o.externalList {
		if !set["servers"] && !slices.Contains(o.servers, name) {
			o.servers = append(o.servers, name)
		}
		if !set["idle-servers"] && !slices.Contains(o.idleServers, name) {
			o.idleServers = append(o.idleServers, name)
		}
	}
	o.compressServers = strList(*compressServers)
	o.compressConns = intList(*compressConns)
	o.compressSizes = intList(*compressSizes)
	o.compressIdle = max(pick(*compressIdle, 3000, 1000, o.quick), 0)
	o.parts = map[string]bool{}
	for _, p := range strList(*parts) {
		o.parts[p] = true
	}
	nofile := raiseNofile()
	fmt.Fprintf(os.Stderr, "RLIMIT_NOFILE %d\n", nofile)

	switch sub {
	case "all":
		if err := runAll(o); err != nil {
			fmt.Fprintln(os.Stderr, "wsbench:", err)
			os.Exit(1)
		}
	case "profile":
		if err := runProfile(o); err != nil {
			fmt.Fprintln(os.Stderr, "wsbench:", err)
			os.Exit(1)
		}
	default:
		fmt.Fprintln(os.Stderr, "unknown subcommand", sub)
		os.Exit(2)
	}
}

// loadAvg returns the 1, 5 and 15 minute load averages.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func pick[T comparable](v, def, quick T, q bool) T {
	var zero T
	if v != zero {
		return v
	}
	if q {
		return quick
	}
	return def
}

func intList(s string) []int {
	var out []int
	for _, f := range strList(s) {
		n, err := strconv.Atoi(f)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bad number %q\n", f)
			os.Exit(2)
		}
		out = append(out, n)
	}
	return out
}

func strList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

type results struct {
	start              time.Time
	loadStart, loadEnd string
	partTime           map[string]time.Duration
	echo               map[cellKey][]cellResult
	client             map[cellKey][]cellResult
	idle               []idleResult
	compress           *compressResults
	nofile             uint64
	elapsed            time.Duration
}

func runAll(o *options) error {
	res := &results{start: time.Now(), nofile: raiseNofile(), loadStart: loadAvg(), partTime: map[string]time.Duration{}}
	t := time.Now()
	if o.parts["echo"] {
		children := map[string]echoServer{}
		var servers []string
		for _, lib := range o.servers {
			ch, err := startServer(o, lib)
			if err != nil {
				if _, ext := o.externals[lib]; !ext {
					return err
				}
				// An external program that does not start costs its
				// column, not the run.
				fmt.Fprintf(os.Stderr, "echo: %s skipped: %v\n", lib, err)
				o.notes = append(o.notes, fmt.Sprintf("%s: skipped in the echo part: %v", lib, err))
				continue
			}
			children[lib] = ch
			servers = append(servers, lib)
			defer ch.stop()
		}
		o.servers = servers
		res.echo = runMatrix("server", o.servers, o, func(lib string, conns, size int) cellResult {
			return serverCell(children[lib], conns, size, o.warm, o.dur)
		})
		for _, ch := range children {
			ch.stop()
		}
		res.partTime["echo"] = time.Since(t)
	}
	t = time.Now()
	if o.parts["client"] {
		rs, err := wsb.NewRawServer("127.0.0.1:0")
		if err != nil {
			return err
		}
		defer rs.Close()
		children := map[string]*child{}
		for _, lib := range o.clients {
			ch, err := startChild("child-client", lib)
			if err != nil {
				return err
			}
			children[lib] = ch
			defer ch.stop()
		}
		res.client = runMatrix("client", o.clients, o, func(lib string, conns, size int) cellResult {
			return clientCellRemote(children[lib], rs, conns, size, o.warm, o.dur)
		})
		for _, ch := range children {
			ch.stop()
		}
		res.partTime["client"] = time.Since(t)
	}
	t = time.Now()
	if o.parts["idle"] {
		for _, lib := range o.idleServers {
			r := idleTest(lib, o.idleConns, o)
			if r.err != nil {
				fmt.Fprintf(os.Stderr, "idle %s ERROR %v\n", lib, r.err)
			} else if !r.goRuntime {
				fmt.Fprintf(os.Stderr, "idle %-13s %d conns: RSS %.0f B/conn\n", lib, r.conns, r.per(func(m memSnap) int64 { return m.rss }))
			} else {
				fmt.Fprintf(os.Stderr, "idle %-13s %d conns: heap %.0f B/conn, stack %.0f B/conn, RSS %.0f B/conn\n", lib, r.conns,
					r.per(func(m memSnap) int64 { return m.heapInuse }), r.per(func(m memSnap) int64 { return m.stackInuse }), r.per(func(m memSnap) int64 { return m.rss }))
			}
			res.idle = append(res.idle, r)
			// Let the closed sockets of this server drain before the next.
			time.Sleep(300 * time.Millisecond)
		}
		res.partTime["idle"] = time.Since(t)
	}
	t = time.Now()
	if o.parts["compress"] {
		cr, err := runCompress(o)
		if err != nil {
			return err
		}
		res.compress = cr
		res.partTime["compress"] = time.Since(t)
	}
	res.elapsed = time.Since(res.start)
	res.loadEnd = loadAvg()
	report := renderReport(o, res)
	fmt.Print(report)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(report), 0o644); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote %s\n", o.out)
	}
	return nil
}

// runProfile runs one echo server in a child with the CPU profiler on,
// under the common raw client, for every cell of the matrix.
func runProfile(o *options) error {
	ch, err := startChild("child-server", o.lib)
	if err != nil {
		return err
	}
	defer ch.stop()
	f, err := ch.call("cpuprofile %s", o.profOut)
	if err != nil || len(f) != 1 || f[0] != "<nil>" {
		return fmt.Errorf("cpuprofile: %v %v", f, err)
	}
	for _, conns := range o.conns {
		for _, size := range o.sizes {
			r := serverCell(ch, conns, size, 100*time.Millisecond, o.profTime)
			if r.err != nil {
				return r.err
			}
			fmt.Fprintf(os.Stderr, "profile %s conns=%d size=%d: %.0f msg/s %.2f allocs/msg %.2f cpu-µs/msg\n", o.lib, conns, size, r.rate, r.allocs, r.cpuUs)
		}
	}
	if _, err := ch.call("cpuprofile-stop"); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote %s (go tool pprof -top %s)\n", o.profOut, o.profOut)
	return nil
}
