package handoff

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"claimline/casesvc"
)

// Several gateway nodes (Config.Redis): what is shared and why.
//
// The Service's routing logic (queue order, least load, skills, positions, call-back offers) is the
// same code in both deployments; only where its state lives changes. With Config.Redis:
//
//   - The live state every node must agree on is in Redis: the active holds (queued, assigned,
//     call-back, with agent, priority, reason, queued_at and the announcement bookkeeping) as one hash,
//     the agents (staff, ready, last assignment) as one hash, and presence — which agent has how many
//     console connections on which node — as a sorted set scored by expiry plus a hash of counts. Each
//     node refreshes its own entries (heartbeat every PresenceTTL/3); a node that dies stops refreshing
//     and its agents go offline after PresenceTTL, so nobody is routed to them.
//   - Every change runs under one cluster-wide lock (SET NX PX with a random token, released by a
//     compare-and-delete script): the node takes it, reads the whole live state, runs the same
//     *Locked code as the embedded deployment, writes back the holds and agents that changed and
//     releases it. Handoff changes are a few per second even on a typhoon day (one per request,
//     assignment, transfer, end, agent sign-in), and the live state is the waiting and held
//     conversations only, so one lock and a whole read are cheap and keep the queue order and the
//     per-agent limits exactly as on one node. Customer messages of conversations that are not held
//     cost one HEXISTS and take no lock.
//   - Call-back tasks and ratings are in Redis too (every supervisor's console lists the same tasks;
//     a rating given on any node finds the handoff another node ended).
//   - Events (queue changed, assigned, released, tasks, agents) are published on one pub/sub channel
//     as a wake-up; each node passes them to its own watchers (the consoles), which re-read the shared
//     state. A lost wake-up is repaired when the subscription comes back (every watcher is told to
//     re-read) and by the next event.
//   - The SQLite file stays per node, as the durable history the quality figures are computed from:
//     every hold a node writes is mirrored into it (by the Redis-given id), and the assignments, first
//     replies, conversations and reviews a node sees are written there. So quality figures, transcripts'
//     handoff records and the bot figures are per node in this deployment, NOT cluster-wide: moving
//     those tables to a shared store (PostgreSQL beside the case service) is the remaining step.
//
// Key layout (after the prefix, default "claimline:"):
//
//	handoff:lock              string: the cluster-wide lock token
//	handoff:holds             hash: conversation → hold JSON (active holds only)
//	handoff:agents            hash: staff name → {staff, ready, last}
//	handoff:presence          zset: "<name>\x00<node>" → expiry (unix ms)
//	handoff:conns             hash: "<name>\x00<node>" → console connections
//	handoff:id, handoff:taskid counters
//	handoff:last:<conv>       string: "<id>\t<agent>" of the last ended handoff (ratings)
//	handoff:ratings:<conv>    hash: handoff id → rating JSON
//	handoff:tasks             hash: task id → task JSON
//	handoff:tasksrc           hash: "<conv>\x00<seq>" → task id (one task per source message)
//	handoff:events            pub/sub channel of {node, events}

// sharedHold is a Hold as stored in Redis, with the bookkeeping the embedded deployment keeps in
// memory only.
type sharedHold struct {
	ID           int64             `json:"id"`
	Conversation string            `json:"conversation"`
	Channel      string            `json:"channel,omitempty"`
	Lang         string            `json:"lang,omitempty"`
	State        string            `json:"state"`
	Priority     int               `json:"priority"`
	Reason       string            `json:"reason,omitempty"`
	Flow         string            `json:"flow,omitempty"`
	Slots        map[string]string `json:"slots,omitempty"`
	PolicyNumber string            `json:"policy,omitempty"`
	Agent        string            `json:"agent,omitempty"`
	Agents       []string          `json:"agents,omitempty"`
	Announced    int               `json:"announced,omitempty"`
	Offered      bool              `json:"offered,omitempty"`
	QueuedAt     time.Time         `json:"queued_at"`
	AssignedAt   time.Time         `json:"assigned_at,omitzero"`
	Pending      bool              `json:"pending,omitempty"`
	Created      time.Time         `json:"created,omitzero"`
	Skip         string            `json:"skip,omitempty"`
	Reminded     bool              `json:"reminded,omitempty"`
}

