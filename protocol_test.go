//go:build !js

package websocket

import (
	"bytes"
	"math/rand/v2"
	"testing"
)

// The message level of the protocol core, without a Conn: the receiver
// fed bytes by hand, the sender asked frame by frame.

// receiveAll decodes stream with a receiver, feeding it the bytes in
// pieces of at most chunk and reading content into dst slices of at most
// out bytes, the way the Conn's read loop does. It returns the messages
// and control frames in order, and the error that stopped it.
func receiveAll(r *receiver, stream []byte, chunk, out int) (events []string, err error) {
	var buf []byte // what has "arrived" and is not consumed
	var msg []byte
	next := 0
	more := func() bool {
		if next == len(stream) {
			return false
		}
		n := min(chunk, len(stream)-next)
		buf = append(buf, stream[next:next+n]...)
		next += n
		return true
	}
	dst := make([]byte, out)
	for {
		switch {
		case r.contentDone():
			n, done, err := r.finish(dst)
			if err != nil {
				return events, err
			}
			msg = append(msg, dst[:n]...)
			if done {
				events = append(events, r.typ.String()+":"+string(msg))
				msg = msg[:0]
			}
		case r.atFrameBoundary():
			var ev frameEvent
			err := r.next(buf, 1<<20, &ev)
			if err != nil {
				return events, err
			}
			if ev.kind == frameIncomplete {
				if !more() {
					return events, nil
				}
				continue
			}
			buf = buf[ev.n:]
			switch ev.kind {
			case framePing:
				events = append(events, "ping:"+string(ev.payload))
			case framePong:
				events = append(events, "pong:"+string(ev.payload))
			case frameClose:
				events = append(events, "close:"+ev.close.Code.String())
				return events, nil
			}
		default:
			if len(buf) == 0 && !more() {
				return events, nil
			}
			n, used, err := r.content(dst, buf)
			if err != nil {
				return events, err
			}
			buf = buf[used:]
			msg = append(msg, dst[:n]...)
		}
	}
}

func TestReceiverSplits(t *testing.T) {
	p := &rawPeer{client: true} // the receiver is a server: frames are masked
	stream := bytes.Join([][]byte{
		p.frame(true, opText, []byte("hello")),
		p.frame(false, opBinary, []byte("frag")),
		p.frame(true, opPing, []byte("between")),
		p.frame(false, opContinuation, nil),
		p.frame(true, opContinuation, []byte("ments")),
		p.frame(true, opText, nil),
		p.frame(true, opPong, nil),
		p.frame(true, opText, bytes.Repeat([]byte("é"), 300)),
		p.frame(true, opClose, closePayload(StatusGoingAway, "bye")),
	}, nil)
	want := []string{"text:hello", "ping:between", "binary:fragments", "text:", "pong:",
		"text:" + string(bytes.Repeat([]byte("é"), 300)), "close:1001 (going away)"}
	for _, chunk := range []int{1, 2, 3, 7, 64, 1 << 20} {
		for _, out := range []int{1, 2, 5, 4096} {
			var r receiver
			got, err := receiveAll(&r, bytes.Clone(stream), chunk, out)
			if err != nil || len(got) != len(want) {
				t.Fatalf("chunk %d, out %d: %q, %v; want %q", chunk, out, got, err, want)
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("chunk %d, out %d: event %d = %q, want %q", chunk, out, i, got[i], want[i])
				}
			}
		}
	}
}

