package intake

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"claimline/casesvc"
	casesqlite "claimline/casesvc/sqlite"
)

// BenchmarkCreateCase is a claim filed through the outbox on the embedded store, as the dialog
// files it in `claimline serve`: both databases real files, the store seeded with the demo policies.
func BenchmarkCreateCase(b *testing.B) {
	dir := b.TempDir()
	svc, err := casesqlite.New(filepath.Join(dir, "casesvc.db"), casesqlite.Config{Location: taipei})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	if _, err := casesqlite.SeedDemo(ctx, svc); err != nil {
		b.Fatal(err)
	}
	box, err := Open(Config{Path: filepath.Join(dir, "intake.db"), Cases: svc})
	if err != nil {
		b.Fatal(err)
	}
	defer box.Close()
	// The bench's zh-TW medical claim (internal/bench), a new conversation and key each time.
	nc := casesvc.NewCase{ClaimType: "medical", PolicyNumber: "HL20240017", Channel: "webchat", Actor: "bot",
		Claimant: casesvc.Person{Name: "王小明", Phone: "+886912345678", NationalID: "A123456789"},
		Incident: casesvc.Incident{OccurredAt: time.Now().Add(-26 * time.Hour).Truncate(time.Hour),
			Place: "台大醫院", Cause: "急性盲腸炎", Description: "住院三天"}}
	b.ReportAllocs()
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := ru.Utime.Nano() + ru.Stime.Nano()
	for i := 0; b.Loop(); i++ {
		nc.Conversation = fmt.Sprintf("web-%d", i)
		nc.IdempotencyKey = nc.Conversation + ":9"
		if _, err := box.CreateCase(ctx, nc); err != nil {
			b.Fatal(err)
		}
	}
	// CPU time per claim (user and system): on a shared machine it moves far less than the wall clock.
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	b.ReportMetric(float64(ru.Utime.Nano()+ru.Stime.Nano()-cpu)/1e3/float64(b.N), "cpu-µs/op")
}
