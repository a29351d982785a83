// Package casesvc is the case domain: policies, claim cases, their documents, complaints and the audit trail.
// It is the system of record behind the bot and the back office. It imports no transport; its
// stores (casesvc/sqlite) and its HTTP API (casesvc/httpapi) are subpackages that talk in these terms.
package casesvc

import (
	"context"
	"time"
)

// Role is a staff member's role; it decides what the member may do and see (domain.md "People and roles").
type Role string

const (
	RoleSpecialist Role = "specialist"
	RoleSupervisor Role = "supervisor"
	RoleManager    Role = "manager"
	RoleAdmin      Role = "admin"
)

// Staff is an authenticated staff member. Token is a secret: never log it.
type Staff struct {
	Name  string `json:"name"`
	Role  Role   `json:"role"`
	Token string `json:"-"`
}

// Person is a policyholder, insured person or claimant. Every field is personal data.
type Person struct {
	Name       string `json:"name"`
	NationalID string `json:"national_id,omitempty"`
	BirthDate  string `json:"birth_date,omitempty"` // YYYY-MM-DD
	Phone      string `json:"phone,omitempty"`      // E.164
	Email      string `json:"email,omitempty"`
}

// Policy is reference data from the insurer's policy system.
type Policy struct {
	Number     string   `json:"number"`
	Product    string   `json:"product"`
	Holder     Person   `json:"holder"`
	Insured    *Person  `json:"insured,omitempty"`
	ClaimTypes []string `json:"claim_types"`
	Status     string   `json:"status"` // active | lapsed
	Currency   string   `json:"currency"`
}

// Case statuses (domain.md "Case lifecycle").
const (
	StatusReceived          = "received"
	StatusAwaitingDocuments = "awaiting_documents"
	StatusInitialReview     = "initial_review"
	StatusSecondReview      = "second_review"
	StatusJointReview       = "joint_review"
	StatusApproved          = "approved"
	StatusRejected          = "rejected"
	StatusPaid              = "paid"
	StatusClosed            = "closed"
)

// Incident is what happened, as the customer told it.
type Incident struct {
	OccurredAt      time.Time `json:"occurred_at"`
	Place           string    `json:"place"`
	Cause           string    `json:"cause"`
	Description     string    `json:"description"`
	EstimatedAmount *float64  `json:"estimated_amount,omitempty"`
	// Conditions are the answers that change the checklist, as catalog condition ids
	// (for example "traffic_accident", "fire", "accidental_death").
	Conditions []string `json:"conditions,omitempty"`
	// Details holds claim-type specific answers, e.g. "vehicle_plate" for motor claims.
	Details map[string]string `json:"details,omitempty"`
}

type Document struct {
	ID           string     `json:"id"`
	Kind         string     `json:"kind"`
	Status       string     `json:"status"` // received | accepted | rejected
	Filename     string     `json:"filename"`
	ContentType  string     `json:"content_type,omitempty"`
	Size         int64      `json:"size,omitempty"`
	SHA256       string     `json:"sha256,omitempty"`
	ReceivedAt   time.Time  `json:"received_at"`
	RejectReason string     `json:"reject_reason,omitempty"`
	RejectedAt   *time.Time `json:"rejected_at,omitempty"`
	RejectedBy   string     `json:"rejected_by,omitempty"`
	Channel      string     `json:"channel,omitempty"` // the channel it arrived on
	// BlobRef locates the bytes in the blob store (casesvc/blobstore). Internal: staff download the
	// content through GET /api/v1/cases/{id}/documents/{doc}/content.
	BlobRef string `json:"-"`
}

// DocumentRequest is one notice to the customer of documents to send (the one-time notice rule).
type DocumentRequest struct {
	At      time.Time `json:"at"`
	Kinds   []string  `json:"kinds"`
	Reason  string    `json:"reason"` // initial | rejected
	Channel string    `json:"channel"`
	// Document is the rejected document a "rejected" request asks again for; empty for "initial".
	Document string `json:"document,omitempty"`
	// Note is the reason the customer is told for a "rejected" request.
	Note string `json:"note,omitempty"`
}

type Decision struct {
	Outcome           string     `json:"outcome"` // approved | rejected
	Amount            *float64   `json:"amount,omitempty"`
	Method            string     `json:"method,omitempty"`
	ExpectedPaymentBy *time.Time `json:"expected_payment_by,omitempty"`
	Reason            string     `json:"reason,omitempty"`
	Basis             string     `json:"basis,omitempty"`
	DecidedBy         string     `json:"decided_by,omitempty"`
	DecidedAt         *time.Time `json:"decided_at,omitempty"`
}

