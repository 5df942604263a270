// Package wsb holds the pieces the benchmarks share: a hand-written raw
// WebSocket client and server used as the common, fixed side of every
// measurement, the echo servers and the load clients of every library under
// test.
package wsb

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// ---- raw client ----

// RawClient is the common load client: a hand-written RFC 6455 client with
// no library under it. It sends one prebuilt masked binary frame per round
// trip and parses the echo from its own read buffer, so a round trip costs
// one write and (usually) one read system call and allocates nothing.
//
// The masking key of the prebuilt frame is fixed per connection. That breaks
// RFC 6455's "fresh key per frame" rule on purpose: the servers must still
// unmask every byte, and the client stays out of the measurement.
type RawClient struct {
	nc    net.Conn
	frame []byte // the masked frame sent each round trip
	size  int    // payload size expected back
	first byte   // first payload byte expected back (a cheap content check)
	rbuf  []byte
	rpos  int
	rend  int
	head  string // the server's handshake response, without the blank line
}

const rawKey = "dGhlIHNhbXBsZSBub25jZQ==" // RFC 6455, Section 1.3

// DialRaw connects to addr and performs the opening handshake for path.
func DialRaw(addr, path string, timeout time.Duration) (*RawClient, error) {
	return dialRaw(addr, path, "", timeout)
}

// dialRaw is DialRaw with extra request header lines (each ending in CRLF).
func dialRaw(addr, path, extra string, timeout time.Duration) (*RawClient, error) {
	nc, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return nil, err
	}
	nc.SetDeadline(time.Now().Add(timeout))
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr +
		"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + rawKey +
		"\r\nSec-WebSocket-Version: 13\r\n" + extra + "\r\n"
	if _, err := io.WriteString(nc, req); err != nil {
		nc.Close()
		return nil, err
	}
	c := &RawClient{nc: nc, rbuf: make([]byte, 4096)}
	for {
		if c.rend == len(c.rbuf) {
			nc.Close()
			return nil, errors.New("raw client: handshake response too large")
		}
		n, err := nc.Read(c.rbuf[c.rend:])
		c.rend += n
		if i := bytes.Index(c.rbuf[:c.rend], []byte("\r\n\r\n")); i >= 0 {
			if !bytes.HasPrefix(c.rbuf, []byte("HTTP/1.1 101")) {
				nc.Close()
				return nil, fmt.Errorf("raw client: handshake refused: %q", firstLine(c.rbuf[:c.rend]))
			}
			if !bytes.Contains(bytes.ToLower(c.rbuf[:i]), []byte(strings.ToLower(AcceptKey(rawKey)))) {
				nc.Close()
				return nil, errors.New("raw client: wrong Sec-WebSocket-Accept")
			}
			c.head = string(c.rbuf[:i])
			c.rpos = i + 4
			break
		}
		if err != nil {
			nc.Close()
			return nil, err
		}
	}
	nc.SetDeadline(time.Time{})
	return c, nil
}

func firstLine(b []byte) string {
	if i := bytes.IndexByte(b, '\r'); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// AcceptKey computes Sec-WebSocket-Accept for a client key.
func AcceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// SetPayload prepares the frame sent by every later RoundTrip: a binary
// message of size random bytes. It sizes the read buffer to hold a whole
// echo.
func (c *RawClient) SetPayload(size int) {
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(rand.IntN(256))
	}
	key := rand.Uint32()
	var hdr []byte
	hdr = AppendFrameHeader(hdr, true, 2, true, key, size)
	frame := append(hdr, p...)
	MaskBytes(frame[len(hdr):], key)
	c.frame = frame
	c.size = size
	if size > 0 {
		c.first = p[0]
	}
	if need := size + 14; len(c.rbuf) < need {
		b := make([]byte, need)
		copy(b, c.rbuf[c.rpos:c.rend])
		c.rend -= c.rpos
		c.rpos = 0
		c.rbuf = b
	}
}

// NetConn returns the underlying connection.
func (c *RawClient) NetConn() net.Conn { return c.nc }

// Close closes the TCP connection without a closing handshake.
func (c *RawClient) Close() error { return c.nc.Close() }

// RoundTrip sends the prepared message and waits for its echo.
func (c *RawClient) RoundTrip() error {
	if _, err := c.nc.Write(c.frame); err != nil {
		return err
	}
	return c.readMessage(c.size, true)
}

