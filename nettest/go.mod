module github.com/ccf874ba/websocket/nettest

go 1.26.0

replace github.com/ccf874ba/websocket => ../

require (
	github.com/ccf874ba/websocket v0.0.0-00010101000000-000000000000
	golang.org/x/net v0.62.0
)
