package h2

import (
	"io"
	"net"
	"testing"
	"time"
)

// TestWriterControlFirst checks that control frames go out before queued
// stream data, and that a request can be cancelled until the writer takes
// it.
func TestWriterControlFirst(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	w := newWriter(client, time.Second, func() uint32 { return minMaxFrameSize })
	r := &writeReq{streamID: 1, data: []byte("data"), done: make(chan error, 1)}
	cancelled := &writeReq{streamID: 3, data: []byte("gone"), done: make(chan error, 1)}
	w.submit(r)
	w.submit(cancelled)
	if !w.cancel(cancelled) || w.cancel(cancelled) {
		t.Fatal("cancel of a queued request")
	}
	w.windowUpdate(0, 100)
	go w.run(func(error) {})
	buf := make([]byte, 13+9+4)
	if _, err := io.ReadFull(server, buf); err != nil {
		t.Fatal(err)
	}
	if h := parseFrameHeader(buf); h.typ != frameWindowUpdate {
		t.Fatalf("first frame %v, want WINDOW_UPDATE", h.typ)
	}
	if h := parseFrameHeader(buf[13:]); h.typ != frameData || h.streamID != 1 || string(buf[22:]) != "data" {
		t.Fatalf("second frame %+v %q", h, buf[22:])
	}
	if err := <-r.done; err != nil {
		t.Fatal(err)
	}
	w.shutdown(errConnClosed, nil)
	late := &writeReq{done: make(chan error, 1)}
	w.submit(late)
	if err := <-late.done; err != errConnClosed {
		t.Fatalf("submit after shutdown: %v", err)
	}
}

// TestWriterControlFlood checks that control frames a peer does not read
// are capped.
func TestWriterControlFlood(t *testing.T) {
	client, server := net.Pipe()
	defer server.Close()
	defer client.Close()
	w := newWriter(client, time.Second, func() uint32 { return minMaxFrameSize })
	var err error
	for i := 0; err == nil && i < 2*maxControlBuffered; i++ {
		err = w.windowUpdate(0, 1) // no writer runs: nothing drains
	}
	if err != errControlFlood {
		t.Fatalf("%v, want errControlFlood", err)
	}
}
