package intake

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"claimline/casesvc"
)

// A key queued before a restart (or a crash: nothing but the file survives) is still known after it:
// the replayed confirm turn gets "queued" again and files nothing, until the replay files it.
func TestQueuedKeyKnownAfterRestart(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	nc := casesvc.NewCase{IdempotencyKey: "conv-9:4", ClaimType: "medical", PolicyNumber: "HL20240017",
		Channel: "webchat", Conversation: "conv-9",
		Claimant: casesvc.Person{Name: "王小明", Phone: "+886912345678", NationalID: "A123456789"},
		Incident: casesvc.Incident{OccurredAt: start.Add(-48 * time.Hour), Place: "台大醫院"}}
	release := lock(t, filepath.Join(e.dir, "casesvc.db"))
	if _, err := e.box.CreateCase(ctx, nc); !errors.Is(err, ErrQueued) {
		t.Fatalf("during the outage: %v, want queued", err)
	}
	release()
	e.box.Close()

	box, err := Open(Config{Path: filepath.Join(e.dir, "intake.db"), Cases: e.svc, Now: func() time.Time { return start }})
	if err != nil {
		t.Fatal(err)
	}
	defer box.Close()
	if _, err := box.CreateCase(ctx, nc); !errors.Is(err, ErrQueued) {
		t.Fatalf("after the restart: %v, want queued", err)
	}
	if n := len(e.cases()); n != 0 {
		t.Fatalf("%d cases filed by the replayed turn", n)
	}
	// Another key goes straight to the case service.
	nc.IdempotencyKey = "conv-9:5"
	if c, err := box.CreateCase(ctx, nc); err != nil || c.ID == "" {
		t.Fatalf("a new key: %+v, %v", c, err)
	}
	if n, err := box.ReplayOnce(ctx); err != nil || n != 1 {
		t.Fatalf("replay: %d, %v", n, err)
	}
	if n := len(e.cases()); n != 2 {
		t.Fatalf("%d cases, want the queued one and the new one", n)
	}
}
