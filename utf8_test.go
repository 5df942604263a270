package websocket

import (
	"testing"
	"unicode/utf8"
)

var utf8Cases = []struct {
	name string
	s    string
}{
	{"ascii", "Hello, world"},
	{"greek", "κόσμε"},
	{"cjk", "日本語のテキスト"},
	{"emoji", "😀👍🏽"},
	{"max code point", "\U0010FFFF"},
	{"last before surrogates", "\uD7FF"},
	{"first after surrogates", "\uE000"},
	{"overlong 2-byte", "\xC0\xAF"},
	{"overlong 3-byte", "\xE0\x80\xAF"},
	{"overlong 4-byte", "\xF0\x80\x80\xAF"},
	{"surrogate", "\xED\xA0\x80"},
	{"above U+10FFFF", "\xF4\x90\x80\x80"},
	{"lone continuation", "\x80"},
	{"F5 lead", "\xF5\x80\x80\x80"},
	{"FF", "\xFF"},
	{"truncated at end", "ab\xE2\x82"},
	{"autobahn 6.4.1", "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80\x65\x64\x69\x74\x65\x64"},
	{"long ascii then bad", "0123456789abcdef0123456789abcdef\xC3\x28"},
}

// Fed whole or in every split into two pieces, the validator agrees with
// utf8.ValidString.
func TestUTF8MatchesStdlib(t *testing.T) {
	for _, tc := range utf8Cases {
		want := utf8.ValidString(tc.s)
		for cut := 0; cut <= len(tc.s); cut++ {
			var s utf8State
			got := s.feed([]byte(tc.s[:cut])) && s.feed([]byte(tc.s[cut:])) && s.done()
			if got != want {
				t.Errorf("%s split at %d: valid=%v, want %v", tc.name, cut, got, want)
			}
		}
	}
}

// RFC 6455, Section 8.1 and Autobahn 6.4: fail at the first byte that
// cannot continue valid UTF-8, fed one byte at a time.
func TestUTF8FailsFast(t *testing.T) {
	tests := []struct {
		s       string
		failsAt int // index of the first byte that must be rejected
	}{
		{"\xce\xba\xf4\x90\x80\x80", 3}, // F4 90: above U+10FFFF at the 2nd byte
		{"ab\xED\xA0\x80", 3},           // surrogate at the 2nd byte
		{"\xE0\x80", 1},                 // overlong at the 2nd byte
		{"\xF0\x8F", 1},                 // overlong 4-byte at the 2nd byte
		{"\xC0", 0},
		{"abc\xFE", 3},
		{"\xE2\x82\x28", 2},
	}
	for _, tt := range tests {
		var s utf8State
		for i := 0; i < len(tt.s); i++ {
			ok := s.feed([]byte{tt.s[i]})
			if ok != (i < tt.failsAt) {
				t.Errorf("%q: byte %d accepted=%v, want failure first at %d", tt.s, i, ok, tt.failsAt)
				break
			}
			if !ok {
				break
			}
		}
	}
}

func TestUTF8Allocs(t *testing.T) {
	p := []byte("κόσμε and some ascii text to go with it")
	if n := testing.AllocsPerRun(100, func() {
		var s utf8State
		s.feed(p[:7])
		s.feed(p[7:])
	}); n != 0 {
		t.Errorf("feed: %v allocs, want 0", n)
	}
}

func FuzzUTF8(f *testing.F) {
	for _, tc := range utf8Cases {
		f.Add([]byte(tc.s), 3)
	}
	f.Fuzz(func(t *testing.T, b []byte, chunk int) {
		if chunk <= 0 {
			chunk = 1
		}
		var s utf8State
		ok := true
		for p := b; len(p) > 0 && ok; {
			n := min(chunk, len(p))
			ok = s.feed(p[:n])
			p = p[n:]
		}
		if got, want := ok && s.done(), utf8.Valid(b); got != want {
			t.Fatalf("valid=%v, utf8.Valid=%v for % x in chunks of %d", got, want, b, chunk)
		}
	})
}

func BenchmarkUTF8(b *testing.B) {
	p := []byte(string(make([]byte, 0)) + "The quick brown fox jumps over the lazy dog. κόσμε 日本語 ")
	for len(p) < 4096 {
		p = append(p, p...)
	}
	b.SetBytes(int64(len(p)))
	for b.Loop() {
		var s utf8State
		s.feed(p)
	}
}
