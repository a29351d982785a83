package nlu

import (
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Date and time patterns run on the folded text (lowercase, half-width, Traditional), so Simplified and
// full-width input match the same patterns.
const (
	cnSmall  = `[零〇一二兩三四五六七八九十]`
	period   = `(凌晨|清晨|早上|早晨|上午|中午|下午|傍晚|晚上|晚間|夜裡|夜間|半夜|深夜|午夜|早|晚)` // 早/晚 only right before a digit
	monthsEn = `(jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)`
	enPeriod = `(?:\s+in\s+the\s+(morning|afternoon|evening)|\s+at\s+(night))?`
)

var (
	reYMD      = regexp.MustCompile(`(\d{2,4})([-/.])(\d{1,2})([-/.])(\d{1,2})`)
	reMDYUS    = regexp.MustCompile(`(\d{1,2})/(\d{1,2})/(\d{4})`)
	reDigits   = regexp.MustCompile(`\d{7,8}`)
	reMD       = regexp.MustCompile(`(\d{1,2})/(\d{1,2})`)
	reZhDate   = regexp.MustCompile(`(?:(民國|民国|西元|公元)\s*)?(?:(今年|去年|前年)|(\d{2,4}|[零〇一二兩三四五六七八九十百]{2,6})\s*年)?\s*(\d{1,2}|[一二三四五六七八九十]{1,3})\s*月\s*(\d{1,2}|[一二三四五六七八九十]{1,4})\s*(日|號)?`)
	reEnMD     = regexp.MustCompile(`\b` + monthsEn + `\.?\s+(\d{1,2})(?:st|nd|rd|th)?\b(?:,?\s*(\d{4})\b)?`)
	reEnDM     = regexp.MustCompile(`\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?` + monthsEn + `\b\.?(?:,?\s*(\d{4})\b)?`)
	reZhAgo    = regexp.MustCompile(`(\d{1,3}|[一二兩三四五六七八九十]{1,3})\s*(?:個)?\s*(天|日|星期|禮拜|週)\s*(?:以)?前`)
	reZhWeek   = regexp.MustCompile(`(上上|上|這|本|下)?\s*(?:個)?\s*(?:週|星期|禮拜)\s*([一二三四五六日天七1-7])`)
	reEnRel    = regexp.MustCompile(`\b(the\s+day\s+before\s+yesterday|day\s+before\s+yesterday|(?:yesterday|today)\s+(?:morning|afternoon|evening|night)|yesterday|today|tonight|last\s+night|this\s+morning|this\s+afternoon|this\s+evening|tomorrow)\b`)
	reEnAgo    = regexp.MustCompile(`\b(\d{1,3}|an?|one|two|three|four|five|six|seven|eight|nine|ten)\s+(days?|weeks?)\s+ago\b`)
	reEnWeek   = regexp.MustCompile(`\b(?:(last|this|next|on|past)\s+)?(?:(last|this|next)\s+week(?:'s)?\s+(?:on\s+)?)?(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b(?:\s+(last|this|next)\s+week\b)?`)
	reZhDay    = regexp.MustCompile(`(?:(上個月|上月|這個月|這月|本月)\s*)?(\d{1,2}|[一二三四五六七八九十]{1,3})\s*(號|日)`)
	reEnDay    = regexp.MustCompile(`\b(?:on\s+)?the\s+(\d{1,2})(?:st|nd|rd|th)\b(?:\s+of\s+(last|this)\s+month\b)?`)
	reZhTime   = regexp.MustCompile(`(?:` + period + `\s*)?(\d{1,2}|` + cnSmall + `{1,3})\s*(?:點鐘|點|時)(?:(半)|(一刻|三刻)|(\d{1,2}|` + cnSmall + `{1,3})\s*分?)?`)
	reColon    = regexp.MustCompile(`(?:` + period + `\s*)?(?:at\s+)?(\d{1,2}):(\d{2})(?::\d{2})?(?:\s*(am|pm|a\.m\.|p\.m\.))?` + enPeriod)
	reAmPm     = regexp.MustCompile(`\b(?:at\s+)?(\d{1,2})\s*(am|pm|a\.m\.|p\.m\.)`)
	reAtBare   = regexp.MustCompile(`\bat\s+(\d{1,2})(?:\s*o'?clock)?\b` + enPeriod)
	reOClock   = regexp.MustCompile(`\b(\d{1,2})\s*o'?clock\b` + enPeriod)
	reNoonEn   = regexp.MustCompile(`\b(?:at\s+)?(?:noon|midnight)\b`)
	reJoinWord = regexp.MustCompile(`^[\s,]*(?:的|t|大概|大約|約|在)?[\s,]*$`)
)

// dateCand is a day found in the folded text, before overlap resolution.
type dateCand struct {
	b0, b1  int
	y, m, d int
	hasYear bool   // year given (or implied by a relative word)
	abs     bool   // written as a full calendar date (usable as a birth date)
	period  string // implied part of day: 昨晚 → 晚上
}

// timeCand is a time of day found in the folded text.
type timeCand struct {
	b0, b1   int
	h, m     int
	explicit bool // had its own part of day (下午, pm) or a 24-hour value
}

func validYMD(y, m, d int) bool {
	if y < 1 || m < 1 || m > 12 || d < 1 || d > 31 {
		return false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC).Day() == d
}

// yearOf applies the spec's rule: a 2–3 digit year is ROC (+1911), a 4-digit year AD.
func yearOf(s string, roc bool) (int, bool) {
	v, ok := parseInt(s)
	if !ok {
		return 0, false
	}
	if roc || v < 1000 {
		if v < 1 || v > 200 {
			return 0, false
		}
		return v + 1911, true
	}
	if v < 1800 || v > 2200 {
		return 0, false
	}
	return v, true
}

func atoi(s string) int { v, _ := strconv.Atoi(s); return v }

func sub(s string, m []int, i int) string {
	if m[2*i] < 0 {
		return ""
	}
	return s[m[2*i]:m[2*i+1]]
}

// digitBounded reports that the byte range is not glued to other digits.
func (f *folded) digitBounded(b0, b1 int) bool {
	return !isDigit(f.before(b0)) && !isDigit(f.after(b1))
}

func findDates(f *folded, today time.Time) []dateCand {
	s := f.norm
	var out []dateCand
	add := func(c dateCand) {
		if validYMD(c.y, c.m, c.d) || (!c.hasYear && validYMD(2024, c.m, c.d)) {
			out = append(out, c)
		}
	}
	for _, m := range findIf(mayYMD, f, reYMD) {
		if sub(s, m, 2) != sub(s, m, 4) || !f.digitBounded(m[0], m[1]) {
			continue
		}
		if y, ok := yearOf(sub(s, m, 1), false); ok {
			add(dateCand{b0: m[0], b1: m[1], y: y, m: atoi(sub(s, m, 3)), d: atoi(sub(s, m, 5)), hasYear: true, abs: true})
		}
	}
	for _, m := range findIf(mayMDYUS, f, reMDYUS) {
		if !f.digitBounded(m[0], m[1]) {
			continue
		}
		a, b, y := atoi(sub(s, m, 1)), atoi(sub(s, m, 2)), atoi(sub(s, m, 3))
		if validYMD(y, a, b) { // US order first; a day first only when the month would be > 12
			add(dateCand{b0: m[0], b1: m[1], y: y, m: a, d: b, hasYear: true, abs: true})
		} else {
			add(dateCand{b0: m[0], b1: m[1], y: y, m: b, d: a, hasYear: true, abs: true})
		}
	}
	for _, m := range findIf(mayDigits, f, reDigits) {
		if !f.digitBounded(m[0], m[1]) || isASCIIAl(f.before(m[0])) || f.before(m[0]) == '-' {
			continue
		}
		d := s[m[0]:m[1]]
		var y int
		if len(d) == 7 { // ROC yyymmdd
			y = atoi(d[:3]) + 1911
		} else {
			y = atoi(d[:4])
			if y < 1900 || y > 2100 {
				continue
			}
		}
		add(dateCand{b0: m[0], b1: m[1], y: y, m: atoi(d[len(d)-4 : len(d)-2]), d: atoi(d[len(d)-2:]), hasYear: true, abs: true})
	}
	for _, m := range findIf(mayMD, f, reMD) {
		if !f.digitBounded(m[0], m[1]) || f.before(m[0]) == '/' || f.after(m[1]) == '/' {
			continue
		}
		add(dateCand{b0: m[0], b1: m[1], m: atoi(sub(s, m, 1)), d: atoi(sub(s, m, 2))})
	}
	if strings.Contains(s, "月") {
		for _, m := range reZhDate.FindAllStringSubmatchIndex(s, -1) {
			if !f.digitBounded(m[0], m[1]) {
				continue
			}
			mo, ok1 := parseInt(sub(s, m, 4))
			d, ok2 := parseInt(sub(s, m, 5))
			if !ok1 || !ok2 {
				continue
			}
			c := dateCand{b0: m[0], b1: m[1], m: mo, d: d}
			switch era, rel, ys := sub(s, m, 1), sub(s, m, 2), sub(s, m, 3); {
			case rel != "":
				c.y, c.hasYear = today.Year()-map[string]int{"今年": 0, "去年": 1, "前年": 2}[rel], true
			case ys != "":
				y, ok := yearOf(ys, era == "民國" || era == "民国")
				if !ok {
					continue
				}
				c.y, c.hasYear, c.abs = y, true, true
			case era != "":
				continue
			}
			add(c)
		}
	}
	if strings.Contains(s, " ") || hasLatin(s) {
		for _, m := range findIf(mayEnMonth, f, reEnMD) {
			c := dateCand{b0: m[0], b1: m[1], m: monthNum(sub(s, m, 1)), d: atoi(sub(s, m, 2))}
			if ys := sub(s, m, 3); ys != "" {
				c.y, c.hasYear, c.abs = atoi(ys), true, true
			}
			add(c)
		}
		for _, m := range findIf(mayEnMonth, f, reEnDM) {
			c := dateCand{b0: m[0], b1: m[1], m: monthNum(sub(s, m, 2)), d: atoi(sub(s, m, 1))}
			if ys := sub(s, m, 3); ys != "" {
				c.y, c.hasYear, c.abs = atoi(ys), true, true
			}
			add(c)
		}
		for _, m := range findIf(mayEnRel, f, reEnRel) {
			w := strings.Join(strings.Fields(sub(s, m, 1)), " ")
			off, per := 0, ""
			if i := strings.IndexByte(w, ' '); i > 0 && (w[:i] == "yesterday" || w[:i] == "today") {
				w, per = w[:i], map[string]string{"morning": "早上", "afternoon": "下午", "evening": "晚上", "night": "晚上"}[w[i+1:]]
			}
			switch w {
			case "the day before yesterday", "day before yesterday":
				off = -2
			case "yesterday":
				off = -1
			case "tomorrow":
				off = 1
			case "tonight", "this evening":
				per = "晚上"
			case "last night":
				off, per = -1, "晚上"
			case "this morning":
				per = "早上"
			case "this afternoon":
				per = "下午"
			}
			out = append(out, relDay(m[0], m[1], today.AddDate(0, 0, off), per))
		}
		for _, m := range findIf(mayEnAgo, f, reEnAgo) {
			n, ok := enNumber(sub(s, m, 1))
			if !ok {
				continue
			}
			if strings.HasPrefix(sub(s, m, 2), "week") {
				n *= 7
			}
			out = append(out, relDay(m[0], m[1], today.AddDate(0, 0, -n), ""))
		}
		for _, m := range findIf(mayEnWeek, f, reEnWeek) {
			wd := enWeekday(sub(s, m, 3))
			pre, wk := sub(s, m, 1), sub(s, m, 2)+sub(s, m, 4) // "last week Friday", "Friday last week"
			if sub(s, m, 2) != "" && sub(s, m, 4) != "" || wk != "" && pre != "" && pre != "on" {
				continue
			}
			var d time.Time
			switch {
			case wk == "last":
				d = weekOf(today, -1, wd)
			case wk == "this":
				d = weekOf(today, 0, wd)
			case wk == "next":
				d = weekOf(today, 1, wd)
			case pre == "last" || pre == "past":
				d = lastWeekday(today, wd, true)
			case pre == "this":
				d = weekOf(today, 0, wd)
			case pre == "next":
				d = weekOf(today, 1, wd)
			default:
				d = lastWeekday(today, wd, false)
			}
			out = append(out, relDay(m[0], m[1], d, ""))
		}
	}
	for _, m := range findWords(s, zhRelWords) {
		w := s[m[0]:m[1]]
		off, per := 0, ""
		switch w {
		case "大前天":
			off = -3
		case "前天":
			off = -2
		case "昨天", "昨日":
			off = -1
		case "昨晚", "昨夜":
			off, per = -1, "晚上"
		case "昨早":
			off, per = -1, "早上"
		case "今晚":
			per = "晚上"
		case "今早", "今晨":
			per = "早上"
		case "明天", "明日":
			off = 1
		case "後天":
			off = 2
		case "大後天":
			off = 3
		}
		out = append(out, relDay(m[0], m[1], today.AddDate(0, 0, off), per))
	}
	if strings.Contains(s, "前") {
		for _, m := range reZhAgo.FindAllStringSubmatchIndex(s, -1) {
			n, ok := parseInt(sub(s, m, 1))
			if !ok || n > 3650 || !f.digitBounded(m[0], m[1]) {
				continue
			}
			if sub(s, m, 2) != "天" && sub(s, m, 2) != "日" {
				n *= 7
			}
			out = append(out, relDay(m[0], m[1], today.AddDate(0, 0, -n), ""))
		}
	}
	if strings.Contains(s, "號") || strings.Contains(s, "日") {
		for _, m := range reZhDay.FindAllStringSubmatchIndex(s, -1) {
			if c, ok := zhDayOfMonth(f, m, today); ok {
				out = append(out, c)
			}
		}
	}
	if strings.Contains(s, "the") {
		for _, m := range findIf(mayEnDay, f, reEnDay) {
			d := atoi(sub(s, m, 1))
			if c, ok := dayOfMonth(m[0], m[1], today, d, map[string]int{"last": -1}[sub(s, m, 2)], sub(s, m, 2) != ""); ok {
				out = append(out, c)
			}
		}
	}
	if !strings.Contains(s, "週") && !strings.Contains(s, "星期") && !strings.Contains(s, "禮拜") {
		return out
	}
	for _, m := range reZhWeek.FindAllStringSubmatchIndex(s, -1) {
		wd := zhWeekday(sub(s, m, 2))
		var d time.Time
		switch sub(s, m, 1) {
		case "上":
			d = weekOf(today, -1, wd)
		case "上上":
			d = weekOf(today, -2, wd)
		case "這", "本":
			d = weekOf(today, 0, wd)
		case "下":
			d = weekOf(today, 1, wd)
		default:
			d = lastWeekday(today, wd, false)
		}
		out = append(out, relDay(m[0], m[1], d, ""))
	}
	return out
}

// zhDayOfMonth turns "20號", "二十號", "上個月20號", "20日那天" into a day. 號 after a number is a day
// unless it names a bus, a line, a floor or a room ("3號出口", "5號線"); 日 alone is a day only at the end
// of a phrase or before a part of day ("20日晚上"), not in a duration ("住院20日").
func zhDayOfMonth(f *folded, m []int, today time.Time) (dateCand, bool) {
	s := f.norm
	if !f.digitBounded(m[4], m[5]) || m[2] < 0 && (strings.HasSuffix(s[:m[4]], "月") || strings.HasSuffix(s[:m[4]], "第")) {
		return dateCand{}, false
	}
	d, ok := parseInt(sub(s, m, 2))
	if !ok {
		return dateCand{}, false
	}
	rest := s[m[1]:]
	if sub(s, m, 3) == "號" {
		for _, w := range []string{"樓", "房", "病", "床", "線", "出口", "門", "公車", "車", "窗", "碼", "館", "巷", "弄", "店", "櫃", "機"} {
			if strings.HasPrefix(rest, w) {
				return dateCand{}, false
			}
		}
	} else {
		r := f.after(m[1])
		if isHan(r) && !reDayFollow.MatchString(rest) || strings.HasSuffix(s[:m[0]], "院") || strings.HasSuffix(s[:m[0]], "養") {
			return dateCand{}, false
		}
	}
	months, explicit := 0, false
	switch sub(s, m, 1) {
	case "上個月", "上月":
		months, explicit = -1, true
	case "這個月", "這月", "本月":
		explicit = true
	}
	return dayOfMonth(m[0], m[1], today, d, months, explicit)
}

var reDayFollow = regexp.MustCompile(`^(?:那天|當天|的時候|晚上|下午|上午|早上|中午|凌晨|傍晚|半夜|左右|發生|出事|出車禍|住院|被|在|我)`)

// dayOfMonth resolves a day of the month: in the month `months` away when explicit, otherwise the most
// recent past occurrence (this month when the day has come, else last month).
func dayOfMonth(b0, b1 int, today time.Time, d, months int, explicit bool) (dateCand, bool) {
	if d < 1 || d > 31 {
		return dateCand{}, false
	}
	first := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, today.Location())
	if !explicit && d > today.Day() {
		months = -1
	}
	for i := 0; i < 12; i++ {
		mo := first.AddDate(0, months-i, 0)
		if validYMD(mo.Year(), int(mo.Month()), d) {
			return dateCand{b0: b0, b1: b1, y: mo.Year(), m: int(mo.Month()), d: d, hasYear: true}, true
		}
		if explicit {
			return dateCand{}, false
		}
	}
	return dateCand{}, false
}

