package redisstore

import (
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"claimline/casesvc"
	"claimline/channels"
)

// Why pub/sub plus the store, not Streams with consumer groups:
//
// Every message the router publishes is already stored with its conversation's seq (the Store is the
// truth; the Bus is a notification path, see channels.Bus). A Bus is fan-out — every websocket of a
// conversation on every node must see every message — while a consumer group hands each entry to ONE
// consumer, so Streams would need a group (or an XREAD cursor) per subscriber plus trimming, i.e. a
// second copy of the transcript. Instead:
//   - Publish sends the stored message on the conversation's pub/sub channel (a wake-up that carries
//     the message, so the common case costs no read).
//   - Each subscriber remembers the last seq it passed on. A message with exactly the next seq is
//     passed on directly; one that skips ahead (a notification was lost: pub/sub drops messages while
//     a node is disconnected, or a publish queue overflowed, or two nodes published out of order) makes
//     the subscriber read the gap from the Store by seq; older or repeated seqs are ignored. So each
//     subscriber sees every message once, in seq order.
//   - When the pub/sub connection comes back (go-redis re-subscribes and reports it), every subscriber
//     of the node catches up from the Store; a slow safety poll (BusConfig.Poll) covers the rest.
//
// Work that must be done once per message (a turn, a delivery) does not ride on the Bus: turns come
// from the stored unhandled messages under the conversation lock, deliveries from the outbox.

// MessageReader is what the Bus reads to catch up; *Store (and the SQLite store) satisfy it.
type MessageReader interface {
	Conversation(ctx context.Context, id string) (*channels.Conversation, error)
	MessagesAfter(ctx context.Context, conversation string, afterSeq int64, limit int) ([]channels.Message, error)
}

// BusConfig tunes the Bus; zero values take the defaults.
type BusConfig struct {
	Prefix string // must be the same on every node; default "claimline:"
	// Buffer is how many messages a channel subscriber (Subscribe) may fall behind before it is
	// dropped, and how many notifications wait for a subscriber while it catches up from the Store
	// (beyond that it reads them from the Store too); default 64.
	Buffer int
	// Poll is the safety-net catch-up of every subscriber from the Store; default 5s.
	Poll time.Duration
	// Queue bounds the publishes waiting for Redis; beyond it a publish is skipped (its subscribers
	// catch up from the Store at the next message or poll) rather than block the router. Default 4096.
	Queue  int
	Logger *slog.Logger
}

// Bus is a channels.Bus between nodes on Redis pub/sub, made lossless by catching up from the Store
// by seq (see above). Close it on shutdown.
//
// A node runs three goroutines whatever its number of subscribers: the publisher, the listener (which
// calls each subscriber's func for the next message in seq order) and the safety poll. Reading a gap
// from the Store runs in a goroutine of its own, only while there is one, so a slow read never holds
// up the other subscribers.
type Bus struct {
	rdb   redis.UniversalClient
	store MessageReader
	cfg   BusConfig
	k     keys
	log   *slog.Logger

	pub    chan channels.Message
	ps     *redis.PubSub
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	subs   map[string][]*busSub // a conversation's subscribers here: usually one, so a slice, not a set
	closed bool

	psMu   sync.Mutex      // serializes SUBSCRIBE/UNSUBSCRIBE
	joined map[string]bool // conversations this node's pub/sub connection listens to; psMu
}

type busSub struct {
	conv string
	fn   func(channels.Message) bool
	end  func() // called when the bus closes (the channel form closes its channel); may be nil

	// mu is held while fn runs: calls never overlap, and cancel returns only once fn is not running.
	mu   sync.Mutex
	gone bool  // cancelled, declined (fn returned false) or the bus closed: fn is not called again
	last int64 // last seq passed on; -1 while unknown
	// While busy, a catch-up (settle) owns the subscriber and notifications wait in notes; catchup
	// asks it to read the Store to the end.
	busy    bool
	notes   []channels.Message
	catchup bool
}

