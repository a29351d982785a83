// Package handoff is human handoff: the durable queue of conversations waiting for a person, the
// routing of them to agents (priority, then wait; role and skill; least load; a number of chats at
// once per agent), agent presence, call-back tasks and satisfaction ratings.
//
// It implements dialog.Handoff (the dialog asks for a person) and channels.Handoffs (the router asks
// who holds a conversation). Messages never bypass the router: customer messages of a held
// conversation are stored and sequenced as always and kept from the dialog; an agent's message is an
// event (channels.EventAgentMessage) whose turn stores it as an outbound message From "agent"; each
// step the customer is told about is an event (channels.EventHandoff) whose turn says it, and whose
// "ended" step runs the dialog's handback turn. So every channel (web chat, REST, Telegram, SMS via
// the outbox) carries the handoff without knowing about it.
//
// Lifecycle: New, pass the Service as dialog.Config.Handoff and channels.RouterConfig.Handoffs (or
// Router.SetHandoffs), Attach the router before Router.Recover, Run in a goroutine until shutdown,
// then Close after Router.Close.
package handoff

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/redis/go-redis/v9"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/dialog"
)

// Hold states.
const (
	StateQueued   = "queued"
	StateAssigned = "assigned"
	StateCallback = "callback" // the customer chose a call-back and is writing the note
	StateClosed   = "closed"
)

// Priorities, first served first.
const (
	PriorityComplaint = 0
	PriorityGreen     = 1
	PriorityNormal    = 2
)

// PriorityName is the wire name of a priority: complaint, green_channel, normal.
func PriorityName(p int) string {
	switch p {
	case PriorityComplaint:
		return "complaint"
	case PriorityGreen:
		return "green_channel"
	}
	return "normal"
}

// Customer button values of the handoff (channels.Button.Value).
const (
	ActionCallback = "handoff:callback"
	ActionWait     = "handoff:wait"
	ActionCancel   = "handoff:cancel"
)

// Cases is what routing needs from the case service: casesvc.Service satisfies it.
type Cases interface {
	CasesByPolicy(ctx context.Context, number string) ([]*casesvc.Case, error)
}

// Config holds the Service's dependencies. Path is required.
type Config struct {
	// Path is the SQLite file of holds, call-back tasks and ratings. It should be a file of its own:
	// in the conversation store's file every handoff write would empty that store's cache (it sees
	// another connection's commit) and wait for its write lock.
	Path string
	// MoveFrom is an older file that may hold these tables (the conversation store's, before they got
	// their own): at open their rows are moved into Path, once (moveFrom).
	MoveFrom string
	Router   *channels.Router // may be given later with Attach
	Cases    Cases            // optional: green-channel priority from the customer's cases
	// MaxChats is how many conversations an agent holds at once; default 3. PerAgent overrides it
	// per staff name.
	MaxChats int
	PerAgent map[string]int
	// Skills limits staff names to reasons or flows ("complaint", "file_claim"); an agent without
	// an entry takes everything.
	Skills map[string][]string
	// MaxWait is the wait after which the customer is offered a call-back; default 5 minutes.
	MaxWait time.Duration
	// Hours are the staffed hours; zero value: DefaultHours (Mon–Fri 09:00–18:00 Asia/Taipei).
	Hours  Hours
	Tick   time.Duration // how often waits are checked; default 5s
	Logger *slog.Logger
	Now    func() time.Time
	// Metrics records the agents' and the handoffs' metrics (NewMetrics); nil records nothing.
	Metrics *Metrics

	// Redis, when set (several gateway nodes), holds the live state every node shares: active
	// holds, the queue, agents and their presence, call-back tasks and ratings; Path is then this
	// node's history for the quality figures (see shared.go). RedisPrefix starts the keys (default
	// "claimline:", the same on every node); Node names this process (default random); PresenceTTL
	// is how long an agent stays online after their node stops refreshing it (default 30s).
	Redis       redis.UniversalClient
	RedisPrefix string
	Node        string
	PresenceTTL time.Duration
}

// Hold is a conversation a person holds or is about to: queued, with an agent, or leaving a
// call-back note. Slots are personal data: never log them.
type Hold struct {
	ID           int64             `json:"id"`
	Conversation string            `json:"conversation"`
	Channel      string            `json:"channel"`
	Lang         string            `json:"lang"`
	State        string            `json:"state"`
	Priority     int               `json:"-"`
	Reason       string            `json:"reason"`
	Flow         string            `json:"flow,omitempty"`
	Slots        map[string]string `json:"slots,omitempty"`
	PolicyNumber string            `json:"policy_number,omitempty"`
	Agent        string            `json:"agent,omitempty"` // staff name while assigned
	Agents       []string          `json:"agents,omitempty"`
	Announced    int               `json:"-"`
	Offered      bool              `json:"-"`
	Resolved     bool              `json:"-"`
	Outcome      string            `json:"-"`
	QueuedAt     time.Time         `json:"queued_at"`
	AssignedAt   time.Time         `json:"assigned_at,omitzero"`
	EndedAt      time.Time         `json:"-"`

	pending  bool      // the requesting turn is not committed yet: not routed or announced
	created  time.Time // in-memory, for the pending fallback
	skip     string    // not routed back automatically to the agent who returned it
	reminded bool      // the customer was told their position since the last announcement
}

