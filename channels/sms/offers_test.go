package sms

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"claimline/channels"
	"claimline/channels/sqlitestore"
	"claimline/dialog"
)

type noDialog struct{}

func (noDialog) Turn(context.Context, []byte, dialog.Input) ([]byte, []dialog.Reply, error) {
	return nil, nil, nil
}

// lastOutbound with its per-conversation memory answers what reading the whole window answers,
// whatever mix of inbound messages, replies with and without choices, their sends (which move the
// memory on) and lookups happens.
func TestLastOutboundMatchesWindow(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlitestore.New(filepath.Join(dir, "channels.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	router, err := channels.NewRouter(channels.RouterConfig{Store: st, Dialog: noDialog{}})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a, err := New(Config{AccountSID: "AC1", AuthToken: "tok", From: "+886900000000", PublicURL: "https://x.example",
		Router: router, DBPath: filepath.Join(dir, "sms.db"), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	conv, _, err := st.OpenConversation(ctx, channels.ChannelSMS, "+886911111111", "zh-TW")
	if err != nil {
		t.Fatal(err)
	}
	// the answer of the code before the memory: read the window, take the last outbound
	window := func(c *channels.Conversation) *channels.Message {
		msgs, err := st.MessagesAfter(ctx, c.ID, max(0, c.LastSeq-choiceWindow), choiceWindow)
		if err != nil {
			t.Fatal(err)
		}
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].Direction == channels.DirOut {
				return &msgs[i]
			}
		}
		return nil
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var lastIn int64
	var unsent []channels.Message // outbound messages the "outbox" has not sent yet, in seq order
	makeReplies := func(step int) []channels.Message {
		var replies []channels.Message
		for i := range 1 + rng.IntN(3) {
			r := channels.Message{From: channels.FromBot, Text: fmt.Sprintf("reply %d %d", step, i)}
			if rng.IntN(2) == 0 {
				r.Text = fmt.Sprintf("請選擇 %d", step)
			}
			if rng.IntN(3) == 0 {
				r.Buttons = []channels.Button{{Label: "確認", Value: fmt.Sprintf("v%d", step)}}
			}
			replies = append(replies, r)
		}
		return replies
	}
	turn := func(step int) {
		stored, err := st.CommitTurn(ctx, channels.Turn{Conversation: conv.ID, InboundSeq: lastIn, Replies: makeReplies(step),
			At: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		unsent = append(unsent, stored...)
		lastIn = 0
	}
	for step := range 600 {
		switch k := rng.IntN(10); {
		case k == 9 && len(unsent) == 0 && lastIn > 0: // a turn whose first replies are sent at once
			turn(step)
			for range 1 + rng.IntN(len(unsent)) {
				a.recent.sent(conv.ID, unsent[0])
				unsent = unsent[1:]
			}
		case k < 4: // a customer message, through the handler's path (lookup, store, stored)
			c, err := st.FindConversation(ctx, channels.ChannelSMS, "+886911111111")
			if err != nil {
				t.Fatal(err)
			}
			a.lastOutbound(ctx, c)
			in := channels.Inbound{Channel: channels.ChannelSMS, Contact: c.Contact, ClientID: fmt.Sprintf("sms:%d", step),
				Text: "好", ReceivedAt: time.Now()}
			if lastIn == 0 && rng.IntN(2) == 0 { // nothing waiting: stored with its turn (one write)
				m, replies, _, err := st.CommitInbound(ctx, c.ID, in, c.LastSeq, channels.Turn{Conversation: c.ID,
					Replies: makeReplies(step), At: time.Now()})
				if err != nil {
					t.Fatal(err)
				}
				a.stored(m.Conversation, m.Seq, replies)
				unsent = append(unsent, replies...)
				// what the handler stored is all there is: the next lookup reads nothing
				if o, ok := a.recent.get(c.ID); !ok || o.seen != replies[len(replies)-1].Seq {
					t.Fatalf("step %d: after a one-write turn ending at seq %d the memory is %+v", step, replies[len(replies)-1].Seq, o)
				}
				break
			}
			if lastIn > 0 && rng.IntN(3) == 0 {
				turn(step) // the previous message's turn commits between the lookup and the store
			}
			m, _, err := st.AppendInbound(ctx, c.ID, in)
			if err != nil {
				t.Fatal(err)
			}
			if rng.IntN(4) > 0 {
				a.stored(m.Conversation, m.Seq, nil)
			}
			lastIn = m.Seq
		case k < 5 && rng.IntN(3) == 0: // a long silence of inbound messages stored elsewhere
			for range choiceWindow + rng.IntN(5) {
				m, _, err := st.AppendInbound(ctx, conv.ID, channels.Inbound{Channel: channels.ChannelSMS,
					Contact: conv.Contact, ClientID: fmt.Sprintf("other:%d:%d", step, rng.Int()), Text: "x", ReceivedAt: time.Now()})
				if err != nil {
					t.Fatal(err)
				}
				lastIn = m.Seq
			}
		case k < 9 && lastIn > 0: // the turn of the last inbound: replies, maybe with choices
			turn(step)
		case k == 9 && len(unsent) > 0: // the outbox sends the next replies (SendPart tells recent)
			for range 1 + rng.IntN(len(unsent)) {
				a.recent.sent(conv.ID, unsent[0])
				unsent = unsent[1:]
			}
		}
		c, err := st.FindConversation(ctx, channels.ChannelSMS, "+886911111111")
		if err != nil {
			t.Fatal(err)
		}
		got, want := a.lastOutbound(ctx, c), window(c)
		switch {
		case got == nil && want == nil:
		case got == nil || want == nil:
			t.Fatalf("step %d (last seq %d): got %+v, want %+v", step, c.LastSeq, got, want)
		case got.seq != want.Seq || !slices.Equal(got.buttons, want.Buttons) || got.lang != langOf(want):
			t.Fatalf("step %d: got %+v, want seq %d %v %s", step, got, want.Seq, want.Buttons, langOf(want))
		}
	}

	// Directed cases on a second conversation: a reply sent while a later one is not, and an entry
	// made from an inbound only when nothing came before it.
	c2, _, err := st.OpenConversation(ctx, channels.ChannelSMS, "+886922222222", "zh-TW")
	if err != nil {
		t.Fatal(err)
	}
	check := func(what string) {
		t.Helper()
		c, err := st.Conversation(ctx, c2.ID)
		if err != nil {
			t.Fatal(err)
		}
		got, want := a.lastOutbound(ctx, c), window(c)
		if (got == nil) != (want == nil) || got != nil && (got.seq != want.Seq || !slices.Equal(got.buttons, want.Buttons)) {
			t.Fatalf("%s: got %+v, want %+v", what, got, want)
		}
	}
	in1, _, err := st.AppendInbound(ctx, c2.ID, channels.Inbound{Channel: channels.ChannelSMS, Contact: c2.Contact, ClientID: "d1", Text: "a"})
	if err != nil {
		t.Fatal(err)
	}
	a.stored(c2.ID, in1.Seq, nil) // seq 1: nothing before it
	out, err := st.CommitTurn(ctx, channels.Turn{Conversation: c2.ID, InboundSeq: in1.Seq, At: time.Now(), Replies: []channels.Message{
		{From: channels.FromBot, Text: "first", Buttons: []channels.Button{{Label: "A", Value: "a"}}},
		{From: channels.FromBot, Text: "second", Buttons: []channels.Button{{Label: "B", Value: "b"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	a.recent.sent(c2.ID, out[0]) // the second reply is not sent yet
	check("first of two replies sent")
	a.recent = recentOffers{} // forgotten (a restart, a full cache)
	in2, _, err := st.AppendInbound(ctx, c2.ID, channels.Inbound{Channel: channels.ChannelSMS, Contact: c2.Contact, ClientID: "d2", Text: "b"})
	if err != nil {
		t.Fatal(err)
	}
	a.stored(c2.ID, in2.Seq, nil) // not seq 1: it knows nothing of what came before
	check("an inbound stored with nothing remembered")
}
