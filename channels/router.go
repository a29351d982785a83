package channels

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sync"
	"time"

	"claimline/casesvc"
	"claimline/dialog"
)

// RouterConfig holds the Router's dependencies. Store and Dialog are required.
type RouterConfig struct {
	Store   Store
	Dialog  Dialog
	Bus     Bus          // default: NewMemoryBus(64)
	Logger  *slog.Logger // default: slog.Default()
	Metrics *Metrics     // nil records nothing
	Now     func() time.Time
	// TurnTimeout bounds one Dialog.Turn; past it the turn counts as failed. Default 30s.
	TurnTimeout time.Duration
	// Delivery tunes the outbox loop of push channels (StartDelivery).
	Delivery DeliveryConfig
	// Handoffs, when set, routes held conversations to people (channels/handoff); may also be set
	// later with SetHandoffs, before Recover.
	Handoffs Handoffs
	// Locker, when set, serializes each conversation's turns across processes (scaled-out mode, several
	// gateway nodes on one Redis); Store must then be a FencedStore. Nil (the embedded default) keeps
	// the in-process ordering only.
	Locker Locker
	// SeparateWrites makes Converse store every message before its turn runs, as Receive does, even
	// where the store could keep the message and its turn in one write (comparisons and tests).
	SeparateWrites bool
	// SlowTurn is how long a Converse turn may run before its message is stored without waiting for
	// it (default 1s): the message of a stuck turn is kept and acknowledged like any other.
	SlowTurn time.Duration
}

// Locker serializes a conversation's turns across processes. The embedded deployment has none: one
// worker per conversation in the one process is enough.
//
// Rules every implementation must keep:
//   - Lock waits until the caller holds the conversation's lock, or ctx ends (then ctx's error).
//   - Every grant carries a fencing token greater than every earlier grant's for that conversation.
//   - The lock expires unless renewed; the implementation renews it while it is held. The returned
//     context (derived from ctx) is cancelled when the lock is lost, so a turn stops early; a commit
//     under a lost lock is refused by FencedStore.CommitTurnFenced anyway (the Router's writes do
//     not end with that context, see writeContext, so the refusal is what they hear).
//   - unlock releases the lock only while this grant holds it; it is idempotent.
//   - LockAndRead is Lock that also reads, with the grant, what a turn's holder reads first: the
//     conversation from the Router's store (nil when there is none) and its unhandled inbound
//     messages in seq order, as FencedStore.ConversationUnhandled returns them (in the Redis
//     deployment one round trip instead of three).
//   - LockHeadOfLine takes the conversation's delivery lock, the lock named DeliveryLock(conversation)
//     (Lock's rules, without the token, which a send does not need), and reads with the grant what
//     the outbox reads before a send: the conversation without its State (nil when there is none;
//     a send does not need the state, its largest field) and its head of line (the pending delivery
//     with the lowest seq) with Message set (nil when the message is missing), or a nil delivery
//     when none is pending. Receipts are left out.
type Locker interface {
	Lock(ctx context.Context, conversation string) (held context.Context, token int64, unlock func(), err error)
	LockAndRead(ctx context.Context, conversation string) (held context.Context, token int64, unlock func(),
		conv *Conversation, unhandled []Message, err error)
	LockHeadOfLine(ctx context.Context, conversation string) (held context.Context, unlock func(),
		conv *Conversation, head *Delivery, err error)
}

// FencedStore is a Store whose commits can be fenced by a Locker's token (optional capability, asserted
// by NewRouter when RouterConfig.Locker is set).
//   - CommitTurnFenced is CommitTurn that stores nothing and fails with ErrStaleFence unless the lock
//     granted with token is still held when the commit is applied (a turn whose lock expired, or
//     that a newer grant overtook, must not write).
//   - ConversationUnhandled returns one conversation's unhandled inbound messages in seq order, so the
//     lock holder can run turns stored by other nodes first.
//   - CommitInboundFenced is InboundTurnStore.CommitInbound fenced like CommitTurnFenced: a node's
//     one-write turn (Converse) under the conversation's lock.
//   - DueConversations returns up to limit conversations whose head of line is due at now, the
//     longest waiting first, as DueDeliveries orders them, but without reading the heads: the outbox
//     reads each one again under its delivery lock (Locker.LockHeadOfLine) anyway. A conversation whose head
//     is due later in now's last microsecond may be among them; HeadOfLine tells.
type FencedStore interface {
	Store
	CommitTurnFenced(ctx context.Context, t Turn, token int64) ([]Message, error)
	ConversationUnhandled(ctx context.Context, conversation string) ([]Message, error)
	CommitInboundFenced(ctx context.Context, conversation string, in Inbound, lastSeq int64, t Turn,
		token int64) (Message, []Message, bool, error)
	DueConversations(ctx context.Context, now time.Time, limit int) ([]string, error)
}

// StalledLister is the optional capability of a FencedStore behind Router.Sweep (scaled-out mode):
// StalledConversations returns up to limit conversations with an unhandled inbound message that made no
// progress since before (its oldest unhandled message was stored, or its last turn committed, earlier)
// and whose turn lock nobody holds — typically a message a node stored and then died before its turn
// committed. A cheap index maintained by the store's writes, not a scan of every conversation.
type StalledLister interface {
	StalledConversations(ctx context.Context, before time.Time, limit int) ([]string, error)
}

