// Package postgres is the case service stored in PostgreSQL (github.com/jackc/pgx/v5, a small connection pool of its own), for
// a case service shared by several gateway nodes. It keeps the rules of casesvc/sqlite — the same
// Config, the same migrations' intent, the same invariants in the database — and passes the same
// contract suite (casesvc/casesvctest).
//
// Concurrency: every change runs in one READ COMMITTED transaction that first locks the row it
// changes (SELECT ... FOR UPDATE), so two nodes acting on one case take turns; daily counters are
// one row per kind and day bumped by INSERT ... ON CONFLICT DO UPDATE ... RETURNING; idempotency
// keys are unique indexes hit by INSERT ... ON CONFLICT DO NOTHING; mass-complaint detection is
// serialised by a transaction-scoped advisory lock.
package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"claimline/casesvc"
)

// Config configures the store (shared with casesvc/sqlite); zero values get defaults.
type Config = casesvc.StoreConfig

// MaxConns bounds the connections one Service opens.
const MaxConns = 16

// Service implements casesvc.Service on PostgreSQL.
type Service struct {
	pool *pool
	cfg  Config
}

// New connects to the database at url (postgres://...) and applies pending migrations.
func New(ctx context.Context, url string, cfg Config) (*Service, error) {
	if url == "" {
		return nil, errors.New("postgres: empty database URL")
	}
	cfg = cfg.WithDefaults()
	pcfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, errors.New("postgres: invalid database URL") // the URL may hold a password: not echoed
	}
	p := newPool(pcfg, MaxConns)
	mctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := migrate(mctx, p); err != nil {
		p.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	return &Service{pool: p, cfg: cfg}, nil
}

// Close closes the pool.
func (s *Service) Close() error { s.pool.Close(); return nil }

// Ping checks the database answers, for readiness probes. EUNAVAILABLE.
func (s *Service) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "The case database is not available.")
	}
	return nil
}

// Catalog returns the catalog in force.
func (s *Service) Catalog() *casesvc.Catalog { return s.cfg.Catalog }

// now is the store's clock, to the second (see casesvc/sqlite).
func (s *Service) now() time.Time { return s.cfg.Now().Truncate(time.Second) }

func (s *Service) in(t time.Time) time.Time { return t.In(s.cfg.Location) }

func (s *Service) inPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	v := t.In(s.cfg.Location)
	return &v
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are marshalled here
	}
	return string(b)
}

// dbtx is the pool or a transaction.
type dbtx interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// wrap turns a database error into an application error: EUNAVAILABLE when the database cannot be
// reached, otherwise an internal error with the operation's name.
func wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var ae *casesvc.Error
	if errors.As(err, &ae) {
		return err
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) && (pgconn.SafeToRetry(err) || isConnErr(err)) {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "The case database is not available.")
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

func isConnErr(err error) bool {
	var ce *pgconn.ConnectError
	return errors.As(err, &ce) || errors.Is(err, context.DeadlineExceeded)
}

// args builds a numbered-placeholder argument list.
type args []any

func (a *args) add(v any) string { *a = append(*a, v); return "$" + strconv.Itoa(len(*a)) }

// ---- policies ----

// Policy returns one policy, unmasked. ENOTFOUND.
func (s *Service) Policy(ctx context.Context, number string) (*casesvc.Policy, error) {
	var doc string
	err := s.pool.QueryRow(ctx, `SELECT doc::text FROM policies WHERE number = $1`, number).Scan(&doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "Policy %s was not found.", number)
	} else if err != nil {
		return nil, wrap("policy", err)
	}
	var p casesvc.Policy
	if err := json.Unmarshal([]byte(doc), &p); err != nil {
		return nil, fmt.Errorf("postgres: policy %s: %w", number, err)
	}
	return &p, nil
}

