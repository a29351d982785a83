package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"claimline/casesvc"
)

// massComplaintLock serialises mass-complaint detection across transactions (and processes).
const massComplaintLock = 0x636d706c // "cmpl"

// CreateComplaint files a complaint. See casesvc.ComplaintService and casesvc/sqlite.
func (s *Service) CreateComplaint(ctx context.Context, nc casesvc.NewComplaint) (*casesvc.Complaint, error) {
	now := s.now()
	if err := casesvc.ValidateNewComplaint(&nc); err != nil {
		return nil, err
	}
	if _, err := s.Policy(ctx, nc.PolicyNumber); err != nil {
		return nil, err
	}
	var out *casesvc.Complaint
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var caseArg *string
		claimType := ""
		if nc.CaseID != "" {
			var policy string
			err := tx.QueryRow(ctx, `SELECT policy_number, claim_type FROM cases WHERE id = $1`, nc.CaseID).Scan(&policy, &claimType)
			if err != nil && !errors.Is(err, pgx.ErrNoRows) {
				return err
			}
			if errors.Is(err, pgx.ErrNoRows) || policy != nc.PolicyNumber {
				return casesvc.Errorf(casesvc.ENOTFOUND, "Case %s was not found.", nc.CaseID)
			}
			caseArg = &nc.CaseID
		}
		// One detection at a time: two complaints of one surge must not both raise an alert.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(massComplaintLock)); err != nil {
			return err
		}
		day := s.in(now)
		seq, err := s.nextID(ctx, tx, "complaint", day)
		if err != nil {
			return err
		}
		id := casesvc.FormatComplaintID(day, seq)
		var key *string
		if nc.IdempotencyKey != "" {
			key = &nc.IdempotencyKey
		}
		dl := casesvc.ComplaintDeadlinesFrom(s.in(now), s.cfg.FirstResponseDays, s.cfg.ResolutionDays)
		tag, err := tx.Exec(ctx, `INSERT INTO complaints (id, status, category, description, case_id, policy_number,
			complainant, channel, conversation, contact, first_response_due, resolution_due, idempotency_key, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14)
			ON CONFLICT (idempotency_key) DO NOTHING`,
			id, casesvc.ComplaintAcknowledged, nc.Category, nc.Description, caseArg, nc.PolicyNumber, mustJSON(nc.Complainant),
			nc.Channel, nc.Conversation, mustJSON(nc.Contact), dl.FirstResponseDue, dl.ResolutionDue, key, now)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errReplay
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
			if _, err := tx.Exec(ctx, `INSERT INTO complaint_topics (complaint_id, topic, at) VALUES ($1, $2, $3)`, id, t, now); err != nil {
				return err
			}
		}
		if err := s.detectMassComplaint(ctx, &w, topics); err != nil {
			return err
		}
		if err := w.flush(ctx); err != nil {
			return err
		}
		out, err = s.loadComplaint(ctx, tx, "id", id, false)
		return err
	})
	if errors.Is(err, errReplay) {
		return s.loadComplaint(ctx, s.pool, "idempotency_key", nc.IdempotencyKey, false)
	}
	if err != nil {
		return nil, wrap("create complaint", err)
	}
	return out, nil
}

