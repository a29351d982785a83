package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"claimline/casesvc"
)

// PendingNotices returns up to limit (default 100, at most 1000) undelivered notices, oldest first.
func (s *Service) PendingNotices(ctx context.Context, limit int) ([]casesvc.Notice, error) {
	if limit <= 0 {
		limit = 100
	} else if limit > 1000 {
		limit = 1000
	}
	rows, err := s.r.QueryContext(ctx, `SELECT id, COALESCE(case_id, ''), COALESCE(complaint_id, ''), conversation,
		channel, kind, data, created_at FROM notices WHERE delivered_at IS NULL ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: pending notices: %w", err)
	}
	defer rows.Close()
	out := []casesvc.Notice{}
	for rows.Next() {
		var n casesvc.Notice
		var data string
		var created int64
		if err := rows.Scan(&n.ID, &n.CaseID, &n.Complaint, &n.Conversation, &n.Channel, &n.Kind, &data, &created); err != nil {
			return nil, fmt.Errorf("sqlite: pending notices: %w", err)
		}
		if err := json.Unmarshal([]byte(data), &n.Data); err != nil {
			return nil, fmt.Errorf("sqlite: notice %d: %w", n.ID, err)
		}
		n.CreatedAt = s.fromNanos(created)
		out = append(out, n)
	}
	return out, rows.Err()
}

// MarkNoticeDelivered records the first delivery of a notice; later calls change nothing. ENOTFOUND.
func (s *Service) MarkNoticeDelivered(ctx context.Context, id int64) error {
	res, err := s.w.ExecContext(ctx, `UPDATE notices SET delivered_at = COALESCE(delivered_at, ?) WHERE id = ?`, nanos(s.now()), id)
	if err != nil {
		return fmt.Errorf("sqlite: mark notice: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: mark notice: %w", err)
	} else if n == 0 {
		return casesvc.Errorf(casesvc.ENOTFOUND, "Notice %d was not found.", id)
	}
	return nil
}

// Notices returns every notice of a case, delivered or not, oldest first (the case's record).
func (s *Service) Notices(ctx context.Context, caseID string) ([]casesvc.Notice, error) {
	return s.notices(ctx, `case_id = ?`, caseID)
}

// ComplaintNotices returns every notice of a complaint, delivered or not, oldest first.
func (s *Service) ComplaintNotices(ctx context.Context, complaintID string) ([]casesvc.Notice, error) {
	return s.notices(ctx, `complaint_id = ?`, complaintID)
}

func (s *Service) notices(ctx context.Context, where string, arg any) ([]casesvc.Notice, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, COALESCE(case_id, ''), COALESCE(complaint_id, ''), conversation,
		channel, kind, data, created_at, delivered_at FROM notices WHERE `+where+` ORDER BY id`, arg)
	if err != nil {
		return nil, fmt.Errorf("sqlite: notices: %w", err)
	}
	defer rows.Close()
	out := []casesvc.Notice{}
	for rows.Next() {
		var n casesvc.Notice
		var data string
		var created int64
		var delivered sql.NullInt64
		if err := rows.Scan(&n.ID, &n.CaseID, &n.Complaint, &n.Conversation, &n.Channel, &n.Kind, &data, &created, &delivered); err != nil {
			return nil, fmt.Errorf("sqlite: notices: %w", err)
		}
		if err := json.Unmarshal([]byte(data), &n.Data); err != nil {
			return nil, fmt.Errorf("sqlite: notice %d: %w", n.ID, err)
		}
		n.CreatedAt = s.fromNanos(created)
		if delivered.Valid {
			t := s.fromNanos(delivered.Int64)
			n.DeliveredAt = &t
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// ---- emergencies ----

// CurrentEmergency returns the active emergency, or nil.
func (s *Service) CurrentEmergency(ctx context.Context) (*casesvc.Emergency, error) {
	_, e, err := s.readEmergency(ctx)
	if err != nil {
		return nil, err
	}
	return emergencyCopy(e), nil
}

// readEmergency reads the newest emergency row and returns its text (NULL when there is none or it
// ended) and the active emergency decoded (shared: read only), or nil.
func (s *Service) readEmergency(ctx context.Context) (sql.NullString, *casesvc.Emergency, error) {
	var doc string
	var active int
	err := s.r.QueryRowContext(ctx, `SELECT active, doc FROM emergencies ORDER BY id DESC LIMIT 1`).Scan(&active, &doc)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return sql.NullString{}, nil, fmt.Errorf("sqlite: emergency: %w", err)
	}
	var text sql.NullString // NULL, as CreateCase's check reads it, for none and for an ended event
	if err == nil && active != 0 {
		text = sql.NullString{String: doc, Valid: true}
	}
	e, err := s.refs.emergency(text)
	if err != nil {
		return sql.NullString{}, nil, fmt.Errorf("sqlite: emergency: %w", err)
	}
	return text, e, nil
}

// SetEmergency declares or ends the emergency; managers only. EINVALID, EFORBIDDEN.
func (s *Service) SetEmergency(ctx context.Context, e casesvc.Emergency, actor casesvc.Staff) (*casesvc.Emergency, error) {
	if actor.Role != casesvc.RoleManager {
		return nil, casesvc.Errorf(casesvc.EFORBIDDEN, "Only a manager may declare or end an emergency.")
	}
	if err := casesvc.ValidateEmergency(&e, s.cfg.Catalog); err != nil {
		return nil, err
	}
	now := s.now()
	if !e.Active {
		e = casesvc.Emergency{}
	}
	e.DeclaredBy, e.DeclaredAt = actor.Name, now
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: set emergency: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO emergencies (active, doc, at) VALUES (?, ?, ?)`,
		boolInt(e.Active), mustJSON(&e), nanos(now)); err != nil {
		return nil, fmt.Errorf("sqlite: set emergency: %w", err)
	}
	action, detail := "emergency_ended", ""
	if e.Active {
		action = "emergency_declared"
		detail = fmt.Sprintf("name=%s from=%s to=%s regions=%v checklists=%d", e.Name, e.From, e.To, e.Regions, len(e.Checklists))
	}
	if err := insertAudit(ctx, tx, casesvc.AuditEntry{At: now, Actor: actor.Name, Action: action, Detail: detail}); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: set emergency: %w", err)
	}
	return &e, nil
}
