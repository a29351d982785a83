package casesvc

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Complaint statuses (COMPLAINTS.md). A complaint never rests in received: it is acknowledged at
// once, and received is only its first timeline entry.
const (
	ComplaintReceived      = "received"
	ComplaintAcknowledged  = "acknowledged"
	ComplaintInvestigating = "investigating"
	ComplaintResponded     = "responded"
	ComplaintResolved      = "resolved"
	ComplaintEscalated     = "escalated"
)

// Complaint categories (domain.md "Complaints").
const (
	CategoryServiceAttitude = "service_attitude"
	CategoryDelay           = "delay"
	CategoryDecisionDispute = "decision_dispute"
	CategoryAmountDispute   = "amount_dispute"
	CategoryCommunication   = "communication"
	CategoryOther           = "other"
)

// Complaint actions (COMPLAINTS.md has the graph and who may do what).
const (
	// ComplaintActionAssign sets the owner (default: the actor). Status unchanged.
	ComplaintActionAssign = "assign"
	// ComplaintActionInvestigate starts (or, from responded, resumes) the investigation.
	ComplaintActionInvestigate = "investigate"
	// ComplaintActionRespond replies to the customer; the ombudsman notice is always appended.
	ComplaintActionRespond = "respond"
	// ComplaintActionResolve closes an answered complaint. Resolved is final.
	ComplaintActionResolve = "resolve"
	// ComplaintActionEscalate hands the complaint to the manager (also done by EscalateOverdue).
	ComplaintActionEscalate = "escalate"
)

// Contact methods a complainant may prefer.
const (
	ContactPhone = "phone"
	ContactSMS   = "sms"
	ContactEmail = "email"
	ContactChat  = "chat"
)

// NoticeComplaintResponded is the customer notice of a complaint reply (see Notice for its Data).
const NoticeComplaintResponded = "complaint_responded"

// AlertMassComplaint is the kind of a mass-complaint alert.
const AlertMassComplaint = "mass_complaint"

// Defaults (domain.md "Deadlines": FCPA art. 13; "Complaints").
const (
	DefaultFirstResponseDays      = 7
	DefaultResolutionDays         = 30
	DefaultMassComplaintThreshold = 5
	DefaultMassComplaintWindow    = 60 * time.Minute
)

// The Financial Ombudsman Institution (財團法人金融消費評議中心): every complaint reply must tell the
// customer they may apply to it within OmbudsmanDays (FCPA art. 13).
const (
	OmbudsmanPhone = "0800-789-885"
	OmbudsmanDays  = 60
	// OmbudsmanNotice is appended to every reply and recorded with it (zh-TW).
	OmbudsmanNotice = "若您對本公司的處理結果不滿意，或本公司未於30日內回覆，您可於收受處理結果或期限屆滿之日起60日內，" +
		"向財團法人金融消費評議中心申請評議（免付費電話 0800-789-885，網站 www.foi.org.tw）。"
	// OmbudsmanNoticeEN is the same notice in English, for customers who chat in English.
	OmbudsmanNoticeEN = "If you are not satisfied with our reply, or we have not replied within 30 days, you may apply to " +
		"the Financial Ombudsman Institution (評議中心, toll-free 0800-789-885, www.foi.org.tw) within 60 days."
)

// ContactPreference is how and when the complainant wants to be contacted.
type ContactPreference struct {
	Method string `json:"method"`           // phone | sms | email | chat
	Window string `json:"window,omitempty"` // free text, e.g. "平日下午2點到5點"
}

// ComplaintDeadlines are the complaint's clocks. The two dues are stored; the flags are computed
// when read: a first response is overdue while nothing was answered past FirstResponseDue, a
// resolution while the complaint is unresolved past ResolutionDue.
type ComplaintDeadlines struct {
	FirstResponseDue     time.Time `json:"first_response_due"`
	ResolutionDue        time.Time `json:"resolution_due"`
	FirstResponseOverdue bool      `json:"first_response_overdue"`
	ResolutionOverdue    bool      `json:"resolution_overdue"`
}

// ComplaintResponse is one reply sent to the complainant. OmbudsmanNotice is the notice sent with it.
type ComplaintResponse struct {
	At              time.Time `json:"at"`
	By              string    `json:"by"`
	Text            string    `json:"text"`
	OmbudsmanNotice string    `json:"ombudsman_notice"`
}

