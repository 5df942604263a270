package wsb

import (
	"net"
	"net/http"
	"os"
	"strconv"

	ours "github.com/ccf874ba/websocket"
)

// engineServer is the echo server on this library's event-loop Engine:
// connections come from the raw listener through Engine.Serve (the same
// handshake checks as Accept) and are echoed from OnMessage, inline on
// the loop, with the given number of loops (0: GOMAXPROCS; the
// environment variable WSB_ENGINE_LOOPS overrides it).
type engineServer struct {
	e   *ours.Engine
	set connSet[*ours.EngineConn]
}

func startEngineServer(ln net.Listener, comp *ours.CompressionOptions, loops int) (Server, error) {
	s := &engineServer{}
	if n, err := strconv.Atoi(os.Getenv("WSB_ENGINE_LOOPS")); err == nil {
		loops = n
	}
	e, err := ours.NewEngine(&ours.EngineOptions{
		Loops:     loops,
		OnOpen:    func(c *ours.EngineConn, _ *http.Request) { s.set.add(c) },
		OnClose:   func(c *ours.EngineConn, _ error) { s.set.remove(c) },
		OnMessage: func(c *ours.EngineConn, typ ours.MessageType, p []byte) { c.Write(typ, p) },
	})
	if err != nil {
		return nil, err
	}
	s.e = e
	go e.Serve(ln, &ours.AcceptOptions{InsecureSkipVerify: true, ConnOptions: ours.ConnOptions{Compression: comp}})
	return s, nil
}

func (s *engineServer) Active() int64    { return s.set.n.Load() }
func (s *engineServer) CanPrepare() bool { return true }

// Broadcast queues p on every connection: EngineConn writes never block,
// so one goroutine reaches them all.
func (s *engineServer) Broadcast(p []byte, prepared bool) (int, error) {
	if prepared {
		pm, err := ours.NewPreparedMessage(ours.MessageBinary, p)
		if err != nil {
			return 0, err
		}
		return s.set.each(func(c *ours.EngineConn) error { return c.WritePrepared(pm) })
	}
	return s.set.each(func(c *ours.EngineConn) error { return c.Write(ours.MessageBinary, p) })
}