// ErrStaleFence is CommitTurnFenced's refusal of a turn whose lock was lost (compare with errors.Is;
// its code is ECONFLICT, but unlike "already committed" the turn must run again under a new lock).
var ErrStaleFence = casesvc.Errorf(casesvc.ECONFLICT, "The turn's lock was lost.")

// Router owns ordering, dedupe and sequence numbers: it stores every inbound message before anything is
// acknowledged and runs exactly one turn at a time per conversation, in seq order.
//
// Lifecycle: NewRouter, RegisterSender for every push channel, then Recover before serving (it re-runs
// turns a crash left unhandled), StartDelivery (it resumes pending deliveries), then
// Receive/ProcessSync/Start from adapters, and Close on shutdown (after the HTTP server stopped and
// the notice relay ended): Close drains the turns first, then the delivery loop.
type Router struct {
	store Store
	// oneWrite is the store when Converse may store a message together with its turn (an
	// InboundTurnStore, or a FencedStore under a Locker; not SeparateWrites); nil: every message is
	// stored first.
	oneWrite InboundTurnStore
	dialog   Dialog
	bus      Bus
	locker   Locker // nil: in-process ordering only (see RouterConfig.Locker)
	log      *slog.Logger
	metrics  *Metrics
	now      func() time.Time
	timeout  time.Duration
	slowTurn time.Duration

	handoffsMu sync.RWMutex
	handoffs   Handoffs

	// stripes make "store, then enqueue" one step per conversation, so the worker sees seq order.
	stripes [64]sync.Mutex

	mu      sync.Mutex
	closed  bool
	workers map[string]*worker
	idle    chan *worker // parked runners take new conversations' queues here (unbuffered)
	waiters map[waitKey][]chan turnResult
	wg      sync.WaitGroup

	ctx    context.Context // the workers' context: turns outlive the request that caused them
	cancel context.CancelFunc

	sendersMu   sync.RWMutex
	senders     map[string]senderEntry
	deliveryCfg DeliveryConfig
	delivery    *deliveryLoop // set by StartDelivery; guarded by mu
}

// worker is the serial queue of one active conversation; its goroutine exits when the queue is empty.
//
// The queue holds the jobs of stored messages (and the opening turn) first, in seq order, then the
// jobs of messages not stored yet (Converse), in arrival order: a message stored meanwhile has a lower
// seq than any of those will get, so its turn runs first and turns stay in seq order.
type worker struct {
	conversation string
	jobs         []job   // guarded by Router.mu
	running      running // what the running job's message is (guarded by Router.mu)
}

// running is the state of a worker's running job's message, which decides whether a Converse
// message arriving meanwhile queues behind it or is stored first (Router.converse).
type running int

const (
	runningStored      running = iota // a stored message's turn, or nothing running
	runningUnstored                   // a Converse message not stored yet: a later one queues behind it
	runningStoredEarly                // a Converse message stored before its turn ended (an effect, SlowTurn)
)

type job struct {
	conversation string
	start        bool    // the opening turn
	msg          Message // the inbound message, when !start and in == nil
	// in is a customer message not stored yet (Converse): the worker stores it with its turn, or alone
	// first (see runConverse). stored is told once, when it is stored or could not be.
	in     *Inbound
	stored func(Stored, error)
	// check asks for the "already handled?" read before the turn. Only a job Recover queued needs it
	// (or any job under a Locker, where other nodes run turns too): a live Receive queues a message it
	// just stored, and Recover queues its jobs under the conversation's stripe, so a message queued by
	// both has its live job first, which runs it; the recovered one finds it handled.
	check bool
	done  chan turnResult
}

type turnResult struct {
	replies []Message
	err     error
	// msg and dup: a Converse job's message as stored, and whether it repeated a ClientID (then the
	// first one's turn answers it, and replies is empty).
	msg Message
	dup bool
}

type waitKey struct {
	conversation string
	seq          int64
}

