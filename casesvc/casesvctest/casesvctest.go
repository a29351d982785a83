// Package casesvctest is the contract test suite of casesvc.Service: one set of tests, written from
// the rules the interface documents (casesvc.go, complaint.go, LIFECYCLE.md, COMPLAINTS.md), that
// every implementation passes — the SQLite store, the PostgreSQL store and the HTTP client talking to
// a casesvc process. It checks behaviour through the interface only; store-specific invariants
// (triggers, migrations) stay in each store's own tests.
//
// Usage, from an implementation's _test.go:
//
//	casesvctest.TestService(t, func(t *testing.T, now func() time.Time) casesvc.Service {
//		svc, err := mystore.New(..., mystore.Config{Location: casesvctest.Location, Now: now})
//		...
//		t.Cleanup(func() { svc.Close() })
//		return svc
//	})
//
// open must return an empty store (no policies: the suite stores what it needs with PutPolicy) whose
// clock is now and whose zone is Location, with every other setting at its default.
package casesvctest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"claimline/casesvc"
)

// Location is the zone the suite expects the store to be configured with (Taiwan, UTC+8, no DST).
var Location = time.FixedZone("Asia/Taipei", 8*3600)

// Start is the suite's initial clock: 2026-11-24 10:00 in Taipei.
var Start = time.Date(2026, 11, 24, 10, 0, 0, 0, Location)

// Opener returns a fresh, empty store whose clock is now (see the package comment).
type Opener func(t *testing.T, now func() time.Time) casesvc.Service

// Clock is a settable clock, safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

// Set sets the clock.
func (c *Clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// Add moves the clock forward by d.
func (c *Clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

var (
	amy = casesvc.Staff{Name: "amy", Role: casesvc.RoleSpecialist}
	ben = casesvc.Staff{Name: "ben", Role: casesvc.RoleSupervisor}
	cat = casesvc.Staff{Name: "cat", Role: casesvc.RoleManager}
	dan = casesvc.Staff{Name: "dan", Role: casesvc.RoleAdmin}
)

// env is one subtest's store, clock and context.
type env struct {
	t   *testing.T
	svc casesvc.Service
	clk *Clock
	ctx context.Context
}

func setup(t *testing.T, open Opener) *env {
	t.Helper()
	clk := &Clock{t: Start}
	svc := open(t, clk.Now)
	e := &env{t: t, svc: svc, clk: clk, ctx: context.Background()}
	for _, p := range casesvc.DemoPolicies() {
		if err := svc.PutPolicy(e.ctx, p, "admin"); err != nil {
			t.Fatalf("PutPolicy %s: %v", p.Number, err)
		}
	}
	return e
}

// TestService runs the contract suite against the implementation open returns. Each subtest gets
// its own store.
func TestService(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(*env)
	}{
		{"Policies", testPolicies},
		{"CreateCase", testCreateCase},
		{"CreateCaseRejects", testCreateCaseRejects},
		{"DailyCounter", testDailyCounter},
		{"IdempotencyKey", testIdempotencyKey},
		{"ConcurrentCreate", testConcurrentCreate},
		{"CasesListAndByPolicy", testCasesList},
		{"AddDocumentCompletes", testAddDocumentCompletes},
		{"AddDocumentRules", testAddDocumentRules},
		{"RejectDocumentOneTimeNotice", testRejectDocument},
		{"TransitionRolesAndConflicts", testTransitionRoles},
		{"FullLifecycleAndNotices", testFullLifecycle},
		{"Overdue", testOverdue},
		{"EmergencyGreenChannel", testEmergency},
		{"NoticesOutbox", testNoticesOutbox},
		{"ComplaintCreate", testComplaintCreate},
		{"ComplaintTransitions", testComplaintTransitions},
		{"ComplaintEscalateOverdue", testEscalateOverdue},
		{"MassComplaintAlerts", testMassComplaint},
		{"Audit", testAudit},
		{"Catalog", testCatalog},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(setup(t, open))
		})
	}
}

// ---- helpers ----

func code(err error) string { return casesvc.ErrorCode(err) }

func (e *env) wantCode(err error, want, what string) {
	e.t.Helper()
	if got := code(err); got != want {
		e.t.Errorf("%s: code %q (%v), want %q", what, got, err, want)
	}
}

func (e *env) check(err error, what string) {
	e.t.Helper()
	if err != nil {
		e.t.Fatalf("%s: %v", what, err)
	}
}

func f64(v float64) *float64 { return &v }

func medicalClaim(key string) casesvc.NewCase {
	return casesvc.NewCase{
		IdempotencyKey: key,
		ClaimType:      "medical",
		PolicyNumber:   "HL20240017",
		Channel:        "telegram",
		Conversation:   "tg-42",
		Claimant:       casesvc.Person{Name: "王小明", Phone: "+886912345678", NationalID: "A123456789"},
		Incident: casesvc.Incident{
			OccurredAt:      time.Date(2026, 11, 23, 15, 0, 0, 0, Location),
			Place:           "台大醫院",
			Cause:           "急性盲腸炎",
			Description:     "住院三天",
			EstimatedAmount: f64(35000),
		},
		Actor: "bot",
	}
}

var medicalChecklist = []string{"claim_form", "id_document", "diagnosis_certificate", "medical_receipts", "bank_account"}

func doc(kind string) casesvc.NewDocument {
	return casesvc.NewDocument{Kind: kind, Filename: kind + ".pdf", ContentType: "application/pdf", Size: 1234,
		SHA256: fmt.Sprintf("%064x", len(kind)*7919+int(kind[0])), Channel: "telegram", Actor: "bot"}
}

func (e *env) create(nc casesvc.NewCase) *casesvc.Case {
	e.t.Helper()
	c, err := e.svc.CreateCase(e.ctx, nc)
	e.check(err, "CreateCase")
	return c
}

// addAll sends every missing document and returns the last result.
func (e *env) addAll(id string) *casesvc.DocumentResult {
	e.t.Helper()
	c, err := e.svc.Case(e.ctx, id)
	e.check(err, "Case")
	var res *casesvc.DocumentResult
	for _, k := range c.MissingDocuments {
		res, err = e.svc.AddDocument(e.ctx, id, doc(k))
		e.check(err, "AddDocument "+k)
	}
	return res
}

func (e *env) transition(id string, req casesvc.TransitionRequest, who casesvc.Staff) *casesvc.Case {
	e.t.Helper()
	c, err := e.svc.Transition(e.ctx, id, req, who)
	e.check(err, "Transition "+req.Action)
	return c
}

func (e *env) approveReq(amount float64) casesvc.TransitionRequest {
	by := e.clk.Now().AddDate(0, 0, 7)
	return casesvc.TransitionRequest{Action: casesvc.ActionApprove, Amount: &amount, Method: "bank_transfer", ExpectedPaymentBy: &by, Note: "ok"}
}

// caseIn files a medical claim and drives it to status through the interface.
func (e *env) caseIn(status string) string {
	e.t.Helper()
	c := e.create(medicalClaim(""))
	if status == casesvc.StatusAwaitingDocuments {
		return c.ID
	}
	e.addAll(c.ID)
	steps := map[string][]string{
		casesvc.StatusInitialReview: {},
		casesvc.StatusSecondReview:  {casesvc.ActionCompleteInitialReview},
		casesvc.StatusJointReview:   {casesvc.ActionCompleteInitialReview, casesvc.ActionRequestJointReview},
		casesvc.StatusApproved:      {casesvc.ActionCompleteInitialReview, casesvc.ActionApprove},
		casesvc.StatusRejected:      {casesvc.ActionCompleteInitialReview, casesvc.ActionReject},
		casesvc.StatusPaid:          {casesvc.ActionCompleteInitialReview, casesvc.ActionApprove, casesvc.ActionRecordPayment},
		casesvc.StatusClosed: {casesvc.ActionCompleteInitialReview, casesvc.ActionApprove, casesvc.ActionRecordPayment,
			casesvc.ActionClose},
	}[status]
	for _, a := range steps {
		req := casesvc.TransitionRequest{Action: a}
		switch a {
		case casesvc.ActionApprove:
			req = e.approveReq(32000)
		case casesvc.ActionReject:
			req.Reason, req.Basis = "not covered", "clause 7"
		case casesvc.ActionRecordPayment:
			req.Reference = "TX-1"
		}
		e.transition(c.ID, req, cat)
	}
	return c.ID
}

func events(tl []casesvc.TimelineEntry) []string {
	out := []string{}
	for _, x := range tl {
		out = append(out, x.Event)
	}
	return out
}

