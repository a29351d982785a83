package channels

import (
	"sync"
)

// Bus carries stored messages to live subscribers (websocket connections). It is a notification path
// only: the Store is the truth, and a subscriber that missed something resumes from it by seq.
//
// Rules every implementation must keep:
//   - Publish never blocks on a subscriber.
//   - Messages of one conversation reach a subscriber in the order they were published.
//   - Subscribe hands messages out on a buffered channel. A subscriber that cannot keep up is dropped:
//     its channel is closed, and it must resubscribe and catch up from the Store. Its cancel func is
//     idempotent and safe to call after a drop.
//   - SubscribeFunc calls fn with each message instead, one call at a time per subscription, on the
//     publisher's goroutine or on one of the bus's own (with a lock of the bus held), so no goroutine
//     or buffer waits per subscriber. fn must not block and must not call the Bus, its own cancel
//     included: it hands the message on and returns. Returning false ends the subscription (fn is
//     not called again); a subscriber that wants more subscribes again and catches up from the Store,
//     since what was published in between is a gap. The bus never ends it by itself, except when the
//     bus closes (fn is then simply not called again). The cancel func is idempotent and safe after
//     false; when it returns, fn is not running and will not be called again.
type Bus interface {
	Publish(msg Message)
	Subscribe(conversation string) (<-chan Message, func())
	SubscribeFunc(conversation string, fn func(Message) bool) (cancel func())
}

// MemoryBus is the in-process Bus of the embedded deployment. Publish calls the subscribers' funcs
// under the bus's mutex, which is what orders them.
type MemoryBus struct {
	buffer int

	mu   sync.Mutex
	subs map[string][]*memorySub // a slice: a conversation has one or two subscribers
}

type memorySub struct {
	fn func(Message) bool
}

// NewMemoryBus returns a Bus whose channel subscribers may fall buffer messages behind before being
// dropped.
func NewMemoryBus(buffer int) *MemoryBus {
	if buffer <= 0 {
		buffer = 64
	}
	return &MemoryBus{buffer: buffer, subs: make(map[string][]*memorySub)}
}

// Publish hands msg to every subscriber of its conversation, forgetting the ones that decline it.
func (b *MemoryBus) Publish(msg Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	subs := b.subs[msg.Conversation]
	for i := 0; i < len(subs); {
		if subs[i].fn(msg) {
			i++
			continue
		}
		b.removeLocked(msg.Conversation, subs[i])
		subs = b.subs[msg.Conversation] // removal swapped another subscriber into i
	}
}

// Subscribe returns a channel of the conversation's messages published from now on.
func (b *MemoryBus) Subscribe(conversation string) (<-chan Message, func()) {
	cs := NewChanSub(b.buffer)
	cancel := b.SubscribeFunc(conversation, cs.Put)
	return cs.C(), func() {
		cancel()
		cs.Close()
	}
}

// SubscribeFunc calls fn with the conversation's messages published from now on (see Bus).
func (b *MemoryBus) SubscribeFunc(conversation string, fn func(Message) bool) (cancel func()) {
	s := &memorySub{fn: fn}
	b.mu.Lock()
	b.subs[conversation] = append(b.subs[conversation], s)
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		b.removeLocked(conversation, s)
		b.mu.Unlock()
	}
}

// removeLocked forgets a subscriber if it is still there; b.mu must be held.
func (b *MemoryBus) removeLocked(conversation string, s *memorySub) {
	subs := b.subs[conversation]
	for i, x := range subs {
		if x != s {
			continue
		}
		last := len(subs) - 1
		subs[i], subs[last] = subs[last], nil
		if last == 0 {
			delete(b.subs, conversation)
		} else {
			b.subs[conversation] = subs[:last]
		}
		return
	}
}

// ChanSub is the channel form of a subscription (Bus.Subscribe) on top of the callback form: Put,
// given to SubscribeFunc, fills a buffered channel, and on a full one closes it and returns false,
// which drops the subscriber. Buses use it to offer both forms with one delivery path.
type ChanSub struct {
	mu     sync.Mutex // Put and Close may race (a bus's goroutine and the subscriber's cancel)
	ch     chan Message
	closed bool
}

// NewChanSub returns a ChanSub whose subscriber may fall buffer messages behind.
func NewChanSub(buffer int) *ChanSub { return &ChanSub{ch: make(chan Message, buffer)} }

// C is the subscriber's channel.
func (s *ChanSub) C() <-chan Message { return s.ch }

// Put queues m without blocking; false when the channel is closed or was full (and is now closed).
func (s *ChanSub) Put(m Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	select {
	case s.ch <- m:
		return true
	default:
		s.closed = true
		close(s.ch)
		return false
	}
}

// Close closes the channel once.
func (s *ChanSub) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		close(s.ch)
	}
}

// Interface guards
var _ Bus = (*MemoryBus)(nil)
