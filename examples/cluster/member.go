package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ccf874ba/websocket"
)

// A member is one client connection, in any number of rooms (up to
// cfg.maxRooms). Everything sent to it goes through its bounded queue,
// drained by its writer goroutine: the room readers never wait for a
// client, and a client that cannot keep up is dropped with 1008.
type member struct {
	n    *node
	conn *websocket.Conn
	addr string

	ctx    context.Context // ends when the member goes
	cancel context.CancelFunc

	mu      sync.Mutex
	q       []*websocket.PreparedMessage
	closed  bool          // no more queueing; the writer stops
	writing bool          // a writer goroutine runs
	wake    chan struct{} // to the writer: q is not empty
	space   chan struct{} // to waiting pushers: q shrank

	closing atomic.Bool // a close handshake is ours to run: no CloseNow on write errors
	dropped sync.Once

	subs    map[string]*sub // read goroutine only
	limiter limiter
}

// serveWS upgrades /ws?room=NAME[&since=ID] and starts the member; the
// handler returns at once, so net/http frees what it holds for the
// request.
func (n *node) serveWS(w http.ResponseWriter, r *http.Request) {
	if st, _, _ := n.health.status(); st == "shutting_down" {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	q := r.URL.Query()
	name, sinceText := q.Get("room"), q.Get("since")
	var since *streamID
	switch {
	case name != "" && !validRoom(name):
		http.Error(w, "bad room name", http.StatusBadRequest)
		return
	case sinceText != "" && name == "":
		http.Error(w, "since without room", http.StatusBadRequest)
		return
	case sinceText != "":
		id, ok := parseID(sinceText)
		if !ok {
			http.Error(w, "bad since: want a stream id such as 1700000000000-0", http.StatusBadRequest)
			return
		}
		since = &id
	}
	opts := &websocket.AcceptOptions{}
	opts.ReadLimit = n.cfg.maxMessage
	opts.PingInterval = n.cfg.ping
	opts.Group = &n.conns
	opts.OriginPatterns = n.cfg.origins
	c, err := websocket.Accept(w, r, opts)
	if err != nil {
		return // Accept answered with an HTTP error
	}
	m := &member{
		n:       n,
		conn:    c,
		addr:    r.RemoteAddr,
		wake:    make(chan struct{}, 1),
		space:   make(chan struct{}, 1),
		subs:    make(map[string]*sub),
		limiter: limiter{rate: n.cfg.sendRate, burst: n.cfg.sendBurst},
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	n.mu.Lock()
	n.members[m] = struct{}{}
	n.mu.Unlock()
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		m.run(name, since)
	}()
}

// run is the member's read loop: client messages until the connection
// ends, then the member leaves its rooms.
func (m *member) run(room string, since *streamID) {
	defer m.cleanup()
	if room != "" {
		m.join(room, since)
	}
	for {
		typ, p, err := m.conn.Read(context.Background())
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			m.drop(websocket.StatusUnsupportedData, "text messages only")
			return
		}
		m.handle(p)
	}
}

func (m *member) cleanup() {
	m.cancel()
	for _, s := range m.subs {
		s.leave()
	}
	m.closeQueue()
	if !m.closing.Load() {
		m.conn.CloseNow()
	}
	m.n.mu.Lock()
	delete(m.n.members, m)
	m.n.mu.Unlock()
}

func (m *member) handle(p []byte) {
	var msg clientMsg
	if err := json.Unmarshal(p, &msg); err != nil {
		m.fail(errBadRequest, "not a JSON object: "+err.Error(), "", "")
		return
	}
	switch msg.Type {
	case "send":
		m.send(msg)
	case "join":
		if !validRoom(msg.Room) {
			m.fail(errBadRequest, "bad room name", msg.Room, "")
			return
		}
		var since *streamID
		if msg.Since != nil {
			id, ok := parseID(*msg.Since)
			if !ok {
				m.fail(errBadRequest, "bad since: want a stream id such as 1700000000000-0", msg.Room, "")
				return
			}
			since = &id
		}
		m.join(msg.Room, since)
	case "leave":
		s := m.subs[msg.Room]
		if s == nil {
			m.fail(errNotJoined, "not in this room", msg.Room, "")
			return
		}
		delete(m.subs, msg.Room)
		s.leave()
	default:
		m.fail(errBadRequest, "unknown type: want send, join or leave", msg.Room, msg.Ref)
	}
}

