//go:build !linux && !js

package websocket

import "net"

// Without a system poller every connection of an Engine is read by a
// goroutine of its own (see engine_poll.go); these are never called.

func newPoller() (poller, error) { return newChanPoller(), nil }

func readSocket(int, []byte) (int, error)  { return 0, errNoPoller }
func writeSocket(int, []byte) (int, error) { return 0, errNoPoller }
func closeSocket(int)                      {}
func shutdownWrite(int)                    {}
func socketAddr(int, bool) net.Addr        { return nil }
