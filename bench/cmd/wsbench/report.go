package main

import (
	"bufio"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ccf874ba/websocket/bench/internal/wsb"
)

func isOurs(lib string) bool { return strings.HasPrefix(lib, "ours") }

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "?"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func kernel() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func depVersions() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "?"
	}
	var parts []string
	for _, d := range bi.Deps {
		switch d.Path {
		case "github.com/gorilla/websocket", "github.com/coder/websocket", "github.com/gobwas/ws", "github.com/lxzan/gws":
			parts = append(parts, d.Path+" "+d.Version)
		}
	}
	return strings.Join(parts, ", ")
}

func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1fk", v/1e3)
	case v >= 1e3:
		return fmt.Sprintf("%.2fk", v/1e3)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtBytes(v float64) string {
	switch {
	case v >= 1<<20:
		return fmt.Sprintf("%.1f MiB", v/(1<<20))
	case v >= 10<<10:
		return fmt.Sprintf("%.1f KiB", v/(1<<10))
	}
	return fmt.Sprintf("%.0f B", v)
}

func fmtSize(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// table renders a markdown table.
func table(head []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(head, " | ") + " |\n|")
	for range head {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

// agg is the median of one library's repetitions in one cell.
type agg struct {
	ok                  bool
	rate, allocs, bytes float64
	cpuUs               float64
	minRate, maxRate    float64
	spreadPct           float64
	noAlloc             bool // allocations unknown (an external server)
	okReps, errs        int
	errText             string
	rates, cpus         []float64
	allocsV, bytesV     []float64
}

func aggregate(rs []cellResult) agg {
	var a agg
	for _, r := range rs {
		if r.err != nil {
			a.errs++
			a.errText = r.err.Error()
			continue
		}
		a.noAlloc = a.noAlloc || r.noAlloc
		a.rates = append(a.rates, r.rate)
		a.cpus = append(a.cpus, r.cpuUs)
		a.allocsV = append(a.allocsV, r.allocs)
		a.bytesV = append(a.bytesV, r.bytes)
	}
	if len(a.rates) == 0 {
		return a
	}
	a.ok = true
	a.okReps = len(a.rates)
	a.rate = median(a.rates)
	a.cpuUs = median(a.cpus)
	a.allocs = median(a.allocsV)
	a.bytes = median(a.bytesV)
	a.minRate = slices.Min(a.rates)
	a.maxRate = slices.Max(a.rates)
	if a.rate > 0 {
		a.spreadPct = 100 * (a.maxRate - a.minRate) / a.rate
	}
	return a
}

// bestPeer returns the peer (not ours) with the best value; higher says
// whether higher is better.
func bestPeer(libs []string, val func(string) (float64, bool), higher bool) (string, float64) {
	best, bv := "", 0.0
	for _, l := range libs {
		if isOurs(l) {
			continue
		}
		v, ok := val(l)
		if !ok {
			continue
		}
		if best == "" || (higher && v > bv) || (!higher && v < bv) {
			best, bv = l, v
		}
	}
	return best, bv
}

func ratio(a, b float64) string {
	if b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// withoutLib returns libs without lib (a new slice).
func withoutLib(libs []string, lib string) []string {
	var out []string
	for _, l := range libs {
		if l != lib {
			out = append(out, l)
		}
	}
	return out
}

// describe returns the report's description of server lib.
func describe(o *options, lib string) string {
	if d, ok := wsb.ServerDescriptions[lib]; ok {
		return d
	}
	if d, ok := o.descriptions[lib]; ok {
		return d
	}
	if spec, ok := o.externals[lib]; ok {
		return "external program: `" + spec.command + "`"
	}
	return ""
}

// limitTables renders the gap of every library to the reference server
// limit in each cell: server CPU per round trip ÷ limit's and round trips
// per second ÷ limit's, both medians of the same run. It adds one summary
// line per cell to gaps: the best of ours and the best peer, by CPU.
func limitTables(title, side string, libs []string, o *options, aggs map[cellKey]agg, ourLibs, peers []string, limit string, gaps *[]string) string {
	var b strings.Builder
	others := withoutLib(libs, limit)
	metrics := []struct {
		name    string
		val     func(agg) float64
		higher  bool
		caption string
	}{
		{"cpu", func(a agg) float64 { return a.cpuUs }, false,
			"%s CPU time per round trip ÷ " + limit + "'s in the same cell (1.00× = as cheap as " + limit + "; lower is better)"},
		{"rate", func(a agg) float64 { return a.rate }, true,
			"round trips per second ÷ " + limit + "'s in the same cell (client and server share 2 cores, so a cheaper server also leaves the client more CPU; higher is better)"},
	}
	for _, mt := range metrics {
		head := []string{"conns", "size"}
		for _, l := range others {
			head = append(head, l+" ÷ "+limit)
		}
		head = append(head, limit)
		var rows [][]string
		for _, conns := range o.conns {
			for _, size := range o.sizes {
				row := []string{strconv.Itoa(conns), fmtSize(size)}
				la := aggs[cellKey{conns, size, limit}]
				for _, l := range others {
					a := aggs[cellKey{conns, size, l}]
					if !a.ok || !la.ok {
						row = append(row, "–")
						continue
					}
					row = append(row, ratio(mt.val(a), mt.val(la)))
				}
				switch {
				case !la.ok:
					row = append(row, "ERR")
				case mt.name == "cpu":
					row = append(row, fmt.Sprintf("%.2f µs", la.cpuUs))
				default:
					row = append(row, fmtRate(la.rate))
				}
				rows = append(rows, row)
				if mt.name != "cpu" || !la.ok || gaps == nil {
					continue
				}
				val := func(l string) (float64, bool) {
					a := aggs[cellKey{conns, size, l}]
					return a.cpuUs, a.ok
				}
				ol, ov := bestOursLow(ourLibs, val)
				bp, bv := bestPeer(peers, val, false)
				if ol == "" {
					continue
				}
				line := fmt.Sprintf("%s CPU per round trip, %d conns × %s: ours (%s) %.2f× %s", side, conns, fmtSize(size), ol, ov/la.cpuUs, limit)
				if bp != "" {
					line += fmt.Sprintf(", best peer (%s) %.2f×", bp, bv/la.cpuUs)
				}
				line += fmt.Sprintf(" (%s %.2f µs)", limit, la.cpuUs)
				*gaps = append(*gaps, line)
			}
		}
		caption := mt.caption
		if strings.Contains(caption, "%s") {
			caption = fmt.Sprintf(caption, side)
		}
		fmt.Fprintf(&b, "\n### %s: gap to %s, %s\n\n", title, limit, caption)
		b.WriteString(table(head, rows))
	}
	return b.String()
}

// ratioHead returns the headers of the ratio columns: for each of ourLibs,
// against gorilla (when gorilla is in the table) and against the best peer.
func ratioHead(ourLibs []string, hasGorilla bool) []string {
	var head []string
	for _, ol := range ourLibs {
		if hasGorilla {
			head = append(head, ol+" ÷ gorilla")
		}
		head = append(head, ol+" ÷ best peer")
	}
	return head
}

// ratioCols returns the cells of the ratio columns of one row, in the
// order of ratioHead; "–" where a value is missing.
func ratioCols(ourLibs []string, hasGorilla bool, val func(string) (float64, bool), bestPeer string, best float64) []string {
	var cols []string
	gv, gok := val("gorilla")
	for _, ol := range ourLibs {
		ov, ok := val(ol)
		if hasGorilla {
			if ok && gok {
				cols = append(cols, ratio(ov, gv))
			} else {
				cols = append(cols, "–")
			}
		}
		if ok && bestPeer != "" {
			cols = append(cols, ratio(ov, best))
		} else {
			cols = append(cols, "–")
		}
	}
	return cols
}

// echoTables renders the tables of one echo matrix and collects summary
// lines. The best peer is chosen among peers (nil: every library in libs
// that is not ours).
//
// When limit names one of libs (the reference server, e.g. uws), it is
// never a peer, and two more tables compare every other library with it;
// their summary lines go to gaps.
func echoTables(title string, side string, libs []string, o *options, m map[cellKey][]cellResult, summary *[]string, peers []string, limit string, gaps *[]string) string {
	if peers == nil {
		peers = libs
	}
	peers = withoutLib(peers, limit)
	var b strings.Builder
	aggs := map[cellKey]agg{}
	for k, v := range m {
		aggs[k] = aggregate(v)
	}
	get := func(conns, size int, metric func(agg) float64) func(string) (float64, bool) {
		return func(l string) (float64, bool) {
			a := aggs[cellKey{conns, size, l}]
			return metric(a), a.ok
		}
	}
	ourLibs := []string{}
	for _, l := range libs {
		if isOurs(l) {
			ourLibs = append(ourLibs, l)
		}
	}
	hasGorilla := slices.Contains(libs, "gorilla")

	// Throughput.
	head := []string{"conns", "size"}
	head = append(head, libs...)
	head = append(head, ratioHead(ourLibs, hasGorilla)...)
	head = append(head, "best peer")
	var rows [][]string
	for _, conns := range o.conns {
		for _, size := range o.sizes {
			row := []string{strconv.Itoa(conns), fmtSize(size)}
			for _, l := range libs {
				a := aggs[cellKey{conns, size, l}]
				if !a.ok {
					row = append(row, "ERR")
					continue
				}
				row = append(row, fmtRate(a.rate))
			}
			rate := get(conns, size, func(a agg) float64 { return a.rate })
			bp, bv := bestPeer(peers, rate, true)
			row = append(row, ratioCols(ourLibs, hasGorilla, rate, bp, bv)...)
			row = append(row, bp)
			rows = append(rows, row)
			// Summary: our best variant against the best peer.
			if bp != "" {
				bestOurs, bo := bestPeerOurs(ourLibs, rate)
				if bestOurs != "" {
					verdict := "leads"
					if bo < bv*0.97 {
						verdict = "TRAILS"
					} else if bo < bv*1.03 {
						verdict = "ties"
					}
					*summary = append(*summary, fmt.Sprintf("%s, %d conns × %s: ours %s (%s %s vs %s %s, %.2f×)",
						side, conns, fmtSize(size), verdict, bestOurs, fmtRate(bo), bp, fmtRate(bv), bo/bv))
				}
			}
		}
	}
	fmt.Fprintf(&b, "### %s: round trips per second (median of %d; higher is better)\n\n", title, o.reps)
	b.WriteString(table(head, rows))

	// CPU per message.
	head = []string{"conns", "size"}
	head = append(head, libs...)
	head = append(head, ratioHead(ourLibs, hasGorilla)...)
	head = append(head, "best peer")
	rows = nil
	for _, conns := range o.conns {
		for _, size := range o.sizes {
			row := []string{strconv.Itoa(conns), fmtSize(size)}
			for _, l := range libs {
				a := aggs[cellKey{conns, size, l}]
				if !a.ok {
					row = append(row, "ERR")
					continue
				}
				row = append(row, fmt.Sprintf("%.2f", a.cpuUs))
			}
			cpu := get(conns, size, func(a agg) float64 { return a.cpuUs })
			bp, bv := bestPeer(peers, cpu, false)
			row = append(row, ratioCols(ourLibs, hasGorilla, cpu, bp, bv)...)
			row = append(row, bp)
			rows = append(rows, row)
		}
	}
	fmt.Fprintf(&b, "\n### %s: %s CPU time per round trip, µs (user+sys of the %s process; lower is better)\n\n", title, side, side)
	b.WriteString(table(head, rows))

	if limit != "" && slices.Contains(libs, limit) {
		b.WriteString(limitTables(title, side, libs, o, aggs, ourLibs, peers, limit, gaps))
	}

	// Allocations.
	head = []string{"conns", "size"}
	head = append(head, libs...)
	rows = nil
	for _, conns := range o.conns {
		for _, size := range o.sizes {
			row := []string{strconv.Itoa(conns), fmtSize(size)}
			for _, l := range libs {
				a := aggs[cellKey{conns, size, l}]
				if !a.ok {
					row = append(row, "ERR")
					continue
				}
				if a.noAlloc {
					row = append(row, "–")
					continue
				}
				row = append(row, fmt.Sprintf("%.2f / %s", a.allocs, fmtBytes(a.bytes)))
			}
			rows = append(rows, row)
		}
	}
	fmt.Fprintf(&b, "\n### %s: %s allocations per round trip (allocs / bytes, median; lower is better)\n\n", title, side)
	b.WriteString(table(head, rows))

	// Spread and errors.
	var notes []string
	maxSpread := 0.0
	for k, a := range aggs {
		if a.errs > 0 {
			notes = append(notes, fmt.Sprintf("%s %d conns × %s: %d of %d runs failed: %s", k.lib, k.conns, fmtSize(k.size), a.errs, a.errs+a.okReps, a.errText))
		}
		if a.ok && a.spreadPct > maxSpread {
			maxSpread = a.spreadPct
		}
	}
	slices.Sort(notes)
	fmt.Fprintf(&b, "\nLargest spread (max−min)/median of round trips per second across repetitions in any cell: %.0f%%.\n", maxSpread)
	for _, n := range notes {
		b.WriteString("\n- " + n)
	}
	if len(notes) > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

func bestPeerOurs(ourLibs []string, val func(string) (float64, bool)) (string, float64) {
	best, bv := "", 0.0
	for _, l := range ourLibs {
		v, ok := val(l)
		if ok && (best == "" || v > bv) {
			best, bv = l, v
		}
	}
	return best, bv
}

// bestOursLow returns our variant with the lowest value (for time and
// memory, where lower is better).
func bestOursLow(ourLibs []string, val func(string) (float64, bool)) (string, float64) {
	best, bv := "", 0.0
	for _, l := range ourLibs {
		v, ok := val(l)
		if ok && (best == "" || v < bv) {
			best, bv = l, v
		}
	}
	return best, bv
}

// ---- go test -bench output ----

// benchLine is one result line of go test -bench.
type benchLine struct {
	parts   []string // name after the benchmark function, split at "/", without the -N suffix
	metrics map[string]float64
}

// parseBench reads the lines of the named benchmark function from go test
// -bench output.
func parseBench(path, fn string) ([]benchLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []benchLine
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 4 || !strings.HasPrefix(fields[0], fn+"/") {
			continue
		}
		name := strings.TrimPrefix(fields[0], fn+"/")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		bl := benchLine{parts: strings.Split(name, "/"), metrics: map[string]float64{}}
		for i := 2; i+1 < len(fields); i += 2 {
			v, err := strconv.ParseFloat(fields[i], 64)
			if err == nil {
				bl.metrics[fields[i+1]] = v
			}
		}
		out = append(out, bl)
	}
	return out, sc.Err()
}

func addUnique(list *[]string, s string) {
	if !slices.Contains(*list, s) {
		*list = append(*list, s)
	}
}

// ---- mask ----

func maskTables(path string, summary *[]string) string {
	lines, err := parseBench(path, "BenchmarkMask")
	if err != nil || len(lines) == 0 {
		return fmt.Sprintf("(no mask results: %v)\n", err)
	}
	type key struct{ size, align, impl string }
	m := map[key][]float64{}
	var sizes, aligns, impls []string
	runs := 0
	for _, l := range lines {
		if len(l.parts) != 3 {
			continue
		}
		k := key{l.parts[0], l.parts[1], l.parts[2]}
		m[k] = append(m[k], l.metrics["MB/s"])
		runs = max(runs, len(m[k]))
		addUnique(&sizes, k.size)
		addUnique(&aligns, k.align)
		addUnique(&impls, k.impl)
	}
	peers := []string{}
	for _, i := range impls {
		switch i {
		case "ours", "byteloop", "copy":
		default:
			peers = append(peers, i)
		}
	}
	var b strings.Builder
	head := []string{"size", "alignment"}
	head = append(head, impls...)
	head = append(head, "ours ÷ gorilla", "ours ÷ best peer", "best peer")
	var rows [][]string
	for _, s := range sizes {
		for _, a := range aligns {
			row := []string{s, a}
			val := func(impl string) (float64, bool) {
				v, ok := m[key{s, a, impl}]
				if !ok {
					return 0, false
				}
				return median(v), true
			}
			for _, i := range impls {
				v, ok := val(i)
				if !ok {
					row = append(row, "–")
					continue
				}
				row = append(row, fmt.Sprintf("%.0f", v))
			}
			ov, _ := val("ours")
			gv, gok := val("gorilla")
			if gok {
				row = append(row, ratio(ov, gv))
			} else {
				row = append(row, "–")
			}
			bp, bv := "", 0.0
			for _, p := range peers {
				if v, ok := val(p); ok && v > bv {
					bp, bv = p, v
				}
			}
			row = append(row, ratio(ov, bv), bp)
			rows = append(rows, row)
			if bp != "" {
				verdict := "leads"
				if ov < bv*0.97 {
					verdict = "TRAILS"
				} else if ov < bv*1.03 {
					verdict = "ties"
				}
				*summary = append(*summary, fmt.Sprintf("mask %s %s: ours %s (%.0f vs %s %.0f MB/s, %.2f×)", s, a, verdict, ov, bp, bv, ov/bv))
			}
		}
	}
	fmt.Fprintf(&b, "MB/s, median of %d separate `go test` runs in which the routines take turns (higher is better). "+
		"`aligned` starts the buffer on a 64-byte boundary, `unaligned` one byte past it. "+
		"`copy` (copy into a second buffer) is the memory bandwidth reference, `byteloop` the naive `b[i] ^= key[i&3]`. "+
		"gorilla, coder and gws are verbatim copies of their unexported routines (internal/peermask); gobwas is its exported ws.Cipher (assembly on amd64).\n\n", runs)
	b.WriteString(table(head, rows))
	return b.String()
}

// ---- framing without the kernel ----

func framingTables(path string, summary *[]string) string {
	lines, err := parseBench(path, "BenchmarkFraming")
	if err != nil || len(lines) == 0 {
		return fmt.Sprintf("(no framing results: %v)\n", err)
	}
	type key struct{ size, lib string }
	ns := map[key][]float64{}
	allocs := map[key][]float64{}
	bytes := map[key][]float64{}
	var sizes, libs []string
	runs := 0
	for _, l := range lines {
		if len(l.parts) != 2 {
			continue
		}
		k := key{l.parts[0], l.parts[1]}
		ns[k] = append(ns[k], l.metrics["ns/op"])
		allocs[k] = append(allocs[k], l.metrics["allocs/op"])
		bytes[k] = append(bytes[k], l.metrics["B/op"])
		runs = max(runs, len(ns[k]))
		addUnique(&sizes, k.size)
		addUnique(&libs, k.lib)
	}
	var ourLibs []string
	for _, l := range libs {
		if isOurs(l) {
			ourLibs = append(ourLibs, l)
		}
	}
	head := []string{"size"}
	for _, l := range libs {
		head = append(head, l)
	}
	head = append(head, ratioHead(ourLibs, true)...)
	head = append(head, "best peer")
	var rows [][]string
	for _, s := range sizes {
		row := []string{s}
		val := func(l string) (float64, bool) {
			v, ok := ns[key{s, l}]
			if !ok {
				return 0, false
			}
			return median(v), true
		}
		for _, l := range libs {
			v, _ := val(l)
			row = append(row, fmt.Sprintf("%.0f ns (%.0f allocs, %s)", v, median(allocs[key{s, l}]), fmtBytes(median(bytes[key{s, l}]))))
		}
		bp, bv := bestPeer(libs, val, false)
		row = append(row, ratioCols(ourLibs, true, val, bp, bv)...)
		row = append(row, bp)
		rows = append(rows, row)
		bo, bov := "", 0.0
		for _, ol := range ourLibs {
			if v, ok := val(ol); ok && (bo == "" || v < bov) {
				bo, bov = ol, v
			}
		}
		if bo != "" && bp != "" {
			verdict := "leads"
			if bov > bv*1.03 {
				verdict = "TRAILS"
			} else if bov > bv*0.97 {
				verdict = "ties"
			}
			*summary = append(*summary, fmt.Sprintf("framing cost %s (no kernel): ours %s (%s %.0f ns vs %s %.0f ns per echo, %.2f×)", s, verdict, bo, bov, bp, bv, bov/bv))
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Each library's echo loop (the same code as its loopback server) over an in-memory net.Conn whose Read returns one masked frame and whose Write discards: "+
		"the library's own CPU cost per echoed message with no system calls. gobwas runs without an upgrade step (its functions take any net.Conn). "+
		"Time per message (lower is better), allocations and bytes per message; median of %d runs (`go test -bench Framing`).\n\n", runs)
	b.WriteString(table(head, rows))
	return b.String()
}

// ---- idle and broadcast ----

func idleTables(o *options, rs []idleResult, summary, gaps *[]string) string {
	var b strings.Builder
	val := func(r idleResult, f func(memSnap) int64) float64 { return r.per(f) }
	heap := func(m memSnap) int64 { return m.heapInuse }
	stack := func(m memSnap) int64 { return m.stackInuse }
	rss := func(m memSnap) int64 { return m.rss }
	gor := func(m memSnap) int64 { return m.goroutines }
	byLib := map[string]idleResult{}
	var libs []string
	for _, r := range rs {
		byLib[r.lib] = r
		libs = append(libs, r.lib)
	}
	get := func(f func(memSnap) int64) func(string) (float64, bool) {
		return func(l string) (float64, bool) {
			r, ok := byLib[l]
			if !ok || r.err != nil || r.conns == 0 {
				return 0, false
			}
			return val(r, f), true
		}
	}
	head := []string{"server", "connections", "heap in use / conn", "stacks / conn", "heap+stacks / conn", "RSS / conn", "goroutines / conn", "RSS ÷ gorilla", "RSS ÷ best peer", "best peer (RSS)"}
	// The reference server (o.limit) is never a peer; when it was
	// measured, a last column compares every server's RSS with it.
	lRSS, lok := get(rss)(o.limit)
	if lok {
		head = append(head, "RSS ÷ "+o.limit)
	}
	var rows [][]string
	bpRSS, bvRSS := bestPeer(withoutLib(libs, o.limit), get(rss), false)
	gRSS, gok := get(rss)("gorilla")
	for _, r := range rs {
		if r.err != nil {
			row := []string{r.lib, strconv.Itoa(r.conns), "ERR: " + r.err.Error(), "", "", "", "", "", "", ""}
			if lok {
				row = append(row, "")
			}
			rows = append(rows, row)
			continue
		}
		conns := strconv.Itoa(r.conns)
		if r.conns < r.want {
			conns += fmt.Sprintf(" (of %d: %v)", r.want, r.dialErr)
		}
		rv := val(r, rss)
		gr := "–"
		if gok {
			gr = ratio(rv, gRSS)
		}
		row := []string{r.lib, conns,
			fmtBytes(val(r, heap)), fmtBytes(val(r, stack)), fmtBytes(val(r, heap) + val(r, stack)), fmtBytes(rv),
			fmt.Sprintf("%.2f", val(r, gor)), gr, ratio(rv, bvRSS), bpRSS}
		if !r.goRuntime {
			// Not a Go process: only RSS is known.
			row[2], row[3], row[4], row[6] = "–", "–", "–", "–"
		}
		if lok {
			row = append(row, ratio(rv, lRSS))
		}
		rows = append(rows, row)
	}
	fmt.Fprintf(&b, "Each server in a fresh child process; %d connections (target), each upgraded and echoed one 16 B message, then idle. "+
		"Memory is the server process's after runtime.GC + debug.FreeOSMemory, minus the same before the first connection, divided by the connections. Lower is better.\n\n", o.idleConns)
	for _, r := range rs {
		if !r.goRuntime {
			fmt.Fprintf(&b, "%s is not a Go process: only its RSS (VmRSS of /proc/PID/status, read by wsbench; no garbage collection to trigger) is known; heap, stacks and goroutines are \"–\".\n\n", r.lib)
		}
	}
	b.WriteString(table(head, rows))
	// Summary: the best of our variants against the best peer.
	var ourLibs []string
	for _, l := range libs {
		if isOurs(l) {
			ourLibs = append(ourLibs, l)
		}
	}
	if ol, ov := bestOursLow(ourLibs, get(rss)); ol != "" && bpRSS != "" {
		verdict := "leads"
		if ov > bvRSS*1.03 {
			verdict = "TRAILS"
		} else if ov > bvRSS*0.97 {
			verdict = "ties"
		}
		*summary = append(*summary, fmt.Sprintf("idle RSS/conn: ours %s (%s %s vs %s %s, %.2f×)", verdict, ol, fmtBytes(ov), bpRSS, fmtBytes(bvRSS), ov/bvRSS))
	}
	if ol, ov := bestOursLow(ourLibs, get(rss)); ol != "" && lok && lRSS > 0 && gaps != nil {
		line := fmt.Sprintf("idle RSS per connection: ours (%s) %.2f× %s", ol, ov/lRSS, o.limit)
		if bpRSS != "" {
			line += fmt.Sprintf(", best peer (%s) %.2f×", bpRSS, bvRSS/lRSS)
		}
		line += fmt.Sprintf(" (%s %s)", o.limit, fmtBytes(lRSS))
		*gaps = append(*gaps, line)
	}

	// Broadcast.
	head = []string{"server", "API", "connections", "server loop", "delivered to all", "allocs / conn", "bytes / conn", "delivery ÷ gorilla (same API)", "delivery ÷ best peer (any API)", "best peer"}
	rows = nil
	type bkey struct {
		lib      string
		prepared bool
	}
	bres := map[bkey]bcastResult{}
	for _, r := range rs {
		for _, br := range r.bcast {
			bres[bkey{r.lib, br.prepared}] = br
		}
	}
	bestLib, bestDel := "", time.Duration(0)
	for k, br := range bres {
		if isOurs(k.lib) || br.err != nil {
			continue
		}
		if bestLib == "" || br.delivery < bestDel {
			bestLib, bestDel = k.lib, br.delivery
			if k.prepared {
				bestLib += " (prepared)"
			}
		}
	}
	for _, r := range rs {
		if r.err != nil {
			continue
		}
		for _, br := range r.bcast {
			api := "Write loop"
			if br.prepared {
				api = "prepared message"
			}
			if br.err != nil {
				rows = append(rows, []string{r.lib, api, strconv.Itoa(r.conns), "ERR: " + br.err.Error(), "", "", "", "", "", ""})
				continue
			}
			g, gok := bres[bkey{"gorilla", br.prepared}]
			gr := "–"
			if gok && g.err == nil {
				gr = ratio(float64(br.delivery), float64(g.delivery))
			}
			rows = append(rows, []string{r.lib, api, strconv.Itoa(r.conns),
				fmt.Sprintf("%.1f ms", float64(br.loop)/1e6), fmt.Sprintf("%.1f ms", float64(br.delivery)/1e6),
				fmt.Sprintf("%.2f", br.allocs), fmtBytes(br.bytes), gr, ratio(float64(br.delivery), float64(bestDel)), bestLib})
		}
	}
	// Summary: the best of our variants against the best peer.
	oursLib, oursConns, oursDel := "", 0, time.Duration(0)
	for _, r := range rs {
		if !isOurs(r.lib) || r.err != nil {
			continue
		}
		for _, br := range r.bcast {
			if br.err == nil && (oursLib == "" || br.delivery < oursDel) {
				oursLib, oursConns, oursDel = r.lib, r.conns, br.delivery
			}
		}
	}
	if oursLib != "" && bestLib != "" {
		verdict := "leads"
		if oursDel > bestDel*103/100 {
			verdict = "TRAILS"
		} else if oursDel > bestDel*97/100 {
			verdict = "ties"
		}
		*summary = append(*summary, fmt.Sprintf("broadcast %s to %d conns: ours %s (%s %.1f ms vs %s %.1f ms, %.2f×)",
			fmtSize(o.bcastSize), oursConns, verdict, oursLib, float64(oursDel)/1e6, bestLib, float64(bestDel)/1e6, float64(oursDel)/float64(bestDel)))
	}
	fmt.Fprintf(&b, "\n### Broadcast of one %s binary message to every idle connection\n\n", fmtSize(o.bcastSize))
	fmt.Fprintf(&b, "One goroutine of the server writes to every connection in turn (Write loop), or with the library's prepared-message API where it has one "+
		"(ours NewPreparedMessage + websocket.Broadcast — writes from GOMAXPROCS goroutines, gorilla PreparedMessage, gws Broadcaster — asynchronous, gobwas ws.CompileFrame + net.Conn.Write). "+
		"\"Server loop\" is the time the loop took; \"delivered to all\" is from the parent's command until the last client had the whole message. "+
		"Allocations are the server's, counted until delivery completed. Median of %d broadcasts per row.\n\n", o.bcastRounds)
	b.WriteString(table(head, rows))
	return b.String()
}

func renderReport(o *options, res *results) string {
	var b strings.Builder
	var summary, gaps []string
	b.WriteString("# Benchmark results\n\n")
	fmt.Fprintf(&b, "- Date: %s\n", res.start.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "- Machine: %d CPUs (nproc), %s, Linux %s, GOMAXPROCS %d\n", runtime.NumCPU(), cpuModel(), kernel(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(&b, "- Go: %s %s/%s\n", runtime.Version(), runtime.GOOS, runtime.GOARCH)
	fmt.Fprintf(&b, "- Peers: %s\n", depVersions())
	if o.command != "" {
		fmt.Fprintf(&b, "- Command: `%s`\n", o.command)
	}
	wall := res.elapsed
	if s := os.Getenv("BENCH_START"); s != "" {
		if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
			wall = time.Since(time.Unix(sec, 0))
		}
	}
	fmt.Fprintf(&b, "- Wall time of the whole run: %v", wall.Round(time.Second))
	for _, p := range []string{"echo", "client", "idle", "compress"} {
		if d, ok := res.partTime[p]; ok {
			fmt.Fprintf(&b, "; %s part %v", p, d.Round(time.Second))
		}
	}
	b.WriteString("\n")
	if v := os.Getenv("BENCH_LIB_REV"); v != "" {
		fmt.Fprintf(&b, "- Library measured: %s\n", v)
	}
	fmt.Fprintf(&b, "- Load average (1, 5, 15 min) when the loopback parts started: %s; when they ended: %s\n", res.loadStart, res.loadEnd)
	fmt.Fprintf(&b, "- Echo cells: warm-up %v, measured %v, %d repetition(s), libraries interleaved within each cell; RLIMIT_NOFILE %d\n",
		o.warm, o.dur, o.reps, res.nofile)
	for _, n := range o.notes {
		fmt.Fprintf(&b, "- %s\n", n)
	}
	b.WriteString("\nThe machine is shared and has 2 cores: client and server compete for them, and other tenants add noise. " +
		"Compare columns of one table (measured minutes apart in the same run), not numbers across runs. " +
		"See README.md for the method.\n")

	body := strings.Builder{}
	if o.maskFile != "" {
		body.WriteString("\n## 1. Masking\n\n")
		body.WriteString(maskTables(o.maskFile, &summary))
	}
	if o.framingFile != "" {
		body.WriteString("\n## 1b. Framing cost without the kernel\n\n")
		body.WriteString(framingTables(o.framingFile, &summary))
	}
	if res.echo != nil {
		body.WriteString("\n## 2. Echo, server side: every library's server, one common raw client\n\n")
		for _, l := range o.servers {
			fmt.Fprintf(&body, "- **%s**: %s\n", l, describe(o, l))
		}
		body.WriteString("\nEach connection sends a binary message and waits for its echo, in a loop. Allocations and CPU are the server process's over the measured window, divided by the round trips.\n\n")
		body.WriteString(echoTables("Server side", "server", o.servers, o, res.echo, &summary, nil, o.limit, &gaps))
	}
	if res.client != nil {
		body.WriteString("\n## 3. Echo, client side: every library's client, one common raw server\n\n")
		for _, l := range o.clients {
			fmt.Fprintf(&body, "- **%s**: %s\n", l, wsb.ClientDescriptions[l])
		}
		body.WriteString("\nThe raw server echoes frame by frame and allocates nothing per message. Allocations and CPU are the client process's.\n\n")
		body.WriteString(echoTables("Client side", "client", o.clients, o, res.client, &summary, nil, "", nil))
	}
	if res.idle != nil {
		body.WriteString("\n## 4. Idle connections and broadcast\n\n")
		for _, l := range o.idleServers {
			fmt.Fprintf(&body, "- **%s**: %s\n", l, describe(o, l))
		}
		body.WriteString("\n")
		body.WriteString(idleTables(o, res.idle, &summary, &gaps))
	}
	if res.compress != nil {
		body.WriteString("\n## 5. permessage-deflate (RFC 7692): every library's server, one common deflate client\n\n")
		body.WriteString(compressSection(o, res.compress, &summary))
	}

	b.WriteString("\n## Summary: ours against the best peer in each cell\n\n")
	b.WriteString("Leads/ties/trails with a ±3% band; the best of ours and ours-append is compared (named in each line). For time and memory, lower is better and the ratio is ours ÷ peer.\n\n")
	for _, s := range summary {
		b.WriteString("- " + s + "\n")
	}
	if len(gaps) > 0 {
		fmt.Fprintf(&b, "\n## Gap to the practical limit: ours and the best peer ÷ %s in each cell\n\n", o.limit)
		fmt.Fprintf(&b, "%s is a reference, not a peer: it is never the best peer above. Ratios of medians of the same run; lower is better (1.00× = as cheap as %s). "+
			"Every library's ratio is in the \"gap to %s\" tables.\n\n", o.limit, o.limit, o.limit)
		for _, s := range gaps {
			b.WriteString("- " + s + "\n")
		}
	}
	b.WriteString(body.String())
	return b.String()
}
