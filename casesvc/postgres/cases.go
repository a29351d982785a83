package postgres

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"claimline/casesvc"
)

// errReplay ends a creation's transaction when its idempotency key was already used.
var errReplay = errors.New("idempotent replay")

// nextID bumps the day's counter of kind in tx and returns the number.
func (s *Service) nextID(ctx context.Context, tx pgx.Tx, kind string, day time.Time) (int, error) {
	var seq int
	err := tx.QueryRow(ctx, `INSERT INTO counters (kind, day, last) VALUES ($1, $2, 1)
		ON CONFLICT (kind, day) DO UPDATE SET last = counters.last + 1 RETURNING last`, kind, day.Format("20060102")).Scan(&seq)
	return seq, err
}

// CreateCase files a claim. See casesvc.Service.
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
		status = casesvc.StatusInitialReview
		deadlines = s.deadlinesFrom(now, fastTrack)
	}
	var out *casesvc.Case
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		day := s.in(now)
		seq, err := s.nextID(ctx, tx, "case", day)
		if err != nil {
			return err
		}
		id := casesvc.FormatCaseID(day, seq)
		var key *string // NULL when empty: many cases without a key must not collide
		if nc.IdempotencyKey != "" {
			key = &nc.IdempotencyKey
		}
		search := strings.ToLower(strings.Join([]string{id, nc.Claimant.Name, nc.Incident.Place,
			nc.Incident.Cause, nc.Incident.Description}, "\n"))
		tag, err := tx.Exec(ctx, `INSERT INTO cases (id, status, claim_type, policy_number, channel, conversation,
			claimant, incident, required_documents, priority, fast_track, deadlines, reported_late_days, idempotency_key,
			search, created_at, updated_at, emergency)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $16, $17)
			ON CONFLICT (idempotency_key) DO NOTHING`,
			id, status, nc.ClaimType, pol.Number, nc.Channel, nc.Conversation, mustJSON(nc.Claimant), mustJSON(nc.Incident),
			mustJSON(required), priority, fastTrack, mustJSON(deadlines), lateDays, key, search, now, emergency)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return errReplay // the counter goes back with the rollback
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
				return err
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
		if err := insertTimeline(ctx, tx, id, timeline); err != nil {
			return err
		}
		for _, a := range audits {
			if err := insertAudit(ctx, tx, a); err != nil {
				return err
			}
		}
		out, err = s.loadCase(ctx, tx, "id", id, false)
		return err
	})
	if errors.Is(err, errReplay) {
		return s.loadCase(ctx, s.pool, "idempotency_key", nc.IdempotencyKey, false)
	}
	if err != nil {
		return nil, wrap("create case", err)
	}
	return out, nil
}

