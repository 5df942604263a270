//go:build !js

package websocket

import (
	"context"
	"log"
	"net/http"
	"runtime"
)

// Handler is an http.Handler for a WebSocket endpoint: it accepts each
// request with Options (nil: the defaults) and runs Serve with the Conn and
// the request, so that Serve sees the path values, headers, cookies and
// context values the request carries.
//
//	http.Handle("/chat/{room}", &websocket.Handler{
//		Options: &websocket.AcceptOptions{Subprotocols: []string{"chat.v1"}, Group: &conns},
//		Serve: func(c *websocket.Conn, r *http.Request) {
//			room := r.PathValue("room")
//			for {
//				typ, msg, err := c.Read(r.Context())
//				...
//			}
//		},
//	})
//
// The request's context, as Serve sees it, keeps the request's values but
// ends when the Conn does rather than when ServeHTTP returns, so it is the
// natural context for the Conn's calls. When Serve returns, the Conn is
// closed with StatusNormalClosure if it is still open. As net/http does for
// handlers, a panic in Serve is recovered and logged; the Conn is then
// closed with StatusInternalError. A request that is not an acceptable
// handshake is answered by Accept with the HTTP error it deserves, and Serve
// does not run.
//
// Serve runs on a goroutine of its own and ServeHTTP returns at once: that
// lets net/http free the buffers it keeps for a request (about 10 KiB) for
// as long as the connection lives.
type Handler struct {
	Options *AcceptOptions
	Serve   func(c *Conn, r *http.Request)
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(r.Context()))
	c, err := accept(w, r, h.Options, cancel)
	if err != nil {
		cancel()
		return
	}
	go h.serve(c, r.WithContext(ctx))
}

func (h *Handler) serve(c *Conn, r *http.Request) {
	defer func() {
		if err := recover(); err != nil {
			buf := make([]byte, 64<<10)
			buf = buf[:runtime.Stack(buf, false)]
			log.Printf("websocket: panic serving %s: %v\n%s", c.RemoteAddr(), err, buf)
			c.Close(StatusInternalError, "")
			return
		}
		c.Close(StatusNormalClosure, "")
	}()
	if h.Serve != nil {
		h.Serve(c, r)
	}
}
