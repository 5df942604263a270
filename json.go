//go:build !js

package websocket

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"
)

// WriteJSON sends v, encoded with encoding/json, as one text message. The
// encoding is made in a pooled buffer and sent as one frame (compressed
// when permessage-deflate is on), so a stream of small values costs no
// allocation beyond what encoding/json makes. ctx bounds the call as for
// [Conn.Write]; an error from encoding is returned before anything is sent.
func (c *Conn) WriteJSON(ctx context.Context, v any) error {
	e := jsonEncoders.Get().(*jsonEncoder)
	defer e.put()
	if err := e.enc.Encode(v); err != nil {
		return err
	}
	b := e.buf.Bytes()
	return c.Write(ctx, MessageText, b[:len(b)-1]) // Encode ends with a newline
}

// ReadJSON reads the next data message whole, within the read limit, into
// a pooled buffer and decodes it into v with json.Unmarshal, which saves
// the copy a streaming json.Decoder would make. A message that does not
// decode into v returns the decoding error and leaves the Conn usable (the
// message is consumed). ctx bounds the call as for [Conn.Read], and an
// interrupted message is resumed by the next read in the same way.
func (c *Conn) ReadJSON(ctx context.Context, v any) error {
	bp := assemblePool.Get().(*[]byte)
	_, b, err := c.ReadAppend(ctx, (*bp)[:0])
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	putAssembly(bp, b)
	return err
}

// jsonEncoder is an encoder with the buffer it writes into, pooled as one.
type jsonEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

var jsonEncoders = sync.Pool{New: func() any {
	e := new(jsonEncoder)
	e.enc = json.NewEncoder(&e.buf)
	return e
}}

func (e *jsonEncoder) put() {
	if e.buf.Cap() > maxPooledAssembly {
		return
	}
	e.buf.Reset()
	jsonEncoders.Put(e)
}