type Payment struct {
	PaidAt     time.Time `json:"paid_at"`
	Amount     float64   `json:"amount"`
	Method     string    `json:"method"`
	Reference  string    `json:"reference"`
	RecordedBy string    `json:"recorded_by,omitempty"`
}

// Deadlines are the statutory and internal clocks of a case (domain.md "Deadlines"; LIFECYCLE.md).
// The first four are stored; the rest are computed whenever the case is read (see ComputeDeadlines).
type Deadlines struct {
	DocumentsCompleteAt *time.Time `json:"documents_complete_at"`
	DecisionDue         *time.Time `json:"decision_due"`
	PaymentDue          *time.Time `json:"payment_due"`
	// RejectionNoticeDue is set when the claim is rejected: the notice is due within 3 days.
	RejectionNoticeDue *time.Time `json:"rejection_notice_due,omitempty"`

	// Overdue: payment_due has passed and nothing is paid (and the claim is not rejected).
	Overdue bool `json:"overdue"`
	// LateDays and LateInterest: whole days past payment_due (until now, or until paid_at for a late
	// payment) and the late interest owed for them at LateInterestRate a year, in whole dollars.
	LateDays     int     `json:"late_days,omitempty"`
	LateInterest float64 `json:"late_interest,omitempty"`
	// LimitationAt is 2 years after the incident (art. 65); LimitationWarning is set when the claim
	// was filed more than LimitationWarningMonths after the incident.
	LimitationAt      *time.Time `json:"limitation_at,omitempty"`
	LimitationWarning bool       `json:"limitation_warning,omitempty"`
}

type TimelineEntry struct {
	At    time.Time `json:"at"`
	Event string    `json:"event"`
	Actor string    `json:"actor"`
	Note  string    `json:"note,omitempty"`
}

