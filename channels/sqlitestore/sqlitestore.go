// Package sqlitestore is the channels.Store of the embedded deployment, on modernc.org/sqlite (pure
// Go). One writer connection, driven by one writer goroutine, serialises every write (SQLite allows
// one writer anyway, and it keeps seq allocation and dedupe trivially atomic) and commits the writes
// that queue up together in one transaction (group commit, writer.go); reads use a separate pool,
// concurrent under WAL. Every statement is prepared once, when the store opens.
package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	_ "modernc.org/sqlite" // driver "sqlite"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/dialog"
	"claimline/internal/sqlitewal"
)

// Store keeps conversations and messages in one SQLite file.
type Store struct {
	// Now is the clock for created/updated times and inbound messages without a receive time.
	Now func() time.Time

	writer *sql.DB
	reader *sql.DB
	wr     *writer
	ckpt   *sqlitewal.Checkpointer
	rs     map[string]*sql.Stmt // prepared on the reader pool (readQueries)
	cache  *convCache
}

// readerConns is the size of the reader pool; every connection stays open (and keeps its prepared
// statements) for the life of the store.
const readerConns = 4

// New opens (creating if needed) the database at path and brings its schema up to date.
//
// Durability: WAL with synchronous=NORMAL. A commit is in the WAL file (the OS page cache) before
// AppendInbound or CommitTurn returns, so an acknowledged message survives a crash of the process
// (SIGKILL included); the last commits before a power loss or kernel crash may be lost (the file stays
// consistent). FULL would fsync the WAL at every commit to survive power loss too.
func New(path string) (*Store, error) {
	if path == "" {
		return nil, casesvc.Errorf(casesvc.EINVALID, "sqlitestore: path required")
	}
	// dsn: txlock "immediate" for the writer, which also keeps SQLite's autocheckpoint as the
	// checkpointer's backstop (see internal/sqlitewal); the other connections never checkpoint on commit.
	dsn := func(extra string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(1)")
		q.Add("_pragma", "temp_store(MEMORY)") // statement journals (a SAVEPOINT per op) kept in memory, not a temp file
		if extra != "" {
			q.Add("_txlock", extra)
			q.Add("_pragma", fmt.Sprintf("wal_autocheckpoint(%d)", sqlitewal.BackstopPages))
		}
		return "file:" + path + "?" + q.Encode()
	}
	ctx := context.Background()
	writerDB, err := sql.Open("sqlite", dsn("immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}
	writerDB.SetMaxOpenConns(1)
	writerDB.SetConnMaxIdleTime(0)
	s := &Store{Now: time.Now, writer: writerDB}
	conn, err := writerDB.Conn(ctx)
	if err != nil {
		writerDB.Close()
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}
	w := &wconn{conn: conn}
	fail := func(err error) (*Store, error) {
		for _, st := range w.stmts {
			st.Close()
		}
		conn.Close()
		writerDB.Close()
		if s.reader != nil {
			s.reader.Close()
		}
		if s.cache != nil {
			s.cache.release()
		}
		return nil, err
	}
	if err := s.migrate(ctx, conn); err != nil {
		return fail(err)
	}
	if err := w.prepare(ctx, writeQueries); err != nil {
		return fail(err)
	}
	// The reader opens after the writer switched the file to WAL.
	reader, err := sql.Open("sqlite", dsn(""))
	if err != nil {
		return fail(fmt.Errorf("sqlitestore: open: %w", err))
	}
	reader.SetMaxOpenConns(readerConns)
	reader.SetMaxIdleConns(readerConns)
	reader.SetConnMaxIdleTime(0)
	s.reader = reader
	s.rs = make(map[string]*sql.Stmt, len(readQueries))
	for name, q := range readQueries {
		st, err := reader.PrepareContext(ctx, q)
		if err != nil {
			return fail(fmt.Errorf("sqlitestore: prepare %s: %w", name, err))
		}
		s.rs[name] = st
	}
	s.cache = sharedCache(path) // the file exists now
	if err := w.queryRow("dataVersion").Scan(&w.dataVersion); err != nil {
		return fail(fmt.Errorf("sqlitestore: data version: %w", err))
	}
	ckptDB, err := sql.Open("sqlite", dsn(""))
	if err != nil {
		return fail(fmt.Errorf("sqlitestore: open: %w", err))
	}
	s.ckpt = sqlitewal.Start(ckptDB, sqlitewal.Gap)
	s.wr = newWriter(w, s.cache, s.ckpt)
	return s, nil
}

// Close waits for the queued writes, then closes the database.
func (s *Store) Close() error {
	s.wr.close()
	ckptErr := s.ckpt.Close()
	for _, st := range s.wr.w.stmts {
		st.Close()
	}
	for _, st := range s.rs {
		st.Close()
	}
	s.cache.release()
	return errors.Join(ckptErr, s.wr.w.conn.Close(), s.reader.Close(), s.writer.Close())
}

// Collectors are the store's figures for /metrics, labelled db="channels": its write transactions
// and the ops they carried (group commit: ops per transaction grows with the load) and its
// checkpoints.
func (s *Store) Collectors() []prometheus.Collector {
	l := prometheus.Labels{"db": "channels"}
	return append([]prometheus.Collector{
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "claimline_sqlite_write_transactions_total",
			Help: "Write transactions committed or tried by the store's writer.", ConstLabels: l},
			func() float64 { return float64(s.wr.batches.Load()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "claimline_sqlite_write_ops_total",
			Help: "Writes (a message with its turn, a delivery mark, …) carried by those transactions.", ConstLabels: l},
			func() float64 { return float64(s.wr.batched.Load()) }),
	}, s.ckpt.Collectors("channels")...)
}

// Ping checks the database answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.rstmt("ping").QueryRowContext(ctx).Scan(&one)
}

