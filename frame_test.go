package websocket

import (
	"bytes"
	"encoding/hex"
	"errors"
	"go/parser"
	"go/token"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
)

// bitstr turns a string of 0s and 1s (spaces ignored) into bytes, so frame
// headers can be written down bit by bit as RFC 6455, Section 5.2 draws
// them.
func bitstr(s string) []byte {
	s = strings.ReplaceAll(s, " ", "")
	if len(s)%8 != 0 {
		panic("bitstr: not a whole number of bytes: " + s)
	}
	b := make([]byte, len(s)/8)
	for i := range b {
		v, err := strconv.ParseUint(s[i*8:i*8+8], 2, 8)
		if err != nil {
			panic(err)
		}
		b[i] = byte(v)
	}
	return b
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		panic(err)
	}
	return b
}

// The examples of RFC 6455, Section 5.7, both ways: parse(wire) == header
// and append(header) == wire, with the masking key fixed.
func TestRFCExampleFrames(t *testing.T) {
	tests := []struct {
		name    string
		wire    []byte
		h       header
		payload string
	}{
		{"single-frame unmasked text", unhex("81 05 48 65 6c 6c 6f"),
			header{fin: true, op: opText, length: 5}, "Hello"},
		{"single-frame masked text", unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58"),
			header{fin: true, op: opText, masked: true, key: 0x3d21fa37, length: 5}, "Hello"},
		{"fragmented text, first", unhex("01 03 48 65 6c"),
			header{op: opText, length: 3}, "Hel"},
		{"fragmented text, last", unhex("80 02 6c 6f"),
			header{fin: true, op: opContinuation, length: 2}, "lo"},
		{"unmasked ping", unhex("89 05 48 65 6c 6c 6f"),
			header{fin: true, op: opPing, length: 5}, "Hello"},
		{"masked pong", unhex("8a 85 37 fa 21 3d 7f 9f 4d 51 58"),
			header{fin: true, op: opPong, masked: true, key: 0x3d21fa37, length: 5}, "Hello"},
		{"256 bytes binary", append(unhex("82 7E 0100"), make([]byte, 256)...),
			header{fin: true, op: opBinary, length: 256}, string(make([]byte, 256))},
		{"64KiB binary", append(unhex("82 7F 0000000000010000"), make([]byte, 65536)...),
			header{fin: true, op: opBinary, length: 65536}, string(make([]byte, 65536))},
	}
	for _, tt := range tests {
		t.Run("5.7/"+tt.name, func(t *testing.T) {
			h, n, err := parseHeader(tt.wire)
			if err != nil || h != tt.h {
				t.Fatalf("parseHeader = %+v, %v; want %+v", h, err, tt.h)
			}
			payload := append([]byte(nil), tt.wire[n:]...)
			if h.masked {
				mask(payload, h.key)
			}
			if string(payload) != tt.payload {
				t.Errorf("payload = %q, want %q", payload, tt.payload)
			}
			if got := appendHeader(nil, tt.h); !bytes.Equal(got, tt.wire[:n]) {
				t.Errorf("appendHeader = % x, want % x", got, tt.wire[:n])
			}
		})
	}
}

func TestParseHeaderBits(t *testing.T) {
	tests := []struct {
		wire []byte
		want header
		err  error
	}{
		{bitstr("1 000 0001  0 0000000"), header{fin: true, op: opText}, nil},
		// FIN RSV OPCODE  MASK LEN
		{bitstr("0 100 0010  0 1111101"), header{rsv: rsv1, op: opBinary, length: 125}, nil},
		{bitstr("1 011 1000  1 0000010  00000001 00000010 00000011 00000100"),
			header{fin: true, rsv: rsv2 | rsv3, op: opClose, masked: true, key: 0x04030201, length: 2}, nil},
		// 16-bit length 126 and 65535.
		{bitstr("1 000 0010  0 1111110  00000000 01111110"), header{fin: true, op: opBinary, length: 126}, nil},
		{bitstr("1 000 0010  0 1111110  11111111 11111111"), header{fin: true, op: opBinary, length: 65535}, nil},
		// 64-bit length 2^63-1: the largest legal one.
		{bitstr("1 000 0010  0 1111111  01111111" + strings.Repeat(" 11111111", 7)),
			header{fin: true, op: opBinary, length: 1<<63 - 1}, nil},
		// 64-bit length with the most significant bit set.
		{bitstr("1 000 0010  0 1111111  10000000" + strings.Repeat(" 00000000", 7)), header{}, errLengthOverflow},
		// An unknown opcode parses; checkHeader rejects it.
		{bitstr("1 000 0011  0 0000000"), header{fin: true, op: 3}, nil},
	}
	for i, tt := range tests {
		h, n, err := parseHeader(tt.wire)
		if err != tt.err {
			t.Errorf("%d: err = %v, want %v", i, err, tt.err)
			continue
		}
		if err != nil {
			continue
		}
		if h != tt.want || n != len(tt.wire) {
			t.Errorf("%d: parseHeader(% x) = %+v, %d; want %+v, %d", i, tt.wire, h, n, tt.want, len(tt.wire))
		}
	}
}