// detectMassComplaint follows casesvc/sqlite's rule: join every open event sharing a topic, else
// raise one alert for the topics that crossed the threshold within the window.
func (s *Service) detectMassComplaint(ctx context.Context, w *complaintWriter, topics []string) error {
	rules := s.cfg.MassComplaint
	since := w.now.Add(-rules.Window)
	tx := w.tx
	var crossing []string
	for _, t := range topics {
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM complaint_topics WHERE topic = $1 AND at > $2`, t, since).Scan(&n); err != nil {
			return err
		}
		if n >= rules.Threshold {
			crossing = append(crossing, t)
		}
	}
	rows, err := tx.Query(ctx, `SELECT DISTINCT a.id FROM alerts a JOIN alert_topics t ON t.alert_id = a.id
		WHERE t.topic = ANY($1) AND a.last_at + a.window_seconds * interval '1 second' > $2 ORDER BY a.id`, topics, w.now)
	if err != nil {
		return err
	}
	open, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return err
	}
	if len(open) > 0 {
		for _, a := range open {
			if _, err := tx.Exec(ctx, `UPDATE alerts SET last_at = $1 WHERE id = $2`, w.now, a); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO alert_complaints (alert_id, complaint_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, a, w.id); err != nil {
				return err
			}
			w.timeline("system", "mass_complaint", fmt.Sprintf("part of mass-complaint alert %d", a))
		}
		for _, t := range crossing {
			if _, err := tx.Exec(ctx, `INSERT INTO alert_topics (alert_id, topic) VALUES ($1, $2) ON CONFLICT DO NOTHING`, open[0], t); err != nil {
				return err
			}
		}
		return nil
	}
	if len(crossing) == 0 {
		return nil
	}
	var alertID int64
	if err := tx.QueryRow(ctx, `INSERT INTO alerts (kind, threshold, window_seconds, first_at, last_at, raised_at)
		VALUES ($1, $2, $3, $4, $4, $4) RETURNING id`, casesvc.AlertMassComplaint, rules.Threshold, int64(rules.Window/time.Second),
		w.now).Scan(&alertID); err != nil {
		return err
	}
	for _, t := range crossing {
		if _, err := tx.Exec(ctx, `INSERT INTO alert_topics (alert_id, topic) VALUES ($1, $2)`, alertID, t); err != nil {
			return err
		}
	}
	if _, err := tx.Exec(ctx, `INSERT INTO alert_complaints (alert_id, complaint_id)
		SELECT DISTINCT $1::bigint, complaint_id FROM complaint_topics WHERE topic = ANY($2) AND at > $3`, alertID, crossing, since); err != nil {
		return err
	}
	var count int
	var first time.Time
	if err := tx.QueryRow(ctx, `SELECT count(*), min(c.created_at) FROM alert_complaints ac
		JOIN complaints c ON c.id = ac.complaint_id WHERE ac.alert_id = $1`, alertID).Scan(&count, &first); err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE alerts SET first_at = $1 WHERE id = $2`, first, alertID); err != nil {
		return err
	}
	detail := fmt.Sprintf("alert=%d kind=%s topics=%s count=%d threshold=%d window=%s", alertID, casesvc.AlertMassComplaint,
		strings.Join(crossing, ","), count, rules.Threshold, rules.Window)
	w.audits = append(w.audits, casesvc.AuditEntry{At: w.now, Actor: "system", Action: "mass_complaint_alert",
		Complaint: w.id, Policy: w.policy, Detail: detail})
	w.timeline("system", "mass_complaint", fmt.Sprintf("raised mass-complaint alert %d (%s)", alertID, strings.Join(crossing, ", ")))
	return nil
}

type complaintWriter struct {
	tx             pgx.Tx
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
		if _, err := w.tx.Exec(ctx, `INSERT INTO complaint_timeline (complaint_id, at, event, actor, note)
			VALUES ($1, $2, $3, $4, $5)`, w.id, e.At, e.Event, e.Actor, e.Note); err != nil {
			return err
		}
	}
	for _, a := range w.audits {
		if err := insertAudit(ctx, w.tx, a); err != nil {
			return err
		}
	}
	w.entries, w.audits = nil, nil
	return nil
}

// ComplaintTransition applies a complaint action in one transaction. See casesvc.ComplaintService.
func (s *Service) ComplaintTransition(ctx context.Context, id string, req casesvc.ComplaintTransitionRequest, actor casesvc.Staff) (*casesvc.Complaint, error) {
	now := s.now()
	var out *casesvc.Complaint
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := s.loadComplaint(ctx, tx, "id", id, true)
		if err != nil {
			return err
		}
		plan, err := casesvc.PlanComplaintTransition(c, req, actor, s.in(now))
		if err != nil {
			return err
		}
		out, err = s.applyComplaintPlan(ctx, tx, c, plan, actor.Name, now)
		return err
	})
	if err != nil {
		return nil, wrap("complaint transition", err)
	}
	return out, nil
}

