package wsb

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"time"
)

// ---- permessage-deflate traffic of the common client ----

// DeflateSet is the traffic of the deflate benchmark for one message size:
// different JSON-like text messages of exactly Size bytes, at least
// DeflateMessages and enough for 64 KiB, twice the largest deflate window,
// so that a server compressing with context never finds the message it is
// echoing verbatim in its window (as it would in a short loop of small
// messages). They are compressed once, up front, in two ways:
//
//   - Indep: every message compressed on its own, as a client without
//     context takeover sends it;
//   - Stream: all messages compressed as one deflate stream, each message
//     free to refer back to the earlier ones, as a client that keeps its
//     compression context sends them.
//
// The stream's first message refers to nothing, and message i refers only
// to messages 0 to i-1, so a client can send the messages in a loop forever:
// every back-reference still points at bytes the server has inflated from
// this connection, exactly as from a live compressor, and the client spends
// no CPU compressing.
type DeflateSet struct {
	Size   int
	Plain  [][]byte
	Indep  [][]byte // 00 00 ff ff tail removed (RFC 7692, Section 7.2.1)
	Stream [][]byte
}

// DeflateMessages is the least number of different messages a DeflateSet
// holds.
const DeflateMessages = 16

// NewDeflateSet builds the messages of size bytes (deterministic for a
// size) and compresses them at flate.BestSpeed.
func NewDeflateSet(size int) *DeflateSet {
	r := rand.New(rand.NewPCG(7, uint64(size)))
	s := &DeflateSet{Size: size}
	for range max(DeflateMessages, (64<<10+size-1)/size) {
		s.Plain = append(s.Plain, jsonish(r, size))
	}
	var buf bytes.Buffer
	fw, _ := flate.NewWriter(&buf, flate.BestSpeed)
	compress := func(p []byte) []byte {
		buf.Reset()
		fw.Write(p)
		fw.Flush()
		b := bytes.Clone(buf.Bytes())
		if !bytes.HasSuffix(b, []byte{0, 0, 0xff, 0xff}) {
			panic("flate: sync flush without its tail")
		}
		return b[:len(b)-4]
	}
	for _, p := range s.Plain {
		fw.Reset(&buf)
		s.Indep = append(s.Indep, compress(p))
	}
	fw.Reset(&buf)
	for _, p := range s.Plain {
		s.Stream = append(s.Stream, compress(p))
	}
	return s
}

var (
	jsonEvents  = []string{"order_created", "order_filled", "price_update", "heartbeat", "position_changed", "user_joined", "message_posted"}
	jsonSymbols = []string{"AAPL", "MSFT", "GOOG", "AMZN", "NVDA", "TSLA", "META", "NFLX", "ORCL", "INTC"}
	jsonTags    = []string{"eu-west", "us-east", "mobile", "web", "retry", "priority", "batch", "beta"}
)

// jsonish returns size bytes of JSON-like text: an array of event records
// with repeating keys and varying values (cut at size, closed with "]").
func jsonish(r *rand.Rand, size int) []byte {
	b := []byte("[")
	for len(b) < size {
		b = fmt.Appendf(b, `{"id":%d,"user":"user_%05d","event":%q,"symbol":%q,"price":%d.%02d,"qty":%d,`+
			`"ts":"2025-%02d-%02dT%02d:%02d:%02d.%03dZ","tags":[%q,%q],"ok":%v},`,
			r.IntN(1e9), r.IntN(1e5), jsonEvents[r.IntN(len(jsonEvents))], jsonSymbols[r.IntN(len(jsonSymbols))],
			r.IntN(2000), r.IntN(100), 1+r.IntN(500),
			1+r.IntN(12), 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60), r.IntN(1000),
			jsonTags[r.IntN(len(jsonTags))], jsonTags[r.IntN(len(jsonTags))], r.IntN(2) == 0)
	}
	b = b[:size]
	b[size-1] = ']'
	return b
}

// DeflateOffer is the Sec-WebSocket-Extensions offer of the common client.
// Without takeover it asks both sides to compress every message alone;
// with takeover it is what browsers send: the client may keep its context,
// the server may keep its own, and the server may limit the client's window.
func DeflateOffer(takeover bool) string {
	if takeover {
		return "permessage-deflate; client_max_window_bits"
	}
	return "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
}

