//go:build js

// Command client is the Go side of the examples/wasm page, built with
// GOOS=js GOARCH=wasm by the example's server (go run ./examples/wasm). It
// dials /echo on the server the page came from, checks a text and a binary
// round trip, then echoes what the user types into the page.
package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"syscall/js"
	"time"

	"github.com/ccf874ba/websocket"
)

var doc = js.Global().Get("document")

func byID(id string) js.Value { return doc.Call("getElementById", id) }

// show adds a line to the page's log.
func show(format string, args ...any) {
	out := byID("log")
	out.Set("textContent", out.Get("textContent").String()+fmt.Sprintf(format, args...)+"\n")
}

func main() {
	byID("log").Set("textContent", "")
	ctx := context.Background()

	// A relative URL is resolved against the page's address.
	dialCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	c, _, err := websocket.Dial(dialCtx, "/echo", nil)
	cancel()
	if err != nil {
		show("dial: %v", err)
		return
	}
	defer c.CloseNow()
	show("connected")

	// One text and one binary message, checked, so the page shows at
	// once that the round trip works.
	greeting := "hello from Go (wasm), κόσμε 😀"
	if err := c.Write(ctx, websocket.MessageText, []byte(greeting)); err != nil {
		show("write: %v", err)
		return
	}
	_, msg, err := c.Read(ctx)
	if err != nil {
		show("read: %v", err)
		return
	}
	show("echo: %s", msg)
	blob := make([]byte, 64<<10)
	rand.Read(blob)
	if err := c.Write(ctx, websocket.MessageBinary, blob); err != nil {
		show("write: %v", err)
		return
	}
	typ, msg, err := c.Read(ctx)
	switch {
	case err != nil:
		show("read: %v", err)
		return
	case typ == websocket.MessageBinary && bytes.Equal(msg, blob):
		show("binary echo: %d bytes, identical", len(msg))
	default:
		show("binary echo: %v of %d bytes, NOT what was sent", typ, len(msg))
	}

	// Then what the user types. The submit handler runs on the browser's
	// event loop, so it must not block: it hands the text to a goroutine.
	input, button := byID("text"), byID("send")
	sends := make(chan string, 16)
	submit := js.FuncOf(func(this js.Value, args []js.Value) any {
		args[0].Call("preventDefault")
		select {
		case sends <- input.Get("value").String():
			input.Set("value", "")
		default:
		}
		return nil
	})
	defer submit.Release()
	byID("form").Call("addEventListener", "submit", submit)
	input.Set("disabled", false)
	button.Set("disabled", false)
	show("ready: type a message")
	go func() {
		for s := range sends {
			if err := c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
				show("write: %v", err)
				return
			}
		}
	}()
	for {
		_, msg, err := c.Read(ctx)
		if err != nil {
			show("connection ended: %v", err)
			input.Set("disabled", true)
			button.Set("disabled", true)
			return
		}
		show("echo: %s", msg)
	}
}
