package channels_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/channels/sqlitestore"
	"claimline/dialog"
)

// writeCountingStore counts the two ways a customer message gets stored.
type writeCountingStore struct {
	*sqlitestore.Store
	appends, oneWrites atomic.Int64
}

func (s *writeCountingStore) AppendInbound(ctx context.Context, conv string, in channels.Inbound) (channels.Message, bool, error) {
	s.appends.Add(1)
	return s.Store.AppendInbound(ctx, conv, in)
}

func (s *writeCountingStore) CommitInbound(ctx context.Context, conv string, in channels.Inbound, last int64, t channels.Turn) (channels.Message, []channels.Message, bool, error) {
	s.oneWrites.Add(1)
	return s.Store.CommitInbound(ctx, conv, in, last, t)
}

// effectDialog counts committed-looking turns in its state and, for texts starting with "effect",
// calls dialog.BeforeEffect and records what the store held at that moment. A text "slow…" waits for
// release after saying started (once per text), so a test can store something in the middle of a turn.
type effectDialog struct {
	store   channels.Store
	started chan string
	release chan struct{}

	slowStart atomic.Bool // the opening turn says started ("start") and waits for release too

	mu      sync.Mutex
	runs    []string // "seq:text" of every turn run, kept or not
	effects []string // "seq:stored?" at each successful BeforeEffect
	waited  map[string]bool
}

func newEffectDialog() *effectDialog {
	return &effectDialog{started: make(chan string, 16), release: make(chan struct{}), waited: map[string]bool{}}
}

func (d *effectDialog) Turn(ctx context.Context, state []byte, in dialog.Input) ([]byte, []dialog.Reply, error) {
	n, _ := strconv.Atoi(string(state))
	next := []byte(strconv.Itoa(n + 1))
	if in.Event == dialog.EventStart {
		if d.slowStart.Load() {
			d.started <- "start"
			<-d.release
		}
		return next, []dialog.Reply{{Text: "hello"}}, nil
	}
	label := in.Text
	if in.Event != "" {
		label = in.Event
	}
	d.mu.Lock()
	d.runs = append(d.runs, fmt.Sprintf("%d:%s", in.Seq, label))
	wait := strings.HasPrefix(in.Text, "slow") && !d.waited[in.Text]
	d.waited[in.Text] = true
	d.mu.Unlock()
	if wait {
		d.started <- in.Text
		<-d.release
	}
	if strings.Contains(in.Text, "effect") {
		if err := dialog.BeforeEffect(ctx); err != nil {
			return next, []dialog.Reply{{Text: "effect failed"}}, nil // never shown: the turn is void
		}
		msgs, _ := d.store.MessagesAfter(ctx, in.Conversation, in.Seq-1, 1)
		stored := len(msgs) == 1 && msgs[0].Text == in.Text
		d.mu.Lock()
		d.effects = append(d.effects, fmt.Sprintf("%d:%v", in.Seq, stored))
		d.mu.Unlock()
	}
	return next, []dialog.Reply{{Text: "re:" + label}}, nil
}

func (d *effectDialog) log() (runs, effects []string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.runs...), append([]string(nil), d.effects...)
}

type converseFixture struct {
	store  *writeCountingStore
	router *channels.Router
	dialog *effectDialog
	conv   string
}

func newConverseFixture(t *testing.T, cfg channels.RouterConfig) *converseFixture {
	t.Helper()
	st, err := sqlitestore.New(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	ws := &writeCountingStore{Store: st}
	d := newEffectDialog()
	d.store = st
	cfg.Store, cfg.Dialog, cfg.Logger = ws, d, slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := channels.NewRouter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		close(d.release)
		r.Close(context.Background())
		st.Close()
	})
	conv, _, err := r.OpenConversation(context.Background(), channels.ChannelWebchat, "alice", "zh-TW")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Start(context.Background(), conv.ID); err != nil {
		t.Fatal(err)
	}
	return &converseFixture{store: ws, router: r, dialog: d, conv: conv.ID}
}

type ack struct {
	msg channels.Message
	dup bool
	err error
}

// say sends a customer message through Converse and returns the channel its ack arrives on.
func (f *converseFixture) say(t *testing.T, id, text string) <-chan ack {
	t.Helper()
	ch := make(chan ack, 1)
	err := f.router.Converse(context.Background(), channels.Inbound{Channel: channels.ChannelWebchat, Contact: "alice", ClientID: id, Text: text},
		func(s channels.Stored, err error) { ch <- ack{s.Msg, s.Dup, err} })
	if err != nil {
		t.Fatalf("converse %q: %v", text, err)
	}
	return ch
}

