package sqlite

import (
	"context"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/internal/sqlitewal"
)

// The case database is checkpointed beside its writer: committed transactions run passes, and the
// writer's own autocheckpoint is only the distant backstop.
func TestCaseDatabaseCheckpointsBesideTheWriter(t *testing.T) {
	svc, _ := openInternal(t) // the demo seed and a claim: committed write transactions
	if svc.ckpt == nil {
		t.Fatal("a file database has no checkpointer")
	}
	deadline := time.Now().Add(10 * time.Second)
	passes, failed := svc.ckpt.Passes()
	for ; passes == 0 && time.Now().Before(deadline); passes, failed = svc.ckpt.Passes() {
		time.Sleep(5 * time.Millisecond)
	}
	if passes == 0 || failed != 0 {
		t.Fatalf("checkpoint passes %d, failed %d after committed writes", passes, failed)
	}
	// A write outside a transaction (the notice outbox marks deliveries that way) commits on its own
	// and must nudge too.
	// (An unknown notice id still runs the UPDATE, which commits; the call then reports ENOTFOUND.)
	ctx := context.Background()
	time.Sleep(3 * sqlitewal.Gap) // the passes of the opening writes are over
	quiet, _ := svc.ckpt.Passes()
	if err := svc.MarkNoticeDelivered(ctx, 1<<40); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Fatalf("mark an unknown notice: %v", err)
	}
	for passes, _ = svc.ckpt.Passes(); passes == quiet && time.Now().Before(deadline); passes, _ = svc.ckpt.Passes() {
		time.Sleep(5 * time.Millisecond)
	}
	if passes == quiet {
		t.Fatal("a write on the writer pool ran no checkpoint pass")
	}
	var pages int
	if err := svc.db.QueryRowContext(context.Background(), `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil || pages != 16000 {
		t.Fatalf("writer wal_autocheckpoint = %d, %v; want the 16000-page backstop", pages, err)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
}