func (m *member) join(name string, since *streamID) {
	switch {
	case m.subs[name] != nil:
		m.fail(errJoined, "already in this room", name, "")
		return
	case len(m.subs) >= m.n.cfg.maxRooms:
		m.fail(errTooManyRooms, "room limit reached", name, "")
		return
	}
	s, live := m.n.shardFor(name).join(m, name, since)
	m.subs[name] = s
	if live {
		return
	}
	var ctx context.Context
	ctx, s.stop = context.WithCancel(m.ctx)
	m.n.wg.Go(func() { s.catchUp(ctx, since) })
}

// send stores a message in the room's history; the readers of every node
// with members in the room, this one included, deliver it.
func (m *member) send(msg clientMsg) {
	switch {
	case m.subs[msg.Room] == nil:
		m.fail(errNotJoined, "join the room before sending to it", msg.Room, msg.Ref)
		return
	case msg.Data == nil:
		m.fail(errBadRequest, "send without data", msg.Room, msg.Ref)
		return
	case !m.limiter.allow(time.Now()):
		m.fail(errRateLimited, "too many sends", msg.Room, msg.Ref)
		return
	}
	ctx, cancel := context.WithTimeout(m.ctx, m.n.cfg.sendTimeout)
	id, err := m.n.hist.add(ctx, msg.Room, *msg.Data)
	cancel()
	if err != nil {
		m.n.stats.sendErrs.Add(1)
		if notStored(err) {
			m.fail(errUnavailable, "message not stored: "+err.Error(), msg.Room, msg.Ref)
		} else {
			m.fail(errUnconfirmed, "no answer from the history, the message may or may not be stored: "+err.Error(), msg.Room, msg.Ref)
		}
		return
	}
	m.n.stats.sent.Add(1)
	if msg.Ref != "" {
		m.push(m.ctx, prepare(ackMsg{Type: "ack", Ref: msg.Ref, Room: msg.Room, ID: id.String()})) // ref is the client's: escaped
	}
}

// fail sends an error message; the connection stays.
func (m *member) fail(code, text, room, ref string) {
	m.push(m.ctx, prepare(errorMsg{Type: "error", Code: code, Message: text, Room: room, Ref: ref}))
}

// offer queues pm if the queue has room, without waiting: the room
// readers' path. False means the member is too slow (or gone).
func (m *member) offer(pm *websocket.PreparedMessage) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return true // going away anyway; nothing to drop
	}
	if len(m.q) >= m.n.cfg.queue {
		return false
	}
	m.enqueueLocked(pm)
	return true
}

// enqueueLocked appends pm and wakes the writer, or starts one.
func (m *member) enqueueLocked(pm *websocket.PreparedMessage) {
	m.q = append(m.q, pm)
	if m.writing {
		notify(m.wake)
		return
	}
	m.writing = true
	m.n.wg.Go(m.writeLoop)
}

// queued returns the length of the queue.
func (m *member) queued() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.q)
}

// push queues pm, waiting while the queue is half full: the path of
// replays and of answers to the client's own messages, which may wait
// for the client but leave the other half of the queue to live delivery.
func (m *member) push(ctx context.Context, pm *websocket.PreparedMessage) error {
	for {
		m.mu.Lock()
		switch {
		case m.closed:
			m.mu.Unlock()
			return net.ErrClosed
		case ctx.Err() != nil:
			m.mu.Unlock()
			return ctx.Err()
		case len(m.q) < max(m.n.cfg.queue/2, 1):
			m.enqueueLocked(pm)
			m.mu.Unlock()
			return nil
		}
		m.mu.Unlock()
		select {
		case <-m.space:
		case <-ctx.Done():
		}
	}
}

