package wsb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	ours "github.com/ccf874ba/websocket"
	coder "github.com/coder/websocket"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
	gorilla "github.com/gorilla/websocket"
	"github.com/lxzan/gws"
)

// ClientNames lists the library clients, in table order.
var ClientNames = []string{"ours", "ours-append", "gorilla", "coder", "gobwas-ll", "gobwas-wsutil", "gws"}

// ClientDescriptions says how each load client is written.
var ClientDescriptions = map[string]string{
	"ours":          "Dial; loop Conn.Write + Conn.Read",
	"ours-append":   "Dial; loop Conn.Write + Conn.ReadAppend into a reused buffer",
	"gorilla":       "Dialer{} (default buffers); loop WriteMessage + ReadMessage",
	"coder":         "Dial; loop Conn.Write + Conn.Read",
	"gobwas-ll":     "ws.Dialer; bufio 4 KiB; ws.WriteHeaderBuffer + ws.Cipher'd copy (new ws.NewMask per frame) + Flush; ws.ReadHeaderBuffer + io.ReadFull",
	"gobwas-wsutil": "ws.Dialer; loop wsutil.WriteClientMessage + wsutil.ReadServerData on the net.Conn",
	"gws":           "NewClient; go ReadLoop(); OnMessage counts and writes the next message (event-driven)",
}

// Client is one connection of a library's client, able to run the
// request/echo loop.
type Client interface {
	// Run sends payload and waits for its echo, again and again, adding
	// one to count per round trip, until stop is set.
	Run(payload []byte, stop *atomic.Bool, count *atomic.Int64) error
	Close() error
}

var errShortEcho = errors.New("echo has the wrong length")

// DialClient connects the named library's client to the echo server at
// addr (host:port).
func DialClient(name, addr string) (Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws://" + addr + "/"
	switch name {
	case "ours", "ours-append":
		c, _, err := ours.Dial(ctx, u, &ours.DialOptions{Proxy: noProxy})
		if err != nil {
			return nil, err
		}
		return &oursClient{c: c, appendBuf: name == "ours-append"}, nil
	case "gorilla":
		d := gorilla.Dialer{HandshakeTimeout: 10 * time.Second}
		c, _, err := d.Dial(u, nil)
		if err != nil {
			return nil, err
		}
		return &gorillaClient{c: c}, nil
	case "coder":
		c, _, err := coder.Dial(ctx, u, &coder.DialOptions{HTTPClient: &http.Client{Transport: &http.Transport{Proxy: nil}}})
		if err != nil {
			return nil, err
		}
		c.SetReadLimit(1 << 20)
		return &coderClient{c: c}, nil
	case "gobwas-ll", "gobwas-wsutil":
		nc, br, _, err := ws.Dialer{Timeout: 10 * time.Second}.Dial(ctx, u)
		if err != nil {
			return nil, err
		}
		if br != nil {
			// The raw server sends nothing before the first message.
			ws.PutReader(br)
			nc.Close()
			return nil, errors.New("gobwas: unexpected data after handshake")
		}
		return &gobwasClient{nc: nc, wsutil: name == "gobwas-wsutil"}, nil
	case "gws":
		gc := &gwsClient{done: make(chan error, 1)}
		c, _, err := gws.NewClient(gc, &gws.ClientOption{Addr: u, ReadMaxPayloadSize: 16 << 20})
		if err != nil {
			return nil, err
		}
		gc.c = c
		go c.ReadLoop()
		return gc, nil
	}
	return nil, fmt.Errorf("unknown client %q", name)
}

func noProxy(*http.Request) (*url.URL, error) { return nil, nil }

// ---- ours ----

type oursClient struct {
	c         *ours.Conn
	appendBuf bool // ReadAppend into a reused buffer rather than Read
}

func (c *oursClient) Close() error { return c.c.CloseNow() }

func (c *oursClient) Run(payload []byte, stop *atomic.Bool, count *atomic.Int64) error {
	ctx := context.Background()
	var buf []byte
	for !stop.Load() {
		if err := c.c.Write(ctx, ours.MessageBinary, payload); err != nil {
			return err
		}
		var b []byte
		var err error
		if c.appendBuf {
			_, b, err = c.c.ReadAppend(ctx, buf[:0])
			if err == nil {
				buf = b
			}
		} else {
			_, b, err = c.c.Read(ctx)
		}
		if err != nil {
			return err
		}
		if len(b) != len(payload) {
			return errShortEcho
		}
		count.Add(1)
	}
	return nil
}

