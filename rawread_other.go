//go:build !unix && !js

package websocket

type rawReader struct{}

func (c *Conn) setupRawReader() {}

func (c *Conn) fillRaw() error { panic("unreachable") }
