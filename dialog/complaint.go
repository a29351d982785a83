package dialog

import (
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"claimline/casesvc"
	"claimline/dialog/nlu"
)

// complaintFlow takes a complaint (domain.md "Complaints"; issue 8): the same identity check as a
// claim, then the category (buttons), the customer's own words, the linked case (only one of their
// own cases, or none), how and when to contact them, a read-back, and the submission. The customer
// gets the CMP- id at once, the deadlines in plain words, the ombudsman route, and the offer of a
// person now (reason "complaint": the handoff queue puts complaints first).
type complaintFlow struct{}

const flowComplaint = "complaint"

// Steps of the complaint frame; "" is filling the form.
const (
	stepComplaintReview = "review"
	stepComplaintEdit   = "edit"
	stepComplaintOffer  = "offer" // filed; a person offered now
)

// Button values of the complaint flow.
const (
	actCategoryPrefix = "cat:"
	actLinkPrefix     = "link:" // link:1 .. link:n (the offered cases, in order), link:none
	actLinkNone       = "link:none"
	actContactPrefix  = "contact:"
	actWindowAny      = "window:any"
	actNoPerson       = "complaint:no"
	actHandoffPrefix  = "handoff:" // handoff:complaint, handoff:angry
)

// Handoff reasons besides customer_asked and the misunderstanding ones.
const (
	reasonComplaint = "complaint"
	reasonAngry     = "angry"
)

// maxOfferedCases bounds the case buttons (newest first).
const maxOfferedCases = 5

func (complaintFlow) begin(t *turn, f *frame) status {
	t.note(t.msg("complaint_intro"))
	if c := categoryFromText(t.text); c != "" {
		f.set("category", c)
	}
	if t.st.Verified != "" && t.st.Who != nil {
		return complaintVerified(t, f)
	}
	idSlots, _ := identityPrefill(t, t.text)
	return t.pushChild(flowIdentity, idSlots)
}

func (complaintFlow) cont(t *turn, f *frame) status {
	switch {
	case f.Step == stepComplaintOffer:
		return complaintOffer(t, f)
	case strings.HasPrefix(t.action, "edit:"):
		return complaintEdit(t, f, strings.TrimPrefix(t.action, "edit:"))
	case f.Step == stepComplaintReview || f.Step == stepComplaintEdit:
		return complaintReview(t, f)
	}
	if f.Asked == "window" && (t.action == actWindowAny || t.action == "" && anyTime(t.text)) {
		f.set("window", "")
		return complaintNext(t, f, nil)
	}
	if t.action != "" && !complaintAction(f.Asked, t.action) {
		// A button of another question (an old message): ask the current one again.
		return complaintNext(t, f, nil)
	}
	r := fill(t, f, complaintFields, t.text)
	return complaintNext(t, f, r.reasons)
}

// complaintAction says a button value answers the asked field.
func complaintAction(asked, a string) bool {
	switch asked {
	case "category":
		return strings.HasPrefix(a, actCategoryPrefix)
	case "case":
		return strings.HasPrefix(a, actLinkPrefix)
	case "contact":
		return strings.HasPrefix(a, actContactPrefix)
	}
	return false
}

func (complaintFlow) resume(t *turn, f *frame, child *frame, st status) status {
	if child != nil && child.Flow == flowIdentity {
		if st != statusComplete {
			return statusCancelled
		}
		return complaintVerified(t, f)
	}
	switch f.Step {
	case stepComplaintReview:
		complaintReadBack(t, f, "")
		return statusWaiting
	case stepComplaintEdit:
		complaintEditButtons(t, f)
		return statusWaiting
	case stepComplaintOffer:
		askPerson(t)
		return statusWaiting
	}
	return complaintNext(t, f, nil)
}

func (complaintFlow) end(t *turn, f *frame) {}

