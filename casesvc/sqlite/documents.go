package sqlite

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"claimline/casesvc"
)

// requestDocuments is the only code that writes document_requests: the one-time notice rule lives
// here (and, as a second line, in the triggers of migration 2).
//
//   - reason "initial": the case's first request; its kinds are computed here, never passed in:
//     every document on the checklist not yet received. ECONFLICT when the case already has a request.
//   - reason "rejected": docID names a document of the case that a staff member rejected with a
//     reason; the request asks for that one kind and carries the reason. ENOTFOUND for another
//     document, EINVALID for one not rejected, ECONFLICT when it was already asked for again.
//
// Nothing can name an arbitrary kind. It reads what the rule needs of the case and leaves the rule
// to writeRequest.
func (s *Service) requestDocuments(ctx context.Context, tx *ptx, caseID, reason, docID string, now time.Time) (casesvc.DocumentRequest, error) {
	var f requestFacts
	var required string
	err := tx.QueryRowContext(ctx, `SELECT channel, required_documents FROM cases WHERE id = ?`, caseID).Scan(&f.channel, &required)
	if errors.Is(err, sql.ErrNoRows) {
		return casesvc.DocumentRequest{}, casesvc.Errorf(casesvc.ENOTFOUND, "Case %s was not found.", caseID)
	} else if err != nil {
		return casesvc.DocumentRequest{}, fmt.Errorf("sqlite: document request: %w", err)
	}
	if reason == casesvc.RequestInitial && docID == "" {
		req := casesvc.DocumentRequest{At: now, Reason: reason, Channel: f.channel}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM document_requests WHERE case_id = ?`, caseID).Scan(&f.requests); err != nil {
			return req, fmt.Errorf("sqlite: document request: %w", err)
		}
		if f.requests == 0 {
			if err := json.Unmarshal([]byte(required), &f.required); err != nil {
				return req, fmt.Errorf("sqlite: document request: %w", err)
			}
			if f.docs, err = s.loadDocuments(ctx, tx, caseID); err != nil {
				return req, err
			}
		}
	}
	return s.writeRequest(ctx, tx, caseID, reason, docID, f, now)
}

// requestFacts is what the one-time notice rule decides an initial request on: the case's channel,
// its checklist, the documents it has and how many requests it had (a rejected request reads its
// document itself).
type requestFacts struct {
	channel  string
	required []string
	docs     []casesvc.Document
	requests int
}

// writeRequest applies the one-time notice rule of requestDocuments to the facts of the case and
// writes the request. CreateCase calls it with the facts of the case it has just written in the
// same transaction (its checklist, no documents, no request yet) instead of reading them back.
func (s *Service) writeRequest(ctx context.Context, tx *ptx, caseID, reason, docID string, f requestFacts, now time.Time) (casesvc.DocumentRequest, error) {
	req := casesvc.DocumentRequest{At: now, Reason: reason, Channel: f.channel}
	var docArg any // NULL for the initial request
	switch reason {
	case casesvc.RequestInitial:
		if docID != "" {
			return req, casesvc.Errorf(casesvc.EINVALID, "An initial request names no document.")
		}
		if f.requests > 0 {
			return req, casesvc.Errorf(casesvc.ECONFLICT, "Case %s already had its one notice of missing documents.", caseID)
		}
		req.Kinds = casesvc.MissingDocuments(f.required, f.docs)
		if len(req.Kinds) == 0 {
			return req, casesvc.Errorf(casesvc.EINVALID, "Case %s is missing no documents.", caseID)
		}
	case casesvc.RequestRejected:
		var kind, status, rejectReason string
		err := tx.QueryRowContext(ctx, `SELECT kind, status, reject_reason FROM documents WHERE id = ? AND case_id = ?`,
			docID, caseID).Scan(&kind, &status, &rejectReason)
		if errors.Is(err, sql.ErrNoRows) {
			return req, casesvc.Errorf(casesvc.ENOTFOUND, "Case %s has no document %s.", caseID, docID)
		} else if err != nil {
			return req, fmt.Errorf("sqlite: document request: %w", err)
		}
		if status != casesvc.DocumentRejected || strings.TrimSpace(rejectReason) == "" {
			return req, casesvc.Errorf(casesvc.EINVALID, "Only a document rejected by staff with a reason may be asked for again.")
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM document_requests WHERE document_id = ? AND reason = 'rejected'`,
			docID).Scan(&n); err != nil {
			return req, fmt.Errorf("sqlite: document request: %w", err)
		}
		if n > 0 {
			return req, casesvc.Errorf(casesvc.ECONFLICT, "Document %s was already asked for again.", docID)
		}
		req.Kinds, req.Document, req.Note, docArg = []string{kind}, docID, rejectReason, docID
	default:
		return req, casesvc.Errorf(casesvc.EINVALID, "Unknown document request reason %q.", reason)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO document_requests (case_id, at, kinds, reason, channel, document_id, note)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, caseID, nanos(now), mustJSON(req.Kinds), reason, f.channel, docArg, req.Note); err != nil {
		return req, fmt.Errorf("sqlite: document request: %w", err)
	}
	return req, nil
}

