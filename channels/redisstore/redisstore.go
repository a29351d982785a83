// Package redisstore is the scaled-out deployment's channels.Store, channels.Bus and channels.Locker on
// Redis (github.com/redis/go-redis/v9), selected by CLAIMLINE_REDIS_URL. Several gateway nodes share one
// Redis; each keeps the rules written on the channels interfaces, checked by the same contract suites
// (channels/storetest) as the embedded SQLite store and the memory bus.
//
// # Durability
//
// Redis is the system of record for transcripts in this mode, so "nothing lost" holds only when Redis
// runs with the append-only file on: appendonly yes and appendfsync everysec (at most about one second
// of acknowledged writes lost on a power cut or kernel crash; a crash of the redis-server process alone
// loses nothing) or appendfsync always (nothing lost, slower). RDB snapshots alone are not enough. The
// tests' redis-server (internal/testservices) runs with appendonly yes, appendfsync everysec.
//
// # Key layout
//
// Every key starts with Config.Prefix ("claimline:"). Per-conversation keys carry the conversation id as
// a hash tag ({id}), so a conversation's keys would share a slot:
//
//	conv:{id}          hash: id channel contact lang state started last_seq created updated
//	msgs:{id}          hash: seq → message JSON (transcript; never deleted)
//	unh:{id}           set of inbound/event seqs whose turn is not committed
//	cid:{id}:<client>  string: seq of the message first stored with that client id (TTL DedupeTTL)
//	dv:{id}            hash: "<seq>:<field>" → delivery fields
//	dp:{id}            zset: pending delivery seqs (score seq)
//	rc:{id}            hash: "<seq>:<part>:p|s|u" → receipt provider id, status, updated
//	lock:{id}          string: the turn lock, "<random>:<fencing token>" (Locker)
//	fence:{id}         counter: the last fencing token granted (Locker)
//	contact:<sha256>   string: conversation id of (channel, contact); hashed to keep contacts out of keys
//	unhandled          set of conversation ids with an unhandled message
//	unhandled_since    zset: conversation id → when (µs) it last stalled: its oldest unhandled message
//	                   was stored, or its last turn committed with messages still unhandled (the
//	                   cross-node sweep, StalledConversations; kept beside "unhandled" by the scripts)
//	due                zset: conversation id → next attempt (µs) of its head-of-line delivery
//	pending            counter of pending deliveries (OutboxDepth)
//	prov:<providerID>  set of "<id>\t<seq>\t<part>" receipts of a provider message
//	bus:{id}           pub/sub channel: wake-ups of the Bus
//
// Scripts that span conversations (DueDeliveries, MarkDeliveryStatus) build keys from the prefix, so the
// package needs one Redis primary (with replicas or Sentinel for failover), not Redis Cluster.
package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"claimline/casesvc"
	"claimline/channels"
)

// Config tunes the Redis implementations; zero values take the defaults.
type Config struct {
	// Prefix starts every key; default "claimline:". Tests use one per test on a shared server.
	Prefix string
	// DedupeTTL is how long a client id is remembered for dedupe; default 7 days (Telegram and Twilio
	// retry for hours at most). A repeat after it is stored again: the one deviation from the Store
	// rule "a repeat stores nothing", traded for bounded memory.
	DedupeTTL time.Duration
	// Now is the clock for created/updated times and inbound messages without a receive time.
	Now func() time.Time
}