func waitAck(t *testing.T, ch <-chan ack) ack {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(10 * time.Second):
		t.Fatal("no ack")
		return ack{}
	}
}

// transcript is the conversation as "seq:text" (replies and customer messages alike).
func (f *converseFixture) transcript(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, m := range all(t, f.store.Store, f.conv) {
		out = append(out, fmt.Sprintf("%d:%s", m.Seq, m.Text))
	}
	return out
}

func (f *converseFixture) waitSeq(t *testing.T, seq int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := f.store.Conversation(context.Background(), f.conv); err == nil && c.LastSeq >= seq {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("conversation never reached seq %d: %v", seq, f.transcript(t))
}

func equal(a, b []string) bool { return strings.Join(a, "|") == strings.Join(b, "|") }

// Pure turns: each message is stored with its turn in one write, acked with its seq, in order.
func TestConverseStoresMessageWithItsTurn(t *testing.T) {
	f := newConverseFixture(t, channels.RouterConfig{})
	var acks []<-chan ack
	for i := range 5 {
		acks = append(acks, f.say(t, fmt.Sprint("m", i), fmt.Sprint("text", i)))
	}
	for i, ch := range acks {
		a := waitAck(t, ch)
		if a.err != nil || a.dup || a.msg.Seq != int64(2+2*i) || !a.msg.Handled {
			t.Fatalf("ack %d: %+v", i, a)
		}
	}
	f.waitSeq(t, 11)
	want := []string{"1:hello", "2:text0", "3:re:text0", "4:text1", "5:re:text1", "6:text2", "7:re:text2", "8:text3", "9:re:text3", "10:text4", "11:re:text4"}
	if got := f.transcript(t); !equal(got, want) {
		t.Fatalf("transcript %v, want %v", got, want)
	}
	if a, o := f.store.appends.Load(), f.store.oneWrites.Load(); a != 0 || o != 5 {
		t.Fatalf("%d messages stored alone, %d with their turn; want 0 and 5", a, o)
	}
	if c, _ := f.store.Conversation(context.Background(), f.conv); string(c.State) != "6" {
		t.Fatalf("state %q: want the opening turn and five more", c.State)
	}
	if un, _ := f.store.Unhandled(context.Background()); len(un) != 0 {
		t.Fatalf("unhandled: %+v", un)
	}
}

// A turn with an effect has its message stored (with the seq it runs with) before the effect.
func TestConverseStoresBeforeAnEffect(t *testing.T) {
	f := newConverseFixture(t, channels.RouterConfig{})
	a := waitAck(t, f.say(t, "e1", "effect please"))
	if a.err != nil || a.msg.Seq != 2 {
		t.Fatalf("ack: %+v", a)
	}
	f.waitSeq(t, 3)
	runs, effects := f.dialog.log()
	if !equal(effects, []string{"2:true"}) || !equal(runs, []string{"2:effect please"}) {
		t.Fatalf("effects %v runs %v: the message must be stored before its one effect", effects, runs)
	}
	if got := f.transcript(t); !equal(got, []string{"1:hello", "2:effect please", "3:re:effect please"}) {
		t.Fatalf("transcript %v", got)
	}
	if a, o := f.store.appends.Load(), f.store.oneWrites.Load(); a != 1 || o != 0 {
		t.Fatalf("appends %d, one-writes %d", a, o)
	}
}

// A message stored in the middle of a one-write turn (a notice) comes first: the turn is thrown away,
// the notice's turn runs, then the message's turn again, so turns run in seq order.
func TestConverseMessageStoredMeanwhileRunsFirst(t *testing.T) {
	for _, text := range []string{"slow", "slow effect"} {
		t.Run(text, func(t *testing.T) {
			f := newConverseFixture(t, channels.RouterConfig{})
			ch := f.say(t, "s1", text)
			<-f.dialog.started
			after := f.say(t, "s2", "after") // queued, not stored, when the notice comes
			notice := channels.Inbound{Event: dialog.EventNotice, Notice: &dialog.Notice{Kind: "case_approved", CaseID: "CLM-1"}, ClientID: "notice:1"}
			if _, _, err := f.router.ReceiveInto(context.Background(), f.conv, notice); err != nil {
				t.Fatal(err)
			}
			f.dialog.release <- struct{}{}
			a := waitAck(t, ch)
			if a.err != nil || a.msg.Seq != 3 {
				t.Fatalf("ack: %+v (the notice took seq 2)", a)
			}
			if a := waitAck(t, after); a.err != nil || a.msg.Seq != 6 {
				t.Fatalf("ack of the message behind: %+v", a)
			}
			f.waitSeq(t, 7)
			runs, effects := f.dialog.log()
			// The first run was with seq 2 and is void; then the notice (2), the message (3), and the
			// one queued behind it (6): seq order, whatever order they were queued in.
			if want := []string{"2:" + text, "2:" + dialog.EventNotice, "3:" + text, "6:after"}; !equal(runs, want) {
				t.Fatalf("runs %v, want %v", runs, want)
			}
			var wantEffects []string
			if strings.Contains(text, "effect") {
				wantEffects = []string{"3:true"} // once, for the stored message, never for the void run
			}
			if !equal(effects, wantEffects) {
				t.Fatalf("effects %v, want %v", effects, wantEffects)
			}
			got := f.transcript(t)
			if len(got) != 7 || got[1] != "2:" || got[2] != "3:"+text || got[4] != "5:re:"+text || got[5] != "6:after" {
				t.Fatalf("transcript %v", got)
			}
			if c, _ := f.store.Conversation(context.Background(), f.conv); string(c.State) != "4" {
				t.Fatalf("state %q: the void turn's state must not count", c.State)
			}
		})
	}
}

// A repeated client id is acked as a dup with the first seq; its turn is not stored again.
func TestConverseRepeatIsADup(t *testing.T) {
	f := newConverseFixture(t, channels.RouterConfig{})
	first := waitAck(t, f.say(t, "same", "hi"))
	for _, text := range []string{"hi", "effect hi"} { // a repeat reaching an effect is void too
		again := waitAck(t, f.say(t, "same", text))
		if again.err != nil || !again.dup || again.msg.Seq != first.msg.Seq {
			t.Fatalf("repeat: %+v, first %+v", again, first)
		}
	}
	if got := f.transcript(t); !equal(got, []string{"1:hello", "2:hi", "3:re:hi"}) {
		t.Fatalf("transcript %v", got)
	}
	if _, effects := f.dialog.log(); len(effects) != 0 {
		t.Fatalf("a repeat's effect happened: %v", effects)
	}
	// REST: a repeat returns the first replies.
	_, replies, err := f.router.ProcessSync(context.Background(), channels.Inbound{Channel: channels.ChannelWebchat, Contact: "alice", ClientID: "same", Text: "hi"})
	if err != nil || len(replies) != 1 || replies[0].Text != "re:hi" {
		t.Fatalf("ProcessSync repeat: %v %+v", err, replies)
	}
}

// holdingHandoffs holds one conversation; it reports holds only when told to.
type holdingHandoffs struct {
	held     string
	report   bool
	mu       sync.Mutex
	seen     []int64 // seqs Intercept was given for the held conversation
	noticed  int     // Intercept (or Holding) calls for other conversations
	holdings int
}

func (h *holdingHandoffs) Intercept(_ context.Context, conv *channels.Conversation, m channels.Message) (bool, []channels.Message, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if conv.ID != h.held {
		h.noticed++
		return false, nil, nil
	}
	h.seen = append(h.seen, m.Seq)
	return true, []channels.Message{{Text: "an agent has it"}}, nil
}

func (h *holdingHandoffs) AfterTurn(context.Context, string) {}

type reportingHandoffs struct{ *holdingHandoffs }

// Holding notes a message it does not hold as Intercept does (HoldReporter's contract).
func (h reportingHandoffs) Holding(_ context.Context, conv *channels.Conversation, _ channels.Message) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.holdings++
	if conv.ID == h.held {
		return true, nil
	}
	h.noticed++
	return false, nil
}

