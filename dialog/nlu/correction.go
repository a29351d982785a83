package nlu

import (
	"regexp"
	"strings"
	"time"
	"unicode"
)

// Form fields a correction can target (the ids the dialog's claim form uses).
const (
	FieldTime        = "time"
	FieldPlace       = "place"
	FieldCause       = "cause"
	FieldDescription = "description"
	FieldAmount      = "amount"
	FieldPhone       = "phone"
	FieldName        = "name"
)

// fieldWords are the words that name a field, zh-TW (Simplified folds to Traditional) and English.
var fieldWords = []struct {
	field string
	zh    []string
	en    []string
}{
	{FieldTime, []string{"事發時間", "發生時間", "出事時間", "事故時間", "時間", "日期", "哪天", "幾點"}, []string{"date and time", "time", "date"}},
	{FieldPlace, []string{"事發地點", "發生地點", "事故地點", "出事地點", "地點", "地方", "位置", "地址"}, []string{"place", "location", "address"}},
	{FieldCause, []string{"事故原因", "原因", "事由", "肇因"}, []string{"cause", "reason"}},
	{FieldDescription, []string{"事故經過", "受傷情形", "情形", "經過", "描述", "狀況", "內容", "說明"}, []string{"description", "details", "what happened"}},
	{FieldAmount, []string{"估計金額", "醫藥費", "醫療費", "金額", "費用", "花費", "錢"}, []string{"amount", "cost", "costs", "total", "price", "bill", "expenses"}},
	{FieldPhone, []string{"聯絡電話", "手機號碼", "電話號碼", "手機", "電話"}, []string{"phone number", "mobile number", "phone", "mobile", "cell", "number"}},
	{FieldName, []string{"姓名", "名字", "大名"}, []string{"full name", "name"}},
}

var (
	reCorrZh, reCorrEnChange, reCorrEnIs *regexp.Regexp
	fieldOf                              = map[string]string{}
	// A correction without a field word: "不對，是前天", "改成前天", "no, it was Friday", "actually 3pm".
	reCorrCue = regexp.MustCompile(`^[\s,，。.!！]*(?:(?:不對|不是|錯了|有錯|打錯了?|寫錯了?|說錯了?|搞錯了?|更正|抱歉)(?:啦|喔|啊|欸|耶|哦|唷)?[\s,，。.!！、]*(?:應該是|應該|其實是|是|改成|改為|換成)?|應該是|其實是|改成|改為|換成|更正為|(?:no|nope|sorry|wrong|oops|actually|not)\b[\s,.!]*(?:it\s+(?:was|is)|it's|its|make\s+it|should\s+be|i\s+meant?)?|it\s+was|it's\s+actually|i\s+meant?|make\s+it|change\s+it\s+to)`)
)

func init() {
	var zh, en []string
	for _, f := range fieldWords {
		for _, w := range f.zh {
			zh = append(zh, regexp.QuoteMeta(w))
			fieldOf[w] = f.field
		}
		for _, w := range f.en {
			en = append(en, strings.ReplaceAll(regexp.QuoteMeta(w), " ", `\s+`))
			fieldOf[w] = f.field
		}
	}
	// Longest first, so 事發時間 wins over 時間 and "phone number" over "phone".
	byLen := func(xs []string) {
		sortStrings(xs, func(a, b string) bool { return len(a) > len(b) })
	}
	byLen(zh)
	byLen(en)
	reCorrZh = regexp.MustCompile(`(?:把|將)?\s*(` + strings.Join(zh, "|") + `)\s*(?:要|請|幫我|麻煩)?\s*(?:改成|改為|換成|換為|更正為|更正成|修改為|修改成|應該是|應為|才是|是|為|:|：|=)\s*`)
	reCorrEnChange = regexp.MustCompile(`\b(?:change|update|correct|fix|set|make|edit)\s+(?:the\s+|my\s+|your\s+)?(` + strings.Join(en, "|") + `)\s+(?:to|into|as|:)\s*`)
	reCorrEnIs = regexp.MustCompile(`\b(?:the\s+|my\s+)?(` + strings.Join(en, "|") + `)\s*(?:is|was|should\s+be|must\s+be|=|:)\s*`)
}

func sortStrings(xs []string, less func(a, b string) bool) {
	for i := 1; i < len(xs); i++ {
		for j := i; j > 0 && less(xs[j], xs[j-1]); j-- {
			xs[j], xs[j-1] = xs[j-1], xs[j]
		}
	}
}

