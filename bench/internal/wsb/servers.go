package wsb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	ours "github.com/ccf874ba/websocket"
	coder "github.com/coder/websocket"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
)

// ServerNames lists the echo servers, in table order.
var ServerNames = []string{"ours", "ours-append", "ours-engine", "ours-engine-2", "gorilla", "coder", "gobwas-ll", "gobwas-wsutil", "gws"}

// ServerDescriptions says how each echo server is written.
var ServerDescriptions = map[string]string{
	"ours":          "Accept, then the echo loop on a goroutine of its own and return from ServeHTTP, as the library documents (websocket.Handler does the same; net/http frees its per-request state); loop Conn.Read (whole message, new slice) + Conn.Write",
	"ours-append":   "as ours (Accept, loop on its own goroutine); loop Conn.ReadAppend into a reused per-connection buffer + Conn.Write",
	"ours-engine":   "websocket.Engine with one event loop (epoll; as uws, one thread of work) on the raw listener (Engine.Serve); OnMessage: EngineConn.Write(typ, p) from the loop's buffer, no goroutine per connection",
	"ours-engine-2": "as ours-engine with the default number of loops, GOMAXPROCS (2 here)",
	"gorilla":       "Upgrader (default buffers); loop ReadMessage + WriteMessage",
	"coder":         "Accept; loop Conn.Read + Conn.Write",
	"gobwas-ll":     "raw net.Listener + ws.Upgrade; bufio 4 KiB; ws.ReadHeaderBuffer/io.ReadFull/ws.Cipher into reused buffers; ws.WriteHeaderBuffer + payload + Flush",
	"gobwas-wsutil": "raw net.Listener + ws.Upgrade; loop wsutil.ReadClientData + wsutil.WriteServerMessage on the net.Conn",
	"gws":           "Upgrader; go ReadLoop(); OnMessage: WriteMessage(message.Bytes()) + message.Close()",
}

// Server is an echo server of one library. Every server also supports a
// broadcast of one binary message to all its open connections.
type Server interface {
	// Active returns the number of open WebSocket connections.
	Active() int64
	// Broadcast writes p as one binary message to every open connection
	// from the calling goroutine, using the library's prepared-message API
	// when prepared is true. It returns the number of connections written.
	Broadcast(p []byte, prepared bool) (int, error)
	// CanPrepare reports whether the library has a prepared-message API.
	CanPrepare() bool
}

// StartServer starts the named echo server on ln.
func StartServer(name string, ln net.Listener) (Server, error) {
	switch name {
	case "ours", "ours-append":
		s := &oursServer{appendBuf: name == "ours-append"}
		go serveHTTP(ln, s)
		return s, nil
	case "ours-engine":
		return startEngineServer(ln, nil, 1)
	case "ours-engine-2":
		return startEngineServer(ln, nil, 0)
	case "gorilla":
		s := &gorillaServer{}
		s.up.CheckOrigin = func(*http.Request) bool { return true }
		go serveHTTP(ln, s)
		return s, nil
	case "coder":
		s := &coderServer{}
		go serveHTTP(ln, s)
		return s, nil
	case "gobwas-ll", "gobwas-wsutil":
		s := &gobwasServer{wsutil: name == "gobwas-wsutil"}
		go s.serve(ln)
		return s, nil
	case "gws":
		s := &gwsServer{}
		s.up = gws.NewUpgrader(s, &gws.ServerOption{ReadMaxPayloadSize: 16 << 20})
		go serveHTTP(ln, s)
		return s, nil
	}
	return nil, fmt.Errorf("unknown server %q", name)
}

func serveHTTP(ln net.Listener, h http.Handler) {
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	hs.Serve(ln)
}

// connSet is the set of open connections of a server, for Broadcast.
type connSet[T comparable] struct {
	mu sync.Mutex
	m  map[T]struct{}
	n  atomic.Int64
}

func (s *connSet[T]) add(c T) {
	s.mu.Lock()
	if s.m == nil {
		s.m = make(map[T]struct{})
	}
	s.m[c] = struct{}{}
	s.mu.Unlock()
	s.n.Add(1)
}

func (s *connSet[T]) remove(c T) {
	s.mu.Lock()
	delete(s.m, c)
	s.mu.Unlock()
	s.n.Add(-1)
}

// each calls f for every connection, under the set's lock.
func (s *connSet[T]) each(f func(T) error) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	var first error
	for c := range s.m {
		if err := f(c); err != nil && first == nil {
			first = err
		} else if err == nil {
			n++
		}
	}
	return n, first
}

// ---- ours ----

type oursServer struct {
	appendBuf bool                     // ReadAppend into a reused buffer rather than Read
	comp      *ours.CompressionOptions // permessage-deflate, if not nil
	set       connSet[*ours.Conn]
}

func (s *oursServer) Active() int64    { return s.set.n.Load() }
func (s *oursServer) CanPrepare() bool { return true }