// NewRouter returns a Router; it starts no goroutine until there is work.
func NewRouter(cfg RouterConfig) (*Router, error) {
	if cfg.Store == nil || cfg.Dialog == nil {
		return nil, casesvc.Errorf(casesvc.EINVALID, "channels: router needs a Store and a Dialog")
	}
	if _, ok := cfg.Store.(FencedStore); cfg.Locker != nil && !ok {
		return nil, casesvc.Errorf(casesvc.EINVALID, "channels: a Locker needs a FencedStore")
	}
	r := &Router{
		store: cfg.Store, dialog: cfg.Dialog, bus: cfg.Bus, locker: cfg.Locker, log: cfg.Logger, metrics: cfg.Metrics,
		now: cfg.Now, timeout: cfg.TurnTimeout, slowTurn: cfg.SlowTurn,
		workers: make(map[string]*worker), idle: make(chan *worker), waiters: make(map[waitKey][]chan turnResult),
		senders: make(map[string]senderEntry), deliveryCfg: cfg.Delivery, handoffs: cfg.Handoffs,
	}
	r.deliveryCfg.defaults()
	if r.slowTurn <= 0 {
		r.slowTurn = time.Second
	}
	switch s := cfg.Store.(type) {
	case FencedStore:
		if cfg.Locker != nil && !cfg.SeparateWrites {
			r.oneWrite = fencedOneWrite{s}
		}
	case InboundTurnStore:
		if cfg.Locker == nil && !cfg.SeparateWrites {
			r.oneWrite = s
		}
	}
	if r.bus == nil {
		r.bus = NewMemoryBus(64)
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.timeout <= 0 {
		r.timeout = 30 * time.Second
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	return r, nil
}

// SetHandoffs sets the handoff routing (see RouterConfig.Handoffs). Call it before Recover.
func (r *Router) SetHandoffs(h Handoffs) {
	r.handoffsMu.Lock()
	defer r.handoffsMu.Unlock()
	r.handoffs = h
}

func (r *Router) handoffRouting() Handoffs {
	r.handoffsMu.RLock()
	defer r.handoffsMu.RUnlock()
	return r.handoffs
}

// Metrics returns the metrics the router records into (may be nil), for adapters to share.
func (r *Router) Metrics() *Metrics { return r.metrics }

// Receive stores an inbound message and schedules its turn. It returns once the message is stored, so
// the adapter may acknowledge it; dup reports a repeated ClientID, in which case msg is the message
// first stored and nothing is scheduled again. Errors: EINVALID, EUNAVAILABLE (closing), store errors.
func (r *Router) Receive(ctx context.Context, in Inbound) (msg Message, dup bool, err error) {
	if err := validInbound(in); err != nil {
		return Message{}, false, err
	}
	id, err := r.openConversationID(ctx, in)
	if err != nil {
		return Message{}, false, err
	}
	return r.receive(ctx, id, in, nil)
}

// receive stores in and queues its turn; done, when set, gets the turn's result (not for a dup).
func (r *Router) receive(ctx context.Context, conversation string, in Inbound, done chan turnResult) (Message, bool, error) {
	if r.isClosed() {
		return Message{}, false, casesvc.Errorf(casesvc.EUNAVAILABLE, "The service is shutting down.")
	}
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = r.now()
	}
	stripe := r.stripe(conversation)
	stripe.Lock()
	defer stripe.Unlock()
	msg, dup, err := r.store.AppendInbound(ctx, conversation, in)
	if err != nil || dup {
		return msg, dup, err
	}
	if msg.Direction == DirIn {
		r.metrics.messageIn(in.Channel)
	}
	r.bus.Publish(msg)
	// A closed router leaves the message unhandled in the store; Recover runs it at the next start.
	if err := r.enqueue(job{conversation: conversation, msg: msg, done: done}); err != nil && done != nil {
		done <- turnResult{err: err}
	}
	return msg, false, nil
}

// ReceiveInto stores an inbound message or event (in.Event) in an existing conversation, found by id,
// and schedules its turn, like Receive. in.Channel and in.Contact may be empty: the conversation's
// are used. It is the path of proactive events (NoticeRelay) and of adapters that already know the
// conversation. ENOTFOUND for an unknown conversation.
func (r *Router) ReceiveInto(ctx context.Context, conversation string, in Inbound) (msg Message, dup bool, err error) {
	conv, err := r.store.Conversation(ctx, conversation)
	if err != nil {
		return Message{}, false, err
	}
	if in.Channel == "" {
		in.Channel = conv.Channel
	}
	if in.Contact == "" {
		in.Contact = conv.Contact
	}
	if err := validInbound(in); err != nil {
		return Message{}, false, err
	}
	return r.receive(ctx, conv.ID, in, nil)
}

// ProcessSync receives in and waits until its turn is committed, returning the conversation and the
// replies in order. A new conversation's opening turn runs first and its replies come first. A repeated
// ClientID returns the replies of the first processing.
func (r *Router) ProcessSync(ctx context.Context, in Inbound) (*Conversation, []Message, error) {
	if err := validInbound(in); err != nil {
		return nil, nil, err
	}
	conv, _, err := r.store.OpenConversation(ctx, in.Channel, in.Contact, in.Lang)
	if err != nil {
		return nil, nil, err
	}
	var out []Message
	if !conv.Started {
		greeting, err := r.Start(ctx, conv.ID)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, greeting...)
	}
	done := make(chan turnResult, 1)
	var msg Message
	var dup, queued bool
	if in.Event == "" { // the message and its turn in one write when they can (converse.go)
		queued, err = r.converse(conv.ID, in, nil, done)
	}
	if !queued && err == nil {
		msg, dup, err = r.receive(ctx, conv.ID, in, done)
	}
	if err != nil {
		return nil, nil, err
	}
	var replies []Message
	if !dup {
		select {
		case res := <-done:
			replies, err, msg, dup = res.replies, res.err, res.msg, res.dup
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err == nil && dup { // the first processing may be over, running or (after a crash) queued by Recover
		replies, err = r.await(ctx, conv.ID, msg.Seq)
	}
	if err != nil {
		return nil, nil, err
	}
	return conv, append(out, replies...), nil
}

// Start runs the opening turn (dialog.EventStart) of a conversation and waits for its commit, returning
// the greeting. It runs at most once per conversation: when it already ran, it returns no messages.
func (r *Router) Start(ctx context.Context, conversation string) ([]Message, error) {
	done := make(chan turnResult, 1)
	if err := r.enqueue(job{conversation: conversation, start: true, done: done}); err != nil {
		return nil, err
	}
	select {
	case res := <-done:
		return res.replies, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Recover re-runs, in seq order per conversation, every inbound message whose turn a crash left
// uncommitted, and waits for them. Call it once at start-up, before serving. It returns how many ran.
func (r *Router) Recover(ctx context.Context) (int, error) {
	msgs, err := r.store.Unhandled(ctx)
	if err != nil {
		return 0, err
	}
	dones := make([]chan turnResult, 0, len(msgs))
	for _, m := range msgs {
		done := make(chan turnResult, 1)
		// Under the stripe, like receive: a live job for the same message is then always queued first.
		stripe := r.stripe(m.Conversation)
		stripe.Lock()
		err := r.enqueue(job{conversation: m.Conversation, msg: m, check: true, done: done})
		stripe.Unlock()
		if err != nil {
			return 0, err
		}
		dones = append(dones, done)
	}
	for _, d := range dones {
		select {
		case <-d:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	if len(msgs) > 0 {
		r.log.Info("recovered unhandled messages", "count", len(msgs))
	}
	return len(msgs), nil
}

// sweepBatch bounds how many stalled conversations one Sweep takes on.
const sweepBatch = 100

// Sweep is the cross-node recovery of the scaled-out mode (a Locker and a StalledLister store; else it
// does nothing): it runs the unhandled messages of conversations stalled for longer than grace, as
// Recover does at start-up, so a message a dead node stored but never answered is answered without
// waiting for the customer to write again or a node to restart. Each such conversation gets one job,
// for its last unhandled message, run under the conversation's lock: runLocked runs the earlier ones
// first, in seq order, and checks every message, so a message some node handles meanwhile runs once.
// Conversations this node is working on are skipped (its worker catches up on them). It waits for the
// jobs (or ctx) and returns how many unhandled messages it found.
func (r *Router) Sweep(ctx context.Context, grace time.Duration) (int, error) {
	lister, ok := r.store.(StalledLister)
	if r.locker == nil || !ok {
		return 0, nil
	}
	ids, err := lister.StalledConversations(ctx, r.now().Add(-grace), sweepBatch)
	if err != nil {
		return 0, err
	}
	found := 0
	var dones []chan turnResult
	for _, id := range ids {
		r.mu.Lock()
		busy := r.workers[id] != nil
		r.mu.Unlock()
		if busy {
			continue
		}
		msgs, err := r.store.(FencedStore).ConversationUnhandled(ctx, id)
		if err != nil {
			return found, err
		}
		if len(msgs) == 0 {
			continue
		}
		done := make(chan turnResult, 1)
		stripe := r.stripe(id) // as in Recover: a live job for the same message is queued first
		stripe.Lock()
		err = r.enqueue(job{conversation: id, msg: msgs[len(msgs)-1], check: true, done: done})
		stripe.Unlock()
		if err != nil {
			return found, err
		}
		found += len(msgs)
		dones = append(dones, done)
	}
	for _, d := range dones {
		select {
		case <-d:
		case <-ctx.Done():
			return found, ctx.Err()
		}
	}
	if found > 0 {
		r.log.Info("swept stalled conversations", "conversations", len(dones), "messages", found)
	}
	return found, nil
}

// RunSweeper calls Sweep every interval until ctx ends (scaled-out mode; see Sweep). Failures, such as
// Redis being away, are logged and tried again at the next tick.
func (r *Router) RunSweeper(ctx context.Context, every, grace time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.ctx.Done():
			return
		case <-t.C:
		}
		sctx, cancel := context.WithTimeout(ctx, every+r.timeout)
		if _, err := r.Sweep(sctx, grace); err != nil && ctx.Err() == nil && !r.isClosed() {
			r.log.Warn("sweep of stalled conversations failed; will retry", "code", casesvc.ErrorCode(err), "err", err)
		}
		cancel()
	}
}

// Subscribe returns the live stored messages (both directions) of a conversation. The channel is
// closed when the subscriber falls behind; resubscribe and catch up with MessagesAfter.
func (r *Router) Subscribe(conversation string) (<-chan Message, func()) {
	return r.bus.Subscribe(conversation)
}

// OpenConversation, FindConversation, Conversation and MessagesAfter read through to the Store, so
// adapters never write to it behind the router's back.
func (r *Router) OpenConversation(ctx context.Context, channel, contact, lang string) (*Conversation, bool, error) {
	return r.store.OpenConversation(ctx, channel, contact, lang)
}

// FindConversationByID is Conversation under the name adapters look for.
func (r *Router) FindConversationByID(ctx context.Context, id string) (*Conversation, error) {
	return r.store.Conversation(ctx, id)
}

// FindConversation: see OpenConversation.
func (r *Router) FindConversation(ctx context.Context, channel, contact string) (*Conversation, error) {
	return r.store.FindConversation(ctx, channel, contact)
}

// Conversation: see OpenConversation.
func (r *Router) Conversation(ctx context.Context, id string) (*Conversation, error) {
	return r.store.Conversation(ctx, id)
}

// MessagesAfter: see OpenConversation.
func (r *Router) MessagesAfter(ctx context.Context, conversation string, afterSeq int64, limit int) ([]Message, error) {
	return r.store.MessagesAfter(ctx, conversation, afterSeq, limit)
}

// Close stops accepting work, waits for running turns to finish (or ctx), then cancels the rest.
// Messages still queued stay unhandled in the store and are run by Recover at the next start.
func (r *Router) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	idle := make(chan struct{})
	go func() { r.wg.Wait(); close(idle) }()
	defer r.cancel()
	var err error
	select {
	case <-idle:
	case <-ctx.Done():
		err = ctx.Err()
	}
	r.mu.Lock()
	l := r.delivery
	r.mu.Unlock()
	if l != nil {
		l.closeOnce.Do(func() { err = errors.Join(err, l.close(ctx)) })
	}
	return err
}

func (r *Router) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

func (r *Router) stripe(conversation string) *sync.Mutex {
	h := fnv.New32a()
	h.Write([]byte(conversation))
	return &r.stripes[h.Sum32()%uint32(len(r.stripes))]
}

// enqueue appends a job to its conversation's queue. An idle conversation gets a worker: a parked
// goroutine when one waits (see runner), else a new one, so goroutines are not started per message.
func (r *Router) enqueue(j job) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "The service is shutting down.")
	}
	w := r.workers[j.conversation]
	if w != nil {
		w.push(j)
		return nil
	}
	w = &worker{conversation: j.conversation, jobs: append(make([]job, 0, 2), j)}
	r.workers[j.conversation] = w
	r.wg.Add(1)
	select {
	case r.idle <- w: // a parked runner takes it
	default:
		go r.runner(w)
	}
	return nil
}

