//go:build !unix

package websocket

// raiseFileLimit is a guess where RLIMIT_NOFILE does not exist.
func raiseFileLimit() (uint64, error) { return 16384, nil }
