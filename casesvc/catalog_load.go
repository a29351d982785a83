package casesvc

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"
)

//go:embed catalog.json
var defaultCatalogJSON []byte

var (
	defaultCatalogOnce sync.Once
	defaultCatalog     *Catalog
)

// DefaultCatalog returns the embedded catalog. It panics if the embedded file is invalid, which a
// test guards against, so a broken default never reaches a running install.
func DefaultCatalog() *Catalog {
	defaultCatalogOnce.Do(func() {
		c, err := ParseCatalog(defaultCatalogJSON)
		if err != nil {
			panic(fmt.Sprintf("casesvc: embedded catalog.json: %v", err))
		}
		defaultCatalog = c
	})
	return defaultCatalog
}

// LoadCatalog reads and validates a catalog file in the format of catalog.json.
func LoadCatalog(path string) (*Catalog, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("casesvc: load catalog: %w", err)
	}
	c, err := ParseCatalog(b)
	if err != nil {
		return nil, fmt.Errorf("casesvc: load catalog %s: %w", path, err)
	}
	return c, nil
}

// ParseCatalog decodes and validates a catalog. Unknown fields are rejected so a typo in an edited
// file fails loudly instead of silently dropping a document from a checklist.
func ParseCatalog(b []byte) (*Catalog, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var c Catalog
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks that every referenced document kind and condition exists and that every label
// exists in zh-TW and en. It fills DocumentKind.ID from its map key when empty.
func (c *Catalog) Validate() error {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	needText := func(what string, t Text) {
		for _, lang := range []string{"zh-TW", "en"} {
			if strings.TrimSpace(t[lang]) == "" {
				add("%s: missing %s text", what, lang)
			}
		}
	}
	if len(c.ClaimTypes) == 0 {
		add("no claim types")
	}
	for id, d := range c.Documents {
		if d.ID == "" {
			d.ID = id
			c.Documents[id] = d
		} else if d.ID != id {
			add("document %q: id %q does not match its key", id, d.ID)
		}
		needText("document "+id+" label", d.Label)
		needText("document "+id+" description", d.Description)
	}
	for id, t := range c.Conditions {
		needText("condition "+id, t)
	}
	seen := map[string]bool{}
	for i, ct := range c.ClaimTypes {
		if ct.ID == "" {
			add("claim type #%d: empty id", i+1)
			continue
		}
		if seen[ct.ID] {
			add("claim type %q: duplicate", ct.ID)
		}
		seen[ct.ID] = true
		needText("claim type "+ct.ID+" label", ct.Label)
		if len(ct.Documents) == 0 {
			add("claim type %q: no documents", ct.ID)
		}
		for _, k := range ct.Documents {
			if _, ok := c.Documents[k]; !ok {
				add("claim type %q: unknown document kind %q", ct.ID, k)
			}
		}
		for cond, kinds := range ct.Conditional {
			if _, ok := c.Conditions[cond]; !ok {
				add("claim type %q: unknown condition %q", ct.ID, cond)
			}
			for _, k := range kinds {
				if _, ok := c.Documents[k]; !ok {
					add("claim type %q: condition %q: unknown document kind %q", ct.ID, cond, k)
				}
			}
		}
		for _, q := range ct.Questions {
			if _, ok := c.Conditions[q]; !ok {
				add("claim type %q: question for unknown condition %q", ct.ID, q)
			}
		}
	}
	if len(problems) > 0 {
		sort.Strings(problems) // map iteration order must not change the message
		return fmt.Errorf("invalid catalog: %s", strings.Join(problems, "; "))
	}
	return nil
}

// ClaimType returns the claim type with this id.
func (c *Catalog) ClaimType(id string) (ClaimType, bool) {
	for _, ct := range c.ClaimTypes {
		if ct.ID == id {
			return ct, true
		}
	}
	return ClaimType{}, false
}

// Document returns the document kind with this id.
func (c *Catalog) Document(kind string) (DocumentKind, bool) {
	d, ok := c.Documents[kind]
	return d, ok
}

// HasCondition reports whether id is a known condition.
func (c *Catalog) HasCondition(id string) bool {
	_, ok := c.Conditions[id]
	return ok
}

// RequiredDocuments returns the checklist for a claim type given the answered conditions: the
// type's documents in notice order, then those the conditions add, in the order the conditions are
// given, without duplicates. Conditions that do not apply to the type add nothing; an unknown type
// gives nil.
func (c *Catalog) RequiredDocuments(claimType string, conditions []string) []string {
	ct, ok := c.ClaimType(claimType)
	if !ok {
		return nil
	}
	out := make([]string, 0, len(ct.Documents)+1)
	seen := map[string]bool{}
	push := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, k := range ct.Documents {
		push(k)
	}
	for _, cond := range conditions {
		for _, k := range ct.Conditional[cond] {
			push(k)
		}
	}
	return out
}
