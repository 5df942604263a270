package wsb

import (
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	ours "github.com/ccf874ba/websocket"
	coder "github.com/coder/websocket"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gobwas/ws/wsutil"
	"github.com/lxzan/gws"
)

// DeflateServerNames lists the echo servers of the permessage-deflate part,
// in table order.
var DeflateServerNames = []string{"ours", "ours-append", "gorilla", "coder", "gobwas-wsflate", "gws"}

// DeflateServerDescription says how each deflate echo server is configured
// and written, for the mode (takeover: the server lets the client keep its
// context and keeps its own where the library can).
func DeflateServerDescription(name string, takeover bool) string {
	switch name {
	case "ours", "ours-append":
		loop := "Conn.Read + Conn.Write"
		if name == "ours-append" {
			loop = "Conn.ReadAppend into a reused buffer + Conn.Write"
		}
		return fmt.Sprintf("AcceptOptions.Compression = &CompressionOptions{NoContextTakeover: %v} (other fields zero: BestSpeed, threshold 128 B, 32 KiB window); "+
			"Accept, then the loop on a goroutine of its own and return from ServeHTTP, as the library documents; %s", !takeover, loop)
	case "gorilla":
		return "Upgrader{EnableCompression: true} (gorilla supports no context takeover only and answers so to any offer); ReadMessage + WriteMessage, which compresses every message (level 1)"
	case "coder":
		mode := "CompressionNoContextTakeover"
		if takeover {
			mode = "CompressionContextTakeover"
		}
		return fmt.Sprintf("AcceptOptions{CompressionMode: %s} (default threshold); Conn.Read + Conn.Write", mode)
	case "gobwas-wsflate":
		return "raw net.Listener + ws.Upgrader{Negotiate: wsflate.Extension{Parameters: wsflate.DefaultParameters}.Negotiate} (its helpers assume no context takeover, " +
			"which it answers to any offer); wsutil.Reader/Writer (4 KiB write buffer) with wsflate.MessageState, each message io.CopyBuffer'd through " +
			"wsflate.Reader/Writer over compress/flate (BestSpeed), the pattern of its README, with the flate reader, writer and copy buffer taken from a sync.Pool per message"
	case "gws":
		return fmt.Sprintf("ServerOption.PermessageDeflate{Enabled: true, ServerContextTakeover: %v, ClientContextTakeover: %v, ServerMaxWindowBits: 15, ClientMaxWindowBits: 15} "+
			"(default level 1, threshold 512 B without takeover; window bits set to 15 because gws's default under takeover, 12, would have the client use a 4 KiB window, "+
			"which the prebuilt client frames do not); OnMessage: WriteMessage", takeover, takeover)
	}
	return "?"
}

// StartDeflateServer starts the named echo server on ln with
// permessage-deflate on; takeover selects the context-takeover
// configuration where the library has one.
func StartDeflateServer(name string, takeover bool, ln net.Listener) (Server, error) {
	switch name {
	case "ours", "ours-append":
		s := &oursServer{appendBuf: name == "ours-append", comp: &ours.CompressionOptions{NoContextTakeover: !takeover}}
		go serveHTTP(ln, s)
		return s, nil
	case "gorilla":
		s := &gorillaServer{}
		s.up.CheckOrigin = func(*http.Request) bool { return true }
		s.up.EnableCompression = true
		go serveHTTP(ln, s)
		return s, nil
	case "coder":
		s := &coderServer{mode: coder.CompressionNoContextTakeover}
		if takeover {
			s.mode = coder.CompressionContextTakeover
		}
		go serveHTTP(ln, s)
		return s, nil
	case "gobwas-wsflate":
		s := &gobwasDeflateServer{}
		go s.serve(ln)
		return s, nil
	case "gws":
		s := &gwsServer{}
		s.up = gws.NewUpgrader(s, &gws.ServerOption{
			ReadMaxPayloadSize: 16 << 20,
			PermessageDeflate: gws.PermessageDeflate{
				Enabled:               true,
				ServerContextTakeover: takeover,
				ClientContextTakeover: takeover,
				ServerMaxWindowBits:   15,
				ClientMaxWindowBits:   15,
			},
		})
		go serveHTTP(ln, s)
		return s, nil
	}
	return nil, fmt.Errorf("unknown deflate server %q", name)
}

