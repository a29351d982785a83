// Package dialog is the conversation engine: one dialog for every channel. A turn is a pure function of
// the saved state and the input, plus effects through small interfaces this package owns (the case
// service, understanding). Channels decide only how a reply looks.
package dialog

import (
	"context"
	"errors"
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
	// CreateComplaint files a complaint (casesvc.ComplaintService): ENOTFOUND for a linked case that
	// does not exist or is on another policy (the same answer), EINVALID, or ErrQueued (see below).
	CreateComplaint(ctx context.Context, nc casesvc.NewComplaint) (*casesvc.Complaint, error)
	// CurrentEmergency returns the declared disaster event, or nil: the greeting mentions it.
	CurrentEmergency(ctx context.Context) (*casesvc.Emergency, error)
}

// ErrQueued is returned (wrapped; test with errors.Is) by Cases.CreateCase or Cases.CreateComplaint
// when the case service could not be reached and the submission was kept in a durable outbox
// (internal/intake) to be filed when it answers again. Nothing is lost: the customer is told it was
// received, and a notice of kind NoticeCaseFiled or NoticeComplaintFiled brings the id into the
// conversation later (NoticeIntakeFailed when the service refused it after all).
var ErrQueued = errors.New("dialog: the case service is unreachable; the submission is queued")

// Notice kinds of the intake outbox (internal/intake), besides casesvc's.
const (
	// NoticeCaseFiled: a claim taken during an outage was filed. CaseID and Data: case_id,
	// missing_documents ([]string), fast_track (bool), priority.
	NoticeCaseFiled = "case_filed"
	// NoticeComplaintFiled: a complaint taken during an outage was filed. Data: complaint_id,
	// first_response_days, resolution_days.
	NoticeComplaintFiled = "complaint_filed"
	// NoticeIntakeFailed: a queued claim or complaint was refused when it was replayed (Data: what,
	// "case" or "complaint"); the customer is offered a person.
	NoticeIntakeFailed = "intake_failed"
)

// Ratings records the satisfaction rating asked after a person hands a conversation back (1 to 5,
// optional comment). The score is recorded as soon as it is given (comment ""), then again with the
// comment when the customer adds one; implementations keep the latest score and a non-empty comment.
// Nil in Config: the rating is only acknowledged.
type Ratings interface {
	RecordRating(ctx context.Context, conversation string, score int, comment string) error
}
