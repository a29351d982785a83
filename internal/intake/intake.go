// Package intake is the durable local outbox of claims and complaints (domain.md "Emergencies",
// outage of a dependency): when the case service cannot be reached, the bot still takes the report.
//
// Outbox wraps the dialog's dialog.Cases. CreateCase and CreateComplaint go to the case service as
// usual; when it fails with an outage error (see Outage), the submission is written to the outbox's
// own SQLite file (intake.db, WAL) under its idempotency key, and the call returns an error wrapping
// dialog.ErrQueued: the dialog tells the customer the report was received and its id will follow.
// Run replays queued submissions, with backoff, once the case service answers again; the idempotency
// key makes the case service return what it already filed, so a submission is never filed twice even
// when an attempt succeeded but its answer was lost (or the process died before marking it). Each
// filed item is told to its conversation through Config.Deliver as a dialog.Notice of kind
// dialog.NoticeCaseFiled or dialog.NoticeComplaintFiled (dialog.NoticeIntakeFailed when the case
// service refused it after all), with Data["key"] the idempotency key for the receiver's dedupe.
//
// An item moves queued -> filed -> delivered (or queued -> failed -> delivered). Only the step it is
// at is redone after a crash: filing again returns the same case; delivering again is dropped by
// the receiver's dedupe (internal/app gives the event ClientID "notice:intake:<key>").
//
// The outbox holds personal data (the whole submission): the file lives in the data directory
// (0700) and nothing of it is logged. One process owns intake.db.
package intake

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"claimline/casesvc"
	"claimline/dialog"
)

// ErrQueued is dialog.ErrQueued: test a CreateCase or CreateComplaint error with errors.Is.
var ErrQueued = dialog.ErrQueued

// Item states.
const (
	StateQueued    = "queued"    // waiting for the case service
	StateFiled     = "filed"     // filed (ResultID set); the customer is not told yet
	StateFailed    = "failed"    // the case service refused it when replayed; the customer is not told yet
	StateDelivered = "delivered" // the customer was told
)

// Item kinds.
const (
	KindCase      = "case"
	KindComplaint = "complaint"
)

// Config configures an Outbox. Path and Cases are required.
type Config struct {
	Path  string       // the outbox's SQLite file, e.g. <data>/intake.db
	Cases dialog.Cases // the case service
	// Deliver tells a conversation that its queued item was filed (or refused). Set by the wiring
	// (internal/app), which owns the router; nil: items are filed and marked delivered untold.
	Deliver func(ctx context.Context, conversation string, n dialog.Notice) error
	Logger  *slog.Logger     // default: discard
	Now     func() time.Time // default time.Now
	// Interval is how often Run looks for queued items when all is well; default 2s.
	Interval time.Duration
	// MinBackoff and MaxBackoff bound the wait after a failed pass (doubling); default 1s and 30s.
	MinBackoff, MaxBackoff time.Duration
	// IsOutage decides which case-service errors are an outage; default Outage.
	IsOutage func(error) bool
	// FirstResponseDays and ResolutionDays are told with a complaint filed from the outbox when the
	// complaint itself does not say (it always does with casesvc/sqlite); default casesvc's.
	FirstResponseDays, ResolutionDays int
}

// Outbox is dialog.Cases with a durable outbox for CreateCase and CreateComplaint.
type Outbox struct {
	dialog.Cases
	db  *sql.DB
	cfg Config
	log *slog.Logger

	pass sync.Mutex // one replay pass at a time
	poke chan struct{}

	// keys holds the idempotency key of every row of the outbox, whatever its state, so that known
	// answers without SQL on every claim. It is exact because one process owns intake.db: Open loads
	// every key, enqueue adds its key once the row is committed, and rows are never deleted; after a
	// crash the next Open loads them again from the file.
	keysMu sync.RWMutex
	keys   map[string]struct{}

	// afterFile, in tests, runs after an item is filed and before it is marked: an error there is a
	// crash between the two.
	afterFile func(key string) error
}

// Open opens (creating) the outbox file and returns the Outbox.
func Open(cfg Config) (*Outbox, error) {
	if cfg.Path == "" || cfg.Cases == nil {
		return nil, errors.New("intake: Path and Cases are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 2 * time.Second
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = time.Second
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = 30 * time.Second
	}
	if cfg.IsOutage == nil {
		cfg.IsOutage = Outage
	}
	if cfg.FirstResponseDays <= 0 {
		cfg.FirstResponseDays = casesvc.DefaultFirstResponseDays
	}
	if cfg.ResolutionDays <= 0 {
		cfg.ResolutionDays = casesvc.DefaultResolutionDays
	}
	dsn := cfg.Path + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("intake: open: %w", err)
	}
	db.SetMaxOpenConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("intake: %s: %w", cfg.Path, err)
	}
	keys, err := loadKeys(ctx, db)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("intake: %s: %w", cfg.Path, err)
	}
	return &Outbox{Cases: cfg.Cases, db: db, cfg: cfg, log: cfg.Logger, poke: make(chan struct{}, 1), keys: keys}, nil
}

