//go:build !js

package websocket_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/rpc"
	"strings"
	"sync"
	"time"

	"github.com/ccf874ba/websocket"
)

// An echo server, mounted as an http.Handler, and a client talking to it.
func Example_echo() {
	srv := httptest.NewServer(&websocket.Handler{Serve: func(c *websocket.Conn, r *http.Request) {
		for {
			typ, msg, err := c.Read(context.Background())
			if err != nil {
				return
			}
			if err := c.Write(context.Background(), typ, msg); err != nil {
				return
			}
		}
	}})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Write(ctx, websocket.MessageText, []byte("hello")); err != nil {
		log.Fatal(err)
	}
	typ, msg, err := c.Read(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(typ, string(msg))
	fmt.Println(c.Close(websocket.StatusNormalClosure, ""))
	// Output:
	// text hello
	// <nil>
}

// Accept with options: a subprotocol, a larger read limit, and browsers from
// another origin allowed.
func ExampleAccept() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
			Subprotocols:   []string{"chat.v2", "chat.v1"},
			OriginPatterns: []string{"*.example.com"},
			ConnOptions: websocket.ConnOptions{
				ReadLimit: 16 << 20,
			},
		})
		if err != nil {
			return // Accept has answered with an HTTP error
		}
		defer c.CloseNow()
		c.Write(r.Context(), websocket.MessageText, []byte("speaking "+c.Subprotocol()))
		c.Close(websocket.StatusNormalClosure, "")
	}))
	defer srv.Close()

	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), &websocket.DialOptions{
		Subprotocols: []string{"chat.v1", "chat.v2"},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	_, msg, _ := c.Read(context.Background())
	fmt.Println(string(msg))
	_, _, err = c.Read(context.Background())
	fmt.Println(websocket.CloseStatus(err))
	// Output:
	// speaking chat.v2
	// 1000 (normal closure)
}

// A Handler with options, serving a path pattern: Serve sees the request
// (its path values, headers and context); a plain HTTP request gets 426.
func ExampleHandler() {
	var rooms websocket.Group
	mux := http.NewServeMux()
	mux.Handle("/room/{name}", &websocket.Handler{
		Options: &websocket.AcceptOptions{
			Subprotocols: []string{"chat.v1"},
			Group:        &rooms,
		},
		Serve: func(c *websocket.Conn, r *http.Request) {
			// r.Context() ends when the Conn does.
			c.Write(r.Context(), websocket.MessageText, []byte("welcome to "+r.PathValue("name")))
			c.Read(r.Context()) // until the client leaves
		},
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	u := "ws" + strings.TrimPrefix(srv.URL, "http") + "/room/lobby"

	c, _, err := websocket.Dial(context.Background(), u, &websocket.DialOptions{Subprotocols: []string{"chat.v1"}})
	if err != nil {
		log.Fatal(err)
	}
	_, msg, _ := c.Read(context.Background())
	fmt.Println(string(msg), c.Subprotocol())
	c.Close(websocket.StatusNormalClosure, "")

	resp, err := http.Get(srv.URL + "/room/lobby")
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, resp.Header.Get("Sec-WebSocket-Version"))
	// Output:
	// welcome to lobby chat.v1
	// 426 13
}

// A server that only writes (a feed) lets the Conn read by itself, so that
// pings, pongs and the closing handshake keep working, and stops when the
// client leaves.
func ExampleConn_CloseRead() {
	srv := httptest.NewServer(&websocket.Handler{Serve: func(c *websocket.Conn, r *http.Request) {
		c.CloseRead(nil) // clients send nothing; a data message closes with 1008
		for i := 0; ; i++ {
			select {
			case <-c.Done():
				return
			case <-time.After(time.Millisecond):
			}
			if c.Write(r.Context(), websocket.MessageText, []byte(fmt.Sprint("tick ", i))) != nil {
				return
			}
		}
	}})
	defer srv.Close()
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	for range 3 {
		_, msg, _ := c.Read(context.Background())
		fmt.Println(string(msg))
	}
	fmt.Println(c.Close(websocket.StatusNormalClosure, "enough"))
	// Output:
	// tick 0
	// tick 1
	// tick 2
	// <nil>
}

// A net.Conn over a WebSocket, for protocols that want a byte stream;
// here net/rpc. Deadlines work as on TCP.
func ExampleNetConn() {
	srv := httptest.NewServer(&websocket.Handler{Serve: func(c *websocket.Conn, r *http.Request) {
		s := rpc.NewServer()
		s.Register(new(Arith))
		s.ServeConn(websocket.NetConn(c, websocket.MessageBinary))
	}})
	defer srv.Close()
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	nc := websocket.NetConn(c, websocket.MessageBinary)
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	client := rpc.NewClient(nc)
	defer client.Close()
	var sum int
	if err := client.Call("Arith.Add", [2]int{40, 2}, &sum); err != nil {
		log.Fatal(err)
	}
	fmt.Println(sum)
	// Output: 42
}

// Arith is the net/rpc service of ExampleNetConn.
type Arith struct{}

// Add adds the two numbers.
func (Arith) Add(args [2]int, sum *int) error { *sum = args[0] + args[1]; return nil }

// JSON values as messages.
func ExampleConn_ReadJSON() {
	type Event struct {
		Kind  string `json:"kind"`
		Price int    `json:"price"`
	}
	srv := httptest.NewServer(&websocket.Handler{Serve: func(c *websocket.Conn, r *http.Request) {
		var e Event
		if err := c.ReadJSON(r.Context(), &e); err != nil {
			return
		}
		e.Price *= 2
		c.WriteJSON(r.Context(), e)
	}})
	defer srv.Close()
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	c.WriteJSON(context.Background(), Event{"quote", 21})
	var e Event
	err = c.ReadJSON(context.Background(), &e)
	fmt.Printf("%+v %v\n", e, err)
	// Output: {Kind:quote Price:42} <nil>
}

// Round-trip times of pings, for metrics.
func ExampleConnOptions_onPong() {
	rtts := make(chan time.Duration, 1)
	srv := httptest.NewServer(&websocket.Handler{Serve: func(c *websocket.Conn, r *http.Request) {
		c.Read(r.Context())
	}})
	defer srv.Close()
	opts := &websocket.DialOptions{}
	opts.OnPong = func(payload []byte, rtt time.Duration) { rtts <- rtt }
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), opts)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	go c.Read(context.Background()) // the pong arrives through a read
	if err := c.Ping(context.Background()); err != nil {
		log.Fatal(err)
	}
	fmt.Println(<-rtts > 0)
	// Output: true
}

