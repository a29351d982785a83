// Package sqlitestore is the channels.Store of the embedded deployment, on modernc.org/sqlite (pure
// Go). One writer connection serialises every write (SQLite allows one writer anyway, and it keeps
// seq allocation and dedupe trivially atomic); reads use a separate pool, concurrent under WAL.
package sqlitestore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	_ "modernc.org/sqlite" // driver "sqlite"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/dialog"
)

// Store keeps conversations and messages in one SQLite file.
type Store struct {
	// Now is the clock for created/updated times and inbound messages without a receive time.
	Now func() time.Time

	writer *sql.DB
	reader *sql.DB
}

// New opens (creating if needed) the database at path and brings its schema up to date.
func New(path string) (*Store, error) {
	if path == "" {
		return nil, casesvc.Errorf(casesvc.EINVALID, "sqlitestore: path required")
	}
	dsn := func(extra string) string {
		q := url.Values{}
		q.Add("_pragma", "busy_timeout(10000)")
		q.Add("_pragma", "journal_mode(WAL)")
		q.Add("_pragma", "synchronous(NORMAL)")
		q.Add("_pragma", "foreign_keys(1)")
		if extra != "" {
			q.Add("_txlock", extra)
		}
		return "file:" + path + "?" + q.Encode()
	}
	writer, err := sql.Open("sqlite", dsn("immediate"))
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetConnMaxIdleTime(0)
	s := &Store{Now: time.Now, writer: writer}
	if err := s.migrate(context.Background()); err != nil {
		writer.Close()
		return nil, err
	}
	// The reader opens after the writer switched the file to WAL.
	reader, err := sql.Open("sqlite", dsn(""))
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlitestore: open: %w", err)
	}
	reader.SetMaxOpenConns(4)
	s.reader = reader
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error {
	return errors.Join(s.reader.Close(), s.writer.Close())
}

// Ping checks the database answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.reader.QueryRowContext(ctx, `SELECT 1`).Scan(&one)
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
}

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.writer.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
		version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("sqlitestore: migrate: %w", err)
	}
	for i, m := range migrations {
		version := i + 1
		err := s.tx(ctx, func(tx *sql.Tx) error {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil || n > 0 {
				return err
			}
			if _, err := tx.ExecContext(ctx, m); err != nil {
				return err
			}
			_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, s.stamp(s.Now()))
			return err
		})
		if err != nil {
			return fmt.Errorf("sqlitestore: migration %d: %w", version, err)
		}
	}
	return nil
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
	now := s.stamp(s.Now())
	var created bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// ON CONFLICT: a concurrent open of the same contact got there first; use its row.
		res, err := tx.ExecContext(ctx, `INSERT INTO conversations (id, channel, contact, lang, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (channel, contact) DO NOTHING`,
			newID(), channel, contact, lang, now, now)
		if err != nil {
			return err
		}
		n, _ := res.RowsAffected()
		created = n == 1
		return nil
	})
	if err != nil {
		return nil, false, internal("open conversation", err)
	}
	c, err := s.FindConversation(ctx, channel, contact)
	return c, created, err
}

const convColumns = `id, channel, contact, lang, state, started, last_seq, created_at, updated_at`

// FindConversation returns the conversation of (channel, contact) or ENOTFOUND.
func (s *Store) FindConversation(ctx context.Context, channel, contact string) (*channels.Conversation, error) {
	row := s.reader.QueryRowContext(ctx, `SELECT `+convColumns+` FROM conversations WHERE channel = ? AND contact = ?`, channel, contact)
	return scanConversation(row)
}

// Conversation returns a conversation by id or ENOTFOUND.
func (s *Store) Conversation(ctx context.Context, id string) (*channels.Conversation, error) {
	row := s.reader.QueryRowContext(ctx, `SELECT `+convColumns+` FROM conversations WHERE id = ?`, id)
	return scanConversation(row)
}

func scanConversation(row *sql.Row) (*channels.Conversation, error) {
	var c channels.Conversation
	var created, updated string
	var started int
	if err := row.Scan(&c.ID, &c.Channel, &c.Contact, &c.Lang, &c.State, &started, &c.LastSeq, &created, &updated); errors.Is(err, sql.ErrNoRows) {
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "Conversation not found.")
	} else if err != nil {
		return nil, internal("read conversation", err)
	}
	c.Started = started == 1
	c.Created, c.Updated = parseStamp(created), parseStamp(updated)
	return &c, nil
}

// AppendInbound stores a customer message with the next seq, deduping on its ClientID.
func (s *Store) AppendInbound(ctx context.Context, conversation string, in channels.Inbound) (channels.Message, bool, error) {
	at := in.ReceivedAt
	if at.IsZero() {
		at = s.Now()
	}
	var msg channels.Message
	var dup bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if in.ClientID != "" {
			m, err := queryMessage(ctx, tx, `conversation = ? AND client_id = ?`, conversation, in.ClientID)
			if err == nil {
				msg, dup = m, true
				return nil
			} else if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		seq, err := allocate(ctx, tx, conversation, 1, s.stamp(s.Now()))
		if err != nil {
			return err
		}
		msg = channels.Message{
			Conversation: conversation, Seq: seq, Direction: channels.DirIn, From: channels.FromCustomer,
			Text: in.Text, Action: in.Action, Lang: in.Lang, ClientID: in.ClientID, TS: at,
			Attachments: in.Attachments, Event: in.Event, Notice: in.Notice,
		}
		if in.Event != "" {
			msg.Direction, msg.From = channels.DirEvent, channels.FromSystem
		}
		return insertMessage(ctx, tx, msg)
	})
	if err != nil {
		if casesvc.ErrorCode(err) != casesvc.EINTERNAL {
			return channels.Message{}, false, err
		}
		return channels.Message{}, false, internal("append inbound", err)
	}
	return msg, dup, nil
}