// Complaint is one customer complaint (客訴).
type Complaint struct {
	ID           string            `json:"id"` // CMP-YYYYMMDD-NNNNNN
	Status       string            `json:"status"`
	Category     string            `json:"category"`
	Description  string            `json:"description"`
	CaseID       string            `json:"case_id,omitempty"` // a case on the same policy, or empty
	PolicyNumber string            `json:"policy_number"`
	Complainant  Person            `json:"complainant"`
	Channel      string            `json:"channel"`
	Conversation string            `json:"conversation"`
	Contact      ContactPreference `json:"contact"`
	// Owner is the staff member handling it ("" until assigned); OwnerRole is the role that owns it:
	// supervisor, or manager once escalated.
	Owner     string              `json:"owner"`
	OwnerRole Role                `json:"owner_role"`
	Deadlines ComplaintDeadlines  `json:"deadlines"`
	Responses []ComplaintResponse `json:"responses"`
	Timeline  []TimelineEntry     `json:"timeline"`
	// OmbudsmanNotice is the ombudsman route as last sent to the customer; empty until answered.
	OmbudsmanNotice string     `json:"ombudsman_notice"`
	CreatedAt       time.Time  `json:"created_at"`
	UpdatedAt       time.Time  `json:"updated_at"`
	EscalatedAt     *time.Time `json:"escalated_at"`
	ResolvedAt      *time.Time `json:"resolved_at,omitempty"`
}

// NewComplaint is what the dialog submits when a customer files a complaint. The dialog has
// checked the customer's identity against PolicyNumber; CaseID, when set, must be a case on that
// policy (another policy's case is refused exactly like an unknown one).
type NewComplaint struct {
	// IdempotencyKey makes a replayed submission return the complaint it already created.
	IdempotencyKey string
	Category       string
	Description    string
	CaseID         string
	PolicyNumber   string
	Complainant    Person
	Channel        string
	Conversation   string
	Contact        ContactPreference // Method defaults to chat
	Actor          string            // "bot" or a staff name; default "bot"
}

// ComplaintFilter selects complaints; zero values mean "any".
type ComplaintFilter struct {
	Status       string
	PolicyNumber string
	Page         int // 1-based
	PerPage      int
}

// ComplaintTransitionRequest is one complaint action. Response is required by respond; Owner is
// used by assign (default: the actor); Note is optional for every action (timeline and audit).
type ComplaintTransitionRequest struct {
	Action   string `json:"action"`
	Note     string `json:"note,omitempty"`
	Response string `json:"response,omitempty"`
	Owner    string `json:"owner,omitempty"`
}

// Alert is a mass-complaint event: at least Threshold complaints sharing a topic within Window.
// One alert per event: complaints arriving while the event is open (less than Window after its
// last complaint) join it instead of raising another.
type Alert struct {
	ID         int64      `json:"id"`
	Kind       string     `json:"kind"`   // mass_complaint
	Topics     []string   `json:"topics"` // e.g. "category:delay", "claim_type:medical", "keyword:system"
	Complaints []string   `json:"complaints"`
	Count      int        `json:"count"`
	Threshold  int        `json:"threshold"`
	Window     string     `json:"window"` // Go duration, e.g. "1h0m0s"
	FirstAt    time.Time  `json:"first_at"`
	LastAt     time.Time  `json:"last_at"`
	RaisedAt   time.Time  `json:"raised_at"`
	Open       bool       `json:"open"` // computed when read: less than Window since LastAt
	Delivered  *time.Time `json:"delivered_at,omitempty"`
}

// IdempotencyID is the id the console gives the alert it shows, so a re-delivered alert is dropped.
func (a Alert) IdempotencyID() string { return fmt.Sprintf("alert:%d", a.ID) }

