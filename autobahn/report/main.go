// Command report checks the index.json files that the Autobahn|Testsuite
// writes (reports/servers/index.json for mode fuzzingclient,
// reports/clients/index.json for mode fuzzingserver).
//
//	go run ./autobahn/report autobahn/reports/servers/index.json autobahn/reports/clients/index.json
//
// It prints, per file and agent, a table per section (the first number of
// the case id) with the counts of each verdict for "behavior" and
// "behaviorClose", the durations of the section 9 (limits/performance)
// cases, every failing case, and finally the line "N passed, M failed".
// A case passes when both behavior and behaviorClose are OK or
// INFORMATIONAL; anything else (NON-STRICT, UNIMPLEMENTED, FAILED, ...)
// fails. It exits 1 when a case failed, when no case was found, or when a
// file cannot be read.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Verdicts the testsuite writes into "behavior" / "behaviorClose".
const (
	OK            = "OK"
	NonStrict     = "NON-STRICT"
	Informational = "INFORMATIONAL"
	Unimplemented = "UNIMPLEMENTED"
	Failed        = "FAILED"
)

// verdicts are the table's columns, in order; anything else is "OTHER"
// (the suite also knows e.g. "WRONG CODE" and "UNCLEAN" for behaviorClose).
var verdicts = []string{OK, NonStrict, Informational, Unimplemented, Failed}

const other = "OTHER"

// Entry is one case in index.json.
type Entry struct {
	Behavior        string `json:"behavior"`
	BehaviorClose   string `json:"behaviorClose"`
	Duration        int64  `json:"duration"` // milliseconds
	RemoteCloseCode *int   `json:"remoteCloseCode"`
	ReportFile      string `json:"reportfile"`
}

// Index is the whole index.json: agent -> case id -> entry.
type Index map[string]map[string]Entry

// Case is one entry together with where it came from.
type Case struct {
	Source string // label of the index file
	Agent  string
	ID     string
	Entry
}

// Passed reports whether both verdicts are acceptable.
func (c Case) Passed() bool {
	return acceptable(c.Behavior) && acceptable(c.BehaviorClose)
}

func acceptable(v string) bool { return v == OK || v == Informational }

// column maps a verdict to its table column.
func column(v string) string {
	for _, k := range verdicts {
		if v == k {
			return k
		}
	}
	return other
}

// Section is the first number of a case id ("9.1.2" -> 9), or -1.
func Section(id string) int {
	first, _, _ := strings.Cut(id, ".")
	n, err := strconv.Atoi(first)
	if err != nil {
		return -1
	}
	return n
}

// lessID orders case ids numerically, part by part ("2.10" after "2.9").
func lessID(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(pa) && i < len(pb); i++ {
		na, ea := strconv.Atoi(pa[i])
		nb, eb := strconv.Atoi(pb[i])
		if ea == nil && eb == nil {
			if na != nb {
				return na < nb
			}
			continue
		}
		if pa[i] != pb[i] {
			return pa[i] < pb[i]
		}
	}
	return len(pa) < len(pb)
}

// Load reads one index.json.
func Load(path string) (Index, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var idx Index
	if err := json.Unmarshal(b, &idx); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return idx, nil
}

// Cases flattens an index into cases sorted by agent, then case id.
func Cases(source string, idx Index) []Case {
	var out []Case
	for agent, cases := range idx {
		for id, e := range cases {
			out = append(out, Case{Source: source, Agent: agent, ID: id, Entry: e})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Agent != out[j].Agent {
			return out[i].Agent < out[j].Agent
		}
		return lessID(out[i].ID, out[j].ID)
	})
	return out
}

// Counts are the per-verdict counts of one section.
type Counts struct {
	Behavior, BehaviorClose map[string]int
	Passed, Failed          int
}

// Tally counts verdicts per section.
func Tally(cases []Case) map[int]*Counts {
	t := map[int]*Counts{}
	for _, c := range cases {
		s := Section(c.ID)
		k := t[s]
		if k == nil {
			k = &Counts{Behavior: map[string]int{}, BehaviorClose: map[string]int{}}
			t[s] = k
		}
		k.Behavior[column(c.Behavior)]++
		k.BehaviorClose[column(c.BehaviorClose)]++
		if c.Passed() {
			k.Passed++
		} else {
			k.Failed++
		}
	}
	return t
}

