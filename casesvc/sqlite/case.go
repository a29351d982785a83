package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"claimline/casesvc"
)

// CreateCase files a claim. See casesvc.Service.
//
// The id's daily counter and the case row are written in one transaction. A repeated
// IdempotencyKey is caught by the unique index (ON CONFLICT DO NOTHING), not by a prior lookup,
// so two concurrent retries cannot both file a case; the loser rolls back, returning its counter.
//
// The claim is checked on the policy and the emergency as last decoded (refDocs), or as read from
// the database when none is kept or the check fails on them; the transaction reads both again
// (cheap on the writer's warm page cache) and, when either changed in between, checks and plans the
// claim again on what is stored: a claim is always filed on the policy and event in force when it is
// written. Everything it writes goes in one statement per table, claims waiting for the writer are
// written together (claimQueue), and the case it returns is made from what it wrote, not read back.
func (s *Service) CreateCase(ctx context.Context, nc casesvc.NewCase) (*casesvc.Case, error) {
	op, err := s.prepareClaim(ctx, nc)
	if err != nil {
		return nil, err
	}
	s.claims.file(op, s.writeClaims)
	if op.err != nil {
		return nil, op.err
	}
	if op.dup {
		return s.caseByIdempotencyKey(ctx, nc.IdempotencyKey)
	}
	return s.filedCase(op)
}

// prepareClaim checks a claim and plans it, before it waits for the writer.
func (s *Service) prepareClaim(ctx context.Context, nc casesvc.NewCase) (*claimOp, error) {
	op := &claimOp{ctx: ctx, nc: nc, now: s.now()}
	cat := s.cfg.Catalog
	kept := false
	if nc.PolicyNumber != "" {
		var err error
		if op.ref, kept = s.refs.keptPolicy(nc.PolicyNumber); !kept {
			if op.ref.polText, op.ref.pol, err = s.readPolicy(ctx, nc.PolicyNumber); err != nil {
				return nil, err
			}
		}
	}
	if err := casesvc.ValidateNewCase(nc, op.ref.pol, cat, op.now); err != nil {
		if !kept {
			return nil, err
		}
		// The decoded copy may be older than the row: decide on the row, as a read would.
		var rerr error
		if op.ref.polText, op.ref.pol, rerr = s.readPolicy(ctx, nc.PolicyNumber); rerr != nil {
			return nil, rerr
		}
		if err := casesvc.ValidateNewCase(nc, op.ref.pol, cat, op.now); err != nil {
			return nil, err
		}
	}
	if em, ok := s.refs.keptEmergency(); ok {
		op.ref.emText, op.ref.em = em.text, em.em
	} else {
		var err error
		if op.ref.emText, op.ref.em, err = s.readEmergency(ctx); err != nil {
			return nil, err
		}
	}
	op.plan = s.planClaim(nc, op.ref.em, op.now)
	return op, nil
}

// claimOp is one claim on its way through CreateCase: what it was decided on, then what its
// transaction wrote.
type claimOp struct {
	ctx  context.Context
	nc   casesvc.NewCase
	now  time.Time
	ref  claimRefs
	plan claimPlan

	id, claimant, incident, required, deadlines string
	timeline                                    []casesvc.TimelineEntry
	requests                                    []casesvc.DocumentRequest
	dup                                         bool  // the key was filed already: nothing written
	err                                         error // not filed

	turn     chan bool // claimQueue: true to lead the next batch, false when written
	promoted bool      // claimQueue: chosen to lead the next batch (under its mu)
}

