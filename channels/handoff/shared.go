package handoff

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"slices"
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
//   - The quality history (quality.go) is in Redis too, so every node's transcripts, samples, reviews
//     and agent and bot figures cover the whole deployment (see "Quality history in Redis" below).
//     Nothing of the handoff state is written to the node's SQLite file in this deployment.
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
//	handoff:q:...             the quality history: see "Quality history in Redis"

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

// --- the durable operations (backend) on Redis ---

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
	sh *shared

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
	sh.recordHandoff(ctx, h, true)
	return nil
}

// saveHold: the shared hash is written by shared.store at the end of the change; here the last ended
// handoff (for ratings) and the shared quality history.
func (b *redisBackend) saveHold(ctx context.Context, h *Hold) error {
	if h.State == StateClosed && h.Outcome == "ended" {
		if err := b.sh.rdb.Set(ctx, b.sh.key("last:"+h.Conversation), strconv.FormatInt(h.ID, 10)+"\t"+h.Agent, 0).Err(); err != nil {
			return casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: save hold: %v", err)
		}
	}
	b.sh.recordHandoff(ctx, h, false)
	return nil
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
	pipe := b.sh.rdb.TxPipeline()
	pipe.HSet(ctx, k, f, body)
	pipe.ZAdd(ctx, b.sh.key("q:rated"), redis.Z{Score: micros(r.At), Member: r.Conversation + "\x00" + f})
	if _, err := pipe.Exec(ctx); err != nil {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: put rating: %v", err)
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

// --- Quality history in Redis ---
//
// With Config.Redis the quality history (quality.go) lives in Redis beside the live state, so every
// node's transcripts, samples, reviews and agent and bot figures cover the whole deployment. Each
// fact is written once, by the node where it happens (no per-node copies to reconcile), and the
// figures are computed by the same code as on one node (figuresAcc, botRates) from the same facts.
// Every "since" query reads a sorted set scored by time in microseconds and then filters the records
// exactly by their stored times (fixedStamp, as in SQLite):
//
//	handoff:q:conv            hash: conversation → {channel, first_at}   (handoff_conversations)
//	handoff:q:convs           zset: conversation → first_at
//	handoff:q:handoffs:<conv> hash: handoff id → HandoffRecord JSON, without the rating (handoffs)
//	handoff:q:hreasons        zset: "<conv>\x00<handoff id>\x00<reason>" → the conversation's first_at
//	handoff:q:aid             counter: assignment ids
//	handoff:q:a:<id>          hash: handoff, conversation, channel, agent, how, assigned_at,
//	                          first_reply_at, released_at, why          (handoff_assignments)
//	handoff:q:open            hash: handoff id → its open assignment's id
//	handoff:q:assigned        zset: assignment id → assigned_at
//	handoff:q:agents:<conv>   set: every agent assigned the conversation (filters by agent)
//	handoff:q:rated           zset: "<conv>\x00<handoff id>" → the rating's time (the rating itself
//	                          is in handoff:ratings:<conv>)
//	handoff:q:reviewid        counter: review ids
//	handoff:q:reviewkey       hash: "<conv>\x00<reviewer>" → review id (a second review replaces the first)
//	handoff:q:reviews         hash: review id → Review JSON
//	handoff:q:reviewsat       zset: review id → at
//	handoff:q:reviewed        set: conversations with a review (never sampled)
//
// Why Redis and not a shared SQL database: the scaled-out deployment already depends on Redis for
// everything its nodes share, and these are append-mostly facts read by time range, for which a
// sorted set is the index. The bot figures cost one ZCOUNT and the handoffs of the period (hreasons is
// scored by the conversation's first message, the figures' own period), not a read of every
// conversation; agent figures read the period's assignments, ratings and reviews in pipelines of
// qBatch. Updates of one record (first reply, release, a review's upsert) are Lua scripts on one key
// or run under the cluster-wide lock, so two nodes never lose each other's writes. Like the SQLite
// tables, the history grows without bound. Facts recorded before a deployment used this (in a node's
// SQLite file) are not read.

const qBatch = 1000

func micros(t time.Time) float64 { return float64(t.UnixMicro()) }

// sinceMin is the lowest score of a "since" range: every time at or after since scores at least it.
func sinceMin(since time.Time) string {
	if since.IsZero() {
		return "-inf"
	}
	return strconv.FormatInt(since.UnixMicro(), 10)
}

func unavailable(op string, err error) error {
	return casesvc.Errorf(casesvc.EUNAVAILABLE, "handoff: %s: %v", op, err)
}

func chunks(n int, fn func(lo, hi int) error) error {
	for lo := 0; lo < n; lo += qBatch {
		if err := fn(lo, min(lo+qBatch, n)); err != nil {
			return err
		}
	}
	return nil
}

type qConv struct {
	Channel string `json:"channel"`
	FirstAt string `json:"first_at"`
}

func (sh *shared) noteConversation(ctx context.Context, s *Service, conversation, channel string, at time.Time) {
	ctx = context.WithoutCancel(ctx)
	v, _ := json.Marshal(qConv{Channel: channel, FirstAt: fixedStamp(at)})
	pipe := sh.rdb.TxPipeline()
	pipe.HSetNX(ctx, sh.key("q:conv"), conversation, v)
	added := pipe.ZAddNX(ctx, sh.key("q:convs"), redis.Z{Score: micros(at), Member: conversation})
	if _, err := pipe.Exec(ctx); err != nil {
		s.log.Warn("handoff: note conversation", "conversation", conversation, "err", err)
		return
	}
	if added.Val() == 1 {
		s.cfg.Metrics.conversation()
	}
}

// hreasonScript scores a handoff's entry by its conversation's first message or, when the
// conversation is not noted yet (RequestHandoff notes it right after), by ARGV[2] (the queue time).
var hreasonScript = redis.NewScript(`local sc = redis.call("ZSCORE", KEYS[1], ARGV[1])
if not sc then sc = ARGV[2] end
redis.call("ZADD", KEYS[2], sc, ARGV[3])
return 1`)

// recordHandoff writes a handoff's record (History) and, when it was just inserted, its entry for
// the bot figures.
func (sh *shared) recordHandoff(ctx context.Context, h *Hold, inserted bool) error {
	ctx = context.WithoutCancel(ctx)
	agents := h.Agents
	if agents == nil {
		agents = []string{}
	}
	body, _ := json.Marshal(HandoffRecord{ID: h.ID, Reason: h.Reason, Priority: PriorityName(h.Priority), Flow: h.Flow,
		State: h.State, Outcome: h.Outcome, Resolved: h.Resolved, Agents: agents, QueuedAt: h.QueuedAt.UTC(),
		AssignedAt: h.AssignedAt.UTC(), EndedAt: h.EndedAt.UTC()})
	id := strconv.FormatInt(h.ID, 10)
	if err := sh.rdb.HSet(ctx, sh.key("q:handoffs:"+h.Conversation), id, body).Err(); err != nil {
		return unavailable("record handoff", err)
	}
	if inserted {
		err := hreasonScript.Run(ctx, sh.rdb, []string{sh.key("q:convs"), sh.key("q:hreasons")}, h.Conversation,
			strconv.FormatInt(h.QueuedAt.UnixMicro(), 10), h.Conversation+"\x00"+id+"\x00"+h.Reason).Err()
		if err != nil {
			return unavailable("record handoff", err)
		}
	}
	return nil
}

// startAssignment records an agent's part of a handoff (one open per handoff). Called under the lock.
func (sh *shared) startAssignment(ctx context.Context, s *Service, h *Hold, how string) {
	ctx = context.WithoutCancel(ctx)
	hid := strconv.FormatInt(h.ID, 10)
	err := func() error {
		id, err := sh.rdb.Incr(ctx, sh.key("q:aid")).Result()
		if err != nil {
			return err
		}
		if ok, err := sh.rdb.HSetNX(ctx, sh.key("q:open"), hid, id).Result(); err != nil || !ok {
			return err
		}
		aid := strconv.FormatInt(id, 10)
		pipe := sh.rdb.TxPipeline()
		pipe.HSet(ctx, sh.key("q:a:"+aid), "handoff", hid, "conversation", h.Conversation, "channel", h.Channel,
			"agent", h.Agent, "how", how, "assigned_at", fixedStamp(h.AssignedAt), "first_reply_at", "", "released_at", "", "why", "")
		pipe.ZAdd(ctx, sh.key("q:assigned"), redis.Z{Score: micros(h.AssignedAt), Member: aid})
		pipe.SAdd(ctx, sh.key("q:agents:"+h.Conversation), h.Agent)
		_, err = pipe.Exec(ctx)
		return err
	}()
	if err != nil {
		s.log.Error("handoff: record assignment", "conversation", h.Conversation, "err", err)
	}
	s.cfg.Metrics.chat(h.Agent)
}

var endAssignmentScript = redis.NewScript(`local r = redis.call("HMGET", KEYS[1], "agent", "released_at", "assigned_at")
if not r[1] or r[2] ~= "" then return false end
redis.call("HSET", KEYS[1], "released_at", ARGV[1], "why", ARGV[2])
return {r[1], r[3]}`)

// endAssignment closes the handoff's open assignment. Called under the lock.
func (sh *shared) endAssignment(ctx context.Context, s *Service, h *Hold, why string, at time.Time) {
	ctx = context.WithoutCancel(ctx)
	hid := strconv.FormatInt(h.ID, 10)
	aid, err := sh.rdb.HGet(ctx, sh.key("q:open"), hid).Result()
	if errors.Is(err, redis.Nil) {
		return
	} else if err != nil {
		s.log.Error("handoff: release assignment", "conversation", h.Conversation, "err", err)
		return
	}
	res, err := endAssignmentScript.Run(ctx, sh.rdb, []string{sh.key("q:a:" + aid)}, fixedStamp(at), why).StringSlice()
	if err != nil && !errors.Is(err, redis.Nil) {
		s.log.Error("handoff: release assignment", "conversation", h.Conversation, "err", err)
		return
	}
	if err := sh.rdb.HDel(ctx, sh.key("q:open"), hid).Err(); err != nil {
		s.log.Error("handoff: release assignment", "conversation", h.Conversation, "err", err)
	}
	if len(res) == 2 {
		s.cfg.Metrics.handled(res[0], at.Sub(parse(res[1])))
	}
}

var firstReplyScript = redis.NewScript(`local r = redis.call("HMGET", KEYS[1], "agent", "released_at", "first_reply_at", "assigned_at")
if r[1] ~= ARGV[1] or r[2] ~= "" or r[3] ~= "" then return false end
redis.call("HSET", KEYS[1], "first_reply_at", ARGV[2])
return r[4]`)

// firstReply records the agent's first message in their open assignment of the handoff (without the
// lock: the script changes the record only while it is open and unanswered).
func (sh *shared) firstReply(ctx context.Context, s *Service, handoffID int64, agent string, at time.Time) {
	ctx = context.WithoutCancel(ctx)
	aid, err := sh.rdb.HGet(ctx, sh.key("q:open"), strconv.FormatInt(handoffID, 10)).Result()
	if errors.Is(err, redis.Nil) {
		return
	} else if err != nil {
		s.log.Error("handoff: record first reply", "err", err)
		return
	}
	assigned, err := firstReplyScript.Run(ctx, sh.rdb, []string{sh.key("q:a:" + aid)}, agent, fixedStamp(at)).Text()
	if errors.Is(err, redis.Nil) {
		return
	} else if err != nil {
		s.log.Error("handoff: record first reply", "err", err)
		return
	}
	s.cfg.Metrics.firstReply(agent, at.Sub(parse(assigned)))
}

func (sh *shared) history(ctx context.Context, conversation string) ([]HandoffRecord, error) {
	all, err := sh.rdb.HGetAll(ctx, sh.key("q:handoffs:"+conversation)).Result()
	if err != nil {
		return nil, unavailable("read history", err)
	}
	out := []HandoffRecord{}
	for _, v := range all {
		var h HandoffRecord
		if json.Unmarshal([]byte(v), &h) != nil {
			continue
		}
		if h.Agents == nil {
			h.Agents = []string{}
		}
		out = append(out, h)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	ratings, err := (&redisBackend{sh: sh}).ratings(ctx, conversation)
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

func (sh *shared) conversationRecord(ctx context.Context, conversation string) (ConversationRecord, error) {
	v, err := sh.rdb.HGet(ctx, sh.key("q:conv"), conversation).Result()
	if errors.Is(err, redis.Nil) {
		return ConversationRecord{}, casesvc.Errorf(casesvc.ENOTFOUND, "No such conversation.")
	} else if err != nil {
		return ConversationRecord{}, unavailable("read conversation", err)
	}
	var c qConv
	json.Unmarshal([]byte(v), &c)
	return ConversationRecord{ID: conversation, Channel: c.Channel, FirstAt: parse(c.FirstAt)}, nil
}

// sampleCandidates lists the unreviewed conversations matching f, by first message.
func (sh *shared) sampleCandidates(ctx context.Context, f SampleFilter) ([]ConversationRecord, error) {
	ids, err := sh.rdb.ZRangeByScore(ctx, sh.key("q:convs"), &redis.ZRangeBy{Min: sinceMin(f.Since), Max: "+inf"}).Result()
	if err != nil {
		return nil, unavailable("sample", err)
	}
	var all []ConversationRecord
	err = chunks(len(ids), func(lo, hi int) error {
		part := ids[lo:hi]
		pipe := sh.rdb.Pipeline()
		infos := pipe.HMGet(ctx, sh.key("q:conv"), part...)
		reviewed := make([]*redis.BoolCmd, len(part))
		handled := make([]*redis.BoolCmd, len(part))
		for i, id := range part {
			reviewed[i] = pipe.SIsMember(ctx, sh.key("q:reviewed"), id)
			if f.Agent != "" {
				handled[i] = pipe.SIsMember(ctx, sh.key("q:agents:"+id), f.Agent)
			}
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		for i, id := range part {
			if reviewed[i].Val() || (handled[i] != nil && !handled[i].Val()) {
				continue
			}
			v, _ := infos.Val()[i].(string)
			var c qConv
			if json.Unmarshal([]byte(v), &c) != nil {
				continue
			}
			r := ConversationRecord{ID: id, Channel: c.Channel, FirstAt: parse(c.FirstAt)}
			if r.FirstAt.Before(f.Since) || (f.Channel != "" && r.Channel != f.Channel) {
				continue
			}
			all = append(all, r)
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("sample", err)
	}
	return all, nil
}

var reviewScript = redis.NewScript(`local id = redis.call("HGET", KEYS[1], ARGV[1])
if not id then
	id = tostring(redis.call("INCR", KEYS[2]))
	redis.call("HSET", KEYS[1], ARGV[1], id)
end
redis.call("HSET", KEYS[3], id, ARGV[2])
redis.call("ZADD", KEYS[4], ARGV[3], id)
redis.call("SADD", KEYS[5], ARGV[4])
return id`)

// putReview stores a review (replacing the reviewer's earlier one of the conversation) atomically
// and returns its id.
func (sh *shared) putReview(ctx context.Context, r Review) (int64, error) {
	body, _ := json.Marshal(Review{Conversation: r.Conversation, Reviewer: r.Reviewer, Score: r.Score, Note: r.Note, At: r.At.UTC()})
	v, err := reviewScript.Run(ctx, sh.rdb, []string{sh.key("q:reviewkey"), sh.key("q:reviewid"), sh.key("q:reviews"),
		sh.key("q:reviewsat"), sh.key("q:reviewed")}, r.Conversation+"\x00"+r.Reviewer, body,
		strconv.FormatInt(r.At.UnixMicro(), 10), r.Conversation).Text()
	if err != nil {
		return 0, unavailable("record review", err)
	}
	id, _ := strconv.ParseInt(v, 10, 64)
	return id, nil
}

// reviewsSince reads the reviews made at or after since (unordered).
func (sh *shared) reviewsSince(ctx context.Context, since time.Time) ([]Review, error) {
	ids, err := sh.rdb.ZRangeByScore(ctx, sh.key("q:reviewsat"), &redis.ZRangeBy{Min: sinceMin(since), Max: "+inf"}).Result()
	if err != nil {
		return nil, unavailable("read reviews", err)
	}
	out := []Review{}
	err = chunks(len(ids), func(lo, hi int) error {
		vals, err := sh.rdb.HMGet(ctx, sh.key("q:reviews"), ids[lo:hi]...).Result()
		if err != nil {
			return err
		}
		for i, x := range vals {
			v, _ := x.(string)
			var r Review
			if json.Unmarshal([]byte(v), &r) != nil || r.At.Before(since) {
				continue
			}
			r.ID, _ = strconv.ParseInt(ids[lo+i], 10, 64)
			r.Agents = nil
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("read reviews", err)
	}
	return out, nil
}

// reviews lists reviews at or after since of conversations agent handled ("" any), newest first, at
// most 1000, without their agents (Service.Reviews adds them).
func (sh *shared) reviews(ctx context.Context, agent string, since time.Time) ([]Review, error) {
	all, err := sh.reviewsSince(ctx, since)
	if err != nil {
		return nil, err
	}
	if agent != "" {
		kept := all[:0]
		err := chunks(len(all), func(lo, hi int) error {
			pipe := sh.rdb.Pipeline()
			cmds := make([]*redis.BoolCmd, hi-lo)
			for i := lo; i < hi; i++ {
				cmds[i-lo] = pipe.SIsMember(ctx, sh.key("q:agents:"+all[i].Conversation), agent)
			}
			if _, err := pipe.Exec(ctx); err != nil {
				return err
			}
			for i, c := range cmds {
				if c.Val() {
					kept = append(kept, all[lo+i])
				}
			}
			return nil
		})
		if err != nil {
			return nil, unavailable("read reviews", err)
		}
		all = kept
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].At.Equal(all[j].At) {
			return all[i].At.After(all[j].At)
		}
		return all[i].ID > all[j].ID
	})
	if len(all) > 1000 {
		all = all[:1000]
	}
	return all, nil
}

// agentFigures: AgentFigures from the shared history.
func (sh *shared) agentFigures(ctx context.Context, since time.Time) ([]AgentFigures, error) {
	figs := figuresAcc{}
	from := sinceMin(since)
	// Assignments made in the period.
	ids, err := sh.rdb.ZRangeByScore(ctx, sh.key("q:assigned"), &redis.ZRangeBy{Min: from, Max: "+inf"}).Result()
	if err != nil {
		return nil, unavailable("agent figures", err)
	}
	err = chunks(len(ids), func(lo, hi int) error {
		pipe := sh.rdb.Pipeline()
		cmds := make([]*redis.MapStringStringCmd, hi-lo)
		for i := lo; i < hi; i++ {
			cmds[i-lo] = pipe.HGetAll(ctx, sh.key("q:a:"+ids[i]))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		for _, c := range cmds {
			m := c.Val()
			assigned := parse(m["assigned_at"])
			if m["agent"] == "" || assigned.Before(since) {
				continue
			}
			hid, _ := strconv.ParseInt(m["handoff"], 10, 64)
			figs.assignment(hid, m["agent"], assigned, parse(m["first_reply_at"]), parse(m["released_at"]))
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("agent figures", err)
	}
	// Ratings given in the period.
	rated, err := sh.rdb.ZRangeByScore(ctx, sh.key("q:rated"), &redis.ZRangeBy{Min: from, Max: "+inf"}).Result()
	if err != nil {
		return nil, unavailable("agent ratings", err)
	}
	err = chunks(len(rated), func(lo, hi int) error {
		pipe := sh.rdb.Pipeline()
		cmds := make([]*redis.StringCmd, hi-lo)
		for i := lo; i < hi; i++ {
			conv, hid, _ := strings.Cut(rated[i], "\x00")
			cmds[i-lo] = pipe.HGet(ctx, sh.key("ratings:"+conv), hid)
		}
		if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
			return err
		}
		for _, c := range cmds {
			var r Rating
			if json.Unmarshal([]byte(c.Val()), &r) != nil || r.Agent == "" || r.At.Before(since) {
				continue
			}
			a := figs.get(r.Agent)
			a.rating += r.Score
			a.f.SatisfactionCount++
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("agent ratings", err)
	}
	// Reviews made in the period, counted for every agent who handled the conversation.
	reviews, err := sh.reviewsSince(ctx, since)
	if err != nil {
		return nil, err
	}
	err = chunks(len(reviews), func(lo, hi int) error {
		pipe := sh.rdb.Pipeline()
		cmds := make([]*redis.StringSliceCmd, hi-lo)
		for i := lo; i < hi; i++ {
			cmds[i-lo] = pipe.SMembers(ctx, sh.key("q:agents:"+reviews[i].Conversation))
		}
		if _, err := pipe.Exec(ctx); err != nil {
			return err
		}
		for i, c := range cmds {
			for _, agent := range c.Val() {
				a := figs.get(agent)
				a.review += reviews[lo+i].Score
				a.f.ReviewCount++
			}
		}
		return nil
	})
	if err != nil {
		return nil, unavailable("agent reviews", err)
	}
	return figs.figures(), nil
}

// botFigures counts f.Conversations and f.ByReason from the shared history and returns the
// conversations handed off and misunderstood (for botRates).
func (sh *shared) botFigures(ctx context.Context, since time.Time, f *BotFigures) (handed, missed map[string]bool, err error) {
	handed, missed = map[string]bool{}, map[string]bool{}
	from := sinceMin(since)
	// Conversations scored exactly from may have begun just before since: they are checked one by one.
	pipe := sh.rdb.Pipeline()
	var count *redis.IntCmd
	edge := &redis.StringSliceCmd{}
	if since.IsZero() {
		count = pipe.ZCard(ctx, sh.key("q:convs"))
	} else {
		count = pipe.ZCount(ctx, sh.key("q:convs"), "("+from, "+inf")
		edge = pipe.ZRangeByScore(ctx, sh.key("q:convs"), &redis.ZRangeBy{Min: from, Max: from})
	}
	entries := pipe.ZRangeByScoreWithScores(ctx, sh.key("q:hreasons"), &redis.ZRangeBy{Min: from, Max: "+inf"})
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, nil, unavailable("bot figures", err)
	}
	f.Conversations = int(count.Val())
	inPeriod := map[string]bool{} // the edge conversations that began at or after since
	if len(edge.Val()) > 0 {
		vals, err := sh.rdb.HMGet(ctx, sh.key("q:conv"), edge.Val()...).Result()
		if err != nil {
			return nil, nil, unavailable("bot figures", err)
		}
		for i, x := range vals {
			v, _ := x.(string)
			var c qConv
			if json.Unmarshal([]byte(v), &c) == nil && !parse(c.FirstAt).Before(since) {
				inPeriod[edge.Val()[i]] = true
				f.Conversations++
			}
		}
	}
	edgeScore := float64(since.UnixMicro())
	for _, z := range entries.Val() {
		m, _ := z.Member.(string)
		parts := strings.SplitN(m, "\x00", 3)
		if len(parts) != 3 {
			continue
		}
		conv, reason := parts[0], parts[2]
		if !since.IsZero() && z.Score == edgeScore && !inPeriod[conv] {
			continue
		}
		handed[conv] = true
		if slices.Contains(MisunderstandingReasons, reason) {
			missed[conv] = true
		}
		f.ByReason[reasonLabel(reason)]++
	}
	return handed, missed, nil
}
