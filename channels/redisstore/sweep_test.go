package redisstore_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"testing"
	"time"

	"claimline/channels"
	"claimline/channels/redisstore"
	"claimline/internal/testservices"
)

// stuckLocker plays a node that dies between storing a message and running its turn: Lock never
// grants; it reports that it was asked and waits until the router gives up (Close).
type stuckLocker struct{ asked chan string }

func (l stuckLocker) Lock(ctx context.Context, conversation string) (context.Context, int64, func(), error) {
	l.asked <- conversation
	<-ctx.Done()
	return nil, 0, nil, ctx.Err()
}

func (l stuckLocker) LockHeadOfLine(ctx context.Context, conversation string) (context.Context, func(), *channels.Conversation, *channels.Delivery, error) {
	_, _, _, err := l.Lock(ctx, channels.DeliveryLock(conversation))
	return nil, nil, nil, nil, err
}

func (l stuckLocker) LockAndRead(ctx context.Context, conversation string) (context.Context, int64, func(), *channels.Conversation, []channels.Message, error) {
	_, _, _, err := l.Lock(ctx, conversation)
	return nil, 0, nil, nil, nil, err
}

// A message stored through node A whose turn never runs there (A is gone before it takes the lock) is
// answered by node B's sweep, exactly once, after the earlier unanswered message of the same
// conversation and in seq order; sweeping again finds nothing and answers nothing twice.
func TestSweepRunsWhatADeadNodeLeft(t *testing.T) {
	url := testservices.StartRedis(t)
	c, prefix := client(t, url)
	d := newTracer(0)

	// Node A: its store and bus on Redis, a locker that never grants.
	stA := newStore(t, c, prefix)
	stuck := stuckLocker{asked: make(chan string, 4)}
	ra, err := channels.NewRouter(channels.RouterConfig{
		Store: stA, Dialog: d, Bus: newBus(t, c, stA, prefix, redisstore.BusConfig{}), Locker: stuck,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	rb, stB := node(t, url, prefix, d, redisstore.LockerConfig{})

	// Node A stores the opening turn's trigger and two messages, then dies before running any of them.
	in := func(id, text string) channels.Inbound {
		return channels.Inbound{Channel: channels.ChannelWebchat, Contact: "dead-node", ClientID: id, Text: text}
	}
	m1, _, err := ra.Receive(ctx(), in("m1", "first"))
	if err != nil {
		t.Fatal(err)
	}
	m2, _, err := ra.Receive(ctx(), in("m2", "second"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-stuck.asked: // A's worker is inside Lock: the turn has not run and cannot
	case <-time.After(10 * time.Second):
		t.Fatal("node A never asked for the lock")
	}
	gone, cancel := context.WithCancel(ctx())
	cancel()
	ra.Close(gone) // abandons the queued turns: they stay unhandled in Redis

	if un, _ := stB.ConversationUnhandled(ctx(), m1.Conversation); len(un) != 2 {
		t.Fatalf("after node A died: %d unhandled, want 2", len(un))
	}
	// Within the grace period, the sweep leaves the conversation alone (its node may still be at it).
	if n, err := rb.Sweep(ctx(), time.Hour); err != nil || n != 0 {
		t.Fatalf("sweep within the grace period: %d, %v", n, err)
	}
	if len(d.seqs(m1.Conversation)) != 0 {
		t.Fatalf("turns ran within the grace period: %v", d.seqs(m1.Conversation))
	}
	// Past it, node B answers both, once each, in order (the greeting first).
	time.Sleep(20 * time.Millisecond)
	if n, err := rb.Sweep(ctx(), 10*time.Millisecond); err != nil || n != 2 {
		t.Fatalf("sweep: %d, %v; want the 2 messages", n, err)
	}
	if n, err := rb.Sweep(ctx(), 0); err != nil || n != 0 {
		t.Fatalf("second sweep: %d, %v; want nothing left", n, err)
	}
	if got := d.seqs(m1.Conversation); !slices.Equal(got, []int64{0, m1.Seq, m2.Seq}) {
		t.Fatalf("turns run: %v, want the opening turn, then %d and %d", got, m1.Seq, m2.Seq)
	}
	msgs, err := stB.MessagesAfter(ctx(), m1.Conversation, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	answers := map[int64]int{}
	for _, m := range msgs {
		if m.Direction == channels.DirIn && !m.Handled {
			t.Errorf("seq %d still unhandled", m.Seq)
		}
		if m.Direction == channels.DirOut {
			answers[m.ReplyTo]++
		}
	}
	if answers[m1.Seq] != 1 || answers[m2.Seq] != 1 {
		t.Fatalf("answers per inbound seq: %v (transcript %+v)", answers, msgs)
	}
	if ids, err := stB.StalledConversations(ctx(), time.Now(), 10); err != nil || len(ids) != 0 {
		t.Fatalf("stalled after the sweep: %v, %v", ids, err)
	}
}

// The stalled index: a conversation is listed once its unhandled message is older than the cutoff and
// its lock is free; not while a node holds its lock, not once its turns are committed; a commit that
// leaves messages unhandled restarts its clock.
func TestStalledConversations(t *testing.T) {
	url := testservices.StartRedis(t)
	c, prefix := client(t, url)
	st := newStore(t, c, prefix)
	lk, err := redisstore.NewLocker(c, redisstore.LockerConfig{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	conv, _, _ := st.OpenConversation(ctx(), channels.ChannelWebchat, "a", "zh-TW")
	if _, _, err := st.AppendInbound(ctx(), conv.ID, channels.Inbound{Text: "one"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.AppendInbound(ctx(), conv.ID, channels.Inbound{Text: "two"}); err != nil {
		t.Fatal(err)
	}
	list := func(before time.Time) []string {
		t.Helper()
		ids, err := st.StalledConversations(ctx(), before, 10)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	if ids := list(time.Now().Add(-time.Minute)); len(ids) != 0 {
		t.Fatalf("listed before the grace period: %v", ids)
	}
	if ids := list(time.Now().Add(time.Second)); !slices.Equal(ids, []string{conv.ID}) {
		t.Fatalf("stalled = %v, want [%s]", ids, conv.ID)
	}
	_, tok, unlock, err := lk.Lock(ctx(), conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if ids := list(time.Now().Add(time.Second)); len(ids) != 0 {
		t.Fatalf("listed while its lock is held: %v", ids)
	}
	at := time.Now().Add(time.Minute) // the commit's time: the stall clock restarts from it
	if _, err := st.CommitTurnFenced(ctx(), channels.Turn{Conversation: conv.ID, InboundSeq: 1, At: at}, tok); err != nil {
		t.Fatal(err)
	}
	unlock()
	if ids := list(time.Now().Add(time.Second)); len(ids) != 0 {
		t.Fatalf("listed right after progress: %v", ids)
	}
	if ids := list(at.Add(time.Second)); !slices.Equal(ids, []string{conv.ID}) {
		t.Fatalf("seq 2 left unhandled: stalled = %v", ids)
	}
	if _, err := st.CommitTurn(ctx(), channels.Turn{Conversation: conv.ID, InboundSeq: 2}); err != nil {
		t.Fatal(err)
	}
	if ids := list(time.Now().Add(time.Hour)); len(ids) != 0 {
		t.Fatalf("listed with nothing unhandled: %v", ids)
	}
}