// rstmt returns a prepared reader statement; an unknown name is a programming error.
func (s *Store) rstmt(name string) *sql.Stmt {
	st, ok := s.rs[name]
	if !ok {
		panic("sqlitestore: no reader statement " + name)
	}
	return st
}

// write runs fn in a write transaction, possibly shared with other writes (writer.go), and maps a
// database failure to EINTERNAL.
func (s *Store) write(ctx context.Context, op string, fn func(w *wconn) error) error {
	err := s.wr.do(ctx, fn)
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var ie *internalError
	if code := casesvc.ErrorCode(err); code != casesvc.EINTERNAL || errors.As(err, &ie) {
		return err
	}
	return internal(op, err)
}

// migrations are applied in order, each once; append only, never edit a released one.
var migrations = []string{
	`CREATE TABLE conversations (
		id         TEXT PRIMARY KEY,
		channel    TEXT NOT NULL,
		contact    TEXT NOT NULL,
		lang       TEXT NOT NULL DEFAULT '',
		state      BLOB,
		started    INTEGER NOT NULL DEFAULT 0,
		last_seq   INTEGER NOT NULL DEFAULT 0,
		created_at TEXT NOT NULL,
		updated_at TEXT NOT NULL,
		UNIQUE (channel, contact)
	);
	CREATE TABLE messages (
		conversation TEXT NOT NULL REFERENCES conversations (id),
		seq          INTEGER NOT NULL,
		direction    TEXT NOT NULL,
		sender       TEXT NOT NULL,
		text         TEXT NOT NULL DEFAULT '',
		action       TEXT NOT NULL DEFAULT '',
		buttons      TEXT NOT NULL DEFAULT '',
		agent        TEXT NOT NULL DEFAULT '',
		lang         TEXT NOT NULL DEFAULT '',
		client_id    TEXT NOT NULL DEFAULT '',
		reply_to     INTEGER NOT NULL DEFAULT 0,
		handled      INTEGER NOT NULL DEFAULT 0,
		ts           TEXT NOT NULL,
		PRIMARY KEY (conversation, seq)
	);
	CREATE UNIQUE INDEX messages_client_id ON messages (conversation, client_id) WHERE client_id <> '';
	CREATE INDEX messages_unhandled ON messages (conversation, seq) WHERE direction = 'in' AND handled = 0;`,

	// 2: attachments and events on messages; the outbox of push channels.
	`ALTER TABLE messages ADD COLUMN attachments TEXT NOT NULL DEFAULT '';
	ALTER TABLE messages ADD COLUMN event TEXT NOT NULL DEFAULT '';
	ALTER TABLE messages ADD COLUMN notice TEXT NOT NULL DEFAULT '';
	CREATE INDEX messages_unhandled_events ON messages (conversation, seq) WHERE direction = 'event' AND handled = 0;
	CREATE TABLE deliveries (
		conversation TEXT NOT NULL,
		seq          INTEGER NOT NULL,
		channel      TEXT NOT NULL,
		status       TEXT NOT NULL,
		parts_sent   INTEGER NOT NULL DEFAULT 0,
		attempts     INTEGER NOT NULL DEFAULT 0,
		next_at      INTEGER NOT NULL, -- unix nanoseconds: compares as a number
		last_error   TEXT NOT NULL DEFAULT '',
		created_at   TEXT NOT NULL,
		updated_at   TEXT NOT NULL,
		PRIMARY KEY (conversation, seq),
		FOREIGN KEY (conversation, seq) REFERENCES messages (conversation, seq)
	);
	CREATE INDEX deliveries_pending ON deliveries (conversation, seq) WHERE status = 'pending';
	CREATE TABLE delivery_receipts (
		conversation TEXT NOT NULL,
		seq          INTEGER NOT NULL,
		part         INTEGER NOT NULL,
		provider_id  TEXT NOT NULL,
		status       TEXT NOT NULL,
		updated_at   TEXT NOT NULL,
		PRIMARY KEY (conversation, seq, part),
		FOREIGN KEY (conversation, seq) REFERENCES deliveries (conversation, seq)
	);
	CREATE INDEX delivery_receipts_provider ON delivery_receipts (provider_id);`,
	// The delivery loop asks for the due heads of the queues many times a second: an index in
	// due-time order lets it stop after the first few instead of walking every pending delivery.
	`CREATE INDEX deliveries_due ON deliveries (next_at, conversation) WHERE status = 'pending';`,
}

