package casesvc

import (
	"strings"
	"time"
)

// Default deadlines (domain.md "Deadlines"), counted from the day the documents are complete.
const (
	DefaultDecisionDays = 10
	DefaultPaymentDays  = 15 // Insurance Act art. 34
	// ReportingGuidelineDays is how soon customers should report (art. 58); later reports are
	// accepted and the gap recorded.
	ReportingGuidelineDays = 5
)

// ValidateNewCase checks a submission against its policy (nil when not found) and the catalog.
// Errors are ENOTFOUND for an unknown policy and EINVALID otherwise, with messages fit for staff
// and, through the dialog, customers.
func ValidateNewCase(nc NewCase, p *Policy, cat *Catalog, now time.Time) error {
	if strings.TrimSpace(nc.PolicyNumber) == "" {
		return Errorf(EINVALID, "Policy number is required.")
	}
	if strings.TrimSpace(nc.ClaimType) == "" {
		return Errorf(EINVALID, "Claim type is required.")
	}
	if _, ok := cat.ClaimType(nc.ClaimType); !ok {
		return Errorf(EINVALID, "Unknown claim type %q.", nc.ClaimType)
	}
	if p == nil {
		return Errorf(ENOTFOUND, "Policy %s was not found.", nc.PolicyNumber)
	}
	if p.Status != "active" {
		return Errorf(EINVALID, "Policy %s is not in force (status %s), so it cannot take a new claim.", p.Number, p.Status)
	}
	covered := false
	for _, ct := range p.ClaimTypes {
		covered = covered || ct == nc.ClaimType
	}
	if !covered {
		return Errorf(EINVALID, "Policy %s does not cover %s claims.", p.Number, nc.ClaimType)
	}
	if strings.TrimSpace(nc.Channel) == "" {
		return Errorf(EINVALID, "Channel is required.")
	}
	if strings.TrimSpace(nc.Claimant.Name) == "" {
		return Errorf(EINVALID, "The claimant's name is required.")
	}
	if strings.TrimSpace(nc.Claimant.Phone) == "" {
		return Errorf(EINVALID, "A contact phone number is required.")
	}
	if nc.Incident.OccurredAt.IsZero() {
		return Errorf(EINVALID, "When it happened is required.")
	}
	if nc.Incident.OccurredAt.After(now) {
		return Errorf(EINVALID, "The incident date %s is in the future.", nc.Incident.OccurredAt.Format(time.DateOnly))
	}
	if a := nc.Incident.EstimatedAmount; a != nil && *a < 0 {
		return Errorf(EINVALID, "The estimated amount cannot be negative.")
	}
	for _, c := range nc.Incident.Conditions {
		if !cat.HasCondition(c) {
			return Errorf(EINVALID, "Unknown condition %q.", c)
		}
	}
	return nil
}

// ReportedLateDays returns the calendar days in loc between the incident and the report when that
// exceeds the reporting guideline, else 0.
func ReportedLateDays(occurred, reported time.Time, loc *time.Location) int {
	o := occurred.In(loc)
	r := reported.In(loc)
	od := time.Date(o.Year(), o.Month(), o.Day(), 0, 0, 0, 0, time.UTC)
	rd := time.Date(r.Year(), r.Month(), r.Day(), 0, 0, 0, 0, time.UTC)
	days := int(rd.Sub(od).Hours() / 24)
	if days > ReportingGuidelineDays {
		return days
	}
	return 0
}

// MissingDocuments is required minus the kinds received and not rejected, in required order.
func MissingDocuments(required []string, docs []Document) []string {
	have := map[string]bool{}
	for _, d := range docs {
		if d.Status != "rejected" {
			have[d.Kind] = true
		}
	}
	out := []string{}
	for _, k := range required {
		if !have[k] {
			out = append(out, k)
		}
	}
	return out
}
