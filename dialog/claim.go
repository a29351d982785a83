package dialog

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"claimline/casesvc"
	"claimline/dialog/nlu"
)

// claimFlow files a claim (domain.md "Claim intake"): identity first, then the claim type covered by
// the policy, the catalog's yes/no questions, the incident fields, a read-back, and the submission.
type claimFlow struct{}

// Steps of the claim frame; "" is filling the form.
const (
	stepReview = "review"
	stepEdit   = "edit"
)

const condPrefix = "cond:"

func (claimFlow) begin(t *turn, f *frame) status {
	text := t.text
	switch {
	case isDeath(text):
		t.note(t.msg("empathy.death"))
		f.set("_empathy", "1")
	case isInjury(text):
		t.note(t.msg("empathy.injury"))
		f.set("_empathy", "1")
	}
	t.note(t.msg("claim_intro"))
	// A disaster event not yet told in this conversation: its green channel may apply to this claim.
	prevEmergency := t.st.Emergency
	if em := t.emergencyNote(); em != "" && t.st.Emergency != prevEmergency {
		t.note(em)
	}
	idSlots, rest := identityPrefill(t, text)
	// Whatever the first message says about the incident is kept; those questions are skipped.
	fill(t, f, claimFields(t, f), rest)
	f.set("_story", strings.TrimSpace(rest))
	if t.st.Who != nil && t.st.Verified != "" {
		return claimVerified(t, f)
	}
	return t.pushChild(flowIdentity, idSlots)
}

func (claimFlow) cont(t *turn, f *frame) status {
	if strings.HasPrefix(t.action, "edit:") {
		return editField(t, f, strings.TrimPrefix(t.action, "edit:"))
	}
	switch f.Step {
	case stepReview, stepEdit:
		return review(t, f)
	}
	r := fill(t, f, claimFields(t, f), t.text)
	noteRedirected(t, f, r.redirected)
	return claimNext(t, f, r.reasons)
}

// noteRedirected says back the values taken from an answer that was meant for another question, so
// the customer sees they were understood before the question is asked again.
func noteRedirected(t *turn, f *frame, names []string) {
	for _, n := range names {
		t.note(t.msg("noted", "field", fieldLabel(t, f, n), "value", showField(t, f, n)))
	}
}

// absorb keeps what a message answering another form's question (the identity check) says about the
// incident: "HL20240017，我是前天晚上在家裡跌倒的" fills the time, place and cause for later.
func absorb(t *turn, f *frame, id *frame) {
	rest, ok := withoutIdentity(t, t.text, id.Asked)
	if !ok || !looksLikeIncident(rest) && extractPlace(rest) == "" && explicitCause(rest) == "" {
		return
	}
	asked := f.Asked
	f.Asked = ""
	fill(t, f, claimFields(t, f), rest)
	f.Asked = asked
	f.set("_story", strings.TrimSpace(f.get("_story")+"\n"+rest))
	if isInjury(rest) && !f.has("_empathy") {
		t.note(t.msg("empathy.injury"))
		f.set("_empathy", "1")
	}
}

func (claimFlow) resume(t *turn, f *frame, child *frame, st status) status {
	if child != nil && child.Flow == flowIdentity {
		if st != statusComplete {
			return statusCancelled
		}
		return claimVerified(t, f)
	}
	if child != nil {
		t.note(t.msg("back_to_form"))
	}
	switch f.Step {
	case stepReview:
		readBack(t, f, "")
		return statusWaiting
	case stepEdit:
		showEditButtons(t, f)
		return statusWaiting
	}
	return claimNext(t, f, nil)
}

func (claimFlow) end(t *turn, f *frame) {}

// claimVerified takes the verified person and the covered types, and settles the claim type when
// the first message or the policy leaves no doubt.
func claimVerified(t *turn, f *frame) status {
	p, err := t.e.cfg.Cases.Policy(t.ctx, t.st.Verified)
	if err != nil {
		t.say(t.msg("reason.service_unavailable"), t.personButtons()...)
		return statusCancelled
	}
	var covered []string
	for _, c := range p.ClaimTypes {
		if _, ok := t.catalog().ClaimType(c); ok {
			covered = append(covered, c)
		}
	}
	f.set("policy", p.Number)
	f.set("covered", strings.Join(covered, ","))
	if !f.has("name") {
		f.set("name", t.st.Who.Name)
	}
	if !f.has("phone") {
		f.set("phone", t.st.Who.Phone)
	}
	if !f.has("claim_type") {
		if len(covered) == 1 {
			setClaimType(t, f, covered[0])
		} else if id, cands := pickClaimType(f.get("_story"), covered); id != "" {
			setClaimType(t, f, id)
		} else if len(cands) > 1 {
			f.set("_candidates", strings.Join(cands, ","))
		}
	}
	if story := f.get("_story"); story != "" {
		// Now that the type is known, the story may answer its questions too.
		asked := f.Asked
		f.Asked = ""
		fill(t, f, claimFields(t, f), story)
		f.Asked = asked
	}
	return claimNext(t, f, nil)
}

