//go:build !js

package websocket_test

// This file holds strictPeer: a WebSocket endpoint written for the tests
// from RFC 6455 and RFC 7692 alone, sharing no code with the package, that
// sits at the far end of a Conn under test. It checks every frame the Conn
// sends against the RFCs and records every message that arrives whole, while
// the test makes it send messages (fragmented, compressed, with pings
// between the fragments and pauses inside frames), stop reading, read
// slowly, flood pings or vanish.
//
// The layers are kept apart so that other transports can reuse them:
//
//   - wireFrame, appendWireFrame and readWireFrame: the frame codec
//     (RFC 6455, Section 5.2), with every header rule checked on the way in;
//   - wireChecker: the rules across frames (continuation, control frames,
//     close, UTF-8, RSV1 and inflation), fed frame by frame, with no socket;
//   - wireDeflater: a permessage-deflate sender (RFC 7692, Section 7.2.1);
//   - strictPeer: the endpoint over a net.Conn, with one goroutine reading
//     and one writing, so that reading never waits for writing;
//   - newPair: a Conn (from Accept or Dial) and a strictPeer over loopback
//     TCP, with the socket buffers the test asks for.
//
// Identifiers carry the prefixes wire, peer and pair so that they cannot
// collide with the helpers of the package's internal tests.

import (
	"bufio"
	"bytes"
	"compress/flate"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"
	"weak"

	"github.com/ccf874ba/websocket"
)

// ---- frame codec (RFC 6455, Section 5.2) ----

// The opcodes of RFC 6455, Section 5.2.
const (
	wireContinuation byte = 0x0
	wireText         byte = 0x1
	wireBinary       byte = 0x2
	wireClose        byte = 0x8
	wirePing         byte = 0x9
	wirePong         byte = 0xA
)

// wireRSV1 is the RSV1 bit of the first header byte, which marks a
// compressed message under permessage-deflate (RFC 7692, Section 6).
const wireRSV1 byte = 0x40

// wireMaxControl is the largest control frame payload (RFC 6455, Section
// 5.5).
const wireMaxControl = 125

// wireFrame is one frame as it is on the wire, with its payload unmasked.
type wireFrame struct {
	Fin     bool
	RSV     byte // the RSV1-3 bits as they sit in the first byte (0x40, 0x20, 0x10)
	Op      byte
	Masked  bool
	Key     [4]byte
	Payload []byte
}

func wireOpName(op byte) string {
	switch op {
	case wireContinuation:
		return "continuation"
	case wireText:
		return "text"
	case wireBinary:
		return "binary"
	case wireClose:
		return "close"
	case wirePing:
		return "ping"
	case wirePong:
		return "pong"
	}
	return fmt.Sprintf("opcode 0x%x", op)
}

func wireIsControl(op byte) bool { return op&0x8 != 0 }

