package handoff

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"time"

	_ "modernc.org/sqlite" // driver "sqlite"

	"claimline/casesvc"
)

// db keeps holds, call-back tasks and ratings durable, in a SQLite file of their own (an older
// installation's, in the conversation store's file, are moved: move.go).
type db struct {
	w *sql.DB
	// afterCopy, in tests, runs between the two steps of moveFrom: an error there is a crash.
	afterCopy func() error
}

// migrations are applied in order, each once; append only, never edit a released one.
var migrations = []string{
	`CREATE TABLE handoffs (
		id           INTEGER PRIMARY KEY AUTOINCREMENT,
		conversation TEXT NOT NULL,
		channel      TEXT NOT NULL DEFAULT '',
		lang         TEXT NOT NULL DEFAULT '',
		state        TEXT NOT NULL,             -- queued | assigned | callback | closed
		priority     INTEGER NOT NULL,          -- 0 complaint, 1 green channel, 2 normal
		reason       TEXT NOT NULL DEFAULT '',
		flow         TEXT NOT NULL DEFAULT '',
		slots        TEXT NOT NULL DEFAULT '',  -- JSON; personal data
		policy       TEXT NOT NULL DEFAULT '',
		agent        TEXT NOT NULL DEFAULT '',  -- staff name while assigned, the last one after
		agents       TEXT NOT NULL DEFAULT '',  -- JSON list of every agent who held it
		announced    INTEGER NOT NULL DEFAULT 0, -- the last queue position told the customer
		offered      INTEGER NOT NULL DEFAULT 0, -- the call-back option was offered
		resolved     INTEGER NOT NULL DEFAULT 0,
		outcome      TEXT NOT NULL DEFAULT '',  -- ended | callback | cancelled
		queued_at    TEXT NOT NULL,
		assigned_at  TEXT NOT NULL DEFAULT '',
		ended_at     TEXT NOT NULL DEFAULT ''
	);
	CREATE UNIQUE INDEX handoffs_active ON handoffs (conversation) WHERE state <> 'closed';
	CREATE TABLE handoff_tasks (
		id           INTEGER PRIMARY KEY AUTOINCREMENT,
		handoff      INTEGER NOT NULL,
		conversation TEXT NOT NULL,
		channel      TEXT NOT NULL DEFAULT '',
		lang         TEXT NOT NULL DEFAULT '',
		reason       TEXT NOT NULL DEFAULT '',
		note         TEXT NOT NULL DEFAULT '',  -- the customer's words; personal data
		source_seq   INTEGER NOT NULL,          -- the message that left the note: one task per message
		state        TEXT NOT NULL DEFAULT 'open', -- open | done
		done_by      TEXT NOT NULL DEFAULT '',
		created_at   TEXT NOT NULL,
		done_at      TEXT NOT NULL DEFAULT '',
		UNIQUE (conversation, source_seq)
	);
	CREATE TABLE handoff_ratings (
		handoff      INTEGER PRIMARY KEY,
		conversation TEXT NOT NULL,
		agent        TEXT NOT NULL DEFAULT '',
		score        INTEGER NOT NULL,
		comment      TEXT NOT NULL DEFAULT '',
		at           TEXT NOT NULL
	);`,
	// 2: quality monitoring (quality.go): every agent's part of a handoff, the conversations the
	// customer wrote in, and the supervisors' reviews. Times in these tables are fixedStamp (fixed
	// width, so they compare as text).
	`CREATE TABLE handoff_assignments (
		id             INTEGER PRIMARY KEY AUTOINCREMENT,
		handoff        INTEGER NOT NULL,
		conversation   TEXT NOT NULL,
		channel        TEXT NOT NULL DEFAULT '',
		agent          TEXT NOT NULL,
		how            TEXT NOT NULL,             -- assigned | transferred
		assigned_at    TEXT NOT NULL,
		first_reply_at TEXT NOT NULL DEFAULT '',  -- the agent's first message in this assignment
		released_at    TEXT NOT NULL DEFAULT '',
		why            TEXT NOT NULL DEFAULT ''   -- ended | transferred | requeued
	);
	CREATE UNIQUE INDEX handoff_assignments_open ON handoff_assignments (handoff) WHERE released_at = '';
	CREATE INDEX handoff_assignments_agent ON handoff_assignments (agent, assigned_at);
	CREATE INDEX handoff_assignments_conversation ON handoff_assignments (conversation);
	CREATE INDEX handoffs_conversation ON handoffs (conversation);
	CREATE INDEX handoff_ratings_at ON handoff_ratings (at);
	CREATE TABLE handoff_conversations (
		conversation TEXT PRIMARY KEY,
		channel      TEXT NOT NULL DEFAULT '',
		first_at     TEXT NOT NULL              -- the customer's first message
	);
	CREATE INDEX handoff_conversations_first ON handoff_conversations (first_at);
	CREATE TABLE quality_reviews (
		id           INTEGER PRIMARY KEY AUTOINCREMENT,
		conversation TEXT NOT NULL,
		reviewer     TEXT NOT NULL,
		score        INTEGER NOT NULL,
		note         TEXT NOT NULL DEFAULT '',
		at           TEXT NOT NULL,
		UNIQUE (conversation, reviewer)
	);
	CREATE INDEX quality_reviews_at ON quality_reviews (at);`,
}

