package dialog

import (
	"strconv"
	"strings"

	"claimline/casesvc"
	"claimline/dialog/nlu"
)

// progressFlow answers "how is my claim going" after the same identity check, for the verified
// policy's cases only. A case id that is not theirs gets the same answer as one that does not exist.
type progressFlow struct{}

func (progressFlow) begin(t *turn, f *frame) status {
	if id := caseIDIn(t); id != "" {
		f.set("case_id", strings.ToUpper(id))
	}
	if t.st.Verified != "" {
		showProgress(t, f)
		return statusComplete
	}
	t.note(t.msg("progress_intro"))
	idSlots, _ := identityPrefill(t, t.text)
	return t.pushChild(flowIdentity, idSlots)
}

// caseIDIn is the case id the message names, "" when none.
func caseIDIn(t *turn) string {
	if t.text == "" {
		return ""
	}
	for _, e := range t.parse().Entities {
		if e.Type == nlu.EntityCaseID {
			if id, ok := e.Value.(string); ok {
				return id
			}
		}
	}
	return ""
}

func (progressFlow) cont(t *turn, f *frame) status {
	return progressFlow{}.resume(t, f, nil, statusWaiting)
}

func (progressFlow) resume(t *turn, f *frame, child *frame, st status) status {
	if child != nil && st != statusComplete {
		return statusCancelled
	}
	if t.st.Verified == "" {
		return t.pushChild(flowIdentity, nil)
	}
	showProgress(t, f)
	return statusComplete
}

func (progressFlow) end(t *turn, f *frame) {}

func showProgress(t *turn, f *frame) {
	cases, err := t.e.cfg.Cases.CasesByPolicy(t.ctx, t.st.Verified)
	if err != nil {
		t.note(t.msg("reason.service_unavailable"))
		return
	}
	if id := f.get("case_id"); id != "" {
		for _, c := range cases {
			if c.ID == id {
				t.say(describeCase(t, c))
				return
			}
		}
		t.say(t.msg("progress_not_found", "id", id))
		return
	}
	if len(cases) == 0 {
		t.say(t.msg("progress_none"))
		return
	}
	var b strings.Builder
	b.WriteString(t.msg("progress_list"))
	for i, c := range cases {
		if i == 5 {
			break
		}
		b.WriteString("\n" + describeCase(t, c))
	}
	t.say(b.String())
}

// describeCase is one case in plain words: type, status, what is missing (and why a document is
// asked again), and what happens next with its date: the decision target while in review, the
// amount and expected payment date once approved, the reason when rejected, the payment when paid.
func describeCase(t *turn, c *casesvc.Case) string {
	s := t.msg("progress_case", "id", c.ID, "type", typeLabel(t, c.ClaimType), "status", t.msg("status."+c.Status))
	if len(c.MissingDocuments) > 0 && c.Status != casesvc.StatusClosed {
		var names []string
		for _, k := range c.MissingDocuments {
			names = append(names, docLabel(t, k))
		}
		s += t.msg("progress_missing", "docs", strings.Join(names, t.msg("list_sep")))
		for _, k := range c.MissingDocuments {
			if why := rejectedNote(c, k); why != "" {
				s += t.msg("progress_redo", "doc", docLabel(t, k), "reason", why)
			}
		}
	}
	d := c.Decision
	switch c.Status {
	case casesvc.StatusInitialReview, casesvc.StatusSecondReview, casesvc.StatusJointReview:
		if due := c.Deadlines.DecisionDue; due != nil {
			return s + t.msg("progress_decision_due", "date", showDate(t, *due))
		}
	case casesvc.StatusApproved:
		if d != nil && d.Amount != nil && d.ExpectedPaymentBy != nil {
			return s + t.msg("progress_approved", "amount", money(t, *d.Amount), "method", methodLabel(t, d.Method),
				"date", showDate(t, *d.ExpectedPaymentBy))
		}
	case casesvc.StatusRejected:
		if d != nil && d.Reason != "" {
			return s + t.msg("progress_rejected", "reason", d.Reason) + t.msg("next.rejected")
		}
	case casesvc.StatusPaid, casesvc.StatusClosed:
		if p := c.Payment; p != nil {
			s += t.msg("progress_paid", "amount", money(t, p.Amount), "date", showDate(t, p.PaidAt))
		}
		return s + t.msg("next."+c.Status)
	}
	return s + t.msg("next."+c.Status, "days", strconv.Itoa(decisionDays(t, c)))
}

// rejectedNote is the reason a missing kind was asked for again, "" when it is still from the first notice.
func rejectedNote(c *casesvc.Case, kind string) string {
	note := ""
	for _, r := range c.DocumentRequests {
		if r.Reason == casesvc.RequestRejected && len(r.Kinds) == 1 && r.Kinds[0] == kind {
			note = r.Note
		}
	}
	return note
}