// NewBus starts a Bus: one publisher goroutine and one pub/sub connection per node.
func NewBus(rdb redis.UniversalClient, store MessageReader, cfg BusConfig) (*Bus, error) {
	if cfg.Prefix == "" {
		cfg.Prefix = "claimline:"
	}
	if cfg.Buffer <= 0 {
		cfg.Buffer = 64
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 5 * time.Second
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 4096
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	b := &Bus{
		rdb: rdb, store: store, cfg: cfg, k: keys(cfg.Prefix), log: cfg.Logger,
		pub: make(chan channels.Message, cfg.Queue), subs: map[string][]*busSub{},
		joined: map[string]bool{},
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.ps = rdb.Subscribe(b.ctx)
	ch := b.ps.ChannelWithSubscriptions(redis.WithChannelSize(1024))
	b.wg.Add(3)
	go b.publisher()
	go b.listen(ch)
	go b.poll()
	return b, nil
}

// Close stops the Bus: channel subscribers' channels are closed (they resubscribe elsewhere and catch
// up); func subscribers are not called again.
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	all := b.allLocked()
	b.subs = map[string][]*busSub{}
	b.mu.Unlock()
	for _, s := range all {
		s.mu.Lock()
		s.gone = true
		s.mu.Unlock()
		if s.end != nil {
			s.end()
		}
	}
	b.cancel()
	err := b.ps.Close()
	b.wg.Wait()
	return err
}

func (b *Bus) allLocked() []*busSub {
	var all []*busSub
	for _, subs := range b.subs {
		all = append(all, subs...)
	}
	return all
}

// Publish queues msg for every subscriber of its conversation on every node; it never blocks.
func (b *Bus) Publish(msg channels.Message) {
	select {
	case b.pub <- msg:
	default:
		// The queue is full (Redis slow or away): skip; subscribers catch up from the Store.
	}
}

// publisher sends the queued publishes in order, pipelining what queued up together.
func (b *Bus) publisher() {
	defer b.wg.Done()
	for {
		var batch []channels.Message
		select {
		case <-b.ctx.Done():
			return
		case m := <-b.pub:
			batch = append(batch, m)
		}
		for more := true; more && len(batch) < 256; {
			select {
			case m := <-b.pub:
				batch = append(batch, m)
			default:
				more = false
			}
		}
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		pipe := b.rdb.Pipeline()
		for _, m := range batch {
			body, err := json.Marshal(m)
			if err != nil {
				continue
			}
			pipe.Publish(ctx, b.k.bus(m.Conversation), body)
		}
		if _, err := pipe.Exec(ctx); err != nil && b.ctx.Err() == nil {
			b.log.Warn("bus publish failed; subscribers will catch up from the store", "err", err)
		}
		cancel()
	}
}

// listen passes notifications to the node's subscribers.
func (b *Bus) listen(ch <-chan any) {
	defer b.wg.Done()
	prefix := string(b.k) + "bus:{"
	for v := range ch {
		switch x := v.(type) {
		case *redis.Subscription:
			// (Re)subscribed, also after a reconnect: whatever was published meanwhile is in the Store.
			if x.Kind == "subscribe" {
				conv := strings.TrimSuffix(strings.TrimPrefix(x.Channel, prefix), "}")
				for _, s := range b.local(conv) {
					b.note(s, nil)
				}
			}
		case *redis.Message:
			var m channels.Message
			if err := json.Unmarshal([]byte(x.Payload), &m); err != nil {
				continue
			}
			for _, s := range b.local(m.Conversation) {
				b.note(s, &m)
			}
		}
	}
}

// poll is the safety net: every Poll, each subscriber catches up from the Store, one after another on
// this goroutine.
func (b *Bus) poll() {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.Poll)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		b.mu.Lock()
		all := b.allLocked()
		b.mu.Unlock()
		for _, s := range all {
			if b.ctx.Err() != nil {
				return
			}
			s.mu.Lock()
			s.catchup = true
			own := !s.busy && !s.gone
			if own {
				s.busy = true
			}
			s.mu.Unlock()
			if own {
				b.settle(s)
			}
		}
	}
}

