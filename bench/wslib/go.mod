module github.com/heraldpush/herald/bench/wslib

go 1.27

toolchain go1.27.3

require (
	github.com/gobwas/ws v1.5.0
	github.com/gorilla/websocket v1.5.3
	github.com/heraldpush/herald v0.0.0
	github.com/lesismal/nbio v1.6.8
	github.com/lxzan/gws v1.8.9
)

require (
	github.com/dolthub/maphash v0.1.0 // indirect
	github.com/gobwas/httphead v0.1.0 // indirect
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/lesismal/llib v1.2.2 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)

// Herald's own WebSocket layer (internal/ws, internal/netpoll), measured bare.
replace github.com/heraldpush/herald => ../..
