package dialog

import (
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
	idSlots, rest := identityPrefill(t, text)
	// Whatever the first message says about the incident is kept; those questions are skipped.
	fill(t, f, claimFields(t, f), rest)
	f.set("_story", rest)
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
	case stepReview:
		return review(t, f)
	case stepEdit:
		if t.action == actConfirm {
			return review(t, f)
		}
		if t.action == "" {
			if s, ok := correction(t, f); ok {
				return s
			}
		}
		showEditButtons(t, f)
		return statusWaiting
	}
	reasons, _ := fill(t, f, claimFields(t, f), t.text)
	return claimNext(t, f, reasons)
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

// conditionField is one of the catalog's yes/no questions for the claim type.
func conditionField(id string) *field {
	return &field{
		name: condPrefix + id,
		prompt: func(t *turn, f *frame) (string, []Button) {
			return conditionQuestion(t, id), yesNoButtons(t)
		},
		missReason: "reason.yes_no",
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			if !asked {
				return "", "", false
			}
			a := yesNo(t)
			return a, "", a != ""
		},
		filled: func(t *turn, f *frame, val string) {
			// The answer is often the cause too: "是" to "traffic accident?" fills 交通事故.
			key := "cause." + id
			if !t.e.msgs.has(key) {
				return
			}
			c := t.msg(key)
			if val == actYes && !f.has("cause") {
				f.set("cause", c)
			} else if val == actNo && f.get("cause") == c {
				delete(f.Slots, "cause")
			}
		},
	}
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