// runnerIdle is how long a runner goroutine waits for another conversation before it exits.
const runnerIdle = 2 * time.Second

// runner runs conversations' queues one after the other: when one is empty it parks for up to
// runnerIdle, ready to take the next idle conversation enqueue hands it, so a conversation with one
// message at a time does not start a goroutine (and grow its stack) per message. There are never more
// runners than conversations with queued work at one time.
func (r *Router) runner(w *worker) {
	var t *time.Timer
	for {
		r.work(w)
		if t == nil {
			t = time.NewTimer(runnerIdle)
		} else {
			t.Reset(runnerIdle)
		}
		select {
		case w = <-r.idle:
			if !t.Stop() {
				<-t.C
			}
		case <-t.C:
			return
		case <-r.ctx.Done():
			t.Stop()
			return
		}
	}
}

// work runs one conversation's queue until it is empty, a job at a time (a stored message queued
// meanwhile goes ahead of the waiting ones not stored yet; see worker). In the embedded mode the
// conversation read for the first job is kept for the next (the worker serialises the conversation's
// turns, and only they change its state), so jobs queued back to back commit one after the other
// without reading the conversation again.
func (r *Router) work(w *worker) {
	defer r.wg.Done()
	var conv *Conversation // embedded mode: the conversation as of the last commit; nil = read it
	for {
		r.mu.Lock()
		if len(w.jobs) == 0 || r.ctx.Err() != nil {
			left := w.jobs
			w.jobs = nil
			delete(r.workers, w.conversation)
			r.mu.Unlock()
			r.abandon(left)
			return
		}
		j := w.jobs[0]
		w.jobs[0] = job{}
		w.jobs = w.jobs[1:]
		w.running = runningStored
		if j.in != nil {
			w.running = runningUnstored
		}
		r.mu.Unlock()

		var res turnResult
		switch {
		case j.in != nil && r.locker != nil:
			var requeued bool
			if res, requeued = r.runConverseLocked(w, j); requeued {
				continue // stored now; its job runs in seq order
			}
		case j.in != nil:
			var requeued bool
			if res, conv, requeued = r.runConverse(r.ctx, w, j, conv); requeued {
				continue // stored now; its job runs in seq order
			}
		case r.locker != nil: // scaled-out mode: also hold the conversation's cross-node lock
			res = r.runLocked(j)
		case j.start:
			res, conv = r.runStart(r.ctx, j.conversation, conv)
		default:
			res, conv = r.runInbound(r.ctx, j.msg, j.check, conv)
		}
		if j.done != nil {
			j.done <- res
		}
	}
}