// complaintVerified lists the customer's own cases for the linked-case question; with none it is
// not asked.
func complaintVerified(t *turn, f *frame) status {
	f.set("policy", t.st.Verified)
	if !f.has("_cases") {
		cases, err := t.e.cfg.Cases.CasesByPolicy(t.ctx, t.st.Verified)
		if err != nil {
			t.say(t.msg("reason.service_unavailable"), t.personButtons()...)
			return statusCancelled
		}
		var offered []string
		if id := t.st.NoticeCase; id != "" {
			// Started from a rejection notice: that case first.
			for _, c := range cases {
				if c.ID == id {
					offered = append(offered, c.ID+"|"+c.ClaimType)
				}
			}
		}
		for _, c := range cases {
			if len(offered) == maxOfferedCases {
				break
			}
			if c.ID != t.st.NoticeCase {
				offered = append(offered, c.ID+"|"+c.ClaimType)
			}
		}
		f.set("_cases", strings.Join(offered, ","))
		if len(offered) == 0 {
			f.set("case", "") // nothing to link
		}
	}
	return complaintNext(t, f, nil)
}

// offeredCases are the customer's own cases the linked-case question offers: id and claim type.
func offeredCases(f *frame) [][2]string {
	var out [][2]string
	for _, s := range strings.Split(f.get("_cases"), ",") {
		if id, typ, ok := strings.Cut(s, "|"); ok {
			out = append(out, [2]string{id, typ})
		}
	}
	return out
}

