package main

import (
	"context"
	"errors"
	"hash/fnv"
	"log"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ccf874ba/websocket"
	"github.com/redis/go-redis/v9"
)

const (
	readBlock  = 2 * time.Second // XREAD BLOCK: how long a reader waits for news
	readCount  = 512             // XREAD COUNT per stream; a full batch means the reader is behind
	pageSize   = 512             // entries per XRANGE page when replaying
	backoffMin = 100 * time.Millisecond
	backoffMax = time.Second
	probeEvery = time.Second
)

// node is one server process: the rooms that have members here, each
// read from its Redis stream by the reader of its shard and fanned out to
// the local members.
type node struct {
	cfg     config
	id      string
	hist    *history
	readers *redis.Client // blocking XREADs, one connection per shard
	shards  []*shard
	conns   websocket.Group // every member's Conn, closed with 1001 at shutdown
	health  health
	stats   stats

	mu      sync.Mutex
	members map[*member]struct{}
	wg      sync.WaitGroup // member goroutines and catch-ups
}

type stats struct {
	delivered atomic.Int64 // messages queued to members, replays included
	replayed  atomic.Int64 // of which from the history (since)
	dropped   atomic.Int64 // members dropped with 1008
	timeouts  atomic.Int64 // members cut off: a write took longer than -write-timeout
	sent      atomic.Int64 // sends stored
	sendErrs  atomic.Int64 // sends refused (unavailable, unconfirmed)
	gaps      atomic.Int64 // trimmed notices
}

func newNode(cfg config, rdb, readers *redis.Client) *node {
	n := &node{
		cfg:     cfg,
		id:      cfg.nodeID,
		hist:    &history{rdb: rdb, prefix: cfg.prefix, maxLen: cfg.history},
		readers: readers,
		members: make(map[*member]struct{}),
	}
	n.health.sources = make(map[string]error)
	n.health.node = n.id
	for i := range cfg.shards {
		n.shards = append(n.shards, &shard{
			n:       n,
			name:    "reader-" + strconv.Itoa(i),
			wakeKey: cfg.prefix + "wake:" + n.id + ":" + strconv.Itoa(i),
			rooms:   make(map[string]*room),
		})
	}
	return n
}

// start runs the readers and the health probe until ctx ends; the
// returned WaitGroup waits for them.
func (n *node) start(ctx context.Context) *sync.WaitGroup {
	var wg sync.WaitGroup
	for _, sh := range n.shards {
		wg.Go(func() { sh.run(ctx) })
	}
	wg.Go(func() { n.probe(ctx) })
	return &wg
}

func (n *node) shardFor(room string) *shard {
	h := fnv.New32a()
	h.Write([]byte(room))
	return n.shards[h.Sum32()%uint32(len(n.shards))]
}