func (s *Service) applyComplaintPlan(ctx context.Context, tx pgx.Tx, c *casesvc.Complaint, p *casesvc.ComplaintPlan, actor string, now time.Time) (*casesvc.Complaint, error) {
	notice := ""
	if p.Response != nil {
		notice = p.Response.OmbudsmanNotice
	}
	if _, err := tx.Exec(ctx, `UPDATE complaints SET status = $1, owner = $2, owner_role = $3, updated_at = $4,
		escalated_at = COALESCE(escalated_at, $5), resolved_at = COALESCE(resolved_at, $6),
		ombudsman_notice = CASE WHEN $7 <> '' THEN $7 ELSE ombudsman_notice END WHERE id = $8`,
		p.To, p.Owner, string(p.OwnerRole), now, p.EscalatedAt, p.ResolvedAt, notice, c.ID); err != nil {
		return nil, err
	}
	if r := p.Response; r != nil {
		if _, err := tx.Exec(ctx, `INSERT INTO complaint_responses (complaint_id, at, by, text, ombudsman_notice)
			VALUES ($1, $2, $3, $4, $5)`, c.ID, r.At, r.By, r.Text, r.OmbudsmanNotice); err != nil {
			return nil, err
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
		if _, err := tx.Exec(ctx, `INSERT INTO notices (complaint_id, conversation, channel, kind, data, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, c.ID, c.Conversation, c.Channel, p.NoticeKind, mustJSON(data), now); err != nil {
			return nil, err
		}
	}
	return s.loadComplaint(ctx, tx, "id", c.ID, false)
}

// EscalateOverdue escalates overdue complaints to the manager, each in its own transaction.
func (s *Service) EscalateOverdue(ctx context.Context, now time.Time) ([]*casesvc.Complaint, error) {
	now = s.in(now.Truncate(time.Second))
	ids, err := s.ids(ctx, `SELECT id FROM complaints WHERE escalated_at IS NULL AND status IN ($1, $2, $3)
		AND (first_response_due < $4 OR resolution_due < $4) ORDER BY created_at, id`,
		casesvc.ComplaintAcknowledged, casesvc.ComplaintInvestigating, casesvc.ComplaintResponded, now)
	if err != nil {
		return nil, err
	}
	out := []*casesvc.Complaint{}
	for _, id := range ids {
		var c *casesvc.Complaint
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			cur, err := s.loadComplaint(ctx, tx, "id", id, true)
			if err != nil {
				return err
			}
			plan := casesvc.PlanOverdueEscalation(cur, now)
			if plan == nil {
				return nil // answered or escalated meanwhile
			}
			c, err = s.applyComplaintPlan(ctx, tx, cur, plan, "system", now)
			return err
		})
		if err != nil {
			return out, wrap("escalate overdue", err)
		}
		if c != nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// Complaint returns one complaint. ENOTFOUND.
func (s *Service) Complaint(ctx context.Context, id string) (*casesvc.Complaint, error) {
	return s.loadComplaint(ctx, s.pool, "id", id, false)
}

// Complaints lists complaints newest first with the total before paging.
func (s *Service) Complaints(ctx context.Context, f casesvc.ComplaintFilter) ([]*casesvc.Complaint, int, error) {
	var where []string
	var a args
	if f.Status != "" {
		where = append(where, "status = "+a.add(f.Status))
	}
	if f.PolicyNumber != "" {
		where = append(where, "policy_number = "+a.add(f.PolicyNumber))
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM complaints`+cond, a...).Scan(&total); err != nil {
		return nil, 0, wrap("complaints", err)
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
	ids, err := s.ids(ctx, `SELECT id FROM complaints`+cond+` ORDER BY created_at DESC, id DESC LIMIT `+a.add(per)+
		` OFFSET `+a.add((page-1)*per), a...)
	if err != nil {
		return nil, 0, err
	}
	out := make([]*casesvc.Complaint, 0, len(ids))
	for _, id := range ids {
		c, err := s.Complaint(ctx, id)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, c)
	}
	return out, total, nil
}

func (s *Service) loadComplaint(ctx context.Context, q dbtx, col string, arg any, lock bool) (*casesvc.Complaint, error) {
	var (
		c                          casesvc.Complaint
		caseID                     *string
		complainant, contact, role string
	)
	sql := `SELECT id, status, category, description, case_id, policy_number, complainant::text, channel, conversation,
		contact::text, owner, owner_role, first_response_due, resolution_due, ombudsman_notice, created_at, updated_at,
		escalated_at, resolved_at FROM complaints WHERE ` + col + ` = $1`
	if lock {
		sql += " FOR UPDATE"
	}
	err := q.QueryRow(ctx, sql, arg).Scan(&c.ID, &c.Status, &c.Category, &c.Description, &caseID, &c.PolicyNumber,
		&complainant, &c.Channel, &c.Conversation, &contact, &c.Owner, &role, &c.Deadlines.FirstResponseDue,
		&c.Deadlines.ResolutionDue, &c.OmbudsmanNotice, &c.CreatedAt, &c.UpdatedAt, &c.EscalatedAt, &c.ResolvedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "Complaint %v was not found.", arg)
	} else if err != nil {
		return nil, wrap("complaint", err)
	}
	if caseID != nil {
		c.CaseID = *caseID
	}
	c.OwnerRole = casesvc.Role(role)
	c.Deadlines.FirstResponseDue, c.Deadlines.ResolutionDue = s.in(c.Deadlines.FirstResponseDue), s.in(c.Deadlines.ResolutionDue)
	c.CreatedAt, c.UpdatedAt = s.in(c.CreatedAt), s.in(c.UpdatedAt)
	c.EscalatedAt, c.ResolvedAt = s.inPtr(c.EscalatedAt), s.inPtr(c.ResolvedAt)
	if err := json.Unmarshal([]byte(complainant), &c.Complainant); err != nil {
		return nil, fmt.Errorf("postgres: complaint %s: %w", c.ID, err)
	}
	if err := json.Unmarshal([]byte(contact), &c.Contact); err != nil {
		return nil, fmt.Errorf("postgres: complaint %s: %w", c.ID, err)
	}
	rows, err := q.Query(ctx, `SELECT at, by, text, ombudsman_notice FROM complaint_responses WHERE complaint_id = $1 ORDER BY id`, c.ID)
	if err != nil {
		return nil, wrap("complaint responses", err)
	}
	c.Responses = []casesvc.ComplaintResponse{}
	for rows.Next() {
		var r casesvc.ComplaintResponse
		if err := rows.Scan(&r.At, &r.By, &r.Text, &r.OmbudsmanNotice); err != nil {
			rows.Close()
			return nil, wrap("complaint responses", err)
		}
		r.At = s.in(r.At)
		c.Responses = append(c.Responses, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap("complaint responses", err)
	}
	if c.Timeline, err = s.loadTimeline(ctx, q, `SELECT at, event, actor, note FROM complaint_timeline WHERE complaint_id = $1 ORDER BY id`, c.ID); err != nil {
		return nil, err
	}
	casesvc.ComputeComplaintDeadlines(&c, s.now())
	return &c, nil
}

// ---- alerts ----

// Alerts lists mass-complaint alerts whose event was active at or after since, newest first.
func (s *Service) Alerts(ctx context.Context, since time.Time) ([]casesvc.Alert, error) {
	return s.loadAlerts(ctx, `WHERE last_at >= $1 ORDER BY raised_at DESC, id DESC`, since)
}

// PendingAlerts returns up to limit (default 100, at most 1000) undelivered alerts, oldest first.
func (s *Service) PendingAlerts(ctx context.Context, limit int) ([]casesvc.Alert, error) {
	if limit <= 0 {
		limit = 100
	} else if limit > 1000 {
		limit = 1000
	}
	return s.loadAlerts(ctx, `WHERE delivered_at IS NULL ORDER BY id LIMIT $1`, limit)
}

// MarkAlertDelivered records the first delivery of an alert; later calls change nothing. ENOTFOUND.
func (s *Service) MarkAlertDelivered(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE alerts SET delivered_at = COALESCE(delivered_at, $1) WHERE id = $2`, s.now(), id)
	if err != nil {
		return wrap("mark alert", err)
	}
	if tag.RowsAffected() == 0 {
		return casesvc.Errorf(casesvc.ENOTFOUND, "Alert %d was not found.", id)
	}
	return nil
}

func (s *Service) loadAlerts(ctx context.Context, tail string, arg any) ([]casesvc.Alert, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, kind, threshold, window_seconds, first_at, last_at, raised_at, delivered_at,
		ARRAY(SELECT topic FROM alert_topics t WHERE t.alert_id = a.id ORDER BY topic),
		ARRAY(SELECT ac.complaint_id FROM alert_complaints ac JOIN complaints c ON c.id = ac.complaint_id
			WHERE ac.alert_id = a.id ORDER BY c.created_at, c.id)
		FROM alerts a `+tail, arg)
	if err != nil {
		return nil, wrap("alerts", err)
	}
	defer rows.Close()
	out := []casesvc.Alert{}
	now := s.now()
	for rows.Next() {
		var a casesvc.Alert
		var window int64
		if err := rows.Scan(&a.ID, &a.Kind, &a.Threshold, &window, &a.FirstAt, &a.LastAt, &a.RaisedAt, &a.Delivered,
			&a.Topics, &a.Complaints); err != nil {
			return nil, wrap("alerts", err)
		}
		w := time.Duration(window) * time.Second
		a.Window = w.String()
		a.FirstAt, a.LastAt, a.RaisedAt, a.Delivered = s.in(a.FirstAt), s.in(a.LastAt), s.in(a.RaisedAt), s.inPtr(a.Delivered)
		a.Open = a.LastAt.Add(w).After(now)
		if a.Topics == nil {
			a.Topics = []string{}
		}
		if a.Complaints == nil {
			a.Complaints = []string{}
		}
		a.Count = len(a.Complaints)
		out = append(out, a)
	}
	return out, wrap("alerts", rows.Err())
}
