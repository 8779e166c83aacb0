package herald

// AppendCounter is a Store that sees every append made to it (one process
// owns it: the embedded store of `herald all`) and counts them, so that a
// reader can tell nothing was stored since it last looked and skip its work.
// A push node's catch-up uses it: on an idle node it would otherwise read
// every local user's newest seq every interval to find nothing new. A
// store that other processes write to (MongoDB with several collect
// instances) must not implement it.
type AppendCounter interface {
	// Appends is how many Appends have succeeded since the store was
	// opened; it grows after an Append's messages can be read.
	Appends() uint64
}