func encodeHold(h *Hold) string {
	b, _ := json.Marshal(sharedHold{ID: h.ID, Conversation: h.Conversation, Channel: h.Channel, Lang: h.Lang,
		State: h.State, Priority: h.Priority, Reason: h.Reason, Flow: h.Flow, Slots: h.Slots, PolicyNumber: h.PolicyNumber,
		Agent: h.Agent, Agents: h.Agents, Announced: h.Announced, Offered: h.Offered, QueuedAt: h.QueuedAt.UTC(),
		AssignedAt: h.AssignedAt.UTC(), Pending: h.pending, Created: h.created.UTC(), Skip: h.skip, Reminded: h.reminded})
	return string(b)
}

func decodeHold(s string) (*Hold, error) {
	var w sharedHold
	if err := json.Unmarshal([]byte(s), &w); err != nil {
		return nil, err
	}
	return &Hold{ID: w.ID, Conversation: w.Conversation, Channel: w.Channel, Lang: w.Lang, State: w.State,
		Priority: w.Priority, Reason: w.Reason, Flow: w.Flow, Slots: w.Slots, PolicyNumber: w.PolicyNumber,
		Agent: w.Agent, Agents: w.Agents, Announced: w.Announced, Offered: w.Offered, QueuedAt: w.QueuedAt,
		AssignedAt: w.AssignedAt, pending: w.Pending, created: w.Created, skip: w.Skip, reminded: w.Reminded}, nil
}

type sharedAgent struct {
	Name  string       `json:"name"`
	Role  casesvc.Role `json:"role"`
	Ready bool         `json:"ready,omitempty"`
	Last  time.Time    `json:"last,omitzero"`
}

func encodeAgent(a *agentState) string {
	b, _ := json.Marshal(sharedAgent{Name: a.staff.Name, Role: a.staff.Role, Ready: a.ready, Last: a.lastAssigned.UTC()})
	return string(b)
}

// shared is the Redis side of a Service (see above). Its methods that touch s.holds/s.agents need s.mu.
type shared struct {
	rdb  redis.UniversalClient
	p    string // key prefix
	node string
	ttl  time.Duration

	loaded  map[string]string
	agents  map[string]string
	lastSig string // changed; s.mu

	localMu sync.Mutex
	local   map[string]int // this node's console connections per agent

	ps     *redis.PubSub
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

const lockTTL = 15 * time.Second

var unlockScript = redis.NewScript(`if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) end return 0`)

func newShared(cfg Config) *shared {
	p := cfg.RedisPrefix
	if p == "" {
		p = "claimline:"
	}
	node := cfg.Node
	if node == "" {
		node = strings.ToLower(rand.Text())[:12]
	}
	ttl := cfg.PresenceTTL
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	return &shared{rdb: cfg.Redis, p: p + "handoff:", node: node, ttl: ttl, loaded: map[string]string{},
		agents: map[string]string{}, local: map[string]int{}}
}

func (sh *shared) key(k string) string { return sh.p + k }

// lock takes the cluster-wide lock, waiting for it up to ctx (at most lockTTL), and returns its token.
func (sh *shared) lock(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, lockTTL)
	defer cancel()
	tok := rand.Text()
	wait := time.Millisecond
	for {
		ok, err := sh.rdb.SetNX(ctx, sh.key("lock"), tok, lockTTL).Result()
		if err != nil {
			return "", casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: lock: %v", err)
		}
		if ok {
			return tok, nil
		}
		select {
		case <-ctx.Done():
			return "", casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: lock: %v", ctx.Err())
		case <-time.After(wait):
		}
		wait = min(wait*2, 20*time.Millisecond)
	}
}

func (sh *shared) unlock(tok string) {
	if tok == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	unlockScript.Run(ctx, sh.rdb, []string{sh.key("lock")}, tok)
}

