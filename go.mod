module github.com/ccf874ba/websocket

go 1.26