// ComplaintService is the complaints part of the case service; Service embeds it. Errors carry
// codes from error.go.
type ComplaintService interface {
	// CreateComplaint files a complaint, acknowledged at once, with its deadlines; checks for a
	// mass-complaint event in the same transaction. A repeated IdempotencyKey returns the stored
	// complaint. EINVALID; ENOTFOUND for an unknown policy, and for a case that does not exist or
	// is on another policy (the same answer for both).
	CreateComplaint(ctx context.Context, nc NewComplaint) (*Complaint, error)
	// Complaint returns one complaint, unmasked. ENOTFOUND.
	Complaint(ctx context.Context, id string) (*Complaint, error)
	// Complaints lists complaints newest first with the total before paging.
	Complaints(ctx context.Context, f ComplaintFilter) ([]*Complaint, int, error)
	// ComplaintTransition applies an action (COMPLAINTS.md): state, timeline, audit and, for
	// respond, the complaint_responded notice in one transaction. EINVALID, EFORBIDDEN, ENOTFOUND,
	// EINVALIDTRANSITION.
	ComplaintTransition(ctx context.Context, id string, req ComplaintTransitionRequest, actor Staff) (*Complaint, error)
	// EscalateOverdue escalates to the manager every complaint past its first-response due without
	// a response, or past its resolution due unresolved, that was never escalated; it returns those
	// it escalated now (none on a repeat call).
	EscalateOverdue(ctx context.Context, now time.Time) ([]*Complaint, error)
	// Alerts lists mass-complaint alerts whose event was active at or after since, newest first.
	Alerts(ctx context.Context, since time.Time) ([]Alert, error)
	// PendingAlerts returns up to limit alerts not yet delivered to the console, oldest first.
	PendingAlerts(ctx context.Context, limit int) ([]Alert, error)
	// MarkAlertDelivered records that the console showed an alert. Idempotent. ENOTFOUND.
	MarkAlertDelivered(ctx context.Context, id int64) error
}

// Categories lists the complaint categories.
func Categories() []string {
	return []string{CategoryServiceAttitude, CategoryDelay, CategoryDecisionDispute, CategoryAmountDispute,
		CategoryCommunication, CategoryOther}
}

// ComplaintStatuses lists every complaint status in lifecycle order.
func ComplaintStatuses() []string {
	return []string{ComplaintReceived, ComplaintAcknowledged, ComplaintInvestigating, ComplaintResponded,
		ComplaintResolved, ComplaintEscalated}
}

// ComplaintActions lists the complaint actions.
func ComplaintActions() []string {
	return []string{ComplaintActionAssign, ComplaintActionInvestigate, ComplaintActionRespond,
		ComplaintActionResolve, ComplaintActionEscalate}
}

// MaxComplaintText bounds descriptions and responses (in characters).
const MaxComplaintText = 4000

// ValidateNewComplaint checks and normalises a submission (the policy and case are the store's to
// check). EINVALID.
func ValidateNewComplaint(nc *NewComplaint) error {
	nc.Category = strings.TrimSpace(nc.Category)
	nc.Description = strings.TrimSpace(nc.Description)
	nc.CaseID = strings.TrimSpace(nc.CaseID)
	nc.PolicyNumber = strings.TrimSpace(nc.PolicyNumber)
	nc.Contact.Method = strings.TrimSpace(nc.Contact.Method)
	nc.Contact.Window = strings.TrimSpace(nc.Contact.Window)
	if nc.PolicyNumber == "" {
		return Errorf(EINVALID, "Policy number is required.")
	}
	if !slices.Contains(Categories(), nc.Category) {
		return Errorf(EINVALID, "Unknown complaint category %q; the categories are %s.", nc.Category, strings.Join(Categories(), ", "))
	}
	if nc.Description == "" {
		return Errorf(EINVALID, "A complaint needs a description.")
	}
	if utf8.RuneCountInString(nc.Description) > MaxComplaintText {
		return Errorf(EINVALID, "The description is longer than %d characters.", MaxComplaintText)
	}
	if strings.TrimSpace(nc.Channel) == "" {
		return Errorf(EINVALID, "Channel is required.")
	}
	if strings.TrimSpace(nc.Complainant.Name) == "" {
		return Errorf(EINVALID, "The complainant's name is required.")
	}
	if nc.Complainant.Phone != "" && !e164Pattern.MatchString(nc.Complainant.Phone) {
		return Errorf(EINVALID, "The complainant's phone must be in international form, e.g. +886912345678.")
	}
	switch nc.Contact.Method {
	case "":
		nc.Contact.Method = ContactChat
	case ContactPhone, ContactSMS:
		if nc.Complainant.Phone == "" {
			return Errorf(EINVALID, "Contact by %s needs the complainant's phone.", nc.Contact.Method)
		}
	case ContactEmail:
		if !strings.Contains(nc.Complainant.Email, "@") {
			return Errorf(EINVALID, "Contact by email needs the complainant's email address.")
		}
	case ContactChat:
	default:
		return Errorf(EINVALID, "Unknown contact method %q; use phone, sms, email or chat.", nc.Contact.Method)
	}
	if utf8.RuneCountInString(nc.Contact.Window) > 200 {
		return Errorf(EINVALID, "The contact time window is too long.")
	}
	if nc.Actor == "" {
		nc.Actor = "bot"
	}
	return nil
}

