package h2

import (
	"errors"
	"net/http"
	"testing"
)

// TestAppendRequest checks RFC 8441, Section 4 and RFC 9113, Section 8.2:
// the pseudo-headers, lower-case names, the fields left out, and the
// fields refused.
func TestAppendRequest(t *testing.T) {
	req := &Request{Scheme: "https", Authority: "example.com", Header: http.Header{
		"Sec-WebSocket-Version": {"13"},
		"Connection":            {"Upgrade"},
		"Upgrade":               {"websocket"},
		"Host":                  {"example.com"},
		"Te":                    {"trailers"},
		"Sec-WebSocket-Key":     {"dGhlIHNhbXBsZSBub25jZQ=="},
		"Authorization":         {"Bearer x"},
	}}
	block, size, err := appendRequest(nil, req)
	if err != nil {
		t.Fatal(err)
	}
	fields, err := newHpackDecoder(4096, 1<<16).decode(nil, block)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]headerField{}
	var total uint64
	for i, f := range fields {
		got[f.name] = f
		total += f.size()
		if i < 5 && f.name[0] != ':' || i >= 5 && f.name[0] == ':' {
			t.Errorf("field %d %q: pseudo-headers must come first", i, f.name)
		}
	}
	for name, value := range map[string]string{
		":method": "CONNECT", ":protocol": "websocket", ":scheme": "https", ":path": "/",
		":authority": "example.com", "sec-websocket-version": "13", "authorization": "Bearer x",
	} {
		if got[name].value != value {
			t.Errorf("%s = %q, want %q", name, got[name].value, value)
		}
	}
	for _, name := range []string{"connection", "upgrade", "host", "te", "sec-websocket-key"} {
		if _, ok := got[name]; ok {
			t.Errorf("%s sent", name)
		}
	}
	if !got["authorization"].sensitive {
		t.Error("authorization not sent never-indexed")
	}
	if size != total {
		t.Errorf("header list size %d, want %d", size, total)
	}
	for _, bad := range []http.Header{{"Bad Name": {"x"}}, {"X": {"a\r\nb"}}, {"X": {" padded"}}} {
		var ife *invalidFieldError
		if _, _, err := appendRequest(nil, &Request{Scheme: "http", Authority: "a", Header: bad}); !errors.As(err, &ife) {
			t.Errorf("%v: %v, want invalidFieldError", bad, err)
		}
	}
	if _, _, err := appendRequest(nil, &Request{Scheme: "http"}); err != errBadRequest {
		t.Errorf("no authority: %v", err)
	}
}

// TestParseResponse checks the response rules of RFC 9113, Section 8.3.2
// and the field rules of Section 8.2.
func TestParseResponse(t *testing.T) {
	f := func(kv ...string) []headerField {
		var out []headerField
		for i := 0; i < len(kv); i += 2 {
			out = append(out, headerField{name: kv[i], value: kv[i+1]})
		}
		return out
	}
	status, h, reason := parseResponse(f(":status", "200", "sec-websocket-protocol", "chat", "x", "1", "x", "2"), false)
	if status != 200 || reason != "" || h.Get("Sec-WebSocket-Protocol") != "chat" || len(h["X"]) != 2 {
		t.Fatalf("%d %v %q", status, h, reason)
	}
	for _, tc := range []struct {
		fields   []headerField
		trailers bool
		want     string
	}{
		{f("x", "1"), false, reasonNoStatus},
		{f(":status", "20"), false, reasonBadStatus},
		{f(":status", "abc"), false, reasonBadStatus},
		{f(":status", "099"), false, reasonBadStatus},
		{f(":status", "200", ":status", "200"), false, reasonTwoStatus},
		{f(":status", "200", ":path", "/"), false, reasonPseudo},
		{f("x", "1", ":status", "200"), false, reasonPseudoLate},
		{f(":status", "200", "X", "1"), false, reasonFieldName},
		{f(":status", "200", "a b", "1"), false, reasonFieldName},
		{f(":status", "200", "transfer-encoding", "chunked"), false, reasonConnSpecific},
		{f(":status", "200", "x", "a\nb"), false, reasonFieldValue},
		{f(":status", "200"), true, reasonTrailerPseudo},
		{f("x", "1"), true, ""},
	} {
		if _, _, reason := parseResponse(tc.fields, tc.trailers); reason != tc.want {
			t.Errorf("%v: %q, want %q", tc.fields, reason, tc.want)
		}
	}
}