var incidentFields = []*field{
	{
		name:       "occurred_at",
		prompt:     simplePrompt("ask.occurred_at"),
		missReason: "reason.date_format",
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			w, ok := t.e.nlu.IncidentTime(text, t.now)
			if !ok {
				return "", "", false
			}
			return whenValue(w), w.Span.Text, true
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
	},
	{
		name:     "place",
		prompt:   simplePrompt("ask.place"),
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
		prompt:   simplePrompt("ask.cause"),
		freeText: true,
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			if k := inferCause(text); k != "" {
				return t.msg(k), "", true
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

// recordLines is the record as label/value pairs, also used to label the edit buttons.
func recordLines(t *turn, f *frame) [][2]string {
	lines := [][2]string{
		{t.msg("field.claim_type"), typeLabel(t, f.get("claim_type"))},
		{t.msg("field.policy"), f.get("policy")},
		{t.msg("field.name"), f.get("name")},
		{t.msg("field.phone"), casesvc.MaskPhone(f.get("phone"))},
		{t.msg("field.occurred_at"), showWhen(t, f.get("occurred_at"))},
		{t.msg("field.place"), f.get("place")},
		{t.msg("field.cause"), f.get("cause")},
		{t.msg("field.description"), f.get("description")},
		{t.msg("field.amount"), showAmount(t, f.get("amount"))},
	}
	if f.get("claim_type") == "motor" {
		lines = append(lines, [2]string{t.msg("field.vehicle_plate"), f.get("vehicle_plate")})
	}
	if ct, ok := t.catalog().ClaimType(f.get("claim_type")); ok {
		for _, q := range ct.Questions {
			a := t.msg("btn.no")
			if f.get(condPrefix+q) == actYes {
				a = t.msg("btn.yes")
			}
			lines = append(lines, [2]string{conditionLabel(t, q), a})
		}
	}
	return lines
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
		"correct": true, "looksgood": true, "确认": true, "提交": true, "retry": true, "重新送出": true}
	editWords = map[string]bool{"修改": true, "更改": true, "edit": true, "change": true, "不對": true, "不正確": true,
		"錯了": true, "wrong": true, "no": true, "不是": true, "有錯": true, "要改": true}
)

// review handles the answer to the read-back: confirm, edit, or a correction in words.
func review(t *turn, f *frame) status {
	s := squash(t.text)
	switch {
	case t.action == actConfirm || t.action == "" && confirmWords[s]:
		return submit(t, f)
	case t.action == actEdit || t.action == "" && editWords[s]:
		showEditButtons(t, f)
		return statusWaiting
	}
	if t.action == "" {
		if st, ok := correction(t, f); ok {
			return st
		}
	}
	readBack(t, f, t.msg("review_hint"))
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

func fieldLabel(t *turn, name string) string {
	if q, ok := strings.CutPrefix(name, condPrefix); ok {
		return conditionLabel(t, q)
	}
	return t.msg("field." + name)
}

func showEditButtons(t *turn, f *frame) {
	f.Step = stepEdit
	var bs []Button
	for _, n := range editable(t, f) {
		bs = append(bs, Button{Label: fieldLabel(t, n), Value: "edit:" + n})
	}
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
	delete(f.Slots, name)
	if name == "claim_type" {
		// A new type has its own questions and checklist.
		for k := range f.Slots {
			if strings.HasPrefix(k, condPrefix) {
				delete(f.Slots, k)
			}
		}
		delete(f.Slots, "_candidates")
		delete(f.Slots, "vehicle_plate")
	}
	f.Step = ""
	f.set("_editing", "1")
	return claimNext(t, f, nil)
}

var (
	fieldKeywords = []struct {
		field string
		words []string
	}{
		{"place", []string{"地點", "地方", "位置", "地址", "place", "location", "where", "address"}},
		{"occurred_at", []string{"時間", "日期", "幾點", "time", "date", "when"}},
		{"cause", []string{"原因", "cause", "reason"}},
		{"description", []string{"情形", "狀況", "描述", "傷勢", "description", "injur", "damage"}},
		{"amount", []string{"金額", "費用", "多少錢", "amount", "cost", "price"}},
		{"vehicle_plate", []string{"車牌", "plate"}},
		{"phone", []string{"電話", "手機", "phone", "mobile"}},
		{"name", []string{"姓名", "名字", "name"}},
		{"claim_type", []string{"險種", "類型", "claimtype"}},
	}
	correctionValue = regexp.MustCompile(`(?i)(?:改成|改為|改为|換成|换成|應該是|应该是|更正為|更正为|是|為|：|:|\bto\b|\bis\b|\bshould be\b|\bwas\b)\s*(.+)$`)
)

// correction changes one field from words at the read-back ("不對，是前天", "地點改成台大醫院",
// "change the place to NTU Hospital", "the amount is 40000"). The field is found from keywords, then
// from the kind of value the message holds.
func correction(t *turn, f *frame) (status, bool) {
	text := t.text
	s := squash(text)
	allowed := map[string]bool{}
	for _, n := range editable(t, f) {
		allowed[n] = true
	}
	name, value := "", ""
	for _, fk := range fieldKeywords {
		if allowed[fk.field] && containsAny(s, fk.words...) {
			name = fk.field
			break
		}
	}
	if name != "" {
		if m := correctionValue.FindStringSubmatch(text); m != nil {
			value = strings.TrimSpace(m[1])
		}
	} else {
		switch {
		case func() bool { _, ok := t.e.nlu.IncidentTime(text, t.now); return ok }():
			name = "occurred_at"
		case func() bool { _, e, ok := t.e.nlu.Amount(text); return ok && looksLikeMoney(text, e.Text) }():
			name = "amount"
		case func() bool { _, _, ok := t.e.nlu.Phone(text); return ok }():
			name = "phone"
		case allowed["vehicle_plate"] && extractPlate(text) != "":
			name = "vehicle_plate"
		default:
			return 0, false
		}
		value = text
	}
	if value == "" {
		return editField(t, f, name), true
	}
	old := f.get(name)
	// Emptied first, so a value that does not parse gets the field's own reason.
	delete(f.Slots, name)
	f.Asked = name
	saved := t.text
	t.text = value
	reasons, ok := fill(t, f, []*field{fieldByName(t, f, name)}, value)
	t.text = saved
	f.Step = ""
	f.set("_editing", "1")
	if !ok {
		delete(f.Slots, name)
		return claimNext(t, f, reasons), true
	}
	if name == "occurred_at" {
		keepTimeOfDay(t, f, old)
	}
	return claimNext(t, f, nil), true
}

// keepTimeOfDay: "不對，是前天" corrects the day; the time of day said before still holds.
func keepTimeOfDay(t *turn, f *frame, old string) {
	prev, prevHas, err1 := parseWhen(old, t.e.cfg.Location)
	cur, curHas, err2 := parseWhen(f.get("occurred_at"), t.e.cfg.Location)
	if err1 != nil || err2 != nil || !prevHas || curHas {
		return
	}
	m := time.Date(cur.Year(), cur.Month(), cur.Day(), prev.Hour(), prev.Minute(), 0, 0, t.e.cfg.Location)
	if !m.After(t.now) {
		f.set("occurred_at", m.Format(time.RFC3339)+"|t")
	}
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
