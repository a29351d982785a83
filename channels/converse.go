package channels

import (
	"context"
	"errors"
	"sync"
	"time"

	"claimline/casesvc"
	"claimline/dialog"
)

// One-write turns.
//
// Receive stores a message, acknowledges it and then runs its turn, which stores the replies: two
// writes per message. A client that waits for the answer anyway (web chat, REST) can have both in one:
// Converse queues the message unstored, the conversation's worker runs the turn, then stores the
// message (already handled), the replies and the new state in one atomic write
// (InboundTurnStore.CommitInbound), and only then is the message acknowledged. Nothing acknowledged is
// ever lost, and a message lost in a crash before the write was never acknowledged, so its client
// sends it again (web chat's outbox, a REST retry with the same id).
//
// The turn is pure until it would change something outside the conversation (file a claim, attach a
// document, ask for a person...): dialog calls the hook set here first (dialog.WithStoreBeforeEffects),
// which stores the message alone, so no effect ever happens for an unstored message; the turn then
// commits the ordinary way. A turn still running after RouterConfig.SlowTurn has its message stored
// the same way, from a timer, so a stuck turn never keeps a customer's message unstored; once the
// running turn's message is stored, a message arriving is stored at once too. A message is also
// stored first when a person holds the conversation (the handoff service answers it, with effects
// of its own), and when a message was stored in the conversation meanwhile (a notice, an upload):
// then its turn is thrown away, and it runs again after the ones stored before it, so turns always
// run in seq order.

// Converse stores a customer message and runs its turn, for adapters whose customer waits for the
// answer (see above). stored is called once, from the conversation's worker, when the message is stored
// (see Stored; a repeated ClientID is answered by the first one's turn) or could not be (err: the
// client should send it again); the turn's replies reach the bus after it. When Converse returns an
// error the message was refused before anything was queued, and stored is not called.
//
// The message is stored alone first, as Receive does (and stored is called before Converse returns),
// when its conversation has turns of stored messages waiting (a notice, a burst of webhooks), so its
// acknowledgement does not wait behind them; behind an earlier message of its own not stored yet it
// queues, keeping the customer's order. It is always stored first without the store's capability
// or with RouterConfig.SeparateWrites. Under a Locker the turn runs under the conversation's lock and
// commits fenced, with the message (see runConverseLocked). Errors: EINVALID, EUNAVAILABLE (closing),
// store errors.
func (r *Router) Converse(ctx context.Context, in Inbound, stored func(Stored, error)) error {
	if err := validInbound(in); err != nil {
		return err
	}
	if in.Event != "" {
		return casesvc.Errorf(casesvc.EINVALID, "Events go through ReceiveInto.")
	}
	id, err := r.openConversationID(ctx, in)
	if err != nil {
		return err
	}
	if queued, err := r.converse(id, in, stored, nil); queued || err != nil {
		return err
	}
	msg, dup, err := r.receive(ctx, id, in, nil)
	if err != nil {
		return err
	}
	if !dup {
		r.metrics.converseWrite("first")
	}
	stored(Stored{Msg: msg, Dup: dup}, nil)
	return nil
}

// openConversationID opens in's conversation and returns its id, without reading the conversation
// where the store can (ConversationIDOpener).
func (r *Router) openConversationID(ctx context.Context, in Inbound) (string, error) {
	if o, ok := r.store.(ConversationIDOpener); ok {
		return o.OpenConversationID(ctx, in.Channel, in.Contact, in.Lang)
	}
	conv, _, err := r.store.OpenConversation(ctx, in.Channel, in.Contact, in.Lang)
	if err != nil {
		return "", err
	}
	return conv.ID, nil
}

// ReceiveSoon is Receive for webhooks: it returns once the message is stored, so the provider may be
// answered, but when the conversation has nothing queued the message is stored together with its
// turn (Converse), one write instead of two; the answer then waits for the turn, never for other
// turns, and a turn that reaches an effect (say, a slow case service) has its message stored, and
// ReceiveSoon return, before the effect. When ctx ends first it returns ctx's error; the message may
// still be stored (a retry is deduped by its ClientID).
func (r *Router) ReceiveSoon(ctx context.Context, in Inbound) (Stored, error) {
	type result struct {
		s   Stored
		err error
	}
	done := make(chan result, 1)
	if err := r.Converse(ctx, in, func(s Stored, err error) { done <- result{s, err} }); err != nil {
		return Stored{}, err
	}
	select {
	case res := <-done:
		return res.s, res.err
	case <-ctx.Done():
		return Stored{}, ctx.Err()
	}
}