// appendWireFrame appends the wire form of f to dst, masking the payload
// with f.Key if f.Masked. The length uses the shortest form, as Section 5.2
// requires.
func appendWireFrame(dst []byte, f wireFrame) []byte {
	b0 := f.Op&0x0f | f.RSV&0x70
	if f.Fin {
		b0 |= 0x80
	}
	var m byte
	if f.Masked {
		m = 0x80
	}
	dst = append(dst, b0)
	switch n := len(f.Payload); {
	case n <= 125:
		dst = append(dst, m|byte(n))
	case n <= 0xffff:
		dst = append(dst, m|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, m|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if !f.Masked {
		return append(dst, f.Payload...)
	}
	dst = append(dst, f.Key[:]...)
	start := len(dst)
	dst = append(dst, f.Payload...)
	for i := range f.Payload {
		dst[start+i] ^= f.Key[i&3]
	}
	return dst
}

// errWireUnreadable says that a header cannot be parsed any further, so the
// rest of the stream cannot be framed.
var errWireUnreadable = errors.New("frame stream unreadable")

// readWireFrame reads one frame from r. Violations of the header rules of
// Section 5.2 come back as problems, each a sentence naming the rule; err is
// for I/O (io.EOF before the first byte of a frame, io.ErrUnexpectedEOF
// inside one) or errWireUnreadable. maxPayload bounds what a broken length
// can make the peer allocate.
func readWireFrame(r io.Reader, maxPayload int64) (f wireFrame, problems []string, err error) {
	var h [8]byte
	if _, err = io.ReadFull(r, h[:2]); err != nil {
		return f, nil, err
	}
	f.Fin = h[0]&0x80 != 0
	f.RSV = h[0] & 0x70
	f.Op = h[0] & 0x0f
	f.Masked = h[1]&0x80 != 0
	n := int64(h[1] & 0x7f)
	switch n {
	case 126:
		if _, err = io.ReadFull(r, h[:2]); err != nil {
			return f, nil, noEOF(err)
		}
		n = int64(binary.BigEndian.Uint16(h[:2]))
		if n < 126 {
			problems = append(problems, fmt.Sprintf("RFC 6455 5.2: length %d sent in the 16-bit form; the minimal number of bytes MUST be used", n))
		}
	case 127:
		if _, err = io.ReadFull(r, h[:8]); err != nil {
			return f, nil, noEOF(err)
		}
		u := binary.BigEndian.Uint64(h[:8])
		if u>>63 != 0 {
			return f, append(problems, "RFC 6455 5.2: 64-bit length with the most significant bit set"), errWireUnreadable
		}
		n = int64(u)
		if n <= 0xffff {
			problems = append(problems, fmt.Sprintf("RFC 6455 5.2: length %d sent in the 64-bit form; the minimal number of bytes MUST be used", n))
		}
	}
	if f.Masked {
		if _, err = io.ReadFull(r, f.Key[:]); err != nil {
			return f, problems, noEOF(err)
		}
	}
	if n > maxPayload {
		return f, append(problems, fmt.Sprintf("a %s frame of %d bytes, more than the %d this test can expect", wireOpName(f.Op), n, maxPayload)), errWireUnreadable
	}
	f.Payload = make([]byte, n)
	if _, err = io.ReadFull(r, f.Payload); err != nil {
		return f, problems, noEOF(err)
	}
	if f.Masked {
		for i := range f.Payload {
			f.Payload[i] ^= f.Key[i&3]
		}
	}
	return f, problems, nil
}

// noEOF turns io.EOF inside a frame into io.ErrUnexpectedEOF.
func noEOF(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ---- the rules across frames ----

// peerMessage is a data message as one side sent it or received it whole.
type peerMessage struct {
	Type       websocket.MessageType
	Data       []byte
	Frames     int  // frames it took on the wire
	Compressed bool // RSV1 was set on its first frame
}

func (m peerMessage) String() string {
	return fmt.Sprintf("%v message of %d bytes (%q) in %d frame(s)", m.Type, len(m.Data), wireShort(m.Data), m.Frames)
}

// wireShort returns the start of b, for messages.
func wireShort(b []byte) string {
	if len(b) > 24 {
		return string(b[:24]) + "..."
	}
	return string(b)
}

// wireCloseFrame is the payload of a close frame.
type wireCloseFrame struct {
	HasCode bool // the payload was not empty
	Code    websocket.StatusCode
	Reason  string
}

// wireValidCloseCode reports whether an endpoint may put code in a close
// frame (RFC 6455, Section 7.4.1 and 7.4.2): 1000-1003 and 1007-1014 are
// defined, 3000-4999 registered or private; 1004, 1005, 1006 and 1015 are
// reserved and must never be sent, 0-999 are unused and 1016-2999 reserved
// for the protocol, as is everything from 5000.
func wireValidCloseCode(code websocket.StatusCode) bool {
	return code >= 1000 && code <= 1003 || code >= 1007 && code <= 1014 || code >= 3000 && code <= 4999
}

// wireEventKind says what a frame completed.
type wireEventKind int

const (
	wireEventNone    wireEventKind = iota // a frame inside a message, or one that broke a rule
	wireEventMessage                      // the last frame of a data message
	wireEventPing
	wireEventPong
	wireEventClose
)

// wireEvent is what wireChecker.Frame makes of a frame.
type wireEvent struct {
	Kind    wireEventKind
	Message peerMessage    // wireEventMessage
	Payload []byte         // wireEventPing, wireEventPong
	Close   wireCloseFrame // wireEventClose
}

// wireChecker applies the rules of RFC 6455 (and of RFC 7692 when
// permessage-deflate was negotiated) to the frames one endpoint sends, in
// order, and assembles its messages. It touches no socket: any transport can
// feed it.
type wireChecker struct {
	// FromClient says the sender is a client, whose every frame must be
	// masked (Section 5.3); a server must mask none (Section 5.1).
	FromClient bool
	// Deflate says permessage-deflate was negotiated, so RSV1 may mark the
	// first frame of a message.
	Deflate bool
	// SenderTakeover says the sender may keep its compression context
	// from one message to the next, so the decoder keeps it too.
	SenderTakeover bool

	open       bool
	openOp     byte
	compressed bool
	frames     int
	buf        []byte
	dict       []byte // the last 32 KiB inflated, under takeover
	closed     bool
}

// InMessage reports whether a data message has started and not ended.
func (k *wireChecker) InMessage() bool { return k.open }

// Frame checks f against the frames before it and returns what it
// completes, with the rules it breaks.
func (k *wireChecker) Frame(f wireFrame) (ev wireEvent, problems []string) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	name := wireOpName(f.Op)
	if k.closed {
		bad("RFC 6455 5.5.1: a %s frame after the close frame; nothing may follow a close frame", name)
		return ev, problems
	}
	switch {
	case k.FromClient && !f.Masked:
		bad("RFC 6455 5.3: unmasked %s frame from a client; a client MUST mask every frame", name)
	case !k.FromClient && f.Masked:
		bad("RFC 6455 5.1: masked %s frame from a server; a server MUST NOT mask", name)
	}
	if f.RSV&0x30 != 0 {
		bad("RFC 6455 5.2: RSV2/RSV3 set on a %s frame (0x%02x) with no extension that defines them", name, f.RSV)
	}
	if f.RSV&wireRSV1 != 0 {
		switch {
		case !k.Deflate:
			bad("RFC 6455 5.2: RSV1 set on a %s frame but permessage-deflate was not negotiated", name)
		case f.Op != wireText && f.Op != wireBinary:
			bad("RFC 7692 6.1: RSV1 set on a %s frame; only the first frame of a data message may carry it", name)
		}
	}
	switch f.Op {
	case wirePing, wirePong, wireClose:
		if !f.Fin {
			bad("RFC 6455 5.5: fragmented %s frame; control frames MUST NOT be fragmented", name)
		}
		if len(f.Payload) > wireMaxControl {
			bad("RFC 6455 5.5: %s frame with %d bytes of payload; control frames carry at most 125", name, len(f.Payload))
		}
	}
	switch f.Op {
	case wireText, wireBinary:
		if k.open {
			bad("RFC 6455 5.4: a new %s message started inside the open %s message (fin=0 sent, no final frame yet); the peer fails the connection with 1002", name, wireOpName(k.openOp))
		}
		k.open, k.openOp, k.compressed, k.frames, k.buf = true, f.Op, f.RSV&wireRSV1 != 0, 0, nil
		fallthrough
	case wireContinuation:
		if !k.open {
			bad("RFC 6455 5.4: continuation frame with no message open")
			return ev, problems
		}
		k.frames++
		k.buf = append(k.buf, f.Payload...)
		if !f.Fin {
			return ev, problems
		}
		k.open = false
		m := peerMessage{Type: websocket.MessageType(k.openOp), Data: k.buf, Frames: k.frames, Compressed: k.compressed}
		k.buf = nil
		if m.Compressed {
			var dict []byte
			if k.SenderTakeover {
				dict = k.dict
			}
			data, err := wireInflate(m.Data, dict)
			if err != nil {
				bad("RFC 7692 7.2.2: compressed %s message of %d bytes does not inflate: %v", wireOpName(k.openOp), len(m.Data), err)
				return ev, problems
			}
			m.Data = data
			if k.SenderTakeover {
				k.dict = append(k.dict, data...)
				if len(k.dict) > 32<<10 {
					k.dict = append([]byte(nil), k.dict[len(k.dict)-32<<10:]...)
				}
			}
		}
		if m.Type == websocket.MessageText && !utf8.Valid(m.Data) {
			bad("RFC 6455 8.1: text message of %d bytes is not valid UTF-8; the peer fails the connection with 1007", len(m.Data))
		}
		return wireEvent{Kind: wireEventMessage, Message: m}, problems
	case wirePing:
		return wireEvent{Kind: wireEventPing, Payload: f.Payload}, problems
	case wirePong:
		return wireEvent{Kind: wireEventPong, Payload: f.Payload}, problems
	case wireClose:
		k.closed = true
		var c wireCloseFrame
		switch p := f.Payload; {
		case len(p) == 1:
			bad("RFC 6455 5.5.1: close frame with a 1-byte payload; a body starts with a 2-byte code")
		case len(p) >= 2:
			c = wireCloseFrame{HasCode: true, Code: websocket.StatusCode(binary.BigEndian.Uint16(p)), Reason: string(p[2:])}
			if !wireValidCloseCode(c.Code) {
				bad("RFC 6455 7.4: close frame with code %d, which may not be sent (valid: 1000-1003, 1007-1014, 3000-4999)", int(c.Code))
			}
			if !utf8.ValidString(c.Reason) {
				bad("RFC 6455 5.5.1: close reason %q is not valid UTF-8", c.Reason)
			}
		}
		return wireEvent{Kind: wireEventClose, Close: c}, problems
	default:
		bad("RFC 6455 5.2: reserved opcode 0x%x", f.Op)
	}
	return ev, problems
}

// wireDeflateTail ends a compressed message for the inflater: the 00 00 FF
// FF the sender removed (RFC 7692, Section 7.2.2), then an empty final
// stored block so that the inflater ends instead of waiting for more.
var wireDeflateTail = []byte{0x00, 0x00, 0xff, 0xff, 0x01, 0x00, 0x00, 0xff, 0xff}

// wireInflate inflates the payload of a compressed message, with dict as
// the history under context takeover.
func wireInflate(payload, dict []byte) ([]byte, error) {
	src := io.MultiReader(bytes.NewReader(payload), bytes.NewReader(wireDeflateTail))
	fr := flate.NewReaderDict(src, dict)
	defer fr.Close()
	return io.ReadAll(io.LimitReader(fr, 64<<20))
}

// wireDeflater compresses messages as a permessage-deflate sender does
// (RFC 7692, Section 7.2.1): deflate, sync flush, drop the final 00 00 FF FF.
type wireDeflater struct {
	// Takeover keeps the compression context from one message to the
	// next (no *_no_context_takeover was agreed for this sender).
	Takeover bool
	// WindowBits, from 8 to 14, limits how far back a reference may reach
	// (the *_max_window_bits agreed for this sender); 0 or 15 means 32 KiB.
	WindowBits int

	fw  *flate.Writer
	buf bytes.Buffer
	pos int // input since the compressor was last reset
}

// Compress returns the compressed payload of a message with data.
func (d *wireDeflater) Compress(data []byte) []byte {
	d.buf.Reset()
	if d.fw == nil {
		d.fw, _ = flate.NewWriter(&d.buf, flate.BestSpeed)
	} else if !d.Takeover || d.WindowBits > 0 && d.WindowBits < 15 {
		d.fw.Reset(&d.buf)
		d.pos = 0
	}
	if d.WindowBits > 0 && d.WindowBits < 15 {
		// compress/flate always searches 32 KiB back: start afresh every
		// window so that no reference reaches further.
		size := 1 << d.WindowBits
		for len(data) > 0 {
			if d.pos == size {
				d.fw.Flush()
				d.fw.Reset(&d.buf)
				d.pos = 0
			}
			k := min(size-d.pos, len(data))
			d.fw.Write(data[:k])
			d.pos += k
			data = data[k:]
		}
	} else {
		d.fw.Write(data)
	}
	d.fw.Flush()
	return bytes.Clone(bytes.TrimSuffix(d.buf.Bytes(), wireDeflateTail[:4]))
}

// ---- handshake pieces ----

const wireGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

// wireAcceptKey is the Sec-WebSocket-Accept for key (RFC 6455, Section 4.2.2).
func wireAcceptKey(key string) string {
	h := sha1.Sum([]byte(key + wireGUID))
	return base64.StdEncoding.EncodeToString(h[:])
}

// wireExtension is one element of a Sec-WebSocket-Extensions header.
type wireExtension struct {
	Name   string
	Params map[string]string // a parameter without a value maps to ""
}

// wireParseExtensions is a plain parser of Sec-WebSocket-Extensions
// values, good enough for the headers the package sends.
func wireParseExtensions(values []string) []wireExtension {
	var out []wireExtension
	for _, v := range values {
		for _, elem := range strings.Split(v, ",") {
			parts := strings.Split(elem, ";")
			name := strings.TrimSpace(parts[0])
			if name == "" {
				continue
			}
			e := wireExtension{Name: name, Params: map[string]string{}}
			for _, p := range parts[1:] {
				k, val, _ := strings.Cut(p, "=")
				e.Params[strings.TrimSpace(k)] = strings.Trim(strings.TrimSpace(val), `"`)
			}
			out = append(out, e)
		}
	}
	return out
}

// ---- the peer ----

// peerOptions configures a strictPeer.
type peerOptions struct {
	// Deflate makes the peer offer permessage-deflate (as a client) or
	// accept the Conn's offer (as a server).
	Deflate bool
	// NoContextTakeover makes the peer compress every message on its own
	// and say so: a client peer offers client_no_context_takeover, a
	// server peer answers server_no_context_takeover. Without it the
	// peer keeps its context whenever the Conn allows.
	NoContextTakeover bool
	// SocketBuffer, if positive, sets SO_RCVBUF and SO_SNDBUF of the
	// peer's socket.
	SocketBuffer int
	// NoPong makes the peer read pings without ever answering them, as
	// a peer that has vanished behind a proxy would.
	NoPong bool
	// NoCloseEcho makes the peer not answer a close frame.
	NoCloseEcho bool
	// MaxFrame bounds the frames the peer accepts; zero means 64 MiB.
	MaxFrame int64
}

// strictPeer is the far end of a Conn under test. One goroutine reads and
// checks frames (and never writes, so it cannot deadlock against the Conn);
// another owns the write side and sends the test's frames, the pongs the
// reader asks for (coalesced: only the latest ping is answered, as RFC 6455,
// Section 5.5.3 allows) and the close echo. Every method is safe for
// concurrent use.
type strictPeer struct {
	nc       net.Conn
	gate     *peerGate
	br       *bufio.Reader
	isClient bool // this peer is the client: it masks, the Conn must not
	opts     peerOptions
	deflater *wireDeflater // non-nil when permessage-deflate was agreed
	sendMu   sync.Mutex    // held for a whole message, so the deflater sees messages in order

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced whenever the record changes
	check      wireChecker   // used by the reader; InMessage is read under mu
	messages   []peerMessage // every data message received whole
	violations []string
	frames     int // frames received
	pingsSent  map[string]bool
	pingsRecv  int
	pingLog    [][]byte // payloads of the pings received
	pongsRecv  int
	closeRecv  *wireCloseFrame
	readErr    error // why reading stopped
	readDone   chan struct{}
	sent       []peerMessage // messages this peer wrote whole
	started    []peerMessage // messages whose first frame this peer wrote
	closeSent  bool          // a close frame was queued or written
	writeErr   error
	pong       []byte // the pong due, if pongDue
	pongDue    bool
	echo       []byte // the close echo due, if echoDue
	echoDue    bool

	reqs     chan *peerWrite
	kick     chan struct{}
	quit     chan struct{}
	wg       sync.WaitGroup
	killOnce sync.Once
}

// peerWrite is a request to the writing goroutine: b goes out whole, or in
// two parts with a pause inside the frame when splitAt > 0, with nothing
// written between them.
type peerWrite struct {
	b       []byte
	splitAt int
	pause   time.Duration
	first   *peerMessage // b is the first frame of first
	msg     *peerMessage // b is the last frame of msg
	isClose bool
	done    chan error
}

var (
	errPeerClosed  = errors.New("strict peer: connection closed")
	errPeerClosing = errors.New("strict peer: a close frame was sent already")
)

// newStrictPeer starts a peer on nc, whose handshake is done; br holds
// what was read past the handshake, over gate.
func newStrictPeer(nc net.Conn, gate *peerGate, br *bufio.Reader, isClient bool, o peerOptions, deflater *wireDeflater, check wireChecker) *strictPeer {
	if o.MaxFrame == 0 {
		o.MaxFrame = 64 << 20
	}
	p := &strictPeer{
		nc: nc, gate: gate, br: br, isClient: isClient, opts: o, deflater: deflater,
		changed:   make(chan struct{}),
		check:     check,
		pingsSent: map[string]bool{},
		readDone:  make(chan struct{}),
		reqs:      make(chan *peerWrite),
		kick:      make(chan struct{}, 1),
		quit:      make(chan struct{}),
	}
	p.wg.Add(2)
	go p.readLoop()
	go p.writeLoop()
	return p
}

// notifyLocked wakes whoever waits for a change; the caller holds mu.
func (p *strictPeer) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

func (p *strictPeer) violateLocked(s string) {
	p.violations = append(p.violations, s)
	p.notifyLocked()
}

func (p *strictPeer) readLoop() {
	defer p.wg.Done()
	var err error
	for {
		var f wireFrame
		var problems []string
		f, problems, err = readWireFrame(p.br, p.opts.MaxFrame)
		p.mu.Lock()
		for _, s := range problems {
			p.violateLocked(s)
		}
		if err != nil {
			p.mu.Unlock()
			break
		}
		p.frames++
		ev, problems := p.check.Frame(f)
		for _, s := range problems {
			p.violateLocked(s)
		}
		switch ev.Kind {
		case wireEventMessage:
			p.messages = append(p.messages, ev.Message)
		case wireEventPing:
			p.pingsRecv++
			p.pingLog = append(p.pingLog, ev.Payload)
			if !p.opts.NoPong && !p.closeSent {
				p.pong, p.pongDue = ev.Payload, true
				p.kickLocked()
			}
		case wireEventPong:
			p.pongsRecv++
			if !p.pingsSent[string(ev.Payload)] {
				p.violateLocked(fmt.Sprintf("RFC 6455 5.5.3: pong with payload %q answers no ping this peer sent", wireShort(ev.Payload)))
			}
		case wireEventClose:
			c := ev.Close
			p.closeRecv = &c
			switch {
			case !p.closeSent && !p.opts.NoCloseEcho:
				// Section 5.5.1: answer with a close frame, echoing the code.
				var payload []byte
				if c.HasCode && wireValidCloseCode(c.Code) {
					payload = binary.BigEndian.AppendUint16(nil, uint16(c.Code))
				}
				p.echo, p.echoDue, p.closeSent = payload, true, true
				p.kickLocked()
			case p.closeSent && !p.isClient:
				// The handshake is complete; the server closes TCP first
				// (Section 7.1.1).
				p.nc.Close()
			}
		}
		p.notifyLocked()
		p.mu.Unlock()
	}
	p.mu.Lock()
	p.readErr = err
	close(p.readDone)
	p.notifyLocked()
	p.mu.Unlock()
	// The Conn has gone, or this peer has: stop the write side too.
	p.nc.Close()
}

func (p *strictPeer) kickLocked() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

func (p *strictPeer) writeLoop() {
	defer p.wg.Done()
	for {
		// A close echo, then a pong, go out whenever no frame is being
		// written: between the frames of a message, or while the test
		// pauses.
		p.mu.Lock()
		var ctl []byte
		var isClose bool
		switch {
		case p.echoDue:
			ctl, isClose, p.echoDue, p.pongDue = p.frameBytes(true, 0, wireClose, p.echo), true, false, false
		case p.pongDue && !p.closeSentOnWire():
			ctl, p.pongDue = p.frameBytes(true, 0, wirePong, p.pong), false
		}
		p.mu.Unlock()
		if ctl != nil {
			p.writeNow(ctl, 0, 0)
			if isClose {
				p.afterCloseWritten()
			}
			continue
		}
		select {
		case r := <-p.reqs:
			err := p.serve(r)
			r.done <- err
		case <-p.kick:
		case <-p.quit:
			return
		}
	}
}

// closeSentOnWire reports whether a close frame is queued or out, after
// which no pong may follow; the caller holds mu.
func (p *strictPeer) closeSentOnWire() bool { return p.closeSent }

func (p *strictPeer) serve(r *peerWrite) error {
	p.mu.Lock()
	if p.writeErr != nil {
		p.mu.Unlock()
		return p.writeErr
	}
	if p.closeSent && !r.isClose {
		p.mu.Unlock()
		return errPeerClosing
	}
	if r.isClose {
		p.closeSent = true
	}
	p.mu.Unlock()
	if r.first != nil {
		// Counted before the write: the Conn may see the frame (or part of
		// it) even if this write then fails.
		p.mu.Lock()
		p.started = append(p.started, *r.first)
		p.mu.Unlock()
	}
	err := p.writeNow(r.b, r.splitAt, r.pause)
	if err == nil && r.msg != nil {
		p.mu.Lock()
		p.sent = append(p.sent, *r.msg)
		p.notifyLocked()
		p.mu.Unlock()
	}
	if err == nil && r.isClose {
		p.afterCloseWritten()
	}
	return err
}

// afterCloseWritten closes TCP if this peer is the server and the close
// handshake is now complete.
func (p *strictPeer) afterCloseWritten() {
	p.mu.Lock()
	done := p.closeRecv != nil && !p.isClient
	p.mu.Unlock()
	if done {
		p.nc.Close()
	}
}

func (p *strictPeer) writeNow(b []byte, splitAt int, pause time.Duration) error {
	var err error
	if splitAt > 0 && splitAt < len(b) {
		if _, err = p.nc.Write(b[:splitAt]); err == nil {
			select {
			case <-time.After(pause):
			case <-p.quit:
			}
			_, err = p.nc.Write(b[splitAt:])
		}
	} else {
		_, err = p.nc.Write(b)
	}
	if err != nil {
		p.mu.Lock()
		if p.writeErr == nil {
			p.writeErr = fmt.Errorf("%w: %v", errPeerClosed, err)
		}
		err = p.writeErr
		p.mu.Unlock()
	}
	return err
}

// frameBytes builds a frame as this peer must send it: masked with a fresh
// key if it is the client.
func (p *strictPeer) frameBytes(fin bool, rsv, op byte, payload []byte) []byte {
	f := wireFrame{Fin: fin, RSV: rsv, Op: op, Payload: payload}
	if p.isClient {
		f.Masked = true
		binary.LittleEndian.PutUint32(f.Key[:], rand.Uint32())
	}
	return appendWireFrame(nil, f)
}

func (p *strictPeer) submit(r *peerWrite) error {
	r.done = make(chan error, 1)
	select {
	case p.reqs <- r:
	case <-p.quit:
		return errPeerClosed
	}
	select {
	case err := <-r.done:
		return err
	case <-p.quit:
		return errPeerClosed
	}
}

// WriteRaw writes b as it is: the test is responsible for its framing.
// With splitAt > 0 it writes b[:splitAt], pauses, then the rest, with no
// pong in between.
func (p *strictPeer) WriteRaw(b []byte, splitAt int, pause time.Duration) error {
	return p.submit(&peerWrite{b: b, splitAt: splitAt, pause: pause})
}

// SendFrame sends one frame.
func (p *strictPeer) SendFrame(fin bool, rsv, op byte, payload []byte) error {
	return p.submit(&peerWrite{b: p.frameBytes(fin, rsv, op, payload), isClose: op == wireClose})
}

// SendPing sends a ping with payload, registering it first so that its
// pong can be recognised.
func (p *strictPeer) SendPing(payload []byte) error {
	p.mu.Lock()
	p.pingsSent[string(payload)] = true
	p.mu.Unlock()
	return p.SendFrame(true, 0, wirePing, payload)
}

// SendClose starts the closing handshake with code and reason (code 0
// sends an empty close frame).
func (p *strictPeer) SendClose(code websocket.StatusCode, reason string) error {
	var payload []byte
	if code != 0 {
		payload = append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
	}
	return p.SendFrame(true, 0, wireClose, payload)
}

// peerFramePlan says how one frame of a message goes out.
type peerFramePlan struct {
	Size        int           // payload bytes (compressed bytes, when compressed); the last frame takes the rest
	PauseBefore time.Duration // wait before the frame (pongs may go out meanwhile)
	PingBefore  []byte        // if not nil, a ping with this payload goes out just before the frame
	SplitAt     int           // if positive, write this many bytes of the frame, pause SplitPause, then the rest
	SplitPause  time.Duration
}

// peerSend says how a message goes out.
type peerSend struct {
	Compress bool // compress it (needs permessage-deflate)
	// Split plans the frames for a payload of n bytes; nil sends one frame.
	Split func(n int) []peerFramePlan
}

// peerSplitAt is a Split that sends the payload in frames of the given
// sizes (the last one takes the rest), pausing before every frame after the
// first.
func peerSplitAt(pause time.Duration, sizes ...int) func(int) []peerFramePlan {
	return func(n int) []peerFramePlan {
		var plan []peerFramePlan
		for i, s := range sizes {
			fp := peerFramePlan{Size: s}
			if i > 0 {
				fp.PauseBefore = pause
			}
			plan = append(plan, fp)
		}
		return append(plan, peerFramePlan{Size: n, PauseBefore: pause})
	}
}

// peerMidFrame is a Split that sends one frame, cut after frac of its
// bytes (header included) by a pause.
func peerMidFrame(frac float64, pause time.Duration) func(int) []peerFramePlan {
	return func(n int) []peerFramePlan {
		return []peerFramePlan{{Size: n, SplitAt: max(1, int(float64(n)*frac)), SplitPause: pause}}
	}
}

// SendMessage sends a data message as s plans it, and returns once its
// last frame is written. The message counts as sent (Sent) only then.
func (p *strictPeer) SendMessage(typ websocket.MessageType, data []byte, s peerSend) error {
	if typ == websocket.MessageText && !utf8.Valid(data) {
		return errors.New("strict peer: the test asked it to send a text message that is not UTF-8")
	}
	p.sendMu.Lock()
	defer p.sendMu.Unlock()
	payload := data
	var rsv byte
	if s.Compress {
		if p.deflater == nil {
			return errors.New("strict peer: compression asked for but permessage-deflate was not agreed")
		}
		payload, rsv = p.deflater.Compress(data), wireRSV1
	}
	plan := []peerFramePlan{{Size: len(payload)}}
	if s.Split != nil {
		plan = s.Split(len(payload))
	}
	op := byte(typ)
	msg := &peerMessage{Type: typ, Data: data, Compressed: s.Compress}
	for i, fp := range plan {
		last := i == len(plan)-1
		k := len(payload)
		if !last {
			k = min(max(fp.Size, 0), len(payload))
		}
		if fp.PauseBefore > 0 {
			select {
			case <-time.After(fp.PauseBefore):
			case <-p.quit:
				return errPeerClosed
			}
		}
		if fp.PingBefore != nil {
			if err := p.SendPing(fp.PingBefore); err != nil {
				return err
			}
		}
		r := &peerWrite{b: p.frameBytes(last, rsv, op, payload[:k]), splitAt: fp.SplitAt, pause: fp.SplitPause}
		if i == 0 {
			r.first = msg
		}
		if last {
			msg.Frames = i + 1
			r.msg = msg
		}
		if err := p.submit(r); err != nil {
			return err
		}
		payload, op, rsv = payload[k:], wireContinuation, 0
	}
	return nil
}

// ---- reading controls ----

// peerGate sits under the peer's bufio.Reader: it can stop the peer from
// reading (so the Conn's writes back up into the socket buffers) or make it
// read slowly.
type peerGate struct {
	r      io.Reader
	mu     sync.Mutex
	open   chan struct{} // closed while reading is allowed
	chunk  int           // >0: read at most this much per call
	delay  time.Duration // sleep after every read
	killed bool
}

func newPeerGate(r io.Reader) *peerGate {
	g := &peerGate{r: r, open: make(chan struct{})}
	close(g.open)
	return g
}

func (g *peerGate) Read(b []byte) (int, error) {
	g.mu.Lock()
	open, chunk, delay := g.open, g.chunk, g.delay
	g.mu.Unlock()
	<-open
	if chunk > 0 && len(b) > chunk {
		b = b[:chunk]
	}
	n, err := g.r.Read(b)
	if delay > 0 && n > 0 {
		time.Sleep(delay)
	}
	return n, err
}

// PauseReading stops the peer from reading from its socket (what it has
// buffered, at most 4 KiB, may still be read).
func (p *strictPeer) PauseReading() {
	g := p.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.killed {
		return
	}
	select {
	case <-g.open:
		g.open = make(chan struct{})
	default:
	}
}

// ResumeReading undoes PauseReading.
func (p *strictPeer) ResumeReading() {
	g := p.gate
	g.mu.Lock()
	defer g.mu.Unlock()
	select {
	case <-g.open:
	default:
		close(g.open)
	}
}

// Throttle makes the peer read at most chunk bytes at a time and sleep
// delay after each read; Throttle(0, 0) reads at full speed again.
func (p *strictPeer) Throttle(chunk int, delay time.Duration) {
	g := p.gate
	g.mu.Lock()
	g.chunk, g.delay = chunk, delay
	g.mu.Unlock()
}

// ---- what the peer saw ----

// Messages returns the data messages received whole, in order.
func (p *strictPeer) Messages() []peerMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]peerMessage(nil), p.messages...)
}

