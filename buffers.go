//go:build !js

package websocket

import "sync"

// Buffers of the default size come from pools, so that a Conn holds a read
// buffer only while bytes are waiting in it and a write buffer only while it
// writes. An idle connection then costs little more than its Conn struct
// and its goroutine's stack. Buffers of other sizes are the Conn's own.

var readBufPool = sync.Pool{New: func() any {
	b := make([]byte, defaultBufferSize)
	return &b
}}

var writeBufPool = sync.Pool{New: func() any {
	b := make([]byte, maxHeaderSize+defaultBufferSize)
	return &b
}}

// largeBufPool holds the buffers that frames larger than the write buffer
// are assembled in, for the time of one write.
var largeBufPool = sync.Pool{New: func() any {
	b := make([]byte, maxHeaderSize+256<<10)
	return &b
}}

// takeReadBuf makes sure c.rbuf exists.
func (c *Conn) takeReadBuf() {
	if c.rbuf != nil {
		return
	}
	if c.rsize == defaultBufferSize {
		c.rbufp = readBufPool.Get().(*[]byte)
		c.rbuf = *c.rbufp
		return
	}
	c.rbuf = make([]byte, c.rsize)
}

// dropReadBuf returns an empty pooled read buffer to the pool.
func (c *Conn) dropReadBuf() {
	if c.rbufp != nil && c.rpos == c.rend {
		readBufPool.Put(c.rbufp)
		c.rbufp, c.rbuf = nil, nil
		c.rpos, c.rend = 0, 0
	}
}

// takeWriteBuf makes sure c.wbuf exists; the caller holds msgMu. Not
// inlined, like dropWriteBuf: the pool's frames would otherwise swell the
// caller's, on the path whose depth TestIdleStackAfterEcho keeps in check.
//
//go:noinline
func (c *Conn) takeWriteBuf() {
	if c.wbuf != nil {
		return
	}
	if c.wsize == defaultBufferSize {
		c.wbufp = writeBufPool.Get().(*[]byte)
		c.wbuf = *c.wbufp
		return
	}
	c.wbuf = make([]byte, maxHeaderSize+c.wsize)
}

// dropWriteBuf returns a pooled write buffer; the caller holds msgMu.
//
//go:noinline
func (c *Conn) dropWriteBuf() {
	if c.wbufp != nil {
		writeBufPool.Put(c.wbufp)
		c.wbufp, c.wbuf = nil, nil
	}
}

// discardPool holds the buffers that payload nobody reads passes through:
// the rest of a message the application left unread, the bytes drained
// before closing. A Conn does not keep one of its own.
var discardPool = sync.Pool{New: func() any { return new([512]byte) }}

func getDiscard() *[512]byte  { return discardPool.Get().(*[512]byte) }
func putDiscard(d *[512]byte) { discardPool.Put(d) }