// AddDocument records a received document. See casesvc.Service.
func (s *Service) AddDocument(ctx context.Context, caseID string, nd casesvc.NewDocument) (*casesvc.DocumentResult, error) {
	now := s.now()
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: add document: %w", err)
	}
	defer tx.Rollback()
	c, err := s.loadCase(ctx, tx, `id = ?`, caseID)
	if err != nil {
		return nil, err
	}
	if c.Status == casesvc.StatusClosed {
		return nil, casesvc.Errorf(casesvc.EINVALIDTRANSITION, "Case %s is closed and archived; it takes no more documents.", c.ID)
	}
	if err := casesvc.ValidateNewDocument(c, &nd); err != nil {
		return nil, err
	}
	if nd.SHA256 != "" {
		for _, d := range c.Documents {
			if d.Kind == nd.Kind && d.SHA256 == nd.SHA256 && d.Status != casesvc.DocumentRejected {
				return &casesvc.DocumentResult{Case: c, Document: d, Duplicate: true}, nil
			}
		}
	}
	channel := nd.Channel
	if channel == "" {
		channel = c.Channel
	}
	doc := casesvc.Document{ID: "DOC-" + rand.Text()[:16], Kind: nd.Kind, Status: casesvc.DocumentReceived,
		Filename: nd.Filename, ContentType: nd.ContentType, Size: nd.Size, SHA256: nd.SHA256,
		ReceivedAt: now, Channel: channel, BlobRef: nd.BlobRef}
	if _, err := tx.ExecContext(ctx, `INSERT INTO documents (id, case_id, kind, status, filename, content_type, size,
		sha256, received_at, blob_ref, channel, actor) VALUES (?, ?, ?, 'received', ?, ?, ?, ?, ?, ?, ?, ?)`,
		doc.ID, c.ID, doc.Kind, doc.Filename, doc.ContentType, doc.Size, doc.SHA256, nanos(now), doc.BlobRef,
		channel, nd.Actor); err != nil {
		return nil, fmt.Errorf("sqlite: add document: %w", err)
	}
	w := caseWriter{s: s, tx: tx, c: c, now: now}
	w.timeline(nd.Actor, "document_received", doc.Kind)
	w.audit(nd.Actor, "document_received", fmt.Sprintf("document=%s kind=%s size=%d channel=%s", doc.ID, doc.Kind, doc.Size, channel))

	// The customer's last channel is where notices go.
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
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: add document: %w", err)
	}
	for _, d := range out.Documents {
		if d.ID == doc.ID {
			doc = d
		}
	}
	return &casesvc.DocumentResult{Case: out, Document: doc, Completed: completed}, nil
}

func (s *Service) decisionDays(fastTrack bool) int {
	if fastTrack {
		return s.cfg.FastTrackDecisionDays
	}
	return s.cfg.DecisionDays
}

