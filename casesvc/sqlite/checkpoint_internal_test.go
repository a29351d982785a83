package sqlite

import (
	"context"
	"testing"
	"time"
)

// The case database is checkpointed beside its writer: committed transactions run passes, and the
// writer's own autocheckpoint is only the distant backstop.
func TestCaseDatabaseCheckpointsBesideTheWriter(t *testing.T) {
	svc, _ := openInternal(t) // the demo seed and a claim: committed write transactions
	if svc.ckpt == nil {
		t.Fatal("a file database has no checkpointer")
	}
	deadline := time.Now().Add(5 * time.Second)
	passes, failed := svc.ckpt.Passes()
	for ; passes == 0 && time.Now().Before(deadline); passes, failed = svc.ckpt.Passes() {
		time.Sleep(5 * time.Millisecond)
	}
	if passes == 0 || failed != 0 {
		t.Fatalf("checkpoint passes %d, failed %d after committed writes", passes, failed)
	}
	var pages int
	if err := svc.db.QueryRowContext(context.Background(), `PRAGMA wal_autocheckpoint`).Scan(&pages); err != nil || pages != 16000 {
		t.Fatalf("writer wal_autocheckpoint = %d, %v; want the 16000-page backstop", pages, err)
	}
	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
}
