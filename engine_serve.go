//go:build !js

package websocket

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"strconv"
	"time"
)

// This file is the handshake of connections that Engine.Serve takes from a
// raw net.Listener: the request is read here, and the checks, the
// negotiation and the response are upgrade's, the same as for Accept,
// through a minimal http.ResponseWriter that can be hijacked.

// serveConn reads one handshake request from nc and upgrades it; the
// caller has registered the handshake (enter).
func (e *Engine) serveConn(nc net.Conn, opts *AcceptOptions) {
	defer e.handshakes.Done()
	timeout := opts.HandshakeTimeout
	if timeout == 0 {
		timeout = defaultHandshakeTimeout
	}
	nc.SetDeadline(time.Now().Add(timeout))
	br := bufio.NewReaderSize(nc, 4096)
	r, err := http.ReadRequest(br)
	if err != nil {
		nc.Write([]byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"))
		nc.Close()
		return
	}
	r.RemoteAddr = nc.RemoteAddr().String()
	w := &rawResponse{nc: nc, br: br, h: make(http.Header)}
	up, err := acceptHandshake(w, r, opts)
	if err != nil {
		if !w.hijacked {
			w.send()
		}
		nc.Close()
		return
	}
	e.start(up, opts, r)
}

// rawResponse is the http.ResponseWriter of a handshake read by Serve: it
// collects an error response (upgrade answers bad requests through it)
// and hands over the connection when upgrade hijacks it.
type rawResponse struct {
	nc       net.Conn
	br       *bufio.Reader
	h        http.Header
	status   int
	body     bytes.Buffer
	hijacked bool
}

func (w *rawResponse) Header() http.Header { return w.h }

func (w *rawResponse) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *rawResponse) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(p)
}

// Hijack implements http.Hijacker, which http.ResponseController uses.
func (w *rawResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	w.hijacked = true
	return w.nc, bufio.NewReadWriter(w.br, bufio.NewWriterSize(w.nc, 64)), nil
}

// send writes the collected response; the handshake has failed.
func (w *rawResponse) send() {
	if w.status == 0 {
		w.status = http.StatusInternalServerError
	}
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 " + strconv.Itoa(w.status) + " " + http.StatusText(w.status) + "\r\n")
	w.h.Set("Content-Length", strconv.Itoa(w.body.Len()))
	w.h.Write(&b)
	b.WriteString("\r\n")
	b.Write(w.body.Bytes())
	w.nc.Write(b.Bytes())
}