// DeflateClient is the common load client of the deflate benchmark: the raw
// client (no library under it), with permessage-deflate negotiated. It
// sends the prebuilt compressed frames of a DeflateSet in turn, one per
// round trip, and reads the echo frame by frame without inflating it,
// except when asked to verify.
type DeflateClient struct {
	raw *RawClient
	set *DeflateSet

	// Response is the server's Sec-WebSocket-Extensions value.
	Response string
	// ClientTakeover says this client compresses with context (it offered
	// to and the server did not answer client_no_context_takeover).
	ClientTakeover bool
	// ServerTakeover says the server may compress with context (it did not
	// answer server_no_context_takeover).
	ServerTakeover bool
	// VerifyAll has RoundTrip inflate and compare every echo (for tests);
	// otherwise only the first echo of the connection is checked.
	VerifyAll bool

	// Counters of the echoes read, for the owner goroutine.
	Echoes, CompressedEchoes, EchoWire int64

	msgs   [][]byte // compressed messages to send in turn
	frames [][]byte // msgs[i] masked and framed, built on first use
	next   int
	hist   []byte // the last 32 KiB the server sent, when verifying every echo
	echo   []byte
}

// DialDeflate connects to addr, offers permessage-deflate (DeflateOffer)
// and prepares the frames of set: the context-takeover stream if the
// negotiation lets this client keep its context, else the independently
// compressed messages. A server that declines compression, or limits the
// client's window below 32 KiB (which the prebuilt frames cannot honour),
// is an error.
func DialDeflate(addr string, set *DeflateSet, takeover bool, timeout time.Duration) (*DeflateClient, error) {
	raw, err := dialRaw(addr, "/", "Sec-WebSocket-Extensions: "+DeflateOffer(takeover)+"\r\n", timeout)
	if err != nil {
		return nil, err
	}
	c := &DeflateClient{raw: raw, set: set, ServerTakeover: true, ClientTakeover: takeover}
	if err := c.negotiated(headerValue([]byte(raw.head), "sec-websocket-extensions")); err != nil {
		raw.Close()
		return nil, err
	}
	c.msgs = set.Indep
	if c.ClientTakeover {
		c.msgs = set.Stream
	}
	c.frames = make([][]byte, len(c.msgs))
	if len(raw.rbuf) < 16<<10 {
		b := make([]byte, 16<<10)
		n := copy(b, raw.rbuf[raw.rpos:raw.rend])
		raw.rbuf, raw.rpos, raw.rend = b, 0, n
	}
	return c, nil
}

