package casesvc_test

import (
	"slices"
	"testing"
	"time"

	"claimline/casesvc"
)

var tz = time.FixedZone("Asia/Taipei", 8*3600)

func ptr[T any](v T) *T { return &v }

// validRequest returns a request with every input its action needs.
func validRequest(action string, now time.Time) casesvc.TransitionRequest {
	r := casesvc.TransitionRequest{Action: action, Note: "checked"}
	switch action {
	case casesvc.ActionCompleteInitialReview:
		r.Amount = ptr(30000.0)
	case casesvc.ActionApprove:
		r.Amount, r.Method, r.ExpectedPaymentBy = ptr(30000.0), "bank_transfer", ptr(now.AddDate(0, 0, 7))
	case casesvc.ActionReject:
		r.Reason, r.Basis = "not covered", "clause 12"
	case casesvc.ActionRecordPayment:
		r.Reference = "TX-1"
	}
	return r
}

func caseIn(status string) *casesvc.Case {
	c := &casesvc.Case{ID: "CLM-20261124-000001", Status: status}
	if status == casesvc.StatusApproved {
		c.Decision = &casesvc.Decision{Outcome: "approved", Amount: ptr(30000.0), Method: "bank_transfer"}
	}
	return c
}

// The graph of LIFECYCLE.md: which action fits which status. Everything else is invalid_transition.
var allowed = map[string][]string{
	casesvc.ActionCompleteInitialReview: {casesvc.StatusInitialReview},
	casesvc.ActionRequestJointReview:    {casesvc.StatusSecondReview},
	casesvc.ActionApprove:               {casesvc.StatusSecondReview, casesvc.StatusJointReview},
	casesvc.ActionReject:                {casesvc.StatusSecondReview, casesvc.StatusJointReview},
	casesvc.ActionRecordPayment:         {casesvc.StatusApproved},
	casesvc.ActionClose:                 {casesvc.StatusPaid, casesvc.StatusRejected},
}

func TestPlanTransitionStatusTable(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, tz)
	manager := casesvc.Staff{Name: "cat", Role: casesvc.RoleManager}
	for _, action := range casesvc.Actions() {
		for _, status := range casesvc.Statuses() {
			t.Run(action+"/"+status, func(t *testing.T) {
				p, err := casesvc.PlanTransition(caseIn(status), validRequest(action, now), manager, casesvc.LifecycleRules{Now: now, Location: tz})
				if slices.Contains(allowed[action], status) {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					if p.From != status || p.To == "" || len(p.Timeline) == 0 || p.AuditDetail == "" {
						t.Errorf("plan = %+v", p)
					}
				} else if casesvc.ErrorCode(err) != casesvc.EINVALIDTRANSITION {
					t.Fatalf("err = %v, want invalid_transition", err)
				}
			})
		}
	}
}

func TestPlanTransitionRoleTable(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, tz)
	// allowedRoles per action and the status it is tried in.
	tests := []struct {
		action, status string
		roles          []casesvc.Role
	}{
		{casesvc.ActionCompleteInitialReview, casesvc.StatusInitialReview, []casesvc.Role{"specialist", "supervisor", "manager"}},
		{casesvc.ActionRequestJointReview, casesvc.StatusSecondReview, []casesvc.Role{"supervisor", "manager"}},
		{casesvc.ActionApprove, casesvc.StatusSecondReview, []casesvc.Role{"supervisor", "manager"}},
		{casesvc.ActionApprove, casesvc.StatusJointReview, []casesvc.Role{"manager"}},
		{casesvc.ActionReject, casesvc.StatusSecondReview, []casesvc.Role{"supervisor", "manager"}},
		{casesvc.ActionReject, casesvc.StatusJointReview, []casesvc.Role{"manager"}},
		{casesvc.ActionRecordPayment, casesvc.StatusApproved, []casesvc.Role{"supervisor", "manager"}},
		{casesvc.ActionClose, casesvc.StatusPaid, []casesvc.Role{"supervisor", "manager"}},
		{casesvc.ActionClose, casesvc.StatusRejected, []casesvc.Role{"supervisor", "manager"}},
	}
	for _, tt := range tests {
		for _, role := range []casesvc.Role{"specialist", "supervisor", "manager", "admin", "intern"} {
			t.Run(tt.action+"/"+tt.status+"/"+string(role), func(t *testing.T) {
				_, err := casesvc.PlanTransition(caseIn(tt.status), validRequest(tt.action, now),
					casesvc.Staff{Name: "x", Role: role}, casesvc.LifecycleRules{Now: now, Location: tz})
				if slices.Contains(tt.roles, role) {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
				} else if casesvc.ErrorCode(err) != casesvc.EFORBIDDEN {
					t.Fatalf("err = %v, want forbidden", err)
				}
			})
		}
	}
	// AvailableActions agrees with the tables.
	if got := casesvc.AvailableActions(casesvc.StatusSecondReview, casesvc.RoleSupervisor); !slices.Equal(got,
		[]string{casesvc.ActionRequestJointReview, casesvc.ActionApprove, casesvc.ActionReject}) {
		t.Errorf("AvailableActions = %v", got)
	}
	if got := casesvc.AvailableActions(casesvc.StatusJointReview, casesvc.RoleSupervisor); len(got) != 0 {
		t.Errorf("supervisor in joint review: %v", got)
	}
	if got := casesvc.AvailableActions(casesvc.StatusSecondReview, casesvc.RoleAdmin); len(got) != 0 {
		t.Errorf("admin: %v", got)
	}
}

