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

// CreateComplaint files a complaint. See casesvc.ComplaintService.
//
// The id's daily counter, the complaint, its timeline, audit, topics and any mass-complaint alert
// are written in one transaction. A repeated IdempotencyKey is caught by the unique index (ON
// CONFLICT DO NOTHING): the loser rolls back, returning its counter, and gets the stored complaint.
func (s *Service) CreateComplaint(ctx context.Context, nc casesvc.NewComplaint) (*casesvc.Complaint, error) {
	now := s.now()
	if err := casesvc.ValidateNewComplaint(&nc); err != nil {
		return nil, err
	}
	if _, err := s.Policy(ctx, nc.PolicyNumber); err != nil {
		return nil, err
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: create complaint: %w", err)
	}
	defer tx.Rollback()

	var caseArg any // NULL when none
	claimType := ""
	if nc.CaseID != "" {
		var policy string
		err := tx.QueryRowContext(ctx, `SELECT policy_number, claim_type FROM cases WHERE id = ?`, nc.CaseID).Scan(&policy, &claimType)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("sqlite: create complaint: %w", err)
		}
		// Somebody else's case gets the very answer an unknown one gets (domain.md "Progress queries").
		if errors.Is(err, sql.ErrNoRows) || policy != nc.PolicyNumber {
			return nil, casesvc.Errorf(casesvc.ENOTFOUND, "Case %s was not found.", nc.CaseID)
		}
		caseArg = nc.CaseID
	}

	day := now.In(s.cfg.Location)
	var seq int
	if err := tx.QueryRowContext(ctx, `INSERT INTO complaint_counters (day, last) VALUES (?, 1)
		ON CONFLICT(day) DO UPDATE SET last = last + 1 RETURNING last`, day.Format("20060102")).Scan(&seq); err != nil {
		return nil, fmt.Errorf("sqlite: complaint counter: %w", err)
	}
	id := casesvc.FormatComplaintID(day, seq)
	var key any
	if nc.IdempotencyKey != "" {
		key = nc.IdempotencyKey
	}
	dl := casesvc.ComplaintDeadlinesFrom(now.In(s.cfg.Location), s.cfg.FirstResponseDays, s.cfg.ResolutionDays)
	res, err := tx.ExecContext(ctx, `INSERT INTO complaints (id, status, category, description, case_id, policy_number,
		complainant, channel, conversation, contact, owner, owner_role, first_response_due, resolution_due,
		idempotency_key, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '', 'supervisor', ?, ?, ?, ?, ?)
		ON CONFLICT(idempotency_key) DO NOTHING`,
		id, casesvc.ComplaintAcknowledged, nc.Category, nc.Description, caseArg, nc.PolicyNumber, mustJSON(nc.Complainant),
		nc.Channel, nc.Conversation, mustJSON(nc.Contact), nanos(dl.FirstResponseDue), nanos(dl.ResolutionDue), key,
		nanos(now), nanos(now))
	if err != nil {
		return nil, fmt.Errorf("sqlite: create complaint: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return nil, fmt.Errorf("sqlite: create complaint: %w", err)
	} else if n == 0 {
		tx.Rollback()
		return s.loadComplaint(ctx, s.r, `idempotency_key = ?`, nc.IdempotencyKey)
	}
	w := complaintWriter{tx: tx, id: id, caseID: nc.CaseID, policy: nc.PolicyNumber, now: now}
	w.timeline(nc.Actor, casesvc.ComplaintReceived, "filed on "+nc.Channel)
	w.timeline("system", casesvc.ComplaintAcknowledged, fmt.Sprintf("first response due %s, resolution due %s",
		dl.FirstResponseDue.Format(time.DateOnly), dl.ResolutionDue.Format(time.DateOnly)))
	created := casesvc.AuditEntry{At: now, Actor: nc.Actor, Action: "complaint_created", Complaint: id, CaseID: nc.CaseID,
		Policy: nc.PolicyNumber, Detail: fmt.Sprintf("category=%s channel=%s contact=%s status=acknowledged first_response_due=%s resolution_due=%s",
			nc.Category, nc.Channel, nc.Contact.Method, dl.FirstResponseDue.Format(time.RFC3339), dl.ResolutionDue.Format(time.RFC3339))}
	if nc.CaseID != "" {
		created.Detail += " case=" + nc.CaseID
	}
	w.audits = append(w.audits, created)

	topics := casesvc.ComplaintTopics(nc.Category, claimType, nc.Description, s.cfg.MassComplaint.Keywords)
	for _, t := range topics {
		if _, err := tx.ExecContext(ctx, `INSERT INTO complaint_topics (complaint_id, topic, at) VALUES (?, ?, ?)`,
			id, t, nanos(now)); err != nil {
			return nil, fmt.Errorf("sqlite: complaint topics: %w", err)
		}
	}
	if err := s.detectMassComplaint(ctx, &w, topics); err != nil {
		return nil, err
	}
	if err := w.flush(ctx); err != nil {
		return nil, err
	}
	c, err := s.loadComplaint(ctx, tx, `id = ?`, id)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: create complaint: %w", err)
	}
	return c, nil
}