// FormatComplaintID formats a complaint id from its day (in the configured zone) and daily counter.
func FormatComplaintID(day time.Time, n int) string {
	return fmt.Sprintf("CMP-%s-%06d", day.Format("20060102"), n)
}

var complaintIDPattern = regexp.MustCompile(`^CMP-[0-9]{8}-[0-9]{6}$`)

// ValidComplaintID reports whether s has the complaint id format CMP-YYYYMMDD-NNNNNN.
func ValidComplaintID(s string) bool { return complaintIDPattern.MatchString(s) }

// ComplaintDeadlinesFrom returns the deadlines of a complaint filed at t.
func ComplaintDeadlinesFrom(t time.Time, firstResponseDays, resolutionDays int) ComplaintDeadlines {
	return ComplaintDeadlines{FirstResponseDue: t.AddDate(0, 0, firstResponseDays), ResolutionDue: t.AddDate(0, 0, resolutionDays)}
}

// ComputeComplaintDeadlines fills the computed overdue flags of c for the time now.
func ComputeComplaintDeadlines(c *Complaint, now time.Time) {
	d := &c.Deadlines
	d.FirstResponseOverdue = len(c.Responses) == 0 && c.Status != ComplaintResolved && now.After(d.FirstResponseDue)
	d.ResolutionOverdue = c.Status != ComplaintResolved && now.After(d.ResolutionDue)
}

// ComplaintDeadlineItems returns the open deadlines of c that are past or due before now+soon.
func ComplaintDeadlineItems(c *Complaint, now time.Time, soon time.Duration) []DeadlineItem {
	if c.Status == ComplaintResolved {
		return nil
	}
	var out []DeadlineItem
	add := func(name string, due time.Time) {
		if due.After(now.Add(soon)) {
			return
		}
		out = append(out, DeadlineItem{Kind: DeadlineKindComplaint, Complaint: c.ID, CaseID: c.CaseID, Status: c.Status,
			Category: c.Category, Owner: c.Owner, Deadline: name, Due: due, Overdue: now.After(due)})
	}
	if len(c.Responses) == 0 {
		add("first_response_due", c.Deadlines.FirstResponseDue)
	}
	add("resolution_due", c.Deadlines.ResolutionDue)
	return out
}

// MaskedFor returns the complaint as the role may see it (see Case.MaskedFor).
func (c *Complaint) MaskedFor(role Role) *Complaint {
	if c == nil || role.SeesUnmasked() {
		return c
	}
	cp := *c
	cp.Complainant = c.Complainant.Masked()
	return &cp
}

// ---- lifecycle ----

type complaintRule struct {
	from []string
}

var complaintRules = map[string]complaintRule{
	ComplaintActionAssign:      {[]string{ComplaintAcknowledged, ComplaintInvestigating, ComplaintResponded, ComplaintEscalated}},
	ComplaintActionInvestigate: {[]string{ComplaintAcknowledged, ComplaintResponded, ComplaintEscalated}},
	ComplaintActionRespond:     {[]string{ComplaintAcknowledged, ComplaintInvestigating, ComplaintEscalated}},
	ComplaintActionResolve:     {[]string{ComplaintResponded, ComplaintEscalated}},
	ComplaintActionEscalate:    {[]string{ComplaintAcknowledged, ComplaintInvestigating, ComplaintResponded}},
}

// ComplaintPlan is what a valid complaint action changes; a store applies it in one transaction.
type ComplaintPlan struct {
	From, To    string
	Owner       string
	OwnerRole   Role
	Response    *ComplaintResponse // set by respond
	EscalatedAt *time.Time         // set by escalate
	ResolvedAt  *time.Time         // set by resolve
	Timeline    []TimelineEntry
	AuditAction string
	AuditDetail string
	NoticeKind  string // "" when the customer is not told
	NoticeData  map[string]any
}

func checkComplaintStatus(action string, c *Complaint) error {
	if c.Status == ComplaintResolved {
		return Errorf(EINVALIDTRANSITION, "Complaint %s is resolved; it can no longer change.", c.ID)
	}
	from := complaintRules[action].from
	if !slices.Contains(from, c.Status) {
		return Errorf(EINVALIDTRANSITION, "A complaint in status %s cannot take the action %s (it needs status %s).",
			c.Status, action, strings.Join(from, " or "))
	}
	if action == ComplaintActionResolve && len(c.Responses) == 0 {
		return Errorf(EINVALIDTRANSITION, "Complaint %s has not been answered; respond before resolving it.", c.ID)
	}
	return nil
}