func TestPlanTransitionInputs(t *testing.T) {
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, tz)
	sup := casesvc.Staff{Name: "ben", Role: casesvc.RoleSupervisor}
	mgr := casesvc.Staff{Name: "cat", Role: casesvc.RoleManager}
	rules := casesvc.LifecycleRules{Now: now, Location: tz, JointReviewAbove: 1_000_000}
	tests := []struct {
		name   string
		status string
		actor  casesvc.Staff
		mutate func(r *casesvc.TransitionRequest)
		code   string
	}{
		{"unknown action", casesvc.StatusSecondReview, sup, func(r *casesvc.TransitionRequest) { r.Action = "pay_twice" }, casesvc.EINVALID},
		{"approve without amount", casesvc.StatusSecondReview, sup, func(r *casesvc.TransitionRequest) { r.Amount = nil }, casesvc.EINVALID},
		{"approve zero", casesvc.StatusSecondReview, sup, func(r *casesvc.TransitionRequest) { r.Amount = ptr(0.0) }, casesvc.EINVALID},
		{"approve without method", casesvc.StatusSecondReview, sup, func(r *casesvc.TransitionRequest) { r.Method = " " }, casesvc.EINVALID},
		{"approve without date", casesvc.StatusSecondReview, sup, func(r *casesvc.TransitionRequest) { r.ExpectedPaymentBy = nil }, casesvc.EINVALID},
		{"approve date in the past", casesvc.StatusSecondReview, sup, func(r *casesvc.TransitionRequest) { r.ExpectedPaymentBy = ptr(now.AddDate(0, 0, -1)) }, casesvc.EINVALID},
		{"approve above limit in second review", casesvc.StatusSecondReview, mgr, func(r *casesvc.TransitionRequest) { r.Amount = ptr(1_000_001.0) }, casesvc.EINVALIDTRANSITION},
		{"approve above limit in joint review", casesvc.StatusJointReview, mgr, func(r *casesvc.TransitionRequest) { r.Amount = ptr(5_000_000.0) }, ""},
		{"approve at the limit in second review", casesvc.StatusSecondReview, sup, func(r *casesvc.TransitionRequest) { r.Amount = ptr(1_000_000.0) }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRequest(casesvc.ActionApprove, now)
			tt.mutate(&r)
			_, err := casesvc.PlanTransition(caseIn(tt.status), r, tt.actor, rules)
			if casesvc.ErrorCode(err) != tt.code {
				t.Fatalf("err = %v, want %q", err, tt.code)
			}
		})
	}
	for _, mutate := range []func(r *casesvc.TransitionRequest){
		func(r *casesvc.TransitionRequest) { r.Reason = "" },
		func(r *casesvc.TransitionRequest) { r.Basis = "  " },
	} {
		r := validRequest(casesvc.ActionReject, now)
		mutate(&r)
		if _, err := casesvc.PlanTransition(caseIn(casesvc.StatusSecondReview), r, sup, rules); casesvc.ErrorCode(err) != casesvc.EINVALID {
			t.Errorf("reject without reason or basis: %v", err)
		}
	}
	r := validRequest(casesvc.ActionRecordPayment, now)
	r.Reference = ""
	if _, err := casesvc.PlanTransition(caseIn(casesvc.StatusApproved), r, sup, rules); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("payment without reference: %v", err)
	}
	r = validRequest(casesvc.ActionRecordPayment, now)
	r.PaidAt = ptr(now.Add(time.Hour))
	if _, err := casesvc.PlanTransition(caseIn(casesvc.StatusApproved), r, sup, rules); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("payment in the future: %v", err)
	}

	// Initial review above the limit goes to joint review by itself.
	c := caseIn(casesvc.StatusInitialReview)
	r = validRequest(casesvc.ActionCompleteInitialReview, now)
	r.Amount = ptr(2_500_000.0)
	p, err := casesvc.PlanTransition(c, r, casesvc.Staff{Name: "amy", Role: casesvc.RoleSpecialist}, rules)
	if err != nil || p.To != casesvc.StatusJointReview || *p.AssessedAmount != 2_500_000 {
		t.Fatalf("plan = %+v, %v", p, err)
	}
	// The customer's estimate stands in for a missing amount; with neither the review cannot end.
	c.Incident.EstimatedAmount = ptr(12000.0)
	if p, err := casesvc.PlanTransition(c, casesvc.TransitionRequest{Action: casesvc.ActionCompleteInitialReview}, sup, rules); err != nil || *p.AssessedAmount != 12000 || p.To != casesvc.StatusSecondReview {
		t.Errorf("estimate fallback = %+v, %v", p, err)
	}
	c.Incident.EstimatedAmount = nil
	if _, err := casesvc.PlanTransition(c, casesvc.TransitionRequest{Action: casesvc.ActionCompleteInitialReview}, sup, rules); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("no amount: %v", err)
	}
	// A rejection records when its notice is due.
	p, err = casesvc.PlanTransition(caseIn(casesvc.StatusSecondReview), validRequest(casesvc.ActionReject, now), sup, rules)
	if err != nil || p.Deadlines.RejectionNoticeDue == nil || !p.Deadlines.RejectionNoticeDue.Equal(now.AddDate(0, 0, 3)) ||
		p.NoticeKind != casesvc.NoticeRejected || p.NoticeData["basis"] != "clause 12" {
		t.Errorf("reject plan = %+v, %v", p, err)
	}
}