// probe pings Redis every second, so that /healthz says within about a
// second that Redis is gone, and that it is back.
func (n *node) probe(ctx context.Context) {
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	for {
		pctx, cancel := context.WithTimeout(ctx, probeEvery)
		err := n.hist.rdb.Ping(pctx).Err()
		cancel()
		if ctx.Err() != nil {
			return
		}
		n.health.set("probe", err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// A shard is a set of rooms read by one goroutine with one XREAD BLOCK
// over all their streams. More shards mean more Redis connections and
// more parallel fan-out; a room's order never depends on them, since a
// room belongs to one shard.
type shard struct {
	n       *node
	name    string
	wakeKey string // a tiny stream the shard also reads, to be woken when a room is added

	mu    sync.Mutex
	rooms map[string]*room

	wakePos streamID // reader goroutine only
}

// A room is a room with members on this node.
type room struct {
	name, key string
	shard     *shard

	mu     sync.Mutex
	known  bool     // cursor is set: the shard reads this room
	cursor streamID // every entry up to here has been fanned out to the live members
	subs   map[*sub]struct{}
}

// A sub is one member's membership of one room.
type sub struct {
	m    *member
	room *room
	stop context.CancelFunc // ends its catch-up, if it has one

	// Guarded by room.mu.
	live      bool     // the reader delivers to it
	buffering bool     // catching up: the reader appends to pending
	last      streamID // last entry queued for the member; later ones only
	pending   []entry  // live entries that arrived during the catch-up
}

type entry struct {
	id streamID
	pm *websocket.PreparedMessage
}

// join adds m to room name and returns the sub. A join without since to a
// room this node reads already is live at once, at the room's cursor;
// otherwise live is false and the sub needs its catchUp.
func (sh *shard) join(m *member, name string, since *streamID) (s *sub, live bool) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	r := sh.rooms[name]
	if r == nil {
		r = &room{name: name, key: sh.n.hist.key(name), shard: sh, subs: make(map[*sub]struct{})}
		sh.rooms[name] = r
	}
	s = &sub{m: m, room: r}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.subs[s] = struct{}{}
	if r.known && since == nil {
		s.goLiveLocked(r.cursor)
		return s, true
	}
	return s, false
}

// leave removes s from its room, and the room from the shard once empty:
// the reader stops reading its stream at its next XREAD.
func (s *sub) leave() {
	if s.stop != nil {
		s.stop()
	}
	r := s.room
	sh := r.shard
	sh.mu.Lock()
	r.mu.Lock()
	delete(r.subs, s)
	if len(r.subs) == 0 && sh.rooms[r.name] == r {
		delete(sh.rooms, r.name)
	}
	s.pending = nil
	r.mu.Unlock()
	sh.mu.Unlock()
}

// wake makes the shard's reader start a new XREAD, now including a room
// just added. Since the reader reads the wake stream from the last id it
// saw, a wake sent while it is between two XREADs is not lost.
func (sh *shard) wake(ctx context.Context) {
	rdb := sh.n.hist.rdb
	_, err := rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.XAdd(ctx, &redis.XAddArgs{Stream: sh.wakeKey, MaxLen: 1, Values: []any{"w", "1"}})
		p.Expire(ctx, sh.wakeKey, time.Hour)
		return nil
	})
	if err != nil {
		// The reader will fail too, or time out its XREAD within
		// readBlock, and pick the room up then.
		log.Printf("%s: wake: %v", sh.name, err)
	}
}

// snapshot returns the rooms to read and their cursors.
func (sh *shard) snapshot() ([]*room, []streamID) {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	rooms := make([]*room, 0, len(sh.rooms))
	cursors := make([]streamID, 0, len(sh.rooms))
	for _, r := range sh.rooms {
		r.mu.Lock()
		if r.known {
			rooms = append(rooms, r)
			cursors = append(cursors, r.cursor)
		}
		r.mu.Unlock()
	}
	return rooms, cursors
}

// run is the shard's reader: XREAD BLOCK from each room's cursor, fan out
// what comes, again. On a Redis error it backs off and retries from the
// same cursors, so nothing added meanwhile is missed; once Redis answers
// again it checks that the history did not lose what the cursors point
// past (Redis restarted without persistence, or failed over).
func (sh *shard) run(ctx context.Context) {
	n := sh.n
	failing := false
	delay := backoffMin
	fail := func(err error) {
		if !failing {
			failing = true
			n.health.set(sh.name, err)
		}
		select {
		case <-ctx.Done():
		case <-n.health.probeUp():
		case <-time.After(delay/2 + rand.N(delay/2+1)):
		}
		delay = min(2*delay, backoffMax)
	}
	for ctx.Err() == nil {
		rooms, cursors := sh.snapshot()
		streams := make([]string, 0, 2*len(rooms)+2)
		streams = append(streams, sh.wakeKey)
		for _, r := range rooms {
			streams = append(streams, r.key)
		}
		streams = append(streams, sh.wakePos.String())
		for _, c := range cursors {
			streams = append(streams, c.String())
		}
		rctx, cancel := context.WithTimeout(ctx, readBlock+3*time.Second)
		res, err := n.readers.XRead(rctx, &redis.XReadArgs{Streams: streams, Count: readCount, Block: readBlock}).Result()
		cancel()
		if err != nil && !errors.Is(err, redis.Nil) {
			if ctx.Err() != nil {
				return
			}
			fail(err)
			continue
		}
		if failing {
			if err := sh.verify(ctx, rooms); err != nil {
				fail(err)
				continue
			}
			failing, delay = false, backoffMin
			n.health.set(sh.name, nil)
		}
		byKey := make(map[string]*room, len(rooms))
		for _, r := range rooms {
			byKey[r.key] = r
		}
		for _, st := range res {
			if st.Stream == sh.wakeKey {
				if len(st.Messages) > 0 {
					sh.wakePos, _ = parseID(st.Messages[len(st.Messages)-1].ID)
				}
				continue
			}
			r := byKey[st.Stream]
			if r == nil {
				continue
			}
			if len(st.Messages) == readCount {
				// Behind by a full batch: entries may have been
				// trimmed past the cursor. Read again with the
				// stream's state, in one MULTI, to know.
				if err := sh.readBehind(ctx, r); err != nil {
					fail(err)
					break
				}
				continue
			}
			r.deliver(st.Messages)
		}
	}
}

