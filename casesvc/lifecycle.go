package casesvc

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Lifecycle actions (LIFECYCLE.md has the graph and who may do what).
const (
	// ActionCompleteInitialReview ends 初審: initial_review → second_review (or joint_review when the
	// assessed amount is above the joint-review limit). Specialist and up. Records the assessed amount.
	ActionCompleteInitialReview = "complete_initial_review"
	// ActionRequestJointReview sends a difficult or disputed case to 會審: second_review → joint_review.
	// Supervisor and up.
	ActionRequestJointReview = "request_joint_review"
	// ActionApprove decides for the customer: amount, method, expected payment date. Supervisor from
	// second_review (amount up to the joint-review limit), manager from joint_review.
	ActionApprove = "approve"
	// ActionReject decides against the customer: reason and basis (the policy clause). Same roles as approve.
	ActionReject = "reject"
	// ActionRecordPayment records the payment: approved → paid. Supervisor and up.
	ActionRecordPayment = "record_payment"
	// ActionClose archives the case: paid or rejected → closed. Supervisor and up. A closed case is
	// read-only: every action on it is an invalid transition.
	ActionClose = "close"
)

// Notice kinds (the outbox, notice.go).
const (
	NoticeDocumentsComplete = "documents_complete"
	NoticeDocumentRejected  = "document_rejected"
	NoticeApproved          = "approved"
	NoticeRejected          = "rejected"
	NoticePaid              = "paid"
)

const (
	// DefaultJointReviewAbove is the amount (TWD) above which a case needs joint review.
	DefaultJointReviewAbove = 1_000_000
	// DefaultFastTrackDecisionDays is the decision target for green-channel cases.
	DefaultFastTrackDecisionDays = 5
	// RejectionNoticeDays: a rejection notice goes out within this many days of the decision.
	RejectionNoticeDays = 3
	// LateInterestRate is the yearly late interest of Insurance Act art. 34.
	LateInterestRate = 0.10
	// LimitationWarningMonths: a claim filed later than this after the incident is near the 2-year
	// limitation of art. 65 and is flagged for staff.
	LimitationWarningMonths = 23
)

// TransitionRequest is one lifecycle action with its inputs. Which fields an action needs:
//
//	complete_initial_review  amount (defaults to the incident's estimated amount)
//	request_joint_review     -
//	approve                  amount > 0, method, expected_payment_by
//	reject                   reason, basis
//	record_payment           reference; amount, method default to the decision's; paid_at defaults to now
//	close                    -
//
// Note is optional for every action and goes to the timeline and the audit trail.
type TransitionRequest struct {
	Action            string     `json:"action"`
	Note              string     `json:"note,omitempty"`
	Amount            *float64   `json:"amount,omitempty"`
	Method            string     `json:"method,omitempty"`
	ExpectedPaymentBy *time.Time `json:"expected_payment_by,omitempty"`
	Reason            string     `json:"reason,omitempty"`
	Basis             string     `json:"basis,omitempty"`
	Reference         string     `json:"reference,omitempty"`
	PaidAt            *time.Time `json:"paid_at,omitempty"`
}

// LifecycleRules are the configured limits a transition is checked against.
type LifecycleRules struct {
	JointReviewAbove float64        // default DefaultJointReviewAbove
	Now              time.Time      // the time of the transition
	Location         *time.Location // for dates; default UTC
}

// TransitionPlan is what a valid transition changes; a store applies it in one transaction.
type TransitionPlan struct {
	From, To       string
	AssessedAmount *float64  // set by complete_initial_review
	Decision       *Decision // set by approve and reject
	Payment        *Payment  // set by record_payment
	Deadlines      Deadlines // the stored deadlines after the transition
	Timeline       []TimelineEntry
	AuditDetail    string
	NoticeKind     string         // "" when the customer is not told
	NoticeData     map[string]any // see Notice
}

type actionRule struct {
	from    []string
	minRole Role
}

