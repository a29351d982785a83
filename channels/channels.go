// Package channels is the messaging front door: the envelopes every channel adapter speaks, the Store
// that keeps conversations and transcripts, the Bus that carries stored messages to live connections,
// and the Router that orders, dedupes, stores and hands each inbound message to the dialog.
//
// One path for every message: an adapter turns its channel's input into an Inbound; Router.Receive
// stores it (assigning the conversation's next seq, deduping the client's id) before anything is
// acknowledged; one worker per conversation runs Dialog.Turn, commits the replies and the new state in
// one transaction, then publishes the stored replies to subscribers.
//
// Error codes are casesvc's (casesvc.Errorf, casesvc.ErrorCode): channels adds no error type of its own.
package channels

import (
	"context"
	"time"

	"claimline/dialog"
)

// Channel names, as stored on a conversation and passed to the dialog.
const (
	ChannelWebchat  = "webchat"
	ChannelREST     = "rest"
	ChannelTelegram = "telegram"
	ChannelSMS      = "sms"
)

// Direction of a stored message.
const (
	DirIn  = "in"  // from the customer
	DirOut = "out" // to the customer
	// DirEvent is something that happened to the conversation that is not a customer message (a
	// proactive notice from the case service). It has a seq and a turn like an inbound message, but
	// it is never shown to the customer and never counted as a customer message.
	DirEvent = "event"
)

// Who said a stored message.
const (
	FromCustomer = "customer"
	FromBot      = "bot"
	FromAgent    = "agent"
	FromSystem   = "system"
)

// Inbound is one customer input as a channel adapter hands it over.
type Inbound struct {
	Channel string // webchat, rest, telegram, sms
	// Contact is the channel's sender key (a session hash, an app user id, a chat id, an E.164 number).
	// It is personal data: never log it.
	Contact string
	// ClientID is the channel's own id for this input (web chat frame id, Telegram update_id, Twilio
	// MessageSid). A repeated ClientID in the same conversation is stored once. "" disables dedupe.
	ClientID   string
	Text       string
	Action     string // the value of a pressed button; Text may hold its label
	Lang       string // a hint from the channel ("zh-TW", "en"), may be ""
	ReceivedAt time.Time
	// Attachments are files sent with this input, already stored by the adapter (Text may be empty).
	Attachments []dialog.Attachment
	// Event, when set (dialog.EventNotice), makes this an event rather than a customer message: it is
	// stored with DirEvent and From FromSystem. Only the router's own relays set it.
	Event  string
	Notice *dialog.Notice // with Event dialog.EventNotice
}

// Button is a choice offered with an outbound message.
type Button = dialog.Button

// Message is one stored message of a conversation, in either direction.
type Message struct {
	Conversation string    `json:"conversation"`
	Seq          int64     `json:"seq"`
	Direction    string    `json:"direction"` // DirIn or DirOut
	From         string    `json:"from"`      // FromCustomer, FromBot, FromAgent, FromSystem
	Text         string    `json:"text"`
	Action       string    `json:"action,omitempty"` // inbound only: the pressed button's value
	Buttons      []Button  `json:"buttons,omitempty"`
	Agent        string    `json:"agent,omitempty"` // display name when From is FromAgent
	Lang         string    `json:"lang,omitempty"`  // inbound only: the channel's language hint
	ClientID     string    `json:"client_id,omitempty"`
	ReplyTo      int64     `json:"reply_to,omitempty"` // outbound: the inbound seq whose turn produced it
	Handled      bool      `json:"handled,omitempty"`  // inbound: its turn is committed
	TS           time.Time `json:"ts"`
	// Attachments are the files of an inbound message. They carry BlobRef: adapters show clients
	// only id, filename, content_type and size.
	Attachments []dialog.Attachment `json:"attachments,omitempty"`
	Event       string              `json:"event,omitempty"`  // DirEvent only: the dialog event
	Notice      *dialog.Notice      `json:"notice,omitempty"` // DirEvent only: with dialog.EventNotice
}

// Conversation is one customer's thread on one channel, keyed by (Channel, Contact).
type Conversation struct {
	ID      string
	Channel string
	Contact string // personal data: never log it
	Lang    string
	State   []byte // the dialog's saved state, opaque here
	Started bool   // the opening turn (dialog.EventStart) is committed
	LastSeq int64
	Created time.Time
	Updated time.Time
}

// Dialog is what the router needs from the engine; *dialog.Engine satisfies it. A turn is a pure
// function of the saved state and the input; its effects must be idempotent per (Conversation, Seq)
// because a crash between the turn and its commit re-runs it.
type Dialog interface {
	Turn(ctx context.Context, state []byte, in dialog.Input) (newState []byte, replies []dialog.Reply, err error)
}

// Interface guards
var _ Dialog = (*dialog.Engine)(nil)