// readBehind reads a page after r's cursor with the stream's state and
// delivers it, telling the members of a gap first if there is one.
func (sh *shard) readBehind(ctx context.Context, r *room) error {
	r.mu.Lock()
	cursor := r.cursor
	r.mu.Unlock()
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	msgs, st, err := sh.n.hist.page(pctx, r.key, cursor, "+", readCount)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.cursor == cursor {
		if gap, oldest := gapAfter(cursor, st); gap {
			r.gapLocked(oldest, st.exists && !st.lastGen.less(cursor))
		}
	}
	r.mu.Unlock()
	r.deliver(msgs)
	return nil
}

// verify checks, after Redis came back, that each room's history still
// holds what follows its cursor.
func (sh *shard) verify(ctx context.Context, rooms []*room) error {
	for _, r := range rooms {
		vctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := sh.n.hist.state(vctx, r.key)
		cancel()
		if err != nil {
			return err
		}
		r.mu.Lock()
		if gap, oldest := gapAfter(r.cursor, st); gap {
			log.Printf("room %s: history lost or trimmed after %v (oldest now %q)", r.name, r.cursor, oldest)
			r.gapLocked(oldest, st.exists && !st.lastGen.less(r.cursor))
		}
		r.mu.Unlock()
	}
	return nil
}

// gapLocked handles entries gone from the history after the room's
// cursor: live members are told (a trimmed message) and go on from the
// oldest entry left; members still catching up are asked to reconnect
// (1013), which restarts their catch-up from their own position. same
// says the stream is the one the cursor came from (trimmed, not lost): then
// positions only move forward.
func (r *room) gapLocked(oldest string, same bool) {
	n := r.shard.n
	to := streamID{}
	if id, ok := parseID(oldest); ok {
		to = id.prev()
	}
	for s := range r.subs {
		if !s.live {
			s.m.drop(websocket.StatusTryAgainLater, "history changed, reconnect")
			continue
		}
		n.stats.gaps.Add(1)
		if !s.m.offer(trimmed(r.name, s.last, oldest)) {
			s.m.drop(websocket.StatusPolicyViolation, "too slow to keep up")
			continue
		}
		if same {
			s.last = maxID(s.last, to)
		} else {
			s.last = to
		}
	}
	if same {
		r.cursor = maxID(r.cursor, to)
	} else {
		r.cursor = to
	}
}

// deliver fans the entries out to the room's members, in stream order:
// each is encoded once, as one PreparedMessage, and queued for every live
// member that has not had it yet. A member whose queue is full is dropped
// (1008); the others never wait for it.
//
// A large batch (a backlog, after Redis came back or the reader fell
// behind) goes out in chunks of half a queue, and before each one the
// reader gives the members up to drainWait to make room for it: a client
// that takes messages as fast as they come is not mistaken for a slow
// one because a burst came at once. The wait holds up this shard's other
// rooms, which are in the same backlog.
func (r *room) deliver(msgs []redis.XMessage) {
	n := r.shard.n
	chunk := max(n.cfg.queue/2, 1)
	for len(msgs) > 0 {
		k := min(len(msgs), chunk)
		if len(msgs) > n.cfg.queue/8 {
			r.waitRoom(k, drainWait)
		}
		r.deliverChunk(msgs[:k])
		msgs = msgs[k:]
	}
}

// drainWait bounds how long a large batch waits for room in the queues.
const drainWait = time.Second