// load replaces s.holds and s.agents by the shared state. Needs s.mu.
func (sh *shared) load(ctx context.Context, s *Service) error {
	now := time.Now().UnixMilli()
	pipe := sh.rdb.Pipeline()
	holdsCmd := pipe.HGetAll(ctx, sh.key("holds"))
	agentsCmd := pipe.HGetAll(ctx, sh.key("agents"))
	presCmd := pipe.ZRangeByScore(ctx, sh.key("presence"), &redis.ZRangeBy{Min: strconv.FormatInt(now, 10), Max: "+inf"})
	connsCmd := pipe.HGetAll(ctx, sh.key("conns"))
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: read shared state: %v", err)
	}
	holds := map[string]*Hold{}
	loaded := map[string]string{}
	for conv, v := range holdsCmd.Val() {
		h, err := decodeHold(v)
		if err != nil {
			s.log.Error("handoff: bad shared hold", "conversation", conv, "err", err)
			continue
		}
		holds[conv], loaded[conv] = h, v
	}
	conns := map[string]int{}
	all := connsCmd.Val()
	for _, m := range presCmd.Val() {
		name, _, _ := strings.Cut(m, "\x00")
		n, _ := strconv.Atoi(all[m])
		conns[name] += n
	}
	agents := map[string]*agentState{}
	agentsRaw := map[string]string{}
	for name, v := range agentsCmd.Val() {
		var w sharedAgent
		if json.Unmarshal([]byte(v), &w) != nil {
			continue
		}
		a := &agentState{staff: casesvc.Staff{Name: w.Name, Role: w.Role}, conns: conns[name], ready: w.Ready, lastAssigned: w.Last}
		if a.conns == 0 {
			a.ready = false // offline (also: their node died): not routed to
		}
		agents[name], agentsRaw[name] = a, v
	}
	s.holds, s.agents, sh.loaded, sh.agents = holds, agents, loaded, agentsRaw
	return nil
}

