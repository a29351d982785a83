package channels

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"claimline/casesvc"
)

// Sender pushes one rendered outbound message to a push channel's API (Telegram's sendMessage,
// Twilio's Messages API) and returns the provider's id for it (may be ""). Pull channels (web chat,
// REST) have none: their clients fetch by seq.
//
// Rules for implementations:
//   - One call sends one message, at most once: no retries inside (the outbox retries).
//   - Classify failures with *DeliveryError: Permanent for answers that will never succeed (4xx such
//     as a blocked bot or an opted-out number), Retry with After for a rate limit (Telegram's
//     retry_after, Twilio's Retry-After). Anything else is retried with exponential backoff.
//   - Error texts may be logged nowhere; only DeliveryError.Code is. Keep personal data out of Code.
//   - Honour ctx: it carries the send timeout and shutdown.
type Sender interface {
	Send(ctx context.Context, conv *Conversation, msg Message) (providerID string, err error)
}

// PartSender is an optional capability of a Sender: SendPart is Send with the stored message the
// part was rendered from and the part's place (index i of n parts), which the delivery loop has at
// hand, so a sender that needs them (SMS adds a hint under numbered choices) does not read the
// message again. Send's rules apply; the loop calls SendPart instead of Send when it is there.
type PartSender interface {
	SendPart(ctx context.Context, conv *Conversation, part, from Message, i, n int) (providerID string, err error)
}

// DeliveryError classifies a Sender's failure.
type DeliveryError struct {
	Retry     bool          // worth trying again (rate limit, 5xx, network)
	After     time.Duration // with Retry: wait at least this long; delays only this conversation
	Permanent bool          // never retry: the delivery is marked failed
	Code      string        // a short code for logs and the delivery record ("429", "21610", "blocked")
	Err       error         // the cause; never logged (it may quote personal data)
}