func loadKeys(ctx context.Context, db *sql.DB) (map[string]struct{}, error) {
	rows, err := db.QueryContext(ctx, `SELECT key FROM intake`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	keys := map[string]struct{}{}
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return nil, err
		}
		keys[k] = struct{}{}
	}
	return keys, rows.Err()
}

// synchronous(FULL): an item acknowledged to the customer survives a power cut.
const schema = `
CREATE TABLE IF NOT EXISTS intake (
	id           INTEGER PRIMARY KEY,
	key          TEXT NOT NULL UNIQUE,   -- the submission's idempotency key (conversation:seq)
	kind         TEXT NOT NULL,          -- case | complaint
	conversation TEXT NOT NULL,
	payload      TEXT NOT NULL,          -- the NewCase / NewComplaint, JSON (personal data)
	state        TEXT NOT NULL,          -- queued | filed | failed | delivered
	result_id    TEXT NOT NULL DEFAULT '',
	notice       TEXT NOT NULL DEFAULT '', -- the dialog.Notice to deliver, JSON, once filed or failed
	attempts     INTEGER NOT NULL DEFAULT 0,
	last_code    TEXT NOT NULL DEFAULT '', -- the last error's code (never its text)
	queued_at    INTEGER NOT NULL,
	filed_at     INTEGER,
	delivered_at INTEGER
);
CREATE INDEX IF NOT EXISTS intake_open ON intake(state, id);
`

// Close closes the outbox file.
func (o *Outbox) Close() error { return o.db.Close() }

// Outage reports whether a case-service error means it could not be reached, rather than that it
// refused the submission. These count: code casesvc.EUNAVAILABLE; a context deadline (the service
// did not answer in time); SQLite busy, locked, I/O, cannot-open, full or protocol errors (the
// embedded store's file is locked by another writer or the disk failed: SQLITE_BUSY after the
// busy timeout is what a locked casesvc.db gives); a closed connection (sql.ErrConnDone); network
// errors (a remote case service). Everything else is not: EINVALID, ENOTFOUND, EFORBIDDEN, ECONFLICT
// are answers, and any other internal error is a bug the customer is told about (submit_failed,
// "try again") rather than one queued forever. A cancelled context is the caller giving up, not
// an outage.
func Outage(err error) bool {
	if err == nil || errors.Is(err, dialog.ErrQueued) {
		return false
	}
	if casesvc.ErrorCode(err) == casesvc.EUNAVAILABLE || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, sql.ErrConnDone) || errors.Is(err, syscall.ECONNREFUSED) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN,
			sqlite3.SQLITE_FULL, sqlite3.SQLITE_PROTOCOL:
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// CreateCase files a claim, or queues it when the case service is unreachable (ErrQueued).
func (o *Outbox) CreateCase(ctx context.Context, nc casesvc.NewCase) (*casesvc.Case, error) {
	if o.known(nc.IdempotencyKey) {
		return nil, queued(nc.IdempotencyKey)
	}
	c, err := o.Cases.CreateCase(ctx, nc)
	if err == nil || nc.IdempotencyKey == "" || !o.cfg.IsOutage(err) {
		return c, err
	}
	return nil, o.enqueue(ctx, KindCase, nc.IdempotencyKey, nc.Conversation, nc, err)
}

// CreateComplaint files a complaint, or queues it when the case service is unreachable (ErrQueued).
func (o *Outbox) CreateComplaint(ctx context.Context, nc casesvc.NewComplaint) (*casesvc.Complaint, error) {
	if o.known(nc.IdempotencyKey) {
		return nil, queued(nc.IdempotencyKey)
	}
	c, err := o.Cases.CreateComplaint(ctx, nc)
	if err == nil || nc.IdempotencyKey == "" || !o.cfg.IsOutage(err) {
		return c, err
	}
	return nil, o.enqueue(ctx, KindComplaint, nc.IdempotencyKey, nc.Conversation, nc, err)
}

func queued(key string) error {
	return fmt.Errorf("%w (intake key %s)", dialog.ErrQueued, key)
}

