package dialog

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"claimline/dialog/nlu"
)

// Keyword rules the first version of the flows relies on. They complement the classifier where a
// wrong guess is costly (leaving a form, switching language) and are easy to extend.

// squash lowercases and drops spaces and punctuation, for matching short commands. A text that is
// already squashed is returned as it is (no copy): the keyword rules squash the same message often.
func squash(s string) string {
	for i, r := range s {
		if lr, keep := squashRune(r); !keep || lr != r {
			var b strings.Builder
			b.Grow(len(s))
			b.WriteString(s[:i])
			for _, r := range s[i:] {
				if lr, keep := squashRune(r); keep {
					b.WriteRune(lr)
				}
			}
			return b.String()
		}
	}
	return s
}

// squashRune is r lowercased, and whether squash keeps it (not a space, punctuation or a symbol).
func squashRune(r rune) (rune, bool) {
	switch {
	case r < utf8.RuneSelf:
		c := squashASCII[r]
		return rune(c), c != 0 || r == 0
	case 0x4E00 <= r && r <= 0x9FFF:
		return r, true // CJK ideographs: letters without case, most of what customers type
	}
	r = unicode.ToLower(r)
	return r, !unicode.IsSpace(r) && !unicode.IsPunct(r) && !unicode.IsSymbol(r)
}

// squashASCII[c] is c lowercased, or 0 when squash drops it.
var squashASCII = func() (t [utf8.RuneSelf]byte) {
	for c := range rune(utf8.RuneSelf) {
		if l := unicode.ToLower(c); !unicode.IsSpace(l) && !unicode.IsPunct(l) && !unicode.IsSymbol(l) {
			t[c] = byte(l)
		}
	}
	return t
}()

