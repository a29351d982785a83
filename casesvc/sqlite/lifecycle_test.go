package sqlite_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/sqlite"
)

var (
	amy = casesvc.Staff{Name: "amy", Role: casesvc.RoleSpecialist}
	ben = casesvc.Staff{Name: "ben", Role: casesvc.RoleSupervisor}
	cat = casesvc.Staff{Name: "cat", Role: casesvc.RoleManager}
	dan = casesvc.Staff{Name: "dan", Role: casesvc.RoleAdmin}
)

func f64(v float64) *float64 { return &v }

func doc(kind string) casesvc.NewDocument {
	return casesvc.NewDocument{Kind: kind, Filename: kind + ".pdf", ContentType: "application/pdf", Size: 1234,
		SHA256: fmt.Sprintf("%064x", len(kind)*7919+int(kind[0])), Channel: "telegram", Actor: "bot"}
}

// addAll sends every missing document of the case and returns the last result.
func addAll(t *testing.T, svc *sqlite.Service, id string) *casesvc.DocumentResult {
	t.Helper()
	c, err := svc.Case(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var res *casesvc.DocumentResult
	for _, k := range c.MissingDocuments {
		if res, err = svc.AddDocument(context.Background(), id, doc(k)); err != nil {
			t.Fatalf("add %s: %v", k, err)
		}
	}
	return res
}

// must(t)(svc.Transition(...)) fails the test on an error.
func must(t *testing.T) func(*casesvc.Case, error) *casesvc.Case {
	return func(c *casesvc.Case, err error) *casesvc.Case {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

func approveReq(now time.Time, amount float64) casesvc.TransitionRequest {
	by := now.AddDate(0, 0, 7)
	return casesvc.TransitionRequest{Action: casesvc.ActionApprove, Amount: &amount, Method: "bank_transfer", ExpectedPaymentBy: &by, Note: "ok"}
}

// caseInStatus files a medical claim and drives it to status through the public API.
func caseInStatus(t *testing.T, svc *sqlite.Service, clk *clock, status string) string {
	t.Helper()
	ctx := context.Background()
	c, err := svc.CreateCase(ctx, medicalClaim(""))
	if err != nil {
		t.Fatal(err)
	}
	if status == casesvc.StatusAwaitingDocuments {
		return c.ID
	}
	addAll(t, svc, c.ID)
	step := func(req casesvc.TransitionRequest, who casesvc.Staff) {
		t.Helper()
		if _, err := svc.Transition(ctx, c.ID, req, who); err != nil {
			t.Fatalf("to %s: %s: %v", status, req.Action, err)
		}
	}
	path := map[string][]string{
		casesvc.StatusInitialReview: {},
		casesvc.StatusSecondReview:  {"cir"},
		casesvc.StatusJointReview:   {"cir", "joint"},
		casesvc.StatusApproved:      {"cir", "approve"},
		casesvc.StatusRejected:      {"cir", "reject"},
		casesvc.StatusPaid:          {"cir", "approve", "pay"},
		casesvc.StatusClosed:        {"cir", "approve", "pay", "close"},
	}[status]
	for _, s := range path {
		switch s {
		case "cir":
			step(casesvc.TransitionRequest{Action: casesvc.ActionCompleteInitialReview, Amount: f64(30000)}, amy)
		case "joint":
			step(casesvc.TransitionRequest{Action: casesvc.ActionRequestJointReview, Note: "disputed"}, ben)
		case "approve":
			step(approveReq(clk.Now(), 30000), ben)
		case "reject":
			step(casesvc.TransitionRequest{Action: casesvc.ActionReject, Reason: "pre-existing condition", Basis: "clause 5.2"}, ben)
		case "pay":
			step(casesvc.TransitionRequest{Action: casesvc.ActionRecordPayment, Reference: "TX-77"}, ben)
		case "close":
			step(casesvc.TransitionRequest{Action: casesvc.ActionClose}, ben)
		}
	}
	got, _ := svc.Case(ctx, c.ID)
	if got.Status != status {
		t.Fatalf("drove to %s, got %s", status, got.Status)
	}
	return c.ID
}

func validReq(action string, now time.Time) casesvc.TransitionRequest {
	switch action {
	case casesvc.ActionCompleteInitialReview:
		return casesvc.TransitionRequest{Action: action, Amount: f64(30000)}
	case casesvc.ActionApprove:
		return approveReq(now, 30000)
	case casesvc.ActionReject:
		return casesvc.TransitionRequest{Action: action, Reason: "r", Basis: "b"}
	case casesvc.ActionRecordPayment:
		return casesvc.TransitionRequest{Action: action, Reference: "TX"}
	}
	return casesvc.TransitionRequest{Action: action}
}

func countNotices(t *testing.T, svc *sqlite.Service, id string) int {
	t.Helper()
	ns, err := svc.Notices(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return len(ns)
}

func TestTransitionStatusTableOnStore(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	fits := map[string][]string{
		casesvc.ActionCompleteInitialReview: {casesvc.StatusInitialReview},
		casesvc.ActionRequestJointReview:    {casesvc.StatusSecondReview},
		casesvc.ActionApprove:               {casesvc.StatusSecondReview, casesvc.StatusJointReview},
		casesvc.ActionReject:                {casesvc.StatusSecondReview, casesvc.StatusJointReview},
		casesvc.ActionRecordPayment:         {casesvc.StatusApproved},
		casesvc.ActionClose:                 {casesvc.StatusPaid, casesvc.StatusRejected},
	}
	statuses := []string{casesvc.StatusAwaitingDocuments, casesvc.StatusInitialReview, casesvc.StatusSecondReview,
		casesvc.StatusJointReview, casesvc.StatusApproved, casesvc.StatusRejected, casesvc.StatusPaid, casesvc.StatusClosed}
	for _, status := range statuses {
		for _, action := range casesvc.Actions() {
			t.Run(status+"/"+action, func(t *testing.T) {
				id := caseInStatus(t, svc, clk, status)
				before, _ := svc.Case(ctx, id)
				notices := countNotices(t, svc, id)
				audit, _ := svc.Audit(ctx, casesvc.AuditFilter{CaseID: id})
				got, err := svc.Transition(ctx, id, validReq(action, clk.Now()), cat)
				if slices.Contains(fits[action], status) {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
					if got.Status == status || len(got.Timeline) <= len(before.Timeline) {
						t.Errorf("status %s, timeline %d", got.Status, len(got.Timeline))
					}
					return
				}
				if casesvc.ErrorCode(err) != casesvc.EINVALIDTRANSITION {
					t.Fatalf("err = %v, want invalid_transition", err)
				}
				after, _ := svc.Case(ctx, id)
				audit2, _ := svc.Audit(ctx, casesvc.AuditFilter{CaseID: id})
				if after.Status != status || len(after.Timeline) != len(before.Timeline) || countNotices(t, svc, id) != notices || len(audit2) != len(audit) {
					t.Error("a refused transition changed something")
				}
			})
		}
	}
}

func TestTransitionRolesOnStore(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	tests := []struct {
		action, status string
		ok             []casesvc.Staff
	}{
		{casesvc.ActionCompleteInitialReview, casesvc.StatusInitialReview, []casesvc.Staff{amy, ben, cat}},
		{casesvc.ActionRequestJointReview, casesvc.StatusSecondReview, []casesvc.Staff{ben, cat}},
		{casesvc.ActionApprove, casesvc.StatusSecondReview, []casesvc.Staff{ben, cat}},
		{casesvc.ActionApprove, casesvc.StatusJointReview, []casesvc.Staff{cat}},
		{casesvc.ActionReject, casesvc.StatusSecondReview, []casesvc.Staff{ben, cat}},
		{casesvc.ActionReject, casesvc.StatusJointReview, []casesvc.Staff{cat}},
		{casesvc.ActionRecordPayment, casesvc.StatusApproved, []casesvc.Staff{ben, cat}},
		{casesvc.ActionClose, casesvc.StatusPaid, []casesvc.Staff{ben, cat}},
		{casesvc.ActionClose, casesvc.StatusRejected, []casesvc.Staff{ben, cat}},
	}
	for _, tt := range tests {
		for _, who := range []casesvc.Staff{amy, ben, cat, dan} {
			t.Run(tt.action+"/"+tt.status+"/"+string(who.Role), func(t *testing.T) {
				id := caseInStatus(t, svc, clk, tt.status)
				_, err := svc.Transition(ctx, id, validReq(tt.action, clk.Now()), who)
				if slices.Contains(tt.ok, who) {
					if err != nil {
						t.Fatalf("refused: %v", err)
					}
				} else if casesvc.ErrorCode(err) != casesvc.EFORBIDDEN {
					t.Fatalf("err = %v, want forbidden", err)
				}
			})
		}
	}
	if _, err := svc.Transition(ctx, "CLM-20261124-999999", validReq(casesvc.ActionClose, clk.Now()), ben); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Errorf("unknown case: %v", err)
	}
}

func TestDocumentsCompleteMovesToReviewAndStartsClock(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	c, err := svc.CreateCase(ctx, medicalClaim(""))
	if err != nil {
		t.Fatal(err)
	}
	// Two of five: still waiting, no clock, the other three still missing from the same list.
	for _, k := range []string{"claim_form", "id_document"} {
		res, err := svc.AddDocument(ctx, c.ID, doc(k))
		if err != nil || res.Completed || res.Case.Status != casesvc.StatusAwaitingDocuments {
			t.Fatalf("add %s: %+v, %v", k, res, err)
		}
	}
	got, _ := svc.Case(ctx, c.ID)
	if !slices.Equal(got.MissingDocuments, []string{"diagnosis_certificate", "medical_receipts", "bank_account"}) || got.Deadlines.PaymentDue != nil {
		t.Fatalf("after two: missing %v deadlines %+v", got.MissingDocuments, got.Deadlines)
	}
	// A document kind the case does not need is refused.
	if _, err := svc.AddDocument(ctx, c.ID, doc("police_report")); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("unneeded kind: %v", err)
	}
	// The same bytes again are not a second document.
	res, err := svc.AddDocument(ctx, c.ID, doc("claim_form"))
	if err != nil || !res.Duplicate || len(res.Case.Documents) != 2 {
		t.Errorf("duplicate: %+v, %v", res, err)
	}
	clk.Set(time.Date(2026, 11, 26, 14, 30, 0, 0, taipei))
	res = addAll(t, svc, c.ID)
	if !res.Completed || res.Case.Status != casesvc.StatusInitialReview || len(res.Case.MissingDocuments) != 0 {
		t.Fatalf("completion: %+v", res)
	}
	d := res.Case.Deadlines
	complete := time.Date(2026, 11, 26, 14, 30, 0, 0, taipei)
	if !d.DocumentsCompleteAt.Equal(complete) || !d.DecisionDue.Equal(complete.AddDate(0, 0, 10)) || !d.PaymentDue.Equal(complete.AddDate(0, 0, 15)) {
		t.Errorf("deadlines = %+v", d)
	}
	ns, _ := svc.Notices(ctx, c.ID)
	if len(ns) != 1 || ns[0].Kind != casesvc.NoticeDocumentsComplete || ns[0].Channel != "telegram" || ns[0].Conversation != "tg-42" ||
		ns[0].Data["payment_days"] != float64(15) {
		t.Errorf("notices = %+v", ns)
	}
	// Exactly one initial request, and the audit trail shows the completion.
	got, _ = svc.Case(ctx, c.ID)
	if len(got.DocumentRequests) != 1 {
		t.Errorf("requests = %+v", got.DocumentRequests)
	}
	audit, _ := svc.Audit(ctx, casesvc.AuditFilter{CaseID: c.ID})
	if !slices.ContainsFunc(audit, func(a casesvc.AuditEntry) bool { return a.Action == "documents_complete" }) {
		t.Errorf("audit = %+v", audit)
	}
	if _, err := svc.AddDocument(ctx, "CLM-20261124-999999", doc("claim_form")); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Errorf("unknown case: %v", err)
	}
}

func TestDocumentFromAnotherChannelMovesNotices(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := open(t)
	c, _ := svc.CreateCase(ctx, medicalClaim(""))
	nd := doc("claim_form")
	nd.Channel, nd.Conversation = "sms", "sms-+886912345678"
	res, err := svc.AddDocument(ctx, c.ID, nd)
	if err != nil || res.Case.Channel != "sms" || res.Case.Conversation != "sms-+886912345678" || res.Document.Channel != "sms" {
		t.Fatalf("res = %+v, %v", res, err)
	}
	addAll(t, svc, c.ID)
	ns, _ := svc.PendingNotices(ctx, 10)
	if len(ns) != 1 || ns[0].Channel != "sms" {
		t.Errorf("notice goes to %+v", ns)
	}
}

func TestRejectDocumentPutsClockBack(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	c, _ := svc.CreateCase(ctx, medicalClaim(""))
	res := addAll(t, svc, c.ID)
	if res.Case.Status != casesvc.StatusInitialReview {
		t.Fatal(res.Case.Status)
	}
	var diag casesvc.Document
	for _, d := range res.Case.Documents {
		if d.Kind == "diagnosis_certificate" {
			diag = d
		}
	}
	// Refusals first: nothing changes.
	if _, err := svc.RejectDocument(ctx, c.ID, diag.ID, "  ", amy); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("no reason: %v", err)
	}
	if _, err := svc.RejectDocument(ctx, c.ID, diag.ID, "blurred", dan); casesvc.ErrorCode(err) != casesvc.EFORBIDDEN {
		t.Errorf("admin: %v", err)
	}
	if _, err := svc.RejectDocument(ctx, c.ID, "DOC-NOPE", "blurred", amy); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Errorf("unknown document: %v", err)
	}
	other, _ := svc.CreateCase(ctx, medicalClaim(""))
	if _, err := svc.RejectDocument(ctx, other.ID, diag.ID, "blurred", amy); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Errorf("another case's document: %v", err)
	}
	if got, _ := svc.Case(ctx, c.ID); len(got.DocumentRequests) != 1 || got.Status != casesvc.StatusInitialReview {
		t.Fatalf("refusals changed the case: %+v", got)
	}

	clk.Set(clk.Now().Add(48 * time.Hour))
	got, err := svc.RejectDocument(ctx, c.ID, diag.ID, "照片模糊，看不清醫師簽章", amy)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != casesvc.StatusAwaitingDocuments || got.Deadlines.DocumentsCompleteAt != nil || got.Deadlines.PaymentDue != nil || got.Deadlines.DecisionDue != nil {
		t.Errorf("clock not stopped: %s %+v", got.Status, got.Deadlines)
	}
	if !slices.Equal(got.MissingDocuments, []string{"diagnosis_certificate"}) {
		t.Errorf("missing = %v", got.MissingDocuments)
	}
	if n := len(got.DocumentRequests); n != 2 {
		t.Fatalf("requests = %+v", got.DocumentRequests)
	}
	if r := got.DocumentRequests[1]; r.Reason != casesvc.RequestRejected || !slices.Equal(r.Kinds, []string{"diagnosis_certificate"}) ||
		r.Document != diag.ID || r.Note != "照片模糊，看不清醫師簽章" {
		t.Errorf("rejected request = %+v", r)
	}
	if _, err := svc.RejectDocument(ctx, c.ID, diag.ID, "again", ben); casesvc.ErrorCode(err) != casesvc.ECONFLICT {
		t.Errorf("second rejection: %v", err)
	}
	ns, _ := svc.Notices(ctx, c.ID)
	last := ns[len(ns)-1]
	if last.Kind != casesvc.NoticeDocumentRejected || last.Data["kind"] != "diagnosis_certificate" || last.Data["reason"] != "照片模糊，看不清醫師簽章" {
		t.Errorf("notice = %+v", last)
	}
	audit, _ := svc.Audit(ctx, casesvc.AuditFilter{CaseID: c.ID, Actor: "amy"})
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	if !slices.Equal(actions, []string{"document_rejected", "documents_requested"}) || !strings.Contains(audit[1].Detail, "reason=rejected") {
		t.Errorf("audit = %+v", audit)
	}

	// The replacement completes the checklist again: the clock restarts from its arrival.
	clk.Set(clk.Now().Add(24 * time.Hour))
	replacement := doc("diagnosis_certificate")
	replacement.SHA256 = strings.Repeat("ab", 32)
	res, err = svc.AddDocument(ctx, c.ID, replacement)
	if err != nil || !res.Completed || res.Case.Status != casesvc.StatusInitialReview || !res.Case.Deadlines.DocumentsCompleteAt.Equal(clk.Now()) {
		t.Fatalf("replacement: %+v, %v", res, err)
	}
	// Decided cases' documents cannot be rejected any more.
	id := caseInStatus(t, svc, clk, casesvc.StatusApproved)
	dc, _ := svc.Case(ctx, id)
	if _, err := svc.RejectDocument(ctx, id, dc.Documents[0].ID, "late", ben); casesvc.ErrorCode(err) != casesvc.EINVALIDTRANSITION {
		t.Errorf("reject after decision: %v", err)
	}
	closed := caseInStatus(t, svc, clk, casesvc.StatusClosed)
	if _, err := svc.AddDocument(ctx, closed, doc("claim_form")); casesvc.ErrorCode(err) != casesvc.EINVALIDTRANSITION {
		t.Errorf("document on a closed case: %v", err)
	}
}

