// Package storetest holds the contract suites of the channels interfaces: every implementation of
// channels.Store and channels.Bus (embedded SQLite and memory, Redis) runs the same tests, so they keep
// the same rules (the rules written on the interfaces). Call them from a _test.go file:
//
//	func TestStore(t *testing.T) { storetest.TestStore(t, func(t *testing.T) channels.Store { ... }) }
package storetest

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"sync"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/dialog"
)

// TestStore runs the Store contract against fresh, empty stores made by open (one per subtest; open
// registers its own cleanup).
func TestStore(t *testing.T, open func(t *testing.T) channels.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s channels.Store)
	}{
		{"Conversations", testConversations},
		{"ConcurrentOpenCreatesOne", testConcurrentOpen},
		{"SeqStrictlyPlusOneUnderConcurrency", testSeqConcurrent},
		{"DedupeByClientIDUnderConcurrency", testDedupeConcurrent},
		{"MessageFieldsRoundTrip", testRoundTrip},
		{"Events", testEvents},
		{"CommitTurn", testCommitTurn},
		{"CommitTurnConcurrentOnce", testCommitConcurrent},
		{"OpeningTurnOnce", testOpeningTurn},
		{"CommitTurnErrors", testCommitErrors},
		{"Unhandled", testUnhandled},
		{"MessagesAfter", testMessagesAfter},
		{"ReturnedValuesAreCopies", testCopies},
		{"DeliveriesCreatedWithTurn", testDeliveriesCreated},
		{"DueDeliveriesHeadOfLine", testDueHeadOfLine},
		{"DeliveryPartSent", testPartSent},
		{"DeliveryPartSentConcurrentOnce", testPartSentConcurrent},
		{"DeliveryRetryAndFailed", testRetryFailed},
		{"ReceiptStatusForwardOnly", testReceiptStatus},
		{"OutboxDepth", testOutboxDepth},
		{"OpenConversationID", testOpenConversationID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, open(t))
		})
	}
}

var ctx = context.Background()

func newConv(t *testing.T, s channels.Store, contact string) *channels.Conversation {
	t.Helper()
	c, created, err := s.OpenConversation(ctx, channels.ChannelWebchat, contact, "zh-TW")
	if err != nil || !created {
		t.Fatalf("open %s: %v created=%v", contact, err, created)
	}
	return c
}

func say(t *testing.T, s channels.Store, conv, clientID, text string) channels.Message {
	t.Helper()
	m, dup, err := s.AppendInbound(ctx, conv, channels.Inbound{ClientID: clientID, Text: text, ReceivedAt: time.Now()})
	if err != nil || dup {
		t.Fatalf("append %q: %v dup=%v", text, err, dup)
	}
	return m
}

func commit(t *testing.T, s channels.Store, turn channels.Turn) []channels.Message {
	t.Helper()
	out, err := s.CommitTurn(ctx, turn)
	if err != nil {
		t.Fatalf("commit %+v: %v", turn, err)
	}
	return out
}