func insertTimeline(ctx context.Context, tx pgx.Tx, caseID string, entries []casesvc.TimelineEntry) error {
	for _, e := range entries {
		if _, err := tx.Exec(ctx, `INSERT INTO timeline (case_id, at, event, actor, note) VALUES ($1, $2, $3, $4, $5)`,
			caseID, e.At, e.Event, e.Actor, e.Note); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) deadlinesFrom(t time.Time, fastTrack bool) casesvc.Deadlines {
	return casesvc.DeadlinesFrom(s.in(t), s.decisionDays(fastTrack), s.cfg.PaymentDays)
}

func (s *Service) decisionDays(fastTrack bool) int {
	if fastTrack {
		return s.cfg.FastTrackDecisionDays
	}
	return s.cfg.DecisionDays
}

// Case returns one case. ENOTFOUND.
func (s *Service) Case(ctx context.Context, id string) (*casesvc.Case, error) {
	return s.loadCase(ctx, s.pool, "id", id, false)
}

// Cases lists cases newest first with the total before paging. Page defaults to 1, PerPage to 20
// (at most 100).
func (s *Service) Cases(ctx context.Context, f casesvc.CaseFilter) ([]*casesvc.Case, int, error) {
	var where []string
	var a args
	if f.Status != "" {
		where = append(where, "status = "+a.add(f.Status))
	}
	if f.PolicyNumber != "" {
		where = append(where, "policy_number = "+a.add(f.PolicyNumber))
	}
	if f.ClaimType != "" {
		where = append(where, "claim_type = "+a.add(f.ClaimType))
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		where = append(where, `search LIKE `+a.add("%"+likeEscaper.Replace(strings.ToLower(q))+"%")+` ESCAPE '\'`)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE " + strings.Join(where, " AND ")
	}
	var total int
	if err := s.pool.QueryRow(ctx, `SELECT count(*) FROM cases`+cond, a...).Scan(&total); err != nil {
		return nil, 0, wrap("cases", err)
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
	q := `SELECT id FROM cases` + cond + ` ORDER BY created_at DESC, id DESC LIMIT ` + a.add(per) + ` OFFSET ` + a.add((page-1)*per)
	ids, err := s.ids(ctx, q, a...)
	if err != nil {
		return nil, 0, err
	}
	out, err := s.casesByID(ctx, ids)
	return out, total, err
}

// CasesByPolicy returns every case on one policy, newest first.
func (s *Service) CasesByPolicy(ctx context.Context, number string) ([]*casesvc.Case, error) {
	ids, err := s.ids(ctx, `SELECT id FROM cases WHERE policy_number = $1 ORDER BY created_at DESC, id DESC`, number)
	if err != nil {
		return nil, err
	}
	return s.casesByID(ctx, ids)
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

func (s *Service) ids(ctx context.Context, q string, a ...any) ([]string, error) {
	rows, err := s.pool.Query(ctx, q, a...)
	if err != nil {
		return nil, wrap("list", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, wrap("list", err)
}

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

// loadCase reads one case (by the column col) and its documents, requests and timeline; lock takes
// the row lock of a change.
func (s *Service) loadCase(ctx context.Context, q dbtx, col string, arg any, lock bool) (*casesvc.Case, error) {
	var (
		c                                       casesvc.Case
		claimant, incident, required, deadlines string
		decision, payment                       *string
	)
	sql := `SELECT id, status, claim_type, policy_number, channel, conversation, claimant::text, incident::text,
		required_documents::text, priority, fast_track, decision::text, payment::text, deadlines::text,
		reported_late_days, created_at, updated_at, assessed_amount, emergency FROM cases WHERE ` + col + ` = $1`
	if lock {
		sql += " FOR UPDATE"
	}
	err := q.QueryRow(ctx, sql, arg).Scan(&c.ID, &c.Status, &c.ClaimType, &c.PolicyNumber, &c.Channel, &c.Conversation,
		&claimant, &incident, &required, &c.Priority, &c.FastTrack, &decision, &payment, &deadlines,
		&c.ReportedLateDays, &c.CreatedAt, &c.UpdatedAt, &c.AssessedAmount, &c.Emergency)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "Case %v was not found.", arg)
	} else if err != nil {
		return nil, wrap("case", err)
	}
	c.CreatedAt, c.UpdatedAt = s.in(c.CreatedAt), s.in(c.UpdatedAt)
	deref := func(p *string) string {
		if p == nil {
			return ""
		}
		return *p
	}
	for _, f := range []struct {
		src string
		dst any
	}{{claimant, &c.Claimant}, {incident, &c.Incident}, {required, &c.RequiredDocuments},
		{deadlines, &c.Deadlines}, {deref(decision), &c.Decision}, {deref(payment), &c.Payment}} {
		if f.src == "" {
			continue
		}
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return nil, fmt.Errorf("postgres: case %s: %w", c.ID, err)
		}
	}
	if c.Documents, err = s.loadDocuments(ctx, q, c.ID); err != nil {
		return nil, err
	}
	if c.DocumentRequests, err = s.loadRequests(ctx, q, c.ID); err != nil {
		return nil, err
	}
	if c.Timeline, err = s.loadTimeline(ctx, q, `SELECT at, event, actor, note FROM timeline WHERE case_id = $1 ORDER BY id`, c.ID); err != nil {
		return nil, err
	}
	if c.RequiredDocuments == nil {
		c.RequiredDocuments = []string{}
	}
	c.MissingDocuments = casesvc.MissingDocuments(c.RequiredDocuments, c.Documents)
	casesvc.ComputeDeadlines(&c, s.now())
	return &c, nil
}

func (s *Service) loadDocuments(ctx context.Context, q dbtx, caseID string) ([]casesvc.Document, error) {
	rows, err := q.Query(ctx, `SELECT id, kind, status, filename, content_type, size, sha256, received_at,
		reject_reason, rejected_at, rejected_by, channel, blob_ref FROM documents WHERE case_id = $1 ORDER BY received_at, id`, caseID)
	if err != nil {
		return nil, wrap("documents", err)
	}
	defer rows.Close()
	out := []casesvc.Document{}
	for rows.Next() {
		var d casesvc.Document
		if err := rows.Scan(&d.ID, &d.Kind, &d.Status, &d.Filename, &d.ContentType, &d.Size, &d.SHA256,
			&d.ReceivedAt, &d.RejectReason, &d.RejectedAt, &d.RejectedBy, &d.Channel, &d.BlobRef); err != nil {
			return nil, wrap("documents", err)
		}
		d.ReceivedAt, d.RejectedAt = s.in(d.ReceivedAt), s.inPtr(d.RejectedAt)
		out = append(out, d)
	}
	return out, wrap("documents", rows.Err())
}

func (s *Service) loadRequests(ctx context.Context, q dbtx, caseID string) ([]casesvc.DocumentRequest, error) {
	rows, err := q.Query(ctx, `SELECT at, kinds::text, reason, channel, COALESCE(document_id, ''), note
		FROM document_requests WHERE case_id = $1 ORDER BY id`, caseID)
	if err != nil {
		return nil, wrap("document requests", err)
	}
	defer rows.Close()
	out := []casesvc.DocumentRequest{}
	for rows.Next() {
		var r casesvc.DocumentRequest
		var kinds string
		if err := rows.Scan(&r.At, &kinds, &r.Reason, &r.Channel, &r.Document, &r.Note); err != nil {
			return nil, wrap("document requests", err)
		}
		r.At = s.in(r.At)
		if err := json.Unmarshal([]byte(kinds), &r.Kinds); err != nil {
			return nil, fmt.Errorf("postgres: document requests: %w", err)
		}
		out = append(out, r)
	}
	return out, wrap("document requests", rows.Err())
}

func (s *Service) loadTimeline(ctx context.Context, q dbtx, sql, id string) ([]casesvc.TimelineEntry, error) {
	rows, err := q.Query(ctx, sql, id)
	if err != nil {
		return nil, wrap("timeline", err)
	}
	defer rows.Close()
	out := []casesvc.TimelineEntry{}
	for rows.Next() {
		var e casesvc.TimelineEntry
		if err := rows.Scan(&e.At, &e.Event, &e.Actor, &e.Note); err != nil {
			return nil, wrap("timeline", err)
		}
		e.At = s.in(e.At)
		out = append(out, e)
	}
	return out, wrap("timeline", rows.Err())
}

// requestDocuments is the only code that writes document_requests (see casesvc/sqlite): "initial"
// computes its kinds from the checklist; "rejected" names one document a staff member rejected.
func (s *Service) requestDocuments(ctx context.Context, tx pgx.Tx, caseID, reason, docID string, now time.Time) (casesvc.DocumentRequest, error) {
	var channel, required string
	err := tx.QueryRow(ctx, `SELECT channel, required_documents::text FROM cases WHERE id = $1`, caseID).Scan(&channel, &required)
	if errors.Is(err, pgx.ErrNoRows) {
		return casesvc.DocumentRequest{}, casesvc.Errorf(casesvc.ENOTFOUND, "Case %s was not found.", caseID)
	} else if err != nil {
		return casesvc.DocumentRequest{}, err
	}
	req := casesvc.DocumentRequest{At: now, Reason: reason, Channel: channel}
	var docArg *string
	switch reason {
	case casesvc.RequestInitial:
		if docID != "" {
			return req, casesvc.Errorf(casesvc.EINVALID, "An initial request names no document.")
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM document_requests WHERE case_id = $1`, caseID).Scan(&n); err != nil {
			return req, err
		}
		if n > 0 {
			return req, casesvc.Errorf(casesvc.ECONFLICT, "Case %s already had its one notice of missing documents.", caseID)
		}
		var kinds []string
		if err := json.Unmarshal([]byte(required), &kinds); err != nil {
			return req, err
		}
		docs, err := s.loadDocuments(ctx, tx, caseID)
		if err != nil {
			return req, err
		}
		req.Kinds = casesvc.MissingDocuments(kinds, docs)
		if len(req.Kinds) == 0 {
			return req, casesvc.Errorf(casesvc.EINVALID, "Case %s is missing no documents.", caseID)
		}
	case casesvc.RequestRejected:
		var kind, status, rejectReason string
		err := tx.QueryRow(ctx, `SELECT kind, status, reject_reason FROM documents WHERE id = $1 AND case_id = $2`,
			docID, caseID).Scan(&kind, &status, &rejectReason)
		if errors.Is(err, pgx.ErrNoRows) {
			return req, casesvc.Errorf(casesvc.ENOTFOUND, "Case %s has no document %s.", caseID, docID)
		} else if err != nil {
			return req, err
		}
		if status != casesvc.DocumentRejected || strings.TrimSpace(rejectReason) == "" {
			return req, casesvc.Errorf(casesvc.EINVALID, "Only a document rejected by staff with a reason may be asked for again.")
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM document_requests WHERE document_id = $1 AND reason = 'rejected'`,
			docID).Scan(&n); err != nil {
			return req, err
		}
		if n > 0 {
			return req, casesvc.Errorf(casesvc.ECONFLICT, "Document %s was already asked for again.", docID)
		}
		req.Kinds, req.Document, req.Note, docArg = []string{kind}, docID, rejectReason, &docID
	default:
		return req, casesvc.Errorf(casesvc.EINVALID, "Unknown document request reason %q.", reason)
	}
	_, err = tx.Exec(ctx, `INSERT INTO document_requests (case_id, at, kinds, reason, channel, document_id, note)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, caseID, now, mustJSON(req.Kinds), reason, channel, docArg, req.Note)
	return req, err
}

// AddDocument records a received document. See casesvc.Service.
func (s *Service) AddDocument(ctx context.Context, caseID string, nd casesvc.NewDocument) (*casesvc.DocumentResult, error) {
	now := s.now()
	var res *casesvc.DocumentResult
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := s.loadCase(ctx, tx, "id", caseID, true)
		if err != nil {
			return err
		}
		if c.Status == casesvc.StatusClosed {
			return casesvc.Errorf(casesvc.EINVALIDTRANSITION, "Case %s is closed and archived; it takes no more documents.", c.ID)
		}
		if err := casesvc.ValidateNewDocument(c, &nd); err != nil {
			return err
		}
		if nd.SHA256 != "" {
			for _, d := range c.Documents {
				if d.Kind == nd.Kind && d.SHA256 == nd.SHA256 && d.Status != casesvc.DocumentRejected {
					res = &casesvc.DocumentResult{Case: c, Document: d, Duplicate: true}
					return nil
				}
			}
		}
		channel := nd.Channel
		if channel == "" {
			channel = c.Channel
		}
		doc := casesvc.Document{ID: "DOC-" + rand.Text()[:16], Kind: nd.Kind, Status: casesvc.DocumentReceived,
			Filename: nd.Filename, ContentType: nd.ContentType, Size: nd.Size, SHA256: nd.SHA256,
			ReceivedAt: s.in(now), Channel: channel, BlobRef: nd.BlobRef}
		if _, err := tx.Exec(ctx, `INSERT INTO documents (id, case_id, kind, status, filename, content_type, size,
			sha256, received_at, blob_ref, channel, actor) VALUES ($1, $2, $3, 'received', $4, $5, $6, $7, $8, $9, $10, $11)`,
			doc.ID, c.ID, doc.Kind, doc.Filename, doc.ContentType, doc.Size, doc.SHA256, now, doc.BlobRef, channel, nd.Actor); err != nil {
			return err
		}
		w := caseWriter{s: s, tx: tx, c: c, now: now}
		w.timeline(nd.Actor, "document_received", doc.Kind)
		w.audit(nd.Actor, "document_received", fmt.Sprintf("document=%s kind=%s size=%d channel=%s", doc.ID, doc.Kind, doc.Size, channel))
		if nd.Channel != "" && nd.Conversation != "" && (nd.Channel != c.Channel || nd.Conversation != c.Conversation) {
			w.audit(nd.Actor, "channel_changed", "from="+c.Channel+" to="+nd.Channel)
			c.Channel, c.Conversation = nd.Channel, nd.Conversation
		}
		docs := append(slices.Clone(c.Documents), doc)
		completed := false
		if c.Status == casesvc.StatusAwaitingDocuments && len(casesvc.MissingDocuments(c.RequiredDocuments, docs)) == 0 {
			completed = true
			c.Status = casesvc.StatusInitialReview
			c.Deadlines = s.deadlinesFrom(now, c.FastTrack)
			w.timeline("system", "documents_complete", "")
			w.timeline("system", casesvc.StatusInitialReview, "")
			w.audit("system", "documents_complete", "decision_due="+c.Deadlines.DecisionDue.Format(time.RFC3339)+
				" payment_due="+c.Deadlines.PaymentDue.Format(time.RFC3339))
			w.notice(casesvc.NoticeDocumentsComplete, map[string]any{
				"decision_due": c.Deadlines.DecisionDue.Format(time.RFC3339), "payment_due": c.Deadlines.PaymentDue.Format(time.RFC3339),
				"decision_days": s.decisionDays(c.FastTrack), "payment_days": s.cfg.PaymentDays, "fast_track": c.FastTrack,
			})
		}
		out, err := w.save(ctx)
		if err != nil {
			return err
		}
		for _, d := range out.Documents {
			if d.ID == doc.ID {
				doc = d
			}
		}
		res = &casesvc.DocumentResult{Case: out, Document: doc, Completed: completed}
		return nil
	})
	if err != nil {
		return nil, wrap("add document", err)
	}
	return res, nil
}

// RejectDocument marks a document unusable and asks for it again. See casesvc.Service and
// casesvc/sqlite: a case in review goes back to awaiting_documents and its clock is cleared.
func (s *Service) RejectDocument(ctx context.Context, caseID, docID, reason string, actor casesvc.Staff) (*casesvc.Case, error) {
	if !actor.Role.AtLeast(casesvc.RoleSpecialist) {
		return nil, casesvc.Errorf(casesvc.EFORBIDDEN, "Your role (%s) may not reject documents.", actor.Role)
	}
	if strings.TrimSpace(actor.Name) == "" {
		return nil, casesvc.Errorf(casesvc.EINVALID, "Actor is required.")
	}
	reason = strings.TrimSpace(reason)
	if reason == "" {
		return nil, casesvc.Errorf(casesvc.EINVALID, "A rejected document needs a reason the customer will be told.")
	}
	if len(reason) > 2000 {
		return nil, casesvc.Errorf(casesvc.EINVALID, "The reason is too long (at most 2000 bytes).")
	}
	now := s.now()
	var out *casesvc.Case
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := s.loadCase(ctx, tx, "id", caseID, true)
		if err != nil {
			return err
		}
		switch c.Status {
		case casesvc.StatusAwaitingDocuments, casesvc.StatusInitialReview, casesvc.StatusSecondReview, casesvc.StatusJointReview:
		default:
			return casesvc.Errorf(casesvc.EINVALIDTRANSITION, "Documents of a case in status %s can no longer be rejected.", c.Status)
		}
		i := slices.IndexFunc(c.Documents, func(d casesvc.Document) bool { return d.ID == docID })
		if i < 0 {
			return casesvc.Errorf(casesvc.ENOTFOUND, "Case %s has no document %s.", c.ID, docID)
		}
		doc := c.Documents[i]
		if doc.Status == casesvc.DocumentRejected {
			return casesvc.Errorf(casesvc.ECONFLICT, "Document %s was already rejected.", doc.ID)
		}
		if _, err := tx.Exec(ctx, `UPDATE documents SET status = 'rejected', reject_reason = $1, rejected_at = $2, rejected_by = $3
			WHERE id = $4 AND case_id = $5`, reason, now, actor.Name, doc.ID, c.ID); err != nil {
			return err
		}
		req, err := s.requestDocuments(ctx, tx, c.ID, casesvc.RequestRejected, doc.ID, now)
		if err != nil {
			return err
		}
		c.Documents[i].Status = casesvc.DocumentRejected
		missing := casesvc.MissingDocuments(c.RequiredDocuments, c.Documents)
		w := caseWriter{s: s, tx: tx, c: c, now: now}
		w.timeline(actor.Name, "document_rejected", doc.Kind+": "+reason)
		w.timeline("system", "documents_requested", "rejected: "+doc.Kind)
		w.audit(actor.Name, "document_rejected", "document="+doc.ID+" kind="+doc.Kind+" reason="+reason)
		w.audit(actor.Name, "documents_requested", "reason=rejected kinds="+strings.Join(req.Kinds, ",")+" document="+doc.ID)
		if c.Status != casesvc.StatusAwaitingDocuments && len(missing) > 0 {
			from := c.Status
			c.Status = casesvc.StatusAwaitingDocuments
			c.Deadlines = casesvc.Deadlines{}
			w.timeline("system", casesvc.StatusAwaitingDocuments, "documents incomplete again: deadlines cleared until they are complete")
			w.audit("system", "status_changed", "from="+from+" to="+casesvc.StatusAwaitingDocuments+" deadlines=cleared")
		}
		w.notice(casesvc.NoticeDocumentRejected, map[string]any{
			"kind": doc.Kind, "reason": reason, "document": doc.ID, "missing_documents": missing,
		})
		out, err = w.save(ctx)
		return err
	})
	if err != nil {
		return nil, wrap("reject document", err)
	}
	return out, nil
}

// caseWriter collects the rows of one state change and writes them with the case in its transaction.
type caseWriter struct {
	s   *Service
	tx  pgx.Tx
	c   *casesvc.Case
	now time.Time

	entries []casesvc.TimelineEntry
	audits  []casesvc.AuditEntry
	notices []casesvc.Notice
}

func (w *caseWriter) timeline(actor, event, note string) {
	w.entries = append(w.entries, casesvc.TimelineEntry{At: w.now, Event: event, Actor: actor, Note: note})
}

func (w *caseWriter) audit(actor, action, detail string) {
	w.audits = append(w.audits, casesvc.AuditEntry{At: w.now, Actor: actor, Action: action, CaseID: w.c.ID,
		Policy: w.c.PolicyNumber, Detail: detail})
}

func (w *caseWriter) notice(kind string, data map[string]any) {
	w.notices = append(w.notices, casesvc.Notice{Kind: kind, Data: data})
}

func (w *caseWriter) save(ctx context.Context) (*casesvc.Case, error) {
	c, tx := w.c, w.tx
	var decision, payment *string
	if c.Decision != nil {
		d := mustJSON(c.Decision)
		decision = &d
	}
	if c.Payment != nil {
		p := mustJSON(c.Payment)
		payment = &p
	}
	if _, err := tx.Exec(ctx, `UPDATE cases SET status = $1, channel = $2, conversation = $3, decision = $4, payment = $5,
		deadlines = $6, assessed_amount = $7, updated_at = $8 WHERE id = $9`,
		c.Status, c.Channel, c.Conversation, decision, payment, mustJSON(c.Deadlines.Stored()), c.AssessedAmount, w.now, c.ID); err != nil {
		return nil, err
	}
	if err := insertTimeline(ctx, tx, c.ID, w.entries); err != nil {
		return nil, err
	}
	for _, a := range w.audits {
		if err := insertAudit(ctx, tx, a); err != nil {
			return nil, err
		}
	}
	for _, n := range w.notices {
		data := n.Data
		if data == nil {
			data = map[string]any{}
		}
		if _, err := tx.Exec(ctx, `INSERT INTO notices (case_id, conversation, channel, kind, data, created_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, c.ID, c.Conversation, c.Channel, n.Kind, mustJSON(data), w.now); err != nil {
			return nil, err
		}
	}
	return w.s.loadCase(ctx, tx, "id", c.ID, false)
}

// Transition applies a lifecycle action in one transaction. See casesvc.Service.
func (s *Service) Transition(ctx context.Context, caseID string, req casesvc.TransitionRequest, actor casesvc.Staff) (*casesvc.Case, error) {
	now := s.now()
	var out *casesvc.Case
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		c, err := s.loadCase(ctx, tx, "id", caseID, true)
		if err != nil {
			return err
		}
		plan, err := casesvc.PlanTransition(c, req, actor, casesvc.LifecycleRules{
			JointReviewAbove: s.cfg.JointReviewAbove, Now: now, Location: s.cfg.Location})
		if err != nil {
			return err
		}
		c.Status = plan.To
		c.Deadlines = plan.Deadlines
		if plan.AssessedAmount != nil {
			c.AssessedAmount = plan.AssessedAmount
		}
		if plan.Decision != nil {
			c.Decision = plan.Decision
		}
		if plan.Payment != nil {
			c.Payment = plan.Payment
		}
		w := caseWriter{s: s, tx: tx, c: c, now: now, entries: plan.Timeline}
		w.audit(actor.Name, "transition", plan.AuditDetail)
		if plan.NoticeKind != "" {
			w.notice(plan.NoticeKind, plan.NoticeData)
		}
		out, err = w.save(ctx)
		return err
	})
	if err != nil {
		return nil, wrap("transition", err)
	}
	return out, nil
}