func TestFullLifecycleWithNotices(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	c, _ := svc.CreateCase(ctx, medicalClaim(""))
	addAll(t, svc, c.ID)
	must(t)(svc.Transition(ctx, c.ID, casesvc.TransitionRequest{Action: casesvc.ActionCompleteInitialReview, Amount: f64(32000), Note: "matches receipts"}, amy))
	clk.Set(clk.Now().Add(time.Hour))
	got := must(t)(svc.Transition(ctx, c.ID, approveReq(clk.Now(), 32000), ben))
	if got.Status != casesvc.StatusApproved || got.Decision == nil || *got.Decision.Amount != 32000 || got.Decision.DecidedBy != "ben" {
		t.Fatalf("approved = %+v", got.Decision)
	}
	got = must(t)(svc.Transition(ctx, c.ID, casesvc.TransitionRequest{Action: casesvc.ActionRecordPayment, Reference: "TX-2026-1"}, ben))
	if got.Payment == nil || got.Payment.Amount != 32000 || got.Payment.Method != "bank_transfer" || got.Payment.Reference != "TX-2026-1" {
		t.Fatalf("payment = %+v", got.Payment)
	}
	got = must(t)(svc.Transition(ctx, c.ID, casesvc.TransitionRequest{Action: casesvc.ActionClose, Note: "archived"}, cat))
	if got.Status != casesvc.StatusClosed {
		t.Fatal(got.Status)
	}
	// One notice per customer-facing event, in order, with what the customer must be told.
	ns, _ := svc.Notices(ctx, c.ID)
	var kinds []string
	for _, n := range ns {
		kinds = append(kinds, n.Kind)
	}
	if !slices.Equal(kinds, []string{"documents_complete", "approved", "paid"}) {
		t.Fatalf("notice kinds = %v", kinds)
	}
	if d := ns[1].Data; d["amount"] != float64(32000) || d["method"] != "bank_transfer" || d["expected_payment_by"] != "2026-12-01" {
		t.Errorf("approved data = %v", d)
	}
	if d := ns[2].Data; d["reference"] != "TX-2026-1" || d["amount"] != float64(32000) || d["paid_at"] == "" {
		t.Errorf("paid data = %v", d)
	}
	// The audit trail shows every step with its actor.
	audit, _ := svc.Audit(ctx, casesvc.AuditFilter{CaseID: c.ID})
	var steps []string
	for _, a := range audit {
		if a.Action == "transition" {
			steps = append(steps, a.Actor+":"+strings.Fields(a.Detail)[0])
		}
	}
	if !slices.Equal(steps, []string{"amy:action=complete_initial_review", "ben:action=approve", "ben:action=record_payment", "cat:action=close"}) {
		t.Errorf("audit steps = %v", steps)
	}
	var events []string
	for _, e := range got.Timeline {
		events = append(events, e.Event)
	}
	want := []string{"received", "documents_requested", "awaiting_documents", "document_received", "document_received",
		"document_received", "document_received", "document_received", "documents_complete", "initial_review",
		"second_review", "approved", "paid", "closed"}
	if !slices.Equal(events, want) {
		t.Errorf("timeline = %v", events)
	}
	// Closed is read-only.
	for _, a := range casesvc.Actions() {
		if _, err := svc.Transition(ctx, c.ID, validReq(a, clk.Now()), cat); casesvc.ErrorCode(err) != casesvc.EINVALIDTRANSITION {
			t.Errorf("%s on closed: %v", a, err)
		}
	}
}