func (b *Bus) local(conv string) []*busSub {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.subs[conv])
}

// Subscribe returns a channel of the conversation's messages stored from now on.
func (b *Bus) Subscribe(conversation string) (<-chan channels.Message, func()) {
	cs := channels.NewChanSub(b.cfg.Buffer)
	cancel := b.subscribe(conversation, cs.Put, cs.Close)
	return cs.C(), func() {
		cancel()
		cs.Close()
	}
}

// SubscribeFunc calls fn with the conversation's messages stored from now on, each once, in seq
// order: from the node's listener for the next seq, from a catch-up's goroutine (or the poll's) for
// what it read from the Store.
func (b *Bus) SubscribeFunc(conversation string, fn func(channels.Message) bool) (cancel func()) {
	return b.subscribe(conversation, fn, nil)
}

func (b *Bus) subscribe(conversation string, fn func(channels.Message) bool, end func()) func() {
	// Busy until where the transcript stands is known: a notification that comes first (even one sent
	// before this subscription, still on its way) waits, and is then passed on only if it is new.
	s := &busSub{conv: conversation, fn: fn, end: end, last: -1, busy: true}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		if end != nil {
			end()
		}
		return func() {}
	}
	b.subs[conversation] = append(b.subs[conversation], s)
	b.mu.Unlock()
	// Listen first, then read where the transcript stands: nothing stored in between is missed.
	b.reconcile(conversation)
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	c, err := b.store.Conversation(ctx, conversation)
	cancel()
	s.mu.Lock()
	switch {
	case err == nil:
		s.last = c.LastSeq
	case casesvc.ErrorCode(err) == casesvc.ENOTFOUND:
		s.last = 0
	} // else: unknown; the first notification sets the start
	pending := len(s.notes) > 0 || s.catchup
	s.busy = pending
	s.mu.Unlock()
	if pending { // not on the subscriber's goroutine: fn may take its locks
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.settle(s)
		}()
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.gone = true
			s.mu.Unlock()
			b.remove(s)
		})
	}
}

// remove forgets a subscriber and leaves the pub/sub channel when it was the last; s.gone is set.
func (b *Bus) remove(s *busSub) {
	b.mu.Lock()
	subs := b.subs[s.conv]
	i := slices.Index(subs, s)
	if i < 0 {
		b.mu.Unlock()
		return
	}
	if len(subs) == 1 {
		delete(b.subs, s.conv)
	} else {
		subs[i] = subs[len(subs)-1]
		subs[len(subs)-1] = nil
		b.subs[s.conv] = subs[:len(subs)-1]
	}
	closed := b.closed
	b.mu.Unlock()
	if !closed {
		b.reconcile(s.conv)
	}
}

// reconcile makes the pub/sub connection listen to conv exactly while the node has subscribers of it.
func (b *Bus) reconcile(conv string) {
	b.psMu.Lock()
	defer b.psMu.Unlock()
	b.mu.Lock()
	want := len(b.subs[conv]) > 0 && !b.closed
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	switch {
	case want && !b.joined[conv]:
		if err := b.ps.Subscribe(ctx, b.k.bus(conv)); err == nil {
			b.joined[conv] = true
		} // else the safety poll keeps the subscriber going until a later Subscribe succeeds
	case !want && b.joined[conv]:
		_ = b.ps.Unsubscribe(ctx, b.k.bus(conv))
		delete(b.joined, conv)
	}
}

