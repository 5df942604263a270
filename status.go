package websocket

import (
	"encoding/binary"
	"strconv"
	"unicode/utf8"
)

// This file is part of the protocol core: close status codes and the close
// frame payload (RFC 6455, Sections 5.5.1 and 7.4). It works on values and
// byte slices only.

// StatusCode is a close status code (RFC 6455, Section 7.4; the IANA
// "WebSocket Close Code Number Registry").
type StatusCode int

// The registered status codes. 1005, 1006 and 1015 are reserved for reporting
// and are never sent on the wire.
const (
	StatusNormalClosure           StatusCode = 1000
	StatusGoingAway               StatusCode = 1001
	StatusProtocolError           StatusCode = 1002
	StatusUnsupportedData         StatusCode = 1003
	StatusNoStatusReceived        StatusCode = 1005
	StatusAbnormalClosure         StatusCode = 1006
	StatusInvalidFramePayloadData StatusCode = 1007
	StatusPolicyViolation         StatusCode = 1008
	StatusMessageTooBig           StatusCode = 1009
	StatusMandatoryExtension      StatusCode = 1010
	StatusInternalError           StatusCode = 1011
	StatusServiceRestart          StatusCode = 1012
	StatusTryAgainLater           StatusCode = 1013
	StatusBadGateway              StatusCode = 1014
	StatusTLSHandshake            StatusCode = 1015
)

var statusNames = map[StatusCode]string{
	StatusNormalClosure:           "normal closure",
	StatusGoingAway:               "going away",
	StatusProtocolError:           "protocol error",
	StatusUnsupportedData:         "unsupported data",
	StatusNoStatusReceived:        "no status",
	StatusAbnormalClosure:         "abnormal closure",
	StatusInvalidFramePayloadData: "invalid payload data",
	StatusPolicyViolation:         "policy violation",
	StatusMessageTooBig:           "message too big",
	StatusMandatoryExtension:      "mandatory extension",
	StatusInternalError:           "internal server error",
	StatusServiceRestart:          "service restart",
	StatusTryAgainLater:           "try again later",
	StatusBadGateway:              "bad gateway",
	StatusTLSHandshake:            "TLS handshake",
}

// String returns the code and its registered name, as in "1001 (going away)".
func (c StatusCode) String() string {
	s := strconv.Itoa(int(c))
	if name, ok := statusNames[c]; ok {
		return s + " (" + name + ")"
	}
	return s
}

// validWireCode reports whether code may appear in a close frame, in either
// direction (RFC 6455, Section 7.4). 1004 is reserved, 1005, 1006 and 1015 must never
// appear on the wire, 1016-2999 are unassigned or reserved for future
// revisions, and 3000-4999 belong to libraries and applications.
func validWireCode(code StatusCode) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// parseClosePayload decodes the payload of a received close frame
// (RFC 6455, Section 5.5.1). An empty payload means no code was given. A
// 1-byte payload, an invalid code or a reason that is not UTF-8 is an error
// whose Code is the close code to answer with.
func parseClosePayload(p []byte) (code StatusCode, reason []byte, err error) {
	switch {
	case len(p) == 0:
		return StatusNoStatusReceived, nil, nil
	case len(p) == 1:
		return 0, nil, errCloseTooShort
	}
	code = StatusCode(binary.BigEndian.Uint16(p))
	if !validWireCode(code) {
		return 0, nil, errInvalidCloseCode
	}
	if !utf8.Valid(p[2:]) {
		return 0, nil, errInvalidCloseReasonUTF8
	}
	return code, p[2:], nil
}

// appendClosePayload appends a close frame payload to dst. The code
// StatusNoStatusReceived gives an empty payload, as it must never be sent.
// The reason is cut, at a code point boundary, to fit the 125-byte control
// frame limit.
func appendClosePayload(dst []byte, code StatusCode, reason string) []byte {
	if code == StatusNoStatusReceived {
		return dst
	}
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	if len(reason) > maxControlPayload-2 {
		n := maxControlPayload - 2
		for n > 0 && !utf8.RuneStart(reason[n]) {
			n--
		}
		reason = reason[:n]
	}
	return append(dst, reason...)
}

// checkCloseArgs reports whether Close may send code and reason: a code
// that may appear on the wire, or StatusNoStatusReceived for a close frame
// without a code (and then without a reason), and a reason in UTF-8. A
// reason too long for a control frame is not an error: appendClosePayload
// cuts it.
func checkCloseArgs(code StatusCode, reason string) bool {
	if code == StatusNoStatusReceived {
		return reason == ""
	}
	return validWireCode(code) && utf8.ValidString(reason)
}
