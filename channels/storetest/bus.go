package storetest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"claimline/channels"
)

// BusEnv is one backend for the Bus contract.
type BusEnv struct {
	// Store is where messages are stored before they are published (the router's order: store, then
	// publish). A Bus may read it to catch up.
	Store channels.Store
	// NewBus returns a bus whose subscribers may fall at most Buffer messages behind. With Shared,
	// every call returns another node joined to the same backend; else calls may return the same bus.
	NewBus func(t *testing.T) channels.Bus
	Buffer int
	// Shared: buses from NewBus reach each other (scaled-out mode).
	Shared bool
}

// TestBus runs the Bus contract; open makes a fresh backend per subtest.
func TestBus(t *testing.T, open func(t *testing.T) BusEnv) {
	tests := []struct {
		name string
		fn   func(t *testing.T, env BusEnv)
	}{
		{"OrderPerConversation", testBusOrder},
		{"OnlyItsConversation", testBusIsolation},
		{"SlowSubscriberDroppedOthersNot", testBusSlow},
		{"CancelIdempotent", testBusCancel},
		{"CrossNode", testBusCrossNode},
		{"FuncOrderPerConversation", testBusFuncOrder},
		{"FuncCallsNeverOverlap", testBusFuncOverlap},
		{"FuncOnlyItsConversation", testBusFuncIsolation},
		{"FuncFalseEndsIt", testBusFuncDecline},
		{"FuncCancel", testBusFuncCancel},
		{"FuncNotRunningAfterCancel", testBusFuncCancelWhilePublishing},
		{"FuncAndChannelTogether", testBusFuncWithChannel},
		{"FuncCrossNode", testBusFuncCrossNode},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

// store stores n inbound messages in conv and publishes each, as the router does.
func storeAndPublish(t *testing.T, env BusEnv, bus channels.Bus, conv string, n int, tag string) {
	t.Helper()
	for i := range n {
		m, _, err := env.Store.AppendInbound(ctx, conv, channels.Inbound{Text: fmt.Sprint(tag, i)})
		if err != nil {
			t.Fatal(err)
		}
		bus.Publish(m)
	}
}

// receive reads n messages from ch and checks they are seqs first..first+n-1 in order.
func receive(t *testing.T, ch <-chan channels.Message, conv string, first int64, n int) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for i := range n {
		select {
		case m, ok := <-ch:
			if !ok {
				t.Fatalf("channel closed after %d of %d", i, n)
			}
			if m.Conversation != conv || m.Seq != first+int64(i) {
				t.Fatalf("message %d: conversation %q seq %d, want %q seq %d", i, m.Conversation, m.Seq, conv, first+int64(i))
			}
		case <-timeout:
			t.Fatalf("received %d of %d", i, n)
		}
	}
}

func busConv(t *testing.T, env BusEnv, contact string) string {
	t.Helper()
	c, _, err := env.Store.OpenConversation(ctx, channels.ChannelWebchat, contact, "zh-TW")
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func testBusOrder(t *testing.T, env BusEnv) {
	bus := env.NewBus(t)
	conv := busConv(t, env, "a")
	ch, cancel := bus.Subscribe(conv)
	defer cancel()
	n := env.Buffer / 2
	done := make(chan struct{})
	go func() {
		defer close(done)
		for round := range 6 { // publish in bursts the subscriber keeps up with
			storeAndPublish(t, env, bus, conv, n, fmt.Sprint("r", round, "-"))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	receive(t, ch, conv, 1, 6*n)
	<-done
	select {
	case m, ok := <-ch:
		if ok {
			t.Fatalf("an extra message: %+v", m)
		}
	case <-time.After(100 * time.Millisecond):
	}
}

func testBusIsolation(t *testing.T, env BusEnv) {
	bus := env.NewBus(t)
	a, b := busConv(t, env, "a"), busConv(t, env, "b")
	cha, cancelA := bus.Subscribe(a)
	defer cancelA()
	chb, cancelB := bus.Subscribe(b)
	defer cancelB()
	storeAndPublish(t, env, bus, a, 3, "a")
	storeAndPublish(t, env, bus, b, 2, "b")
	receive(t, cha, a, 1, 3)
	receive(t, chb, b, 1, 2)
	select {
	case m := <-cha:
		t.Fatalf("a got %+v", m)
	case m := <-chb:
		t.Fatalf("b got %+v", m)
	case <-time.After(100 * time.Millisecond):
	}
}

func testBusSlow(t *testing.T, env BusEnv) {
	bus := env.NewBus(t)
	conv := busConv(t, env, "a")
	slow, cancelSlow := bus.Subscribe(conv)
	defer cancelSlow()
	fast, cancelFast := bus.Subscribe(conv)
	defer cancelFast()
	total := env.Buffer * 4
	got := make(chan int, 1)
	go func() {
		n := 0
		timeout := time.After(20 * time.Second)
		for n < total {
			select {
			case m, ok := <-fast:
				if !ok {
					got <- -n
					return
				}
				if m.Seq != int64(n+1) {
					got <- -n
					return
				}
				n++
			case <-timeout:
				got <- -n
				return
			}
		}
		got <- n
	}()
	start := time.Now()
	for i := range total / 8 {
		storeAndPublish(t, env, bus, conv, 8, fmt.Sprint("m", i, "-"))
		time.Sleep(5 * time.Millisecond) // the fast subscriber keeps up; the slow one never reads
	}
	if n := <-got; n != total {
		t.Fatalf("the fast subscriber got %d of %d in order (a slow one stalled it?)", -n, total)
	}
	if time.Since(start) > 15*time.Second {
		t.Fatalf("publishing took %v", time.Since(start))
	}
	// The slow one was dropped: its channel holds at most Buffer messages, then is closed.
	n := 0
	timeout := time.After(10 * time.Second)
	for {
		select {
		case m, ok := <-slow:
			if !ok {
				if n > env.Buffer {
					t.Fatalf("the slow subscriber got %d messages, more than its buffer %d", n, env.Buffer)
				}
				cancelSlow() // safe after a drop
				return
			}
			if m.Seq != int64(n+1) {
				t.Fatalf("slow subscriber out of order: seq %d at %d", m.Seq, n)
			}
			n++
		case <-timeout:
			t.Fatalf("the slow subscriber was not dropped (read %d)", n)
		}
	}
}

func testBusCancel(t *testing.T, env BusEnv) {
	bus := env.NewBus(t)
	conv := busConv(t, env, "a")
	ch, cancel := bus.Subscribe(conv)
	cancel()
	cancel()
	storeAndPublish(t, env, bus, conv, 3, "x")
	select {
	case _, ok := <-ch:
		if ok {
			t.Fatal("a message after cancel")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the channel was not closed by cancel")
	}
	// A new subscription after a cancel works.
	ch2, cancel2 := bus.Subscribe(conv)
	defer cancel2()
	storeAndPublish(t, env, bus, conv, 1, "y")
	receive(t, ch2, conv, 4, 1)
}

func testBusCrossNode(t *testing.T, env BusEnv) {
	if !env.Shared {
		t.Skip("an in-process bus: no other node")
	}
	a, b := env.NewBus(t), env.NewBus(t)
	conv := busConv(t, env, "a")
	chA, cancelA := a.Subscribe(conv)
	defer cancelA()
	chB, cancelB := b.Subscribe(conv)
	defer cancelB()
	// Both nodes publish (a customer on A, an agent on B): both see everything, in seq order.
	for i := range 10 {
		bus := a
		if i%2 == 1 {
			bus = b
		}
		storeAndPublish(t, env, bus, conv, 1, fmt.Sprint("m", i))
	}
	receive(t, chA, conv, 1, 10)
	receive(t, chB, conv, 1, 10)
}

// funcSub records what a SubscribeFunc subscriber is called with, and whether calls overlapped.
type funcSub struct {
	decline int // return false at this call (1-based); 0: never

	running atomic.Int32
	overlap atomic.Bool
	calls   atomic.Int64
	mu      sync.Mutex
	got     []channels.Message
}

func (s *funcSub) fn(m channels.Message) bool {
	if s.running.Add(1) > 1 {
		s.overlap.Store(true)
	}
	defer s.running.Add(-1)
	n := s.calls.Add(1)
	s.mu.Lock()
	s.got = append(s.got, m)
	s.mu.Unlock()
	return s.decline == 0 || n < int64(s.decline)
}

func (s *funcSub) messages() []channels.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]channels.Message(nil), s.got...)
}

// expect waits for n calls and checks they were seqs first..first+n-1 of conv, in order, one at a time.
func (s *funcSub) expect(t *testing.T, conv string, first int64, n int) {
	t.Helper()
	for end := time.Now().Add(15 * time.Second); s.calls.Load() < int64(n) && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	got := s.messages()
	if len(got) < n {
		t.Fatalf("called %d times, want %d", len(got), n)
	}
	for i, m := range got[:n] {
		if m.Conversation != conv || m.Seq != first+int64(i) {
			t.Fatalf("call %d: conversation %q seq %d, want %q seq %d", i, m.Conversation, m.Seq, conv, first+int64(i))
		}
	}
	if s.overlap.Load() {
		t.Fatal("calls of one subscription overlapped")
	}
}

// quiet checks that no call beyond n comes within a short while.
func (s *funcSub) quiet(t *testing.T, n int) {
	t.Helper()
	time.Sleep(150 * time.Millisecond)
	if c := s.calls.Load(); c != int64(n) {
		t.Fatalf("called %d times, want %d", c, n)
	}
}

func testBusFuncOrder(t *testing.T, env BusEnv) {
	bus := env.NewBus(t)
	conv := busConv(t, env, "a")
	var s funcSub
	defer bus.SubscribeFunc(conv, s.fn)()
	n := env.Buffer / 2
	for round := range 6 {
		storeAndPublish(t, env, bus, conv, n, fmt.Sprint("r", round, "-"))
		time.Sleep(20 * time.Millisecond)
	}
	s.expect(t, conv, 1, 6*n)
	s.quiet(t, 6*n)
}

// Two goroutines publishing at once (a reader and a turn runner do): calls still come one at a time,
// each message once.
func testBusFuncOverlap(t *testing.T, env BusEnv) {
	bus := env.NewBus(t)
	conv := busConv(t, env, "a")
	var s funcSub
	defer bus.SubscribeFunc(conv, s.fn)()
	n := env.Buffer * 2
	var wg sync.WaitGroup
	for g := range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			storeAndPublish(t, env, bus, conv, n/2, fmt.Sprint("g", g, "-"))
		}()
	}
	wg.Wait()
	for end := time.Now().Add(15 * time.Second); s.calls.Load() < int64(n) && time.Now().Before(end); {
		time.Sleep(5 * time.Millisecond)
	}
	s.quiet(t, n)
	seen := map[int64]bool{}
	for _, m := range s.messages() {
		if seen[m.Seq] || m.Seq < 1 || m.Seq > int64(n) {
			t.Fatalf("seq %d twice or unknown", m.Seq)
		}
		seen[m.Seq] = true
	}
	if s.overlap.Load() {
		t.Fatal("calls of one subscription overlapped")
	}
}

