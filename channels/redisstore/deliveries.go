package redisstore

import (
	"context"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"claimline/casesvc"
	"claimline/channels"
)

// DueDeliveries returns the due heads of line: per conversation the pending delivery with the lowest
// seq, when its next attempt is due, the longest waiting first. The due set is scored by microseconds;
// the exact next attempt (nanoseconds) is checked here.
func (s *Store) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]channels.Delivery, error) {
	if limit <= 0 {
		limit = 100
	}
	// A few extra rows cover heads in now's microsecond that are not due yet.
	res, err := dueScript.Run(ctx, s.rdb, []string{s.k.due()}, string(s.k), micros(now), limit+16).Slice()
	if err != nil {
		return nil, wrap("due deliveries", err)
	}
	var out []channels.Delivery
	for _, r := range res {
		row := r.([]any)
		d := delivery(row[0].(string), toInt(row[1]), deliveryFields(row[2:]))
		if d.NextAt.After(now) {
			continue
		}
		out = append(out, d)
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].NextAt.Equal(out[j].NextAt) {
			return out[i].NextAt.Before(out[j].NextAt)
		}
		return out[i].Conversation < out[j].Conversation
	})
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// DueConversations returns the conversations whose head of line is due, the longest waiting first
// (channels.FencedStore): the due set alone, one command, where DueDeliveries reads every head too.
// The due set is scored by the head's next attempt in microseconds.
func (s *Store) DueConversations(ctx context.Context, now time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		limit = 100
	}
	ids, err := s.rdb.ZRangeArgs(ctx, redis.ZRangeArgs{Key: s.k.due(), ByScore: true, Start: "-inf",
		Stop: strconv.FormatInt(micros(now), 10), Count: int64(limit)}).Result()
	if err != nil {
		return nil, wrap("due conversations", err)
	}
	return ids, nil
}

// headOfLineOf decodes the headOfLine prelude's answer for conversation: the conversation (nil when
// there is none) and its head of line with its message (nil when nothing is pending).
func headOfLineOf(conversation string, res []any) (*channels.Conversation, *channels.Delivery, error) {
	conv, err := conversationOf(namedFields(headConvFields, res[0].([]any)))
	if casesvc.ErrorCode(err) == casesvc.ENOTFOUND {
		conv = nil // the outbox reads it again and fails the delivery as not found
	} else if err != nil {
		return nil, nil, err
	}
	if len(res) < 4 {
		return conv, nil, nil
	}
	seq := toInt(res[1])
	d := delivery(conversation, seq, deliveryFields(res[2].([]any)))
	if body, ok := res[3].(string); ok {
		m, err := decodeMessage(conversation, seq, body, true)
		if err != nil {
			return nil, nil, wrap("head of line", err)
		}
		d.Message = &m
	}
	return conv, &d, nil
}

// headConvFields are the fields of a conversation's hash that the head-of-line read
// (Locker.LockHeadOfLine) takes: all but the state.
var headConvFields = []string{"id", "channel", "contact", "lang", "started", "created", "updated", "last_seq"}

// headConvFieldNames is headConvFields as a Lua argument list.
var headConvFieldNames = "'" + strings.Join(headConvFields, "', '") + "'"

// namedFields pairs names with the values HMGET returned for them, leaving out the missing ones (a
// missing hash gives an empty map).
func namedFields(names []string, values []any) map[string]string {
	h := make(map[string]string, len(names))
	for i, v := range values {
		if s, ok := v.(string); ok && i < len(names) {
			h[names[i]] = s
		}
	}
	return h
}

// deliveryFields are the eight fields of a delivery read by HMGET in a script (a missing one: "").
func deliveryFields(raw []any) []string {
	f := make([]string, 8)
	for i := range f {
		if v, ok := raw[i].(string); ok {
			f[i] = v
		}
	}
	return f
}

// delivery builds a Delivery from its fields: channel status parts attempts next err created updated.
func delivery(conv string, seq int64, f []string) channels.Delivery {
	parts, _ := strconv.Atoi(f[2])
	attempts, _ := strconv.Atoi(f[3])
	next, _ := strconv.ParseInt(f[4], 10, 64)
	return channels.Delivery{
		Conversation: conv, Seq: seq, Channel: f[0], Status: f[1], PartsSent: parts, Attempts: attempts,
		NextAt: time.Unix(0, next), LastError: f[5], Created: parseStamp(f[6]), Updated: parseStamp(f[7]),
	}
}

// DeliveryPartSent records one accepted part; see channels.Store.
func (s *Store) DeliveryPartSent(ctx context.Context, conversation string, seq int64, part int, providerID string, last bool, at time.Time) error {
	lastFlag, prov := "0", s.k.dv(conversation) // an unused key keeps KEYS' shape
	if last {
		lastFlag = "1"
	}
	if providerID != "" {
		prov = s.k.prov(providerID)
	}
	id := conversation
	n, err := partSentScript.Run(ctx, s.rdb,
		[]string{s.k.dv(id), s.k.dp(id), s.k.due(), s.k.pending(), s.k.rc(id), prov},
		seq, part, lastFlag, stamp(at), providerID, id).Int64()
	return deliveryResult("delivery part sent", n, err)
}