// Every length at the edges of the three encodings round-trips, and the
// encoder picks the shortest form.
func TestHeaderLengthBoundaries(t *testing.T) {
	for _, l := range []int64{0, 1, 125, 126, 127, 65535, 65536, 1 << 32, 1<<63 - 1} {
		for _, masked := range []bool{false, true} {
			h := header{fin: true, op: opBinary, length: l, masked: masked}
			if masked {
				h.key = 0xa1b2c3d4
			}
			b := appendHeader(nil, h)
			wantLen := 2
			switch {
			case l > 65535:
				wantLen = 10
			case l > 125:
				wantLen = 4
			}
			if masked {
				wantLen += 4
			}
			if len(b) != wantLen {
				t.Errorf("length %d masked=%v: header is %d bytes, want %d", l, masked, len(b), wantLen)
			}
			got, n, err := parseHeader(b)
			if err != nil || n != len(b) || got != h {
				t.Errorf("length %d: round trip = %+v, %d, %v", l, got, n, err)
			}
		}
	}
}

func TestHeaderRandomRoundTrip(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 10000; i++ {
		h := header{
			fin:    r.IntN(2) == 0,
			rsv:    byte(r.IntN(8)) << 4,
			op:     opcode(r.IntN(16)),
			masked: r.IntN(2) == 0,
			length: r.Int64N(1<<uint(r.IntN(62)+1) + 1),
		}
		if h.masked {
			h.key = r.Uint32()
		}
		b := appendHeader(nil, h)
		got, n, err := parseHeader(b)
		if err != nil || n != len(b) || got != h {
			t.Fatalf("round trip of %+v = %+v, %d, %v", h, got, n, err)
		}
	}
}

// Partial input: every proper prefix of a header asks for more and consumes
// nothing (the bufio.SplitFunc contract).
func TestParseHeaderPrefixes(t *testing.T) {
	for _, h := range []header{
		{fin: true, op: opText, length: 5},
		{fin: true, op: opText, length: 300, masked: true, key: 1},
		{fin: true, op: opBinary, length: 1 << 40, masked: true, key: 7},
	} {
		b := appendHeader(nil, h)
		for i := 0; i < len(b); i++ {
			if got, n, err := parseHeader(b[:i]); n != 0 || err != nil || got != (header{}) {
				t.Errorf("prefix %d of % x: n=%d err=%v h=%+v, want need-more", i, b, n, err, got)
			}
		}
		if _, n, _ := parseHeader(append(b, 0xFF)); n != len(b) {
			t.Errorf("header with a trailing byte: n = %d, want %d", n, len(b))
		}
	}
}