// ReadMessage reads one whole data message (across fragments, skipping
// pings and pongs) and checks that it has want bytes.
func (c *RawClient) ReadMessage(want int) error {
	return c.readMessage(want, false)
}

// readMessage reads one message of want bytes; check says to compare its
// first byte with that of the prepared payload.
func (c *RawClient) readMessage(want int, check bool) error {
	total := 0
	for {
		fin, op, n, err := c.readFrame(check && total == 0)
		if err != nil {
			return err
		}
		switch op {
		case 0x8:
			return io.EOF
		case 0x9, 0xA:
			continue
		}
		total += n
		if fin {
			break
		}
	}
	if total != want {
		return fmt.Errorf("raw client: echo of %d bytes, want %d", total, want)
	}
	return nil
}

// readFrame reads one frame whose payload is discarded (after a check of
// its first byte, if check is set).
func (c *RawClient) readFrame(check bool) (fin bool, op byte, n int, err error) {
	for c.rend-c.rpos < 2 {
		if err := c.fill(); err != nil {
			return false, 0, 0, err
		}
	}
	b0, b1 := c.rbuf[c.rpos], c.rbuf[c.rpos+1]
	hl := 2
	switch b1 & 0x7F {
	case 126:
		hl = 4
	case 127:
		hl = 10
	}
	if b1&0x80 != 0 {
		return false, 0, 0, errors.New("raw client: masked frame from server")
	}
	for c.rend-c.rpos < hl {
		if err := c.fill(); err != nil {
			return false, 0, 0, err
		}
	}
	h := c.rbuf[c.rpos:]
	var length int
	switch hl {
	case 2:
		length = int(b1 & 0x7F)
	case 4:
		length = int(binary.BigEndian.Uint16(h[2:4]))
	default:
		length = int(binary.BigEndian.Uint64(h[2:10]))
	}
	c.rpos += hl
	fin, op, n = b0&0x80 != 0, b0&0x0F, length
	checked := !check || op != 2
	for length > 0 {
		if c.rpos == c.rend {
			if err := c.fill(); err != nil {
				return false, 0, 0, err
			}
		}
		k := min(length, c.rend-c.rpos)
		if !checked {
			if c.rbuf[c.rpos] != c.first {
				return false, 0, 0, errors.New("raw client: echo payload differs")
			}
			checked = true
		}
		c.rpos += k
		length -= k
	}
	return fin, op, n, nil
}

func (c *RawClient) fill() error {
	if c.rpos == c.rend {
		c.rpos, c.rend = 0, 0
	} else if c.rpos > 0 && len(c.rbuf)-c.rend < 16 {
		c.rend = copy(c.rbuf, c.rbuf[c.rpos:c.rend])
		c.rpos = 0
	}
	n, err := c.nc.Read(c.rbuf[c.rend:])
	c.rend += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// AppendFrameHeader appends a frame header to dst.
func AppendFrameHeader(dst []byte, fin bool, op byte, masked bool, key uint32, n int) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	var m byte
	if masked {
		m = 0x80
	}
	switch {
	case n <= 125:
		dst = append(dst, b0, m|byte(n))
	case n <= 0xFFFF:
		dst = append(dst, b0, m|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, b0, m|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	if masked {
		dst = binary.LittleEndian.AppendUint32(dst, key)
	}
	return dst
}

// MaskBytes XORs b with key (wire byte 0 in the low byte) from key phase 0
// and returns the key rotated for the next byte. A plain, independent
// implementation, so the common client and server share no code with any
// library under test.
func MaskBytes(b []byte, key uint32) uint32 {
	k := uint64(key) | uint64(key)<<32
	for len(b) >= 8 {
		binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k)
		b = b[8:]
	}
	for i := range b {
		b[i] ^= byte(key >> (8 * (uint(i) & 3)))
	}
	return key>>(8*(uint(len(b))&3)) | key<<(32-8*(uint(len(b))&3))
}

// ---- raw server ----

// RawServer is the common echo server for the client-side benchmark: it
// echoes every data frame back unmasked, frame by frame (fin bit and opcode
// kept), answers pings and close frames, and allocates nothing per message.
type RawServer struct {
	ln     net.Listener
	active atomic.Int64
	wg     sync.WaitGroup
}

// MaxRawFrame is the largest frame the raw server echoes.
const MaxRawFrame = 1 << 20

// NewRawServer listens on addr (use 127.0.0.1:0) and serves until Close.
func NewRawServer(addr string) (*RawServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &RawServer{ln: ln}
	go s.serve()
	return s, nil
}

// Addr returns the listening address.
func (s *RawServer) Addr() string { return s.ln.Addr().String() }

// Active returns the number of open connections.
func (s *RawServer) Active() int64 { return s.active.Load() }

// Close stops listening. Open connections end when their peers close.
func (s *RawServer) Close() error { return s.ln.Close() }

func (s *RawServer) serve() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.active.Add(1)
		go func() {
			defer s.active.Add(-1)
			defer nc.Close()
			rawServe(nc)
		}()
	}
}

