//go:build js

package websocket

import (
	"context"
	"encoding/json"
	"sync"
)

// This file is json.go for the js build, on the js Read and Write.

// WriteJSON sends v, encoded with encoding/json, as one text message. ctx
// bounds the call as for [Conn.Write]; an error from encoding is returned
// before anything is sent.
func (c *Conn) WriteJSON(ctx context.Context, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.Write(ctx, MessageText, b)
}

// ReadJSON reads the next data message whole, within the read limit, into
// a pooled buffer and decodes it into v with json.Unmarshal. A message that
// does not decode into v returns the decoding error and leaves the Conn
// usable (the message is consumed). ctx bounds the call as for
// [Conn.Read]: if it ends, nothing is consumed.
func (c *Conn) ReadJSON(ctx context.Context, v any) error {
	bp := jsonBufs.Get().(*[]byte)
	_, b, err := c.ReadAppend(ctx, (*bp)[:0])
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if cap(b) <= maxKeptJSONBuf {
		*bp = b[:0]
		jsonBufs.Put(bp)
	}
	return err
}

var jsonBufs = sync.Pool{New: func() any { return new([]byte) }}

// maxKeptJSONBuf caps the buffers jsonBufs keeps.
const maxKeptJSONBuf = 1 << 20
