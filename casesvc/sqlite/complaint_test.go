package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/sqlite"
)

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

func mustComplaint(t *testing.T) func(*casesvc.Complaint, error) *casesvc.Complaint {
	return func(c *casesvc.Complaint, err error) *casesvc.Complaint {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
}

func events(c *casesvc.Complaint) []string {
	var out []string
	for _, e := range c.Timeline {
		out = append(out, e.Event)
	}
	return out
}

func auditActions(t *testing.T, svc *sqlite.Service, id string) []string {
	t.Helper()
	entries, err := svc.Audit(context.Background(), casesvc.AuditFilter{Complaint: id})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Action)
	}
	return out
}

func TestCreateComplaint(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	cs, err := svc.CreateCase(ctx, medicalClaim(""))
	if err != nil {
		t.Fatal(err)
	}
	nc := newComplaint("tg-42:9", casesvc.CategoryDelay)
	nc.CaseID = cs.ID
	c := mustComplaint(t)(svc.CreateComplaint(ctx, nc))
	if c.ID != "CMP-20261124-000001" || !casesvc.ValidComplaintID(c.ID) {
		t.Errorf("id = %s", c.ID)
	}
	if c.Status != casesvc.ComplaintAcknowledged || !slices.Equal(events(c), []string{"received", "acknowledged"}) {
		t.Errorf("status %s timeline %v", c.Status, events(c))
	}
	now := clk.Now()
	if !c.Deadlines.FirstResponseDue.Equal(now.AddDate(0, 0, 7)) || !c.Deadlines.ResolutionDue.Equal(now.AddDate(0, 0, 30)) {
		t.Errorf("deadlines = %+v", c.Deadlines)
	}
	if c.CaseID != cs.ID || c.Owner != "" || c.OwnerRole != casesvc.RoleSupervisor || c.OmbudsmanNotice != "" ||
		c.Contact.Method != "phone" || c.Complainant.NationalID != "A123456789" || len(c.Responses) != 0 || c.EscalatedAt != nil {
		t.Errorf("complaint = %+v", c)
	}
	if got := auditActions(t, svc, c.ID); !slices.Equal(got, []string{"complaint_created"}) {
		t.Errorf("audit = %v", got)
	}
	if a, _ := svc.Audit(ctx, casesvc.AuditFilter{CaseID: cs.ID}); a[len(a)-1].Action != "complaint_created" {
		t.Errorf("the case's audit does not show the complaint: %+v", a[len(a)-1])
	}

	// A replayed turn returns the same complaint; the next one gets the next number.
	again := mustComplaint(t)(svc.CreateComplaint(ctx, nc))
	if again.ID != c.ID {
		t.Errorf("replay = %s, want %s", again.ID, c.ID)
	}
	next := mustComplaint(t)(svc.CreateComplaint(ctx, newComplaint("", casesvc.CategoryOther)))
	if next.ID != "CMP-20261124-000002" || next.CaseID != "" || next.Contact.Window != "平日下午2點到5點" {
		t.Errorf("next = %+v", next)
	}
	if _, total, _ := svc.Complaints(ctx, casesvc.ComplaintFilter{}); total != 2 {
		t.Errorf("total = %d, want 2", total)
	}
	got := mustComplaint(t)(svc.Complaint(ctx, c.ID))
	if got.Description != nc.Description || got.Contact != nc.Contact || !got.CreatedAt.Equal(now) {
		t.Errorf("read back = %+v", got)
	}
}

func TestCreateComplaintRefusesAnotherPolicysCase(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	motor, err := svc.CreateCase(ctx, casesvc.NewCase{ClaimType: "motor", PolicyNumber: "MT20250088", Channel: "webchat",
		Claimant: casesvc.Person{Name: "David Lin", Phone: "+886987654321"},
		Incident: casesvc.Incident{OccurredAt: clk.Now().Add(-time.Hour), Place: "Xinyi Road"}})
	if err != nil {
		t.Fatal(err)
	}
	unknown := "CLM-20261124-999999"
	for _, id := range []string{motor.ID, unknown} {
		nc := newComplaint("", casesvc.CategoryDecisionDispute)
		nc.CaseID = id
		_, err := svc.CreateComplaint(ctx, nc)
		if casesvc.ErrorCode(err) != casesvc.ENOTFOUND || casesvc.ErrorMessage(err) != fmt.Sprintf("Case %s was not found.", id) {
			t.Errorf("case %s: %v", id, err)
		}
	}
	if _, total, _ := svc.Complaints(ctx, casesvc.ComplaintFilter{}); total != 0 {
		t.Errorf("refused complaints were stored: %d", total)
	}
	// The refused attempts used no number.
	c := mustComplaint(t)(svc.CreateComplaint(ctx, newComplaint("", casesvc.CategoryOther)))
	if c.ID != "CMP-20261124-000001" {
		t.Errorf("id after refusals = %s", c.ID)
	}
}