// Sent returns the messages this peer wrote whole, in order.
func (p *strictPeer) Sent() []peerMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]peerMessage(nil), p.sent...)
}

// Started returns the messages whose first frame this peer has written (or
// tried to), in order: Sent and perhaps one it could not finish.
func (p *strictPeer) Started() []peerMessage {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]peerMessage(nil), p.started...)
}

// Violations returns the rules the Conn broke, in the order seen.
func (p *strictPeer) Violations() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.violations...)
}

// Counts returns the frames, pings and pongs received.
func (p *strictPeer) Counts() (frames, pings, pongs int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.frames, p.pingsRecv, p.pongsRecv
}

// PingsReceived returns the payloads of the pings the Conn sent, in order.
func (p *strictPeer) PingsReceived() [][]byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([][]byte(nil), p.pingLog...)
}

// InMessage reports whether the Conn has a data message open on the wire.
func (p *strictPeer) InMessage() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.check.InMessage()
}

// CloseReceived returns the close frame the Conn sent, if any.
func (p *strictPeer) CloseReceived() (wireCloseFrame, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closeRecv == nil {
		return wireCloseFrame{}, false
	}
	return *p.closeRecv, true
}

// ReadDone is closed once the peer has stopped reading; ReadErr says why.
func (p *strictPeer) ReadDone() <-chan struct{} { return p.readDone }