// migrate applies the pending migrations on the writer connection, before the writer starts.
func (s *Store) migrate(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	for i, m := range migrations {
		version := i + 1
		err := func() (err error) {
			if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
				return err
			}
			defer func() {
				if err != nil {
					conn.ExecContext(ctx, `ROLLBACK`)
				}
			}()
			var n int
			if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
				return err
			}
			if n == 0 {
				if _, err := conn.ExecContext(ctx, m); err != nil {
					return err
				}
				if _, err := conn.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, s.stamp(s.Now())); err != nil {
					return err
				}
			}
			_, err = conn.ExecContext(ctx, `COMMIT`)
			return err
		}()
		if err != nil {
			return fmt.Errorf("sqlitestore: migration %d: %w", version, err)
		}
	}
	return nil
}

const convColumns = `id, channel, contact, lang, state, started, last_seq, created_at, updated_at`

const msgColumns = `conversation, seq, direction, sender, text, action, buttons, agent, lang, client_id, reply_to, handled, ts, attachments, event, notice`

const deliveryColumns = `conversation, seq, channel, status, parts_sent, attempts, next_at, last_error, created_at, updated_at`

// qualified is the comma-separated columns cols, each prefixed with table ("d.conversation, d.seq").
func qualified(table, cols string) string {
	return table + "." + strings.ReplaceAll(cols, ", ", ", "+table+".")
}