func rawServe(nc net.Conn) {
	buf := make([]byte, 4096)
	end := 0
	var rest []byte
	for {
		if end == len(buf) {
			return
		}
		n, err := nc.Read(buf[end:])
		end += n
		if i := bytes.Index(buf[:end], []byte("\r\n\r\n")); i >= 0 {
			key := headerValue(buf[:i], "sec-websocket-key")
			resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
				AcceptKey(key) + "\r\n\r\n"
			if _, err := io.WriteString(nc, resp); err != nil {
				return
			}
			rest = buf[i+4 : end]
			break
		}
		if err != nil {
			return
		}
	}
	rbuf := make([]byte, 64<<10)
	rend := copy(rbuf, rest)
	rpos := 0
	out := make([]byte, 14+(64<<10))
	for {
		// Header.
		for rend-rpos < 2 {
			if rpos > 0 {
				rend = copy(rbuf, rbuf[rpos:rend])
				rpos = 0
			}
			n, err := nc.Read(rbuf[rend:])
			if n == 0 && err != nil {
				return
			}
			rend += n
		}
		b0, b1 := rbuf[rpos], rbuf[rpos+1]
		hl := 2
		switch b1 & 0x7F {
		case 126:
			hl = 4
		case 127:
			hl = 10
		}
		if b1&0x80 == 0 {
			return // clients must mask
		}
		hl += 4
		for rend-rpos < hl {
			if rpos > 0 {
				rend = copy(rbuf, rbuf[rpos:rend])
				rpos = 0
			}
			n, err := nc.Read(rbuf[rend:])
			if n == 0 && err != nil {
				return
			}
			rend += n
		}
		h := rbuf[rpos : rpos+hl]
		var length int
		switch hl - 4 {
		case 2:
			length = int(b1 & 0x7F)
		case 4:
			length = int(binary.BigEndian.Uint16(h[2:4]))
		default:
			u := binary.BigEndian.Uint64(h[2:10])
			if u > MaxRawFrame {
				return
			}
			length = int(u)
		}
		key := binary.LittleEndian.Uint32(h[hl-4:])
		rpos += hl
		fin, op := b0&0x80 != 0, b0&0x0F
		if op == 0x8 {
			// Echo the status code, then close.
			for rend-rpos < length {
				n, err := nc.Read(rbuf[rend:])
				if n == 0 && err != nil {
					return
				}
				rend += n
			}
			p := rbuf[rpos : rpos+length]
			MaskBytes(p, key)
			frame := AppendFrameHeader(out[:0], true, 0x8, false, 0, min(length, 2))
			frame = append(frame, p[:min(length, 2)]...)
			nc.Write(frame)
			return
		}
		// Stream the payload back in chunks as it arrives: the header goes
		// out with the first chunk.
		hdr := AppendFrameHeader(out[:0], fin, op, false, 0, length)
		o := len(hdr)
		if op == 0x9 {
			out[0] = out[0]&0xF0 | 0xA // pong
		}
		for length > 0 {
			if rpos == rend {
				rpos, rend = 0, 0
				n, err := nc.Read(rbuf)
				if n == 0 && err != nil {
					return
				}
				rend = n
			}
			k := min(length, rend-rpos, len(out)-o)
			copy(out[o:], rbuf[rpos:rpos+k])
			key = MaskBytes(out[o:o+k], key)
			o += k
			rpos += k
			length -= k
			if o == len(out) || length == 0 {
				if _, err := nc.Write(out[:o]); err != nil {
					return
				}
				o = 0
			}
		}
		if o > 0 { // empty payload: header only
			if _, err := nc.Write(out[:o]); err != nil {
				return
			}
		}
	}
}

func headerValue(head []byte, name string) string {
	for _, line := range strings.Split(string(head), "\r\n") {
		k, v, ok := strings.Cut(line, ":")
		if ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