func checkComplaintOwner(action string, c *Complaint, actor Staff) error {
	if actor.Role == RoleManager {
		return nil
	}
	if c.OwnerRole == RoleManager && actor.Name != c.Owner {
		return Errorf(EFORBIDDEN, "Complaint %s is escalated to the manager; only a manager or its assigned owner may act on it.", c.ID)
	}
	if action == ComplaintActionInvestigate && c.Owner != "" && actor.Name != c.Owner {
		return Errorf(EFORBIDDEN, "Complaint %s is owned by %s; only its owner or a manager may investigate it.", c.ID, c.Owner)
	}
	return nil
}

// AvailableComplaintActions returns the actions the staff member may take on c, for console buttons.
func AvailableComplaintActions(c *Complaint, actor Staff) []string {
	var out []string
	if !actor.Role.AtLeast(RoleSupervisor) {
		return out
	}
	for _, a := range ComplaintActions() {
		if checkComplaintStatus(a, c) == nil && checkComplaintOwner(a, c, actor) == nil {
			out = append(out, a)
		}
	}
	return out
}

var controlChars = regexp.MustCompile(`[\x00-\x1f\x7f]`)

// PlanComplaintTransition checks an action against the complaint and the actor and returns what
// it changes. Checks run in this order, so each refusal has one answer: unknown action or no actor
// (EINVALID); admin, specialist or unknown role (EFORBIDDEN); resolved complaint, wrong status or
// resolving an unanswered one (EINVALIDTRANSITION); not the owner where ownership matters
// (EFORBIDDEN); missing or bad inputs (EINVALID).
func PlanComplaintTransition(c *Complaint, req ComplaintTransitionRequest, actor Staff, now time.Time) (*ComplaintPlan, error) {
	if _, ok := complaintRules[req.Action]; !ok {
		return nil, Errorf(EINVALID, "Unknown action %q; the complaint actions are %s.", req.Action, strings.Join(ComplaintActions(), ", "))
	}
	if strings.TrimSpace(actor.Name) == "" {
		return nil, Errorf(EINVALID, "Actor is required.")
	}
	if !actor.Role.AtLeast(RoleSupervisor) {
		return nil, Errorf(EFORBIDDEN, "Your role (%s) may read complaints but not act on them; complaints are handled by supervisors and managers.", actor.Role)
	}
	if err := checkComplaintStatus(req.Action, c); err != nil {
		return nil, err
	}
	if err := checkComplaintOwner(req.Action, c, actor); err != nil {
		return nil, err
	}
	note := strings.TrimSpace(req.Note)
	if utf8.RuneCountInString(note) > MaxComplaintText {
		return nil, Errorf(EINVALID, "The note is longer than %d characters.", MaxComplaintText)
	}
	p := &ComplaintPlan{From: c.Status, To: c.Status, Owner: c.Owner, OwnerRole: c.OwnerRole,
		AuditAction: "complaint_" + req.Action}
	entry := func(event, note string) TimelineEntry {
		return TimelineEntry{At: now, Event: event, Actor: actor.Name, Note: note}
	}
	detail := []string{"action=" + req.Action, "from=" + c.Status}

	switch req.Action {
	case ComplaintActionAssign:
		owner := strings.TrimSpace(req.Owner)
		if owner == "" {
			owner = actor.Name
		}
		if len(owner) > 100 || controlChars.MatchString(owner) {
			return nil, Errorf(EINVALID, "The owner must be a staff member's name.")
		}
		p.Owner = owner
		n := "owner: " + owner
		if note != "" {
			n += "; " + note
		}
		p.Timeline = append(p.Timeline, entry("assigned", n))
		detail = append(detail, "owner="+owner)

	case ComplaintActionInvestigate:
		p.To = ComplaintInvestigating
		if c.Owner == "" {
			p.Owner = actor.Name // an unowned complaint belongs to whoever starts on it
			detail = append(detail, "owner="+actor.Name)
		}
		p.Timeline = append(p.Timeline, entry(ComplaintInvestigating, note))

	case ComplaintActionRespond:
		text := strings.TrimSpace(req.Response)
		if text == "" {
			return nil, Errorf(EINVALID, "A response needs its text (response): what the customer is told.")
		}
		if utf8.RuneCountInString(text) > MaxComplaintText {
			return nil, Errorf(EINVALID, "The response is longer than %d characters.", MaxComplaintText)
		}
		p.To = ComplaintResponded
		p.Response = &ComplaintResponse{At: now, By: actor.Name, Text: text, OmbudsmanNotice: OmbudsmanNotice}
		if c.Owner == "" {
			p.Owner = actor.Name
			detail = append(detail, "owner="+actor.Name)
		}
		p.Timeline = append(p.Timeline, entry(ComplaintResponded, note))
		p.NoticeKind = NoticeComplaintResponded
		p.NoticeData = ComplaintRespondedData(c, text)
		detail = append(detail, fmt.Sprintf("response_chars=%d", utf8.RuneCountInString(text)), "notice="+NoticeComplaintResponded)

	case ComplaintActionResolve:
		p.To = ComplaintResolved
		p.ResolvedAt = &now
		p.Timeline = append(p.Timeline, entry(ComplaintResolved, note))

	case ComplaintActionEscalate:
		p.To = ComplaintEscalated
		p.EscalatedAt = &now
		p.Owner, p.OwnerRole = "", RoleManager
		p.Timeline = append(p.Timeline, entry(ComplaintEscalated, note))
		detail = append(detail, "owner_role=manager")
	}
	detail = append(detail, "to="+p.To)
	if note != "" {
		detail = append(detail, "note="+note)
	}
	p.AuditDetail = strings.Join(detail, " ")
	return p, nil
}

