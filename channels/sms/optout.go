package sms

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	_ "modernc.org/sqlite" // the suppression list
)

// Keyword kinds (Twilio's default opt-out, opt-in and help keywords).
const (
	kwNone = iota
	kwStop
	kwStart
	kwHelp
)

// keyword classifies a whole message body as Twilio does: exact match of the trimmed body, any case.
// CANCEL is an opt-out only for +1 numbers (see the package comment).
func keyword(body, from string) int {
	switch strings.ToUpper(strings.TrimSpace(body)) {
	case "STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT":
		return kwStop
	case "CANCEL":
		if carrierHandlesKeywords(from) {
			return kwStop
		}
		return kwNone
	case "START", "UNSTOP", "YES":
		return kwStart
	case "HELP", "INFO":
		return kwHelp
	}
	return kwNone
}

// carrierHandlesKeywords reports numbers (US/Canada) for which Twilio itself enforces and confirms
// the keywords; we keep our list in step and do not answer a second time.
func carrierHandlesKeywords(number string) bool { return strings.HasPrefix(number, "+1") }

// suppression is where the opt-outs are kept: sms.db on this node (the embedded deployment) or one
// Redis hash every gateway node shares, so that a STOP answered by one node stops the sends of all.
type suppression interface {
	add(ctx context.Context, number, source string, at time.Time) error // idempotent: the first source stays
	remove(ctx context.Context, number string) error
	has(ctx context.Context, number string) (bool, error)
	close() error
}

// sqliteSuppression is the list in sms.db.
type sqliteSuppression struct {
	db     *sql.DB
	lookup *sql.Stmt // optedOutQuery
}

func openOptOuts(path string) (*sql.DB, error) {
	// The list holds phone numbers: only the service's user may read it.
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sms: open %s: %w", path, err)
	}
	f.Close()
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Add("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sms: open suppression list: %w", err)
	}
	db.SetMaxOpenConns(1) // SQLite has one writer; reads are single-row and quick
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS opt_outs (
		number  TEXT PRIMARY KEY,  -- E.164
		source  TEXT NOT NULL,     -- the keyword, or "21610" when Twilio refused a send
		at      TEXT NOT NULL      -- RFC 3339
	) WITHOUT ROWID`); err != nil {
		db.Close()
		return nil, fmt.Errorf("sms: suppression list schema: %w", err)
	}
	return db, nil
}

// openSQLiteSuppression opens sms.db with its one prepared lookup.
func openSQLiteSuppression(path string) (*sqliteSuppression, error) {
	db, err := openOptOuts(path)
	if err != nil {
		return nil, err
	}
	st, err := db.Prepare(optedOutQuery)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("sms: suppression list: %w", err)
	}
	return &sqliteSuppression{db: db, lookup: st}, nil
}

// optedOutQuery is prepared once: Send asks it for every message sent, and parsing it each time was
// half the cost of the lookup.
const optedOutQuery = `SELECT count(*) FROM opt_outs WHERE number = ?`

func (l *sqliteSuppression) add(ctx context.Context, number, source string, at time.Time) error {
	_, err := l.db.ExecContext(ctx,
		`INSERT INTO opt_outs(number, source, at) VALUES(?, ?, ?) ON CONFLICT(number) DO NOTHING`,
		number, source, at.UTC().Format(time.RFC3339Nano))
	return err
}

func (l *sqliteSuppression) remove(ctx context.Context, number string) error {
	_, err := l.db.ExecContext(ctx, `DELETE FROM opt_outs WHERE number = ?`, number)
	return err
}

func (l *sqliteSuppression) has(ctx context.Context, number string) (bool, error) {
	var n int
	err := l.lookup.QueryRowContext(ctx, number).Scan(&n)
	return n > 0, err
}

func (l *sqliteSuppression) close() error {
	l.lookup.Close()
	return l.db.Close()
}

// redisSuppression is the list shared by the gateway nodes: the hash <prefix>sms:optouts, number →
// "<source>\t<RFC 3339 time>".
type redisSuppression struct {
	c   redis.UniversalClient
	key string
}

func (l *redisSuppression) add(ctx context.Context, number, source string, at time.Time) error {
	return l.c.HSetNX(ctx, l.key, number, redisOptOut(source, at.UTC().Format(time.RFC3339Nano))).Err()
}

// redisOptOut is a number's value in the shared hash; at is sms.db's RFC 3339 text.
func redisOptOut(source, at string) string { return source + "\t" + at }

func (l *redisSuppression) remove(ctx context.Context, number string) error {
	return l.c.HDel(ctx, l.key, number).Err()
}

func (l *redisSuppression) has(ctx context.Context, number string) (bool, error) {
	return l.c.HExists(ctx, l.key, number).Result()
}

func (l *redisSuppression) close() error { return nil } // the client is the caller's

// moveToRedis copies the opt-outs of this node's sms.db into the shared list and then deletes them
// there, so a node that ran alone before joins with its list, and a later opt-in on any node is not
// undone by the old file at the next start. It is a no-op without the file. The file's write lock is
// held from the read to the delete (nothing is added in between), and a failure before the commit
// only copies again next time (HSETNX keeps the first).
func moveToRedis(ctx context.Context, path string, to *redisSuppression) error {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	db, err := openOptOuts(path)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (the DSN's _txlock)
	if err != nil {
		return fmt.Errorf("sms: read %s: %w", path, err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `SELECT number, source, at FROM opt_outs`)
	if err != nil {
		return fmt.Errorf("sms: read %s: %w", path, err)
	}
	n := 0
	pipe := to.c.Pipeline()
	for rows.Next() {
		var number, source, at string
		if err := rows.Scan(&number, &source, &at); err != nil {
			rows.Close()
			return fmt.Errorf("sms: read %s: %w", path, err)
		}
		pipe.HSetNX(ctx, to.key, number, redisOptOut(source, at))
		n++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sms: read %s: %w", path, err)
	}
	if n == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("sms: copy the suppression list to Redis: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM opt_outs`); err != nil {
		return fmt.Errorf("sms: empty %s after the copy: %w", path, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sms: empty %s after the copy: %w", path, err)
	}
	return nil
}

// OptOut adds number to the suppression list (source: the keyword or "21610"). Idempotent.
func (a *Adapter) OptOut(ctx context.Context, number, source string) error {
	return a.optOuts.add(ctx, number, source, a.now())
}

// OptIn removes number from the suppression list. Idempotent.
func (a *Adapter) OptIn(ctx context.Context, number string) error {
	return a.optOuts.remove(ctx, number)
}

// OptedOut reports whether number is on the suppression list.
func (a *Adapter) OptedOut(ctx context.Context, number string) (bool, error) {
	return a.optOuts.has(ctx, number)
}

// Keyword answers. Short (one UCS-2 segment where possible) and in the customer's language.
func (a *Adapter) helpText(lang string) string {
	if lang == "en" {
		return "Claims service bot: reply to this number to file a claim, send documents or check progress. Hotline " +
			a.hotline + ". Reply STOP to opt out."
	}
	return "理賠客服：直接回覆可申請理賠、補件、查進度。專線 " + a.hotline + "。回覆 STOP 停止接收。"
}

func stopText(lang string) string {
	if lang == "en" {
		return "You will get no more messages from us. Reply START to resume."
	}
	return "已停止傳送簡訊給您。回覆 START 可恢復。"
}

func startText(lang string) string {
	if lang == "en" {
		return "Messages resumed. Reply HELP for help, STOP to opt out."
	}
	return "已恢復簡訊服務。回覆 HELP 查看說明，STOP 停止接收。"
}
