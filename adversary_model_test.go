//go:build !js

package websocket_test

// This file holds the model of TestConnInterleavings and
// FuzzConnInterleavings (adversary_test.go): the record of every call the
// application goroutines made on the Conn, and the checks that compare it
// with what the strict peer saw and sent. It asserts only what the package
// guarantees:
//
// Writes. A write (Write, WritePrepared, or a Writer's messages) that
// returned nil arrived whole and byte-exact, exactly once. Writes are
// ordered only when they did not overlap: if A returned before B was called,
// A arrived before B. A write that returned an error never arrived whole,
// except one whose context ended during the call with part of its frame
// out, which the Conn may finish later (main since b734799 does). A call
// whose context had already ended returned the context's error and sent
// nothing (or, once the Conn was closed, net.ErrClosed).
//
// Reads. The messages the Conn returned are the ones the peer sent, in
// order, each exactly once, whole and byte-exact; the only messages that may
// be missing are those abandoned part-way through a Reader (whose bytes read
// so far must be a prefix of the message) and those after the Conn ended.
// A context error comes only from a call whose context had ended. After the
// first other error, no read returns a message.
//
// Errors. Reads return only context errors, CloseError, net.ErrClosed,
// ErrKeepAliveTimeout, or an error wrapping io.ErrUnexpectedEOF or a
// network error; never a *ProtocolError, since the peer is correct.
//
// Survival runs (writes use only contexts that are done before the call or
// never end; the application closes nothing until the end) add: no call
// ends the Conn, every write with context.Background() succeeds, every
// message the peer sent is accounted for, and the final Close completes the
// closing handshake.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/ccf874ba/websocket"
)

// ilCtxKind is how the context of a call ends.
type ilCtxKind int

const (
	ilBackground ilCtxKind = iota // context.Background(): never ends
	ilDone                        // ended before the call: canceled or past its deadline
	ilCancelMid                   // cancelled at a random moment during the call
	ilDeadline                    // a short deadline
	ilLongLived                   // one context for the whole run, which could end but does not
)

func (k ilCtxKind) String() string {
	return [...]string{"Background", "done", "cancel-mid", "deadline", "long-lived"}[k]
}

// neverEnds reports whether calls with this kind of context must behave as
// with context.Background().
func (k ilCtxKind) neverEnds() bool { return k == ilBackground || k == ilLongLived }

// ilCall is one call the application made on the Conn, with its result.
type ilCall struct {
	G    int    // goroutine: 0 reads, 1..n write, -1 closes, -2 is the test's teardown
	N    int    // position among the goroutine's calls
	Kind string // Read, ReadAppend, Reader, Write, WritePrepared, Writer, Ping, stale Writer, Close, CloseNow
	Ctx  ilCtxKind
	How  string // the context in detail, e.g. "deadline 12ms"

	Start, End int64 // logical clock: calls that do not overlap are ordered by it
	Err        error // what the call returned (for Writer: the first error of Writer, its Writes or Close)
	CtxEnded   bool  // at return, the context had ended (or its deadline had passed)

	// Writes.
	ID   string // the message's id, if it carried one
	Type websocket.MessageType
	Data []byte

	// Reads.
	Got      []byte // the message returned, or what a Reader read of it
	Opened   bool   // Reader returned a reader: the message is consumed
	Complete bool   // the message was read to its end
	Problem  string // something the call itself got wrong (e.g. ReadAppend lost its dst)
}

func (c *ilCall) String() string {
	s := fmt.Sprintf("g%d#%d %s(ctx %s)", c.G, c.N, c.Kind, c.How)
	if c.ID != "" {
		s += fmt.Sprintf(" %s %v %dB", c.ID, c.Type, len(c.Data))
	}
	if c.Got != nil {
		s += fmt.Sprintf(" got %v %dB", c.Type, len(c.Got))
		if c.Opened && !c.Complete {
			s += " (abandoned)"
		}
	}
	return s + fmt.Sprintf(" -> %v [%d..%d]", c.Err, c.Start, c.End)
}

// ilLog records the calls of a run.
type ilLog struct {
	clock atomic.Int64
	mu    sync.Mutex
	calls []*ilCall
}

// begin stamps and records a call about to be made.
func (l *ilLog) begin(c *ilCall) *ilCall {
	c.Start = l.clock.Add(1)
	l.mu.Lock()
	l.calls = append(l.calls, c)
	l.mu.Unlock()
	return c
}