// ReadErr returns why reading stopped: io.EOF when the Conn closed TCP at a
// frame boundary, io.ErrUnexpectedEOF inside a frame.
func (p *strictPeer) ReadErr() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readErr
}

// WaitUntil waits up to d for cond, which is evaluated after every change
// of the record (cond may call the accessors), and reports whether it held.
func (p *strictPeer) WaitUntil(d time.Duration, cond func() bool) bool {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		p.mu.Lock()
		ch := p.changed
		p.mu.Unlock()
		if cond() {
			return true
		}
		select {
		case <-ch:
		case <-deadline.C:
			return cond()
		}
	}
}

// WaitMessages waits up to d for n messages and returns those there are.
func (p *strictPeer) WaitMessages(n int, d time.Duration) []peerMessage {
	p.WaitUntil(d, func() bool { return len(p.Messages()) >= n })
	return p.Messages()
}

// Check reports every violation as a test error.
func (p *strictPeer) Check(t testing.TB) {
	t.Helper()
	for _, v := range p.Violations() {
		t.Errorf("the strict peer saw the Conn break a rule: %s", v)
	}
}

// CloseHandshake sends a close frame with code and waits up to d for the
// Conn's answer and for TCP to end; it reports whether both came.
func (p *strictPeer) CloseHandshake(code websocket.StatusCode, reason string, d time.Duration) bool {
	if err := p.SendClose(code, reason); err != nil {
		return false
	}
	ok := p.WaitUntil(d, func() bool { _, got := p.CloseReceived(); return got })
	select {
	case <-p.readDone:
	case <-time.After(d):
		ok = false
	}
	return ok
}