func TestCreateComplaintValidation(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := open(t)
	tests := []struct {
		name string
		edit func(*casesvc.NewComplaint)
		code string
	}{
		{"unknown category", func(n *casesvc.NewComplaint) { n.Category = "rudeness" }, casesvc.EINVALID},
		{"no description", func(n *casesvc.NewComplaint) { n.Description = "  " }, casesvc.EINVALID},
		{"no policy", func(n *casesvc.NewComplaint) { n.PolicyNumber = "" }, casesvc.EINVALID},
		{"unknown policy", func(n *casesvc.NewComplaint) { n.PolicyNumber = "ZZ00000000" }, casesvc.ENOTFOUND},
		{"no channel", func(n *casesvc.NewComplaint) { n.Channel = "" }, casesvc.EINVALID},
		{"no name", func(n *casesvc.NewComplaint) { n.Complainant.Name = "" }, casesvc.EINVALID},
		{"email without address", func(n *casesvc.NewComplaint) { n.Contact.Method = "email" }, casesvc.EINVALID},
		{"unknown method", func(n *casesvc.NewComplaint) { n.Contact.Method = "fax" }, casesvc.EINVALID},
		{"sms without phone", func(n *casesvc.NewComplaint) { n.Contact.Method = "sms"; n.Complainant.Phone = "" }, casesvc.EINVALID},
		{"too long", func(n *casesvc.NewComplaint) { n.Description = strings.Repeat("字", casesvc.MaxComplaintText+1) }, casesvc.EINVALID},
	}
	for _, tt := range tests {
		nc := newComplaint("", casesvc.CategoryDelay)
		tt.edit(&nc)
		if _, err := svc.CreateComplaint(ctx, nc); casesvc.ErrorCode(err) != tt.code {
			t.Errorf("%s: %v, want %s", tt.name, err, tt.code)
		}
	}
	nc := newComplaint("", casesvc.CategoryDelay)
	nc.Contact = casesvc.ContactPreference{}
	if c := mustComplaint(t)(svc.CreateComplaint(ctx, nc)); c.Contact.Method != casesvc.ContactChat {
		t.Errorf("default contact = %+v", c.Contact)
	}
}

var eve = casesvc.Staff{Name: "eve", Role: casesvc.RoleSupervisor}

func complaintReq(action string) casesvc.ComplaintTransitionRequest {
	req := casesvc.ComplaintTransitionRequest{Action: action, Note: "n"}
	if action == casesvc.ComplaintActionRespond {
		req.Response = "經查您的案件已於今日完成審核，造成延誤深感抱歉。"
	}
	return req
}

// complaintInStatus files a complaint and drives it to status through the public API; ben (a
// supervisor) handles it.
func complaintInStatus(t *testing.T, svc *sqlite.Service, status string) *casesvc.Complaint {
	t.Helper()
	ctx := context.Background()
	c := mustComplaint(t)(svc.CreateComplaint(ctx, newComplaint("", casesvc.CategoryCommunication)))
	path := map[string][]string{
		casesvc.ComplaintAcknowledged:  {},
		casesvc.ComplaintInvestigating: {casesvc.ComplaintActionInvestigate},
		casesvc.ComplaintResponded:     {casesvc.ComplaintActionRespond},
		casesvc.ComplaintResolved:      {casesvc.ComplaintActionRespond, casesvc.ComplaintActionResolve},
		casesvc.ComplaintEscalated:     {casesvc.ComplaintActionEscalate},
	}[status]
	for _, a := range path {
		c = mustComplaint(t)(svc.ComplaintTransition(ctx, c.ID, complaintReq(a), ben))
	}
	if c.Status != status {
		t.Fatalf("got %s, want %s", c.Status, status)
	}
	return c
}

