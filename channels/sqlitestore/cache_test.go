package sqlitestore_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"claimline/casesvc"
	"claimline/channels"
)

// Reads after a write see it (read-your-writes), from every goroutine, and never go back.
func TestCachedReadsFollowWrites(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	c := newConv(t, s, "a")
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				m, _, err := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: fmt.Sprint(w, "-", i), Text: "x"})
				if err != nil {
					t.Error(err)
					return
				}
				got, err := s.Conversation(ctx, c.ID)
				if err != nil || got.LastSeq < m.Seq {
					t.Errorf("after appending seq %d: %v last seq %d", m.Seq, err, got.LastSeq)
					return
				}
				out, err := s.CommitTurn(ctx, channels.Turn{Conversation: c.ID, InboundSeq: m.Seq, State: []byte(fmt.Sprint("s", m.Seq)),
					Replies: []channels.Message{{Text: "r"}}})
				if err != nil {
					t.Error(err)
					return
				}
				got, err = s.FindConversation(ctx, channels.ChannelWebchat, "a")
				if err != nil || got.LastSeq < out[0].Seq {
					t.Errorf("after reply seq %d: %v last seq %d", out[0].Seq, err, got.LastSeq)
					return
				}
			}
		}()
	}
	// A reader that only reads never sees last_seq go back.
	stop := make(chan struct{})
	var rwg sync.WaitGroup
	rwg.Add(1)
	go func() {
		defer rwg.Done()
		var last int64
		for {
			select {
			case <-stop:
				return
			default:
			}
			got, err := s.Conversation(ctx, c.ID)
			if err != nil || got.LastSeq < last {
				t.Errorf("reader: %v last seq %d after %d", err, got.LastSeq, last)
				return
			}
			last = got.LastSeq
		}
	}()
	wg.Wait()
	close(stop)
	rwg.Wait()
	got, _ := s.Conversation(ctx, c.ID)
	if got.LastSeq != 320 {
		t.Fatalf("last seq %d", got.LastSeq)
	}
	// Returned values are copies.
	got.State[0] = 'X'
	got.LastSeq = 1
	again, _ := s.Conversation(ctx, c.ID)
	if again.State[0] != 's' || again.LastSeq != 320 {
		t.Fatalf("cached row changed through a returned copy: %+v", again)
	}
}

// Two Stores of one file in one process share the cache: each sees the other's writes at once.
func TestTwoStoresSameFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s1, s2 := open(t, path), open(t, path)
	c := newConv(t, s1, "a")
	if got, err := s1.Conversation(ctx, c.ID); err != nil || got.LastSeq != 0 {
		t.Fatal(err, got)
	}
	if _, _, err := s2.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "1", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s1.Conversation(ctx, c.ID); got.LastSeq != 1 {
		t.Fatalf("s1 after s2's write: last seq %d", got.LastSeq)
	}
	if _, err := s2.CommitTurn(ctx, channels.Turn{Conversation: c.ID, InboundSeq: 1, State: []byte("two")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s1.FindConversation(ctx, channels.ChannelWebchat, "a"); string(got.State) != "two" {
		t.Fatalf("s1 after s2's commit: state %q", got.State)
	}
	if m, _, err := s1.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "2", Text: "y"}); err != nil || m.Seq != 2 {
		t.Fatalf("s1 append: %v %d", err, m.Seq)
	}
}

// Another connection to the file (another process) changing a conversation is seen after the store's
// next write at the latest.
func TestForeignWriteDropsCache(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s := open(t, path)
	a, b := newConv(t, s, "a"), newConv(t, s, "b")
	if got, _ := s.Conversation(ctx, a.ID); got.Lang != "zh-TW" {
		t.Fatal(got)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, `UPDATE conversations SET lang = 'en' WHERE id = ?`, a.ID); err != nil {
		t.Fatal(err)
	}
	// Any write (here to another conversation) notices the foreign commit.
	if _, _, err := s.AppendInbound(ctx, b.ID, channels.Inbound{ClientID: "1", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Conversation(ctx, a.ID); got.Lang != "en" {
		t.Fatalf("foreign write not seen: lang %q", got.Lang)
	}
}

// A new file at the path of an open Store (the old one deleted) does not share the old one's cache.
func TestNewFileSamePathNewCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "c.db")
	old := open(t, path)
	c := newConv(t, old, "a")
	if _, _, err := old.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "1", Text: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, filepath.Join(dir, "old.db")); err != nil {
		t.Fatal(err)
	}
	os.Remove(path + "-wal")
	os.Remove(path + "-shm")
	fresh := open(t, path)
	if _, err := fresh.Conversation(ctx, c.ID); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Fatalf("the new file answered from the old file's cache: %v", err)
	}
}
