//go:build race

package websocket

// raceEnabled: under the race detector sync.Pool drops items at random, so
// allocation budgets that rest on a pool cannot hold; .ci/run checks them
// in a run without -race.
const raceEnabled = true