func TestComplaintActionsByStatusAndRole(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := open(t)
	const ok, forbidden, conflict = "ok", casesvc.EFORBIDDEN, casesvc.EINVALIDTRANSITION
	// want[status][action] for the supervisor ben (who handled it so far) and the manager cat;
	// specialists and admins are refused everything.
	type pair struct{ ben, cat string }
	want := map[string]map[string]pair{
		casesvc.ComplaintAcknowledged: {"assign": {ok, ok}, "investigate": {ok, ok}, "respond": {ok, ok},
			"resolve": {conflict, conflict}, "escalate": {ok, ok}},
		casesvc.ComplaintInvestigating: {"assign": {ok, ok}, "investigate": {conflict, conflict}, "respond": {ok, ok},
			"resolve": {conflict, conflict}, "escalate": {ok, ok}},
		casesvc.ComplaintResponded: {"assign": {ok, ok}, "investigate": {ok, ok}, "respond": {conflict, conflict},
			"resolve": {ok, ok}, "escalate": {ok, ok}},
		casesvc.ComplaintResolved: {"assign": {conflict, conflict}, "investigate": {conflict, conflict},
			"respond": {conflict, conflict}, "resolve": {conflict, conflict}, "escalate": {conflict, conflict}},
		// Escalated: owned by the manager; unanswered, so it cannot be resolved yet.
		casesvc.ComplaintEscalated: {"assign": {forbidden, ok}, "investigate": {forbidden, ok}, "respond": {forbidden, ok},
			"resolve": {conflict, conflict}, "escalate": {conflict, conflict}},
	}
	wantTo := map[string]string{"investigate": "investigating", "respond": "responded", "resolve": "resolved", "escalate": "escalated"}
	for _, status := range []string{"acknowledged", "investigating", "responded", "resolved", "escalated"} {
		for _, action := range casesvc.ComplaintActions() {
			for _, actor := range []casesvc.Staff{amy, ben, cat, dan} {
				expect := forbidden
				switch actor.Role {
				case casesvc.RoleSupervisor:
					expect = want[status][action].ben
				case casesvc.RoleManager:
					expect = want[status][action].cat
				}
				c := complaintInStatus(t, svc, status)
				audits := len(auditActions(t, svc, c.ID))
				got, err := svc.ComplaintTransition(ctx, c.ID, complaintReq(action), actor)
				name := fmt.Sprintf("%s %s by %s", status, action, actor.Role)
				if expect == ok {
					if err != nil {
						t.Errorf("%s: %v", name, err)
						continue
					}
					to := wantTo[action]
					if to == "" {
						to = status
					}
					if got.Status != to || got.Timeline[len(got.Timeline)-1].Actor != actor.Name {
						t.Errorf("%s: status %s timeline %+v", name, got.Status, got.Timeline[len(got.Timeline)-1])
					}
					if a := auditActions(t, svc, c.ID); a[len(a)-1] != "complaint_"+action {
						t.Errorf("%s: audit %v", name, a)
					}
					continue
				}
				if casesvc.ErrorCode(err) != expect {
					t.Errorf("%s: %v, want %s", name, err, expect)
					continue
				}
				// A refused action changes nothing.
				after := mustComplaint(t)(svc.Complaint(ctx, c.ID))
				if after.Status != c.Status || len(after.Timeline) != len(c.Timeline) || len(auditActions(t, svc, c.ID)) != audits {
					t.Errorf("%s: refused action left traces: %s %v %v", name, after.Status, events(after), auditActions(t, svc, c.ID))
				}
			}
		}
	}
}