func (c *Config) defaults() {
	if c.Prefix == "" {
		c.Prefix = "claimline:"
	}
	if c.DedupeTTL <= 0 {
		c.DedupeTTL = 7 * 24 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Connect parses a redis:// or rediss:// URL (CLAIMLINE_REDIS_URL), connects and checks that the
// server answers. EINVALID for a bad URL, EUNAVAILABLE when Redis does not answer.
//
// The client speaks RESP2 unless the URL asks otherwise (?protocol=3): go-redis's default, RESP3,
// makes every command first look for server push notifications on its connection, which nothing
// here uses (pub/sub has its own connection either way), and that look cost about 9% of a scaled-out
// gateway's CPU.
func Connect(ctx context.Context, url string) (*redis.Client, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, casesvc.Errorf(casesvc.EINVALID, "CLAIMLINE_REDIS_URL: %v", err)
	}
	if opt.Protocol == 0 {
		opt.Protocol = 2
	}
	c := redis.NewClient(opt)
	if err := c.Ping(ctx).Err(); err != nil {
		c.Close()
		return nil, wrap("connect", err)
	}
	return c, nil
}

// Store is a channels.Store on Redis. It does not own the client: close the client yourself.
type Store struct {
	rdb redis.UniversalClient
	cfg Config
	k   keys
	ids contactIDs
}

// New returns a Store on rdb.
func New(rdb redis.UniversalClient, cfg Config) (*Store, error) {
	if rdb == nil {
		return nil, casesvc.Errorf(casesvc.EINVALID, "redisstore: client required")
	}
	cfg.defaults()
	return &Store{rdb: rdb, cfg: cfg, k: keys(cfg.Prefix)}, nil
}

// Ping checks that Redis answers (for /readyz).
func (s *Store) Ping(ctx context.Context) error {
	return wrap("ping", s.rdb.Ping(ctx).Err())
}

// keys builds the key names of one prefix (see the package comment).
type keys string

func (k keys) conv(id string) string        { return string(k) + "conv:{" + id + "}" }
func (k keys) msgs(id string) string        { return string(k) + "msgs:{" + id + "}" }
func (k keys) unh(id string) string         { return string(k) + "unh:{" + id + "}" }
func (k keys) dv(id string) string          { return string(k) + "dv:{" + id + "}" }
func (k keys) dp(id string) string          { return string(k) + "dp:{" + id + "}" }
func (k keys) rc(id string) string          { return string(k) + "rc:{" + id + "}" }
func (k keys) lock(id string) string        { return string(k) + "lock:{" + id + "}" }
func (k keys) fence(id string) string       { return string(k) + "fence:{" + id + "}" }
func (k keys) bus(id string) string         { return string(k) + "bus:{" + id + "}" }
func (k keys) prov(pid string) string       { return string(k) + "prov:" + pid }
func (k keys) unhandled() string            { return string(k) + "unhandled" }
func (k keys) unhandledSince() string       { return string(k) + "unhandled_since" }
func (k keys) due() string                  { return string(k) + "due" }
func (k keys) pending() string              { return string(k) + "pending" }
func (k keys) dedupe(id, cid string) string { return string(k) + "cid:{" + id + "}:" + cid }
func (k keys) contact(channel, contact string) string {
	h := sha256.Sum256([]byte(channel + "\n" + contact))
	return string(k) + "contact:" + hex.EncodeToString(h[:])
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
	at := s.now()
	id := newID()
	res, err := openScript.Run(ctx, s.rdb, []string{s.k.contact(channel, contact), s.k.conv(id)},
		id, channel, contact, lang, stamp(at)).Slice()
	if err != nil {
		return nil, false, wrap("open conversation", err)
	}
	if toInt(res[0]) == 1 {
		return &channels.Conversation{ID: id, Channel: channel, Contact: contact, Lang: lang, Created: at, Updated: at}, true, nil
	}
	c, err := s.Conversation(ctx, res[1].(string)) // a concurrent open got there first
	return c, false, err
}

// OpenConversationID is OpenConversation answering the id alone (channels.ConversationIDOpener): a
// contact seen before costs no round trip, since its conversation id never changes (nothing deletes a
// contact key). Should Redis lose a conversation anyway (a Redis without its append-only file, say),
// AppendInbound's ENOTFOUND forgets the id and the next message opens the conversation afresh.
func (s *Store) OpenConversationID(ctx context.Context, channel, contact, lang string) (string, error) {
	key := s.k.contact(channel, contact)
	if id, ok := s.ids.get(key); ok {
		return id, nil
	}
	c, _, err := s.OpenConversation(ctx, channel, contact, lang)
	if err != nil {
		return "", err
	}
	s.ids.put(key, c.ID)
	return c.ID, nil
}

// FindConversation returns the conversation of (channel, contact) or ENOTFOUND. A contact seen
// before skips the lookup of its id (see OpenConversationID).
func (s *Store) FindConversation(ctx context.Context, channel, contact string) (*channels.Conversation, error) {
	key := s.k.contact(channel, contact)
	if id, ok := s.ids.get(key); ok {
		c, err := s.Conversation(ctx, id)
		if casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
			return c, err
		}
		s.ids.forget(id) // lost by Redis: look the contact up again
	}
	id, err := s.rdb.Get(ctx, key).Result()
	if errors.Is(err, redis.Nil) {
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "Conversation not found.")
	} else if err != nil {
		return nil, wrap("find conversation", err)
	}
	c, err := s.Conversation(ctx, id)
	if err == nil {
		s.ids.put(key, id)
	}
	return c, err
}

