package channels

import (
	"sync"
)

// Bus carries stored messages to live subscribers (websocket connections). It is a notification path
// only: the Store is the truth, and a subscriber that missed something resumes from it by seq.
//
// Rules every implementation must keep:
//   - Publish never blocks on a subscriber. A subscriber that cannot keep up is dropped: its channel
//     is closed, and it must resubscribe and catch up from the Store.
//   - Messages of one conversation reach a subscriber in the order they were published.
//   - The cancel func returned by Subscribe is idempotent and safe to call after a drop.
type Bus interface {
	Publish(msg Message)
	Subscribe(conversation string) (<-chan Message, func())
}

// MemoryBus is the in-process Bus of the embedded deployment.
type MemoryBus struct {
	buffer int

	mu   sync.Mutex
	subs map[string]map[*memorySub]struct{}
}

type memorySub struct {
	ch     chan Message
	closed bool
}

// NewMemoryBus returns a Bus whose subscribers may fall buffer messages behind before being dropped.
func NewMemoryBus(buffer int) *MemoryBus {
	if buffer <= 0 {
		buffer = 64
	}
	return &MemoryBus{buffer: buffer, subs: make(map[string]map[*memorySub]struct{})}
}

// Publish delivers msg to every subscriber of its conversation, dropping the ones that are full.
func (b *MemoryBus) Publish(msg Message) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.subs[msg.Conversation] {
		select {
		case s.ch <- msg:
		default:
			b.remove(msg.Conversation, s)
		}
	}
}

// Subscribe returns a channel of the conversation's messages published from now on.
func (b *MemoryBus) Subscribe(conversation string) (<-chan Message, func()) {
	s := &memorySub{ch: make(chan Message, b.buffer)}
	b.mu.Lock()
	if b.subs[conversation] == nil {
		b.subs[conversation] = make(map[*memorySub]struct{})
	}
	b.subs[conversation][s] = struct{}{}
	b.mu.Unlock()
	return s.ch, func() {
		b.mu.Lock()
		b.remove(conversation, s)
		b.mu.Unlock()
	}
}

// remove closes and forgets a subscriber; b.mu must be held.
func (b *MemoryBus) remove(conversation string, s *memorySub) {
	if s.closed {
		return
	}
	s.closed = true
	close(s.ch)
	delete(b.subs[conversation], s)
	if len(b.subs[conversation]) == 0 {
		delete(b.subs, conversation)
	}
}

// Interface guards
var _ Bus = (*MemoryBus)(nil)