func covered(f *frame) []string {
	if c := f.get("covered"); c != "" {
		return strings.Split(c, ",")
	}
	return nil
}

func setClaimType(t *turn, f *frame, id string) {
	f.set("claim_type", id)
	claimTypeFilled(t, f, id)
}

// claimTypeFilled says the type back (once per type), with condolences for a death claim.
func claimTypeFilled(t *turn, f *frame, id string) {
	if id == "death" && !f.has("_empathy") {
		t.note(t.msg("empathy.death"))
		f.set("_empathy", "1")
	}
	if f.get("_intro") != id {
		f.set("_intro", id)
		t.note(t.msg("type_intro."+id, "type", typeLabel(t, id)))
	}
	if ct, ok := t.catalog().ClaimType(id); ok {
		for _, q := range ct.Questions {
			if !f.has(condPrefix+q) && inferCondition(q, f.get("_story")) {
				f.set(condPrefix+q, actYes)
				conditionFilled(t, f, q, actYes)
			}
		}
	}
}

func typeLabel(t *turn, id string) string {
	if ct, ok := t.catalog().ClaimType(id); ok {
		return ct.Label.Get(t.lang())
	}
	return id
}

// claimNext asks the first missing field or, when none is missing, reads the record back.
func claimNext(t *turn, f *frame, reasons []string) status {
	if fd := nextMissing(t, f, claimFields(t, f)); fd != nil {
		ask(t, f, fd, reasons)
		return statusWaiting
	}
	for _, r := range reasons {
		t.note(t.msg(r))
	}
	note := ""
	if f.has("_editing") {
		delete(f.Slots, "_editing")
		note = t.msg("updated")
	}
	f.Step = stepReview
	f.Asked = ""
	readBack(t, f, note)
	return statusWaiting
}

// claimFields is the claim form for the frame's claim type: the type, its yes/no questions, then the
// incident fields. Claimant name and phone are prefilled and only asked again when corrected.
func claimFields(t *turn, f *frame) []*field {
	fs := []*field{claimTypeField}
	if ct, ok := t.catalog().ClaimType(f.get("claim_type")); ok {
		for _, q := range ct.Questions {
			fs = append(fs, conditionField(q))
		}
	}
	return append(fs, incidentFields...)
}

var claimTypeField = &field{
	name: "claim_type",
	prompt: func(t *turn, f *frame) (string, []Button) {
		ids := covered(f)
		if c := f.get("_candidates"); c != "" {
			ids = strings.Split(c, ",")
		}
		var bs []Button
		for _, id := range ids {
			bs = append(bs, Button{Label: typeLabel(t, id), Value: "type:" + id})
		}
		return t.msg("ask.claim_type"), bs
	},
	missReason: "reason.claim_type",
	extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
		cov := covered(f)
		if len(cov) == 0 {
			return "", "", false // identity not done yet: the covered types are unknown
		}
		if asked && strings.HasPrefix(t.action, "type:") {
			return strings.TrimPrefix(t.action, "type:"), "", true
		}
		if asked {
			// The label itself, typed ("意外傷害", "Motor").
			s := squash(text)
			for _, id := range cov {
				ct, _ := t.catalog().ClaimType(id)
				for _, l := range ct.Label {
					if l != "" && (squash(l) == s || strings.Contains(s, squash(l))) {
						return id, "", true
					}
				}
			}
		}
		if id, _ := pickClaimType(text, cov); id != "" {
			return id, "", true
		}
		return "", "", false
	},
	validate: func(t *turn, f *frame, raw string) (string, string) {
		for _, c := range covered(f) {
			if c == raw {
				return raw, ""
			}
		}
		return "", "reason.claim_type_not_covered"
	},
	filled: func(t *turn, f *frame, val string) {
		delete(f.Slots, "_candidates")
		claimTypeFilled(t, f, val)
	},
}

// conditionField is one of the catalog's yes/no questions for the claim type. When what the customer
// already said answers it ("出車禍", "rear-ended" for "was it a traffic accident?"), it is not asked;
// the read-back still shows it and it can be changed there.
func conditionField(id string) *field {
	return &field{
		name: condPrefix + id,
		prompt: func(t *turn, f *frame) (string, []Button) {
			return conditionQuestion(t, id), yesNoButtons(t)
		},
		missReason: "reason.yes_no",
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			if !asked {
				if inferCondition(id, text) {
					return actYes, "", true
				}
				return "", "", false
			}
			a := yesNo(t)
			return a, "", a != ""
		},
		filled: func(t *turn, f *frame, val string) { conditionFilled(t, f, id, val) },
	}
}

// conditionFilled: the answer is often the cause too: "是" to "traffic accident?" fills 交通事故.
func conditionFilled(t *turn, f *frame, id, val string) {
	key := "cause." + id
	if !t.e.msgs.has(key) {
		return
	}
	c := t.msg(key)
	if val == actYes && f.get("cause") == "" {
		f.set("cause", c)
	} else if val == actNo && f.get("cause") == c {
		delete(f.Slots, "cause")
	}
}