// ComplaintRespondedData is the Data of a complaint_responded notice: the reply and the ombudsman
// route, whole and as a ready text (see Notice).
func ComplaintRespondedData(c *Complaint, response string) map[string]any {
	return map[string]any{
		"complaint":           c.ID,
		"case":                c.CaseID,
		"category":            c.Category,
		"response":            response,
		"ombudsman_notice":    OmbudsmanNotice,
		"ombudsman_notice_en": OmbudsmanNoticeEN,
		"ombudsman_phone":     OmbudsmanPhone,
		"ombudsman_days":      float64(OmbudsmanDays),
		"text":                response + "\n\n" + OmbudsmanNotice,
	}
}

// PlanOverdueEscalation returns the automatic escalation of c at now, or nil when c is not overdue,
// is resolved or escalated, or was escalated before (each complaint is escalated at most once).
func PlanOverdueEscalation(c *Complaint, now time.Time) *ComplaintPlan {
	if c.EscalatedAt != nil || c.Status == ComplaintResolved || c.Status == ComplaintEscalated {
		return nil
	}
	var reason string
	switch {
	case len(c.Responses) == 0 && now.After(c.Deadlines.FirstResponseDue):
		reason = "first_response_overdue"
	case now.After(c.Deadlines.ResolutionDue):
		reason = "resolution_overdue"
	default:
		return nil
	}
	due := c.Deadlines.FirstResponseDue
	if reason == "resolution_overdue" {
		due = c.Deadlines.ResolutionDue
	}
	note := fmt.Sprintf("automatic: %s (due %s); owned by the manager", strings.ReplaceAll(reason, "_", " "), due.Format(time.RFC3339))
	return &ComplaintPlan{From: c.Status, To: ComplaintEscalated, Owner: "", OwnerRole: RoleManager, EscalatedAt: &now,
		Timeline:    []TimelineEntry{{At: now, Event: ComplaintEscalated, Actor: "system", Note: note}},
		AuditAction: "complaint_escalated",
		AuditDetail: fmt.Sprintf("action=escalate from=%s to=%s owner_role=manager reason=%s due=%s automatic=true",
			c.Status, ComplaintEscalated, reason, due.Format(time.RFC3339))}
}

// ---- mass-complaint detection ----

// MassComplaintRules configure the detection: Threshold complaints sharing a topic within Window
// make an event. Keywords names keyword topics: a complaint whose description contains any of a
// topic's words (case-insensitive) counts for "keyword:<name>".
type MassComplaintRules struct {
	Threshold int                 // default DefaultMassComplaintThreshold
	Window    time.Duration       // default DefaultMassComplaintWindow
	Keywords  map[string][]string // default none
}

// ComplaintTopics returns the topics a complaint counts for: its category, the claim type of its
// linked case (claimType, "" when none), and each keyword topic its description matches. Sorted.
func ComplaintTopics(category, claimType, description string, keywords map[string][]string) []string {
	out := []string{"category:" + category}
	if claimType != "" {
		out = append(out, "claim_type:"+claimType)
	}
	desc := strings.ToLower(description)
	for name, words := range keywords {
		for _, w := range words {
			if w = strings.ToLower(strings.TrimSpace(w)); w != "" && strings.Contains(desc, w) {
				out = append(out, "keyword:"+name)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}
