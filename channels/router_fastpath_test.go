package channels_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"claimline/channels"
	"claimline/channels/sqlitestore"
)

// countingStore counts the router's reads.
type countingStore struct {
	*sqlitestore.Store
	messagesAfter, conversation atomic.Int64
}

func (c *countingStore) MessagesAfter(ctx context.Context, conv string, after int64, limit int) ([]channels.Message, error) {
	c.messagesAfter.Add(1)
	return c.Store.MessagesAfter(ctx, conv, after, limit)
}

func (c *countingStore) Conversation(ctx context.Context, id string) (*channels.Conversation, error) {
	c.conversation.Add(1)
	return c.Store.Conversation(ctx, id)
}

func newCountingRouter(t *testing.T, path string, d *script) (*countingStore, *channels.Router) {
	t.Helper()
	st, err := sqlitestore.New(path)
	if err != nil {
		t.Fatal(err)
	}
	cs := &countingStore{Store: st}
	r, err := channels.NewRouter(channels.RouterConfig{Store: cs, Dialog: d, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		r.Close(context.Background())
		st.Close()
	})
	return cs, r
}

// A live message needs no "already handled?" read, ProcessSync no read to wait for its turn, and the
// worker keeps the conversation between queued turns; the dialog state still follows every turn.
func TestLiveTurnsSkipReads(t *testing.T) {
	ctx := context.Background()
	d := newScript()
	st, r := newCountingRouter(t, filepath.Join(t.TempDir(), "c.db"), d)
	conv, replies, err := r.ProcessSync(ctx, channels.Inbound{Channel: channels.ChannelREST, Contact: "a", ClientID: "0", Text: "hi"})
	if err != nil || len(replies) != 2 {
		t.Fatalf("process sync: %v %+v", err, replies)
	}
	const n = 40
	for i := 1; i <= n; i++ {
		if _, _, err := r.Receive(ctx, channels.Inbound{Channel: channels.ChannelREST, Contact: "a", ClientID: fmt.Sprint(i), Text: fmt.Sprint("m", i)}); err != nil {
			t.Fatal(err)
		}
	}
	waitHandled(t, st.Store, conv.ID)
	if got := st.messagesAfter.Load(); got != 0 {
		t.Fatalf("MessagesAfter called %d times on the live path", got)
	}
	if got := st.conversation.Load(); got > n/2 {
		t.Fatalf("Conversation read %d times for %d turns", got, n+2)
	}
	c, err := st.Store.Conversation(ctx, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprint(n + 2); string(c.State) != want { // the opening turn, "hi", and n more
		t.Fatalf("state %q, want %q", c.State, want)
	}
	if seqs := d.seqs(conv.ID); len(seqs) != n+2 {
		t.Fatalf("dialog ran %d turns, want %d", len(seqs), n+2)
	}
	// A repeated ClientID returns the first replies (this path reads them back).
	_, again, err := r.ProcessSync(ctx, channels.Inbound{Channel: channels.ChannelREST, Contact: "a", ClientID: "0", Text: "hi"})
	if err != nil || len(again) != 1 || again[0].Text != "echo:hi" {
		t.Fatalf("dup: %v %+v", err, again)
	}
}

// Recover running while live messages arrive in the same conversations: every message's turn runs
// exactly once (Recover is meant to run before serving; if it does not, a recovered message may run
// after a newer live one, as before, but never twice).
func TestRecoverConcurrentWithLive(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	st, err := sqlitestore.New(path)
	if err != nil {
		t.Fatal(err)
	}
	var convs []string
	for c := range 4 {
		conv, _, _ := st.OpenConversation(ctx, channels.ChannelWebchat, fmt.Sprint("h", c), "zh-TW")
		convs = append(convs, conv.ID)
		for i := range 5 {
			st.AppendInbound(ctx, conv.ID, channels.Inbound{ClientID: fmt.Sprint("old", i), Text: "old"})
		}
	}
	st.Close()

	d := newScript()
	cs, r := newCountingRouter(t, path, d)
	var wg sync.WaitGroup
	for c := range convs {
		wg.Go(func() {
			for i := range 10 {
				if _, _, err := r.Receive(ctx, channels.Inbound{Channel: channels.ChannelWebchat, Contact: fmt.Sprint("h", c), ClientID: fmt.Sprint("new", i), Text: "new"}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	if _, err := r.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for _, id := range convs {
		waitHandled(t, cs.Store, id)
		seqs := d.seqs(id)
		seen := map[int64]bool{}
		for _, s := range seqs {
			if seen[s] {
				t.Fatalf("%s: seq %d ran twice: %v", id, s, seqs)
			}
			seen[s] = true
		}
		if len(seqs) != 1+5+10 {
			t.Fatalf("%s: %d turns, want 16: %v", id, len(seqs), seqs)
		}
	}
}
