package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ccf874ba/websocket/bench/internal/wsb"
)

// The compress part: every library's echo server with permessage-deflate
// (RFC 7692), in each negotiated mode, under one common deflate client (the
// raw client with prebuilt compressed frames, wsb.DeflateClient): round
// trips, server CPU and allocations per round trip, and memory per idle
// connection after one compressed echo.

// deflateEnv tells a child server to start the library's deflate server;
// its value is the mode's key.
const deflateEnv = "WSBENCH_DEFLATE"

type deflateMode struct {
	key      string // value of deflateEnv, and the mode's name in logs
	title    string
	takeover bool
}

var deflateModes = []deflateMode{
	{"no-takeover", "no context takeover", false},
	{"takeover", "context takeover", true},
}

// deflateIdleSize is the size of the one compressed message each idle
// connection echoes.
const deflateIdleSize = 1 << 10

// negInfo is what the common client saw of one server in one mode.
type negInfo struct {
	response             string
	clientCtx, serverCtx bool
	echoes, wire         map[int]int64 // by message size: echoes read, payload bytes on the wire
	compressed, total    int64
}

type negKey struct{ mode, lib string }

type compressResults struct {
	sets map[int]*wsb.DeflateSet
	echo map[string]map[cellKey][]cellResult // by mode key
	neg  map[negKey]*negInfo
	mem  map[string][]idleResult // by mode key
}

// cellNeg is one cell's view of the negotiation and the echo sizes.
type cellNeg struct {
	response                         string
	clientCtx, serverCtx             bool
	echoes, compressed, wire, frames int64
}

// compressCell measures one deflate echo server under the common deflate
// client, like serverCell.
func compressCell(ch *child, set *wsb.DeflateSet, takeover bool, conns int, warm, dur time.Duration) (cellResult, cellNeg) {
	var neg cellNeg
	cs, err := dialMany(conns, 32, func() (*wsb.DeflateClient, error) {
		return wsb.DialDeflate(ch.addr, set, takeover, 10*time.Second)
	})
	closeAll := func() {
		for _, c := range cs {
			c.Close()
		}
		cs = nil
	}
	defer closeAll()
	if err != nil {
		return cellResult{err: fmt.Errorf("dial: %w", err)}, neg
	}
	deadline := time.Now().Add(warm + dur + 20*time.Second)
	trips := make([]func() error, len(cs))
	for i, c := range cs {
		c.NetConn().SetDeadline(deadline)
		trips[i] = c.RoundTrip
	}
	r := loadCell(ch, trips, warm, dur, func() {
		// The loops have ended: the clients' counters are safe to read.
		neg.response, neg.clientCtx, neg.serverCtx = cs[0].Response, cs[0].ClientTakeover, cs[0].ServerTakeover
		for _, c := range cs {
			neg.echoes += c.Echoes
			neg.compressed += c.CompressedEchoes
			neg.wire += c.EchoWire
		}
		closeAll()
	})
	return r, neg
}

// compressIdleTest opens n deflate connections to a fresh deflate server of
// lib, one compressed echo each (verified), and measures the server's
// memory, like idleTest.
func compressIdleTest(lib string, m deflateMode, n int, set *wsb.DeflateSet) idleResult {
	r := idleResult{lib: lib, want: n, goRuntime: true}
	ch, err := startChild("child-server", lib, deflateEnv+"="+m.key)
	if err != nil {
		r.err = err
		return r
	}
	defer ch.kill()
	r.base, err = ch.mem()
	if err != nil {
		r.err = err
		return r
	}
	t0 := time.Now()
	cs, derr := dialMany(n, 64, func() (*wsb.DeflateClient, error) {
		return wsb.DialDeflate(ch.addr, set, m.takeover, 10*time.Second)
	})
	defer func() {
		ch.kill() // first, so the server side holds the TIME_WAIT sockets
		for _, c := range cs {
			c.Close()
		}
	}()
	r.dialErr = derr
	r.conns = len(cs)
	if err := parallel(len(cs), 64, func(i int) error {
		c := cs[i]
		c.NetConn().SetDeadline(time.Now().Add(30 * time.Second))
		defer c.NetConn().SetDeadline(time.Time{})
		return c.RoundTrip()
	}); err != nil {
		r.err = fmt.Errorf("echo: %v", err)
		return r
	}
	fmt.Fprintf(os.Stderr, "deflate %-11s idle %-14s %d connections up and echoed in %v\n", m.key, lib, len(cs), time.Since(t0).Round(time.Millisecond))
	time.Sleep(200 * time.Millisecond)
	r.after, err = ch.mem()
	if err != nil {
		r.err = err
		return r
	}
	if r.after.active != int64(len(cs)) {
		r.err = fmt.Errorf("server reports %d open connections, want %d", r.after.active, len(cs))
	}
	return r
}

