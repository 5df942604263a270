//go:build !js

package websocket

// TEMPORARY: a stand-in for the resumable inflater being written in
// inflate.go. It buffers a message's compressed bytes and inflates them
// with compress/flate once the sync tail arrives. To be deleted.

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
)

type inflater struct {
	in, out, hist []byte
	keep          bool
	window        int
}

var errCorruptDeflate = errors.New("corrupt deflate data")

func (f *inflater) reset(bits int, keep bool) {
	f.in, f.out = f.in[:0], f.out[:0]
	f.keep, f.window = keep, bits
	if !keep {
		f.hist = f.hist[:0]
	}
}

func (f *inflater) inflate(dst, src []byte) (int, int, error) {
	n := copy(dst, f.out)
	f.out = f.out[n:]
	if len(f.out) > 0 {
		return n, 0, nil
	}
	if len(src) == 0 {
		return n, 0, nil
	}
	f.in = append(f.in, src...)
	if len(src) == 4 && &src[0] == &syncTail[0] || len(src) < 4 && len(src) > 0 && &src[len(src)-1] == &syncTail[3] {
		in := append(f.in, 0x01, 0x00, 0x00, 0xff, 0xff)
		fr := flate.NewReaderDict(bytes.NewReader(in), f.hist)
		out, err := io.ReadAll(fr)
		if err != nil {
			return n, len(src), errCorruptDeflate
		}
		f.in = f.in[:0]
		f.hist = append(f.hist, out...)
		if w := 1 << f.window; len(f.hist) > w {
			f.hist = append(f.hist[:0], f.hist[len(f.hist)-w:]...)
		}
		f.out = out
		m := copy(dst[n:], f.out)
		f.out = f.out[m:]
		n += m
	}
	return n, len(src), nil
}

func (f *inflater) idle() bool  { return len(f.in) == 0 && len(f.out) == 0 }
func (f *inflater) ended() bool { return false }
