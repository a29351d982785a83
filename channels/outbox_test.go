package channels_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/channels/sqlitestore"
	"claimline/dialog"
	"claimline/internal/proccpu"
)

const push = channels.ChannelTelegram

// pushDialog greets, echoes, answers "two" with two replies and a notice with its kind and case.
type pushDialog struct {
	mu      sync.Mutex
	notices []dialog.Input
	files   [][]dialog.Attachment
}

func (d *pushDialog) Turn(ctx context.Context, state []byte, in dialog.Input) ([]byte, []dialog.Reply, error) {
	switch {
	case in.Event == dialog.EventStart:
		return state, []dialog.Reply{{Text: "歡迎"}}, nil
	case in.Event == dialog.EventNotice:
		d.mu.Lock()
		d.notices = append(d.notices, in)
		d.mu.Unlock()
		return state, []dialog.Reply{{Text: "notice:" + in.Notice.Kind + ":" + in.Notice.CaseID}}, nil
	case len(in.Attachments) > 0:
		d.mu.Lock()
		d.files = append(d.files, in.Attachments)
		d.mu.Unlock()
		return state, []dialog.Reply{{Text: fmt.Sprintf("files:%d", len(in.Attachments))}}, nil
	case in.Text == "two":
		return state, []dialog.Reply{{Text: "one of two"}, {Text: "two of two"}}, nil
	}
	return state, []dialog.Reply{{Text: "echo:" + in.Text}}, nil
}

// fakeSender stands in for a provider API: it records every call, checks that a conversation never
// has two sends in flight, and fails as its plan says.
type fakeSender struct {
	delay time.Duration
	// plan returns the error of the n-th (1-based) attempt to send text to contact; nil sends.
	plan func(contact, text string, n int) error

	mu        sync.Mutex
	attempts  map[string]int // contact|text → attempts
	sent      map[string][]string
	sentAt    map[string][]time.Time
	inflight  map[string]int
	overlap   atomic.Bool
	global    int
	maxGlobal int
	ids       atomic.Int64
}

func newFakeSender() *fakeSender {
	return &fakeSender{attempts: map[string]int{}, sent: map[string][]string{}, sentAt: map[string][]time.Time{}, inflight: map[string]int{}}
}

func (s *fakeSender) Send(ctx context.Context, conv *channels.Conversation, msg channels.Message) (string, error) {
	s.mu.Lock()
	s.inflight[conv.ID]++
	if s.inflight[conv.ID] > 1 {
		s.overlap.Store(true)
	}
	s.global++
	s.maxGlobal = max(s.maxGlobal, s.global)
	key := conv.Contact + "|" + msg.Text
	s.attempts[key]++
	n := s.attempts[key]
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight[conv.ID]--
		s.global--
		s.mu.Unlock()
	}()
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if s.plan != nil {
		if err := s.plan(conv.Contact, msg.Text, n); err != nil {
			return "", err
		}
	}
	s.mu.Lock()
	s.sent[conv.Contact] = append(s.sent[conv.Contact], msg.Text)
	s.sentAt[conv.Contact] = append(s.sentAt[conv.Contact], time.Now())
	s.mu.Unlock()
	return fmt.Sprintf("SM%06d", s.ids.Add(1)), nil
}

func (s *fakeSender) texts(contact string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.sent[contact])
}

func (s *fakeSender) tries(contact, text string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.attempts[contact+"|"+text]
}

type pushFixture struct {
	store  *sqlitestore.Store
	router *channels.Router
	dialog *pushDialog
	reg    *prometheus.Registry
}