// RejectDocument marks a document unusable and asks for it again. See casesvc.Service.
//
// A case in review whose checklist is no longer complete goes back to awaiting_documents and its
// clock is cleared (documents_complete_at, decision_due, payment_due): the statutory period does not
// run while documents are missing, and starts again when the replacement completes the checklist,
// which returns the case to initial_review.
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
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("sqlite: reject document: %w", err)
	}
	defer tx.Rollback()
	c, err := s.loadCase(ctx, tx, `id = ?`, caseID)
	if err != nil {
		return nil, err
	}
	switch c.Status {
	case casesvc.StatusAwaitingDocuments, casesvc.StatusInitialReview, casesvc.StatusSecondReview, casesvc.StatusJointReview:
	default:
		return nil, casesvc.Errorf(casesvc.EINVALIDTRANSITION, "Documents of a case in status %s can no longer be rejected.", c.Status)
	}
	i := slices.IndexFunc(c.Documents, func(d casesvc.Document) bool { return d.ID == docID })
	if i < 0 {
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "Case %s has no document %s.", c.ID, docID)
	}
	doc := c.Documents[i]
	if doc.Status == casesvc.DocumentRejected {
		return nil, casesvc.Errorf(casesvc.ECONFLICT, "Document %s was already rejected.", doc.ID)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE documents SET status = 'rejected', reject_reason = ?, rejected_at = ?, rejected_by = ?
		WHERE id = ? AND case_id = ?`, reason, nanos(now), actor.Name, doc.ID, c.ID); err != nil {
		return nil, fmt.Errorf("sqlite: reject document: %w", err)
	}
	req, err := s.requestDocuments(ctx, tx, c.ID, casesvc.RequestRejected, doc.ID, now)
	if err != nil {
		return nil, err
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
	out, err := w.save(ctx)
	if err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("sqlite: reject document: %w", err)
	}
	return out, nil
}

// caseWriter collects the rows one state change writes in its transaction: timeline, audit,
// notice; save writes them with the case's new state and returns the case as stored.
type caseWriter struct {
	s   *Service
	tx  *ptx
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

// notice queues a customer notice; its channel and conversation are the case's at save time.
func (w *caseWriter) notice(kind string, data map[string]any) {
	w.notices = append(w.notices, casesvc.Notice{Kind: kind, Data: data})
}

func (w *caseWriter) save(ctx context.Context) (*casesvc.Case, error) {
	c, tx := w.c, w.tx
	var decision, payment, assessed any
	if c.Decision != nil {
		decision = mustJSON(c.Decision)
	}
	if c.Payment != nil {
		payment = mustJSON(c.Payment)
	}
	if c.AssessedAmount != nil {
		assessed = *c.AssessedAmount
	}
	if _, err := tx.ExecContext(ctx, `UPDATE cases SET status = ?, channel = ?, conversation = ?, decision = ?, payment = ?,
		deadlines = ?, assessed_amount = ?, updated_at = ? WHERE id = ?`,
		c.Status, c.Channel, c.Conversation, decision, payment, mustJSON(c.Deadlines.Stored()), assessed, nanos(w.now), c.ID); err != nil {
		return nil, fmt.Errorf("sqlite: update case: %w", err)
	}
	if err := insertTimeline(ctx, tx, c.ID, w.entries); err != nil {
		return nil, err
	}
	if err := insertAudits(ctx, tx, w.audits); err != nil {
		return nil, err
	}
	for _, n := range w.notices {
		data := n.Data
		if data == nil {
			data = map[string]any{}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO notices (case_id, conversation, channel, kind, data, created_at)
			VALUES (?, ?, ?, ?, ?, ?)`, c.ID, c.Conversation, c.Channel, n.Kind, mustJSON(data), nanos(w.now)); err != nil {
			return nil, fmt.Errorf("sqlite: notice: %w", err)
		}
	}
	return w.s.loadCase(ctx, tx, `id = ?`, c.ID)
}
