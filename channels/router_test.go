package channels_test

import (
	"context"
	"errors"
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

	"github.com/prometheus/client_golang/prometheus"

	"claimline/channels"
	"claimline/channels/sqlitestore"
	"claimline/dialog"
)

// script is a tiny dialog: it greets, echoes, counts turns in its state, fails on "boom", panics on
// "panic", and records per conversation the seqs it saw and whether two turns ever overlapped.
type script struct {
	delay time.Duration

	mu       sync.Mutex
	seen     map[string][]int64
	inflight map[string]int
	overlap  atomic.Bool
}

func newScript() *script {
	return &script{seen: map[string][]int64{}, inflight: map[string]int{}}
}

func (s *script) Turn(ctx context.Context, state []byte, in dialog.Input) ([]byte, []dialog.Reply, error) {
	s.mu.Lock()
	s.inflight[in.Conversation]++
	if s.inflight[in.Conversation] > 1 {
		s.overlap.Store(true)
	}
	s.seen[in.Conversation] = append(s.seen[in.Conversation], in.Seq)
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.inflight[in.Conversation]--
		s.mu.Unlock()
	}()
	time.Sleep(s.delay)

	n, _ := strconv.Atoi(string(state))
	n++
	next := []byte(strconv.Itoa(n))
	switch {
	case in.Event == dialog.EventStart:
		return next, []dialog.Reply{{Text: "歡迎", Buttons: []dialog.Button{{Label: "申請理賠", Value: "file_claim"}}}}, nil
	case in.Text == "boom":
		return nil, nil, errors.New("engine exploded with text boom")
	case in.Text == "panic":
		panic("boom")
	case in.Action != "":
		return next, []dialog.Reply{{Text: "action:" + in.Action}}, nil
	case in.Text == "two":
		return next, []dialog.Reply{{Text: "one of two"}, {Text: "two of two"}}, nil
	}
	return next, []dialog.Reply{{Text: "echo:" + in.Text}}, nil
}

func (s *script) seqs(conv string) []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int64(nil), s.seen[conv]...)
}

type fixture struct {
	store   *sqlitestore.Store
	router  *channels.Router
	dialog  *script
	metrics *channels.Metrics
	reg     *prometheus.Registry
}

func newFixture(t *testing.T, path string, d *script) *fixture {
	t.Helper()
	if path == "" {
		path = filepath.Join(t.TempDir(), "c.db")
	}
	st, err := sqlitestore.New(path)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m := channels.NewMetrics(reg)
	r, err := channels.NewRouter(channels.RouterConfig{
		Store: st, Dialog: d, Metrics: m, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close(context.Background())
		st.Close()
	})
	return &fixture{store: st, router: r, dialog: d, metrics: m, reg: reg}
}

