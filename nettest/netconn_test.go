// Package nettest runs golang.org/x/net/nettest's conformance suite against
// websocket.NetConn. It is a module of its own, so that the library's
// go.mod keeps no require line.
package nettest

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/ccf874ba/websocket"
	"golang.org/x/net/nettest"
)

// pipe connects a client and a server Conn over loopback TCP and wraps
// both as net.Conns of binary messages.
func pipe(opts websocket.ConnOptions) nettest.MakePipe {
	return func() (c1, c2 net.Conn, stop func(), err error) {
		accepted := make(chan *websocket.Conn, 1)
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c, err := websocket.Accept(w, r, &websocket.AcceptOptions{ConnOptions: opts})
			if err != nil {
				accepted <- nil
				return
			}
			accepted <- c
		}))
		cc, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{ConnOptions: opts})
		if err != nil {
			srv.Close()
			return nil, nil, nil, err
		}
		sc := <-accepted
		c1 = websocket.NetConn(cc, websocket.MessageBinary)
		c2 = websocket.NetConn(sc, websocket.MessageBinary)
		stop = func() {
			cc.CloseNow()
			sc.CloseNow()
			srv.Close()
		}
		return c1, c2, stop, nil
	}
}

func TestNetConn(t *testing.T) {
	t.Run("plain", func(t *testing.T) { nettest.TestConn(t, pipe(websocket.ConnOptions{})) })
	t.Run("compressed", func(t *testing.T) {
		nettest.TestConn(t, pipe(websocket.ConnOptions{Compression: &websocket.CompressionOptions{}}))
	})
}