// Conversation returns a conversation by id or ENOTFOUND.
func (s *Store) Conversation(ctx context.Context, id string) (*channels.Conversation, error) {
	h, err := s.rdb.HGetAll(ctx, s.k.conv(id)).Result()
	if err != nil {
		return nil, wrap("read conversation", err)
	}
	return conversationOf(h)
}

// conversationOf decodes a conversation hash (HGETALL); ENOTFOUND when it is empty.
func conversationOf(h map[string]string) (*channels.Conversation, error) {
	if len(h) == 0 {
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "Conversation not found.")
	}
	c := &channels.Conversation{
		ID: h["id"], Channel: h["channel"], Contact: h["contact"], Lang: h["lang"],
		Started: h["started"] == "1", Created: parseStamp(h["created"]), Updated: parseStamp(h["updated"]),
	}
	if st, ok := h["state"]; ok {
		c.State = []byte(st)
	}
	c.LastSeq, _ = strconv.ParseInt(h["last_seq"], 10, 64)
	return c, nil
}

// AppendInbound stores a customer message or event with the next seq, deduping on its ClientID, in
// one script: the dedupe key (SET with a TTL), the seq (HINCRBY last_seq), the message and its
// unhandled mark are written together or not at all.
func (s *Store) AppendInbound(ctx context.Context, conversation string, in channels.Inbound) (channels.Message, bool, error) {
	msg, body, err := s.inbound(conversation, in)
	if err != nil {
		return channels.Message{}, false, wrap("append inbound", err)
	}
	hasCID, dedupeKey := s.dedupe(conversation, in.ClientID)
	res, err := appendScript.Run(ctx, s.rdb,
		[]string{s.k.conv(conversation), s.k.msgs(conversation), s.k.unh(conversation), s.k.unhandled(), dedupeKey,
			s.k.unhandledSince()},
		body, hasCID, s.cfg.DedupeTTL.Milliseconds(), stamp(s.now()), conversation, micros(s.now())).Slice()
	if err != nil {
		return channels.Message{}, false, wrap("append inbound", err)
	}
	switch toInt(res[0]) {
	case -1:
		s.ids.forget(conversation)
		return channels.Message{}, false, casesvc.Errorf(casesvc.ENOTFOUND, "Conversation not found.")
	case 0:
		first, err := repeatOf(conversation, res)
		if err != nil {
			return channels.Message{}, false, wrap("append inbound", err)
		}
		return first, true, nil
	}
	msg.Seq = toInt(res[1])
	return msg, false, nil
}

// inbound is the stored form of a customer message or event (no seq, not handled), stamped when it
// was received (now when unset), and its encoded body.
func (s *Store) inbound(conversation string, in channels.Inbound) (channels.Message, string, error) {
	at := in.ReceivedAt
	if at.IsZero() {
		at = s.now()
	}
	msg := channels.Message{
		Conversation: conversation, Direction: channels.DirIn, From: channels.FromCustomer,
		Text: in.Text, Action: in.Action, Lang: in.Lang, ClientID: in.ClientID, TS: at.UTC(),
		Attachments: in.Attachments, Event: in.Event, Notice: in.Notice,
	}
	if in.Event != "" {
		msg.Direction, msg.From = channels.DirEvent, channels.FromSystem
	}
	body, err := encodeMessage(msg)
	return msg, body, err
}

// dedupe is the repeatedInbound prelude's arguments for a client id: "1" and its dedupe key, or "0"
// and an unused key that keeps KEYS' shape.
func (s *Store) dedupe(conversation, clientID string) (hasClientID, key string) {
	if clientID == "" {
		return "0", s.k.conv(conversation)
	}
	return "1", s.k.dedupe(conversation, clientID)
}