func TestLateInterest(t *testing.T) {
	tests := []struct {
		amount float64
		days   int
		want   float64
	}{
		{100000, 30, 822}, // 100000 × 0.10 × 30/365 = 821.92
		{36500, 1, 10},    // exactly 10 a day
		{1000000, 365, 100000},
		{50000, 0, 0},
		{0, 10, 0},
	}
	for _, tt := range tests {
		if got := casesvc.LateInterest(tt.amount, tt.days); got != tt.want {
			t.Errorf("LateInterest(%v, %d) = %v, want %v", tt.amount, tt.days, got, tt.want)
		}
	}
}

func TestComputeDeadlines(t *testing.T) {
	complete := time.Date(2026, 11, 1, 9, 0, 0, 0, tz)
	base := func() *casesvc.Case {
		d := casesvc.DeadlinesFrom(complete, 10, 15)
		return &casesvc.Case{Status: casesvc.StatusSecondReview, Deadlines: d, AssessedAmount: ptr(73000.0),
			Incident:  casesvc.Incident{OccurredAt: time.Date(2026, 10, 30, 9, 0, 0, 0, tz)},
			CreatedAt: time.Date(2026, 10, 31, 9, 0, 0, 0, tz)}
	}
	due := complete.AddDate(0, 0, 15)

	c := base()
	casesvc.ComputeDeadlines(c, due.Add(-time.Hour))
	if c.Deadlines.Overdue || c.Deadlines.LateInterest != 0 {
		t.Errorf("before due: %+v", c.Deadlines)
	}
	c = base()
	casesvc.ComputeDeadlines(c, due.AddDate(0, 0, 10).Add(time.Hour))                          // 10 whole days late
	if !c.Deadlines.Overdue || c.Deadlines.LateDays != 10 || c.Deadlines.LateInterest != 200 { // 73000 × 0.1 × 10/365
		t.Errorf("10 days late: %+v", c.Deadlines)
	}
	// The approved amount counts over the assessed one.
	c = base()
	c.Status, c.Decision = casesvc.StatusApproved, &casesvc.Decision{Outcome: "approved", Amount: ptr(36500.0)}
	casesvc.ComputeDeadlines(c, due.AddDate(0, 0, 4))
	if !c.Deadlines.Overdue || c.Deadlines.LateInterest != 40 {
		t.Errorf("approved, 4 days late: %+v", c.Deadlines)
	}
	// Paid late: not overdue any more, the interest accrued until payment stays visible.
	c.Status, c.Payment = casesvc.StatusPaid, &casesvc.Payment{PaidAt: due.AddDate(0, 0, 2), Amount: 36500}
	casesvc.ComputeDeadlines(c, due.AddDate(0, 0, 30))
	if c.Deadlines.Overdue || c.Deadlines.LateDays != 2 || c.Deadlines.LateInterest != 20 {
		t.Errorf("paid 2 days late: %+v", c.Deadlines)
	}
	// A rejected claim owes nothing.
	c = base()
	c.Status, c.Decision = casesvc.StatusRejected, &casesvc.Decision{Outcome: "rejected"}
	casesvc.ComputeDeadlines(c, due.AddDate(0, 0, 30))
	if c.Deadlines.Overdue || c.Deadlines.LateInterest != 0 {
		t.Errorf("rejected: %+v", c.Deadlines)
	}
	// Without documents complete there is no clock.
	c = base()
	c.Deadlines = casesvc.Deadlines{}
	casesvc.ComputeDeadlines(c, due.AddDate(1, 0, 0))
	if c.Deadlines.Overdue || c.Deadlines.PaymentDue != nil {
		t.Errorf("no clock: %+v", c.Deadlines)
	}
}

