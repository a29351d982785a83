package casesvc_test

import (
	"testing"
	"time"

	"claimline/casesvc"
)

func TestValidNationalID(t *testing.T) {
	tests := []struct {
		id   string
		want bool
	}{
		{"A123456789", true},
		{"F128765439", true},
		{"A123456788", false}, // checksum off by one
		{"A323456789", false}, // gender digit 3 is not issued
		{"a123456789", false},
		{"A12345678", false},
		{"AB12345678", false}, // old resident format is for the dialog only
		{"", false},
	}
	for _, tt := range tests {
		if got := casesvc.ValidNationalID(tt.id); got != tt.want {
			t.Errorf("ValidNationalID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func TestDemoPoliciesValid(t *testing.T) {
	cat := casesvc.DefaultCatalog()
	var lapsed, english bool
	for _, p := range casesvc.DemoPolicies() {
		if err := casesvc.ValidatePolicy(p, cat); err != nil {
			t.Errorf("%s: %v", p.Number, err)
		}
		ids := []string{p.Holder.NationalID}
		if p.Insured != nil {
			ids = append(ids, p.Insured.NationalID)
		}
		for _, id := range ids {
			if !casesvc.ValidNationalID(id) {
				t.Errorf("%s: national ID %s fails the checksum", p.Number, id)
			}
		}
		lapsed = lapsed || p.Status == "lapsed"
		english = english || p.Holder.Name == "David Lin"
	}
	if !lapsed || !english {
		t.Errorf("demo set lacks a lapsed (%v) or English-speaking (%v) policy", lapsed, english)
	}
}

func TestValidatePolicy(t *testing.T) {
	cat := casesvc.DefaultCatalog()
	good := func() *casesvc.Policy { return casesvc.DemoPolicies()[0] }
	tests := []struct {
		name   string
		mutate func(p *casesvc.Policy)
		ok     bool
	}{
		{"good", func(p *casesvc.Policy) {}, true},
		{"bad checksum", func(p *casesvc.Policy) { p.Holder.NationalID = "A123456780" }, false},
		{"bad birth date", func(p *casesvc.Policy) { p.Holder.BirthDate = "1985-13-02" }, false},
		{"future birth date", func(p *casesvc.Policy) { p.Holder.BirthDate = "2999-01-01" }, false},
		{"bad status", func(p *casesvc.Policy) { p.Status = "cancelled" }, false},
		{"unknown claim type", func(p *casesvc.Policy) { p.ClaimTypes = []string{"pets"} }, false},
		{"no claim types", func(p *casesvc.Policy) { p.ClaimTypes = nil }, false},
		{"no number", func(p *casesvc.Policy) { p.Number = "" }, false},
		{"bad phone", func(p *casesvc.Policy) { p.Holder.Phone = "0912-345-678" }, false},
	}
	for _, tt := range tests {
		p := good()
		tt.mutate(p)
		err := casesvc.ValidatePolicy(p, cat)
		if (err == nil) != tt.ok {
			t.Errorf("%s: err = %v", tt.name, err)
		}
		if err != nil && casesvc.ErrorCode(err) != casesvc.EINVALID {
			t.Errorf("%s: code = %s", tt.name, casesvc.ErrorCode(err))
		}
	}
}

func TestMasking(t *testing.T) {
	tests := []struct {
		fn       func(string) string
		in, want string
	}{
		{casesvc.MaskNationalID, "A123456789", "A12****789"},
		{casesvc.MaskNationalID, "AB1", "***"},
		{casesvc.MaskPhone, "+886912345678", "+8869****5678"},
		{casesvc.MaskPhone, "0912345678", "09****5678"},
		{casesvc.MaskPhone, "12345", "*2345"},
		{casesvc.MaskBirthDate, "1985-03-02", "1985-**-**"},
		{casesvc.MaskBirthDate, "", ""},
	}
	for _, tt := range tests {
		if got := tt.fn(tt.in); got != tt.want {
			t.Errorf("mask(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestMaskedFor(t *testing.T) {
	p := casesvc.DemoPolicies()[3] // has an insured person
	c := &casesvc.Case{ID: "CLM-20261124-000001", Claimant: p.Holder}
	tests := []struct {
		role     casesvc.Role
		unmasked bool
	}{
		{casesvc.RoleSpecialist, false},
		{casesvc.RoleAdmin, false},
		{casesvc.RoleSupervisor, true},
		{casesvc.RoleManager, true},
	}
	for _, tt := range tests {
		mc, mp := c.MaskedFor(tt.role), p.MaskedFor(tt.role)
		wantID := casesvc.MaskNationalID(p.Holder.NationalID)
		if tt.unmasked {
			wantID = p.Holder.NationalID
		}
		if mc.Claimant.NationalID != wantID || mp.Holder.NationalID != wantID {
			t.Errorf("%s: case id %q policy id %q, want %q", tt.role, mc.Claimant.NationalID, mp.Holder.NationalID, wantID)
		}
		if !tt.unmasked && (mp.Insured.NationalID == p.Insured.NationalID || mp.Holder.BirthDate == p.Holder.BirthDate) {
			t.Errorf("%s: insured id or birth date left whole", tt.role)
		}
	}
	if c.Claimant.NationalID != p.Holder.NationalID || p.Insured.NationalID != "E102314566" {
		t.Error("MaskedFor changed its receiver")
	}
}

func TestReportedLateDays(t *testing.T) {
	loc := time.FixedZone("TW", 8*3600)
	reported := time.Date(2026, 11, 24, 10, 0, 0, 0, loc)
	tests := []struct {
		occurred time.Time
		want     int
	}{
		{time.Date(2026, 11, 23, 15, 0, 0, 0, loc), 0},
		{time.Date(2026, 11, 19, 8, 0, 0, 0, loc), 0}, // exactly 5 days: on time
		{time.Date(2026, 11, 18, 23, 0, 0, 0, loc), 6},
		{time.Date(2026, 11, 18, 15, 30, 0, 0, time.UTC), 6}, // 23:30 in Taipei
	}
	for _, tt := range tests {
		if got := casesvc.ReportedLateDays(tt.occurred, reported, loc); got != tt.want {
			t.Errorf("ReportedLateDays(%v) = %d, want %d", tt.occurred, got, tt.want)
		}
	}
}