func all(t *testing.T, s channels.Store, conv string) []channels.Message {
	t.Helper()
	msgs, err := s.MessagesAfter(ctx, conv, 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := casesvc.ErrorCode(err); got != code {
		t.Fatalf("%s: code %q (%v), want %q", what, got, err, code)
	}
}

func testConversations(t *testing.T, s channels.Store) {
	_, _, err := s.OpenConversation(ctx, "", "x", "en")
	wantCode(t, "open without channel", err, casesvc.EINVALID)
	_, _, err = s.OpenConversation(ctx, channels.ChannelWebchat, "", "en")
	wantCode(t, "open without contact", err, casesvc.EINVALID)
	_, err = s.FindConversation(ctx, channels.ChannelWebchat, "nobody")
	wantCode(t, "find unknown", err, casesvc.ENOTFOUND)
	_, err = s.Conversation(ctx, "no-such-id")
	wantCode(t, "conversation unknown", err, casesvc.ENOTFOUND)

	c := newConv(t, s, "+886912345678")
	if c.ID == "" || c.Channel != channels.ChannelWebchat || c.Contact != "+886912345678" || c.Lang != "zh-TW" ||
		c.Started || c.LastSeq != 0 || c.Created.IsZero() {
		t.Fatalf("created: %+v", c)
	}
	again, created, err := s.OpenConversation(ctx, channels.ChannelWebchat, "+886912345678", "en")
	if err != nil || created || again.ID != c.ID || again.Lang != "zh-TW" {
		t.Fatalf("reopen: %v created=%v %+v", err, created, again)
	}
	other, created, err := s.OpenConversation(ctx, channels.ChannelSMS, "+886912345678", "en")
	if err != nil || !created || other.ID == c.ID {
		t.Fatalf("same contact on another channel: %v created=%v %+v", err, created, other)
	}
	found, err := s.FindConversation(ctx, channels.ChannelWebchat, "+886912345678")
	if err != nil || found.ID != c.ID {
		t.Fatalf("find: %v %+v", err, found)
	}
	byID, err := s.Conversation(ctx, c.ID)
	if err != nil || byID.ID != c.ID || byID.Contact != c.Contact || byID.Channel != c.Channel {
		t.Fatalf("by id: %v %+v", err, byID)
	}
}

// testOpenConversationID: a store with the optional ConversationIDOpener answers the ids
// OpenConversation gives, for a new contact (creating its conversation) and a known one.
func testOpenConversationID(t *testing.T, s channels.Store) {
	o, ok := s.(channels.ConversationIDOpener)
	if !ok {
		t.Skip("the store has no ConversationIDOpener")
	}
	_, err := o.OpenConversationID(ctx, "", "x", "en")
	wantCode(t, "open id without channel", err, casesvc.EINVALID)
	id, err := o.OpenConversationID(ctx, channels.ChannelTelegram, "tg-42", "en")
	if err != nil || id == "" {
		t.Fatalf("new contact: %q %v", id, err)
	}
	c, err := s.FindConversation(ctx, channels.ChannelTelegram, "tg-42")
	if err != nil || c.ID != id || c.Lang != "en" {
		t.Fatalf("the conversation opened: %+v %v, want id %q", c, err, id)
	}
	known := newConv(t, s, "+886933444555")
	for range 2 { // the second from whatever the store keeps
		if id, err := o.OpenConversationID(ctx, channels.ChannelWebchat, "+886933444555", "en"); err != nil || id != known.ID {
			t.Fatalf("known contact: %q %v, want %q", id, err, known.ID)
		}
	}
	if id, err := o.OpenConversationID(ctx, channels.ChannelSMS, "+886933444555", "en"); err != nil || id == known.ID {
		t.Fatalf("the same contact on another channel: %q %v", id, err)
	}
}

func testConcurrentOpen(t *testing.T, s channels.Store) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	ids := map[string]bool{}
	createdN := 0
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, created, err := s.OpenConversation(ctx, channels.ChannelTelegram, "chat-1", "en")
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			ids[c.ID] = true
			if created {
				createdN++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(ids) != 1 || createdN != 1 {
		t.Fatalf("concurrent opens: ids %v, created %d times", ids, createdN)
	}
}

func testSeqConcurrent(t *testing.T, s channels.Store) {
	c := newConv(t, s, "a")
	const n = 40
	var wg sync.WaitGroup
	seqs := make(chan int64, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, dup, err := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: fmt.Sprint("m", i), Text: "hi"})
			if err != nil || dup {
				t.Errorf("append: %v dup=%v", err, dup)
				return
			}
			seqs <- m.Seq
		}()
	}
	// Turns commit concurrently with the appends: replies take seqs from the same counter.
	wg.Wait()
	close(seqs)
	got := map[int64]bool{}
	for q := range seqs {
		if got[q] {
			t.Fatalf("seq %d given twice", q)
		}
		got[q] = true
	}
	var cwg sync.WaitGroup
	for i := int64(1); i <= 10; i++ {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			if _, err := s.CommitTurn(ctx, channels.Turn{Conversation: c.ID, InboundSeq: i,
				Replies: []channels.Message{{Text: "a"}, {Text: "b"}}}); err != nil {
				t.Error(err)
			}
		}()
	}
	for i := range 10 {
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			if _, _, err := s.AppendInbound(ctx, c.ID, channels.Inbound{Text: fmt.Sprint("late", i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	cwg.Wait()
	msgs := all(t, s, c.ID)
	if len(msgs) != n+20+10 {
		t.Fatalf("%d messages, want %d", len(msgs), n+30)
	}
	for i, m := range msgs {
		if m.Seq != int64(i+1) || m.Conversation != c.ID {
			t.Fatalf("message %d: seq %d conversation %q", i, m.Seq, m.Conversation)
		}
	}
	conv, err := s.Conversation(ctx, c.ID)
	if err != nil || conv.LastSeq != int64(len(msgs)) {
		t.Fatalf("last seq: %v %+v", err, conv)
	}
	// Seqs are per conversation.
	d := newConv(t, s, "b")
	if m := say(t, s, d.ID, "", "first"); m.Seq != 1 {
		t.Fatalf("other conversation starts at %d", m.Seq)
	}
}

func testDedupeConcurrent(t *testing.T, s channels.Store) {
	c := newConv(t, s, "a")
	var wg sync.WaitGroup
	type res struct {
		m   channels.Message
		dup bool
	}
	results := make(chan res, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, dup, err := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "same", Text: "hello"})
			if err != nil {
				t.Error(err)
				return
			}
			results <- res{m, dup}
		}()
	}
	wg.Wait()
	close(results)
	fresh := 0
	var seq int64
	for r := range results {
		if !r.dup {
			fresh++
		}
		if seq == 0 {
			seq = r.m.Seq
		}
		if r.m.Seq != seq || r.m.Text != "hello" || r.m.ClientID != "same" {
			t.Fatalf("repeat returned %+v, want the first stored (seq %d)", r.m, seq)
		}
	}
	if fresh != 1 {
		t.Fatalf("%d stored, want 1", fresh)
	}
	if msgs := all(t, s, c.ID); len(msgs) != 1 {
		t.Fatalf("%d messages stored", len(msgs))
	}
	// A repeat after the turn returns the message with its handled mark; a repeat's text is ignored.
	commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: seq, Replies: []channels.Message{{Text: "hi"}}})
	m, dup, err := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "same", Text: "changed"})
	if err != nil || !dup || m.Seq != seq || m.Text != "hello" || !m.Handled {
		t.Fatalf("repeat after turn: %v dup=%v %+v", err, dup, m)
	}
	// Dedupe is per conversation; "" disables it.
	d := newConv(t, s, "b")
	if m := say(t, s, d.ID, "same", "x"); m.Seq != 1 {
		t.Fatalf("same client id elsewhere: %+v", m)
	}
	say(t, s, c.ID, "", "no id")
	say(t, s, c.ID, "", "no id")
	if msgs := all(t, s, c.ID); len(msgs) != 4 {
		t.Fatalf("%d messages, want 4", len(msgs))
	}
	_, _, err = s.AppendInbound(ctx, "no-such-id", channels.Inbound{ClientID: "x", Text: "x"})
	wantCode(t, "append to unknown conversation", err, casesvc.ENOTFOUND)
}