// end stamps a call that has returned with err, under ctx.
func (l *ilLog) end(c *ilCall, ctx context.Context, err error) {
	c.End = l.clock.Add(1)
	c.Err = err
	if ctx != nil {
		c.CtxEnded = ctx.Err() != nil
		if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
			c.CtxEnded = true
		}
	}
}

func (l *ilLog) snapshot() []*ilCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.calls)
}

// ilRunInfo is what the checks need besides the calls.
type ilRunInfo struct {
	Survival      bool
	PeerSent      []peerMessage // what the peer wrote whole, in order
	PeerStarted   []peerMessage // what the peer began to write: PeerSent and perhaps one more
	PeerReceived  []peerMessage // what the peer received whole, in order
	Violations    []string      // rules the Conn broke on the wire
	CloseFromConn bool          // the peer received the Conn's close frame
	PeerClosed    bool          // the peer sent a close frame of its own (not an echo)
	FinalClose    error         // the teardown's Close, in survival runs
	FinalStart    int64         // the logical time the teardown's Close began
	GroupsLeft    string        // if not "", how the Conn failed to leave its two Groups
}

// ilCheck compares the calls with what the peer saw and returns every
// broken rule, each a sentence.
func ilCheck(calls []*ilCall, info ilRunInfo) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	for _, v := range info.Violations {
		add("wire: the strict peer saw the Conn break a rule: %s", v)
	}
	for _, c := range calls {
		if c.Problem != "" {
			add("%v: %s", c, c.Problem)
		}
	}
	if info.GroupsLeft != "" {
		add("groups: %s", info.GroupsLeft)
	}
	for _, c := range calls {
		if c.Kind == "Close" && c.ID == "invalid" && c.Err == nil {
			add("close: %v: a close code or reason that may not be sent must make Close fail", c)
		}
	}
	out = append(out, ilCheckWrites(calls, info)...)
	out = append(out, ilCheckReads(calls, info)...)
	return out
}

// ilIsNetErr reports whether err is what a lost connection gives: it wraps
// io.ErrUnexpectedEOF, io.EOF, a system call error or a *net.OpError. An
// i/o timeout is not one: the application set no deadline, so one that
// fires is a deadline the Conn left behind.
func ilIsNetErr(err error) bool {
	var errno syscall.Errno
	var op *net.OpError
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	return errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.As(err, &errno) || errors.As(err, &op)
}

// ilDocumentedWriteErr reports whether a write or Ping may return err: a
// context error, net.ErrClosed, ErrKeepAliveTimeout, the peer's CloseError
// (it says why the Conn is closed), or a lost connection's error.
func ilDocumentedWriteErr(err error) bool {
	var ce websocket.CloseError
	return isCtxErr(err) || errors.Is(err, net.ErrClosed) || errors.Is(err, websocket.ErrKeepAliveTimeout) ||
		errors.As(err, &ce) || ilIsNetErr(err)
}

// ilCtxErrWhy explains a context error from a call whose context had not
// ended.
func ilCtxErrWhy(err error) string {
	if errors.Is(err, net.ErrClosed) {
		return "the error is net.ErrClosed but also a context error, though the call's context had not ended: " +
			"a caller that reads a context error as \"my context ended, the Conn is still usable\" retries on a closed Conn " +
			"(wrap the cause with %v, not %w)"
	}
	return "a context error, but the call's context had not ended (a deadline or error left on the Conn by another call?)"
}

// ilCtxErrOK reports whether err, a context error, may come from c: only
// from a call whose context had ended.
func ilCtxErrOK(c *ilCall, err error) bool {
	return !isCtxErr(err) || c.CtxEnded
}

