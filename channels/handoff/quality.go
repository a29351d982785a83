package handoff

import (
	"context"
	crand "crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"claimline/casesvc"
)

// Quality monitoring (domain.md "Quality monitoring"): the durable facts the figures are computed
// from, written as the handoff happens, and the supervisors' reviews.
//
//   - handoff_conversations: one row per conversation, when the customer first wrote in it (noted
//     by Intercept, which the router calls for every customer message, and by RequestHandoff).
//   - handoff_assignments: one row per agent's part of a handoff: assigned (accepted, routed or
//     transferred in), the agent's first message, released (ended, transferred, requeued).
//   - handoff_ratings: the customers' ratings (RecordRating).
//   - quality_reviews: a supervisor's score (1–5) and note of a conversation.
//
// With Config.Redis (several gateway nodes) the same facts are kept in Redis instead, so every
// node's figures, samples and reviews cover the whole deployment: each function below hands over to
// its shared.go counterpart (see "Quality history in Redis" there); the SQLite path is unchanged.

// HandoffRecord is one handoff of a conversation, as the transcript shows it.
type HandoffRecord struct {
	ID         int64     `json:"id"`
	Reason     string    `json:"reason"`
	Priority   string    `json:"priority"`
	Flow       string    `json:"flow,omitempty"`
	State      string    `json:"state"`
	Outcome    string    `json:"outcome,omitempty"` // ended | callback | cancelled
	Resolved   bool      `json:"resolved"`
	Agents     []string  `json:"agents"`
	QueuedAt   time.Time `json:"queued_at"`
	AssignedAt time.Time `json:"assigned_at,omitzero"` // the last assignment
	EndedAt    time.Time `json:"ended_at,omitzero"`
	Rating     *Rating   `json:"rating,omitempty"`
}

// Review is a supervisor's review of a conversation.
type Review struct {
	ID           int64     `json:"id"`
	Conversation string    `json:"conversation"`
	Reviewer     string    `json:"reviewer"`
	Score        int       `json:"score"`
	Note         string    `json:"note"`
	At           time.Time `json:"at"`
	Agents       []string  `json:"agents"` // the agents who handled the conversation
}

// ConversationRecord is a conversation as sampling lists it.
type ConversationRecord struct {
	ID      string    `json:"id"`
	Channel string    `json:"channel"`
	FirstAt time.Time `json:"first_at"` // the customer's first message
	Agents  []string  `json:"agents"`
}

// SampleFilter narrows the conversations sampled for review; zero values mean any.
type SampleFilter struct {
	Count   int
	Since   time.Time
	Channel string
	Agent   string
}

// AgentFigures are one agent's figures over a period.
type AgentFigures struct {
	Agent string `json:"agent"`
	// Chats counts the handoffs given to the agent (accepted, routed or transferred in).
	Chats int `json:"chats"`
	// Answered counts those in which the agent wrote at least once.
	Answered int `json:"answered"`
	// FirstResponse: from assignment to the agent's first message, over the answered ones.
	FirstResponseAvg    float64 `json:"first_response_avg_seconds"`
	FirstResponseMedian float64 `json:"first_response_median_seconds"`
	// Handling: from assignment to the agent's end, transfer or requeue, over the released ones.
	Handled        int     `json:"handled"`
	HandlingAvg    float64 `json:"handling_avg_seconds"`
	HandlingMedian float64 `json:"handling_median_seconds"`
	// Satisfaction: the customers' ratings of handoffs the agent ended.
	SatisfactionMean  float64 `json:"satisfaction_mean"`
	SatisfactionCount int     `json:"satisfaction_count"`
	// Reviews: the supervisors' scores of conversations the agent handled.
	ReviewMean  float64 `json:"review_mean"`
	ReviewCount int     `json:"review_count"`
}

