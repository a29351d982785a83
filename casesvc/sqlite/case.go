package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"claimline/casesvc"
)

// CreateCase files a claim. See casesvc.Service.
//
// The id's daily counter and the case row are written in one transaction. A repeated
// IdempotencyKey is caught by the unique index (ON CONFLICT DO NOTHING), not by a prior lookup,
// so two concurrent retries cannot both file a case; the loser rolls back, returning its counter.
func (s *Service) CreateCase(ctx context.Context, nc casesvc.NewCase) (*casesvc.Case, error) {
	now := s.now()
	cat := s.cfg.Catalog
	var pol *casesvc.Policy
	if nc.PolicyNumber != "" {
		p, err := s.Policy(ctx, nc.PolicyNumber)
		if err != nil && casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
			return nil, err
		}
		pol = p
	}
	if err := casesvc.ValidateNewCase(nc, pol, cat, now); err != nil {
		return nil, err
	}
	actor := nc.Actor
	if actor == "" {
		actor = "bot"
	}
	required := cat.RequiredDocuments(nc.ClaimType, nc.Incident.Conditions)
	priority, fastTrack, emergency := "normal", false, ""
	em, err := s.CurrentEmergency(ctx)
	if err != nil {
		return nil, err
	}
	if em.Matches(nc.Incident, s.cfg.Location) {
		// The green channel (domain.md "Emergencies"): the event's shorter checklist when it has one
		// for this claim type, front of the queue, fast-track decision deadline.
		priority, fastTrack, emergency = "green_channel", true, em.Name
		if short := em.Checklist(nc.ClaimType); len(short) > 0 {
			required = short
		}
	}
	missing := casesvc.MissingDocuments(required, nil)
	lateDays := casesvc.ReportedLateDays(nc.Incident.OccurredAt, now, s.cfg.Location)

	status := casesvc.StatusAwaitingDocuments
	var deadlines casesvc.Deadlines
	if len(missing) == 0 {
		// Nothing to wait for: skip awaiting_documents and start the statutory clock now.
		status = casesvc.StatusInitialReview
		deadlines = s.deadlinesFrom(now, fastTrack)
	}

	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create case: %w", err)
	}
	defer tx.Rollback()

	day := now.In(s.cfg.Location)
	var seq int
	if err := tx.QueryRowContext(ctx, `INSERT INTO case_counters (day, last) VALUES (?, 1)
		ON CONFLICT(day) DO UPDATE SET last = last + 1 RETURNING last`, day.Format("20060102")).Scan(&seq); err != nil {
		return nil, fmt.Errorf("sqlite: case counter: %w", err)
	}
	id := casesvc.FormatCaseID(day, seq)

	var key any // NULL when empty: many cases without a key must not collide
	if nc.IdempotencyKey != "" {
		key = nc.IdempotencyKey
	}
	search := strings.ToLower(strings.Join([]string{id, nc.Claimant.Name, nc.Incident.Place,
		nc.Incident.Cause, nc.Incident.Description}, "\n"))
	res, err := tx.ExecContext(ctx, `INSERT INTO cases (id, status, claim_type, policy_number, channel,
		conversation, claimant, incident, required_documents, priority, fast_track, decision, payment,
		deadlines, reported_late_days, idempotency_key, search, created_at, updated_at, emergency)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(idempotency_key) DO NOTHING`,
		id, status, nc.ClaimType, pol.Number, nc.Channel, nc.Conversation, mustJSON(nc.Claimant),
		mustJSON(nc.Incident), mustJSON(required), priority, boolInt(fastTrack), mustJSON(deadlines), lateDays, key, search,
		nanos(now), nanos(now), emergency)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create case: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("sqlite: create case: %w", err)
	} else if n == 0 {
		tx.Rollback()
		return s.caseByIdempotencyKey(ctx, nc.IdempotencyKey)
	}

	timeline := []casesvc.TimelineEntry{{At: now, Event: casesvc.StatusReceived, Actor: actor, Note: "filed on " + nc.Channel}}
	createdDetail := fmt.Sprintf("claim_type=%s channel=%s", nc.ClaimType, nc.Channel)
	if lateDays > 0 {
		createdDetail += fmt.Sprintf(" reported_late_days=%d", lateDays)
	}
	if emergency != "" {
		createdDetail += " priority=green_channel emergency=" + emergency
		timeline = append(timeline, casesvc.TimelineEntry{At: now, Event: "green_channel", Actor: "system", Note: emergency})
	}
	audits := []casesvc.AuditEntry{{At: now, Actor: actor, Action: "case_created", CaseID: id, Policy: pol.Number, Detail: createdDetail}}
	if len(missing) > 0 {
		if _, err := s.requestDocuments(ctx, tx, id, casesvc.RequestInitial, "", now); err != nil {
			return nil, err
		}
		kinds := strings.Join(missing, ",")
		timeline = append(timeline,
			casesvc.TimelineEntry{At: now, Event: "documents_requested", Actor: "system", Note: "initial: " + kinds},
			casesvc.TimelineEntry{At: now, Event: casesvc.StatusAwaitingDocuments, Actor: "system"})
		audits = append(audits, casesvc.AuditEntry{At: now, Actor: "system", Action: "documents_requested",
			CaseID: id, Policy: pol.Number, Detail: "reason=initial kinds=" + kinds})
	} else {
		timeline = append(timeline,
			casesvc.TimelineEntry{At: now, Event: "documents_complete", Actor: "system"},
			casesvc.TimelineEntry{At: now, Event: casesvc.StatusInitialReview, Actor: "system"})
	}
	for _, e := range timeline {
		if _, err := tx.ExecContext(ctx, `INSERT INTO timeline (case_id, at, event, actor, note) VALUES (?, ?, ?, ?, ?)`,
			id, nanos(e.At), e.Event, e.Actor, e.Note); err != nil {
			return nil, fmt.Errorf("sqlite: timeline: %w", err)
		}
	}
	for _, a := range audits {
		if err := insertAudit(ctx, tx, a); err != nil {
			return nil, err
		}
	}
	c, err := s.loadCase(ctx, tx, `id = ?`, id)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: create case: %w", err)
	}
	return c, nil
}

