package channels

import (
	"context"
	"time"
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
}

// Turn is the outcome of one dialog turn, committed by Store.CommitTurn.
type Turn struct {
	Conversation string
	// InboundSeq is the inbound message the turn handled; 0 marks the opening turn, which sets Started.
	InboundSeq int64
	State      []byte
	// Replies need From, Text and optionally Buttons and Agent; the store sets the rest.
	Replies []Message
	At      time.Time
}
