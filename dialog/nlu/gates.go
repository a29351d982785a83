package nlu

import (
	"regexp"
	"strings"
)

// Pre-checks ("gates"): each says whether a pattern can match a folded text at all, from what fold
// counted (digits, the longest digit run, Latin letters) or a few substring tests. Most messages carry
// no date, time, amount or number, and Go's regexp engine tries every start position of a pattern with
// no literal prefix, so not starting it is most of the extractors' speed. A gate may say yes when the
// pattern does not match; it must never say no when it does (FuzzGates checks every pair in gates).

func (f *folded) has(words ...string) bool {
	for _, w := range words {
		if strings.Contains(f.norm, w) {
			return true
		}
	}
	return false
}

// findIf is re.FindAllStringSubmatchIndex(f.norm, -1) when the gate says the pattern may match, else nil.
func findIf(may func(*folded) bool, f *folded, re *regexp.Regexp) [][]int {
	if !may(f) {
		return nil
	}
	return re.FindAllStringSubmatchIndex(f.norm, -1)
}

// Each gate names the literal parts its pattern cannot match without.
func mayYMD(f *folded) bool     { return f.digits >= 4 && digitsAround(f.norm, "-/.") }
func mayMDYUS(f *folded) bool   { return f.digits >= 6 && digitsAround(f.norm, "/") }
func mayDigits(f *folded) bool  { return f.run >= 7 }
func mayMD(f *folded) bool      { return f.digits >= 2 && digitsAround(f.norm, "/") }
func mayEnMonth(f *folded) bool { return f.digits > 0 && f.latin && hasMonthName(f.norm) }
func mayEnRel(f *folded) bool {
	return f.latin && f.has("yesterday", "today", "tonight", "tomorrow", "last", "this")
}
func mayEnAgo(f *folded) bool { return f.latin && strings.Contains(f.norm, "ago") }
func mayEnWeek(f *folded) bool {
	return f.latin && strings.Contains(f.norm, "day") && hasWeekdayName(f.norm)
}
func mayEnDay(f *folded) bool  { return f.digits > 0 && strings.Contains(f.norm, "the") }
func mayColon(f *folded) bool  { return f.digits >= 3 && digitsAround(f.norm, ":") }
func mayAmPm(f *folded) bool   { return f.digits > 0 && digitThen(f.norm, "am", "pm", "a.m.", "p.m.") }
func mayAtBare(f *folded) bool { return f.digits > 0 && strings.Contains(f.norm, "at") }
func mayOClock(f *folded) bool { return f.digits > 0 && digitThen(f.norm, "oclock", "o'clock") }

// A national ID is a letter and nine digits; the old resident format two letters and eight.
func mayNationalID(f *folded) bool { return f.run >= 9 }
func mayOldResID(f *folded) bool   { return f.run >= 8 }

// A Taiwan mobile has ten digits with its 0 (twelve with 886); a landline at least nine.
func mayMobile(f *folded) bool   { return f.digits >= 10 }
func mayLandline(f *folded) bool { return f.digits >= 9 }

// digitsAround says some byte of seps has an ASCII digit right before and right after it.
func digitsAround(s, seps string) bool {
	for i := 1; i+1 < len(s); i++ {
		if strings.IndexByte(seps, s[i]) >= 0 && isDigit(rune(s[i-1])) && isDigit(rune(s[i+1])) {
			return true
		}
	}
	return false
}

// digitThen says an ASCII digit is followed, after optional \s, by one of words.
func digitThen(s string, words ...string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(rune(s[i])) {
			continue
		}
		j := i + 1
		for j < len(s) && isRESpace(s[j]) {
			j++
		}
		for _, w := range words {
			if strings.HasPrefix(s[j:], w) {
				return true
			}
		}
	}
	return false
}

var monthNames = []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}

func hasMonthName(s string) bool {
	for _, m := range monthNames {
		if strings.Contains(s, m) {
			return true
		}
	}
	return false
}

var weekdayNames = []string{"monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"}

func hasWeekdayName(s string) bool {
	for _, d := range weekdayNames {
		if strings.Contains(s, d) {
			return true
		}
	}
	return false
}

// gates lists every gated pattern with its gate, for FuzzGates.
var gates = []struct {
	name string
	re   *regexp.Regexp
	may  func(*folded) bool
}{
	{"YMD", reYMD, mayYMD}, {"MDYUS", reMDYUS, mayMDYUS}, {"Digits", reDigits, mayDigits}, {"MD", reMD, mayMD},
	{"EnMD", reEnMD, mayEnMonth}, {"EnDM", reEnDM, mayEnMonth}, {"EnRel", reEnRel, mayEnRel}, {"EnAgo", reEnAgo, mayEnAgo},
	{"EnWeek", reEnWeek, mayEnWeek}, {"EnDay", reEnDay, mayEnDay}, {"Colon", reColon, mayColon}, {"AmPm", reAmPm, mayAmPm},
	{"AtBare", reAtBare, mayAtBare}, {"OClock", reOClock, mayOClock}, {"NationalID", reNationalID, mayNationalID},
	{"OldResID", reOldResID, mayOldResID}, {"Mobile", reMobile, mayMobile}, {"Landline", reLandline, mayLandline},
}
