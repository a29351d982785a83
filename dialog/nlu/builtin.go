package nlu

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
)

// Builtin is the offline parser: a classifier trained at start-up from the embedded training set, and
// rule-based entity extractors. It is safe for concurrent use.
type Builtin struct {
	cfg        Config
	loc        *time.Location
	policy     *regexp.Regexp // the configured, anchored pattern (validates uppercase values)
	policyFind *regexp.Regexp // unanchored, case-insensitive (finds candidates in text)
	clf        *classifier
	recent     memo
}

// memo keeps the last few results of the extractors: a dialog turn asks about the same message
// several times (Parse and then IncidentTime at the same instant, Amount twice while a form is
// filled), and the extractors are most of what a turn costs. A result is reused only for the same
// text and the same instant, or the same day where only the day matters, so it is what the call
// would have returned.
type memo struct {
	mu   sync.Mutex
	next int
	last [8]struct {
		kind byte // memoExtract, ...; 0: empty
		text string
		at   time.Time
		val  any
	}
}

// Kinds of memo entries.
const (
	memoExtract = 1 + iota // []Entity (copied in and out: callers own what they get)
	memoAmount             // amountResult
	memoBirth              // birthResult
	memoPolicy             // policyResult
	memoCands              // []cand of a day (never changed: callers get a copy)
)

type amountResult struct {
	v  float64
	e  Entity
	ok bool
}

type birthResult struct {
	t  time.Time
	ok bool
}

type policyResult struct {
	n  string
	e  Entity
	ok bool
}

func (m *memo) get(kind byte, text string, at time.Time) (any, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, e := range m.last {
		if e.kind == kind && e.text == text && e.at.Equal(at) {
			switch v := e.val.(type) {
			case []Entity:
				return slices.Clone(v), true
			case []cand:
				return slices.Clone(v), true
			}
			return e.val, true
		}
	}
	return nil, false
}

func (m *memo) put(kind byte, text string, at time.Time, val any) {
	switch v := val.(type) {
	case []Entity:
		val = append([]Entity{}, v...) // never nil, so an empty result stays an empty list
	case []cand:
		val = slices.Clone(v)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e := &m.last[m.next]
	e.kind, e.text, e.at, e.val = kind, text, at, val
	m.next = (m.next + 1) % len(m.last)
}

// today is the start of now's day in the configured zone: what the extractors that look at the
// date only (Amount, BirthDate) depend on.
func (b *Builtin) today(now time.Time) time.Time {
	now = now.In(b.loc)
	return time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, b.loc)
}

// DefaultPolicyPattern is the demo insurer's policy number format.
var DefaultPolicyPattern = regexp.MustCompile(`^[A-Z]{2}\d{8}$`)

// New builds the parser (trains the classifier from the embedded data).
func New(cfg Config) (*Builtin, error) {
	if cfg.Location == nil {
		loc, err := time.LoadLocation("Asia/Taipei")
		if err != nil {
			// No zoneinfo on the host: Taiwan has had no DST since 1979, so a fixed zone is exact.
			loc = time.FixedZone("Asia/Taipei", 8*3600)
		}
		cfg.Location = loc
	}
	if cfg.PolicyPattern == nil {
		cfg.PolicyPattern = DefaultPolicyPattern
	}
	find, err := policyFinder(cfg.PolicyPattern)
	if err != nil {
		return nil, err
	}
	clf, err := trainEmbedded()
	if err != nil {
		return nil, err
	}
	return &Builtin{cfg: cfg, loc: cfg.Location, policy: cfg.PolicyPattern, policyFind: find, clf: clf}, nil
}

// Location is the zone dates are resolved in.
func (b *Builtin) Location() *time.Location { return b.loc }

// Parse classifies the text and extracts every entity (see Extract).
func (b *Builtin) Parse(ctx context.Context, text, lang string, now time.Time) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, err
	}
	if lang == "" {
		lang = DetectLang(text)
	}
	ents := b.Extract(text, now)
	ranking := b.clf.classify(text, !hasOwnWords(text, ents))
	return Result{
		Text:          text,
		Lang:          lang,
		Intent:        ranking[0],
		IntentRanking: ranking,
		Entities:      ents,
	}, nil
}