func testRoundTrip(t *testing.T, s channels.Store) {
	c := newConv(t, s, "a")
	at := time.Date(2025, 7, 1, 9, 30, 15, 123456789, time.FixedZone("Asia/Taipei", 8*3600))
	in := channels.Inbound{
		ClientID: "tg:42", Text: "我要申請理賠", Action: "file_claim", Lang: "zh-TW", ReceivedAt: at,
		Attachments: []dialog.Attachment{{ID: "a1", Filename: "收據.jpg", ContentType: "image/jpeg", Size: 1234,
			SHA256: "abc", BlobRef: "blob/1"}},
	}
	m, _, err := s.AppendInbound(ctx, c.ID, in)
	if err != nil {
		t.Fatal(err)
	}
	if m.Direction != channels.DirIn || m.From != channels.FromCustomer || m.Handled || !m.TS.Equal(at) {
		t.Fatalf("appended: %+v", m)
	}
	got := all(t, s, c.ID)[0]
	if got.Text != in.Text || got.Action != in.Action || got.Lang != in.Lang || got.ClientID != in.ClientID ||
		!got.TS.Equal(at) || !reflect.DeepEqual(got.Attachments, in.Attachments) || got.Direction != channels.DirIn ||
		got.From != channels.FromCustomer || got.Seq != 1 || got.Handled {
		t.Fatalf("read back: %+v", got)
	}
	buttons := []channels.Button{{Label: "申請理賠", Value: "file_claim"}, {Label: "查詢進度", Value: "status"}}
	replies := commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 1, State: []byte(`{"step":1}`), At: at,
		Replies: []channels.Message{
			{Text: "好的", Buttons: buttons},
			{From: channels.FromAgent, Agent: "王小明", Text: "您好"},
			{From: channels.FromSystem, Text: "系統訊息"},
		}})
	want := []struct{ from, agent, text string }{
		{channels.FromBot, "", "好的"}, {channels.FromAgent, "王小明", "您好"}, {channels.FromSystem, "", "系統訊息"},
	}
	stored := all(t, s, c.ID)
	if len(replies) != 3 || len(stored) != 4 {
		t.Fatalf("replies %d, stored %d", len(replies), len(stored))
	}
	for i, w := range want {
		for _, r := range []channels.Message{replies[i], stored[i+1]} {
			if r.Seq != int64(i+2) || r.Direction != channels.DirOut || r.From != w.from || r.Agent != w.agent ||
				r.Text != w.text || r.ReplyTo != 1 || r.Conversation != c.ID || !r.TS.Equal(at) || r.Handled {
				t.Fatalf("reply %d: %+v", i, r)
			}
		}
	}
	if !reflect.DeepEqual(stored[1].Buttons, buttons) || !reflect.DeepEqual(replies[0].Buttons, buttons) {
		t.Fatalf("buttons: %+v / %+v", stored[1].Buttons, replies[0].Buttons)
	}
	conv, err := s.Conversation(ctx, c.ID)
	if err != nil || string(conv.State) != `{"step":1}` || conv.LastSeq != 4 {
		t.Fatalf("state: %v %+v", err, conv)
	}
	if !stored[0].Handled {
		t.Fatal("inbound not marked handled")
	}
}

