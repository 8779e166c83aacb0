// Package e2e holds the load generator's end-to-end tests: every mode of
// herald-bench against a real herald all (and Centrifugo, and the WebSocket
// libraries it was compared with), and the cluster figures of make
// bench-cluster. The server's own end-to-end tests are the main module's e2e.
package e2e
