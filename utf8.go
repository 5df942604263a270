package websocket

import "unicode/utf8"

// utf8State validates UTF-8 text that arrives in pieces, as a fragmented
// text message does (RFC 6455, Section 8.1). It fails at the first byte that
// cannot be part of valid UTF-8, not at the end of the message, so that an
// endpoint can fail the connection as soon as the bad byte arrives.
//
// The zero value is ready to use. The state between calls is the number of
// continuation bytes still owed by the last code point and the range the
// next one must fall in, which is what rules out overlong forms, surrogates
// and code points above U+10FFFF before the sequence is complete.
type utf8State struct {
	need   uint8 // continuation bytes still expected
	lo, hi byte  // range of the next continuation byte
}

// feed validates the next piece of text and reports whether everything fed
// so far is a valid prefix of UTF-8.
func (s *utf8State) feed(p []byte) bool {
	// Finish a code point left open by the previous piece.
	for s.need > 0 {
		if len(p) == 0 {
			return true
		}
		if c := p[0]; c < s.lo || c > s.hi {
			return false
		}
		s.lo, s.hi = 0x80, 0xBF
		s.need--
		p = p[1:]
	}
	// Split off a code point cut by the end of p; the rest is whole and
	// goes to utf8.Valid, which has a fast path for ASCII.
	cut := len(p)
	for i := len(p) - 1; i >= 0 && i >= len(p)-3; i-- {
		c := p[i]
		if c < 0x80 {
			break
		}
		if c >= 0xC0 {
			if len(p)-i < leadLen(c) {
				cut = i
			}
			break
		}
	}
	if !utf8.Valid(p[:cut]) {
		return false
	}
	for _, c := range p[cut:] {
		if !s.step(c) {
			return false
		}
	}
	return true
}

// step advances the state by one byte of an incomplete trailing sequence.
func (s *utf8State) step(c byte) bool {
	if s.need > 0 {
		if c < s.lo || c > s.hi {
			return false
		}
		s.lo, s.hi = 0x80, 0xBF
		s.need--
		return true
	}
	s.lo, s.hi = 0x80, 0xBF
	switch {
	case c < 0x80:
	case c >= 0xC2 && c <= 0xDF:
		s.need = 1
	case c == 0xE0:
		s.need, s.lo = 2, 0xA0 // no overlong 3-byte forms
	case c == 0xED:
		s.need, s.hi = 2, 0x9F // no UTF-16 surrogates
	case c >= 0xE1 && c <= 0xEF:
		s.need = 2
	case c == 0xF0:
		s.need, s.lo = 3, 0x90 // no overlong 4-byte forms
	case c >= 0xF1 && c <= 0xF3:
		s.need = 3
	case c == 0xF4:
		s.need, s.hi = 3, 0x8F // nothing above U+10FFFF
	default:
		return false
	}
	return true
}

// done reports whether the text fed so far ends on a code point boundary.
func (s *utf8State) done() bool { return s.need == 0 }

// leadLen returns the length of the sequence a lead byte starts, or 0 for a
// byte that cannot start one.
func leadLen(c byte) int {
	switch {
	case c < 0x80:
		return 1
	case c >= 0xC2 && c <= 0xDF:
		return 2
	case c >= 0xE0 && c <= 0xEF:
		return 3
	case c >= 0xF0 && c <= 0xF4:
		return 4
	}
	return 0
}
