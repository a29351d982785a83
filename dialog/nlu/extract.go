package nlu

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// cand is an entity before overlap resolution. prio breaks ties between equally long matches.
type cand struct {
	Entity
	prio int
}

const cnNum = `零〇一二兩三四五六七八九十百千萬億壹貳參叁肆伍陸柒捌玖拾佰仟`

var (
	reNationalID = regexp.MustCompile(`[a-z][1289]\d{8}`)
	reOldResID   = regexp.MustCompile(`[a-z][a-d]\d{8}`)
	reCaseID     = regexp.MustCompile(`\b(clm|cmp)[-\s]?(\d{8})[-\s]?(\d{6})\b`)
	reEmail      = regexp.MustCompile(`[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}`)
	reMobile     = regexp.MustCompile(`(?:\+?886[\s\-]?\(?0?\)?|0)9\d{2}[\s\-]?\d{3}[\s\-]?\d{3}`)
	reLandline   = regexp.MustCompile(`(?:\+?886[\s\-]?\(?0?|\(?0)[2-8]\d{0,3}\)?[\s\-]?\d{3,4}[\s\-]?\d{4}`)
	// A run of Arabic and/or Chinese numerals with an optional currency before and after. This is the
	// reference definition: amountMatches computes the same matches faster (FuzzAmountMatches checks).
	reAmount = regexp.MustCompile(`(nt\s?\$|us\$|ntd|twd|nt|新台幣|新臺幣|台幣|臺幣|\$)?\s*((?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[` + cnNum + `]|點[零〇一二三四五六七八九])+)(\s*(?:多|幾)?\s*(?:元|塊錢|塊|圓|dollars?|bucks|ntd|twd|nt|k\b))?`)
)

// Priorities for equally long candidates.
const (
	prioAmount = iota
	prioDate
	prioPhone
	prioNationalID
	prioPolicy
	prioID
)

func (f *folded) newCand(typ string, val any, b0, b1, prio int) cand {
	s, e := f.span(b0, b1)
	return cand{Entity: Entity{Type: typ, Value: val, Text: f.text(s, e), Start: s, End: e}, prio: prio}
}

// alnumBounded reports that the byte range is not glued to ASCII letters or digits (Chinese characters
// and punctuation are boundaries).
func (f *folded) alnumBounded(b0, b1 int) bool {
	return !isAlnum(f.before(b0)) && !isAlnum(f.after(b1))
}

func (b *Builtin) candidates(f *folded, now time.Time) []cand {
	var out []cand
	s := f.norm
	hasDigit := strings.ContainsAny(s, "0123456789")
	out = b.idCands(f, out, hasDigit)
	if hasDigit {
		out = phoneCands(f, out)
	}
	out = amountCands(f, out, true)
	if hasEnAmountWord(f) {
		out = enAmountCands(f, out)
	}
	out = b.dateTimeCands(f, now, out)
	return out
}

func (b *Builtin) idCands(f *folded, out []cand, hasDigit bool) []cand {
	s := f.norm
	if strings.Contains(s, "@") {
		for _, m := range reEmail.FindAllStringIndex(s, -1) {
			out = append(out, f.newCand(EntityEmail, s[m[0]:m[1]], m[0], m[1], prioID))
		}
	}
	if !hasDigit {
		return out
	}
	for _, m := range findIf(mayNationalID, f, reNationalID) {
		if id := strings.ToUpper(s[m[0]:m[1]]); f.alnumBounded(m[0], m[1]) && ValidNationalID(id) {
			out = append(out, f.newCand(EntityNationalID, id, m[0], m[1], prioNationalID))
		}
	}
	for _, m := range b.policyFind.FindAllStringIndex(s, -1) {
		if id := strings.ToUpper(s[m[0]:m[1]]); f.alnumBounded(m[0], m[1]) && b.policy.MatchString(id) {
			out = append(out, f.newCand(EntityPolicyNumber, id, m[0], m[1], prioPolicy))
		}
	}
	if strings.Contains(s, "clm") || strings.Contains(s, "cmp") {
		for _, m := range reCaseID.FindAllStringSubmatchIndex(s, -1) {
			typ := EntityCaseID
			if sub(s, m, 1) == "cmp" {
				typ = EntityComplaintID
			}
			v := strings.ToUpper(sub(s, m, 1)) + "-" + sub(s, m, 2) + "-" + sub(s, m, 3)
			out = append(out, f.newCand(typ, v, m[0], m[1], prioID))
		}
	}
	return out
}