func TestJointReviewAutomaticAboveLimit(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	c, _ := svc.CreateCase(ctx, medicalClaim(""))
	addAll(t, svc, c.ID)
	got := must(t)(svc.Transition(ctx, c.ID, casesvc.TransitionRequest{Action: casesvc.ActionCompleteInitialReview, Amount: f64(1_500_000)}, amy))
	if got.Status != casesvc.StatusJointReview || *got.AssessedAmount != 1_500_000 {
		t.Fatalf("status %s", got.Status)
	}
	if _, err := svc.Transition(ctx, c.ID, approveReq(clk.Now(), 1_500_000), ben); casesvc.ErrorCode(err) != casesvc.EFORBIDDEN {
		t.Errorf("supervisor approving a joint review: %v", err)
	}
	must(t)(svc.Transition(ctx, c.ID, approveReq(clk.Now(), 1_500_000), cat))

	// From second review, an approval above the limit is refused until a joint review is requested.
	id := caseInStatus(t, svc, clk, casesvc.StatusSecondReview)
	if _, err := svc.Transition(ctx, id, approveReq(clk.Now(), 2_000_000), cat); casesvc.ErrorCode(err) != casesvc.EINVALIDTRANSITION {
		t.Errorf("above limit from second review: %v", err)
	}
	if n := countNotices(t, svc, id); n != 1 { // documents_complete only
		t.Errorf("a refused approval queued a notice: %d", n)
	}
}