// writeQueries are prepared once on the writer connection.
var writeQueries = map[string]string{
	"begin":       `BEGIN IMMEDIATE`,
	"commit":      `COMMIT`,
	"rollback":    `ROLLBACK`,
	"savepoint":   `SAVEPOINT op`,
	"release":     `RELEASE op`,
	"rollbackTo":  `ROLLBACK TO op`,
	"dataVersion": `PRAGMA data_version`,

	// ON CONFLICT: a concurrent open of the same contact got there first; use its row.
	"openConversation": `INSERT INTO conversations (id, channel, contact, lang, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel, contact) DO NOTHING`,
	"conversationExists": `SELECT 1 FROM conversations WHERE id = ?`,

	// appendInbound stores the message with the conversation's next seq in one statement; the unique
	// index on (conversation, client_id) is the dedupe: a repeat inserts nothing and returns no row.
	// No row either when the conversation does not exist. The WHERE of the SELECT is required by
	// SQLite's grammar for an upsert on INSERT … SELECT.
	"appendInbound": `INSERT INTO messages (` + msgColumns + `)
		SELECT id, last_seq + 1, ?, ?, ?, ?, '', '', ?, ?, 0, 0, ?, ?, ?, ?
		FROM conversations WHERE id = ?
		ON CONFLICT (conversation, client_id) WHERE client_id <> '' DO NOTHING
		RETURNING seq`,
	"bumpSeq": `UPDATE conversations SET last_seq = last_seq + 1, updated_at = ? WHERE id = ? RETURNING last_seq`,
	// commitInbound stores a message already handled with its turn (inbound.go): only as seq
	// last_seq + 1 while last_seq is still what the turn ran after, and not for a repeated client id.
	"commitInbound": `INSERT INTO messages (` + msgColumns + `)
		SELECT id, last_seq + 1, ?, ?, ?, ?, '', '', ?, ?, 0, 1, ?, ?, ?, ?
		FROM conversations WHERE id = ? AND last_seq = ?
		ON CONFLICT (conversation, client_id) WHERE client_id <> '' DO NOTHING`,
	"advanceState":    `UPDATE conversations SET last_seq = ?, state = ?, updated_at = ? WHERE id = ?`,
	"messageByClient": `SELECT ` + msgColumns + ` FROM messages WHERE conversation = ? AND client_id = ?`,

	"markHandled": `UPDATE messages SET handled = 1
		WHERE conversation = ? AND seq = ? AND direction IN ('in', 'event') AND handled = 0`,
	"markStarted":   `UPDATE conversations SET started = 1 WHERE id = ? AND started = 0`,
	"inboundExists": `SELECT 1 FROM messages WHERE conversation = ? AND seq = ? AND direction IN ('in', 'event')`,
	"allocateState": `UPDATE conversations SET last_seq = last_seq + ?, state = ?, updated_at = ? WHERE id = ? RETURNING last_seq, channel`,
	"insertMessage": `INSERT INTO messages (` + msgColumns + `) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
	"insertDelivery": `INSERT INTO deliveries (conversation, seq, channel, status, next_at, created_at, updated_at)
		VALUES (?, ?, ?, 'pending', ?, ?, ?)`,

	"deliveryPartSent": `UPDATE deliveries SET parts_sent = parts_sent + 1, status = ?, last_error = '', updated_at = ?
		WHERE conversation = ? AND seq = ? AND status = 'pending' AND parts_sent = ?`,
	"insertReceipt": `INSERT INTO delivery_receipts (conversation, seq, part, provider_id, status, updated_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
	"deliveryRetry": `UPDATE deliveries SET attempts = attempts + 1, next_at = ?, last_error = ?, updated_at = ?
		WHERE conversation = ? AND seq = ? AND status = 'pending'`,
	"deliveryFailed": `UPDATE deliveries SET status = 'failed', attempts = attempts + 1, last_error = ?, updated_at = ?
		WHERE conversation = ? AND seq = ? AND status = 'pending'`,
	"deliveryExists":     `SELECT 1 FROM deliveries WHERE conversation = ? AND seq = ?`,
	"receiptsOfProvider": `SELECT conversation, seq, part, status FROM delivery_receipts WHERE provider_id = ?`,
	"updateReceipt": `UPDATE delivery_receipts SET status = ?, updated_at = ?
		WHERE conversation = ? AND seq = ? AND part = ?`,
}

// readQueries are prepared once on the reader pool (database/sql prepares them again on each of its
// connections the first time it is used there, then keeps them while the connection lives).
var readQueries = map[string]string{
	"ping":             `SELECT 1`,
	"findConversation": `SELECT ` + convColumns + ` FROM conversations WHERE channel = ? AND contact = ?`,
	"conversation":     `SELECT ` + convColumns + ` FROM conversations WHERE id = ?`,
	"unhandled":        `SELECT ` + msgColumns + ` FROM messages WHERE direction IN ('in', 'event') AND handled = 0 ORDER BY conversation, seq`,
	"messagesAfter":    `SELECT ` + msgColumns + ` FROM messages WHERE conversation = ? AND seq > ? ORDER BY seq LIMIT ?`,
	// The due head of each conversation's queue, walked in due-time order (deliveries_due) so the
	// scan stops at the limit; a delivery is a head when no earlier one of its conversation is pending.
	// Each with its message (joined on the primary key), so the outbox need not read it back: one
	// read instead of one per delivery, each of which found its pages evicted by the writer's commits.
	// An inner join loses no delivery: its foreign key holds its message, and messages are never
	// deleted.
	"dueDeliveries": `SELECT ` + qualified("d", deliveryColumns) + `, ` + qualified("m", msgColumns) + `
		FROM deliveries d INDEXED BY deliveries_due
		JOIN messages m ON m.conversation = d.conversation AND m.seq = d.seq
		WHERE d.status = 'pending' AND d.next_at <= ?
		  AND NOT EXISTS (SELECT 1 FROM deliveries h
		                  WHERE h.conversation = d.conversation AND h.status = 'pending' AND h.seq < d.seq)
		ORDER BY d.next_at, d.conversation LIMIT ?`,
	"deliveries": `SELECT ` + deliveryColumns + ` FROM deliveries WHERE conversation = ? ORDER BY seq`,
	"receipts": `SELECT seq, part, provider_id, status, updated_at FROM delivery_receipts
		WHERE conversation = ? ORDER BY seq, part`,
	"outboxDepth": `SELECT COUNT(*) FROM deliveries WHERE status = 'pending'`,
}

// OpenConversation returns the conversation of (channel, contact), creating it when missing.
func (s *Store) OpenConversation(ctx context.Context, channel, contact, lang string) (*channels.Conversation, bool, error) {
	if channel == "" || contact == "" {
		return nil, false, casesvc.Errorf(casesvc.EINVALID, "Channel and contact required.")
	}
	if c, err := s.FindConversation(ctx, channel, contact); err == nil {
		return c, false, nil
	} else if casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		return nil, false, err
	}
	at := parseStamp(s.stamp(s.Now())) // as a read would return it
	now := stampOf(at)
	var created *channels.Conversation
	err := s.write(ctx, "open conversation", func(w *wconn) error {
		created = nil
		c := &channels.Conversation{ID: newID(), Channel: channel, Contact: contact, Lang: lang, Created: at, Updated: at}
		res, err := w.exec("openConversation", c.ID, channel, contact, lang, now, now)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil // a concurrent open got there first
		}
		w.touch(convWrite{full: c})
		created = copyConv(c)
		return nil
	})
	if err != nil {
		return nil, false, err
	}
	if created != nil {
		return created, true, nil
	}
	c, err := s.FindConversation(ctx, channel, contact)
	return c, false, err
}

