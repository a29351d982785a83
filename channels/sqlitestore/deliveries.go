package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"claimline/casesvc"
	"claimline/channels"
)

// DueDeliveries returns the due heads of line: per conversation the pending delivery with the lowest
// seq, when its next attempt is due; each with its Message.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]channels.Delivery, error) {
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.rstmt("dueDeliveries").QueryContext(ctx, now.UnixNano(), limit)
	if err != nil {
		return nil, internal("due deliveries", err)
	}
	return scanDeliveries(rows, true)
}

// prefixScanner scans a row whose first columns go to pre and the rest to what Scan is given.
type prefixScanner struct {
	rows *sql.Rows
	pre  []any
}

func (p prefixScanner) Scan(dest ...any) error {
	return p.rows.Scan(append(p.pre[:len(p.pre):len(p.pre)], dest...)...)
}

// DeliveryPartSent records one accepted part; see channels.Store.
func (s *Store) DeliveryPartSent(ctx context.Context, conversation string, seq int64, part int, providerID string, last bool, at time.Time) error {
	now := stampOf(at)
	status := channels.DeliveryPending
	if last {
		status = channels.DeliverySent
	}
	return s.write(ctx, "delivery part sent", func(w *wconn) error {
		res, err := w.exec("deliveryPartSent", status, now, conversation, seq, part)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return deliveryConflict(w, conversation, seq)
		}
		if providerID == "" {
			return nil
		}
		_, err = w.exec("insertReceipt", conversation, seq, part, providerID, channels.ReceiptSent, now)
		return err
	})
}

// DeliveryRetry counts a failed attempt and schedules the next.
func (s *Store) DeliveryRetry(ctx context.Context, conversation string, seq int64, next time.Time, code string, at time.Time) error {
	return s.updatePending(ctx, "delivery retry", "deliveryRetry", conversation, seq, next.UnixNano(), code, stampOf(at))
}

// DeliveryFailed counts a failed attempt and gives the delivery up.
func (s *Store) DeliveryFailed(ctx context.Context, conversation string, seq int64, code string, at time.Time) error {
	return s.updatePending(ctx, "delivery failed", "deliveryFailed", conversation, seq, code, stampOf(at))
}

func (s *Store) updatePending(ctx context.Context, op, stmt, conversation string, seq int64, args ...any) error {
	return s.write(ctx, op, func(w *wconn) error {
		res, err := w.exec(stmt, append(args, conversation, seq)...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return deliveryConflict(w, conversation, seq)
		}
		return nil
	})
}

func deliveryConflict(w *wconn, conversation string, seq int64) error {
	var one int
	err := w.queryRow("deliveryExists", conversation, seq).Scan(&one)
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
	return s.write(ctx, "mark delivery status", func(w *wconn) error {
		rows, err := w.query("receiptsOfProvider", providerID)
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
			if _, err := w.exec("updateReceipt", status, stampOf(at), k.conv, k.seq, k.part); err != nil {
				return err
			}
		}
		return nil
	})
}

// Deliveries returns a conversation's deliveries with their receipts, in seq order.
func (s *Store) Deliveries(ctx context.Context, conversation string) ([]channels.Delivery, error) {
	rows, err := s.rstmt("deliveries").QueryContext(ctx, conversation)
	if err != nil {
		return nil, internal("deliveries", err)
	}
	out, err := scanDeliveries(rows, false)
	if err != nil || len(out) == 0 {
		return out, err
	}
	idx := make(map[int64]int, len(out))
	for i, d := range out {
		idx[d.Seq] = i
	}
	rrows, err := s.rstmt("receipts").QueryContext(ctx, conversation)
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
	if err := s.rstmt("outboxDepth").QueryRowContext(ctx).Scan(&n); err != nil {
		return 0, internal("outbox depth", err)
	}
	return n, nil
}

// scanDeliveries reads deliveries; withMessage: each row goes on with its message's columns.
func scanDeliveries(rows *sql.Rows, withMessage bool) ([]channels.Delivery, error) {
	defer rows.Close()
	var out []channels.Delivery
	for rows.Next() {
		var d channels.Delivery
		var next int64
		var created, updated string
		dest := []any{&d.Conversation, &d.Seq, &d.Channel, &d.Status, &d.PartsSent, &d.Attempts, &next,
			&d.LastError, &created, &updated}
		var err error
		if withMessage {
			var m channels.Message
			m, err = scanMessage(prefixScanner{rows, dest})
			d.Message = &m
		} else {
			err = rows.Scan(dest...)
		}
		if err != nil {
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
