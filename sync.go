package websocket

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// This file holds the I/O shell's three synchronisation primitives: the
// lock a call can stop waiting for, the one-shot signal, and the binding of
// a context to a socket deadline. Every lock, event and deadline of a Conn
// is one of these, so their rules live here and nowhere else.

// ctxMutex is a lock whose waiters can give up when their context ends.
//
// Taking a free lock is one compare-and-swap and releasing an uncontended
// one another: an echo takes two locks per message, and the channel this
// once was cost 45% of the library's CPU (BenchmarkFraming, 16 B). A caller
// that has to wait queues a channel of its own and waits on it and on its
// context; unlock hands the lock straight to the first waiter. So a waiter
// that gives up leaves nothing behind: no goroutine, no queued entry.
type ctxMutex struct {
	state atomic.Int32              // unlocked, locked, or locked with waiters queued
	q     atomic.Pointer[waitQueue] // made on first contention, kept
}

// waitQueue holds the waiters of a ctxMutex, oldest first.
type waitQueue struct {
	mu      sync.Mutex
	waiters []chan struct{}
}

const (
	unlocked int32 = iota
	locked
	lockedWaiters
)

// lock takes the lock, or returns ctx.Err() if ctx ends first.
func (m *ctxMutex) lock(ctx context.Context) error {
	if m.state.CompareAndSwap(unlocked, locked) {
		return nil
	}
	if m.lockSlow(ctx.Done(), nil) {
		return nil
	}
	return ctx.Err()
}

// tryLock takes the lock if it is free.
func (m *ctxMutex) tryLock() bool { return m.state.CompareAndSwap(unlocked, locked) }

// lockUnless takes the lock unless a or b closes first (a nil channel
// never does), and reports whether it did.
func (m *ctxMutex) lockUnless(a, b <-chan struct{}) bool {
	return m.state.CompareAndSwap(unlocked, locked) || m.lockSlow(a, b)
}

func (m *ctxMutex) queue() *waitQueue {
	if q := m.q.Load(); q != nil {
		return q
	}
	m.q.CompareAndSwap(nil, new(waitQueue))
	return m.q.Load()
}

func (m *ctxMutex) lockSlow(a, b <-chan struct{}) bool {
	q := m.queue()
	q.mu.Lock()
	for {
		// The lock may have been released since the fast path failed.
		if m.state.CompareAndSwap(unlocked, locked) {
			q.mu.Unlock()
			return true
		}
		// Announce a waiter so that unlock takes the slow path. If the
		// lock was released meanwhile, try again.
		if m.state.CompareAndSwap(locked, lockedWaiters) || m.state.Load() == lockedWaiters {
			break
		}
	}
	ch := make(chan struct{})
	q.waiters = append(q.waiters, ch)
	q.mu.Unlock()
	select {
	case <-ch:
		return true
	case <-a:
	case <-b:
	}
	q.mu.Lock()
	for i, w := range q.waiters {
		if w == ch {
			q.waiters = append(q.waiters[:i], q.waiters[i+1:]...)
			if len(q.waiters) == 0 {
				m.state.CompareAndSwap(lockedWaiters, locked)
			}
			q.mu.Unlock()
			return false
		}
	}
	q.mu.Unlock()
	// unlock handed the lock over just as the wait ended: pass it on.
	<-ch
	m.unlock()
	return false
}

// unlock releases the lock, handing it to the first waiter if there is one.
func (m *ctxMutex) unlock() {
	if m.state.CompareAndSwap(locked, unlocked) {
		return
	}
	q := m.q.Load() // not nil: only a queued waiter sets lockedWaiters
	q.mu.Lock()
	if len(q.waiters) == 0 {
		m.state.Store(unlocked)
		q.mu.Unlock()
		return
	}
	ch := q.waiters[0]
	q.waiters[0] = nil
	q.waiters = q.waiters[1:]
	if len(q.waiters) == 0 {
		q.waiters = nil
		m.state.Store(locked)
	}
	q.mu.Unlock()
	close(ch)
}