func testEvents(t *testing.T, s channels.Store) {
	c := newConv(t, s, "a")
	notice := &dialog.Notice{ID: 7, CaseID: "CL-2025-000123", Kind: "approved", Data: map[string]any{"amount": "12000"}}
	m, dup, err := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "notice:7", Event: dialog.EventNotice, Notice: notice})
	if err != nil || dup {
		t.Fatal(err, dup)
	}
	if m.Direction != channels.DirEvent || m.From != channels.FromSystem || m.Event != dialog.EventNotice || m.Seq != 1 {
		t.Fatalf("event: %+v", m)
	}
	if _, dup, _ := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "notice:7", Event: dialog.EventNotice, Notice: notice}); !dup {
		t.Fatal("a repeated event was stored again")
	}
	un, err := s.Unhandled(ctx)
	if err != nil || len(un) != 1 || un[0].Direction != channels.DirEvent || !reflect.DeepEqual(un[0].Notice, notice) {
		t.Fatalf("unhandled: %v %+v", err, un)
	}
	commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 1, Replies: []channels.Message{{Text: "核准了"}}})
	got := all(t, s, c.ID)
	if !got[0].Handled || got[0].Event != dialog.EventNotice || !reflect.DeepEqual(got[0].Notice, notice) {
		t.Fatalf("event read back: %+v", got[0])
	}
	if un, _ := s.Unhandled(ctx); len(un) != 0 {
		t.Fatalf("unhandled after commit: %+v", un)
	}
}

func testCommitTurn(t *testing.T, s channels.Store) {
	c := newConv(t, s, "a")
	say(t, s, c.ID, "1", "one")
	out := commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 1, State: []byte("s1"),
		Replies: []channels.Message{{Text: "r1"}}})
	if len(out) != 1 || out[0].Seq != 2 {
		t.Fatalf("replies: %+v", out)
	}
	// A second commit of the same inbound stores nothing and fails with ECONFLICT.
	_, err := s.CommitTurn(ctx, channels.Turn{Conversation: c.ID, InboundSeq: 1, State: []byte("s2"),
		Replies: []channels.Message{{Text: "again"}}, Deliver: true})
	wantCode(t, "second commit", err, casesvc.ECONFLICT)
	conv, _ := s.Conversation(ctx, c.ID)
	if string(conv.State) != "s1" || conv.LastSeq != 2 {
		t.Fatalf("a conflicting commit changed the conversation: %+v", conv)
	}
	if msgs := all(t, s, c.ID); len(msgs) != 2 {
		t.Fatalf("a conflicting commit stored messages: %+v", msgs)
	}
	if ds, _ := s.Deliveries(ctx, c.ID); len(ds) != 0 {
		t.Fatalf("a conflicting commit stored deliveries: %+v", ds)
	}
	// A turn that says nothing still marks the inbound handled and saves the state.
	say(t, s, c.ID, "2", "two")
	if out := commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 3, State: []byte("s3")}); len(out) != 0 {
		t.Fatalf("silent turn returned %+v", out)
	}
	conv, _ = s.Conversation(ctx, c.ID)
	if string(conv.State) != "s3" || conv.LastSeq != 3 {
		t.Fatalf("after a silent turn: %+v", conv)
	}
	if un, _ := s.Unhandled(ctx); len(un) != 0 {
		t.Fatalf("unhandled: %+v", un)
	}
}

func testCommitConcurrent(t *testing.T, s channels.Store) {
	c := newConv(t, s, "a")
	say(t, s, c.ID, "1", "one")
	var wg sync.WaitGroup
	var mu sync.Mutex
	won, conflicts := 0, 0
	for i := range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.CommitTurn(ctx, channels.Turn{Conversation: c.ID, InboundSeq: 1, State: []byte(fmt.Sprint(i)),
				Replies: []channels.Message{{Text: fmt.Sprint("r", i)}, {Text: "x"}}, Deliver: true})
			mu.Lock()
			defer mu.Unlock()
			switch casesvc.ErrorCode(err) {
			case "":
				won++
			case casesvc.ECONFLICT:
				conflicts++
			default:
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if won != 1 || conflicts != 11 {
		t.Fatalf("won %d, conflicts %d", won, conflicts)
	}
	msgs := all(t, s, c.ID)
	ds, _ := s.Deliveries(ctx, c.ID)
	if len(msgs) != 3 || len(ds) != 2 {
		t.Fatalf("stored %d messages, %d deliveries", len(msgs), len(ds))
	}
	if n, _ := s.OutboxDepth(ctx); n != 2 {
		t.Fatalf("outbox depth %d", n)
	}
}

func testOpeningTurn(t *testing.T, s channels.Store) {
	c := newConv(t, s, "a")
	var wg sync.WaitGroup
	var mu sync.Mutex
	won := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.CommitTurn(ctx, channels.Turn{Conversation: c.ID, State: []byte("g"),
				Replies: []channels.Message{{Text: "歡迎"}}})
			if err == nil {
				mu.Lock()
				won++
				mu.Unlock()
			} else if casesvc.ErrorCode(err) != casesvc.ECONFLICT {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	conv, _ := s.Conversation(ctx, c.ID)
	if won != 1 || !conv.Started || conv.LastSeq != 1 || string(conv.State) != "g" {
		t.Fatalf("opening turns won %d: %+v", won, conv)
	}
	if m := all(t, s, c.ID)[0]; m.ReplyTo != 0 || m.Direction != channels.DirOut || m.Text != "歡迎" {
		t.Fatalf("greeting: %+v", m)
	}
}

func testCommitErrors(t *testing.T, s channels.Store) {
	_, err := s.CommitTurn(ctx, channels.Turn{Conversation: "no-such-id", InboundSeq: 1})
	wantCode(t, "commit in unknown conversation", err, casesvc.ENOTFOUND)
	_, err = s.CommitTurn(ctx, channels.Turn{Conversation: "no-such-id"})
	wantCode(t, "opening turn of unknown conversation", err, casesvc.ENOTFOUND)
	c := newConv(t, s, "a")
	_, err = s.CommitTurn(ctx, channels.Turn{Conversation: c.ID, InboundSeq: 9, Replies: []channels.Message{{Text: "x"}}})
	wantCode(t, "commit of unknown inbound", err, casesvc.ENOTFOUND)
	say(t, s, c.ID, "", "hi")
	commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 1, Replies: []channels.Message{{Text: "r"}}})
	_, err = s.CommitTurn(ctx, channels.Turn{Conversation: c.ID, InboundSeq: 2, Replies: []channels.Message{{Text: "x"}}})
	wantCode(t, "commit of an outbound seq", err, casesvc.ENOTFOUND)
	if conv, _ := s.Conversation(ctx, c.ID); conv.LastSeq != 2 {
		t.Fatalf("failed commits allocated seqs: %+v", conv)
	}
}

