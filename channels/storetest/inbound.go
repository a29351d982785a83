package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/channels"
)

// TestInboundTurnStore runs the contract of channels.InboundTurnStore (one-write turns) against fresh
// stores made by open, besides TestStore's rules.
func TestInboundTurnStore(t *testing.T, open func(t *testing.T) channels.InboundTurnStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s channels.InboundTurnStore)
	}{
		{"StoresMessageAndTurnTogether", testInboundTogether},
		{"RefusesWhenTheSeqMoved", testInboundMoved},
		{"RepeatedClientIDIsADup", testInboundDup},
		{"UnknownConversation", testInboundUnknown},
		{"DeliveriesCreated", testInboundDeliveries},
		{"ConcurrentTurnsOnOneSeqStoreOne", testInboundConcurrent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func commitInbound(t *testing.T, s channels.InboundTurnStore, conv string, in channels.Inbound, last int64, turn channels.Turn) (channels.Message, []channels.Message) {
	t.Helper()
	m, out, dup, err := s.CommitInbound(ctx, conv, in, last, turn)
	if err != nil || dup {
		t.Fatalf("commit inbound %q after %d: %v dup=%v", in.Text, last, err, dup)
	}
	return m, out
}

func testInboundTogether(t *testing.T, s channels.InboundTurnStore) {
	c := newConv(t, s, "a")
	at := time.Now().Add(-time.Second).Truncate(time.Microsecond)
	m, out := commitInbound(t, s, c.ID, channels.Inbound{ClientID: "c1", Text: "hello", Lang: "en", ReceivedAt: at}, 0,
		channels.Turn{Conversation: c.ID, InboundSeq: 99, State: []byte("s1"), At: at,
			Replies: []channels.Message{{Text: "r1", Buttons: []channels.Button{{Label: "Yes", Value: "yes"}}}, {From: channels.FromSystem, Text: "r2"}}})
	if m.Seq != 1 || !m.Handled || m.Direction != channels.DirIn || m.From != channels.FromCustomer || m.ClientID != "c1" ||
		m.Text != "hello" || m.Lang != "en" || !m.TS.Equal(at) {
		t.Fatalf("inbound as stored: %+v", m)
	}
	if len(out) != 2 || out[0].Seq != 2 || out[1].Seq != 3 || out[0].ReplyTo != 1 || out[1].ReplyTo != 1 ||
		out[0].From != channels.FromBot || out[1].From != channels.FromSystem {
		t.Fatalf("replies: %+v", out)
	}
	msgs := all(t, s, c.ID)
	if len(msgs) != 3 || !msgs[0].Handled || msgs[0].Text != "hello" || msgs[1].Text != "r1" || len(msgs[1].Buttons) != 1 ||
		msgs[2].Text != "r2" || msgs[1].ReplyTo != 1 {
		t.Fatalf("stored: %+v", msgs)
	}
	conv, _ := s.Conversation(ctx, c.ID)
	if string(conv.State) != "s1" || conv.LastSeq != 3 {
		t.Fatalf("conversation after the turn: %+v", conv)
	}
	if un, _ := s.Unhandled(ctx); len(un) != 0 {
		t.Fatalf("a one-write turn left its message unhandled: %+v", un)
	}
	// A silent turn stores the message alone; the next seq follows; the ordinary path goes on after it.
	m, out = commitInbound(t, s, c.ID, channels.Inbound{ClientID: "c2", Text: "ok"}, 3, channels.Turn{Conversation: c.ID, State: []byte("s2")})
	if m.Seq != 4 || len(out) != 0 {
		t.Fatalf("silent turn: %+v %+v", m, out)
	}
	if m := say(t, s, c.ID, "c3", "next"); m.Seq != 5 {
		t.Fatalf("AppendInbound after: %+v", m)
	}
	if conv, _ := s.Conversation(ctx, c.ID); string(conv.State) != "s2" || conv.LastSeq != 5 {
		t.Fatalf("conversation: %+v", conv)
	}
}

func testInboundMoved(t *testing.T, s channels.InboundTurnStore) {
	c := newConv(t, s, "a")
	commitInbound(t, s, c.ID, channels.Inbound{ClientID: "c1", Text: "one"}, 0,
		channels.Turn{Conversation: c.ID, State: []byte("s1"), Replies: []channels.Message{{Text: "r1"}}})
	say(t, s, c.ID, "c2", "stored meanwhile") // seq 3
	for _, last := range []int64{2, 0, 7} {   // older, much older, and a seq that was never there
		_, _, dup, err := s.CommitInbound(ctx, c.ID, channels.Inbound{ClientID: fmt.Sprint("late", last), Text: "late"}, last,
			channels.Turn{Conversation: c.ID, State: []byte("stale"), Replies: []channels.Message{{Text: "stale reply"}}})
		if !errors.Is(err, channels.ErrSeqMoved) || dup {
			t.Fatalf("after %d: want ErrSeqMoved, got %v dup=%v", last, err, dup)
		}
		wantCode(t, "moved", err, casesvc.ECONFLICT)
	}
	msgs := all(t, s, c.ID)
	if len(msgs) != 3 || msgs[2].Text != "stored meanwhile" {
		t.Fatalf("a refused turn stored something: %+v", msgs)
	}
	if conv, _ := s.Conversation(ctx, c.ID); string(conv.State) != "s1" || conv.LastSeq != 3 {
		t.Fatalf("a refused turn changed the conversation: %+v", conv)
	}
}

func testInboundDup(t *testing.T, s channels.InboundTurnStore) {
	c := newConv(t, s, "a")
	first := say(t, s, c.ID, "x", "stored alone first")
	commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: first.Seq, State: []byte("s1"), Replies: []channels.Message{{Text: "r1"}}})
	m2, _ := commitInbound(t, s, c.ID, channels.Inbound{ClientID: "y", Text: "one-write first"}, 2,
		channels.Turn{Conversation: c.ID, State: []byte("s2"), Replies: []channels.Message{{Text: "r2"}}})
	// Repeats of either, with the current seq or a stale one, store nothing and return the first.
	for _, tc := range []struct {
		client string
		last   int64
		want   channels.Message
	}{{"x", 4, first}, {"x", 0, first}, {"y", 4, m2}, {"y", 1, m2}} {
		m, out, dup, err := s.CommitInbound(ctx, c.ID, channels.Inbound{ClientID: tc.client, Text: "again"}, tc.last,
			channels.Turn{Conversation: c.ID, State: []byte("dup"), Replies: []channels.Message{{Text: "dup reply"}}})
		if err != nil || !dup || m.Seq != tc.want.Seq || m.Text != tc.want.Text || len(out) != 0 {
			t.Fatalf("repeat of %s after %d: %+v %+v dup=%v err=%v", tc.client, tc.last, m, out, dup, err)
		}
	}
	if msgs := all(t, s, c.ID); len(msgs) != 4 {
		t.Fatalf("a repeat stored something: %+v", msgs)
	}
	if conv, _ := s.Conversation(ctx, c.ID); string(conv.State) != "s2" || conv.LastSeq != 4 {
		t.Fatalf("a repeat changed the conversation: %+v", conv)
	}
	// AppendInbound sees a one-write message's client id too.
	if m, dup, err := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "y", Text: "again"}); err != nil || !dup || m.Seq != 3 {
		t.Fatalf("AppendInbound of a one-write id: %+v dup=%v %v", m, dup, err)
	}
}

