package redisstore

import (
	"context"
	"encoding/json"
	"log/slog"
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
	// Buffer is how many messages a subscriber may fall behind before it is dropped; default 64.
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
	subs   map[string]map[*busSub]struct{}
	closed bool

	psMu   sync.Mutex      // serializes SUBSCRIBE/UNSUBSCRIBE
	joined map[string]bool // conversations this node's pub/sub connection listens to; psMu
}

type busSub struct {
	conv string
	wake chan struct{} // cap 1
	stop chan struct{}

	mu      sync.Mutex
	out     chan channels.Message
	closed  bool
	last    int64 // last seq passed on; -1 while unknown
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
		pub: make(chan channels.Message, cfg.Queue), subs: map[string]map[*busSub]struct{}{},
		joined: map[string]bool{},
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.ps = rdb.Subscribe(b.ctx)
	ch := b.ps.ChannelWithSubscriptions(redis.WithChannelSize(1024))
	b.wg.Add(2)
	go b.publisher()
	go b.listen(ch)
	return b, nil
}

// Close stops the Bus: subscribers' channels are closed (they resubscribe elsewhere and catch up).
func (b *Bus) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	var all []*busSub
	for _, set := range b.subs {
		for s := range set {
			all = append(all, s)
		}
	}
	b.subs = map[string]map[*busSub]struct{}{}
	b.mu.Unlock()
	for _, s := range all {
		s.close()
	}
	b.cancel()
	err := b.ps.Close()
	b.wg.Wait()
	return err
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
					s.note(nil)
				}
			}
		case *redis.Message:
			var m channels.Message
			if err := json.Unmarshal([]byte(x.Payload), &m); err != nil {
				continue
			}
			for _, s := range b.local(m.Conversation) {
				s.note(&m)
			}
		}
	}
}

func (b *Bus) local(conv string) []*busSub {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]*busSub, 0, len(b.subs[conv]))
	for s := range b.subs[conv] {
		out = append(out, s)
	}
	return out
}

// Subscribe returns a channel of the conversation's messages stored from now on.
func (b *Bus) Subscribe(conversation string) (<-chan channels.Message, func()) {
	s := &busSub{
		conv: conversation, wake: make(chan struct{}, 1), stop: make(chan struct{}),
		out: make(chan channels.Message, b.cfg.Buffer), last: -1,
	}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		s.close()
		return s.out, func() {}
	}
	if b.subs[conversation] == nil {
		b.subs[conversation] = map[*busSub]struct{}{}
	}
	b.subs[conversation][s] = struct{}{}
	b.mu.Unlock()
	// Listen first, then read where the transcript stands: nothing stored in between is missed.
	b.reconcile(conversation)
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	if c, err := b.store.Conversation(ctx, conversation); err == nil {
		s.mu.Lock()
		if s.last < 0 {
			s.last = c.LastSeq
		}
		s.mu.Unlock()
	} else if casesvc.ErrorCode(err) == casesvc.ENOTFOUND {
		s.mu.Lock()
		s.last = 0
		s.mu.Unlock()
	} // else: unknown; the first notification sets the start
	cancel()
	b.wg.Add(1)
	go b.pump(s)
	var once sync.Once
	return s.out, func() {
		once.Do(func() {
			close(s.stop)
			b.remove(s)
		})
	}
}

// remove forgets a subscriber, closes its channel and leaves the pub/sub channel when it was the last.
func (b *Bus) remove(s *busSub) {
	b.mu.Lock()
	delete(b.subs[s.conv], s)
	if len(b.subs[s.conv]) == 0 {
		delete(b.subs, s.conv)
	}
	closed := b.closed
	b.mu.Unlock()
	s.close()
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

// note queues a notification (nil: catch up from the store) and wakes the pump.
func (s *busSub) note(m *channels.Message) {
	s.mu.Lock()
	if m == nil || len(s.notes) >= cap(s.out) {
		s.catchup, s.notes = true, nil
	} else {
		s.notes = append(s.notes, *m)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// close closes the subscriber's channel once.
func (s *busSub) close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.out)
	}
}

// pump passes a subscriber's messages on in seq order, reading gaps from the store.
func (b *Bus) pump(s *busSub) {
	defer b.wg.Done()
	t := time.NewTicker(b.cfg.Poll)
	defer t.Stop()
	for {
		poll := false
		select {
		case <-s.stop:
			return
		case <-b.ctx.Done():
			return
		case <-s.wake:
		case <-t.C:
			poll = true
		}
		s.mu.Lock()
		notes, catchup := s.notes, s.catchup || poll
		s.notes, s.catchup = nil, false
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
			b.remove(s) // dropped (too slow) or closed
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
		last = c.LastSeq
		s.mu.Lock()
		s.last = last
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

// send passes m on without blocking; a full channel drops the subscriber (false).
func (s *busSub) send(m channels.Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	if m.Seq <= s.last && s.last >= 0 {
		return true
	}
	select {
	case s.out <- m:
		s.last = m.Seq
		return true
	default:
		s.closed = true
		close(s.out)
		return false
	}
}

// Interface guards
var _ channels.Bus = (*Bus)(nil)
