package sqlite_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/sqlite"
)

var taipei = time.FixedZone("Asia/Taipei", 8*3600)

// clock is a settable Now for the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

// open returns a seeded store on a fresh file and its clock, fixed at 2026-11-24 10:00 Taipei.
func open(t *testing.T) (*sqlite.Service, *clock, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cases.db")
	clk := &clock{t: time.Date(2026, 11, 24, 10, 0, 0, 0, taipei)}
	svc, err := sqlite.New(path, sqlite.Config{Location: taipei, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	if n, err := sqlite.SeedDemo(context.Background(), svc); err != nil || n != len(casesvc.DemoPolicies()) {
		t.Fatalf("SeedDemo = %d, %v", n, err)
	}
	return svc, clk, path
}

func medicalClaim(key string) casesvc.NewCase {
	amount := 35000.0
	return casesvc.NewCase{
		IdempotencyKey: key,
		ClaimType:      "medical",
		PolicyNumber:   "HL20240017",
		Channel:        "telegram",
		Conversation:   "tg-42",
		Claimant:       casesvc.Person{Name: "王小明", Phone: "+886912345678", NationalID: "A123456789"},
		Incident: casesvc.Incident{
			OccurredAt:      time.Date(2026, 11, 23, 15, 0, 0, 0, taipei),
			Place:           "台大醫院",
			Cause:           "急性盲腸炎",
			Description:     "住院三天",
			EstimatedAmount: &amount,
		},
		Actor: "bot",
	}
}

func TestCreateCase(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := open(t)
	c, err := svc.CreateCase(ctx, medicalClaim("tg-42:7"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ID != "CLM-20261124-000001" {
		t.Errorf("id = %s", c.ID)
	}
	want := []string{"claim_form", "id_document", "diagnosis_certificate", "medical_receipts", "bank_account"}
	if !slices.Equal(c.RequiredDocuments, want) || !slices.Equal(c.MissingDocuments, want) {
		t.Errorf("required %v missing %v", c.RequiredDocuments, c.MissingDocuments)
	}
	if c.Status != casesvc.StatusAwaitingDocuments || c.Priority != "normal" || c.ReportedLateDays != 0 {
		t.Errorf("status %s priority %s late %d", c.Status, c.Priority, c.ReportedLateDays)
	}
	if len(c.DocumentRequests) != 1 {
		t.Fatalf("document requests = %+v", c.DocumentRequests)
	}
	if r := c.DocumentRequests[0]; r.Reason != "initial" || r.Channel != "telegram" || !slices.Equal(r.Kinds, want) {
		t.Errorf("initial request = %+v", r)
	}
	if c.Deadlines.PaymentDue != nil {
		t.Error("payment clock runs while documents are missing")
	}
	var events []string
	for _, e := range c.Timeline {
		events = append(events, e.Event)
	}
	if !slices.Equal(events, []string{"received", "documents_requested", "awaiting_documents"}) {
		t.Errorf("timeline events = %v", events)
	}
	audit, err := svc.Audit(ctx, casesvc.AuditFilter{CaseID: c.ID})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, a := range audit {
		actions = append(actions, a.Action)
	}
	if !slices.Equal(actions, []string{"case_created", "documents_requested"}) || !strings.Contains(audit[1].Detail, "reason=initial") {
		t.Errorf("audit = %+v", audit)
	}

	// The next case that day gets the next number; the first case of the next day starts again.
	c2, err := svc.CreateCase(ctx, medicalClaim(""))
	if err != nil || c2.ID != "CLM-20261124-000002" {
		t.Fatalf("second case: %v, %v", c2, err)
	}
}

func TestDailyCounterUsesConfiguredZone(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	// 16:30 UTC on the 24th is 00:30 on the 25th in Taipei.
	clk.Set(time.Date(2026, 11, 24, 16, 30, 0, 0, time.UTC))
	c, err := svc.CreateCase(ctx, medicalClaim(""))
	if err != nil || c.ID != "CLM-20261125-000001" {
		t.Fatalf("case = %v, %v", c, err)
	}
	clk.Set(time.Date(2026, 11, 26, 9, 0, 0, 0, taipei))
	c, err = svc.CreateCase(ctx, medicalClaim(""))
	if err != nil || c.ID != "CLM-20261126-000001" {
		t.Fatalf("next day case = %v, %v", c, err)
	}
}

func TestCreateCaseChecklistAndLateness(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := open(t)
	nc := medicalClaim("")
	nc.ClaimType = "accident"
	nc.Incident.Conditions = []string{"traffic_accident"}
	nc.Incident.OccurredAt = time.Date(2026, 11, 10, 8, 0, 0, 0, taipei) // 14 days before
	c, err := svc.CreateCase(ctx, nc)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.MissingDocuments, "police_report") || !slices.Contains(c.DocumentRequests[0].Kinds, "police_report") {
		t.Errorf("traffic accident: missing %v", c.MissingDocuments)
	}
	if c.ReportedLateDays != 14 {
		t.Errorf("ReportedLateDays = %d, want 14", c.ReportedLateDays)
	}
	if !slices.Equal(c.Incident.Conditions, []string{"traffic_accident"}) || c.Incident.EstimatedAmount == nil || *c.Incident.EstimatedAmount != 35000 {
		t.Errorf("incident not kept: %+v", c.Incident)
	}
}

func TestCreateCaseIdempotent(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := open(t)
	first, err := svc.CreateCase(ctx, medicalClaim("conv-1:3"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := svc.CreateCase(ctx, medicalClaim("conv-1:3"))
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID {
		t.Errorf("retry filed a second case: %s then %s", first.ID, again.ID)
	}
	if _, total, _ := svc.Cases(ctx, casesvc.CaseFilter{}); total != 1 {
		t.Errorf("total = %d, want 1", total)
	}
	// The retry's counter was rolled back, so the next case takes number 2.
	next, err := svc.CreateCase(ctx, medicalClaim("conv-1:4"))
	if err != nil || next.ID != "CLM-20261124-000002" {
		t.Errorf("next = %v, %v", next, err)
	}
}

func TestCreateCaseRejects(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := open(t)
	tests := []struct {
		name   string
		mutate func(nc *casesvc.NewCase)
		code   string
	}{
		{"future incident", func(nc *casesvc.NewCase) { nc.Incident.OccurredAt = time.Date(2026, 11, 25, 9, 0, 0, 0, taipei) }, casesvc.EINVALID},
		{"uncovered claim type", func(nc *casesvc.NewCase) { nc.ClaimType = "motor" }, casesvc.EINVALID},
		{"unknown claim type", func(nc *casesvc.NewCase) { nc.ClaimType = "pets" }, casesvc.EINVALID},
		{"lapsed policy", func(nc *casesvc.NewCase) { nc.PolicyNumber = "HL20180999" }, casesvc.EINVALID},
		{"unknown policy", func(nc *casesvc.NewCase) { nc.PolicyNumber = "XX00000000" }, casesvc.ENOTFOUND},
		{"no claimant name", func(nc *casesvc.NewCase) { nc.Claimant.Name = "" }, casesvc.EINVALID},
		{"no occurred_at", func(nc *casesvc.NewCase) { nc.Incident.OccurredAt = time.Time{} }, casesvc.EINVALID},
		{"unknown condition", func(nc *casesvc.NewCase) { nc.Incident.Conditions = []string{"flood"} }, casesvc.EINVALID},
		{"no channel", func(nc *casesvc.NewCase) { nc.Channel = "" }, casesvc.EINVALID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc := medicalClaim("")
			tt.mutate(&nc)
			_, err := svc.CreateCase(ctx, nc)
			if casesvc.ErrorCode(err) != tt.code {
				t.Fatalf("err = %v, want code %s", err, tt.code)
			}
			if casesvc.ErrorMessage(err) == "Internal error." {
				t.Errorf("message not human: %v", err)
			}
		})
	}
	if _, total, _ := svc.Cases(ctx, casesvc.CaseFilter{}); total != 0 {
		t.Errorf("rejected submissions stored %d cases", total)
	}
}

func TestReopenKeepsEverything(t *testing.T) {
	ctx := context.Background()
	svc, clk, path := open(t)
	c, err := svc.CreateCase(ctx, medicalClaim("k"))
	if err != nil {
		t.Fatal(err)
	}
	if err := svc.RecordAudit(ctx, casesvc.AuditEntry{Actor: "amy", Action: "view_unmasked", CaseID: c.ID}); err != nil {
		t.Fatal(err)
	}
	svc.Close()

	// Reopening runs the migrations again: they must be no-ops.
	svc2, err := sqlite.New(path, sqlite.Config{Location: taipei, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer svc2.Close()
	got, err := svc2.Case(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Claimant != c.Claimant || !slices.Equal(got.MissingDocuments, c.MissingDocuments) ||
		len(got.DocumentRequests) != 1 || len(got.Timeline) != len(c.Timeline) || !got.CreatedAt.Equal(c.CreatedAt) {
		t.Errorf("after reopen:\n got %+v\nwant %+v", got, c)
	}
	if !got.Incident.OccurredAt.Equal(c.Incident.OccurredAt) {
		t.Errorf("occurred_at %v, want %v", got.Incident.OccurredAt, c.Incident.OccurredAt)
	}
	audit, _ := svc2.Audit(ctx, casesvc.AuditFilter{Actor: "amy"})
	if len(audit) != 1 || audit[0].CaseID != c.ID {
		t.Errorf("audit after reopen = %+v", audit)
	}
	if p, err := svc2.Policy(ctx, "MT20250088"); err != nil || p.Holder.Name != "David Lin" {
		t.Errorf("policy after reopen = %+v, %v", p, err)
	}
	if n, err := sqlite.SeedDemo(ctx, svc2); err != nil || n != 0 {
		t.Errorf("second SeedDemo = %d, %v; want 0", n, err)
	}
	// Counters survive too.
	next, err := svc2.CreateCase(ctx, medicalClaim(""))
	if err != nil || next.ID != "CLM-20261124-000002" {
		t.Errorf("next after reopen = %v, %v", next, err)
	}
	// And so does idempotency.
	same, err := svc2.CreateCase(ctx, medicalClaim("k"))
	if err != nil || same.ID != c.ID {
		t.Errorf("idempotent after reopen = %v, %v", same, err)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.db")
	for i := 0; i < 3; i++ {
		svc, err := sqlite.New(path, sqlite.Config{})
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		if err := svc.Ping(context.Background()); err != nil {
			t.Fatalf("ping %d: %v", i, err)
		}
		if v, err := svc.SchemaVersion(context.Background()); err != nil || v != 3 {
			t.Fatalf("schema version %d, %v", v, err)
		}
		if _, err := os.Stat(path + "-wal"); err != nil {
			t.Errorf("no WAL file while open: %v", err)
		}
		svc.Close()
	}
}

func TestConcurrentCreateCase(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := open(t)
	const n = 20
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := svc.CreateCase(ctx, medicalClaim(fmt.Sprintf("conv-%d:1", i)))
			if err == nil {
				ids[i] = c.ID
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for i, id := range ids {
		if errs[i] != nil {
			t.Fatalf("goroutine %d: %v", i, errs[i])
		}
		if !casesvc.ValidCaseID(id) || seen[id] {
			t.Errorf("bad or duplicate id %q", id)
		}
		seen[id] = true
	}
	if len(seen) != n || !seen["CLM-20261124-000020"] {
		t.Errorf("ids = %v", ids)
	}
}

func TestConcurrentIdempotentRetries(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := open(t)
	var wg sync.WaitGroup
	ids := make([]string, 10)
	for i := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := svc.CreateCase(ctx, medicalClaim("same-turn")); err == nil {
				ids[i] = c.ID
			}
		}()
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] || id == "" {
			t.Fatalf("retries got different cases: %v", ids)
		}
	}
}

func TestCasesFiltersAndPaging(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	base := clk.Now()
	var ids []string
	for i := range 5 {
		clk.Set(base.Add(time.Duration(i) * time.Minute))
		nc := medicalClaim("")
		if i%2 == 1 {
			nc.ClaimType, nc.PolicyNumber = "motor", "MT20250088"
			nc.Claimant = casesvc.Person{Name: "David Lin", Phone: "+886987654321"}
			nc.Incident.Place, nc.Incident.Cause = "Xinyi Road 100%", "rear-ended at a light"
		}
		c, err := svc.CreateCase(ctx, nc)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	list := func(f casesvc.CaseFilter) ([]string, int) {
		cs, total, err := svc.Cases(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, c := range cs {
			got = append(got, c.ID)
		}
		return got, total
	}
	tests := []struct {
		name  string
		f     casesvc.CaseFilter
		want  []string
		total int
	}{
		{"all newest first", casesvc.CaseFilter{}, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, 5},
		{"page 2 of 2", casesvc.CaseFilter{Page: 2, PerPage: 2}, []string{ids[2], ids[1]}, 5},
		{"past the end", casesvc.CaseFilter{Page: 9, PerPage: 2}, nil, 5},
		{"claim type", casesvc.CaseFilter{ClaimType: "motor"}, []string{ids[3], ids[1]}, 2},
		{"policy", casesvc.CaseFilter{PolicyNumber: "HL20240017"}, []string{ids[4], ids[2], ids[0]}, 3},
		{"status", casesvc.CaseFilter{Status: casesvc.StatusAwaitingDocuments}, []string{ids[4], ids[3], ids[2], ids[1], ids[0]}, 5},
		{"status none", casesvc.CaseFilter{Status: casesvc.StatusPaid}, nil, 0},
		{"q name, case-insensitive", casesvc.CaseFilter{Query: "david"}, []string{ids[3], ids[1]}, 2},
		{"q chinese cause", casesvc.CaseFilter{Query: "盲腸"}, []string{ids[4], ids[2], ids[0]}, 3},
		{"q id", casesvc.CaseFilter{Query: ids[2]}, []string{ids[2]}, 1},
		{"q percent is literal", casesvc.CaseFilter{Query: "100%"}, []string{ids[3], ids[1]}, 2},
		{"q underscore is literal", casesvc.CaseFilter{Query: "_"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total := list(tt.f)
			if !slices.Equal(got, tt.want) || total != tt.total {
				t.Errorf("got %v (total %d), want %v (total %d)", got, total, tt.want, tt.total)
			}
		})
	}
	byPolicy, err := svc.CasesByPolicy(ctx, "MT20250088")
	if err != nil || len(byPolicy) != 2 || byPolicy[0].ID != ids[3] {
		t.Errorf("CasesByPolicy = %v, %v", byPolicy, err)
	}
}

func TestPutPolicy(t *testing.T) {
	ctx := context.Background()
	svc, _, _ := open(t)
	p := casesvc.DemoPolicies()[0]
	p.Status = "lapsed"
	if err := svc.PutPolicy(ctx, p, "root"); err != nil {
		t.Fatal(err)
	}
	got, err := svc.Policy(ctx, p.Number)
	if err != nil || got.Status != "lapsed" {
		t.Fatalf("policy = %+v, %v", got, err)
	}
	if _, err := svc.CreateCase(ctx, medicalClaim("")); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("claim on the now lapsed policy: %v", err)
	}
	p.Holder.NationalID = "A123456780"
	if err := svc.PutPolicy(ctx, p, "root"); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("bad national ID accepted: %v", err)
	}
	audit, _ := svc.Audit(ctx, casesvc.AuditFilter{Actor: "root"})
	if len(audit) != 1 || audit[0].Action != "policy_put" || audit[0].Policy != p.Number {
		t.Errorf("audit = %+v", audit)
	}
	if _, err := svc.Policy(ctx, "XX00000000"); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Errorf("unknown policy: %v", err)
	}
}

func TestUnknownCase(t *testing.T) {
	svc, _, _ := open(t)
	if _, err := svc.Case(context.Background(), "CLM-20261124-999999"); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Errorf("err = %v", err)
	}
}