func TestComplaintOwnershipAndInputs(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := open(t)
	c := mustComplaint(t)(svc.CreateComplaint(ctx, newComplaint("", casesvc.CategoryServiceAttitude)))

	if _, err := svc.ComplaintTransition(ctx, c.ID, casesvc.ComplaintTransitionRequest{Action: "teleport"}, ben); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("unknown action: %v", err)
	}
	if _, err := svc.ComplaintTransition(ctx, c.ID, casesvc.ComplaintTransitionRequest{Action: "respond", Response: " "}, ben); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("respond without text: %v", err)
	}
	if _, err := svc.ComplaintTransition(ctx, "CMP-20261124-999999", complaintReq("assign"), ben); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Errorf("unknown complaint: %v", err)
	}
	// assign without owner takes it; with an owner hands it over.
	c = mustComplaint(t)(svc.ComplaintTransition(ctx, c.ID, casesvc.ComplaintTransitionRequest{Action: "assign"}, ben))
	if c.Owner != "ben" || c.Status != casesvc.ComplaintAcknowledged {
		t.Errorf("after assign: %s %s", c.Owner, c.Status)
	}
	c = mustComplaint(t)(svc.ComplaintTransition(ctx, c.ID, casesvc.ComplaintTransitionRequest{Action: "assign", Owner: "eve"}, ben))
	if c.Owner != "eve" || c.Timeline[len(c.Timeline)-1].Note != "owner: eve" {
		t.Errorf("after reassign: %s %+v", c.Owner, c.Timeline[len(c.Timeline)-1])
	}
	// Only the owner (or a manager) investigates.
	if _, err := svc.ComplaintTransition(ctx, c.ID, complaintReq("investigate"), ben); casesvc.ErrorCode(err) != casesvc.EFORBIDDEN {
		t.Errorf("non-owner investigates: %v", err)
	}
	c = mustComplaint(t)(svc.ComplaintTransition(ctx, c.ID, complaintReq("investigate"), eve))
	// Escalated: the manager owns it, and may hand it to a supervisor, who may then act.
	c = mustComplaint(t)(svc.ComplaintTransition(ctx, c.ID, complaintReq("escalate"), eve))
	if c.OwnerRole != casesvc.RoleManager || c.Owner != "" || c.EscalatedAt == nil {
		t.Errorf("escalated: %+v", c)
	}
	if _, err := svc.ComplaintTransition(ctx, c.ID, complaintReq("respond"), eve); casesvc.ErrorCode(err) != casesvc.EFORBIDDEN {
		t.Errorf("supervisor on escalated: %v", err)
	}
	c = mustComplaint(t)(svc.ComplaintTransition(ctx, c.ID, casesvc.ComplaintTransitionRequest{Action: "assign", Owner: "ben"}, cat))
	c = mustComplaint(t)(svc.ComplaintTransition(ctx, c.ID, complaintReq("respond"), ben))
	c = mustComplaint(t)(svc.ComplaintTransition(ctx, c.ID, complaintReq("resolve"), ben))
	if c.Status != casesvc.ComplaintResolved || c.ResolvedAt == nil || c.Deadlines.ResolutionOverdue {
		t.Errorf("resolved: %+v", c)
	}
	want := []string{"complaint_created", "complaint_assign", "complaint_assign", "complaint_investigate", "complaint_escalate",
		"complaint_assign", "complaint_respond", "complaint_resolve"}
	if got := auditActions(t, svc, c.ID); !slices.Equal(got, want) {
		t.Errorf("audit = %v", got)
	}
	if got := casesvc.AvailableComplaintActions(c, cat); len(got) != 0 {
		t.Errorf("actions on resolved = %v", got)
	}
}