// repeatOf decodes the repeatedInbound prelude's answer: the message first stored with the client id.
func repeatOf(conversation string, res []any) (channels.Message, error) {
	return decodeMessage(conversation, toInt(res[1]), res[2].(string), toInt(res[3]) == 0)
}

// CommitTurn stores a turn's replies, state and the inbound's handled mark (or the started mark) in
// one script: all or nothing.
func (s *Store) CommitTurn(ctx context.Context, t channels.Turn) ([]channels.Message, error) {
	return s.commit(ctx, t, 0)
}

// CommitTurnFenced is CommitTurn for a turn run under the conversation's lock (Locker): it commits only
// while the lock granted with token is still held, and fails with channels.ErrStaleFence, storing
// nothing, when the lock expired or a newer token was granted.
func (s *Store) CommitTurnFenced(ctx context.Context, t channels.Turn, token int64) ([]channels.Message, error) {
	if token <= 0 {
		return nil, casesvc.Errorf(casesvc.EINVALID, "redisstore: fencing token required")
	}
	return s.commit(ctx, t, token)
}

func (s *Store) commit(ctx context.Context, t channels.Turn, token int64) ([]channels.Message, error) {
	at := t.At
	if at.IsZero() {
		at = s.now()
	}
	at = at.UTC()
	args := append([]any{t.InboundSeq}, s.turnArgs(t, at)...)
	args = append(args, token, t.Conversation)
	out, err := replyArgs(t, at, &args)
	if err != nil {
		return nil, wrap("commit turn", err)
	}
	id := t.Conversation
	res, err := commitScript.Run(ctx, s.rdb, []string{
		s.k.conv(id), s.k.msgs(id), s.k.unh(id), s.k.unhandled(), s.k.dv(id), s.k.dp(id), s.k.due(),
		s.k.pending(), s.k.lock(id), s.k.unhandledSince(),
	}, args...).Slice()
	if err != nil {
		return nil, wrap("commit turn", err)
	}
	switch toInt(res[0]) {
	case -1:
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "Conversation not found.")
	case -2:
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "Message not found.")
	case -3:
		return nil, channels.ErrStaleFence
	case -4:
		return nil, casesvc.Errorf(casesvc.ECONFLICT, "Turn already committed.")
	}
	last := toInt(res[1])
	first := last - int64(len(out)) + 1
	for i := range out {
		out[i].Seq = first + int64(i)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// turnArgs are a turn's arguments of the storeTurn prelude: hasState state at now deliver nextNanos
// nextMicros.
func (s *Store) turnArgs(t channels.Turn, at time.Time) []any {
	args := []any{"0", "", stamp(at), stamp(s.now()), "0",
		strconv.FormatInt(at.UnixNano(), 10), strconv.FormatInt(micros(at), 10)}
	if t.State != nil {
		args[0], args[1] = "1", string(t.State)
	}
	if t.Deliver {
		args[4] = "1"
	}
	return args
}

// replyArgs appends the encoded replies of t to args and returns them as messages without seqs.
func replyArgs(t channels.Turn, at time.Time, args *[]any) ([]channels.Message, error) {
	out := make([]channels.Message, len(t.Replies))
	for i, r := range t.Replies {
		m := channels.Message{
			Conversation: t.Conversation, Direction: channels.DirOut, From: r.From,
			Text: r.Text, Buttons: r.Buttons, Agent: r.Agent, ReplyTo: t.InboundSeq, TS: at,
		}
		if m.From == "" {
			m.From = channels.FromBot
		}
		if len(m.Buttons) > 0 { // a copy: the caller may change its slice
			m.Buttons = append([]channels.Button(nil), m.Buttons...)
		}
		body, err := encodeMessage(m)
		if err != nil {
			return nil, err
		}
		*args = append(*args, body)
		out[i] = m
	}
	return out, nil
}

// CommitInboundFenced stores a customer message, already handled, as seq lastSeq+1 together with its
// turn (replies from lastSeq+2, the state, deliveries) in one script, while the lock granted with
// token is held (channels.FencedStore: the scaled-out node's one-write turn). Nothing is stored when
// it answers dup (a repeated ClientID: the first message), channels.ErrSeqMoved (something was stored
// in the conversation since lastSeq), channels.ErrStaleFence or ENOTFOUND.
func (s *Store) CommitInboundFenced(ctx context.Context, conversation string, in channels.Inbound, lastSeq int64,
	t channels.Turn, token int64) (channels.Message, []channels.Message, bool, error) {
	if token <= 0 {
		return channels.Message{}, nil, false, casesvc.Errorf(casesvc.EINVALID, "redisstore: fencing token required")
	}
	msg, body, err := s.inbound(conversation, in)
	if err != nil {
		return channels.Message{}, nil, false, wrap("commit inbound", err)
	}
	msg.Seq, msg.Handled = lastSeq+1, true
	hasCID, dedupeKey := s.dedupe(conversation, in.ClientID)
	replyAt := t.At
	if replyAt.IsZero() {
		replyAt = s.now()
	}
	replyAt = replyAt.UTC()
	t.Conversation, t.InboundSeq = conversation, msg.Seq
	args := append([]any{token, lastSeq, body, hasCID, s.cfg.DedupeTTL.Milliseconds()}, s.turnArgs(t, replyAt)...)
	args = append(args, conversation)
	replies, err := replyArgs(t, replyAt, &args)
	if err != nil {
		return channels.Message{}, nil, false, wrap("commit inbound", err)
	}
	id := conversation
	res, err := commitInboundScript.Run(ctx, s.rdb, []string{
		s.k.conv(id), s.k.msgs(id), s.k.unh(id), s.k.dv(id), s.k.dp(id), s.k.due(), s.k.pending(), s.k.lock(id), dedupeKey,
	}, args...).Slice()
	if err != nil {
		return channels.Message{}, nil, false, wrap("commit inbound", err)
	}
	switch toInt(res[0]) {
	case -1:
		s.ids.forget(conversation)
		return channels.Message{}, nil, false, casesvc.Errorf(casesvc.ENOTFOUND, "Conversation not found.")
	case -3:
		return channels.Message{}, nil, false, channels.ErrStaleFence
	case -5:
		return channels.Message{}, nil, false, channels.ErrSeqMoved
	case 0:
		first, err := repeatOf(conversation, res)
		if err != nil {
			return channels.Message{}, nil, false, wrap("commit inbound", err)
		}
		return first, nil, true, nil
	}
	for i := range replies {
		replies[i].Seq = msg.Seq + 1 + int64(i)
	}
	if len(replies) == 0 {
		replies = nil
	}
	return msg, replies, false, nil
}

// Unhandled returns the inbound messages whose turn was never committed, by conversation and seq.
func (s *Store) Unhandled(ctx context.Context) ([]channels.Message, error) {
	ids, err := s.rdb.SMembers(ctx, s.k.unhandled()).Result()
	if err != nil {
		return nil, wrap("unhandled", err)
	}
	sort.Strings(ids)
	var out []channels.Message
	for _, id := range ids {
		msgs, err := s.ConversationUnhandled(ctx, id)
		if err != nil {
			return nil, err
		}
		out = append(out, msgs...)
	}
	return out, nil
}

// StalledConversations returns up to limit conversations (cross-node sweep, channels.StalledLister)
// with an unhandled message that made no progress since before: its oldest unhandled message was
// stored, or its last turn committed, before then. Conversations whose turn lock is held are left
// out: a live node is working on them (a dead node's lock expires after the Locker's TTL). The
// Locker must use the Store's prefix, as Store.CommitTurnFenced already requires.
func (s *Store) StalledConversations(ctx context.Context, before time.Time, limit int) ([]string, error) {
	if limit <= 0 {
		limit = 100
	}
	ids, err := stalledScript.Run(ctx, s.rdb, []string{s.k.unhandledSince()}, string(s.k), micros(before), limit).StringSlice()
	if err != nil {
		return nil, wrap("stalled conversations", err)
	}
	return ids, nil
}

// ConversationUnhandled returns one conversation's unhandled inbound messages in seq order (the
// router's catch-up under the turn lock, see channels.FencedStore).
func (s *Store) ConversationUnhandled(ctx context.Context, conversation string) ([]channels.Message, error) {
	res, err := unhandledScript.Run(ctx, s.rdb, []string{s.k.unh(conversation), s.k.msgs(conversation)}).Slice()
	if err != nil {
		return nil, wrap("unhandled", err)
	}
	out, err := unhandledOf(conversation, res)
	if err != nil {
		return nil, wrap("unhandled", err)
	}
	return out, nil
}

// flatHash is a hash read by HGETALL inside a script (field, value, field, value, …).
func flatHash(flat []any) map[string]string {
	h := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		h[flat[i].(string)] = flat[i+1].(string)
	}
	return h
}