// store writes back the holds and agents that changed since load. Needs s.mu and the lock.
func (sh *shared) store(ctx context.Context, s *Service) error {
	ctx = context.WithoutCancel(ctx)
	pipe := sh.rdb.TxPipeline()
	n := 0
	for conv, h := range s.holds {
		if v := encodeHold(h); v != sh.loaded[conv] {
			pipe.HSet(ctx, sh.key("holds"), conv, v)
			sh.loaded[conv] = v
			n++
		}
	}
	for conv := range sh.loaded {
		if _, ok := s.holds[conv]; !ok {
			pipe.HDel(ctx, sh.key("holds"), conv)
			delete(sh.loaded, conv)
			n++
		}
	}
	for name, a := range s.agents {
		if v := encodeAgent(a); v != sh.agents[name] {
			pipe.HSet(ctx, sh.key("agents"), name, v)
			sh.agents[name] = v
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: write shared state: %v", err)
	}
	return nil
}

// held reports whether a conversation has an active hold, without the lock.
func (sh *shared) held(ctx context.Context, conversation string) (bool, error) {
	ok, err := sh.rdb.HExists(ctx, sh.key("holds"), conversation).Result()
	if err != nil {
		return false, casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: read hold: %v", err)
	}
	return ok, nil
}

// changed is the safety net for lost wake-ups (like the Bus's poll): at each tick, when the live
// state differs from the last tick's, this node's watchers are told to re-read it (the queue, the
// agents, and every assignment: a console opens a conversation once, so a repeat is harmless).
// Needs s.mu.
func (sh *shared) changed(s *Service) []Event {
	var b strings.Builder
	var ev []Event
	convs := make([]string, 0, len(s.holds))
	for c := range s.holds {
		convs = append(convs, c)
	}
	sort.Strings(convs)
	for _, c := range convs {
		h := s.holds[c]
		b.WriteString(c + "\x00" + h.State + "\x00" + h.Agent + "\n")
		if h.State == StateAssigned {
			ev = append(ev, Event{Kind: EventAssigned, Conversation: c, Agent: h.Agent})
		}
	}
	names := make([]string, 0, len(s.agents))
	for n := range s.agents {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		a := s.agents[n]
		b.WriteString(n + "\x00" + strconv.Itoa(a.conns) + strconv.FormatBool(a.ready) + "\n")
	}
	sig := b.String()
	if sig == sh.lastSig {
		return nil
	}
	first := sh.lastSig == ""
	sh.lastSig = sig
	if first {
		return nil
	}
	return append(ev, Event{Kind: EventQueue}, Event{Kind: EventAgents})
}

// hold reads one active hold, without the lock; nil when there is none.
func (sh *shared) hold(ctx context.Context, conversation string) (*Hold, error) {
	v, err := sh.rdb.HGet(ctx, sh.key("holds"), conversation).Result()
	if errors.Is(err, redis.Nil) {
		return nil, nil
	} else if err != nil {
		return nil, casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: read hold: %v", err)
	}
	return decodeHold(v)
}

// presence sets this node's connection count of an agent (0 removes it).
func (sh *shared) presence(ctx context.Context, name string, delta int) error {
	sh.localMu.Lock()
	sh.local[name] += delta
	n := sh.local[name]
	if n <= 0 {
		delete(sh.local, name)
	}
	sh.localMu.Unlock()
	m := name + "\x00" + sh.node
	pipe := sh.rdb.TxPipeline()
	if n > 0 {
		pipe.ZAdd(ctx, sh.key("presence"), redis.Z{Score: float64(time.Now().Add(sh.ttl).UnixMilli()), Member: m})
		pipe.HSet(ctx, sh.key("conns"), m, n)
	} else {
		pipe.ZRem(ctx, sh.key("presence"), m)
		pipe.HDel(ctx, sh.key("conns"), m)
	}
	_, err := pipe.Exec(context.WithoutCancel(ctx))
	return err
}

// heartbeat refreshes this node's presence entries and drops expired ones (a dead node's); it
// reports whether any expired.
func (sh *shared) heartbeat(ctx context.Context) (expired bool, err error) {
	sh.localMu.Lock()
	local := make(map[string]int, len(sh.local))
	for k, v := range sh.local {
		local[k] = v
	}
	sh.localMu.Unlock()
	now := time.Now()
	pipe := sh.rdb.TxPipeline()
	for name, n := range local {
		m := name + "\x00" + sh.node
		pipe.ZAdd(ctx, sh.key("presence"), redis.Z{Score: float64(now.Add(sh.ttl).UnixMilli()), Member: m})
		pipe.HSet(ctx, sh.key("conns"), m, n)
	}
	if len(local) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return false, err
		}
	}
	old, err := sh.rdb.ZRangeByScore(ctx, sh.key("presence"), &redis.ZRangeBy{Min: "-inf", Max: "(" + strconv.FormatInt(now.UnixMilli(), 10)}).Result()
	if err != nil || len(old) == 0 {
		return false, err
	}
	pipe = sh.rdb.TxPipeline()
	for _, m := range old {
		pipe.ZRem(ctx, sh.key("presence"), m)
		pipe.HDel(ctx, sh.key("conns"), m)
	}
	_, err = pipe.Exec(ctx)
	return true, err
}

// dropLocal removes this node's presence entries (a clean shutdown).
func (sh *shared) dropLocal() {
	sh.localMu.Lock()
	names := make([]string, 0, len(sh.local))
	for k := range sh.local {
		names = append(names, k)
	}
	sh.local = map[string]int{}
	sh.localMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, name := range names {
		m := name + "\x00" + sh.node
		sh.rdb.ZRem(ctx, sh.key("presence"), m)
		sh.rdb.HDel(ctx, sh.key("conns"), m)
	}
}

type eventNote struct {
	Node   string  `json:"node"`
	Events []Event `json:"events"`
}

func (sh *shared) publish(ev []Event) {
	if len(ev) == 0 {
		return
	}
	b, _ := json.Marshal(eventNote{Node: sh.node, Events: ev})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	sh.rdb.Publish(ctx, sh.key("events"), b)
}

