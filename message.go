package websocket

import "fmt"

// MessageType is the type of a data message (RFC 6455, Section 5.6).
type MessageType int

const (
	// MessageText is a message of UTF-8 text. Received text is validated
	// (by the Conn, or in a browser by the browser): invalid UTF-8 fails
	// the connection with close code 1007. Text a Conn sends is not
	// checked, except in a browser, where Write refuses it.
	MessageText MessageType = MessageType(opText)
	// MessageBinary is a message of arbitrary bytes.
	MessageBinary MessageType = MessageType(opBinary)
)

func (t MessageType) String() string {
	switch t {
	case MessageText:
		return "text"
	case MessageBinary:
		return "binary"
	}
	return fmt.Sprintf("MessageType(%d)", int(t))
}

func (t MessageType) valid() bool { return t == MessageText || t == MessageBinary }

// DefaultReadLimit is the largest message a Conn accepts unless its options
// or [Conn.SetReadLimit] say otherwise. Larger messages fail the connection
// with close code 1009 ([ErrMessageTooBig]). In a browser it also bounds,
// in bytes, the messages that arrived and were not read yet.
const DefaultReadLimit = 1 << 20

// maxPresize is the most Read allocates for a message before its bytes
// arrive; larger messages grow as they are read.
const maxPresize = 64 << 10
