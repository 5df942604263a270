package main

import (
	"context"
	"errors"
	"net"
	"strings"

	"github.com/redis/go-redis/v9"
)

// history is the Redis side of the rooms: one stream per room, bounded to
// about maxLen entries.
type history struct {
	rdb    *redis.Client
	prefix string
	maxLen int64
}

// dataField is the stream entry field that holds a message's data.
const dataField = "d"

func (h *history) key(room string) string { return h.prefix + "room:" + room }

// add appends data to room's history and returns its id. XADD assigns the
// id, and with it the message's place in the room's order. MAXLEN ~ trims
// whole macro nodes, so the stream keeps at least maxLen entries (a few
// dozen more at times) at a fraction of the cost of exact trimming.
func (h *history) add(ctx context.Context, room, data string) (streamID, error) {
	s, err := h.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: h.key(room),
		MaxLen: h.maxLen,
		Approx: true,
		Values: []any{dataField, data},
	}).Result()
	if err != nil {
		return streamID{}, err
	}
	id, ok := parseID(s)
	if !ok {
		return streamID{}, errors.New("cluster: XADD returned id " + s)
	}
	return id, nil
}

// state reads what the stream at key says about itself.
func (h *history) state(ctx context.Context, key string) (streamState, error) {
	return infoState(h.rdb.XInfoStream(ctx, key))
}

// page reads up to count entries after pos and up to until (an id, or
// "+"), together with the stream's state at that instant (one MULTI), so
// that gapAfter(pos, state) tells whether anything between pos and the
// first entry returned has been trimmed away.
func (h *history) page(ctx context.Context, key string, pos streamID, until string, count int64) ([]redis.XMessage, streamState, error) {
	var info *redis.XInfoStreamCmd
	var rng *redis.XMessageSliceCmd
	_, err := h.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		info = p.XInfoStream(ctx, key)
		rng = p.XRangeN(ctx, key, "("+pos.String(), until, count)
		return nil
	})
	if err != nil && !isNoSuchKey(err) {
		return nil, streamState{}, err
	}
	st, err := infoState(info)
	if err != nil {
		return nil, streamState{}, err
	}
	msgs, err := rng.Result()
	if err != nil && err != redis.Nil {
		return nil, streamState{}, err
	}
	return msgs, st, nil
}

func infoState(cmd *redis.XInfoStreamCmd) (streamState, error) {
	v, err := cmd.Result()
	if isNoSuchKey(err) {
		return streamState{}, nil
	}
	if err != nil {
		return streamState{}, err
	}
	st := streamState{exists: true, length: v.Length, entriesAdded: v.EntriesAdded}
	st.lastGen, _ = parseID(v.LastGeneratedID)
	if v.Length > 0 {
		var ok bool
		if st.first, ok = parseID(v.FirstEntry.ID); !ok {
			return streamState{}, errors.New("cluster: XINFO STREAM without a first entry")
		}
	}
	return st, nil
}

func isNoSuchKey(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && strings.Contains(re.Error(), "no such key")
}

// notStored reports whether err proves that a command never reached
// Redis: the connection could not be made. After any other failure (a
// timeout, a connection lost while waiting for the reply) the command may
// have run.
func notStored(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, redis.ErrPoolTimeout) || errors.Is(err, redis.ErrClosed)
}

// entryData returns the data field of a stream entry.
func entryData(m redis.XMessage) string {
	s, _ := m.Values[dataField].(string)
	return s
}
