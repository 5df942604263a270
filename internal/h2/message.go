package h2

import (
	"errors"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// HTTP semantics over HTTP/2 (RFC 9113, Section 8) for the extended
// CONNECT of RFC 8441: building the request's header block and checking
// the response's fields.

// Request is an extended CONNECT request (RFC 8441, Section 4).
type Request struct {
	Scheme    string // :scheme, "https" or "http"
	Authority string // :authority, host[:port]
	Path      string // :path with the query; "/" when empty
	Protocol  string // :protocol; "websocket" when empty

	// Header holds further fields, sent with lower-case names. Fields
	// HTTP/2 forbids or RFC 8441 replaces are left out: Connection,
	// Keep-Alive, Proxy-Connection, Transfer-Encoding, Upgrade, Host, TE,
	// HTTP2-Settings and Sec-WebSocket-Key (RFC 9113, Section 8.2.2; RFC
	// 8441, Section 5). Authorization, Proxy-Authorization and Cookie are
	// sent "never indexed" (RFC 7541, Section 7.1.3).
	Header http.Header
}

// Response is the server's answer to an extended CONNECT: a 2xx status
// opens the stream (RFC 8441, Section 5; there is no
// Sec-WebSocket-Accept). Header has canonical keys, as net/http's.
type Response struct {
	StatusCode int
	Header     http.Header
}

// StatusError is what [ClientConn.OpenStream] returns when the server
// answers with a status other than 2xx. Body holds the first bytes of the
// response body (up to 1 KiB) for the caller to report; the stream has
// been closed.
type StatusError struct {
	Response
	Body []byte
}

func (e *StatusError) Error() string {
	return "websocket: http2: server answered the extended CONNECT with " +
		strconv.Itoa(e.StatusCode) + " " + http.StatusText(e.StatusCode)
}

// maxErrorBody is how much of a refusal's body OpenStream keeps.
const maxErrorBody = 1024

var errBadRequest = errors.New("websocket: http2: request needs a scheme and an authority")

// omitted are the request fields that are never sent.
var omitted = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true,
	"transfer-encoding": true, "upgrade": true, "host": true, "te": true,
	"http2-settings": true, "sec-websocket-key": true,
}

// sensitive are the fields sent "never indexed".
var sensitive = map[string]bool{"authorization": true, "proxy-authorization": true, "cookie": true}

// invalidFieldError names a request field that cannot be sent.
type invalidFieldError struct{ name string }

func (e *invalidFieldError) Error() string {
	return "websocket: http2: invalid request header field " + strconv.Quote(e.name)
}

// appendRequest appends req's header block and returns it with the header
// list size (RFC 9113, Section 6.5.2).
func appendRequest(dst []byte, req *Request) ([]byte, uint64, error) {
	if req.Scheme == "" || req.Authority == "" {
		return dst, 0, errBadRequest
	}
	path, proto := req.Path, req.Protocol
	if path == "" {
		path = "/"
	}
	if proto == "" {
		proto = "websocket"
	}
	var size uint64
	add := func(f headerField) {
		dst = appendField(dst, f)
		size += f.size()
	}
	// RFC 8441, Section 4: ":method" CONNECT, ":protocol", and the
	// ":scheme" and ":path" a plain CONNECT lacks.
	add(headerField{name: ":method", value: "CONNECT"})
	add(headerField{name: ":protocol", value: proto})
	add(headerField{name: ":scheme", value: req.Scheme})
	add(headerField{name: ":path", value: path})
	add(headerField{name: ":authority", value: req.Authority})
	for name, values := range req.Header {
		lower := strings.ToLower(name)
		if omitted[lower] {
			continue
		}
		if !validFieldName(lower) {
			return dst, 0, &invalidFieldError{name}
		}
		for _, v := range values {
			if !validFieldValue(v) || strings.TrimSpace(v) != v {
				return dst, 0, &invalidFieldError{name}
			}
			add(headerField{name: lower, value: v, sensitive: sensitive[lower]})
		}
	}
	return dst, size, nil
}

// Reasons a response is malformed (RFC 9113, Section 8.1.1), each a stream
// error of type PROTOCOL_ERROR.
const (
	reasonNoStatus       = "response without :status"
	reasonBadStatus      = "response :status not three digits"
	reasonTwoStatus      = "response with two :status"
	reasonPseudo         = "response pseudo-header other than :status"
	reasonPseudoLate     = "pseudo-header after a regular field"
	reasonFieldName      = "invalid response field name (RFC 9113, Section 8.2.1)"
	reasonFieldValue     = "response field value with NUL, CR or LF"
	reasonConnSpecific   = "connection-specific response field (RFC 9113, Section 8.2.2)"
	reasonTrailerPseudo  = "pseudo-header in trailers"
	reasonStatus101      = "status 101 is not allowed in HTTP/2 (RFC 9113, Section 8.6)"
	reasonInterimEnd     = "1xx response with END_STREAM"
	reasonTooManyInterim = "too many 1xx responses"
)

// connSpecific are the fields HTTP/2 forbids (RFC 9113, Section 8.2.2).
var connSpecific = map[string]bool{
	"connection": true, "keep-alive": true, "proxy-connection": true,
	"transfer-encoding": true, "upgrade": true,
}

// parseResponse checks a response's fields and returns its status and
// header, or the reason it is malformed. With trailers set it checks
// trailers, which carry no pseudo-header, and builds no header.
func parseResponse(fields []headerField, trailers bool) (status int, h http.Header, reason string) {
	regular := false
	for _, f := range fields {
		if strings.HasPrefix(f.name, ":") {
			switch {
			case trailers:
				return 0, nil, reasonTrailerPseudo
			case regular:
				return 0, nil, reasonPseudoLate
			case f.name != ":status":
				return 0, nil, reasonPseudo
			case status != 0:
				return 0, nil, reasonTwoStatus
			}
			if len(f.value) != 3 {
				return 0, nil, reasonBadStatus
			}
			n, err := strconv.Atoi(f.value)
			if err != nil || n < 100 {
				return 0, nil, reasonBadStatus
			}
			status = n
			continue
		}
		regular = true
		switch {
		case !validFieldName(f.name):
			return 0, nil, reasonFieldName
		case connSpecific[f.name]:
			return 0, nil, reasonConnSpecific
		case !validFieldValue(f.value):
			return 0, nil, reasonFieldValue
		}
		if !trailers {
			if h == nil {
				h = make(http.Header, len(fields))
			}
			k := textproto.CanonicalMIMEHeaderKey(f.name)
			h[k] = append(h[k], f.value)
		}
	}
	if trailers {
		return 0, nil, ""
	}
	if status == 0 {
		return 0, nil, reasonNoStatus
	}
	if h == nil {
		h = http.Header{}
	}
	return status, h, ""
}

// validFieldName reports whether name is a lower-case token (RFC 9113,
// Section 8.2.1; RFC 9110, Section 5.1).
func validFieldName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c >= 0x80 || !tokenChar[c] || ('A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// validFieldValue reports whether v has no NUL, CR or LF, which RFC 9113,
// Section 8.2.1 forbids in any case. Leading and trailing whitespace,
// which it also forbids, is refused only when sending.
func validFieldValue(v string) bool {
	return !strings.ContainsAny(v, "\x00\r\n")
}

var tokenChar = func() (t [128]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