func openDB(path string) (*db, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_txlock", "immediate")
	w, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("handoff: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	d := &db{w: w}
	if err := d.migrate(context.Background()); err != nil {
		w.Close()
		return nil, err
	}
	return d, nil
}

func (d *db) close() error { return d.w.Close() }

func (d *db) migrate(ctx context.Context) error {
	if _, err := d.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS handoff_migrations (
		version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("handoff: migrate: %w", err)
	}
	for i, m := range migrations {
		version := i + 1
		err := d.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM handoff_migrations WHERE version = ?`, version).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, m); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO handoff_migrations (version, applied_at) VALUES (?, ?)`, version, stamp(time.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("handoff: migration %d: %w", version, err)
		}
	}
	return nil
}

func (d *db) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := d.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

const holdColumns = `id, conversation, channel, lang, state, priority, reason, flow, slots, policy, agent, agents,
	announced, offered, resolved, outcome, queued_at, assigned_at, ended_at`

// insertHold stores a new active hold and sets its id. ECONFLICT when the conversation has one.
func (d *db) insertHold(ctx context.Context, h *Hold) error {
	slots, _ := json.Marshal(h.Slots)
	res, err := d.w.ExecContext(ctx, `INSERT INTO handoffs (conversation, channel, lang, state, priority, reason, flow,
		slots, policy, queued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		h.Conversation, h.Channel, h.Lang, h.State, h.Priority, h.Reason, h.Flow, string(slots), h.PolicyNumber, stamp(h.QueuedAt))
	if err != nil {
		return internal("insert hold", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return casesvc.Errorf(casesvc.ECONFLICT, "The conversation is already held.")
	}
	h.ID, _ = res.LastInsertId()
	return nil
}

// saveHold writes the mutable fields of a hold.
func (d *db) saveHold(ctx context.Context, h *Hold) error {
	agents, _ := json.Marshal(h.Agents)
	_, err := d.w.ExecContext(ctx, `UPDATE handoffs SET state = ?, agent = ?, agents = ?, announced = ?, offered = ?,
		resolved = ?, outcome = ?, assigned_at = ?, ended_at = ?, priority = ? WHERE id = ?`,
		h.State, h.Agent, string(agents), h.Announced, b2i(h.Offered), b2i(h.Resolved), h.Outcome,
		stampOrEmpty(h.AssignedAt), stampOrEmpty(h.EndedAt), h.Priority, h.ID)
	if err != nil {
		return internal("save hold", err)
	}
	return nil
}

func (d *db) activeHolds(ctx context.Context) ([]*Hold, error) {
	rows, err := d.w.QueryContext(ctx, `SELECT `+holdColumns+` FROM handoffs WHERE state <> 'closed' ORDER BY id`)
	if err != nil {
		return nil, internal("read holds", err)
	}
	defer rows.Close()
	var out []*Hold
	for rows.Next() {
		var h Hold
		var slots, agents, queued, assigned, ended string
		var offered, resolved int
		if err := rows.Scan(&h.ID, &h.Conversation, &h.Channel, &h.Lang, &h.State, &h.Priority, &h.Reason, &h.Flow,
			&slots, &h.PolicyNumber, &h.Agent, &agents, &h.Announced, &offered, &resolved, &h.Outcome,
			&queued, &assigned, &ended); err != nil {
			return nil, internal("scan hold", err)
		}
		json.Unmarshal([]byte(slots), &h.Slots)
		json.Unmarshal([]byte(agents), &h.Agents)
		h.Offered, h.Resolved = offered == 1, resolved == 1
		h.QueuedAt, h.AssignedAt, h.EndedAt = parse(queued), parse(assigned), parse(ended)
		out = append(out, &h)
	}
	return out, rows.Err()
}

// lastClosed returns the most recent closed hold of a conversation (for ratings).
func (d *db) lastClosed(ctx context.Context, conversation string) (id int64, agent string, err error) {
	err = d.w.QueryRowContext(ctx, `SELECT id, agent FROM handoffs WHERE conversation = ? AND state = 'closed'
		AND outcome = 'ended' ORDER BY id DESC LIMIT 1`, conversation).Scan(&id, &agent)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", casesvc.Errorf(casesvc.ENOTFOUND, "No ended handoff in this conversation.")
	} else if err != nil {
		return 0, "", internal("read hold", err)
	}
	return id, agent, nil
}

func (d *db) putRating(ctx context.Context, r Rating) error {
	_, err := d.w.ExecContext(ctx, `INSERT INTO handoff_ratings (handoff, conversation, agent, score, comment, at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (handoff) DO UPDATE SET score = excluded.score,
		comment = CASE WHEN excluded.comment <> '' THEN excluded.comment ELSE handoff_ratings.comment END, at = excluded.at`,
		r.Handoff, r.Conversation, r.Agent, r.Score, r.Comment, stamp(r.At))
	if err != nil {
		return internal("put rating", err)
	}
	return nil
}

// Ratings returns the stored ratings of a conversation, oldest first.
func (d *db) ratings(ctx context.Context, conversation string) ([]Rating, error) {
	rows, err := d.w.QueryContext(ctx, `SELECT handoff, conversation, agent, score, comment, at FROM handoff_ratings
		WHERE conversation = ? ORDER BY handoff`, conversation)
	if err != nil {
		return nil, internal("read ratings", err)
	}
	defer rows.Close()
	var out []Rating
	for rows.Next() {
		var r Rating
		var at string
		if err := rows.Scan(&r.Handoff, &r.Conversation, &r.Agent, &r.Score, &r.Comment, &at); err != nil {
			return nil, internal("scan rating", err)
		}
		r.At = parse(at)
		out = append(out, r)
	}
	return out, rows.Err()
}

// insertTask stores a call-back task once per source message; a repeat returns the first.
func (d *db) insertTask(ctx context.Context, t *Task) error {
	_, err := d.w.ExecContext(ctx, `INSERT INTO handoff_tasks (handoff, conversation, channel, lang, reason, note,
		source_seq, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (conversation, source_seq) DO NOTHING`,
		t.Handoff, t.Conversation, t.Channel, t.Lang, t.Reason, t.Note, t.SourceSeq, stamp(t.Created))
	if err != nil {
		return internal("insert task", err)
	}
	return d.w.QueryRowContext(ctx, `SELECT id FROM handoff_tasks WHERE conversation = ? AND source_seq = ?`,
		t.Conversation, t.SourceSeq).Scan(&t.ID)
}

func (d *db) tasks(ctx context.Context, open bool) ([]Task, error) {
	q := `SELECT id, handoff, conversation, channel, lang, reason, note, source_seq, state, done_by, created_at, done_at
		FROM handoff_tasks`
	if open {
		q += ` WHERE state = 'open'`
	}
	rows, err := d.w.QueryContext(ctx, q+` ORDER BY id`)
	if err != nil {
		return nil, internal("read tasks", err)
	}
	defer rows.Close()
	out := []Task{}
	for rows.Next() {
		var t Task
		var created, done string
		if err := rows.Scan(&t.ID, &t.Handoff, &t.Conversation, &t.Channel, &t.Lang, &t.Reason, &t.Note, &t.SourceSeq,
			&t.State, &t.DoneBy, &created, &done); err != nil {
			return nil, internal("scan task", err)
		}
		t.Created, t.Done = parse(created), parse(done)
		out = append(out, t)
	}
	return out, rows.Err()
}

func (d *db) completeTask(ctx context.Context, id int64, by string, at time.Time) error {
	res, err := d.w.ExecContext(ctx, `UPDATE handoff_tasks SET state = 'done', done_by = ?, done_at = ? WHERE id = ? AND state = 'open'`,
		by, stamp(at), id)
	if err != nil {
		return internal("complete task", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return casesvc.Errorf(casesvc.ENOTFOUND, "No open task with this id.")
	}
	return nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func stampOrEmpty(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return stamp(t)
}

// fixedStamp is a UTC time of fixed width: compared as text it orders like time.
func fixedStamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

func parse(v string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, v)
	return t
}

func internal(op string, err error) error { return fmt.Errorf("handoff: %s: %w", op, err) }
