// Package casesvc is the case domain: policies, claim cases, their documents and the audit trail.
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
}

// DocumentRequest is one notice to the customer of documents to send (the one-time notice rule).
type DocumentRequest struct {
	At      time.Time `json:"at"`
	Kinds   []string  `json:"kinds"`
	Reason  string    `json:"reason"` // initial | rejected
	Channel string    `json:"channel"`
}

type Decision struct {
	Outcome           string     `json:"outcome"` // approved | rejected
	Amount            *float64   `json:"amount,omitempty"`
	Method            string     `json:"method,omitempty"`
	ExpectedPaymentBy *time.Time `json:"expected_payment_by,omitempty"`
	Reason            string     `json:"reason,omitempty"`
	Basis             string     `json:"basis,omitempty"`
}

type Payment struct {
	PaidAt    time.Time `json:"paid_at"`
	Amount    float64   `json:"amount"`
	Method    string    `json:"method"`
	Reference string    `json:"reference"`
}

type Deadlines struct {
	DocumentsCompleteAt *time.Time `json:"documents_complete_at"`
	DecisionDue         *time.Time `json:"decision_due"`
	PaymentDue          *time.Time `json:"payment_due"`
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
	ReportedLateDays int       `json:"reported_late_days,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
	UpdatedAt        time.Time `json:"updated_at"`
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
// EINVALID for bad input, ECONFLICT for a transition that does not fit the status.
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
}