func testBusFuncIsolation(t *testing.T, env BusEnv) {
	bus := env.NewBus(t)
	a, b := busConv(t, env, "a"), busConv(t, env, "b")
	var sa, sb funcSub
	defer bus.SubscribeFunc(a, sa.fn)()
	defer bus.SubscribeFunc(b, sb.fn)()
	storeAndPublish(t, env, bus, a, 3, "a")
	storeAndPublish(t, env, bus, b, 2, "b")
	sa.expect(t, a, 1, 3)
	sb.expect(t, b, 1, 2)
	sa.quiet(t, 3)
	sb.quiet(t, 2)
}

func testBusFuncDecline(t *testing.T, env BusEnv) {
	bus := env.NewBus(t)
	conv := busConv(t, env, "a")
	declining := &funcSub{decline: 3}
	cancel := bus.SubscribeFunc(conv, declining.fn)
	var other funcSub
	defer bus.SubscribeFunc(conv, other.fn)()
	storeAndPublish(t, env, bus, conv, 8, "m")
	other.expect(t, conv, 1, 8)
	declining.expect(t, conv, 1, 3)
	declining.quiet(t, 3) // false ended it: no call after the third
	cancel()              // safe after false, and twice
	cancel()
	// Subscribing again works; what was published in between is in the Store.
	again := &funcSub{}
	defer bus.SubscribeFunc(conv, again.fn)()
	storeAndPublish(t, env, bus, conv, 2, "n")
	again.expect(t, conv, 9, 2)
}