// BotFigures are the bot's figures over the conversations in which the customer first wrote at or
// after a time (docs/console.md, "Quality figures").
type BotFigures struct {
	Conversations int `json:"conversations"`
	// HandedOff counts those with at least one handoff (whatever its outcome); Contained the rest.
	HandedOff int `json:"handed_off"`
	Contained int `json:"contained"`
	// Misunderstood counts those with at least one handoff whose reason is in MisunderstandingReasons.
	Misunderstood        int            `json:"misunderstood"`
	ContainmentRate      float64        `json:"containment_rate"`
	HandoffRate          float64        `json:"handoff_rate"`
	MisunderstandingRate float64        `json:"misunderstanding_rate"`
	ByReason             map[string]int `json:"by_reason"` // handoffs by reason
}

// seenCache remembers the conversations already noted, so Intercept writes once per conversation
// and process; it is cleared when full (a repeat insert is harmless).
type seenCache struct {
	mu sync.Mutex
	m  map[string]struct{}
}

const seenMax = 100_000

func (c *seenCache) add(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[id]; ok {
		return false
	}
	if c.m == nil || len(c.m) >= seenMax {
		c.m = map[string]struct{}{}
	}
	c.m[id] = struct{}{}
	return true
}

// noteConversation records that the customer wrote in a conversation (once per process).
//
// The embedded deployment does not write it here: Intercept runs in every customer turn, and a
// write of its own on the handoff's connection to channels.db took SQLite's write lock away from
// the conversation store's writer (turns waited tens of milliseconds on the busy handler, and each
// such write made the store drop its conversation cache, since another connection had written the
// file). The note is queued instead and written by noteLoop, a batch per transaction, shortly after
// (noteDelay) or at once when noteBatch are waiting; every read of handoff_conversations writes the
// queue first (flushNotes), so the figures, samples and records never miss a queued note, and Close
// writes what is left. A crash loses the notes of the last noteDelay at most: those conversations
// are noted again at their customer's next message (with its time), which the figures tolerate.
func (s *Service) noteConversation(ctx context.Context, conversation, channel string, at time.Time) {
	if !s.seen.add(conversation) {
		return
	}
	if s.sh != nil {
		// Redis: one round trip, no SQLite lock taken; other nodes read it at once.
		s.sh.noteConversation(ctx, s, conversation, channel, at)
		return
	}
	s.notes.add(convNote{conversation: conversation, channel: channel, first: fixedStamp(at)})
}

const (
	// noteDelay is how long a queued note may wait for others before it is written.
	noteDelay = 100 * time.Millisecond
	// noteBatch is how many queued notes are written at once without waiting.
	noteBatch = 256
)

type convNote struct{ conversation, channel, first string }

// noteQueue holds the notes not written yet (see noteConversation).
type noteQueue struct {
	mu      sync.Mutex
	pending []convNote
	kick    chan struct{} // the first note of a batch arrived
	full    chan struct{} // noteBatch notes are waiting
	stop    chan struct{}
	stopped chan struct{}
	// writing serialises the writes, so a flushNotes that returns has seen every earlier note
	// written, including those a concurrent noteLoop had taken.
	writing   sync.Mutex
	closeOnce sync.Once
}

func newNoteQueue() *noteQueue {
	return &noteQueue{kick: make(chan struct{}, 1), full: make(chan struct{}, 1), stop: make(chan struct{}),
		stopped: make(chan struct{})}
}

// close stops noteLoop (idempotent); the caller writes what is left.
func (q *noteQueue) close() {
	q.closeOnce.Do(func() { close(q.stop) })
	<-q.stopped
}

func (q *noteQueue) add(n convNote) {
	q.mu.Lock()
	q.pending = append(q.pending, n)
	l := len(q.pending)
	q.mu.Unlock()
	if l == 1 {
		signal(q.kick)
	}
	if l >= noteBatch {
		signal(q.full)
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// noteLoop writes the queued notes, a batch at a time, until Close.
func (s *Service) noteLoop() {
	q := s.notes
	defer close(q.stopped)
	t := time.NewTimer(noteDelay)
	t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-q.kick:
		case <-q.full:
		}
		t.Reset(noteDelay)
		select {
		case <-q.stop:
			t.Stop()
			return
		case <-t.C:
		case <-q.full:
			t.Stop()
		}
		s.flushNotes(context.Background())
	}
}