// ---- gobwas with wsflate ----

type gobwasDeflateServer struct {
	set connSet[*gobwasConn]
}

func (s *gobwasDeflateServer) Active() int64    { return s.set.n.Load() }
func (s *gobwasDeflateServer) CanPrepare() bool { return false }
func (s *gobwasDeflateServer) Broadcast(p []byte, prepared bool) (int, error) {
	return 0, errors.New("no broadcast in the deflate server")
}

func (s *gobwasDeflateServer) serve(ln net.Listener) {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return
		}
		go s.handle(nc)
	}
}

func (s *gobwasDeflateServer) handle(nc net.Conn) {
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	e := wsflate.Extension{Parameters: wsflate.DefaultParameters}
	u := ws.Upgrader{Negotiate: e.Negotiate}
	if _, err := u.Upgrade(nc); err != nil {
		return
	}
	nc.SetDeadline(time.Time{})
	gc := &gobwasConn{nc: nc}
	s.set.add(gc)
	defer s.set.remove(gc)
	EchoGobwasDeflate(nc, &gc.mu)
}

// gobwasFlate is the per-message compression state of the gobwas deflate
// server, pooled across connections.
type gobwasFlate struct {
	fr  *wsflate.Reader
	fw  *wsflate.Writer
	buf []byte
}

// flateReadResetter gives compress/flate's reader the one-argument Reset
// wsflate.Reader looks for, so the reader is reused rather than rebuilt.
type flateReadResetter struct{ io.ReadCloser }

func (f flateReadResetter) Reset(r io.Reader) { f.ReadCloser.(flate.Resetter).Reset(r, nil) }

var gobwasFlatePool = sync.Pool{New: func() any {
	return &gobwasFlate{
		fr: wsflate.NewReader(nil, func(r io.Reader) wsflate.Decompressor {
			return flateReadResetter{flate.NewReader(r)}
		}),
		fw: wsflate.NewWriter(nil, func(w io.Writer) wsflate.Compressor {
			f, _ := flate.NewWriter(w, flate.BestSpeed)
			return f
		}),
		buf: make([]byte, 32<<10),
	}
}}

// EchoGobwasDeflate echoes messages with wsutil's reader and writer and
// wsflate, inflating each compressed message and compressing the echo,
// until an error; writes happen under mu.
func EchoGobwasDeflate(nc net.Conn, mu *sync.Mutex) error {
	var msg wsflate.MessageState
	rd := &wsutil.Reader{
		Source:         nc,
		State:          ws.StateServerSide | ws.StateExtended,
		Extensions:     []wsutil.RecvExtension{&msg},
		MaxMessageSize: 16 << 20,
	}
	wr := wsutil.NewWriter(nc, ws.StateServerSide|ws.StateExtended, 0)
	wr.SetExtensions(&msg)
	for {
		h, err := rd.NextFrame()
		if err != nil {
			return err
		}
		if h.OpCode.IsControl() {
			if h.OpCode == ws.OpClose {
				return io.EOF
			}
			if err := rd.Discard(); err != nil {
				return err
			}
			continue
		}
		mu.Lock()
		wr.ResetOp(h.OpCode)
		if msg.IsCompressed() {
			st := gobwasFlatePool.Get().(*gobwasFlate)
			st.fr.Reset(rd)
			st.fw.Reset(wr)
			_, err = io.CopyBuffer(st.fw, st.fr, st.buf)
			if err == nil {
				err = st.fw.Close()
			}
			gobwasFlatePool.Put(st)
		} else {
			_, err = io.Copy(wr, rd)
		}
		if err == nil {
			err = wr.Flush()
		}
		mu.Unlock()
		if err != nil {
			return err
		}
	}
}