func (e *DeliveryError) Error() string {
	s := "delivery failed"
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

func (e *DeliveryError) Unwrap() error { return e.Err }

// DeliveryConfig tunes the delivery loop; zero values take the defaults.
type DeliveryConfig struct {
	// Workers is how many conversations are sent to concurrently; default 16. A worker mostly waits:
	// for the provider's API (over the internet, tens to hundreds of ms) and for the write recording the send.
	Workers      int
	PollInterval time.Duration // safety-net poll of the outbox; default 2s
	BaseBackoff  time.Duration // first retry delay of unclassified errors; default 1s
	MaxBackoff   time.Duration // cap of the exponential backoff; default 5m
	MaxAttempts  int           // failed attempts before a delivery is given up; default 10
	SendTimeout  time.Duration // bound of one Sender.Send; default 30s
	// LockWait, with a RouterConfig.Locker (several nodes), bounds the wait for a conversation's
	// delivery lock; a node that does not get it within LockWait skips that conversation until its next
	// poll or wake-up (another node is sending it). Default 200ms.
	LockWait time.Duration
}

func (c *DeliveryConfig) defaults() {
	if c.Workers <= 0 {
		c.Workers = 16
	}
	if c.PollInterval <= 0 {
		c.PollInterval = 2 * time.Second
	}
	if c.BaseBackoff <= 0 {
		c.BaseBackoff = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Minute
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 10
	}
	if c.SendTimeout <= 0 {
		c.SendTimeout = 30 * time.Second
	}
	if c.LockWait <= 0 {
		c.LockWait = 200 * time.Millisecond
	}
}

type senderEntry struct {
	sender Sender
	caps   Capabilities
}

// RegisterSender makes channel a push channel: from now on every committed reply of its
// conversations gets a pending delivery (in the turn's transaction) that the delivery loop sends
// through s, rendered for caps. Register every sender before Recover and StartDelivery.
func (r *Router) RegisterSender(channel string, s Sender, caps Capabilities) {
	r.sendersMu.Lock()
	defer r.sendersMu.Unlock()
	r.senders[channel] = senderEntry{sender: s, caps: caps}
}

func (r *Router) senderFor(channel string) (senderEntry, bool) {
	r.sendersMu.RLock()
	defer r.sendersMu.RUnlock()
	e, ok := r.senders[channel]
	return e, ok
}

// deliveryLoop is one dispatcher goroutine and a fixed pool of workers. The dispatcher reads the due
// heads of line from the store and hands each to a worker unless its conversation is in flight, so a
// conversation has at most one send in flight and its messages go in seq order; several
// conversations are sent concurrently. A rate-limited conversation's head is not due until its
// After passed, so it delays only itself.
//
// Crash safety: a delivery is marked per part right after the provider accepted it. A crash (or a
// cancelled send) between the provider's answer and the mark sends that one part again after the
// restart; nothing else can be sent twice, and nothing pending is lost.
//
// Several nodes (RouterConfig.Locker set): every node's loop reads the same shared outbox, so the
// in-process "one in flight per conversation" is not enough. A worker then sends a conversation only
// under that conversation's delivery lock (see deliverLocked), which gives the same guarantees across
// nodes: one send in flight per conversation, seq order, each part sent once — except that a node
// that dies or stalls past the lock's TTL in the middle of a send (after the provider accepted the
// part, before the mark) lets the next lock holder send that one part again, as a crash does.
type deliveryLoop struct {
	r    *Router
	cfg  DeliveryConfig
	poke chan struct{}
	jobs chan Delivery
	done chan finished

	stop      context.CancelFunc // stops the dispatcher
	sendCtx   context.Context    // the sends' context, cancelled last
	sendStop  context.CancelFunc
	wg        sync.WaitGroup
	stopped   chan struct{}
	closeOnce sync.Once
}

// finished is a worker's report of a conversation it is done with; busy: another node held the
// conversation's delivery lock, so this node leaves it alone until its next poll or wake-up.
type finished struct {
	conversation string
	busy         bool
}

// StartDelivery starts the delivery loop; it resumes every pending delivery left by an earlier run.
// Router.Close stops it after the turns, letting running sends finish within Close's context.
// Calling it twice is an error.
func (r *Router) StartDelivery() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return casesvc.Errorf(casesvc.EUNAVAILABLE, "The service is shutting down.")
	}
	if r.delivery != nil {
		return casesvc.Errorf(casesvc.ECONFLICT, "channels: delivery loop already started")
	}
	cfg := r.deliveryCfg
	l := &deliveryLoop{
		r: r, cfg: cfg, poke: make(chan struct{}, 1), jobs: make(chan Delivery, cfg.Workers),
		done: make(chan finished, cfg.Workers), stopped: make(chan struct{}),
	}
	var dispCtx context.Context
	dispCtx, l.stop = context.WithCancel(context.Background())
	l.sendCtx, l.sendStop = context.WithCancel(context.Background())
	for range cfg.Workers {
		l.wg.Add(1)
		go l.worker()
	}
	go l.dispatch(dispCtx)
	r.delivery = l
	return nil
}

// pokeDelivery wakes the dispatcher (new deliveries committed, a retry due).
func (r *Router) pokeDelivery() {
	r.mu.Lock()
	l := r.delivery
	r.mu.Unlock()
	if l != nil {
		l.wake()
	}
}

func (l *deliveryLoop) wake() {
	select {
	case l.poke <- struct{}{}:
	default:
	}
}

// close stops dispatching, waits for running sends until ctx ends, then cancels them.
func (l *deliveryLoop) close(ctx context.Context) error {
	l.stop()
	<-l.stopped // the dispatcher closed jobs
	idle := make(chan struct{})
	go func() { l.wg.Wait(); close(idle) }()
	defer l.sendStop()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		l.sendStop()
		<-idle
		return ctx.Err()
	}
}

// depthEvery is how often the dispatcher counts the outbox for claimline_outbox_depth: a count
// of every pending row per wake-up (several per delivery under load) was ~5% of the CPU of a
// webhook load run.
const depthEvery = time.Second

// readAhead is how many due heads of line one outbox read takes beyond the conversations in
// flight. The dispatcher hands them out before it reads again, so a busy outbox costs one read per
// readAhead deliveries instead of one per delivery. Holding them is safe: a head stays the head
// until this loop sends it (turns only add later messages; only this loop records sends, and never
// for a conversation it holds back), and with a Locker deliverLocked reads the head again under the
// lock. The price is that a conversation's next message waits until the heads read before it are
// handed out (at most readAhead deliveries).
const readAhead = 64

