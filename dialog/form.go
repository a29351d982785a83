package dialog

import "strings"

// field is one slot of a form (Rasa style): how to ask, how to find it in a message, how to check it,
// and when it applies. Asking for the first missing field is engine logic (askNext), so a flow is
// mostly a list of fields.
type field struct {
	name string
	// prompt is the question and its buttons.
	prompt func(t *turn, f *frame) (string, []Button)
	// extract finds a raw value in text. asked is true when the last question was about this field;
	// free-text fields only answer then. span is the part of the text used, so other fields skip it.
	extract func(t *turn, f *frame, text string, asked bool) (raw, span string, ok bool)
	// validate normalises raw or returns a reason message key.
	validate func(t *turn, f *frame, raw string) (val, reason string)
	// when says whether the field applies (nil: always).
	when func(t *turn, f *frame) bool
	// missReason is said when the asked field found nothing in the answer ("" : say the prompt again).
	missReason string
	// freeText fields take the rest of the answer when asked.
	freeText bool
	// verbatim free-text fields keep the whole answer: the customer's own words (other fields still
	// take their values from it).
	verbatim bool
	// filled runs after a value is stored (to derive other slots).
	filled func(t *turn, f *frame, val string)
	// merge combines a new value with the old one it replaces ("不對，是前天" keeps the time of day).
	merge func(t *turn, f *frame, old, val string) string
}

func (fd *field) active(t *turn, f *frame) bool { return fd.when == nil || fd.when(t, f) }

// fillResult is what one message did to a form.
type fillResult struct {
	// reasons are message keys for invalid values, said before the next question.
	reasons []string
	// askedOK is true when the asked field got a value.
	askedOK bool
	// redirected lists the fields filled from an answer that held only their values, given to a
	// free-text question ("ABC-1234" to "describe the damage"): the question is asked again.
	redirected []string
}

// fill takes every value it can from the current message. Only the asked field may be overwritten;
// the others are filled only while empty (a field known to be unknown, "", counts as empty), except
// when the whole answer to a free-text question is values of other fields: then those fields take
// them, overwriting, and the free-text field stays unanswered.
func fill(t *turn, f *frame, fields []*field, text string) fillResult {
	var res fillResult
	asked := f.Asked
	var taken []string
	store := func(fd *field, val string) {
		if old := f.get(fd.name); old != "" && fd.merge != nil {
			val = fd.merge(t, f, old, val)
		}
		f.set(fd.name, val)
		if fd.filled != nil {
			fd.filled(t, f, val)
		}
	}
	try := func(fd *field, work string) string {
		isAsked := fd.name == asked
		if !isAsked && f.get(fd.name) != "" {
			return work
		}
		raw, span, ok := fd.extract(t, f, work, isAsked)
		if !ok {
			return work
		}
		if span != "" {
			taken = append(taken, span)
			work = strings.Replace(work, span, " ", 1)
		}
		val := raw
		if fd.validate != nil {
			var reason string
			if val, reason = fd.validate(t, f, raw); reason != "" {
				res.reasons = append(res.reasons, reason)
				if isAsked {
					f.bump(fd.name)
				}
				return work
			}
		}
		store(fd, val)
		if isAsked {
			res.askedOK = true
		}
		return work
	}
	var askedFree *field
	for _, fd := range fields {
		if fd.name == asked && fd.active(t, f) && fd.freeText {
			askedFree = fd
		}
	}
	if askedFree != nil {
		if vals := onlyValues(t, f, fields, text); len(vals) > 0 {
			for _, v := range vals {
				store(v.fd, v.val)
				res.redirected = append(res.redirected, v.fd.name)
			}
			return res
		}
	}
	work := text
	// The asked field goes first (its answer is the point of the message), free text last (it takes
	// what the typed fields left).
	for _, fd := range fields {
		if fd.name == asked && fd.active(t, f) && !fd.freeText {
			work = try(fd, work)
		}
	}
	for _, fd := range fields {
		if fd.name != asked && fd.active(t, f) {
			work = try(fd, work)
		}
	}
	if askedFree != nil && strings.TrimSpace(text) != "" {
		raw := strings.TrimSpace(text)
		if !askedFree.verbatim {
			raw = freeText(text, taken)
		}
		val, reason := raw, ""
		if askedFree.validate != nil {
			val, reason = askedFree.validate(t, f, raw)
		}
		if reason != "" {
			res.reasons = append(res.reasons, reason)
			f.bump(askedFree.name)
		} else {
			store(askedFree, val)
			res.askedOK = true
		}
	}
	if asked != "" && !res.askedOK && len(res.reasons) == 0 {
		for _, fd := range fields {
			if fd.name == asked && !f.has(asked) {
				f.bump(asked)
				if fd.missReason != "" {
					res.reasons = append(res.reasons, fd.missReason)
				}
			}
		}
	}
	return res
}

type foundValue struct {
	fd  *field
	val string
}

// onlyValues returns the typed fields' valid values when a message holds nothing else (besides
// filler such as "about", "車牌是"), else nil.
func onlyValues(t *turn, f *frame, fields []*field, text string) []foundValue {
	var out []foundValue
	work := text
	for _, fd := range fields {
		if fd.name == f.Asked || fd.freeText || !fd.active(t, f) {
			continue
		}
		raw, span, ok := fd.extract(t, f, work, false)
		if !ok || span == "" {
			continue
		}
		val := raw
		if fd.validate != nil {
			var reason string
			if val, reason = fd.validate(t, f, raw); reason != "" {
				continue
			}
		}
		work = strings.Replace(work, span, " ", 1)
		out = append(out, foundValue{fd, val})
	}
	if len(out) == 0 || !onlyFiller(work) {
		return nil
	}
	return out
}

func (f *frame) bump(name string) {
	if f.Tries == nil {
		f.Tries = map[string]int{}
	}
	f.Tries[name]++
}

// nextMissing is the first active field without a value.
func nextMissing(t *turn, f *frame, fields []*field) *field {
	for _, fd := range fields {
		if fd.active(t, f) && !f.has(fd.name) {
			return fd
		}
	}
	return nil
}

// ask says the reasons and the question for fd. After three misses on one field it also offers a
// person, and the customer can still answer.
func ask(t *turn, f *frame, fd *field, reasons []string) {
	for _, r := range reasons {
		t.note(t.msg(r))
	}
	f.Asked = fd.name
	q, bs := fd.prompt(t, f)
	deadEnd := false
	for _, r := range reasons {
		deadEnd = deadEnd || deadEndReasons[r]
	}
	if f.Tries[fd.name] >= 3 || deadEnd {
		f.Tries[fd.name] = 0
		t.note(q)
		t.say(t.msg("offer_person"), t.personButtons()...)
		return
	}
	t.say(q, bs...)
}

// deadEndReasons are answers the customer cannot fix by typing again; a person is offered at once.
var deadEndReasons = map[string]bool{"reason.policy_locked": true, "reason.policy_inactive": true, "reason.service_unavailable": true}

// simplePrompt asks a message key with no buttons.
func simplePrompt(key string) func(t *turn, f *frame) (string, []Button) {
	return func(t *turn, f *frame) (string, []Button) { return t.msg(key), nil }
}