// inferCondition says the text answers a catalog yes/no question with yes. It never infers a no.
func inferCondition(id, text string) bool {
	if text == "" {
		return false
	}
	cause := inferCause(text)
	switch id {
	case "traffic_accident":
		return cause == "cause.traffic_accident"
	case "fire":
		return cause == "cause.fire"
	case "accidental_death":
		return cause == "cause.traffic_accident" || cause == "cause.fall" ||
			containsAny(squash(text), "意外身故", "意外過世", "意外死亡", "意外去世", "accidentaldeath", "diedinanaccident", "killedinan")
	}
	return false
}

func conditionQuestion(t *turn, id string) string {
	if k := "cond." + id; t.e.msgs.has(k) {
		return t.msg(k)
	}
	return t.catalog().Conditions[id].Get(t.lang())
}

// conditionLabel names a condition in the read-back ("交通事故：是").
func conditionLabel(t *turn, id string) string {
	if k := "cond_label." + id; t.e.msgs.has(k) {
		return t.msg(k)
	}
	return conditionQuestion(t, id)
}

func yesNoButtons(t *turn) []Button {
	return []Button{{Label: t.msg("btn.yes"), Value: actYes}, {Label: t.msg("btn.no"), Value: actNo}}
}

// whenValue is how an incident time is kept in a slot: RFC 3339, plus "|t" when a time of day was given.
func whenValue(w nlu.When) string {
	v := w.Time.Format(time.RFC3339)
	if w.HasTime {
		v += "|t"
	}
	return v
}

func parseWhen(v string, loc *time.Location) (time.Time, bool, error) {
	s, hasTime := strings.CutSuffix(v, "|t")
	tm, err := time.Parse(time.RFC3339, s)
	return tm.In(loc), hasTime, err
}

// incidentTime finds when it happened. nlu reads "last Friday evening at 6pm" as a day and, apart,
// a time of day; a day with a time said right next to it is one moment, so the time is not lost.
func incidentTime(t *turn, text string) (nlu.When, string, bool) {
	w, ok := t.e.nlu.IncidentTime(text, t.now)
	if !ok {
		return w, "", false
	}
	span := w.Span.Text
	if w.HasTime || span == "" {
		return w, span, true
	}
	rs := []rune(text)
	s0, e0 := w.Span.Start, w.Span.End
	if s0 < 0 || e0 > len(rs) || s0 >= e0 || string(rs[s0:e0]) != span {
		return w, span, true
	}
	blank := string(rs[:s0]) + strings.Repeat(" ", e0-s0) + string(rs[e0:])
	w2, ok := t.e.nlu.IncidentTime(blank, t.now)
	if !ok || !w2.HasTime || w2.Span.Start < 0 || w2.Span.End > len(rs) || w2.Span.Start >= w2.Span.End {
		return w, span, true
	}
	s1, e1 := w2.Span.Start, w2.Span.End
	var gap string
	switch {
	case s1 >= e0:
		gap = string(rs[e0:s1])
	case e1 <= s0:
		gap = string(rs[e1:s0])
	default:
		return w, span, true
	}
	if utf8.RuneCountInString(strings.TrimSpace(gap)) > 12 || strings.ContainsAny(gap, "0123456789,，。.;；") {
		return w, span, true
	}
	h, m := w2.Time.Hour(), w2.Time.Minute()
	if h < 12 && containsAny(strings.ToLower(gap), "evening", "night", "afternoon", "pm", "晚上", "下午", "傍晚", "夜") {
		h += 12
	}
	d := w.Time
	w.Time = time.Date(d.Year(), d.Month(), d.Day(), h, m, 0, 0, d.Location())
	w.HasTime = true
	lo, hi := min(s0, s1), max(e0, e1)
	return w, string(rs[lo:hi]), true
}

// typedPrompt asks key, or key.<claim type> when the catalog has it ("which hospital" for medical).
func typedPrompt(key string) func(t *turn, f *frame) (string, []Button) {
	return func(t *turn, f *frame) (string, []Button) { return typedMsg(t, f, key), nil }
}

func typedMsg(t *turn, f *frame, key string) string {
	if k := key + "." + f.get("claim_type"); t.e.msgs.has(k) {
		return t.msg(k)
	}
	return t.msg(key)
}