func testBusFuncCancel(t *testing.T, env BusEnv) {
	bus := env.NewBus(t)
	conv := busConv(t, env, "a")
	var s funcSub
	cancel := bus.SubscribeFunc(conv, s.fn)
	storeAndPublish(t, env, bus, conv, 2, "x")
	s.expect(t, conv, 1, 2)
	cancel()
	cancel()
	storeAndPublish(t, env, bus, conv, 3, "y")
	s.quiet(t, 2)
}

// When cancel returns, fn is not running and is not called again, even while messages keep coming.
func testBusFuncCancelWhilePublishing(t *testing.T, env BusEnv) {
	bus := env.NewBus(t)
	conv := busConv(t, env, "a")
	var s funcSub
	cancel := bus.SubscribeFunc(conv, s.fn)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			storeAndPublish(t, env, bus, conv, 1, fmt.Sprint("m", i))
		}
	}()
	for s.calls.Load() < 5 {
		time.Sleep(time.Millisecond)
	}
	cancel()
	if s.running.Load() != 0 {
		t.Fatal("fn still running after cancel returned")
	}
	n := s.calls.Load()
	time.Sleep(100 * time.Millisecond)
	close(stop)
	<-done
	if c := s.calls.Load(); c != n {
		t.Fatalf("called %d times after cancel returned", c-n)
	}
}

func testBusFuncWithChannel(t *testing.T, env BusEnv) {
	bus := env.NewBus(t)
	conv := busConv(t, env, "a")
	ch, cancelCh := bus.Subscribe(conv)
	defer cancelCh()
	var s funcSub
	defer bus.SubscribeFunc(conv, s.fn)()
	storeAndPublish(t, env, bus, conv, env.Buffer/2, "m")
	receive(t, ch, conv, 1, env.Buffer/2)
	s.expect(t, conv, 1, env.Buffer/2)
}

func testBusFuncCrossNode(t *testing.T, env BusEnv) {
	if !env.Shared {
		t.Skip("an in-process bus: no other node")
	}
	a, b := env.NewBus(t), env.NewBus(t)
	conv := busConv(t, env, "a")
	var sa, sb funcSub
	defer a.SubscribeFunc(conv, sa.fn)()
	defer b.SubscribeFunc(conv, sb.fn)()
	for i := range 10 {
		bus := a
		if i%2 == 1 {
			bus = b
		}
		storeAndPublish(t, env, bus, conv, 1, fmt.Sprint("m", i))
	}
	sa.expect(t, conv, 1, 10)
	sb.expect(t, conv, 1, 10)
}