// FindConversation returns the conversation of (channel, contact) or ENOTFOUND.
func (s *Store) FindConversation(ctx context.Context, channel, contact string) (*channels.Conversation, error) {
	if c, ok := s.cache.find(channel, contact); ok {
		return c, nil
	}
	v := s.cache.version()
	c, err := scanConversation(s.rstmt("findConversation").QueryRowContext(ctx, channel, contact))
	if err == nil {
		s.cache.fill(c, v)
	}
	return c, err
}

// Conversation returns a conversation by id or ENOTFOUND.
func (s *Store) Conversation(ctx context.Context, id string) (*channels.Conversation, error) {
	if c, ok := s.cache.get(id); ok {
		return c, nil
	}
	v := s.cache.version()
	c, err := scanConversation(s.rstmt("conversation").QueryRowContext(ctx, id))
	if err == nil {
		s.cache.fill(c, v)
	}
	return c, err
}

func scanConversation(row *sql.Row) (*channels.Conversation, error) {
	c, err := scanConversationRow(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "Conversation not found.")
	} else if err != nil {
		return nil, internal("read conversation", err)
	}
	return c, nil
}

// scanConversationRow scans convColumns; sql.ErrNoRows passes through.
func scanConversationRow(sc scanner) (*channels.Conversation, error) {
	var c channels.Conversation
	var created, updated string
	var started int
	if err := sc.Scan(&c.ID, &c.Channel, &c.Contact, &c.Lang, &c.State, &started, &c.LastSeq, &created, &updated); err != nil {
		return nil, err
	}
	c.Started = started == 1
	c.Created, c.Updated = parseStamp(created), parseStamp(updated)
	return &c, nil
}