func (s *oursServer) Broadcast(p []byte, prepared bool) (int, error) {
	ctx := context.Background()
	if prepared {
		pm, err := ours.NewPreparedMessage(ours.MessageBinary, p)
		if err != nil {
			return 0, err
		}
		var all []*ours.Conn
		s.set.each(func(c *ours.Conn) error { all = append(all, c); return nil })
		if err := ours.Broadcast(ctx, all, pm); err != nil {
			return 0, err
		}
		return len(all), nil
	}
	return s.set.each(func(c *ours.Conn) error { return c.Write(ctx, ours.MessageBinary, p) })
}

// ServeHTTP has the shape the library recommends (the doc of Accept;
// websocket.Handler does the same): Accept, run the connection on a
// goroutine of its own and return, so that net/http frees what it keeps
// for the request while the connection lives.
func (s *oursServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := ours.Accept(w, r, &ours.AcceptOptions{InsecureSkipVerify: true, ConnOptions: ours.ConnOptions{Compression: s.comp}})
	if err != nil {
		return
	}
	s.set.add(c)
	go func() {
		defer s.set.remove(c)
		defer c.CloseNow()
		if s.appendBuf {
			EchoOursAppend(c)
		} else {
			EchoOurs(c)
		}
	}()
}

// EchoOurs echoes messages with Conn.Read and Conn.Write until an error.
func EchoOurs(c *ours.Conn) error {
	ctx := context.Background()
	for {
		typ, b, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if err := c.Write(ctx, typ, b); err != nil {
			return err
		}
	}
}

// EchoOursAppend echoes messages with Conn.ReadAppend into a reused
// buffer and Conn.Write, until an error.
func EchoOursAppend(c *ours.Conn) error {
	ctx := context.Background()
	var buf []byte
	for {
		typ, msg, err := c.ReadAppend(ctx, buf[:0])
		if err != nil {
			return err
		}
		if err := c.Write(ctx, typ, msg); err != nil {
			return err
		}
		buf = msg
	}
}

// ---- gorilla ----

type gorillaServer struct {
	up  gorilla.Upgrader
	set connSet[*gorillaConn]
}

type gorillaConn struct {
	c  *gorilla.Conn
	mu sync.Mutex // gorilla allows one writer at a time
}

func (s *gorillaServer) Active() int64    { return s.set.n.Load() }
func (s *gorillaServer) CanPrepare() bool { return true }

func (s *gorillaServer) Broadcast(p []byte, prepared bool) (int, error) {
	if prepared {
		pm, err := gorilla.NewPreparedMessage(gorilla.BinaryMessage, p)
		if err != nil {
			return 0, err
		}
		return s.set.each(func(gc *gorillaConn) error {
			gc.mu.Lock()
			defer gc.mu.Unlock()
			return gc.c.WritePreparedMessage(pm)
		})
	}
	return s.set.each(func(gc *gorillaConn) error {
		gc.mu.Lock()
		defer gc.mu.Unlock()
		return gc.c.WriteMessage(gorilla.BinaryMessage, p)
	})
}

func (s *gorillaServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := s.up.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	gc := &gorillaConn{c: c}
	s.set.add(gc)
	defer s.set.remove(gc)
	defer c.Close()
	EchoGorilla(c, &gc.mu)
}

// EchoGorilla echoes messages with ReadMessage and WriteMessage (under mu)
// until an error.
func EchoGorilla(c *gorilla.Conn, mu *sync.Mutex) error {
	for {
		typ, b, err := c.ReadMessage()
		if err != nil {
			return err
		}
		mu.Lock()
		err = c.WriteMessage(typ, b)
		mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// ---- coder ----

type coderServer struct {
	mode coder.CompressionMode
	set  connSet[*coder.Conn]
}

func (s *coderServer) Active() int64    { return s.set.n.Load() }
func (s *coderServer) CanPrepare() bool { return false }

func (s *coderServer) Broadcast(p []byte, prepared bool) (int, error) {
	if prepared {
		return 0, errors.New("no prepared-message API")
	}
	ctx := context.Background()
	return s.set.each(func(c *coder.Conn) error { return c.Write(ctx, coder.MessageBinary, p) })
}

func (s *coderServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := coder.Accept(w, r, &coder.AcceptOptions{InsecureSkipVerify: true, CompressionMode: s.mode})
	if err != nil {
		return
	}
	c.SetReadLimit(1 << 20)
	s.set.add(c)
	defer s.set.remove(c)
	defer c.CloseNow()
	EchoCoder(c)
}

// EchoCoder echoes messages with Conn.Read and Conn.Write until an error.
func EchoCoder(c *coder.Conn) error {
	ctx := context.Background()
	for {
		typ, b, err := c.Read(ctx)
		if err != nil {
			return err
		}
		if err := c.Write(ctx, typ, b); err != nil {
			return err
		}
	}
}

// ---- gobwas ----

type gobwasServer struct {
	wsutil bool
	set    connSet[*gobwasConn]
}

type gobwasConn struct {
	nc net.Conn
	mu sync.Mutex // serialises writes of the echo loop and of Broadcast
}

func (s *gobwasServer) Active() int64    { return s.set.n.Load() }
func (s *gobwasServer) CanPrepare() bool { return true }

func (s *gobwasServer) Broadcast(p []byte, prepared bool) (int, error) {
	if prepared {
		frame, err := ws.CompileFrame(ws.NewBinaryFrame(p))
		if err != nil {
			return 0, err
		}
		return s.set.each(func(gc *gobwasConn) error {
			gc.mu.Lock()
			defer gc.mu.Unlock()
			_, err := gc.nc.Write(frame)
			return err
		})
	}
	return s.set.each(func(gc *gobwasConn) error {
		gc.mu.Lock()
		defer gc.mu.Unlock()
		return wsutil.WriteServerMessage(gc.nc, ws.OpBinary, p)
	})
}

func (s *gobwasServer) serve(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		go s.handle(nc)
	}
}

func (s *gobwasServer) handle(nc net.Conn) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := ws.Upgrade(nc); err != nil {
		return
	}
	nc.SetDeadline(time.Time{})
	gc := &gobwasConn{nc: nc}
	s.set.add(gc)
	defer s.set.remove(gc)
	if s.wsutil {
		EchoGobwasWsutil(nc, &gc.mu)
	} else {
		EchoGobwasLowLevel(nc, &gc.mu)
	}
}

