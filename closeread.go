package websocket

import (
	"context"
	"strings"
)

// CloseRead hands the reading of c to c itself, for an application that
// only writes (dashboards, feeds, notifications): a goroutine reads until
// the connection ends, so that pings are answered, Ping and the keepalive
// get their pongs, and the closing handshake completes; Done tells when it
// has ended. Each data message that arrives is given to handle, its bytes
// valid only during the call: return nil to go on, or an error to close
// the connection with StatusPolicyViolation and the error's text as the
// reason (in a browser, which may send only 1000 and 3000 to 4999, the
// code is 4008). A nil handle says that no data message is expected: the
// first one closes the connection so. [DiscardMessage] drops them instead.
//
// After CloseRead, Read, ReadAppend and Reader must not be called.
func (c *Conn) CloseRead(handle func(typ MessageType, msg []byte) error) {
	go c.readInBackground(handle)
}

// DiscardMessage is a handle for [Conn.CloseRead] that drops every data
// message.
func DiscardMessage(MessageType, []byte) error { return nil }

func (c *Conn) readInBackground(handle func(MessageType, []byte) error) {
	var buf []byte
	for {
		typ, msg, err := c.ReadAppend(context.Background(), buf[:0])
		if err != nil {
			return
		}
		reason := "unexpected data message"
		if handle != nil {
			err := handle(typ, msg)
			if err == nil {
				if cap(msg) <= maxPresize {
					buf = msg // reuse it; a larger one is left to the collector
				}
				continue
			}
			reason = strings.ToValidUTF8(err.Error(), "\uFFFD")
		}
		c.Close(ownCloseCode(StatusPolicyViolation), reason)
		return
	}
}