// ilCheckWrites applies the write rules.
func ilCheckWrites(calls []*ilCall, info ilRunInfo) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }

	// Where each message arrived.
	pos := map[string]int{}
	byID := map[string]*ilCall{}
	for _, c := range calls {
		if c.ID != "" {
			byID[c.ID] = c
		}
	}
	for i, m := range info.PeerReceived {
		id := ilMessageID(m.Data)
		c := byID[id]
		switch {
		case c == nil:
			add("write: the peer received a %s that no call wrote (a stale Writer, or bytes of two messages mixed)", m)
			continue
		case m.Type != c.Type || !bytes.Equal(m.Data, c.Data):
			add("write: %v arrived changed: %s, %s", c, m, ilDiff(c.Data, m.Data))
		}
		if j, dup := pos[id]; dup {
			add("write: %v arrived twice, as messages %d and %d", c, j, i)
			continue
		}
		pos[id] = i
	}

	var ok []*ilCall // writes that returned nil and arrived
	for _, c := range calls {
		switch c.Kind {
		case "Write", "WritePrepared", "Writer":
		case "Ping":
			if c.Err != nil && !ilDocumentedWriteErr(c.Err) {
				add("write: %v: an error the package does not document", c)
			}
			if c.Ctx == ilDone && !isCtxErr(c.Err) && !errors.Is(c.Err, net.ErrClosed) {
				add("write: %v: its context had ended before the call; want the context's error", c)
			}
			if info.Survival && c.Err != nil && !isCtxErr(c.Err) {
				add("survival: %v: in this run nothing may end the Conn before the final Close", c)
			}
			if !ilCtxErrOK(c, c.Err) {
				add("write: %v: %s", c, ilCtxErrWhy(c.Err))
			}
			continue
		case "stale Writer":
			if c.Err == nil {
				add("write: %v: a Writer written after its Close must return an error", c)
			}
			continue
		default:
			continue
		}
		_, arrived := pos[c.ID]
		// A frame cut part-way by its context may be finished later
		// (main since b734799): the call returned the context's error, yet
		// the message arrives whole, before any later frame.
		finished := c.Err != nil && arrived && isCtxErr(c.Err) && c.Ctx != ilDone && c.CtxEnded
		switch {
		case c.Err == nil && arrived, finished:
			ok = append(ok, c)
		case c.Err == nil && info.Survival:
			add("write: %v returned nil but never arrived", c)
		case c.Err == nil && info.CloseFromConn:
			add("write: %v returned nil but never arrived (the peer read everything up to the Conn's close frame)", c)
		case c.Err != nil && arrived:
			add("write: %v returned an error, yet the message arrived whole (only a frame cut part-way by its context may be finished later)", c)
		}
		if c.Err != nil {
			if !ilDocumentedWriteErr(c.Err) {
				add("write: %v: an error the package does not document", c)
			}
			if !ilCtxErrOK(c, c.Err) {
				add("write: %v: %s", c, ilCtxErrWhy(c.Err))
			}
		}
		if c.Ctx == ilDone && !isCtxErr(c.Err) && !errors.Is(c.Err, net.ErrClosed) {
			add("write: %v: its context had ended before the call; want the context's error and nothing sent", c)
		}
		if info.Survival && c.Ctx.neverEnds() && c.Err != nil {
			add("survival: %v: a write whose context never ends failed; in this run nothing may end the Conn (earlier calls with done contexts must have left it usable)", c)
		}
		if info.Survival && c.Ctx == ilDone && !isCtxErr(c.Err) {
			add("survival: %v: want the context's error", c)
		}
	}

	// Writes that did not overlap arrive in the order they were made.
	sort.Slice(ok, func(i, j int) bool { return ok[i].Start < ok[j].Start })
	reported := 0
	for i, a := range ok {
		for _, b := range ok[i+1:] {
			if a.End < b.Start && pos[a.ID] > pos[b.ID] && reported < 5 {
				add("write: %v returned before %v was called, but arrived after it (messages %d and %d)", a, b, pos[a.ID], pos[b.ID])
				reported++
			}
		}
	}
	return out
}