// Task is a call-back request left by a customer.
type Task struct {
	ID           int64     `json:"id"`
	Handoff      int64     `json:"-"`
	Conversation string    `json:"conversation"`
	Channel      string    `json:"channel"`
	Lang         string    `json:"lang"`
	Reason       string    `json:"reason"`
	Note         string    `json:"note"`
	SourceSeq    int64     `json:"seq"`
	State        string    `json:"state"` // open | done
	DoneBy       string    `json:"done_by,omitempty"`
	Created      time.Time `json:"created_at"`
	Done         time.Time `json:"done_at,omitzero"`
}

// Rating is a customer's satisfaction with one handoff.
type Rating struct {
	Handoff      int64     `json:"handoff"`
	Conversation string    `json:"conversation"`
	Agent        string    `json:"agent"`
	Score        int       `json:"score"`
	Comment      string    `json:"comment,omitempty"`
	At           time.Time `json:"at"`
}

// QueueItem is a waiting conversation as the console shows it.
type QueueItem struct {
	Conversation string        `json:"conversation"`
	Position     int           `json:"position"`
	Channel      string        `json:"channel"`
	Lang         string        `json:"lang"`
	Priority     string        `json:"priority"`
	Reason       string        `json:"reason"`
	Flow         string        `json:"flow,omitempty"`
	QueuedAt     time.Time     `json:"queued_at"`
	Wait         time.Duration `json:"-"`
}

// AgentInfo is an agent's presence and load.
type AgentInfo struct {
	Name   string       `json:"name"`
	Role   casesvc.Role `json:"role"`
	Online bool         `json:"online"`
	Ready  bool         `json:"ready"`
	Load   int          `json:"load"`
	Max    int          `json:"max"`
}

// Event tells watchers (the console) what changed.
type Event struct {
	Kind         string // EventQueue, EventAssigned, EventReleased, EventTasks, EventAgents
	Conversation string
	Agent        string // staff name (assigned to, or released by)
	Why          string // with EventReleased: ended, transferred, requeued
}

// Event kinds.
const (
	EventQueue    = "queue"
	EventAssigned = "assigned"
	EventReleased = "released"
	EventTasks    = "tasks"
	EventAgents   = "agents"
)

type agentState struct {
	staff        casesvc.Staff
	conns        int
	ready        bool
	lastAssigned time.Time
}

// Service is the handoff queue, routing and presence.
type Service struct {
	cfg Config
	db  *db
	st  backend // db, or Redis with Config.Redis
	sh  *shared // nil without Config.Redis
	tok string  // the cluster-wide lock's token while a change runs (s.mu)
	log *slog.Logger
	now func() time.Time

	mu        sync.Mutex
	router    *channels.Router
	holds     map[string]*Hold // active, by conversation
	agents    map[string]*agentState
	listeners map[int]func(Event)
	nextL     int

	seen  seenCache  // conversations already noted in handoff_conversations
	notes *noteQueue // embedded: notes not written yet (noteConversation); nil with Redis

	// queuedHere (with Redis only) are the conversations whose hold this process queued
	// (RequestHandoff) and whose turn's AfterTurn has not run yet. AfterTurn reads the shared holds
	// only for them: a pending hold is made by RequestHandoff alone, and the turn that asked for it
	// runs its AfterTurn under the same conversation lock (should this process die first, the tick
	// announces the hold after 15 s, as it did before).
	queuedMu   sync.Mutex
	queuedHere map[string]struct{}
}

type effect struct {
	conv string
	upd  channels.HandoffUpdate
}

// New opens the store and loads the active holds (a restart keeps every conversation held).
func New(cfg Config) (*Service, error) {
	if cfg.Path == "" {
		return nil, casesvc.Errorf(casesvc.EINVALID, "handoff: Path required")
	}
	if cfg.MaxChats <= 0 {
		cfg.MaxChats = 3
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 5 * time.Minute
	}
	if !cfg.Hours.Always && len(cfg.Hours.Days) == 0 {
		cfg.Hours = DefaultHours(cfg.Hours.Location)
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 5 * time.Second
	}
	s := &Service{cfg: cfg, log: cfg.Logger, now: cfg.Now, router: cfg.Router,
		holds: map[string]*Hold{}, agents: map[string]*agentState{}, listeners: map[int]func(Event){}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.now == nil {
		s.now = time.Now
	}
	d, err := openDB(cfg.Path)
	if err != nil {
		return nil, err
	}
	if cfg.MoveFrom != "" && cfg.MoveFrom != cfg.Path {
		moved, err := d.moveFrom(context.Background(), cfg.MoveFrom)
		if err != nil {
			d.close()
			return nil, err
		}
		if moved > 0 {
			s.log.Info("handoff tables moved to their own file", "rows", moved)
		}
	}
	s.db, s.st = d, d
	if cfg.Redis != nil {
		s.sh = newShared(cfg)
		s.st = &redisBackend{sh: s.sh, log: s.log}
		s.sh.listen(s)
		return s, nil
	}
	holds, err := d.activeHolds(context.Background())
	if err != nil {
		d.close()
		return nil, err
	}
	for _, h := range holds {
		s.holds[h.Conversation] = h
	}
	s.notes = newNoteQueue()
	go s.noteLoop()
	return s, nil
}

// Attach gives the service its router (when it could not be in Config: the router needs the
// dialog, which needs the service). Call it before Router.Recover.
func (s *Service) Attach(r *channels.Router) {
	s.mu.Lock()
	s.router = r
	s.mu.Unlock()
	r.SetHandoffs(s)
}

// Close closes the store. Call it after Router.Close.
func (s *Service) Close() error {
	if s.sh != nil {
		s.sh.close()
	}
	if s.notes != nil {
		s.notes.close()
		s.flushNotes(context.Background()) // what the loop left
	}
	return s.db.close()
}

// begin starts a change: s.mu and, with Redis, the cluster-wide lock and a fresh read of the shared
// state. end (always called after a nil error) writes the changes back and releases both.
func (s *Service) begin(ctx context.Context) error {
	s.mu.Lock()
	if s.sh == nil {
		return nil
	}
	tok, err := s.sh.lock(ctx)
	if err != nil {
		s.mu.Unlock()
		s.log.Error("handoff: shared lock", "err", err)
		return err
	}
	if err := s.sh.load(ctx, s); err != nil {
		s.sh.unlock(tok)
		s.mu.Unlock()
		s.log.Error("handoff: shared state", "err", err)
		return err
	}
	s.tok = tok
	return nil
}

func (s *Service) end(ctx context.Context) {
	if s.sh != nil {
		if err := s.sh.store(ctx, s); err != nil {
			s.log.Error("handoff: shared state", "err", err)
		}
		s.sh.unlock(s.tok)
		s.tok = ""
	}
	s.mu.Unlock()
}

// view takes s.mu for a read and, with Redis, re-reads the shared state (on failure the last read
// answers).
func (s *Service) view() {
	s.mu.Lock()
	if s.sh != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.sh.load(ctx, s); err != nil {
			s.log.Error("handoff: shared state", "err", err)
		}
	}
}

