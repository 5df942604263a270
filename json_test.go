//go:build !js

package websocket

// JSON messages (json.go).

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestJSON(t *testing.T) {
	type event struct {
		ID   int    `json:"id"`
		Text string `json:"text"`
	}
	server, client := pipePair(t, ConnOptions{ReadLimit: 64, CloseTimeout: 100 * time.Millisecond})
	ctx := context.Background()
	go func() {
		client.WriteJSON(ctx, event{1, "<hello>"})
		client.Write(ctx, MessageText, []byte("not json"))
		client.WriteJSON(ctx, event{2, strings.Repeat("x", 100)}) // over the limit
	}()
	var got event
	if err := server.ReadJSON(ctx, &got); err != nil || got != (event{1, "<hello>"}) {
		t.Fatalf("ReadJSON = %+v, %v", got, err)
	}
	var syntax *json.SyntaxError
	if err := server.ReadJSON(ctx, &got); !errors.As(err, &syntax) {
		t.Fatalf("ReadJSON of a message that is not JSON = %v, want a *json.SyntaxError", err)
	}
	// The read limit applies, and a message over it fails the connection.
	if err := server.ReadJSON(ctx, &got); !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("ReadJSON over the limit = %v, want ErrMessageTooBig", err)
	}
	// A value that cannot be encoded sends nothing.
	if err := client.WriteJSON(ctx, func() {}); err == nil {
		t.Fatal("WriteJSON of a func succeeded")
	}
}

func TestJSONAllocs(t *testing.T) {
	server, client := pipePair(t, ConnOptions{})
	ctx := context.Background()
	type point struct{ X, Y int }
	// Every message is on its way before counting: the count covers the
	// whole process.
	for i := 0; i < 300; i++ {
		if err := client.WriteJSON(ctx, point{i, -i}); err != nil {
			t.Fatal(err)
		}
	}
	var p point
	// Nothing is allocated but what encoding/json allocates itself.
	msg := []byte(`{"X":12,"Y":-12}`)
	own := testing.AllocsPerRun(100, func() { json.Unmarshal(msg, &p) })
	if n := testing.AllocsPerRun(200, func() {
		if err := server.ReadJSON(ctx, &p); err != nil {
			t.Fatal(err)
		}
	}); n > own {
		t.Errorf("ReadJSON: %v allocs per message, json.Unmarshal alone %v", n, own)
	}
}
