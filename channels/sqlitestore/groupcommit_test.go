package sqlitestore_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/channels/sqlitestore"
)

// waitQueue waits until n ops wait for the writer.
func waitQueue(t *testing.T, s *sqlitestore.Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.QueueLen() < n {
		if time.Now().After(deadline) {
			t.Fatalf("queue: %d ops, want %d", s.QueueLen(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// One batch holds successful and failing ops: each failing op is rolled back alone (including what it
// wrote before failing), the others commit, and each caller gets its own outcome.
func TestGroupCommitFailingOpAmongSuccessful(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	a, b := newConv(t, s, "a"), newConv(t, s, "b")
	m1, _, err := s.AppendInbound(ctx, a.ID, channels.Inbound{ClientID: "m1", Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}

	release := make(chan struct{})
	<-s.Hold(release)
	batches0, ops0 := s.Batches()

	var wg sync.WaitGroup
	var mu sync.Mutex
	results := map[string]error{}
	run := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := fn()
			mu.Lock()
			results[name] = err
			mu.Unlock()
		}()
	}
	var commitA []channels.Message
	run("commit a", func() (err error) {
		commitA, err = s.CommitTurn(ctx, channels.Turn{Conversation: a.ID, InboundSeq: m1.Seq, State: []byte("s1"),
			Replies: []channels.Message{{Text: "r1"}, {Text: "r2"}}})
		return err
	})
	run("unknown inbound", func() error {
		_, err := s.CommitTurn(ctx, channels.Turn{Conversation: a.ID, InboundSeq: 99, Replies: []channels.Message{{Text: "x"}}})
		return err
	})
	boom := errors.New("boom")
	run("raw failing", func() error {
		// Writes, then fails: its writes must be undone, the batch must not be.
		return s.WriteRaw(ctx, boom, `INSERT INTO conversations (id, channel, contact, created_at, updated_at)
			VALUES ('ghost', 'webchat', 'ghost', 'x', 'x')`, `UPDATE conversations SET last_seq = 1000`)
	})
	run("raw bad sql", func() error {
		return s.WriteRaw(ctx, nil, `UPDATE conversations SET last_seq = 2000`, `INSERT INTO nowhere VALUES (1)`)
	})
	var inB channels.Message
	run("append b", func() (err error) {
		inB, _, err = s.AppendInbound(ctx, b.ID, channels.Inbound{ClientID: "b1", Text: "hello"})
		return err
	})
	run("append unknown", func() error {
		_, _, err := s.AppendInbound(ctx, "nope", channels.Inbound{ClientID: "z", Text: "hello"})
		return err
	})
	var dupA channels.Message
	var dupFlag bool
	run("append a dup", func() (err error) {
		dupA, dupFlag, err = s.AppendInbound(ctx, a.ID, channels.Inbound{ClientID: "m1", Text: "again"})
		return err
	})
	waitQueue(t, s, 7)
	close(release)
	wg.Wait()

	batches1, ops1 := s.Batches()
	if batches1-batches0 != 1 || ops1-ops0 != 7 {
		t.Fatalf("want the 7 ops in one transaction: %d transactions, %d ops", batches1-batches0, ops1-ops0)
	}
	if err := results["commit a"]; err != nil || len(commitA) != 2 {
		t.Fatalf("commit a: %v %+v", err, commitA)
	}
	if code := casesvc.ErrorCode(results["unknown inbound"]); code != casesvc.ENOTFOUND {
		t.Fatalf("unknown inbound: %v", results["unknown inbound"])
	}
	if !errors.Is(results["raw failing"], boom) {
		t.Fatalf("raw failing: %v", results["raw failing"])
	}
	if results["raw bad sql"] == nil {
		t.Fatal("raw bad sql succeeded")
	}
	if err := results["append b"]; err != nil || inB.Seq != 1 {
		t.Fatalf("append b: %v %+v", err, inB)
	}
	if code := casesvc.ErrorCode(results["append unknown"]); code != casesvc.ENOTFOUND {
		t.Fatalf("append unknown: %v", results["append unknown"])
	}
	if err := results["append a dup"]; err != nil || !dupFlag || dupA.Seq != m1.Seq || dupA.Text != "hi" {
		t.Fatalf("dup: %v %v %+v", err, dupFlag, dupA)
	}
	if _, err := s.FindConversation(ctx, channels.ChannelWebchat, "ghost"); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Fatalf("the failed op's insert survived: %v", err)
	}
	for _, c := range []struct {
		id   string
		last int64
	}{{a.ID, 3}, {b.ID, 1}} {
		got, err := s.Conversation(ctx, c.id)
		if err != nil || got.LastSeq != c.last {
			t.Fatalf("conversation %s: %v %+v (want last seq %d)", c.id, err, got, c.last)
		}
		msgs, _ := s.MessagesAfter(ctx, c.id, 0, 100)
		if int64(len(msgs)) != c.last {
			t.Fatalf("conversation %s: %d messages", c.id, len(msgs))
		}
		for i, m := range msgs {
			if m.Seq != int64(i+1) {
				t.Fatalf("conversation %s: message %d has seq %d", c.id, i, m.Seq)
			}
		}
	}
	// The writer goes on after the batch.
	if _, _, err := s.AppendInbound(ctx, b.ID, channels.Inbound{ClientID: "b2", Text: "more"}); err != nil {
		t.Fatal(err)
	}
}

// Many conversations written concurrently: ops share transactions, and every rule still holds.
func TestGroupCommitConcurrent(t *testing.T) {
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	const convs, writersPerConv, rounds = 6, 4, 15
	ids := make([]string, convs)
	for i := range ids {
		ids[i] = newConv(t, s, fmt.Sprint("contact-", i)).ID
	}
	var wg sync.WaitGroup
	for c := range convs {
		for w := range writersPerConv {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for r := range rounds {
					cid := fmt.Sprintf("w%d-r%d", w, r)
					m, dup, err := s.AppendInbound(ctx, ids[c], channels.Inbound{ClientID: cid, Text: "x"})
					if err != nil || dup {
						t.Errorf("append: %v dup=%v", err, dup)
						return
					}
					if again, dup, err := s.AppendInbound(ctx, ids[c], channels.Inbound{ClientID: cid, Text: "y"}); err != nil || !dup || again.Seq != m.Seq {
						t.Errorf("repeat: %v dup=%v seq %d want %d", err, dup, again.Seq, m.Seq)
						return
					}
					out, err := s.CommitTurn(ctx, channels.Turn{Conversation: ids[c], InboundSeq: m.Seq, State: []byte(cid),
						Replies: []channels.Message{{Text: "a"}, {Text: "b"}}, Deliver: r%3 == 0})
					if err != nil || len(out) != 2 || out[1].Seq != out[0].Seq+1 {
						t.Errorf("commit: %v %+v", err, out)
						return
					}
					if _, err := s.CommitTurn(ctx, channels.Turn{Conversation: ids[c], InboundSeq: m.Seq, Replies: []channels.Message{{Text: "dup"}}}); casesvc.ErrorCode(err) != casesvc.ECONFLICT {
						t.Errorf("second commit: %v", err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	want := int64(writersPerConv * rounds * 3)
	for _, id := range ids {
		c, err := s.Conversation(ctx, id)
		if err != nil || c.LastSeq != want {
			t.Fatalf("%s: %v last seq %d want %d", id, err, c.LastSeq, want)
		}
		msgs, err := s.MessagesAfter(ctx, id, 0, 1000)
		if err != nil || int64(len(msgs)) != want {
			t.Fatalf("%s: %v %d messages", id, err, len(msgs))
		}
		for i, m := range msgs {
			if m.Seq != int64(i+1) {
				t.Fatalf("%s: message %d has seq %d", id, i, m.Seq)
			}
			if m.Direction == channels.DirIn && !m.Handled {
				t.Fatalf("%s: seq %d not handled", id, m.Seq)
			}
		}
		ds, _ := s.Deliveries(ctx, id)
		if len(ds) != writersPerConv*((rounds+2)/3)*2 {
			t.Fatalf("%s: %d deliveries", id, len(ds))
		}
	}
	if un, _ := s.Unhandled(ctx); len(un) != 0 {
		t.Fatalf("unhandled: %d", len(un))
	}
	batches, ops := s.Batches()
	t.Logf("%d write ops in %d transactions", ops, batches)
	if ops <= batches {
		t.Fatalf("no op shared a transaction: %d ops in %d transactions", ops, batches)
	}
}

// With group commit off (one op per transaction) the store behaves the same.
func TestNoGroupCommit(t *testing.T) {
	defer sqlitestore.SetMaxBatch(1)()
	ctx := context.Background()
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	c := newConv(t, s, "a")
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: fmt.Sprint(i), Text: "x"}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if batches, ops := s.Batches(); batches != ops {
		t.Fatalf("%d ops in %d transactions", ops, batches)
	}
	if got, _ := s.Conversation(ctx, c.ID); got.LastSeq != 10 {
		t.Fatalf("last seq %d", got.LastSeq)
	}
}

// A caller whose context ends while its op waits gets the context's error, and the op never runs.
func TestCancelledWhileQueued(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "c.db"))
	c := newConv(t, s, "a")
	release := make(chan struct{})
	<-s.Hold(release)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, _, err := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "gone", Text: "x"})
		done <- err
	}()
	waitQueue(t, s, 1)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled append: %v", err)
	}
	close(release)
	if _, _, err := s.AppendInbound(context.Background(), c.ID, channels.Inbound{ClientID: "next", Text: "y"}); err != nil {
		t.Fatal(err)
	}
	msgs, _ := s.MessagesAfter(context.Background(), c.ID, 0, 10)
	if len(msgs) != 1 || msgs[0].ClientID != "next" || msgs[0].Seq != 1 {
		t.Fatalf("messages: %+v", msgs)
	}
}

// An acknowledged message is in the file when the Store is abandoned without Close (its connections
// still open) and the file is opened again.
func TestAckedSurvivesAbandonedStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	s1, err := sqlitestore.New(path) // never closed: abandoned
	if err != nil {
		t.Fatal(err)
	}
	c, _, _ := s1.OpenConversation(ctx, channels.ChannelWebchat, "a", "zh-TW")
	m, _, err := s1.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: "acked", Text: "我要申請理賠"})
	if err != nil {
		t.Fatal(err)
	}
	s2 := open(t, path)
	un, err := s2.Unhandled(ctx)
	if err != nil || len(un) != 1 || un[0].Seq != m.Seq || un[0].Text != "我要申請理賠" {
		t.Fatalf("after reopen: %v %+v", err, un)
	}
}