var incidentFields = []*field{
	{
		name:       "occurred_at",
		prompt:     simplePrompt("ask.occurred_at"),
		missReason: "reason.date_format",
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			w, span, ok := incidentTime(t, text)
			if !ok {
				return "", "", false
			}
			return whenValue(w), span, true
		},
		validate: func(t *turn, f *frame, raw string) (string, string) {
			tm, _, err := parseWhen(raw, t.e.cfg.Location)
			if err != nil {
				return "", "reason.date_format"
			}
			if tm.After(t.now) {
				return "", "reason.future_date"
			}
			return raw, ""
		},
		merge: func(t *turn, f *frame, old, val string) string { return keepTimeOfDay(t, old, val) },
	},
	{
		name:     "place",
		prompt:   typedPrompt("ask.place"),
		freeText: true,
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			p := extractPlace(text)
			return p, p, p != ""
		},
		validate: func(t *turn, f *frame, raw string) (string, string) {
			p := cleanPlace(raw)
			if utf8.RuneCountInString(p) < 1 {
				return "", "reason.too_short"
			}
			return p, ""
		},
	},
	{
		name:     "cause",
		prompt:   typedPrompt("ask.cause"),
		freeText: true,
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			if k := inferCause(text); k != "" {
				return t.msg(k), "", true
			}
			if c := explicitCause(text); c != "" {
				return c, c, true
			}
			return "", "", false
		},
		validate: notEmpty,
	},
	{
		name: "description",
		prompt: func(t *turn, f *frame) (string, []Button) {
			if k := "ask.description." + f.get("claim_type"); t.e.msgs.has(k) {
				return t.msg(k), nil
			}
			return t.msg("ask.description"), nil
		},
		freeText: true,
		verbatim: true, // the customer's own words, whole; the amount in them is taken as well
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			return "", "", false // only ever the answer to its own question
		},
		validate: notEmpty,
		filled: func(t *turn, f *frame, val string) {
			// The question asked for the amount "if you know it"; no amount given means not known.
			if !f.has("amount") {
				f.set("amount", "")
			}
		},
	},
	{
		name:       "vehicle_plate",
		prompt:     simplePrompt("ask.vehicle_plate"),
		missReason: "reason.plate_invalid",
		when:       func(t *turn, f *frame) bool { return f.get("claim_type") == "motor" },
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			p := extractPlate(text)
			return p, p, p != ""
		},
	},
	{
		name: "amount",
		prompt: func(t *turn, f *frame) (string, []Button) {
			return t.msg("ask.amount"), []Button{{Label: t.msg("btn.skip"), Value: actSkip}}
		},
		missReason: "reason.amount_not_number",
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			if asked && isSkip(t) {
				return "", "", true
			}
			a, e, ok := t.e.nlu.Amount(text)
			if !ok || !asked && !looksLikeMoney(text, e.Text) {
				return "", "", false
			}
			return strconv.FormatFloat(a, 'f', -1, 64), e.Text, true
		},
		validate: func(t *turn, f *frame, raw string) (string, string) {
			if raw == "" {
				return "", ""
			}
			a, err := strconv.ParseFloat(raw, 64)
			if err != nil || a <= 0 || a > 1e10 || math.IsNaN(a) {
				return "", "reason.amount_invalid"
			}
			return raw, ""
		},
	},
	{
		name:     "name",
		prompt:   simplePrompt("ask.name"),
		freeText: true,
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			return "", "", false
		},
		validate: notEmpty,
	},
	{
		name:       "phone",
		prompt:     simplePrompt("ask.phone"),
		missReason: "reason.phone_invalid",
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			if !asked {
				return "", "", false
			}
			p, e, ok := t.e.nlu.Phone(text)
			return p, e.Text, ok
		},
	},
}

func notEmpty(t *turn, f *frame, raw string) (string, string) {
	s := strings.TrimSpace(strings.Trim(raw, "。. "))
	if utf8.RuneCountInString(s) < 2 {
		return "", "reason.too_short"
	}
	return s, ""
}

// readBack shows the whole record with [確認送出] [修改].
func readBack(t *turn, f *frame, note string) {
	if note != "" {
		t.note(note)
	}
	var b strings.Builder
	b.WriteString(t.msg("review_intro"))
	for _, l := range recordLines(t, f) {
		b.WriteString("\n" + l[0] + t.msg("colon") + l[1])
	}
	t.say(b.String(), Button{Label: t.msg("btn.confirm"), Value: actConfirm}, Button{Label: t.msg("btn.edit"), Value: actEdit})
}

// recordLines is the record as label/value pairs.
func recordLines(t *turn, f *frame) [][2]string {
	names := []string{"claim_type", "policy", "name", "phone", "occurred_at", "place", "cause", "description", "amount"}
	if f.get("claim_type") == "motor" {
		names = append(names, "vehicle_plate")
	}
	if ct, ok := t.catalog().ClaimType(f.get("claim_type")); ok {
		for _, q := range ct.Questions {
			names = append(names, condPrefix+q)
		}
	}
	lines := make([][2]string, 0, len(names))
	for _, n := range names {
		lines = append(lines, [2]string{fieldLabel(t, f, n), showField(t, f, n)})
	}
	return lines
}

// showField is a field's value as the read-back shows it.
func showField(t *turn, f *frame, name string) string {
	switch name {
	case "claim_type":
		return typeLabel(t, f.get(name))
	case "phone":
		return casesvc.MaskPhone(f.get(name))
	case "occurred_at":
		return showWhen(t, f.get(name))
	case "amount":
		return showAmount(t, f.get(name))
	}
	if strings.HasPrefix(name, condPrefix) {
		if f.get(name) == actYes {
			return t.msg("btn.yes")
		}
		return t.msg("btn.no")
	}
	return f.get(name)
}