// Streaming: the server writes a message in pieces with Writer, the client
// consumes it with Reader without holding it all in memory.
func ExampleConn_Reader() {
	srv := httptest.NewServer(&websocket.Handler{Serve: func(c *websocket.Conn, r *http.Request) {
		w, err := c.Writer(context.Background(), websocket.MessageBinary)
		if err != nil {
			return
		}
		for i := 0; i < 1000; i++ {
			w.Write([]byte("0123456789"))
		}
		w.Close()
	}})
	defer srv.Close()
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer c.CloseNow()
	typ, r, err := c.Reader(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	n, err := io.Copy(io.Discard, r)
	fmt.Println(typ, n, err)
	// Output: binary 10000 <nil>
}

// Telling a clean close from a failure.
func ExampleCloseStatus() {
	srv := httptest.NewServer(&websocket.Handler{Serve: func(c *websocket.Conn, r *http.Request) {
		c.Close(websocket.StatusGoingAway, "restarting")
	}})
	defer srv.Close()
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	_, _, err = c.Read(context.Background())
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		fmt.Println(websocket.CloseStatus(err) == websocket.StatusGoingAway, ce.Reason)
	}
	// Output: true restarting
}

// A read limit is enforced from the frame header: the sender of an
// oversized message gets close code 1009.
func ExampleConn_SetReadLimit() {
	serverErr := make(chan error, 1)
	srv := httptest.NewServer(&websocket.Handler{Serve: func(c *websocket.Conn, r *http.Request) {
		c.SetReadLimit(10)
		_, _, err := c.Read(context.Background())
		serverErr <- err
	}})
	defer srv.Close()
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		log.Fatal(err)
	}
	c.Write(context.Background(), websocket.MessageText, []byte("more than ten bytes"))
	_, _, err = c.Read(context.Background())
	fmt.Println("client:", websocket.CloseStatus(err))
	fmt.Println("server:", errors.Is(<-serverErr, websocket.ErrMessageTooBig))
	// Output:
	// client: 1009 (message too big)
	// server: true
}

// One message to every connected client: framed once, written from
// several goroutines.
func ExampleBroadcast() {
	var (
		mu      sync.Mutex
		clients []*websocket.Conn
		joined  = make(chan struct{}, 3)
	)
	srv := httptest.NewServer(&websocket.Handler{Serve: func(c *websocket.Conn, r *http.Request) {
		mu.Lock()
		clients = append(clients, c)
		mu.Unlock()
		joined <- struct{}{}
		c.Read(context.Background()) // answers pings and close frames until the client leaves
	}})
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var subscribers []*websocket.Conn
	for range 3 {
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
		if err != nil {
			log.Fatal(err)
		}
		defer c.CloseNow()
		subscribers = append(subscribers, c)
		<-joined
	}

	pm, err := websocket.NewPreparedMessage(websocket.MessageText, []byte("price: 42"))
	if err != nil {
		log.Fatal(err)
	}
	mu.Lock()
	err = websocket.Broadcast(ctx, clients, pm)
	mu.Unlock()
	fmt.Println("broadcast:", err)
	for _, c := range subscribers {
		_, msg, err := c.Read(ctx)
		fmt.Println(string(msg), err)
	}
	// Output:
	// broadcast: <nil>
	// price: 42 <nil>
	// price: 42 <nil>
	// price: 42 <nil>
}

// Compression is negotiated when both sides ask for it. Data that is
// compressed already (an image, an archive) is sent as it is.
func ExampleConn_WriteUncompressed() {
	compression := websocket.ConnOptions{Compression: &websocket.CompressionOptions{}}
	srv := httptest.NewServer(&websocket.Handler{
		Options: &websocket.AcceptOptions{ConnOptions: compression},
		Serve: func(c *websocket.Conn, r *http.Request) {
			c.Write(r.Context(), websocket.MessageText, []byte(strings.Repeat("compressible ", 100)))
			c.WriteUncompressed(r.Context(), websocket.MessageBinary, []byte{0x89, 'P', 'N', 'G'})
			c.Close(websocket.StatusNormalClosure, "")
		},
	})
	defer srv.Close()
	c, _, err := websocket.Dial(context.Background(), "ws"+strings.TrimPrefix(srv.URL, "http"),
		&websocket.DialOptions{ConnOptions: compression})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("compressed:", c.Compressed())
	for range 2 {
		typ, msg, _ := c.Read(context.Background())
		fmt.Println(typ, len(msg))
	}
	// Output:
	// compressed: true
	// text 1300
	// binary 4
}