// unhandledOf decodes the {seq, body} rows of unhandled messages, sorted by seq.
func unhandledOf(conversation string, rows []any) ([]channels.Message, error) {
	out := make([]channels.Message, 0, len(rows))
	for _, r := range rows {
		row := r.([]any)
		m, err := decodeMessage(conversation, toInt(row[0]), row[1].(string), false)
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Seq < out[j].Seq })
	return out, nil
}

// MessagesAfter returns up to limit messages with seq > afterSeq, in seq order, read in one script
// (a consistent snapshot of the messages and their handled marks).
func (s *Store) MessagesAfter(ctx context.Context, conversation string, afterSeq int64, limit int) ([]channels.Message, error) {
	if limit <= 0 {
		limit = 100
	}
	if afterSeq < 0 {
		afterSeq = 0
	}
	res, err := messagesScript.Run(ctx, s.rdb,
		[]string{s.k.conv(conversation), s.k.msgs(conversation), s.k.unh(conversation)}, afterSeq, limit).Slice()
	if err != nil {
		return nil, wrap("messages after", err)
	}
	var out []channels.Message
	for _, r := range res {
		row := r.([]any)
		m, err := decodeMessage(conversation, toInt(row[0]), row[1].(string), toInt(row[2]) == 0)
		if err != nil {
			return nil, wrap("messages after", err)
		}
		out = append(out, m)
	}
	return out, nil
}