func testUnhandled(t *testing.T, s channels.Store) {
	a := newConv(t, s, "a")
	b := newConv(t, s, "b")
	say(t, s, a.ID, "", "a1")
	say(t, s, b.ID, "", "b1")
	say(t, s, a.ID, "", "a2")
	say(t, s, b.ID, "", "b2")
	say(t, s, a.ID, "", "a3")
	commit(t, s, channels.Turn{Conversation: a.ID, InboundSeq: 1, Replies: []channels.Message{{Text: "r"}}})
	un, err := s.Unhandled(ctx)
	if err != nil {
		t.Fatal(err)
	}
	type key struct {
		conv string
		seq  int64
	}
	var got []key
	for _, m := range un {
		if m.Handled || m.Direction != channels.DirIn {
			t.Fatalf("unhandled returned %+v", m)
		}
		got = append(got, key{m.Conversation, m.Seq})
	}
	want := []key{{a.ID, 2}, {a.ID, 3}, {b.ID, 1}, {b.ID, 2}}
	sort.Slice(want, func(i, j int) bool {
		if want[i].conv != want[j].conv {
			return want[i].conv < want[j].conv
		}
		return want[i].seq < want[j].seq
	})
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("unhandled %v, want %v (by conversation, then seq)", got, want)
	}
	if un[0].Text == "" {
		t.Fatalf("unhandled message without its text: %+v", un[0])
	}
}

func testMessagesAfter(t *testing.T, s channels.Store) {
	c := newConv(t, s, "a")
	for i := range 10 {
		say(t, s, c.ID, "", fmt.Sprint("m", i+1))
	}
	got, err := s.MessagesAfter(ctx, c.ID, 3, 4)
	if err != nil || len(got) != 4 || got[0].Seq != 4 || got[3].Seq != 7 || got[0].Text != "m4" {
		t.Fatalf("after 3 limit 4: %v %+v", err, got)
	}
	if got, _ := s.MessagesAfter(ctx, c.ID, 8, 100); len(got) != 2 || got[1].Seq != 10 {
		t.Fatalf("after 8: %+v", got)
	}
	if got, err := s.MessagesAfter(ctx, c.ID, 10, 100); err != nil || len(got) != 0 {
		t.Fatalf("after the last: %v %+v", err, got)
	}
	if got, err := s.MessagesAfter(ctx, "no-such-id", 0, 100); err != nil || len(got) != 0 {
		t.Fatalf("unknown conversation: %v %+v", err, got)
	}
	commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 2})
	got, _ = s.MessagesAfter(ctx, c.ID, 0, 3)
	if got[0].Handled || !got[1].Handled || got[2].Handled {
		t.Fatalf("handled marks: %+v", got)
	}
}

func testCopies(t *testing.T, s channels.Store) {
	c := newConv(t, s, "a")
	say(t, s, c.ID, "", "hi")
	state := []byte("state-1")
	buttons := []channels.Button{{Label: "A", Value: "a"}}
	out := commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 1, State: state,
		Replies: []channels.Message{{Text: "r", Buttons: buttons}}})
	state[0] = 'X'
	buttons[0].Label = "changed"
	out[0].Text = "changed"
	conv, _ := s.Conversation(ctx, c.ID)
	if string(conv.State) != "state-1" {
		t.Fatalf("state shared with the caller: %q", conv.State)
	}
	conv.State[0] = 'Y'
	conv.LastSeq = 99
	again, _ := s.Conversation(ctx, c.ID)
	if string(again.State) != "state-1" || again.LastSeq != 2 {
		t.Fatalf("conversation shared with the caller: %+v", again)
	}
	msgs := all(t, s, c.ID)
	if msgs[1].Text != "r" || msgs[1].Buttons[0].Label != "A" {
		t.Fatalf("reply shared with the caller: %+v", msgs[1])
	}
	msgs[1].Buttons[0].Label = "changed"
	if again := all(t, s, c.ID); again[1].Buttons[0].Label != "A" {
		t.Fatalf("read messages shared: %+v", again[1])
	}
}

