//go:build !unix

package websocket

type rawReader struct{}

func (c *Conn) setupRawReader() {}

func (c *Conn) fillRaw() error { panic("unreachable") }
