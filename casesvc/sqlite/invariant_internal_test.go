package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"claimline/casesvc"
)

// These tests try to break the one-time notice from inside the package, below the public API:
// through requestDocuments, and with raw SQL that bypasses it (the triggers of migration 2).

func openInternal(t *testing.T) (*Service, *casesvc.Case) {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.FixedZone("Asia/Taipei", 8*3600))
	svc, err := New(filepath.Join(t.TempDir(), "cases.db"), Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	if _, err := SeedDemo(ctx, svc); err != nil {
		t.Fatal(err)
	}
	c, err := svc.CreateCase(ctx, casesvc.NewCase{ClaimType: "medical", PolicyNumber: "HL20240017", Channel: "webchat",
		Claimant: casesvc.Person{Name: "王小明", Phone: "+886912345678"},
		Incident: casesvc.Incident{OccurredAt: now.Add(-time.Hour), Place: "台北"}})
	if err != nil {
		t.Fatal(err)
	}
	return svc, c
}

func (s *Service) tryRequest(t *testing.T, caseID, reason, docID string) error {
	t.Helper()
	ctx := context.Background()
	tx, err := s.begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	_, err = s.requestDocuments(ctx, tx, caseID, reason, docID, s.now())
	if err == nil {
		err = tx.Commit()
	}
	return err
}

func (s *Service) requestCount(t *testing.T, caseID string) int {
	var n int
	if err := s.db.QueryRow(`SELECT COUNT(*) FROM document_requests WHERE case_id = ?`, caseID).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestOneTimeNoticeCannotBeBroken(t *testing.T) {
	ctx := context.Background()
	svc, c := openInternal(t)
	res, err := svc.AddDocument(ctx, c.ID, casesvc.NewDocument{Kind: "claim_form", Filename: "f.pdf"})
	if err != nil {
		t.Fatal(err)
	}
	received := res.Document.ID

	// Through the one function that writes requests.
	if err := svc.tryRequest(t, c.ID, casesvc.RequestInitial, ""); casesvc.ErrorCode(err) != casesvc.ECONFLICT {
		t.Errorf("second initial notice: %v", err)
	}
	if err := svc.tryRequest(t, c.ID, casesvc.RequestRejected, received); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("asking again for a document nobody rejected: %v", err)
	}
	if err := svc.tryRequest(t, c.ID, casesvc.RequestRejected, "DOC-NOPE"); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Errorf("asking again for a document that does not exist: %v", err)
	}
	if err := svc.tryRequest(t, c.ID, "reminder", ""); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("another reason: %v", err)
	}

	// Below it, in raw SQL: the database refuses too.
	raw := []struct {
		name, sql string
		args      []any
	}{
		{"second initial", `INSERT INTO document_requests (case_id, at, kinds, reason, channel) VALUES (?, 1, '["claim_form"]', 'initial', 'webchat')`, []any{c.ID}},
		{"kind not in the first notice", `INSERT INTO document_requests (case_id, at, kinds, reason, channel, note) VALUES (?, 1, '["police_report"]', 'rejected', 'webchat', 'x')`, []any{c.ID}},
		{"rejected request without a rejected document", `INSERT INTO document_requests (case_id, at, kinds, reason, channel, document_id, note) VALUES (?, 1, '["claim_form"]', 'rejected', 'webchat', ?, 'x')`, []any{c.ID, received}},
		{"unknown reason", `INSERT INTO document_requests (case_id, at, kinds, reason, channel) VALUES (?, 1, '["claim_form"]', 'reminder', 'webchat')`, []any{c.ID}},
		{"rewrite the first notice", `UPDATE document_requests SET kinds = '["police_report"]' WHERE case_id = ?`, []any{c.ID}},
		{"erase the first notice", `DELETE FROM document_requests WHERE case_id = ?`, []any{c.ID}},
	}
	for _, r := range raw {
		if _, err := svc.db.ExecContext(ctx, r.sql, r.args...); err == nil {
			t.Errorf("%s: the database accepted it", r.name)
		}
	}
	if n := svc.requestCount(t, c.ID); n != 1 {
		t.Fatalf("requests = %d, want the initial one only", n)
	}

	// A rejection without a reason never reaches the store...
	if _, err := svc.RejectDocument(ctx, c.ID, received, "", casesvc.Staff{Name: "amy", Role: casesvc.RoleSpecialist}); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("rejection without reason: %v", err)
	}
	// ...and a document rejected with an empty reason behind the API's back still cannot be asked for again.
	if _, err := svc.db.ExecContext(ctx, `UPDATE documents SET status = 'rejected', reject_reason = '' WHERE id = ?`, received); err != nil {
		t.Fatal(err)
	}
	if err := svc.tryRequest(t, c.ID, casesvc.RequestRejected, received); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("request for a document rejected without reason: %v", err)
	}
	if _, err := svc.db.ExecContext(ctx, `INSERT INTO document_requests (case_id, at, kinds, reason, channel, document_id, note)
		VALUES (?, 1, '["claim_form"]', 'rejected', 'webchat', ?, 'x')`, c.ID, received); err == nil || !strings.Contains(err.Error(), "one-time notice") {
		t.Errorf("raw request for a document rejected without reason: %v", err)
	}
	// A rejected document stays rejected.
	if _, err := svc.db.ExecContext(ctx, `UPDATE documents SET status = 'received' WHERE id = ?`, received); err == nil {
		t.Error("un-rejected a document")
	}
	if n := svc.requestCount(t, c.ID); n != 1 {
		t.Fatalf("requests = %d", n)
	}
}

func TestRejectedRequestOncePerDocument(t *testing.T) {
	ctx := context.Background()
	svc, c := openInternal(t)
	res, _ := svc.AddDocument(ctx, c.ID, casesvc.NewDocument{Kind: "bank_account", Filename: "b.jpg"})
	if _, err := svc.RejectDocument(ctx, c.ID, res.Document.ID, "wrong account holder", casesvc.Staff{Name: "amy", Role: casesvc.RoleSpecialist}); err != nil {
		t.Fatal(err)
	}
	if err := svc.tryRequest(t, c.ID, casesvc.RequestRejected, res.Document.ID); casesvc.ErrorCode(err) != casesvc.ECONFLICT {
		t.Errorf("asking twice for one rejected document: %v", err)
	}
	if n := svc.requestCount(t, c.ID); n != 2 {
		t.Errorf("requests = %d, want 2", n)
	}
}