// Run checks waits (call-back offers) and routes until ctx ends.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.cfg.Tick)
	defer t.Stop()
	var beat <-chan time.Time
	if s.sh != nil {
		hb := time.NewTicker(s.sh.ttl / 3)
		defer hb.Stop()
		beat = hb.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.tick(ctx)
		case <-beat:
			// Presence: this node's agents stay online; a dead node's go offline.
			if expired, err := s.sh.heartbeat(ctx); err != nil {
				s.log.Warn("handoff: presence heartbeat", "err", err)
			} else if expired {
				s.emit(Event{Kind: EventAgents})
			}
		}
	}
}

func (s *Service) tick(ctx context.Context) {
	if s.begin(ctx) != nil {
		return
	}
	now := s.now()
	var fx []effect
	var ev []Event
	for _, h := range s.holds {
		// A turn that asked for a person but never committed (or a restart): route it anyway.
		if h.pending && now.Sub(h.created) > 15*time.Second {
			h.pending = false
		}
		if h.State == StateQueued && !h.pending && h.Announced > 0 && !h.Offered && now.Sub(h.QueuedAt) >= s.cfg.MaxWait {
			h.Offered = true
			s.save(ctx, h)
			fx = append(fx, effect{h.Conversation, channels.HandoffUpdate{State: channels.HandoffQueued,
				Position: s.positionLocked(h), Text: say(h.Lang, "long_wait"), Buttons: callbackButtons(h.Lang)}})
		}
	}
	fx, ev = s.routeLocked(ctx, fx, ev)
	var repair []Event
	if s.sh != nil {
		repair = s.sh.changed(s)
	}
	s.end(ctx)
	s.flush(ctx, fx, ev)
	for _, e := range repair {
		s.emitLocal(e)
	}
}

// RequestHandoff queues a conversation for a person (dialog.Handoff). It is idempotent per
// conversation: while a hold is active a repeat (a replayed turn) changes nothing.
func (s *Service) RequestHandoff(ctx context.Context, r dialog.HandoffRequest) error {
	if r.Conversation == "" {
		return casesvc.Errorf(casesvc.EINVALID, "Conversation required.")
	}
	var held bool
	if s.sh != nil {
		var err error
		if held, err = s.sh.held(ctx, r.Conversation); err != nil {
			return err
		}
	} else {
		s.mu.Lock()
		_, held = s.holds[r.Conversation]
		s.mu.Unlock()
	}
	if held {
		return nil
	}
	now := s.now()
	h := &Hold{Conversation: r.Conversation, Channel: r.Channel, Lang: r.Lang, State: StateQueued,
		Priority: s.priority(ctx, r), Reason: r.Reason, Flow: r.Flow, Slots: r.Slots, PolicyNumber: r.PolicyNumber,
		QueuedAt: now, pending: true, created: now}
	if err := s.begin(ctx); err != nil {
		return err
	}
	if _, held := s.holds[r.Conversation]; held {
		s.end(ctx)
		return nil
	}
	if err := s.st.insertHold(ctx, h); err != nil {
		s.end(ctx)
		if casesvc.ErrorCode(err) == casesvc.ECONFLICT {
			return nil
		}
		s.log.Error("handoff: queue", "conversation", r.Conversation, "err", err)
		return err
	}
	s.holds[h.Conversation] = h
	s.end(ctx)
	if s.sh != nil {
		s.queuedMu.Lock()
		if s.queuedHere == nil {
			s.queuedHere = make(map[string]struct{})
		}
		s.queuedHere[h.Conversation] = struct{}{}
		s.queuedMu.Unlock()
	}
	s.noteConversation(ctx, h.Conversation, h.Channel, now)
	s.cfg.Metrics.handoff(h.Reason)
	s.log.Info("handoff queued", "conversation", h.Conversation, "priority", PriorityName(h.Priority), "reason", h.Reason)
	s.emit(Event{Kind: EventQueue, Conversation: h.Conversation})
	return nil
}

