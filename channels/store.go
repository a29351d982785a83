package channels

import (
	"context"
	"time"

	"claimline/casesvc"
)

// Store keeps conversations and their transcripts. channels/sqlitestore is the embedded implementation;
// a Redis/SQL one for scaled-out mode must keep the same rules, checked by one shared contract test.
//
// Rules every implementation must keep:
//   - Seqs are per conversation, start at 1 and grow by exactly 1 for every stored message, inbound or
//     outbound, with no gaps; a seq is allocated in the same atomic step as the message is stored.
//   - AppendInbound is atomic and dedupes on (conversation, ClientID) when ClientID is not empty: a repeat
//     stores nothing and returns the message first stored, with dup=true. Concurrent repeats store one.
//   - CommitTurn is atomic: the replies (with the next seqs), the new dialog state and the "handled" mark
//     of the inbound message are all stored or none is. A second commit for the same inbound (or a second
//     opening turn) stores nothing and fails with casesvc.ECONFLICT.
//   - Unhandled returns every stored inbound message not yet marked handled, ordered by conversation and
//     seq, so a crash between AppendInbound and CommitTurn is recovered by re-running those turns.
//   - Events (Inbound.Event set) are stored like inbound messages (same seq, dedupe, handled mark and
//     Unhandled) with Direction DirEvent and From FromSystem.
//   - When Turn.Deliver is set, CommitTurn writes one pending Delivery per reply in the same
//     transaction. A delivery moves pending → sent or pending → failed, never back; the part marks of
//     DeliveryPartSent are conditional on the parts already recorded, so a part is recorded once.
//   - DueDeliveries returns, per conversation, only the pending delivery with the lowest seq (the
//     head of that conversation's line), and only when its next attempt is due.
//   - Receipt statuses (MarkDeliveryStatus) only move forward: queued < sending < sent < delivered;
//     delivered, undelivered and failed are terminal. A backward or repeated status is ignored.
//   - Returned values are copies: callers may keep and change them.
//
// Errors are casesvc errors: ENOTFOUND for an unknown conversation or message, ECONFLICT as above,
// EINTERNAL for anything else.
type Store interface {
	// OpenConversation returns the conversation of (channel, contact), creating it with lang when there
	// is none; created reports which.
	OpenConversation(ctx context.Context, channel, contact, lang string) (conv *Conversation, created bool, err error)
	// FindConversation returns the conversation of (channel, contact) or ENOTFOUND; it never creates one.
	FindConversation(ctx context.Context, channel, contact string) (*Conversation, error)
	// Conversation returns a conversation by id or ENOTFOUND.
	Conversation(ctx context.Context, id string) (*Conversation, error)
	// AppendInbound stores a customer message with the conversation's next seq (see the rules).
	AppendInbound(ctx context.Context, conversation string, in Inbound) (msg Message, dup bool, err error)
	// CommitTurn stores a turn's outcome atomically and returns the stored replies with their seqs.
	CommitTurn(ctx context.Context, t Turn) ([]Message, error)
	// Unhandled returns the inbound messages whose turn was never committed.
	Unhandled(ctx context.Context) ([]Message, error)
	// MessagesAfter returns up to limit messages with seq > afterSeq, in seq order.
	MessagesAfter(ctx context.Context, conversation string, afterSeq int64, limit int) ([]Message, error)

	// DueDeliveries returns up to limit heads of line (see the rules) whose next attempt is at or
	// before now, the longest waiting first; it may fill each one's Message.
	DueDeliveries(ctx context.Context, now time.Time, limit int) ([]Delivery, error)
	// DeliveryPartSent records that part (0-based) of a pending delivery was accepted by the provider
	// under providerID (may be ""); last marks the delivery sent. ECONFLICT when the delivery is not
	// pending with exactly part parts sent (someone else recorded it), ENOTFOUND when there is none.
	DeliveryPartSent(ctx context.Context, conversation string, seq int64, part int, providerID string, last bool, at time.Time) error
	// DeliveryRetry counts a failed attempt of a pending delivery and sets its next attempt.
	DeliveryRetry(ctx context.Context, conversation string, seq int64, next time.Time, code string, at time.Time) error
	// DeliveryFailed counts a failed attempt and gives the pending delivery up.
	DeliveryFailed(ctx context.Context, conversation string, seq int64, code string, at time.Time) error
	// MarkDeliveryStatus records a provider's status callback for providerID, forward only.
	// EINVALID for an unknown status, ENOTFOUND for an unknown provider id.
	MarkDeliveryStatus(ctx context.Context, providerID, status string, at time.Time) error
	// Deliveries returns a conversation's deliveries with their receipts, in seq order.
	Deliveries(ctx context.Context, conversation string) ([]Delivery, error)
	// OutboxDepth counts the pending deliveries.
	OutboxDepth(ctx context.Context) (int, error)
}