// A conversation a person holds is stored first (the handoff service answers it with the real seq);
// others still take one write, and the handoff service still hears of every customer message.
func TestConverseHeldConversationStoredFirst(t *testing.T) {
	hh := &holdingHandoffs{}
	f := newConverseFixture(t, channels.RouterConfig{Handoffs: reportingHandoffs{hh}})
	hh.held = f.conv
	a := waitAck(t, f.say(t, "h1", "hello agent"))
	if a.err != nil || a.msg.Seq != 2 {
		t.Fatalf("ack: %+v", a)
	}
	f.waitSeq(t, 3)
	if !equal(f.transcript(t), []string{"1:hello", "2:hello agent", "3:an agent has it"}) || len(hh.seen) != 1 || hh.seen[0] != 2 {
		t.Fatalf("transcript %v, intercepted seqs %v", f.transcript(t), hh.seen)
	}
	if runs, _ := f.dialog.log(); len(runs) != 0 || f.store.appends.Load() != 1 {
		t.Fatalf("held message: dialog ran %v, appends %d", runs, f.store.appends.Load())
	}
	hh.held = "someone-else"
	waitAck(t, f.say(t, "h2", "bot again"))
	f.waitSeq(t, 5)
	if f.store.oneWrites.Load() != 1 || hh.noticed != 1 {
		t.Fatalf("not held: one-writes %d, handoff noticed %d", f.store.oneWrites.Load(), hh.noticed)
	}
}