// Classify ranks the intents for a text, best first; confidences sum to 1. A text with no words outside
// its entities (an ID, a policy number, a date alone) gets a damped, low-confidence ranking: it is an
// answer to a question, not a request.
func (b *Builtin) Classify(text string) []Intent {
	return b.clf.classify(text, !hasOwnWords(text, b.Extract(text, time.Now())))
}

// hasOwnWords reports whether text has a Chinese character, or a Latin word of two or more letters and
// no digits, outside the entity spans. Identifier-like tokens (A123456788, 5000) are not words.
func hasOwnWords(text string, ents []Entity) bool {
	i, e := 0, 0
	inWord, letters, digits := false, 0, false
	end := func() bool {
		ok := inWord && letters >= 2 && !digits
		inWord, letters, digits = false, 0, false
		return ok
	}
	for _, r := range text {
		for e < len(ents) && ents[e].End <= i {
			e++
		}
		inEnt := e < len(ents) && ents[e].Start <= i && i < ents[e].End
		i++
		r = foldRune(r)
		switch {
		case inEnt:
			if end() {
				return true
			}
		case isHan(r):
			if cjkDigit(r) < 0 && cjkUnit(r) == 0 {
				return true
			}
		case isDigit(r):
			inWord, digits = true, true
		case unicode.IsLetter(r):
			inWord = true
			letters++
		default:
			if end() {
				return true
			}
		}
	}
	return end()
}

// Extract returns every entity in the text, ordered by Start, non-overlapping (the longest match wins).
// Dates without a year, weekdays and bare times resolve to their most recent past occurrence (incident
// talk); explicit dates are kept as written.
func (b *Builtin) Extract(text string, now time.Time) []Entity {
	if v, ok := b.recent.get(memoExtract, text, now); ok {
		return v.([]Entity)
	}
	cs := b.candidates(fold(text), now)
	b.recent.put(memoCands, text, b.today(now), cs)
	ents := resolve(cs)
	b.recent.put(memoExtract, text, now, ents)
	return ents
}

// DetectLang returns "zh-TW" for Chinese text (Traditional or Simplified), "en" otherwise, "" when the
// text has no letters at all (digits, punctuation: e.g. a policy number alone).
func DetectLang(text string) string {
	for _, r := range text {
		if isHan(r) {
			return "zh-TW"
		}
	}
	// Only whole words count: identifiers such as HL20240017, A123456789 or an email carry no language.
	for _, w := range strings.Fields(text) {
		letters, other := false, false
		for _, r := range w {
			r = foldRune(r)
			switch {
			case isDigit(r) || r == '@':
				other = true
			case isLetter(r):
				letters = true
			}
		}
		if letters && !other && !looksLikeID(w) {
			return "en"
		}
	}
	return ""
}

// looksLikeID is true for hyphenated codes such as CLM-... whose letters are only a prefix.
func looksLikeID(w string) bool { return strings.Count(w, "-") >= 2 }

// When is a point in time the customer gave: the day always, the time of day when they said one.
type When struct {
	Time    time.Time // in the configured zone; midnight when HasTime is false
	HasTime bool
	Span    Entity // where it was found (type date or datetime)
}

// IncidentTime finds the first date/time in text, for "when did it happen". A date without a year, a
// weekday or a bare time resolves to the most recent past occurrence relative to now; an explicit full
// date is returned as given (even in the future: the dialog's validator refuses it with a reason).
func (b *Builtin) IncidentTime(text string, now time.Time) (When, bool) {
	for _, e := range b.Extract(text, now) {
		switch e.Type {
		case EntityDate:
			t, err := time.ParseInLocation("2006-01-02", e.Value.(string), b.loc)
			if err == nil {
				return When{Time: t, Span: e}, true
			}
		case EntityDateTime:
			t, err := time.Parse(time.RFC3339, e.Value.(string))
			if err == nil {
				return When{Time: t.In(b.loc), HasTime: true, Span: e}, true
			}
		}
	}
	return When{}, false
}