// AppendInbound stores a customer message with the next seq, deduping on its ClientID.
//
// The common case is two statements: the INSERT … SELECT that takes the seq and relies on the unique
// index for the dedupe, and the last_seq bump. Only a repeat (or an unknown conversation) reads more.
func (s *Store) AppendInbound(ctx context.Context, conversation string, in channels.Inbound) (channels.Message, bool, error) {
	at := in.ReceivedAt
	if at.IsZero() {
		at = s.Now()
	}
	msg := channels.Message{
		Conversation: conversation, Direction: channels.DirIn, From: channels.FromCustomer,
		Text: in.Text, Action: in.Action, Lang: in.Lang, ClientID: in.ClientID, TS: at,
		Attachments: in.Attachments, Event: in.Event, Notice: in.Notice,
	}
	if in.Event != "" {
		msg.Direction, msg.From = channels.DirEvent, channels.FromSystem
	}
	attachments, err := jsonOrEmpty(len(msg.Attachments) > 0, msg.Attachments)
	if err != nil {
		return channels.Message{}, false, internal("append inbound", err)
	}
	notice, err := jsonOrEmpty(msg.Notice != nil, msg.Notice)
	if err != nil {
		return channels.Message{}, false, internal("append inbound", err)
	}
	ts := stampOf(at)
	var stored channels.Message
	var dup bool
	err = s.write(ctx, "append inbound", func(w *wconn) error {
		dup = false
		var seq int64
		err := w.queryRow("appendInbound", msg.Direction, msg.From, msg.Text, msg.Action, msg.Lang, msg.ClientID,
			ts, attachments, msg.Event, notice, conversation).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			if msg.ClientID != "" {
				first, err := scanMessage(w.queryRow("messageByClient", conversation, msg.ClientID))
				if err == nil {
					stored, dup = first, true
					return nil
				} else if !errors.Is(err, sql.ErrNoRows) {
					return err
				}
			}
			return casesvc.Errorf(casesvc.ENOTFOUND, "Conversation not found.")
		} else if err != nil {
			return err
		}
		now := parseStamp(s.stamp(s.Now()))
		var last int64
		if err := w.queryRow("bumpSeq", stampOf(now), conversation).Scan(&last); err != nil {
			return err
		}
		w.touch(convWrite{id: conversation, lastSeq: last, updated: now})
		stored = msg
		stored.Seq = seq
		return nil
	})
	if err != nil {
		return channels.Message{}, false, err
	}
	return stored, dup, nil
}

// CommitTurn stores a turn's replies, state and the inbound's handled mark in one transaction.
func (s *Store) CommitTurn(ctx context.Context, t channels.Turn) ([]channels.Message, error) {
	out, buttons, state, at, err := s.prepareTurn(t)
	if err != nil {
		return nil, err
	}
	ts := stampOf(at)
	err = s.write(ctx, "commit turn", func(w *wconn) error {
		var res sql.Result
		var err error
		if t.InboundSeq > 0 {
			res, err = w.exec("markHandled", t.Conversation, t.InboundSeq)
		} else {
			res, err = w.exec("markStarted", t.Conversation)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return turnConflict(w, t)
		}
		now := parseStamp(s.stamp(s.Now()))
		var last int64
		var channel string
		err = w.queryRow("allocateState", int64(len(t.Replies)), state, stampOf(now), t.Conversation).Scan(&last, &channel)
		if errors.Is(err, sql.ErrNoRows) {
			return casesvc.Errorf(casesvc.ENOTFOUND, "Conversation not found.")
		} else if err != nil {
			return err
		}
		w.touch(convWrite{id: t.Conversation, lastSeq: last, setState: true, state: state,
			started: t.InboundSeq == 0, updated: now})
		first := last - int64(len(t.Replies)) + 1
		for i := range out {
			out[i].Seq = first + int64(i)
		}
		return insertReplies(w, out, buttons, ts, t.Deliver, channel)
	})
	if err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// prepareTurn makes, outside the writer (the writer goroutine is the bottleneck, the callers are
// many), the stored form of a turn: its replies as messages without seqs, their buttons' JSON, a copy
// of the state (the cache keeps it; the caller may change t.State) and the turn's time.
func (s *Store) prepareTurn(t channels.Turn) (out []channels.Message, buttons []string, state []byte, at time.Time, err error) {
	at = t.At
	if at.IsZero() {
		at = s.Now()
	}
	if t.State != nil {
		state = append([]byte{}, t.State...)
	}
	out = make([]channels.Message, len(t.Replies))
	buttons = make([]string, len(t.Replies))
	for i, r := range t.Replies {
		m := channels.Message{
			Conversation: t.Conversation, Direction: channels.DirOut, From: r.From,
			Text: r.Text, Buttons: r.Buttons, Agent: r.Agent, ReplyTo: t.InboundSeq, TS: at,
		}
		if m.From == "" {
			m.From = channels.FromBot
		}
		if len(m.Buttons) > 0 {
			b, err := json.Marshal(m.Buttons)
			if err != nil {
				return nil, nil, nil, at, internal("commit turn", err)
			}
			buttons[i] = string(b)
		}
		out[i] = m
	}
	return out, buttons, state, at, nil
}

// insertReplies inserts a turn's replies (seqs set) and, with deliver, a pending delivery for each
// on channel.
func insertReplies(w *wconn, out []channels.Message, buttons []string, ts string, deliver bool, channel string) error {
	for i := range out {
		m := &out[i]
		if _, err := w.exec("insertMessage", m.Conversation, m.Seq, m.Direction, m.From, m.Text, m.Action,
			buttons[i], m.Agent, m.Lang, m.ClientID, m.ReplyTo, 0, ts, "", m.Event, ""); err != nil {
			return err
		}
		if deliver {
			if _, err := w.exec("insertDelivery", m.Conversation, m.Seq, channel, m.TS.UnixNano(), ts, ts); err != nil {
				return err
			}
		}
	}
	return nil
}

// turnConflict explains why a turn's handled (or started) mark changed nothing.
func turnConflict(w *wconn, t channels.Turn) error {
	var one int
	if err := w.queryRow("conversationExists", t.Conversation).Scan(&one); errors.Is(err, sql.ErrNoRows) {
		return casesvc.Errorf(casesvc.ENOTFOUND, "Conversation not found.")
	} else if err != nil {
		return err
	}
	if t.InboundSeq > 0 {
		if err := w.queryRow("inboundExists", t.Conversation, t.InboundSeq).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return casesvc.Errorf(casesvc.ENOTFOUND, "Message not found.")
		} else if err != nil {
			return err
		}
	}
	return casesvc.Errorf(casesvc.ECONFLICT, "Turn already committed.")
}

