package casesvc

import (
	"strconv"
	"time"
)

// Notice is one message the customer must get about their case: an outbox row written in the same
// transaction as the state change it reports, so a committed change always has its notice and a
// failed one never does.
//
// The relay contract (the gateway's side):
//  1. PendingNotices(limit) returns undelivered notices oldest first.
//  2. For each, the gateway renders a message in the customer's language and sends it on Channel to
//     Conversation with the idempotency id IdempotencyID() ("notice:<id>").
//  3. Then it calls MarkNoticeDelivered(id).
//
// A crash between 2 and 3 sends the notice again on the next pass; the gateway drops the repeat by
// its idempotency id, so the customer gets it exactly once. MarkNoticeDelivered is idempotent.
//
// Data by Kind (numbers are float64, dates YYYY-MM-DD, times RFC 3339):
//
//	documents_complete  decision_due, payment_due (times), decision_days, payment_days, fast_track
//	document_rejected   kind, reason, document (id), missing_documents ([]string)
//	approved            amount, method, expected_payment_by (date)
//	rejected            reason, basis
//	paid                amount, method, paid_at (time), reference
//	complaint_responded complaint (id), case (linked case id or ""), category, response (the staff
//	                    reply), ombudsman_notice (zh-TW) and ombudsman_notice_en (the Financial
//	                    Ombudsman Institution route, 0800-789-885, within 60 days), ombudsman_phone,
//	                    ombudsman_days, text (response + blank line + ombudsman_notice: the whole
//	                    message). Whatever the renderer uses, the ombudsman route must reach the customer.
//
// A complaint notice has Complaint set and CaseID empty (its linked case, if any, is in Data); a case
// notice has no Complaint.
type Notice struct {
	ID           int64          `json:"id"`
	CaseID       string         `json:"case"`
	Complaint    string         `json:"complaint,omitempty"`
	Conversation string         `json:"conversation"`
	Channel      string         `json:"channel"`
	Kind         string         `json:"kind"`
	Data         map[string]any `json:"data"`
	CreatedAt    time.Time      `json:"created_at"`
	DeliveredAt  *time.Time     `json:"delivered_at,omitempty"`
}

// IdempotencyID is the id the gateway gives the outbound message, so a resent notice is dropped.
func (n Notice) IdempotencyID() string { return "notice:" + strconv.FormatInt(n.ID, 10) }