func phoneCands(f *folded, out []cand) []cand {
	s := f.norm
	for _, m := range append(findIf(mayMobile, f, reMobile), findIf(mayLandline, f, reLandline)...) {
		if isDigit(f.after(m[1])) || isAlnum(f.before(m[0])) || f.before(m[0]) == '+' {
			continue
		}
		if e164, ok := phoneE164(s[m[0]:m[1]]); ok {
			out = append(out, f.newCand(EntityPhone, e164, m[0], m[1], prioPhone))
		}
	}
	return out
}

// phoneE164 normalises a Taiwan number (digits with any separators) to E.164.
func phoneE164(raw string) (string, bool) {
	var d []byte
	for i := 0; i < len(raw); i++ {
		if isDigit(rune(raw[i])) {
			d = append(d, raw[i])
		}
	}
	ds := string(d)
	switch {
	case strings.HasPrefix(ds, "886"):
		ds = strings.TrimPrefix(ds[3:], "0")
	case strings.HasPrefix(ds, "0"):
		ds = ds[1:]
	default:
		return "", false
	}
	switch {
	case len(ds) == 9 && ds[0] == '9': // mobile 09XX-XXX-XXX
	case (len(ds) == 8 || len(ds) == 9) && ds[0] >= '2' && ds[0] <= '8': // landline with area code
	default:
		return "", false
	}
	return "+886" + ds, true
}

// findNear runs re only on windows around the "core" runes of s (back and fwd bytes either side, merged
// when they overlap), with indexes relative to s. It is FindAllStringSubmatchIndex for patterns whose
// matches always contain a core rune and reach at most back/fwd bytes beyond it, and it spares the
// regexp engine from trying every position of a long message (Go's regexp has no fast literal skip
// for patterns with optional prefixes).
func findNear(re *regexp.Regexp, s string, isCore func(rune) bool, back, fwd int) [][]int {
	var out [][]int
	ws, we := -1, -1
	flush := func() {
		if ws < 0 {
			return
		}
		for _, m := range re.FindAllStringSubmatchIndex(s[ws:we], -1) {
			for i := range m {
				if m[i] >= 0 {
					m[i] += ws
				}
			}
			out = append(out, m)
		}
	}
	for i, r := range s {
		if !isCore(r) {
			continue
		}
		a, b := max(0, i-back), min(len(s), i+utf8.RuneLen(r)+fwd)
		for a < len(s) && !utf8.RuneStart(s[a]) {
			a++
		}
		for b < len(s) && !utf8.RuneStart(s[b]) {
			b++
		}
		if ws >= 0 && a <= we {
			we = max(we, b)
			continue
		}
		flush()
		ws, we = a, b
	}
	flush()
	return out
}

// reAmountPre and reAmountBody are the reference definitions of the parts of reAmount; currencyBefore
// and amountBody compute them (FuzzCurrencyBefore, FuzzAmountBody).
var (
	reAmountPre  = regexp.MustCompile(`(nt\s?\$|us\$|ntd|twd|nt|新台幣|新臺幣|台幣|臺幣|\$)\s*$`)
	reAmountBody = regexp.MustCompile(`^((?:(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|[` + cnNum + `]|點[零〇一二三四五六七八九])+)(\s*(?:多|幾)?\s*(?:元|塊錢|塊|圓|dollars?|bucks|ntd|twd|nt|k\b))?`)
)