// zhRelWords are the relative day words, in the order a leftmost-first alternation would try them.
var zhRelWords = []string{"大前天", "前天", "昨天", "昨日", "今天", "今日", "大後天", "後天", "明天", "明日", "昨晚", "昨夜", "今晚", "今早", "今晨", "昨早"}

// isWordStart is true for the first characters of the words findWords is used with.
func isWordStart(r rune) bool {
	switch r {
	case '大', '前', '昨', '今', '後', '明', '中', '午':
		return true
	}
	return false
}

// findWords finds the words, left to right and non-overlapping (the first listed wins at a position),
// as the alternation regexp would, without running one.
func findWords(s string, words []string) [][]int {
	var out [][]int
	for i := 0; i < len(s); {
		hit := false
		r, n := utf8.DecodeRuneInString(s[i:])
		if !isWordStart(r) {
			i += n
			continue
		}
		for _, w := range words {
			if strings.HasPrefix(s[i:], w) {
				out = append(out, []int{i, i + len(w)})
				i += len(w)
				hit = true
				break
			}
		}
		if !hit {
			i += n
		}
	}
	return out
}

func relDay(b0, b1 int, d time.Time, per string) dateCand {
	return dateCand{b0: b0, b1: b1, y: d.Year(), m: int(d.Month()), d: d.Day(), hasYear: true, period: per}
}

