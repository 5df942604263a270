package h2

import (
	"go/parser"
	"go/token"
	"strconv"
	"testing"
)

func TestFrameHeaderRoundTrip(t *testing.T) {
	for _, h := range []frameHeader{
		{},
		{length: 8, typ: framePing, flags: flagAck},
		{length: maxMaxFrameSize, typ: frameData, flags: flagEndStream | flagPadded, streamID: maxStreamID},
		{length: 0x123456, typ: 0xfe, flags: 0xff, streamID: 0x01020304},
	} {
		b := appendFrameHeader(nil, h)
		if len(b) != frameHeaderLen {
			t.Fatalf("%+v: %d bytes", h, len(b))
		}
		if got := parseFrameHeader(b); got != h {
			t.Errorf("round trip %+v: got %+v", h, got)
		}
	}
	// RFC 9113, Section 4.1: the reserved bit "MUST be ignored when
	// receiving".
	b := appendFrameHeader(nil, frameHeader{streamID: 3})
	b[5] |= 0x80
	if got := parseFrameHeader(b); got.streamID != 3 {
		t.Errorf("reserved bit kept: stream %#x", got.streamID)
	}
}

// TestFramePayloads covers RFC 9113, Section 6 frame by frame.
func TestFramePayloads(t *testing.T) {
	data := frameHeader{typ: frameData, streamID: 1}
	padded := data
	padded.flags = flagPadded
	hdrs := frameHeader{typ: frameHeaders, streamID: 1}
	for _, tc := range []struct {
		name    string
		f       func() ([]byte, error)
		want    string
		wantErr error
	}{
		{"6.1/data", func() ([]byte, error) { return dataPayload(data, []byte("abc")) }, "abc", nil},
		{"6.1/data padded", func() ([]byte, error) { return dataPayload(padded, []byte("\x02abcXX")) }, "abc", nil},
		{"6.1/data all padding", func() ([]byte, error) { return dataPayload(padded, []byte("\x02XX")) }, "", nil},
		{"6.1/padding too long", func() ([]byte, error) { return dataPayload(padded, []byte("\x03XX")) }, "", errPadding},
		{"6.1/pad length only", func() ([]byte, error) { return dataPayload(padded, []byte("\x00")) }, "", nil},
		{"6.1/empty padded", func() ([]byte, error) { return dataPayload(padded, nil) }, "", errFrameTooShort},
		{"6.1/stream 0", func() ([]byte, error) { return dataPayload(frameHeader{typ: frameData}, nil) }, "", errStreamZero},
		{"6.2/headers", func() ([]byte, error) { return headersFragment(hdrs, []byte("\x82")) }, "\x82", nil},
		{"6.2/headers padded+priority", func() ([]byte, error) {
			h := hdrs
			h.flags = flagPadded | flagPriority
			return headersFragment(h, []byte("\x01\x00\x00\x00\x03\x10\x82X"))
		}, "\x82", nil},
		{"6.2/priority too short", func() ([]byte, error) {
			h := hdrs
			h.flags = flagPriority
			return headersFragment(h, []byte("\x00\x00"))
		}, "", errFrameTooShort},
		{"6.2/padding beyond fragment", func() ([]byte, error) {
			h := hdrs
			h.flags = flagPadded
			return headersFragment(h, []byte("\x05ab"))
		}, "", errPadding},
	} {
		got, err := tc.f()
		if err != tc.wantErr || (err == nil && string(got) != tc.want) {
			t.Errorf("%s: %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.wantErr)
		}
	}

	if err := checkPriority(frameHeader{typ: framePriority, streamID: 1}, make([]byte, 5)); err != nil {
		t.Errorf("6.3/priority: %v", err)
	}
	if err := checkPriority(frameHeader{typ: framePriority, streamID: 1}, make([]byte, 4)); err != errFrameLength {
		t.Errorf("6.3/priority length: %v", err)
	}
	rst := appendRSTStream(nil, 5, ErrCodeCancel)
	if code, err := rstStreamCode(parseFrameHeader(rst), rst[9:]); code != ErrCodeCancel || err != nil {
		t.Errorf("6.4/rst: %v, %v", code, err)
	}
	ping := appendPing(nil, true, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	if h := parseFrameHeader(ping); !h.has(flagAck) {
		t.Errorf("6.7/ping ack flag lost")
	} else if d, err := pingData(h, ping[9:]); err != nil || d != [8]byte{1, 2, 3, 4, 5, 6, 7, 8} {
		t.Errorf("6.7/ping: %v, %v", d, err)
	}
	if _, err := pingData(frameHeader{typ: framePing, streamID: 1}, make([]byte, 8)); err != errStreamNotZero {
		t.Errorf("6.7/ping on a stream: %v", err)
	}
	ga := appendGoAway(nil, 7, ErrCodeEnhanceYourCalm, "calm")
	if last, code, debug, err := goAway(parseFrameHeader(ga), ga[9:]); last != 7 || code != ErrCodeEnhanceYourCalm || string(debug) != "calm" || err != nil {
		t.Errorf("6.8/goaway: %d %v %q %v", last, code, debug, err)
	}
	wu := appendWindowUpdate(nil, 3, maxWindow)
	if n, err := windowIncrement(parseFrameHeader(wu), wu[9:]); n != maxWindow || err != nil {
		t.Errorf("6.9/window update: %d, %v", n, err)
	}
	if _, err := windowIncrement(frameHeader{typ: frameWindowUpdate}, []byte{0x80, 0, 0, 0}); err != errZeroIncrement {
		t.Errorf("6.9/increment 0 (reserved bit set): %v", err)
	}
}

func TestSettings(t *testing.T) {
	ss := []setting{{settingInitialWindowSize, 1 << 20}, {settingEnableConnectProtocol, 1}, {0xff, 9}}
	b := appendSettings(nil, ss)
	h := parseFrameHeader(b)
	n, err := checkSettingsFrame(h)
	if err != nil || n != 3 {
		t.Fatalf("checkSettingsFrame: %d, %v", n, err)
	}
	for i := range n {
		if got := settingAt(b[9:], i); got != ss[i] {
			t.Errorf("setting %d: %v, want %v", i, got, ss[i])
		}
	}
	if _, err := checkSettingsFrame(frameHeader{typ: frameSettings, length: 7}); err != errSettingsLength {
		t.Errorf("length 7: %v", err)
	}
	if _, err := checkSettingsFrame(frameHeader{typ: frameSettings, flags: flagAck, length: 6}); err != errSettingsAckBody {
		t.Errorf("ack with payload: %v", err)
	}
	if _, err := checkSettingsFrame(frameHeader{typ: frameSettings, streamID: 1}); err != errStreamNotZero {
		t.Errorf("on a stream: %v", err)
	}
	for _, tc := range []struct {
		s    setting
		want error
	}{
		{setting{settingEnablePush, 0}, nil},
		{setting{settingEnablePush, 1}, errEnablePush},
		{setting{settingInitialWindowSize, maxWindow}, nil},
		{setting{settingInitialWindowSize, maxWindow + 1}, errBadInitWindow},
		{setting{settingMaxFrameSize, minMaxFrameSize - 1}, errBadMaxFrame},
		{setting{settingMaxFrameSize, maxMaxFrameSize}, nil},
		{setting{settingMaxFrameSize, maxMaxFrameSize + 1}, errBadMaxFrame},
		{setting{settingEnableConnectProtocol, 2}, errBadConnectProto},
		{setting{0x1234, 0xffffffff}, nil},
	} {
		if err := checkServerSetting(tc.s); err != tc.want {
			t.Errorf("%v: %v, want %v", tc.s, err, tc.want)
		}
	}
}

func TestErrCodeString(t *testing.T) {
	if s := ErrCodeHTTP11Required.String(); s != "HTTP_1_1_REQUIRED" {
		t.Errorf("%s", s)
	}
	if s := ErrCode(0x1f).String(); s != "error code 0x1f" {
		t.Errorf("%s", s)
	}
}

// TestPureFiles keeps the codec files free of I/O: they transform bytes
// and never touch a socket, a clock or a lock.
func TestPureFiles(t *testing.T) {
	allowed := map[string]bool{"encoding/binary": true, "errors": true, "strconv": true}
	for _, name := range []string{"frame.go", "hpack.go", "huffman.go", "errors.go"} {
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !allowed[path] {
				t.Errorf("%s imports %s", name, path)
			}
		}
	}
}

func BenchmarkParseFrameHeader(b *testing.B) {
	buf := appendFrameHeader(nil, frameHeader{length: 1024, typ: frameData, streamID: 1})
	var h frameHeader
	for b.Loop() {
		h = parseFrameHeader(buf)
	}
	_ = h
}