func newPushFixture(t *testing.T, path string, d *pushDialog, s channels.Sender, caps channels.Capabilities, cfg channels.DeliveryConfig, start bool) *pushFixture {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "c.db")
	}
	st, err := sqlitestore.New(path)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	r, err := channels.NewRouter(channels.RouterConfig{
		Store: st, Dialog: d, Metrics: channels.NewMetrics(reg), Delivery: cfg,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if s != nil {
		r.RegisterSender(push, s, caps)
	}
	if _, err := r.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if start {
		if err := r.StartDelivery(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		r.Close(context.Background())
		st.Close()
	})
	return &pushFixture{store: st, router: r, dialog: d, reg: reg}
}

func (f *pushFixture) metric(name string, labels ...string) float64 {
	fams, _ := f.reg.Gather()
	for _, fam := range fams {
		if fam.GetName() != name {
			continue
		}
		total := 0.0
	metrics:
		for _, m := range fam.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				ok := false
				for _, lp := range m.GetLabel() {
					ok = ok || (lp.GetName() == labels[i] && lp.GetValue() == labels[i+1])
				}
				if !ok {
					continue metrics
				}
			}
			total += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
		return total
	}
	return 0
}

// say stores a customer message on the push channel and waits for its turn.
func (f *pushFixture) say(t *testing.T, contact, id, text string) *channels.Conversation {
	t.Helper()
	conv, _, err := f.router.ProcessSync(context.Background(), channels.Inbound{Channel: push, Contact: contact, ClientID: id, Text: text})
	if err != nil {
		t.Fatal(err)
	}
	return conv
}

