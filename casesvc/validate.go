package casesvc

import (
	"fmt"
	"regexp"
	"strings"
	"time"
)

var (
	nationalIDPattern = regexp.MustCompile(`^[A-Z][1289][0-9]{8}$`)
	e164Pattern       = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// nationalIDLetter is the two-digit number for each leading letter (domain.md "Formats").
var nationalIDLetter = map[byte]int{
	'A': 10, 'B': 11, 'C': 12, 'D': 13, 'E': 14, 'F': 15, 'G': 16, 'H': 17, 'I': 34, 'J': 18,
	'K': 19, 'L': 20, 'M': 21, 'N': 22, 'O': 35, 'P': 23, 'Q': 24, 'R': 25, 'S': 26, 'T': 27,
	'U': 28, 'V': 29, 'W': 32, 'X': 30, 'Y': 31, 'Z': 33,
}

// ValidNationalID reports whether s is a Taiwan national ID (or new-format resident certificate)
// with a correct checksum.
func ValidNationalID(s string) bool {
	if !nationalIDPattern.MatchString(s) {
		return false
	}
	n := nationalIDLetter[s[0]]
	sum := n/10 + (n%10)*9
	weights := [9]int{8, 7, 6, 5, 4, 3, 2, 1, 1}
	for i, w := range weights {
		sum += int(s[1+i]-'0') * w
	}
	return sum%10 == 0
}

// ValidatePolicy checks a policy before it is stored. The catalog decides which claim types exist.
// Errors are EINVALID with a message naming the field.
func ValidatePolicy(p *Policy, cat *Catalog) error {
	if p == nil {
		return Errorf(EINVALID, "Policy is required.")
	}
	if strings.TrimSpace(p.Number) == "" {
		return Errorf(EINVALID, "Policy number is required.")
	}
	if err := validatePerson("holder", &p.Holder, true); err != nil {
		return err
	}
	if p.Insured != nil {
		if err := validatePerson("insured", p.Insured, false); err != nil {
			return err
		}
	}
	switch p.Status {
	case "active", "lapsed":
	default:
		return Errorf(EINVALID, "Policy status must be active or lapsed.")
	}
	if len(p.ClaimTypes) == 0 {
		return Errorf(EINVALID, "A policy must cover at least one claim type.")
	}
	seen := map[string]bool{}
	for _, ct := range p.ClaimTypes {
		if _, ok := cat.ClaimType(ct); !ok {
			return Errorf(EINVALID, "Unknown claim type %q.", ct)
		}
		if seen[ct] {
			return Errorf(EINVALID, "Claim type %q is listed twice.", ct)
		}
		seen[ct] = true
	}
	return nil
}

// validatePerson checks a policy person. The holder needs an ID and birth date because the bot
// verifies customers against them.
func validatePerson(field string, p *Person, identity bool) error {
	if strings.TrimSpace(p.Name) == "" {
		return Errorf(EINVALID, "The %s's name is required.", field)
	}
	if p.NationalID != "" || identity {
		if !ValidNationalID(p.NationalID) {
			return Errorf(EINVALID, "The %s's national ID is not a valid Taiwan ID number.", field)
		}
	}
	if p.BirthDate != "" || identity {
		d, err := time.Parse(time.DateOnly, p.BirthDate)
		if err != nil {
			return Errorf(EINVALID, "The %s's birth date must be a date as YYYY-MM-DD.", field)
		}
		if d.After(time.Now()) || d.Year() < 1900 {
			return Errorf(EINVALID, "The %s's birth date is out of range.", field)
		}
	}
	if p.Phone != "" && !e164Pattern.MatchString(p.Phone) {
		return Errorf(EINVALID, "The %s's phone must be in international form, e.g. +886912345678.", field)
	}
	return nil
}

// FormatCaseID formats a case id from its day (already in the configured zone) and daily counter.
func FormatCaseID(day time.Time, n int) string {
	return fmt.Sprintf("CLM-%s-%06d", day.Format("20060102"), n)
}

var caseIDPattern = regexp.MustCompile(`^CLM-[0-9]{8}-[0-9]{6}$`)

// ValidCaseID reports whether s has the case id format CLM-YYYYMMDD-NNNNNN.
func ValidCaseID(s string) bool { return caseIDPattern.MatchString(s) }