const crashChildEnv = "SQLITESTORE_CRASH_CHILD_DB"

// An acknowledged message survives a SIGKILL of the process: a child process appends and commits
// turns, printing each acknowledged seq; the test kills it mid-stream and checks every acknowledged
// message (and committed turn) is in the file.
func TestAckedSurvivesSIGKILL(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "c.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestAckedSurvivesSIGKILL$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	var conv string
	ackedIn, committed := map[int64]bool{}, map[int64]bool{}
	for sc.Scan() && len(ackedIn) < 300 {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "conv":
			conv = f[1]
		case "in":
			ackedIn[n] = true
		case "turn":
			committed[n] = true
		}
	}
	cmd.Process.Kill() // SIGKILL: no Close, no deferred function, nothing flushed
	cmd.Wait()
	if conv == "" || len(ackedIn) < 300 {
		t.Fatalf("child acknowledged %d messages (conversation %q)", len(ackedIn), conv)
	}

	s := open(t, path)
	msgs, err := s.MessagesAfter(context.Background(), conv, 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[int64]channels.Message{}
	for i, m := range msgs {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d", i, m.Seq)
		}
		stored[m.Seq] = m
	}
	for seq := range ackedIn {
		if m, ok := stored[seq]; !ok || m.Direction != channels.DirIn {
			t.Fatalf("acknowledged message %d lost (%d stored)", seq, len(msgs))
		}
	}
	for seq := range committed {
		if !stored[seq].Handled {
			t.Fatalf("committed turn of %d lost", seq)
		}
	}
	t.Logf("%d acknowledged, %d stored after SIGKILL", len(ackedIn), len(msgs))
}

