//go:build unix

package websocket_test

import "syscall"

// peerSocketControl returns a net.Dialer or net.ListenConfig Control
// function that sets SO_RCVBUF and SO_SNDBUF to size before the socket
// connects, or nil for size 0. The buffers must be set before the
// handshake: set afterwards on loopback, a receive buffer smaller than the
// segment size closes the TCP window for good once a large write fills it
// (the window never reopens, and the writer stalls forever).
func peerSocketControl(size int) func(network, address string, c syscall.RawConn) error {
	if size <= 0 {
		return nil
	}
	return func(network, address string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			if serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, size); serr == nil {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF, size)
			}
		})
		if err != nil {
			return err
		}
		return serr
	}
}