// detectMassComplaint runs in the transaction that filed complaint w.id with its topics.
//
// An event is open while less than its window has passed since its last complaint. The new
// complaint joins every open event that shares one of its topics (and adds to the first of them
// any of its topics that now crosses the threshold): no new alert. Only when it joins none and at
// least one of its topics has reached the threshold within the window does it raise a new alert,
// one for all the topics that crossed together, linking every complaint of those topics in the
// window. So one surge raises one alert, and a second surge after a quiet window raises another.
func (s *Service) detectMassComplaint(ctx context.Context, w *complaintWriter, topics []string) error {
	rules := s.cfg.MassComplaint
	now := nanos(w.now)
	since := now - int64(rules.Window)
	tx := w.tx

	var crossing []string
	for _, t := range topics {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM complaint_topics WHERE topic = ? AND at > ?`, t, since).Scan(&n); err != nil {
			return fmt.Errorf("sqlite: mass complaint: %w", err)
		}
		if n >= rules.Threshold {
			crossing = append(crossing, t)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT DISTINCT a.id FROM alerts a JOIN alert_topics t ON t.alert_id = a.id
		WHERE t.topic IN (`+placeholders(len(topics))+`) AND a.last_at + a.window_seconds * 1000000000 > ? ORDER BY a.id`,
		append(stringArgs(topics), now)...)
	if err != nil {
		return fmt.Errorf("sqlite: mass complaint: %w", err)
	}
	var open []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return fmt.Errorf("sqlite: mass complaint: %w", err)
		}
		open = append(open, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sqlite: mass complaint: %w", err)
	}

	if len(open) > 0 {
		for _, a := range open {
			if _, err := tx.ExecContext(ctx, `UPDATE alerts SET last_at = ? WHERE id = ?`, now, a); err != nil {
				return fmt.Errorf("sqlite: mass complaint: %w", err)
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO alert_complaints (alert_id, complaint_id) VALUES (?, ?)`, a, w.id); err != nil {
				return fmt.Errorf("sqlite: mass complaint: %w", err)
			}
			w.timeline("system", "mass_complaint", fmt.Sprintf("part of mass-complaint alert %d", a))
		}
		for _, t := range crossing {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO alert_topics (alert_id, topic) VALUES (?, ?)`, open[0], t); err != nil {
				return fmt.Errorf("sqlite: mass complaint: %w", err)
			}
		}
		return nil
	}
	if len(crossing) == 0 {
		return nil
	}
	var alertID int64
	if err := tx.QueryRowContext(ctx, `INSERT INTO alerts (kind, threshold, window_seconds, first_at, last_at, raised_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`, casesvc.AlertMassComplaint, rules.Threshold, int64(rules.Window/time.Second),
		now, now, now).Scan(&alertID); err != nil {
		return fmt.Errorf("sqlite: raise alert: %w", err)
	}
	for _, t := range crossing {
		if _, err := tx.ExecContext(ctx, `INSERT INTO alert_topics (alert_id, topic) VALUES (?, ?)`, alertID, t); err != nil {
			return fmt.Errorf("sqlite: raise alert: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO alert_complaints (alert_id, complaint_id)
		SELECT DISTINCT ?, complaint_id FROM complaint_topics WHERE topic IN (`+placeholders(len(crossing))+`) AND at > ?`,
		append(append([]any{alertID}, stringArgs(crossing)...), since)...); err != nil {
		return fmt.Errorf("sqlite: raise alert: %w", err)
	}
	var count int
	var first int64
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*), MIN(c.created_at) FROM alert_complaints ac
		JOIN complaints c ON c.id = ac.complaint_id WHERE ac.alert_id = ?`, alertID).Scan(&count, &first); err != nil {
		return fmt.Errorf("sqlite: raise alert: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE alerts SET first_at = ? WHERE id = ?`, first, alertID); err != nil {
		return fmt.Errorf("sqlite: raise alert: %w", err)
	}
	detail := fmt.Sprintf("alert=%d kind=%s topics=%s count=%d threshold=%d window=%s", alertID, casesvc.AlertMassComplaint,
		strings.Join(crossing, ","), count, rules.Threshold, rules.Window)
	w.audits = append(w.audits, casesvc.AuditEntry{At: w.now, Actor: "system", Action: "mass_complaint_alert",
		Complaint: w.id, Policy: w.policy, Detail: detail})
	w.timeline("system", "mass_complaint", fmt.Sprintf("raised mass-complaint alert %d (%s)", alertID, strings.Join(crossing, ", ")))
	return nil
}

func placeholders(n int) string {
	if n == 0 {
		return "NULL"
	}
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func stringArgs(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// complaintWriter collects the timeline and audit rows of one complaint change in its transaction.
type complaintWriter struct {
	tx             *ptx
	id             string
	caseID, policy string
	now            time.Time
	entries        []casesvc.TimelineEntry
	audits         []casesvc.AuditEntry
}

func (w *complaintWriter) timeline(actor, event, note string) {
	w.entries = append(w.entries, casesvc.TimelineEntry{At: w.now, Event: event, Actor: actor, Note: note})
}

func (w *complaintWriter) flush(ctx context.Context) error {
	for _, e := range w.entries {
		if _, err := w.tx.ExecContext(ctx, `INSERT INTO complaint_timeline (complaint_id, at, event, actor, note)
			VALUES (?, ?, ?, ?, ?)`, w.id, nanos(e.At), e.Event, e.Actor, e.Note); err != nil {
			return fmt.Errorf("sqlite: complaint timeline: %w", err)
		}
	}
	if err := insertAudits(ctx, w.tx, w.audits); err != nil {
		return err
	}
	w.entries, w.audits = nil, nil
	return nil
}

// ComplaintTransition applies a complaint action in one transaction: state, timeline, audit and,
// for respond, the response and the complaint_responded notice. See casesvc.ComplaintService.
func (s *Service) ComplaintTransition(ctx context.Context, id string, req casesvc.ComplaintTransitionRequest, actor casesvc.Staff) (*casesvc.Complaint, error) {
	now := s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: complaint transition: %w", err)
	}
	defer tx.Rollback()
	c, err := s.loadComplaint(ctx, tx, `id = ?`, id)
	if err != nil {
		return nil, err
	}
	plan, err := casesvc.PlanComplaintTransition(c, req, actor, now)
	if err != nil {
		return nil, err
	}
	out, err := s.applyComplaintPlan(ctx, tx, c, plan, actor.Name, now)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: complaint transition: %w", err)
	}
	return out, nil
}

func (s *Service) applyComplaintPlan(ctx context.Context, tx *ptx, c *casesvc.Complaint, p *casesvc.ComplaintPlan, actor string, now time.Time) (*casesvc.Complaint, error) {
	var escalated, resolved any
	if p.EscalatedAt != nil {
		escalated = nanos(*p.EscalatedAt)
	}
	if p.ResolvedAt != nil {
		resolved = nanos(*p.ResolvedAt)
	}
	notice := ""
	if p.Response != nil {
		notice = p.Response.OmbudsmanNotice
	}
	if _, err := tx.ExecContext(ctx, `UPDATE complaints SET status = ?, owner = ?, owner_role = ?, updated_at = ?,
		escalated_at = COALESCE(escalated_at, ?), resolved_at = COALESCE(resolved_at, ?),
		ombudsman_notice = CASE WHEN ? != '' THEN ? ELSE ombudsman_notice END WHERE id = ?`,
		p.To, p.Owner, string(p.OwnerRole), nanos(now), escalated, resolved, notice, notice, c.ID); err != nil {
		return nil, fmt.Errorf("sqlite: update complaint: %w", err)
	}
	if r := p.Response; r != nil {
		if _, err := tx.ExecContext(ctx, `INSERT INTO complaint_responses (complaint_id, at, by, text, ombudsman_notice)
			VALUES (?, ?, ?, ?, ?)`, c.ID, nanos(r.At), r.By, r.Text, r.OmbudsmanNotice); err != nil {
			return nil, fmt.Errorf("sqlite: complaint response: %w", err)
		}
	}
	w := complaintWriter{tx: tx, id: c.ID, caseID: c.CaseID, policy: c.PolicyNumber, now: now, entries: p.Timeline}
	w.audits = append(w.audits, casesvc.AuditEntry{At: now, Actor: actor, Action: p.AuditAction, Complaint: c.ID,
		Policy: c.PolicyNumber, Detail: p.AuditDetail})
	if err := w.flush(ctx); err != nil {
		return nil, err
	}
	if p.NoticeKind != "" {
		data := p.NoticeData
		if data == nil {
			data = map[string]any{}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notices (complaint_id, conversation, channel, kind, data, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, c.ID, c.Conversation, c.Channel, p.NoticeKind, mustJSON(data), nanos(now)); err != nil {
			return nil, fmt.Errorf("sqlite: complaint notice: %w", err)
		}
	}
	return s.loadComplaint(ctx, tx, `id = ?`, c.ID)
}

// EscalateOverdue escalates overdue complaints to the manager, each in its own transaction, and
// returns those it escalated. See casesvc.ComplaintService.
func (s *Service) EscalateOverdue(ctx context.Context, now time.Time) ([]*casesvc.Complaint, error) {
	now = now.Truncate(time.Second).In(s.cfg.Location)
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM complaints WHERE escalated_at IS NULL
		AND status IN (?, ?, ?) AND (first_response_due < ? OR resolution_due < ?) ORDER BY created_at, id`,
		casesvc.ComplaintAcknowledged, casesvc.ComplaintInvestigating, casesvc.ComplaintResponded, nanos(now), nanos(now))
	if err != nil {
		return nil, fmt.Errorf("sqlite: escalate overdue: %w", err)
	}
	ids, err := scanStrings(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: escalate overdue: %w", err)
	}
	out := []*casesvc.Complaint{}
	for _, id := range ids {
		c, err := s.escalateOne(ctx, id, now)
		if err != nil {
			return out, err
		}
		if c != nil {
			out = append(out, c)
		}
	}
	return out, nil
}

func (s *Service) escalateOne(ctx context.Context, id string, now time.Time) (*casesvc.Complaint, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: escalate overdue: %w", err)
	}
	defer tx.Rollback()
	c, err := s.loadComplaint(ctx, tx, `id = ?`, id)
	if err != nil {
		return nil, err
	}
	plan := casesvc.PlanOverdueEscalation(c, now)
	if plan == nil {
		return nil, nil // answered or escalated meanwhile
	}
	out, err := s.applyComplaintPlan(ctx, tx, c, plan, "system", now)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: escalate overdue: %w", err)
	}
	return out, nil
}

// Complaint returns one complaint. ENOTFOUND.
func (s *Service) Complaint(ctx context.Context, id string) (*casesvc.Complaint, error) {
	return s.loadComplaint(ctx, s.r, `id = ?`, id)
}

// Complaints lists complaints newest first with the total before paging. Page defaults to 1,
// PerPage to 20 (at most 100).
func (s *Service) Complaints(ctx context.Context, f casesvc.ComplaintFilter) ([]*casesvc.Complaint, int, error) {
	var where []string
	var args []any
	if f.Status != "" {
		where, args = append(where, "status = ?"), append(args, f.Status)
	}
	if f.PolicyNumber != "" {
		where, args = append(where, "policy_number = ?"), append(args, f.PolicyNumber)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM complaints`+cond, args...).Scan(&total); err != nil {
		return nil, 0, fmt.Errorf("sqlite: complaints: %w", err)
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
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM complaints`+cond+` ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?`,
		append(args, per, (page-1)*per)...)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: complaints: %w", err)
	}
	ids, err := scanStrings(rows)
	if err != nil {
		return nil, 0, fmt.Errorf("sqlite: complaints: %w", err)
	}
	out, err := s.complaintsByID(ctx, ids)
	return out, total, err
}

func (s *Service) complaintsByID(ctx context.Context, ids []string) ([]*casesvc.Complaint, error) {
	out := make([]*casesvc.Complaint, 0, len(ids))
	for _, id := range ids {
		c, err := s.Complaint(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// openComplaints returns every unresolved complaint (for the deadlines list).
func (s *Service) openComplaints(ctx context.Context) ([]*casesvc.Complaint, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id FROM complaints WHERE status != ? ORDER BY id`, casesvc.ComplaintResolved)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open complaints: %w", err)
	}
	ids, err := scanStrings(rows)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open complaints: %w", err)
	}
	return s.complaintsByID(ctx, ids)
}