// DeliveryRetry counts a failed attempt and schedules the next.
func (s *Store) DeliveryRetry(ctx context.Context, conversation string, seq int64, next time.Time, code string, at time.Time) error {
	id := conversation
	n, err := retryScript.Run(ctx, s.rdb, []string{s.k.dv(id), s.k.dp(id), s.k.due()},
		seq, strconv.FormatInt(next.UnixNano(), 10), micros(next), code, stamp(at), id).Int64()
	return deliveryResult("delivery retry", n, err)
}

// DeliveryFailed counts a failed attempt and gives the delivery up.
func (s *Store) DeliveryFailed(ctx context.Context, conversation string, seq int64, code string, at time.Time) error {
	id := conversation
	n, err := failedScript.Run(ctx, s.rdb, []string{s.k.dv(id), s.k.dp(id), s.k.due(), s.k.pending()},
		seq, code, stamp(at), id).Int64()
	return deliveryResult("delivery failed", n, err)
}

func deliveryResult(op string, n int64, err error) error {
	switch {
	case err != nil:
		return wrap(op, err)
	case n == -2:
		return casesvc.Errorf(casesvc.ENOTFOUND, "Delivery not found.")
	case n == -4:
		return casesvc.Errorf(casesvc.ECONFLICT, "Delivery already recorded.")
	}
	return nil
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
	n, err := markStatusScript.Run(ctx, s.rdb, []string{s.k.prov(providerID)}, string(s.k), status, rank, stamp(at)).Int64()
	if err != nil {
		return wrap("mark delivery status", err)
	}
	if n == -2 {
		return casesvc.Errorf(casesvc.ENOTFOUND, "No delivery with this provider id.")
	}
	return nil
}

// Deliveries returns a conversation's deliveries with their receipts, in seq order.
func (s *Store) Deliveries(ctx context.Context, conversation string) ([]channels.Delivery, error) {
	pipe := s.rdb.Pipeline()
	dv := pipe.HGetAll(ctx, s.k.dv(conversation))
	rc := pipe.HGetAll(ctx, s.k.rc(conversation))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, wrap("deliveries", err)
	}
	fields := map[int64][]string{}
	names := map[string]int{"channel": 0, "status": 1, "parts": 2, "attempts": 3, "next": 4, "err": 5, "created": 6, "updated": 7}
	for k, v := range dv.Val() {
		seqStr, name, _ := strings.Cut(k, ":")
		i, ok := names[name]
		if !ok {
			continue
		}
		seq, _ := strconv.ParseInt(seqStr, 10, 64)
		if fields[seq] == nil {
			fields[seq] = make([]string, 8)
		}
		fields[seq][i] = v
	}
	if len(fields) == 0 {
		return nil, nil
	}
	out := make([]channels.Delivery, 0, len(fields))
	idx := make(map[int64]int, len(fields))
	seqs := make([]int64, 0, len(fields))
	for seq := range fields {
		seqs = append(seqs, seq)
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for _, seq := range seqs {
		idx[seq] = len(out)
		out = append(out, delivery(conversation, seq, fields[seq]))
	}
	type rkey struct {
		seq  int64
		part int
	}
	receipts := map[rkey]*channels.Receipt{}
	for k, v := range rc.Val() {
		parts := strings.Split(k, ":")
		if len(parts) != 3 {
			continue
		}
		seq, _ := strconv.ParseInt(parts[0], 10, 64)
		part, _ := strconv.Atoi(parts[1])
		key := rkey{seq, part}
		r := receipts[key]
		if r == nil {
			r = &channels.Receipt{Part: part}
			receipts[key] = r
		}
		switch parts[2] {
		case "p":
			r.ProviderID = v
		case "s":
			r.Status = v
		case "u":
			r.Updated = parseStamp(v)
		}
	}
	keys := make([]rkey, 0, len(receipts))
	for k := range receipts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].seq != keys[j].seq {
			return keys[i].seq < keys[j].seq
		}
		return keys[i].part < keys[j].part
	})
	for _, k := range keys {
		if i, ok := idx[k.seq]; ok {
			out[i].Receipts = append(out[i].Receipts, *receipts[k])
		}
	}
	return out, nil
}

// OutboxDepth counts the pending deliveries (a counter kept by the delivery scripts).
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	n, err := s.rdb.Get(ctx, s.k.pending()).Int()
	if err != nil && !errors.Is(err, redis.Nil) {
		return 0, wrap("outbox depth", err)
	}
	return n, nil
}