// Handoffs that cannot say whether a conversation is held get every message stored first.
func TestConverseHandoffsWithoutHoldReportStoreFirst(t *testing.T) {
	f := newConverseFixture(t, channels.RouterConfig{Handoffs: &holdingHandoffs{}})
	waitAck(t, f.say(t, "x", "hi"))
	f.waitSeq(t, 3)
	if f.store.appends.Load() != 1 || f.store.oneWrites.Load() != 0 {
		t.Fatalf("appends %d, one-writes %d", f.store.appends.Load(), f.store.oneWrites.Load())
	}
}

// SeparateWrites: Converse is Receive, then the ack.
func TestConverseSeparateWrites(t *testing.T) {
	f := newConverseFixture(t, channels.RouterConfig{SeparateWrites: true})
	a := waitAck(t, f.say(t, "x", "hi"))
	f.waitSeq(t, 3)
	if a.err != nil || a.msg.Seq != 2 || f.store.appends.Load() != 1 || f.store.oneWrites.Load() != 0 {
		t.Fatalf("ack %+v, appends %d, one-writes %d", a, f.store.appends.Load(), f.store.oneWrites.Load())
	}
}

// Closing with messages queued and not stored tells their clients they were not stored.
func TestConverseClosingReportsUnstored(t *testing.T) {
	f := newConverseFixture(t, channels.RouterConfig{})
	busy := f.say(t, "a", "slow")
	<-f.dialog.started
	queued := f.say(t, "b", "queued behind")
	closed := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	go func() { closed <- f.router.Close(ctx) }()
	time.Sleep(100 * time.Millisecond) // Close gave up waiting and cancelled the workers
	f.dialog.release <- struct{}{}
	<-closed
	if a := waitAck(t, queued); casesvc.ErrorCode(a.err) != casesvc.EUNAVAILABLE {
		t.Fatalf("queued message: %+v", a)
	}
	a := waitAck(t, busy)
	if a.err == nil {
		// The running turn may still have committed; then it is in the store.
		if got := f.transcript(t); len(got) < 2 || got[1] != "2:slow" {
			t.Fatalf("acked but not stored: %v", got)
		}
	}
	if err := f.router.Converse(context.Background(), channels.Inbound{Channel: channels.ChannelWebchat, Contact: "alice", ClientID: "c", Text: "late"},
		func(channels.Stored, error) { t.Error("stored called after a refusal") }); casesvc.ErrorCode(err) != casesvc.EUNAVAILABLE {
		t.Fatalf("after close: %v", err)
	}
}