// crashChild writes until it is killed, printing what was acknowledged.
func crashChild(path string) {
	ctx := context.Background()
	s, err := sqlitestore.New(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	c, _, err := s.OpenConversation(ctx, channels.ChannelWebchat, "crash", "zh-TW")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Fprintln(os.Stdout, "conv", c.ID)
	// Several writers so that acknowledged ops share transactions.
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				m, _, err := s.AppendInbound(ctx, c.ID, channels.Inbound{ClientID: fmt.Sprintf("w%d-%d", w, i), Text: "x"})
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				fmt.Fprintln(os.Stdout, "in", m.Seq)
				if _, err := s.CommitTurn(ctx, channels.Turn{Conversation: c.ID, InboundSeq: m.Seq, State: []byte("s"),
					Replies: []channels.Message{{Text: "r"}}}); err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(2)
				}
				fmt.Fprintln(os.Stdout, "turn", m.Seq)
			}
		}()
	}
	wg.Wait()
}

// A batch of several ops has a SAVEPOINT each; their statement journals are kept in memory, not
// written to a temporary file (that was a fifth of a batched claim's CPU in the case store).
func TestWriterKeepsStatementJournalsInMemory(t *testing.T) {
	st, err := sqlitestore.New(filepath.Join(t.TempDir(), "channels.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if v, err := st.WriterPragma(context.Background(), "temp_store"); err != nil || v != "2" {
		t.Fatalf("writer's temp_store = %q, %v; want 2 (MEMORY)", v, err)
	}
}