// InboundTurnStore is the optional capability of a Store behind one-write turns (Router.Converse): a
// customer message and the turn that answers it stored in one atomic step, after the turn ran.
//
// Rules, besides Store's:
//   - CommitInbound stores in as the conversation's next message, already handled, then t's replies
//     with the seqs after it (replying to it), the new state and, with t.Deliver, one pending delivery
//     per reply: all or nothing. t.InboundSeq is ignored (the inbound's seq is lastSeq+1).
//   - It does so only while the conversation's last seq is still lastSeq, the seq the turn ran after;
//     otherwise it stores nothing and fails with ErrSeqMoved (the caller stores the message alone and
//     runs its turn again after the messages stored meanwhile, so turns stay in seq order).
//   - A repeated ClientID stores nothing and returns the message first stored with dup=true, as
//     AppendInbound does, whatever lastSeq: the turn is dropped.
//   - ENOTFOUND for an unknown conversation.
type InboundTurnStore interface {
	Store
	CommitInbound(ctx context.Context, conversation string, in Inbound, lastSeq int64, t Turn) (msg Message, replies []Message, dup bool, err error)
}

// ConversationIDOpener is the optional capability of a Store whose OpenConversation can answer with
// the conversation's id alone, without reading the conversation (Converse needs nothing else). A
// (channel, contact)'s conversation id never changes once made, so a store may keep it: the Redis
// store answers a known contact with no round trip.
//   - OpenConversationID returns the id OpenConversation would return, creating the conversation
//     when missing.
type ConversationIDOpener interface {
	OpenConversationID(ctx context.Context, channel, contact, lang string) (string, error)
}

// ErrSeqMoved is CommitInbound's refusal of a turn that ran on an older conversation (compare with
// errors.Is): a message was stored since the turn read the conversation.
var ErrSeqMoved = casesvc.Errorf(casesvc.ECONFLICT, "A message was stored since the turn began.")

// Turn is the outcome of one dialog turn, committed by Store.CommitTurn.
type Turn struct {
	Conversation string
	// InboundSeq is the inbound message the turn handled; 0 marks the opening turn, which sets Started.
	InboundSeq int64
	State      []byte
	// Replies need From, Text and optionally Buttons and Agent; the store sets the rest.
	Replies []Message
	At      time.Time
	// Deliver asks for a pending Delivery per reply: the conversation's channel pushes its messages
	// through a Sender (Router.RegisterSender).
	Deliver bool
}

// Delivery statuses (the outbox row of one outbound message of a push channel).
const (
	DeliveryPending = "pending"
	DeliverySent    = "sent"
	DeliveryFailed  = "failed"
)

// Receipt statuses reported by a provider (Twilio's status callbacks), in their forward order.
const (
	ReceiptQueued      = "queued"
	ReceiptSending     = "sending"
	ReceiptSent        = "sent"
	ReceiptDelivered   = "delivered"
	ReceiptUndelivered = "undelivered"
	ReceiptFailed      = "failed"
)

// ReceiptRank orders receipt statuses; 0 is unknown. Terminal statuses share the top rank.
func ReceiptRank(status string) int {
	switch status {
	case ReceiptQueued:
		return 1
	case ReceiptSending:
		return 2
	case ReceiptSent:
		return 3
	case ReceiptDelivered, ReceiptUndelivered, ReceiptFailed:
		return 4
	}
	return 0
}

// Delivery is the outbox record of one outbound message (conversation, seq) of a push channel.
type Delivery struct {
	Conversation string
	Seq          int64
	Channel      string
	Status       string // DeliveryPending, DeliverySent, DeliveryFailed
	PartsSent    int    // rendered parts already accepted by the provider
	Attempts     int    // failed attempts so far
	NextAt       time.Time
	LastError    string // an error code, never a provider's text
	Receipts     []Receipt
	Created      time.Time
	Updated      time.Time
	// Message, when set, is the delivery's message as stored, read along with it (DueDeliveries may
	// fill it; stored messages do not change), so the outbox need not read it back. Nil otherwise.
	Message *Message
}

// Receipt is one provider message (a rendered part) of a delivery and its reported status.
type Receipt struct {
	ProviderID string
	Part       int
	Status     string
	Updated    time.Time
}
