package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/channels/redisstore"
	"claimline/dialog"
	"claimline/internal/testservices"
)

// proxy is a TCP proxy to Redis that a test can cut, to play a node briefly losing its connection.
type proxy struct {
	ln     net.Listener
	target string
	down   atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newProxy(t *testing.T, redisURL string) *proxy {
	t.Helper()
	target := strings.TrimSuffix(strings.TrimPrefix(redisURL, "redis://"), "/0")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.down.Load() {
				c.Close()
				continue
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, u)
			p.mu.Unlock()
			go func() { io.Copy(u, c); u.Close() }()
			go func() { io.Copy(c, u); c.Close() }()
		}
	}()
	return p
}

func (p *proxy) url() string { return "redis://" + p.ln.Addr().String() + "/0" }

// cut closes every proxied connection; new ones are refused until restore.
func (p *proxy) cut() {
	p.down.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) restore() { p.down.Store(false) }

// A message published while the subscriber's node is disconnected from Redis (pub/sub drops it) is
// still delivered, in order, once the node reconnects — with no later message to reveal the gap and
// no safety poll.
func TestBusDeliversWhatWasPublishedWhileDisconnected(t *testing.T) {
	url := testservices.StartRedis(t)
	p := newProxy(t, url)
	ca, prefix := client(t, url)
	storeA := newStore(t, ca, prefix)
	busA := newBus(t, ca, storeA, prefix, redisstore.BusConfig{Poll: time.Hour})
	cb, _ := client(t, p.url())
	busB := newBus(t, cb, newStore(t, cb, prefix), prefix, redisstore.BusConfig{Poll: time.Hour})

	conv, _, err := storeA.OpenConversation(ctx(), channels.ChannelWebchat, "a", "zh-TW")
	if err != nil {
		t.Fatal(err)
	}
	ch, cancel := busB.Subscribe(conv.ID)
	defer cancel()
	publish := func(text string) {
		m, _, err := storeA.AppendInbound(ctx(), conv.ID, channels.Inbound{Text: text})
		if err != nil {
			t.Fatal(err)
		}
		busA.Publish(m)
	}
	expect := func(seq int64) {
		t.Helper()
		select {
		case m, ok := <-ch:
			if !ok || m.Seq != seq {
				t.Fatalf("got %+v (open %v), want seq %d", m, ok, seq)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("seq %d never arrived", seq)
		}
	}
	publish("before")
	expect(1)

	p.cut()
	time.Sleep(50 * time.Millisecond)
	publish("during 1")
	publish("during 2")
	time.Sleep(300 * time.Millisecond)
	p.restore()
	expect(2)
	expect(3)
	publish("after")
	expect(4)
}

func ctx() context.Context { return context.Background() }

// tracer is a dialog shared by several routers ("nodes"): it records the seqs it saw per conversation
// and whether two turns of one conversation ever overlapped, on any node.
type tracer struct {
	delay  time.Duration
	slow   func(in dialog.Input) time.Duration // extra delay for some inputs
	effect bool                                // a customer's turn reaches an effect after its delay

	mu       sync.Mutex
	inflight map[string]int
	seen     map[string][]int64
	overlap  atomic.Bool
}

func newTracer(delay time.Duration) *tracer {
	return &tracer{delay: delay, inflight: map[string]int{}, seen: map[string][]int64{}}
}

func (d *tracer) Turn(ctx context.Context, state []byte, in dialog.Input) ([]byte, []dialog.Reply, error) {
	d.mu.Lock()
	d.inflight[in.Conversation]++
	if d.inflight[in.Conversation] > 1 {
		d.overlap.Store(true)
	}
	d.seen[in.Conversation] = append(d.seen[in.Conversation], in.Seq)
	d.mu.Unlock()
	defer func() {
		d.mu.Lock()
		d.inflight[in.Conversation]--
		d.mu.Unlock()
	}()
	wait := d.delay
	if d.slow != nil {
		wait += d.slow(in)
	}
	time.Sleep(wait)
	if d.effect && in.Event == "" {
		// As the engine does before filing a claim: the router stores the message first. A turn
		// whose store failed is thrown away by the router, so what it answers does not matter.
		_ = dialog.BeforeEffect(ctx)
	}
	if in.Event == dialog.EventStart {
		return []byte("0"), []dialog.Reply{{Text: "歡迎"}}, nil
	}
	return []byte(fmt.Sprint(in.Seq)), []dialog.Reply{{Text: "echo:" + in.Text}}, nil
}

func (d *tracer) seqs(conv string) []int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]int64(nil), d.seen[conv]...)
}

