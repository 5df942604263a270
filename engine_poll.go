//go:build !js

package websocket

import (
	"errors"
	"net"
	"time"
)

// This file is the poller of a loop that has no system poller (systems
// other than Linux, or a test's choice): it only waits for wakes and
// timers, and every connection is read by a goroutine of its own
// (EngineConn.readConn) that hands its bytes to the loop.

// testNoEpoll makes the loops of engines made from now on use this
// poller on Linux too; for tests.
var testNoEpoll bool

type chanPoller struct{ ch chan struct{} }

func newChanPoller() *chanPoller { return &chanPoller{ch: make(chan struct{}, 1)} }

func (p *chanPoller) detach(net.Conn) (int, bool) { return -1, false }
func (p *chanPoller) add(int, bool) error         { return errNoPoller }
func (p *chanPoller) watch(int, bool)             {}
func (p *chanPoller) close()                      {}

func (p *chanPoller) wake() {
	select {
	case p.ch <- struct{}{}:
	default:
	}
}

func (p *chanPoller) wait(_ *loop, ms int) {
	if ms < 0 {
		<-p.ch
		return
	}
	t := time.NewTimer(time.Duration(ms) * time.Millisecond)
	select {
	case <-p.ch:
	case <-t.C:
	}
	t.Stop()
}

var errNoPoller = errors.New("websocket: no poller")

// errWouldBlock is what readSocket returns when the socket is empty.
var errWouldBlock = errors.New("websocket: would block")
