package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"claimline/casesvc"
	"claimline/channels"
)

// insertDelivery writes the pending outbox row of a stored reply; it runs inside CommitTurn's
// transaction, so a committed reply of a push channel always has its delivery.
func insertDelivery(ctx context.Context, tx *sql.Tx, m channels.Message, now string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO deliveries (conversation, seq, channel, status, next_at, created_at, updated_at)
		SELECT id, ?, channel, 'pending', ?, ?, ? FROM conversations WHERE id = ?`,
		m.Seq, m.TS.UnixNano(), now, now, m.Conversation)
	return err
}

const deliveryColumns = `conversation, seq, channel, status, parts_sent, attempts, next_at, last_error, created_at, updated_at`

// DueDeliveries returns the due heads of line: per conversation the pending delivery with the lowest
// seq, when its next attempt is due.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]channels.Delivery, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.reader.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries d
		WHERE status = 'pending'
		  AND seq = (SELECT MIN(seq) FROM deliveries h WHERE h.conversation = d.conversation AND h.status = 'pending')
		  AND next_at <= ?
		ORDER BY next_at, conversation LIMIT ?`, now.UnixNano(), limit)
	if err != nil {
		return nil, internal("due deliveries", err)
	}
	return scanDeliveries(rows)
}

// DeliveryPartSent records one accepted part; see channels.Store.
func (s *Store) DeliveryPartSent(ctx context.Context, conversation string, seq int64, part int, providerID string, last bool, at time.Time) error {
	now := stampOf(at)
	err := s.tx(ctx, func(tx *sql.Tx) error {
		status := channels.DeliveryPending
		if last {
			status = channels.DeliverySent
		}
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET parts_sent = parts_sent + 1, status = ?, last_error = '', updated_at = ?
			WHERE conversation = ? AND seq = ? AND status = 'pending' AND parts_sent = ?`,
			status, now, conversation, seq, part)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.deliveryConflict(ctx, tx, conversation, seq)
		}
		if providerID == "" {
			return nil
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO delivery_receipts (conversation, seq, part, provider_id, status, updated_at)
			VALUES (?, ?, ?, ?, ?, ?)`, conversation, seq, part, providerID, channels.ReceiptSent, now)
		return err
	})
	return deliveryErr("delivery part sent", err)
}

// DeliveryRetry counts a failed attempt and schedules the next.
func (s *Store) DeliveryRetry(ctx context.Context, conversation string, seq int64, next time.Time, code string, at time.Time) error {
	return s.updatePending(ctx, "delivery retry", `attempts = attempts + 1, next_at = ?, last_error = ?, updated_at = ?`,
		conversation, seq, next.UnixNano(), code, stampOf(at))
}

// DeliveryFailed counts a failed attempt and gives the delivery up.
func (s *Store) DeliveryFailed(ctx context.Context, conversation string, seq int64, code string, at time.Time) error {
	return s.updatePending(ctx, "delivery failed", `status = 'failed', attempts = attempts + 1, last_error = ?, updated_at = ?`,
		conversation, seq, code, stampOf(at))
}

func (s *Store) updatePending(ctx context.Context, op, set, conversation string, seq int64, args ...any) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE deliveries SET `+set+` WHERE conversation = ? AND seq = ? AND status = 'pending'`,
			append(args, conversation, seq)...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return s.deliveryConflict(ctx, tx, conversation, seq)
		}
		return nil
	})
	return deliveryErr(op, err)
}

func (s *Store) deliveryConflict(ctx context.Context, tx *sql.Tx, conversation string, seq int64) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM deliveries WHERE conversation = ? AND seq = ?`, conversation, seq).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return casesvc.Errorf(casesvc.ENOTFOUND, "Delivery not found.")
	} else if err != nil {
		return err
	}
	return casesvc.Errorf(casesvc.ECONFLICT, "Delivery already recorded.")
}