func TestRespondCarriesOmbudsmanNotice(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := open(t)
	cs, err := svc.CreateCase(ctx, medicalClaim(""))
	if err != nil {
		t.Fatal(err)
	}
	nc := newComplaint("", casesvc.CategoryDelay)
	nc.CaseID = cs.ID
	nc.Channel, nc.Conversation = "webchat", "wc-7"
	c := mustComplaint(t)(svc.CreateComplaint(ctx, nc))
	before, _ := svc.PendingNotices(ctx, 100)

	text := "您好，延誤是因為醫院證明補件，已於今日完成審核。"
	c = mustComplaint(t)(svc.ComplaintTransition(ctx, c.ID, casesvc.ComplaintTransitionRequest{Action: "respond", Response: text}, ben))
	if c.Status != casesvc.ComplaintResponded || len(c.Responses) != 1 || c.Responses[0].Text != text || c.Responses[0].By != "ben" {
		t.Fatalf("responded: %+v", c)
	}
	for _, n := range []string{c.OmbudsmanNotice, c.Responses[0].OmbudsmanNotice} {
		if !strings.Contains(n, "0800-789-885") || !strings.Contains(n, "60日") || !strings.Contains(n, "評議中心") {
			t.Errorf("ombudsman notice = %q", n)
		}
	}
	if c.Owner != "ben" || c.Deadlines.FirstResponseOverdue {
		t.Errorf("owner %q deadlines %+v", c.Owner, c.Deadlines)
	}
	after, _ := svc.PendingNotices(ctx, 100)
	if len(after) != len(before)+1 {
		t.Fatalf("notices %d -> %d", len(before), len(after))
	}
	n := after[len(after)-1]
	if n.Kind != casesvc.NoticeComplaintResponded || n.Complaint != c.ID || n.CaseID != "" || n.Channel != "webchat" || n.Conversation != "wc-7" {
		t.Errorf("notice = %+v", n)
	}
	if n.Data["complaint"] != c.ID || n.Data["case"] != cs.ID || n.Data["response"] != text ||
		n.Data["ombudsman_phone"] != "0800-789-885" || n.Data["ombudsman_days"] != float64(60) ||
		!strings.Contains(n.Data["text"].(string), text) || !strings.Contains(n.Data["text"].(string), "0800-789-885") ||
		!strings.Contains(n.Data["ombudsman_notice_en"].(string), "Financial Ombudsman Institution") {
		t.Errorf("notice data = %v", n.Data)
	}
	if ns, _ := svc.ComplaintNotices(ctx, c.ID); len(ns) != 1 || ns[0].ID != n.ID {
		t.Errorf("complaint notices = %+v", ns)
	}
	if ns, _ := svc.Notices(ctx, cs.ID); len(ns) != 0 {
		t.Errorf("the case got the complaint's notice: %+v", ns)
	}
	if err := svc.MarkNoticeDelivered(ctx, n.ID); err != nil {
		t.Fatal(err)
	}
	// A second reply after a follow-up investigation carries the notice again.
	mustComplaint(t)(svc.ComplaintTransition(ctx, c.ID, complaintReq("investigate"), ben))
	c = mustComplaint(t)(svc.ComplaintTransition(ctx, c.ID, complaintReq("respond"), ben))
	if len(c.Responses) != 2 || !strings.Contains(c.Responses[1].OmbudsmanNotice, "0800-789-885") {
		t.Errorf("second response = %+v", c.Responses)
	}
	if ns, _ := svc.ComplaintNotices(ctx, c.ID); len(ns) != 2 || ns[1].Data["ombudsman_phone"] != "0800-789-885" {
		t.Errorf("notices = %+v", ns)
	}
	// A refused reply writes no notice.
	mustComplaint(t)(svc.ComplaintTransition(ctx, c.ID, complaintReq("resolve"), ben))
	if _, err := svc.ComplaintTransition(ctx, c.ID, complaintReq("respond"), cat); casesvc.ErrorCode(err) != casesvc.EINVALIDTRANSITION {
		t.Errorf("respond to resolved: %v", err)
	}
	if ns, _ := svc.ComplaintNotices(ctx, c.ID); len(ns) != 2 {
		t.Errorf("refused reply wrote a notice: %d", len(ns))
	}
}

