package handoff

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"claimline/channels"
	"claimline/channels/sqlitestore"
	"claimline/dialog"
)

// oldInstallation makes a conversation store's file holding the handoff tables, as claimline kept
// them before they got their own file, with rows in every table; it returns the row counts.
func oldInstallation(t *testing.T, path string) map[string]int {
	t.Helper()
	ctx := context.Background()
	st, err := sqlitestore.New(path) // the conversation tables share the file, as they did
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := New(Config{Path: path, Hours: Hours{Always: true}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RequestHandoff(ctx, dialog.HandoffRequest{Conversation: "c1", Channel: channels.ChannelWebchat,
		Lang: "zh-TW", Reason: "customer_asked"}); err != nil {
		t.Fatal(err)
	}
	if err := s.db.insertTask(ctx, &Task{Handoff: 1, Conversation: "c2", Channel: channels.ChannelSMS, Lang: "en",
		Reason: "customer_asked", Note: "call me after 5", SourceSeq: 7, Created: time.Now()}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"c1", "c2", "c3"} {
		if _, _, err := s.Intercept(ctx, &channels.Conversation{ID: c, Channel: channels.ChannelWebchat},
			channels.Message{Direction: channels.DirIn, TS: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.RecordReview(ctx, "sup", "c3", 4, "clear answers"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO handoff_assignments (handoff, conversation, channel, agent, how, assigned_at) VALUES (9, 'c9', 'webchat', 'amy', 'assigned', '2026-11-30T10:00:00.000000000Z')`,
		`INSERT INTO handoff_ratings (handoff, conversation, agent, score, comment, at) VALUES (9, 'c9', 'amy', 5, 'thanks', '2026-11-30T10:30:00.000000000Z')`,
	} {
		if _, err := s.db.w.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	counts := tableRows(t, path)
	for _, table := range movedTables {
		if counts[table] == 0 {
			t.Fatalf("the old installation has no row in %s: %v", table, counts)
		}
	}
	return counts
}

// tableRows counts the rows of every handoff table in path (-1: no such table).
func tableRows(t *testing.T, path string) map[string]int {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	out := map[string]int{}
	for _, table := range append(movedTables, "handoff_migrations") {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&n); err != nil {
			n = -1
		}
		out[table] = n
	}
	return out
}

func sameRows(a, b map[string]int) bool {
	for _, table := range movedTables {
		if a[table] != b[table] {
			return false
		}
	}
	return true
}

func TestHandoffTablesMoveToTheirOwnFile(t *testing.T) {
	dir := t.TempDir()
	old, path := filepath.Join(dir, "channels.db"), filepath.Join(dir, "handoff.db")
	before := oldInstallation(t, old)

	s, err := New(Config{Path: path, MoveFrom: old, Hours: Hours{Always: true}})
	if err != nil {
		t.Fatal(err)
	}
	if got := tableRows(t, path); !sameRows(got, before) {
		t.Fatalf("rows in the new file %v, want %v", got, before)
	}
	for table, n := range tableRows(t, old) {
		if n != -1 {
			t.Fatalf("%s is still in the old file (%d rows)", table, n)
		}
	}
	// The conversation store's own tables are untouched.
	st, err := sqlitestore.New(old)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	// The service works on the moved rows: the hold was restored, the task and records are there.
	if _, held := s.Hold("c1"); !held {
		t.Fatal("the moved hold was not restored")
	}
	ctx := context.Background()
	if tasks, err := s.Tasks(ctx); err != nil || len(tasks) != 1 || tasks[0].Note != "call me after 5" {
		t.Fatalf("tasks: %v %+v", err, tasks)
	}
	if r, err := s.ConversationRecord(ctx, "c3"); err != nil || r.ID != "c3" {
		t.Fatalf("conversation record: %v %+v", err, r)
	}
	if rs, err := s.Ratings(ctx, "c9"); err != nil || len(rs) != 1 || rs[0].Score != 5 {
		t.Fatalf("ratings: %v %+v", err, rs)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Opening again moves nothing more.
	s, err = New(Config{Path: path, MoveFrom: old, Hours: Hours{Always: true}})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if got := tableRows(t, path); !sameRows(got, before) {
		t.Fatalf("after a second open %v, want %v", got, before)
	}
}

// A crash between copying the rows and dropping the old tables: the next open finishes the move
// without a duplicate and without overwriting what changed in the new file meanwhile.
func TestHandoffMoveInterrupted(t *testing.T) {
	dir := t.TempDir()
	old, path := filepath.Join(dir, "channels.db"), filepath.Join(dir, "handoff.db")
	before := oldInstallation(t, old)

	d, err := openDB(path)
	if err != nil {
		t.Fatal(err)
	}
	crash := errors.New("crash")
	d.afterCopy = func() error { return crash }
	if _, err := d.moveFrom(context.Background(), old); !errors.Is(err, crash) {
		t.Fatalf("move: %v", err)
	}
	// Something changed in the new file after the copy (the service ran until the crash).
	if _, err := d.w.Exec(`UPDATE handoff_tasks SET note = 'changed since' WHERE conversation = 'c2'`); err != nil {
		t.Fatal(err)
	}
	d.close()
	if got := tableRows(t, old); !sameRows(got, before) {
		t.Fatalf("the old file lost rows before the copy was done: %v", got)
	}

	s, err := New(Config{Path: path, MoveFrom: old, Hours: Hours{Always: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := tableRows(t, path); !sameRows(got, before) {
		t.Fatalf("rows after the second move %v, want %v (no duplicates)", got, before)
	}
	if tasks, _ := s.Tasks(context.Background()); len(tasks) != 1 || tasks[0].Note != "changed since" {
		t.Fatalf("the second move overwrote a newer row: %+v", tasks)
	}
	if n := tableRows(t, old)["handoffs"]; n != -1 {
		t.Fatalf("old tables left: handoffs has %d rows", n)
	}
}

// A fresh installation has the handoff tables only in their own file, and handoff writes commit
// nothing to the conversation store's file (whose cache would see another connection's commit).
func TestHandoffWritesLeaveTheConversationFileAlone(t *testing.T) {
	dir := t.TempDir()
	channelsDB := filepath.Join(dir, "channels.db")
	st, err := sqlitestore.New(channelsDB)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s, err := New(Config{Path: filepath.Join(dir, "handoff.db"), MoveFrom: channelsDB, Hours: Hours{Always: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n := tableRows(t, channelsDB)["handoffs"]; n != -1 {
		t.Fatal("a fresh installation put handoff tables in the conversation file")
	}
	watch, err := sql.Open("sqlite", "file:"+channelsDB)
	if err != nil {
		t.Fatal(err)
	}
	defer watch.Close()
	watch.SetMaxOpenConns(1)
	version := func() int64 {
		var v int64
		if err := watch.QueryRow(`PRAGMA data_version`).Scan(&v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	ctx := context.Background()
	v0 := version()
	if err := s.RequestHandoff(ctx, dialog.HandoffRequest{Conversation: "c1", Channel: channels.ChannelWebchat, Lang: "en", Reason: "customer_asked"}); err != nil {
		t.Fatal(err)
	}
	s.Intercept(ctx, &channels.Conversation{ID: "c2", Channel: channels.ChannelWebchat}, channels.Message{Direction: channels.DirIn, TS: time.Now()})
	if _, err := s.BotFigures(ctx, time.Now().Add(-time.Hour)); err != nil { // writes the queued note first
		t.Fatal(err)
	}
	if _, err := s.RecordReview(ctx, "sup", "c2", 3, ""); err != nil {
		t.Fatal(err)
	}
	if v := version(); v != v0 {
		t.Fatalf("handoff writes committed to channels.db (data_version %d → %d)", v0, v)
	}
	// The watch itself can tell: a write of the conversation store does change it.
	if _, _, err := st.OpenConversation(ctx, channels.ChannelWebchat, "someone", "en"); err != nil {
		t.Fatal(err)
	}
	if v := version(); v == v0 {
		t.Fatal("data_version did not see the conversation store's commit: the check proves nothing")
	}
}