var actionRules = map[string]actionRule{
	ActionCompleteInitialReview: {[]string{StatusInitialReview}, RoleSpecialist},
	ActionRequestJointReview:    {[]string{StatusSecondReview}, RoleSupervisor},
	ActionApprove:               {[]string{StatusSecondReview, StatusJointReview}, RoleSupervisor},
	ActionReject:                {[]string{StatusSecondReview, StatusJointReview}, RoleSupervisor},
	ActionRecordPayment:         {[]string{StatusApproved}, RoleSupervisor},
	ActionClose:                 {[]string{StatusPaid, StatusRejected}, RoleSupervisor},
}

// Actions lists every lifecycle action in graph order.
func Actions() []string {
	return []string{ActionCompleteInitialReview, ActionRequestJointReview, ActionApprove, ActionReject,
		ActionRecordPayment, ActionClose}
}

// Statuses lists every case status in lifecycle order.
func Statuses() []string {
	return []string{StatusReceived, StatusAwaitingDocuments, StatusInitialReview, StatusSecondReview,
		StatusJointReview, StatusApproved, StatusRejected, StatusPaid, StatusClosed}
}

// rank orders the roles that may act on cases; admins (and unknown roles) rank 0: no case decisions.
func (r Role) rank() int {
	switch r {
	case RoleSpecialist:
		return 1
	case RoleSupervisor:
		return 2
	case RoleManager:
		return 3
	}
	return 0
}

// AtLeast reports whether r may do what min may. Admins are below every case role.
func (r Role) AtLeast(min Role) bool { return r.rank() > 0 && r.rank() >= min.rank() }

// AvailableActions returns the actions the role may take on a case in status, for console buttons.
// Input-dependent refusals (an approval above the joint-review limit) are not foreseen here.
func AvailableActions(status string, role Role) []string {
	var out []string
	for _, a := range Actions() {
		if checkActor(a, status, role) == nil && checkStatus(a, status) == nil {
			out = append(out, a)
		}
	}
	return out
}

func checkActor(action, status string, role Role) error {
	rule := actionRules[action]
	if role.rank() == 0 {
		return Errorf(EFORBIDDEN, "Your role (%s) makes no case decisions.", role)
	}
	if !role.AtLeast(rule.minRole) {
		return Errorf(EFORBIDDEN, "Your role (%s) may not %s; it needs a %s or above.", role, action, rule.minRole)
	}
	if (action == ActionApprove || action == ActionReject) && status == StatusJointReview && role != RoleManager {
		return Errorf(EFORBIDDEN, "A joint review is decided by a manager.")
	}
	return nil
}

func checkStatus(action, status string) error {
	if status == StatusClosed {
		return Errorf(EINVALIDTRANSITION, "The case is closed and archived; it can no longer change.")
	}
	if !slices.Contains(actionRules[action].from, status) {
		return Errorf(EINVALIDTRANSITION, "A case in status %s cannot take the action %s (it needs status %s).",
			status, action, strings.Join(actionRules[action].from, " or "))
	}
	return nil
}