// Stored is what Converse and ReceiveSoon report of a stored message.
type Stored struct {
	Msg Message // the message as stored (for a repeat, the first one)
	Dup bool    // a repeated ClientID: nothing new was stored
	// Replies are the turn's replies when they were stored together with the message (one write):
	// the message's seq is followed by theirs, with nothing between. Nil when the message was
	// stored first (its turn answers later) or is a repeat.
	Replies []Message
}

// converse queues a Converse job when the router can store it with its turn, unless the conversation
// has turns of stored messages waiting and none of a message not stored yet (that one must keep its
// place before this, so this queues behind it); queued false means the caller stores it first.
func (r *Router) converse(conversation string, in Inbound, stored func(Stored, error), done chan turnResult) (queued bool, err error) {
	if r.oneWrite == nil {
		return false, nil
	}
	if in.ReceivedAt.IsZero() {
		in.ReceivedAt = r.now()
	}
	r.mu.Lock()
	w := r.workers[conversation]
	// Stored first behind a stored message's queued turns, or behind a turn that stored its own
	// message early (it may run on for long); one write behind anything else.
	storeFirst := w != nil && (w.running == runningStoredEarly || len(w.jobs) > 0 && w.running == runningStored)
	for i := 0; storeFirst && i < len(w.jobs); i++ {
		// An earlier message of the customer not stored yet must keep its place before this one.
		storeFirst = w.jobs[i].in == nil
	}
	r.mu.Unlock()
	if storeFirst {
		return false, nil
	}
	return true, r.enqueue(job{conversation: conversation, in: &in, stored: stored, done: done})
}

// HoldReporter is the optional capability of Handoffs behind one-write turns: whether a person holds
// the conversation now, before the customer's message m is stored. When none does, Holding also takes
// note of m as Intercept does of a message it does not hold (the quality figures), so the router
// does not call Intercept for it: one read of the holds per message. A held conversation's message
// (or an error) is stored first and goes to Intercept as usual. Holds begin only in the
// conversation's own turns (a dialog handoff request), so the answer stays true for the turn the
// worker is about to run. Without it, every message of a router with Handoffs is stored first.
type HoldReporter interface {
	Holding(ctx context.Context, conv *Conversation, m Message) (bool, error)
}

