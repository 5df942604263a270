package wsb

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"

	ours "github.com/ccf874ba/websocket"
	coder "github.com/coder/websocket"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
)

// MemConn is an in-memory net.Conn for measuring a library's framing cost
// without the kernel: each Read returns at most the rest of one prebuilt
// masked frame (as a socket would deliver one request), the frame repeats
// until Frames frames have been served, then Read returns io.EOF. Writes
// are counted and discarded.
type MemConn struct {
	frame   []byte
	pos     int
	served  int
	Frames  int   // frames to serve
	Written int64 // bytes written
}

// NewMemConn returns a MemConn serving frames masked binary messages of
// size random bytes.
func NewMemConn(size, frames int) *MemConn {
	p := make([]byte, size)
	for i := range p {
		p[i] = byte(rand.IntN(256))
	}
	key := rand.Uint32()
	f := AppendFrameHeader(nil, true, 2, true, key, size)
	h := len(f)
	f = append(f, p...)
	MaskBytes(f[h:], key)
	return &MemConn{frame: f, Frames: frames}
}

func (m *MemConn) Read(p []byte) (int, error) {
	if m.served >= m.Frames {
		return 0, io.EOF
	}
	n := copy(p, m.frame[m.pos:])
	m.pos += n
	if m.pos == len(m.frame) {
		m.pos = 0
		m.served++
	}
	return n, nil
}

func (m *MemConn) Write(p []byte) (int, error)       { m.Written += int64(len(p)); return len(p), nil }
func (m *MemConn) Close() error                      { return nil }
func (m *MemConn) LocalAddr() net.Addr               { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 1} }
func (m *MemConn) RemoteAddr() net.Addr              { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 2} }
func (m *MemConn) SetDeadline(t time.Time) error     { return nil }
func (m *MemConn) SetReadDeadline(t time.Time) error { return nil }
func (m *MemConn) SetWriteDeadline(t time.Time) error {
	return nil
}

// hijackRW is an http.ResponseWriter whose Hijack hands over a MemConn.
type hijackRW struct {
	h  http.Header
	nc net.Conn
}

func (w *hijackRW) Header() http.Header         { return w.h }
func (w *hijackRW) Write(p []byte) (int, error) { return len(p), nil }
func (w *hijackRW) WriteHeader(int)             {}
func (w *hijackRW) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.nc, bufio.NewReadWriter(bufio.NewReader(w.nc), bufio.NewWriter(w.nc)), nil
}

func upgradeRequest() *http.Request {
	r := httptest.NewRequest("GET", "http://127.0.0.1/", nil)
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Sec-WebSocket-Key", rawKey)
	r.Header.Set("Sec-WebSocket-Version", "13")
	return r
}

// MemNames lists the echo loops MemEcho can run.
var MemNames = []string{"ours", "ours-append", "gorilla", "coder", "gobwas-ll", "gobwas-wsutil", "gws"}

// MemEcho upgrades mc with the named library (gobwas has no upgrade step
// here: its functions work on any net.Conn) and runs that library's echo
// loop, the same code as its loopback echo server, until mc is exhausted.
func MemEcho(lib string, mc *MemConn) error {
	w := &hijackRW{h: http.Header{}, nc: mc}
	var mu sync.Mutex
	var err error
	switch lib {
	case "ours", "ours-append":
		c, aerr := ours.Accept(w, upgradeRequest(), &ours.AcceptOptions{InsecureSkipVerify: true})
		if aerr != nil {
			return aerr
		}
		if lib == "ours" {
			err = EchoOurs(c)
		} else {
			err = EchoOursAppend(c)
		}
	case "gorilla":
		up := gorilla.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
		c, uerr := up.Upgrade(w, upgradeRequest(), nil)
		if uerr != nil {
			return uerr
		}
		err = EchoGorilla(c, &mu)
	case "coder":
		c, aerr := coder.Accept(w, upgradeRequest(), &coder.AcceptOptions{InsecureSkipVerify: true})
		if aerr != nil {
			return aerr
		}
		c.SetReadLimit(1 << 20)
		err = EchoCoder(c)
	case "gobwas-ll":
		err = EchoGobwasLowLevel(mc, &mu)
	case "gobwas-wsutil":
		err = EchoGobwasWsutil(mc, &mu)
	case "gws":
		h := &memGws{}
		up := gws.NewUpgrader(h, &gws.ServerOption{ReadMaxPayloadSize: 16 << 20})
		c, uerr := up.UpgradeFromConn(mc, bufio.NewReaderSize(mc, 4096), upgradeRequest())
		if uerr != nil {
			return uerr
		}
		c.ReadLoop()
		err = h.err
	default:
		return fmt.Errorf("unknown library %q", lib)
	}
	if mc.served < mc.Frames {
		return fmt.Errorf("%s: stopped after %d of %d frames: %v", lib, mc.served, mc.Frames, err)
	}
	return nil
}

type memGws struct {
	gws.BuiltinEventHandler
	err error
}

func (h *memGws) OnClose(c *gws.Conn, err error)        { h.err = err }
func (h *memGws) OnMessage(c *gws.Conn, m *gws.Message) { GwsEcho(c, m) }