// flushNotes writes the queued notes in one transaction (see noteConversation) and counts the
// conversations that were new to the table. A failed write is logged and its notes dropped, as a
// failed single write was.
func (s *Service) flushNotes(ctx context.Context) {
	q := s.notes
	if q == nil {
		return
	}
	q.writing.Lock()
	defer q.writing.Unlock()
	q.mu.Lock()
	batch := q.pending
	q.pending = nil
	q.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	added := 0
	err := s.db.tx(ctx, func(tx *sql.Tx) error {
		added = 0
		st, err := tx.PrepareContext(ctx, `INSERT INTO handoff_conversations (conversation, channel, first_at)
			VALUES (?, ?, ?) ON CONFLICT DO NOTHING`)
		if err != nil {
			return err
		}
		defer st.Close()
		for _, n := range batch {
			res, err := st.ExecContext(ctx, n.conversation, n.channel, n.first)
			if err != nil {
				return err
			}
			if k, _ := res.RowsAffected(); k == 1 {
				added++
			}
		}
		return nil
	})
	if err != nil {
		s.log.Warn("handoff: note conversations", "conversations", len(batch), "err", err)
		return
	}
	for range added {
		s.cfg.Metrics.conversation()
	}
}

// --- assignments (called with s.mu held, like save) ---