func (c *DeflateClient) negotiated(resp string) error {
	c.Response = resp
	if resp == "" {
		return errors.New("deflate client: server did not accept permessage-deflate")
	}
	params := strings.Split(resp, ";")
	if strings.TrimSpace(params[0]) != "permessage-deflate" {
		return fmt.Errorf("deflate client: unexpected extension %q", resp)
	}
	for _, p := range params[1:] {
		name, val, _ := strings.Cut(strings.TrimSpace(p), "=")
		switch strings.TrimSpace(name) {
		case "server_no_context_takeover":
			c.ServerTakeover = false
		case "client_no_context_takeover":
			c.ClientTakeover = false
		case "server_max_window_bits":
			// Inflating with a 32 KiB window handles any smaller one.
		case "client_max_window_bits":
			if n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`)); err != nil || n < 15 {
				return fmt.Errorf("deflate client: cannot honour %q (frames are compressed with a 32 KiB window)", resp)
			}
		default:
			return fmt.Errorf("deflate client: unknown parameter in %q", resp)
		}
	}
	return nil
}

// NetConn returns the underlying connection.
func (c *DeflateClient) NetConn() net.Conn { return c.raw.nc }

// Close closes the TCP connection without a closing handshake.
func (c *DeflateClient) Close() error { return c.raw.Close() }

// RoundTrip sends the next message and reads its echo, which must be a
// binary message of the plain size if uncompressed. The first echo of the
// connection (every echo with VerifyAll) is inflated and compared with what
// was sent.
func (c *DeflateClient) RoundTrip() error {
	i := c.next
	c.next = (c.next + 1) % len(c.frames)
	if c.frames[i] == nil {
		m := c.msgs[i]
		key := rand.Uint32()
		f := AppendFrameHeader(make([]byte, 0, 14+len(m)), true, 2, true, key, len(m))
		f[0] |= 0x40 // RSV1: compressed
		h := len(f)
		f = append(f, m...)
		MaskBytes(f[h:], key)
		c.frames[i] = f
	}
	if _, err := c.raw.nc.Write(c.frames[i]); err != nil {
		return err
	}
	verify := c.VerifyAll || c.Echoes == 0
	c.echo = c.echo[:0]
	total, compressed, first := 0, false, true
	for {
		fin, rsv1, op, n, err := c.readFrame(verify)
		if err != nil {
			return err
		}
		switch op {
		case 0x8:
			return io.EOF
		case 0x9, 0xA:
			continue
		}
		if first {
			if op != 2 {
				return fmt.Errorf("deflate client: echo has opcode %d", op)
			}
			compressed, first = rsv1, false
		} else if op != 0 || rsv1 {
			return errors.New("deflate client: bad continuation frame")
		}
		total += n
		if fin {
			break
		}
	}
	c.Echoes++
	c.EchoWire += int64(total)
	plain := c.set.Plain[i]
	if compressed {
		c.CompressedEchoes++
	} else if total != len(plain) {
		return fmt.Errorf("deflate client: uncompressed echo of %d bytes, want %d", total, len(plain))
	}
	if !verify {
		return nil
	}
	got := c.echo
	if compressed {
		// Inflate with what the server sent before as the dictionary
		// (empty for the first echo, or without server context takeover).
		var dict []byte
		if c.ServerTakeover {
			dict = c.hist
		}
		in := append(bytes.Clone(c.echo), 0, 0, 0xff, 0xff, 1, 0, 0, 0xff, 0xff)
		fr := flate.NewReaderDict(bytes.NewReader(in), dict)
		var err error
		if got, err = io.ReadAll(fr); err != nil {
			return fmt.Errorf("deflate client: inflating the echo: %w", err)
		}
	}
	if !bytes.Equal(got, plain) {
		return errors.New("deflate client: echo differs from the message sent")
	}
	if c.VerifyAll && compressed { // uncompressed messages are not in the server's deflate stream
		c.hist = append(c.hist, plain...)
		if len(c.hist) > 32<<10 {
			c.hist = c.hist[len(c.hist)-32<<10:]
		}
	}
	return nil
}

// readFrame reads one frame; its payload is appended to c.echo if keep is
// set, else discarded.
func (c *DeflateClient) readFrame(keep bool) (fin, rsv1 bool, op byte, n int, err error) {
	r := c.raw
	for r.rend-r.rpos < 2 {
		if err := r.fill(); err != nil {
			return false, false, 0, 0, err
		}
	}
	b0, b1 := r.rbuf[r.rpos], r.rbuf[r.rpos+1]
	hl := 2
	switch b1 & 0x7F {
	case 126:
		hl = 4
	case 127:
		hl = 10
	}
	if b1&0x80 != 0 {
		return false, false, 0, 0, errors.New("deflate client: masked frame from server")
	}
	if b0&0x30 != 0 {
		return false, false, 0, 0, errors.New("deflate client: RSV2 or RSV3 set")
	}
	for r.rend-r.rpos < hl {
		if err := r.fill(); err != nil {
			return false, false, 0, 0, err
		}
	}
	h := r.rbuf[r.rpos:]
	var length int
	switch hl {
	case 2:
		length = int(b1 & 0x7F)
	case 4:
		length = int(h[2])<<8 | int(h[3])
	default:
		for _, x := range h[2:10] {
			length = length<<8 | int(x)
		}
	}
	r.rpos += hl
	fin, rsv1, op, n = b0&0x80 != 0, b0&0x40 != 0, b0&0x0F, length
	for length > 0 {
		if r.rpos == r.rend {
			if err := r.fill(); err != nil {
				return false, false, 0, 0, err
			}
		}
		k := min(length, r.rend-r.rpos)
		if keep {
			c.echo = append(c.echo, r.rbuf[r.rpos:r.rpos+k]...)
		}
		r.rpos += k
		length -= k
	}
	return fin, rsv1, op, n, nil
}