// known says the key is already in the outbox: a replayed confirm turn of a queued submission gets
// "queued" again (its id comes, or came, as a notice) and never a second filing.
func (o *Outbox) known(key string) bool {
	if key == "" {
		return false
	}
	o.keysMu.RLock()
	_, ok := o.keys[key]
	o.keysMu.RUnlock()
	return ok
}

// enqueue keeps a submission the case service could not take. When the outbox cannot keep it either,
// the case service's error is returned: the dialog then keeps the form and asks to try again.
func (o *Outbox) enqueue(ctx context.Context, kind, key, conversation string, payload any, cause error) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return cause
	}
	// The customer's request may be ending; the outbox write must not end with it.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	_, err = o.db.ExecContext(ctx, `INSERT INTO intake (key, kind, conversation, payload, state, last_code, queued_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO NOTHING`,
		key, kind, conversation, string(b), StateQueued, casesvc.ErrorCode(cause), o.cfg.Now().UnixNano())
	if err != nil {
		o.log.Error("intake: could not queue a submission the case service refused as unavailable",
			"kind", kind, "code", casesvc.ErrorCode(cause), "err", err)
		return cause
	}
	o.keysMu.Lock()
	o.keys[key] = struct{}{} // inserted now, or already there (ON CONFLICT)
	o.keysMu.Unlock()
	o.log.Warn("intake: case service unavailable; submission queued", "kind", kind, "code", casesvc.ErrorCode(cause))
	return queued(key)
}

// Item is one outbox entry as Items shows it (no personal data).
type Item struct {
	Key          string
	Kind         string
	Conversation string
	State        string
	ResultID     string
	Attempts     int
	LastCode     string
}