// PutPolicy creates or replaces a policy and audits it. EINVALID.
func (s *Service) PutPolicy(ctx context.Context, p *casesvc.Policy, actor string) error {
	if err := casesvc.ValidatePolicy(p, s.cfg.Catalog); err != nil {
		return err
	}
	if actor == "" {
		return casesvc.Errorf(casesvc.EINVALID, "Actor is required.")
	}
	cp := *p
	if cp.Currency == "" {
		cp.Currency = "TWD"
	}
	now := s.now()
	return wrap("put policy", pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO policies (number, status, doc, updated_at) VALUES ($1, $2, $3, $4)
			ON CONFLICT (number) DO UPDATE SET status = excluded.status, doc = excluded.doc, updated_at = excluded.updated_at`,
			cp.Number, cp.Status, mustJSON(&cp), now); err != nil {
			return err
		}
		return insertAudit(ctx, tx, casesvc.AuditEntry{At: now, Actor: actor, Action: "policy_put", Policy: cp.Number,
			Detail: "status=" + cp.Status + " claim_types=" + strings.Join(cp.ClaimTypes, ",")})
	}))
}

// PolicyCount returns how many policies are stored.
func (s *Service) PolicyCount(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM policies`).Scan(&n)
	return n, wrap("policy count", err)
}