// MarkDeliveryStatus records a provider's status callback, forward only.
func (s *Store) MarkDeliveryStatus(ctx context.Context, providerID, status string, at time.Time) error {
	rank := channels.ReceiptRank(status)
	if rank == 0 {
		return casesvc.Errorf(casesvc.EINVALID, "Unknown delivery status.")
	}
	if providerID == "" {
		return casesvc.Errorf(casesvc.EINVALID, "Provider id required.")
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT conversation, seq, part, status FROM delivery_receipts WHERE provider_id = ?`, providerID)
		if err != nil {
			return err
		}
		type key struct {
			conv       string
			seq        int64
			part       int
			status     string
			movesAhead bool
		}
		var found []key
		for rows.Next() {
			var k key
			if err := rows.Scan(&k.conv, &k.seq, &k.part, &k.status); err != nil {
				rows.Close()
				return err
			}
			old := channels.ReceiptRank(k.status)
			k.movesAhead = old < 4 && rank > old
			found = append(found, k)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(found) == 0 {
			return casesvc.Errorf(casesvc.ENOTFOUND, "No delivery with this provider id.")
		}
		for _, k := range found {
			if !k.movesAhead {
				continue
			}
			if _, err := tx.ExecContext(ctx, `UPDATE delivery_receipts SET status = ?, updated_at = ?
				WHERE conversation = ? AND seq = ? AND part = ?`, status, stampOf(at), k.conv, k.seq, k.part); err != nil {
				return err
			}
		}
		return nil
	})
	return deliveryErr("mark delivery status", err)
}

// Deliveries returns a conversation's deliveries with their receipts, in seq order.
func (s *Store) Deliveries(ctx context.Context, conversation string) ([]channels.Delivery, error) {
	rows, err := s.reader.QueryContext(ctx, `SELECT `+deliveryColumns+` FROM deliveries WHERE conversation = ? ORDER BY seq`, conversation)
	if err != nil {
		return nil, internal("deliveries", err)
	}
	out, err := scanDeliveries(rows)
	if err != nil || len(out) == 0 {
		return out, err
	}
	idx := make(map[int64]int, len(out))
	for i, d := range out {
		idx[d.Seq] = i
	}
	rrows, err := s.reader.QueryContext(ctx, `SELECT seq, part, provider_id, status, updated_at FROM delivery_receipts
		WHERE conversation = ? ORDER BY seq, part`, conversation)
	if err != nil {
		return nil, internal("delivery receipts", err)
	}
	defer rrows.Close()
	for rrows.Next() {
		var seq int64
		var r channels.Receipt
		var updated string
		if err := rrows.Scan(&seq, &r.Part, &r.ProviderID, &r.Status, &updated); err != nil {
			return nil, internal("scan receipt", err)
		}
		r.Updated = parseStamp(updated)
		if i, ok := idx[seq]; ok {
			out[i].Receipts = append(out[i].Receipts, r)
		}
	}
	if err := rrows.Err(); err != nil {
		return nil, internal("scan receipts", err)
	}
	return out, nil
}

// OutboxDepth counts the pending deliveries.
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	var n int
	if err := s.reader.QueryRowContext(ctx, `SELECT COUNT(*) FROM deliveries WHERE status = 'pending'`).Scan(&n); err != nil {
		return 0, internal("outbox depth", err)
	}
	return n, nil
}

func scanDeliveries(rows *sql.Rows) ([]channels.Delivery, error) {
	defer rows.Close()
	var out []channels.Delivery
	for rows.Next() {
		var d channels.Delivery
		var next int64
		var created, updated string
		if err := rows.Scan(&d.Conversation, &d.Seq, &d.Channel, &d.Status, &d.PartsSent, &d.Attempts, &next,
			&d.LastError, &created, &updated); err != nil {
			return nil, internal("scan delivery", err)
		}
		d.NextAt = time.Unix(0, next)
		d.Created, d.Updated = parseStamp(created), parseStamp(updated)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, internal("scan deliveries", err)
	}
	return out, nil
}

func deliveryErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if code := casesvc.ErrorCode(err); code != casesvc.EINTERNAL {
		return err
	}
	return internal(op, err)
}
