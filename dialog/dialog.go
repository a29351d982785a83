// Package dialog is the conversation engine: one dialog for every channel. A turn is a pure function of
// the saved state and the input, plus effects through small interfaces this package owns (the case
// service, understanding). Channels decide only how a reply looks.
package dialog

import (
	"context"
	"time"

	"claimline/casesvc"
)

// Events that are not customer messages.
const (
	// EventStart opens a new conversation: the engine greets and shows the menu.
	EventStart = "start"
	// EventNotice is a proactive notice from the case service (Input.Notice): the engine tells the
	// customer in their language and may update its state (e.g. a rejected document to send again).
	EventNotice = "notice"
	// EventHandback returns a conversation from a person to the bot (Input.Handback says how it
	// ended): the bot asks for a satisfaction rating, then resumes the form where it stopped or
	// shows the menu when the agent finished the job.
	EventHandback = "handback"
)

// Handback is how a person's part of a conversation ended.
type Handback struct {
	Agent    string `json:"agent"`    // the agent's display name
	Resolved bool   `json:"resolved"` // the agent finished the job: go to the menu, not back to the form
}

// Attachment is a file the customer sent (web chat upload, Telegram photo or document, MMS), already
// stored by the gateway; the dialog attaches it to a case.
type Attachment struct {
	ID          string `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
	BlobRef     string `json:"blob_ref"` // where the bytes are, for casesvc.NewDocument
}

// Notice is something that happened to a customer's case that they must be told about (documents
// complete, a document rejected, approval, rejection, payment). Kind and Data follow casesvc's notices.
type Notice struct {
	ID     int64          `json:"id"`
	CaseID string         `json:"case_id"`
	Kind   string         `json:"kind"`
	Data   map[string]any `json:"data,omitempty"`
}

// Input is one thing that happened in a conversation, as the engine sees it.
type Input struct {
	Conversation string
	Channel      string // webchat, rest, telegram, sms
	// Contact is the channel's sender key; on SMS it is the E.164 phone number, a second identity factor.
	Contact string
	// Seq is the stored inbound message's seq; with Conversation it makes effects idempotent.
	Seq    int64
	Event  string // "" for a customer message, or EventStart
	Text   string
	Action string // the value of a pressed button
	Lang   string // a language hint from the channel ("zh-TW", "en"); may be ""
	At     time.Time
	// Attachments are files sent with this message (the text may be empty).
	Attachments []Attachment
	// Notice is set when Event is EventNotice.
	Notice *Notice
	// Handback is set when Event is EventHandback.
	Handback *Handback
}

// Button is a choice offered with a reply. Channels render it as a button or a numbered choice.
type Button struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// Reply is one message the bot says.
type Reply struct {
	Text    string   `json:"text"`
	Buttons []Button `json:"buttons,omitempty"`
}

// Cases is what the dialog needs from the case service. casesvc.Service satisfies it.
type Cases interface {
	Policy(ctx context.Context, number string) (*casesvc.Policy, error)
	CreateCase(ctx context.Context, nc casesvc.NewCase) (*casesvc.Case, error)
	CasesByPolicy(ctx context.Context, number string) ([]*casesvc.Case, error)
	Catalog() *casesvc.Catalog
	// Case returns one case (ENOTFOUND): a case filed in this conversation, or named by a notice,
	// is read again before a document is attached to it.
	Case(ctx context.Context, id string) (*casesvc.Case, error)
	// AddDocument attaches a file the customer sent to a case (see casesvc.Service.AddDocument).
	AddDocument(ctx context.Context, caseID string, nd casesvc.NewDocument) (*casesvc.DocumentResult, error)
}

// Ratings records the satisfaction rating asked after a person hands a conversation back (1 to 5,
// optional comment). The score is recorded as soon as it is given (comment ""), then again with the
// comment when the customer adds one; implementations keep the latest score and a non-empty comment.
// Nil in Config: the rating is only acknowledged.
type Ratings interface {
	RecordRating(ctx context.Context, conversation string, score int, comment string) error
}
