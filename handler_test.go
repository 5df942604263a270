//go:build !js

package websocket

// The configurable Handler (handler.go).

import (
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestHandler(t *testing.T) {
	srv := httptest.NewServer(&Handler{Serve: func(c *Conn, r *http.Request) {
		typ, b, err := c.Read(context.Background())
		if err == nil {
			c.Write(context.Background(), typ, b)
		}
	}})
	defer srv.Close()
	c, _, err := Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	c.Write(context.Background(), MessageText, []byte("hi"))
	if _, b, err := c.Read(context.Background()); err != nil || string(b) != "hi" {
		t.Fatalf("Read = %q, %v", b, err)
	}
	// The handler returned: the server closes with 1000.
	if _, _, err := c.Read(context.Background()); CloseStatus(err) != StatusNormalClosure {
		t.Fatalf("Read = %v, want close 1000", err)
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Errorf("plain GET: %v, want 426", resp.Status)
	}
}

// A panic in a Handler function is recovered, like net/http does for
// handlers, and the client sees 1011; the server keeps serving.
func TestHandlerPanic(t *testing.T) {
	log.SetOutput(io.Discard)
	defer log.SetOutput(os.Stderr)
	srv := httptest.NewServer(&Handler{Serve: func(c *Conn, r *http.Request) {
		if _, b, _ := c.Read(context.Background()); string(b) == "boom" {
			panic("boom")
		}
	}})
	defer srv.Close()
	for _, msg := range []string{"boom", "fine"} {
		c, _, err := Dial(context.Background(), wsURL(srv), nil)
		if err != nil {
			t.Fatal(err)
		}
		c.Write(context.Background(), MessageText, []byte(msg))
		_, _, err = c.Read(context.Background())
		want := StatusNormalClosure
		if msg == "boom" {
			want = StatusInternalError
		}
		if CloseStatus(err) != want {
			t.Errorf("%s: Read = %v, want close %v", msg, err, want)
		}
		c.CloseNow()
	}
}

// The Handler applies its options and hands Serve the request, whose
// context keeps its values and ends with the Conn, not with ServeHTTP.
func TestHandlerRequest(t *testing.T) {
	type key struct{}
	got := make(chan error, 1)
	mux := http.NewServeMux()
	mux.Handle("/room/{name}", &Handler{
		Options: &AcceptOptions{Subprotocols: []string{"chat.v1"}},
		Serve: func(c *Conn, r *http.Request) {
			ctx := r.Context()
			if r.PathValue("name") != "lobby" || ctx.Value(key{}) != "v" || c.Subprotocol() != "chat.v1" {
				got <- fmt.Errorf("path value %q, context value %v, subprotocol %q", r.PathValue("name"), ctx.Value(key{}), c.Subprotocol())
				return
			}
			time.Sleep(20 * time.Millisecond) // ServeHTTP has returned: the context must live on
			if ctx.Err() != nil {
				got <- fmt.Errorf("request context ended while the Conn is open: %v", ctx.Err())
				return
			}
			_, _, err := c.Read(ctx) // until the client closes
			if CloseStatus(err) != StatusNormalClosure {
				got <- fmt.Errorf("Read with the request context = %v, want the client's close", err)
				return
			}
			select {
			case <-ctx.Done():
				got <- nil
			case <-time.After(5 * time.Second):
				got <- fmt.Errorf("the request context did not end with the Conn (Read: %v)", err)
			}
		},
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Config.ConnContext = func(ctx context.Context, _ net.Conn) context.Context { return context.WithValue(ctx, key{}, "v") }
	srv.Start()
	defer srv.Close()
	c, _, err := Dial(context.Background(), wsURL(srv)+"/room/lobby", &DialOptions{Subprotocols: []string{"chat.v1"}})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	c.Close(StatusNormalClosure, "")
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}
