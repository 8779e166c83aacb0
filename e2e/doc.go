// Package e2e holds end-to-end tests that run the built herald binary as real
// processes and talk to it only through its public contract
// (docs/protocol.md, docs/api.md).
package e2e