// Items lists the outbox, oldest first (for tests and operators).
func (o *Outbox) Items(ctx context.Context) ([]Item, error) {
	rows, err := o.db.QueryContext(ctx, `SELECT key, kind, conversation, state, result_id, attempts, last_code FROM intake ORDER BY id`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Item
	for rows.Next() {
		var it Item
		if err := rows.Scan(&it.Key, &it.Kind, &it.Conversation, &it.State, &it.ResultID, &it.Attempts, &it.LastCode); err != nil {
			return nil, err
		}
		out = append(out, it)
	}
	return out, rows.Err()
}

// Poke asks Run for a pass now.
func (o *Outbox) Poke() {
	select {
	case o.poke <- struct{}{}:
	default:
	}
}

// Run replays the outbox until ctx ends: a pass every Interval while all is well, and after a
// failed pass (the case service still down, or delivery failing) a wait doubling from MinBackoff
// to MaxBackoff.
func (o *Outbox) Run(ctx context.Context) {
	backoff := o.cfg.MinBackoff
	for {
		wait := o.cfg.Interval
		if n, err := o.ReplayOnce(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			o.log.Warn("intake: replay pass failed; will retry", "code", casesvc.ErrorCode(err), "retry_in", backoff.String())
			wait, backoff = backoff, min(backoff*2, o.cfg.MaxBackoff)
		} else {
			backoff = o.cfg.MinBackoff
			if n > 0 {
				o.log.Info("intake: queued submissions filed and told", "count", n)
			}
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		case <-o.poke:
			t.Stop()
		}
	}
}

type row struct {
	id                          int64
	key, kind, conv, payload    string
	state, resultID, noticeJSON string
}

// ReplayOnce files every queued item and delivers every filed (or failed) one, oldest first. It stops
// at the first outage or delivery failure and returns it (the rest waits for the next pass). It
// returns how many items it delivered.
func (o *Outbox) ReplayOnce(ctx context.Context) (int, error) {
	o.pass.Lock()
	defer o.pass.Unlock()
	rows, err := o.open(ctx)
	if err != nil {
		return 0, err
	}
	done := 0
	for _, r := range rows {
		if r.state == StateQueued {
			if r, err = o.file(ctx, r); err != nil {
				return done, err
			}
		}
		if err := o.deliver(ctx, r); err != nil {
			return done, err
		}
		done++
	}
	return done, nil
}

func (o *Outbox) open(ctx context.Context) ([]row, error) {
	rs, err := o.db.QueryContext(ctx, `SELECT id, key, kind, conversation, payload, state, result_id, notice FROM intake
		WHERE state IN (?, ?, ?) ORDER BY id LIMIT 100`, StateQueued, StateFiled, StateFailed)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []row
	for rs.Next() {
		var r row
		if err := rs.Scan(&r.id, &r.key, &r.kind, &r.conv, &r.payload, &r.state, &r.resultID, &r.noticeJSON); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rs.Err()
}

// file submits one queued item again with its idempotency key and records the outcome with the
// notice to deliver.
func (o *Outbox) file(ctx context.Context, r row) (row, error) {
	var n dialog.Notice
	var err error
	switch r.kind {
	case KindCase:
		var nc casesvc.NewCase
		if err = json.Unmarshal([]byte(r.payload), &nc); err == nil {
			var c *casesvc.Case
			if c, err = o.Cases.CreateCase(ctx, nc); err == nil {
				r.resultID = c.ID
				n = CaseFiledNotice(c)
			}
		}
	case KindComplaint:
		var nc casesvc.NewComplaint
		if err = json.Unmarshal([]byte(r.payload), &nc); err == nil {
			var c *casesvc.Complaint
			if c, err = o.Cases.CreateComplaint(ctx, nc); err == nil {
				r.resultID = c.ID
				n = o.complaintFiledNotice(c)
			}
		}
	default:
		err = casesvc.Errorf(casesvc.EINVALID, "unknown intake kind %q", r.kind)
	}
	if err != nil && o.cfg.IsOutage(err) {
		o.db.ExecContext(context.WithoutCancel(ctx), `UPDATE intake SET attempts = attempts + 1, last_code = ? WHERE id = ?`,
			casesvc.ErrorCode(err), r.id)
		return r, err
	}
	state := StateFiled
	if err != nil {
		// Refused for good (EINVALID, ENOTFOUND...): the customer is told and offered a person.
		o.log.Error("intake: a queued submission was refused when replayed", "kind", r.kind, "code", casesvc.ErrorCode(err))
		state = StateFailed
		n = dialog.Notice{Kind: dialog.NoticeIntakeFailed, Data: map[string]any{"what": r.kind}}
	}
	if o.afterFile != nil {
		if err := o.afterFile(r.key); err != nil {
			return r, err
		}
	}
	n.ID = r.id
	if n.Data == nil {
		n.Data = map[string]any{}
	}
	n.Data["key"] = r.key
	b, _ := json.Marshal(n)
	r.state, r.noticeJSON = state, string(b)
	if _, err := o.db.ExecContext(context.WithoutCancel(ctx), `UPDATE intake SET state = ?, result_id = ?, notice = ?,
		attempts = attempts + 1, last_code = ?, filed_at = ? WHERE id = ?`,
		state, r.resultID, r.noticeJSON, casesvc.ErrorCode(err), o.cfg.Now().UnixNano(), r.id); err != nil {
		return r, err
	}
	return r, nil
}

// deliver tells the conversation and marks the item delivered.
func (o *Outbox) deliver(ctx context.Context, r row) error {
	if o.cfg.Deliver != nil {
		var n dialog.Notice
		if err := json.Unmarshal([]byte(r.noticeJSON), &n); err != nil {
			return fmt.Errorf("intake: notice of %d: %w", r.id, err)
		}
		if err := o.cfg.Deliver(ctx, r.conv, n); err != nil {
			return err
		}
	}
	_, err := o.db.ExecContext(context.WithoutCancel(ctx), `UPDATE intake SET state = ?, delivered_at = ? WHERE id = ?`,
		StateDelivered, o.cfg.Now().UnixNano(), r.id)
	return err
}

// CaseFiledNotice is the notice of a queued claim now filed: the case id and what the one-time
// notice needs (every missing document, the green channel).
func CaseFiledNotice(c *casesvc.Case) dialog.Notice {
	missing := make([]any, 0, len(c.MissingDocuments))
	for _, k := range c.MissingDocuments {
		missing = append(missing, k)
	}
	return dialog.Notice{CaseID: c.ID, Kind: dialog.NoticeCaseFiled, Data: map[string]any{
		"case_id": c.ID, "missing_documents": missing, "fast_track": c.FastTrack, "priority": c.Priority,
	}}
}

func (o *Outbox) complaintFiledNotice(c *casesvc.Complaint) dialog.Notice {
	days := func(due time.Time, def int) float64 {
		if due.IsZero() || c.CreatedAt.IsZero() {
			return float64(def)
		}
		return float64(int(due.Sub(c.CreatedAt).Hours()/24 + 0.5))
	}
	return dialog.Notice{CaseID: c.CaseID, Kind: dialog.NoticeComplaintFiled, Data: map[string]any{
		"complaint_id":        c.ID,
		"first_response_days": days(c.Deadlines.FirstResponseDue, o.cfg.FirstResponseDays),
		"resolution_days":     days(c.Deadlines.ResolutionDue, o.cfg.ResolutionDays),
	}}
}