func complaintNext(t *turn, f *frame, reasons []string) status {
	if fd := nextMissing(t, f, complaintFields); fd != nil {
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
	f.Step = stepComplaintReview
	f.Asked = ""
	complaintReadBack(t, f, note)
	return statusWaiting
}

var emailPattern = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}`)

// complaintFields: every extractor answers only its own question (a complaint's words are the
// customer's, not values for other fields).
var complaintFields = []*field{
	{
		name: "category",
		prompt: func(t *turn, f *frame) (string, []Button) {
			var bs []Button
			for _, c := range casesvc.Categories() {
				bs = append(bs, Button{Label: t.msg("category." + c), Value: actCategoryPrefix + c})
			}
			return t.msg("ask.complaint_category"), bs
		},
		missReason: "reason.complaint_category",
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			if !asked {
				return "", "", false
			}
			if c, ok := strings.CutPrefix(t.action, actCategoryPrefix); ok {
				return c, "", true
			}
			if c := categoryFromText(text); c != "" {
				return c, "", true
			}
			return "", "", false
		},
		validate: func(t *turn, f *frame, raw string) (string, string) {
			if !slices.Contains(casesvc.Categories(), raw) {
				return "", "reason.complaint_category"
			}
			return raw, ""
		},
	},
	{
		name:     "description",
		prompt:   simplePrompt("ask.complaint_description"),
		freeText: true,
		verbatim: true,
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			return "", "", false // only ever the answer to its own question
		},
		validate: func(t *turn, f *frame, raw string) (string, string) {
			if utf8.RuneCountInString(raw) > casesvc.MaxComplaintText {
				return "", "reason.too_long"
			}
			return notEmpty(t, f, raw)
		},
	},
	{
		name: "case",
		prompt: func(t *turn, f *frame) (string, []Button) {
			var bs []Button
			for i, c := range offeredCases(f) {
				bs = append(bs, Button{Label: c[0] + t.msg("case_type_label", "type", typeLabel(t, c[1])), Value: actLinkPrefix + strconv.Itoa(i+1)})
			}
			bs = append(bs, Button{Label: t.msg("btn.no_case"), Value: actLinkNone})
			return t.msg("ask.complaint_case"), bs
		},
		missReason: "reason.complaint_case",
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			if !asked {
				return "", "", false
			}
			if v, ok := strings.CutPrefix(t.action, actLinkPrefix); ok {
				return v, "", true
			}
			if id := caseIDIn(t); id != "" {
				return strings.ToUpper(id), "", true
			}
			if isNoCase(text) {
				return "none", "", true
			}
			return "", "", false
		},
		validate: func(t *turn, f *frame, raw string) (string, string) {
			offered := offeredCases(f)
			if raw == "none" {
				return "", ""
			}
			if n, err := strconv.Atoi(raw); err == nil {
				if n >= 1 && n <= len(offered) {
					return offered[n-1][0], ""
				}
				return "", "reason.complaint_case"
			}
			for _, c := range offered {
				if c[0] == raw {
					return raw, ""
				}
			}
			// Not one of theirs: the same answer whether it exists on another policy or not at all.
			return "", "reason.complaint_case_not_found"
		},
	},
	{
		name: "contact",
		prompt: func(t *turn, f *frame) (string, []Button) {
			var bs []Button
			for _, m := range []string{casesvc.ContactChat, casesvc.ContactPhone, casesvc.ContactSMS, casesvc.ContactEmail} {
				bs = append(bs, Button{Label: t.msg("contact." + m), Value: actContactPrefix + m})
			}
			return t.msg("ask.complaint_contact"), bs
		},
		missReason: "reason.complaint_contact",
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			if !asked {
				return "", "", false
			}
			if m, ok := strings.CutPrefix(t.action, actContactPrefix); ok {
				return m, "", true
			}
			if m := contactFromText(text); m != "" {
				return m, "", true
			}
			return "", "", false
		},
		validate: func(t *turn, f *frame, raw string) (string, string) {
			switch raw {
			case casesvc.ContactChat, casesvc.ContactPhone, casesvc.ContactSMS, casesvc.ContactEmail:
				return raw, ""
			}
			return "", "reason.complaint_contact"
		},
		filled: func(t *turn, f *frame, val string) {
			// A new method has its own details.
			delete(f.Slots, "window")
			delete(f.Slots, "email")
			delete(f.Slots, "phone")
		},
	},
	{
		name: "phone",
		when: func(t *turn, f *frame) bool { return byPhone(f) && (t.st.Who == nil || t.st.Who.Phone == "") },
		prompt: func(t *turn, f *frame) (string, []Button) {
			return t.msg("ask.phone"), nil
		},
		missReason: "reason.phone_invalid",
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			if !asked {
				return "", "", false
			}
			p, e, ok := t.e.nlu.Phone(text)
			return p, e.Text, ok
		},
	},
	{
		name:     "window",
		when:     func(t *turn, f *frame) bool { return byPhone(f) },
		freeText: true,
		verbatim: true,
		prompt: func(t *turn, f *frame) (string, []Button) {
			return t.msg("ask.complaint_window"), []Button{{Label: t.msg("btn.any_time"), Value: actWindowAny}}
		},
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			return "", "", false
		},
		validate: func(t *turn, f *frame, raw string) (string, string) {
			s := strings.TrimSpace(raw)
			if utf8.RuneCountInString(s) > 60 {
				return "", "reason.window_too_long"
			}
			if s == "" {
				return "", "reason.too_short"
			}
			return s, ""
		},
	},
	{
		name:       "email",
		when:       func(t *turn, f *frame) bool { return f.get("contact") == casesvc.ContactEmail },
		prompt:     simplePrompt("ask.email"),
		missReason: "reason.email_invalid",
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			if !asked {
				return "", "", false
			}
			m := emailPattern.FindString(text)
			return m, m, m != ""
		},
	},
}

func byPhone(f *frame) bool {
	c := f.get("contact")
	return c == casesvc.ContactPhone || c == casesvc.ContactSMS
}

// categoryFromText finds a complaint category in words ("態度很差", "拖太久", "too slow").
func categoryFromText(text string) string {
	s := strings.ToLower(squash(text))
	if s == "" {
		return ""
	}
	for _, c := range categoryWords {
		if containsAny(s, c.words...) {
			return c.id
		}
	}
	return ""
}

var categoryWords = []struct {
	id    string
	words []string
}{
	{casesvc.CategoryAmountDispute, []string{"金額", "金额", "賠太少", "赔太少", "少賠", "amount", "toolittle", "paidtoolittle", "notenough"}},
	{casesvc.CategoryDecisionDispute, []string{"拒賠", "拒赔", "不賠", "不赔", "不給賠", "理賠結果", "審核結果", "不同意", "decision", "rejected", "denied", "disagree"}},
	{casesvc.CategoryServiceAttitude, []string{"態度", "态度", "不禮貌", "不耐煩", "兇", "attitude", "rude", "impolite"}},
	{casesvc.CategoryDelay, []string{"太慢", "很慢", "拖", "延誤", "延误", "等很久", "等了", "還沒", "还没", "slow", "delay", "waiting", "takingtoolong", "toolong"}},
	{casesvc.CategoryCommunication, []string{"溝通", "沟通", "通知", "聯絡不到", "联络不到", "沒回", "没回", "沒人接", "不清楚", "communication", "noreply", "noanswer", "unclear", "notinformed"}},
	{casesvc.CategoryOther, []string{"其他", "其它", "other", "somethingelse"}},
}

func contactFromText(text string) string {
	s := strings.ToLower(squash(text))
	switch {
	case containsAny(s, "email", "e-mail", "mail", "郵件", "邮件", "信箱", "電子郵件"):
		return casesvc.ContactEmail
	case containsAny(s, "簡訊", "短信", "短訊", "sms", "text"):
		return casesvc.ContactSMS
	case containsAny(s, "電話", "电话", "打給我", "打给我", "phone", "call"):
		return casesvc.ContactPhone
	case containsAny(s, "這裡", "这里", "聊天", "對話", "对话", "chat", "here", "line", "訊息", "讯息"):
		return casesvc.ContactChat
	}
	return ""
}

func isNoCase(text string) bool {
	s := strings.ToLower(squash(text))
	return s == "沒有" || s == "没有" || s == "無" || s == "无" || s == "不是" || s == "no" || s == "none" || s == "nope" ||
		containsAny(s, "沒有案件", "没有案件", "跟案件無關", "與案件無關", "不是案件", "notaboutacase", "noclaim", "nocase", "notaboutaclaim")
}

func anyTime(text string) bool {
	s := strings.ToLower(squash(text))
	return containsAny(s, "隨時", "随时", "都可以", "任何時間", "anytime", "whenever") || s == "any"
}

// complaintReadBack shows the complaint with [確認送出] [修改].
func complaintReadBack(t *turn, f *frame, note string) {
	if note != "" {
		t.note(note)
	}
	var b strings.Builder
	b.WriteString(t.msg("complaint_review_intro"))
	for _, l := range complaintLines(t, f) {
		b.WriteString("\n" + l[0] + t.msg("colon") + l[1])
	}
	t.say(b.String(), Button{Label: t.msg("btn.confirm"), Value: actConfirm}, Button{Label: t.msg("btn.edit"), Value: actEdit})
}

func complaintLines(t *turn, f *frame) [][2]string {
	linked := f.get("case")
	if linked == "" {
		linked = t.msg("no_case")
	}
	return [][2]string{
		{t.msg("field.complaint_category"), t.msg("category." + f.get("category"))},
		{t.msg("field.complaint_description"), f.get("description")},
		{t.msg("field.complaint_case"), linked},
		{t.msg("field.complaint_contact"), contactLine(t, f)},
	}
}

// contactLine is how the customer will be contacted, as the read-back shows it.
func contactLine(t *turn, f *frame) string {
	m := f.get("contact")
	s := t.msg("contact." + m)
	switch m {
	case casesvc.ContactPhone, casesvc.ContactSMS:
		s += t.msg("contact_detail", "detail", casesvc.MaskPhone(complainantPhone(t, f)))
		w := f.get("window")
		if w == "" {
			w = t.msg("btn.any_time")
		}
		s += t.msg("contact_window", "window", w)
	case casesvc.ContactEmail:
		s += t.msg("contact_detail", "detail", f.get("email"))
	}
	return s
}

func complainantPhone(t *turn, f *frame) string {
	if p := f.get("phone"); p != "" {
		return p
	}
	if t.st.Who != nil {
		return t.st.Who.Phone
	}
	return ""
}

func complaintEditable(f *frame) []string {
	out := []string{"category", "description"}
	if len(offeredCases(f)) > 0 {
		out = append(out, "case")
	}
	return append(out, "contact")
}

func complaintEditButtons(t *turn, f *frame) {
	f.Step = stepComplaintEdit
	var bs []Button
	for _, n := range complaintEditable(f) {
		key := "field.complaint_" + n
		bs = append(bs, Button{Label: t.msg(key), Value: "edit:" + n})
	}
	bs = append(bs, Button{Label: t.msg("btn.back_to_review"), Value: actReview})
	t.say(t.msg("edit_which"), bs...)
}

func complaintEdit(t *turn, f *frame, name string) status {
	if !slices.Contains(complaintEditable(f), name) {
		complaintEditButtons(t, f)
		return statusWaiting
	}
	delete(f.Slots, name)
	if name == "contact" {
		delete(f.Slots, "window")
		delete(f.Slots, "email")
		delete(f.Slots, "phone")
	}
	f.Step = ""
	f.set("_editing", "1")
	return complaintNext(t, f, nil)
}

// complaintReview handles the answer to the read-back: confirm, change, or else which part.
func complaintReview(t *turn, f *frame) status {
	s := squash(t.text)
	switch {
	case t.action == actConfirm || t.action == "" && f.Step == stepComplaintReview && confirmWords[s]:
		return submitComplaint(t, f)
	case t.action == actEdit || t.action == "" && editWords[s]:
		complaintEditButtons(t, f)
		return statusWaiting
	case t.action == actReview || t.action == "" && f.Step == stepComplaintEdit && confirmWords[s]:
		f.Step = stepComplaintReview
		complaintReadBack(t, f, "")
		return statusWaiting
	case t.action != "":
		complaintReadBack(t, f, t.msg("complaint_review_hint"))
		return statusWaiting
	}
	t.note(t.msg("review_unclear"))
	complaintEditButtons(t, f)
	return statusWaiting
}

// submitComplaint files the complaint; a replayed confirm turn carries the same idempotency key.
func submitComplaint(t *turn, f *frame) status {
	key := f.get("_key")
	if key == "" {
		key = t.idempotencyKey()
		f.set("_key", key)
	}
	who := casesvc.Person{}
	if t.st.Who != nil {
		who = casesvc.Person{Name: t.st.Who.Name, NationalID: t.st.Who.NationalID, BirthDate: t.st.Who.BirthDate}
	}
	if byPhone(f) {
		who.Phone = complainantPhone(t, f)
	} else if t.st.Who != nil {
		who.Phone = t.st.Who.Phone
	}
	who.Email = f.get("email")
	nc := casesvc.NewComplaint{
		IdempotencyKey: key,
		Category:       f.get("category"),
		Description:    f.get("description"),
		CaseID:         f.get("case"),
		PolicyNumber:   t.st.Verified,
		Complainant:    who,
		Channel:        t.in.Channel,
		Conversation:   t.in.Conversation,
		Contact:        casesvc.ContactPreference{Method: f.get("contact"), Window: f.get("window")},
		Actor:          "bot",
	}
	c, err := t.e.cfg.Cases.CreateComplaint(t.ctx, nc)
	switch {
	case err == nil:
		f.set("complaint_id", c.ID)
		first, days := complaintDays(t, c)
		t.note(t.msg("complaint_filed", "id", c.ID) + t.msg("complaint_deadlines", "first", first, "days", days))
	case errors.Is(err, ErrQueued):
		t.note(t.msg("complaint_queued") + t.msg("complaint_deadlines",
			"first", strconv.Itoa(t.e.cfg.ComplaintFirstResponseDays), "days", strconv.Itoa(t.e.cfg.ComplaintResolutionDays)))
	case casesvc.ErrorCode(err) == casesvc.ENOTFOUND && f.get("case") != "":
		// The linked case is no longer theirs to link: asked again, with the same words as an unknown id.
		delete(f.Slots, "_key")
		delete(f.Slots, "case")
		f.Step = ""
		return complaintNext(t, f, []string{"reason.complaint_case_not_found"})
	case casesvc.ErrorCode(err) == casesvc.EINVALID || casesvc.ErrorCode(err) == casesvc.ENOTFOUND:
		delete(f.Slots, "_key")
		complaintReadBack(t, f, t.msg("reason.submit_invalid"))
		return statusWaiting
	default:
		// Nothing is lost: the complaint stays at the read-back and the customer can try again.
		t.say(t.msg("submit_failed"), Button{Label: t.msg("btn.retry"), Value: actConfirm},
			Button{Label: t.msg("btn.human_agent"), Value: actHandoffPrefix + reasonComplaint}, Button{Label: t.msg("btn.menu"), Value: actMenu})
		return statusWaiting
	}
	f.Step = stepComplaintOffer
	f.Asked = ""
	askPerson(t)
	return statusWaiting
}

// complaintDays are the first-response and resolution days of a filed complaint, from its own
// deadlines (casesvc's configuration), in whole days.
func complaintDays(t *turn, c *casesvc.Complaint) (string, string) {
	days := func(due time.Time, def int) string {
		if due.IsZero() || c.CreatedAt.IsZero() {
			return strconv.Itoa(def)
		}
		return strconv.Itoa(int(due.Sub(c.CreatedAt).Hours()/24 + 0.5))
	}
	return days(c.Deadlines.FirstResponseDue, t.e.cfg.ComplaintFirstResponseDays),
		days(c.Deadlines.ResolutionDue, t.e.cfg.ComplaintResolutionDays)
}

func askPerson(t *turn) {
	t.say(t.msg("complaint_offer_person"),
		Button{Label: t.msg("menu.human_agent"), Value: actHandoffPrefix + reasonComplaint},
		Button{Label: t.msg("btn.no_thanks"), Value: actNoPerson})
}

// complaintOffer handles the answer to "would you like a person now?".
func complaintOffer(t *turn, f *frame) status {
	switch offerChoice(t) {
	case actYes:
		t.e.handoff(t, reasonComplaint)
		return statusWaiting // handoff has closed the frame
	case actNo:
		t.note(t.msg("complaint_no_person"))
		t.menu("menu_again")
		return statusComplete
	}
	askPerson(t)
	return statusWaiting
}

// offerChoice reads the answer to the person offer: actYes, actNo or "".
func offerChoice(t *turn) string {
	switch t.action {
	case actNoPerson, actNo:
		return actNo
	case actYes:
		return actYes
	}
	if t.action != "" {
		return ""
	}
	s := strings.ToLower(squash(t.text))
	if containsAny(s, "不用", "不需要", "免了", "沒關係", "没关系", "nothanks", "nothank", "notnow") {
		return actNo
	}
	if containsAny(s, "真人", "專員", "客服人員", "person", "human", "agent") {
		return actYes
	}
	return yesNo(t)
}

// offerAnswer says the message answers the person offer (or asks for a person).
func offerAnswer(t *turn) bool { return offerChoice(t) != "" }

// ---- anger ----

// angryWords are strong negative words (domain.md "Human handoff": hand off when the customer is
// angry). Kept simple on purpose: a word list and repeated exclamation marks; squashed, lower case.
var angryWords = []string{
	"爛", "烂", "氣死", "气死", "投訴你們", "投诉你们", "搞什麼", "搞什么", "搞屁", "什麼爛", "太扯", "離譜", "离谱",
	"垃圾公司", "騙子", "骗子", "廢物", "废物", "火大", "受夠", "受够", "欺負人", "莫名其妙",
	"ridiculous", "furious", "outrageous", "unacceptable", "fedup", "pissed", "wtf", "scam", "useless", "angry",
	"thisisajoke", "worstservice", "worstcompany",
}

// notAngry are ordinary words holding an angry one (燦爛 is "brilliant").
var notAngry = []string{"燦爛", "灿烂", "爛掉", "烂掉", "腐爛", "腐烂", "潰爛", "溃烂"}

// isAngry says the message is angry: a strong negative word, or "!!!" (three or more in a row).
func isAngry(text string) bool {
	if strings.Contains(strings.ReplaceAll(text, "！", "!"), "!!!") {
		return true
	}
	s := strings.ToLower(squash(text))
	for _, w := range notAngry {
		s = strings.ReplaceAll(s, w, "")
	}
	return containsAny(s, angryWords...)
}

// offerPersonToAngry offers a person at once to an angry customer (once per form; always at the
// menu). Words in a complaint or a rating comment are the customer's content, not a cue. It reports
// whether it answered the turn.
func (e *Engine) offerPersonToAngry(t *turn, top *frame) bool {
	if top == nil {
		t.say(t.msg("angry_offer"),
			Button{Label: t.msg("menu.human_agent"), Value: actHandoffPrefix + reasonAngry},
			Button{Label: t.msg("menu.complaint"), Value: nlu.IntentComplaint},
			Button{Label: t.msg("btn.menu"), Value: actMenu})
		return true
	}
	if top.Flow == flowComplaint || top.Flow == flowRating || top.has("_angry") {
		return false
	}
	top.set("_angry", "1")
	t.say(t.msg("angry_offer_form"), Button{Label: t.msg("menu.human_agent"), Value: actHandoffPrefix + reasonAngry})
	e.resumeTop(t)
	return true
}