// ---- gorilla ----

type gorillaClient struct{ c *gorilla.Conn }

func (c *gorillaClient) Close() error { return c.c.Close() }

func (c *gorillaClient) Run(payload []byte, stop *atomic.Bool, count *atomic.Int64) error {
	for !stop.Load() {
		if err := c.c.WriteMessage(gorilla.BinaryMessage, payload); err != nil {
			return err
		}
		_, b, err := c.c.ReadMessage()
		if err != nil {
			return err
		}
		if len(b) != len(payload) {
			return errShortEcho
		}
		count.Add(1)
	}
	return nil
}

// ---- coder ----

type coderClient struct{ c *coder.Conn }

func (c *coderClient) Close() error { return c.c.CloseNow() }

func (c *coderClient) Run(payload []byte, stop *atomic.Bool, count *atomic.Int64) error {
	ctx := context.Background()
	for !stop.Load() {
		if err := c.c.Write(ctx, coder.MessageBinary, payload); err != nil {
			return err
		}
		_, b, err := c.c.Read(ctx)
		if err != nil {
			return err
		}
		if len(b) != len(payload) {
			return errShortEcho
		}
		count.Add(1)
	}
	return nil
}

// ---- gobwas ----

type gobwasClient struct {
	nc     net.Conn
	wsutil bool
}

func (c *gobwasClient) Close() error { return c.nc.Close() }

func (c *gobwasClient) Run(payload []byte, stop *atomic.Bool, count *atomic.Int64) error {
	if c.wsutil {
		for !stop.Load() {
			if err := wsutil.WriteClientMessage(c.nc, ws.OpBinary, payload); err != nil {
				return err
			}
			b, _, err := wsutil.ReadServerData(c.nc)
			if err != nil {
				return err
			}
			if len(b) != len(payload) {
				return errShortEcho
			}
			count.Add(1)
		}
		return nil
	}
	br := bufio.NewReaderSize(c.nc, 4096)
	bw := bufio.NewWriterSize(c.nc, 4096)
	hbuf := make([]byte, ws.MaxHeaderSize)
	wbuf := make([]byte, len(payload))
	rbuf := make([]byte, len(payload))
	for !stop.Load() {
		h := ws.Header{Fin: true, OpCode: ws.OpBinary, Masked: true, Mask: ws.NewMask(), Length: int64(len(payload))}
		copy(wbuf, payload)
		ws.Cipher(wbuf, h.Mask, 0)
		if err := ws.WriteHeaderBuffer(bw, h, hbuf); err != nil {
			return err
		}
		bw.Write(wbuf)
		if err := bw.Flush(); err != nil {
			return err
		}
		n := 0
		for {
			rh, err := ws.ReadHeaderBuffer(br, hbuf)
			if err != nil {
				return err
			}
			if rh.OpCode.IsControl() || n+int(rh.Length) > len(rbuf) {
				return fmt.Errorf("gobwas client: unexpected frame %+v", rh)
			}
			if _, err := io.ReadFull(br, rbuf[n:n+int(rh.Length)]); err != nil {
				return err
			}
			n += int(rh.Length)
			if rh.Fin {
				break
			}
		}
		if n != len(payload) {
			return errShortEcho
		}
		count.Add(1)
	}
	return nil
}

// ---- gws ----

type gwsClient struct {
	gws.BuiltinEventHandler
	c       *gws.Conn
	payload []byte
	stop    *atomic.Bool
	count   *atomic.Int64
	done    chan error
}

func (c *gwsClient) Close() error {
	return c.c.NetConn().Close()
}

func (c *gwsClient) Run(payload []byte, stop *atomic.Bool, count *atomic.Int64) error {
	c.payload, c.stop, c.count = payload, stop, count
	if err := c.c.WriteMessage(gws.OpcodeBinary, payload); err != nil {
		return err
	}
	return <-c.done
}

func (c *gwsClient) OnClose(socket *gws.Conn, err error) {
	select {
	case c.done <- fmt.Errorf("gws client closed: %w", err):
	default:
	}
}

func (c *gwsClient) OnMessage(socket *gws.Conn, m *gws.Message) {
	n := m.Data.Len()
	m.Close()
	if n != len(c.payload) {
		c.done <- errShortEcho
		return
	}
	c.count.Add(1)
	if c.stop.Load() {
		c.done <- nil
		return
	}
	if err := socket.WriteMessage(gws.OpcodeBinary, c.payload); err != nil {
		select {
		case c.done <- err:
		default:
		}
	}
}