// pushConv is a conversation with one inbound message, ready for a turn with deliveries.
func pushConv(t *testing.T, s channels.Store, contact string) *channels.Conversation {
	t.Helper()
	c, _, err := s.OpenConversation(ctx, channels.ChannelTelegram, contact, "zh-TW")
	if err != nil {
		t.Fatal(err)
	}
	say(t, s, c.ID, "", "hi")
	return c
}

func testDeliveriesCreated(t *testing.T, s channels.Store) {
	c := pushConv(t, s, "a")
	at := time.Now().Add(-time.Minute).Truncate(time.Microsecond)
	commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 1, At: at, Deliver: true,
		Replies: []channels.Message{{Text: "r1"}, {Text: "r2"}}})
	ds, err := s.Deliveries(ctx, c.ID)
	if err != nil || len(ds) != 2 {
		t.Fatalf("deliveries: %v %+v", err, ds)
	}
	for i, d := range ds {
		if d.Conversation != c.ID || d.Seq != int64(i+2) || d.Channel != channels.ChannelTelegram ||
			d.Status != channels.DeliveryPending || d.PartsSent != 0 || d.Attempts != 0 || !d.NextAt.Equal(at) ||
			d.LastError != "" || len(d.Receipts) != 0 {
			t.Fatalf("delivery %d: %+v", i, d)
		}
	}
	// Without Deliver (a pull channel) no delivery is written.
	say(t, s, c.ID, "", "again")
	commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 4, Replies: []channels.Message{{Text: "r3"}}})
	if ds, _ := s.Deliveries(ctx, c.ID); len(ds) != 2 {
		t.Fatalf("a turn without Deliver wrote deliveries: %+v", ds)
	}
	if ds, err := s.Deliveries(ctx, "no-such-id"); err != nil || len(ds) != 0 {
		t.Fatalf("deliveries of unknown conversation: %v %+v", err, ds)
	}
}

func testDueHeadOfLine(t *testing.T, s channels.Store) {
	now := time.Now()
	a := pushConv(t, s, "a")
	b := pushConv(t, s, "b")
	commit(t, s, channels.Turn{Conversation: a.ID, InboundSeq: 1, At: now.Add(-2 * time.Minute), Deliver: true,
		Replies: []channels.Message{{Text: "a1"}, {Text: "a2"}, {Text: "a3"}}})
	commit(t, s, channels.Turn{Conversation: b.ID, InboundSeq: 1, At: now.Add(-3 * time.Minute), Deliver: true,
		Replies: []channels.Message{{Text: "b1"}}})
	due, err := s.DueDeliveries(ctx, now, 10)
	if err != nil || len(due) != 2 {
		t.Fatalf("due: %v %+v", err, due)
	}
	// Longest waiting first; one head per conversation.
	if due[0].Conversation != b.ID || due[0].Seq != 2 || due[1].Conversation != a.ID || due[1].Seq != 2 {
		t.Fatalf("due order: %+v", due)
	}
	// A message read along (a store may leave it out) is the delivery's own, as stored.
	for _, d := range due {
		if d.Message == nil {
			continue
		}
		stored, err := s.MessagesAfter(ctx, d.Conversation, d.Seq-1, 1)
		if err != nil || len(stored) != 1 || !reflect.DeepEqual(*d.Message, stored[0]) {
			t.Fatalf("delivery %s/%d carries %+v; stored %+v, %v", d.Conversation, d.Seq, *d.Message, stored, err)
		}
	}
	if due, _ := s.DueDeliveries(ctx, now, 1); len(due) != 1 || due[0].Conversation != b.ID {
		t.Fatalf("limit 1: %+v", due)
	}
	// Nothing is due before its time.
	if due, _ := s.DueDeliveries(ctx, now.Add(-5*time.Minute), 10); len(due) != 0 {
		t.Fatalf("due in the past: %+v", due)
	}
	// A head scheduled later holds its whole line back; the next message is never overtaken.
	if err := s.DeliveryRetry(ctx, a.ID, 2, now.Add(time.Hour), "429", now); err != nil {
		t.Fatal(err)
	}
	due, _ = s.DueDeliveries(ctx, now, 10)
	if len(due) != 1 || due[0].Conversation != b.ID {
		t.Fatalf("a delayed head let its line through: %+v", due)
	}
	due, _ = s.DueDeliveries(ctx, now.Add(2*time.Hour), 10)
	if len(due) != 2 || due[1].Conversation != a.ID || due[1].Seq != 2 || due[1].Attempts != 1 || due[1].LastError != "429" {
		t.Fatalf("after the delay: %+v", due)
	}
	// Once the head is sent, the next one is the head.
	if err := s.DeliveryPartSent(ctx, a.ID, 2, 0, "", true, now); err != nil {
		t.Fatal(err)
	}
	due, _ = s.DueDeliveries(ctx, now, 10)
	if len(due) != 2 || due[1].Conversation != a.ID || due[1].Seq != 3 {
		t.Fatalf("next head: %+v", due)
	}
	// Exactly at its time a delivery is due.
	c := pushConv(t, s, "c")
	exact := now.Add(-time.Second)
	commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 1, At: exact, Deliver: true, Replies: []channels.Message{{Text: "c"}}})
	found := false
	due, _ = s.DueDeliveries(ctx, exact, 10)
	for _, d := range due {
		found = found || d.Conversation == c.ID
	}
	if !found {
		t.Fatalf("a delivery due exactly now is missing: %+v", due)
	}
}