// Reset drops the connection with a TCP RST.
func (p *strictPeer) Reset() {
	if tc, ok := p.nc.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	p.Kill()
}

// Kill closes the socket and waits for the peer's goroutines.
func (p *strictPeer) Kill() {
	p.killOnce.Do(func() {
		p.nc.Close()
		p.gate.mu.Lock()
		p.gate.killed = true
		p.gate.mu.Unlock()
		p.ResumeReading()
		close(p.quit)
	})
	p.wg.Wait()
}

// ---- handshakes ----

// dialStrictPeer connects a client peer to a WebSocket server at addr
// (host:port) and runs the opening handshake (RFC 6455, Section 4.1).
func dialStrictPeer(addr string, o peerOptions) (*strictPeer, error) {
	dialer := net.Dialer{Timeout: 5 * time.Second, Control: peerSocketControl(o.SocketBuffer)}
	nc, err := dialer.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	var kb [16]byte
	binary.LittleEndian.PutUint64(kb[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(kb[8:], rand.Uint64())
	key := base64.StdEncoding.EncodeToString(kb[:])
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n"
	if o.Deflate {
		req += "Sec-WebSocket-Extensions: permessage-deflate"
		if o.NoContextTakeover {
			req += "; client_no_context_takeover"
		}
		req += "\r\n"
	}
	req += "\r\n"
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, err
	}
	gate := newPeerGate(nc)
	br := bufio.NewReaderSize(gate, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("reading the handshake response: %w", err)
	}
	nc.SetDeadline(time.Time{})
	fail := func(format string, args ...any) (*strictPeer, error) {
		nc.Close()
		return nil, fmt.Errorf("bad handshake response: "+format, args...)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		return fail("status %s", resp.Status)
	}
	if got, want := resp.Header.Get("Sec-WebSocket-Accept"), wireAcceptKey(key); got != want {
		return fail("Sec-WebSocket-Accept %q, want %q", got, want)
	}
	check := wireChecker{FromClient: false}
	var d *wireDeflater
	if exts := wireParseExtensions(resp.Header.Values("Sec-WebSocket-Extensions")); len(exts) > 0 {
		if !o.Deflate || len(exts) != 1 || exts[0].Name != "permessage-deflate" {
			return fail("extensions %q answer no offer", resp.Header.Values("Sec-WebSocket-Extensions"))
		}
		prm := exts[0].Params
		if o.NoContextTakeover {
			if _, ok := prm["client_no_context_takeover"]; !ok {
				return fail("client_no_context_takeover offered but not answered")
			}
		}
		if _, ok := prm["client_max_window_bits"]; ok {
			return fail("client_max_window_bits answered but not offered (RFC 7692 7.1.2.2)")
		}
		_, serverNCT := prm["server_no_context_takeover"]
		_, clientNCT := prm["client_no_context_takeover"]
		check.Deflate, check.SenderTakeover = true, !serverNCT
		d = &wireDeflater{Takeover: !clientNCT}
	}
	return newStrictPeer(nc, gate, br, true, o, d, check), nil
}

// listenStrictPeer listens on loopback for clients (Dial) and answers each
// with a server peer. accept returns the next peer, or an error if none
// came within d or its handshake was bad.
func listenStrictPeer(t testing.TB, o peerOptions) (url string, accept func(d time.Duration) (*strictPeer, error)) {
	t.Helper()
	lc := net.ListenConfig{Control: peerSocketControl(o.SocketBuffer)}
	ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		p   *strictPeer
		err error
	}
	ch := make(chan result, 64)
	var mu sync.Mutex
	var peers []*strictPeer
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			p, err := serverHandshake(nc, o)
			if p != nil {
				mu.Lock()
				peers = append(peers, p)
				mu.Unlock()
			}
			select {
			case ch <- result{p, err}:
			default:
				if p != nil {
					p.Kill()
				}
			}
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, p := range peers {
			p.Kill()
		}
	})
	return "ws://" + ln.Addr().String() + "/", func(d time.Duration) (*strictPeer, error) {
		select {
		case r := <-ch:
			return r.p, r.err
		case <-time.After(d):
			return nil, fmt.Errorf("no client connected to the strict peer within %v", d)
		}
	}
}