// Unhandled returns the inbound messages whose turn was never committed, by conversation and seq.
func (s *Store) Unhandled(ctx context.Context) ([]channels.Message, error) {
	rows, err := s.rstmt("unhandled").QueryContext(ctx)
	if err != nil {
		return nil, internal("unhandled", err)
	}
	return scanMessages(rows)
}

// MessagesAfter returns up to limit messages with seq > afterSeq, in seq order.
func (s *Store) MessagesAfter(ctx context.Context, conversation string, afterSeq int64, limit int) ([]channels.Message, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.rstmt("messagesAfter").QueryContext(ctx, conversation, afterSeq, limit)
	if err != nil {
		return nil, internal("messages after", err)
	}
	return scanMessages(rows)
}

func jsonOrEmpty(present bool, v any) (string, error) {
	if !present {
		return "", nil
	}
	b, err := json.Marshal(v)
	return string(b), err
}

type scanner interface{ Scan(dest ...any) error }

func scanMessage(sc scanner) (channels.Message, error) {
	var m channels.Message
	var buttons, ts, attachments, notice string
	var handled int
	err := sc.Scan(&m.Conversation, &m.Seq, &m.Direction, &m.From, &m.Text, &m.Action, &buttons, &m.Agent,
		&m.Lang, &m.ClientID, &m.ReplyTo, &handled, &ts, &attachments, &m.Event, &notice)
	if err != nil {
		return m, err
	}
	if attachments != "" {
		if err := json.Unmarshal([]byte(attachments), &m.Attachments); err != nil {
			return m, err
		}
	}
	if notice != "" {
		m.Notice = new(dialog.Notice)
		if err := json.Unmarshal([]byte(notice), m.Notice); err != nil {
			return m, err
		}
	}
	if buttons != "" {
		if err := json.Unmarshal([]byte(buttons), &m.Buttons); err != nil {
			return m, err
		}
	}
	m.Handled = handled == 1
	m.TS = parseStamp(ts)
	return m, nil
}

func scanMessages(rows *sql.Rows) ([]channels.Message, error) {
	defer rows.Close()
	var out []channels.Message
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, internal("scan message", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, internal("scan messages", err)
	}
	return out, nil
}

// Times are stored as UTC RFC 3339 with nanoseconds: readable in the sqlite shell and sortable.
func (s *Store) stamp(t time.Time) string { return stampOf(t) }

func stampOf(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseStamp(v string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, v)
	return t
}

// newID returns an unguessable conversation id.
func newID() string { return channels.NewConversationID() }

// internal wraps a database failure; the cause stays for the log, the code keeps it out of responses.
func internal(op string, err error) error {
	return &internalError{op: op, err: err}
}

type internalError struct {
	op  string
	err error
}

func (e *internalError) Error() string { return "sqlitestore: " + e.op + ": " + e.err.Error() }
func (e *internalError) Unwrap() error { return e.err }

// Interface guards
var _ channels.Store = (*Store)(nil)
