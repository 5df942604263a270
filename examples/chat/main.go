//go:build !js

// Command chat is a small chat room: GET / serves a page, and every text
// message sent on /ws is broadcast to everyone connected.
//
//	go run ./examples/chat -addr 127.0.0.1:8080
//
// Each client has a bounded send queue; a client too slow to drain it is
// disconnected (1008, policy violation) so it never holds the others up.
package main

import (
	"context"
	_ "embed"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/ccf874ba/websocket"
)

//go:embed index.html
var indexHTML []byte

const (
	sendQueueLen   = 64               // messages queued per client before it is dropped
	writeTimeout   = 5 * time.Second  // time limit for one message to one client
	maxMessageSize = 16 << 10         // largest chat message accepted
	shutdownWait   = 10 * time.Second // grace period at Ctrl-C
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	flag.Parse()
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *addr); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context, addr string) error {
	room := newRoom(ctx)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(indexHTML)
	})
	mux.Handle("/ws", room)

	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Printf("listening on http://%s\n", ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Print("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownWait)
	defer cancel()
	err = hs.Shutdown(sctx)
	room.wait(sctx)
	return err
}

// room is the set of connected clients.
type room struct {
	ctx     context.Context // canceled at shutdown
	mu      sync.Mutex
	clients map[*client]struct{}
	wg      sync.WaitGroup
}

type client struct {
	conn *websocket.Conn
	addr string
	send chan []byte // bounded queue, drained by the writer goroutine
	gone chan struct{}
	once sync.Once
}

func newRoom(ctx context.Context) *room {
	return &room{ctx: ctx, clients: make(map[*client]struct{})}
}

func (rm *room) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The page is served by this same host, so the default origin check
	// (same host only) lets it in and keeps other sites' pages out.
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{ConnOptions: websocket.ConnOptions{ReadLimit: maxMessageSize}})
	if err != nil {
		log.Printf("%s: %v", r.RemoteAddr, err)
		return
	}
	rm.wg.Add(1)
	defer rm.wg.Done()
	defer c.CloseNow()

	cl := &client{conn: c, addr: r.RemoteAddr, send: make(chan []byte, sendQueueLen), gone: make(chan struct{})}
	n := rm.join(cl)
	defer rm.leave(cl, "")
	defer cl.stop()
	stop := context.AfterFunc(rm.ctx, func() { cl.drop(websocket.StatusGoingAway, "server shutting down") })
	defer stop()
	go cl.writeLoop()
	rm.broadcast([]byte(fmt.Sprintf("* someone joined, %d here", n)))

	for {
		typ, p, err := c.Read(context.Background())
		if err != nil {
			return
		}
		if typ != websocket.MessageText {
			cl.stop()
			c.Close(websocket.StatusUnsupportedData, "text messages only")
			return
		}
		rm.broadcast(p)
	}
}

func (rm *room) join(cl *client) int {
	rm.mu.Lock()
	defer rm.mu.Unlock()
	rm.clients[cl] = struct{}{}
	return len(rm.clients)
}

// leave removes cl; a non-empty why is logged.
func (rm *room) leave(cl *client, why string) {
	rm.mu.Lock()
	_, ok := rm.clients[cl]
	delete(rm.clients, cl)
	n := len(rm.clients)
	rm.mu.Unlock()
	if ok {
		if why != "" {
			log.Printf("%s: %s", cl.addr, why)
		}
		rm.broadcast([]byte(fmt.Sprintf("* someone left, %d here", n)))
	}
}

// broadcast queues msg for every client without ever blocking: a client
// whose queue is full is dropped.
func (rm *room) broadcast(msg []byte) {
	var slow []*client
	rm.mu.Lock()
	for cl := range rm.clients {
		select {
		case cl.send <- msg:
		default:
			slow = append(slow, cl)
		}
	}
	rm.mu.Unlock()
	for _, cl := range slow {
		cl.drop(websocket.StatusPolicyViolation, "too slow to keep up")
		rm.leave(cl, "dropped: too slow to keep up")
	}
}

// stop ends the client's writer goroutine; it reports whether this call
// did it.
func (cl *client) stop() bool {
	stopped := false
	cl.once.Do(func() {
		close(cl.gone)
		stopped = true
	})
	return stopped
}

// drop ends the client's connection with code; its goroutines then exit.
// The closing handshake runs in the background so the caller never waits:
// the pending Read in ServeHTTP receives the peer's answer.
func (cl *client) drop(code websocket.StatusCode, reason string) {
	if cl.stop() {
		go cl.conn.Close(code, reason)
	}
}

func (rm *room) wait(ctx context.Context) {
	done := make(chan struct{})
	go func() { rm.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

func (cl *client) writeLoop() {
	for {
		select {
		case msg := <-cl.send:
			ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
			err := cl.conn.Write(ctx, websocket.MessageText, msg)
			cancel()
			if err != nil {
				cl.conn.CloseNow()
				return
			}
		case <-cl.gone:
			return
		}
	}
}