func testPartSent(t *testing.T, s channels.Store) {
	c := pushConv(t, s, "a")
	now := time.Now()
	commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 1, At: now, Deliver: true, Replies: []channels.Message{{Text: "long"}}})
	if err := s.DeliveryPartSent(ctx, c.ID, 2, 0, "SM0", false, now); err != nil {
		t.Fatal(err)
	}
	// The part marks are conditional: part 0 again, or part 2 before 1, is someone else's record.
	wantCode(t, "part 0 again", s.DeliveryPartSent(ctx, c.ID, 2, 0, "SMx", false, now), casesvc.ECONFLICT)
	wantCode(t, "part 2 before 1", s.DeliveryPartSent(ctx, c.ID, 2, 2, "SMx", false, now), casesvc.ECONFLICT)
	wantCode(t, "unknown delivery", s.DeliveryPartSent(ctx, c.ID, 9, 0, "", false, now), casesvc.ENOTFOUND)
	wantCode(t, "unknown conversation", s.DeliveryPartSent(ctx, "no-such-id", 2, 0, "", false, now), casesvc.ENOTFOUND)
	if err := s.DeliveryPartSent(ctx, c.ID, 2, 1, "SM1", true, now); err != nil {
		t.Fatal(err)
	}
	ds, _ := s.Deliveries(ctx, c.ID)
	d := ds[0]
	if d.Status != channels.DeliverySent || d.PartsSent != 2 || len(d.Receipts) != 2 ||
		d.Receipts[0].ProviderID != "SM0" || d.Receipts[1].ProviderID != "SM1" || d.Receipts[1].Part != 1 ||
		d.Receipts[0].Status != channels.ReceiptSent {
		t.Fatalf("sent delivery: %+v", d)
	}
	// Sent never moves back.
	wantCode(t, "part after sent", s.DeliveryPartSent(ctx, c.ID, 2, 2, "", true, now), casesvc.ECONFLICT)
	wantCode(t, "retry after sent", s.DeliveryRetry(ctx, c.ID, 2, now, "x", now), casesvc.ECONFLICT)
	wantCode(t, "failed after sent", s.DeliveryFailed(ctx, c.ID, 2, "x", now), casesvc.ECONFLICT)
	if due, _ := s.DueDeliveries(ctx, now.Add(time.Hour), 10); len(due) != 0 {
		t.Fatalf("a sent delivery is due: %+v", due)
	}
	// A part accepted without a provider id records no receipt.
	say(t, s, c.ID, "", "again")
	commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 3, At: now, Deliver: true, Replies: []channels.Message{{Text: "r"}}})
	if err := s.DeliveryPartSent(ctx, c.ID, 4, 0, "", true, now); err != nil {
		t.Fatal(err)
	}
	ds, _ = s.Deliveries(ctx, c.ID)
	if len(ds) != 2 || ds[1].Status != channels.DeliverySent || len(ds[1].Receipts) != 0 {
		t.Fatalf("without provider id: %+v", ds)
	}
}

func testPartSentConcurrent(t *testing.T, s channels.Store) {
	c := pushConv(t, s, "a")
	now := time.Now()
	commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 1, At: now, Deliver: true, Replies: []channels.Message{{Text: "r"}}})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.DeliveryPartSent(ctx, c.ID, 2, 0, fmt.Sprint("SM", i), false, now)
			if err == nil {
				mu.Lock()
				ok++
				mu.Unlock()
			} else if casesvc.ErrorCode(err) != casesvc.ECONFLICT {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ds, _ := s.Deliveries(ctx, c.ID)
	if ok != 1 || ds[0].PartsSent != 1 || len(ds[0].Receipts) != 1 {
		t.Fatalf("part recorded %d times: %+v", ok, ds)
	}
}