func (l *deliveryLoop) dispatch(ctx context.Context) {
	defer close(l.stopped)
	defer close(l.jobs)
	inflight := make(map[string]bool)
	// busy holds the conversations another node was sending (their delivery lock was taken): they
	// are skipped until the next poll or wake-up. It stays empty without a Locker.
	busy := make(map[string]bool)
	var ahead []Delivery // due heads read and not handed out yet (readAhead)
	var depthAt time.Time
	finish := func(f finished) {
		delete(inflight, f.conversation)
		if f.busy {
			busy[f.conversation] = true
		}
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		if now := time.Now(); now.Sub(depthAt) >= depthEvery {
			depthAt = now
			if depth, err := l.r.store.OutboxDepth(ctx); err == nil {
				l.r.metrics.outboxDepth(depth)
			}
		}
		ahead = l.handOut(ctx, inflight, busy, ahead)
		timer.Reset(l.cfg.PollInterval)
		select {
		case <-ctx.Done():
			return
		case <-l.poke:
			clear(busy)
		case <-timer.C:
			clear(busy)
		case f := <-l.done:
			finish(f)
		}
		// Collect every finished conversation before reading the store again.
		for drained := false; !drained; {
			select {
			case f := <-l.done:
				finish(f)
			default:
				drained = true
			}
		}
	}
}

// handOut gives due heads of line to idle workers, except conversations in flight here or busy
// (being sent by another node): first those read ahead earlier, then, when they are all handed out
// and a worker is still idle, a new read. It returns what is left of the heads read.
func (l *deliveryLoop) handOut(ctx context.Context, inflight, busy map[string]bool, ahead []Delivery) []Delivery {
	ahead = l.give(inflight, busy, ahead)
	if len(ahead) > 0 || cap(l.jobs)-len(l.jobs) <= 0 {
		return ahead
	}
	r := l.r
	due, err := l.due(ctx, readAhead+len(inflight)+len(busy))
	if err != nil {
		if ctx.Err() == nil {
			r.log.Error("outbox read", "code", casesvc.ErrorCode(err), "err", err)
		}
		return ahead
	}
	return l.give(inflight, busy, due)
}

// due reads up to limit due heads of line. Under a Locker only their conversations are read
// (FencedStore.DueConversations), since deliverLocked reads each head with its delivery lock's grant:
// reading them twice cost the Redis deployment's outbox most of its reads.
func (l *deliveryLoop) due(ctx context.Context, limit int) ([]Delivery, error) {
	r := l.r
	if r.locker == nil {
		return r.store.DueDeliveries(ctx, r.now(), limit)
	}
	ids, err := r.store.(FencedStore).DueConversations(ctx, r.now(), limit)
	if err != nil {
		return nil, err
	}
	due := make([]Delivery, len(ids))
	for i, id := range ids {
		due[i].Conversation = id
	}
	return due, nil
}

// give hands heads to idle workers in order and returns the rest (conversations in flight or busy
// are dropped: a later read finds their heads again).
func (l *deliveryLoop) give(inflight, busy map[string]bool, heads []Delivery) []Delivery {
	for i, d := range heads {
		if inflight[d.Conversation] || busy[d.Conversation] {
			continue
		}
		select {
		case l.jobs <- d:
			inflight[d.Conversation] = true
		default:
			// every worker is busy; a finished one wakes the dispatcher
			rest := heads[i:]
			n := 0
			for _, d := range rest {
				if !inflight[d.Conversation] && !busy[d.Conversation] {
					rest[n] = d
					n++
				}
			}
			clear(rest[n:])
			return rest[:n]
		}
	}
	return heads[:0]
}

func (l *deliveryLoop) worker() {
	defer l.wg.Done()
	for d := range l.jobs {
		var busy bool
		if l.r.locker != nil {
			busy = l.deliverLocked(d)
		} else {
			l.deliver(l.sendCtx, d, nil)
		}
		select {
		case l.done <- finished{conversation: d.Conversation, busy: busy}:
		case <-l.stopped: // the dispatcher is gone; nobody waits for the conversation
		}
	}
}

// DeliveryLock is the name of the Locker's lock that a node holds while it sends a conversation's
// deliveries (Locker.LockHeadOfLine takes it). It is not the turns' lock (the conversation id
// itself), so that
//   - a turn never waits for a provider's API (a send may take up to SendTimeout, a rate limit
//     longer), nor a send for the dialog;
//   - the delivery of a turn's replies does not find its conversation locked by that very turn
//     (Router.published wakes the loop while the turn still holds its lock) and wait a poll for it;
//   - the two locks are never held together by one goroutine, so they cannot deadlock.
//
// The Locker's keys for it are its own (a Redis key "lock:{delivery:<id>}" with its own fence).
func DeliveryLock(conversation string) string { return "delivery:" + conversation }