// priority: complaints first, then green-channel customers, then everyone else.
func (s *Service) priority(ctx context.Context, r dialog.HandoffRequest) int {
	if strings.Contains(r.Reason, "complaint") || strings.Contains(r.Flow, "complaint") {
		return PriorityComplaint
	}
	if s.cfg.Cases != nil && r.PolicyNumber != "" {
		if cases, err := s.cfg.Cases.CasesByPolicy(ctx, r.PolicyNumber); err == nil {
			for _, c := range cases {
				if c.Priority == "green_channel" && c.Status != casesvc.StatusClosed && c.Status != casesvc.StatusPaid {
					return PriorityGreen
				}
			}
		}
	}
	return PriorityNormal
}

// AfterTurn (channels.Handoffs) routes and announces a hold once the turn that asked for it is
// committed, so the announcement follows the turn's own replies.
func (s *Service) AfterTurn(ctx context.Context, conversation string) {
	if s.sh != nil {
		s.queuedMu.Lock()
		_, queued := s.queuedHere[conversation]
		delete(s.queuedHere, conversation)
		s.queuedMu.Unlock()
		if !queued {
			return // no turn here queued a hold: nothing is pending (see queuedHere)
		}
		if held, err := s.sh.held(ctx, conversation); err != nil || !held {
			return
		}
	}
	if s.begin(ctx) != nil {
		return
	}
	h := s.holds[conversation]
	if h == nil || !h.pending {
		s.end(ctx)
		return
	}
	h.pending = false
	fx, ev := s.routeLocked(ctx, nil, nil)
	s.end(ctx)
	s.flush(ctx, fx, ev)
}

// noteCustomer records, for the quality figures, that the conversation heard from its customer (m
// from the customer; other messages are not noted).
func (s *Service) noteCustomer(ctx context.Context, conv *channels.Conversation, m channels.Message) {
	if m.Direction != channels.DirIn {
		return
	}
	at := m.TS
	if at.IsZero() {
		at = s.now()
	}
	s.noteConversation(ctx, conv.ID, conv.Channel, at)
}

// Intercept (channels.Handoffs) keeps the customer messages of a held conversation from the dialog.
func (s *Service) Intercept(ctx context.Context, conv *channels.Conversation, m channels.Message) (bool, []channels.Message, error) {
	s.noteCustomer(ctx, conv, m)
	if s.sh != nil {
		// Most messages are not held: one read, no lock.
		if held, err := s.sh.held(ctx, conv.ID); err != nil || !held {
			return false, nil, err
		}
	}
	if err := s.begin(ctx); err != nil {
		return false, nil, err
	}
	h := s.holds[conv.ID]
	if h == nil {
		s.end(ctx)
		return false, nil, nil
	}
	var out []channels.Message
	var fx []effect
	var ev []Event
	lang := h.Lang
	switch h.State {
	case StateAssigned:
		// The agent's console receives it from the bus.
	case StateCallback:
		if m.Action == ActionWait {
			h.State, h.Announced, h.reminded = StateQueued, 0, true
			s.save(ctx, h)
			break
		}
		note := strings.TrimSpace(m.Text)
		if note == "" && len(m.Attachments) > 0 {
			note = "(attachment)"
		}
		t := &Task{Handoff: h.ID, Conversation: h.Conversation, Channel: h.Channel, Lang: h.Lang, Reason: h.Reason,
			Note: note, SourceSeq: m.Seq, Created: s.now()}
		if err := s.st.insertTask(ctx, t); err != nil {
			s.end(ctx)
			return true, nil, err
		}
		s.closeLocked(ctx, h, "callback", false)
		out = append(out, channels.Message{Text: say(lang, "callback_done")})
		ev = append(ev, Event{Kind: EventTasks}, Event{Kind: EventQueue, Conversation: h.Conversation})
	case StateQueued:
		switch m.Action {
		case ActionCallback:
			h.State = StateCallback
			s.save(ctx, h)
			out = append(out, channels.Message{Text: say(lang, "callback_prompt"),
				Buttons: []channels.Button{{Label: say(lang, "btn.wait"), Value: ActionWait}}})
			ev = append(ev, Event{Kind: EventQueue, Conversation: h.Conversation})
		case ActionCancel:
			s.closeLocked(ctx, h, "cancelled", false)
			out = append(out, channels.Message{Text: say(lang, "cancelled")})
			ev = append(ev, Event{Kind: EventQueue, Conversation: h.Conversation})
		case ActionWait:
			out = append(out, channels.Message{Text: say(lang, "wait", "n", s.positionLocked(h))})
			h.reminded = true
		default:
			if !h.reminded && !h.pending {
				h.reminded = true
				out = append(out, channels.Message{Text: say(lang, "queued_ack", "n", s.positionLocked(h))})
			}
		}
	}
	fx, ev = s.routeLocked(ctx, fx, ev)
	s.end(ctx)
	// The replies are committed by the caller; effects (others' positions) go after.
	go s.flush(context.WithoutCancel(ctx), fx, ev)
	return true, out, nil
}