// runConverse runs the job of a message not stored yet (see the top of this file). It returns the
// job's result and the worker's copy of the conversation (nil: read it again); requeued means the
// message was stored alone and its job queued again, in seq order, to run the ordinary way.
func (r *Router) runConverse(ctx context.Context, w *worker, j job, conv *Conversation) (turnResult, *Conversation, bool) {
	if conv == nil {
		var err error
		if conv, err = r.store.Conversation(ctx, j.conversation); err != nil {
			return r.notStored(j, err), nil, false
		}
	}
	if !conv.Started {
		// The greeting comes before the first answer, as in handleInbound.
		var res turnResult
		if res, conv = r.runStart(ctx, conv.ID, conv); errors.Is(res.err, ErrStaleFence) {
			return res, nil, false // nothing of j stored: runConverseLocked runs it again
		} else if res.err != nil {
			return r.notStored(j, res.err), nil, false
		}
		if conv == nil { // another start won, or a message was stored meanwhile: it runs first
			return r.storeFirst(ctx, w, j)
		}
	}
	in := *j.in
	m := Message{
		Conversation: conv.ID, Seq: conv.LastSeq + 1, Direction: DirIn, From: FromCustomer,
		Text: in.Text, Action: in.Action, Lang: in.Lang, ClientID: in.ClientID, TS: in.ReceivedAt,
		Attachments: in.Attachments,
	}
	if h := r.handoffRouting(); h != nil {
		hr, ok := h.(HoldReporter)
		if !ok {
			return r.storeFirst(ctx, w, j)
		}
		if held, err := hr.Holding(ctx, conv, m); err != nil || held {
			if err != nil {
				r.log.Error("handoff routing", "conversation", conv.ID, "code", casesvc.ErrorCode(err))
			}
			return r.storeFirst(ctx, w, j)
		}
	}

	// The hook of dialog.WithStoreBeforeEffects: the first effect of the turn stores the message, and
	// so does a turn still running after SlowTurn (from the timer's goroutine; hence the lock).
	var (
		earlyMu  sync.Mutex
		early    *earlyStore
		finished bool // the turn returned: the timer must not store any more
	)
	storeOnce := func(ctx context.Context) *earlyStore {
		earlyMu.Lock()
		defer earlyMu.Unlock()
		if early == nil && !finished {
			early = r.storeEarly(ctx, w, j, m.Seq)
		}
		return early
	}
	storeNow := func(ctx context.Context) error { return storeOnce(ctx).err } // the turn runs: not finished
	slow := time.AfterFunc(r.slowTurn, func() { storeOnce(ctx) })
	at := r.now()
	din := dialog.Input{
		Conversation: conv.ID, Channel: conv.Channel, Contact: conv.Contact, Seq: m.Seq,
		Text: m.Text, Action: m.Action, Lang: m.Lang, At: m.TS, Attachments: m.Attachments,
	}
	if din.Lang == "" {
		din.Lang = conv.Lang
	}
	state, replies := r.turn(dialog.WithStoreBeforeEffects(ctx, storeNow), conv, din)
	slow.Stop()
	earlyMu.Lock() // waits for a timer that fired and is storing
	finished = true
	earlyMu.Unlock()
	_, push := r.senderFor(conv.Channel)
	turn := Turn{Conversation: conv.ID, State: state, Replies: replies, At: r.now(), Deliver: push}

	if early != nil { // the turn had an effect, so its message is stored (or the turn is void)
		switch {
		case early.dup:
			return turnResult{msg: early.msg, dup: true}, conv, false
		case early.requeued:
			return turnResult{}, nil, true
		case early.err != nil:
			return turnResult{err: early.err}, nil, false
		}
		conv.LastSeq = early.msg.Seq
		m = early.msg
		turn.InboundSeq = m.Seq
		stored, err := r.commitTurn(ctx, turn)
		if errors.Is(err, ErrStaleFence) {
			return turnResult{err: err, msg: m}, nil, false // stored, unhandled: runConverseLocked hands it on
		}
		if err != nil {
			// Left unhandled: Recover runs it again at the next start.
			r.log.Error("commit turn", "conversation", conv.ID, "seq", m.Seq, "code", casesvc.ErrorCode(err), "err", err)
			return turnResult{err: err, msg: m}, nil, false
		}
		return r.committed(conv, m, stored, state, at), conv, false
	}

	msg, stored, dup, err := r.oneWrite.CommitInbound(writeContext(ctx), conv.ID, in, conv.LastSeq, turn)
	switch {
	case errors.Is(err, ErrStaleFence):
		return turnResult{err: err}, nil, false // nothing stored: runConverseLocked runs it again
	case errors.Is(err, ErrSeqMoved):
		// Something was stored since the worker last saw the conversation: the turn ran on an old
		// state. Store the message alone; its turn runs again after the earlier ones.
		res, _, requeued := r.storeFirst(ctx, w, j)
		return res, nil, requeued
	case err != nil:
		r.log.Error("commit inbound turn", "conversation", conv.ID, "code", casesvc.ErrorCode(err), "err", err)
		return r.notStored(j, err), nil, false
	case dup:
		if j.stored != nil {
			j.stored(Stored{Msg: msg, Dup: true}, nil)
		}
		return turnResult{msg: msg, dup: true}, conv, false
	}
	if j.stored != nil {
		j.stored(Stored{Msg: msg, Replies: stored}, nil)
	}
	r.metrics.messageIn(in.Channel)
	r.metrics.converseWrite("one")
	r.bus.Publish(msg)
	return r.committed(conv, msg, stored, state, at), conv, false
}

// fencedOneWrite is a FencedStore's one-write commit, fenced by the token of the lock the turn runs
// under (in its context, as commitTurn finds it).
type fencedOneWrite struct{ FencedStore }

func (f fencedOneWrite) CommitInbound(ctx context.Context, conversation string, in Inbound, lastSeq int64, t Turn) (Message, []Message, bool, error) {
	token, ok := ctx.Value(fenceKey{}).(int64)
	if !ok {
		return Message{}, nil, false, casesvc.Errorf(casesvc.EINTERNAL, "channels: a one-write turn outside its lock")
	}
	return f.CommitInboundFenced(ctx, conversation, in, lastSeq, t, token)
}

// runConverseLocked is runConverse under the conversation's cross-node lock (scaled-out mode). The
// lock is granted with the conversation and its unhandled messages (Locker.LockAndRead): when
// another node (or this one) stored messages that are not handled yet, j's message is stored first
// and runs after them, in seq order; otherwise its turn runs on the conversation as read and commits
// with the message, fenced. A turn whose lock was lost before its commit stored nothing of its
// message and runs again under a new lock; one whose message was stored meanwhile (an effect) goes
// on as that stored message's job.
func (r *Router) runConverseLocked(w *worker, j job) (res turnResult, requeued bool) {
	for range maxFencedAttempts {
		held, token, unlock, conv, unhandled, err := r.locker.LockAndRead(r.ctx, j.conversation)
		if err != nil {
			r.log.Error("conversation lock", "conversation", j.conversation, "code", casesvc.ErrorCode(err))
			return r.notStored(j, err), false
		}
		ctx := context.WithValue(held, fenceKey{}, token)
		switch {
		case conv == nil:
			res = r.notStored(j, casesvc.Errorf(casesvc.ENOTFOUND, "Conversation not found."))
		case len(unhandled) > 0:
			res, _, requeued = r.storeFirst(ctx, w, j)
		default:
			res, _, requeued = r.runConverse(ctx, w, j, conv)
		}
		unlock()
		if requeued || !errors.Is(res.err, ErrStaleFence) {
			return res, requeued
		}
		r.log.Warn("turn lock lost before commit; running the turn again", "conversation", j.conversation)
		if res.msg.Seq > 0 { // stored at an effect: an ordinary stored message's turn from here
			return r.runLocked(job{conversation: j.conversation, msg: res.msg}), false
		}
	}
	return r.notStored(j, res.err), false
}