// Behind turns of stored messages the message is stored at once (its ack does not wait for them);
// behind a message of its own not stored yet it waits, so the customer's order is kept.
func TestConverseBehindAQueue(t *testing.T) {
	f := newConverseFixture(t, channels.RouterConfig{})
	ctx := context.Background()
	// A stored message whose turn is slow (Receive: the webhook path), then one more stored behind it.
	if _, _, err := f.router.Receive(ctx, channels.Inbound{Channel: channels.ChannelWebchat, Contact: "alice", ClientID: "w1", Text: "slow stored"}); err != nil {
		t.Fatal(err)
	}
	<-f.dialog.started
	if _, _, err := f.router.Receive(ctx, channels.Inbound{Channel: channels.ChannelWebchat, Contact: "alice", ClientID: "w2", Text: "stored behind"}); err != nil {
		t.Fatal(err)
	}
	select {
	case a := <-f.say(t, "c1", "behind stored turns"):
		if a.err != nil || a.msg.Seq != 4 {
			t.Fatalf("ack: %+v", a)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the ack waited for the turns queued before it")
	}
	f.dialog.release <- struct{}{}
	f.waitSeq(t, 7)
	if runs, _ := f.dialog.log(); !equal(runs, []string{"2:slow stored", "3:stored behind", "4:behind stored turns"}) {
		t.Fatalf("runs %v", runs)
	}
	if f.store.oneWrites.Load() != 0 {
		t.Fatalf("one-writes %d", f.store.oneWrites.Load())
	}

	// Now a slow message not stored yet, and two more behind it: they keep their order.
	slow := f.say(t, "c2", "slow unstored")
	<-f.dialog.started
	second, third := f.say(t, "c3", "second"), f.say(t, "c4", "third")
	f.dialog.release <- struct{}{}
	for i, ch := range []<-chan ack{slow, second, third} {
		if a := waitAck(t, ch); a.err != nil || a.msg.Seq != int64(8+2*i) {
			t.Fatalf("ack %d: %+v", i, a)
		}
	}
	f.waitSeq(t, 13)
	if got := f.transcript(t)[7:]; !equal(got, []string{"8:slow unstored", "9:re:slow unstored", "10:second", "11:re:second", "12:third", "13:re:third"}) {
		t.Fatalf("transcript %v", got)
	}
	if f.store.oneWrites.Load() != 3 {
		t.Fatalf("one-writes %d, want the three", f.store.oneWrites.Load())
	}
}

// A turn still running after SlowTurn has its message stored and acknowledged without waiting for it,
// and a message arriving meanwhile is stored at once too (not queued unstored behind the stuck
// turn); the turns then run in seq order and commit the ordinary way.
func TestConverseStoresAStuckTurnsMessage(t *testing.T) {
	f := newConverseFixture(t, channels.RouterConfig{SlowTurn: 50 * time.Millisecond})
	stuck := f.say(t, "s1", "slow stuck")
	<-f.dialog.started
	if a := waitAck(t, stuck); a.err != nil || a.dup || a.msg.Seq != 2 {
		t.Fatalf("ack of the stuck turn's message: %+v", a)
	}
	if a := waitAck(t, f.say(t, "s2", "after")); a.err != nil || a.msg.Seq != 3 {
		t.Fatalf("ack of the message behind the stuck turn: %+v", a)
	}
	if got := f.transcript(t); !equal(got, []string{"1:hello", "2:slow stuck", "3:after"}) {
		t.Fatalf("while the turn is stuck: %v", got)
	}
	f.dialog.release <- struct{}{}
	f.waitSeq(t, 5)
	want := []string{"1:hello", "2:slow stuck", "3:after", "4:re:slow stuck", "5:re:after"}
	if got := f.transcript(t); !equal(got, want) {
		t.Fatalf("transcript %v, want %v", got, want)
	}
	if runs, _ := f.dialog.log(); !equal(runs, []string{"2:slow stuck", "3:after"}) {
		t.Fatalf("turns %v: each once, in seq order", runs)
	}
	if a, o := f.store.appends.Load(), f.store.oneWrites.Load(); a != 2 || o != 0 {
		t.Fatalf("%d stored alone, %d with their turn; want 2 and 0", a, o)
	}
	if un, _ := f.store.Unhandled(context.Background()); len(un) != 0 {
		t.Fatalf("unhandled: %+v", un)
	}
}

// A message stored while the greeting of a new conversation runs (Receive takes no turn) gets a seq
// before the greeting's; the first customer message, waiting for that greeting to store it with its
// turn, must not overtake it: its turn runs after the stored one's.
func TestConverseAfterAGreetingThatAStoredMessageOvertook(t *testing.T) {
	f := newConverseFixture(t, channels.RouterConfig{})
	ctx := context.Background()
	f.dialog.slowStart.Store(true)
	ch := make(chan ack, 1)
	if err := f.router.Converse(ctx, channels.Inbound{Channel: channels.ChannelWebchat, Contact: "bob", ClientID: "b1", Text: "first"},
		func(s channels.Stored, err error) { ch <- ack{s.Msg, s.Dup, err} }); err != nil {
		t.Fatal(err)
	}
	if got := <-f.dialog.started; got != "start" {
		t.Fatalf("started %q", got)
	}
	stored, _, err := f.router.Receive(ctx, channels.Inbound{Channel: channels.ChannelWebchat, Contact: "bob", ClientID: "b0", Text: "meanwhile"})
	if err != nil || stored.Seq != 1 {
		t.Fatalf("stored during the greeting: %+v %v", stored, err)
	}
	f.dialog.slowStart.Store(false)
	f.dialog.release <- struct{}{}
	a := waitAck(t, ch)
	if a.err != nil {
		t.Fatal(a.err)
	}
	if _, _, err := f.router.ProcessSync(ctx, channels.Inbound{Channel: channels.ChannelWebchat, Contact: "bob", ClientID: "b2", Text: "last"}); err != nil {
		t.Fatal(err)
	}
	msgs, err := f.store.MessagesAfter(ctx, stored.Conversation, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var answers []string
	for _, m := range msgs {
		if m.Direction == channels.DirOut {
			answers = append(answers, m.Text)
		}
	}
	if want := []string{"hello", "re:meanwhile", "re:first", "re:last"}; fmt.Sprint(answers) != fmt.Sprint(want) {
		t.Fatalf("answers %v, want %v", answers, want)
	}
}