func TestEscalateOverdue(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	start := clk.Now()
	unanswered := mustComplaint(t)(svc.CreateComplaint(ctx, newComplaint("", casesvc.CategoryDelay)))
	answered := mustComplaint(t)(svc.CreateComplaint(ctx, newComplaint("", casesvc.CategoryAmountDispute)))
	mustComplaint(t)(svc.ComplaintTransition(ctx, answered.ID, complaintReq("respond"), ben))
	done := complaintInStatus(t, svc, casesvc.ComplaintResolved)

	if got, err := svc.EscalateOverdue(ctx, start.AddDate(0, 0, 7)); err != nil || len(got) != 0 {
		t.Fatalf("on the due instant: %v %v", got, err)
	}
	// Deadlines list before: the first response falls due within 3 days of day 5.
	items, err := svc.Overdue(ctx, start.AddDate(0, 0, 5), 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 1 || items[0].Kind != "complaint" || items[0].Complaint != unanswered.ID || items[0].Deadline != "first_response_due" || items[0].Overdue {
		t.Errorf("deadlines at day 5 = %+v", items)
	}

	day8 := start.AddDate(0, 0, 8)
	clk.Set(day8)
	got, err := svc.EscalateOverdue(ctx, day8)
	if err != nil || len(got) != 1 || got[0].ID != unanswered.ID {
		t.Fatalf("day 8: %+v %v", got, err)
	}
	c := got[0]
	last := c.Timeline[len(c.Timeline)-1]
	if c.Status != casesvc.ComplaintEscalated || c.OwnerRole != casesvc.RoleManager || c.Owner != "" || !c.EscalatedAt.Equal(day8) ||
		last.Actor != "system" || !strings.Contains(last.Note, "first response overdue") || !c.Deadlines.FirstResponseOverdue {
		t.Errorf("escalated: %+v", c)
	}
	if a := auditActions(t, svc, c.ID); a[len(a)-1] != "complaint_escalated" {
		t.Errorf("audit = %v", a)
	}
	if again, err := svc.EscalateOverdue(ctx, day8.Add(time.Hour)); err != nil || len(again) != 0 {
		t.Errorf("repeat: %v %v", again, err)
	}
	// The manager picks it up; it is not escalated a second time.
	mustComplaint(t)(svc.ComplaintTransition(ctx, c.ID, complaintReq("investigate"), cat))
	day31 := start.AddDate(0, 0, 31)
	clk.Set(day31)
	got, err = svc.EscalateOverdue(ctx, day31)
	if err != nil || len(got) != 1 || got[0].ID != answered.ID {
		t.Fatalf("day 31: %+v %v", got, err)
	}
	if !strings.Contains(got[0].Timeline[len(got[0].Timeline)-1].Note, "resolution overdue") || !got[0].Deadlines.ResolutionOverdue {
		t.Errorf("resolution escalation: %+v", got[0].Timeline)
	}
	if c := mustComplaint(t)(svc.Complaint(ctx, done.ID)); c.Status != casesvc.ComplaintResolved || c.EscalatedAt != nil {
		t.Errorf("resolved complaint touched: %+v", c)
	}
	items, _ = svc.Overdue(ctx, day31, 0)
	var ids []string
	for _, it := range items {
		if it.Kind == "complaint" {
			ids = append(ids, it.Complaint+":"+it.Deadline+":"+fmt.Sprint(it.Overdue))
		}
	}
	want := []string{unanswered.ID + ":first_response_due:true", unanswered.ID + ":resolution_due:true", answered.ID + ":resolution_due:true"}
	if !slices.Equal(ids, want) {
		t.Errorf("overdue complaints = %v, want %v", ids, want)
	}
}

func TestComplaintDeadlinesConfigurable(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, taipei)
	svc, err := sqlite.New(filepath.Join(t.TempDir(), "c.db"), sqlite.Config{Location: taipei, Now: func() time.Time { return now },
		FirstResponseDays: 3, ResolutionDays: 14})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if _, err := sqlite.SeedDemo(ctx, svc); err != nil {
		t.Fatal(err)
	}
	c := mustComplaint(t)(svc.CreateComplaint(ctx, newComplaint("", casesvc.CategoryDelay)))
	if !c.Deadlines.FirstResponseDue.Equal(now.AddDate(0, 0, 3)) || !c.Deadlines.ResolutionDue.Equal(now.AddDate(0, 0, 14)) {
		t.Errorf("deadlines = %+v", c.Deadlines)
	}
}

func TestComplaintsListAndFilter(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	var ids []string
	for i := 0; i < 3; i++ {
		clk.Set(clk.Now().Add(time.Minute))
		ids = append(ids, mustComplaint(t)(svc.CreateComplaint(ctx, newComplaint("", casesvc.CategoryOther))).ID)
	}
	mustComplaint(t)(svc.ComplaintTransition(ctx, ids[1], complaintReq("investigate"), ben))
	list, total, err := svc.Complaints(ctx, casesvc.ComplaintFilter{PerPage: 2})
	if err != nil || total != 3 || len(list) != 2 || list[0].ID != ids[2] || list[1].ID != ids[1] {
		t.Errorf("page 1: %d %v", total, err)
	}
	list, _, _ = svc.Complaints(ctx, casesvc.ComplaintFilter{PerPage: 2, Page: 2})
	if len(list) != 1 || list[0].ID != ids[0] {
		t.Errorf("page 2: %v", list)
	}
	list, total, _ = svc.Complaints(ctx, casesvc.ComplaintFilter{Status: casesvc.ComplaintInvestigating})
	if total != 1 || list[0].ID != ids[1] {
		t.Errorf("investigating: %d", total)
	}
	if _, total, _ := svc.Complaints(ctx, casesvc.ComplaintFilter{PolicyNumber: "MT20250088"}); total != 0 {
		t.Errorf("other policy: %d", total)
	}
}