// push queues j (r.mu held): a stored message's job (or the opening turn) before the first job of a
// message not stored yet, others at the end.
func (w *worker) push(j job) {
	at := len(w.jobs)
	if j.in == nil {
		for i := range w.jobs {
			if w.jobs[i].in != nil {
				at = i
				break
			}
		}
	}
	w.jobs = append(w.jobs, job{})
	copy(w.jobs[at+1:], w.jobs[at:])
	w.jobs[at] = j
}

// abandon answers the jobs a closing router will not run: stored messages stay unhandled in the store
// (Recover runs them at the next start); a message not stored yet is reported as not stored, so its
// client sends it again.
func (r *Router) abandon(jobs []job) {
	for _, j := range jobs {
		if j.in == nil {
			continue
		}
		err := casesvc.Errorf(casesvc.EUNAVAILABLE, "The service is shutting down.")
		if j.stored != nil {
			j.stored(Stored{}, err)
		}
		if j.done != nil {
			j.done <- turnResult{err: err}
		}
	}
}

// runStart commits the opening turn unless it already ran. conv is the worker's copy of the
// conversation (nil: read it); it returns the copy as of the commit, or nil when it must be read again.
func (r *Router) runStart(ctx context.Context, id string, conv *Conversation) (turnResult, *Conversation) {
	if conv == nil {
		var err error
		if conv, err = r.store.Conversation(ctx, id); err != nil {
			return turnResult{err: err}, nil
		}
	}
	if conv.Started {
		return turnResult{}, conv
	}
	at := r.now()
	in := dialog.Input{
		Conversation: conv.ID, Channel: conv.Channel, Contact: conv.Contact,
		Event: dialog.EventStart, Lang: conv.Lang, At: at,
	}
	state, replies := r.turn(ctx, conv, in)
	_, push := r.senderFor(conv.Channel)
	stored, err := r.commitTurn(ctx, Turn{Conversation: conv.ID, State: state, Replies: replies, At: r.now(), Deliver: push})
	if errors.Is(err, ErrStaleFence) {
		return turnResult{err: err}, nil // the lock was lost: runLocked runs it again
	} else if casesvc.ErrorCode(err) == casesvc.ECONFLICT {
		return turnResult{}, nil // another start won the race
	} else if err != nil {
		r.log.Error("commit opening turn", "conversation", conv.ID, "code", casesvc.ErrorCode(err), "err", err)
		return turnResult{err: err}, nil
	}
	r.published(conv, stored, at)
	if len(stored) > 0 && stored[0].Seq != conv.LastSeq+1 {
		// A message was stored while the greeting ran (Receive takes no turn): the copy would skip
		// it, and a one-write commit after the greeting would pass its last-seq check. Read again.
		return turnResult{replies: stored}, nil
	}
	conv.State, conv.Started = state, true
	if len(stored) > 0 {
		conv.LastSeq = stored[len(stored)-1].Seq
	}
	return turnResult{replies: stored}, conv
}

