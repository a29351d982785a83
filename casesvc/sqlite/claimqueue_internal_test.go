package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"claimline/casesvc"
)

func claimOn(policy, key string, at time.Time) casesvc.NewCase {
	return casesvc.NewCase{IdempotencyKey: key, ClaimType: "medical", PolicyNumber: policy, Channel: "webchat",
		Conversation: "web-" + key, Claimant: casesvc.Person{Name: "王小明", Phone: "+886912345678"},
		Incident: casesvc.Incident{OccurredAt: at.Add(-time.Hour), Place: "台北"}}
}

// openQueued is a seeded store on a fresh file with its clock stopped at now.
func openQueued(t *testing.T) (svc *Service, now time.Time, path string) {
	t.Helper()
	now = time.Date(2026, 11, 24, 10, 0, 0, 0, time.FixedZone("Asia/Taipei", 8*3600))
	path = filepath.Join(t.TempDir(), "cases.db")
	svc, err := New(path, Config{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	if _, err := SeedDemo(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	return svc, now, path
}

// One batch of several claims: each has a savepoint of its own, so a claim refused inside the
// transaction, a key already filed in the same batch and a caller gone leave no trace, and the
// others are filed exactly as alone.
func TestClaimBatchKeepsClaimsApart(t *testing.T) {
	ctx := context.Background()
	svc, now, _ := openQueued(t)
	prepare := func(ctx context.Context, nc casesvc.NewCase) *claimOp {
		op, err := svc.prepareClaim(ctx, nc)
		if err != nil {
			t.Fatal(err)
		}
		return op
	}
	gone, cancel := context.WithCancel(ctx)
	a := prepare(ctx, claimOn("HL20240017", "a", now))
	again := prepare(ctx, claimOn("HL20240017", "a", now))
	refused := prepare(ctx, claimOn("LF20190456", "r", now))
	left := prepare(gone, claimOn("HL20240017", "c", now))
	b := prepare(ctx, claimOn("HL20240017", "b", now))
	cancel()
	// Lapsed after it was checked: the transaction sees it and refuses the claim.
	p, _ := svc.Policy(ctx, "LF20190456")
	p.Status = "lapsed"
	if err := svc.PutPolicy(ctx, p, "import"); err != nil {
		t.Fatal(err)
	}

	svc.writeClaims([]*claimOp{a, again, refused, left, b})
	if a.err != nil || a.dup || b.err != nil || b.dup {
		t.Fatalf("filed: %v %v, %v %v", a.err, a.dup, b.err, b.dup)
	}
	if !again.dup || again.err != nil {
		t.Errorf("same key in the batch: dup %v, %v", again.dup, again.err)
	}
	if casesvc.ErrorCode(refused.err) != casesvc.EINVALID {
		t.Errorf("lapsed meanwhile: %v", refused.err)
	}
	if !errors.Is(left.err, context.Canceled) {
		t.Errorf("caller gone: %v", left.err)
	}
	// The counters of the claims taken back are returned: ids stay consecutive.
	if a.id != "CLM-20261124-000001" || b.id != "CLM-20261124-000002" {
		t.Errorf("ids %s %s", a.id, b.id)
	}
	for _, op := range []*claimOp{a, b} {
		c, err := svc.filedCase(op)
		if err != nil {
			t.Fatal(err)
		}
		stored, err := svc.Case(ctx, op.id)
		if err != nil || !reflect.DeepEqual(c, stored) {
			t.Errorf("%s: returned\n%+v\nstored\n%+v (%v)", op.id, c, stored, err)
		}
	}
	var n int
	svc.db.QueryRow(`SELECT (SELECT COUNT(*) FROM cases) + (SELECT COUNT(*) FROM document_requests) +
		(SELECT COUNT(*) FROM timeline) + (SELECT COUNT(*) FROM audit WHERE case_id != '')`).Scan(&n)
	if n != 2*(1+1+3+2) {
		t.Errorf("%d rows written, want those of two claims", n)
	}
}

// Claims waiting for the writer while another process holds it: a caller whose context ends leaves
// at once; the others are all filed, together, once the writer is free.
func TestClaimQueueUnderALockedWriter(t *testing.T) {
	ctx := context.Background()
	svc, now, path := openQueued(t)
	other, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	conn, err := other.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}

	var wg sync.WaitGroup
	errs := make([]error, 6)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = svc.CreateCase(ctx, claimOn("HL20240017", string(rune('a'+i)), now))
		}()
		time.Sleep(20 * time.Millisecond) // the first leads and waits in BEGIN; the others queue
	}
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if _, err := svc.CreateCase(short, claimOn("HL20240017", "late", now)); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a caller who gives up: %v", err)
	}
	if d := time.Since(t0); d > time.Second {
		t.Errorf("left after %v, not when its context ended", d)
	}
	if _, err := conn.ExecContext(ctx, `ROLLBACK`); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("claim %d: %v", i, err)
		}
	}
	cs, _, err := svc.Cases(ctx, casesvc.CaseFilter{PerPage: 100})
	if err != nil || len(cs) != len(errs) {
		t.Errorf("%d cases filed, want %d (%v)", len(cs), len(errs), err)
	}
}

// Claims written together have a SAVEPOINT each: the writer keeps their statement journals in
// memory (temp_store=MEMORY), which took a fifth of a batched claim's CPU as a temporary file.
func TestWriterKeepsStatementJournalsInMemory(t *testing.T) {
	svc, _, _ := openQueued(t)
	var v int
	if err := svc.db.QueryRowContext(context.Background(), `PRAGMA temp_store`).Scan(&v); err != nil || v != 2 {
		t.Fatalf("writer's temp_store = %d, %v; want 2 (MEMORY)", v, err)
	}
}
