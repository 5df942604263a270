//go:build !js

package websocket

import (
	"compress/flate"
	"errors"
	"strconv"
	"strings"
)

const defaultCompressionThreshold = 128

// defaultTakeoverThreshold is the default threshold under send context
// takeover: a message that repeats parts of the ones before it shrinks to a
// few bytes even when short, and a fixed-Huffman block has no header to
// pay for, so compression starts much lower.
const defaultTakeoverThreshold = 16

// lowerThreshold lowers the default threshold of a Conn once send
// takeover is agreed; a Threshold set in the options is kept.
func (cfg *deflateConfig) lowerThreshold(o *CompressionOptions) {
	if cfg.sendTakeover && o.Threshold == 0 {
		cfg.takeoverThreshold = defaultTakeoverThreshold
	}
}

// connThreshold is the size from which a Conn compresses a message. The
// Engine, which compresses every message on its own, keeps threshold.
func (cfg *deflateConfig) connThreshold() int {
	if cfg.sendTakeover && cfg.takeoverThreshold > 0 {
		return cfg.takeoverThreshold
	}
	return cfg.threshold
}

// deflateParams are the parameters of one permessage-deflate offer or
// response (RFC 7692, Section 7.1). A window of 0 means the parameter is
// absent; -1 means present without a value (client_max_window_bits in an
// offer).
type deflateParams struct {
	serverNoContextTakeover bool
	clientNoContextTakeover bool
	serverMaxWindowBits     int
	clientMaxWindowBits     int
}

// extension is one element of a Sec-WebSocket-Extensions header.
type extension struct {
	name   string
	params []extensionParam
}

type extensionParam struct {
	name, value string
	hasValue    bool
}

var errBadExtensions = errors.New("malformed Sec-WebSocket-Extensions header")

// Real offers name a few extensions with a few parameters each; the caps
// keep what a hostile header can make the parser allocate small.
const (
	maxExtensions      = 32
	maxExtensionParams = 16
)

// parseExtensions parses Sec-WebSocket-Extensions header values (RFC 6455,
// Section 9.1): a comma-separated list of tokens, each followed by
// ";"-separated parameters with optional token or quoted-string values. It
// runs in time linear in the input; more than maxExtensions extensions or
// maxExtensionParams parameters on one is treated as malformed.
func parseExtensions(values []string) ([]extension, error) {
	var exts []extension
	for _, v := range values {
		s := v
		for {
			s = skipSpace(s)
			if s == "" {
				break
			}
			if s[0] == ',' { // empty list elements are allowed (RFC 7230, Section 7)
				s = s[1:]
				continue
			}
			var e extension
			var ok bool
			if e.name, s, ok = cutToken(s); !ok {
				return nil, errBadExtensions
			}
			for {
				s = skipSpace(s)
				if s == "" || s[0] == ',' {
					break
				}
				if s[0] != ';' {
					return nil, errBadExtensions
				}
				s = skipSpace(s[1:])
				var p extensionParam
				if p.name, s, ok = cutToken(s); !ok {
					return nil, errBadExtensions
				}
				s = skipSpace(s)
				if s != "" && s[0] == '=' {
					s = skipSpace(s[1:])
					p.hasValue = true
					if s != "" && s[0] == '"' {
						if p.value, s, ok = cutQuoted(s); !ok {
							return nil, errBadExtensions
						}
					} else if p.value, s, ok = cutToken(s); !ok {
						return nil, errBadExtensions
					}
				}
				if len(e.params) == maxExtensionParams {
					return nil, errBadExtensions
				}
				e.params = append(e.params, p)
			}
			if len(exts) == maxExtensions {
				return nil, errBadExtensions
			}
			exts = append(exts, e)
		}
	}
	return exts, nil
}

func skipSpace(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	return s
}

// cutToken splits a leading token off s.
func cutToken(s string) (tok, rest string, ok bool) {
	i := 0
	for i < len(s) && isTokenByte(s[i]) {
		i++
	}
	return s[:i], s[i:], i > 0
}

// cutQuoted splits a leading quoted-string off s and returns its unquoted
// content.
func cutQuoted(s string) (val, rest string, ok bool) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			return b.String(), s[i+1:], true
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c < ' ' && c != '\t' || c == 0x7F:
			return "", "", false
		default:
			b.WriteByte(c)
		}
	}
	return "", "", false
}

// parseDeflate validates the parameters of a permessage-deflate element
// (RFC 7692, Section 7): only the four defined parameters, none twice, window
// bits 8 to 15 in decimal without leading zeros, a value required for
// server_max_window_bits and, in a response, for client_max_window_bits.
func parseDeflate(e extension, offer bool) (deflateParams, bool) {
	var p deflateParams
	seen := 0
	for _, q := range e.params {
		var bit int
		switch q.name {
		case "server_no_context_takeover":
			bit = 1
			p.serverNoContextTakeover = true
		case "client_no_context_takeover":
			bit = 2
			p.clientNoContextTakeover = true
		case "server_max_window_bits":
			bit = 4
			w, ok := windowBits(q)
			if !ok || w < 0 {
				return p, false
			}
			p.serverMaxWindowBits = w
		case "client_max_window_bits":
			bit = 8
			w, ok := windowBits(q)
			if !ok || (w < 0 && !offer) {
				return p, false
			}
			p.clientMaxWindowBits = w
		default:
			return p, false
		}
		if seen&bit != 0 {
			return p, false
		}
		seen |= bit
		if bit <= 2 && q.hasValue {
			return p, false
		}
	}
	return p, true
}