func runCompress(o *options) (*compressResults, error) {
	res := &compressResults{
		sets: map[int]*wsb.DeflateSet{},
		echo: map[string]map[cellKey][]cellResult{},
		neg:  map[negKey]*negInfo{},
		mem:  map[string][]idleResult{},
	}
	for _, size := range append(slices.Clone(o.compressSizes), deflateIdleSize) {
		if res.sets[size] == nil {
			res.sets[size] = wsb.NewDeflateSet(size)
		}
	}
	oc := *o
	oc.conns, oc.sizes = o.compressConns, o.compressSizes
	for _, m := range deflateModes {
		children := map[string]*child{}
		for _, lib := range o.compressServers {
			ch, err := startChild("child-server", lib, deflateEnv+"="+m.key)
			if err != nil {
				for _, c := range children {
					c.stop()
				}
				return nil, err
			}
			children[lib] = ch
		}
		res.echo[m.key] = runMatrix("deflate "+m.key, o.compressServers, &oc, func(lib string, conns, size int) cellResult {
			r, cn := compressCell(children[lib], res.sets[size], m.takeover, conns, o.warm, o.dur)
			if cn.response != "" {
				k := negKey{m.key, lib}
				ni := res.neg[k]
				if ni == nil {
					ni = &negInfo{echoes: map[int]int64{}, wire: map[int]int64{}}
					res.neg[k] = ni
				}
				ni.response, ni.clientCtx, ni.serverCtx = cn.response, cn.clientCtx, cn.serverCtx
				ni.echoes[size] += cn.echoes
				ni.wire[size] += cn.wire
				ni.compressed += cn.compressed
				ni.total += cn.echoes
			}
			return r
		})
		for _, ch := range children {
			ch.stop()
		}
	}
	if o.compressIdle > 0 {
		for _, m := range deflateModes {
			for _, lib := range o.compressServers {
				r := compressIdleTest(lib, m, o.compressIdle, res.sets[deflateIdleSize])
				if r.err != nil {
					fmt.Fprintf(os.Stderr, "deflate %-11s idle %-14s ERROR %v\n", m.key, lib, r.err)
				} else {
					fmt.Fprintf(os.Stderr, "deflate %-11s idle %-14s %d conns: heap %.0f B/conn, stack %.0f B/conn, RSS %.0f B/conn\n", m.key, lib, r.conns,
						r.per(func(m memSnap) int64 { return m.heapInuse }), r.per(func(m memSnap) int64 { return m.stackInuse }), r.per(func(m memSnap) int64 { return m.rss }))
				}
				res.mem[m.key] = append(res.mem[m.key], r)
				time.Sleep(300 * time.Millisecond)
			}
		}
	}
	return res, nil
}

// ---- report ----

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func avgLen(bs [][]byte) float64 {
	n := 0
	for _, b := range bs {
		n += len(b)
	}
	return float64(n) / float64(len(bs))
}