// BirthDate finds a date of birth: full dates only (AD or ROC, including two-digit ROC years "74/3/2"
// and "民國74年3月2日", "1985-03-02", "March 2, 1985"). Relative words are not birth dates.
func (b *Builtin) BirthDate(text string) (time.Time, bool) {
	// Only the day of time.Now() matters: relative words resolve from it, and they are not birth dates.
	now := time.Now()
	day := b.today(now)
	if v, ok := b.recent.get(memoBirth, text, day); ok {
		r := v.(birthResult)
		return r.t, r.ok
	}
	t, ok := b.birthDate(text, now)
	b.recent.put(memoBirth, text, day, birthResult{t, ok})
	return t, ok
}

func (b *Builtin) birthDate(text string, now time.Time) (time.Time, bool) {
	f := fold(text)
	today := now.In(b.loc)
	var best *dateCand
	for _, c := range findDates(f, today) {
		if !c.abs || !validYMD(c.y, c.m, c.d) {
			continue
		}
		if best == nil || c.b1-c.b0 > best.b1-best.b0 || (c.b1-c.b0 == best.b1-best.b0 && c.b0 < best.b0) {
			c := c
			best = &c
		}
	}
	if best == nil {
		return time.Time{}, false
	}
	return time.Date(best.y, time.Month(best.m), best.d, 0, 0, 0, 0, b.loc), true
}

// Amount finds the first amount of money (三萬五千元, 12萬, 三萬五, NT$35,000, 5000塊, $1,250.50). It is
// the extractor for an answer to "how much": an amount with a currency cue wins, otherwise the first
// bare number that is not part of a date, phone or ID counts.
func (b *Builtin) Amount(text string) (float64, Entity, bool) {
	// The amounts found do not depend on the time of day, only on which dates the day allows.
	now := time.Now()
	day := b.today(now)
	if v, ok := b.recent.get(memoAmount, text, day); ok {
		r := v.(amountResult)
		return r.v, r.e, r.ok
	}
	v, e, ok := b.amount(text, now)
	b.recent.put(memoAmount, text, day, amountResult{v, e, ok})
	return v, e, ok
}

func (b *Builtin) amount(text string, now time.Time) (float64, Entity, bool) {
	f := fold(text)
	bare := amountCands(f, nil, false)
	if len(bare) == 0 && !hasEnAmountWord(f) {
		return 0, Entity{}, false // no number at all: the other extractors cannot make one
	}
	// Which candidates there are depends on the day only (the time of day changes the values of
	// dates and times, never their spans), so those Extract found today will do.
	var all []cand
	if v, ok := b.recent.get(memoCands, text, b.today(now)); ok {
		all = v.([]cand)
	} else {
		all = b.candidates(f, now)
		b.recent.put(memoCands, text, b.today(now), all)
	}
	for _, e := range resolve(all) {
		if e.Type == EntityAmount {
			return e.Value.(float64), e, true
		}
	}
	for _, e := range resolve(append(all, bare...)) {
		if e.Type == EntityAmount {
			return e.Value.(float64), e, true
		}
	}
	return 0, Entity{}, false
}

// PolicyNumber finds a policy number matching the configured pattern (case-insensitive in the text,
// returned uppercase).
func (b *Builtin) PolicyNumber(text string) (string, Entity, bool) {
	if v, ok := b.recent.get(memoPolicy, text, time.Time{}); ok {
		r := v.(policyResult)
		return r.n, r.e, r.ok
	}
	n, e, ok := b.policyNumber(text)
	b.recent.put(memoPolicy, text, time.Time{}, policyResult{n, e, ok})
	return n, e, ok
}

func (b *Builtin) policyNumber(text string) (string, Entity, bool) {
	f := fold(text)
	for _, e := range resolve(b.idCands(f, nil, true)) {
		if e.Type == EntityPolicyNumber {
			return e.Value.(string), e, true
		}
	}
	return "", Entity{}, false
}