// Case is one claim, shaped as spec/http-api.md section 4 shows it.
type Case struct {
	ID                string            `json:"id"` // CLM-YYYYMMDD-NNNNNN
	Status            string            `json:"status"`
	ClaimType         string            `json:"claim_type"`
	PolicyNumber      string            `json:"policy_number"`
	Channel           string            `json:"channel"`
	Conversation      string            `json:"conversation"`
	Claimant          Person            `json:"claimant"`
	Incident          Incident          `json:"incident"`
	RequiredDocuments []string          `json:"required_documents"`
	Documents         []Document        `json:"documents"`
	MissingDocuments  []string          `json:"missing_documents"`
	DocumentRequests  []DocumentRequest `json:"document_requests"`
	Priority          string            `json:"priority"` // normal | green_channel
	FastTrack         bool              `json:"fast_track"`
	Decision          *Decision         `json:"decision"`
	Payment           *Payment          `json:"payment"`
	Deadlines         Deadlines         `json:"deadlines"`
	Timeline          []TimelineEntry   `json:"timeline"`
	// ReportedLateDays records the gap between the incident and the report when it exceeds the
	// 5-day reporting guideline (art. 58); the bot never refuses a late report.
	ReportedLateDays int `json:"reported_late_days,omitempty"`
	// AssessedAmount is the amount estimated at initial review (complete_initial_review).
	AssessedAmount *float64 `json:"assessed_amount,omitempty"`
	// Emergency names the disaster event whose green channel the case is in, if any.
	Emergency string    `json:"emergency,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// NewCase is what the dialog submits when a customer confirms a claim.
type NewCase struct {
	// IdempotencyKey makes a retried submission (a turn replayed after a crash) return the case
	// it already created instead of filing a second one. The gateway uses conversation id + inbound seq.
	IdempotencyKey string
	ClaimType      string
	PolicyNumber   string
	Channel        string
	Conversation   string
	Claimant       Person
	Incident       Incident
	Actor          string // who files it, for the audit trail ("bot" or a staff name)
}

// CaseFilter selects cases for the back-office list; zero values mean "any".
type CaseFilter struct {
	Status       string
	PolicyNumber string
	ClaimType    string
	Query        string // free text over id, claimant name, place, cause, description
	Page         int    // 1-based
	PerPage      int
}

// AuditEntry is one line of the audit trail: who did what to which record, when.
type AuditEntry struct {
	ID        int64     `json:"id"`
	At        time.Time `json:"at"`
	Actor     string    `json:"actor"`
	Action    string    `json:"action"`
	CaseID    string    `json:"case,omitempty"`
	Complaint string    `json:"complaint,omitempty"`
	Policy    string    `json:"policy,omitempty"`
	Detail    string    `json:"detail,omitempty"`
}

type AuditFilter struct {
	CaseID    string
	Complaint string
	Actor     string
}

// Service is the case service. Errors carry codes from error.go: ENOTFOUND for an unknown id or policy,
// EINVALID for bad input, EFORBIDDEN for a role that may not act, EINVALIDTRANSITION for an action that
// does not fit the case's status, ECONFLICT for a repeated one-off act (rejecting a document twice).
//
// Rules every implementation keeps (LIFECYCLE.md):
//   - The one-time notice: a case has at most one "initial" document request, listing every missing
//     document; every later request is "rejected", names exactly one document kind that a staff
//     member rejected with a reason, and nothing else can add a kind to the list.
//   - Every state change, its timeline entries, its audit rows and its customer notice (outbox) are
//     written in one transaction: all or nothing.
type Service interface {
	// Policy returns one policy, unmasked (masking is the caller's job, per role). ENOTFOUND.
	Policy(ctx context.Context, number string) (*Policy, error)
	// PutPolicy creates or replaces a policy. EINVALID.
	PutPolicy(ctx context.Context, p *Policy, actor string) error
	// CreateCase files a claim: assigns the id, computes the required documents from the catalog,
	// records the initial document request and the audit trail. EINVALID, ENOTFOUND (policy).
	CreateCase(ctx context.Context, nc NewCase) (*Case, error)
	// Case returns one case. ENOTFOUND.
	Case(ctx context.Context, id string) (*Case, error)
	// Cases lists cases newest first with the total count before paging.
	Cases(ctx context.Context, f CaseFilter) ([]*Case, int, error)
	// CasesByPolicy returns every case on one policy, newest first (progress queries).
	CasesByPolicy(ctx context.Context, number string) ([]*Case, error)
	// RecordAudit appends to the audit trail (views of unmasked data, staff actions).
	RecordAudit(ctx context.Context, e AuditEntry) error
	// Audit lists the audit trail, oldest first.
	Audit(ctx context.Context, f AuditFilter) ([]AuditEntry, error)
	// Catalog is the claim types and documents catalog in force.
	Catalog() *Catalog

	// AddDocument records a document the customer sent (status "received"). When it was the last
	// missing one, a case in awaiting_documents moves to initial_review by itself, the deadlines
	// start, and a documents_complete notice is queued. A repeat of the same bytes for the same kind
	// returns the stored document (Duplicate). EINVALID (kind not on the case's checklist),
	// ENOTFOUND, EINVALIDTRANSITION (closed case).
	AddDocument(ctx context.Context, caseID string, nd NewDocument) (*DocumentResult, error)
	// RejectDocument marks a received document unusable (specialist and up) and asks the customer
	// again for that one kind, with the reason: a "rejected" document request, an audit row and a
	// document_rejected notice. A case in review goes back to awaiting_documents and its clock stops.
	// EINVALID (empty reason), EFORBIDDEN, ENOTFOUND (case or document), ECONFLICT (already rejected),
	// EINVALIDTRANSITION (decided or closed case).
	RejectDocument(ctx context.Context, caseID, docID, reason string, actor Staff) (*Case, error)
	// Transition applies a lifecycle action (LIFECYCLE.md). EINVALID, EFORBIDDEN, ENOTFOUND,
	// EINVALIDTRANSITION.
	Transition(ctx context.Context, caseID string, req TransitionRequest, actor Staff) (*Case, error)
	// Overdue lists the deadlines that have passed or fall within soon of now, earliest first:
	// cases' (Kind "case") and unresolved complaints' (Kind "complaint").
	Overdue(ctx context.Context, now time.Time, soon time.Duration) ([]DeadlineItem, error)

	// CurrentEmergency returns the active emergency, or nil when there is none.
	CurrentEmergency(ctx context.Context) (*Emergency, error)
	// SetEmergency declares (Active) or ends (!Active) the emergency; managers only. EINVALID, EFORBIDDEN.
	SetEmergency(ctx context.Context, e Emergency, actor Staff) (*Emergency, error)

	// PendingNotices returns up to limit undelivered notices, oldest first (the outbox).
	PendingNotices(ctx context.Context, limit int) ([]Notice, error)
	// MarkNoticeDelivered records that a notice was sent. Idempotent. ENOTFOUND.
	MarkNoticeDelivered(ctx context.Context, id int64) error

	// Complaints and mass-complaint alerts (complaint.go, COMPLAINTS.md).
	ComplaintService
}
