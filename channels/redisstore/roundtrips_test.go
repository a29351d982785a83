package redisstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/channels/redisstore"
	"claimline/internal/testservices"
)

// commandCounter counts the commands a client sends (one per round trip outside pipelines).
type commandCounter struct{ n atomic.Int64 }

func (c *commandCounter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *commandCounter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		c.n.Add(1)
		return next(ctx, cmd)
	}
}
func (c *commandCounter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		c.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// countedStore is a Store on a fresh redis-server whose client counts the commands it sends.
func countedStore(t *testing.T) (*redis.Client, string, *commandCounter, *redisstore.Store) {
	t.Helper()
	c, prefix := client(t, testservices.StartRedis(t))
	counted := &commandCounter{}
	c.AddHook(counted)
	return c, prefix, counted, newStore(t, c, prefix)
}

// A contact seen before gets its conversation id with no round trip (and FindConversation with the
// conversation's read only); the id is OpenConversation's; a conversation Redis lost is forgotten at
// the first read or message that finds it missing, and the next message opens a new one.
func TestOpenConversationIDKnownContactCostsNoRoundTrip(t *testing.T) {
	c, prefix, counted, st := countedStore(t)

	id, err := st.OpenConversationID(ctx(), channels.ChannelSMS, "+886912345678", "zh-TW")
	if err != nil {
		t.Fatal(err)
	}
	conv, err := st.FindConversation(ctx(), channels.ChannelSMS, "+886912345678")
	if err != nil || conv.ID != id {
		t.Fatalf("OpenConversationID %q, the stored conversation %+v (%v)", id, conv, err)
	}
	before := counted.n.Load()
	again, err := st.OpenConversationID(ctx(), channels.ChannelSMS, "+886912345678", "zh-TW")
	if err != nil || again != id {
		t.Fatalf("second open: %q %v, want %q", again, err, id)
	}
	if n := counted.n.Load() - before; n != 0 {
		t.Fatalf("a known contact cost %d commands, want 0", n)
	}
	before = counted.n.Load()
	if found, err := st.FindConversation(ctx(), channels.ChannelSMS, "+886912345678"); err != nil || found.ID != id {
		t.Fatalf("find: %+v %v, want %q", found, err, id)
	}
	if n := counted.n.Load() - before; n != 1 {
		t.Fatalf("finding a known contact cost %d commands, want 1 (the conversation's read)", n)
	}
	other, err := st.OpenConversationID(ctx(), channels.ChannelTelegram, "+886912345678", "zh-TW")
	if err != nil || other == id {
		t.Fatalf("another channel's contact got %q (%v), the SMS conversation is %q", other, err, id)
	}

	// Redis loses the conversation (say, run without its append-only file and restarted).
	if err := c.Del(ctx(), prefix+"conv:{"+id+"}", prefix+"contact:"+contactHash(channels.ChannelSMS, "+886912345678")).Err(); err != nil {
		t.Fatal(err)
	}
	if _, err := st.FindConversation(ctx(), channels.ChannelSMS, "+886912345678"); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Fatalf("find the lost conversation: %v, want ENOTFOUND", err)
	}
	in := channels.Inbound{Channel: channels.ChannelSMS, Contact: "+886912345678", Text: "hello"}
	if _, _, err := st.AppendInbound(ctx(), id, in); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Fatalf("append to the lost conversation: %v, want ENOTFOUND", err)
	}
	fresh, err := st.OpenConversationID(ctx(), channels.ChannelSMS, "+886912345678", "zh-TW")
	if err != nil || fresh == id {
		t.Fatalf("after the loss: %q %v, want a new conversation", fresh, err)
	}
	if _, _, err := st.AppendInbound(ctx(), fresh, in); err != nil {
		t.Fatal(err)
	}
}

// contactHash is the hashed part of a contact's key (the package comment's contact:<sha256>).
func contactHash(channel, contact string) string {
	h := sha256.Sum256([]byte(channel + "\n" + contact))
	return hex.EncodeToString(h[:])
}