func (e *env) auditActions(f casesvc.AuditFilter) []string {
	e.t.Helper()
	entries, err := e.svc.Audit(e.ctx, f)
	e.check(err, "Audit")
	out := []string{}
	for _, a := range entries {
		out = append(out, a.Action)
	}
	return out
}

// pending returns the undelivered notices of one case or complaint (id), oldest first.
func (e *env) pending(id string) []casesvc.Notice {
	e.t.Helper()
	all, err := e.svc.PendingNotices(e.ctx, 1000)
	e.check(err, "PendingNotices")
	var out []casesvc.Notice
	for _, n := range all {
		if n.CaseID == id || (n.Complaint == id && id != "") {
			out = append(out, n)
		}
	}
	return out
}

func noticeKinds(ns []casesvc.Notice) []string {
	out := []string{}
	for _, n := range ns {
		out = append(out, n.Kind)
	}
	return out
}

// ---- policies ----

func testPolicies(e *env) {
	p, err := e.svc.Policy(e.ctx, "HL20240017")
	e.check(err, "Policy")
	if p.Holder.NationalID != "A123456789" || p.Holder.BirthDate != "1985-03-02" || p.Status != "active" ||
		!slices.Equal(p.ClaimTypes, []string{"medical", "accident", "critical_illness"}) || p.Currency != "TWD" {
		e.t.Errorf("policy is not returned whole and unmasked: %+v", p)
	}
	lf, err := e.svc.Policy(e.ctx, "LF20190456")
	e.check(err, "Policy")
	if lf.Insured == nil || lf.Insured.Name != "林志強" {
		e.t.Errorf("insured person lost: %+v", lf.Insured)
	}
	_, err = e.svc.Policy(e.ctx, "NOPE0001")
	e.wantCode(err, casesvc.ENOTFOUND, "unknown policy")

	// Replace: the new version wins; the currency defaults to TWD.
	np := *p
	np.Status = "lapsed"
	np.Currency = ""
	e.check(e.svc.PutPolicy(e.ctx, &np, "admin"), "PutPolicy replace")
	p2, err := e.svc.Policy(e.ctx, "HL20240017")
	e.check(err, "Policy")
	if p2.Status != "lapsed" || p2.Currency != "TWD" {
		e.t.Errorf("replaced policy = %+v", p2)
	}
	bad := np
	bad.Holder.NationalID = "A123456780" // bad checksum
	e.wantCode(e.svc.PutPolicy(e.ctx, &bad, "admin"), casesvc.EINVALID, "invalid national id")
	e.wantCode(e.svc.PutPolicy(e.ctx, &np, ""), casesvc.EINVALID, "no actor")
	if acts := e.auditActions(casesvc.AuditFilter{Actor: "admin"}); len(acts) != len(casesvc.DemoPolicies())+1 ||
		acts[len(acts)-1] != "policy_put" {
		e.t.Errorf("policy audit = %v", acts)
	}
}

// ---- cases ----

func testCreateCase(e *env) {
	c := e.create(medicalClaim("tg-42:7"))
	if c.ID != "CLM-20261124-000001" || !casesvc.ValidCaseID(c.ID) {
		e.t.Errorf("id = %s", c.ID)
	}
	if !slices.Equal(c.RequiredDocuments, medicalChecklist) || !slices.Equal(c.MissingDocuments, medicalChecklist) {
		e.t.Errorf("required %v missing %v", c.RequiredDocuments, c.MissingDocuments)
	}
	if c.Status != casesvc.StatusAwaitingDocuments || c.Priority != "normal" || c.FastTrack || c.ReportedLateDays != 0 {
		e.t.Errorf("status %s priority %s fast %v late %d", c.Status, c.Priority, c.FastTrack, c.ReportedLateDays)
	}
	if c.PolicyNumber != "HL20240017" || c.Channel != "telegram" || c.Conversation != "tg-42" || c.ClaimType != "medical" ||
		c.Claimant.NationalID != "A123456789" || c.Incident.Place != "台大醫院" || c.Incident.EstimatedAmount == nil ||
		*c.Incident.EstimatedAmount != 35000 || !c.Incident.OccurredAt.Equal(medicalClaim("").Incident.OccurredAt) {
		e.t.Errorf("case fields = %+v", c)
	}
	if !c.CreatedAt.Equal(Start) || !c.UpdatedAt.Equal(Start) {
		e.t.Errorf("created %v updated %v, want %v", c.CreatedAt, c.UpdatedAt, Start)
	}
	if len(c.DocumentRequests) != 1 {
		e.t.Fatalf("document requests = %+v", c.DocumentRequests)
	}
	if r := c.DocumentRequests[0]; r.Reason != casesvc.RequestInitial || r.Channel != "telegram" ||
		!slices.Equal(r.Kinds, medicalChecklist) || r.Document != "" {
		e.t.Errorf("initial request = %+v", r)
	}
	if c.Deadlines.PaymentDue != nil || c.Deadlines.DecisionDue != nil || c.Deadlines.DocumentsCompleteAt != nil {
		e.t.Errorf("the clock runs while documents are missing: %+v", c.Deadlines)
	}
	if got := events(c.Timeline); !slices.Equal(got, []string{"received", "documents_requested", "awaiting_documents"}) {
		e.t.Errorf("timeline = %v", got)
	}
	if got := e.auditActions(casesvc.AuditFilter{CaseID: c.ID}); !slices.Equal(got, []string{"case_created", "documents_requested"}) {
		e.t.Errorf("audit = %v", got)
	}
	got, err := e.svc.Case(e.ctx, c.ID)
	e.check(err, "Case")
	if got.ID != c.ID || got.Status != c.Status || !slices.Equal(got.MissingDocuments, c.MissingDocuments) ||
		len(got.DocumentRequests) != 1 {
		e.t.Errorf("Case = %+v", got)
	}
	_, err = e.svc.Case(e.ctx, "CLM-20261124-999999")
	e.wantCode(err, casesvc.ENOTFOUND, "unknown case")

	// Conditions add documents; a report later than 5 days is recorded, never refused.
	nc := medicalClaim("")
	nc.ClaimType = "accident"
	nc.Incident.Conditions = []string{"traffic_accident"}
	nc.Incident.OccurredAt = Start.AddDate(0, 0, -9)
	a := e.create(nc)
	if !slices.Contains(a.RequiredDocuments, "police_report") || a.ReportedLateDays != 9 {
		e.t.Errorf("accident: required %v late %d", a.RequiredDocuments, a.ReportedLateDays)
	}
}

func testCreateCaseRejects(e *env) {
	for _, tc := range []struct {
		name string
		mod  func(*casesvc.NewCase)
		want string
	}{
		{"no policy number", func(n *casesvc.NewCase) { n.PolicyNumber = "" }, casesvc.EINVALID},
		{"unknown policy", func(n *casesvc.NewCase) { n.PolicyNumber = "XX0000" }, casesvc.ENOTFOUND},
		{"lapsed policy", func(n *casesvc.NewCase) { n.PolicyNumber = "HL20180999" }, casesvc.EINVALID},
		{"claim type not covered", func(n *casesvc.NewCase) { n.ClaimType = "motor" }, casesvc.EINVALID},
		{"unknown claim type", func(n *casesvc.NewCase) { n.ClaimType = "pets" }, casesvc.EINVALID},
		{"future incident", func(n *casesvc.NewCase) { n.Incident.OccurredAt = Start.Add(48 * time.Hour) }, casesvc.EINVALID},
		{"no phone", func(n *casesvc.NewCase) { n.Claimant.Phone = "" }, casesvc.EINVALID},
		{"unknown condition", func(n *casesvc.NewCase) { n.Incident.Conditions = []string{"alien_abduction"} }, casesvc.EINVALID},
	} {
		nc := medicalClaim("")
		tc.mod(&nc)
		_, err := e.svc.CreateCase(e.ctx, nc)
		e.wantCode(err, tc.want, tc.name)
	}
	// A refused claim uses no number.
	if c := e.create(medicalClaim("")); c.ID != "CLM-20261124-000001" {
		e.t.Errorf("first accepted case = %s", c.ID)
	}
}

func testDailyCounter(e *env) {
	if c := e.create(medicalClaim("")); c.ID != "CLM-20261124-000001" {
		e.t.Errorf("first = %s", c.ID)
	}
	if c := e.create(medicalClaim("")); c.ID != "CLM-20261124-000002" {
		e.t.Errorf("second = %s", c.ID)
	}
	// 16:30 UTC on the 24th is 00:30 on the 25th in Taipei: a new day, numbered from 1.
	e.clk.Set(time.Date(2026, 11, 24, 16, 30, 0, 0, time.UTC))
	if c := e.create(medicalClaim("")); c.ID != "CLM-20261125-000001" {
		e.t.Errorf("next day = %s", c.ID)
	}
	nc := newComplaint("", casesvc.CategoryDelay)
	if c, err := e.svc.CreateComplaint(e.ctx, nc); err != nil || c.ID != "CMP-20261125-000001" {
		e.t.Errorf("complaint counter: %v %v", c, err)
	}
}