// slowFirstTurn is a tracer whose first customer turn takes wait longer (to outlive its lock);
// calls counts the customer turns.
func slowFirstTurn(wait time.Duration) (d *tracer, calls *atomic.Int32) {
	d, calls = newTracer(0), new(atomic.Int32)
	d.slow = func(in dialog.Input) time.Duration {
		if in.Event == "" && calls.Add(1) == 1 {
			return wait
		}
		return 0
	}
	return d, calls
}

// node is one gateway process: its own connection, store, bus, locker and router.
func node(t *testing.T, url, prefix string, d channels.Dialog, lcfg redisstore.LockerConfig) (*channels.Router, *redisstore.Store) {
	t.Helper()
	r, st, _ := converseNode(t, url, prefix, d, lcfg)
	return r, st
}

// converseNode is node with the router's metrics in a registry of its own.
func converseNode(t *testing.T, url, prefix string, d channels.Dialog, lcfg redisstore.LockerConfig) (*channels.Router, *redisstore.Store, *prometheus.Registry) {
	t.Helper()
	c, _ := client(t, url)
	st := newStore(t, c, prefix)
	bus := newBus(t, c, st, prefix, redisstore.BusConfig{})
	lcfg.Prefix = prefix
	lk, err := redisstore.NewLocker(c, lcfg)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	r, err := channels.NewRouter(channels.RouterConfig{
		Store: st, Dialog: d, Bus: bus, Locker: lk, Metrics: channels.NewMetrics(reg),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r, st, reg
}

func waitAllHandled(t *testing.T, st channels.Store) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		un, err := st.Unhandled(ctx())
		if err != nil {
			t.Fatal(err)
		}
		if len(un) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("messages left unhandled")
}

// checkAnswered fails unless the conversation's transcript has no gap and holds the greeting and
// questions questions, each handled and answered once by the echo dialog, after it, the answers in
// the questions' order (a burst stores some questions first, so an answer need not follow its
// question at once). It returns the transcript.
func checkAnswered(t *testing.T, st channels.Store, conversation string, questions int) []channels.Message {
	t.Helper()
	msgs, err := st.MessagesAfter(ctx(), conversation, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2*questions+1 {
		t.Fatalf("conversation %s: %d messages, want %d questions, their answers and the greeting", conversation, len(msgs), questions)
	}
	asked := map[int64]string{}
	var lastReplyTo int64
	for i, m := range msgs {
		if m.Seq != int64(i+1) {
			t.Fatalf("conversation %s: gap at %d", conversation, i)
		}
		switch {
		case m.Direction == channels.DirIn:
			if !m.Handled {
				t.Fatalf("conversation %s: %d not handled", conversation, m.Seq)
			}
			asked[m.Seq] = m.Text
		case m.ReplyTo > 0:
			q, ok := asked[m.ReplyTo]
			if !ok || m.Text != "echo:"+q || m.ReplyTo <= lastReplyTo {
				for _, m := range msgs {
					t.Logf("%d %s %q reply_to=%d", m.Seq, m.Direction, m.Text, m.ReplyTo)
				}
				t.Fatalf("conversation %s: answer %d out of place", conversation, m.Seq)
			}
			lastReplyTo = m.ReplyTo
		}
	}
	return msgs
}

// Two nodes share one Redis and receive messages of the same conversation at once: turns never
// overlap, run once each, in seq order, and every answer follows its question in the transcript.
func TestTwoNodesOneTurnAtATimeInSeqOrder(t *testing.T) {
	url := testservices.StartRedis(t)
	_, prefix := client(t, url)
	d := newTracer(3 * time.Millisecond)
	ra, st := node(t, url, prefix, d, redisstore.LockerConfig{})
	rb, _ := node(t, url, prefix, d, redisstore.LockerConfig{})

	const convs, perConv = 3, 12
	var wg sync.WaitGroup
	for c := range convs {
		for i := range perConv {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := ra
				if i%2 == 1 {
					r = rb
				}
				in := channels.Inbound{Channel: channels.ChannelWebchat, Contact: fmt.Sprint("c", c),
					ClientID: fmt.Sprint("m", i), Text: fmt.Sprint("q", i)}
				if _, _, err := r.Receive(ctx(), in); err != nil {
					t.Error(err)
				}
				// The same webhook delivered to both nodes is stored once.
				if _, dup, err := rb.Receive(ctx(), in); err != nil || !dup {
					t.Errorf("repeat on the other node: dup=%v %v", dup, err)
				}
			}()
		}
	}
	wg.Wait()
	waitAllHandled(t, st)
	if d.overlap.Load() {
		t.Fatal("two turns of one conversation overlapped across nodes")
	}
	for c := range convs {
		conv, err := st.FindConversation(ctx(), channels.ChannelWebchat, fmt.Sprint("c", c))
		if err != nil {
			t.Fatal(err)
		}
		seqs := d.seqs(conv.ID)
		var inbound []int64
		for _, q := range seqs {
			if q > 0 {
				inbound = append(inbound, q)
			}
		}
		if len(inbound) != perConv {
			t.Fatalf("conversation %d: %d turns %v, want %d", c, len(inbound), seqs, perConv)
		}
		for i := 1; i < len(inbound); i++ {
			if inbound[i] <= inbound[i-1] {
				t.Fatalf("conversation %d: turns out of seq order %v", c, seqs)
			}
		}
		checkAnswered(t, st, conv.ID, perConv)
	}
}

// A turn whose lock expired (a node stalled past the TTL, renewal not running) cannot commit; the
// turn runs again under a new lock and its answer is stored once.
func TestExpiredLockCannotCommit(t *testing.T) {
	url := testservices.StartRedis(t)
	c, prefix := client(t, url)
	st := newStore(t, c, prefix)
	stall := redisstore.LockerConfig{Prefix: prefix, TTL: 50 * time.Millisecond, Renew: time.Hour}
	lk, err := redisstore.NewLocker(c, stall)
	if err != nil {
		t.Fatal(err)
	}
	conv, _, _ := st.OpenConversation(ctx(), channels.ChannelWebchat, "a", "zh-TW")
	if _, _, err := st.AppendInbound(ctx(), conv.ID, channels.Inbound{Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	turn := channels.Turn{Conversation: conv.ID, InboundSeq: 1, State: []byte("x"), Replies: []channels.Message{{Text: "r"}}}

	// Expired, nobody else took it: refused all the same.
	_, tok1, unlock1, err := lk.Lock(ctx(), conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(150 * time.Millisecond)
	if _, err := st.CommitTurnFenced(ctx(), turn, tok1); !errors.Is(err, channels.ErrStaleFence) || casesvc.ErrorCode(err) != casesvc.ECONFLICT {
		t.Fatalf("commit under an expired lock: %v", err)
	}
	// Another grant overtook it: the old token is refused, the new one commits; tokens grow.
	_, tok2, unlock2, err := lk.Lock(ctx(), conv.ID)
	if err != nil || tok2 <= tok1 {
		t.Fatalf("second grant: %v token %d after %d", err, tok2, tok1)
	}
	unlock1() // releasing a lost lock must not free the new holder's
	if _, err := st.CommitTurnFenced(ctx(), turn, tok1); !errors.Is(err, channels.ErrStaleFence) {
		t.Fatalf("commit with an overtaken token: %v", err)
	}
	if msgs, _ := st.MessagesAfter(ctx(), conv.ID, 0, 10); len(msgs) != 1 || msgs[0].Handled {
		t.Fatalf("a refused commit wrote: %+v", msgs)
	}
	if out, err := st.CommitTurnFenced(ctx(), turn, tok2); err != nil || len(out) != 1 || out[0].Seq != 2 {
		t.Fatalf("commit under the held lock: %v %+v", err, out)
	}
	unlock2()
	unlock2()

	// Through a router: the first run of the turn outlives its lock and is refused; the second commits.
	d, calls := slowFirstTurn(200 * time.Millisecond)
	r, _ := node(t, url, prefix, d, redisstore.LockerConfig{TTL: 80 * time.Millisecond, Renew: time.Hour})
	if _, _, err := r.Receive(ctx(), channels.Inbound{Channel: channels.ChannelWebchat, Contact: "a", Text: "slow"}); err != nil {
		t.Fatal(err)
	}
	waitAllHandled(t, st)
	msgs, _ := st.MessagesAfter(ctx(), conv.ID, 2, 100)
	var answers int
	for _, m := range msgs {
		if m.Direction == channels.DirOut && m.ReplyTo == 3 {
			answers++
		}
	}
	if calls.Load() != 2 || answers != 1 {
		t.Fatalf("dialog ran %d times, %d answers stored: %+v", calls.Load(), answers, msgs)
	}
}

// With renewal on, a turn longer than the TTL keeps its lock and commits the first time.
func TestRenewedLockOutlivesTTL(t *testing.T) {
	url := testservices.StartRedis(t)
	_, prefix := client(t, url)
	d := newTracer(0)
	var calls atomic.Int32
	d.slow = func(in dialog.Input) time.Duration {
		if in.Event == "" {
			calls.Add(1)
			return 800 * time.Millisecond
		}
		return 0
	}
	r, st := node(t, url, prefix, d, redisstore.LockerConfig{TTL: 250 * time.Millisecond})
	if _, _, err := r.Receive(ctx(), channels.Inbound{Channel: channels.ChannelWebchat, Contact: "a", Text: "slow"}); err != nil {
		t.Fatal(err)
	}
	waitAllHandled(t, st)
	if calls.Load() != 1 {
		t.Fatalf("the turn ran %d times", calls.Load())
	}
}

// converseWrites reads claimline_converse_writes_total{how} from reg.
func converseWrites(t *testing.T, reg *prometheus.Registry, how string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "claimline_converse_writes_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetValue() == how {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// Two nodes take messages of the same conversations at once through ReceiveSoon (webhooks: stored
// with their turn in one write when nothing is waiting) and Receive (stored first): turns never
// overlap and are committed once each, in seq order; the same webhook delivered to the other node is
// a repeat; every answer follows its question, and most messages were stored with their turn.
func TestTwoNodesOneWriteTurnsInSeqOrder(t *testing.T) {
	url := testservices.StartRedis(t)
	_, prefix := client(t, url)
	d := newTracer(2 * time.Millisecond)
	ra, st, rega := converseNode(t, url, prefix, d, redisstore.LockerConfig{})
	rb, _, regb := converseNode(t, url, prefix, d, redisstore.LockerConfig{})

	const convs, perConv = 3, 16
	var wg sync.WaitGroup
	for c := range convs {
		for i := range perConv {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, other := ra, rb
				if i%2 == 1 {
					r, other = rb, ra
				}
				in := channels.Inbound{Channel: channels.ChannelSMS, Contact: fmt.Sprint("+88691200000", c),
					ClientID: fmt.Sprint("sms:SM", c, "-", i), Text: fmt.Sprint("q", i)}
				if i%4 == 3 {
					if _, _, err := r.Receive(ctx(), in); err != nil {
						t.Error(err)
					}
				} else if s, err := r.ReceiveSoon(ctx(), in); err != nil || s.Dup || s.Msg.Seq == 0 {
					t.Errorf("receive soon: %+v %v", s, err)
				}
				if s, err := other.ReceiveSoon(ctx(), in); err != nil || !s.Dup {
					t.Errorf("repeat on the other node: %+v %v", s, err)
				}
			}()
		}
	}
	wg.Wait()
	waitAllHandled(t, st)
	if d.overlap.Load() {
		t.Fatal("two turns of one conversation overlapped across nodes")
	}
	for c := range convs {
		conv, err := st.FindConversation(ctx(), channels.ChannelSMS, fmt.Sprint("+88691200000", c))
		if err != nil {
			t.Fatal(err)
		}
		// The dialog also ran turns that were thrown away (a repeat is known only at the commit; a
		// message stored meanwhile voids the turn), so the transcript tells what was committed.
		msgs := checkAnswered(t, st, conv.ID, perConv)
		// The last turn committed left its state (the echo dialog's state is its question's seq).
		if last := msgs[len(msgs)-1]; string(conv.State) != fmt.Sprint(last.ReplyTo) {
			t.Fatalf("conversation %d: state %q after the answer to %d", c, conv.State, last.ReplyTo)
		}
	}
	one := converseWrites(t, rega, "one") + converseWrites(t, regb, "one")
	if one < convs*perConv/2 {
		t.Fatalf("%v of %d messages stored with their turn", one, convs*perConv)
	}
}

// converseStored sends in through r.Converse and waits until the caller is told the message is
// stored (being told it was not fails the test); told counts how often the caller was told, which
// must stay 1.
func converseStored(t *testing.T, r *channels.Router, in channels.Inbound) (s channels.Stored, told *atomic.Int32) {
	t.Helper()
	told = new(atomic.Int32)
	done := make(chan channels.Stored, 2)
	if err := r.Converse(ctx(), in, func(s channels.Stored, err error) {
		told.Add(1)
		if err != nil {
			t.Errorf("told the message was not stored: %v", err)
		}
		done <- s
	}); err != nil {
		t.Fatal(err)
	}
	select {
	case s = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the caller never heard whether the message was stored")
	}
	if s.Msg.Seq == 0 {
		t.Fatalf("told stored without a seq: %+v", s)
	}
	return s, told
}

// countTurns counts a conversation's customer messages, the answers to the one at seq, and the
// tracer's greetings.
func countTurns(msgs []channels.Message, seq int64) (questions, answers, greetings int) {
	for _, m := range msgs {
		switch {
		case m.Direction == channels.DirIn:
			questions++
		case m.Direction == channels.DirOut && m.ReplyTo == seq:
			answers++
		case m.Direction == channels.DirOut && m.Text == "歡迎":
			greetings++
		}
	}
	return questions, answers, greetings
}

// A one-write turn whose lock expired before its commit stored nothing: it runs again under a new
// lock, and the message and its answer are stored once; the caller hears of it once, stored.
func TestExpiredLockOneWriteTurnRunsAgain(t *testing.T) {
	url := testservices.StartRedis(t)
	_, prefix := client(t, url)
	d, calls := slowFirstTurn(200 * time.Millisecond)
	r, st, reg := converseNode(t, url, prefix, d, redisstore.LockerConfig{TTL: 80 * time.Millisecond, Renew: time.Hour})
	s, told := converseStored(t, r, channels.Inbound{Channel: channels.ChannelWebchat, Contact: "a", ClientID: "c1", Text: "slow"})
	waitAllHandled(t, st)
	msgs, _ := st.MessagesAfter(ctx(), s.Msg.Conversation, 0, 100)
	questions, answers, _ := countTurns(msgs, s.Msg.Seq)
	if calls.Load() != 2 || questions != 1 || answers != 1 || told.Load() != 1 || len(s.Replies) != 1 {
		t.Fatalf("dialog ran %d times, %d questions and %d answers stored, told %d times (%+v): %+v",
			calls.Load(), questions, answers, told.Load(), s, msgs)
	}
	if converseWrites(t, reg, "one") != 1 {
		t.Fatalf("the message was not stored with its turn")
	}
}

// With renewal on, as in production, a lost lock cancels the turn's context before the turn commits:
// the lock's key gone under a running turn (expired in a stall, or lost in a Redis failover), the
// node's connection to Redis cut for longer than the lock's TTL, or the lock lost while a new
// conversation's greeting runs. The commit must still reach Redis and be refused by the fence, so
// the turn runs again under a new lock: the customer hears once that the message is stored, and it
// is stored once, answered once. (A write failing with the lock's cancellation instead told the
// customer it was not stored, and nothing ran it again.)
func TestLostLockWithRenewalTurnRunsAgain(t *testing.T) {
	cases := []struct {
		name   string
		event  string // the turn that loses its lock: "" the message's, or dialog.EventStart
		lcfg   redisstore.LockerConfig
		proxy  bool
		effect bool // the turn reaches an effect after losing its lock: the message is stored then
	}{
		{"lock gone mid-turn", "", redisstore.LockerConfig{TTL: 5 * time.Second, Renew: 20 * time.Millisecond}, false, false},
		{"connection cut past the TTL", "", redisstore.LockerConfig{TTL: 150 * time.Millisecond, Renew: 50 * time.Millisecond}, true, false},
		{"lock gone during the greeting", dialog.EventStart, redisstore.LockerConfig{TTL: 5 * time.Second, Renew: 20 * time.Millisecond}, false, false},
		{"lock gone before an effect", "", redisstore.LockerConfig{TTL: 5 * time.Second, Renew: 20 * time.Millisecond}, false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			url := testservices.StartRedis(t)
			c, prefix := client(t, url)
			nodeURL := url
			var p *proxy
			if tc.proxy {
				p = newProxy(t, url)
				nodeURL = p.url()
			}
			d := newTracer(0)
			d.effect = tc.effect
			var losses, runs atomic.Int32
			d.slow = func(in dialog.Input) time.Duration {
				if in.Event != tc.event {
					return 0
				}
				if runs.Add(1) != 1 {
					return 0
				}
				losses.Add(1)
				if tc.proxy {
					p.cut()
					time.AfterFunc(400*time.Millisecond, p.restore) // the lock expires meanwhile
					return 700 * time.Millisecond
				}
				if err := c.Del(ctx(), prefix+"lock:{"+in.Conversation+"}").Err(); err != nil {
					t.Error(err)
				}
				return 200 * time.Millisecond // the renewal notices meanwhile
			}
			r, st, _ := converseNode(t, nodeURL, prefix, d, tc.lcfg)
			s, told := converseStored(t, r, channels.Inbound{Channel: channels.ChannelWebchat, Contact: "a", ClientID: "c1", Text: "slow"})
			waitAllHandled(t, st)
			msgs, err := st.MessagesAfter(ctx(), s.Msg.Conversation, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			questions, answers, greetings := countTurns(msgs, s.Msg.Seq)
			if losses.Load() != 1 || runs.Load() != 2 || questions != 1 || answers != 1 || greetings != 1 || told.Load() != 1 {
				t.Fatalf("lost %d locks, the turn ran %d times; %d questions, %d answers, %d greetings stored; told %d times: %+v",
					losses.Load(), runs.Load(), questions, answers, greetings, told.Load(), msgs)
			}
		})
	}
}