// CommitTurn stores a turn's replies, state and the inbound's handled mark in one transaction.
func (s *Store) CommitTurn(ctx context.Context, t channels.Turn) ([]channels.Message, error) {
	at := t.At
	if at.IsZero() {
		at = s.Now()
	}
	var out []channels.Message
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var res sql.Result
		var err error
		if t.InboundSeq > 0 {
			res, err = tx.ExecContext(ctx, `UPDATE messages SET handled = 1
				WHERE conversation = ? AND seq = ? AND direction IN ('in', 'event') AND handled = 0`, t.Conversation, t.InboundSeq)
		} else {
			res, err = tx.ExecContext(ctx, `UPDATE conversations SET started = 1 WHERE id = ? AND started = 0`, t.Conversation)
		}
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := s.conversationTx(ctx, tx, t.Conversation); err != nil {
				return err
			}
			if t.InboundSeq > 0 {
				if _, err := queryMessage(ctx, tx, `conversation = ? AND seq = ? AND direction IN ('in', 'event')`, t.Conversation, t.InboundSeq); errors.Is(err, sql.ErrNoRows) {
					return casesvc.Errorf(casesvc.ENOTFOUND, "Message not found.")
				}
			}
			return casesvc.Errorf(casesvc.ECONFLICT, "Turn already committed.")
		}
		last, err := allocate(ctx, tx, t.Conversation, int64(len(t.Replies)), s.stamp(s.Now()))
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE conversations SET state = ? WHERE id = ?`, t.State, t.Conversation); err != nil {
			return err
		}
		first := last - int64(len(t.Replies)) + 1
		for i, r := range t.Replies {
			m := channels.Message{
				Conversation: t.Conversation, Seq: first + int64(i), Direction: channels.DirOut, From: r.From,
				Text: r.Text, Buttons: r.Buttons, Agent: r.Agent, ReplyTo: t.InboundSeq, TS: at,
			}
			if m.From == "" {
				m.From = channels.FromBot
			}
			if err := insertMessage(ctx, tx, m); err != nil {
				return err
			}
			if t.Deliver {
				if err := insertDelivery(ctx, tx, m, stampOf(at)); err != nil {
					return err
				}
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		if code := casesvc.ErrorCode(err); code != casesvc.EINTERNAL {
			return nil, err
		}
		return nil, internal("commit turn", err)
	}
	return out, nil
}

// Unhandled returns the inbound messages whose turn was never committed, by conversation and seq.
func (s *Store) Unhandled(ctx context.Context) ([]channels.Message, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+msgColumns+` FROM messages
		WHERE direction IN ('in', 'event') AND handled = 0 ORDER BY conversation, seq`)
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
	rows, err := s.reader.QueryContext(ctx, `SELECT `+msgColumns+` FROM messages
		WHERE conversation = ? AND seq > ? ORDER BY seq LIMIT ?`, conversation, afterSeq, limit)
	if err != nil {
		return nil, internal("messages after", err)
	}
	return scanMessages(rows)
}

// allocate reserves n seqs for a conversation and returns the last one; n may be 0.
func allocate(ctx context.Context, tx *sql.Tx, conversation string, n int64, now string) (int64, error) {
	var last int64
	err := tx.QueryRowContext(ctx, `UPDATE conversations SET last_seq = last_seq + ?, updated_at = ?
		WHERE id = ? RETURNING last_seq`, n, now, conversation).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, casesvc.Errorf(casesvc.ENOTFOUND, "Conversation not found.")
	}
	return last, err
}

func (s *Store) conversationTx(ctx context.Context, tx *sql.Tx, id string) (string, error) {
	var got string
	err := tx.QueryRowContext(ctx, `SELECT id FROM conversations WHERE id = ?`, id).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return "", casesvc.Errorf(casesvc.ENOTFOUND, "Conversation not found.")
	}
	return got, err
}

const msgColumns = `conversation, seq, direction, sender, text, action, buttons, agent, lang, client_id, reply_to, handled, ts, attachments, event, notice`

func insertMessage(ctx context.Context, tx *sql.Tx, m channels.Message) error {
	var buttons string
	if len(m.Buttons) > 0 {
		b, err := json.Marshal(m.Buttons)
		if err != nil {
			return err
		}
		buttons = string(b)
	}
	handled := 0
	if m.Handled {
		handled = 1
	}
	attachments, err := jsonOrEmpty(len(m.Attachments) > 0, m.Attachments)
	if err != nil {
		return err
	}
	notice, err := jsonOrEmpty(m.Notice != nil, m.Notice)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO messages (`+msgColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		m.Conversation, m.Seq, m.Direction, m.From, m.Text, m.Action, buttons, m.Agent, m.Lang, m.ClientID,
		m.ReplyTo, handled, stampOf(m.TS), attachments, m.Event, notice)
	return err
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

func queryMessage(ctx context.Context, tx *sql.Tx, where string, args ...any) (channels.Message, error) {
	return scanMessage(tx.QueryRowContext(ctx, `SELECT `+msgColumns+` FROM messages WHERE `+where, args...))
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

// tx runs fn in a write transaction (BEGIN IMMEDIATE through _txlock on the writer).
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Times are stored as UTC RFC 3339 with nanoseconds: readable in the sqlite shell and sortable.
func (s *Store) stamp(t time.Time) string { return stampOf(t) }

func stampOf(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseStamp(v string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, v)
	return t
}

// newID returns an unguessable conversation id.
func newID() string { return strings.ToLower(rand.Text()) }

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
