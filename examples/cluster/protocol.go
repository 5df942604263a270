package main

import (
	"encoding/json"

	"github.com/ccf874ba/websocket"
)

// The client protocol: JSON text messages, documented in README.md.

// clientMsg is what a client sends: send, join or leave.
type clientMsg struct {
	Type  string  `json:"type"`
	Room  string  `json:"room"`
	Data  *string `json:"data"`  // send
	Ref   string  `json:"ref"`   // send: echoed in the ack or error
	Since *string `json:"since"` // join: resume after this id
}

// Error codes of {"type":"error"}.
const (
	errBadRequest   = "bad_request"    // malformed message or argument
	errNotJoined    = "not_joined"     // send or leave for a room not joined
	errJoined       = "already_joined" // join of a room already joined
	errTooManyRooms = "too_many_rooms" // join beyond the per-connection limit
	errRateLimited  = "rate_limited"   // send beyond the per-connection rate
	errUnavailable  = "unavailable"    // Redis unreachable: the message was not stored
	errUnconfirmed  = "unconfirmed"    // Redis did not answer: the message may or may not be stored
)

// roomMessage is the text every member of a room receives for each entry
// of its history: id is the entry's position, the "since" to resume from.
type roomMessage struct {
	Type string `json:"type"` // "message"
	ID   string `json:"id"`
	Room string `json:"room"`
	Data string `json:"data"`
}

// ackMsg confirms a send that carried a ref: the message is stored, at id.
type ackMsg struct {
	Type string `json:"type"` // "ack"
	Ref  string `json:"ref"`
	Room string `json:"room"`
	ID   string `json:"id"`
}

type errorMsg struct {
	Type    string `json:"type"` // "error"
	Code    string `json:"code"`
	Message string `json:"message"`
	Room    string `json:"room,omitempty"`
	Ref     string `json:"ref,omitempty"`
}

// prepareFixed makes a message whose every field is a room name or a
// stream id, neither of which needs JSON escaping (validRoom, parseID),
// by concatenation: cheaper than encoding/json on the join and ack paths,
// and shallow on the stack of the goroutine that sends it.
func prepareFixed(fields ...string) *websocket.PreparedMessage {
	b := make([]byte, 0, 96)
	b = append(b, '{')
	for i := 0; i+1 < len(fields); i += 2 {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, fields[i]...)
		b = append(b, `":"`...)
		b = append(b, fields[i+1]...)
		b = append(b, '"')
	}
	b = append(b, '}')
	pm, _ := websocket.NewPreparedMessage(websocket.MessageText, b)
	return pm
}

// joined tells a client it is live in a room from position id on:
// everything after id will follow. After a join with since, it comes once
// the missed entries have been sent.
func joined(room string, id streamID) *websocket.PreparedMessage {
	return prepareFixed("type", "joined", "room", room, "id", id.String())
}

// trimmed tells a client that entries after since may be gone from the
// history; delivery goes on from oldest, the oldest entry left ("" when the
// history is empty or lost).
func trimmed(room string, since streamID, oldest string) *websocket.PreparedMessage {
	return prepareFixed("type", "trimmed", "room", room, "since", since.String(), "oldest", oldest)
}

// prepare encodes v once as a text message, to be queued for one member
// or shared by all the members of a room.
func prepare(v any) *websocket.PreparedMessage {
	b, err := json.Marshal(v)
	if err != nil { // only strings and fixed types: cannot happen
		panic(err)
	}
	pm, err := websocket.NewPreparedMessage(websocket.MessageText, b)
	if err != nil {
		panic(err)
	}
	return pm
}

// validRoom reports whether name is a room name: 1 to 64 bytes of letters,
// digits, '-', '_' and '.'. Room names become Redis keys; a strict
// alphabet keeps them readable and out of other key spaces.
func validRoom(name string) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}