// committed finishes a Converse job whose turn is stored: the replies go out, the worker's copy of
// the conversation follows the commit, waiters hear of it, and a handoff the turn asked for is
// announced after its replies.
func (r *Router) committed(conv *Conversation, m Message, stored []Message, state []byte, at time.Time) turnResult {
	r.published(conv, stored, at)
	conv.State = state
	conv.LastSeq = max(conv.LastSeq, lastSeq(m, stored))
	res := turnResult{replies: stored, msg: m}
	r.notify(waitKey{m.Conversation, m.Seq}, res)
	r.afterTurn(r.ctx, conv.ID)
	return res
}

// lastSeq is the highest seq of a committed turn: its last reply's, or its message's.
func lastSeq(m Message, replies []Message) int64 {
	if len(replies) > 0 {
		return replies[len(replies)-1].Seq
	}
	return m.Seq
}

// earlyStore is what storing a Converse message at its turn's first effect came to.
type earlyStore struct {
	msg      Message
	dup      bool  // a repeated ClientID: the effect must not happen, the turn is void
	requeued bool  // stored under another seq than the turn ran with: the turn is void
	err      error // non-nil: the effect must not happen
}

// errTurnVoid is what the dialog's effect gets when its turn is thrown away; the customer never sees it.
var errTurnVoid = casesvc.Errorf(casesvc.ECONFLICT, "The turn is run again.")

// storeEarly stores a Converse message when its turn reaches an effect. When the message gets the seq
// the turn ran with, the turn goes on and commits the ordinary way; otherwise the turn is void and
// the message's job is queued again (in seq order) or, for a repeat, answered as a dup.
func (r *Router) storeEarly(ctx context.Context, w *worker, j job, seq int64) *earlyStore {
	msg, dup, requeued, err := r.storeAlone(ctx, w, j, seq)
	if err == nil {
		r.mu.Lock()
		w.running = runningStoredEarly
		r.mu.Unlock()
	}
	switch {
	case err != nil:
		return &earlyStore{err: err}
	case dup:
		return &earlyStore{msg: msg, dup: true, err: errTurnVoid}
	case requeued:
		return &earlyStore{msg: msg, requeued: true, err: errTurnVoid}
	}
	return &earlyStore{msg: msg}
}

// storeFirst stores a Converse message alone and queues its job again to run the ordinary way.
func (r *Router) storeFirst(ctx context.Context, w *worker, j job) (turnResult, *Conversation, bool) {
	msg, dup, requeued, err := r.storeAlone(ctx, w, j, 0)
	switch {
	case err != nil:
		return turnResult{err: err}, nil, false
	case dup:
		return turnResult{msg: msg, dup: true}, nil, false
	}
	return turnResult{}, nil, requeued
}

// storeAlone is receive's step for a Converse message: under the conversation's stripe, store it and,
// unless it got the seq keep (0: none), queue its job again as a stored message's, so it runs after
// every message stored before it. The job's client is told the message is stored (or could not be).
func (r *Router) storeAlone(ctx context.Context, w *worker, j job, keep int64) (msg Message, dup, requeued bool, err error) {
	stripe := r.stripe(j.conversation)
	stripe.Lock()
	msg, dup, err = r.store.AppendInbound(writeContext(ctx), j.conversation, *j.in)
	if err == nil && !dup {
		r.metrics.messageIn(j.in.Channel)
		r.metrics.converseWrite("first")
		r.bus.Publish(msg)
		if msg.Seq != keep {
			r.mu.Lock()
			w.push(job{conversation: j.conversation, msg: msg, done: j.done})
			r.mu.Unlock()
			requeued = true
		}
	}
	stripe.Unlock()
	if err != nil {
		r.log.Error("store message", "conversation", j.conversation, "code", casesvc.ErrorCode(err), "err", err)
	}
	if j.stored != nil {
		j.stored(Stored{Msg: msg, Dup: dup}, err)
	}
	return msg, dup, requeued, err
}

// notStored fails a Converse job whose message was not stored.
func (r *Router) notStored(j job, err error) turnResult {
	if j.stored != nil {
		j.stored(Stored{}, err)
	}
	return turnResult{err: err}
}
