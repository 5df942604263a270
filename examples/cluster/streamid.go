package main

import (
	"math"
	"strconv"
	"strings"
)

// streamID is a Redis Stream entry id, "<ms>-<seq>". Ids grow with every
// XADD, so they order a room's messages; they are compared as numbers
// ("10-0" follows "9-0", which a string comparison gets wrong).
type streamID struct{ ms, seq uint64 }

// parseID parses "<ms>-<seq>". "0" alone is accepted as 0-0, the position
// before any entry, so that since=0 asks for the whole history.
func parseID(s string) (streamID, bool) {
	if s == "0" {
		return streamID{}, true
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok || a == "" || b == "" || len(s) > 41 {
		return streamID{}, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return streamID{}, false
	}
	return streamID{ms, seq}, true
}

func (id streamID) String() string {
	b := make([]byte, 0, 41)
	b = strconv.AppendUint(b, id.ms, 10)
	b = append(b, '-')
	return string(strconv.AppendUint(b, id.seq, 10))
}

func (id streamID) isZero() bool { return id == streamID{} }

func (id streamID) less(o streamID) bool {
	return id.ms < o.ms || id.ms == o.ms && id.seq < o.seq
}

// prev is the largest id below id (0-0 stays 0-0).
func (id streamID) prev() streamID {
	switch {
	case id.seq > 0:
		return streamID{id.ms, id.seq - 1}
	case id.ms > 0:
		return streamID{id.ms - 1, math.MaxUint64}
	}
	return id
}

func maxID(a, b streamID) streamID {
	if a.less(b) {
		return b
	}
	return a
}

// streamState is what XINFO STREAM says about a room's history, read in
// the same MULTI as the entries it qualifies.
type streamState struct {
	exists       bool
	length       int64    // entries now in the stream
	entriesAdded int64    // entries ever added (Redis 7.0 and later)
	first        streamID // oldest entry still there, if length > 0
	lastGen      streamID // newest id ever generated
}

// gapAfter reports whether entries after pos may have been removed from
// the history, so that a reader resuming from pos cannot be given all of
// them; oldest is then the id of the oldest entry left ("" if none).
//
// Trimming (XADD MAXLEN) removes the oldest entries and Redis does not
// record up to where (max-deleted-entry-id counts XDEL only), so the rule
// is conservative: the history is complete after pos if pos is at or past
// the entry just before the oldest one, or if pos is 0-0 and nothing was
// ever removed. A position from a stream Redis has since lost (restarted
// without persistence, key deleted) fails the test too, which is the
// point: a gap is never silent. The false positive is a reader that had
// everything up to an entry trimmed since, and is told so. A position past
// the newest id the stream ever generated did not come from this stream
// (it is from one Redis lost, or made up): that is a gap as well.
func gapAfter(pos streamID, st streamState) (gap bool, oldest string) {
	switch {
	case !st.exists:
		return !pos.isZero(), ""
	case st.lastGen.less(pos):
		if st.length == 0 {
			return true, ""
		}
		return true, st.first.String()
	case st.length == 0:
		return pos.less(st.lastGen), ""
	case !pos.less(st.first.prev()):
		return false, ""
	case pos.isZero() && st.entriesAdded == st.length:
		return false, ""
	}
	return true, st.first.String()
}
