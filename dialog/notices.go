package dialog

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"claimline/casesvc"
	"claimline/dialog/nlu"
)

// notice tells the customer what happened to their case (EventNotice), in the conversation's
// language, then asks the pending question again so a form in progress goes on where it was.
// Data follows casesvc.Notice; values may arrive as numbers or strings, dates as YYYY-MM-DD or RFC 3339.
func (e *Engine) notice(t *turn) {
	n := t.in.Notice
	if n == nil {
		return
	}
	get := func(k string) string { return dataString(n.Data, k) }
	id := n.CaseID
	var bs []Button
	text := ""
	switch n.Kind {
	case casesvc.NoticeDocumentsComplete:
		days := get("decision_days")
		if days == "" {
			days = strconv.Itoa(e.cfg.DecisionDays)
		}
		text = t.msg("notice.documents_complete", "id", id, "days", days)
		if due, ok := dataTime(n.Data, "decision_due", e.cfg.Location); ok {
			text += t.msg("notice.decision_due", "date", showDate(t, due))
		}
		t.st.Resend = dropCase(t.st.Resend, id)
	case casesvc.NoticeDocumentRejected:
		kind := get("kind")
		how := "docs_send_how." + t.in.Channel
		if !e.msgs.has(how) {
			how = "docs_send_how.default"
		}
		text = t.msg("notice.document_rejected", "id", id, "doc", docLabel(t, kind), "reason", get("reason"), "how", t.msg(how))
		if kind != "" {
			// The next file for this case is this document; no question asked.
			t.st.Resend = append(dropResend(t.st.Resend, id, kind), resend{Case: id, Kind: kind, Reason: get("reason")})
		}
	case casesvc.NoticeApproved:
		amount, _ := dataFloat(n.Data, "amount")
		date := get("expected_payment_by")
		if d, ok := dataTime(n.Data, "expected_payment_by", e.cfg.Location); ok {
			date = showDate(t, d)
		}
		text = t.msg("notice.approved", "id", id, "amount", money(t, amount), "method", methodLabel(t, get("method")), "date", date)
	case casesvc.NoticeRejected:
		text = t.msg("notice.rejected", "id", id, "reason", get("reason"), "basis", get("basis"))
		bs = []Button{{Label: t.msg("menu.human_agent"), Value: nlu.IntentHumanAgent},
			{Label: t.msg("menu.complaint"), Value: nlu.IntentComplaint}}
		// A complaint started from this notice offers this case first.
		t.st.NoticeCase = id
	case casesvc.NoticePaid:
		amount, _ := dataFloat(n.Data, "amount")
		date := ""
		if d, ok := dataTime(n.Data, "paid_at", e.cfg.Location); ok {
			date = showDate(t, d)
		}
		text = t.msg("notice.paid", "id", id, "amount", money(t, amount), "method", methodLabel(t, get("method")),
			"date", date, "reference", get("reference"))
	case casesvc.NoticeComplaintResponded:
		// The reply, then the ombudsman route, which must always reach the customer (FCPA art. 13).
		ombudsman := get("ombudsman_notice")
		if t.lang() == "en" && get("ombudsman_notice_en") != "" {
			ombudsman = get("ombudsman_notice_en")
		}
		if ombudsman == "" {
			ombudsman = casesvc.OmbudsmanNotice
		}
		text = t.msg("notice.complaint_responded", "id", get("complaint"), "response", get("response")) + "\n\n" + ombudsman
		if get("response") == "" && get("text") != "" {
			text = get("text")
		}
		bs = []Button{{Label: t.msg("menu.human_agent"), Value: actHandoffPrefix + reasonComplaint}}
	case NoticeCaseFiled:
		// A claim taken during an outage is filed now: its id and the one-time notice of documents.
		if id == "" {
			id = get("case_id")
		}
		c := &casesvc.Case{ID: id, MissingDocuments: dataStrings(n.Data, "missing_documents"), Priority: get("priority")}
		c.FastTrack = get("fast_track") == "true"
		text = t.msg("notice.case_filed") + receipt(t, c)
		t.st.LastCase = id
	case NoticeComplaintFiled:
		first, days := get("first_response_days"), get("resolution_days")
		if first == "" {
			first = strconv.Itoa(e.cfg.ComplaintFirstResponseDays)
		}
		if days == "" {
			days = strconv.Itoa(e.cfg.ComplaintResolutionDays)
		}
		text = t.msg("notice.complaint_filed", "id", get("complaint_id")) + t.msg("complaint_deadlines", "first", first, "days", days)
		bs = []Button{{Label: t.msg("menu.human_agent"), Value: actHandoffPrefix + reasonComplaint}}
	case NoticeIntakeFailed:
		text = t.msg("notice.intake_failed."+intakeWhat(get("what")), "hotline", t.msg("hotline"))
		bs = t.personButtons()
	default:
		// A kind this dialog has no words for yet: the notice's own text when it carries one
		// (casesvc puts the whole message in "text" for such kinds), else a pointer to progress.
		if text = get("text"); text == "" {
			text = t.msg("notice.other", "id", id)
		}
	}
	if top := t.top(); top != nil {
		// Said on its own, then the form's question again: the notice does not break the form.
		t.say(text, bs...)
		e.resumeTop(t)
		return
	}
	t.say(text, bs...)
}

func intakeWhat(w string) string {
	if w == "complaint" {
		return "complaint"
	}
	return "case"
}

// dataStrings reads a list of strings ([]string, or []any after JSON).
func dataStrings(d map[string]any, k string) []string {
	switch v := d[k].(type) {
	case []string:
		return v
	case []any:
		out := make([]string, 0, len(v))
		for _, x := range v {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

func dropCase(rs []resend, caseID string) []resend {
	var out []resend
	for _, r := range rs {
		if r.Case != caseID {
			out = append(out, r)
		}
	}
	return out
}

func dataString(d map[string]any, k string) string {
	switch v := d[k].(type) {
	case nil:
		return ""
	case string:
		return v
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case json.Number:
		return v.String()
	default:
		return fmt.Sprint(v)
	}
}

func dataFloat(d map[string]any, k string) (float64, bool) {
	switch v := d[k].(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case json.Number:
		f, err := v.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.ReplaceAll(v, ",", ""), 64)
		return f, err == nil
	}
	return 0, false
}

// dataTime reads a date (YYYY-MM-DD, a day in loc) or a time (RFC 3339).
func dataTime(d map[string]any, k string, loc *time.Location) (time.Time, bool) {
	switch v := d[k].(type) {
	case time.Time:
		return v.In(loc), true
	case string:
		if tm, err := time.Parse(time.RFC3339, v); err == nil {
			return tm.In(loc), true
		}
		if tm, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
			return tm, true
		}
	}
	return time.Time{}, false
}

// showDate is a calendar day in the customer's language (2026年12月4日, 4 December 2026).
func showDate(t *turn, tm time.Time) string {
	tm = tm.In(t.e.cfg.Location)
	if t.lang() == "en" {
		return tm.Format("2 January 2006")
	}
	return fmt.Sprintf("%d年%d月%d日", tm.Year(), int(tm.Month()), tm.Day())
}

// money is an amount as the customer reads it (35,000 元, NT$35,000).
func money(t *turn, a float64) string { return t.msg("amount_value", "amount", groupThousands(a)) }

// methodLabel names a payment method in plain words; an unknown method is said as recorded.
func methodLabel(t *turn, m string) string {
	if k := "method." + strings.ToLower(strings.TrimSpace(m)); m != "" && t.e.msgs.has(k) {
		return t.msg(k)
	}
	return m
}
