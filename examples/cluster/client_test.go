//go:build linux

package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"sync"
	"time"

	"github.com/ccf874ba/websocket"
)

// serverMsg is any message from a node.
type serverMsg struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Room    string `json:"room"`
	Data    string `json:"data"`
	Since   string `json:"since"`
	Oldest  string `json:"oldest"`
	Ref     string `json:"ref"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// tclient is a client as a production one should be written: in one or
// more rooms, it keeps its position in each (the last id received, or the
// position "joined" gave), and when its connection ends it reconnects to
// another node, with since, after a short random pause. It records all
// it receives and every anomaly: an id not above the last one (a
// duplicate or a reordering), a message before the room's "joined".
type tclient struct {
	name  string
	rooms []string        // joined in this order; the first through the URL
	nodes func() []string // WebSocket base URLs (ws://host/ws) to try, in order
	start int             // index of the node to use first
	onMsg func(serverMsg) // optional: called for each message, outside the lock
	ctx   context.Context // ends the client
	done  chan struct{}   // closed when run returns

	mu         sync.Mutex
	stopped    bool // close was called: no reconnecting
	conn       *websocket.Conn
	connNode   string
	ids        map[string][]string // room -> ids of messages, in order received
	datas      map[string][]string
	pos        map[string]streamID
	joined     map[string]bool // live in the room on the current connection
	everJoined map[string]bool
	trimmed    []serverMsg
	errs       []serverMsg
	acks       map[string]string // ref -> id
	nacks      map[string]string // ref -> error code
	closes     []websocket.StatusCode
	reconnects int
	anomalies  []string
}

func newClient(ctx context.Context, name string, rooms []string, start int, nodes func() []string) *tclient {
	return &tclient{
		name: name, rooms: rooms, start: start, nodes: nodes, ctx: ctx,
		done:       make(chan struct{}),
		ids:        make(map[string][]string),
		datas:      make(map[string][]string),
		pos:        make(map[string]streamID),
		joined:     make(map[string]bool),
		everJoined: make(map[string]bool),
		acks:       make(map[string]string),
		nacks:      make(map[string]string),
	}
}

// connect dials node i (index into nodes()) and joins the rooms, with
// since for those it has a position in.
func (c *tclient) connect(base string) error {
	c.mu.Lock()
	q := url.Values{"room": {c.rooms[0]}}
	if p, ok := c.pos[c.rooms[0]]; ok {
		q.Set("since", p.String())
	}
	joins := make([][]byte, 0, len(c.rooms)-1)
	for _, r := range c.rooms[1:] {
		m := map[string]string{"type": "join", "room": r}
		if p, ok := c.pos[r]; ok {
			m["since"] = p.String()
		}
		b, _ := json.Marshal(m)
		joins = append(joins, b)
	}
	c.mu.Unlock()
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	opts := &websocket.DialOptions{}
	opts.ReadLimit = 1 << 20
	conn, _, err := websocket.Dial(ctx, base+"?"+q.Encode(), opts)
	if err != nil {
		return err
	}
	for _, b := range joins {
		if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
			conn.CloseNow()
			return err
		}
	}
	c.mu.Lock()
	c.conn, c.connNode = conn, base
	clear(c.joined)
	c.mu.Unlock()
	return nil
}

// run connects and reads until ctx ends, reconnecting as needed.
func (c *tclient) run() {
	defer close(c.done)
	first := true
	i := c.start
	for c.ctx.Err() == nil && !c.isStopped() {
		nodes := c.nodes()
		if len(nodes) == 0 {
			return
		}
		if !first {
			// Spread the reconnections of a node's clients.
			sleep(c.ctx, time.Duration(20+rand.IntN(200))*time.Millisecond)
		}
		if err := c.connect(nodes[i%len(nodes)]); err != nil {
			i++
			first = false
			continue
		}
		if !first {
			c.mu.Lock()
			c.reconnects++
			c.mu.Unlock()
		}
		first = false
		c.readLoop()
		i++ // the next try goes to another node
	}
}

func (c *tclient) readLoop() {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	defer conn.CloseNow()
	for {
		_, p, err := conn.Read(c.ctx)
		if err != nil {
			c.mu.Lock()
			c.conn = nil
			if code := websocket.CloseStatus(err); code != -1 {
				c.closes = append(c.closes, code)
			}
			c.mu.Unlock()
			return
		}
		var m serverMsg
		if err := json.Unmarshal(p, &m); err != nil {
			c.anomaly("bad JSON %q", p)
			continue
		}
		c.record(m)
		if c.onMsg != nil {
			c.onMsg(m)
		}
	}
}

func (c *tclient) record(m serverMsg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch m.Type {
	case "message":
		id, ok := parseID(m.ID)
		if !ok {
			c.anomalyLocked("bad id %q", m.ID)
			return
		}
		if last, ok := c.pos[m.Room]; ok && !last.less(id) {
			c.anomalyLocked("room %s: id %s after %s (duplicate or out of order)", m.Room, m.ID, last)
			return
		}
		c.ids[m.Room] = append(c.ids[m.Room], m.ID)
		c.datas[m.Room] = append(c.datas[m.Room], m.Data)
		c.pos[m.Room] = id
	case "joined":
		id, ok := parseID(m.ID)
		if !ok {
			c.anomalyLocked("joined with bad id %q", m.ID)
			return
		}
		if last, ok := c.pos[m.Room]; ok && id.less(last) {
			c.anomalyLocked("room %s: joined at %s, before %s", m.Room, m.ID, last)
		}
		c.pos[m.Room] = maxID(id, c.pos[m.Room])
		c.joined[m.Room] = true
		c.everJoined[m.Room] = true
	case "trimmed":
		c.trimmed = append(c.trimmed, m)
		if id, ok := parseID(m.Oldest); ok {
			c.pos[m.Room] = id.prev()
		} else {
			delete(c.pos, m.Room)
		}
	case "ack":
		c.acks[m.Ref] = m.ID
	case "error":
		c.errs = append(c.errs, m)
		if m.Ref != "" {
			c.nacks[m.Ref] = m.Code
		}
	default:
		c.anomalyLocked("unknown message type %q", m.Type)
	}
}

func (c *tclient) anomaly(format string, args ...any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.anomalyLocked(format, args...)
}

func (c *tclient) anomalyLocked(format string, args ...any) {
	if len(c.anomalies) < 20 {
		c.anomalies = append(c.anomalies, c.name+": "+fmt.Sprintf(format, args...))
	}
}

var errNoConn = errors.New("not connected")

// send sends data to room with ref, on the current connection.
func (c *tclient) send(room, data, ref string) error {
	c.mu.Lock()
	conn := c.conn
	c.mu.Unlock()
	if conn == nil {
		return errNoConn
	}
	b, _ := json.Marshal(map[string]string{"type": "send", "room": room, "data": data, "ref": ref})
	ctx, cancel := context.WithTimeout(c.ctx, 5*time.Second)
	defer cancel()
	return conn.Write(ctx, websocket.MessageText, b)
}

func (c *tclient) isStopped() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.stopped
}

// close ends the client with a normal closure; run returns.
func (c *tclient) close() {
	c.mu.Lock()
	c.stopped = true
	conn := c.conn
	c.mu.Unlock()
	if conn != nil {
		conn.Close(websocket.StatusNormalClosure, "")
	}
}

// isLive reports whether the client is connected and live in all its rooms.
func (c *tclient) isLive() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.conn == nil {
		return false
	}
	for _, r := range c.rooms {
		if !c.joined[r] {
			return false
		}
	}
	return true
}

// snapshot returns copies of what the client received in room.
func (c *tclient) received(room string) (ids, datas []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.ids[room]...), append([]string(nil), c.datas[room]...)
}
