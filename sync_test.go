//go:build !js

package websocket

// The Conn's synchronization: ctxMutex, the one-shot signal, deadlines.

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ctxMutex: a waiter that gives up must leave the lock as it found it, and
// one that gets the lock must hold it alone.

func TestCtxMutexGiveUp(t *testing.T) {
	var m ctxMutex
	if err := m.lock(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := m.lock(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("lock of a held mutex = %v, want DeadlineExceeded", err)
	}
	stop := make(chan struct{})
	close(stop)
	if m.lockUnless(nil, stop) {
		t.Fatal("lockUnless took a held mutex although stop was closed")
	}
	m.unlock()
	// The waiters that gave up must have left the lock free.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if err := m.lock(ctx2); err != nil {
		t.Fatalf("lock after the holder let go = %v", err)
	}
	m.unlock()
}

func TestCtxMutexHandOver(t *testing.T) {
	var m ctxMutex
	m.lock(context.Background())
	got := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { got <- m.lock(ctx) }()
	time.Sleep(10 * time.Millisecond)
	m.unlock()
	if err := <-got; err != nil {
		t.Fatalf("waiting lock = %v, want the lock", err)
	}
	if m.tryLock() {
		t.Fatal("the lock is free although the waiter took it")
	}
	m.unlock()
}

func TestCtxMutexExclusion(t *testing.T) {
	var m ctxMutex
	var inside, most, taken, gaveUp atomic.Int32
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				switch (g + i) % 3 {
				case 1:
					ctx, cancel = context.WithTimeout(ctx, time.Duration(i%5)*time.Microsecond)
				case 2:
					ctx, cancel = context.WithCancel(ctx)
				}
				if err := m.lock(ctx); err != nil {
					gaveUp.Add(1)
					cancel()
					continue
				}
				n := inside.Add(1)
				for {
					old := most.Load()
					if n <= old || most.CompareAndSwap(old, n) {
						break
					}
				}
				if i%7 == 0 {
					time.Sleep(time.Microsecond)
				}
				inside.Add(-1)
				taken.Add(1)
				m.unlock()
				cancel()
			}
		}()
	}
	wg.Wait()
	if most.Load() != 1 {
		t.Fatalf("%d holders at once", most.Load())
	}
	if taken.Load()+gaveUp.Load() != 16*200 {
		t.Fatalf("taken %d + gave up %d != %d", taken.Load(), gaveUp.Load(), 16*200)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := m.lock(ctx); err != nil {
		t.Fatalf("lock at the end = %v: a waiter that gave up kept it", err)
	}
	t.Logf("taken %d, gave up %d", taken.Load(), gaveUp.Load())
}