// Correction recognises a correction at read-back and the form field it targets.
//
// field is one of FieldTime, FieldPlace, FieldCause, FieldDescription, FieldAmount, FieldPhone,
// FieldName; value is the customer's new value exactly as written in text (original script and
// width), the part after the cue, trimmed of spaces, punctuation and trailing particles (啦, 喔, 才對);
// ok is false when text does not read as a correction of a known field (then field and value are "").
//
// A field word wins: "地點改成台大醫院" → (place, 台大醫院), "change the place to 台大醫院" →
// (place, 台大醫院), "金額是四萬" → (amount, 四萬), "phone is 0912345678" → (phone, 0912345678).
// Without one, a correction cue (不對/不是/錯了/改成/應該是, no/actually/it was) must start the message and
// the field is inferred from the value: a date or time → time ("不對，是前天"), a phone number → phone,
// an amount with a unit or currency → amount, a hospital, road or station → place. value may be ""
// when only the field was named ("地點錯了"): ok is then true, so the dialog can ask for it again.
func Correction(text string) (field, value string, ok bool) {
	f := fold(text)
	s := f.norm
	type hit struct {
		field string
		b0    int // start of the cue
		b1    int // end of the cue: the value starts here
	}
	var best *hit
	try := func(re *regexp.Regexp) {
		if m := re.FindStringSubmatchIndex(s); m != nil && (best == nil || m[0] < best.b0) {
			w := strings.Join(strings.Fields(s[m[2]:m[3]]), " ")
			if fd, ok := fieldOf[w]; ok {
				best = &hit{fd, m[0], m[1]}
			}
		}
	}
	try(reCorrZh)
	if hasLatin(s) {
		try(reCorrEnChange)
		try(reCorrEnIs)
	}
	if best != nil {
		return best.field, correctionValue(f, best.b1), true
	}
	// "地點錯了", "the date is wrong": the field alone.
	for _, fw := range fieldWords {
		for _, w := range fw.zh {
			if i := strings.Index(s, w); i >= 0 && reWrongAfter.MatchString(s[i+len(w):]) {
				return fw.field, "", true
			}
		}
	}
	m := reCorrCue.FindStringIndex(s)
	if m == nil || m[1] == 0 {
		return "", "", false
	}
	v := correctionValue(f, m[1])
	if v == "" {
		return "", "", false
	}
	if fd := inferField(v); fd != "" {
		return fd, v, true
	}
	return "", "", false
}

var reWrongAfter = regexp.MustCompile(`^\s*(?:也)?(?:錯了|有錯|不對|寫錯|打錯|不正確)`)

// correctionValue is the original text from byte b1 of the folded text, trimmed.
func correctionValue(f *folded, b1 int) string {
	s, e := f.span(b1, len(f.norm))
	rs := f.runes()[s:e]
	trim := func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsPunct(r) || r == '～' || r == '~'
	}
	for len(rs) > 0 && trim(rs[0]) {
		rs = rs[1:]
	}
	for {
		n := len(rs)
		for len(rs) > 0 && trim(rs[len(rs)-1]) {
			rs = rs[:len(rs)-1]
		}
		for _, p := range []string{"才對", "才是", "啦", "喔", "哦", "唷", "喲", "呢", "吧", "please", "thanks", "謝謝"} {
			pr := []rune(p)
			if len(rs) > len(pr) && strings.EqualFold(string(rs[len(rs)-len(pr):]), p) {
				rs = rs[:len(rs)-len(pr)]
			}
		}
		if len(rs) == n {
			break
		}
	}
	return string(rs)
}

var rePlaceWord = regexp.MustCompile(`(?:醫院|診所|路|街|大道|巷|弄|站|公園|市場|大樓|學校|公司|家|停車場|交流道|橋|機場|hospital|clinic|road|street|\brd\b|\bst\b|avenue|station|airport|park|mall|office|home)`)

// inferField guesses the field of a bare corrected value.
func inferField(v string) string {
	f := fold(v)
	today := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC) // only whether something matches matters
	if len(findDates(f, today)) > 0 || len(findTimes(f)) > 0 {
		return FieldTime
	}
	if len(phoneCands(f, nil)) > 0 {
		return FieldPhone
	}
	if len(amountCands(f, nil, true)) > 0 || len(enAmountCands(f, nil)) > 0 {
		return FieldAmount
	}
	if rePlaceWord.MatchString(f.norm) {
		return FieldPlace
	}
	return ""
}