// serverHandshake reads a client's opening handshake on nc, checks it
// (RFC 6455, Section 4.2.1) and answers 101.
func serverHandshake(nc net.Conn, o peerOptions) (*strictPeer, error) {
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	gate := newPeerGate(nc)
	br := bufio.NewReaderSize(gate, 4096)
	req, err := http.ReadRequest(br)
	fail := func(format string, args ...any) (*strictPeer, error) {
		nc.Close()
		return nil, fmt.Errorf("bad handshake request: "+format, args...)
	}
	if err != nil {
		return fail("%v", err)
	}
	key := req.Header.Get("Sec-WebSocket-Key")
	switch {
	case req.Method != http.MethodGet:
		return fail("method %s", req.Method)
	case !strings.EqualFold(req.Header.Get("Upgrade"), "websocket"):
		return fail("Upgrade %q", req.Header.Get("Upgrade"))
	case !strings.Contains(strings.ToLower(req.Header.Get("Connection")), "upgrade"):
		return fail("Connection %q", req.Header.Get("Connection"))
	case req.Header.Get("Sec-WebSocket-Version") != "13":
		return fail("Sec-WebSocket-Version %q", req.Header.Get("Sec-WebSocket-Version"))
	}
	if b, err := base64.StdEncoding.DecodeString(key); err != nil || len(b) != 16 {
		return fail("Sec-WebSocket-Key %q is not 16 bytes in base64", key)
	}
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " + wireAcceptKey(key) + "\r\n"
	check := wireChecker{FromClient: true}
	var d *wireDeflater
	if o.Deflate {
		for _, e := range wireParseExtensions(req.Header.Values("Sec-WebSocket-Extensions")) {
			if e.Name != "permessage-deflate" {
				continue
			}
			ext := "permessage-deflate"
			_, clientNCT := e.Params["client_no_context_takeover"]
			_, serverNCT := e.Params["server_no_context_takeover"]
			if clientNCT {
				ext += "; client_no_context_takeover"
			}
			if serverNCT || o.NoContextTakeover {
				ext += "; server_no_context_takeover"
				serverNCT = true
			}
			d = &wireDeflater{Takeover: !serverNCT}
			if v, ok := e.Params["server_max_window_bits"]; ok {
				bits, err := strconv.Atoi(v)
				if err != nil || bits < 8 || bits > 15 {
					return fail("server_max_window_bits %q", v)
				}
				ext += "; server_max_window_bits=" + v
				d.WindowBits = bits
			}
			check.Deflate, check.SenderTakeover = true, !clientNCT
			resp += "Sec-WebSocket-Extensions: " + ext + "\r\n"
			break
		}
	}
	resp += "\r\n"
	if _, err := io.WriteString(nc, resp); err != nil {
		return fail("writing the response: %v", err)
	}
	nc.SetDeadline(time.Time{})
	return newStrictPeer(nc, gate, br, false, o, d, check), nil
}