// runInbound runs and commits the turn of one stored inbound message (see handleInbound).
func (r *Router) runInbound(ctx context.Context, m Message, check bool, conv *Conversation) (turnResult, *Conversation) {
	res, conv := r.handleInbound(ctx, m, check, conv)
	r.notify(waitKey{m.Conversation, m.Seq}, res)
	return res, conv
}

// handleInbound runs and commits the turn of m. check reads first whether m is already handled (see
// job.check). conv is the worker's copy of the conversation (nil: read it from the store); the
// returned copy is the conversation as of the commit, or nil when it must be read again.
func (r *Router) handleInbound(ctx context.Context, m Message, check bool, conv *Conversation) (turnResult, *Conversation) {
	if conv == nil {
		var err error
		if conv, err = r.store.Conversation(ctx, m.Conversation); err != nil {
			return turnResult{err: err}, nil
		}
	}
	if !conv.Started {
		// An adapter that never called Start still gets the greeting before the first answer.
		var res turnResult
		if res, conv = r.runStart(ctx, conv.ID, conv); res.err != nil {
			return res, nil
		}
		if conv == nil {
			var err error
			if conv, err = r.store.Conversation(ctx, m.Conversation); err != nil {
				return turnResult{err: err}, nil
			}
		}
	}
	// Recover and a live Receive may both queue a message; run it once.
	if check {
		if cur, err := r.store.MessagesAfter(ctx, m.Conversation, m.Seq-1, 1); err == nil && len(cur) == 1 && cur[0].Handled {
			return r.repliesTo(ctx, m.Conversation, m.Seq), conv
		}
	}
	at := r.now()
	handled, state, replies, err := r.handoffTurn(ctx, conv, m)
	if err != nil {
		// Left unhandled: Recover runs it again at the next start.
		r.log.Error("handoff routing", "conversation", conv.ID, "seq", m.Seq, "code", casesvc.ErrorCode(err))
		return turnResult{err: err}, nil
	}
	dialogTurn := !handled || m.Event == EventHandoff
	if !handled {
		in := dialog.Input{
			Conversation: conv.ID, Channel: conv.Channel, Contact: conv.Contact, Seq: m.Seq,
			Text: m.Text, Action: m.Action, Lang: m.Lang, At: m.TS,
			Attachments: m.Attachments, Event: m.Event, Notice: m.Notice,
		}
		if in.Lang == "" {
			in.Lang = conv.Lang
		}
		state, replies = r.turn(ctx, conv, in)
	}
	_, push := r.senderFor(conv.Channel)
	stored, err := r.commitTurn(ctx, Turn{
		Conversation: conv.ID, InboundSeq: m.Seq, State: state, Replies: replies, At: r.now(), Deliver: push,
	})
	if errors.Is(err, ErrStaleFence) {
		return turnResult{err: err}, nil // the lock was lost: runLocked runs it again
	} else if casesvc.ErrorCode(err) == casesvc.ECONFLICT {
		return r.repliesTo(ctx, m.Conversation, m.Seq), nil
	} else if err != nil {
		// Left unhandled: Recover runs it again at the next start.
		r.log.Error("commit turn", "conversation", conv.ID, "seq", m.Seq, "code", casesvc.ErrorCode(err), "err", err)
		return turnResult{err: err}, nil
	}
	r.published(conv, stored, at)
	conv.State = state
	conv.LastSeq = max(conv.LastSeq, lastSeq(m, stored))
	if dialogTurn {
		r.afterTurn(ctx, conv.ID)
	}
	return turnResult{replies: stored}, conv
}