func compressSection(o *options, res *compressResults, summary *[]string) string {
	var b strings.Builder
	libs := o.compressServers
	b.WriteString("The library under test is the server; the client is the common one of this report, not any library: the hand-written raw client " +
		"(`internal/wsb/deflate.go`), which offers permessage-deflate, sends prebuilt compressed frames and reads the echoes without inflating them " +
		"(the first echo of every connection is inflated and compared with what was sent; `go test` checks every echo of every server in both modes). " +
		"Messages are binary (as in the other parts), their content JSON-like text: arrays of event records with repeating keys and random values; " +
		"per size, as many different messages as fill 64 KiB, at least 16, sent in turn (so a server compressing with context never finds the message it echoes verbatim in its 32 KiB window). " +
		"Without context takeover the client sends each message compressed on its own; with context takeover, one deflate stream in which each message may refer back to the earlier ones " +
		"(the stream's first message refers to nothing, so the messages can be replayed in a loop and every reference still points at what this connection already carried). " +
		"Each server inflates every message and compresses its echo.\n\n")
	var sizeNotes []string
	seen := map[int]bool{}
	for _, size := range append(slices.Clone(o.compressSizes), deflateIdleSize) {
		s := res.sets[size]
		if s == nil || seen[size] {
			continue
		}
		seen[size] = true
		sizeNotes = append(sizeNotes, fmt.Sprintf("%s: %d messages, %.0f B compressed alone, %.0f B with context (mean)", fmtSize(size), len(s.Plain), avgLen(s.Indep), avgLen(s.Stream)))
	}
	fmt.Fprintf(&b, "Client messages (flate.BestSpeed): %s.\n\n", strings.Join(sizeNotes, "; "))
	for _, m := range deflateModes {
		fmt.Fprintf(&b, "- Offer for %s: `Sec-WebSocket-Extensions: %s`\n", m.title, wsb.DeflateOffer(m.takeover))
	}

	// Negotiation.
	b.WriteString("\n### What each server negotiated, and the size of its echoes\n\n")
	head := []string{"mode", "server", "Sec-WebSocket-Extensions response", "client keeps context", "server keeps context"}
	for _, size := range o.compressSizes {
		head = append(head, "echo on the wire, "+fmtSize(size))
	}
	var rows [][]string
	for _, m := range deflateModes {
		for _, lib := range libs {
			ni := res.neg[negKey{m.key, lib}]
			if ni == nil {
				rows = append(rows, []string{m.title, lib, "(no cell completed)", "", ""})
				continue
			}
			row := []string{m.title, lib, "`" + ni.response + "`", yesNo(ni.clientCtx), yesNo(ni.serverCtx)}
			for _, size := range o.compressSizes {
				if n := ni.echoes[size]; n > 0 {
					w := float64(ni.wire[size]) / float64(n)
					row = append(row, fmt.Sprintf("%.0f B (%.0f%%)", w, 100*w/float64(size)))
				} else {
					row = append(row, "–")
				}
			}
			rows = append(rows, row)
		}
	}
	b.WriteString("\"Client keeps context\": the response lets the client compress with context (it then sends the context-takeover stream). " +
		"\"Server keeps context\": the response does not say server_no_context_takeover, so the server may compress its echoes with context. " +
		"\"Echo on the wire\": mean payload bytes of the server's echo over every echo of the throughput cells (percent of the message size).\n\n")
	b.WriteString(table(head, rows))

	for i, m := range deflateModes {
		data := res.echo[m.key]
		if data == nil {
			continue
		}
		fmt.Fprintf(&b, "\n### 5.%d %s\n\n", i+1, strings.ToUpper(m.title[:1])+m.title[1:])
		for _, lib := range libs {
			fmt.Fprintf(&b, "- **%s**: %s\n", lib, wsb.DeflateServerDescription(lib, m.takeover))
		}
		// Best peer: in the takeover mode, only peers that negotiated
		// context takeover in some direction.
		var peers []string
		var fallback []string
		for _, lib := range libs {
			if isOurs(lib) {
				continue
			}
			ni := res.neg[negKey{m.key, lib}]
			if !m.takeover || (ni != nil && (ni.clientCtx || ni.serverCtx)) {
				peers = append(peers, lib)
			} else {
				fallback = append(fallback, lib)
			}
		}
		b.WriteString("\n")
		if len(fallback) > 0 {
			fmt.Fprintf(&b, "Best peer in this mode: among the peers that negotiated context takeover in at least one direction (%s). "+
				"%s answered no context takeover for both directions to this offer, so their rows show what they do when a client offers takeover "+
				"(the same work as in the mode without takeover); the \"÷ gorilla\" columns compare with that.\n\n",
				strings.Join(peers, ", "), strings.Join(fallback, " and "))
		}
		oc := *o
		oc.conns, oc.sizes = o.compressConns, o.compressSizes
		var sum []string
		b.WriteString(echoTables("Deflate, "+m.title, "server", libs, &oc, data, &sum, peers, "", nil))
		for _, s := range sum {
			*summary = append(*summary, "deflate, "+m.title+", "+s)
		}
		if rs := res.mem[m.key]; rs != nil {
			fmt.Fprintf(&b, "\n### Deflate, %s: memory per idle connection\n\n", m.title)
			b.WriteString(deflateMemTable(o, m, rs, peers, summary))
		}
	}
	return b.String()
}