// LockHeadOfLine grants the conversation's delivery lock and reads, in one command, the conversation
// (all but its state), its pending delivery with the lowest seq and that delivery's message; once
// that delivery is sent the next one is the head, and with none pending the delivery is nil. The
// delivery lock is not the turn lock: a held turn lock does not hold it up, a held delivery lock does.
func TestLockHeadOfLine(t *testing.T) {
	c, prefix, counted, st := countedStore(t)
	lk, err := redisstore.NewLocker(c, redisstore.LockerConfig{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	headOf := func(conversation string) (*channels.Conversation, *channels.Delivery, error) {
		t.Helper()
		held, unlock, conv, head, err := lk.LockHeadOfLine(ctx(), conversation)
		if err != nil {
			return nil, nil, err
		}
		if held.Err() != nil {
			t.Fatal("granted with a cancelled context")
		}
		unlock()
		return conv, head, nil
	}

	conv, _, err := st.OpenConversation(ctx(), channels.ChannelSMS, "+886911222333", "zh-TW")
	if err != nil {
		t.Fatal(err)
	}
	if got, head, err := headOf(conv.ID); err != nil || head != nil || got == nil || got.ID != conv.ID {
		t.Fatalf("nothing pending: %+v %+v %v", got, head, err)
	}
	in, _, err := st.AppendInbound(ctx(), conv.ID, channels.Inbound{Channel: channels.ChannelSMS, Contact: "+886911222333", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	replies, err := st.CommitTurn(ctx(), channels.Turn{Conversation: conv.ID, InboundSeq: in.Seq, Deliver: true,
		State: []byte(`{"v":1}`), Replies: []channels.Message{{From: channels.FromBot, Text: "第一則"}, {From: channels.FromBot, Text: "第二則"}}})
	if err != nil {
		t.Fatal(err)
	}

	// The turn lock held (a turn running) does not hold up the delivery lock.
	_, _, unlockTurn, err := lk.Lock(ctx(), conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	before := counted.n.Load()
	wait, cancel := context.WithTimeout(ctx(), 5*time.Second)
	defer cancel()
	held, unlock, got, head, err := lk.LockHeadOfLine(wait, conv.ID)
	if err != nil {
		t.Fatalf("with the turn lock held: %v", err)
	}
	if n := counted.n.Load() - before; n != 1 {
		t.Fatalf("%d commands, want 1", n)
	}
	unlockTurn()
	all, err := st.Deliveries(ctx(), conv.ID)
	if err != nil || len(all) != 2 {
		t.Fatalf("deliveries %+v %v", all, err)
	}
	want := all[0]
	stored, err := st.Conversation(ctx(), conv.ID)
	if err != nil || string(stored.State) != `{"v":1}` {
		t.Fatalf("the stored conversation %+v %v", stored, err)
	}
	stored.State = nil // left out: a send does not need it
	if got == nil || !reflect.DeepEqual(*got, *stored) {
		t.Fatalf("conversation %+v, want %+v without its state", got, stored)
	}
	if head == nil ||
		head.Seq != replies[0].Seq || head.Seq != want.Seq || head.Channel != want.Channel || head.Status != channels.DeliveryPending ||
		head.PartsSent != want.PartsSent || head.Attempts != want.Attempts || !head.NextAt.Equal(want.NextAt) ||
		!head.Created.Equal(want.Created) || head.Message == nil || head.Message.Text != "第一則" || head.Message.Seq != head.Seq ||
		head.Message.Conversation != conv.ID || head.Message.Direction != channels.DirOut {
		t.Fatalf("head %+v (message %+v) of %+v, want the first reply's delivery %+v", head, head.Message, got, want)
	}

	// Held: a second grant waits until the first is released.
	second := make(chan error, 1)
	go func() {
		_, un, _, _, err := lk.LockHeadOfLine(ctx(), conv.ID)
		if err == nil {
			un()
		}
		second <- err
	}()
	select {
	case err := <-second:
		t.Fatalf("granted while held (%v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	if held.Err() != nil {
		t.Fatal("the held lock's context ended")
	}
	unlock()
	if err := <-second; err != nil {
		t.Fatalf("after release: %v", err)
	}

	if err := st.DeliveryPartSent(ctx(), conv.ID, head.Seq, 0, "SM1", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, head, err = headOf(conv.ID); err != nil || head == nil || head.Seq != replies[1].Seq || head.Message.Text != "第二則" {
		t.Fatalf("after the first was sent: %+v %v, want the second reply", head, err)
	}
	if err := st.DeliveryPartSent(ctx(), conv.ID, head.Seq, 0, "SM2", true, time.Now()); err != nil {
		t.Fatal(err)
	}
	if _, head, err = headOf(conv.ID); err != nil || head != nil {
		t.Fatalf("all sent: %+v %v, want none", head, err)
	}
	if got, head, err := headOf("no-such-conversation"); err != nil || got != nil || head != nil {
		t.Fatalf("unknown conversation: %+v %+v %v, want nothing and no error", got, head, err)
	}
}

// DueConversations is DueDeliveries' conversations, in its order and with its limit, in one command:
// a head due later (a retry) holds its conversation back, and a conversation with nothing pending is
// not there.
func TestDueConversations(t *testing.T) {
	_, _, counted, st := countedStore(t)
	now := time.Now()
	var ids []string
	for i, ago := range []time.Duration{2 * time.Minute, 3 * time.Minute, time.Minute, 4 * time.Minute} {
		conv, _, err := st.OpenConversation(ctx(), channels.ChannelSMS, "+88691100000"+string(rune('0'+i)), "zh-TW")
		if err != nil {
			t.Fatal(err)
		}
		in, _, err := st.AppendInbound(ctx(), conv.ID, channels.Inbound{Channel: channels.ChannelSMS, Contact: conv.Contact, Text: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CommitTurn(ctx(), channels.Turn{Conversation: conv.ID, InboundSeq: in.Seq, Deliver: true, At: now.Add(-ago),
			Replies: []channels.Message{{From: channels.FromBot, Text: "r"}}}); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, conv.ID)
	}
	// The third is retried in an hour; the fourth has nothing pending any more.
	if err := st.DeliveryRetry(ctx(), ids[2], 2, now.Add(time.Hour), "429", now); err != nil {
		t.Fatal(err)
	}
	if err := st.DeliveryPartSent(ctx(), ids[3], 2, 0, "SM1", true, now); err != nil {
		t.Fatal(err)
	}
	conversations := func(ds []channels.Delivery) (out []string) {
		for _, d := range ds {
			out = append(out, d.Conversation)
		}
		return out
	}
	for _, limit := range []int{1, 2, 10} {
		heads, err := st.DueDeliveries(ctx(), now, limit)
		if err != nil {
			t.Fatal(err)
		}
		before := counted.n.Load()
		got, err := st.DueConversations(ctx(), now, limit)
		if err != nil {
			t.Fatal(err)
		}
		if n := counted.n.Load() - before; n != 1 {
			t.Fatalf("limit %d: %d commands, want 1", limit, n)
		}
		if want := conversations(heads); !slices.Equal(got, want) {
			t.Fatalf("limit %d: %v, want DueDeliveries' %v", limit, got, want)
		}
	}
	if got, _ := st.DueConversations(ctx(), now, 10); !slices.Equal(got, []string{ids[1], ids[0]}) {
		t.Fatalf("due now: %v, want %v (the longest waiting first)", got, []string{ids[1], ids[0]})
	}
	if got, _ := st.DueConversations(ctx(), now.Add(2*time.Hour), 10); !slices.Equal(got, []string{ids[1], ids[0], ids[2]}) {
		t.Fatalf("in two hours: %v, want the retried one last", got)
	}
	if got, err := st.DueConversations(ctx(), now.Add(-time.Hour), 10); err != nil || len(got) != 0 {
		t.Fatalf("an hour ago: %v %v, want none", got, err)
	}
}

// LockAndRead grants the lock and reads, in one command (one Lua script, one snapshot), the
// conversation as Conversation reads it and its unhandled messages in seq order; a taken lock is
// waited for as Lock waits; an unknown conversation gets the lock and no conversation.
func TestLockAndRead(t *testing.T) {
	c, prefix, counted, st := countedStore(t)
	lk, err := redisstore.NewLocker(c, redisstore.LockerConfig{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	conv, _, err := st.OpenConversation(ctx(), channels.ChannelWebchat, "visitor-2", "zh-TW")
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, text := range []string{"一", "二", "三"} {
		m, _, err := st.AppendInbound(ctx(), conv.ID, channels.Inbound{Channel: channels.ChannelWebchat, Contact: "visitor-2", Text: text, ClientID: text})
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, m.Seq)
	}
	if _, err := st.CommitTurn(ctx(), channels.Turn{Conversation: conv.ID, InboundSeq: seqs[0], State: []byte(`{"v":1}`),
		Replies: []channels.Message{{From: channels.FromBot, Text: "first answer"}}}); err != nil {
		t.Fatal(err)
	}
	// The first run of the script loads it (EVALSHA, then EVAL); an unknown conversation is granted
	// with no conversation.
	_, token0, unlock0, none, unhandled0, err := lk.LockAndRead(ctx(), "no-such-conversation")
	if err != nil || none != nil || unhandled0 != nil || token0 <= 0 {
		t.Fatalf("unknown conversation: token %d, %+v %+v %v", token0, none, unhandled0, err)
	}
	unlock0()

	before := counted.n.Load()
	held, token, unlock, got, unhandled, err := lk.LockAndRead(ctx(), conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := counted.n.Load() - before; n != 1 {
		t.Fatalf("%d commands, want 1", n)
	}
	want, err := st.Conversation(ctx(), conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if held.Err() != nil || token <= 0 || got == nil {
		t.Fatalf("token %d, conversation %+v", token, got)
	}
	if got.ID != want.ID || got.Channel != want.Channel || got.Contact != want.Contact || got.Lang != want.Lang ||
		string(got.State) != `{"v":1}` || got.LastSeq != want.LastSeq || got.Started != want.Started ||
		!got.Created.Equal(want.Created) || !got.Updated.Equal(want.Updated) {
		t.Fatalf("conversation %+v, Conversation reads %+v", got, want)
	}
	if len(unhandled) != 2 || unhandled[0].Seq != seqs[1] || unhandled[1].Seq != seqs[2] ||
		unhandled[0].Text != "二" || unhandled[1].Text != "三" || unhandled[0].Handled {
		t.Fatalf("unhandled %+v, want the messages %v and %v", unhandled, seqs[1], seqs[2])
	}

	// Taken: a second LockAndRead waits until the first is released, then gets a greater token.
	type grant struct {
		token int64
		err   error
	}
	second := make(chan grant, 1)
	go func() {
		_, tk, un, _, _, err := lk.LockAndRead(ctx(), conv.ID)
		if err == nil {
			un()
		}
		second <- grant{tk, err}
	}()
	select {
	case g := <-second:
		t.Fatalf("granted while held: %+v", g)
	case <-time.After(100 * time.Millisecond):
	}
	unlock()
	if g := <-second; g.err != nil || g.token <= token {
		t.Fatalf("after release: token %d (%v), want more than %d", g.token, g.err, token)
	}
}

// A web chat turn of the scaled-out router costs five Redis commands: the lock granted with the
// conversation read, the message committed with its turn, the message and the replies published,
// the lock released (13 before 2026-12-03 evening, with the handoff service's read, and 6 until the
// message was stored with its turn on 2026-12-04: see docs/performance.md).
func TestScaledOutTurnRoundTrips(t *testing.T) {
	c, prefix, counted, st := countedStore(t)
	bus := newBus(t, c, st, prefix, redisstore.BusConfig{Poll: time.Hour})
	lk, err := redisstore.NewLocker(c, redisstore.LockerConfig{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	r, err := channels.NewRouter(channels.RouterConfig{Store: st, Dialog: newTracer(0), Bus: bus, Locker: lk,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	other := redis.NewClient(c.Options()) // the test's own reads, not counted
	t.Cleanup(func() { other.Close() })
	watch := newStore(t, other, prefix)

	say := func(id string) {
		in := channels.Inbound{Channel: channels.ChannelWebchat, Contact: "visitor-3", ClientID: id, Text: "q" + id}
		done := make(chan error, 1)
		if err := r.Converse(ctx(), in, func(_ channels.Stored, err error) { done <- err }); err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		waitAllHandled(t, watch)
		// The bus's publisher sends the replies' publish after the commit: wait until this node
		// has sent nothing for 100 ms, so no command of this turn is counted in the next one.
		for last, quiet := counted.n.Load(), time.Now(); time.Since(quiet) < 100*time.Millisecond; {
			time.Sleep(10 * time.Millisecond)
			if n := counted.n.Load(); n != last {
				last, quiet = n, time.Now()
			}
		}
	}
	say("1") // opens the conversation, greets, loads the scripts
	say("2")
	before := counted.n.Load()
	say("3")
	if n := counted.n.Load() - before; n > 5 {
		t.Fatalf("a turn cost %d Redis commands, want at most 5", n)
	}
}

// CommitInboundFenced stores the message (handled) and its turn in one command under the lock: the
// replies follow it, with their deliveries due; an unknown conversation, a repeated client id, a last
// seq that moved and a lost lock store nothing.
func TestCommitInboundFenced(t *testing.T) {
	c, prefix, counted, st := countedStore(t)
	lk, err := redisstore.NewLocker(c, redisstore.LockerConfig{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	conv, _, err := st.OpenConversation(ctx(), channels.ChannelSMS, "+886911333444", "zh-TW")
	if err != nil {
		t.Fatal(err)
	}
	_, token, unlock, err := lk.Lock(ctx(), conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	in := channels.Inbound{Channel: channels.ChannelSMS, Contact: conv.Contact, ClientID: "sms:SM1", Text: "車禍理賠"}
	turn := channels.Turn{State: []byte(`{"v":2}`), Deliver: true,
		Replies: []channels.Message{{Text: "請問事故日期？"}, {Text: "Reply 1-2", Buttons: []channels.Button{{Label: "是", Value: "yes"}}}}}

	// An unknown conversation: nothing stored (and the script loaded, so the next call is one command).
	if _, _, _, err := st.CommitInboundFenced(ctx(), "no-such-conversation", in, 0, turn, token); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Fatalf("unknown conversation: %v", err)
	}
	before := counted.n.Load()
	msg, replies, dup, err := st.CommitInboundFenced(ctx(), conv.ID, in, 0, turn, token)
	if err != nil || dup {
		t.Fatal(dup, err)
	}
	if n := counted.n.Load() - before; n != 1 {
		t.Fatalf("%d commands, want 1", n)
	}
	stored, err := st.MessagesAfter(ctx(), conv.ID, 0, 10)
	if err != nil || len(stored) != 3 {
		t.Fatalf("stored %+v %v", stored, err)
	}
	if m := stored[0]; m.Seq != 1 || m.Text != in.Text || m.ClientID != in.ClientID || m.Direction != channels.DirIn ||
		!m.TS.Equal(msg.TS) {
		t.Fatalf("message %+v, returned %+v", m, msg)
	}
	if !stored[0].Handled || stored[0].Text != in.Text || msg.Seq != 1 || !msg.Handled {
		t.Fatalf("message stored %+v, returned %+v", stored[0], msg)
	}
	for i, r := range replies {
		s := stored[1+i]
		if r.Seq != int64(2+i) || s.Seq != r.Seq || s.Text != turn.Replies[i].Text || s.ReplyTo != 1 || s.Direction != channels.DirOut {
			t.Fatalf("reply %d: returned %+v, stored %+v", i, r, s)
		}
	}
	if !reflect.DeepEqual(stored[2].Buttons, turn.Replies[1].Buttons) {
		t.Fatalf("buttons %+v", stored[2].Buttons)
	}
	got, err := st.Conversation(ctx(), conv.ID)
	if err != nil || got.LastSeq != 3 || string(got.State) != `{"v":2}` {
		t.Fatalf("conversation %+v %v", got, err)
	}
	if un, _ := st.Unhandled(ctx()); len(un) != 0 {
		t.Fatalf("unhandled %+v", un)
	}
	ds, err := st.Deliveries(ctx(), conv.ID)
	if err != nil || len(ds) != 2 || ds[0].Seq != 2 || ds[0].Status != channels.DeliveryPending || ds[0].Channel != channels.ChannelSMS {
		t.Fatalf("deliveries %+v %v", ds, err)
	}
	if due, _ := st.DueConversations(ctx(), time.Now().Add(time.Minute), 10); !slices.Equal(due, []string{conv.ID}) {
		t.Fatalf("due %v", due)
	}

	// The same client id again, whatever the last seq: the first message, nothing stored.
	first, _, dup, err := st.CommitInboundFenced(ctx(), conv.ID, in, 7, turn, token)
	if err != nil || !dup || first.Seq != 1 || first.Text != in.Text || !first.Handled {
		t.Fatalf("repeat: %+v dup=%v %v", first, dup, err)
	}
	next := channels.Inbound{Channel: channels.ChannelSMS, Contact: conv.Contact, ClientID: "sms:SM2", Text: "2026-12-01"}
	// The turn ran after seq 1, but the replies took 2 and 3.
	if _, _, _, err := st.CommitInboundFenced(ctx(), conv.ID, next, 1, turn, token); !errors.Is(err, channels.ErrSeqMoved) {
		t.Fatalf("last seq moved: %v", err)
	}
	if _, _, _, err := st.CommitInboundFenced(ctx(), conv.ID, next, 3, turn, token+1); !errors.Is(err, channels.ErrStaleFence) {
		t.Fatalf("another token: %v", err)
	}
	if after, _ := st.MessagesAfter(ctx(), conv.ID, 0, 10); len(after) != 3 {
		t.Fatalf("a refused commit stored something: %+v", after)
	}
	// Without replies or deliveries: the message alone, handled.
	m, rs, _, err := st.CommitInboundFenced(ctx(), conv.ID, next, 3, channels.Turn{State: []byte(`{"v":3}`)}, token)
	if err != nil || m.Seq != 4 || rs != nil {
		t.Fatalf("no replies: %+v %+v %v", m, rs, err)
	}
}