// writeClaims writes claims in one transaction. With several, each claim has a savepoint of its own,
// so that one refused claim, or one whose key was filed already, takes back only its own writes.
func (s *Service) writeClaims(ops []*claimOp) {
	// A claim's caller decides only whether its claim starts: a statement interrupted halfway would
	// abort the whole transaction, the other claims with it.
	ctx := context.WithoutCancel(ops[0].ctx)
	tx, err := s.begin(ctx)
	if err != nil {
		failClaims(ops, wrapCreate(err))
		return
	}
	defer tx.Rollback()
	single := len(ops) == 1
	for _, op := range ops {
		if err := op.ctx.Err(); err != nil {
			op.err = wrapCreate(err)
			continue
		}
		if single {
			if op.err = s.insertClaim(ctx, tx, op); op.err != nil || op.dup {
				return // the deferred rollback returns the counter
			}
			break
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT claim`); err != nil {
			failClaims(ops, wrapCreate(err))
			return
		}
		if op.err = s.insertClaim(ctx, tx, op); op.err == nil && !op.dup {
			_, err = tx.ExecContext(ctx, `RELEASE claim`)
		} else if _, err = tx.ExecContext(ctx, `ROLLBACK TO claim`); err == nil {
			_, err = tx.ExecContext(ctx, `RELEASE claim`)
		}
		if err != nil {
			// The transaction cannot go on (SQLite may have rolled it back): none of it is filed.
			failClaims(ops, wrapCreate(err))
			return
		}
	}
	if err := tx.Commit(); err != nil {
		failClaims(ops, wrapCreate(err))
	}
}

func wrapCreate(err error) error { return fmt.Errorf("sqlite: create case: %w", err) }

// failClaims gives err to every claim that was to be filed by the transaction (not those refused or
// found filed already on their own).
func failClaims(ops []*claimOp, err error) {
	for _, op := range ops {
		if op.err == nil && !op.dup {
			op.err = err
		}
	}
}

// insertClaim writes one claim in tx: its id, the case row, the initial document request, the
// timeline and the audit. op.dup when its key was filed already (nothing is left written then).
func (s *Service) insertClaim(ctx context.Context, tx *ptx, op *claimOp) error {
	nc, now := op.nc, op.now
	// The day's next id, and what is stored now of the policy and the emergency: the plan stands when
	// both texts are the ones it was made on. (One statement: RETURNING may read other tables.)
	day := now.In(s.cfg.Location)
	var seq int
	var polText, emText sql.NullString
	if err := tx.QueryRowContext(ctx, `INSERT INTO case_counters (day, last) VALUES (?, 1)
		ON CONFLICT(day) DO UPDATE SET last = last + 1
		RETURNING last, (SELECT doc FROM policies WHERE number = ?),
			(SELECT CASE WHEN active != 0 THEN doc END FROM emergencies ORDER BY id DESC LIMIT 1)`,
		day.Format("20060102"), nc.PolicyNumber).Scan(&seq, &polText, &emText); err != nil {
		return fmt.Errorf("sqlite: case counter: %w", err)
	}
	if !polText.Valid || polText.String != op.ref.polText || emText != op.ref.emText {
		var err error
		if op.ref.pol = nil; polText.Valid {
			if op.ref.pol, err = s.refs.policy(nc.PolicyNumber, polText.String); err != nil {
				return fmt.Errorf("sqlite: policy %s: %w", nc.PolicyNumber, err)
			}
		}
		if err := casesvc.ValidateNewCase(nc, op.ref.pol, s.cfg.Catalog, now); err != nil {
			return err // the rollback returns the counter
		}
		if op.ref.em, err = s.refs.emergency(emText); err != nil {
			return fmt.Errorf("sqlite: emergency: %w", err)
		}
		op.plan = s.planClaim(nc, op.ref.em, now)
	}
	pol, plan := op.ref.pol, op.plan
	id := casesvc.FormatCaseID(day, seq)

	var key any // NULL when empty: many cases without a key must not collide
	if nc.IdempotencyKey != "" {
		key = nc.IdempotencyKey
	}
	search := strings.ToLower(strings.Join([]string{id, nc.Claimant.Name, nc.Incident.Place,
		nc.Incident.Cause, nc.Incident.Description}, "\n"))
	claimant, incident := mustJSON(nc.Claimant), mustJSON(nc.Incident)
	required, deadlines := mustJSON(plan.required), mustJSON(plan.deadlines)
	res, err := tx.ExecContext(ctx, `INSERT INTO cases (id, status, claim_type, policy_number, channel,
		conversation, claimant, incident, required_documents, priority, fast_track, decision, payment,
		deadlines, reported_late_days, idempotency_key, search, created_at, updated_at, emergency)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT(idempotency_key) DO NOTHING`,
		id, plan.status, nc.ClaimType, pol.Number, nc.Channel, nc.Conversation, claimant,
		incident, required, plan.priority, boolInt(plan.fastTrack), deadlines, plan.lateDays, key, search,
		nanos(now), nanos(now), plan.emergency)
	if err != nil {
		return wrapCreate(err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return wrapCreate(err)
	} else if n == 0 {
		op.dup = true
		return nil
	}

	actor := nc.Actor
	if actor == "" {
		actor = "bot"
	}
	timeline := []casesvc.TimelineEntry{{At: now, Event: casesvc.StatusReceived, Actor: actor, Note: "filed on " + nc.Channel}}
	createdDetail := fmt.Sprintf("claim_type=%s channel=%s", nc.ClaimType, nc.Channel)
	if plan.lateDays > 0 {
		createdDetail += fmt.Sprintf(" reported_late_days=%d", plan.lateDays)
	}
	if plan.emergency != "" {
		createdDetail += " priority=green_channel emergency=" + plan.emergency
		timeline = append(timeline, casesvc.TimelineEntry{At: now, Event: "green_channel", Actor: "system", Note: plan.emergency})
	}
	audits := []casesvc.AuditEntry{{At: now, Actor: actor, Action: "case_created", CaseID: id, Policy: pol.Number, Detail: createdDetail}}
	requests := []casesvc.DocumentRequest{}
	if len(plan.missing) > 0 {
		// The case was written above in this transaction: its checklist is plan.required, and it has
		// no document and no request yet.
		req, err := s.writeRequest(ctx, tx, id, casesvc.RequestInitial, "",
			requestFacts{channel: nc.Channel, required: plan.required}, now)
		if err != nil {
			return err
		}
		requests = append(requests, casesvc.DocumentRequest{At: s.fromNanos(nanos(now)), Kinds: slices.Clone(req.Kinds),
			Reason: req.Reason, Channel: req.Channel})
		kinds := strings.Join(plan.missing, ",")
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
	if err := insertAudits(ctx, tx, audits); err != nil {
		return err
	}
	op.id, op.claimant, op.incident, op.required, op.deadlines = id, claimant, incident, required, deadlines
	op.timeline, op.requests = timeline, requests
	return nil
}

// filedCase is the case a claim's transaction wrote, as loadCase would read it back: the JSON columns
// decoded from the texts written, instants in the store's zone, empty lists rather than nil.
func (s *Service) filedCase(op *claimOp) (*casesvc.Case, error) {
	nc, plan := op.nc, op.plan
	c := &casesvc.Case{ID: op.id, Status: plan.status, ClaimType: nc.ClaimType, PolicyNumber: op.ref.pol.Number,
		Channel: nc.Channel, Conversation: nc.Conversation, Priority: plan.priority, FastTrack: plan.fastTrack,
		ReportedLateDays: plan.lateDays, Emergency: plan.emergency, CreatedAt: s.fromNanos(nanos(op.now)),
		Documents: []casesvc.Document{}, DocumentRequests: op.requests}
	c.UpdatedAt = c.CreatedAt
	if err := decodeCase(c, op.claimant, op.incident, op.required, op.deadlines, "", ""); err != nil {
		return nil, err
	}
	c.Timeline = make([]casesvc.TimelineEntry, len(op.timeline))
	for i, e := range op.timeline {
		e.At = s.fromNanos(nanos(e.At))
		c.Timeline[i] = e
	}
	s.finishCase(c)
	return c, nil
}

// claimRefs are the reference documents a claim is decided on, with the stored texts they were
// decoded from. The decoded values are refDocs' (shared): read only.
type claimRefs struct {
	polText string
	pol     *casesvc.Policy
	emText  sql.NullString // NULL: no emergency in force
	em      *casesvc.Emergency
}

// claimPlan is what the catalog and the emergency make of a valid claim before it is written.
type claimPlan struct {
	required, missing   []string
	status              string
	priority, emergency string
	fastTrack           bool
	deadlines           casesvc.Deadlines
	lateDays            int
}

func (s *Service) planClaim(nc casesvc.NewCase, em *casesvc.Emergency, now time.Time) claimPlan {
	p := claimPlan{required: s.cfg.Catalog.RequiredDocuments(nc.ClaimType, nc.Incident.Conditions), priority: "normal"}
	if em.Matches(nc.Incident, s.cfg.Location) {
		// The green channel (domain.md "Emergencies"): the event's shorter checklist when it has one
		// for this claim type, front of the queue, fast-track decision deadline.
		p.priority, p.fastTrack, p.emergency = "green_channel", true, em.Name
		if short := em.Checklist(nc.ClaimType); len(short) > 0 {
			p.required = short
		}
	}
	p.missing = casesvc.MissingDocuments(p.required, nil)
	p.lateDays = casesvc.ReportedLateDays(nc.Incident.OccurredAt, now, s.cfg.Location)
	p.status = casesvc.StatusAwaitingDocuments
	if len(p.missing) == 0 {
		// Nothing to wait for: skip awaiting_documents and start the statutory clock now.
		p.status = casesvc.StatusInitialReview
		p.deadlines = s.deadlinesFrom(now, p.fastTrack)
	}
	return p
}

// insertTimeline appends a case's timeline entries with one statement, in order.
func insertTimeline(ctx context.Context, x execer, caseID string, es []casesvc.TimelineEntry) error {
	if len(es) == 0 {
		return nil
	}
	args := make([]any, 0, 5*len(es))
	for _, e := range es {
		args = append(args, caseID, nanos(e.At), e.Event, e.Actor, e.Note)
	}
	if _, err := x.ExecContext(ctx, timelineInsert.text(len(es)), args...); err != nil {
		return fmt.Errorf("sqlite: timeline: %w", err)
	}
	return nil
}

var timelineInsert = newMultiRow(`INSERT INTO timeline (case_id, at, event, actor, note) VALUES `, 5)

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
	if err := decodeCase(&c, claimant, incident, required, deadlines, decision.String, payment.String); err != nil {
		return nil, err
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
	s.finishCase(&c)
	return &c, nil
}

// decodeCase decodes a case's JSON columns into c (an empty text is a NULL column).
func decodeCase(c *casesvc.Case, claimant, incident, required, deadlines, decision, payment string) error {
	for _, f := range []struct {
		src string
		dst any
	}{{claimant, &c.Claimant}, {incident, &c.Incident}, {required, &c.RequiredDocuments},
		{deadlines, &c.Deadlines}, {decision, &c.Decision}, {payment, &c.Payment}} {
		if f.src == "" {
			continue
		}
		if err := json.Unmarshal([]byte(f.src), f.dst); err != nil {
			return fmt.Errorf("sqlite: case %s: %w", c.ID, err)
		}
	}
	return nil
}

// finishCase derives what a case shows from what is stored: its missing documents and deadlines.
func (s *Service) finishCase(c *casesvc.Case) {
	if c.RequiredDocuments == nil {
		c.RequiredDocuments = []string{}
	}
	c.MissingDocuments = casesvc.MissingDocuments(c.RequiredDocuments, c.Documents)
	casesvc.ComputeDeadlines(c, s.now())
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