// fenceKey carries the fencing token of a turn run under RouterConfig.Locker in the turn's context.
type fenceKey struct{}

// commitTurn commits through FencedStore.CommitTurnFenced when the turn runs under a cross-node lock,
// else through Store.CommitTurn (the embedded path, unchanged).
func (r *Router) commitTurn(ctx context.Context, t Turn) ([]Message, error) {
	if token, ok := ctx.Value(fenceKey{}).(int64); ok {
		return r.store.(FencedStore).CommitTurnFenced(writeContext(ctx), t, token)
	}
	return r.store.CommitTurn(ctx, t)
}

// writeContext is the context of a store write in a turn. Under a cross-node lock the turn's context
// is the lock's, which the Locker cancels as soon as a renewal finds the lock lost; the write must
// still reach the store then, so that a fenced commit is refused with ErrStaleFence (and the turn
// runs again) and an append stores the message, instead of both failing with the cancellation and
// the customer hearing the message was not stored. So under a lock it is ctx without its
// cancellation: the Redis client bounds every command by its own read and write timeouts, and Close
// waits for the workers before it cancels the router's context anyway. Outside a lock it is ctx.
func writeContext(ctx context.Context) context.Context {
	if _, locked := ctx.Value(fenceKey{}).(int64); locked {
		return context.WithoutCancel(ctx)
	}
	return ctx
}

// maxFencedAttempts bounds how often a turn whose lock was lost runs again in a row.
const maxFencedAttempts = 3

// runLocked runs a job under the conversation's cross-node lock (scaled-out mode). Another node may
// have stored earlier messages of the conversation than j's and not run them yet: the lock holder runs
// them first, in seq order, so turns follow seq order across nodes (the node that queued them finds
// them handled and just reads their replies). A turn whose lock was lost before its commit is refused
// by the store (ErrStaleFence) and runs again under a new lock. Waiters hear of j's result once.
func (r *Router) runLocked(j job) turnResult {
	var res turnResult
	for range maxFencedAttempts {
		held, token, unlock, conv, unhandled, err := r.locker.LockAndRead(r.ctx, j.conversation)
		if err != nil {
			r.log.Error("conversation lock", "conversation", j.conversation, "code", casesvc.ErrorCode(err))
			res = turnResult{err: err} // left unhandled: a later message or Recover runs it
			break
		}
		ctx := context.WithValue(held, fenceKey{}, token)
		// Other nodes run turns too: read the conversation under the lock and check every message.
		switch {
		case conv == nil:
			res = turnResult{err: casesvc.Errorf(casesvc.ENOTFOUND, "Conversation not found.")}
		case j.start:
			res, _ = r.runStart(ctx, j.conversation, conv)
		default:
			res = r.runThrough(ctx, j.msg, conv, unhandled)
		}
		unlock()
		if !errors.Is(res.err, ErrStaleFence) {
			break
		}
		r.log.Warn("turn lock lost before commit; running the turn again", "conversation", j.conversation)
	}
	if !j.start {
		r.notify(waitKey{j.msg.Conversation, j.msg.Seq}, res)
	}
	return res
}

// runThrough runs, in seq order, the conversation's unhandled messages stored up to m (by any node),
// m last, and returns m's result; when m is no longer unhandled (another node or Recover ran it), its
// stored replies. It returns ErrStaleFence when the lock was lost; other failures leave that message
// unhandled (as in the in-process path) and go on.
//
// conv and unhandled are what the lock was granted with (Locker.LockAndRead). Under the lock that
// unhandled list is the truth for every turn run here (only a holder of the lock commits, fenced), so
// no message is checked again before its turn, and conv serves the first turn.
func (r *Router) runThrough(ctx context.Context, m Message, conv *Conversation, unhandled []Message) turnResult {
	for _, e := range unhandled {
		if e.Seq > m.Seq {
			break
		}
		var res turnResult
		res, conv = r.handleInbound(ctx, e, false, conv) // conv nil: handleInbound reads it again
		if e.Seq == m.Seq || errors.Is(res.err, ErrStaleFence) {
			return res
		}
		r.notify(waitKey{e.Conversation, e.Seq}, res)
	}
	return r.repliesTo(ctx, m.Conversation, m.Seq)
}

// dialogHandback is the dialog input of an ended handoff.
func dialogHandback(conv *Conversation, m Message, u HandoffUpdate, lang string) dialog.Input {
	return dialog.Input{
		Conversation: conv.ID, Channel: conv.Channel, Contact: conv.Contact, Seq: m.Seq,
		Event: dialog.EventHandback, Handback: &dialog.Handback{Agent: u.Agent, Resolved: u.Resolved},
		Lang: lang, At: m.TS,
	}
}