// waitHandled polls the store until the conversation has no unhandled inbound message.
func waitHandled(t *testing.T, st channels.Store, conv string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		un, err := st.Unhandled(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		busy := false
		for _, m := range un {
			busy = busy || m.Conversation == conv
		}
		if !busy {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatal("messages left unhandled")
}

func all(t *testing.T, st channels.Store, conv string) []channels.Message {
	t.Helper()
	msgs, err := st.MessagesAfter(context.Background(), conv, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestRouterOrderingAndOneTurnAtATime(t *testing.T) {
	d := newScript()
	d.delay = time.Millisecond
	f := newFixture(t, "", d)
	ctx := context.Background()

	const convs, perConv = 3, 25
	var wg sync.WaitGroup
	for c := range convs {
		for i := range perConv {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, dup, err := f.router.Receive(ctx, channels.Inbound{
					Channel: channels.ChannelREST, Contact: fmt.Sprint("user", c), ClientID: fmt.Sprint(i), Text: fmt.Sprint("m", i),
				})
				if err != nil || dup {
					t.Error(err, dup)
				}
			}()
		}
	}
	wg.Wait()
	for c := range convs {
		conv, err := f.store.FindConversation(ctx, channels.ChannelREST, fmt.Sprint("user", c))
		if err != nil {
			t.Fatal(err)
		}
		waitHandled(t, f.store, conv.ID)
		// The dialog saw the opening turn, then every inbound seq in increasing order.
		seqs := d.seqs(conv.ID)
		if len(seqs) != perConv+1 || seqs[0] != 0 {
			t.Fatalf("conversation %d: dialog saw %v", c, seqs)
		}
		for i := 2; i < len(seqs); i++ {
			if seqs[i] <= seqs[i-1] {
				t.Fatalf("conversation %d: out of order %v", c, seqs)
			}
		}
		msgs := all(t, f.store, conv.ID)
		if len(msgs) != 2*perConv+1 {
			t.Fatalf("conversation %d: %d messages", c, len(msgs))
		}
		// Every inbound has exactly one echo of its own text, pointing back at it.
		texts := map[int64]string{}
		for _, m := range msgs {
			if m.Direction == channels.DirIn {
				texts[m.Seq] = m.Text
			}
		}
		for _, m := range msgs {
			if m.Direction == channels.DirOut && m.ReplyTo != 0 && m.Text != "echo:"+texts[m.ReplyTo] {
				t.Fatalf("reply %d to %d says %q", m.Seq, m.ReplyTo, m.Text)
			}
		}
		got, _ := f.store.Conversation(ctx, conv.ID)
		if string(got.State) != strconv.Itoa(perConv+1) {
			t.Fatalf("state %q", got.State)
		}
	}
	if d.overlap.Load() {
		t.Fatal("two turns of one conversation overlapped")
	}
	if got := f.metric("claimline_messages_in_total"); got != convs*perConv {
		t.Fatalf("messages_in %v", got)
	}
}

// metric returns the summed counter value of a metric family from the fixture's registry.
func (f *fixture) metric(name string) float64 {
	mfs, _ := f.reg.Gather()
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func TestProcessSyncGreetingReplyAndDup(t *testing.T) {
	f := newFixture(t, "", newScript())
	ctx := context.Background()
	in := channels.Inbound{Channel: channels.ChannelREST, Contact: "app-user", ClientID: "x1", Text: "two"}
	conv, replies, err := f.router.ProcessSync(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	if len(replies) != 3 || replies[0].Text != "歡迎" || replies[0].Seq != 1 || replies[1].Text != "one of two" || replies[2].Seq != 4 {
		t.Fatalf("replies %+v", replies)
	}
	// A repeat of the same client id is not processed again; it returns the same replies.
	_, again, err := f.router.ProcessSync(ctx, in)
	if err != nil || len(again) != 2 || again[0].Seq != 3 {
		t.Fatalf("dup: %v %+v", err, again)
	}
	if n := len(all(t, f.store, conv.ID)); n != 4 {
		t.Fatalf("stored %d", n)
	}
	// The next message is not greeted again.
	_, next, err := f.router.ProcessSync(ctx, channels.Inbound{Channel: channels.ChannelREST, Contact: "app-user", Action: "file_claim"})
	if err != nil || len(next) != 1 || next[0].Text != "action:file_claim" || next[0].Seq != 6 {
		t.Fatalf("next: %v %+v", err, next)
	}
}

func TestStartOnce(t *testing.T) {
	f := newFixture(t, "", newScript())
	ctx := context.Background()
	conv, _, _ := f.router.OpenConversation(ctx, channels.ChannelWebchat, "h", "")
	var wg sync.WaitGroup
	var greetings atomic.Int32
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := f.router.Start(ctx, conv.ID)
			if err != nil {
				t.Error(err)
			}
			greetings.Add(int32(len(out)))
		}()
	}
	wg.Wait()
	msgs := all(t, f.store, conv.ID)
	if greetings.Load() != 1 || len(msgs) != 1 || msgs[0].Seq != 1 || msgs[0].Text != "歡迎" {
		t.Fatalf("greetings %d, stored %+v", greetings.Load(), msgs)
	}
}

func TestTurnErrorApologisesAndDoesNotWedge(t *testing.T) {
	f := newFixture(t, "", newScript())
	ctx := context.Background()
	send := func(text string, lang string) []channels.Message {
		_, out, err := f.router.ProcessSync(ctx, channels.Inbound{Channel: channels.ChannelREST, Contact: "u", Text: text, Lang: lang})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	send("hi", "")
	for _, tc := range []struct{ text, lang, want string }{
		{"boom", "", "抱歉"},
		{"panic", "en", "Sorry"},
	} {
		out := send(tc.text, tc.lang)
		if len(out) != 1 || out[0].From != channels.FromSystem || !strings.HasPrefix(out[0].Text, tc.want) {
			t.Fatalf("%s: %+v", tc.text, out)
		}
	}
	if out := send("still here", ""); len(out) != 1 || out[0].Text != "echo:still here" {
		t.Fatalf("after errors: %+v", out)
	}
	conv, _ := f.store.FindConversation(ctx, channels.ChannelREST, "u")
	// Failed turns keep the state: start + hi + still here = 3.
	if string(conv.State) != "3" {
		t.Fatalf("state %q", conv.State)
	}
	if got := f.metric("claimline_dialog_errors_total"); got != 2 {
		t.Fatalf("dialog errors %v", got)
	}
}

func TestRecoverReprocessesUnhandled(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	ctx := context.Background()
	// Before the crash: the messages were stored (and acknowledged) but no turn ran.
	st, err := sqlitestore.New(path)
	if err != nil {
		t.Fatal(err)
	}
	conv, _, _ := st.OpenConversation(ctx, channels.ChannelWebchat, "h", "zh-TW")
	for i := range 3 {
		st.AppendInbound(ctx, conv.ID, channels.Inbound{ClientID: fmt.Sprint(i), Text: fmt.Sprint("m", i)})
	}
	st.Close()

	d := newScript()
	f := newFixture(t, path, d)
	ch, cancel := f.router.Subscribe(conv.ID)
	defer cancel()
	n, err := f.router.Recover(ctx)
	if err != nil || n != 3 {
		t.Fatalf("recover: %d %v", n, err)
	}
	if un, _ := f.store.Unhandled(ctx); len(un) != 0 {
		t.Fatalf("still unhandled: %+v", un)
	}
	msgs := all(t, f.store, conv.ID)
	var texts []string
	for _, m := range msgs[3:] {
		texts = append(texts, m.Text)
	}
	if got := strings.Join(texts, "|"); got != "歡迎|echo:m0|echo:m1|echo:m2" {
		t.Fatalf("after recover: %s", got)
	}
	if seqs := d.seqs(conv.ID); fmt.Sprint(seqs) != "[0 1 2 3]" {
		t.Fatalf("dialog saw %v", seqs)
	}
	// The recovered replies were published too.
	for want := int64(4); want <= 7; want++ {
		select {
		case m := <-ch:
			if m.Seq != want {
				t.Fatalf("published seq %d, want %d", m.Seq, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("nothing published")
		}
	}
	// A second Recover finds nothing.
	if n, err := f.router.Recover(ctx); n != 0 || err != nil {
		t.Fatalf("second recover: %d %v", n, err)
	}
}

func TestReceiveValidationAndClose(t *testing.T) {
	f := newFixture(t, "", newScript())
	ctx := context.Background()
	if _, _, err := f.router.Receive(ctx, channels.Inbound{Channel: "rest", Contact: "u"}); err == nil {
		t.Fatal("empty message accepted")
	}
	if _, _, err := f.router.Receive(ctx, channels.Inbound{Channel: "rest", Text: "x"}); err == nil {
		t.Fatal("no contact accepted")
	}
	if err := f.router.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.router.Receive(ctx, channels.Inbound{Channel: "rest", Contact: "u", Text: "x"}); err == nil {
		t.Fatal("closed router accepted a message")
	}
}

func TestMemoryBusDropsSlowSubscriber(t *testing.T) {
	b := channels.NewMemoryBus(2)
	slow, cancelSlow := b.Subscribe("c")
	fast, cancelFast := b.Subscribe("c")
	defer cancelFast()
	got := 0
	for i := 1; i <= 5; i++ {
		b.Publish(channels.Message{Conversation: "c", Seq: int64(i)})
		if m := <-fast; m.Seq == int64(i) {
			got++
		}
	}
	if got != 5 {
		t.Fatalf("fast subscriber got %d", got)
	}
	n := 0
	for range slow {
		n++
	}
	if n != 2 {
		t.Fatalf("slow subscriber got %d before being dropped", n)
	}
	cancelSlow() // after a drop: no panic
	b.Publish(channels.Message{Conversation: "other"})
}
