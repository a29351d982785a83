package redisstore_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"claimline/channels"
	"claimline/channels/redisstore"
	"claimline/internal/testservices"
)

// provider plays Telegram's API shared by every node: it logs each accepted message in the order it
// accepted them (per conversation) and notices two sends of one conversation in flight at once, on
// any nodes.
type provider struct {
	mu       sync.Mutex
	log      map[string][]string // conversation → texts in acceptance order
	byNode   map[string]int      // node → messages accepted
	inflight map[string]int
	overlap  atomic.Bool
	ids      atomic.Int64
}

func newProvider() *provider {
	return &provider{log: map[string][]string{}, byNode: map[string]int{}, inflight: map[string]int{}}
}

func (p *provider) texts(conv string) []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log[conv]...)
}

func (p *provider) total() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, l := range p.log {
		n += len(l)
	}
	return n
}

// countingSender is one node's Sender: it counts its sends and passes them to the shared provider.
// hang, when set, is called for each send after the provider accepted the message; a send for which
// it returns true never answers (the node died right after the provider's acceptance, before its
// mark) until ctx ends or release is closed.
type countingSender struct {
	node    string
	p       *provider
	delay   time.Duration
	calls   atomic.Int64
	hang    func(conv, text string) bool
	hung    chan string // receives the text of the hung send
	release chan struct{}
}

func (s *countingSender) Send(ctx context.Context, conv *channels.Conversation, msg channels.Message) (string, error) {
	s.calls.Add(1)
	p := s.p
	p.mu.Lock()
	p.inflight[conv.ID]++
	if p.inflight[conv.ID] > 1 {
		p.overlap.Store(true)
	}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.inflight[conv.ID]--
		p.mu.Unlock()
	}()
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	p.mu.Lock()
	p.log[conv.ID] = append(p.log[conv.ID], msg.Text)
	p.byNode[s.node]++
	p.mu.Unlock()
	if s.hang != nil && s.hang(conv.ID, msg.Text) {
		s.hung <- msg.Text
		p.mu.Lock()
		p.inflight[conv.ID]-- // a dead node's send is not in flight any more
		p.mu.Unlock()
		defer func() {
			p.mu.Lock()
			p.inflight[conv.ID]++ // balance the deferred decrement
			p.mu.Unlock()
		}()
		select {
		case <-ctx.Done():
		case <-s.release:
		}
		return "", &channels.DeliveryError{Retry: true, Code: "dead"}
	}
	return fmt.Sprintf("TG%06d", p.ids.Add(1)), nil
}