// turn calls the dialog; a failure (error, panic or timeout) keeps the old state and answers with a
// system apology, so a conversation never wedges on one bad turn.
func (r *Router) turn(ctx context.Context, conv *Conversation, in dialog.Input) (state []byte, replies []Message) {
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	newState, out, err := r.safeTurn(ctx, conv.State, in)
	if err != nil {
		// The error text may quote the customer; log its code only.
		r.log.Error("dialog turn failed", "conversation", conv.ID, "seq", in.Seq, "event", in.Event,
			"code", casesvc.ErrorCode(err))
		r.metrics.dialogError()
		lang := in.Lang
		if lang == "" {
			lang = conv.Lang
		}
		return conv.State, []Message{{From: FromSystem, Text: text(lang, "apology")}}
	}
	replies = make([]Message, 0, len(out))
	for _, o := range out {
		replies = append(replies, Message{From: FromBot, Text: o.Text, Buttons: o.Buttons})
	}
	return newState, replies
}

func (r *Router) safeTurn(ctx context.Context, state []byte, in dialog.Input) (newState []byte, replies []dialog.Reply, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("dialog panic: %v", p)
		}
	}()
	newState, replies, err = r.dialog.Turn(ctx, state, in)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	return newState, replies, err
}

// published records a committed turn and hands its replies to live subscribers.
func (r *Router) published(conv *Conversation, stored []Message, started time.Time) {
	r.metrics.turn(r.now().Sub(started))
	r.metrics.messageOut(conv.Channel, len(stored))
	for _, m := range stored {
		r.bus.Publish(m)
	}
	if len(stored) > 0 {
		if _, push := r.senderFor(conv.Channel); push {
			r.pokeDelivery()
		}
	}
}

// await waits until the inbound seq's turn is committed and returns its replies. The waiter is
// registered before the store is checked, so a commit can't slip between the check and the wait.
func (r *Router) await(ctx context.Context, conversation string, seq int64) ([]Message, error) {
	key := waitKey{conversation, seq}
	ch := make(chan turnResult, 1)
	r.mu.Lock()
	r.waiters[key] = append(r.waiters[key], ch)
	r.mu.Unlock()
	defer r.unwait(key, ch)

	cur, err := r.store.MessagesAfter(ctx, conversation, seq-1, 1)
	if err != nil {
		return nil, err
	}
	if len(cur) == 1 && cur[0].Handled {
		res := r.repliesTo(ctx, conversation, seq)
		return res.replies, res.err
	}
	select {
	case res := <-ch:
		return res.replies, res.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (r *Router) unwait(key waitKey, ch chan turnResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	list := r.waiters[key]
	for i, c := range list {
		if c == ch {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(r.waiters, key)
	} else {
		r.waiters[key] = list
	}
}

func (r *Router) notify(key waitKey, res turnResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, ch := range r.waiters[key] {
		select {
		case ch <- res:
		default:
		}
	}
	delete(r.waiters, key)
}

// repliesTo reads back the stored replies of an already committed turn. They are contiguous (one
// commit), so the scan stops after them; a turn that said nothing costs a bounded scan.
func (r *Router) repliesTo(ctx context.Context, conversation string, seq int64) turnResult {
	const page, maxScan = 200, 2000
	var out []Message
	after := seq
	for scanned := 0; scanned < maxScan; {
		msgs, err := r.store.MessagesAfter(ctx, conversation, after, page)
		if err != nil {
			return turnResult{err: err}
		}
		for _, m := range msgs {
			if m.Direction == DirOut && m.ReplyTo == seq {
				out = append(out, m)
			} else if len(out) > 0 {
				return turnResult{replies: out}
			}
		}
		if len(msgs) < page {
			break
		}
		scanned += len(msgs)
		after = msgs[len(msgs)-1].Seq
	}
	return turnResult{replies: out}
}

// NoticeClientIDPrefix starts the ClientID of a notice event ("notice:<id>"); customer input may not
// use it, so a customer cannot pre-empt (and so suppress) a notice by choosing its id.
const NoticeClientIDPrefix = "notice:"

func validInbound(in Inbound) error {
	switch {
	case in.Channel == "":
		return casesvc.Errorf(casesvc.EINVALID, "Channel required.")
	case in.Contact == "":
		return casesvc.Errorf(casesvc.EINVALID, "Sender required.")
	case in.Event != "" && in.Event != dialog.EventNotice && in.Event != EventAgentMessage && in.Event != EventHandoff:
		return casesvc.Errorf(casesvc.EINVALID, "Unknown event.")
	case in.Event == dialog.EventNotice && in.Notice == nil:
		return casesvc.Errorf(casesvc.EINVALID, "Notice required.")
	case in.Event == "" && ReservedClientID(in.ClientID):
		return casesvc.Errorf(casesvc.EINVALID, "This id is reserved.")
	case in.Event == "" && in.Text == "" && in.Action == "" && len(in.Attachments) == 0:
		return casesvc.Errorf(casesvc.EINVALID, "Text or action required.")
	}
	return nil
}