func (s *Service) loadComplaint(ctx context.Context, q querier, where string, arg any) (*casesvc.Complaint, error) {
	var (
		c                              casesvc.Complaint
		caseID                         sql.NullString
		complainant, contact, role     string
		firstDue, resDue, created, upd int64
		escalated, resolved            sql.NullInt64
	)
	err := q.QueryRowContext(ctx, `SELECT id, status, category, description, case_id, policy_number, complainant,
		channel, conversation, contact, owner, owner_role, first_response_due, resolution_due, ombudsman_notice,
		created_at, updated_at, escalated_at, resolved_at FROM complaints WHERE `+where, arg).Scan(
		&c.ID, &c.Status, &c.Category, &c.Description, &caseID, &c.PolicyNumber, &complainant,
		&c.Channel, &c.Conversation, &contact, &c.Owner, &role, &firstDue, &resDue, &c.OmbudsmanNotice,
		&created, &upd, &escalated, &resolved)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "Complaint %v was not found.", arg)
	} else if err != nil {
		return nil, fmt.Errorf("sqlite: complaint: %w", err)
	}
	c.CaseID = caseID.String
	c.OwnerRole = casesvc.Role(role)
	c.Deadlines.FirstResponseDue, c.Deadlines.ResolutionDue = s.fromNanos(firstDue), s.fromNanos(resDue)
	c.CreatedAt, c.UpdatedAt = s.fromNanos(created), s.fromNanos(upd)
	if escalated.Valid {
		t := s.fromNanos(escalated.Int64)
		c.EscalatedAt = &t
	}
	if resolved.Valid {
		t := s.fromNanos(resolved.Int64)
		c.ResolvedAt = &t
	}
	if err := json.Unmarshal([]byte(complainant), &c.Complainant); err != nil {
		return nil, fmt.Errorf("sqlite: complaint %s: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(contact), &c.Contact); err != nil {
		return nil, fmt.Errorf("sqlite: complaint %s: %w", c.ID, err)
	}
	if c.Responses, err = s.loadResponses(ctx, q, c.ID); err != nil {
		return nil, err
	}
	if c.Timeline, err = s.loadComplaintTimeline(ctx, q, c.ID); err != nil {
		return nil, err
	}
	casesvc.ComputeComplaintDeadlines(&c, s.now())
	return &c, nil
}