func TestRejectionDecision(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	id := caseInStatus(t, svc, clk, casesvc.StatusSecondReview)
	if _, err := svc.Transition(ctx, id, casesvc.TransitionRequest{Action: casesvc.ActionReject, Reason: "not covered"}, ben); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("no basis: %v", err)
	}
	got := must(t)(svc.Transition(ctx, id, casesvc.TransitionRequest{Action: casesvc.ActionReject, Reason: "既往症不在承保範圍", Basis: "條款第5條第2項"}, ben))
	if got.Decision.Outcome != "rejected" || !got.Deadlines.RejectionNoticeDue.Equal(clk.Now().AddDate(0, 0, 3)) {
		t.Errorf("decision %+v deadlines %+v", got.Decision, got.Deadlines)
	}
	ns, _ := svc.Notices(ctx, id)
	if last := ns[len(ns)-1]; last.Kind != "rejected" || last.Data["basis"] != "條款第5條第2項" || last.Data["reason"] != "既往症不在承保範圍" {
		t.Errorf("notice = %+v", last)
	}
}

func TestOutboxDelivery(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	a := caseInStatus(t, svc, clk, casesvc.StatusInitialReview)
	b := caseInStatus(t, svc, clk, casesvc.StatusInitialReview)
	ns, err := svc.PendingNotices(ctx, 10)
	if err != nil || len(ns) != 2 || ns[0].CaseID != a || ns[1].CaseID != b || ns[0].ID >= ns[1].ID {
		t.Fatalf("pending = %+v, %v", ns, err)
	}
	if ns[0].IdempotencyID() != fmt.Sprintf("notice:%d", ns[0].ID) {
		t.Errorf("idempotency id %s", ns[0].IdempotencyID())
	}
	if one, _ := svc.PendingNotices(ctx, 1); len(one) != 1 || one[0].ID != ns[0].ID {
		t.Errorf("limit 1 = %+v", one)
	}
	// A relay that crashed after sending sees the notice again; marking twice is harmless.
	for range 2 {
		if err := svc.MarkNoticeDelivered(ctx, ns[0].ID); err != nil {
			t.Fatal(err)
		}
	}
	left, _ := svc.PendingNotices(ctx, 10)
	if len(left) != 1 || left[0].ID != ns[1].ID {
		t.Errorf("after marking = %+v", left)
	}
	all, _ := svc.Notices(ctx, a)
	if all[0].DeliveredAt == nil {
		t.Error("delivered_at not recorded")
	}
	if err := svc.MarkNoticeDelivered(ctx, 999999); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Errorf("unknown notice: %v", err)
	}
}

