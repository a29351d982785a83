package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"claimline/casesvc"
)

// Migration 3 rebuilds the notices table: every notice, its id and the AUTOINCREMENT sequence
// survive, so "notice:<id>" is never reused for a new notice.
func TestMigration3KeepsNotices(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "v2.db")
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.FixedZone("Asia/Taipei", 8*3600))
	db, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(1)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	if _, err := db.Exec(`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL DEFAULT '')`); err != nil {
		t.Fatal(err)
	}
	for v := 1; v <= 2; v++ {
		if err := applyMigration(ctx, db, v, migrations[v-1]); err != nil {
			t.Fatal(err)
		}
	}
	for _, q := range []string{
		`INSERT INTO policies (number, status, doc, updated_at) VALUES ('HL20240017', 'active', '{}', 0)`,
		`INSERT INTO cases (id, status, claim_type, policy_number, channel, claimant, incident, required_documents,
			deadlines, search, created_at, updated_at) VALUES ('CLM-20261124-000001', 'awaiting_documents', 'medical',
			'HL20240017', 'telegram', '{}', '{}', '[]', '{}', '', 0, 0)`,
		`INSERT INTO notices (case_id, conversation, channel, kind, data, created_at) VALUES
			('CLM-20261124-000001', 'tg-1', 'telegram', 'approved', '{"amount":1}', 1),
			('CLM-20261124-000001', 'tg-1', 'telegram', 'paid', '{}', 2),
			('CLM-20261124-000001', 'tg-1', 'telegram', 'paid', '{}', 3)`,
		`UPDATE notices SET delivered_at = 5 WHERE id = 1`,
		`DELETE FROM notices WHERE id = 3`, // the sequence stays at 3
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	svc, err := New(path, Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	if v, _ := svc.SchemaVersion(ctx); v != 3 {
		t.Fatalf("version %d", v)
	}
	ns, err := svc.Notices(ctx, "CLM-20261124-000001")
	if err != nil || len(ns) != 2 || ns[0].ID != 1 || ns[0].DeliveredAt == nil || ns[0].Data["amount"] != float64(1) ||
		ns[1].ID != 2 || ns[1].DeliveredAt != nil || ns[1].Complaint != "" {
		t.Fatalf("notices after migration = %+v, %v", ns, err)
	}
	if _, err := svc.db.Exec(`INSERT INTO notices (case_id, conversation, channel, kind, data, created_at)
		VALUES ('CLM-20261124-000001', 'tg-1', 'telegram', 'paid', '{}', 9)`); err != nil {
		t.Fatal(err)
	}
	var last int64
	if err := svc.db.QueryRow(`SELECT MAX(id) FROM notices`).Scan(&last); err != nil || last != 4 {
		t.Errorf("next notice id = %d, %v; want 4 (never reuse 3)", last, err)
	}
	// Still refuses a notice that belongs to nothing.
	if _, err := svc.db.Exec(`INSERT INTO notices (conversation, channel, kind, data, created_at) VALUES ('x', 'sms', 'paid', '{}', 1)`); err == nil {
		t.Error("orphan notice accepted")
	}
}

// The database itself refuses a reply or a reply notice without the ombudsman route, and a
// complaint linking another policy's case, whatever the code above it does.
func TestComplaintRulesInTheDatabase(t *testing.T) {
	ctx := context.Background()
	svc, cs := openInternal(t)
	c, err := svc.CreateComplaint(ctx, casesvc.NewComplaint{Category: "delay", Description: "太慢", PolicyNumber: "HL20240017",
		Complainant: casesvc.Person{Name: "王小明"}, Channel: "webchat", Conversation: "wc-1"})
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO complaint_responses (complaint_id, at, by, text, ombudsman_notice) VALUES ('` + c.ID + `', 1, 'ben', 'ok', '')`,
		`INSERT INTO notices (complaint_id, conversation, channel, kind, data, created_at) VALUES ('` + c.ID + `', 'wc-1', 'webchat', 'complaint_responded', '{"response":"ok"}', 1)`,
		`UPDATE complaints SET case_id = '` + cs.ID + `' WHERE id = '` + c.ID + `'`,
		`INSERT INTO complaints (id, status, category, description, case_id, policy_number, complainant, channel, contact,
			first_response_due, resolution_due, created_at, updated_at) VALUES ('CMP-20261124-000099', 'acknowledged', 'delay', 'x',
			'` + cs.ID + `', 'MT20250088', '{}', 'sms', '{}', 0, 0, 0, 0)`,
	} {
		if _, err := svc.db.Exec(q); err == nil {
			t.Errorf("accepted: %s", q)
		}
	}
}

// A reply, its response row, timeline, audit and notice are one transaction: when the notice
// cannot be written, nothing is.
func TestRespondIsAtomic(t *testing.T) {
	ctx := context.Background()
	svc, _ := openInternal(t)
	c, err := svc.CreateComplaint(ctx, casesvc.NewComplaint{Category: "delay", Description: "太慢", PolicyNumber: "HL20240017",
		Complainant: casesvc.Person{Name: "王小明"}, Channel: "webchat", Conversation: "wc-1"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.db.Exec(`CREATE TRIGGER test_notices_down BEFORE INSERT ON notices BEGIN SELECT RAISE(ABORT, 'outbox down'); END`); err != nil {
		t.Fatal(err)
	}
	ben := casesvc.Staff{Name: "ben", Role: casesvc.RoleSupervisor}
	if _, err := svc.ComplaintTransition(ctx, c.ID, casesvc.ComplaintTransitionRequest{Action: "respond", Response: "抱歉"}, ben); err == nil {
		t.Fatal("respond succeeded without its notice")
	}
	got, err := svc.Complaint(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	audit, _ := svc.Audit(ctx, casesvc.AuditFilter{Complaint: c.ID})
	if got.Status != casesvc.ComplaintAcknowledged || len(got.Responses) != 0 || got.OmbudsmanNotice != "" ||
		len(got.Timeline) != len(c.Timeline) || len(audit) != 1 {
		t.Errorf("half a reply was written: %+v audit %d", got, len(audit))
	}
	if _, err := svc.db.Exec(`DROP TRIGGER test_notices_down`); err != nil {
		t.Fatal(err)
	}
	if got, err := svc.ComplaintTransition(ctx, c.ID, casesvc.ComplaintTransitionRequest{Action: "respond", Response: "抱歉"}, ben); err != nil || len(got.Responses) != 1 {
		t.Errorf("after recovery: %v", err)
	}
}