// ---- a Conn and its peer ----

// pairOptions configures newPair: the options of the Conn under test, for
// either role, and of its peer.
type pairOptions struct {
	Compression                     *websocket.CompressionOptions
	ReadLimit                       int64
	ReadBufferSize, WriteBufferSize int
	CloseTimeout                    time.Duration // zero: 2 s
	PingInterval, PongTimeout       time.Duration
	Group                           *websocket.Group // AcceptOptions.Group; for a client Conn, Group.Add
	SocketBuffer                    int              // SO_RCVBUF/SO_SNDBUF of the Conn's socket; zero leaves the default
	Peer                            peerOptions
}

// setConnOptions copies the Conn's options into the fields of an
// AcceptOptions or DialOptions, given by address: whether those fields are
// the struct's own or promoted from an embedded one, this compiles.
func (o *pairOptions) setConnOptions(comp **websocket.CompressionOptions, limit *int64, rbuf, wbuf *int, closeTimeout, pingInterval, pongTimeout *time.Duration) {
	*comp, *limit, *rbuf, *wbuf = o.Compression, o.ReadLimit, o.ReadBufferSize, o.WriteBufferSize
	*closeTimeout, *pingInterval, *pongTimeout = o.CloseTimeout, o.PingInterval, o.PongTimeout
}