// listen passes other nodes' events to this node's watchers; after a (re)subscription every watcher
// is told to re-read, since wake-ups may have been lost meanwhile.
func (sh *shared) listen(s *Service) {
	ctx, cancel := context.WithCancel(context.Background())
	sh.cancel = cancel
	sh.ps = sh.rdb.Subscribe(ctx, sh.key("events"))
	ch := sh.ps.ChannelWithSubscriptions(redis.WithChannelSize(1024))
	sh.wg.Add(1)
	go func() {
		defer sh.wg.Done()
		first := true
		for v := range ch {
			switch x := v.(type) {
			case *redis.Subscription:
				if x.Kind == "subscribe" && !first {
					for _, k := range []string{EventQueue, EventAgents, EventTasks} {
						s.emitLocal(Event{Kind: k})
					}
				}
				first = false
			case *redis.Message:
				var n eventNote
				if json.Unmarshal([]byte(x.Payload), &n) != nil || n.Node == sh.node {
					continue
				}
				for _, e := range n.Events {
					s.emitLocal(e)
				}
			}
		}
	}()
}

func (sh *shared) close() {
	sh.dropLocal()
	if sh.cancel != nil {
		sh.cancel()
		sh.ps.Close()
		sh.wg.Wait()
	}
}

// --- the durable operations (backend) on Redis, mirrored into the node's SQLite for quality ---

// backend is where the Service keeps holds, tasks and ratings: *db (embedded) or *redisBackend.
type backend interface {
	insertHold(ctx context.Context, h *Hold) error
	saveHold(ctx context.Context, h *Hold) error
	lastClosed(ctx context.Context, conversation string) (int64, string, error)
	putRating(ctx context.Context, r Rating) error
	ratings(ctx context.Context, conversation string) ([]Rating, error)
	insertTask(ctx context.Context, t *Task) error
	tasks(ctx context.Context, open bool) ([]Task, error)
	completeTask(ctx context.Context, id int64, by string, at time.Time) error
}

type redisBackend struct {
	sh  *shared
	db  *db // the node's history (quality)
	log interface {
		Error(msg string, args ...any)
	}
}

// insertHold gives the hold a cluster-wide id and stores it; ECONFLICT when the conversation is held.
// Called under the lock.
func (b *redisBackend) insertHold(ctx context.Context, h *Hold) error {
	sh := b.sh
	id, err := sh.rdb.Incr(ctx, sh.key("id")).Result()
	if err != nil {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: hold id: %v", err)
	}
	h.ID = id
	v := encodeHold(h)
	ok, err := sh.rdb.HSetNX(ctx, sh.key("holds"), h.Conversation, v).Result()
	if err != nil {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: insert hold: %v", err)
	}
	if !ok {
		return casesvc.Errorf(casesvc.ECONFLICT, "The conversation is already held.")
	}
	sh.loaded[h.Conversation] = v
	b.mirror(ctx, h)
	return nil
}

// saveHold: the shared hash is written by shared.store at the end of the change; here the last ended
// handoff (for ratings) and the node's history.
func (b *redisBackend) saveHold(ctx context.Context, h *Hold) error {
	if h.State == StateClosed && h.Outcome == "ended" {
		if err := b.sh.rdb.Set(ctx, b.sh.key("last:"+h.Conversation), strconv.FormatInt(h.ID, 10)+"\t"+h.Agent, 0).Err(); err != nil {
			return casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: save hold: %v", err)
		}
	}
	b.mirror(ctx, h)
	return nil
}

func (b *redisBackend) mirror(ctx context.Context, h *Hold) {
	if err := b.db.mirrorHold(context.WithoutCancel(ctx), h); err != nil {
		b.log.Error("handoff: history", "conversation", h.Conversation, "err", err)
	}
}

func (b *redisBackend) lastClosed(ctx context.Context, conversation string) (int64, string, error) {
	v, err := b.sh.rdb.Get(ctx, b.sh.key("last:"+conversation)).Result()
	if errors.Is(err, redis.Nil) {
		return 0, "", casesvc.Errorf(casesvc.ENOTFOUND, "No ended handoff in this conversation.")
	} else if err != nil {
		return 0, "", casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: read hold: %v", err)
	}
	ids, agent, _ := strings.Cut(v, "\t")
	id, _ := strconv.ParseInt(ids, 10, 64)
	return id, agent, nil
}