// PlanTransition checks an action against the case, the actor's role and the rules, and returns
// what it changes. Checks run in this order, so each kind of refusal has one answer:
// unknown action (EINVALID); admin or too junior a role (EFORBIDDEN); closed case or wrong status
// (EINVALIDTRANSITION); a joint review decided by a non-manager (EFORBIDDEN); missing or bad inputs
// (EINVALID); an approval above the joint-review limit outside joint review (EINVALIDTRANSITION).
func PlanTransition(c *Case, req TransitionRequest, actor Staff, rules LifecycleRules) (*TransitionPlan, error) {
	if _, ok := actionRules[req.Action]; !ok {
		return nil, Errorf(EINVALID, "Unknown action %q; the actions are %s.", req.Action, strings.Join(Actions(), ", "))
	}
	if strings.TrimSpace(actor.Name) == "" {
		return nil, Errorf(EINVALID, "Actor is required.")
	}
	if actor.Role.rank() == 0 {
		return nil, Errorf(EFORBIDDEN, "Your role (%s) makes no case decisions.", actor.Role)
	}
	if !actor.Role.AtLeast(actionRules[req.Action].minRole) {
		return nil, checkActor(req.Action, c.Status, actor.Role)
	}
	if err := checkStatus(req.Action, c.Status); err != nil {
		return nil, err
	}
	if err := checkActor(req.Action, c.Status, actor.Role); err != nil {
		return nil, err
	}
	if rules.JointReviewAbove <= 0 {
		rules.JointReviewAbove = DefaultJointReviewAbove
	}
	loc := rules.Location
	if loc == nil {
		loc = time.UTC
	}
	now := rules.Now.In(loc)
	note := strings.TrimSpace(req.Note)
	p := &TransitionPlan{From: c.Status, Deadlines: c.Deadlines.Stored()}
	entry := func(event, note string) TimelineEntry {
		return TimelineEntry{At: now, Event: event, Actor: actor.Name, Note: note}
	}
	detail := []string{"action=" + req.Action, "from=" + c.Status}

	switch req.Action {
	case ActionCompleteInitialReview:
		amount := req.Amount
		if amount == nil {
			amount = c.Incident.EstimatedAmount
		}
		if amount == nil {
			return nil, Errorf(EINVALID, "The assessed amount is required to complete the initial review.")
		}
		if err := checkAmount(*amount, true); err != nil {
			return nil, err
		}
		a := *amount
		p.AssessedAmount = &a
		p.To = StatusSecondReview
		p.Timeline = append(p.Timeline, entry(StatusSecondReview, note))
		if a > rules.JointReviewAbove {
			p.To = StatusJointReview
			p.Timeline = append(p.Timeline, TimelineEntry{At: now, Event: StatusJointReview, Actor: "system",
				Note: fmt.Sprintf("automatic: assessed amount %s above the joint-review limit %s", money(a), money(rules.JointReviewAbove))})
		}
		detail = append(detail, "assessed_amount="+money(a))

	case ActionRequestJointReview:
		p.To = StatusJointReview
		p.Timeline = append(p.Timeline, entry(StatusJointReview, note))

	case ActionApprove:
		if req.Amount == nil {
			return nil, Errorf(EINVALID, "An approval needs the amount.")
		}
		if err := checkAmount(*req.Amount, false); err != nil {
			return nil, err
		}
		method := strings.TrimSpace(req.Method)
		if method == "" {
			return nil, Errorf(EINVALID, "An approval needs the payment method (for example bank_transfer).")
		}
		if len(method) > 64 {
			return nil, Errorf(EINVALID, "The payment method is too long.")
		}
		if req.ExpectedPaymentBy == nil || req.ExpectedPaymentBy.IsZero() {
			return nil, Errorf(EINVALID, "An approval needs the expected payment date (expected_payment_by).")
		}
		by := req.ExpectedPaymentBy.In(loc)
		if dateOf(by).Before(dateOf(now)) {
			return nil, Errorf(EINVALID, "The expected payment date %s is in the past.", by.Format(time.DateOnly))
		}
		if c.Status != StatusJointReview && *req.Amount > rules.JointReviewAbove {
			return nil, Errorf(EINVALIDTRANSITION, "An amount above %s needs a joint review first (request_joint_review).", money(rules.JointReviewAbove))
		}
		amount := *req.Amount
		p.To = StatusApproved
		p.Decision = &Decision{Outcome: StatusApproved, Amount: &amount, Method: method, ExpectedPaymentBy: &by,
			DecidedBy: actor.Name, DecidedAt: &now}
		p.Timeline = append(p.Timeline, entry(StatusApproved, note))
		p.NoticeKind = NoticeApproved
		p.NoticeData = map[string]any{"amount": amount, "method": method, "expected_payment_by": by.Format(time.DateOnly)}
		detail = append(detail, "amount="+money(amount), "method="+method, "expected_payment_by="+by.Format(time.DateOnly))

	case ActionReject:
		reason, basis := strings.TrimSpace(req.Reason), strings.TrimSpace(req.Basis)
		if reason == "" {
			return nil, Errorf(EINVALID, "A rejection needs the reason the customer will be told.")
		}
		if basis == "" {
			return nil, Errorf(EINVALID, "A rejection needs its basis (the policy clause).")
		}
		p.To = StatusRejected
		p.Decision = &Decision{Outcome: StatusRejected, Reason: reason, Basis: basis, DecidedBy: actor.Name, DecidedAt: &now}
		due := now.AddDate(0, 0, RejectionNoticeDays)
		p.Deadlines.RejectionNoticeDue = &due
		p.Timeline = append(p.Timeline, entry(StatusRejected, note))
		p.NoticeKind = NoticeRejected
		p.NoticeData = map[string]any{"reason": reason, "basis": basis}
		detail = append(detail, "basis="+basis)

	case ActionRecordPayment:
		d := c.Decision
		if d == nil || d.Amount == nil {
			return nil, Errorf(EINVALIDTRANSITION, "The case has no approved amount to pay.")
		}
		amount := *d.Amount
		if req.Amount != nil {
			if err := checkAmount(*req.Amount, false); err != nil {
				return nil, err
			}
			amount = *req.Amount
		}
		method := strings.TrimSpace(req.Method)
		if method == "" {
			method = d.Method
		}
		ref := strings.TrimSpace(req.Reference)
		if ref == "" {
			return nil, Errorf(EINVALID, "A payment needs its reference (the transfer or cheque number).")
		}
		paidAt := now
		if req.PaidAt != nil && !req.PaidAt.IsZero() {
			paidAt = req.PaidAt.In(loc)
		}
		if paidAt.After(now) {
			return nil, Errorf(EINVALID, "The payment time %s is in the future.", paidAt.Format(time.RFC3339))
		}
		p.To = StatusPaid
		p.Payment = &Payment{PaidAt: paidAt, Amount: amount, Method: method, Reference: ref, RecordedBy: actor.Name}
		p.Timeline = append(p.Timeline, entry(StatusPaid, note))
		p.NoticeKind = NoticePaid
		p.NoticeData = map[string]any{"amount": amount, "method": method, "paid_at": paidAt.Format(time.RFC3339), "reference": ref}
		detail = append(detail, "amount="+money(amount), "method="+method, "reference="+ref)

	case ActionClose:
		p.To = StatusClosed
		p.Timeline = append(p.Timeline, entry(StatusClosed, note))
	}
	detail = append(detail, "to="+p.To)
	if note != "" {
		detail = append(detail, "note="+note)
	}
	p.AuditDetail = strings.Join(detail, " ")
	return p, nil
}