// deadlinesFrom returns the decision and payment deadlines for documents complete at t.
func (s *Service) deadlinesFrom(t time.Time, fastTrack bool) casesvc.Deadlines {
	days := s.cfg.DecisionDays
	if fastTrack {
		days = s.cfg.FastTrackDecisionDays
	}
	return casesvc.DeadlinesFrom(t.In(s.cfg.Location), days, s.cfg.PaymentDays)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Service) caseByIdempotencyKey(ctx context.Context, key string) (*casesvc.Case, error) {
	return s.loadCase(ctx, s.r, `idempotency_key = ?`, key)
}

// Case returns one case. ENOTFOUND.
func (s *Service) Case(ctx context.Context, id string) (*casesvc.Case, error) {
	return s.loadCase(ctx, s.r, `id = ?`, id)
}

// Cases lists cases newest first with the total before paging. Page defaults to 1, PerPage to 20
// (at most 100).
func (s *Service) Cases(ctx context.Context, f casesvc.CaseFilter) ([]*casesvc.Case, int, error) {
	var where []string
	var args []any
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.PolicyNumber != "" {
		where, args = append(where, "policy_number = ?"), append(args, f.PolicyNumber)
	}
	if f.ClaimType != "" {
		where, args = append(where, "claim_type = ?"), append(args, f.ClaimType)
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		where = append(where, `search LIKE ? ESCAPE '\'`)
		args = append(args, "%"+likeEscaper.Replace(strings.ToLower(q))+"%")
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM cases`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: cases: %w", err)
	}
	page, per := f.Page, f.PerPage
	if page < 1 {
		page = 1
	}
	if per < 1 {
		per = 20
	} else if per > 100 {
		per = 100
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM cases`+cond+` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
		append(args, per, (page-1)*per)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: cases: %w", err)
	}
	ids, err := scanStrings(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: cases: %w", err)
	}
	out, err := s.casesByID(ctx, ids)
	return out, total, err
}

// CasesByPolicy returns every case on one policy, newest first.
func (s *Service) CasesByPolicy(ctx context.Context, number string) ([]*casesvc.Case, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM cases WHERE policy_number = ? ORDER BY created_at DESC, id DESC`, number)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cases by policy: %w", err)
	}
	ids, err := scanStrings(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cases by policy: %w", err)
	}
	return s.casesByID(ctx, ids)
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// casesByID loads the cases one by one after the id query has released the connection (the pool
// has a single connection, so nested queries would wait on themselves).
func (s *Service) casesByID(ctx context.Context, ids []string) ([]*casesvc.Case, error) {
	out := make([]*casesvc.Case, 0, len(ids))
	for _, id := range ids {
		c, err := s.Case(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// loadCase reads one case and its documents, requests and timeline through q (the db or a tx).
func (s *Service) loadCase(ctx context.Context, q querier, where string, arg any) (*casesvc.Case, error) {
	var (
		c                                       casesvc.Case
		claimant, incident, required, deadlines string
		decision, payment                       sql.NullString
		assessed                                sql.NullFloat64
		fastTrack                               int
		created, updated                        int64
	)
	err := q.QueryRowContext(ctx, `SELECT id, status, claim_type, policy_number, channel, conversation,
		claimant, incident, required_documents, priority, fast_track, decision, payment, deadlines,
		reported_late_days, created_at, updated_at, assessed_amount, emergency FROM cases WHERE `+where, arg).Scan(
		&c.ID, &c.Status, &c.ClaimType, &c.PolicyNumber, &c.Channel, &c.Conversation,
		&claimant, &incident, &required, &c.Priority, &fastTrack, &decision, &payment, &deadlines,
		&c.ReportedLateDays, &created, &updated, &assessed, &c.Emergency)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "Case %v was not found.", arg)
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: case: %w", err)
	}
	c.FastTrack = fastTrack != 0
	if assessed.Valid {
		a := assessed.Float64
		c.AssessedAmount = &a
	}
	c.CreatedAt, c.UpdatedAt = s.fromNanos(created), s.fromNanos(updated)
	for _, f := range []struct {
		src string
		dst any
	}{{claimant, &c.Claimant}, {incident, &c.Incident}, {required, &c.RequiredDocuments},
		{deadlines, &c.Deadlines}, {decision.String, &c.Decision}, {payment.String, &c.Payment}} {
		if f.src == "" {
			continue
		}
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, fmt.Errorf("sqlite: case %s: %w", c.ID, err)
		}
	}
	if c.Documents, err = s.loadDocuments(ctx, q, c.ID); err != nil {
		return nil, err
	}
	if c.DocumentRequests, err = s.loadRequests(ctx, q, c.ID); err != nil {
		return nil, err
	}
	if c.Timeline, err = s.loadTimeline(ctx, q, c.ID); err != nil {
		return nil, err
	}
	if c.RequiredDocuments == nil {
		c.RequiredDocuments = []string{}
	}
	c.MissingDocuments = casesvc.MissingDocuments(c.RequiredDocuments, c.Documents)
	casesvc.ComputeDeadlines(&c, s.now())
	return &c, nil
}

