package sqlite_test

import (
	"context"
	"reflect"
	"testing"

	"claimline/casesvc"
	"claimline/casesvc/sqlite"
)

// CreateCase builds the case it returns from what it wrote instead of reading it back: it must be
// exactly what reading it back gives, whatever the claim.
func TestCreateCaseReturnsWhatIsStored(t *testing.T) {
	ctx := context.Background()
	svc, clk, _ := open(t)
	motor := medicalClaim("m")
	motor.ClaimType, motor.PolicyNumber = "motor", "MT20250088"
	motor.Claimant = casesvc.Person{Name: "David Lin", Phone: "+886987654321", NationalID: "F128765439"}
	motor.Incident.Details = map[string]string{"vehicle_plate": "ABC-1234"}
	motor.Incident.Conditions = []string{"traffic_accident"}
	late := medicalClaim("late")
	late.Incident.OccurredAt = clk.Now().AddDate(0, 0, -9)
	late.Actor = ""
	odd := medicalClaim("odd")
	odd.Claimant.Name = "王\xffmalformed" // JSON makes it U+FFFD: the answer must show what is stored
	odd.Incident.EstimatedAmount = nil
	odd.Incident.Conditions = []string{}
	typhoon := medicalClaim("typhoon")
	typhoon.ClaimType, typhoon.PolicyNumber = "property", "MT20250088"
	typhoon.Incident.Place = "高雄市前鎮區"
	noKey := medicalClaim("")
	for _, tc := range []struct {
		name string
		nc   casesvc.NewCase
		em   *casesvc.Emergency
	}{
		{"medical", medicalClaim("a"), nil},
		{"motor", motor, nil},
		{"late, no actor", late, nil},
		{"malformed text", odd, nil},
		{"no key", noKey, nil},
		{"green channel", typhoon, &casesvc.Emergency{Active: true, Name: "凱米颱風", Regions: []string{"高雄"},
			From: "2026-11-20", To: "2026-11-25", Checklists: map[string][]string{"property": {"claim_form", "damage_photos"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.em != nil {
				if _, err := svc.SetEmergency(ctx, *tc.em, cat); err != nil {
					t.Fatal(err)
				}
				defer svc.SetEmergency(ctx, casesvc.Emergency{}, cat)
			}
			c, err := svc.CreateCase(ctx, tc.nc)
			if err != nil {
				t.Fatal(err)
			}
			stored, err := svc.Case(ctx, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, stored) {
				t.Errorf("returned\n%+v\nstored\n%+v", c, stored)
			}
			if tc.nc.IdempotencyKey != "" {
				again, err := svc.CreateCase(ctx, tc.nc)
				if err != nil || !reflect.DeepEqual(again, stored) {
					t.Errorf("retried = %+v, %v", again, err)
				}
			}
		})
	}
}

// A policy or an emergency changed by another process (here another Service on the same file, as
// `claimline policies import` while serve runs) counts for the very next claim and lookup, even when
// this store has decoded the old one.
func TestCreateCaseSeesChangesFromAnotherProcess(t *testing.T) {
	ctx := context.Background()
	svc, clk, path := open(t)
	other, err := sqlite.New(path, sqlite.Config{Location: taipei, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := svc.CreateCase(ctx, medicalClaim("1")); err != nil { // decodes HL20240017
		t.Fatal(err)
	}
	p, err := svc.Policy(ctx, "HL20240017")
	if err != nil {
		t.Fatal(err)
	}
	p.ClaimTypes[0] = "changed by the caller" // a copy: the store's decoded policy stays
	lapsed, _ := other.Policy(ctx, "HL20240017")
	lapsed.Status = "lapsed"
	if err := other.PutPolicy(ctx, lapsed, "import"); err != nil {
		t.Fatal(err)
	}
	if got, err := svc.Policy(ctx, "HL20240017"); err != nil || got.Status != "lapsed" || got.ClaimTypes[0] != "medical" {
		t.Errorf("after the import: %+v, %v", got, err)
	}
	if _, err := svc.CreateCase(ctx, medicalClaim("2")); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("claim on the lapsed policy: %v", err)
	}
	lapsed.Status = "active"
	if err := other.PutPolicy(ctx, lapsed, "import"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateCase(ctx, medicalClaim("3")); err != nil {
		t.Errorf("claim on the policy in force again: %v", err)
	}

	// Without a lookup in between: the claim is checked on the decoded copy, then on the row inside
	// its transaction.
	noMedical := *lapsed
	noMedical.ClaimTypes = []string{"accident"}
	if err := other.PutPolicy(ctx, &noMedical, "import"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateCase(ctx, medicalClaim("4")); casesvc.ErrorCode(err) != casesvc.EINVALID {
		t.Errorf("claim the policy no longer covers: %v", err)
	}
	if err := other.PutPolicy(ctx, lapsed, "import"); err != nil {
		t.Fatal(err)
	}

	nc := medicalClaim("5")
	nc.Incident.Place = "高雄市"
	if _, err := other.SetEmergency(ctx, casesvc.Emergency{Active: true, Name: "凱米颱風", Regions: []string{"高雄"},
		From: "2026-11-20", To: "2026-11-25"}, cat); err != nil {
		t.Fatal(err)
	}
	if c, err := svc.CreateCase(ctx, nc); err != nil || c.Priority != "green_channel" {
		t.Errorf("claim in the declared event: %+v, %v", c, err)
	}
	if _, err := other.SetEmergency(ctx, casesvc.Emergency{}, cat); err != nil {
		t.Fatal(err)
	}
	nc.IdempotencyKey = "6"
	if c, err := svc.CreateCase(ctx, nc); err != nil || c.Priority != "normal" {
		t.Errorf("claim after the event ended: %+v, %v", c, err)
	}
	if em, err := svc.CurrentEmergency(ctx); err != nil || em != nil {
		t.Errorf("current emergency = %+v, %v", em, err)
	}
}