// amountMatches returns what reAmount.FindAllStringSubmatchIndex(s, -1) would (whole match, currency
// before, number, unit after), but anchors the expensive part at each numeral instead of trying every
// position of the message.
func amountMatches(s string) [][]int {
	var out [][]int
	prev := 0
	for p := 0; p < len(s); {
		r, n := utf8.DecodeRuneInString(s[p:])
		if !isAmountCore(r) && r != '點' {
			p += n
			continue
		}
		b := amountBody(s[p:])
		if b == nil {
			p += n
			continue
		}
		m := []int{p, p + b[1], -1, -1, p + b[2], p + b[3], -1, -1}
		if b[4] >= 0 {
			m[6], m[7] = p+b[4], p+b[5]
		}
		w := prev // the windows [prev, p) never overlap: linear overall
		if c0, c1 := currencyBefore(s[w:p]); c0 >= 0 {
			m[0], m[2], m[3] = w+c0, w+c0, w+c1
		}
		out = append(out, m)
		prev, p = m[1], m[1]
	}
	return out
}

// currencyBefore finds what reAmountPre finds in s (a currency at the end of s, spaces after it
// allowed) and returns where the currency starts and ends, or -1, -1. The pattern is anchored at the
// end only, so the regexp engine would try every start position of the window.
func currencyBefore(s string) (int, int) {
	e := len(s)
	for e > 0 && isRESpace(s[e-1]) {
		e--
	}
	t := s[:e]
	// The leftmost match is the longest currency ending at e: "nt $" (nt\s?\$) first.
	if c := len(t) - 1; c >= 3 && t[c] == '$' && isRESpace(t[c-1]) && t[c-3:c-1] == "nt" {
		return c - 3, e
	}
	for _, c := range currencies {
		if strings.HasSuffix(t, c) {
			return e - len(c), e
		}
	}
	return -1, -1
}

// currencies are reAmountPre's currencies, each before the shorter ones it ends with.
var currencies = []string{"nt$", "us$", "$", "ntd", "twd", "nt", "新台幣", "新臺幣", "台幣", "臺幣"}

// isRESpace is the regexp class \s: ASCII space, tab, newline, form feed, carriage return.
func isRESpace(b byte) bool { return b == ' ' || b == '\t' || b == '\n' || b == '\f' || b == '\r' }

// amountBody is reAmountBody.FindStringSubmatchIndex(s): the numerals at the start of s, then a unit
// (whole match, numerals, unit; nil when s does not start with a numeral). The regexp engine's cost
// of starting is most of what the pattern costs on a short number, and amounts are looked for in
// every message.
func amountBody(s string) []int {
	i := 0
	for i < len(s) {
		switch r, n := utf8.DecodeRuneInString(s[i:]); {
		case isDigit(r):
			// \d{1,3}(?:,\d{3})+ when the run of digits is that short and a group follows, else \d+;
			// then (?:\.\d+)?.
			run := digitRun(s[i:])
			i += run
			if run <= 3 && thousands(s[i:]) {
				for thousands(s[i:]) {
					i += 4
				}
			}
			if i+1 < len(s) && s[i] == '.' && isDigit(rune(s[i+1])) {
				i += 1 + digitRun(s[i+1:])
			}
		case r >= 0x3007 && strings.ContainsRune(cnNum, r):
			i += n
		case r == '點':
			d, m := utf8.DecodeRuneInString(s[i+n:])
			if !strings.ContainsRune("零〇一二三四五六七八九", d) {
				goto unit
			}
			i += n + m
		default:
			goto unit
		}
	}
unit:
	if i == 0 {
		return nil
	}
	m := []int{0, i, 0, i, -1, -1}
	j := skipRESpace(s, i)
	if strings.HasPrefix(s[j:], "多") || strings.HasPrefix(s[j:], "幾") {
		j = skipRESpace(s, j+len("多"))
	}
	for _, u := range units {
		if !strings.HasPrefix(s[j:], u) {
			continue
		}
		e := j + len(u)
		switch {
		case u == "dollar" && e < len(s) && s[e] == 's':
			e++
		case u == "k" && e < len(s) && isWordByteRE(s[e]):
			continue // k\b
		}
		m[1], m[4], m[5] = e, i, e
		break
	}
	return m
}

// units are reAmountBody's units after a number, in its order.
var units = []string{"元", "塊錢", "塊", "圓", "dollar", "bucks", "ntd", "twd", "nt", "k"}

