package main

import (
	"sync"
	"sync/atomic"
	"time"
)

// dialMany calls dial n times, at most conc at once, and returns the
// connections made with the first error; no dial starts after an error.
func dialMany[T any](n, conc int, dial func() (T, error)) ([]T, error) {
	cs := make([]T, 0, n)
	var (
		mu       sync.Mutex
		firstErr error
		failed   atomic.Bool
	)
	parallel(n, conc, func(int) error {
		if failed.Load() {
			return nil
		}
		c, err := dial()
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			failed.Store(true)
			return nil
		}
		cs = append(cs, c)
		return nil
	})
	return cs, firstErr
}

// parallel runs f(0) … f(n-1), at most conc at once, and returns the first
// error.
func parallel(n, conc int, f func(i int) error) error {
	var (
		wg       sync.WaitGroup
		firstErr atomic.Value
	)
	sem := make(chan struct{}, conc)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(i); err != nil {
				firstErr.CompareAndSwap(nil, err)
			}
		}()
	}
	wg.Wait()
	err, _ := firstErr.Load().(error)
	return err
}

// loadCell runs each round trip function in a loop of its own against the
// server in ch and measures the server over dur, after the warm-up. Once
// the loops have stopped it calls stopped, which must close the
// connections (it may read their counters first), and waits for the
// server to see them go.
func loadCell(ch echoServer, trips []func() error, warm, dur time.Duration, stopped func()) cellResult {
	counters := make([]paddedCounter, len(trips))
	var stop atomic.Bool
	errc := make(chan error, len(trips))
	for i, trip := range trips {
		go func() {
			for !stop.Load() {
				if err := trip(); err != nil {
					errc <- err
					return
				}
				counters[i].n.Add(1)
			}
			errc <- nil
		}()
	}
	waitEvery(counters, 2, 5*time.Second)
	time.Sleep(warm)
	c0 := sumCounters(counters)
	s0, err0 := ch.stats()
	t0 := time.Now()
	time.Sleep(dur)
	s1, err1 := ch.stats()
	t1 := time.Now()
	c1 := sumCounters(counters)
	stop.Store(true)
	var firstErr error
	for range trips {
		if err := <-errc; err != nil && firstErr == nil {
			firstErr = err
		}
	}
	stopped()
	for _, err := range []error{err0, err1} {
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr == nil {
		firstErr = waitIdle(ch, 10*time.Second)
	}
	if firstErr != nil {
		return cellResult{err: firstErr}
	}
	msgs := c1 - c0
	el := t1.Sub(t0)
	return cellResult{
		rate:    float64(msgs) / el.Seconds(),
		allocs:  float64(s1.mallocs-s0.mallocs) / float64(msgs),
		bytes:   float64(s1.bytes-s0.bytes) / float64(msgs),
		noAlloc: !ch.goRuntime(),
		cpuUs:   float64(s1.cpu-s0.cpu) / 1e3 / float64(msgs),
		elapsed: el,
		msgs:    msgs,
	}
}