// SeedDemo stores casesvc.DemoPolicies when the store has no policies at all (see casesvc/sqlite).
// It returns how many it added.
func SeedDemo(ctx context.Context, s *Service) (int, error) {
	added := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// Two processes starting at once must not both seed.
		if _, err := tx.Exec(ctx, `LOCK TABLE policies IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM policies`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		now := s.now()
		demo := casesvc.DemoPolicies()
		for _, p := range demo {
			if err := casesvc.ValidatePolicy(p, s.cfg.Catalog); err != nil {
				return fmt.Errorf("seed %s: %w", p.Number, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO policies (number, status, doc, updated_at) VALUES ($1, $2, $3, $4)`,
				p.Number, p.Status, mustJSON(p), now); err != nil {
				return err
			}
		}
		added = len(demo)
		return insertAudit(ctx, tx, casesvc.AuditEntry{At: now, Actor: "system", Action: "demo_policies_seeded",
			Detail: fmt.Sprintf("count=%d", len(demo))})
	})
	if err != nil {
		return 0, wrap("seed", err)
	}
	return added, nil
}

// ---- audit ----

func insertAudit(ctx context.Context, x dbtx, e casesvc.AuditEntry) error {
	_, err := x.Exec(ctx, `INSERT INTO audit (at, actor, action, case_id, complaint, policy, detail)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, e.At, e.Actor, e.Action, e.CaseID, e.Complaint, e.Policy, e.Detail)
	return wrap("audit", err)
}

// RecordAudit appends to the audit trail; a zero At means now. EINVALID without actor or action.
func (s *Service) RecordAudit(ctx context.Context, e casesvc.AuditEntry) error {
	if e.Actor == "" || e.Action == "" {
		return casesvc.Errorf(casesvc.EINVALID, "An audit entry needs an actor and an action.")
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	return insertAudit(ctx, s.pool, e)
}

// Audit lists the audit trail oldest first.
func (s *Service) Audit(ctx context.Context, f casesvc.AuditFilter) ([]casesvc.AuditEntry, error) {
	var where []string
	var a args
	if f.CaseID != "" {
		where = append(where, "case_id = "+a.add(f.CaseID))
	}
	if f.Complaint != "" {
		where = append(where, "complaint = "+a.add(f.Complaint))
	}
	if f.Actor != "" {
		where = append(where, "actor = "+a.add(f.Actor))
	}
	q := `SELECT id, at, actor, action, case_id, complaint, policy, detail FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	rows, err := s.pool.Query(ctx, q+" ORDER BY id", a...)
	if err != nil {
		return nil, wrap("audit", err)
	}
	defer rows.Close()
	out := []casesvc.AuditEntry{}
	for rows.Next() {
		var e casesvc.AuditEntry
		if err := rows.Scan(&e.ID, &e.At, &e.Actor, &e.Action, &e.CaseID, &e.Complaint, &e.Policy, &e.Detail); err != nil {
			return nil, wrap("audit", err)
		}
		e.At = s.in(e.At)
		out = append(out, e)
	}
	return out, wrap("audit", rows.Err())
}

// ---- notices ----

// PendingNotices returns up to limit (default 100, at most 1000) undelivered notices, oldest first.
func (s *Service) PendingNotices(ctx context.Context, limit int) ([]casesvc.Notice, error) {
	if limit <= 0 {
		limit = 100
	} else if limit > 1000 {
		limit = 1000
	}
	return s.notices(ctx, `delivered_at IS NULL ORDER BY id LIMIT $1`, limit)
}

// MarkNoticeDelivered records the first delivery of a notice; later calls change nothing. ENOTFOUND.
func (s *Service) MarkNoticeDelivered(ctx context.Context, id int64) error {
	tag, err := s.pool.Exec(ctx, `UPDATE notices SET delivered_at = COALESCE(delivered_at, $1) WHERE id = $2`, s.now(), id)
	if err != nil {
		return wrap("mark notice", err)
	}
	if tag.RowsAffected() == 0 {
		return casesvc.Errorf(casesvc.ENOTFOUND, "Notice %d was not found.", id)
	}
	return nil
}

// Notices returns every notice of a case, delivered or not, oldest first.
func (s *Service) Notices(ctx context.Context, caseID string) ([]casesvc.Notice, error) {
	return s.notices(ctx, `case_id = $1 ORDER BY id`, caseID)
}

// ComplaintNotices returns every notice of a complaint, delivered or not, oldest first.
func (s *Service) ComplaintNotices(ctx context.Context, complaintID string) ([]casesvc.Notice, error) {
	return s.notices(ctx, `complaint_id = $1 ORDER BY id`, complaintID)
}

func (s *Service) notices(ctx context.Context, tail string, arg any) ([]casesvc.Notice, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, COALESCE(case_id, ''), COALESCE(complaint_id, ''), conversation,
		channel, kind, data::text, created_at, delivered_at FROM notices WHERE `+tail, arg)
	if err != nil {
		return nil, wrap("notices", err)
	}
	defer rows.Close()
	out := []casesvc.Notice{}
	for rows.Next() {
		var n casesvc.Notice
		var data string
		if err := rows.Scan(&n.ID, &n.CaseID, &n.Complaint, &n.Conversation, &n.Channel, &n.Kind, &data, &n.CreatedAt, &n.DeliveredAt); err != nil {
			return nil, wrap("notices", err)
		}
		if err := json.Unmarshal([]byte(data), &n.Data); err != nil {
			return nil, fmt.Errorf("postgres: notice %d: %w", n.ID, err)
		}
		n.CreatedAt, n.DeliveredAt = s.in(n.CreatedAt), s.inPtr(n.DeliveredAt)
		out = append(out, n)
	}
	return out, wrap("notices", rows.Err())
}

// ---- emergencies ----

// CurrentEmergency returns the active emergency, or nil.
func (s *Service) CurrentEmergency(ctx context.Context) (*casesvc.Emergency, error) {
	return s.currentEmergency(ctx, s.pool)
}

func (s *Service) currentEmergency(ctx context.Context, q dbtx) (*casesvc.Emergency, error) {
	var doc string
	var active bool
	err := q.QueryRow(ctx, `SELECT active, doc::text FROM emergencies ORDER BY id DESC LIMIT 1`).Scan(&active, &doc)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, wrap("emergency", err)
	}
	if !active {
		return nil, nil
	}
	var e casesvc.Emergency
	if err := json.Unmarshal([]byte(doc), &e); err != nil {
		return nil, fmt.Errorf("postgres: emergency: %w", err)
	}
	return &e, nil
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
	e.DeclaredBy, e.DeclaredAt = actor.Name, s.in(now)
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO emergencies (active, doc, at) VALUES ($1, $2, $3)`, e.Active, mustJSON(&e), now); err != nil {
			return err
		}
		action, detail := "emergency_ended", ""
		if e.Active {
			action = "emergency_declared"
			detail = fmt.Sprintf("name=%s from=%s to=%s regions=%v checklists=%d", e.Name, e.From, e.To, e.Regions, len(e.Checklists))
		}
		return insertAudit(ctx, tx, casesvc.AuditEntry{At: now, Actor: actor.Name, Action: action, Detail: detail})
	})
	if err != nil {
		return nil, wrap("set emergency", err)
	}
	return &e, nil
}

// Interface guards
var _ casesvc.Service = (*Service)(nil)