func digitRun(s string) int {
	n := 0
	for n < len(s) && isDigit(rune(s[n])) {
		n++
	}
	return n
}

// thousands says s starts with a comma and three digits.
func thousands(s string) bool {
	return len(s) >= 4 && s[0] == ',' && isDigit(rune(s[1])) && isDigit(rune(s[2])) && isDigit(rune(s[3]))
}

func skipRESpace(s string, i int) int {
	for i < len(s) && isRESpace(s[i]) {
		i++
	}
	return i
}

// isWordByteRE is the regexp class \w (for \b): ASCII letters, digits and underscore.
func isWordByteRE(b byte) bool {
	return 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9' || b == '_'
}

func isAmountCore(r rune) bool { return isDigit(r) || r >= 0x3007 && strings.ContainsRune(cnNum, r) }

// amountCands finds amounts. With needCue only those with a currency, 萬/千/億 or a decimal 點 count
// ("三萬五", "NT$35,000", "5000塊"); without it any number does (the bot just asked for an amount).
func amountCands(f *folded, out []cand, needCue bool) []cand {
	s := f.norm
	for _, m := range amountMatches(s) {
		pre, num, post := sub(s, m, 1), sub(s, m, 2), sub(s, m, 3)
		b0, b1 := m[0], m[1]
		if pre == "" {
			b0 = m[4]
		}
		if post == "" {
			b1 = m[5]
		}
		if isDigit(f.before(b0)) || isDigit(f.after(b1)) || (pre == "" && isASCIIAl(f.before(b0))) || (post == "" && isASCIIAl(f.after(b1))) {
			continue
		}
		if strings.HasPrefix(pre, "nt") && !strings.HasSuffix(pre, "$") && isASCIIAl(f.before(b0)) {
			continue
		}
		v, ok := parseNumeral([]rune(num))
		if !ok {
			continue
		}
		if strings.HasSuffix(strings.TrimSpace(post), "k") {
			v *= 1000
		}
		cue := pre != "" || post != "" || strings.ContainsAny(num, "萬千億仟")
		if needCue && !cue {
			continue
		}
		out = append(out, f.newCand(EntityAmount, v, b0, b1, prioAmount))
	}
	return out
}

// hasEnAmountWord says the text has a multiplier word: English amounts are looked for only then.
func hasEnAmountWord(f *folded) bool { return f.has("thousand", "hundred", "million", "grand") }

// English amounts in words or with a multiplier: "thirty-five thousand", "35 thousand dollars",
// "twelve hundred", "2 grand", "1.5 million". A multiplier or a currency word is required.
var (
	enNumWord  = `(?:zero|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|hundred|thousand|million|grand|and|a)`
	reEnAmount = regexp.MustCompile(`\b((?:\d+(?:\.\d+)?\s+)?` + enNumWord + `(?:[\s-]+` + enNumWord + `)*)\b(\s+(?:dollars?|bucks|ntd|nt))?`)
)

var enWordValue = map[string]float64{"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
	"seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
	"fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19, "twenty": 20, "thirty": 30,
	"forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90, "a": 1}

// parseEnAmount parses number words ("thirty-five thousand", "35 thousand", "a hundred and twenty");
// mult says a multiplier word was present.
func parseEnAmount(s string) (v float64, mult bool, ok bool) {
	var total, cur float64
	have := false
	for _, w := range strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '-' || r == '\t' }) {
		switch w {
		case "and":
			continue
		case "hundred":
			if !have {
				return 0, false, false
			}
			cur *= 100
			mult = true
		case "thousand", "grand", "million":
			if !have {
				return 0, false, false
			}
			u := 1e3
			if w == "million" {
				u = 1e6
			}
			total += cur * u
			cur, mult = 0, true
		default:
			if n, ok := enWordValue[w]; ok {
				cur += n
			} else if f, err := strconv.ParseFloat(w, 64); err == nil {
				cur += f
			} else {
				return 0, false, false
			}
			have = true
		}
	}
	if !have {
		return 0, false, false
	}
	return total + cur, mult, true
}

