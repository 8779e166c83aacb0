package main

import "runtime/debug"

// init fills version in for a binary built by `go install
// github.com/heraldpush/herald/cmd/herald@vX.Y.Z`, which sets no -ldflags
// but records the module's version in the binary.
func init() {
	if version != "dev" {
		return
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		version = bi.Main.Version
	}
}
