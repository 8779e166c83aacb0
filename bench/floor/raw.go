package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"strconv"
)

// serveRaw answers the http mode's requests with the least HTTP/1.1 that
// the load generator's sender understands: a goroutine per keep-alive
// connection, the request head read line by line with only Content-Length
// looked at, and one fixed answer written straight to the socket. No
// header maps, no request object, no chunking, no timeouts. Not a server
// anyone should run: the floor under any HTTP server in Go on this machine,
// next to net/http's (--server nethttp).
func (w *writerSide) serveRaw() {
	for {
		c, err := w.hln.Accept()
		if err != nil {
			return
		}
		go w.rawConn(c)
	}
}

var (
	rawAccepted = []byte("HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 25\r\n\r\n{\"id\":\"0123456789abcdef\"}")
	rawBad      = []byte("HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: 23\r\n\r\n{\"error\":\"bad request\"}")
	errHead     = errors.New("bad request head")
)

func (w *writerSide) rawConn(c net.Conn) {
	defer c.Close()
	r := bufio.NewReaderSize(c, 4096)
	var body []byte
	for {
		n, err := readHead(r)
		if err != nil || n > 64<<10 {
			return
		}
		if cap(body) < n {
			body = make([]byte, n)
		}
		body = body[:n]
		if _, err := io.ReadFull(r, body); err != nil {
			return
		}
		var req struct {
			To int    `json:"to"`
			P  string `json:"p"`
		}
		answer := rawAccepted
		if json.Unmarshal(body, &req) != nil || req.To < 0 || req.To >= len(w.conns) {
			answer = rawBad
		} else {
			if err := w.store(body); err != nil {
				return
			}
			w.locks[req.To].Lock()
			_, err = w.conns[req.To].Write(body)
			w.locks[req.To].Unlock()
			if err != nil {
				return
			}
			w.sent.Add(1)
		}
		if _, err := c.Write(answer); err != nil {
			return
		}
	}
}

// readHead reads a request's line and headers and returns its Content-Length.
func readHead(r *bufio.Reader) (int, error) {
	n := -1
	for first := true; ; first = false {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if first || n < 0 {
				return 0, errHead
			}
			return n, nil
		}
		name, value, ok := bytes.Cut(line, []byte(":"))
		if !first && ok && bytes.EqualFold(name, []byte("Content-Length")) {
			if n, err = strconv.Atoi(string(bytes.TrimSpace(value))); err != nil {
				return 0, errHead
			}
		}
	}
}