func testIdempotencyKey(e *env) {
	first := e.create(medicalClaim("tg-42:7"))
	again := e.create(medicalClaim("tg-42:7"))
	if again.ID != first.ID {
		e.t.Errorf("retry filed a second case: %s, then %s", first.ID, again.ID)
	}
	other := e.create(medicalClaim("tg-42:8"))
	if other.ID == first.ID {
		e.t.Error("another key returned the same case")
	}
	list, err := e.svc.CasesByPolicy(e.ctx, "HL20240017")
	e.check(err, "CasesByPolicy")
	if len(list) != 2 {
		e.t.Errorf("cases = %d, want 2", len(list))
	}
	if got := e.auditActions(casesvc.AuditFilter{CaseID: first.ID}); !slices.Equal(got, []string{"case_created", "documents_requested"}) {
		e.t.Errorf("a retry left audit rows: %v", got)
	}
	// Without keys, every submission is a new case.
	a, b := e.create(medicalClaim("")), e.create(medicalClaim(""))
	if a.ID == b.ID {
		e.t.Error("two keyless submissions got one case")
	}
	// Complaints too.
	c1, err := e.svc.CreateComplaint(e.ctx, newComplaint("tg-42:9", casesvc.CategoryDelay))
	e.check(err, "CreateComplaint")
	c2, err := e.svc.CreateComplaint(e.ctx, newComplaint("tg-42:9", casesvc.CategoryDelay))
	e.check(err, "CreateComplaint retry")
	if c1.ID != c2.ID {
		e.t.Errorf("complaint retry filed a second one: %s, %s", c1.ID, c2.ID)
	}
	_, total, err := e.svc.Complaints(e.ctx, casesvc.ComplaintFilter{})
	e.check(err, "Complaints")
	if total != 1 {
		e.t.Errorf("complaints = %d, want 1", total)
	}
}

