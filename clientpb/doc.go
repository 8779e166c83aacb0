// Package clientpb is Herald's client protocol as Protocol Buffers, the
// WebSocket subprotocol herald.v1.protobuf (docs/protocol.md, "Protobuf"):
// ServerFrame and ClientFrame mirror the JSON frames field for field.
// client.pb.go is generated from client.proto by `make generate`.
package clientpb
