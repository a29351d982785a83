// Package sqlite is the case service stored in SQLite (modernc.org/sqlite, pure Go, no cgo).
//
// One connection serves the writes: SQLite allows one writer at a time, and funnelling every write
// through a single connection turns would-be SQLITE_BUSY errors into a short wait in database/sql's
// pool. Transactions begin IMMEDIATE so a read-then-write never has to upgrade its lock. Reads outside
// a transaction go to a separate pool of read-only connections (WAL lets them run beside the writer,
// and each sees every transaction committed before it started). Every statement is prepared once per
// connection (stmts.go), not parsed again on every call.
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
	"claimline/internal/sqlitewal"

	"github.com/prometheus/client_golang/prometheus"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Config configures the store. Zero values get defaults.
type Config = casesvc.StoreConfig

// Service implements casesvc.Service on one SQLite file.
type Service struct {
	db  *sql.DB // the writer: one connection
	rdb *sql.DB // the readers (query_only); db itself for an in-memory database
	wc  *stmtCache
	rc  *stmtCache
	w   pool // statements on db outside a transaction
	r   pool // reads on rdb
	cfg Config
	// ckpt checkpoints the WAL beside the writer (nil for an in-memory database); every commit on the
	// writer (a transaction, or a statement of s.w) nudges it.
	ckpt *sqlitewal.Checkpointer

	refs   refDocs    // decoded policies and emergency, by their stored text
	claims claimQueue // CreateCase's writes, grouped when they wait for the writer
}

// readers is the size of the read pool.
const readers = 4

// New opens (creating if needed) the database at path and applies pending migrations.
func New(path string, cfg Config) (*Service, error) {
	if path == "" {
		return nil, errors.New("sqlite: empty database path")
	}
	cfg = cfg.WithDefaults()
	// temp_store(MEMORY): claims written together have a SAVEPOINT each, whose statement journal
	// would otherwise be a temporary file (a fifth of a batched claim's CPU went to writing it).
	// wal_autocheckpoint: the checkpointer's backstop (internal/sqlitewal); the writer's own
	// checkpoints had it wait on their fsyncs.
	dsn := path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_txlock=immediate" +
		fmt.Sprintf("&_pragma=wal_autocheckpoint(%d)", sqlitewal.BackstopPages)
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: %s: %w", path, err)
	}
	rdb := db
	if !strings.Contains(path, ":memory:") && !strings.Contains(path, "mode=memory") {
		rdb, err = sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=query_only(1)")
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		rdb.SetMaxOpenConns(readers)
		rdb.SetMaxIdleConns(readers) // kept open, and so their prepared statements
		rdb.SetConnMaxLifetime(0)
	}
	s := &Service{db: db, rdb: rdb, cfg: cfg, wc: &stmtCache{db: db}, rc: &stmtCache{db: rdb}}
	if rdb != db {
		cdb, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
		if err != nil {
			rdb.Close()
			db.Close()
			return nil, fmt.Errorf("sqlite: open: %w", err)
		}
		s.ckpt = sqlitewal.Start(cdb, sqlitewal.Gap)
	}
	s.w, s.r = pool{c: s.wc, ckpt: s.ckpt}, pool{c: s.rc}
	return s, nil
}

// Collectors are the database's figures for /metrics (its checkpoints, db="casesvc"); none for an
// in-memory database.
func (s *Service) Collectors() []prometheus.Collector { return s.ckpt.Collectors("casesvc") }

// Close closes the database.
func (s *Service) Close() error {
	s.rc.closeAll()
	s.wc.closeAll()
	var err error
	if s.ckpt != nil {
		err = s.ckpt.Close()
	}
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
	return errors.Join(err, s.db.Close())
}

// Ping checks the database answers, for readiness probes.
func (s *Service) Ping(ctx context.Context) error {
	var one int
	if err := s.db.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "The case database is not available.")
	}
	return nil
}

// Catalog returns the catalog in force.
func (s *Service) Catalog() *casesvc.Catalog { return s.cfg.Catalog }

// now is the store's clock, to the second: records and API answers show "2026-11-24T15:00:00+08:00",
// and the order of events within a second comes from row ids.
func (s *Service) now() time.Time { return s.cfg.Now().Truncate(time.Second) }

// nanos and fromNanos store instants as integers so that ordering by time is ordering by number.
func nanos(t time.Time) int64 { return t.UnixNano() }

func (s *Service) fromNanos(n int64) time.Time { return time.Unix(0, n).In(s.cfg.Location) }

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only our own plain structs are marshalled here
	}
	return string(b)
}

// ---- policies ----

// Policy returns one policy, unmasked. ENOTFOUND.
func (s *Service) Policy(ctx context.Context, number string) (*casesvc.Policy, error) {
	_, p, err := s.readPolicy(ctx, number)
	if err != nil {
		return nil, err
	} else if p == nil {
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "Policy %s was not found.", number)
	}
	return policyCopy(p), nil
}