func TestOverdueAndLateInterest(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	start := clk.Now()
	review := caseInStatus(t, svc, clk, casesvc.StatusSecondReview) // assessed 30000, complete at start
	approved := caseInStatus(t, svc, clk, casesvc.StatusApproved)
	caseInStatus(t, svc, clk, casesvc.StatusPaid)
	caseInStatus(t, svc, clk, casesvc.StatusAwaitingDocuments)

	// Day 8: both decisions are due within 72h; nothing overdue yet.
	now := start.AddDate(0, 0, 8)
	items, err := svc.Overdue(ctx, now, 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].CaseID != review || items[0].Deadline != "decision_due" || items[0].Overdue {
		t.Errorf("day 8 = %+v", items)
	}
	// Day 25: ten days past payment_due for both; the review case's decision is overdue too.
	now = start.AddDate(0, 0, 25)
	items, _ = svc.Overdue(ctx, now, 0)
	var got []string
	for _, it := range items {
		got = append(got, fmt.Sprintf("%s:%s:%v:%v", it.CaseID, it.Deadline, it.Overdue, it.LateInterest))
	}
	want := []string{review + ":decision_due:true:0", review + ":payment_due:true:82", approved + ":payment_due:true:82"}
	if !slices.Equal(got, want) { // 30000 × 0.10 × 10/365 = 82.19
		t.Errorf("day 25 =\n%v\nwant\n%v", got, want)
	}
	// The case itself shows it, read at that time.
	clk.Set(now)
	c, _ := svc.Case(ctx, approved)
	if !c.Deadlines.Overdue || c.Deadlines.LateDays != 10 || c.Deadlines.LateInterest != 82 {
		t.Errorf("case deadlines = %+v", c.Deadlines)
	}
}