func enAmountCands(f *folded, out []cand) []cand {
	s := f.norm
	for _, m := range reEnAmount.FindAllStringSubmatchIndex(s, -1) {
		num, cur := sub(s, m, 1), sub(s, m, 2)
		v, mult, ok := parseEnAmount(num)
		if !ok || !mult && cur == "" || strings.HasPrefix(num, "a ") && !mult || isDigit(f.before(m[0])) {
			continue
		}
		out = append(out, f.newCand(EntityAmount, v, m[0], m[1], prioAmount))
	}
	return out
}

func (b *Builtin) dateTimeCands(f *folded, now time.Time, out []cand) []cand {
	now = now.In(b.loc)
	today := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, b.loc)
	dates := findDates(f, today)
	times := findTimes(f)
	if len(dates) == 0 && len(times) == 0 {
		return out
	}
	day := func(c dateCand) time.Time {
		if c.hasYear {
			return time.Date(c.y, time.Month(c.m), c.d, 0, 0, 0, 0, b.loc)
		}
		return pastMonthDay(today, c.m, c.d, b.loc)
	}
	dt := func(b0, b1 int, d time.Time, t timeCand, per string) cand {
		h := t.h
		if !t.explicit && per != "" {
			h, _ = applyPeriod(t.h, per, "")
		}
		v := time.Date(d.Year(), d.Month(), d.Day(), h, t.m, 0, 0, b.loc)
		return f.newCand(EntityDateTime, v.Format(time.RFC3339), b0, b1, prioDate)
	}
	for _, c := range dates {
		d := day(c)
		out = append(out, f.newCand(EntityDate, d.Format("2006-01-02"), c.b0, c.b1, prioDate))
		for _, t := range times {
			switch {
			case t.b0 >= c.b1 && t.b0-c.b1 <= maxJoin && reJoinWord.MatchString(f.norm[c.b1:t.b0]):
				out = append(out, dt(c.b0, t.b1, d, t, c.period))
			case t.b1 <= c.b0 && c.b0-t.b1 <= maxJoin && strings.TrimSpace(f.norm[t.b1:c.b0]) == "":
				out = append(out, dt(t.b0, c.b1, d, t, c.period))
			}
		}
	}
	for _, t := range times {
		// A bare time is the most recent past occurrence.
		v := time.Date(today.Year(), today.Month(), today.Day(), t.h, t.m, 0, 0, b.loc)
		if v.After(now) {
			v = v.AddDate(0, 0, -1)
		}
		out = append(out, dt(t.b0, t.b1, v, t, ""))
	}
	return out
}

// maxJoin bounds the bytes between a date and its time ("的", " at ", "大概"), keeping pairing cheap.
const maxJoin = 12

// pastMonthDay resolves a month and day without a year to its most recent occurrence on or before today.
func pastMonthDay(today time.Time, m, d int, loc *time.Location) time.Time {
	for y := today.Year(); y > today.Year()-8; y-- {
		if !validYMD(y, m, d) {
			continue
		}
		t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, loc)
		if !t.After(today) {
			return t
		}
	}
	return time.Date(today.Year(), time.Month(m), d, 0, 0, 0, 0, loc)
}

// resolve keeps the longest candidates that do not overlap, then orders them by position.
func resolve(cs []cand) []Entity {
	slices.SortStableFunc(cs, func(a, b cand) int {
		if la, lb := a.End-a.Start, b.End-b.Start; la != lb {
			return cmp.Compare(lb, la) // longest first
		}
		if a.prio != b.prio {
			return cmp.Compare(b.prio, a.prio)
		}
		return cmp.Compare(a.Start, b.Start)
	})
	n := 0
	for _, c := range cs {
		n = max(n, c.End)
	}
	taken := make([]bool, n) // per rune: linear in the text, whatever the number of candidates
	out := make([]Entity, 0, len(cs))
	for _, c := range cs {
		if c.End <= c.Start || c.Start < 0 {
			continue
		}
		free := true
		for i := c.Start; i < c.End; i++ {
			if taken[i] {
				free = false
				break
			}
		}
		if free {
			for i := c.Start; i < c.End; i++ {
				taken[i] = true
			}
			out = append(out, c.Entity)
		}
	}
	slices.SortFunc(out, func(a, b Entity) int { return cmp.Compare(a.Start, b.Start) }) // no two start together
	return out
}