// The receiver reports each violation with the close code to fail with,
// whatever the split of the input.
func TestReceiverViolations(t *testing.T) {
	c := &rawPeer{client: true}
	s := &rawPeer{}
	for _, tt := range []struct {
		name   string
		client bool
		stream []byte
		want   *ProtocolError
	}{
		{"5.1 unmasked frame to a server", false, s.frame(true, opText, []byte("x")), errUnmasked},
		{"5.1 masked frame to a client", true, c.frame(true, opText, []byte("x")), errMasked},
		{"5.4 continuation with no message", false, c.frame(true, opContinuation, []byte("x")), errUnexpectedContinuation},
		{"5.4 new message inside one", false, append(c.frame(false, opText, nil), c.frame(true, opText, nil)...), errExpectedContinuation},
		{"5.5 fragmented ping", false, c.frame(false, opPing, nil), errFragmentedControl},
		{"5.6 invalid UTF-8, first bad byte", false, c.frame(true, opText, []byte("ok\xc3(")), errInvalidUTF8},
		{"5.6 UTF-8 cut at the message end", false, c.frame(true, opText, []byte("\xe2\x82")), errInvalidUTF8},
		{"5.5.1 close code 1006", false, c.frame(true, opClose, closePayload(1006, "")), errInvalidCloseCode},
		{"RSV1 without permessage-deflate", false, func() []byte { b := c.frame(true, opText, nil); b[0] |= rsv1; return b }(), errReservedBits},
	} {
		for _, chunk := range []int{1, 3, 1 << 10} {
			r := receiver{client: tt.client}
			_, err := receiveAll(&r, bytes.Clone(tt.stream), chunk, 2)
			if err != tt.want {
				t.Errorf("%s (chunk %d): %v, want %v", tt.name, chunk, err, tt.want)
			}
		}
	}
}

// The read limit is decided from the headers, before the payload, on the
// total of a fragmented message.
func TestReceiverLimit(t *testing.T) {
	var r receiver
	c := &rawPeer{client: true}
	stream := append(c.frame(false, opBinary, make([]byte, 60)), c.frame(true, opContinuation, make([]byte, 50))...)
	buf := bytes.Clone(stream)
	var ev frameEvent
	err := r.next(buf, 100, &ev)
	if err != nil || ev.kind != frameData {
		t.Fatalf("first frame: %v, %v", ev.kind, err)
	}
	dst := make([]byte, 100)
	if _, used, err := r.content(dst, buf[ev.n:]); err != nil || used != 60 {
		t.Fatalf("first payload: %d used, %v", used, err)
	}
	if err := r.next(buf[ev.n+60:], 100, &ev); err != errTooBig {
		t.Fatalf("second header, 110 bytes in all against a limit of 100: %v, want %v", err, errTooBig)
	}
}

func TestSenderOrder(t *testing.T) {
	var s sender
	steps := []struct {
		op   opcode
		fin  bool
		want error
	}{
		{opContinuation, true, errFrameOrder}, // no message open
		{opText, false, nil},
		{opPing, true, nil}, // control frames between fragments
		{opBinary, true, errFrameOrder},
		{opContinuation, false, nil},
		{opContinuation, true, nil},
		{opBinary, true, nil},
		{opClose, true, nil},
		{opPong, true, errCloseSent}, // nothing after a close frame
		{opText, true, errCloseSent},
	}
	for i, st := range steps {
		if err := s.check(st.op); err != st.want {
			t.Fatalf("step %d (%v fin=%v): %v, want %v", i, st.op, st.fin, err, st.want)
		}
		if st.want == nil {
			s.sent(st.op, st.fin)
		}
	}
}

// Random streams of valid frames decode to the same events however they
// are split.
func TestReceiverRandomSplits(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	c := &rawPeer{client: true}
	for run := 0; run < 200; run++ {
		var stream []byte
		for m := 0; m < 1+rng.IntN(6); m++ {
			frags := 1 + rng.IntN(4)
			for f := 0; f < frags; f++ {
				op := opBinary
				if f > 0 {
					op = opContinuation
				}
				payload := make([]byte, rng.IntN(300))
				for i := range payload {
					payload[i] = byte(rng.IntN(256))
				}
				stream = append(stream, c.frame(f == frags-1, op, payload)...)
				if rng.IntN(3) == 0 {
					stream = append(stream, c.frame(true, opPing, []byte{byte(run)})...)
				}
			}
		}
		var r1, r2 receiver
		whole, err1 := receiveAll(&r1, bytes.Clone(stream), len(stream), 1<<20)
		split, err2 := receiveAll(&r2, bytes.Clone(stream), 1+rng.IntN(20), 1+rng.IntN(50))
		if err1 != nil || err2 != nil || len(whole) != len(split) {
			t.Fatalf("run %d: %d events (%v) whole, %d (%v) split", run, len(whole), err1, len(split), err2)
		}
		for i := range whole {
			if whole[i] != split[i] {
				t.Fatalf("run %d: event %d differs", run, i)
			}
		}
	}
}
