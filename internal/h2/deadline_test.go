package h2

import (
	"testing"
	"time"
)

// TestDeadlineResettable checks the net.Pipe-style semantics the streams
// rely on: a passed deadline fires, and moving it gives a fresh one.
func TestDeadlineResettable(t *testing.T) {
	var d deadline
	if d.expired() {
		t.Fatal("zero deadline expired")
	}
	d.set(time.Now().Add(20 * time.Millisecond))
	select {
	case <-d.wait():
	case <-time.After(testTimeout):
		t.Fatal("deadline did not fire")
	}
	d.set(time.Now().Add(time.Hour))
	if d.expired() {
		t.Fatal("moved into the future, still expired")
	}
	d.set(time.Unix(1, 0))
	if !d.expired() {
		t.Fatal("deadline in the past not expired")
	}
	d.set(time.Time{})
	if d.expired() {
		t.Fatal("cleared, still expired")
	}
	// A timer armed for an earlier deadline must not fire the later one.
	d.set(time.Now().Add(10 * time.Millisecond))
	d.set(time.Now().Add(time.Hour))
	time.Sleep(30 * time.Millisecond)
	if d.expired() {
		t.Fatal("stale timer fired the moved deadline")
	}
	d.stop()
}
