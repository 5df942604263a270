package h2

import (
	"sync"
	"time"
)

// deadline is a resettable deadline for one direction of a stream, in the
// manner of net.Pipe's: wait returns a channel that is closed once the
// deadline has passed, and moving the deadline into the future (or
// clearing it) after that gives a fresh channel, so a deadline that fired
// leaves the stream usable. This is what lets a caller cut a blocked call
// short with a deadline in the past and carry on afterwards.
//
// The zero value has no deadline. A deadline keeps one timer for its life.
type deadline struct {
	mu      sync.Mutex
	at      time.Time
	timer   *time.Timer
	timerAt time.Time     // when the timer is due to run; zero if it is not
	done    chan struct{} // nil until needed; closed when the deadline passes
}

// set moves the deadline to t; the zero time clears it.
//
// The timer is left running when the deadline is cleared or moved later:
// fire then finds nothing due, or re-arms for the new time. A caller that
// sets the same deadline before every read and clears it after (as the
// Conn does with a context's deadline) so touches the timer once, not
// twice a read.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.at = t
	expired := d.done != nil && isClosed(d.done)
	if t.IsZero() {
		if expired {
			d.done = make(chan struct{})
		}
		return
	}
	if !time.Now().Before(t) {
		if !expired {
			d.chanLocked()
			close(d.done)
		}
		return
	}
	if expired {
		d.done = make(chan struct{})
	}
	if !d.timerAt.IsZero() && !d.timerAt.After(t) {
		return // due first; fire re-arms it for t
	}
	d.timerAt = t
	if d.timer == nil {
		d.timer = time.AfterFunc(time.Until(t), d.fire)
	} else {
		d.timer.Reset(time.Until(t))
	}
}

// fire runs when the timer ends. A stale run, for a deadline since moved
// or cleared, finds the deadline not yet due and re-arms the timer, or
// does nothing.
func (d *deadline) fire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.timerAt = time.Time{}
	if d.at.IsZero() {
		return
	}
	if dur := time.Until(d.at); dur > 0 {
		d.timerAt = d.at
		d.timer.Reset(dur)
		return
	}
	if !isClosed(d.chanLocked()) {
		close(d.done)
	}
}

// wait returns a channel closed once the deadline has passed.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.chanLocked()
}

// expired reports whether the deadline has passed.
func (d *deadline) expired() bool { return isClosed(d.wait()) }

func (d *deadline) chanLocked() chan struct{} {
	if d.done == nil {
		d.done = make(chan struct{})
	}
	return d.done
}

// stop releases the timer; the deadline must not be used after.
func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
	}
	d.at, d.timerAt = time.Time{}, time.Time{}
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// signal wakes the goroutine waiting on c, a channel of capacity 1, if
// any, without ever blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
