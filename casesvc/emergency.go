package casesvc

import (
	"slices"
	"strings"
	"time"
)

// Emergency is a declared disaster event (domain.md "Emergencies"). Claims whose incident falls on
// its dates and place get the green channel: priority green_channel, fast track (decision within
// DefaultFastTrackDecisionDays) and, when Checklists has their claim type, that shorter checklist.
type Emergency struct {
	Active  bool     `json:"active"`
	Name    string   `json:"name"`
	Regions []string `json:"regions"` // matched against the incident's place; empty matches everywhere
	From    string   `json:"from"`    // first day, YYYY-MM-DD, in the store's zone
	To      string   `json:"to"`      // last day, inclusive
	// Checklists replaces the checklist of a claim type for matching claims.
	Checklists map[string][]string `json:"checklists,omitempty"`
	DeclaredBy string              `json:"declared_by,omitempty"`
	DeclaredAt time.Time           `json:"declared_at,omitzero"`
}

// ValidateEmergency checks an event before it is stored. An ended event (Active false) needs nothing.
func ValidateEmergency(e *Emergency, cat *Catalog) error {
	if !e.Active {
		return nil
	}
	e.Name = strings.TrimSpace(e.Name)
	if e.Name == "" {
		return Errorf(EINVALID, "An emergency needs a name.")
	}
	from, err := time.Parse(time.DateOnly, e.From)
	if err != nil {
		return Errorf(EINVALID, "from must be a date as YYYY-MM-DD.")
	}
	to, err := time.Parse(time.DateOnly, e.To)
	if err != nil {
		return Errorf(EINVALID, "to must be a date as YYYY-MM-DD.")
	}
	if to.Before(from) {
		return Errorf(EINVALID, "to is before from.")
	}
	regions := e.Regions[:0:0]
	for _, r := range e.Regions {
		if r = strings.TrimSpace(r); r != "" {
			regions = append(regions, r)
		}
	}
	e.Regions = regions
	for ct, kinds := range e.Checklists {
		if _, ok := cat.ClaimType(ct); !ok {
			return Errorf(EINVALID, "Checklist for unknown claim type %q.", ct)
		}
		if len(kinds) == 0 {
			return Errorf(EINVALID, "The checklist for %s is empty; leave the claim type out to keep its usual checklist.", ct)
		}
		for _, k := range kinds {
			if _, ok := cat.Document(k); !ok {
				return Errorf(EINVALID, "Checklist for %s: unknown document kind %q.", ct, k)
			}
		}
		if len(kinds) != len(uniq(kinds)) {
			return Errorf(EINVALID, "Checklist for %s lists a document twice.", ct)
		}
	}
	return nil
}

func uniq(s []string) []string {
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// Matches reports whether an incident falls within the event: its local date within From..To and,
// when the event has regions, its place naming one of them (臺 and 台 are the same).
func (e *Emergency) Matches(inc Incident, loc *time.Location) bool {
	if e == nil || !e.Active {
		return false
	}
	day := inc.OccurredAt.In(loc).Format(time.DateOnly)
	if day < e.From || day > e.To {
		return false
	}
	if len(e.Regions) == 0 {
		return true
	}
	place := normalizePlace(inc.Place)
	for _, r := range e.Regions {
		if r = normalizePlace(r); r != "" && strings.Contains(place, r) {
			return true
		}
	}
	return false
}

func normalizePlace(s string) string { return strings.ToLower(strings.ReplaceAll(s, "臺", "台")) }

// Checklist returns the event's checklist for a claim type, or nil to keep the usual one.
func (e *Emergency) Checklist(claimType string) []string {
	if e == nil {
		return nil
	}
	return slices.Clone(e.Checklists[claimType])
}
