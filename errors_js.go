//go:build js

package websocket

import (
	"errors"
	"fmt"
)

// The errors only the js build returns, besides those of errors.go, which
// it shares. What a browser cannot do wraps errors.ErrUnsupported:
//
//	error                                 returned by                  means
//	ErrBadOption + errors.ErrUnsupported  Dial (wrapped)               an option a browser cannot honour is set
//	ErrInvalidCloseCode + ErrUnsupported  Close (wrapped)              a valid code a page may not send (not 1000, 3000-4999)
//	errPing (ErrUnsupported)              Ping                         a page cannot send pings
//	errNoUncompressed (ErrUnsupported)    WriteUncompressed            the browser agreed on compression, which a page cannot skip
//	errNoWebSocket (ErrUnsupported)       Dial                         the JavaScript environment has no WebSocket
//	errTextNotUTF8                        Write, the Writer's Close    text that is not UTF-8, which the browser would alter
//	errQueueFull (a *ProtocolError)       reads                        unread messages went past the read limit or 4096
//	errReadClosed                         a message reader's Read      Close was called while the message was open
//	errStaleReader                        a message reader's Read      the next message was asked for
var (
	errPing           = fmt.Errorf("websocket: Ping: a page cannot send pings; the browser answers the peer's pings itself (%w)", errors.ErrUnsupported)
	errNoUncompressed = fmt.Errorf("websocket: WriteUncompressed: the browser compresses as it decides once permessage-deflate is agreed; a page cannot skip it (%w)", errors.ErrUnsupported)
	errNoWebSocket    = fmt.Errorf("websocket: this JavaScript environment has no WebSocket (%w)", errors.ErrUnsupported)
	errTextNotUTF8    = errors.New("websocket: text message is not valid UTF-8, which a browser cannot send")
	errReadClosed     = errors.New("websocket: message reader read after Close")

	// errQueueFull has errTooBig's code: the peer sent more than this
	// endpoint takes, in several messages rather than one.
	errQueueFull = &ProtocolError{Code: StatusMessageTooBig, Reason: "unread messages exceed the read limit or 4096 messages"}
)