// Accept gives a queued conversation to the staff member. ENOTFOUND (not waiting), ECONFLICT (taken,
// or the agent is at their limit), EFORBIDDEN (a role that takes no chats).
func (s *Service) Accept(ctx context.Context, staff casesvc.Staff, conversation string) (Hold, error) {
	if !CanChat(staff.Role) {
		return Hold{}, casesvc.Errorf(casesvc.EFORBIDDEN, "Your role does not take conversations.")
	}
	if err := s.begin(ctx); err != nil {
		return Hold{}, err
	}
	h := s.holds[conversation]
	switch {
	case h == nil:
		s.end(ctx)
		return Hold{}, casesvc.Errorf(casesvc.ENOTFOUND, "This conversation is not waiting.")
	case h.State != StateQueued:
		s.end(ctx)
		return Hold{}, casesvc.Errorf(casesvc.ECONFLICT, "This conversation is already taken.")
	}
	a := s.agentLocked(staff)
	if s.loadLocked(staff.Name) >= s.maxOf(staff.Name) {
		s.end(ctx)
		return Hold{}, casesvc.Errorf(casesvc.ECONFLICT, "You are at your limit of conversations.")
	}
	h.pending = false
	fx, ev := s.assignLocked(ctx, h, a, "assigned", nil, nil)
	fx, ev = s.routeLocked(ctx, fx, ev)
	cp := h.copy()
	s.end(ctx)
	s.flush(ctx, fx, ev)
	return cp, nil
}

// Send stores an agent's message in the conversation they hold; id (the console's) dedupes a
// resend. It returns the stored event (its seq); the message itself follows as From "agent".
func (s *Service) Send(ctx context.Context, staff casesvc.Staff, conversation, id, text string) (channels.Message, bool, error) {
	text = strings.TrimSpace(text)
	switch {
	case id == "" || len(id) > 128:
		return channels.Message{}, false, casesvc.Errorf(casesvc.EINVALID, "id is required (at most 128 characters).")
	case text == "" || utf8.RuneCountInString(text) > 4000:
		return channels.Message{}, false, casesvc.Errorf(casesvc.EINVALID, "text is required (at most 4000 characters).")
	}
	h0, held := s.Hold(conversation)
	h := &h0
	s.mu.Lock()
	r := s.router
	s.mu.Unlock()
	ok := held && h.State == StateAssigned && h.Agent == staff.Name
	var hid int64
	if ok {
		hid = h.ID
	}
	if !ok {
		return channels.Message{}, false, casesvc.Errorf(casesvc.EFORBIDDEN, "You do not hold this conversation.")
	}
	body, _ := json.Marshal(channels.AgentMessage{Staff: staff.Name, Agent: staff.Name, Text: text})
	at := s.now()
	msg, dup, err := r.ReceiveInto(ctx, conversation, channels.Inbound{
		Event: channels.EventAgentMessage, ClientID: channels.AgentClientIDPrefix + staff.Name + ":" + id,
		Text: string(body), ReceivedAt: at,
	})
	if err == nil && !dup {
		s.firstReply(ctx, hid, staff.Name, at)
	}
	return msg, dup, err
}

// Transfer passes a conversation the staff member holds (supervisors: any) to another online agent
// (toAgent) or back to the queue, where it keeps its place. EFORBIDDEN, ENOTFOUND, ECONFLICT.
func (s *Service) Transfer(ctx context.Context, staff casesvc.Staff, conversation, toAgent string, toQueue bool) error {
	if (toAgent == "") == !toQueue {
		return casesvc.Errorf(casesvc.EINVALID, "Give either to_agent or to_queue.")
	}
	if err := s.begin(ctx); err != nil {
		return err
	}
	h, err := s.heldLocked(staff, conversation)
	if err != nil {
		s.end(ctx)
		return err
	}
	from := h.Agent
	var fx []effect
	var ev []Event
	if toQueue {
		s.endAssignment(ctx, h, "requeued")
		h.State, h.Agent, h.skip, h.Announced, h.reminded = StateQueued, "", from, 0, false
		s.save(ctx, h)
		ev = append(ev, Event{Kind: EventReleased, Conversation: h.Conversation, Agent: from, Why: "requeued"},
			Event{Kind: EventQueue, Conversation: h.Conversation})
	} else {
		a := s.agents[toAgent]
		switch {
		case toAgent == from:
			s.end(ctx)
			return casesvc.Errorf(casesvc.EINVALID, "You already hold this conversation.")
		case a == nil || a.conns == 0 || !CanChat(a.staff.Role):
			s.end(ctx)
			return casesvc.Errorf(casesvc.ENOTFOUND, "That agent is not online.")
		case s.loadLocked(toAgent) >= s.maxOf(toAgent):
			s.end(ctx)
			return casesvc.Errorf(casesvc.ECONFLICT, "That agent is at their limit of conversations.")
		}
		ev = append(ev, Event{Kind: EventReleased, Conversation: h.Conversation, Agent: from, Why: "transferred"})
		s.endAssignment(ctx, h, "transferred")
		fx, ev = s.assignLocked(ctx, h, a, "transferred", fx, ev)
	}
	fx, ev = s.routeLocked(ctx, fx, ev)
	s.end(ctx)
	s.flush(ctx, fx, ev)
	return nil
}