// Overdue lists open deadlines of cases and complaints past or within soon of now, earliest first.
func (s *Service) Overdue(ctx context.Context, now time.Time, soon time.Duration) ([]casesvc.DeadlineItem, error) {
	ids, err := s.ids(ctx, `SELECT id FROM cases WHERE status IN ($1, $2, $3, $4) ORDER BY id`,
		casesvc.StatusInitialReview, casesvc.StatusSecondReview, casesvc.StatusJointReview, casesvc.StatusApproved)
	if err != nil {
		return nil, err
	}
	cases, err := s.casesByID(ctx, ids)
	if err != nil {
		return nil, err
	}
	out := []casesvc.DeadlineItem{}
	for _, c := range cases {
		casesvc.ComputeDeadlines(c, now)
		out = append(out, casesvc.DeadlineItems(c, now, soon)...)
	}
	cids, err := s.ids(ctx, `SELECT id FROM complaints WHERE status <> 'resolved' ORDER BY id`)
	if err != nil {
		return nil, err
	}
	for _, id := range cids {
		c, err := s.Complaint(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, casesvc.ComplaintDeadlineItems(c, now, soon)...)
	}
	key := func(it casesvc.DeadlineItem) string {
		if it.Kind == casesvc.DeadlineKindComplaint {
			return it.Complaint
		}
		return it.CaseID
	}
	slices.SortStableFunc(out, func(a, b casesvc.DeadlineItem) int {
		if c := a.Due.Compare(b.Due); c != 0 {
			return c
		}
		return strings.Compare(key(a), key(b))
	})
	return out, nil
}
