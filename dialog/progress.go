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
	for _, e := range t.parse().Entities {
		if e.Type == nlu.EntityCaseID {
			if id, ok := e.Value.(string); ok {
				f.set("case_id", strings.ToUpper(id))
			}
		}
	}
	if t.st.Verified != "" {
		showProgress(t, f)
		return statusComplete
	}
	t.note(t.msg("progress_intro"))
	idSlots, _ := identityPrefill(t, t.text)
	return t.pushChild(flowIdentity, idSlots)
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

// describeCase is one case in plain words: type, status, what is missing, and what happens next.
func describeCase(t *turn, c *casesvc.Case) string {
	s := t.msg("progress_case", "id", c.ID, "type", typeLabel(t, c.ClaimType), "status", t.msg("status."+c.Status))
	if len(c.MissingDocuments) > 0 {
		var names []string
		for _, k := range c.MissingDocuments {
			d, _ := t.catalog().Document(k)
			if l := d.Label.Get(t.lang()); l != "" {
				names = append(names, l)
			} else {
				names = append(names, k)
			}
		}
		s += t.msg("progress_missing", "docs", strings.Join(names, t.msg("list_sep")))
	}
	days := t.e.cfg.DecisionDays
	if c.FastTrack {
		days = t.e.cfg.FastTrackDecisionDays
	}
	return s + t.msg("next."+c.Status, "days", strconv.Itoa(days))
}