// End returns a conversation the staff member holds (supervisors: any) to the bot; the router then
// runs the dialog's handback turn (dialog.EventHandback with the agent and resolved).
func (s *Service) End(ctx context.Context, staff casesvc.Staff, conversation string, resolved bool) error {
	if err := s.begin(ctx); err != nil {
		return err
	}
	h, err := s.heldLocked(staff, conversation)
	if err != nil {
		s.end(ctx)
		return err
	}
	agent := h.Agent
	s.endAssignment(ctx, h, "ended")
	s.closeLocked(ctx, h, "ended", resolved)
	fx := []effect{{h.Conversation, channels.HandoffUpdate{State: channels.HandoffEnded, Agent: agent, Resolved: resolved,
		Text: say(h.Lang, "ended", "agent", agent)}}}
	ev := []Event{{Kind: EventReleased, Conversation: h.Conversation, Agent: agent, Why: "ended"}, {Kind: EventAgents}}
	fx, ev = s.routeLocked(ctx, fx, ev)
	s.end(ctx)
	s.log.Info("handoff ended", "conversation", conversation, "agent", agent, "resolved", resolved)
	s.flush(ctx, fx, ev)
	return nil
}

// Join records a console connection of a staff member; leave undoes it. An agent whose last
// connection closed is not ready, but keeps their conversations (they resume on reconnect).
func (s *Service) Join(staff casesvc.Staff) (leave func()) {
	if s.sh != nil {
		return s.joinShared(staff)
	}
	s.mu.Lock()
	a := s.agentLocked(staff)
	a.conns++
	s.mu.Unlock()
	s.emit(Event{Kind: EventAgents, Agent: staff.Name})
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			a.conns--
			if a.conns <= 0 {
				a.conns, a.ready = 0, false
			}
			s.mu.Unlock()
			s.emit(Event{Kind: EventAgents, Agent: staff.Name})
		})
	}
}

// joinShared is Join with Redis: the connection is this node's presence entry of the agent.
func (s *Service) joinShared(staff casesvc.Staff) (leave func()) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.sh.presence(ctx, staff.Name, 1); err != nil {
		s.log.Warn("handoff: presence", "agent", staff.Name, "err", err)
	}
	if s.begin(ctx) == nil {
		s.agentLocked(staff)
		s.end(ctx)
	}
	s.emit(Event{Kind: EventAgents, Agent: staff.Name})
	var once sync.Once
	return func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.sh.presence(ctx, staff.Name, -1); err != nil {
				s.log.Warn("handoff: presence", "agent", staff.Name, "err", err)
			}
			if s.begin(ctx) == nil { // load counted the connections left on every node
				if a := s.agents[staff.Name]; a != nil && a.conns == 0 {
					a.ready = false
				}
				s.end(ctx)
			}
			s.emit(Event{Kind: EventAgents, Agent: staff.Name})
		})
	}
}

// SetReady makes an online agent receive conversations automatically (least load first) or stop.
func (s *Service) SetReady(ctx context.Context, staff casesvc.Staff, ready bool) {
	if s.begin(ctx) != nil {
		return
	}
	a := s.agentLocked(staff)
	a.ready = ready && a.conns > 0 && CanChat(staff.Role)
	fx, ev := s.routeLocked(ctx, nil, []Event{{Kind: EventAgents, Agent: staff.Name}})
	s.end(ctx)
	s.flush(ctx, fx, ev)
}

// Queue returns the waiting conversations in the order they are served.
func (s *Service) Queue() []QueueItem {
	s.view()
	defer s.mu.Unlock()
	now := s.now()
	q := s.queueLocked()
	out := make([]QueueItem, 0, len(q))
	for i, h := range q {
		out = append(out, QueueItem{Conversation: h.Conversation, Position: i + 1, Channel: h.Channel, Lang: h.Lang,
			Priority: PriorityName(h.Priority), Reason: h.Reason, Flow: h.Flow, QueuedAt: h.QueuedAt, Wait: now.Sub(h.QueuedAt)})
	}
	return out
}

// Hold returns the active hold of a conversation.
func (s *Service) Hold(conversation string) (Hold, bool) {
	if s.sh != nil { // one read, not the whole shared state
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h, err := s.sh.hold(ctx, conversation)
		if err != nil {
			s.log.Error("handoff: read hold", "err", err)
		}
		if h == nil {
			return Hold{}, false
		}
		return h.copy(), true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	h := s.holds[conversation]
	if h == nil {
		return Hold{}, false
	}
	return h.copy(), true
}

// Held returns the conversations assigned to a staff member ("" for every assigned one).
func (s *Service) Held(staffName string) []Hold {
	s.view()
	defer s.mu.Unlock()
	var out []Hold
	for _, h := range s.holds {
		if h.State == StateAssigned && (staffName == "" || h.Agent == staffName) {
			out = append(out, h.copy())
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].AssignedAt.Before(out[j].AssignedAt) })
	return out
}