// windowBits reads a window bits value: -1 when there is none.
func windowBits(q extensionParam) (int, bool) {
	if !q.hasValue {
		return -1, true
	}
	v := q.value
	if len(v) == 0 || len(v) > 2 || v[0] == '0' {
		return 0, false
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 8 || n > 15 {
		return 0, false
	}
	return n, true
}

// deflateConfig is what a Conn needs to know about the negotiated
// permessage-deflate.
type deflateConfig struct {
	level     int
	threshold int // for messages compressed on their own
	// takeoverThreshold, if not 0, is what a Conn compresses from under
	// send takeover (connThreshold).
	takeoverThreshold int
	sendWindowBits    int  // the window our compressor must stay within
	sendTakeover      bool // compress with the history of earlier messages
	recvTakeover      bool // the peer may use context takeover: keep a dictionary
	recvWindowBits    int  // how much history the peer may refer to
}

func newDeflateConfig(o *CompressionOptions) *deflateConfig {
	cfg := &deflateConfig{level: o.Level, threshold: o.Threshold, sendWindowBits: 15, recvTakeover: true, recvWindowBits: 15}
	if cfg.level == 0 {
		cfg.level = flate.BestSpeed
	}
	if cfg.threshold <= 0 {
		cfg.threshold = defaultCompressionThreshold
	}
	return cfg
}

func (o *CompressionOptions) maxWindowBits() int {
	if o.MaxWindowBits >= 8 && o.MaxWindowBits < 15 {
		return o.MaxWindowBits
	}
	return 15
}

// acceptDeflate picks the first acceptable permessage-deflate offer from a
// client's Sec-WebSocket-Extensions header and returns the response value
// and the configuration. Malformed or unacceptable offers are declined, as
// RFC 7692, Section 5 asks, never answered with something not offered.
func acceptDeflate(values []string, o *CompressionOptions) (string, *deflateConfig) {
	exts, err := parseExtensions(values)
	if err != nil {
		return "", nil
	}
	for _, e := range exts {
		if e.name != "permessage-deflate" {
			continue
		}
		offer, ok := parseDeflate(e, true)
		if !ok {
			continue
		}
		cfg := newDeflateConfig(o)
		// Unless asked to keep its context, this endpoint compresses
		// every message on its own, and says so (Section 7.1.1.1 allows
		// it unasked); a client that asks server_no_context_takeover
		// gets it either way.
		resp := "permessage-deflate"
		if o.ContextTakeover && !offer.serverNoContextTakeover {
			cfg.sendTakeover = true
			cfg.lowerThreshold(o)
		} else {
			resp += "; server_no_context_takeover"
		}
		if offer.serverMaxWindowBits > 0 {
			cfg.sendWindowBits = offer.serverMaxWindowBits
			resp += "; server_max_window_bits=" + strconv.Itoa(offer.serverMaxWindowBits)
		}
		// A client that offers client_no_context_takeover will not use
		// context anyway; answering it makes that binding.
		if o.NoContextTakeover || offer.clientNoContextTakeover {
			cfg.recvTakeover = false
			resp += "; client_no_context_takeover"
		}
		if w := o.maxWindowBits(); offer.clientMaxWindowBits != 0 {
			if offer.clientMaxWindowBits > 0 {
				w = min(w, offer.clientMaxWindowBits)
			}
			cfg.recvWindowBits = w
			if w < 15 || offer.clientMaxWindowBits > 0 {
				resp += "; client_max_window_bits=" + strconv.Itoa(w)
			}
		}
		return resp, cfg
	}
	return "", nil
}

// deflateOffer is the Sec-WebSocket-Extensions value a client sends. It
// says it will not use context takeover (client_no_context_takeover)
// unless asked to keep its context, and can honour a window limit
// (client_max_window_bits).
func deflateOffer(o *CompressionOptions) string {
	s := "permessage-deflate; client_max_window_bits"
	if !o.ContextTakeover {
		s = "permessage-deflate; client_no_context_takeover; client_max_window_bits"
	}
	if o.NoContextTakeover {
		s += "; server_no_context_takeover"
	}
	if w := o.maxWindowBits(); w < 15 {
		s += "; server_max_window_bits=" + strconv.Itoa(w)
	}
	return s
}

// checkDeflateResponse validates the server's answer to deflateOffer.
func checkDeflateResponse(values []string, o *CompressionOptions) (*deflateConfig, error) {
	exts, err := parseExtensions(values)
	if err != nil {
		return nil, err
	}
	if len(exts) != 1 || exts[0].name != "permessage-deflate" {
		return nil, errors.New("server chose an extension that was not offered")
	}
	p, ok := parseDeflate(exts[0], false)
	if !ok {
		return nil, errors.New("invalid permessage-deflate parameters in response")
	}
	want := o.maxWindowBits()
	if p.serverMaxWindowBits > want || (o.NoContextTakeover && !p.serverNoContextTakeover) {
		return nil, errors.New("server did not accept the permessage-deflate limits offered")
	}
	cfg := newDeflateConfig(o)
	cfg.recvTakeover = !p.serverNoContextTakeover
	cfg.sendTakeover = o.ContextTakeover && !p.clientNoContextTakeover
	cfg.lowerThreshold(o)
	if p.serverMaxWindowBits > 0 {
		cfg.recvWindowBits = p.serverMaxWindowBits
	} else {
		cfg.recvWindowBits = 15
	}
	if p.clientMaxWindowBits > 0 {
		cfg.sendWindowBits = p.clientMaxWindowBits
	}
	return cfg, nil
}