func openMass(t *testing.T, rules casesvc.MassComplaintRules) (*sqlite.Service, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 11, 24, 10, 0, 0, 0, taipei)}
	svc, err := sqlite.New(filepath.Join(t.TempDir(), "m.db"), sqlite.Config{Location: taipei, Now: clk.Now, MassComplaint: rules})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	if _, err := sqlite.SeedDemo(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	return svc, clk
}

func alertsSince(t *testing.T, svc *sqlite.Service) []casesvc.Alert {
	t.Helper()
	a, err := svc.Alerts(context.Background(), time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestMassComplaintOneAlertPerEvent(t *testing.T) {
	ctx := context.Background()
	svc, clk := openMass(t, casesvc.MassComplaintRules{}) // defaults: 5 within 60 minutes
	file := func(category string) *casesvc.Complaint {
		t.Helper()
		clk.Set(clk.Now().Add(5 * time.Minute))
		return mustComplaint(t)(svc.CreateComplaint(ctx, newComplaint("", category)))
	}
	var first []string
	for i := 0; i < 4; i++ {
		first = append(first, file(casesvc.CategoryDelay).ID)
		file(casesvc.CategoryOther) // other topics do not count towards delay
	}
	if a := alertsSince(t, svc); len(a) != 0 {
		t.Fatalf("alert below the threshold: %+v", a)
	}
	fifth := file(casesvc.CategoryDelay)
	first = append(first, fifth.ID)
	alerts := alertsSince(t, svc)
	if len(alerts) != 1 {
		t.Fatalf("alerts after the 5th = %+v", alerts)
	}
	a := alerts[0]
	if a.Kind != "mass_complaint" || !slices.Equal(a.Topics, []string{"category:delay"}) || !slices.Equal(a.Complaints, first) ||
		a.Count != 5 || a.Threshold != 5 || a.Window != "1h0m0s" || !a.Open || !a.RaisedAt.Equal(clk.Now()) {
		t.Errorf("alert = %+v", a)
	}
	if ev := events(fifth); ev[len(ev)-1] != "mass_complaint" {
		t.Errorf("timeline = %v", ev)
	}
	if acts := auditActions(t, svc, fifth.ID); !slices.Equal(acts, []string{"complaint_created", "mass_complaint_alert"}) {
		t.Errorf("audit = %v", acts)
	}
	// More in the same event join it: still one alert.
	for i := 0; i < 6; i++ {
		file(casesvc.CategoryDelay)
	}
	alerts = alertsSince(t, svc)
	if len(alerts) != 1 || alerts[0].Count != 11 || !alerts[0].LastAt.Equal(clk.Now()) {
		t.Fatalf("after 11: %+v", alerts)
	}
	// The hook: one pending alert until the console marks it.
	pending, _ := svc.PendingAlerts(ctx, 10)
	if len(pending) != 1 || pending[0].IdempotencyID() != fmt.Sprintf("alert:%d", a.ID) {
		t.Fatalf("pending = %+v", pending)
	}
	if err := svc.MarkAlertDelivered(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := svc.MarkAlertDelivered(ctx, a.ID); err != nil {
		t.Errorf("mark twice: %v", err)
	}
	if err := svc.MarkAlertDelivered(ctx, 999); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Errorf("mark unknown: %v", err)
	}
	if pending, _ := svc.PendingAlerts(ctx, 10); len(pending) != 0 {
		t.Errorf("pending after mark = %+v", pending)
	}

	// A quiet window closes the event; a single complaint after it raises nothing.
	clk.Set(clk.Now().Add(61 * time.Minute))
	if alertsSince(t, svc)[0].Open {
		t.Errorf("event still open after a quiet window")
	}
	var second []string
	for i := 0; i < 4; i++ {
		second = append(second, file(casesvc.CategoryDelay).ID)
	}
	if len(alertsSince(t, svc)) != 1 {
		t.Fatalf("alert raised below the threshold in the second surge")
	}
	second = append(second, file(casesvc.CategoryDelay).ID)
	alerts = alertsSince(t, svc)
	if len(alerts) != 2 || !slices.Equal(alerts[0].Complaints, second) || alerts[0].ID == a.ID {
		t.Fatalf("second event: %+v", alerts)
	}
	if pending, _ := svc.PendingAlerts(ctx, 10); len(pending) != 1 || pending[0].ID != alerts[0].ID {
		t.Errorf("pending = %+v", pending)
	}
	if recent, _ := svc.Alerts(ctx, clk.Now().Add(-10*time.Minute)); len(recent) != 1 || recent[0].ID != alerts[0].ID {
		t.Errorf("Alerts(since) = %+v", recent)
	}
	all, _ := svc.Audit(ctx, casesvc.AuditFilter{Actor: "system"})
	n := 0
	for _, e := range all {
		if e.Action == "mass_complaint_alert" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("alert audit rows = %d, want 2", n)
	}
}

func TestMassComplaintTopics(t *testing.T) {
	ctx := context.Background()
	svc, clk := openMass(t, casesvc.MassComplaintRules{Threshold: 3, Window: 30 * time.Minute,
		Keywords: map[string][]string{"app": {"APP", "無法登入"}}})
	// Claim type: complaints of any category about medical claims.
	cs, err := svc.CreateCase(ctx, medicalClaim(""))
	if err != nil {
		t.Fatal(err)
	}
	for i, cat := range []string{casesvc.CategoryDelay, casesvc.CategoryAmountDispute, casesvc.CategoryCommunication} {
		clk.Set(clk.Now().Add(time.Minute))
		nc := newComplaint("", cat)
		nc.CaseID = cs.ID
		mustComplaint(t)(svc.CreateComplaint(ctx, nc))
		if got := len(alertsSince(t, svc)); got != i/2 {
			t.Fatalf("after %d: %d alerts", i+1, got)
		}
	}
	if a := alertsSince(t, svc); !slices.Equal(a[0].Topics, []string{"claim_type:medical"}) || a[0].Count != 3 {
		t.Errorf("claim type alert = %+v", a[0])
	}
	// Keywords: a separate surge, half an hour later.
	clk.Set(clk.Now().Add(31 * time.Minute))
	for i, d := range []string{"手機app一直閃退", "網站無法登入", "App 又當機"} {
		clk.Set(clk.Now().Add(time.Minute))
		nc := newComplaint("", []string{"service_attitude", "other", "communication"}[i])
		nc.Description = d
		mustComplaint(t)(svc.CreateComplaint(ctx, nc))
	}
	a := alertsSince(t, svc)
	if len(a) != 2 || !slices.Equal(a[0].Topics, []string{"keyword:app"}) || a[0].Count != 3 {
		t.Errorf("keyword alert = %+v", a)
	}
	// Topics that cross together make one event, not two.
	clk.Set(clk.Now().Add(31 * time.Minute))
	for i := 0; i < 3; i++ {
		clk.Set(clk.Now().Add(time.Minute))
		nc := newComplaint("", casesvc.CategoryDecisionDispute)
		nc.CaseID = cs.ID
		mustComplaint(t)(svc.CreateComplaint(ctx, nc))
	}
	a = alertsSince(t, svc)
	if len(a) != 3 || !slices.Equal(a[0].Topics, []string{"category:decision_dispute", "claim_type:medical"}) {
		t.Errorf("joint alert = %+v", a)
	}
}

func TestMassComplaintIdempotentReplayDoesNotCount(t *testing.T) {
	ctx := context.Background()
	svc, _ := openMass(t, casesvc.MassComplaintRules{Threshold: 2})
	for i := 0; i < 5; i++ {
		mustComplaint(t)(svc.CreateComplaint(ctx, newComplaint("same-turn", casesvc.CategoryDelay)))
	}
	if a := alertsSince(t, svc); len(a) != 0 {
		t.Errorf("replays raised an alert: %+v", a)
	}
}