func TestLimitationWarning(t *testing.T) {
	filed := time.Date(2026, 11, 24, 10, 0, 0, 0, tz)
	tests := []struct {
		occurred time.Time
		warn     bool
	}{
		{filed.AddDate(0, -23, 0).Add(time.Hour), false}, // just under 23 months
		{filed.AddDate(0, -23, -1), true},
		{filed.AddDate(-2, 0, -5), true}, // past the limit: still recorded, never refused
		{filed.AddDate(0, -1, 0), false},
	}
	for _, tt := range tests {
		c := &casesvc.Case{Status: casesvc.StatusAwaitingDocuments, CreatedAt: filed, Incident: casesvc.Incident{OccurredAt: tt.occurred}}
		casesvc.ComputeDeadlines(c, filed)
		if c.Deadlines.LimitationWarning != tt.warn || !c.Deadlines.LimitationAt.Equal(tt.occurred.AddDate(2, 0, 0)) {
			t.Errorf("occurred %v: %+v", tt.occurred, c.Deadlines)
		}
	}
}

func TestEmergencyMatchAndValidate(t *testing.T) {
	cat := casesvc.DefaultCatalog()
	e := casesvc.Emergency{Active: true, Name: "颱風山竹", Regions: []string{"台東", "Hualien", " "}, From: "2026-11-20", To: "2026-11-22",
		Checklists: map[string][]string{"property": {"claim_form", "damage_photos"}}}
	if err := casesvc.ValidateEmergency(&e, cat); err != nil {
		t.Fatal(err)
	}
	if len(e.Regions) != 2 {
		t.Errorf("blank region kept: %q", e.Regions)
	}
	at := func(y, m, d, h int) time.Time { return time.Date(y, time.Month(m), d, h, 0, 0, 0, tz) }
	tests := []struct {
		place string
		when  time.Time
		want  bool
	}{
		{"臺東縣成功鎮", at(2026, 11, 21, 9), true}, // 臺 = 台
		{"hualien city", at(2026, 11, 20, 0), true},
		{"台北市", at(2026, 11, 21, 9), false},
		{"台東", at(2026, 11, 23, 0), false},
		{"台東", at(2026, 11, 22, 23), true},
		{"台東", time.Date(2026, 11, 19, 17, 0, 0, 0, time.UTC), true}, // 01:00 on the 20th in Taipei
	}
	for _, tt := range tests {
		if got := e.Matches(casesvc.Incident{Place: tt.place, OccurredAt: tt.when}, tz); got != tt.want {
			t.Errorf("Matches(%s, %v) = %v", tt.place, tt.when, got)
		}
	}
	everywhere := e
	everywhere.Regions = nil
	if !everywhere.Matches(casesvc.Incident{Place: "台北市", OccurredAt: at(2026, 11, 21, 9)}, tz) {
		t.Error("an event without regions matches everywhere")
	}
	ended := e
	ended.Active = false
	if ended.Matches(casesvc.Incident{Place: "台東", OccurredAt: at(2026, 11, 21, 9)}, tz) {
		t.Error("an ended event matched")
	}
	for name, bad := range map[string]casesvc.Emergency{
		"no name":         {Active: true, From: "2026-11-20", To: "2026-11-22"},
		"bad date":        {Active: true, Name: "x", From: "11/20", To: "2026-11-22"},
		"to before from":  {Active: true, Name: "x", From: "2026-11-22", To: "2026-11-20"},
		"unknown type":    {Active: true, Name: "x", From: "2026-11-20", To: "2026-11-22", Checklists: map[string][]string{"pets": {"claim_form"}}},
		"unknown kind":    {Active: true, Name: "x", From: "2026-11-20", To: "2026-11-22", Checklists: map[string][]string{"property": {"selfie"}}},
		"empty checklist": {Active: true, Name: "x", From: "2026-11-20", To: "2026-11-22", Checklists: map[string][]string{"property": {}}},
	} {
		if err := casesvc.ValidateEmergency(&bad, cat); casesvc.ErrorCode(err) != casesvc.EINVALID {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCleanFilename(t *testing.T) {
	for in, want := range map[string]string{
		"診斷書.pdf":              "診斷書.pdf",
		"../../etc/passwd":     "passwd",
		`C:\Users\me\scan.jpg`: "scan.jpg",
		"a\x00b\nc.png":        "abc.png",
		"":                     "document",
		"..":                   "document",
	} {
		if got := casesvc.CleanFilename(in); got != want {
			t.Errorf("CleanFilename(%q) = %q, want %q", in, got, want)
		}
	}
}