func TestLimitationWarningAtFiling(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	nc := medicalClaim("")
	nc.Incident.OccurredAt = clk.Now().AddDate(0, -23, -3)
	c, err := svc.CreateCase(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Deadlines.LimitationWarning || !c.Deadlines.LimitationAt.Equal(nc.Incident.OccurredAt.AddDate(2, 0, 0)) || c.ReportedLateDays == 0 {
		t.Errorf("deadlines = %+v late %d", c.Deadlines, c.ReportedLateDays)
	}
	fresh, _ := svc.CreateCase(ctx, medicalClaim(""))
	if fresh.Deadlines.LimitationWarning {
		t.Error("fresh claim warned")
	}
}

func TestEmergencyGreenChannel(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	if e, err := svc.CurrentEmergency(ctx); e != nil || err != nil {
		t.Fatalf("no emergency yet: %+v, %v", e, err)
	}
	ev := casesvc.Emergency{Active: true, Name: "颱風山竹", Regions: []string{"台東", "花蓮"}, From: "2026-11-20", To: "2026-11-23",
		Checklists: map[string][]string{"medical": {"claim_form", "medical_receipts"}}}
	if _, err := svc.SetEmergency(ctx, ev, ben); casesvc.ErrorCode(err) != casesvc.EFORBIDDEN {
		t.Errorf("supervisor declared: %v", err)
	}
	if _, err := svc.SetEmergency(ctx, ev, dan); casesvc.ErrorCode(err) != casesvc.EFORBIDDEN {
		t.Errorf("admin declared: %v", err)
	}
	stored, err := svc.SetEmergency(ctx, ev, cat)
	if err != nil || stored.DeclaredBy != "cat" {
		t.Fatalf("declare: %+v, %v", stored, err)
	}

	nc := medicalClaim("")
	nc.Incident.Place = "臺東馬偕醫院"
	c, err := svc.CreateCase(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	if c.Priority != "green_channel" || !c.FastTrack || c.Emergency != "颱風山竹" ||
		!slices.Equal(c.RequiredDocuments, []string{"claim_form", "medical_receipts"}) || !slices.Equal(c.DocumentRequests[0].Kinds, c.RequiredDocuments) {
		t.Fatalf("green channel case = %+v", c)
	}
	res := addAll(t, svc, c.ID)
	if !res.Completed || !res.Case.Deadlines.DecisionDue.Equal(clk.Now().AddDate(0, 0, 5)) || !res.Case.Deadlines.PaymentDue.Equal(clk.Now().AddDate(0, 0, 15)) {
		t.Errorf("fast track deadlines = %+v", res.Case.Deadlines)
	}
	// Elsewhere, or on another date, the usual checklist and priority.
	normal, _ := svc.CreateCase(ctx, medicalClaim("")) // 台大醫院
	if normal.Priority != "normal" || normal.FastTrack || len(normal.RequiredDocuments) != 5 {
		t.Errorf("outside the region = %+v", normal)
	}
	// Ending the event ends the green channel.
	if _, err := svc.SetEmergency(ctx, casesvc.Emergency{Active: false}, cat); err != nil {
		t.Fatal(err)
	}
	if e, _ := svc.CurrentEmergency(ctx); e != nil {
		t.Errorf("still active: %+v", e)
	}
	after, _ := svc.CreateCase(ctx, nc)
	if after.Priority != "normal" {
		t.Errorf("after the end = %s", after.Priority)
	}
	audit, _ := svc.Audit(ctx, casesvc.AuditFilter{Actor: "cat"})
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	if !slices.Equal(actions, []string{"emergency_declared", "emergency_ended"}) {
		t.Errorf("audit = %v", actions)
	}
}
