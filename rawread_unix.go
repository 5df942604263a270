//go:build unix

package websocket

import (
	"io"
	"net"
	"syscall"
)

// rawReader waits for data on a TCP socket without holding a buffer: the
// read happens inside syscall.RawConn.Read, which takes a pooled buffer only
// when the socket is readable and gives it back when the read would block.
// A busy connection keeps its buffer and never touches the pool.
type rawReader struct {
	rc  syscall.RawConn
	fn  func(fd uintptr) bool // c.rawRead, stored once so it never allocates
	err error
}

func (c *Conn) setupRawReader() {
	// Only a plain TCP socket: a wrapper with its own buffering must be
	// read through its Read method.
	tc, ok := c.nc.(*net.TCPConn)
	if !ok || c.rsize != defaultBufferSize {
		return
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return
	}
	c.raw = &rawReader{rc: rc}
	c.raw.fn = c.rawRead
}

// fillRaw reads into an empty buffer through the raw connection.
func (c *Conn) fillRaw() error {
	r := c.raw
	k := c.keepAlive
	if k != nil {
		k.waiting(true)
	}
	err := r.rc.Read(r.fn)
	if k != nil {
		k.waiting(false)
	}
	if err != nil {
		return c.readFailed(err)
	}
	if err := r.err; err != nil {
		r.err = nil
		return c.readFailed(err)
	}
	if c.rend == 0 {
		return c.readFailed(io.EOF)
	}
	c.received.Add(1)
	return nil
}

func (c *Conn) rawRead(fd uintptr) bool {
	c.takeReadBuf()
	for {
		n, err := syscall.Read(int(fd), c.rbuf)
		switch err {
		case nil:
			c.rend = n // 0 means the peer closed
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			c.dropReadBuf()
			return false
		default:
			c.raw.err = err
			return true
		}
	}
}
