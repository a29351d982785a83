package dialog

import (
	"strconv"
	"strings"
)

const flowRating = "rating"

// Steps of the rating frame.
const (
	stepRatingScore   = ""
	stepRatingComment = "comment"
)

const actRatePrefix = "rate:"

// handback runs when a person hands the conversation back (EventHandback). Resolved: the agent
// finished the job, so the form (if any) is dropped and the menu follows the rating. Not resolved:
// the form kept while the person held the conversation goes on after the rating, at the question it
// stopped at.
func (e *Engine) handback(t *turn) {
	hb := t.in.Handback
	if hb == nil {
		hb = &Handback{}
	}
	agent := strings.TrimSpace(hb.Agent)
	if agent == "" {
		agent = t.msg("agent_generic")
	}
	t.st.Misses = 0
	// A rating left unanswered from an earlier handback is replaced by this one.
	for n := len(t.st.Stack); n > 0 && t.st.Stack[n-1].Flow == flowRating; n-- {
		t.st.Stack = t.st.Stack[:n-1]
	}
	if hb.Resolved {
		t.st.Stack = nil
		t.note(t.msg("handback_resolved", "agent", agent))
	} else {
		t.note(t.msg("handback_open", "agent", agent))
	}
	e.push(t, flowRating)
}

// ratingFlow asks for a satisfaction rating (1 to 5) and an optional comment; the parent flow, if
// any, goes on afterwards.
type ratingFlow struct{}

func (ratingFlow) begin(t *turn, f *frame) status {
	askRating(t)
	return statusWaiting
}

func askRating(t *turn) {
	var bs []Button
	for i := 1; i <= 5; i++ {
		bs = append(bs, Button{Label: strconv.Itoa(i) + " " + strings.Repeat("★", i), Value: actRatePrefix + strconv.Itoa(i)})
	}
	t.say(t.msg("rating_ask"), bs...)
}

func askComment(t *turn) {
	t.say(t.msg("rating_comment"), Button{Label: t.msg("btn.skip_comment"), Value: actSkip})
}

func (ratingFlow) cont(t *turn, f *frame) status {
	if f.Step == stepRatingComment {
		if t.action == actSkip || t.action == "" && isSkipComment(t.text) {
			t.note(t.msg("rating_thanks"))
			return statusComplete
		}
		comment := strings.TrimSpace(t.text)
		if t.action != "" || comment == "" {
			askComment(t)
			return statusWaiting
		}
		if len(comment) > 2000 {
			comment = comment[:2000]
		}
		score, _ := strconv.Atoi(f.get("score"))
		recordRating(t, score, comment)
		t.note(t.msg("rating_thanks_comment"))
		return statusComplete
	}
	score := ratingScore(t)
	switch {
	case score > 0:
		f.set("score", strconv.Itoa(score))
		recordRating(t, score, "")
		f.Step = stepRatingComment
		askComment(t)
		return statusWaiting
	case t.action == actSkip || t.action == "" && isSkipComment(t.text):
		return statusComplete
	}
	// Something else than a rating: asked once more, then the conversation goes on without one.
	if f.bump("score"); f.Tries["score"] >= 2 {
		return statusComplete
	}
	t.note(t.msg("reason.rating"))
	askRating(t)
	return statusWaiting
}

func (ratingFlow) resume(t *turn, f *frame, child *frame, st status) status {
	if f.Step == stepRatingComment {
		askComment(t)
	} else {
		askRating(t)
	}
	return statusWaiting
}

func (ratingFlow) end(t *turn, f *frame) {}

// recordRating passes the rating on; without a Ratings it is only acknowledged. A failure to record
// is not the customer's problem: the conversation goes on.
func recordRating(t *turn, score int, comment string) {
	if r := t.e.cfg.Ratings; r != nil && score >= 1 && score <= 5 {
		_ = r.RecordRating(t.ctx, t.in.Conversation, score, comment)
	}
}

// ratingScore reads a score of 1 to 5: a button, "4", "4分", "五顆星", "4 stars", "★★★★"; 0 for none.
func ratingScore(t *turn) int {
	if v, ok := strings.CutPrefix(t.action, actRatePrefix); ok {
		if n, err := strconv.Atoi(v); err == nil && n >= 1 && n <= 5 {
			return n
		}
		return 0
	}
	if t.action != "" {
		return 0
	}
	s := squash(t.text)
	if n := strings.Count(t.text, "★"); n >= 1 && n <= 5 && strings.Trim(strings.TrimSpace(t.text), "★☆ ") == "" {
		return n
	}
	for _, w := range []string{"顆星", "颗星", "星", "分", "stars", "star", "points", "outof5", "/5"} {
		s = strings.TrimSuffix(s, w)
	}
	digits := map[string]int{"1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "一": 1, "二": 2, "兩": 2, "两": 2, "三": 3, "四": 4, "五": 5,
		"one": 1, "two": 2, "three": 3, "four": 4, "five": 5}
	return digits[s]
}

func isSkipComment(text string) bool {
	s := squash(text)
	switch s {
	case "略過", "略过", "跳過", "跳过", "不用", "不用了", "沒有", "没有", "沒了", "no", "nope", "none", "skip", "nothing", "nothanks", "沒有意見", "無":
		return true
	}
	return false
}
