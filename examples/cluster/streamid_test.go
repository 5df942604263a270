package main

import (
	"math"
	"testing"
)

func TestParseID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want streamID
		ok   bool
	}{
		{"0", streamID{}, true},
		{"0-0", streamID{}, true},
		{"1700000000000-3", streamID{1700000000000, 3}, true},
		{"18446744073709551615-18446744073709551615", streamID{math.MaxUint64, math.MaxUint64}, true},
		{"18446744073709551616-0", streamID{}, false},
		{"1700000000000", streamID{}, false},
		{"-1", streamID{}, false},
		{"1-", streamID{}, false},
		{"a-b", streamID{}, false},
		{"1-2-3", streamID{}, false},
		{"+1-2", streamID{}, false},
		{"", streamID{}, false},
	} {
		got, ok := parseID(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseID(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
		if ok && tc.in != "0" && got.String() != tc.in {
			t.Errorf("parseID(%q).String() = %q", tc.in, got.String())
		}
	}
}

func TestIDOrder(t *testing.T) {
	ids := []streamID{{0, 0}, {0, 1}, {9, 0}, {9, math.MaxUint64}, {10, 0}, {10, 1}}
	for i, a := range ids {
		for j, b := range ids {
			if got := a.less(b); got != (i < j) {
				t.Errorf("%v.less(%v) = %v", a, b, got)
			}
		}
	}
	for id, want := range map[streamID]streamID{
		{0, 1}:  {0, 0},
		{9, 0}:  {8, math.MaxUint64},
		{10, 1}: {10, 0},
	} {
		if p := id.prev(); p != want {
			t.Errorf("%v.prev() = %v, want %v", id, p, want)
		}
	}
	if p := (streamID{}).prev(); p != (streamID{}) {
		t.Errorf("0-0 prev = %v", p)
	}
}

func TestGapAfter(t *testing.T) {
	id := func(s string) streamID { v, _ := parseID(s); return v }
	// A stream of 100 entries, 5-0 to 104-0, of 150 ever added.
	trimmed := streamState{exists: true, length: 100, entriesAdded: 150, first: id("5-0"), lastGen: id("104-0")}
	// 100 entries from 5-0, none removed (the first XADDs got 5-0).
	whole := streamState{exists: true, length: 100, entriesAdded: 100, first: id("5-0"), lastGen: id("104-0")}
	for _, tc := range []struct {
		name   string
		pos    string
		st     streamState
		gap    bool
		oldest string
	}{
		{"no stream, from the start", "0", streamState{}, false, ""},
		{"no stream, a position in it: lost", "7-0", streamState{}, true, ""},
		{"trimmed: position inside", "50-0", trimmed, false, ""},
		{"trimmed: position at the oldest", "5-0", trimmed, false, ""},
		{"trimmed: position just before the oldest", "4-18446744073709551615", trimmed, false, ""},
		{"trimmed: position before", "3-0", trimmed, true, "5-0"},
		{"trimmed: from the start", "0", trimmed, true, "5-0"},
		{"trimmed: newest", "104-0", trimmed, false, ""},
		{"past the newest id: another stream", "200-0", trimmed, true, "5-0"},
		{"whole: from the start", "0", whole, false, ""},
		{"whole: position before, from a lost stream", "3-0", whole, true, "5-0"},
		{"emptied stream, position before its end", "50-0", streamState{exists: true, entriesAdded: 150, lastGen: id("104-0")}, true, ""},
		{"emptied stream, position at its end", "104-0", streamState{exists: true, entriesAdded: 150, lastGen: id("104-0")}, false, ""},
	} {
		gap, oldest := gapAfter(id(tc.pos), tc.st)
		if gap != tc.gap || oldest != tc.oldest {
			t.Errorf("%s: gapAfter(%s) = %v, %q; want %v, %q", tc.name, tc.pos, gap, oldest, tc.gap, tc.oldest)
		}
	}
}

func TestValidRoom(t *testing.T) {
	for name, want := range map[string]bool{
		"a": true, "room-1_x.y": true, "": false, "with space": false, "a:b": false, "é": false,
		"0123456789012345678901234567890123456789012345678901234567890123":  true,
		"01234567890123456789012345678901234567890123456789012345678901234": false,
	} {
		if got := validRoom(name); got != want {
			t.Errorf("validRoom(%q) = %v", name, got)
		}
	}
}