func testInboundUnknown(t *testing.T, s channels.InboundTurnStore) {
	_, _, _, err := s.CommitInbound(ctx, "no-such-conversation", channels.Inbound{ClientID: "c", Text: "hi"}, 0,
		channels.Turn{Conversation: "no-such-conversation"})
	wantCode(t, "unknown conversation", err, casesvc.ENOTFOUND)
}

func testInboundDeliveries(t *testing.T, s channels.InboundTurnStore) {
	c, _, err := s.OpenConversation(ctx, channels.ChannelTelegram, "a", "zh-TW")
	if err != nil {
		t.Fatal(err)
	}
	at := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	commitInbound(t, s, c.ID, channels.Inbound{Channel: channels.ChannelTelegram, ClientID: "u1", Text: "hi"}, 0,
		channels.Turn{Conversation: c.ID, At: at, Deliver: true, Replies: []channels.Message{{Text: "r1"}, {Text: "r2"}}})
	ds, err := s.Deliveries(ctx, c.ID)
	if err != nil || len(ds) != 2 {
		t.Fatalf("deliveries: %v %+v", err, ds)
	}
	for i, d := range ds {
		if d.Seq != int64(i+2) || d.Channel != channels.ChannelTelegram || d.Status != channels.DeliveryPending || !d.NextAt.Equal(at) {
			t.Fatalf("delivery %d: %+v", i, d)
		}
	}
	if due, err := s.DueDeliveries(ctx, time.Now(), 10); err != nil || len(due) != 1 || due[0].Seq != 2 {
		t.Fatalf("due: %v %+v", err, due)
	}
}

func testInboundConcurrent(t *testing.T, s channels.InboundTurnStore) {
	c := newConv(t, s, "a")
	const n = 12
	var wg sync.WaitGroup
	var mu sync.Mutex
	stored, moved := 0, 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, dup, err := s.CommitInbound(ctx, c.ID, channels.Inbound{ClientID: fmt.Sprint("c", i), Text: "hi"}, 0,
				channels.Turn{Conversation: c.ID, State: []byte(fmt.Sprint("s", i)), Replies: []channels.Message{{Text: "r"}}})
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil && !dup:
				stored++
			case errors.Is(err, channels.ErrSeqMoved):
				moved++
			default:
				t.Errorf("turn %d: %v dup=%v", i, err, dup)
			}
		}()
	}
	wg.Wait()
	if stored != 1 || moved != n-1 {
		t.Fatalf("%d turns on the same seq: %d stored, %d refused", n, stored, moved)
	}
	if msgs := all(t, s, c.ID); len(msgs) != 2 || msgs[0].Seq != 1 || msgs[1].Seq != 2 {
		t.Fatalf("stored: %+v", msgs)
	}
}
