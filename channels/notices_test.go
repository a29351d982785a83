package channels_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/dialog"
)

// fakeNotices is the case service's notice outbox as the relay sees it (its interface, not our storage).
type fakeNotices struct {
	mu        sync.Mutex
	notices   []casesvc.Notice
	delivered map[int64]int
}

func (n *fakeNotices) PendingNotices(ctx context.Context, limit int) ([]casesvc.Notice, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []casesvc.Notice
	for _, nt := range n.notices {
		if n.delivered[nt.ID] == 0 && len(out) < limit {
			out = append(out, nt)
		}
	}
	return out, nil
}

func (n *fakeNotices) MarkNoticeDelivered(ctx context.Context, id int64) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delivered[id]++
	return nil
}

// Interface guards
var (
	_ channels.Notices = (*fakeNotices)(nil)
	_ channels.Notices = (casesvc.Service)(nil)
)

func TestNoticeRelayStoresOnceAndRepliesGoOut(t *testing.T) {
	ctx := context.Background()
	s := newFakeSender()
	d := &pushDialog{}
	f := newPushFixture(t, "", d, s, channels.Capabilities{}, channels.DeliveryConfig{}, true)
	tg := f.say(t, "chat-n", "1", "hello")
	web, _, err := f.router.ProcessSync(ctx, channels.Inbound{Channel: channels.ChannelREST, Contact: "app-n", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeNotices{delivered: map[int64]int{}, notices: []casesvc.Notice{
		{ID: 7, CaseID: "CLM-20260101-000007", Conversation: tg.ID, Channel: push, Kind: casesvc.NoticeApproved,
			Data: map[string]any{"amount": 40000.0, "method": "transfer", "expected_payment_by": "2026-01-20"}, CreatedAt: time.Now()},
		{ID: 8, CaseID: "CLM-20260101-000008", Conversation: web.ID, Channel: channels.ChannelREST, Kind: casesvc.NoticePaid},
		{ID: 9, CaseID: "CLM-20260101-000009", Conversation: "gone", Channel: push, Kind: casesvc.NoticeRejected},
	}}
	relay1, err := channels.NewNoticeRelay(channels.NoticeRelayConfig{Router: f.router, Notices: src})
	if err != nil {
		t.Fatal(err)
	}
	relay2, _ := channels.NewNoticeRelay(channels.NoticeRelayConfig{Router: f.router, Notices: src})

	// Two relays (two gateway processes) at once, and each twice.
	var wg sync.WaitGroup
	for _, r := range []*channels.NoticeRelay{relay1, relay2, relay1, relay2} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := r.RelayOnce(ctx); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	waitHandled(t, f.store, tg.ID)
	waitHandled(t, f.store, web.ID)

	// The Telegram conversation: one event, one turn with the notice, its reply pushed out.
	msgs := all(t, f.store, tg.ID)
	var events []channels.Message
	for _, m := range msgs {
		if m.Direction == channels.DirEvent {
			events = append(events, m)
		}
	}
	if len(events) != 1 || events[0].ClientID != "notice:7" || events[0].From != channels.FromSystem ||
		events[0].Notice == nil || events[0].Notice.Kind != casesvc.NoticeApproved || events[0].Notice.Data["amount"] != 40000.0 {
		t.Fatalf("events %+v", events)
	}
	d.mu.Lock()
	var kinds []string
	for _, in := range d.notices {
		if in.Event != dialog.EventNotice || in.Seq == 0 {
			t.Errorf("dialog input %+v", in)
		}
		kinds = append(kinds, in.Notice.Kind+":"+in.Channel)
	}
	d.mu.Unlock()
	slices.Sort(kinds)
	if got := strings.Join(kinds, " "); got != "approved:telegram paid:rest" {
		t.Fatalf("dialog saw notices %s", got)
	}
	eventually(t, "notice pushed", func() bool {
		return strings.Join(s.texts("chat-n"), "|") == "歡迎|echo:hello|notice:approved:CLM-20260101-000007"
	})
	// The REST app fetches it later, like any reply; the event itself is not a customer message.
	last := all(t, f.store, web.ID)
	if got := last[len(last)-1]; got.Direction != channels.DirOut || got.Text != "notice:paid:CLM-20260101-000008" {
		t.Fatalf("rest transcript ends with %+v", got)
	}
	if got := f.metric("claimline_messages_in_total"); got != 2 {
		t.Fatalf("customer messages counted %v (events must not count)", got)
	}
	if got := f.metric("claimline_notices_relayed_total"); got != 2 {
		t.Fatalf("notices relayed %v", got)
	}
	// Every notice marked delivered, the one without a conversation too; nothing pending.
	src.mu.Lock()
	for _, id := range []int64{7, 8, 9} {
		if src.delivered[id] == 0 {
			t.Errorf("notice %d not marked delivered", id)
		}
	}
	src.mu.Unlock()
	if n, err := relay1.RelayOnce(ctx); n != 0 || err != nil {
		t.Fatalf("second pass: %d %v", n, err)
	}

	// A crash between storing and marking: the same notice relayed again is stored once.
	src.mu.Lock()
	src.delivered[7] = 0
	src.mu.Unlock()
	if _, err := relay1.RelayOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := len(all(t, f.store, tg.ID)); got != len(msgs) {
		t.Fatalf("re-relay stored again: %d → %d messages", len(msgs), got)
	}
}

func TestNoticeRelayRunAndPoke(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := newPushFixture(t, "", &pushDialog{}, nil, channels.Capabilities{}, channels.DeliveryConfig{}, false)
	conv, _, err := f.router.ProcessSync(ctx, channels.Inbound{Channel: channels.ChannelREST, Contact: "app-r", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	src := &fakeNotices{delivered: map[int64]int{}}
	relay, _ := channels.NewNoticeRelay(channels.NoticeRelayConfig{Router: f.router, Notices: src, Interval: time.Hour})
	done := make(chan struct{})
	go func() { relay.Run(ctx); close(done) }()
	time.Sleep(20 * time.Millisecond)
	src.mu.Lock()
	src.notices = append(src.notices, casesvc.Notice{ID: 1, CaseID: "CLM-20260101-000001", Conversation: conv.ID, Kind: casesvc.NoticeDocumentsComplete})
	src.mu.Unlock()
	relay.Poke()
	eventually(t, "poked relay stored the notice", func() bool {
		src.mu.Lock()
		defer src.mu.Unlock()
		return src.delivered[1] == 1
	})
	cancel()
	<-done
}

func TestCustomerCannotUseNoticeIDs(t *testing.T) {
	f := newPushFixture(t, "", &pushDialog{}, nil, channels.Capabilities{}, channels.DeliveryConfig{}, false)
	_, _, err := f.router.Receive(context.Background(), channels.Inbound{Channel: channels.ChannelREST, Contact: "x", ClientID: "notice:1", Text: "hi"})
	if casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Fatalf("reserved id accepted: %v", err)
	}
	_, _, err = f.router.ReceiveInto(context.Background(), "nope", channels.Inbound{Text: "hi"})
	if casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Fatalf("unknown conversation: %v", err)
	}
}