func containsAny(s string, words ...string) bool {
	for _, w := range words {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

var langFillers = []string{"please", "pls", "canyou", "could", "can", "we", "switchto", "speak", "use", "in",
	"請", "请", "可以", "能", "用", "說", "说", "講", "讲", "改成", "改用", "換成", "换成", "嗎", "吗", "好嗎", "i", "want"}

// langSwitch recognises a message that is only a request for a language.
func langSwitch(text string) (string, bool) {
	s := squash(text)
	if utf8.RuneCountInString(s) > 24 {
		return "", false
	}
	for changed := true; changed; {
		changed = false
		for _, f := range langFillers {
			if strings.HasPrefix(s, f) && len(s) > len(f) {
				s, changed = s[len(f):], true
			}
			if strings.HasSuffix(s, f) && len(s) > len(f) {
				s, changed = s[:len(s)-len(f)], true
			}
		}
	}
	switch s {
	case "english", "英文", "英語", "英语", "en":
		return "en", true
	case "中文", "chinese", "繁體中文", "繁体中文", "國語", "国语", "華語", "zh":
		return "zh-TW", true
	}
	return "", false
}

var (
	cancelWords = map[string]bool{"取消": true, "取消申請": true, "我要取消": true, "取消理賠": true, "不要了": true,
		"不用了": true, "算了": true, "不申請了": true, "结束": true, "結束": true, "cancel": true, "cancelit": true,
		"stop": true, "quit": true, "nevermind": true, "forgetit": true, "主選單": true, "回主選單": true,
		"menu": true, "mainmenu": true, "取消吧": true}
	helpWords = map[string]bool{"help": true, "幫助": true, "说明": true, "說明": true, "幫忙": true, "怎麼用": true,
		"你可以做什麼": true, "whatcanyoudo": true, "求助": true}
)

// globalIntent returns cancel, help or human_agent when the message is clearly one of them. Inside a
// form the classifier alone is not trusted for leaving (a description may mention "取消" or "agent").
func globalIntent(text, intent string, conf float64, res nlu.Result, inFlow bool) string {
	s := squash(text)
	switch {
	case cancelWords[s]:
		return nlu.IntentCancel
	case helpWords[s]:
		return nlu.IntentHelp
	case containsAny(s, "真人", "專人", "客服人員", "人工客服", "轉人工", "humanagent", "realperson", "talktoaperson",
		"talktoahuman", "representative", "speaktoaperson", "liveagent"):
		return nlu.IntentHumanAgent
	}
	short := utf8.RuneCountInString(s) <= 10 && len(res.Entities) == 0
	if !inFlow {
		short = true
	}
	if short && conf >= 0.75 {
		switch intent {
		case nlu.IntentCancel, nlu.IntentHelp, nlu.IntentHumanAgent:
			if intent == nlu.IntentCancel && !inFlow {
				return ""
			}
			return intent
		}
	}
	return ""
}

// isProgressQuestion spots "how is my claim going" in the middle of another flow.
func isProgressQuestion(text string, res nlu.Result) bool {
	for _, e := range res.Entities {
		if e.Type == nlu.EntityCaseID {
			return true
		}
	}
	// Keywords only: the classifier takes an ID number for a progress question, which would pull the
	// customer out of the very form that asked for it.
	return containsAny(squash(text), "進度", "进度", "progress", "statusofmyclaim", "案件狀態", "審核到哪", "myclaimstatus",
		"howismyclaim", "查詢案件", "案子怎麼樣")
}

// Words that say something happened to the customer, for the empathy line and the claim type.
var (
	kwDeath    = []string{"過世", "身故", "死亡", "往生", "去世", "病逝", "过世", "passedaway", "died", "death", "deceased"}
	kwCritical = []string{"癌症", "癌", "腫瘤", "中風", "心肌梗塞", "重大疾病", "cancer", "tumor", "tumour", "stroke", "heartattack", "criticalillness"}
	kwMotor    = []string{"車子", "車損", "保險桿", "車門", "擦撞", "撞車", "刮傷", "車頭", "車尾", "車身", "追撞", "mycar", "thecar", "bumper", "dent", "scratch", "fender", "rearended", "vehicle", "carwas", "cardamage"}
	kwTravel   = []string{"行李", "班機", "航班", "延誤", "旅遊", "出國", "旅行", "luggage", "baggage", "flight", "delayed", "trip", "travel"}
	kwProperty = []string{"火災", "失火", "漏水", "淹水", "水災", "房子", "住家", "fire", "flood", "leak", "burstpipe", "house", "apartment"}
	kwAccident = []string{"車禍", "骨折", "跌倒", "摔", "受傷", "扭傷", "撞到", "被撞", "意外", "燙傷", "车祸", "accident", "injur", "fracture", "broke", "fell", "hurt", "sprain"}
	kwMedical  = []string{"住院", "看病", "手術", "門診", "急診", "生病", "開刀", "醫院", "hospital", "surgery", "sick", "illness", "clinic", "doctor"}
	// kwInjury is harm to a person (a dented car is not): it decides the empathy line.
	kwInjury = []string{"受傷", "骨折", "跌倒", "摔傷", "扭傷", "燙傷", "受伤", "骨头", "流血", "縫", "injur", "fracture", "brokemy", "hurt", "sprain", "fell", "bleeding"}
)

// looksLikeIncident says the customer is telling us about something that happened (a claim).
func looksLikeIncident(text string) bool {
	s := squash(text)
	for _, l := range [][]string{kwDeath, kwCritical, kwMotor, kwTravel, kwProperty, kwAccident, kwMedical} {
		if containsAny(s, l...) {
			return true
		}
	}
	return false
}

// inferClaimTypes returns the claim types the text points at, most specific first.
func inferClaimTypes(text string) []string {
	s := squash(text)
	var out []string
	add := func(id string, kw []string) {
		if containsAny(s, kw...) {
			out = append(out, id)
		}
	}
	add("death", kwDeath)
	add("critical_illness", kwCritical)
	add("motor", kwMotor)
	add("travel", kwTravel)
	add("property", kwProperty)
	add("accident", kwAccident)
	add("medical", kwMedical)
	return out
}

// pickClaimType chooses among the covered types from what the text says: one when unambiguous, else
// the candidates to offer. An injury outranks the hospital stay it caused; a death outranks both.
func pickClaimType(text string, covered []string) (string, []string) {
	cov := map[string]bool{}
	for _, c := range covered {
		cov[c] = true
	}
	var hits []string
	for _, h := range inferClaimTypes(text) {
		if cov[h] {
			hits = append(hits, h)
		}
	}
	has := func(id string) bool {
		for _, h := range hits {
			if h == id {
				return true
			}
		}
		return false
	}
	drop := func(id string) {
		for i, h := range hits {
			if h == id {
				hits = append(hits[:i], hits[i+1:]...)
				return
			}
		}
	}
	if has("death") {
		return "death", nil
	}
	if has("accident") || has("critical_illness") {
		drop("medical")
	}
	// Damage to a car with nobody hurt is not an accident-injury claim.
	if containsAny(squash(text), kwMotor...) && !isInjury(text) {
		drop("accident")
	}
	if len(hits) == 1 {
		return hits[0], nil
	}
	return "", hits
}

// inferCause maps what happened to a plain cause (a message key), or "".
func inferCause(text string) string {
	s := squash(text)
	switch {
	case containsAny(s, "車禍", "车祸", "撞車", "擦撞", "被撞", "追撞", "機車撞", "汽車撞", "caraccident", "trafficaccident", "crash", "collision", "hitbyacar", "rearended", "carwashit", "gothit", "washitby", "車被撞", "機車撞", "摩托車"):
		return "cause.traffic_accident"
	case containsAny(s, "跌倒", "摔倒", "摔傷", "滑倒", "fell", "slipped", "afall"):
		return "cause.fall"
	case containsAny(s, "火災", "失火", "fire"):
		return "cause.fire"
	case containsAny(s, "淹水", "水災", "flood"):
		return "cause.flood"
	case containsAny(s, "漏水", "leak", "burstpipe"):
		return "cause.leak"
	}
	return ""
}

func isInjury(text string) bool { return containsAny(squash(text), kwInjury...) }
func isDeath(text string) bool  { return containsAny(squash(text), kwDeath...) }

// yesNo reads an answer to a yes/no question: "yes", "no" or "". Natural answers count (對, 是的,
// 沒錯, 嗯, yeah, yep, right; 不是, 沒有, nope); an "I'm not sure" is no answer.
func yesNo(t *turn) string {
	switch t.action {
	case actYes, actNo:
		return t.action
	}
	s := squash(t.text)
	words := map[string]bool{}
	for _, w := range strings.FieldsFunc(strings.ToLower(t.text), func(r rune) bool { return !unicode.IsLetter(r) && r != '\'' }) {
		words[strings.ReplaceAll(w, "'", "")] = true
	}
	anyWord := func(ws ...string) bool {
		for _, w := range ws {
			if words[w] {
				return true
			}
		}
		return false
	}
	switch {
	case s == "":
		return ""
	case containsAny(s, "不確定", "不知道", "不清楚", "不一定", "不确定", "notsure", "dontknow") || anyWord("unsure", "maybe"):
		return ""
	case containsAny(s, "不是", "不對", "不对", "沒有", "没有", "不算", "否") || s == "不" || s == "沒" ||
		anyWord("no", "nope", "nah", "not", "wasnt", "isnt", "didnt", "wasn", "isn"):
		return actNo
	case containsAny(s, "是", "對", "对", "沒錯", "没错", "有", "嗯", "恩") || s == "好" || s == "好的" || s == "可以" ||
		anyWord("yes", "yeah", "yep", "yup", "ya", "correct", "right", "sure", "indeed", "ok", "okay", "y", "true"):
		return actYes
	}
	switch r := t.parse(); {
	case r.Intent.Name == nlu.IntentAffirm && r.Intent.Confidence >= 0.5:
		return actYes
	case r.Intent.Name == nlu.IntentDeny && r.Intent.Confidence >= 0.5:
		return actNo
	}
	return ""
}

// isSkip says "I don't know" to an optional question.
func isSkip(t *turn) bool {
	if t.action == actSkip {
		return true
	}
	s := squash(t.text)
	return containsAny(s, "不知道", "不確定", "不清楚", "略過", "跳過", "还不知道", "不确定", "notsure", "dontknow", "unknown",
		"skip", "noidea", "notyet") || s == "沒有" || s == "no" || s == "none"
}

var (
	// 在X followed by what happened there: "在忠孝東路出車禍" -> 忠孝東路.
	zhPlace = regexp.MustCompile(`在([^在，。,.!！?？；;\s]{1,20}?)(?:出車禍|出事|發生|被|跌倒|跌|摔|滑倒|滑|絆倒|昏倒|暈倒|燙|扭|割|騎|開車|走路|的時候|時候|時|受傷|撞|出了|住院|看病|就醫|就診|急診|開刀|手術|治療|，|,|。|！|!|；|;|\s|$)`)
	// 到/去/送X when X is a medical place: "到台大醫院住院" -> 台大醫院. Other words after 到 ("撞到",
	// "收到") are not places, so X must end in one of these.
	zhToPlace = regexp.MustCompile(`(?:到|去|送|至|进|進)([^到去送至在，。,.!！?？；;\s]{1,15}?(?:醫院|医院|診所|诊所|醫學中心|医学中心|榮總|荣总|長庚|长庚|馬偕|马偕|急診室|急诊室|衛生所|卫生所))`)
	// A hospital or clinic named anywhere: "台大醫院住院三天" -> 台大醫院.
	zhHospital = regexp.MustCompile(`([^\s，。,.!！?？；;、到去送至在於于的了和跟與及因為为是從从被就]{2,12}?(?:醫院|医院|診所|诊所|醫學中心|医学中心))`)
	// at/on/near/in followed by capitalised words: "on Zhongxiao East Road".
	enPlace = regexp.MustCompile(`\b(?:[Aa]t|[Oo]n|[Nn]ear|[Ii]n)\s+((?:the\s+)?[A-Z][\w'.&-]*(?:\s+(?:[A-Z0-9][\w'.&-]*|of|and))*)`)
	// "taken to NTU Hospital", "NTU Hospital".
	enHospital = regexp.MustCompile(`\b((?:[A-Z][\w'.&-]*\s+)+(?:Hospital|Clinic|Medical Center|Medical Centre|Memorial Hospital))\b`)
	notPlaceZ  = []string{"昨天", "今天", "前天", "點", "上午", "下午", "晚上", "早上", "中午", "凌晨", "月", "年", "週", "禮拜", "星期"}
	notPlaceE  = regexp.MustCompile(`^(?:the\s+)?(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|January|February|March|April|May|June|July|August|September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec|I|The morning|The afternoon|The evening)\b`)
)

// extractPlace finds where it happened in a sentence, "" when the sentence does not say.
func extractPlace(text string) string {
	for _, m := range zhPlace.FindAllStringSubmatchIndex(text, -1) {
		if m[0] > 0 {
			prev, _ := utf8.DecodeLastRuneInString(text[:m[0]])
			if strings.ContainsRune("現正還實存所自好現现还实", prev) {
				continue
			}
		}
		p := text[m[2]:m[3]]
		if containsAny(p, notPlaceZ...) {
			continue
		}
		return p
	}
	if m := zhToPlace.FindStringSubmatch(text); m != nil && !containsAny(m[1], notPlaceZ...) {
		return m[1]
	}
	if m := zhHospital.FindStringSubmatch(text); m != nil && !containsAny(m[1], notPlaceZ...) {
		return m[1]
	}
	for _, m := range enPlace.FindAllStringSubmatch(text, -1) {
		p := strings.TrimRight(m[1], ".")
		if notPlaceE.MatchString(p) {
			continue
		}
		return p
	}
	if m := enHospital.FindStringSubmatch(text); m != nil && !notPlaceE.MatchString(m[1]) {
		return m[1]
	}
	return ""
}

var (
	// 因為X / 因X / 由於X followed by what it led to: "因為急性肺炎到台大醫院住院" -> 急性肺炎.
	zhCause = regexp.MustCompile(`(?:因為|因为|由於|由于|因)([^，。,.!！?？；;\s]{2,15}?)(?:而|所以|導致|导致|到|去|送|在|住院|入院|就醫|就医|就診|就诊|看診|看病|開刀|手術|急診|，|,|。|！|!|；|;|\s|$)`)
	// due to / because of / caused by X: "due to acute pneumonia".
	enCause = regexp.MustCompile(`(?i)\b(?:due to|because of|caused by|diagnosed with|for)\s+((?:acute|chronic|severe|a|an)?\s*[a-z][a-z' -]{2,40}?)(?:\s+(?:at|in|on|and|to|yesterday|today|last|since|for|from)\b|[,.;!]|$)`)
)

// explicitCause finds a cause the customer named ("因為急性肺炎", "due to pneumonia"), "" when none.
func explicitCause(text string) string {
	for _, m := range zhCause.FindAllStringSubmatchIndex(text, -1) {
		if m[0] > 0 {
			prev, _ := utf8.DecodeLastRuneInString(text[:m[0]])
			if strings.ContainsRune("原基", prev) { // 原因, 基因
				continue
			}
		}
		c := text[m[2]:m[3]]
		if strings.HasPrefix(c, "此") || strings.HasPrefix(c, "為") || containsAny(c, notPlaceZ...) {
			continue
		}
		return c
	}
	for _, m := range enCause.FindAllStringSubmatch(text, -1) {
		c := strings.TrimSpace(m[1])
		if strings.HasPrefix(strings.ToLower(text[strings.Index(text, m[0]):]), "for") &&
			!containsAny(strings.ToLower(c), "itis", "monia", "cancer", "fever", "flu", "infection", "disease", "fracture", "stroke", "attack") {
			continue // "for" names a cause only when a diagnosis follows
		}
		return c
	}
	return ""
}

var (
	plateHyphen = regexp.MustCompile(`\b([A-Za-z0-9]{2,4})-([A-Za-z0-9]{2,4})\b`)
	plateBare   = regexp.MustCompile(`^(?:[A-Za-z]{3}\d{4}|\d{4}[A-Za-z]{2}|[A-Za-z]{2}\d{4}|\d{3}[A-Za-z]{3})$`)
)

// extractPlate finds a Taiwan plate shape (ABC-1234, 1234-AB, AB-1234, 123-ABC) loosely; bare
// forms without a hyphen only when the whole answer is the plate.
func extractPlate(text string) string {
	for _, m := range plateHyphen.FindAllStringSubmatch(text, -1) {
		s := m[1] + m[2]
		if len(s) >= 5 && strings.ContainsAny(s, "0123456789") && strings.IndexFunc(s, unicode.IsLetter) >= 0 {
			return strings.ToUpper(m[0])
		}
	}
	if s := strings.TrimSpace(text); plateBare.MatchString(s) {
		return strings.ToUpper(s)
	}
	return ""
}

var moneyMarkers = []string{"元", "塊", "萬", "万", "千", "$", "nt", "費用", "花了", "金額", "大概", "大約", "約", "cost", "amount", "spent", "dollar", "twd", "estimate", "about", "around"}

// looksLikeMoney keeps a bare number (a time, a plate) from being taken as an amount.
func looksLikeMoney(text, span string) bool {
	return containsAny(strings.ToLower(span), moneyMarkers...) || containsAny(strings.ToLower(text), moneyMarkers...)
}

var fillerWords = []string{"費用", "大概", "大約", "約", "估計", "金額", "元", "塊", "左右", "是", "花了", "差不多", "總共", "醫療",
	"cost", "about", "around", "roughly", "approximately", "the", "is", "was", "amount", "estimated", "maybe", "nt", "dollars",
	"it", "total", "of", "and", "medical", "bill", "repair", "probably", "will", "be", "costs", "for", "fix", "to", "so", "far", "around"}

// freeText is the customer's answer minus the parts other fields took: clauses left holding only
// filler ("費用大概" once the amount is gone) are dropped, and a leading 在/at goes.
func freeText(text string, taken []string) string {
	const mark = "\x00"
	work := text
	for _, s := range taken {
		if s != "" {
			work = strings.Replace(work, s, mark, 1)
		}
	}
	var keep []string
	for _, p := range splitClauses(work) {
		// "還不知道費用" answers the amount, not the description.
		if q := squash(p); containsAny(q, "不知道", "不確定", "不清楚", "notsure", "dontknow") && containsAny(q, "費用", "金額", "多少", "cost", "amount", "price") {
			continue
		}
		if strings.Contains(p, mark) {
			p = strings.TrimSpace(strings.ReplaceAll(p, mark, ""))
			rest := strings.ToLower(p)
			for _, f := range fillerWords {
				rest = strings.ReplaceAll(rest, f, "")
			}
			if utf8.RuneCountInString(squash(rest)) < 2 {
				continue
			}
		}
		p = strings.TrimPrefix(p, "在")
		if p = strings.TrimSpace(p); p != "" {
			keep = append(keep, p)
		}
	}
	if len(keep) == 0 {
		return strings.TrimSpace(text)
	}
	sep := "，"
	if !hasHan(text) {
		sep = ", "
	}
	return strings.Join(keep, sep)
}

func splitClauses(text string) []string {
	f := func(r rune) bool { return strings.ContainsRune("，,；;。\n", r) }
	var out []string
	for _, p := range strings.FieldsFunc(text, f) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func hasHan(s string) bool {
	for _, r := range s {
		if unicode.Is(unicode.Han, r) {
			return true
		}
	}
	return false
}

// cleanPlace trims what customers put around a place ("在", "at", "the place is").
func cleanPlace(s string) string {
	s = strings.TrimSpace(strings.Trim(s, "。.!！ "))
	for _, p := range []string{"地點是", "地點在", "是在", "在", "at ", "in ", "on ", "near "} {
		if strings.HasPrefix(strings.ToLower(s), p) {
			s = strings.TrimSpace(s[len(p):])
		}
	}
	return s
}

// Filler around a value given alone ("車牌是 ABC-1234", "about 40000", "不對，是前天"), longest first.
var valueFiller = []string{"車牌號碼", "车牌号码", "應該是", "应该是", "差不多", "approximately", "estimated", "number", "license",
	"licence", "roughly", "actually", "estimate", "dollars", "車牌", "车牌", "號碼", "号码", "大概", "大約", "大约", "估計", "估计",
	"費用", "费用", "金額", "金额", "花了", "左右", "總共", "不對", "不对", "其實", "其实", "plate", "around", "amount", "repair",
	"about", "costs", "sorry", "total", "cost", "was", "its", "the", "is", "it", "my", "nt", "no", "oh", "ok", "約", "约", "是",
	"元", "塊", "块", "喔", "哦", "嗯", "啦", "的", "了"}

// onlyFiller says a message, once the values were taken out, holds nothing of its own.
func onlyFiller(rest string) bool {
	s := squash(rest)
	for _, w := range valueFiller {
		s = strings.ReplaceAll(s, w, "")
	}
	return utf8.RuneCountInString(s) < 2
}