// deliverLocked is deliver across nodes: it takes the conversation's delivery lock (waiting at most
// LockWait) with what the conversation's head of line is now, read with the grant (d carries only
// its conversation, and another node may have sent, retried or failed that head meanwhile), sends
// that head if it is due, records, and releases. It returns busy when another node holds the lock
// (or the read failed: the next poll tries again). The send runs in the lock's context, so a node
// that notices it lost the lock (renewal failed) stops sending; the part marks are conditional on the
// parts already recorded, so a stale holder's late mark is refused, never recorded twice.
func (l *deliveryLoop) deliverLocked(d Delivery) (busy bool) {
	r := l.r
	if l.sendCtx.Err() != nil {
		return false
	}
	held, unlock, conv, head, ok := l.tryLock(d.Conversation)
	if !ok {
		return true
	}
	defer unlock()
	if head != nil && !head.NextAt.After(r.now()) {
		l.deliver(held, *head, conv)
	}
	return false
}

// tryLock takes the conversation's delivery lock with its head of line, waiting at most LockWait.
// held is cancelled when the lock is lost or the sends are stopped; release unlocks. ok is false when
// the lock was not granted in time (another node holds it) or could not be read; the next poll tries
// again.
func (l *deliveryLoop) tryLock(conversation string) (held context.Context, release func(), conv *Conversation, head *Delivery, ok bool) {
	lctx, cancel := context.WithCancel(l.sendCtx)
	timer := time.AfterFunc(l.cfg.LockWait, cancel)
	held, unlock, conv, head, err := l.r.locker.LockHeadOfLine(lctx, conversation)
	if !timer.Stop() || err != nil {
		// Not granted in time (or granted just as the wait ended, with held already cancelled:
		// give it back, another round takes it).
		if err == nil {
			unlock()
		} else if lctx.Err() == nil {
			l.r.log.Error("outbox lock", "conversation", conversation, "code", casesvc.ErrorCode(err))
		}
		cancel()
		return nil, nil, nil, nil, false
	}
	return held, func() { unlock(); cancel() }, conv, head, true
}

// deliver sends the parts of one delivery not yet sent, recording each, or records the failure. ctx
// is the sends' context (under a Locker, the delivery lock's); conv is the conversation when it was
// read with the delivery (nil: read it).
func (l *deliveryLoop) deliver(ctx context.Context, d Delivery, conv *Conversation) {
	r := l.r
	if ctx.Err() != nil {
		return
	}
	entry, ok := r.senderFor(d.Channel)
	if !ok {
		// A sender not registered (yet) in this process: keep the message and look again later.
		l.retry(d, &DeliveryError{Retry: true, Code: "no_sender"}, d.Attempts)
		return
	}
	var err error
	if conv == nil {
		conv, err = r.store.Conversation(ctx, d.Conversation)
	}
	var msgs []Message
	switch {
	case err != nil:
	case d.Message != nil && d.Message.Conversation == d.Conversation && d.Message.Seq == d.Seq:
		msgs = []Message{*d.Message} // read with the delivery
	default:
		msgs, err = r.store.MessagesAfter(ctx, d.Conversation, d.Seq-1, 1)
	}
	if err == nil && (len(msgs) != 1 || msgs[0].Seq != d.Seq) {
		err = casesvc.Errorf(casesvc.ENOTFOUND, "Message not found.")
	}
	if casesvc.ErrorCode(err) == casesvc.ENOTFOUND {
		l.fail(d, "not_found")
		return
	} else if err != nil {
		if ctx.Err() == nil {
			r.log.Error("outbox read message", "conversation", d.Conversation, "seq", d.Seq, "code", casesvc.ErrorCode(err))
			l.retry(d, err, d.Attempts)
		}
		return
	}
	parts := Render(msgs[0], entry.caps)
	for i := d.PartsSent; i < len(parts); i++ {
		sctx, cancel := context.WithTimeout(ctx, l.cfg.SendTimeout)
		var pid string
		if ps, ok := entry.sender.(PartSender); ok {
			pid, err = ps.SendPart(sctx, conv, parts[i], msgs[0], i, len(parts))
		} else {
			pid, err = entry.sender.Send(sctx, conv, parts[i])
		}
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return // shutting down: the delivery stays pending for the next start
			}
			var de *DeliveryError
			if errors.As(err, &de) && de.Permanent {
				l.fail(d, codeOf(err))
				return
			}
			l.retry(d, err, d.Attempts)
			return
		}
		// Record with a context of its own: the provider accepted the part, so the mark must land even
		// when shutdown cancels the sends now.
		mctx, mcancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = r.store.DeliveryPartSent(mctx, d.Conversation, d.Seq, i, pid, i == len(parts)-1, r.now())
		mcancel()
		if err != nil {
			r.log.Error("outbox mark sent", "conversation", d.Conversation, "seq", d.Seq, "part", i, "code", casesvc.ErrorCode(err))
			return
		}
	}
	r.metrics.delivery(d.Channel, "sent")
}