// signal is given once, like closing a channel, but its channel is made
// only when someone waits for it: every Conn has two signals, and two
// channels would add 192 bytes to each idle connection.
type signal struct {
	mu  sync.Mutex
	set atomic.Bool
	ch  chan struct{}
}

// fire gives the signal and reports whether this call did; only the first
// does. f, if not nil, runs first, under the signal's lock: what it writes
// is visible to whoever sees the signal set.
func (s *signal) fire(f func()) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.set.Load() {
		return false
	}
	if f != nil {
		f()
	}
	s.set.Store(true)
	if s.ch != nil {
		close(s.ch)
	}
	return true
}

func (s *signal) isSet() bool { return s.set.Load() }

// wait returns a channel that is closed once the signal is given.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ch == nil {
		s.ch = make(chan struct{})
		if s.set.Load() {
			close(s.ch)
		}
	}
	return s.ch
}

// deadline binds one of a net.Conn's deadlines (the read or the write
// deadline) to the context of the call in progress: arm sets it from the
// context's deadline and, for a context that can be cancelled, registers a
// function that moves it into the past; disarm unregisters that function
// and clears the deadline.
//
// The function context.AfterFunc runs may still be running after its stop
// function has returned. The generation makes such a late call harmless: it
// moves the deadline only if no disarm came in between, so a context that
// ended can never cut short a later operation. Every context-bound socket
// operation of the package (reads, frame writes, the client's handshake)
// goes through a deadline, and every arm is paired with a disarm before the
// call returns, so no callback outlives the call that registered it.
type deadline struct {
	mu   sync.Mutex
	gen  uint64
	set  bool         // a deadline is set on the socket and must be cleared
	kind deadlineKind // which of the socket's deadlines
}

type deadlineKind uint8

const (
	readDeadline deadlineKind = iota
	writeDeadline
	bothDeadlines
)

func (d *deadline) apply(nc net.Conn, t time.Time) {
	switch d.kind {
	case readDeadline:
		nc.SetReadDeadline(t)
	case writeDeadline:
		nc.SetWriteDeadline(t)
	default:
		nc.SetDeadline(t)
	}
}

// arm makes ctx, whose Done channel is done, bound the I/O on nc to come
// and returns the stop function to give to disarm (nil when there is
// nothing to stop). A context that can never end (done == nil) costs
// nothing: by the context package's contract it has no deadline either.
func (d *deadline) arm(ctx context.Context, done <-chan struct{}, nc net.Conn) (stop func() bool) {
	if done == nil {
		return nil
	}
	t, hasDeadline := ctx.Deadline()
	d.mu.Lock()
	d.gen++
	gen := d.gen
	d.apply(nc, t) // zero when ctx has no deadline
	d.set = hasDeadline
	d.mu.Unlock()
	return context.AfterFunc(ctx, func() {
		d.mu.Lock()
		if d.gen == gen {
			d.apply(nc, aLongTimeAgo)
			d.set = true
		}
		d.mu.Unlock()
	})
}

// disarm stops watching the context armed last and clears the deadline.
func (d *deadline) disarm(stop func() bool, nc net.Conn) {
	if stop != nil {
		stop()
	} else if !d.set {
		// Nothing was registered, so nothing can set the deadline behind
		// our back: a late callback of an earlier context finds its
		// generation gone and writes nothing.
		return
	}
	d.mu.Lock()
	d.gen++
	if d.set {
		d.apply(nc, time.Time{})
		d.set = false
	}
	d.mu.Unlock()
}

var aLongTimeAgo = time.Unix(1, 0)

// ctxCause reports whether err, from I/O bounded by ctx, was caused by ctx
// ending, and if so returns ctx's error. The network poller can report the
// deadline a moment before the context's own timer marks it done, so a
// passed deadline counts even while ctx.Err() is still nil.
func ctxCause(ctx context.Context, err error) error {
	if ctx == nil || !errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}