func checkAmount(a float64, zeroOK bool) error {
	if math.IsNaN(a) || math.IsInf(a, 0) || a < 0 || (!zeroOK && a == 0) {
		if zeroOK {
			return Errorf(EINVALID, "The amount must be zero or more.")
		}
		return Errorf(EINVALID, "The amount must be more than zero.")
	}
	if a > 1e12 {
		return Errorf(EINVALID, "The amount is out of range.")
	}
	return nil
}

func money(a float64) string {
	if a == math.Trunc(a) {
		return fmt.Sprintf("%.0f", a)
	}
	return fmt.Sprintf("%.2f", a)
}

func dateOf(t time.Time) time.Time {
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// Stored returns the deadlines a store keeps: the computed fields zeroed.
func (d Deadlines) Stored() Deadlines {
	return Deadlines{DocumentsCompleteAt: d.DocumentsCompleteAt, DecisionDue: d.DecisionDue,
		PaymentDue: d.PaymentDue, RejectionNoticeDue: d.RejectionNoticeDue}
}

// DeadlinesFrom returns the decision and payment deadlines for documents complete at t.
func DeadlinesFrom(t time.Time, decisionDays, paymentDays int) Deadlines {
	decision := t.AddDate(0, 0, decisionDays)
	payment := t.AddDate(0, 0, paymentDays)
	return Deadlines{DocumentsCompleteAt: &t, DecisionDue: &decision, PaymentDue: &payment}
}

// LateInterest is the art. 34 late interest on amount for days late, at LateInterestRate a year
// (365-day year), rounded to whole dollars.
func LateInterest(amount float64, days int) float64 {
	if days <= 0 || amount <= 0 {
		return 0
	}
	return math.Round(amount * LateInterestRate * float64(days) / 365)
}

// ComputeDeadlines fills the computed fields of c.Deadlines for the time now: lateness and late
// interest (on the approved amount, else the assessed one, else the customer's estimate) and the
// limitation warning. A rejected claim owes no interest; a late payment keeps showing what accrued
// until it was paid.
func ComputeDeadlines(c *Case, now time.Time) {
	d := c.Deadlines.Stored()
	if !c.Incident.OccurredAt.IsZero() {
		limit := c.Incident.OccurredAt.AddDate(2, 0, 0)
		d.LimitationAt = &limit
		d.LimitationWarning = c.CreatedAt.After(c.Incident.OccurredAt.AddDate(0, LimitationWarningMonths, 0))
	}
	decidedAgainst := c.Decision != nil && c.Decision.Outcome == StatusRejected
	if d.PaymentDue != nil && !decidedAgainst {
		end := now
		if c.Payment != nil {
			end = c.Payment.PaidAt
		}
		if end.After(*d.PaymentDue) {
			d.Overdue = c.Payment == nil && c.Status != StatusClosed
			d.LateDays = int(end.Sub(*d.PaymentDue) / (24 * time.Hour))
			d.LateInterest = LateInterest(c.BaseAmount(), d.LateDays)
		}
	}
	c.Deadlines = d
}

// BaseAmount is the amount late interest is counted on: paid, else approved, else assessed, else estimated.
func (c *Case) BaseAmount() float64 {
	switch {
	case c.Payment != nil:
		return c.Payment.Amount
	case c.Decision != nil && c.Decision.Amount != nil:
		return *c.Decision.Amount
	case c.AssessedAmount != nil:
		return *c.AssessedAmount
	case c.Incident.EstimatedAmount != nil:
		return *c.Incident.EstimatedAmount
	}
	return 0
}

// Deadline item kinds.
const (
	DeadlineKindCase      = "case"
	DeadlineKindComplaint = "complaint"
)

// DeadlineItem is one deadline in the supervisors' overdue and due-soon list: a case's
// (decision_due, payment_due) or a complaint's (first_response_due, resolution_due; Complaint set,
// CaseID the linked case if any).
type DeadlineItem struct {
	Kind         string    `json:"kind"` // case | complaint
	CaseID       string    `json:"case"`
	Complaint    string    `json:"complaint,omitempty"`
	Category     string    `json:"category,omitempty"`
	Owner        string    `json:"owner,omitempty"`
	Status       string    `json:"status"`
	ClaimType    string    `json:"claim_type"`
	Priority     string    `json:"priority"`
	Deadline     string    `json:"deadline"` // decision_due | payment_due
	Due          time.Time `json:"due"`
	Overdue      bool      `json:"overdue"`
	LateInterest float64   `json:"late_interest,omitempty"`
}

// DeadlineItems returns the open deadlines of c that are past or due before now+soon. The decision
// is open while the case is in review; the payment while it is in review or approved.
func DeadlineItems(c *Case, now time.Time, soon time.Duration) []DeadlineItem {
	var out []DeadlineItem
	add := func(name string, due *time.Time, interest float64) {
		if due == nil || due.After(now.Add(soon)) {
			return
		}
		out = append(out, DeadlineItem{Kind: DeadlineKindCase, CaseID: c.ID, Status: c.Status, ClaimType: c.ClaimType, Priority: c.Priority,
			Deadline: name, Due: *due, Overdue: now.After(*due), LateInterest: interest})
	}
	switch c.Status {
	case StatusInitialReview, StatusSecondReview, StatusJointReview:
		add("decision_due", c.Deadlines.DecisionDue, 0)
		add("payment_due", c.Deadlines.PaymentDue, c.Deadlines.LateInterest)
	case StatusApproved:
		add("payment_due", c.Deadlines.PaymentDue, c.Deadlines.LateInterest)
	}
	return out
}