func (b *redisBackend) putRating(ctx context.Context, r Rating) error {
	k := b.sh.key("ratings:" + r.Conversation)
	f := strconv.FormatInt(r.Handoff, 10)
	if r.Comment == "" {
		if old, err := b.sh.rdb.HGet(ctx, k, f).Result(); err == nil {
			var o Rating
			if json.Unmarshal([]byte(old), &o) == nil {
				r.Comment = o.Comment
			}
		}
	}
	body, _ := json.Marshal(r)
	if err := b.sh.rdb.HSet(ctx, k, f, body).Err(); err != nil {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: put rating: %v", err)
	}
	if err := b.db.putRating(ctx, r); err != nil {
		b.log.Error("handoff: history rating", "err", err)
	}
	return nil
}

func (b *redisBackend) ratings(ctx context.Context, conversation string) ([]Rating, error) {
	all, err := b.sh.rdb.HGetAll(ctx, b.sh.key("ratings:"+conversation)).Result()
	if err != nil {
		return nil, casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: read ratings: %v", err)
	}
	var out []Rating
	for _, v := range all {
		var r Rating
		if json.Unmarshal([]byte(v), &r) == nil {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Handoff < out[j].Handoff })
	return out, nil
}

// insertTask stores a call-back task once per source message. Called under the lock.
func (b *redisBackend) insertTask(ctx context.Context, t *Task) error {
	sh := b.sh
	src := t.Conversation + "\x00" + strconv.FormatInt(t.SourceSeq, 10)
	if v, err := sh.rdb.HGet(ctx, sh.key("tasksrc"), src).Result(); err == nil {
		t.ID, _ = strconv.ParseInt(v, 10, 64)
		return nil
	} else if !errors.Is(err, redis.Nil) {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: insert task: %v", err)
	}
	id, err := sh.rdb.Incr(ctx, sh.key("taskid")).Result()
	if err != nil {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: task id: %v", err)
	}
	t.ID, t.State = id, "open"
	body, _ := json.Marshal(t)
	pipe := sh.rdb.TxPipeline()
	pipe.HSet(ctx, sh.key("tasks"), strconv.FormatInt(id, 10), body)
	pipe.HSet(ctx, sh.key("tasksrc"), src, id)
	if _, err := pipe.Exec(ctx); err != nil {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: insert task: %v", err)
	}
	return nil
}

func (b *redisBackend) tasks(ctx context.Context, open bool) ([]Task, error) {
	all, err := b.sh.rdb.HGetAll(ctx, b.sh.key("tasks")).Result()
	if err != nil {
		return nil, casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: read tasks: %v", err)
	}
	out := []Task{}
	for _, v := range all {
		var t Task
		if json.Unmarshal([]byte(v), &t) == nil && (!open || t.State == "open") {
			out = append(out, t)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (b *redisBackend) completeTask(ctx context.Context, id int64, by string, at time.Time) error {
	tok, err := b.sh.lock(ctx)
	if err != nil {
		return err
	}
	defer b.sh.unlock(tok)
	f := strconv.FormatInt(id, 10)
	v, err := b.sh.rdb.HGet(ctx, b.sh.key("tasks"), f).Result()
	var t Task
	if errors.Is(err, redis.Nil) || (err == nil && (json.Unmarshal([]byte(v), &t) != nil || t.State != "open")) {
		return casesvc.Errorf(casesvc.ENOTFOUND, "No open task with this id.")
	} else if err != nil {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: complete task: %v", err)
	}
	t.State, t.DoneBy, t.Done = "done", by, at
	body, _ := json.Marshal(t)
	if err := b.sh.rdb.HSet(ctx, b.sh.key("tasks"), f, body).Err(); err != nil {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: complete task: %v", err)
	}
	return nil
}