// showWhen gives the absolute date (with the ROC year in Chinese) so a wrong guess is easy to catch.
func showWhen(t *turn, v string) string {
	tm, hasTime, err := parseWhen(v, t.e.cfg.Location)
	if err != nil {
		return ""
	}
	s := ""
	if t.lang() == "en" {
		s = tm.Format("2 January 2006")
	} else {
		s = fmt.Sprintf("%d年%d月%d日（民國%d年）", tm.Year(), int(tm.Month()), tm.Day(), tm.Year()-1911)
		if hasTime {
			return s + tm.Format("15:04")
		}
		return s
	}
	if hasTime {
		if t.lang() == "en" {
			s += ","
		}
		s += " " + tm.Format("15:04")
	}
	return s
}

func showAmount(t *turn, v string) string {
	if v == "" {
		return t.msg("amount_unknown")
	}
	a, err := strconv.ParseFloat(v, 64)
	if err != nil {
		return v
	}
	return t.msg("amount_value", "amount", groupThousands(a))
}

func groupThousands(a float64) string {
	whole := int64(a)
	s := strconv.FormatInt(whole, 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if frac := a - float64(whole); frac > 0.0001 {
		b.WriteString(strings.TrimPrefix(strconv.FormatFloat(frac, 'f', 2, 64), "0"))
	}
	return b.String()
}

var (
	confirmWords = map[string]bool{"確認送出": true, "確認": true, "送出": true, "確定": true, "沒問題": true, "正確": true,
		"對": true, "是": true, "好": true, "ok": true, "okay": true, "confirm": true, "submit": true, "yes": true,
		"correct": true, "looksgood": true, "确认": true, "提交": true, "retry": true, "重新送出": true, "是的": true,
		"對的": true, "沒錯": true, "没错": true, "好的": true, "可以": true, "都對": true, "都正確": true, "正確無誤": true,
		"確認無誤": true, "無誤": true, "送出吧": true, "确定": true, "对": true, "yeah": true, "yep": true, "yup": true,
		"sure": true, "right": true, "thatsright": true, "thatscorrect": true, "allgood": true, "allcorrect": true,
		"lgtm": true, "perfect": true, "goahead": true, "yessubmit": true, "yesplease": true, "confirmandsubmit": true}
	editWords = map[string]bool{"修改": true, "更改": true, "edit": true, "change": true, "不對": true, "不正確": true,
		"錯了": true, "wrong": true, "no": true, "不是": true, "有錯": true, "要改": true, "我要改": true, "我要修改": true,
		"改": true, "不对": true, "错了": true, "nope": true, "資料有誤": true, "有誤": true, "不太對": true,
		"changesomething": true, "somethingswrong": true, "thatswrong": true, "notright": true, "incorrect": true}
)

// review handles the answer to the read-back (and to "which part would you like to change?"):
// confirm, edit, a correction in words, or else a helpful question with the field buttons. Words
// that are none of these never overwrite a field.
func review(t *turn, f *frame) status {
	s := squash(t.text)
	switch {
	case t.action == actConfirm || t.action == "" && f.Step == stepReview && confirmWords[s]:
		return submit(t, f)
	case t.action == actEdit || t.action == "" && editWords[s]:
		showEditButtons(t, f)
		return statusWaiting
	case t.action == actReview || t.action == "" && f.Step == stepEdit && confirmWords[s]:
		f.Step = stepReview
		readBack(t, f, "")
		return statusWaiting
	case t.action != "":
		readBack(t, f, t.msg("review_hint"))
		return statusWaiting
	}
	if st, ok := correction(t, f); ok {
		return st
	}
	if f.Step == stepEdit {
		t.note(t.msg("edit_pick"))
	} else {
		t.note(t.msg("review_unclear"))
	}
	showEditButtons(t, f)
	return statusWaiting
}

// editable lists the fields the customer may change at the read-back.
func editable(t *turn, f *frame) []string {
	var out []string
	if len(covered(f)) > 1 {
		out = append(out, "claim_type")
	}
	if ct, ok := t.catalog().ClaimType(f.get("claim_type")); ok {
		for _, q := range ct.Questions {
			out = append(out, condPrefix+q)
		}
	}
	out = append(out, "occurred_at", "place", "cause", "description", "amount")
	if f.get("claim_type") == "motor" {
		out = append(out, "vehicle_plate")
	}
	return append(out, "name", "phone")
}

// fieldLabel names a field, in the claim type's words where it has its own (就醫醫院 for a medical
// claim's place).
func fieldLabel(t *turn, f *frame, name string) string {
	if q, ok := strings.CutPrefix(name, condPrefix); ok {
		return conditionLabel(t, q)
	}
	return typedMsg(t, f, "field."+name)
}

func showEditButtons(t *turn, f *frame) {
	f.Step = stepEdit
	var bs []Button
	for _, n := range editable(t, f) {
		bs = append(bs, Button{Label: fieldLabel(t, f, n), Value: "edit:" + n})
	}
	bs = append(bs, Button{Label: t.msg("btn.back_to_review"), Value: actReview})
	t.say(t.msg("edit_which"), bs...)
}

// editField asks one field again; after the answer the read-back comes back.
func editField(t *turn, f *frame, name string) status {
	ok := false
	for _, n := range editable(t, f) {
		ok = ok || n == name
	}
	if !ok {
		showEditButtons(t, f)
		return statusWaiting
	}
	clearForEdit(f, name)
	f.Step = ""
	f.set("_editing", "1")
	return claimNext(t, f, nil)
}

// clearForEdit empties a field before it is asked or corrected; a new claim type has its own
// questions and checklist, so their answers go too.
func clearForEdit(f *frame, name string) {
	delete(f.Slots, name)
	if name == "claim_type" {
		for k := range f.Slots {
			if strings.HasPrefix(k, condPrefix) {
				delete(f.Slots, k)
			}
		}
		delete(f.Slots, "_candidates")
		delete(f.Slots, "vehicle_plate")
	}
}

var (
	// fieldKeywords name a field in a correction, besides its label in the conversation's language.
	// Latin keywords match at the start of a word ("date" is not in "update").
	fieldKeywords = []struct {
		field string
		words []string
	}{
		{"place", []string{"地點", "地方", "位置", "地址", "醫院", "診所", "地点", "医院", "place", "location", "where", "address", "hospital", "clinic"}},
		{"occurred_at", []string{"時間", "日期", "幾點", "哪天", "时间", "time", "date", "when", "day"}},
		{"cause", []string{"原因", "病名", "疾病", "cause", "reason", "illness", "diagnos", "disease"}},
		{"description", []string{"情形", "狀況", "描述", "傷勢", "情况", "description", "injur", "damage", "what happened"}},
		{"amount", []string{"金額", "費用", "多少錢", "金额", "费用", "amount", "cost", "price", "estimate", "sum"}},
		{"vehicle_plate", []string{"車牌", "车牌", "plate", "registration"}},
		{"phone", []string{"電話", "手機", "电话", "手机", "phone", "mobile", "number to call", "contact number"}},
		{"name", []string{"姓名", "名字", "申請人", "name", "claimant"}},
		{"claim_type", []string{"險種", "類型", "险种", "claim type", "type of claim"}},
	}
	// conditionKeywords name a catalog yes/no question in a correction ("不是車禍").
	conditionKeywords = map[string][]string{
		"traffic_accident": {"車禍", "车祸", "交通事故", "traffic", "car accident"},
		"fire":             {"火災", "火灾", "失火", "fire"},
		"accidental_death": {"意外", "accident"},
	}
	// correctionCue comes between a field and its new value: "地點改成台大醫院", "the amount is 40000".
	correctionCue = regexp.MustCompile(`(?i)(?:改成|改為|改为|換成|换成|應該是|应该是|更正為|更正为|其實是|其实是|是在|是|為|为|：|:|\bto\b|\bis\b|\bshould be\b|\bwas\b|\bwere\b)\s*`)
	// changeWords say the customer wants something changed, even without a value.
	changeWords = []string{"改", "換", "换", "修改", "更正", "不對", "不对", "錯", "错", "change", "update", "correct", "wrong",
		"fix", "edit", "actually", "instead", "mistake", "其實", "其实", "應該", "应该", "should"}
)

// correctionTarget is the field a correction names, "" when it names none. It is the built-in rule;
// nlu's own guess, when it gives one, is asked first (see correction).
func correctionTarget(t *turn, f *frame, text string, allowed map[string]bool) (string, int) {
	low := strings.ToLower(text)
	best, at, end := "", len(low)+1, 0
	consider := func(name, w string) {
		if w == "" {
			return
		}
		for off := 0; off < len(low); {
			i := strings.Index(low[off:], w)
			if i < 0 {
				return
			}
			i += off
			off = i + len(w)
			if isLatin(w) && i > 0 && isWordByte(low[i-1]) {
				continue
			}
			if i < at {
				best, at, end = name, i, i+len(w)
			}
			return
		}
	}
	for _, fk := range fieldKeywords {
		if !allowed[fk.field] {
			continue
		}
		for _, w := range fk.words {
			consider(fk.field, w)
		}
	}
	for n := range allowed {
		consider(n, strings.ToLower(fieldLabel(t, f, n)))
		if q, ok := strings.CutPrefix(n, condPrefix); ok {
			for _, w := range conditionKeywords[q] {
				consider(n, w)
			}
		}
	}
	return best, end
}

func isLatin(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func isWordByte(b byte) bool { return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' }

// valueAfterCue is what follows the first correction cue after byte offset from in text: "改成台大醫院"
// gives 台大醫院. A negated 是 ("不是忠孝東路，是忠孝西路") is skipped.
func valueAfterCue(text string, from int) string {
	for _, m := range correctionCue.FindAllStringIndex(text, -1) {
		if m[0] < from {
			continue
		}
		if strings.HasPrefix(text[m[0]:], "是") && strings.HasSuffix(text[:m[0]], "不") {
			continue
		}
		if v := strings.TrimSpace(strings.Trim(text[m[1]:], "。.!！ ")); v != "" {
			return v
		}
	}
	return ""
}

// correction changes one field from words at the read-back ("不對，是前天", "地點改成台大醫院",
// "change the place to NTU Hospital", "the amount is 40000", "大概四萬"). The field is the one the
// words name or, when they name none, the one whose kind of value the message holds, provided the
// message is only that value or says it corrects something. Anything else is not a correction.
func correction(t *turn, f *frame) (status, bool) {
	text := strings.TrimSpace(t.text)
	s := squash(text)
	allowed := map[string]bool{}
	for _, n := range editable(t, f) {
		allowed[n] = true
	}
	wantsChange := containsAny(strings.ToLower(s), changeWords...)
	name, end := correctionTarget(t, f, text, allowed)
	value := ""
	// nlu reads the common corrections (field words, cues, the kind of value) and gives the value as
	// written; the fields it does not know (plate, the yes/no questions) stay with the rules below.
	if n, v, ok := nluCorrection(text); ok && allowed[n] && name != "vehicle_plate" && !strings.HasPrefix(name, condPrefix) {
		if v == "" {
			return editField(t, f, n), true
		}
		name, value = n, v
		if name == "occurred_at" || name == "phone" || name == "amount" {
			value = text // typed fields read their value from the whole message, as when answering
		}
	}
	switch {
	case value != "":
	case strings.HasPrefix(name, condPrefix):
		// "不是車禍", "it was a traffic accident": the answer is in the words themselves.
		a := yesNo(t)
		if a == "" {
			return editField(t, f, name), true
		}
		value = a
	case name != "":
		value = valueAfterCue(text, end)
		if value == "" {
			fd := fieldByName(t, f, name)
			if raw, _, ok := fd.extract(t, f, text, false); ok && raw != "" && !fd.freeText {
				value = text
			} else if wantsChange {
				return editField(t, f, name), true
			} else {
				return 0, false
			}
		}
	default:
		name, value = valueKind(t, f, text, wantsChange, allowed)
		if name == "" {
			return 0, false
		}
	}
	old := f.get(name)
	// Emptied first, so a value that does not parse gets the field's own reason.
	clearForEdit(f, name)
	f.Asked = name
	savedText, savedAction := t.text, t.action
	t.text = value
	if strings.HasPrefix(name, condPrefix) {
		t.action = value
	}
	r := fill(t, f, []*field{fieldByName(t, f, name)}, value)
	t.text, t.action = savedText, savedAction
	f.Step = ""
	f.set("_editing", "1")
	if !r.askedOK {
		delete(f.Slots, name)
		return claimNext(t, f, r.reasons), true
	}
	if name == "occurred_at" {
		f.set(name, keepTimeOfDay(t, old, f.get(name)))
	}
	return claimNext(t, f, nil), true
}

// valueKind finds the field for a correction that names none, from the kind of value it holds.
func valueKind(t *turn, f *frame, text string, wantsChange bool, allowed map[string]bool) (string, string) {
	alone := func(span string) bool { return wantsChange || onlyFiller(strings.Replace(text, span, " ", 1)) }
	if _, span, ok := incidentTime(t, text); ok && allowed["occurred_at"] && alone(span) {
		return "occurred_at", text
	}
	if _, e, ok := t.e.nlu.Phone(text); ok && allowed["phone"] && alone(e.Text) {
		return "phone", text
	}
	if p := extractPlate(text); p != "" && allowed["vehicle_plate"] && alone(p) {
		return "vehicle_plate", text
	}
	if _, e, ok := t.e.nlu.Amount(text); ok && allowed["amount"] && alone(e.Text) &&
		(looksLikeMoney(text, e.Text) || onlyFiller(strings.Replace(text, e.Text, " ", 1))) {
		return "amount", text
	}
	if p := extractPlace(text); p != "" && allowed["place"] && alone(p) {
		return "place", p
	}
	if c := explicitCause(text); c != "" && allowed["cause"] && alone(c) {
		return "cause", c
	}
	return "", ""
}

// nluFields maps nlu.Correction's field ids to the claim form's.
var nluFields = map[string]string{nlu.FieldTime: "occurred_at", nlu.FieldPlace: "place", nlu.FieldCause: "cause",
	nlu.FieldDescription: "description", nlu.FieldAmount: "amount", nlu.FieldPhone: "phone", nlu.FieldName: "name"}

// nluCorrection asks nlu which form field a correction targets and its new value ("" when only the
// field was named: "地點錯了").
func nluCorrection(text string) (name, value string, ok bool) {
	fd, v, ok := nlu.Correction(text)
	if !ok {
		return "", "", false
	}
	name, ok = nluFields[fd]
	return name, v, ok
}

// keepTimeOfDay: "不對，是前天" corrects the day; the time of day said before still holds.
func keepTimeOfDay(t *turn, old, val string) string {
	prev, prevHas, err1 := parseWhen(old, t.e.cfg.Location)
	cur, curHas, err2 := parseWhen(val, t.e.cfg.Location)
	if err1 != nil || err2 != nil || !prevHas || curHas {
		return val
	}
	m := time.Date(cur.Year(), cur.Month(), cur.Day(), prev.Hour(), prev.Minute(), 0, 0, t.e.cfg.Location)
	if m.After(t.now) {
		return val
	}
	return m.Format(time.RFC3339) + "|t"
}

func fieldByName(t *turn, f *frame, name string) *field {
	for _, fd := range claimFields(t, f) {
		if fd.name == name {
			return fd
		}
	}
	return claimTypeField
}

// submit files the case. A replayed confirm turn carries the same idempotency key, so it gets the
// case already filed; a retry after a failure reuses the key of the first attempt.
func submit(t *turn, f *frame) status {
	key := f.get("_key")
	if key == "" {
		key = t.idempotencyKey()
		f.set("_key", key)
	}
	nc, err := newCase(t, f, key)
	if err != nil {
		readBack(t, f, t.msg("reason.submit_invalid"))
		return statusWaiting
	}
	c, err := t.e.cfg.Cases.CreateCase(t.ctx, nc)
	if errors.Is(err, ErrQueued) {
		// The case service is down; the outbox kept the claim and will file it. The case id and the
		// documents to send come as a notice (NoticeCaseFiled) once it is filed.
		t.say(t.msg("submit_queued"))
		return statusComplete
	}
	switch casesvc.ErrorCode(err) {
	case "":
	case casesvc.EINVALID, casesvc.ENOTFOUND:
		delete(f.Slots, "_key")
		readBack(t, f, t.msg("reason.submit_invalid"))
		return statusWaiting
	default:
		// Nothing is lost: the form stays at the read-back and the customer can try again.
		t.say(t.msg("submit_failed"), Button{Label: t.msg("btn.retry"), Value: actConfirm},
			Button{Label: t.msg("btn.human_agent"), Value: nlu.IntentHumanAgent}, Button{Label: t.msg("btn.menu"), Value: actMenu})
		return statusWaiting
	}
	t.st.LastCase = c.ID
	t.say(receipt(t, c))
	return statusComplete
}

func newCase(t *turn, f *frame, key string) (casesvc.NewCase, error) {
	at, _, err := parseWhen(f.get("occurred_at"), t.e.cfg.Location)
	if err != nil {
		return casesvc.NewCase{}, err
	}
	inc := casesvc.Incident{
		OccurredAt:  at,
		Place:       f.get("place"),
		Cause:       f.get("cause"),
		Description: f.get("description"),
	}
	if v := f.get("amount"); v != "" {
		if a, err := strconv.ParseFloat(v, 64); err == nil {
			inc.EstimatedAmount = &a
		}
	}
	if ct, ok := t.catalog().ClaimType(f.get("claim_type")); ok {
		for _, q := range ct.Questions {
			if f.get(condPrefix+q) == actYes {
				inc.Conditions = append(inc.Conditions, q)
			}
		}
	}
	if p := f.get("vehicle_plate"); p != "" {
		inc.Details = map[string]string{"vehicle_plate": p}
	}
	who := casesvc.Person{Name: f.get("name"), Phone: f.get("phone")}
	if t.st.Who != nil {
		who.NationalID = t.st.Who.NationalID
		who.BirthDate = t.st.Who.BirthDate
	}
	return casesvc.NewCase{
		IdempotencyKey: key,
		ClaimType:      f.get("claim_type"),
		PolicyNumber:   f.get("policy"),
		Channel:        t.in.Channel,
		Conversation:   t.in.Conversation,
		Claimant:       who,
		Incident:       inc,
		Actor:          "bot",
	}, nil
}

// receipt is the one-time notice: the case id, every missing document with what it is, how to send
// them, and the next step with its deadline counted from complete documents (never a payment date).
func receipt(t *turn, c *casesvc.Case) string {
	var b strings.Builder
	b.WriteString(t.msg("submitted", "id", c.ID))
	if c.Priority == "green_channel" {
		b.WriteString(t.msg("green_channel"))
	}
	if len(c.MissingDocuments) == 0 {
		b.WriteString("\n" + t.msg("docs_none"))
	} else {
		how := "docs_how." + t.in.Channel
		if !t.e.msgs.has(how) {
			how = "docs_how.default"
		}
		b.WriteString("\n" + t.msg("docs_intro", "how", t.msg(how)))
		for i, k := range c.MissingDocuments {
			d, _ := t.catalog().Document(k)
			label, desc := d.Label.Get(t.lang()), d.Description.Get(t.lang())
			if label == "" {
				label = k
			}
			line := fmt.Sprintf("\n%d. %s", i+1, label)
			if desc != "" {
				line += t.msg("doc_sep") + desc
			}
			b.WriteString(line)
		}
	}
	days := t.e.cfg.DecisionDays
	if c.FastTrack {
		days = t.e.cfg.FastTrackDecisionDays
	}
	b.WriteString("\n" + t.msg("next_step", "days", strconv.Itoa(days)))
	return b.String()
}