// pushNode is one gateway node with a push channel: its own connection, store, bus, locker, router
// and counting sender; its delivery loop polls often so the nodes race for the same heads of line.
func pushNode(t *testing.T, url, prefix string, lcfg redisstore.LockerConfig, s *countingSender, workers int) (*channels.Router, *redisstore.Store) {
	t.Helper()
	c, _ := client(t, url)
	st := newStore(t, c, prefix)
	bus := newBus(t, c, st, prefix, redisstore.BusConfig{})
	lcfg.Prefix = prefix
	lk, err := redisstore.NewLocker(c, lcfg)
	if err != nil {
		t.Fatal(err)
	}
	r, err := channels.NewRouter(channels.RouterConfig{
		Store: st, Dialog: newTracer(time.Millisecond), Bus: bus, Locker: lk,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Delivery: channels.DeliveryConfig{
			Workers: workers, PollInterval: 10 * time.Millisecond, BaseBackoff: 20 * time.Millisecond,
			MaxBackoff: 50 * time.Millisecond, SendTimeout: 20 * time.Second, LockWait: 30 * time.Millisecond,
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.RegisterSender(channels.ChannelTelegram, s, channels.Capabilities{})
	t.Cleanup(func() { r.Close(context.Background()) })
	return r, st
}

// outboundTexts returns the conversation's replies in seq order: the order they must reach the
// customer in.
func outboundTexts(t *testing.T, st channels.Store, conv string) []string {
	t.Helper()
	msgs, err := st.MessagesAfter(ctx(), conv, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range msgs {
		if m.Direction == channels.DirOut {
			out = append(out, m.Text)
		}
	}
	return out
}

// waitOutboxEmpty waits until no delivery is pending.
func waitOutboxEmpty(t *testing.T, st channels.Store) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		n, err := st.OutboxDepth(ctx())
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("deliveries left pending")
}

func checkAllSent(t *testing.T, st channels.Store, conv string, want int) {
	t.Helper()
	ds, err := st.Deliveries(ctx(), conv)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != want {
		t.Fatalf("%d deliveries, want %d", len(ds), want)
	}
	for _, d := range ds {
		if d.Status != channels.DeliverySent || d.PartsSent != 1 {
			t.Fatalf("delivery %d: %s with %d parts sent", d.Seq, d.Status, d.PartsSent)
		}
	}
}

// Two nodes share one Redis, both with a push channel's delivery loop running: every reply of 5
// conversations × 6 messages (received on either node) is sent exactly once in total, in seq order per
// conversation, never two sends of one conversation at once — and both nodes do part of the work.
func TestTwoNodesDeliverEachReplyOnce(t *testing.T) {
	url := testservices.StartRedis(t)
	_, prefix := client(t, url)
	p := newProvider()
	sa := &countingSender{node: "a", p: p, delay: 2 * time.Millisecond}
	sb := &countingSender{node: "b", p: p, delay: 2 * time.Millisecond}
	ra, st := pushNode(t, url, prefix, redisstore.LockerConfig{}, sa, 4)
	rb, _ := pushNode(t, url, prefix, redisstore.LockerConfig{}, sb, 4)
	for _, r := range []*channels.Router{ra, rb} {
		if err := r.StartDelivery(); err != nil {
			t.Fatal(err)
		}
	}

	const convs, perConv = 5, 6
	var wg sync.WaitGroup
	for c := range convs {
		wg.Add(1)
		go func() { // a conversation's messages one after another, alternating nodes
			defer wg.Done()
			for i := range perConv {
				r := ra
				if (c+i)%2 == 1 {
					r = rb
				}
				in := channels.Inbound{Channel: channels.ChannelTelegram, Contact: fmt.Sprint("tg", c),
					ClientID: fmt.Sprint("m", i), Text: fmt.Sprint("q", i)}
				if _, _, err := r.Receive(ctx(), in); err != nil {
					t.Error(err)
					return
				}
				time.Sleep(time.Duration(i%3) * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	waitAllHandled(t, st)
	waitOutboxEmpty(t, st)
	time.Sleep(150 * time.Millisecond) // let a late duplicate show up, if any

	const want = convs * (perConv + 1) // the greeting and one answer per message
	if got := p.total(); got != want || sa.calls.Load()+sb.calls.Load() != want {
		t.Fatalf("provider accepted %d messages (node a %d sends, node b %d), want %d",
			got, sa.calls.Load(), sb.calls.Load(), want)
	}
	if p.overlap.Load() {
		t.Fatal("two sends of one conversation were in flight at once")
	}
	for c := range convs {
		conv, err := st.FindConversation(ctx(), channels.ChannelTelegram, fmt.Sprint("tg", c))
		if err != nil {
			t.Fatal(err)
		}
		wantTexts := outboundTexts(t, st, conv.ID)
		if got := p.texts(conv.ID); fmt.Sprint(got) != fmt.Sprint(wantTexts) {
			t.Fatalf("conversation %d sent %v, want (seq order, once each) %v", c, got, wantTexts)
		}
		checkAllSent(t, st, conv.ID, perConv+1)
	}
	p.mu.Lock()
	t.Logf("sent by node a: %d, node b: %d", p.byNode["a"], p.byNode["b"])
	p.mu.Unlock()
}

// A node dies in the middle of a send (its lock stops being renewed and expires; its send never
// returns): the other node takes the conversation over once the lock expired and sends everything,
// in seq order, nothing lost. The one message the dead node's provider had already accepted but the
// node never recorded is sent a second time — the documented at-most-one duplicate; every other
// message is sent exactly once.
func TestNodeDyingMidSendLosesNothing(t *testing.T) {
	url := testservices.StartRedis(t)
	_, prefix := client(t, url)
	p := newProvider()
	var once atomic.Bool
	release := make(chan struct{})
	sa := &countingSender{node: "a", p: p, hung: make(chan string, 1), release: release,
		hang: func(conv, text string) bool { return once.CompareAndSwap(false, true) }}
	sb := &countingSender{node: "b", p: p, delay: time.Millisecond}
	// Node a stalls: its lock lives 300ms and is never renewed; one worker, which the hung send blocks.
	ra, st := pushNode(t, url, prefix, redisstore.LockerConfig{TTL: 300 * time.Millisecond, Renew: time.Hour}, sa, 1)
	rb, _ := pushNode(t, url, prefix, redisstore.LockerConfig{}, sb, 4)
	t.Cleanup(func() { close(release) }) // runs before the routers' Close

	const convs, perConv = 3, 6
	for c := range convs {
		for i := range perConv {
			in := channels.Inbound{Channel: channels.ChannelTelegram, Contact: fmt.Sprint("tg", c),
				ClientID: fmt.Sprint("m", i), Text: fmt.Sprint("q", i)}
			if _, _, err := rb.ProcessSync(ctx(), in); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := ra.StartDelivery(); err != nil {
		t.Fatal(err)
	}
	var dead string
	select {
	case dead = <-sa.hung:
	case <-time.After(10 * time.Second):
		t.Fatal("node a never sent")
	}
	started := time.Now()
	if err := rb.StartDelivery(); err != nil {
		t.Fatal(err)
	}
	waitOutboxEmpty(t, st)
	time.Sleep(100 * time.Millisecond)

	const want = convs * (perConv + 1)
	if got := p.total(); got != want+1 {
		t.Fatalf("provider accepted %d messages, want %d and the dead node's one again", got, want)
	}
	if sa.calls.Load() != 1 {
		t.Fatalf("the dead node sent %d times", sa.calls.Load())
	}
	if p.overlap.Load() {
		t.Fatal("two sends of one conversation were in flight at once")
	}
	var deadConv string
	for c := range convs {
		conv, err := st.FindConversation(ctx(), channels.ChannelTelegram, fmt.Sprint("tg", c))
		if err != nil {
			t.Fatal(err)
		}
		wantTexts := outboundTexts(t, st, conv.ID)
		got := p.texts(conv.ID)
		if len(got) == len(wantTexts)+1 {
			// The dead node's send came first (it was the head of line); the other node resent it.
			deadConv = conv.ID
			if got[0] != dead || got[1] != dead {
				t.Fatalf("conversation %d sent %v: want %q twice, first", c, got, dead)
			}
			got = got[1:]
		}
		if fmt.Sprint(got) != fmt.Sprint(wantTexts) {
			t.Fatalf("conversation %d sent %v, want %v", c, got, wantTexts)
		}
		checkAllSent(t, st, conv.ID, perConv+1)
	}
	if deadConv == "" {
		t.Fatal("no conversation shows the dead node's send")
	}
	t.Logf("the other node finished %v after the death (lock TTL 300ms)", time.Since(started).Round(time.Millisecond))
}
