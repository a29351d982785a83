package dialog

import (
	"embed"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Every text the bot says lives in messages/<lang>.json, never in flow code.
//
//go:embed messages/*.json
var messageFiles embed.FS

// languages the bot speaks; zh-TW is the default and the fallback.
var languages = []string{"zh-TW", "en"}

type catalog struct {
	byLang map[string]map[string]string
}

var placeholder = regexp.MustCompile(`\{[a-z_]+\}`)

// loadCatalog reads the embedded catalogs and checks that every key exists in every language with
// the same placeholders, so a missing translation fails at start-up, not in a conversation.
func loadCatalog() (*catalog, error) {
	c := &catalog{byLang: map[string]map[string]string{}}
	for _, l := range languages {
		b, err := messageFiles.ReadFile("messages/" + l + ".json")
		if err != nil {
			return nil, fmt.Errorf("dialog: messages: %w", err)
		}
		m := map[string]string{}
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("dialog: messages/%s.json: %w", l, err)
		}
		c.byLang[l] = m
	}
	base := c.byLang[languages[0]]
	for _, l := range languages[1:] {
		other := c.byLang[l]
		for k, v := range base {
			o, ok := other[k]
			if !ok {
				return nil, fmt.Errorf("dialog: messages: key %q missing in %s", k, l)
			}
			if !samePlaceholders(v, o) {
				return nil, fmt.Errorf("dialog: messages: key %q has different placeholders in %s", k, l)
			}
		}
		for k := range other {
			if _, ok := base[k]; !ok {
				return nil, fmt.Errorf("dialog: messages: key %q missing in %s", k, languages[0])
			}
		}
	}
	return c, nil
}

func samePlaceholders(a, b string) bool {
	pa, pb := placeholder.FindAllString(a, -1), placeholder.FindAllString(b, -1)
	slices.Sort(pa)
	slices.Sort(pb)
	return slices.Equal(slices.Compact(pa), slices.Compact(pb))
}

func (c *catalog) has(key string) bool { _, ok := c.byLang[languages[0]][key]; return ok }

// get returns the message with {name} placeholders replaced from kv pairs. An unknown key returns
// the key itself (a test checks every key the code uses exists).
func (c *catalog) get(lang, key string, kv ...string) string {
	m, ok := c.byLang[lang]
	if !ok {
		m = c.byLang[languages[0]]
	}
	s, ok := m[key]
	if !ok {
		return key
	}
	for i := 0; i+1 < len(kv); i += 2 {
		s = strings.ReplaceAll(s, "{"+kv[i]+"}", kv[i+1])
	}
	return s
}