// waitRoom waits, up to d, until every live member has room for k more
// messages in its queue.
func (r *room) waitRoom(k int, d time.Duration) {
	limit := r.shard.n.cfg.queue - k
	deadline := time.Now().Add(d)
	for {
		full := false
		r.mu.Lock()
		for s := range r.subs {
			if s.live && s.m.queued() > limit {
				full = true
				break
			}
		}
		r.mu.Unlock()
		if !full || time.Now().After(deadline) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

func (r *room) deliverChunk(msgs []redis.XMessage) {
	n := r.shard.n
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, xm := range msgs {
		id, ok := parseID(xm.ID)
		if !ok || !r.cursor.less(id) {
			continue
		}
		pm := prepare(roomMessage{Type: "message", ID: xm.ID, Room: r.name, Data: entryData(xm)})
		for s := range r.subs {
			switch {
			case !s.last.less(id):
				// Had it already (its catch-up went further).
			case s.live:
				if !s.m.offer(pm) {
					s.m.drop(websocket.StatusPolicyViolation, "too slow to keep up")
					continue
				}
				s.last = id
				n.stats.delivered.Add(1)
			case s.buffering:
				if len(s.pending) >= n.cfg.pending {
					s.m.drop(websocket.StatusPolicyViolation, "too slow to catch up")
					continue
				}
				s.pending = append(s.pending, entry{id, pm})
			}
			// Otherwise the catch-up has not taken its target yet;
			// the entry will be in its range.
		}
		r.cursor = id
	}
}

// catchUp brings a new sub from its position to live delivery with no gap
// and no duplicate, then marks it live. since is the client's position;
// nil means from now on.
//
// 1. The room's cursor on this node is known, or found from Redis (the
// stream's last id) when this is its first member here.
// 2. Under the room's lock: the target is the cursor, the reader's
// position. From now on the reader appends what it delivers (all after
// the target) to the sub's pending list.
// 3. The history after since and up to the target is read from Redis
// (XRANGE, pages, each with the stream's state so a trimmed part is
// reported) and queued.
// 4. The pending entries are queued, and under the lock, once none are
// left, the sub turns live; "joined" says so, with its position.
//
// While Redis is unreachable it retries with backoff; the client stays
// connected and is told once (an "unavailable" error).
func (s *sub) catchUp(ctx context.Context, since *streamID) {
	r := s.room
	n := r.shard.n
	m := s.m
	retry := newRetry(ctx, func(err error) {
		m.push(ctx, prepare(errorMsg{Type: "error", Code: errUnavailable, Room: r.name,
			Message: "history unavailable, retrying: " + err.Error()}))
	})

	// 1.
	for {
		r.mu.Lock()
		known := r.known
		r.mu.Unlock()
		if known {
			break
		}
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := n.hist.state(qctx, r.key)
		cancel()
		if err != nil {
			if !retry.wait(err) {
				return
			}
			continue
		}
		r.mu.Lock()
		first := !r.known
		if first {
			r.known, r.cursor = true, st.lastGen
		}
		r.mu.Unlock()
		if first {
			r.shard.wake(ctx)
		}
	}

	// 2.
	checked := false
	var target, pos streamID
	for {
		r.mu.Lock()
		if _, ok := r.subs[s]; !ok || ctx.Err() != nil {
			r.mu.Unlock()
			return
		}
		target = r.cursor
		pos = target
		if since != nil {
			pos = *since
		}
		if pos.less(target) {
			s.buffering = true
			r.mu.Unlock()
			break
		}
		if !target.less(pos) || checked {
			// Nothing missed. (A position past the cursor, checked to
			// be from this stream, is a client that saw more on another
			// node: live delivery skips what it has.)
			s.goLiveLocked(pos)
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		// Past the cursor: check that the position is from this stream,
		// and not from one Redis lost (or made up), which would make the
		// client skip every new message until ids pass it.
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := n.hist.state(qctx, r.key)
		cancel()
		if err != nil {
			if !retry.wait(err) {
				return
			}
			continue
		}
		checked = true
		if gap, oldest := gapAfter(pos, st); gap {
			n.stats.gaps.Add(1)
			if m.push(ctx, trimmed(r.name, pos, oldest)) != nil {
				return
			}
			from := streamID{}
			if id, ok := parseID(oldest); ok {
				from = id.prev()
			}
			since = &from
		}
	}

	// 3.
	for pos.less(target) {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msgs, st, err := n.hist.page(pctx, r.key, pos, target.String(), pageSize)
		cancel()
		if err != nil {
			if !retry.wait(err) {
				return
			}
			continue
		}
		retry.reset()
		if gap, oldest := gapAfter(pos, st); gap {
			n.stats.gaps.Add(1)
			if m.push(ctx, trimmed(r.name, pos, oldest)) != nil {
				return
			}
			if id, ok := parseID(oldest); ok && st.exists && !st.lastGen.less(pos) {
				pos = maxID(pos, id.prev())
			} else {
				// The history is not the one pos came from (lost or
				// empty): the target, read from it, is where it is.
				pos = target
				break
			}
		}
		for _, xm := range msgs {
			id, ok := parseID(xm.ID)
			if !ok || !pos.less(id) {
				continue
			}
			if m.push(ctx, prepare(roomMessage{Type: "message", ID: xm.ID, Room: r.name, Data: entryData(xm)})) != nil {
				return
			}
			n.stats.delivered.Add(1)
			n.stats.replayed.Add(1)
			pos = id
		}
		if len(msgs) < pageSize {
			pos = target // the range is exhausted
		}
	}

	// 4.
	for {
		r.mu.Lock()
		if _, ok := r.subs[s]; !ok || ctx.Err() != nil {
			r.mu.Unlock()
			return
		}
		batch := s.pending
		s.pending = nil
		if len(batch) == 0 {
			s.goLiveLocked(maxID(pos, r.cursor))
			r.mu.Unlock()
			return
		}
		r.mu.Unlock()
		for _, e := range batch {
			if !pos.less(e.id) {
				continue
			}
			if m.push(ctx, e.pm) != nil {
				return
			}
			n.stats.delivered.Add(1)
			pos = e.id
		}
	}
}

// goLiveLocked turns s live at position pos and tells the client.
func (s *sub) goLiveLocked(pos streamID) {
	s.live, s.buffering, s.last, s.pending = true, false, pos, nil
	if !s.m.offer(joined(s.room.name, pos)) {
		s.m.drop(websocket.StatusPolicyViolation, "too slow to keep up")
	}
}

// retry paces the retries of a catch-up while Redis is unreachable.
type retry struct {
	ctx      context.Context
	delay    time.Duration
	notified bool
	notify   func(error)
}

func newRetry(ctx context.Context, notify func(error)) *retry {
	return &retry{ctx: ctx, delay: backoffMin, notify: notify}
}

// wait reports err once, sleeps with backoff, and reports whether to go on.
func (rt *retry) wait(err error) bool {
	if rt.ctx.Err() != nil {
		return false
	}
	if !rt.notified {
		rt.notified = true
		rt.notify(err)
	}
	sleep(rt.ctx, rt.delay/2+rand.N(rt.delay/2+1))
	rt.delay = min(2*rt.delay, backoffMax)
	return rt.ctx.Err() == nil
}

func (rt *retry) reset() { rt.delay = backoffMin }

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// health is what /healthz reports: Redis reachable (by the probe and by
// every reader), or since when not, and whether the node is shutting down.
type health struct {
	node     string
	mu       sync.Mutex
	sources  map[string]error // nil: fine
	down     time.Time        // when the first source failed
	shutting bool
	up       chan struct{} // closed when the probe reaches Redis again
}

// probeUp returns a channel closed when the probe next finds Redis back,
// so that the readers retry then rather than at the end of a backoff.
func (h *health) probeUp() <-chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.up == nil {
		h.up = make(chan struct{})
	}
	return h.up
}

func (h *health) set(source string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if source == "probe" && err == nil && h.sources[source] != nil && h.up != nil {
		close(h.up)
		h.up = nil
	}
	wasDown := !h.down.IsZero()
	if err == nil {
		delete(h.sources, source)
	} else {
		h.sources[source] = err
	}
	switch {
	case !wasDown && len(h.sources) > 0:
		h.down = time.Now()
		log.Printf("redis: unreachable (%s: %v); clients stay connected, sends fail", source, err)
	case wasDown && len(h.sources) == 0:
		log.Printf("redis: back after %v; catching up", time.Since(h.down).Round(time.Millisecond))
		h.down = time.Time{}
	}
}

// status returns "ok", "degraded" or "shutting_down", the first error,
// and since when Redis is unreachable.
func (h *health) status() (status, errText string, since time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, err := range h.sources {
		errText = err.Error()
		break
	}
	switch {
	case h.shutting:
		status = "shutting_down"
	case len(h.sources) > 0:
		status = "degraded"
	default:
		status = "ok"
	}
	return status, errText, h.down
}

func (h *health) ok() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sources) == 0
}