// note takes a notification (nil: catch up from the Store). The next message in seq order goes to fn
// at once, on the listener; anything else (a gap, a catch-up, or one already running) is left to a
// catch-up goroutine, so the listener never waits for the Store.
func (b *Bus) note(s *busSub, m *channels.Message) {
	s.mu.Lock()
	switch {
	case s.gone:
	case s.busy:
		s.queueLocked(m, b.cfg.Buffer)
	case m != nil && (s.last < 0 || m.Seq == s.last+1):
		ok := s.fn(*m)
		if ok {
			s.last = m.Seq
		} else {
			s.gone = true
		}
		s.mu.Unlock()
		if !ok { // leaving the pub/sub channel is a round trip: not on the listener
			b.wg.Add(1)
			go func() {
				defer b.wg.Done()
				b.remove(s)
			}()
		}
		return
	case m != nil && m.Seq <= s.last:
		// seen
	default:
		s.queueLocked(m, b.cfg.Buffer)
		s.busy = true
		s.mu.Unlock()
		b.wg.Add(1) // the listener is counted, so Close's Wait cannot have returned
		go func() {
			defer b.wg.Done()
			b.settle(s)
		}()
		return
	}
	s.mu.Unlock()
}

// queueLocked keeps a notification for the running catch-up; too many, and it reads them all from the
// Store instead. s.mu must be held.
func (s *busSub) queueLocked(m *channels.Message, limit int) {
	if m == nil || len(s.notes) >= limit {
		s.catchup, s.notes = true, nil
		return
	}
	s.notes = append(s.notes, *m)
}

// settle runs a busy subscriber's catch-up: it passes on the queued notifications in seq order,
// reading gaps from the Store, until none is left, then lets the listener pass messages on again.
func (b *Bus) settle(s *busSub) {
	for {
		s.mu.Lock()
		notes, catchup := s.notes, s.catchup
		s.notes, s.catchup = nil, false
		if s.gone || b.ctx.Err() != nil || (len(notes) == 0 && !catchup) {
			s.busy = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		sort.SliceStable(notes, func(i, j int) bool { return notes[i].Seq < notes[j].Seq })
		ok := true
		for _, m := range notes {
			if ok = b.pass(s, m); !ok {
				break
			}
		}
		if ok && catchup {
			ok = b.catchUp(s, 0)
		}
		if !ok {
			s.mu.Lock()
			s.busy = false
			s.mu.Unlock()
			b.remove(s) // declined or cancelled
			return
		}
	}
}

// pass hands one notified message on, reading a gap before it from the store; false when the
// subscriber is gone.
func (b *Bus) pass(s *busSub, m channels.Message) bool {
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()
	switch {
	case last < 0 || m.Seq == last+1:
		return s.send(m)
	case m.Seq <= last:
		return true // seen
	}
	return b.catchUp(s, m.Seq)
}

// catchUp passes on the stored messages after the subscriber's last seq, up to until (0: all).
func (b *Bus) catchUp(s *busSub, until int64) bool {
	s.mu.Lock()
	last := s.last
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if last < 0 {
		c, err := b.store.Conversation(ctx, s.conv)
		if err != nil {
			return true // nothing known yet; try at the next wake-up
		}
		// Only if still unknown: this read may end after Subscribe's own, and must not skip what was
		// stored in between.
		s.mu.Lock()
		if s.last < 0 {
			s.last = c.LastSeq
		}
		s.mu.Unlock()
		return true
	}
	const page = 100
	for until == 0 || last < until {
		n := page
		if until > 0 && int(until-last) < n {
			n = int(until - last)
		}
		msgs, err := b.store.MessagesAfter(ctx, s.conv, last, n)
		if err != nil {
			return true // Redis away: the next wake-up or poll tries again
		}
		for _, m := range msgs {
			if !s.send(m) {
				return false
			}
			last = m.Seq
		}
		if len(msgs) < n {
			break
		}
	}
	return true
}

// send calls fn with m unless it was passed on already; false when the subscriber is gone.
func (s *busSub) send(m channels.Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gone {
		return false
	}
	if m.Seq <= s.last && s.last >= 0 {
		return true
	}
	if !s.fn(m) {
		s.gone = true
		return false
	}
	s.last = m.Seq
	return true
}

// Interface guards
var _ channels.Bus = (*Bus)(nil)