// Summary returns the totals.
func Summary(cases []Case) (passed, failed int) {
	for _, c := range cases {
		if c.Passed() {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed
}

// label names an index file by the mode that produced it.
func label(path string) string {
	switch filepath.Base(filepath.Dir(path)) {
	case "servers":
		return "fuzzingclient (our server)"
	case "clients":
		return "fuzzingserver (our client)"
	}
	return path
}

// printGroup prints the section table, the section 9 durations and the
// failing cases of one (source, agent) group.
func printGroup(w io.Writer, source, agent string, cases []Case) {
	fmt.Fprintf(w, "\n== %s, agent %q: %d cases\n", source, agent, len(cases))
	t := Tally(cases)
	sections := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}
	for s := range t {
		if s < 1 || s > 13 {
			sections = append(sections, s)
		}
	}
	sort.Ints(sections[13:])

	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight)
	short := map[string]string{OK: "OK", NonStrict: "NS", Informational: "INFO", Unimplemented: "UNIMP", Failed: "FAIL", other: "OTHER"}
	cols := append(append([]string{}, verdicts...), other)
	head := "section\tcases\tpassed\tfailed\t|"
	for _, v := range cols {
		head += "\tb:" + short[v]
	}
	head += "\t|"
	for _, v := range cols {
		head += "\tbc:" + short[v]
	}
	fmt.Fprintln(tw, head+"\t")
	for _, s := range sections {
		k := t[s]
		name := strconv.Itoa(s)
		if s < 0 {
			name = "?"
		}
		if k == nil {
			fmt.Fprintf(tw, "%s\t0\t-\t-\t|%s\t|%s\t\n", name, strings.Repeat("\t-", len(cols)), strings.Repeat("\t-", len(cols)))
			continue
		}
		line := fmt.Sprintf("%s\t%d\t%d\t%d\t|", name, k.Passed+k.Failed, k.Passed, k.Failed)
		for _, v := range cols {
			line += fmt.Sprintf("\t%d", k.Behavior[v])
		}
		line += "\t|"
		for _, v := range cols {
			line += fmt.Sprintf("\t%d", k.BehaviorClose[v])
		}
		fmt.Fprintln(tw, line+"\t")
	}
	tw.Flush()

	var nine []string
	var total int64
	for _, c := range cases {
		if Section(c.ID) == 9 {
			nine = append(nine, fmt.Sprintf("%s=%dms", c.ID, c.Duration))
			total += c.Duration
		}
	}
	if len(nine) > 0 {
		fmt.Fprintf(w, "section 9 durations (%d cases, %d ms in all):\n", len(nine), total)
		for i := 0; i < len(nine); i += 8 {
			fmt.Fprintf(w, "  %s\n", strings.Join(nine[i:min(i+8, len(nine))], "  "))
		}
	}

	for _, c := range cases {
		if !c.Passed() {
			code := "none"
			if c.RemoteCloseCode != nil {
				code = strconv.Itoa(*c.RemoteCloseCode)
			}
			fmt.Fprintf(w, "FAIL %s behavior=%s behaviorClose=%s remoteCloseCode=%s duration=%dms report=%s\n",
				c.ID, c.Behavior, c.BehaviorClose, code, c.Duration, c.ReportFile)
		}
	}
}

func run(w io.Writer, paths []string) int {
	if len(paths) == 0 {
		fmt.Fprintln(w, "usage: report INDEX.json...")
		fmt.Fprintln(w, "0 passed, 0 failed")
		return 1
	}
	var all []Case
	bad := false
	for _, p := range paths {
		idx, err := Load(p)
		if err != nil {
			fmt.Fprintf(w, "ERROR reading %s: %v\n", p, err)
			bad = true
			continue
		}
		src := label(p)
		cases := Cases(src, idx)
		if len(cases) == 0 {
			fmt.Fprintf(w, "ERROR %s (%s): no cases\n", p, src)
			bad = true
		}
		agents := []string{}
		for a := range idx {
			agents = append(agents, a)
		}
		sort.Strings(agents)
		for _, a := range agents {
			var group []Case
			for _, c := range cases {
				if c.Agent == a {
					group = append(group, c)
				}
			}
			printGroup(w, src+" "+p, a, group)
		}
		all = append(all, cases...)
	}
	passed, failed := Summary(all)
	fmt.Fprintln(w)
	fmt.Fprintf(w, "%d passed, %d failed\n", passed, failed)
	if bad || failed > 0 || passed == 0 {
		return 1
	}
	return 0
}

func main() {
	os.Exit(run(os.Stdout, os.Args[1:]))
}
