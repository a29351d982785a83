package sms

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

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

// OptOut adds number to the suppression list (source: the keyword or "21610"). Idempotent.
func (a *Adapter) OptOut(ctx context.Context, number, source string) error {
	_, err := a.db.ExecContext(ctx,
		`INSERT INTO opt_outs(number, source, at) VALUES(?, ?, ?) ON CONFLICT(number) DO NOTHING`,
		number, source, a.now().UTC().Format(time.RFC3339Nano))
	return err
}

// OptIn removes number from the suppression list. Idempotent.
func (a *Adapter) OptIn(ctx context.Context, number string) error {
	_, err := a.db.ExecContext(ctx, `DELETE FROM opt_outs WHERE number = ?`, number)
	return err
}

// optedOutQuery is prepared once (New): Send asks it for every message sent, and parsing it each
// time was half the cost of the lookup.
const optedOutQuery = `SELECT count(*) FROM opt_outs WHERE number = ?`

// OptedOut reports whether number is on the suppression list.
func (a *Adapter) OptedOut(ctx context.Context, number string) (bool, error) {
	var n int
	err := a.optedOut.QueryRowContext(ctx, number).Scan(&n)
	return n > 0, err
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