func testRetryFailed(t *testing.T, s channels.Store) {
	c := pushConv(t, s, "a")
	now := time.Now()
	commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 1, At: now, Deliver: true,
		Replies: []channels.Message{{Text: "r1"}, {Text: "r2"}}})
	next := now.Add(30 * time.Second)
	if err := s.DeliveryRetry(ctx, c.ID, 2, next, "503", now); err != nil {
		t.Fatal(err)
	}
	if err := s.DeliveryRetry(ctx, c.ID, 2, next, "timeout", now); err != nil {
		t.Fatal(err)
	}
	ds, _ := s.Deliveries(ctx, c.ID)
	if d := ds[0]; d.Status != channels.DeliveryPending || d.Attempts != 2 || d.LastError != "timeout" || !d.NextAt.Equal(next) {
		t.Fatalf("after retries: %+v", d)
	}
	wantCode(t, "retry unknown", s.DeliveryRetry(ctx, c.ID, 9, next, "x", now), casesvc.ENOTFOUND)
	if err := s.DeliveryFailed(ctx, c.ID, 2, "blocked", now); err != nil {
		t.Fatal(err)
	}
	ds, _ = s.Deliveries(ctx, c.ID)
	if d := ds[0]; d.Status != channels.DeliveryFailed || d.Attempts != 3 || d.LastError != "blocked" {
		t.Fatalf("failed: %+v", d)
	}
	// Failed never moves back; the next message becomes the head.
	wantCode(t, "retry after failed", s.DeliveryRetry(ctx, c.ID, 2, next, "x", now), casesvc.ECONFLICT)
	wantCode(t, "part after failed", s.DeliveryPartSent(ctx, c.ID, 2, 0, "", true, now), casesvc.ECONFLICT)
	wantCode(t, "failed twice", s.DeliveryFailed(ctx, c.ID, 2, "x", now), casesvc.ECONFLICT)
	wantCode(t, "failed unknown", s.DeliveryFailed(ctx, c.ID, 9, "x", now), casesvc.ENOTFOUND)
	due, _ := s.DueDeliveries(ctx, now.Add(time.Minute), 10)
	if len(due) != 1 || due[0].Seq != 3 {
		t.Fatalf("head after a failure: %+v", due)
	}
}

func testReceiptStatus(t *testing.T, s channels.Store) {
	c := pushConv(t, s, "a")
	now := time.Now()
	commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 1, At: now, Deliver: true, Replies: []channels.Message{{Text: "r"}}})
	if err := s.DeliveryPartSent(ctx, c.ID, 2, 0, "SM1", true, now); err != nil {
		t.Fatal(err)
	}
	status := func() string {
		ds, _ := s.Deliveries(ctx, c.ID)
		return ds[0].Receipts[0].Status
	}
	wantCode(t, "unknown status", s.MarkDeliveryStatus(ctx, "SM1", "read", now), casesvc.EINVALID)
	wantCode(t, "unknown provider id", s.MarkDeliveryStatus(ctx, "SM404", "delivered", now), casesvc.ENOTFOUND)
	// Backward and repeated statuses are ignored.
	for _, st := range []string{channels.ReceiptQueued, channels.ReceiptSending, channels.ReceiptSent} {
		if err := s.MarkDeliveryStatus(ctx, "SM1", st, now); err != nil {
			t.Fatal(err)
		}
		if got := status(); got != channels.ReceiptSent {
			t.Fatalf("after %s: %s", st, got)
		}
	}
	if err := s.MarkDeliveryStatus(ctx, "SM1", channels.ReceiptDelivered, now.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if got := status(); got != channels.ReceiptDelivered {
		t.Fatalf("after delivered: %s", got)
	}
	// Terminal statuses stay.
	for _, st := range []string{channels.ReceiptUndelivered, channels.ReceiptFailed, channels.ReceiptQueued} {
		if err := s.MarkDeliveryStatus(ctx, "SM1", st, now); err != nil {
			t.Fatal(err)
		}
		if got := status(); got != channels.ReceiptDelivered {
			t.Fatalf("terminal moved by %s: %s", st, got)
		}
	}
}

func testOutboxDepth(t *testing.T, s channels.Store) {
	if n, err := s.OutboxDepth(ctx); err != nil || n != 0 {
		t.Fatalf("empty outbox: %v %d", err, n)
	}
	c := pushConv(t, s, "a")
	now := time.Now()
	commit(t, s, channels.Turn{Conversation: c.ID, InboundSeq: 1, At: now, Deliver: true,
		Replies: []channels.Message{{Text: "1"}, {Text: "2"}, {Text: "3"}}})
	if n, _ := s.OutboxDepth(ctx); n != 3 {
		t.Fatalf("depth %d, want 3", n)
	}
	_ = s.DeliveryPartSent(ctx, c.ID, 2, 0, "", true, now)
	_ = s.DeliveryRetry(ctx, c.ID, 3, now, "x", now)
	_ = s.DeliveryFailed(ctx, c.ID, 4, "x", now)
	if n, _ := s.OutboxDepth(ctx); n != 1 {
		t.Fatalf("depth %d, want 1 (only the retried one is pending)", n)
	}
}