func (s *Service) loadDocuments(ctx context.Context, q querier, caseID string) ([]casesvc.Document, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, kind, status, filename, content_type, size, sha256, received_at,
		reject_reason, rejected_at, rejected_by, channel, blob_ref FROM documents WHERE case_id = ? ORDER BY received_at, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: documents: %w", err)
	}
	defer rows.Close()
	out := []casesvc.Document{}
	for rows.Next() {
		var d casesvc.Document
		var received int64
		var rejected sql.NullInt64
		if err := rows.Scan(&d.ID, &d.Kind, &d.Status, &d.Filename, &d.ContentType, &d.Size, &d.SHA256,
			&received, &d.RejectReason, &rejected, &d.RejectedBy, &d.Channel, &d.BlobRef); err != nil {
			return nil, fmt.Errorf("sqlite: documents: %w", err)
		}
		d.ReceivedAt = s.fromNanos(received)
		if rejected.Valid {
			t := s.fromNanos(rejected.Int64)
			d.RejectedAt = &t
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func (s *Service) loadRequests(ctx context.Context, q querier, caseID string) ([]casesvc.DocumentRequest, error) {
	rows, err := q.QueryContext(ctx, `SELECT at, kinds, reason, channel, COALESCE(document_id, ''), note
		FROM document_requests WHERE case_id = ? ORDER BY id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: document requests: %w", err)
	}
	defer rows.Close()
	out := []casesvc.DocumentRequest{}
	for rows.Next() {
		var r casesvc.DocumentRequest
		var at int64
		var kinds string
		if err := rows.Scan(&at, &kinds, &r.Reason, &r.Channel, &r.Document, &r.Note); err != nil {
			return nil, fmt.Errorf("sqlite: document requests: %w", err)
		}
		r.At = s.fromNanos(at)
		if err := json.Unmarshal([]byte(kinds), &r.Kinds); err != nil {
			return nil, fmt.Errorf("sqlite: document requests: %w", err)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *Service) loadTimeline(ctx context.Context, q querier, caseID string) ([]casesvc.TimelineEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT at, event, actor, note FROM timeline WHERE case_id = ? ORDER BY id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("sqlite: timeline: %w", err)
	}
	defer rows.Close()
	out := []casesvc.TimelineEntry{}
	for rows.Next() {
		var e casesvc.TimelineEntry
		var at int64
		if err := rows.Scan(&at, &e.Event, &e.Actor, &e.Note); err != nil {
			return nil, fmt.Errorf("sqlite: timeline: %w", err)
		}
		e.At = s.fromNanos(at)
		out = append(out, e)
	}
	return out, rows.Err()
}