func (s *Service) startAssignment(ctx context.Context, h *Hold, how string) {
	if s.sh != nil {
		s.sh.startAssignment(ctx, s, h, how)
		return
	}
	_, err := s.db.w.ExecContext(context.WithoutCancel(ctx), `INSERT INTO handoff_assignments (handoff, conversation,
		channel, agent, how, assigned_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		h.ID, h.Conversation, h.Channel, h.Agent, how, fixedStamp(h.AssignedAt))
	if err != nil {
		s.log.Error("handoff: record assignment", "conversation", h.Conversation, "err", err)
	}
	s.cfg.Metrics.chat(h.Agent)
}

func (s *Service) endAssignment(ctx context.Context, h *Hold, why string) {
	at := s.now()
	if s.sh != nil {
		s.sh.endAssignment(ctx, s, h, why, at)
		return
	}
	var agent, assigned string
	err := s.db.w.QueryRowContext(context.WithoutCancel(ctx), `UPDATE handoff_assignments SET released_at = ?, why = ?
		WHERE handoff = ? AND released_at = '' RETURNING agent, assigned_at`, fixedStamp(at), why, h.ID).Scan(&agent, &assigned)
	if errors.Is(err, sql.ErrNoRows) {
		return
	} else if err != nil {
		s.log.Error("handoff: release assignment", "conversation", h.Conversation, "err", err)
		return
	}
	s.cfg.Metrics.handled(agent, at.Sub(parse(assigned)))
}

func (s *Service) firstReply(ctx context.Context, handoffID int64, agent string, at time.Time) {
	if s.sh != nil {
		s.sh.firstReply(ctx, s, handoffID, agent, at)
		return
	}
	var assigned string
	err := s.db.w.QueryRowContext(context.WithoutCancel(ctx), `UPDATE handoff_assignments SET first_reply_at = ?
		WHERE handoff = ? AND agent = ? AND released_at = '' AND first_reply_at = '' RETURNING assigned_at`,
		fixedStamp(at), handoffID, agent).Scan(&assigned)
	if errors.Is(err, sql.ErrNoRows) {
		return
	} else if err != nil {
		s.log.Error("handoff: record first reply", "err", err)
		return
	}
	s.cfg.Metrics.firstReply(agent, at.Sub(parse(assigned)))
}

// --- reading ---

// History returns every handoff of a conversation, oldest first, with its rating.
func (s *Service) History(ctx context.Context, conversation string) ([]HandoffRecord, error) {
	if s.sh != nil {
		return s.sh.history(ctx, conversation)
	}
	rows, err := s.db.w.QueryContext(ctx, `SELECT id, reason, priority, flow, state, outcome, resolved, agents,
		queued_at, assigned_at, ended_at FROM handoffs WHERE conversation = ? ORDER BY id`, conversation)
	if err != nil {
		return nil, internal("read history", err)
	}
	out := []HandoffRecord{}
	for rows.Next() {
		var h HandoffRecord
		var prio, resolved int
		var agents, queued, assigned, ended string
		if err := rows.Scan(&h.ID, &h.Reason, &prio, &h.Flow, &h.State, &h.Outcome, &resolved, &agents,
			&queued, &assigned, &ended); err != nil {
			rows.Close()
			return nil, internal("scan history", err)
		}
		json.Unmarshal([]byte(agents), &h.Agents)
		if h.Agents == nil {
			h.Agents = []string{}
		}
		h.Priority, h.Resolved = PriorityName(prio), resolved == 1
		h.QueuedAt, h.AssignedAt, h.EndedAt = parse(queued), parse(assigned), parse(ended)
		out = append(out, h)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, internal("read history", err)
	}
	ratings, err := s.db.ratings(ctx, conversation)
	if err != nil {
		return nil, err
	}
	for _, r := range ratings {
		for i := range out {
			if out[i].ID == r.Handoff {
				r := r
				out[i].Rating = &r
			}
		}
	}
	return out, nil
}

// AgentsOf returns every agent who held one of the handoffs, in the order they first did.
func AgentsOf(history []HandoffRecord) []string {
	out := []string{}
	for _, h := range history {
		for _, a := range h.Agents {
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// ConversationRecord returns a conversation's record (ENOTFOUND when the customer never wrote in it).
func (s *Service) ConversationRecord(ctx context.Context, conversation string) (ConversationRecord, error) {
	if s.sh != nil {
		return s.sh.conversationRecord(ctx, conversation)
	}
	s.flushNotes(ctx)
	var r ConversationRecord
	var first string
	err := s.db.w.QueryRowContext(ctx, `SELECT conversation, channel, first_at FROM handoff_conversations WHERE conversation = ?`,
		conversation).Scan(&r.ID, &r.Channel, &first)
	if errors.Is(err, sql.ErrNoRows) {
		return r, casesvc.Errorf(casesvc.ENOTFOUND, "No such conversation.")
	} else if err != nil {
		return r, internal("read conversation", err)
	}
	r.FirstAt = parse(first)
	return r, nil
}

// Sample picks up to f.Count conversations at random (math/rand/v2 ChaCha8 seeded from
// crypto/rand) among those matching f that no supervisor has reviewed yet; available is how many
// matched.
func (s *Service) Sample(ctx context.Context, f SampleFilter) (picked []ConversationRecord, available int, err error) {
	if s.sh != nil {
		all, err := s.sh.sampleCandidates(ctx, f)
		if err != nil {
			return nil, 0, err
		}
		return s.pick(ctx, all, f.Count)
	}
	s.flushNotes(ctx)
	q := `SELECT c.conversation, c.channel, c.first_at FROM handoff_conversations c
		WHERE c.first_at >= ? AND NOT EXISTS (SELECT 1 FROM quality_reviews r WHERE r.conversation = c.conversation)`
	args := []any{fixedStamp(f.Since)}
	if f.Channel != "" {
		q += ` AND c.channel = ?`
		args = append(args, f.Channel)
	}
	if f.Agent != "" {
		q += ` AND EXISTS (SELECT 1 FROM handoff_assignments a WHERE a.conversation = c.conversation AND a.agent = ?)`
		args = append(args, f.Agent)
	}
	rows, err := s.db.w.QueryContext(ctx, q+` ORDER BY c.first_at`, args...)
	if err != nil {
		return nil, 0, internal("sample", err)
	}
	var all []ConversationRecord
	for rows.Next() {
		var r ConversationRecord
		var first string
		if err := rows.Scan(&r.ID, &r.Channel, &first); err != nil {
			rows.Close()
			return nil, 0, internal("scan sample", err)
		}
		r.FirstAt = parse(first)
		all = append(all, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, 0, internal("sample", err)
	}
	return s.pick(ctx, all, f.Count)
}

// pick draws up to n of all at random, with their agents; available is len(all).
func (s *Service) pick(ctx context.Context, all []ConversationRecord, n int) (picked []ConversationRecord, available int, err error) {
	var seed [32]byte
	crand.Read(seed[:])
	rng := rand.New(rand.NewChaCha8(seed))
	n = max(min(n, len(all)), 0)
	// A partial Fisher–Yates shuffle: the first n are a uniform sample without repeats.
	for i := 0; i < n; i++ {
		j := i + rng.IntN(len(all)-i)
		all[i], all[j] = all[j], all[i]
	}
	picked = all[:n]
	for i := range picked {
		hist, err := s.History(ctx, picked[i].ID)
		if err != nil {
			return nil, 0, err
		}
		picked[i].Agents = AgentsOf(hist)
	}
	return picked, len(all), nil
}

// RecordReview stores a supervisor's review (score 1–5, note up to 2000 characters); a second
// review of the same conversation by the same reviewer replaces the first. EINVALID.
func (s *Service) RecordReview(ctx context.Context, reviewer, conversation string, score int, note string) (Review, error) {
	note = strings.TrimSpace(note)
	switch {
	case conversation == "":
		return Review{}, casesvc.Errorf(casesvc.EINVALID, "conversation is required.")
	case score < 1 || score > 5:
		return Review{}, casesvc.Errorf(casesvc.EINVALID, "score is 1 to 5.")
	case utf8.RuneCountInString(note) > 2000:
		return Review{}, casesvc.Errorf(casesvc.EINVALID, "note is at most 2000 characters.")
	}
	r := Review{Conversation: conversation, Reviewer: reviewer, Score: score, Note: note, At: s.now()}
	var err error
	if s.sh != nil {
		r.ID, err = s.sh.putReview(ctx, r)
		if err != nil {
			return Review{}, err
		}
		hist, err := s.History(ctx, conversation)
		if err != nil {
			return Review{}, err
		}
		r.Agents = AgentsOf(hist)
		return r, nil
	}
	err = s.db.w.QueryRowContext(ctx, `INSERT INTO quality_reviews (conversation, reviewer, score, note, at)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (conversation, reviewer) DO UPDATE SET score = excluded.score,
		note = excluded.note, at = excluded.at RETURNING id`, conversation, reviewer, score, note, fixedStamp(r.At)).Scan(&r.ID)
	if err != nil {
		return Review{}, internal("record review", err)
	}
	hist, err := s.History(ctx, conversation)
	if err != nil {
		return Review{}, err
	}
	r.Agents = AgentsOf(hist)
	return r, nil
}

// Reviews lists reviews at or after since, of conversations agent handled ("" any), newest first.
func (s *Service) Reviews(ctx context.Context, agent string, since time.Time) ([]Review, error) {
	if s.sh != nil {
		out, err := s.sh.reviews(ctx, agent, since)
		if err != nil {
			return nil, err
		}
		for i := range out {
			hist, err := s.History(ctx, out[i].Conversation)
			if err != nil {
				return nil, err
			}
			out[i].Agents = AgentsOf(hist)
		}
		return out, nil
	}
	q := `SELECT id, conversation, reviewer, score, note, at FROM quality_reviews r WHERE at >= ?`
	args := []any{fixedStamp(since)}
	if agent != "" {
		q += ` AND EXISTS (SELECT 1 FROM handoff_assignments a WHERE a.conversation = r.conversation AND a.agent = ?)`
		args = append(args, agent)
	}
	rows, err := s.db.w.QueryContext(ctx, q+` ORDER BY at DESC, id DESC LIMIT 1000`, args...)
	if err != nil {
		return nil, internal("read reviews", err)
	}
	out := []Review{}
	for rows.Next() {
		var r Review
		var at string
		if err := rows.Scan(&r.ID, &r.Conversation, &r.Reviewer, &r.Score, &r.Note, &at); err != nil {
			rows.Close()
			return nil, internal("scan review", err)
		}
		r.At = parse(at)
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, internal("read reviews", err)
	}
	for i := range out {
		hist, err := s.History(ctx, out[i].Conversation)
		if err != nil {
			return nil, err
		}
		out[i].Agents = AgentsOf(hist)
	}
	return out, nil
}

// AgentFigures computes every agent's figures for the assignments made at or after since, the
// ratings given and the reviews made at or after since; agents by name.
func (s *Service) AgentFigures(ctx context.Context, since time.Time) ([]AgentFigures, error) {
	if s.sh != nil {
		return s.sh.agentFigures(ctx, since)
	}
	figs := figuresAcc{}
	get := figs.get
	rows, err := s.db.w.QueryContext(ctx, `SELECT handoff, agent, assigned_at, first_reply_at, released_at
		FROM handoff_assignments WHERE assigned_at >= ?`, fixedStamp(since))
	if err != nil {
		return nil, internal("agent figures", err)
	}
	for rows.Next() {
		var id int64
		var agent, assigned, first, released string
		if err := rows.Scan(&id, &agent, &assigned, &first, &released); err != nil {
			rows.Close()
			return nil, internal("scan assignment", err)
		}
		figs.assignment(id, agent, parse(assigned), parse(first), parse(released))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, internal("agent figures", err)
	}
	// Ratings: their times are RFC 3339 text of varying width; filter exactly after parsing.
	rrows, err := s.db.w.QueryContext(ctx, `SELECT agent, score, at FROM handoff_ratings WHERE at >= ? AND agent <> ''`,
		stamp(since.Add(-time.Second)))
	if err != nil {
		return nil, internal("agent ratings", err)
	}
	for rrows.Next() {
		var agent, at string
		var score int
		if err := rrows.Scan(&agent, &score, &at); err != nil {
			rrows.Close()
			return nil, internal("scan rating", err)
		}
		if parse(at).Before(since) {
			continue
		}
		a := get(agent)
		a.rating += score
		a.f.SatisfactionCount++
	}
	rrows.Close()
	if err := rrows.Err(); err != nil {
		return nil, internal("agent ratings", err)
	}
	vrows, err := s.db.w.QueryContext(ctx, `SELECT DISTINCT a.agent, r.id, r.score FROM quality_reviews r
		JOIN handoff_assignments a ON a.conversation = r.conversation WHERE r.at >= ?`, fixedStamp(since))
	if err != nil {
		return nil, internal("agent reviews", err)
	}
	for vrows.Next() {
		var agent string
		var id int64
		var score int
		if err := vrows.Scan(&agent, &id, &score); err != nil {
			vrows.Close()
			return nil, internal("scan review", err)
		}
		a := get(agent)
		a.review += score
		a.f.ReviewCount++
	}
	vrows.Close()
	if err := vrows.Err(); err != nil {
		return nil, internal("agent reviews", err)
	}
	return figs.figures(), nil
}

// figuresAcc accumulates the agents' figures (AgentFigures) by agent.
type figuresAcc map[string]*figureAcc

type figureAcc struct {
	f        AgentFigures
	handoffs map[int64]bool
	answered map[int64]bool
	first    []float64
	handling []float64
	rating   int
	review   int
}

func (m figuresAcc) get(name string) *figureAcc {
	a := m[name]
	if a == nil {
		a = &figureAcc{f: AgentFigures{Agent: name}, handoffs: map[int64]bool{}, answered: map[int64]bool{}}
		m[name] = a
	}
	return a
}

// assignment counts one agent's part of a handoff; first and released are zero when not yet.
func (m figuresAcc) assignment(handoff int64, agent string, assigned, first, released time.Time) {
	a := m.get(agent)
	a.handoffs[handoff] = true
	if !first.IsZero() {
		a.answered[handoff] = true
		a.first = append(a.first, first.Sub(assigned).Seconds())
	}
	if !released.IsZero() {
		a.handling = append(a.handling, released.Sub(assigned).Seconds())
	}
}

func (m figuresAcc) figures() []AgentFigures {
	out := make([]AgentFigures, 0, len(m))
	for _, a := range m {
		f := a.f
		f.Chats, f.Answered, f.Handled = len(a.handoffs), len(a.answered), len(a.handling)
		f.FirstResponseAvg, f.FirstResponseMedian = avg(a.first), median(a.first)
		f.HandlingAvg, f.HandlingMedian = avg(a.handling), median(a.handling)
		if f.SatisfactionCount > 0 {
			f.SatisfactionMean = round2(float64(a.rating) / float64(f.SatisfactionCount))
		}
		if f.ReviewCount > 0 {
			f.ReviewMean = round2(float64(a.review) / float64(f.ReviewCount))
		}
		out = append(out, f)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Agent < out[j].Agent })
	return out
}

// BotFigures computes the bot's figures over the conversations whose customer first wrote at or
// after since: containment (no handoff at all) / conversations, handoff rate = 1 − containment, and
// misunderstanding rate = conversations with a handoff for repeated_misunderstanding or
// field_retries / conversations. ByReason counts those conversations' handoffs by reason.
func (s *Service) BotFigures(ctx context.Context, since time.Time) (BotFigures, error) {
	f := BotFigures{ByReason: map[string]int{}}
	if s.sh != nil {
		handed, missed, err := s.sh.botFigures(ctx, since, &f)
		if err != nil {
			return f, err
		}
		return botRates(f, handed, missed), nil
	}
	s.flushNotes(ctx)
	err := s.db.w.QueryRowContext(ctx, `SELECT COUNT(*) FROM handoff_conversations WHERE first_at >= ?`,
		fixedStamp(since)).Scan(&f.Conversations)
	if err != nil {
		return f, internal("bot figures", err)
	}
	rows, err := s.db.w.QueryContext(ctx, `SELECT h.conversation, h.reason FROM handoffs h
		JOIN handoff_conversations c ON c.conversation = h.conversation WHERE c.first_at >= ?`, fixedStamp(since))
	if err != nil {
		return f, internal("bot figures", err)
	}
	handed, missed := map[string]bool{}, map[string]bool{}
	for rows.Next() {
		var conv, reason string
		if err := rows.Scan(&conv, &reason); err != nil {
			rows.Close()
			return f, internal("scan handoff", err)
		}
		handed[conv] = true
		if slices.Contains(MisunderstandingReasons, reason) {
			missed[conv] = true
		}
		f.ByReason[reasonLabel(reason)]++
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return f, internal("bot figures", err)
	}
	return botRates(f, handed, missed), nil
}

// botRates completes f (Conversations and ByReason counted) from the conversations handed off and
// misunderstood.
func botRates(f BotFigures, handed, missed map[string]bool) BotFigures {
	f.HandedOff, f.Misunderstood = len(handed), len(missed)
	f.Contained = max(f.Conversations-f.HandedOff, 0)
	if f.Conversations > 0 {
		n := float64(f.Conversations)
		f.ContainmentRate = round4(float64(f.Contained) / n)
		f.HandoffRate = round4(float64(f.HandedOff) / n)
		f.MisunderstandingRate = round4(float64(f.Misunderstood) / n)
	}
	return f
}

func avg(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	t := 0.0
	for _, x := range v {
		t += x
	}
	return round2(t / float64(len(v)))
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	c := slices.Clone(v)
	slices.Sort(c)
	if len(c)%2 == 1 {
		return round2(c[len(c)/2])
	}
	return round2((c[len(c)/2-1] + c[len(c)/2]) / 2)
}

func round2(x float64) float64 { return float64(int64(x*100+0.5)) / 100 }
func round4(x float64) float64 { return float64(int64(x*10000+0.5)) / 10000 }