func testConcurrentCreate(e *env) {
	const n = 8
	var wg sync.WaitGroup
	ids := make([]string, 2*n)
	errs := make([]error, 2*n)
	for i := range 2 * n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			key := ""
			if i >= n {
				key = "same-key" // n concurrent retries of one submission
			}
			c, err := e.svc.CreateCase(e.ctx, medicalClaim(key))
			if err == nil {
				ids[i] = c.ID
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for _, err := range errs {
		e.check(err, "concurrent CreateCase")
	}
	distinct := map[string]bool{}
	for _, id := range ids[:n] {
		distinct[id] = true
	}
	for _, id := range ids[n:] {
		if id != ids[n] {
			e.t.Errorf("concurrent retries got different cases: %v", ids[n:])
			break
		}
	}
	distinct[ids[n]] = true
	if len(distinct) != n+1 {
		e.t.Errorf("ids = %v: want %d distinct", ids, n+1)
	}
	_, total, err := e.svc.Cases(e.ctx, casesvc.CaseFilter{})
	e.check(err, "Cases")
	if total != n+1 {
		e.t.Errorf("total = %d, want %d", total, n+1)
	}
	for i := 1; i <= n+1; i++ {
		if !distinct[fmt.Sprintf("CLM-20261124-%06d", i)] {
			e.t.Errorf("the daily counter skipped or repeated: %v", ids)
			break
		}
	}
}

func testCasesList(e *env) {
	var ids []string
	for i := range 5 {
		e.clk.Add(time.Minute)
		nc := medicalClaim("")
		if i%2 == 1 {
			nc.PolicyNumber = "MT20250088"
			nc.ClaimType = "motor"
			nc.Incident.Place = "高雄市中正路"
			nc.Claimant.Name = "David Lin"
		}
		ids = append(ids, e.create(nc).ID)
	}
	all, total, err := e.svc.Cases(e.ctx, casesvc.CaseFilter{})
	e.check(err, "Cases")
	if total != 5 || len(all) != 5 || all[0].ID != ids[4] || all[4].ID != ids[0] {
		e.t.Errorf("newest first: total %d, %v", total, caseIDs(all))
	}
	page, total, err := e.svc.Cases(e.ctx, casesvc.CaseFilter{Page: 2, PerPage: 2})
	e.check(err, "Cases page")
	if total != 5 || !slices.Equal(caseIDs(page), []string{ids[2], ids[1]}) {
		e.t.Errorf("page 2 = %v (total %d)", caseIDs(page), total)
	}
	motor, total, err := e.svc.Cases(e.ctx, casesvc.CaseFilter{ClaimType: "motor"})
	e.check(err, "Cases motor")
	if total != 2 || !slices.Equal(caseIDs(motor), []string{ids[3], ids[1]}) {
		e.t.Errorf("motor = %v", caseIDs(motor))
	}
	q, total, err := e.svc.Cases(e.ctx, casesvc.CaseFilter{Query: "david"})
	e.check(err, "Cases query")
	if total != 2 || len(q) != 2 {
		e.t.Errorf("query david = %v", caseIDs(q))
	}
	q, total, err = e.svc.Cases(e.ctx, casesvc.CaseFilter{Query: "100%_"})
	e.check(err, "Cases query wildcards")
	if total != 0 || len(q) != 0 {
		e.t.Errorf("wildcards are literal: %v", caseIDs(q))
	}
	st, total, err := e.svc.Cases(e.ctx, casesvc.CaseFilter{Status: casesvc.StatusApproved})
	e.check(err, "Cases status")
	if total != 0 || len(st) != 0 {
		e.t.Errorf("approved = %v", caseIDs(st))
	}
	byPolicy, err := e.svc.CasesByPolicy(e.ctx, "HL20240017")
	e.check(err, "CasesByPolicy")
	if !slices.Equal(caseIDs(byPolicy), []string{ids[4], ids[2], ids[0]}) {
		e.t.Errorf("by policy = %v", caseIDs(byPolicy))
	}
	none, err := e.svc.CasesByPolicy(e.ctx, "TR20250123")
	if err != nil || len(none) != 0 {
		e.t.Errorf("no cases: %v, %v", none, err)
	}
}

func caseIDs(cs []*casesvc.Case) []string {
	out := []string{}
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

// ---- documents ----

func testAddDocumentCompletes(e *env) {
	c := e.create(medicalClaim(""))
	e.clk.Add(2 * time.Hour)
	var last *casesvc.DocumentResult
	for i, k := range medicalChecklist {
		res, err := e.svc.AddDocument(e.ctx, c.ID, doc(k))
		e.check(err, "AddDocument")
		if res.Document.ID == "" || res.Document.Kind != k || res.Document.Status != casesvc.DocumentReceived ||
			res.Document.Channel != "telegram" || res.Document.Filename != k+".pdf" || !res.Document.ReceivedAt.Equal(e.clk.Now()) {
			e.t.Errorf("document = %+v", res.Document)
		}
		if res.Duplicate {
			e.t.Error("first copy reported as a duplicate")
		}
		if done := i == len(medicalChecklist)-1; res.Completed != done {
			e.t.Errorf("after %s: completed = %v", k, res.Completed)
		}
		if i < len(medicalChecklist)-1 && res.Case.Status != casesvc.StatusAwaitingDocuments {
			e.t.Errorf("status after %s = %s", k, res.Case.Status)
		}
		last = res
	}
	cs := last.Case
	now := e.clk.Now()
	if cs.Status != casesvc.StatusInitialReview || len(cs.MissingDocuments) != 0 || len(cs.Documents) != 5 {
		e.t.Fatalf("completed case: status %s missing %v docs %d", cs.Status, cs.MissingDocuments, len(cs.Documents))
	}
	d := cs.Deadlines
	if d.DocumentsCompleteAt == nil || !d.DocumentsCompleteAt.Equal(now) ||
		d.DecisionDue == nil || !d.DecisionDue.Equal(now.AddDate(0, 0, casesvc.DefaultDecisionDays)) ||
		d.PaymentDue == nil || !d.PaymentDue.Equal(now.AddDate(0, 0, casesvc.DefaultPaymentDays)) {
		e.t.Errorf("deadlines = %+v", d)
	}
	if len(cs.DocumentRequests) != 1 {
		e.t.Errorf("completing added a request: %+v", cs.DocumentRequests)
	}
	tl := events(cs.Timeline)
	if !slices.Equal(tl[len(tl)-2:], []string{"documents_complete", casesvc.StatusInitialReview}) {
		e.t.Errorf("timeline = %v", tl)
	}
	ns := e.pending(c.ID)
	if !slices.Equal(noticeKinds(ns), []string{casesvc.NoticeDocumentsComplete}) {
		e.t.Fatalf("notices = %v", noticeKinds(ns))
	}
	n := ns[0]
	if n.Channel != "telegram" || n.Conversation != "tg-42" || n.Data["decision_days"] != float64(casesvc.DefaultDecisionDays) ||
		n.Data["payment_days"] != float64(casesvc.DefaultPaymentDays) || n.Data["fast_track"] != false ||
		n.Data["payment_due"] != d.PaymentDue.Format(time.RFC3339) {
		e.t.Errorf("documents_complete notice = %+v", n)
	}
	acts := e.auditActions(casesvc.AuditFilter{CaseID: c.ID})
	if !slices.Contains(acts, "documents_complete") || !slices.Contains(acts, "document_received") {
		e.t.Errorf("audit = %v", acts)
	}
	// A document after completion is recorded without a second notice or a change of status.
	res, err := e.svc.AddDocument(e.ctx, c.ID, casesvc.NewDocument{Kind: "medical_receipts", Filename: "more.pdf",
		SHA256: strings.Repeat("ab", 32), Actor: "bot"})
	e.check(err, "extra document")
	if res.Completed || res.Case.Status != casesvc.StatusInitialReview || len(e.pending(c.ID)) != 1 {
		e.t.Errorf("extra document: completed %v status %s", res.Completed, res.Case.Status)
	}
}

func testAddDocumentRules(e *env) {
	c := e.create(medicalClaim(""))
	first, err := e.svc.AddDocument(e.ctx, c.ID, doc("claim_form"))
	e.check(err, "AddDocument")
	// The same bytes for the same kind: the stored document, not a second one.
	dup, err := e.svc.AddDocument(e.ctx, c.ID, doc("claim_form"))
	e.check(err, "duplicate")
	if !dup.Duplicate || dup.Document.ID != first.Document.ID || len(dup.Case.Documents) != 1 {
		e.t.Errorf("duplicate = %+v (docs %d)", dup.Document, len(dup.Case.Documents))
	}
	_, err = e.svc.AddDocument(e.ctx, c.ID, doc("police_report"))
	e.wantCode(err, casesvc.EINVALID, "kind not on the checklist")
	_, err = e.svc.AddDocument(e.ctx, c.ID, casesvc.NewDocument{Kind: ""})
	e.wantCode(err, casesvc.EINVALID, "no kind")
	_, err = e.svc.AddDocument(e.ctx, "CLM-20261124-999999", doc("claim_form"))
	e.wantCode(err, casesvc.ENOTFOUND, "unknown case")
	// A file name keeps only its base name.
	res, err := e.svc.AddDocument(e.ctx, c.ID, casesvc.NewDocument{Kind: "id_document", Filename: `C:\Users\me\身分證.jpg`})
	e.check(err, "AddDocument path")
	if res.Document.Filename != "身分證.jpg" {
		e.t.Errorf("filename = %q", res.Document.Filename)
	}
	// A document from another channel moves the case's notices there.
	nd := doc("diagnosis_certificate")
	nd.Channel, nd.Conversation = "sms", "+886912345678"
	res, err = e.svc.AddDocument(e.ctx, c.ID, nd)
	e.check(err, "AddDocument sms")
	if res.Case.Channel != "sms" || res.Case.Conversation != "+886912345678" {
		e.t.Errorf("case channel = %s/%s", res.Case.Channel, res.Case.Conversation)
	}
	// A closed case takes no more documents.
	closed := e.caseIn(casesvc.StatusClosed)
	_, err = e.svc.AddDocument(e.ctx, closed, doc("claim_form"))
	e.wantCode(err, casesvc.EINVALIDTRANSITION, "closed case")
}

func testRejectDocument(e *env) {
	id := e.caseIn(casesvc.StatusInitialReview)
	c, err := e.svc.Case(e.ctx, id)
	e.check(err, "Case")
	var diag casesvc.Document
	for _, d := range c.Documents {
		if d.Kind == "diagnosis_certificate" {
			diag = d
		}
	}
	_, err = e.svc.RejectDocument(e.ctx, id, diag.ID, "", amy)
	e.wantCode(err, casesvc.EINVALID, "empty reason")
	_, err = e.svc.RejectDocument(e.ctx, id, diag.ID, "模糊", dan)
	e.wantCode(err, casesvc.EFORBIDDEN, "admin rejects")
	_, err = e.svc.RejectDocument(e.ctx, id, "DOC-NOPE", "模糊", amy)
	e.wantCode(err, casesvc.ENOTFOUND, "unknown document")
	_, err = e.svc.RejectDocument(e.ctx, "CLM-20261124-999999", diag.ID, "模糊", amy)
	e.wantCode(err, casesvc.ENOTFOUND, "unknown case")

	e.clk.Add(time.Hour)
	out, err := e.svc.RejectDocument(e.ctx, id, diag.ID, "照片模糊，請重新拍攝", amy)
	e.check(err, "RejectDocument")
	if out.Status != casesvc.StatusAwaitingDocuments || out.Deadlines.DecisionDue != nil || out.Deadlines.PaymentDue != nil {
		e.t.Errorf("after rejection: status %s deadlines %+v", out.Status, out.Deadlines)
	}
	if !slices.Equal(out.MissingDocuments, []string{"diagnosis_certificate"}) {
		e.t.Errorf("missing = %v", out.MissingDocuments)
	}
	var rejected casesvc.Document
	for _, d := range out.Documents {
		if d.ID == diag.ID {
			rejected = d
		}
	}
	if rejected.Status != casesvc.DocumentRejected || rejected.RejectReason != "照片模糊，請重新拍攝" || rejected.RejectedBy != "amy" ||
		rejected.RejectedAt == nil || !rejected.RejectedAt.Equal(e.clk.Now()) {
		e.t.Errorf("rejected document = %+v", rejected)
	}
	// The one-time notice: one initial request, then one "rejected" request naming exactly that document.
	if len(out.DocumentRequests) != 2 {
		e.t.Fatalf("requests = %+v", out.DocumentRequests)
	}
	init, again := out.DocumentRequests[0], out.DocumentRequests[1]
	if init.Reason != casesvc.RequestInitial || again.Reason != casesvc.RequestRejected ||
		!slices.Equal(again.Kinds, []string{"diagnosis_certificate"}) || again.Document != diag.ID || again.Note != "照片模糊，請重新拍攝" {
		e.t.Errorf("requests = %+v", out.DocumentRequests)
	}
	ns := e.pending(id)
	if k := noticeKinds(ns); !slices.Equal(k, []string{casesvc.NoticeDocumentsComplete, casesvc.NoticeDocumentRejected}) {
		e.t.Fatalf("notices = %v", k)
	}
	if n := ns[1]; n.Data["kind"] != "diagnosis_certificate" || n.Data["reason"] != "照片模糊，請重新拍攝" || n.Data["document"] != diag.ID {
		e.t.Errorf("document_rejected notice = %+v", n.Data)
	}
	acts := e.auditActions(casesvc.AuditFilter{CaseID: id})
	if !slices.Contains(acts, "document_rejected") || !slices.Contains(acts, "status_changed") {
		e.t.Errorf("audit = %v", acts)
	}

	// A rejection is once per document.
	_, err = e.svc.RejectDocument(e.ctx, id, diag.ID, "again", amy)
	e.wantCode(err, casesvc.ECONFLICT, "second rejection")
	after, err := e.svc.Case(e.ctx, id)
	e.check(err, "Case")
	if len(after.DocumentRequests) != 2 {
		e.t.Errorf("a refused rejection added a request: %+v", after.DocumentRequests)
	}

	// The replacement completes the checklist again: back to initial_review, the clock restarts.
	e.clk.Add(24 * time.Hour)
	nd := doc("diagnosis_certificate")
	nd.SHA256 = strings.Repeat("cd", 32)
	res, err := e.svc.AddDocument(e.ctx, id, nd)
	e.check(err, "replacement")
	if !res.Completed || res.Case.Status != casesvc.StatusInitialReview || res.Case.Deadlines.DocumentsCompleteAt == nil ||
		!res.Case.Deadlines.DocumentsCompleteAt.Equal(e.clk.Now()) || len(res.Case.DocumentRequests) != 2 {
		e.t.Errorf("replacement: completed %v status %s deadlines %+v", res.Completed, res.Case.Status, res.Case.Deadlines)
	}
	// Awaiting documents: a rejection keeps the status. Decided cases: documents are final.
	aw := e.create(medicalClaim(""))
	r, err := e.svc.AddDocument(e.ctx, aw.ID, doc("claim_form"))
	e.check(err, "AddDocument")
	got, err := e.svc.RejectDocument(e.ctx, aw.ID, r.Document.ID, "wrong form", ben)
	e.check(err, "reject while awaiting")
	if got.Status != casesvc.StatusAwaitingDocuments || len(got.DocumentRequests) != 2 {
		e.t.Errorf("awaiting: %s %+v", got.Status, got.DocumentRequests)
	}
	approved := e.caseIn(casesvc.StatusApproved)
	ac, err := e.svc.Case(e.ctx, approved)
	e.check(err, "Case")
	_, err = e.svc.RejectDocument(e.ctx, approved, ac.Documents[0].ID, "late", cat)
	e.wantCode(err, casesvc.EINVALIDTRANSITION, "decided case")
}

// ---- lifecycle ----

func testTransitionRoles(e *env) {
	id := e.caseIn(casesvc.StatusInitialReview)
	_, err := e.svc.Transition(e.ctx, id, casesvc.TransitionRequest{Action: "teleport"}, cat)
	e.wantCode(err, casesvc.EINVALID, "unknown action")
	_, err = e.svc.Transition(e.ctx, id, casesvc.TransitionRequest{Action: casesvc.ActionCompleteInitialReview}, dan)
	e.wantCode(err, casesvc.EFORBIDDEN, "admin decides")
	_, err = e.svc.Transition(e.ctx, id, e.approveReq(1000), ben)
	e.wantCode(err, casesvc.EINVALIDTRANSITION, "approve in initial_review")
	_, err = e.svc.Transition(e.ctx, "CLM-20261124-999999", casesvc.TransitionRequest{Action: casesvc.ActionClose}, cat)
	e.wantCode(err, casesvc.ENOTFOUND, "unknown case")

	c := e.transition(id, casesvc.TransitionRequest{Action: casesvc.ActionCompleteInitialReview, Amount: f64(30000)}, amy)
	if c.Status != casesvc.StatusSecondReview || c.AssessedAmount == nil || *c.AssessedAmount != 30000 {
		e.t.Errorf("after initial review: %s %v", c.Status, c.AssessedAmount)
	}
	_, err = e.svc.Transition(e.ctx, id, e.approveReq(30000), amy)
	e.wantCode(err, casesvc.EFORBIDDEN, "specialist approves")
	_, err = e.svc.Transition(e.ctx, id, casesvc.TransitionRequest{Action: casesvc.ActionApprove, Amount: f64(30000)}, ben)
	e.wantCode(err, casesvc.EINVALID, "approve without method")
	_, err = e.svc.Transition(e.ctx, id, e.approveReq(2_000_000), ben)
	e.wantCode(err, casesvc.EINVALIDTRANSITION, "approve above the joint-review limit")
	e.transition(id, casesvc.TransitionRequest{Action: casesvc.ActionRequestJointReview}, ben)
	_, err = e.svc.Transition(e.ctx, id, e.approveReq(2_000_000), ben)
	e.wantCode(err, casesvc.EFORBIDDEN, "supervisor decides a joint review")
	c = e.transition(id, e.approveReq(2_000_000), cat)
	if c.Status != casesvc.StatusApproved || c.Decision == nil || c.Decision.DecidedBy != "cat" {
		e.t.Errorf("approved: %s %+v", c.Status, c.Decision)
	}
	// A refused action changes nothing.
	before, err := e.svc.Case(e.ctx, id)
	e.check(err, "Case")
	_, err = e.svc.Transition(e.ctx, id, casesvc.TransitionRequest{Action: casesvc.ActionClose}, cat)
	e.wantCode(err, casesvc.EINVALIDTRANSITION, "close an approved case")
	after, err := e.svc.Case(e.ctx, id)
	e.check(err, "Case")
	if after.Status != before.Status || len(after.Timeline) != len(before.Timeline) {
		e.t.Error("a refused transition left a trace")
	}
	// Above the limit at initial review: joint review by itself.
	j := e.caseIn(casesvc.StatusInitialReview)
	jc := e.transition(j, casesvc.TransitionRequest{Action: casesvc.ActionCompleteInitialReview, Amount: f64(1_500_000)}, amy)
	if jc.Status != casesvc.StatusJointReview {
		e.t.Errorf("automatic joint review: %s", jc.Status)
	}
	// Closed is final.
	closed := e.caseIn(casesvc.StatusClosed)
	_, err = e.svc.Transition(e.ctx, closed, casesvc.TransitionRequest{Action: casesvc.ActionClose}, cat)
	e.wantCode(err, casesvc.EINVALIDTRANSITION, "closed case")
}

func testFullLifecycle(e *env) {
	id := e.caseIn(casesvc.StatusInitialReview)
	e.clk.Add(24 * time.Hour)
	e.transition(id, casesvc.TransitionRequest{Action: casesvc.ActionCompleteInitialReview}, amy) // the estimate
	c := e.transition(id, e.approveReq(32000), ben)
	if c.Decision == nil || c.Decision.Amount == nil || *c.Decision.Amount != 32000 || c.Decision.Method != "bank_transfer" ||
		c.Decision.ExpectedPaymentBy == nil || c.AssessedAmount == nil || *c.AssessedAmount != 35000 {
		e.t.Errorf("decision = %+v assessed %v", c.Decision, c.AssessedAmount)
	}
	e.clk.Add(time.Hour)
	c = e.transition(id, casesvc.TransitionRequest{Action: casesvc.ActionRecordPayment, Reference: "TX-77"}, ben)
	if c.Status != casesvc.StatusPaid || c.Payment == nil || c.Payment.Amount != 32000 || c.Payment.Reference != "TX-77" ||
		!c.Payment.PaidAt.Equal(e.clk.Now()) || c.Deadlines.Overdue {
		e.t.Errorf("payment = %+v overdue %v", c.Payment, c.Deadlines.Overdue)
	}
	c = e.transition(id, casesvc.TransitionRequest{Action: casesvc.ActionClose, Note: "done"}, ben)
	if c.Status != casesvc.StatusClosed || !c.UpdatedAt.Equal(e.clk.Now()) {
		e.t.Errorf("closed: %s updated %v", c.Status, c.UpdatedAt)
	}
	want := []string{casesvc.NoticeDocumentsComplete, casesvc.NoticeApproved, casesvc.NoticePaid}
	ns := e.pending(id)
	if !slices.Equal(noticeKinds(ns), want) {
		e.t.Errorf("notices = %v, want %v", noticeKinds(ns), want)
	}
	if len(ns) == 3 && (ns[1].Data["amount"] != float64(32000) || ns[2].Data["reference"] != "TX-77") {
		e.t.Errorf("notice data: %+v / %+v", ns[1].Data, ns[2].Data)
	}
	tl := events(c.Timeline)
	for _, ev := range []string{casesvc.StatusSecondReview, casesvc.StatusApproved, casesvc.StatusPaid, casesvc.StatusClosed} {
		if !slices.Contains(tl, ev) {
			e.t.Errorf("timeline %v lacks %s", tl, ev)
		}
	}
	n := 0
	for _, a := range e.auditActions(casesvc.AuditFilter{CaseID: id}) {
		if a == "transition" {
			n++
		}
	}
	if n != 4 {
		e.t.Errorf("transition audit rows = %d, want 4", n)
	}
	// Rejection: reason and basis, a notice due within 3 days.
	r := e.caseIn(casesvc.StatusSecondReview)
	_, err := e.svc.Transition(e.ctx, r, casesvc.TransitionRequest{Action: casesvc.ActionReject, Reason: "no"}, ben)
	e.wantCode(err, casesvc.EINVALID, "reject without basis")
	rc := e.transition(r, casesvc.TransitionRequest{Action: casesvc.ActionReject, Reason: "not covered", Basis: "clause 7"}, ben)
	if rc.Status != casesvc.StatusRejected || rc.Deadlines.RejectionNoticeDue == nil ||
		!rc.Deadlines.RejectionNoticeDue.Equal(e.clk.Now().AddDate(0, 0, casesvc.RejectionNoticeDays)) {
		e.t.Errorf("rejected: %s %+v", rc.Status, rc.Deadlines)
	}
	if k := noticeKinds(e.pending(r)); k[len(k)-1] != casesvc.NoticeRejected {
		e.t.Errorf("rejection notices = %v", k)
	}
}

func testOverdue(e *env) {
	id := e.caseIn(casesvc.StatusInitialReview) // decision due +10d, payment due +15d
	e.caseIn(casesvc.StatusAwaitingDocuments)   // no clock
	items, err := e.svc.Overdue(e.ctx, e.clk.Now(), 24*time.Hour)
	e.check(err, "Overdue")
	if len(items) != 0 {
		e.t.Errorf("nothing due yet: %+v", items)
	}
	now := Start.AddDate(0, 0, 12)
	items, err = e.svc.Overdue(e.ctx, now, 5*24*time.Hour)
	e.check(err, "Overdue")
	if len(items) != 2 || items[0].Deadline != "decision_due" || !items[0].Overdue || items[1].Deadline != "payment_due" ||
		items[1].Overdue || items[0].CaseID != id || items[0].Kind != casesvc.DeadlineKindCase {
		e.t.Fatalf("items = %+v", items)
	}
	// Past payment_due: late interest on the estimate (35000 × 10% × 5/365 ≈ 48).
	now = Start.AddDate(0, 0, 20)
	items, err = e.svc.Overdue(e.ctx, now, 0)
	e.check(err, "Overdue")
	var pay *casesvc.DeadlineItem
	for i := range items {
		if items[i].Deadline == "payment_due" {
			pay = &items[i]
		}
	}
	if pay == nil || !pay.Overdue || pay.LateInterest != casesvc.LateInterest(35000, 5) {
		e.t.Errorf("payment item = %+v", pay)
	}
	e.clk.Set(now)
	c, err := e.svc.Case(e.ctx, id)
	e.check(err, "Case")
	if !c.Deadlines.Overdue || c.Deadlines.LateDays != 5 {
		e.t.Errorf("case deadlines = %+v", c.Deadlines)
	}
	// An unanswered complaint's first response shows up too.
	e.clk.Set(Start)
	cp, err := e.svc.CreateComplaint(e.ctx, newComplaint("", casesvc.CategoryDelay))
	e.check(err, "CreateComplaint")
	items, err = e.svc.Overdue(e.ctx, Start.AddDate(0, 0, 8), 0)
	e.check(err, "Overdue")
	found := false
	for i, it := range items {
		if i > 0 && it.Due.Before(items[i-1].Due) {
			e.t.Errorf("not earliest first: %+v", items)
		}
		if it.Kind == casesvc.DeadlineKindComplaint && it.Complaint == cp.ID && it.Deadline == "first_response_due" && it.Overdue {
			found = true
		}
	}
	if !found {
		e.t.Errorf("complaint deadline missing: %+v", items)
	}
}

func testEmergency(e *env) {
	em, err := e.svc.CurrentEmergency(e.ctx)
	if err != nil || em != nil {
		e.t.Fatalf("no emergency at first: %+v, %v", em, err)
	}
	typhoon := casesvc.Emergency{Active: true, Name: "凱米颱風", Regions: []string{"高雄"}, From: "2026-11-20", To: "2026-11-25",
		Checklists: map[string][]string{"property": {"claim_form", "id_document", "damage_photos"}}}
	_, err = e.svc.SetEmergency(e.ctx, typhoon, ben)
	e.wantCode(err, casesvc.EFORBIDDEN, "supervisor declares")
	bad := typhoon
	bad.To = "2026-11-01"
	_, err = e.svc.SetEmergency(e.ctx, bad, cat)
	e.wantCode(err, casesvc.EINVALID, "to before from")
	got, err := e.svc.SetEmergency(e.ctx, typhoon, cat)
	e.check(err, "SetEmergency")
	if got.DeclaredBy != "cat" || !got.Active {
		e.t.Errorf("declared = %+v", got)
	}
	cur, err := e.svc.CurrentEmergency(e.ctx)
	e.check(err, "CurrentEmergency")
	if cur == nil || cur.Name != "凱米颱風" || !slices.Equal(cur.Regions, []string{"高雄"}) || len(cur.Checklists["property"]) != 3 {
		e.t.Fatalf("current = %+v", cur)
	}
	// A matching claim: green channel, the shorter checklist, a fast-track decision deadline.
	nc := medicalClaim("")
	nc.PolicyNumber, nc.ClaimType = "MT20250088", "property"
	nc.Incident.Place = "高雄市前鎮區"
	nc.Claimant.Name = "David Lin"
	c := e.create(nc)
	if c.Priority != "green_channel" || !c.FastTrack || c.Emergency != "凱米颱風" ||
		!slices.Equal(c.RequiredDocuments, []string{"claim_form", "id_document", "damage_photos"}) {
		e.t.Errorf("green channel case: %s %v %s %v", c.Priority, c.FastTrack, c.Emergency, c.RequiredDocuments)
	}
	res := e.addAll(c.ID)
	if dd := res.Case.Deadlines.DecisionDue; dd == nil || !dd.Equal(e.clk.Now().AddDate(0, 0, casesvc.DefaultFastTrackDecisionDays)) {
		e.t.Errorf("fast-track decision due = %v", dd)
	}
	// Elsewhere: the usual channel.
	nc.Incident.Place = "台北市"
	if o := e.create(nc); o.Priority != "normal" || o.FastTrack {
		e.t.Errorf("outside the region: %s %v", o.Priority, o.FastTrack)
	}
	_, err = e.svc.SetEmergency(e.ctx, casesvc.Emergency{Active: false}, cat)
	e.check(err, "end emergency")
	if cur, err := e.svc.CurrentEmergency(e.ctx); err != nil || cur != nil {
		e.t.Errorf("after the end: %+v, %v", cur, err)
	}
	acts := e.auditActions(casesvc.AuditFilter{Actor: "cat"})
	if !slices.Contains(acts, "emergency_declared") || !slices.Contains(acts, "emergency_ended") {
		e.t.Errorf("audit = %v", acts)
	}
}

func testNoticesOutbox(e *env) {
	ns, err := e.svc.PendingNotices(e.ctx, 10)
	if err != nil || len(ns) != 0 {
		e.t.Fatalf("empty outbox: %v, %v", ns, err)
	}
	a := e.caseIn(casesvc.StatusInitialReview)
	b := e.caseIn(casesvc.StatusApproved)
	ns, err = e.svc.PendingNotices(e.ctx, 10)
	e.check(err, "PendingNotices")
	if len(ns) != 3 || ns[0].CaseID != a || ns[1].CaseID != b || ns[2].Kind != casesvc.NoticeApproved {
		e.t.Fatalf("outbox = %+v", ns)
	}
	for i, n := range ns {
		if i > 0 && n.ID <= ns[i-1].ID {
			e.t.Errorf("not oldest first: %d after %d", n.ID, ns[i-1].ID)
		}
		if n.IdempotencyID() != fmt.Sprintf("notice:%d", n.ID) || n.DeliveredAt != nil || n.CreatedAt.IsZero() {
			e.t.Errorf("notice = %+v", n)
		}
	}
	if lim, err := e.svc.PendingNotices(e.ctx, 2); err != nil || len(lim) != 2 || lim[0].ID != ns[0].ID {
		e.t.Errorf("limit 2: %v, %v", lim, err)
	}
	e.check(e.svc.MarkNoticeDelivered(e.ctx, ns[0].ID), "MarkNoticeDelivered")
	e.check(e.svc.MarkNoticeDelivered(e.ctx, ns[0].ID), "MarkNoticeDelivered again (idempotent)")
	e.wantCode(e.svc.MarkNoticeDelivered(e.ctx, ns[2].ID+1000), casesvc.ENOTFOUND, "unknown notice")
	rest, err := e.svc.PendingNotices(e.ctx, 10)
	e.check(err, "PendingNotices")
	if len(rest) != 2 || rest[0].ID != ns[1].ID {
		e.t.Errorf("after delivery: %+v", rest)
	}
}

// ---- complaints ----

func newComplaint(key, category string) casesvc.NewComplaint {
	return casesvc.NewComplaint{
		IdempotencyKey: key,
		Category:       category,
		Description:    "等了兩個禮拜都沒有人回覆我",
		PolicyNumber:   "HL20240017",
		Complainant:    casesvc.Person{Name: "王小明", Phone: "+886912345678", NationalID: "A123456789"},
		Channel:        "telegram",
		Conversation:   "tg-42",
		Contact:        casesvc.ContactPreference{Method: casesvc.ContactPhone, Window: "平日下午2點到5點"},
	}
}

func testComplaintCreate(e *env) {
	cs := e.create(medicalClaim(""))
	nc := newComplaint("tg-42:9", casesvc.CategoryDelay)
	nc.CaseID = cs.ID
	c, err := e.svc.CreateComplaint(e.ctx, nc)
	e.check(err, "CreateComplaint")
	if c.ID != "CMP-20261124-000001" || c.Status != casesvc.ComplaintAcknowledged ||
		!slices.Equal(events(c.Timeline), []string{"received", "acknowledged"}) {
		e.t.Errorf("complaint: %s %s %v", c.ID, c.Status, events(c.Timeline))
	}
	if !c.Deadlines.FirstResponseDue.Equal(Start.AddDate(0, 0, casesvc.DefaultFirstResponseDays)) ||
		!c.Deadlines.ResolutionDue.Equal(Start.AddDate(0, 0, casesvc.DefaultResolutionDays)) {
		e.t.Errorf("deadlines = %+v", c.Deadlines)
	}
	if c.CaseID != cs.ID || c.Owner != "" || c.OwnerRole != casesvc.RoleSupervisor || c.Complainant.NationalID != "A123456789" ||
		c.Contact.Method != casesvc.ContactPhone || c.EscalatedAt != nil || len(c.Responses) != 0 {
		e.t.Errorf("complaint fields = %+v", c)
	}
	got, err := e.svc.Complaint(e.ctx, c.ID)
	e.check(err, "Complaint")
	if got.ID != c.ID || got.Description != nc.Description || got.Contact.Window != "平日下午2點到5點" {
		e.t.Errorf("Complaint = %+v", got)
	}
	_, err = e.svc.Complaint(e.ctx, "CMP-20261124-999999")
	e.wantCode(err, casesvc.ENOTFOUND, "unknown complaint")
	if got := e.auditActions(casesvc.AuditFilter{Complaint: c.ID}); !slices.Equal(got, []string{"complaint_created"}) {
		e.t.Errorf("audit = %v", got)
	}
	// Another policy's case gets the very answer an unknown one gets.
	other := newComplaint("", casesvc.CategoryDelay)
	other.PolicyNumber = "MT20250088"
	other.Complainant.Name = "David Lin"
	other.CaseID = cs.ID
	_, err = e.svc.CreateComplaint(e.ctx, other)
	e.wantCode(err, casesvc.ENOTFOUND, "another policy's case")
	other.CaseID = "CLM-20261124-999999"
	_, err = e.svc.CreateComplaint(e.ctx, other)
	e.wantCode(err, casesvc.ENOTFOUND, "unknown case")
	bad := newComplaint("", "rudeness")
	_, err = e.svc.CreateComplaint(e.ctx, bad)
	e.wantCode(err, casesvc.EINVALID, "unknown category")
	bad = newComplaint("", casesvc.CategoryOther)
	bad.PolicyNumber = "XX0000"
	_, err = e.svc.CreateComplaint(e.ctx, bad)
	e.wantCode(err, casesvc.ENOTFOUND, "unknown policy")
	// Lists: newest first, filters, totals.
	e.clk.Add(time.Minute)
	second, err := e.svc.CreateComplaint(e.ctx, newComplaint("", casesvc.CategoryServiceAttitude))
	e.check(err, "CreateComplaint")
	list, total, err := e.svc.Complaints(e.ctx, casesvc.ComplaintFilter{})
	e.check(err, "Complaints")
	if total != 2 || len(list) != 2 || list[0].ID != second.ID {
		e.t.Errorf("list = %d %v", total, list)
	}
	list, total, err = e.svc.Complaints(e.ctx, casesvc.ComplaintFilter{Status: casesvc.ComplaintResolved})
	e.check(err, "Complaints resolved")
	if total != 0 || len(list) != 0 {
		e.t.Errorf("resolved = %d", total)
	}
	list, total, err = e.svc.Complaints(e.ctx, casesvc.ComplaintFilter{PerPage: 1, Page: 2})
	e.check(err, "Complaints page")
	if total != 2 || len(list) != 1 || list[0].ID != c.ID {
		e.t.Errorf("page 2 = %d %v", total, list)
	}
}

func testComplaintTransitions(e *env) {
	c, err := e.svc.CreateComplaint(e.ctx, newComplaint("", casesvc.CategoryDelay))
	e.check(err, "CreateComplaint")
	tr := func(req casesvc.ComplaintTransitionRequest, who casesvc.Staff) (*casesvc.Complaint, error) {
		return e.svc.ComplaintTransition(e.ctx, c.ID, req, who)
	}
	_, err = tr(casesvc.ComplaintTransitionRequest{Action: casesvc.ComplaintActionInvestigate}, amy)
	e.wantCode(err, casesvc.EFORBIDDEN, "specialist acts")
	_, err = tr(casesvc.ComplaintTransitionRequest{Action: "shrug"}, ben)
	e.wantCode(err, casesvc.EINVALID, "unknown action")
	_, err = tr(casesvc.ComplaintTransitionRequest{Action: casesvc.ComplaintActionResolve}, ben)
	e.wantCode(err, casesvc.EINVALIDTRANSITION, "resolve unanswered")
	_, err = e.svc.ComplaintTransition(e.ctx, "CMP-20261124-999999", casesvc.ComplaintTransitionRequest{Action: casesvc.ComplaintActionInvestigate}, ben)
	e.wantCode(err, casesvc.ENOTFOUND, "unknown complaint")

	got, err := tr(casesvc.ComplaintTransitionRequest{Action: casesvc.ComplaintActionInvestigate}, ben)
	e.check(err, "investigate")
	if got.Status != casesvc.ComplaintInvestigating || got.Owner != "ben" {
		e.t.Errorf("investigating: %s owner %q", got.Status, got.Owner)
	}
	_, err = tr(casesvc.ComplaintTransitionRequest{Action: casesvc.ComplaintActionRespond}, ben)
	e.wantCode(err, casesvc.EINVALID, "respond without text")
	e.clk.Add(time.Hour)
	got, err = tr(casesvc.ComplaintTransitionRequest{Action: casesvc.ComplaintActionRespond, Response: "我們已加速處理"}, ben)
	e.check(err, "respond")
	if got.Status != casesvc.ComplaintResponded || len(got.Responses) != 1 || got.Responses[0].Text != "我們已加速處理" ||
		!strings.Contains(got.Responses[0].OmbudsmanNotice, casesvc.OmbudsmanPhone) || got.OmbudsmanNotice == "" ||
		!got.Responses[0].At.Equal(e.clk.Now()) {
		e.t.Errorf("responded = %+v", got)
	}
	ns := e.pending(c.ID)
	if len(ns) != 1 || ns[0].Kind != casesvc.NoticeComplaintResponded || ns[0].Complaint != c.ID || ns[0].CaseID != "" ||
		!strings.Contains(fmt.Sprint(ns[0].Data["text"]), casesvc.OmbudsmanPhone) || ns[0].Data["ombudsman_days"] != float64(60) {
		e.t.Errorf("complaint notice = %+v", ns)
	}
	got, err = tr(casesvc.ComplaintTransitionRequest{Action: casesvc.ComplaintActionResolve, Note: "客戶滿意"}, ben)
	e.check(err, "resolve")
	if got.Status != casesvc.ComplaintResolved || got.ResolvedAt == nil {
		e.t.Errorf("resolved = %+v", got)
	}
	_, err = tr(casesvc.ComplaintTransitionRequest{Action: casesvc.ComplaintActionEscalate}, cat)
	e.wantCode(err, casesvc.EINVALIDTRANSITION, "resolved is final")
	want := []string{"complaint_created", "complaint_investigate", "complaint_respond", "complaint_resolve"}
	if acts := e.auditActions(casesvc.AuditFilter{Complaint: c.ID}); !slices.Equal(acts, want) {
		e.t.Errorf("audit = %v, want %v", acts, want)
	}
	// Escalation hands it to the manager: a supervisor who does not own it may no longer act.
	d, err := e.svc.CreateComplaint(e.ctx, newComplaint("", casesvc.CategoryOther))
	e.check(err, "CreateComplaint")
	esc, err := e.svc.ComplaintTransition(e.ctx, d.ID, casesvc.ComplaintTransitionRequest{Action: casesvc.ComplaintActionEscalate}, ben)
	e.check(err, "escalate")
	if esc.Status != casesvc.ComplaintEscalated || esc.OwnerRole != casesvc.RoleManager || esc.EscalatedAt == nil {
		e.t.Errorf("escalated = %+v", esc)
	}
	_, err = e.svc.ComplaintTransition(e.ctx, d.ID, casesvc.ComplaintTransitionRequest{Action: casesvc.ComplaintActionRespond, Response: "x"}, ben)
	e.wantCode(err, casesvc.EFORBIDDEN, "supervisor on an escalated complaint")
	as, err := e.svc.ComplaintTransition(e.ctx, d.ID, casesvc.ComplaintTransitionRequest{Action: casesvc.ComplaintActionAssign, Owner: "cat"}, cat)
	e.check(err, "assign")
	if as.Owner != "cat" || as.Status != casesvc.ComplaintEscalated {
		e.t.Errorf("assigned = %+v", as)
	}
}

func testEscalateOverdue(e *env) {
	a, err := e.svc.CreateComplaint(e.ctx, newComplaint("", casesvc.CategoryDelay))
	e.check(err, "CreateComplaint")
	b, err := e.svc.CreateComplaint(e.ctx, newComplaint("", casesvc.CategoryOther))
	e.check(err, "CreateComplaint")
	_, err = e.svc.ComplaintTransition(e.ctx, b.ID, casesvc.ComplaintTransitionRequest{Action: casesvc.ComplaintActionRespond, Response: "已處理"}, ben)
	e.check(err, "respond")
	out, err := e.svc.EscalateOverdue(e.ctx, Start.AddDate(0, 0, 6))
	if err != nil || len(out) != 0 {
		e.t.Fatalf("nothing overdue yet: %v, %v", out, err)
	}
	later := Start.AddDate(0, 0, 8)
	out, err = e.svc.EscalateOverdue(e.ctx, later)
	e.check(err, "EscalateOverdue")
	if len(out) != 1 || out[0].ID != a.ID || out[0].Status != casesvc.ComplaintEscalated || out[0].OwnerRole != casesvc.RoleManager ||
		out[0].EscalatedAt == nil {
		e.t.Fatalf("escalated = %+v", out)
	}
	again, err := e.svc.EscalateOverdue(e.ctx, later)
	if err != nil || len(again) != 0 {
		e.t.Errorf("a repeat escalated again: %v, %v", again, err)
	}
	// The answered one escalates only past its resolution due.
	out, err = e.svc.EscalateOverdue(e.ctx, Start.AddDate(0, 0, 31))
	e.check(err, "EscalateOverdue")
	if len(out) != 1 || out[0].ID != b.ID {
		e.t.Errorf("resolution overdue = %+v", out)
	}
	if acts := e.auditActions(casesvc.AuditFilter{Complaint: a.ID}); !slices.Contains(acts, "complaint_escalated") {
		e.t.Errorf("audit = %v", acts)
	}
}

func testMassComplaint(e *env) {
	var ids []string
	for i := range casesvc.DefaultMassComplaintThreshold + 1 {
		e.clk.Add(time.Minute)
		c, err := e.svc.CreateComplaint(e.ctx, newComplaint(fmt.Sprintf("k%d", i), casesvc.CategoryDelay))
		e.check(err, "CreateComplaint")
		ids = append(ids, c.ID)
		// A replay counts for nothing.
		_, err = e.svc.CreateComplaint(e.ctx, newComplaint(fmt.Sprintf("k%d", i), casesvc.CategoryDelay))
		e.check(err, "CreateComplaint replay")
	}
	alerts, err := e.svc.Alerts(e.ctx, Start)
	e.check(err, "Alerts")
	if len(alerts) != 1 {
		e.t.Fatalf("alerts = %+v", alerts)
	}
	a := alerts[0]
	if a.Kind != casesvc.AlertMassComplaint || !slices.Equal(a.Topics, []string{"category:delay"}) || a.Count != len(ids) ||
		!slices.Equal(a.Complaints, ids) || a.Threshold != casesvc.DefaultMassComplaintThreshold || !a.Open ||
		a.Window != casesvc.DefaultMassComplaintWindow.String() {
		e.t.Errorf("alert = %+v", a)
	}
	if !a.RaisedAt.Equal(Start.Add(time.Duration(casesvc.DefaultMassComplaintThreshold) * time.Minute)) {
		e.t.Errorf("raised at %v", a.RaisedAt)
	}
	pending, err := e.svc.PendingAlerts(e.ctx, 10)
	e.check(err, "PendingAlerts")
	if len(pending) != 1 || pending[0].ID != a.ID || pending[0].IdempotencyID() != fmt.Sprintf("alert:%d", a.ID) {
		e.t.Fatalf("pending = %+v", pending)
	}
	e.check(e.svc.MarkAlertDelivered(e.ctx, a.ID), "MarkAlertDelivered")
	e.check(e.svc.MarkAlertDelivered(e.ctx, a.ID), "MarkAlertDelivered again")
	e.wantCode(e.svc.MarkAlertDelivered(e.ctx, a.ID+1000), casesvc.ENOTFOUND, "unknown alert")
	if p, err := e.svc.PendingAlerts(e.ctx, 10); err != nil || len(p) != 0 {
		e.t.Errorf("after delivery: %v, %v", p, err)
	}
	alerts, err = e.svc.Alerts(e.ctx, Start)
	e.check(err, "Alerts")
	if len(alerts) != 1 || alerts[0].Delivered == nil {
		e.t.Errorf("delivered alert = %+v", alerts)
	}
	// After a quiet window, a second surge raises a second alert.
	e.clk.Add(3 * time.Hour)
	for i := range casesvc.DefaultMassComplaintThreshold {
		e.clk.Add(time.Minute)
		_, err := e.svc.CreateComplaint(e.ctx, newComplaint(fmt.Sprintf("s%d", i), casesvc.CategoryDelay))
		e.check(err, "CreateComplaint")
	}
	alerts, err = e.svc.Alerts(e.ctx, Start)
	e.check(err, "Alerts")
	if len(alerts) != 2 || alerts[0].ID == a.ID || alerts[1].Open {
		e.t.Errorf("second surge: %+v", alerts)
	}
	if recent, err := e.svc.Alerts(e.ctx, e.clk.Now().Add(-time.Minute)); err != nil || len(recent) != 1 {
		e.t.Errorf("since: %v, %v", recent, err)
	}
}

// ---- audit and catalog ----

func testAudit(e *env) {
	err := e.svc.RecordAudit(e.ctx, casesvc.AuditEntry{Actor: "ben", Action: "view_unmasked", CaseID: "CLM-20261124-000001",
		Policy: "HL20240017", Detail: "case"})
	e.check(err, "RecordAudit")
	at := Start.Add(-time.Hour)
	e.check(e.svc.RecordAudit(e.ctx, casesvc.AuditEntry{At: at, Actor: "cat", Action: "export", Complaint: "CMP-20261124-000001"}), "RecordAudit at")
	e.wantCode(e.svc.RecordAudit(e.ctx, casesvc.AuditEntry{Action: "x"}), casesvc.EINVALID, "no actor")
	e.wantCode(e.svc.RecordAudit(e.ctx, casesvc.AuditEntry{Actor: "x"}), casesvc.EINVALID, "no action")
	ben, err := e.svc.Audit(e.ctx, casesvc.AuditFilter{Actor: "ben"})
	e.check(err, "Audit")
	if len(ben) != 1 || ben[0].Action != "view_unmasked" || ben[0].CaseID != "CLM-20261124-000001" || ben[0].Policy != "HL20240017" ||
		ben[0].Detail != "case" || !ben[0].At.Equal(Start) || ben[0].ID == 0 {
		e.t.Errorf("ben's audit = %+v", ben)
	}
	byComplaint, err := e.svc.Audit(e.ctx, casesvc.AuditFilter{Complaint: "CMP-20261124-000001"})
	e.check(err, "Audit")
	if len(byComplaint) != 1 || !byComplaint[0].At.Equal(at) {
		e.t.Errorf("by complaint = %+v", byComplaint)
	}
	all, err := e.svc.Audit(e.ctx, casesvc.AuditFilter{})
	e.check(err, "Audit")
	for i := 1; i < len(all); i++ {
		if all[i].ID <= all[i-1].ID {
			e.t.Fatalf("not oldest first: %+v", all)
		}
	}
	if none, err := e.svc.Audit(e.ctx, casesvc.AuditFilter{Actor: "nobody"}); err != nil || none == nil || len(none) != 0 {
		e.t.Errorf("empty audit: %#v, %v", none, err)
	}
}

func testCatalog(e *env) {
	catalog := e.svc.Catalog()
	if catalog == nil {
		e.t.Fatal("no catalog")
	}
	ct, ok := catalog.ClaimType("medical")
	if !ok || !slices.Equal(ct.Documents, casesvc.DefaultCatalog().RequiredDocuments("medical", nil)) {
		e.t.Errorf("medical = %+v", ct)
	}
	if !slices.Equal(catalog.RequiredDocuments("medical", nil), medicalChecklist) {
		e.t.Errorf("checklist = %v", catalog.RequiredDocuments("medical", nil))
	}
}
