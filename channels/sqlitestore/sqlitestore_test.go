package sqlitestore_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/channels/sqlitestore"
	"claimline/internal/sqlitewal"
)

func open(t *testing.T, path string) *sqlitestore.Store {
	t.Helper()
	s, err := sqlitestore.New(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newConv(t *testing.T, s *sqlitestore.Store, contact string) *channels.Conversation {
	t.Helper()
	c, created, err := s.OpenConversation(context.Background(), channels.ChannelWebchat, contact, "zh-TW")
	if err != nil || !created {
		t.Fatalf("open: %v created=%v", err, created)
	}
	return c
}

func TestSeqStrictlyIncreasing(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	c := newConv(t, s, "a")
	again, created, err := s.OpenConversation(ctx, channels.ChannelWebchat, "a", "en")
	if err != nil || created || again.ID != c.ID {
		t.Fatalf("reopen: %v %v %v", err, created, again)
	}
	if err := s.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: fmt.Sprint("m", i), Text: "hi"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := s.CommitTurn(ctx, channels.Turn{Conversation: c.ID, InboundSeq: 1, Replies: []channels.Message{{Text: "a"}, {Text: "b"}}}); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.MessagesAfter(ctx, c.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 22 {
		t.Fatalf("got %d messages", len(msgs))
	}
	for i, m := range msgs {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d", i, m.Seq)
		}
	}
	if got, _ := s.MessagesAfter(ctx, c.ID, 20, 1); len(got) != 1 || got[0].Seq != 21 || got[0].ReplyTo != 1 || got[0].From != channels.FromBot {
		t.Fatalf("after 20: %+v", got)
	}
}

func TestDedupeConcurrent(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	c := newConv(t, s, "a")
	var wg sync.WaitGroup
	var mu sync.Mutex
	seqs := map[int64]int{}
	dups := 0
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, dup, err := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "same", Text: "hello"})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			seqs[m.Seq]++
			if dup {
				dups++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(seqs) != 1 || dups != 9 {
		t.Fatalf("seqs %v dups %d", seqs, dups)
	}
	msgs, _ := s.MessagesAfter(ctx, c.ID, 0, 100)
	if len(msgs) != 1 {
		t.Fatalf("stored %d", len(msgs))
	}
	// Empty client ids never dedupe.
	for range 2 {
		if _, dup, err := s.AppendInbound(ctx, c.ID, channels.Inbound{Text: "x"}); err != nil || dup {
			t.Fatal(err, dup)
		}
	}
	// Same client id in another conversation is another message.
	c2 := newConv(t, s, "b")
	if m, dup, err := s.AppendInbound(ctx, c2.ID, channels.Inbound{ClientID: "same", Text: "hello"}); err != nil || dup || m.Seq != 1 {
		t.Fatal(err, dup, m.Seq)
	}
}

func TestCommitTurnAtomic(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	c := newConv(t, s, "a")

	// Opening turn: once.
	greet, err := s.CommitTurn(ctx, channels.Turn{Conversation: c.ID, State: []byte("s0"),
		Replies: []channels.Message{{Text: "歡迎", Buttons: []channels.Button{{Label: "申請理賠", Value: "file_claim"}}}}})
	if err != nil || len(greet) != 1 || greet[0].Seq != 1 {
		t.Fatalf("start: %v %+v", err, greet)
	}
	if _, err := s.CommitTurn(ctx, channels.Turn{Conversation: c.ID, Replies: []channels.Message{{Text: "again"}}}); casesvc.ErrorCode(err) != casesvc.ECONFLICT {
		t.Fatalf("second start: %v", err)
	}

	in, _, _ := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "1", Text: "hi"})
	out, err := s.CommitTurn(ctx, channels.Turn{Conversation: c.ID, InboundSeq: in.Seq, State: []byte("s1"),
		Replies: []channels.Message{{Text: "one"}, {From: channels.FromSystem, Text: "two"}}})
	if err != nil || len(out) != 2 || out[0].Seq != 3 || out[1].Seq != 4 || out[1].From != channels.FromSystem {
		t.Fatalf("turn: %v %+v", err, out)
	}
	// A second commit for the same inbound stores nothing: no replies, no state.
	if _, err := s.CommitTurn(ctx, channels.Turn{Conversation: c.ID, InboundSeq: in.Seq, State: []byte("bad"),
		Replies: []channels.Message{{Text: "dup"}}}); casesvc.ErrorCode(err) != casesvc.ECONFLICT {
		t.Fatalf("second commit: %v", err)
	}
	if _, err := s.CommitTurn(ctx, channels.Turn{Conversation: c.ID, InboundSeq: 99}); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Fatalf("unknown inbound: %v", err)
	}
	if _, err := s.CommitTurn(ctx, channels.Turn{Conversation: "nope", InboundSeq: 1}); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Fatalf("unknown conversation: %v", err)
	}
	got, _ := s.Conversation(ctx, c.ID)
	if string(got.State) != "s1" || got.LastSeq != 4 || !got.Started {
		t.Fatalf("conversation: %+v", got)
	}
	msgs, _ := s.MessagesAfter(ctx, c.ID, 0, 100)
	if len(msgs) != 4 || !msgs[1].Handled || msgs[0].Buttons[0].Value != "file_claim" {
		t.Fatalf("messages: %+v", msgs)
	}
}

func TestUnhandledAfterCrashAndReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s, err := sqlitestore.New(path)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 24, 9, 30, 0, 0, time.FixedZone("CST", 8*3600))
	c, _, _ := s.OpenConversation(ctx, channels.ChannelREST, "user-1", "en")
	m1, _, _ := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "a", Text: "first", Lang: "en", ReceivedAt: at})
	s.CommitTurn(ctx, channels.Turn{Conversation: c.ID, InboundSeq: m1.Seq, State: []byte("x"), Replies: []channels.Message{{Text: "r"}}})
	s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "b", Action: "confirm", Text: "確認送出", ReceivedAt: at})
	s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "c", Text: "third", ReceivedAt: at})
	// Crash: the process dies before those turns commit.
	s.Close()

	s = open(t, path)
	un, err := s.Unhandled(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(un) != 2 || un[0].Seq != 3 || un[1].Seq != 4 || un[0].Action != "confirm" || !un[0].TS.Equal(at) {
		t.Fatalf("unhandled: %+v", un)
	}
	got, err := s.FindConversation(ctx, channels.ChannelREST, "user-1")
	if err != nil || got.ID != c.ID || string(got.State) != "x" || got.LastSeq != 4 || got.Lang != "en" {
		t.Fatalf("after reopen: %v %+v", err, got)
	}
	// Dedupe survives the reopen.
	if m, dup, err := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "b", Text: "again"}); err != nil || !dup || m.Seq != 3 {
		t.Fatalf("dedupe after reopen: %v %v %d", err, dup, m.Seq)
	}
	if _, err := s.FindConversation(ctx, channels.ChannelREST, "nobody"); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Fatalf("find unknown: %v", err)
	}
}

// The WAL is copied into the database file by the checkpointer while the store is open, without the
// writer's own checkpoint (its backstop is thousands of pages away): the database file grows.
func TestCheckpointsRunBesideTheWriter(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s := open(t, path)
	c := newConv(t, s, "ckpt")
	fileSize := func() int64 {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	// Let the pass for the opening writes finish, then measure from there.
	deadline := time.Now().Add(5 * time.Second)
	for passes, _ := s.Checkpoints(); passes == 0 && time.Now().Before(deadline); passes, _ = s.Checkpoints() {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(3 * sqlitewal.Gap) // and any pass still due for them
	before := fileSize()
	text := strings.Repeat("颱風造成車輛泡水，需要申請理賠。", 20)
	for i := range 200 {
		if _, _, err := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: fmt.Sprint("k", i), Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	for fileSize() <= before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if after := fileSize(); after <= before {
		t.Fatalf("database file %d bytes before 200 writes and %d after: nothing was checkpointed beside the writer", before, after)
	}
	if _, failed := s.Checkpoints(); failed != 0 {
		t.Fatalf("%d checkpoints failed", failed)
	}
	if v, err := s.WriterPragma(ctx, "wal_autocheckpoint"); err != nil || v != "16000" {
		t.Fatalf("writer wal_autocheckpoint = %q, %v; want the 16000-page backstop", v, err)
	}
}
