package herald

import (
	"context"
	"time"
)

// Receipt is what became of one message on one device of one recipient:
// written to the device's socket (Delivered), and covered by the device's
// cumulative ack (Acked). Device is the connection's device ID, or the
// connection's ID for a connection without one. Topic messages and
// broadcasts have no receipts: a receipt per subscriber of a broadcast would
// be millions of rows per message.
type Receipt struct {
	MsgID     string
	User      string
	Device    string
	Seq       Seq
	Delivered time.Time // the first time it was written to this device
	Acked     time.Time // zero until the device acked it
}

// AckAt is a device's cumulative ack and when it came.
type AckAt struct {
	Ack
	At time.Time
}

// ReceiptStore keeps receipts next to the messages. Receipts are a record of
// what happened, written in batches after the fact; they never hold up a
// delivery, and a receipt lost to a crash is a gap in the record, not a lost
// message.
type ReceiptStore interface {
	// Message returns a stored message with its recipients and their seqs
	// (nil when no message has the ID: never sent, or past retention).
	Message(ctx context.Context, id string) (*Message, error)
	// SaveDelivered records deliveries; a receipt already recorded keeps its
	// first delivery time. rs is the caller's again once it returns (push
	// nodes reuse the slice for the next flush).
	SaveDelivered(ctx context.Context, rs []Receipt) error
	// SaveAcked marks the receipts of each (user, device) with seqs up to
	// the ack's as acked at its time (those not acked before).
	SaveAcked(ctx context.Context, acks []AckAt) error
	// Receipts returns the receipts of a message, in no order.
	Receipts(ctx context.Context, msgID string) ([]Receipt, error)
}

// PushReceipt is what became of a message's notification on one device:
// pushed through its provider at At, or refused (Failed: the provider's
// reason).
type PushReceipt struct {
	MsgID    string    `json:"m"`
	User     string    `json:"u"`
	Device   string    `json:"d"`
	Provider string    `json:"p"`
	At       time.Time `json:"t"`
	Failed   string    `json:"f,omitempty"`
}

// PushReceipts keeps the push receipts next to the other receipts, and
// removes them with their message.
type PushReceipts interface {
	// SavePushed records pushes; a later one for the same device replaces
	// the earlier (a failure, then a retry that went through).
	SavePushed(ctx context.Context, rs []PushReceipt) error
	// PushReceipts returns a message's, in no order.
	PushReceipts(ctx context.Context, msgID string) ([]PushReceipt, error)
}