// Agents returns every agent seen since start with presence and load, by name.
func (s *Service) Agents() []AgentInfo {
	s.view()
	defer s.mu.Unlock()
	out := make([]AgentInfo, 0, len(s.agents))
	for name, a := range s.agents {
		out = append(out, AgentInfo{Name: name, Role: a.staff.Role, Online: a.conns > 0, Ready: a.ready,
			Load: s.loadLocked(name), Max: s.maxOf(name)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// MaxChats is how many conversations the staff member may hold at once.
func (s *Service) MaxChats(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxOf(name)
}

// Tasks returns the open call-back tasks, oldest first.
func (s *Service) Tasks(ctx context.Context) ([]Task, error) { return s.st.tasks(ctx, true) }

// CompleteTask marks a call-back done. ENOTFOUND.
func (s *Service) CompleteTask(ctx context.Context, staff casesvc.Staff, id int64) error {
	if err := s.st.completeTask(ctx, id, staff.Name, s.now()); err != nil {
		return err
	}
	s.emit(Event{Kind: EventTasks})
	return nil
}

// RecordRating stores the customer's satisfaction (1–5, optional comment) with the conversation's
// last ended handoff; a second rating of the same handoff replaces the first. The dialog calls it
// when the customer answers the rating question. EINVALID (score), ENOTFOUND (no ended handoff).
func (s *Service) RecordRating(ctx context.Context, conversation string, score int, comment string) error {
	if score < 1 || score > 5 {
		return casesvc.Errorf(casesvc.EINVALID, "A rating is 1 to 5.")
	}
	id, agent, err := s.st.lastClosed(ctx, conversation)
	if err != nil {
		return err
	}
	if utf8.RuneCountInString(comment) > 2000 {
		comment = string([]rune(comment)[:2000])
	}
	if err := s.st.putRating(ctx, Rating{Handoff: id, Conversation: conversation, Agent: agent, Score: score,
		Comment: strings.TrimSpace(comment), At: s.now()}); err != nil {
		return err
	}
	if comment == "" { // the dialog records the score first, then again with the comment: count once
		s.cfg.Metrics.rating(agent, score)
	}
	return nil
}

// Ratings returns the ratings of a conversation's handoffs.
func (s *Service) Ratings(ctx context.Context, conversation string) ([]Rating, error) {
	return s.st.ratings(ctx, conversation)
}

// Watch calls fn (quickly, without blocking) for every change; cancel stops it.
func (s *Service) Watch(fn func(Event)) (cancel func()) {
	s.mu.Lock()
	id := s.nextL
	s.nextL++
	s.listeners[id] = fn
	s.mu.Unlock()
	return func() {
		s.mu.Lock()
		delete(s.listeners, id)
		s.mu.Unlock()
	}
}

// CanChat reports whether a role takes customer conversations (admins run the system only).
func CanChat(r casesvc.Role) bool {
	return r == casesvc.RoleSpecialist || r == casesvc.RoleSupervisor || r == casesvc.RoleManager
}

// Supervises reports whether a role sees the supervisor view and may act on others' conversations.
func Supervises(r casesvc.Role) bool {
	return r == casesvc.RoleSupervisor || r == casesvc.RoleManager || r == casesvc.RoleAdmin
}

// --- internals; the *Locked ones need s.mu ---

func (h *Hold) copy() Hold {
	cp := *h
	cp.Agents = append([]string(nil), h.Agents...)
	if h.Slots != nil {
		cp.Slots = make(map[string]string, len(h.Slots))
		for k, v := range h.Slots {
			cp.Slots[k] = v
		}
	}
	return cp
}

func (s *Service) heldLocked(staff casesvc.Staff, conversation string) (*Hold, error) {
	h := s.holds[conversation]
	switch {
	case h == nil || h.State != StateAssigned:
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "Nobody holds this conversation.")
	case h.Agent != staff.Name && !Supervises(staff.Role):
		return nil, casesvc.Errorf(casesvc.EFORBIDDEN, "You do not hold this conversation.")
	}
	return h, nil
}

func (s *Service) agentLocked(staff casesvc.Staff) *agentState {
	a := s.agents[staff.Name]
	if a == nil {
		a = &agentState{staff: staff}
		s.agents[staff.Name] = a
	}
	a.staff = staff
	return a
}

func (s *Service) maxOf(name string) int {
	if n, ok := s.cfg.PerAgent[name]; ok && n > 0 {
		return n
	}
	return s.cfg.MaxChats
}

func (s *Service) loadLocked(name string) int {
	n := 0
	for _, h := range s.holds {
		if h.State == StateAssigned && h.Agent == name {
			n++
		}
	}
	return n
}

func (s *Service) eligible(name string, h *Hold) bool {
	skills, ok := s.cfg.Skills[name]
	if !ok || len(skills) == 0 {
		return true
	}
	for _, sk := range skills {
		if sk == h.Reason || sk == h.Flow || sk == PriorityName(h.Priority) {
			return true
		}
	}
	return false
}

// queueLocked is the waiting holds by priority, then wait.
func (s *Service) queueLocked() []*Hold {
	var q []*Hold
	for _, h := range s.holds {
		if h.State == StateQueued {
			q = append(q, h)
		}
	}
	sort.Slice(q, func(i, j int) bool {
		if q[i].Priority != q[j].Priority {
			return q[i].Priority < q[j].Priority
		}
		if !q[i].QueuedAt.Equal(q[j].QueuedAt) {
			return q[i].QueuedAt.Before(q[j].QueuedAt)
		}
		return q[i].ID < q[j].ID
	})
	return q
}

func (s *Service) positionLocked(h *Hold) int {
	for i, q := range s.queueLocked() {
		if q == h {
			return i + 1
		}
	}
	return 0
}

func (s *Service) save(ctx context.Context, h *Hold) {
	if err := s.st.saveHold(context.WithoutCancel(ctx), h); err != nil {
		s.log.Error("handoff: save", "conversation", h.Conversation, "err", err)
	}
}

func (s *Service) closeLocked(ctx context.Context, h *Hold, outcome string, resolved bool) {
	h.State, h.Outcome, h.Resolved, h.EndedAt = StateClosed, outcome, resolved, s.now()
	s.save(ctx, h)
	delete(s.holds, h.Conversation)
}

// assignLocked gives h to a; how is "assigned" or "transferred" (what the customer is told).
func (s *Service) assignLocked(ctx context.Context, h *Hold, a *agentState, how string, fx []effect, ev []Event) ([]effect, []Event) {
	name := a.staff.Name
	h.State, h.Agent, h.AssignedAt, h.skip = StateAssigned, name, s.now(), ""
	if len(h.Agents) == 0 || h.Agents[len(h.Agents)-1] != name {
		h.Agents = append(h.Agents, name)
	}
	a.lastAssigned = h.AssignedAt
	s.save(ctx, h)
	s.startAssignment(ctx, h, how)
	fx = append(fx, effect{h.Conversation, channels.HandoffUpdate{State: channels.HandoffAssigned, Agent: name,
		Text: say(h.Lang, how, "agent", name)}})
	ev = append(ev, Event{Kind: EventAssigned, Conversation: h.Conversation, Agent: name},
		Event{Kind: EventQueue, Conversation: h.Conversation}, Event{Kind: EventAgents, Agent: name})
	s.log.Info("handoff assigned", "conversation", h.Conversation, "agent", name)
	return fx, ev
}

// routeLocked assigns waiting conversations to ready agents (least load, then longest since their
// last assignment), then tells every waiting customer whose position changed.
func (s *Service) routeLocked(ctx context.Context, fx []effect, ev []Event) ([]effect, []Event) {
	for _, h := range s.queueLocked() {
		if h.pending {
			continue
		}
		var best *agentState
		bestLoad := 0
		for name, a := range s.agents {
			if a.conns == 0 || !a.ready || name == h.skip || !s.eligible(name, h) {
				continue
			}
			load := s.loadLocked(name)
			if load >= s.maxOf(name) {
				continue
			}
			if best == nil || load < bestLoad || (load == bestLoad && a.lastAssigned.Before(best.lastAssigned)) {
				best, bestLoad = a, load
			}
		}
		if best != nil {
			fx, ev = s.assignLocked(ctx, h, best, "assigned", fx, ev)
		}
	}
	now := s.now()
	for i, h := range s.queueLocked() {
		pos := i + 1
		if h.pending || h.Announced == pos {
			continue
		}
		first := h.Announced == 0
		key := "position"
		if first && len(h.Agents) > 0 {
			key = "requeued"
		} else if first {
			key = "queued"
		}
		h.Announced, h.reminded = pos, false
		upd := channels.HandoffUpdate{State: channels.HandoffQueued, Position: pos, Text: say(h.Lang, key, "n", pos)}
		if !h.Offered {
			switch {
			case !s.cfg.Hours.IsOpen(now):
				h.Offered = true
				upd.Text += "\n" + say(h.Lang, "after_hours", "hours", s.cfg.Hours.Describe(h.Lang))
				upd.Buttons = callbackButtons(h.Lang)
			case now.Sub(h.QueuedAt) >= s.cfg.MaxWait:
				h.Offered = true
				upd.Text += "\n" + say(h.Lang, "long_wait")
				upd.Buttons = callbackButtons(h.Lang)
			}
		}
		s.save(ctx, h)
		fx = append(fx, effect{h.Conversation, upd})
	}
	return fx, ev
}

func callbackButtons(lang string) []channels.Button {
	return []channels.Button{{Label: say(lang, "btn.callback"), Value: ActionCallback},
		{Label: say(lang, "btn.wait"), Value: ActionWait}, {Label: say(lang, "btn.cancel"), Value: ActionCancel}}
}

// flush stores the customer-facing steps (each an event turn in its conversation) and tells the
// watchers. Called without s.mu.
func (s *Service) flush(ctx context.Context, fx []effect, ev []Event) {
	s.mu.Lock()
	r := s.router
	s.mu.Unlock()
	for _, f := range fx {
		if r == nil {
			break
		}
		body, _ := json.Marshal(f.upd)
		_, _, err := r.ReceiveInto(context.WithoutCancel(ctx), f.conv, channels.Inbound{
			Event: channels.EventHandoff, ClientID: channels.HandoffClientIDPrefix + strings.ToLower(rand.Text()),
			Text: string(body), ReceivedAt: s.now(),
		})
		if err != nil {
			s.log.Error("handoff: tell customer", "conversation", f.conv, "state", f.upd.State, "code", casesvc.ErrorCode(err))
		}
	}
	seen := map[Event]bool{}
	for _, e := range ev {
		if !seen[e] {
			seen[e] = true
			s.emit(e)
		}
	}
}

// emit tells this node's watchers and, with Redis, every other node's.
func (s *Service) emit(e Event) {
	s.emitLocal(e)
	if s.sh != nil {
		s.sh.publish([]Event{e})
	}
}

func (s *Service) emitLocal(e Event) {
	s.mu.Lock()
	fns := make([]func(Event), 0, len(s.listeners))
	for _, fn := range s.listeners {
		fns = append(fns, fn)
	}
	s.mu.Unlock()
	for _, fn := range fns {
		fn(e)
	}
}

// String helps logs: never personal data.
func (h Hold) String() string {
	return "hold " + strconv.FormatInt(h.ID, 10) + " " + h.State
}

// Interface guards
var (
	_ dialog.Handoff    = (*Service)(nil)
	_ channels.Handoffs = (*Service)(nil)
)