// pairRole names the role of the Conn under test.
func pairRole(client bool) string {
	if client {
		return "client Conn"
	}
	return "server Conn"
}

// newPair returns a Conn, a client from Dial if client is set and a server
// from Accept otherwise, with a strict peer of the other role at the far
// end of a loopback TCP connection. Both are dropped when the test ends.
func newPair(t testing.TB, client bool, o pairOptions) (*websocket.Conn, *strictPeer) {
	t.Helper()
	if o.CloseTimeout == 0 {
		o.CloseTimeout = 2 * time.Second
	}
	var c *websocket.Conn
	var p *strictPeer
	if client {
		u, accept := listenStrictPeer(t, o.Peer)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		var do websocket.DialOptions
		o.setConnOptions(&do.Compression, &do.ReadLimit, &do.ReadBufferSize, &do.WriteBufferSize, &do.CloseTimeout, &do.PingInterval, &do.PongTimeout)
		do.NetDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
			d := net.Dialer{Control: peerSocketControl(o.SocketBuffer)}
			return d.DialContext(ctx, network, addr)
		}
		c, _, err = websocket.Dial(ctx, u, &do)
		if err != nil {
			t.Fatalf("Dial to the strict peer: %v", err)
		}
		if p, err = accept(5 * time.Second); err != nil {
			c.CloseNow()
			t.Fatalf("strict peer: %v", err)
		}
		if o.Group != nil {
			o.Group.Add(c)
		}
	} else {
		type result struct {
			c   *websocket.Conn
			err error
		}
		ch := make(chan result, 1)
		// The handler takes the options once: the server, alive until the
		// test ends, must not keep the Group (and so the Conn) reachable.
		var opts atomic.Pointer[websocket.AcceptOptions]
		ao := &websocket.AcceptOptions{Group: o.Group}
		o.setConnOptions(&ao.Compression, &ao.ReadLimit, &ao.ReadBufferSize, &ao.WriteBufferSize, &ao.CloseTimeout, &ao.PingInterval, &ao.PongTimeout)
		opts.Store(ao)
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, opts.Swap(nil))
			ch <- result{c, err}
		}))
		if o.SocketBuffer > 0 {
			lc := net.ListenConfig{Control: peerSocketControl(o.SocketBuffer)}
			ln, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			srv.Listener.Close()
			srv.Listener = ln
		}
		srv.Start()
		t.Cleanup(srv.Close)
		var err error
		if p, err = dialStrictPeer(srv.Listener.Addr().String(), o.Peer); err != nil {
			t.Fatalf("strict peer: %v", err)
		}
		select {
		case r := <-ch:
			if r.err != nil {
				p.Kill()
				t.Fatalf("Accept: %v", r.err)
			}
			c = r.c
		case <-time.After(5 * time.Second):
			p.Kill()
			t.Fatal("Accept did not return within 5s")
		}
	}
	// The cleanup holds the Conn weakly, so that a test can check that a
	// Conn it dropped is collected.
	wc := weak.Make(c)
	t.Cleanup(func() {
		if c := wc.Value(); c != nil {
			c.CloseNow()
		}
		p.Kill()
	})
	return c, p
}

// ---- small helpers shared by the contract and adversarial tests ----

// allStacks returns the stacks of every goroutine, for hang reports.
func allStacks() string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return string(buf[:n])
		}
		buf = make([]byte, 2*len(buf))
	}
}

// isCtxErr reports whether err is a context's error.
func isCtxErr(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