func (s *Store) now() time.Time { return s.cfg.Now().UTC() }

// encodeMessage is the stored form: the message's JSON without what the keys already say.
func encodeMessage(m channels.Message) (string, error) {
	m.Conversation, m.Seq, m.Handled = "", 0, false
	m.TS = m.TS.UTC()
	b, err := json.Marshal(m)
	return string(b), err
}

// decodeMessage rebuilds a stored message; handled applies to inbound messages and events only.
func decodeMessage(conversation string, seq int64, body string, handled bool) (channels.Message, error) {
	var m channels.Message
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		return m, err
	}
	m.Conversation, m.Seq = conversation, seq
	m.Handled = handled && (m.Direction == channels.DirIn || m.Direction == channels.DirEvent)
	return m, nil
}

// Times are stored as UTC RFC 3339 with nanoseconds, like the SQLite store.
func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func parseStamp(v string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, v)
	return t
}

// micros is a due time as a sorted-set score: whole microseconds fit a float64 exactly.
func micros(t time.Time) int64 { return t.UnixNano() / 1000 }

func toInt(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case string:
		n, _ := strconv.ParseInt(x, 10, 64)
		return n
	}
	return 0
}

// newID returns an unguessable conversation id (the same shape as the SQLite store's).
func newID() string { return channels.NewConversationID() }

// storeError is a Redis failure: its code is EUNAVAILABLE when Redis could not be reached (so a
// webhook answers 503 and the sender retries), EINTERNAL otherwise; the cause stays for the log.
type storeError struct {
	op    string
	code  *casesvc.Error
	cause error
}

func (e *storeError) Error() string   { return "redisstore: " + e.op + ": " + e.cause.Error() }
func (e *storeError) Unwrap() []error { return []error{e.code, e.cause} }

// wrap maps a client error; nil, context errors and application errors pass through.
func wrap(op string, err error) error {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	var app *casesvc.Error
	if errors.As(err, &app) {
		return err
	}
	code := casesvc.Errorf(casesvc.EINTERNAL, "Internal error.")
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, redis.ErrClosed) ||
		errors.Is(err, redis.ErrPoolTimeout) || strings.Contains(err.Error(), "connection refused") ||
		strings.HasPrefix(err.Error(), "LOADING") {
		code = casesvc.Errorf(casesvc.EUNAVAILABLE, "The service is temporarily unavailable.")
	}
	return &storeError{op: op, code: code, cause: err}
}

// Interface guards
var (
	_ channels.Store         = (*Store)(nil)
	_ channels.FencedStore   = (*Store)(nil)
	_ channels.StalledLister = (*Store)(nil)
)