func notify(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// writeLoop writes what is queued, in order. It takes the whole queue at
// a time and gives the batch cfg.writeTimeout: a client that does not
// take it within that time is cut off. It runs while there is traffic and
// returns after writerIdle without any, so that an idle member costs one
// goroutine (its reader), not two.
func (m *member) writeLoop() {
	var batch []*websocket.PreparedMessage
	idle := time.NewTimer(writerIdle)
	defer idle.Stop()
	for {
		m.mu.Lock()
		for len(m.q) == 0 && !m.closed {
			m.mu.Unlock()
			idle.Reset(writerIdle)
			select {
			case <-m.wake:
			case <-idle.C:
				m.mu.Lock()
				if len(m.q) == 0 || m.closed {
					m.writing = false
					m.mu.Unlock()
					return
				}
				m.mu.Unlock()
			}
			m.mu.Lock()
		}
		if m.closed {
			m.writing = false
			m.mu.Unlock()
			return
		}
		batch = append(batch[:0], m.q...)
		clear(m.q)
		if cap(m.q) > 16 {
			m.q = nil // an idle member keeps no large array
		} else {
			m.q = m.q[:0]
		}
		m.mu.Unlock()
		notify(m.space)
		ctx, cancel := context.WithTimeout(context.Background(), m.n.cfg.writeTimeout)
		var err error
		for _, pm := range batch {
			if err = m.conn.WritePrepared(ctx, pm); err != nil {
				break
			}
		}
		cancel()
		clear(batch)
		if cap(batch) > 16 {
			batch = nil
		}
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && !m.closing.Load() {
				m.n.stats.timeouts.Add(1)
				log.Printf("%s: cut off: took more than %v to take its messages", m.addr, m.n.cfg.writeTimeout)
			}
			if !m.closing.Load() {
				m.conn.CloseNow()
			}
			m.closeQueue()
			m.mu.Lock()
			m.writing = false
			m.mu.Unlock()
			return
		}
	}
}

// writerIdle is how long a writer goroutine waits for more before it ends.
const writerIdle = time.Second

// closeQueue stops the queue: the writer returns, pushers give up.
func (m *member) closeQueue() {
	m.mu.Lock()
	if !m.closed {
		m.closed = true
		clear(m.q)
		m.q = nil
	}
	m.mu.Unlock()
	notify(m.wake)
	m.cancel()
}

// drop ends the member's connection with code, without waiting: the
// closing handshake runs in the background and the read loop sees its
// end. Called with room locks held, so it takes none.
func (m *member) drop(code websocket.StatusCode, reason string) {
	m.dropped.Do(func() {
		if code == websocket.StatusPolicyViolation {
			m.n.stats.dropped.Add(1)
			log.Printf("%s: dropped: %s", m.addr, reason)
		}
		m.closing.Store(true)
		m.closeQueue()
		go m.conn.Close(code, reason)
	})
}

// limiter is a token bucket: rate sends a second, bursts of burst. A zero
// rate means no limit.
type limiter struct {
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
}

func (l *limiter) allow(now time.Time) bool {
	if l.rate <= 0 {
		return true
	}
	if l.last.IsZero() {
		l.tokens = l.burst
	} else {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return false
	}
	l.tokens--
	return true
}

// stopMembers stops every member's queue and marks its close handshake
// as the node's, before Group.Close sends 1001 to all.
func (n *node) stopMembers() {
	n.mu.Lock()
	ms := make([]*member, 0, len(n.members))
	for m := range n.members {
		ms = append(ms, m)
	}
	n.mu.Unlock()
	for _, m := range ms {
		m.closing.Store(true)
		m.closeQueue()
	}
}
