package httpapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"claimline/casesvc"
)

// MinTokenLength is the shortest staff token accepted; shorter ones are guessable.
const MinTokenLength = 16

// Authenticator knows the staff accounts and checks bearer tokens.
type Authenticator struct {
	entries []authEntry
}

type authEntry struct {
	hash  [sha256.Size]byte
	staff casesvc.Staff
}

// NewAuthenticator builds an authenticator from staff accounts. It rejects unknown roles, short
// tokens and tokens used twice (which would make the role of a request ambiguous).
func NewAuthenticator(staff []casesvc.Staff) (*Authenticator, error) {
	a := &Authenticator{}
	seen := map[[sha256.Size]byte]bool{}
	for i, s := range staff {
		if err := validateStaff(s); err != nil {
			return nil, fmt.Errorf("httpapi: staff #%d: %w", i+1, err)
		}
		h := sha256.Sum256([]byte(s.Token))
		if seen[h] {
			return nil, fmt.Errorf("httpapi: staff #%d (%s): token already used by another account", i+1, s.Name)
		}
		seen[h] = true
		a.entries = append(a.entries, authEntry{hash: h, staff: s})
	}
	return a, nil
}

func validateStaff(s casesvc.Staff) error {
	if strings.TrimSpace(s.Name) == "" {
		return errors.New("empty name")
	}
	if !casesvc.ValidRole(s.Role) {
		return fmt.Errorf("%s: unknown role %q (want specialist, supervisor, manager or admin)", s.Name, s.Role)
	}
	if len(s.Token) < MinTokenLength {
		return fmt.Errorf("%s: token shorter than %d characters", s.Name, MinTokenLength)
	}
	return nil
}

// Authenticate returns the staff member holding token. Tokens are hashed to a fixed length and
// every account is compared, so neither the length nor the position of a match leaks through timing.
func (a *Authenticator) Authenticate(token string) (casesvc.Staff, bool) {
	h := sha256.Sum256([]byte(token))
	var found casesvc.Staff
	ok := 0
	for _, e := range a.entries {
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
			found, ok = e.staff, 1
		}
	}
	return found, ok == 1 && token != ""
}

type staffKey struct{}

// StaffFrom returns the authenticated staff member of a request handled by this package.
func StaffFrom(ctx context.Context) (casesvc.Staff, bool) {
	s, ok := ctx.Value(staffKey{}).(casesvc.Staff)
	return s, ok
}

// bearer extracts the token of an "Authorization: Bearer <token>" header.
func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return ""
	}
	return strings.TrimSpace(h[len(prefix):])
}

// ParseStaff parses CLAIMLINE_STAFF: "name:role:token" entries separated by commas. An empty value
// gives no accounts (the caller falls back to DemoStaff). Errors never contain a token.
func ParseStaff(env string) ([]casesvc.Staff, error) {
	if strings.TrimSpace(env) == "" {
		return nil, nil
	}
	var out []casesvc.Staff
	for i, item := range strings.Split(env, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		parts := strings.SplitN(item, ":", 3)
		if len(parts) != 3 {
			return nil, fmt.Errorf("CLAIMLINE_STAFF entry %d: want name:role:token", i+1)
		}
		s := casesvc.Staff{Name: strings.TrimSpace(parts[0]), Role: casesvc.Role(strings.TrimSpace(parts[1])), Token: strings.TrimSpace(parts[2])}
		if err := validateStaff(s); err != nil {
			return nil, fmt.Errorf("CLAIMLINE_STAFF entry %d: %w", i+1, err)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, errors.New("CLAIMLINE_STAFF: no entries")
	}
	return out, nil
}

// DemoStaff returns one account per role ("demo-specialist", ...) with fresh random tokens, for an
// install without CLAIMLINE_STAFF. The caller prints the tokens once at start; nothing logs them.
func DemoStaff() []casesvc.Staff {
	roles := []casesvc.Role{casesvc.RoleSpecialist, casesvc.RoleSupervisor, casesvc.RoleManager, casesvc.RoleAdmin}
	out := make([]casesvc.Staff, 0, len(roles))
	for _, r := range roles {
		out = append(out, casesvc.Staff{Name: "demo-" + string(r), Role: r, Token: rand.Text()})
	}
	return out
}