// retry schedules the next attempt, or gives up after MaxAttempts.
func (l *deliveryLoop) retry(d Delivery, err error, attempts int) {
	r := l.r
	attempts++
	code := codeOf(err)
	if attempts >= l.cfg.MaxAttempts {
		r.log.Warn("outbox giving up", "conversation", d.Conversation, "seq", d.Seq, "channel", d.Channel,
			"attempts", attempts, "code", code)
		l.fail(d, code)
		return
	}
	var wait time.Duration
	var de *DeliveryError
	if errors.As(err, &de) && de.After > 0 {
		wait = de.After
	} else {
		wait = l.backoff(attempts)
	}
	next := r.now().Add(wait)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.store.DeliveryRetry(ctx, d.Conversation, d.Seq, next, code, r.now()); err != nil {
		r.log.Error("outbox mark retry", "conversation", d.Conversation, "seq", d.Seq, "code", casesvc.ErrorCode(err))
		return
	}
	r.metrics.delivery(d.Channel, "retried")
	r.log.Info("outbox retry", "conversation", d.Conversation, "seq", d.Seq, "channel", d.Channel,
		"attempt", attempts, "after", wait.String(), "code", code)
	time.AfterFunc(wait, l.wake)
}

func (l *deliveryLoop) fail(d Delivery, code string) {
	r := l.r
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.store.DeliveryFailed(ctx, d.Conversation, d.Seq, code, r.now()); err != nil {
		r.log.Error("outbox mark failed", "conversation", d.Conversation, "seq", d.Seq, "code", casesvc.ErrorCode(err))
		return
	}
	r.metrics.delivery(d.Channel, "failed")
	r.log.Warn("outbox delivery failed", "conversation", d.Conversation, "seq", d.Seq, "channel", d.Channel, "code", code)
}

// backoff is BaseBackoff·2^(attempt-1), capped, with ±20% jitter so retries of many conversations
// after an outage do not arrive at once.
func (l *deliveryLoop) backoff(attempt int) time.Duration {
	d := l.cfg.BaseBackoff
	for i := 1; i < attempt && d < l.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, l.cfg.MaxBackoff)
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// codeOf is what a failure may leave in logs and the record: the DeliveryError's code, an
// application error code, or the Go type of anything else — never the text.
func codeOf(err error) string {
	var de *DeliveryError
	switch {
	case errors.As(err, &de) && de.Code != "":
		return de.Code
	case errors.As(err, &de) && de.Permanent:
		return "permanent"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	if code := casesvc.ErrorCode(err); code != casesvc.EINTERNAL {
		return code
	}
	return fmt.Sprintf("%T", err)
}

// MarkDeliveryStatus records a provider's status callback (Twilio's MessageStatus) for the message it
// knows as providerID. Statuses only move forward (queued < sending < sent < delivered; delivered,
// undelivered and failed are terminal); a late or repeated callback changes nothing. EINVALID for an
// unknown status; ENOTFOUND for a provider id never recorded (a callback that overtook our own mark).
func (r *Router) MarkDeliveryStatus(ctx context.Context, providerID, status string) error {
	return r.store.MarkDeliveryStatus(ctx, providerID, status, r.now())
}

// Deliveries returns the outbox records of a conversation, with their provider receipts.
func (r *Router) Deliveries(ctx context.Context, conversation string) ([]Delivery, error) {
	return r.store.Deliveries(ctx, conversation)
}