// ilCheckReads walks the read calls in order along the messages the peer
// sent.
func ilCheckReads(calls []*ilCall, info ilRunInfo) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, fmt.Sprintf(format, args...)) }
	var reads []*ilCall
	for _, c := range calls {
		if c.G == 0 {
			reads = append(reads, c)
		}
	}
	sort.Slice(reads, func(i, j int) bool { return reads[i].N < reads[j].N })
	sent := info.PeerStarted // a Reader may open a message the peer never finished
	next := 0                // the next message the Conn must return
	var fatal *ilCall
	for _, c := range reads {
		if !ilCtxErrOK(c, c.Err) {
			add("read: %v: %s", c, ilCtxErrWhy(c.Err))
		}
		if fatal != nil {
			if c.Got != nil {
				add("read: %v returned a message after %v ended the read side", c, fatal)
			}
			continue
		}
		if c.Got != nil || c.Opened {
			// The call consumed a message.
			if next >= len(sent) {
				add("read: %v returned a message, but the peer began only %d", c, len(sent))
				continue
			}
			want := sent[next]
			whole := c.Complete && c.Err == nil
			switch {
			case whole && c.Type == want.Type && bytes.Equal(c.Got, want.Data):
				next++
			case whole:
				j := ilFind(sent, next+1, c.Type, c.Got)
				if j < 0 {
					add("read: %v returned a message the peer never sent in that place; want message %d, %s (%s)", c, next, want, ilDiff(want.Data, c.Got))
					next++
				} else {
					add("read: %v returned message %d (%s); messages %d to %d were skipped silently (never returned, not abandoned through a Reader)", c, j, sent[j], next, j-1)
					next = j + 1
				}
			default: // a Reader abandoned part-way: a prefix, then skipped
				if c.Type != want.Type || !bytes.HasPrefix(want.Data, c.Got) {
					add("read: %v read %d bytes that are not the start of message %d, %s (%s)", c, len(c.Got), next, want, ilDiff(want.Data[:min(len(want.Data), len(c.Got))], c.Got))
				}
				next++
			}
		}
		if c.Err == nil || isCtxErr(c.Err) {
			continue
		}
		fatal = c
		var ce websocket.CloseError
		var pe *websocket.ProtocolError
		switch {
		case errors.As(c.Err, &pe):
			add("read: %v: the Conn failed the connection with %d although the peer broke no rule", c, int(pe.Code))
		case errors.As(c.Err, &ce), errors.Is(c.Err, net.ErrClosed), errors.Is(c.Err, websocket.ErrKeepAliveTimeout), ilIsNetErr(c.Err):
		default:
			add("read: %v: an error the package does not document", c)
		}
		if info.Survival && (c.End < info.FinalStart || !errors.As(c.Err, &ce) && !errors.Is(c.Err, net.ErrClosed)) {
			add("survival: %v: in this run nothing may end the read side but the final closing handshake", c)
		}
	}
	if info.Survival && next < len(info.PeerSent) {
		add("survival: the Conn returned (or let a Reader abandon) only %d of the %d messages the peer sent; message %d, %s, never came", next, len(info.PeerSent), next, info.PeerSent[next])
	}
	if info.Survival && info.FinalClose != nil {
		add("survival: the final Close = %v; want nil (the peer answers the closing handshake)", info.FinalClose)
	}
	return out
}

// ilFind returns the index of the first message from i on equal to (typ,
// data), or -1.
func ilFind(sent []peerMessage, i int, typ websocket.MessageType, data []byte) int {
	for ; i < len(sent); i++ {
		if sent[i].Type == typ && bytes.Equal(sent[i].Data, data) {
			return i
		}
	}
	return -1
}

// ilMessageID returns the id at the start of a message the application
// wrote: "#g.n#".
func ilMessageID(b []byte) string {
	if len(b) < 2 || b[0] != '#' {
		return ""
	}
	if i := bytes.IndexByte(b[1:], '#'); i >= 0 {
		return string(b[:i+2])
	}
	return ""
}

// ilDiff describes where two byte strings first differ.
func ilDiff(want, got []byte) string {
	n := min(len(want), len(got))
	for i := range n {
		if want[i] != got[i] {
			return fmt.Sprintf("first difference at byte %d of %d: got %q, want %q", i, len(want), wireShort(got[i:]), wireShort(want[i:]))
		}
	}
	if len(want) != len(got) {
		return fmt.Sprintf("%d bytes, want %d", len(got), len(want))
	}
	return "equal bytes, other type"
}

// ilDescribe lists the calls of a run, in the order they were made, for a
// failure report.
func ilDescribe(calls []*ilCall, max int) string {
	calls = slices.Clone(calls)
	sort.Slice(calls, func(i, j int) bool { return calls[i].Start < calls[j].Start })
	var b strings.Builder
	for i, c := range calls {
		if i == max {
			fmt.Fprintf(&b, "\t... and %d more\n", len(calls)-max)
			break
		}
		fmt.Fprintf(&b, "\t%v\n", c)
	}
	return b.String()
}