// deflateMemTable is the idle-memory table of one mode, in the style of the
// idle part's.
func deflateMemTable(o *options, m deflateMode, rs []idleResult, peers []string, summary *[]string) string {
	var b strings.Builder
	heap := func(m memSnap) int64 { return m.heapInuse }
	stack := func(m memSnap) int64 { return m.stackInuse }
	rss := func(m memSnap) int64 { return m.rss }
	gor := func(m memSnap) int64 { return m.goroutines }
	byLib := map[string]idleResult{}
	for _, r := range rs {
		byLib[r.lib] = r
	}
	get := func(f func(memSnap) int64) func(string) (float64, bool) {
		return func(l string) (float64, bool) {
			r, ok := byLib[l]
			if !ok || r.err != nil || r.conns == 0 {
				return 0, false
			}
			return r.per(f), true
		}
	}
	hs := func(ms memSnap) int64 { return ms.heapInuse + ms.stackInuse }
	bpHS, bvHS := bestPeer(peers, get(hs), false)
	bpRSS, bvRSS := bestPeer(peers, get(rss), false)
	gHS, gokHS := get(hs)("gorilla")
	gRSS, gok := get(rss)("gorilla")
	head := []string{"server", "connections", "heap in use / conn", "stacks / conn", "heap+stacks / conn", "RSS / conn", "goroutines / conn",
		"heap+stacks ÷ gorilla", "heap+stacks ÷ best peer", "RSS ÷ gorilla", "RSS ÷ best peer", "best peer (heap+stacks)", "best peer (RSS)"}
	var rows [][]string
	for _, r := range rs {
		if r.err != nil {
			rows = append(rows, []string{r.lib, strconv.Itoa(r.conns), "ERR: " + r.err.Error(), "", "", "", "", "", "", "", "", "", ""})
			continue
		}
		conns := strconv.Itoa(r.conns)
		if r.conns < r.want {
			conns += fmt.Sprintf(" (of %d: %v)", r.want, r.dialErr)
		}
		hv, rv := r.per(hs), r.per(rss)
		ghs, gr := "–", "–"
		if gokHS {
			ghs = ratio(hv, gHS)
		}
		if gok {
			gr = ratio(rv, gRSS)
		}
		rows = append(rows, []string{r.lib, conns,
			fmtBytes(r.per(heap)), fmtBytes(r.per(stack)), fmtBytes(hv), fmtBytes(rv), fmt.Sprintf("%.2f", r.per(gor)),
			ghs, ratio(hv, bvHS), gr, ratio(rv, bvRSS), bpHS, bpRSS})
	}
	fmt.Fprintf(&b, "Each server in a fresh child process; %d connections (target), each upgraded with permessage-deflate (%s offer) and echoing one compressed %s message "+
		"(the first of the messages above), then idle. Memory is the server process's after runtime.GC + debug.FreeOSMemory, minus the same before the first connection, "+
		"divided by the connections. Lower is better. The idle part (section 4) has the same measure without compression. "+
		"Heap in use counts every byte allocated and still referenced; RSS only the pages written so far. A buffer allocated whole but barely written after one message "+
		"(a 32 KiB inflate window holding 1 KiB, a flate.Writer's hash tables) is in the heap column at full size and mostly absent from RSS until traffic fills it, "+
		"so heap+stacks is the steady-state figure and RSS after one message a lower bound.\n\n", o.compressIdle, m.title, fmtSize(deflateIdleSize))
	b.WriteString(table(head, rows))
	// Summary: the best of our variants against the best peer.
	for _, x := range []struct {
		what string
		f    func(memSnap) int64
		bp   string
		bv   float64
	}{{"heap+stacks", hs, bpHS, bvHS}, {"RSS", rss, bpRSS, bvRSS}} {
		if x.bp == "" {
			continue
		}
		ol, ov := "", 0.0
		for _, r := range rs {
			if !isOurs(r.lib) || r.err != nil || r.conns == 0 {
				continue
			}
			if v := r.per(x.f); ol == "" || v < ov {
				ol, ov = r.lib, v
			}
		}
		if ol == "" {
			continue
		}
		verdict := "leads"
		if ov > x.bv*1.03 {
			verdict = "TRAILS"
		} else if ov > x.bv*0.97 {
			verdict = "ties"
		}
		*summary = append(*summary, fmt.Sprintf("deflate, %s, idle %s/conn: ours %s (%s %s vs %s %s, %.2f×)", m.title, x.what, verdict, ol, fmtBytes(ov), x.bp, fmtBytes(x.bv), ov/x.bv))
	}
	return b.String()
}