func hasLatin(s string) bool {
	for i := 0; i < len(s); i++ {
		if 'a' <= s[i] && s[i] <= 'z' {
			return true
		}
	}
	return false
}

func monthNum(s string) int {
	return strings.Index("janfebmaraprmayjunjulaugsepoctnovdec", s[:3])/3 + 1
}

var enNumbers = map[string]int{"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
	"six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}

func enNumber(s string) (int, bool) {
	if n, ok := enNumbers[s]; ok {
		return n, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n <= 3650
}

func enWeekday(s string) time.Weekday {
	for d := time.Sunday; d <= time.Saturday; d++ {
		if strings.EqualFold(d.String(), s) {
			return d
		}
	}
	return time.Sunday
}

func zhWeekday(s string) time.Weekday {
	switch s {
	case "日", "天", "七", "7":
		return time.Sunday
	}
	if v, ok := parseInt(s); ok {
		return time.Weekday(v)
	}
	return time.Sunday
}

// monIdx numbers weekdays from Monday (0) to Sunday (6): Taiwan counts weeks from Monday.
func monIdx(w time.Weekday) int { return (int(w) + 6) % 7 }

// weekOf returns weekday wd of the week `weeks` away from today's (Monday-based) week.
func weekOf(today time.Time, weeks int, wd time.Weekday) time.Time {
	return today.AddDate(0, 0, -monIdx(today.Weekday())+7*weeks+monIdx(wd))
}

// lastWeekday is the most recent wd on or before today (strictly before when strict).
func lastWeekday(today time.Time, wd time.Weekday, strict bool) time.Time {
	diff := (int(today.Weekday()) - int(wd) + 7) % 7
	if diff == 0 && strict {
		diff = 7
	}
	return today.AddDate(0, 0, -diff)
}

func findTimes(f *folded) []timeCand {
	s := f.norm
	var out []timeCand
	add := func(b0, b1, h, m int, per, ampm, enPer string) {
		explicit := per != "" || ampm != "" || enPer != "" || h > 12 || h == 0
		if enPer != "" && per == "" {
			per = map[string]string{"morning": "早上", "afternoon": "下午", "evening": "晚上", "night": "晚上"}[enPer]
		}
		h, ok := applyPeriod(h, per, ampm)
		if !ok || m < 0 || m > 59 {
			return
		}
		out = append(out, timeCand{b0: b0, b1: b1, h: h, m: m, explicit: explicit})
	}
	if strings.ContainsAny(s, "點時") {
		for _, m := range findNear(reZhTime, s, func(r rune) bool { return r == '點' || r == '時' }, 30, 30) {
			if !f.digitBounded(m[4], m[1]) {
				continue
			}
			per := sub(s, m, 1)
			if per == "早" || per == "晚" {
				// 晚8點, 早9點: only with a digit right after (晚一點 = a bit later, 早點 = early).
				if m[3] != m[4] || !isDigit(f.after(m[3])) {
					if m[2] >= 0 {
						m = append([]int(nil), m...)
						m[0], m[2], m[3] = m[4], -1, -1
					}
					per = ""
				} else {
					per += "上"
				}
			}
			h, ok := parseInt(sub(s, m, 2))
			if !ok {
				continue
			}
			// 有一點、差一點 mean "a little", not one o'clock.
			if sub(s, m, 1) == "" && sub(s, m, 2) == "一" && m[1] == m[5]+len("點") {
				continue
			}
			mi := 0
			switch {
			case m[6] >= 0:
				mi = 30
			case m[8] >= 0:
				mi = map[string]int{"一刻": 15, "三刻": 45}[sub(s, m, 4)]
			case m[10] >= 0:
				if mi, ok = parseInt(sub(s, m, 5)); !ok {
					continue
				}
			}
			add(m[0], m[1], h, mi, per, "", "")
			if m[2] >= 0 {
				// Also without its part of day, so 昨晚 + 十一點 can pair up.
				add(m[4], m[1], h, mi, "", "", "")
			}
		}
	}
	for _, m := range findIf(mayColon, f, reColon) {
		if !f.digitBounded(m[4], m[1]) || f.before(m[4]) == ':' || f.after(m[1]) == ':' {
			continue
		}
		add(m[0], m[1], atoi(sub(s, m, 2)), atoi(sub(s, m, 3)), sub(s, m, 1), sub(s, m, 4), sub(s, m, 5)+sub(s, m, 6))
	}
	if hasLatin(s) {
		for _, m := range findIf(mayAmPm, f, reAmPm) {
			if isDigit(f.before(m[0])) || isASCIIAl(f.after(m[1])) || f.before(m[0]) == ':' {
				continue
			}
			add(m[0], m[1], atoi(sub(s, m, 1)), 0, "", sub(s, m, 2), "")
		}
		for _, m := range append(findIf(mayAtBare, f, reAtBare), findIf(mayOClock, f, reOClock)...) {
			if f.after(m[1]) == ':' {
				continue
			}
			add(m[0], m[1], atoi(sub(s, m, 1)), 0, "", "", sub(s, m, 2)+sub(s, m, 3))
		}
	}
	if !strings.Contains(s, "午") && !strings.Contains(s, "noon") && !strings.Contains(s, "midnight") {
		return out
	}
	noon := findWords(s, []string{"中午", "午夜"})
	if strings.Contains(s, "noon") || strings.Contains(s, "midnight") {
		noon = append(noon, reNoonEn.FindAllStringIndex(s, -1)...)
	}
	for _, m := range noon {
		w := s[m[0]:m[1]]
		if strings.HasSuffix(w, "中午") || strings.HasSuffix(w, "noon") {
			out = append(out, timeCand{b0: m[0], b1: m[1], h: 12, explicit: true})
		} else {
			out = append(out, timeCand{b0: m[0], b1: m[1], h: 0, explicit: true})
		}
	}
	return out
}

// applyPeriod turns an hour said with a part of day (下午三點, 3pm) into a 24-hour value.
func applyPeriod(h int, per, ampm string) (int, bool) {
	if h < 0 || h > 24 {
		return 0, false
	}
	switch ampm {
	case "am", "a.m.":
		if h > 12 {
			return 0, false
		}
		if h == 12 {
			h = 0
		}
		return h, true
	case "pm", "p.m.":
		if h > 12 || h == 0 {
			return 0, false
		}
		if h < 12 {
			h += 12
		}
		return h, true
	}
	if h == 24 {
		h = 0
	}
	switch per {
	case "凌晨", "午夜":
		if h == 12 {
			h = 0
		}
	case "半夜", "深夜":
		if h == 12 {
			h = 0
		} else if h >= 9 && h <= 11 {
			h += 12
		}
	case "中午":
		if h >= 1 && h <= 5 {
			h += 12
		}
	case "下午", "傍晚":
		if h >= 1 && h < 12 {
			h += 12
		}
	case "晚上", "晚間", "夜裡", "夜間":
		if h >= 4 && h < 12 {
			h += 12
		} else if h == 12 {
			h = 0
		}
	}
	return h, h <= 23
}