// readPolicy reads a policy's row and returns its text and decoded form (shared: read only), or a
// nil policy when there is none.
func (s *Service) readPolicy(ctx context.Context, number string) (string, *casesvc.Policy, error) {
	var doc string
	err := s.r.QueryRowContext(ctx, `SELECT doc FROM policies WHERE number = ?`, number).Scan(&doc)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, nil
	} else if err != nil {
		return "", nil, fmt.Errorf("sqlite: policy: %w", err)
	}
	p, err := s.refs.policy(number, doc)
	if err != nil {
		return "", nil, fmt.Errorf("sqlite: policy %s: %w", number, err)
	}
	return doc, p, nil
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
	tx, err := s.begin(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: put policy: %w", err)
	}
	defer tx.Rollback()
	now := s.now()
	// An upsert, not INSERT OR REPLACE: REPLACE deletes the row first, which cases reference.
	_, err = tx.ExecContext(ctx, `INSERT INTO policies (number, status, doc, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT(number) DO UPDATE SET status = excluded.status, doc = excluded.doc, updated_at = excluded.updated_at`,
		cp.Number, cp.Status, mustJSON(&cp), nanos(now))
	if err != nil {
		return fmt.Errorf("sqlite: put policy: %w", err)
	}
	if err := insertAudit(ctx, tx, casesvc.AuditEntry{At: now, Actor: actor, Action: "policy_put", Policy: cp.Number,
		Detail: "status=" + cp.Status + " claim_types=" + strings.Join(cp.ClaimTypes, ",")}); err != nil {
		return err
	}
	return tx.Commit()
}

// PolicyCount returns how many policies are stored.
func (s *Service) PolicyCount(ctx context.Context) (int, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM policies`).Scan(&n)
	return n, err
}

// SeedDemo stores casesvc.DemoPolicies when the store has no policies at all, so a new install
// can be tried at once and a real install is never touched. It returns how many it added.
func SeedDemo(ctx context.Context, s *Service) (int, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("sqlite: seed: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM policies`).Scan(&n); err != nil {
		return 0, fmt.Errorf("sqlite: seed: %w", err)
	}
	if n > 0 {
		return 0, nil
	}
	now := s.now()
	demo := casesvc.DemoPolicies()
	for _, p := range demo {
		if err := casesvc.ValidatePolicy(p, s.cfg.Catalog); err != nil {
			return 0, fmt.Errorf("sqlite: seed %s: %w", p.Number, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO policies (number, status, doc, updated_at) VALUES (?, ?, ?, ?)`,
			p.Number, p.Status, mustJSON(p), nanos(now)); err != nil {
			return 0, fmt.Errorf("sqlite: seed %s: %w", p.Number, err)
		}
	}
	if err := insertAudit(ctx, tx, casesvc.AuditEntry{At: now, Actor: "system", Action: "demo_policies_seeded",
		Detail: fmt.Sprintf("count=%d", len(demo))}); err != nil {
		return 0, err
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: seed: %w", err)
	}
	return len(demo), nil
}

// ---- audit ----

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func insertAudit(ctx context.Context, x execer, e casesvc.AuditEntry) error {
	return insertAudits(ctx, x, []casesvc.AuditEntry{e})
}

var auditInsert = newMultiRow(`INSERT INTO audit (at, actor, action, case_id, complaint, policy, detail) VALUES `, 7)

// insertAudits appends the entries with one statement; their ids, and so the trail's order, follow
// the slice.
func insertAudits(ctx context.Context, x execer, es []casesvc.AuditEntry) error {
	if len(es) == 0 {
		return nil
	}
	args := make([]any, 0, 7*len(es))
	for _, e := range es {
		args = append(args, nanos(e.At), e.Actor, e.Action, e.CaseID, e.Complaint, e.Policy, e.Detail)
	}
	if _, err := x.ExecContext(ctx, auditInsert.text(len(es)), args...); err != nil {
		return fmt.Errorf("sqlite: audit: %w", err)
	}
	return nil
}

// multiRow makes the texts of an INSERT of n rows: one statement instead of n, each text made once
// (and so prepared once by the statement cache).
type multiRow struct {
	prefix string
	row    string // "(?, ?, ...)"
	texts  []string
}

// multiRowTexts is how many row counts get a text made in advance; more are made per call.
const multiRowTexts = 8

func newMultiRow(prefix string, cols int) multiRow {
	m := multiRow{prefix: prefix, row: "(" + strings.Repeat("?, ", cols-1) + "?)"}
	m.texts = make([]string, multiRowTexts+1)
	for n := 1; n <= multiRowTexts; n++ {
		m.texts[n] = m.make(n)
	}
	return m
}

func (m multiRow) make(n int) string {
	return m.prefix + strings.Repeat(m.row+", ", n-1) + m.row
}

func (m multiRow) text(n int) string {
	if n < len(m.texts) {
		return m.texts[n]
	}
	return m.make(n)
}

// RecordAudit appends to the audit trail; a zero At means now. EINVALID without actor or action.
func (s *Service) RecordAudit(ctx context.Context, e casesvc.AuditEntry) error {
	if e.Actor == "" || e.Action == "" {
		return casesvc.Errorf(casesvc.EINVALID, "An audit entry needs an actor and an action.")
	}
	if e.At.IsZero() {
		e.At = s.now()
	}
	return insertAudit(ctx, s.w, e)
}

// Audit lists the audit trail oldest first.
func (s *Service) Audit(ctx context.Context, f casesvc.AuditFilter) ([]casesvc.AuditEntry, error) {
	var where []string
	var args []any
	if f.CaseID != "" {
		where, args = append(where, "case_id = ?"), append(args, f.CaseID)
	}
	if f.Complaint != "" {
		where, args = append(where, "complaint = ?"), append(args, f.Complaint)
	}
	if f.Actor != "" {
		where, args = append(where, "actor = ?"), append(args, f.Actor)
	}
	q := `SELECT id, at, actor, action, case_id, complaint, policy, detail FROM audit`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY id"
	rows, err := s.r.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: audit: %w", err)
	}
	defer rows.Close()
	out := []casesvc.AuditEntry{}
	for rows.Next() {
		var e casesvc.AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.CaseID, &e.Complaint, &e.Policy, &e.Detail); err != nil {
			return nil, fmt.Errorf("sqlite: audit: %w", err)
		}
		e.At = s.fromNanos(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// Interface guards
var _ casesvc.Service = (*Service)(nil)