func (s *Service) loadResponses(ctx context.Context, q querier, id string) ([]casesvc.ComplaintResponse, error) {
	rows, err := q.QueryContext(ctx, `SELECT at, by, text, ombudsman_notice FROM complaint_responses WHERE complaint_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: complaint responses: %w", err)
	}
	defer rows.Close()
	out := []casesvc.ComplaintResponse{}
	for rows.Next() {
		var r casesvc.ComplaintResponse
		var at int64
		if err := rows.Scan(&at, &r.By, &r.Text, &r.OmbudsmanNotice); err != nil {
			return nil, fmt.Errorf("sqlite: complaint responses: %w", err)
		}
		r.At = s.fromNanos(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

func (s *Service) loadComplaintTimeline(ctx context.Context, q querier, id string) ([]casesvc.TimelineEntry, error) {
	rows, err := q.QueryContext(ctx, `SELECT at, event, actor, note FROM complaint_timeline WHERE complaint_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("sqlite: complaint timeline: %w", err)
	}
	defer rows.Close()
	out := []casesvc.TimelineEntry{}
	for rows.Next() {
		var e casesvc.TimelineEntry
		var at int64
		if err := rows.Scan(&at, &e.Event, &e.Actor, &e.Note); err != nil {
			return nil, fmt.Errorf("sqlite: complaint timeline: %w", err)
		}
		e.At = s.fromNanos(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ---- alerts ----

// Alerts lists mass-complaint alerts whose event was active at or after since, newest first.
func (s *Service) Alerts(ctx context.Context, since time.Time) ([]casesvc.Alert, error) {
	return s.loadAlerts(ctx, `WHERE last_at >= ? ORDER BY raised_at DESC, id DESC`, nanos(since))
}

// PendingAlerts returns up to limit (default 100, at most 1000) undelivered alerts, oldest first.
//
// The console's side, like the notice relay: show each alert to the supervisors and managers on
// duty with the idempotency id Alert.IdempotencyID() ("alert:<id>"), then MarkAlertDelivered(id).
// A crash in between shows it again; the console drops the repeat by that id.
func (s *Service) PendingAlerts(ctx context.Context, limit int) ([]casesvc.Alert, error) {
	if limit <= 0 {
		limit = 100
	} else if limit > 1000 {
		limit = 1000
	}
	return s.loadAlerts(ctx, `WHERE delivered_at IS NULL ORDER BY id LIMIT ?`, limit)
}

// MarkAlertDelivered records the first delivery of an alert; later calls change nothing. ENOTFOUND.
func (s *Service) MarkAlertDelivered(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, `UPDATE alerts SET delivered_at = COALESCE(delivered_at, ?) WHERE id = ?`, nanos(s.now()), id)
	if err != nil {
		return fmt.Errorf("sqlite: mark alert: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: mark alert: %w", err)
	} else if n == 0 {
		return casesvc.Errorf(casesvc.ENOTFOUND, "Alert %d was not found.", id)
	}
	return nil
}

func (s *Service) loadAlerts(ctx context.Context, tail string, args ...any) ([]casesvc.Alert, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, kind, threshold, window_seconds, first_at, last_at, raised_at,
		delivered_at FROM alerts `+tail, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: alerts: %w", err)
	}
	out := []casesvc.Alert{}
	now := s.now()
	for rows.Next() {
		var a casesvc.Alert
		var window, first, last, raised int64
		var delivered sql.NullInt64
		if err := rows.Scan(&a.ID, &a.Kind, &a.Threshold, &window, &first, &last, &raised, &delivered); err != nil {
			rows.Close()
			return nil, fmt.Errorf("sqlite: alerts: %w", err)
		}
		w := time.Duration(window) * time.Second
		a.Window = w.String()
		a.FirstAt, a.LastAt, a.RaisedAt = s.fromNanos(first), s.fromNanos(last), s.fromNanos(raised)
		a.Open = a.LastAt.Add(w).After(now)
		if delivered.Valid {
			t := s.fromNanos(delivered.Int64)
			a.Delivered = &t
		}
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: alerts: %w", err)
	}
	// Topics and complaints after the list query has released the single connection.
	for i := range out {
		a := &out[i]
		trows, err := s.r.QueryContext(ctx, `SELECT topic FROM alert_topics WHERE alert_id = ? ORDER BY topic`, a.ID)
		if err != nil {
			return nil, fmt.Errorf("sqlite: alert topics: %w", err)
		}
		if a.Topics, err = scanStrings(trows); err != nil {
			return nil, fmt.Errorf("sqlite: alert topics: %w", err)
		}
		crows, err := s.r.QueryContext(ctx, `SELECT ac.complaint_id FROM alert_complaints ac JOIN complaints c
			ON c.id = ac.complaint_id WHERE ac.alert_id = ? ORDER BY c.created_at, c.id`, a.ID)
		if err != nil {
			return nil, fmt.Errorf("sqlite: alert complaints: %w", err)
		}
		if a.Complaints, err = scanStrings(crows); err != nil {
			return nil, fmt.Errorf("sqlite: alert complaints: %w", err)
		}
		if a.Topics == nil {
			a.Topics = []string{}
		}
		if a.Complaints == nil {
			a.Complaints = []string{}
		}
		a.Count = len(a.Complaints)
	}
	return out, nil
}
