package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/sqlite"
)

// benchStore is a store on a real file in a temp dir, seeded with the demo policies as
// `claimline serve` seeds a new install, on the real clock (ids and deadlines as in production).
func benchStore(b *testing.B) *sqlite.Service {
	b.Helper()
	svc, err := sqlite.New(filepath.Join(b.TempDir(), "casesvc.db"), sqlite.Config{Location: taipei})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close() })
	if _, err := sqlite.SeedDemo(context.Background(), svc); err != nil {
		b.Fatal(err)
	}
	return svc
}

// benchClaims are the bench's two scripted claims (internal/bench): a zh-TW medical claim and an
// English motor claim, each with a fresh idempotency key.
func benchClaim(i int) casesvc.NewCase {
	amount := 35000.0
	at := time.Now().In(taipei).Add(-26 * time.Hour).Truncate(time.Hour)
	if i%2 == 0 {
		return casesvc.NewCase{
			IdempotencyKey: fmt.Sprintf("web-%d:9", i), ClaimType: "medical", PolicyNumber: "HL20240017",
			Channel: "webchat", Conversation: fmt.Sprintf("web-%d", i),
			Claimant: casesvc.Person{Name: "王小明", Phone: "+886912345678", NationalID: "A123456789"},
			Incident: casesvc.Incident{OccurredAt: at, Place: "台大醫院", Cause: "急性盲腸炎", Description: "住院三天",
				EstimatedAmount: &amount},
			Actor: "bot",
		}
	}
	return casesvc.NewCase{
		IdempotencyKey: fmt.Sprintf("web-%d:11", i), ClaimType: "motor", PolicyNumber: "MT20250088",
		Channel: "webchat", Conversation: fmt.Sprintf("web-%d", i),
		Claimant: casesvc.Person{Name: "David Lin", Phone: "+886987654321", NationalID: "F128765439"},
		Incident: casesvc.Incident{OccurredAt: at, Place: "Xinyi Road, Taipei", Cause: "rear-ended at a light",
			Description: "bumper and tail light broken", EstimatedAmount: &amount,
			Details: map[string]string{"vehicle_plate": "ABC-1234"}},
		Actor: "bot",
	}
}

// cpuTime is the process's CPU time so far (user and system): benchmarks report it per op, since
// on a shared machine it moves far less than the wall clock.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Microseconds())/float64(b.N), "cpu-µs/op")
}

// BenchmarkCreateCase files one claim: the case with its checklist, initial document request,
// timeline and audit, in one transaction on the file.
func BenchmarkCreateCase(b *testing.B) {
	svc := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	cpu := cpuTime()
	for b.Loop() {
		if _, err := svc.CreateCase(ctx, benchClaim(i)); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportCPU(b, cpu)
}

// BenchmarkCreateCaseParallel files claims from several goroutines at once, as many conversations
// confirming together do: they share the one writer connection.
func BenchmarkCreateCaseParallel(b *testing.B) {
	svc := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(8)
	var n int64
	var mu = make(chan struct{}, 1)
	cpu := cpuTime()
	defer reportCPU(b, cpu)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			mu <- struct{}{}
			n++
			i := int(n)
			<-mu
			if _, err := svc.CreateCase(ctx, benchClaim(i)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// BenchmarkPolicy is the identity check's lookup of one policy.
func BenchmarkPolicy(b *testing.B) {
	svc := benchStore(b)
	ctx := context.Background()
	b.ReportAllocs()
	cpu := cpuTime()
	for b.Loop() {
		if _, err := svc.Policy(ctx, "HL20240017"); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}