// policyFinder derives an unanchored, case-insensitive search pattern from the configured one.
func policyFinder(p *regexp.Regexp) (*regexp.Regexp, error) {
	src := strings.TrimSuffix(strings.TrimPrefix(p.String(), "^"), "$")
	re, err := regexp.Compile(`(?i)(?:` + src + `)`)
	if err != nil {
		return nil, fmt.Errorf("nlu: policy pattern %q: %w", p.String(), err)
	}
	return re, nil
}

var letterCode = [26]int{10, 11, 12, 13, 14, 15, 16, 17, 34, 18, 19, 20, 21, 22, 35, 23, 24, 25, 26, 27, 28, 29, 32, 30, 31, 33}

func idChecksum(first int, d1 int, digits string) bool {
	sum := first/10 + (first%10)*9 + d1*8
	w := 7
	for i := 0; i < len(digits); i++ {
		if w > 0 {
			sum += int(digits[i]-'0') * w
		} else {
			sum += int(digits[i] - '0')
		}
		w--
	}
	return sum%10 == 0
}

// ValidNationalID reports whether id is a checksum-valid Taiwan national ID (or new resident number).
func ValidNationalID(id string) bool {
	id = strings.ToUpper(strings.TrimSpace(id))
	if len(id) != 10 || id[0] < 'A' || id[0] > 'Z' || !strings.ContainsRune("1289", rune(id[1])) {
		return false
	}
	for i := 1; i < 10; i++ {
		if !isDigit(rune(id[i])) {
			return false
		}
	}
	return idChecksum(letterCode[id[0]-'A'], int(id[1]-'0'), id[2:])
}

// ValidOldResidentID reports whether id is a checksum-valid old-format resident certificate number
// (two letters, the second A–D, then eight digits): the second letter's code contributes its last digit.
func ValidOldResidentID(id string) bool {
	id = strings.ToUpper(strings.TrimSpace(id))
	if len(id) != 10 || id[0] < 'A' || id[0] > 'Z' || id[1] < 'A' || id[1] > 'D' {
		return false
	}
	for i := 2; i < 10; i++ {
		if !isDigit(rune(id[i])) {
			return false
		}
	}
	return idChecksum(letterCode[id[0]-'A'], letterCode[id[1]-'A']%10, id[2:])
}

// NationalIDCandidate finds something shaped like a Taiwan national ID (one letter, then [1289] and
// eight digits; with allowOldResident also the old two-letter resident format), uppercased, and says
// whether its checksum is valid, so the dialog can explain a typo instead of ignoring the input.
// A checksum-valid candidate is preferred over an earlier invalid one.
func NationalIDCandidate(text string, allowOldResident bool) (id string, checksumOK bool, found bool) {
	f := fold(text)
	ms := [][][]int{findIf(mayNationalID, f, reNationalID)}
	if allowOldResident {
		ms = append(ms, findIf(mayOldResID, f, reOldResID))
	}
	type hit struct {
		pos int
		id  string
		ok  bool
	}
	var hits []hit
	for _, found := range ms {
		for _, m := range found {
			if !f.alnumBounded(m[0], m[1]) {
				continue
			}
			v := strings.ToUpper(f.norm[m[0]:m[1]])
			ok := ValidNationalID(v) || (allowOldResident && ValidOldResidentID(v))
			hits = append(hits, hit{m[0], v, ok})
		}
	}
	if len(hits) == 0 {
		return "", false, false
	}
	sort.Slice(hits, func(i, j int) bool {
		if hits[i].ok != hits[j].ok {
			return hits[i].ok
		}
		return hits[i].pos < hits[j].pos
	})
	return hits[0].id, hits[0].ok, true
}

// Phone finds a phone number and normalises it to E.164 (Taiwan mobiles and landlines, +886 forms).
func Phone(text string) (string, Entity, bool) {
	f := fold(text)
	for _, e := range resolve(phoneCands(f, nil)) {
		return e.Value.(string), e, true
	}
	return "", Entity{}, false
}