// EchoGobwasWsutil echoes messages with wsutil.ReadClientData and
// wsutil.WriteServerMessage (under mu) until an error.
func EchoGobwasWsutil(nc net.Conn, mu *sync.Mutex) error {
	for {
		msg, op, err := wsutil.ReadClientData(nc)
		if err != nil {
			return err
		}
		mu.Lock()
		err = wsutil.WriteServerMessage(nc, op, msg)
		mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// EchoGobwasLowLevel echoes frame by frame with gobwas/ws's low-level API
// and reused buffers until an error; writes happen under mu.
func EchoGobwasLowLevel(nc net.Conn, mu *sync.Mutex) error {
	br := bufio.NewReaderSize(nc, 4096)
	bw := bufio.NewWriterSize(nc, 4096)
	hbuf := make([]byte, ws.MaxHeaderSize)
	var buf []byte
	for {
		h, err := ws.ReadHeaderBuffer(br, hbuf)
		if err != nil {
			return err
		}
		if int64(cap(buf)) < h.Length {
			buf = make([]byte, h.Length)
		}
		p := buf[:h.Length]
		if _, err := io.ReadFull(br, p); err != nil {
			return err
		}
		if h.Masked {
			ws.Cipher(p, h.Mask, 0)
			h.Masked = false
		}
		switch h.OpCode {
		case ws.OpClose:
			mu.Lock()
			ws.WriteHeaderBuffer(bw, ws.Header{Fin: true, OpCode: ws.OpClose, Length: int64(min(len(p), 2))}, hbuf)
			bw.Write(p[:min(len(p), 2)])
			bw.Flush()
			mu.Unlock()
			return io.EOF
		case ws.OpPing:
			h.OpCode = ws.OpPong
		case ws.OpPong:
			continue
		}
		// Echo frame by frame: fin and opcode as received.
		mu.Lock()
		ws.WriteHeaderBuffer(bw, h, hbuf)
		bw.Write(p)
		err = bw.Flush()
		mu.Unlock()
		if err != nil {
			return err
		}
	}
}

// ---- gws ----

type gwsServer struct {
	up  *gws.Upgrader
	set connSet[*gws.Conn]
}

func (s *gwsServer) Active() int64    { return s.set.n.Load() }
func (s *gwsServer) CanPrepare() bool { return true }

func (s *gwsServer) Broadcast(p []byte, prepared bool) (int, error) {
	if prepared {
		b := gws.NewBroadcaster(gws.OpcodeBinary, p)
		defer b.Close()
		return s.set.each(func(c *gws.Conn) error { return b.Broadcast(c) })
	}
	return s.set.each(func(c *gws.Conn) error { return c.WriteMessage(gws.OpcodeBinary, p) })
}

func (s *gwsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c, err := s.up.Upgrade(w, r)
	if err != nil {
		return
	}
	go c.ReadLoop()
}

func (s *gwsServer) OnOpen(c *gws.Conn)                 { s.set.add(c) }
func (s *gwsServer) OnClose(c *gws.Conn, err error)     { s.set.remove(c) }
func (s *gwsServer) OnPing(c *gws.Conn, payload []byte) { c.WritePong(payload) }
func (s *gwsServer) OnPong(c *gws.Conn, payload []byte) {}
func (s *gwsServer) OnMessage(c *gws.Conn, m *gws.Message) {
	GwsEcho(c, m)
}

// GwsEcho is the echo of gws's OnMessage.
func GwsEcho(c *gws.Conn, m *gws.Message) {
	c.WriteMessage(m.Opcode, m.Bytes())
	m.Close()
}