// drained waits until no delivery is pending (a send is recorded just after the provider answered).
func (f *pushFixture) drained(t *testing.T) {
	t.Helper()
	eventually(t, "outbox drained", func() bool {
		n, err := f.store.OutboxDepth(context.Background())
		return err == nil && n == 0
	})
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOutboxRateLimitDelaysOnlyThatConversation(t *testing.T) {
	s := newFakeSender()
	var limitedAt atomic.Int64
	s.plan = func(contact, text string, n int) error {
		if contact == "chat-a" && text == "歡迎" && n == 1 {
			limitedAt.Store(time.Now().UnixNano())
			return &channels.DeliveryError{Retry: true, After: 200 * time.Millisecond, Code: "429"}
		}
		return nil
	}
	f := newPushFixture(t, "", &pushDialog{}, s, channels.Capabilities{Buttons: true}, channels.DeliveryConfig{Workers: 4}, true)
	f.say(t, "chat-a", "1", "a1")
	f.say(t, "chat-b", "1", "b1")
	f.say(t, "chat-a", "2", "a2")
	f.say(t, "chat-b", "2", "b2")

	// B flows while A waits out its retry_after.
	eventually(t, "b delivered", func() bool { return len(s.texts("chat-b")) == 3 })
	if got := s.texts("chat-a"); len(got) != 0 && time.Since(time.Unix(0, limitedAt.Load())) < 200*time.Millisecond {
		t.Fatalf("a sent before its retry_after: %v", got)
	}
	eventually(t, "a delivered", func() bool { return len(s.texts("chat-a")) == 3 })
	if got := strings.Join(s.texts("chat-a"), "|"); got != "歡迎|echo:a1|echo:a2" {
		t.Fatalf("a order: %s", got)
	}
	if got := strings.Join(s.texts("chat-b"), "|"); got != "歡迎|echo:b1|echo:b2" {
		t.Fatalf("b order: %s", got)
	}
	s.mu.Lock()
	firstA := s.sentAt["chat-a"][0]
	s.mu.Unlock()
	if wait := firstA.Sub(time.Unix(0, limitedAt.Load())); wait < 200*time.Millisecond {
		t.Fatalf("retry_after not honoured: resent after %v", wait)
	}
	if s.overlap.Load() {
		t.Fatal("two sends in flight for one conversation")
	}
	if got := f.metric("claimline_deliveries_total", "result", "retried"); got != 1 {
		t.Fatalf("retried metric %v", got)
	}
	eventually(t, "sent metric", func() bool { return f.metric("claimline_deliveries_total", "result", "sent") == 6 })
	eventually(t, "outbox empty", func() bool { return f.metric("claimline_outbox_depth") == 0 })
}

func TestOutboxPermanentFailureNoRetry(t *testing.T) {
	s := newFakeSender()
	s.plan = func(contact, text string, n int) error {
		if text == "echo:blocked" {
			return &channels.DeliveryError{Permanent: true, Code: "403", Err: errors.New("Forbidden: bot was blocked by the user +886912345678")}
		}
		return nil
	}
	f := newPushFixture(t, "", &pushDialog{}, s, channels.Capabilities{}, channels.DeliveryConfig{BaseBackoff: 10 * time.Millisecond}, true)
	conv := f.say(t, "chat-p", "1", "blocked")
	f.say(t, "chat-p", "2", "after")
	eventually(t, "later message still goes", func() bool { return len(s.texts("chat-p")) == 2 })
	time.Sleep(100 * time.Millisecond)
	if n := s.tries("chat-p", "echo:blocked"); n != 1 {
		t.Fatalf("permanent failure tried %d times", n)
	}
	f.drained(t)
	ds, err := f.router.Deliveries(context.Background(), conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, d := range ds {
		states = append(states, fmt.Sprintf("%d:%s:%s", d.Seq, d.Status, d.LastError))
	}
	if got := strings.Join(states, " "); got != "1:sent: 3:failed:403 5:sent:" {
		t.Fatalf("deliveries: %s", got)
	}
	eventually(t, "failed metric", func() bool { return f.metric("claimline_deliveries_total", "result", "failed") == 1 })
}

func TestOutboxUnclassifiedErrorsBackOffThenGiveUp(t *testing.T) {
	s := newFakeSender()
	s.plan = func(contact, text string, n int) error {
		if text == "echo:flaky" && n < 3 {
			return errors.New("connection reset")
		}
		if text == "echo:down" {
			return errors.New("503 from +886912345678")
		}
		return nil
	}
	f := newPushFixture(t, "", &pushDialog{}, s, channels.Capabilities{}, channels.DeliveryConfig{BaseBackoff: 20 * time.Millisecond, MaxAttempts: 4}, true)
	conv := f.say(t, "chat-f", "1", "flaky")
	f.say(t, "chat-f", "2", "down")
	f.say(t, "chat-f", "3", "last")
	eventually(t, "flaky delivered, down given up, last delivered", func() bool {
		return strings.Join(s.texts("chat-f"), "|") == "歡迎|echo:flaky|echo:last"
	})
	if n := s.tries("chat-f", "echo:flaky"); n != 3 {
		t.Fatalf("flaky tried %d times", n)
	}
	if n := s.tries("chat-f", "echo:down"); n != 4 {
		t.Fatalf("down tried %d times, want MaxAttempts 4", n)
	}
	ds, _ := f.router.Deliveries(context.Background(), conv.ID)
	for _, d := range ds {
		if d.Seq == 5 && (d.Status != channels.DeliveryFailed || d.Attempts != 4 || d.LastError != "*errors.errorString") {
			t.Fatalf("down delivery: %+v", d)
		}
		if d.Seq == 3 && (d.Status != channels.DeliverySent || d.Attempts != 2) {
			t.Fatalf("flaky delivery: %+v", d)
		}
	}
}

func TestOutboxResumesAfterRestartAndNeverResendsSent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	ctx := context.Background()
	d := &pushDialog{}

	// First run: the sender is registered (so deliveries are written) but the loop never started,
	// like a crash right after the commits. One conversation's messages did go out before.
	first := newFakeSender()
	f1 := newPushFixture(t, path, d, first, channels.Capabilities{}, channels.DeliveryConfig{}, true)
	f1.say(t, "chat-x", "1", "x1")
	eventually(t, "x sent", func() bool { return len(first.texts("chat-x")) == 2 })
	f1.router.Close(ctx)
	f1.store.Close()

	f2 := newPushFixture(t, path, d, first, channels.Capabilities{}, channels.DeliveryConfig{}, false)
	f2.say(t, "chat-y", "1", "y1")
	f2.say(t, "chat-y", "2", "two")
	if depth, _ := f2.store.OutboxDepth(ctx); depth != 4 {
		t.Fatalf("pending before restart: %d", depth)
	}
	f2.router.Close(ctx)
	f2.store.Close()

	second := newFakeSender()
	f3 := newPushFixture(t, path, d, second, channels.Capabilities{}, channels.DeliveryConfig{}, true)
	eventually(t, "pending resumed", func() bool { return len(second.texts("chat-y")) == 4 })
	if got := strings.Join(second.texts("chat-y"), "|"); got != "歡迎|echo:y1|one of two|two of two" {
		t.Fatalf("resumed in order: %s", got)
	}
	time.Sleep(100 * time.Millisecond)
	if got := second.texts("chat-x"); len(got) != 0 {
		t.Fatalf("sent messages sent again: %v", got)
	}
	f3.drained(t)
}

func TestOutboxOneInFlightPerConversationInOrder(t *testing.T) {
	s := newFakeSender()
	s.delay = 15 * time.Millisecond
	f := newPushFixture(t, "", &pushDialog{}, s, channels.Capabilities{}, channels.DeliveryConfig{Workers: 4}, true)
	const convs, msgs = 6, 4
	var wg sync.WaitGroup
	for c := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range msgs {
				// Receive, not ProcessSync: a burst queued faster than the sends.
				if _, _, err := f.router.Receive(context.Background(), channels.Inbound{
					Channel: push, Contact: fmt.Sprint("chat-", c), ClientID: fmt.Sprint(i), Text: fmt.Sprint("m", i)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for c := range convs {
		contact := fmt.Sprint("chat-", c)
		eventually(t, "all sent", func() bool { return len(s.texts(contact)) == msgs+1 })
		want := []string{"歡迎"}
		for i := range msgs {
			want = append(want, fmt.Sprint("echo:m", i))
		}
		if got := s.texts(contact); !slices.Equal(got, want) {
			t.Fatalf("%s got %v", contact, got)
		}
	}
	if s.overlap.Load() {
		t.Fatal("two sends in flight for one conversation")
	}
	s.mu.Lock()
	maxGlobal := s.maxGlobal
	s.mu.Unlock()
	if maxGlobal < 2 || maxGlobal > 4 {
		t.Fatalf("concurrent sends %d, want 2..4 (the pool)", maxGlobal)
	}
}

func TestOutboxRendersPartsAndTracksStatusForwardOnly(t *testing.T) {
	s := newFakeSender()
	s.plan = func(contact, text string, n int) error {
		// The second part fails once: only it is sent again.
		if strings.HasPrefix(text, "bbbb") && n == 1 {
			return &channels.DeliveryError{Retry: true, After: 10 * time.Millisecond, Code: "503"}
		}
		return nil
	}
	f := newPushFixture(t, "", &pushDialog{}, s, channels.Capabilities{MaxText: 10}, channels.DeliveryConfig{}, true)
	conv := f.say(t, "chat-r", "1", strings.Repeat("a", 4)+"\n"+strings.Repeat("b", 8))
	eventually(t, "parts", func() bool { return len(s.texts("chat-r")) == 3 })
	if got := strings.Join(s.texts("chat-r"), "|"); got != "歡迎|echo:aaaa|bbbbbbbb" {
		t.Fatalf("parts: %s", got)
	}
	if n := s.tries("chat-r", "echo:aaaa"); n != 1 {
		t.Fatalf("first part sent %d times", n)
	}
	ctx := context.Background()
	f.drained(t)
	ds, _ := f.router.Deliveries(ctx, conv.ID)
	if len(ds) != 2 || len(ds[1].Receipts) != 2 || ds[1].Status != channels.DeliverySent || ds[1].PartsSent != 2 {
		t.Fatalf("deliveries %+v", ds)
	}
	id := ds[1].Receipts[1].ProviderID
	for _, st := range []string{"delivered", "sent", "queued", "failed"} {
		if err := f.router.MarkDeliveryStatus(ctx, id, st); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.router.MarkDeliveryStatus(ctx, id, "exploded"); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Fatalf("unknown status: %v", err)
	}
	if err := f.router.MarkDeliveryStatus(ctx, "SMnope", "sent"); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Fatalf("unknown id: %v", err)
	}
	ds, _ = f.router.Deliveries(ctx, conv.ID)
	if got := ds[1].Receipts[1].Status; got != "delivered" {
		t.Fatalf("status moved backwards or out of a terminal state: %s", got)
	}
	other := ds[1].Receipts[0].ProviderID
	f.router.MarkDeliveryStatus(ctx, other, "sending") // backwards from sent: ignored
	f.router.MarkDeliveryStatus(ctx, other, "undelivered")
	ds, _ = f.router.Deliveries(ctx, conv.ID)
	if got := ds[1].Receipts[0].Status; got != "undelivered" {
		t.Fatalf("receipt 0: %s", got)
	}
}

func TestPullChannelsGetNoDeliveries(t *testing.T) {
	s := newFakeSender()
	f := newPushFixture(t, "", &pushDialog{}, s, channels.Capabilities{}, channels.DeliveryConfig{}, true)
	conv, _, err := f.router.ProcessSync(context.Background(), channels.Inbound{Channel: channels.ChannelREST, Contact: "app-1", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if ds, _ := f.router.Deliveries(context.Background(), conv.ID); len(ds) != 0 {
		t.Fatalf("pull channel got deliveries: %+v", ds)
	}
}

// outboxReads counts the outbox's reads of a real store; with alter it changes the deliveries'
// messages that DueDeliveries read along.
type outboxReads struct {
	channels.Store
	due, depth, messages atomic.Int64
	alter                func(*channels.Delivery)
}

func (c *outboxReads) DueDeliveries(ctx context.Context, now time.Time, limit int) ([]channels.Delivery, error) {
	c.due.Add(1)
	due, err := c.Store.DueDeliveries(ctx, now, limit)
	if c.alter != nil {
		for i := range due {
			c.alter(&due[i])
		}
	}
	return due, err
}

// The outbox sends the message the store read with its delivery and reads nothing back; when the
// store did not read it (a store that leaves Message nil) or gave one of another delivery, it reads
// the message itself, and every text still goes out once, in order.
func TestOutboxSendsTheMessageReadWithItsDelivery(t *testing.T) {
	for _, tc := range []struct {
		name      string
		alter     func(*channels.Delivery)
		readsBack bool
	}{
		{"read along", nil, false},
		{"not read along", func(d *channels.Delivery) { d.Message = nil }, true},
		{"another delivery's", func(d *channels.Delivery) {
			if d.Message != nil {
				m := *d.Message
				m.Seq, m.Text = m.Seq+100, "WRONG"
				d.Message = &m
			}
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st, err := sqlitestore.New(filepath.Join(t.TempDir(), "c.db"))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			cs := &outboxReads{Store: st, alter: tc.alter}
			r, err := channels.NewRouter(channels.RouterConfig{Store: cs, Dialog: &pushDialog{},
				Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
				Delivery: channels.DeliveryConfig{PollInterval: 10 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close(ctx)
			var mu sync.Mutex
			var sent []string
			r.RegisterSender(push, senderFunc(func(_ context.Context, _ *channels.Conversation, m channels.Message) (string, error) {
				mu.Lock()
				defer mu.Unlock()
				sent = append(sent, m.Text)
				return fmt.Sprint("P", len(sent)), nil
			}), channels.Capabilities{Buttons: true})
			for i := range 3 {
				if _, _, err := r.ProcessSync(ctx, channels.Inbound{Channel: push, Contact: "c", ClientID: fmt.Sprint(i), Text: "two"}); err != nil {
					t.Fatal(err)
				}
			}
			before := cs.messages.Load()
			if err := r.StartDelivery(); err != nil {
				t.Fatal(err)
			}
			eventually(t, "outbox drained", func() bool {
				n, err := st.OutboxDepth(ctx)
				return err == nil && n == 0
			})
			mu.Lock()
			got := strings.Join(sent, "|")
			mu.Unlock()
			want := "歡迎" + strings.Repeat("|one of two|two of two", 3)
			if got != want {
				t.Fatalf("sent %q, want %q", got, want)
			}
			if reads := cs.messages.Load() - before; tc.readsBack != (reads == 7) || !tc.readsBack && reads != 0 {
				t.Fatalf("%d messages read back for 7 deliveries (read back: %v)", reads, tc.readsBack)
			}
		})
	}
}

func (c *outboxReads) OutboxDepth(ctx context.Context) (int, error) {
	c.depth.Add(1)
	return c.Store.OutboxDepth(ctx)
}

func (c *outboxReads) MessagesAfter(ctx context.Context, conversation string, afterSeq int64, limit int) ([]channels.Message, error) {
	c.messages.Add(1)
	return c.Store.MessagesAfter(ctx, conversation, afterSeq, limit)
}

// BenchmarkOutboxDrain sends b.N pending deliveries of 200 conversations (two replies per turn)
// through a sender that answers at once, on a real store: the delivery loop's own cost per
// delivery (reads, marks, dispatch), in CPU and in store reads.
func BenchmarkOutboxDrain(b *testing.B) {
	ctx := context.Background()
	st, err := sqlitestore.New(filepath.Join(b.TempDir(), "c.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	cs := &outboxReads{Store: st}
	r, err := channels.NewRouter(channels.RouterConfig{Store: cs, Dialog: &pushDialog{},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close(ctx)
	var sent atomic.Int64
	r.RegisterSender(push, senderFunc(func(context.Context, *channels.Conversation, channels.Message) (string, error) {
		return fmt.Sprintf("P%d", sent.Add(1)), nil
	}), channels.Capabilities{Buttons: true})
	const convs = 200
	var wg sync.WaitGroup
	for c := range convs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// the greeting, then two replies per message, until this conversation has its share
			for i := 1; i < b.N/convs+1; i += 2 {
				if _, _, err := r.ProcessSync(ctx, channels.Inbound{Channel: push, Contact: fmt.Sprint("c", c),
					ClientID: fmt.Sprint(i), Text: "two"}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	want, err := st.OutboxDepth(ctx)
	if err != nil {
		b.Fatal(err)
	}
	due0, depth0, msgs0 := cs.due.Load(), cs.depth.Load(), cs.messages.Load()
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	if err := r.StartDelivery(); err != nil {
		b.Fatal(err)
	}
	for sent.Load() < int64(want) {
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	n := float64(want)
	b.ReportMetric(float64(cpuTime()-cpu0)/n, "cpu-ns/delivery")
	b.ReportMetric(float64(cs.due.Load()-due0)/n, "due-reads/delivery")
	b.ReportMetric(float64(cs.depth.Load()-depth0)/n, "depth-reads/delivery")
	b.ReportMetric(float64(cs.messages.Load()-msgs0)/n, "message-reads/delivery")
}

type senderFunc func(ctx context.Context, conv *channels.Conversation, msg channels.Message) (string, error)

func (f senderFunc) Send(ctx context.Context, conv *channels.Conversation, msg channels.Message) (string, error) {
	return f(ctx, conv, msg)
}

// cpuTime is the process's CPU time (user + system): on a shared machine it moves far less than
// wall-clock time. 0 where it cannot be read.
func cpuTime() time.Duration {
	d, _ := proccpu.Used()
	return d
}
