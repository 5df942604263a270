//go:build !js

package websocket

import "time"

// This file is the loops' timers: the keepalive, the wait for a pong and
// the close timeout of every connection, with no runtime timer and no
// goroutine per connection. A connection has one timer at a time. All
// timers of one duration are in one list, in the order they were armed,
// which is the order they expire in; a loop has one list per duration in
// use (a few), arms and disarms in O(1) and looks only at each list's head.

// timerKind says what a connection's timer is for.
type timerKind uint8

const (
	timerNone      timerKind = iota
	timerKeepAlive           // nothing arrived for PingInterval: ping
	timerPong                // pinged: no answer within PongTimeout drops the connection
	timerClose               // closing: the close timeout
)

// timerNode links a connection into its loop's timer list.
type timerNode struct {
	prev, next *EngineConn
	list       *timerList
	deadline   int64 // clock()
}

type timerList struct {
	d          int64
	head, tail *EngineConn
}

// duration is how long a timer of kind k runs for c.
func (c *EngineConn) duration(k timerKind) time.Duration {
	switch k {
	case timerKeepAlive:
		return c.par.pingInterval
	case timerPong:
		return c.par.pongTimeout
	}
	return c.par.closeTimeout
}

// arm (re)starts c's timer as kind k.
func (l *loop) arm(c *EngineConn, k timerKind) {
	l.disarm(c)
	d := int64(c.duration(k))
	var tl *timerList
	for _, x := range l.timers {
		if x.d == d {
			tl = x
			break
		}
	}
	if tl == nil {
		tl = &timerList{d: d}
		l.timers = append(l.timers, tl)
	}
	c.timerKind = k
	c.active = false
	t := &c.timer
	t.list, t.deadline, t.prev, t.next = tl, l.now+d, tl.tail, nil
	if tl.tail != nil {
		tl.tail.timer.next = c
	} else {
		tl.head = c
	}
	tl.tail = c
}

// disarm stops c's timer, if it runs.
func (l *loop) disarm(c *EngineConn) {
	t := &c.timer
	tl := t.list
	if tl == nil {
		return
	}
	if t.prev != nil {
		t.prev.timer.next = t.next
	} else {
		tl.head = t.next
	}
	if t.next != nil {
		t.next.timer.prev = t.prev
	} else {
		tl.tail = t.prev
	}
	*t = timerNode{}
	c.timerKind = timerNone
}

// nextTimeout returns the milliseconds until the first timer expires, or
// -1 if none runs.
func (l *loop) nextTimeout() int {
	first := int64(-1)
	for _, tl := range l.timers {
		if tl.head != nil && (first < 0 || tl.head.timer.deadline < first) {
			first = tl.head.timer.deadline
		}
	}
	if first < 0 {
		return -1
	}
	ms := (first - l.now + int64(time.Millisecond) - 1) / int64(time.Millisecond)
	return int(max(ms, 0))
}

// expire runs the timers that have expired.
func (l *loop) expire() {
	for _, tl := range l.timers {
		for tl.head != nil && tl.head.timer.deadline <= l.now {
			c := tl.head
			k := c.timerKind
			l.disarm(c)
			c.timeout(k)
		}
	}
}

// timeout acts on the expiry of c's timer of kind k.
func (c *EngineConn) timeout(k timerKind) {
	switch k {
	case timerKeepAlive:
		if c.active || c.state != stateOpen {
			c.l.arm(c, timerKeepAlive)
			return
		}
		c.sendControl(opPing, nil)
		c.l.arm(c, timerPong)
	case timerPong:
		if c.active || c.state != stateOpen {
			c.l.arm(c, timerKeepAlive)
			return
		}
		c.lost(ErrKeepAliveTimeout)
	case timerClose:
		if c.state == stateClosing {
			c.lost(ErrCloseTimeout)
			return
		}
		c.finish()
	}
}
