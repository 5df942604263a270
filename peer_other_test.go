//go:build !unix

package websocket_test

import "syscall"

// peerSocketControl leaves the socket buffers alone where setting them
// before connecting is not written for: the tests that need small buffers
// then only exercise less.
func peerSocketControl(size int) func(network, address string, c syscall.RawConn) error {
	return nil
}