func TestCheckHeader(t *testing.T) {
	server := frameRules{masked: true}
	inMsg := frameRules{masked: true, inMessage: true}
	client := frameRules{}
	deflate := frameRules{masked: true, rsv1: true}
	tests := []struct {
		name  string
		h     header
		rules frameRules
		want  error
	}{
		{"5.2/text", header{fin: true, op: opText, masked: true}, server, nil},
		{"5.2/rsv1 without extension", header{fin: true, rsv: rsv1, op: opText, masked: true}, server, errReservedBits},
		{"5.2/rsv2", header{fin: true, rsv: rsv2, op: opText, masked: true}, deflate, errReservedBits},
		{"5.2/rsv3", header{fin: true, rsv: rsv3, op: opText, masked: true}, deflate, errReservedBits},
		{"7692/rsv1 on first frame", header{rsv: rsv1, op: opText, masked: true}, deflate, nil},
		{"7692/rsv1 on continuation", header{rsv: rsv1, op: opContinuation, masked: true}, frameRules{masked: true, rsv1: true, inMessage: true}, errReservedBits},
		{"7692/rsv1 on control", header{fin: true, rsv: rsv1, op: opPing, masked: true}, deflate, errReservedBits},
		{"5.2/opcode 3", header{fin: true, op: 3, masked: true}, server, errUnknownOpcode},
		{"5.2/opcode 0xB", header{fin: true, op: 0xB, masked: true}, server, errUnknownOpcode},
		{"5.2/opcode 0xF huge", header{fin: true, op: 0xF, masked: true, length: 1 << 62}, server, errUnknownOpcode},
		{"5.1/unmasked from client", header{fin: true, op: opText}, server, errUnmasked},
		{"5.1/masked from server", header{fin: true, op: opText, masked: true}, client, errMasked},
		{"5.5/fragmented ping", header{op: opPing, masked: true}, server, errFragmentedControl},
		{"5.5/ping 126", header{fin: true, op: opPing, masked: true, length: 126}, server, errControlTooLong},
		{"5.5/close 2^62", header{fin: true, op: opClose, masked: true, length: 1 << 62}, server, errControlTooLong},
		{"5.5/ping 125", header{fin: true, op: opPing, masked: true, length: 125}, server, nil},
		{"5.5/ping inside message", header{fin: true, op: opPing, masked: true}, inMsg, nil},
		{"5.4/continuation without message", header{fin: true, op: opContinuation, masked: true}, server, errUnexpectedContinuation},
		{"5.4/continuation in message", header{fin: true, op: opContinuation, masked: true}, inMsg, nil},
		{"5.4/text inside message", header{fin: true, op: opText, masked: true}, inMsg, errExpectedContinuation},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := checkHeader(tt.h, tt.rules); got != tt.want {
				t.Errorf("checkHeader = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestProtocolErrorCodes(t *testing.T) {
	for _, e := range []*ProtocolError{errReservedBits, errUnknownOpcode, errUnmasked, errFragmentedControl, errLengthOverflow} {
		if e.Code != StatusProtocolError {
			t.Errorf("%v: code %v, want 1002", e, e.Code)
		}
	}
	if errInvalidUTF8.Code != StatusInvalidFramePayloadData {
		t.Errorf("invalid UTF-8 code %v, want 1007", errInvalidUTF8.Code)
	}
	var pe *ProtocolError
	if !errors.As(ErrMessageTooBig, &pe) || pe.Code != StatusMessageTooBig {
		t.Errorf("ErrMessageTooBig code = %v, want 1009", pe)
	}
	if got := errReservedBits.Error(); !strings.HasPrefix(got, "websocket: ") || !strings.Contains(got, "1002") {
		t.Errorf("error text %q", got)
	}
}

func TestHeaderAllocs(t *testing.T) {
	wire := unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58")
	var buf [maxHeaderSize]byte
	h := header{fin: true, op: opBinary, length: 70000, masked: true, key: 9}
	allocs := testing.AllocsPerRun(1000, func() {
		parseHeader(wire)
		appendHeader(buf[:0], h)
		checkHeader(h, frameRules{masked: true})
	})
	if allocs != 0 {
		t.Errorf("header parse/append/check: %v allocs, want 0", allocs)
	}
}

// The protocol core stays pure: it must never grow a dependency on I/O, a
// context or a clock.
func TestPureCoreImports(t *testing.T) {
	forbidden := map[string]bool{"io": true, "net": true, "net/http": true, "context": true, "sync": true, "time": true, "os": true, "bufio": true}
	for _, file := range []string{"frame.go", "mask.go", "utf8.go", "inflate.go", "inflate_huffman.go", "deflater.go"} {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if forbidden[p] {
				t.Errorf("%s imports %q; the protocol core must not do I/O", file, p)
			}
		}
	}
}

// FuzzParseHeader: every input is either "need more", an accepted header
// that round-trips to the same bytes when minimally encoded, or a
// ProtocolError; never a panic.
func FuzzParseHeader(f *testing.F) {
	f.Add(unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58"))
	f.Add(unhex("82 7E 0100"))
	f.Add(unhex("82 7F 0000000000010000"))
	f.Add(unhex("82 7F 8000000000000000"))
	f.Add([]byte{0x89})
	f.Fuzz(func(t *testing.T, b []byte) {
		h, n, err := parseHeader(b)
		if err != nil {
			var pe *ProtocolError
			if !errors.As(err, &pe) || n != 0 {
				t.Fatalf("error %v with n=%d", err, n)
			}
			return
		}
		if n == 0 {
			if len(b) >= maxHeaderSize {
				t.Fatalf("need-more with %d bytes", len(b))
			}
			return
		}
		if n > len(b) || n > maxHeaderSize || h.length < 0 {
			t.Fatalf("n=%d len=%d h=%+v", n, len(b), h)
		}
		enc := appendHeader(nil, h)
		h2, n2, err := parseHeader(enc)
		if err != nil || h2 != h || n2 != len(enc) {
			t.Fatalf("re-encoded %+v does not round-trip: %+v %v", h, h2, err)
		}
		_ = checkHeader(h, frameRules{masked: true})
	})
}

func BenchmarkParseHeader(b *testing.B) {
	wire := appendHeader(nil, header{fin: true, op: opBinary, length: 1024, masked: true, key: 0x12345678})
	b.ReportAllocs()
	for b.Loop() {
		parseHeader(wire)
	}
}

func BenchmarkAppendHeader(b *testing.B) {
	var buf [maxHeaderSize]byte
	h := header{fin: true, op: opBinary, length: 1024, masked: true, key: 0x12345678}
	b.ReportAllocs()
	for b.Loop() {
		appendHeader(buf[:0], h)
	}
}
