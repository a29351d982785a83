package sqlite

import (
	"database/sql"
	"encoding/json"
	"maps"
	"slices"
	"sync"

	"claimline/casesvc"
)

// refDocs keeps the decoded form of the reference documents every claim reads (policies, the current
// emergency) beside the stored text it was decoded from, so that a read finding the same text again
// skips json.Unmarshal and hands out a copy.
//
// It is a decoding cache, not a cache of the database: Policy and CurrentEmergency still read the
// row on every call, and CreateCase reads both again inside its write transaction (where the
// writer's page cache makes it cheap) and decides on what is stored there. A change committed by
// anyone - PutPolicy here, `claimline policies import` in another process, an operator's sqlite3
// shell - is therefore seen by the next read exactly as before, with no invalidation to get right.
// (Rejected: answering without a read and noticing changes by PRAGMA data_version. On a reader it
// changes with every claim our own writer commits; on the writer, every policy lookup would queue
// behind the claims' transactions on its one connection.)
//
// Decoded values are never handed out: callers get copies (policyCopy, emergencyCopy).
type refDocs struct {
	mu       sync.Mutex
	policies map[string]policyDoc // by number
	em       emergencyDoc
	emKept   bool // em was decoded (or found to be none) at least once
}

type policyDoc struct {
	text string
	p    *casesvc.Policy
}

// emergencyDoc is the current emergency as CurrentEmergency answers it: text is the newest row's
// doc when that row is active, NULL when there is none or it ended (em nil).
type emergencyDoc struct {
	text sql.NullString
	em   *casesvc.Emergency
}

// maxPolicyDocs bounds the decoded policies kept; past it they are all dropped and decoded again as
// they are read (a real book of policies may be large; the hot ones come back at once).
const maxPolicyDocs = 4096

// policy decodes a policy's stored text, or returns the decoded form kept for that same text.
// The result is shared: copy it before handing it out.
func (r *refDocs) policy(number, text string) (*casesvc.Policy, error) {
	r.mu.Lock()
	d, ok := r.policies[number]
	r.mu.Unlock()
	if ok && d.text == text {
		return d.p, nil
	}
	p := new(casesvc.Policy)
	if err := json.Unmarshal([]byte(text), p); err != nil {
		return nil, err
	}
	r.mu.Lock()
	if r.policies == nil || len(r.policies) >= maxPolicyDocs {
		r.policies = make(map[string]policyDoc)
	}
	r.policies[number] = policyDoc{text: text, p: p}
	r.mu.Unlock()
	return p, nil
}

// emergency decodes the current emergency's text (NULL: none), or returns the decoded form kept for
// that same text. The result is shared: copy it before handing it out.
func (r *refDocs) emergency(text sql.NullString) (*casesvc.Emergency, error) {
	r.mu.Lock()
	d, ok := r.em, r.emKept
	r.mu.Unlock()
	if ok && d.text == text {
		return d.em, nil
	}
	var e *casesvc.Emergency
	if text.Valid {
		e = new(casesvc.Emergency)
		if err := json.Unmarshal([]byte(text.String), e); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	r.em, r.emKept = emergencyDoc{text: text, em: e}, true
	r.mu.Unlock()
	return e, nil
}

// keptPolicy returns the policy as last decoded, with its text, when there is one. It may be older
// than the row: CreateCase checks it against the row in its transaction.
func (r *refDocs) keptPolicy(number string) (claimRefs, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.policies[number]
	return claimRefs{polText: d.text, pol: d.p}, ok
}

// keptEmergency returns the emergency as last read (em nil: none), when it was read once.
func (r *refDocs) keptEmergency() (emergencyDoc, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.em, r.emKept
}

// policyCopy is a copy of p sharing nothing with it.
func policyCopy(p *casesvc.Policy) *casesvc.Policy {
	cp := *p
	if p.Insured != nil {
		in := *p.Insured
		cp.Insured = &in
	}
	cp.ClaimTypes = slices.Clone(p.ClaimTypes)
	return &cp
}

// emergencyCopy is a copy of e sharing nothing with it (nil for nil).
func emergencyCopy(e *casesvc.Emergency) *casesvc.Emergency {
	if e == nil {
		return nil
	}
	cp := *e
	cp.Regions = slices.Clone(e.Regions)
	if e.Checklists != nil {
		cp.Checklists = maps.Clone(e.Checklists)
		for k, v := range cp.Checklists {
			cp.Checklists[k] = slices.Clone(v)
		}
	}
	return &cp
}
