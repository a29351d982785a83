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
	// filled runs after a value is stored (to derive other slots).
	filled func(t *turn, f *frame, val string)
}

func (fd *field) active(t *turn, f *frame) bool { return fd.when == nil || fd.when(t, f) }

// fill takes every value it can from the current message. Only the asked field may be overwritten;
// the others are filled only while empty. It returns the reasons (message keys) for invalid values
// and whether the asked field got a value.
func fill(t *turn, f *frame, fields []*field, text string) (reasons []string, askedOK bool) {
	asked := f.Asked
	var taken []string
	try := func(fd *field, work string) string {
		isAsked := fd.name == asked
		if !isAsked && f.has(fd.name) {
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
				reasons = append(reasons, reason)
				if isAsked {
					f.bump(fd.name)
				}
				return work
			}
		}
		f.set(fd.name, val)
		if isAsked {
			askedOK = true
		}
		if fd.filled != nil {
			fd.filled(t, f, val)
		}
		return work
	}
	work := text
	var askedFree *field
	// The asked field goes first (its answer is the point of the message), free text last (it takes
	// what the typed fields left).
	for _, fd := range fields {
		if fd.name == asked && fd.active(t, f) {
			if fd.freeText {
				askedFree = fd
			} else {
				work = try(fd, work)
			}
		}
	}
	for _, fd := range fields {
		if fd.name != asked && fd.active(t, f) {
			work = try(fd, work)
		}
	}
	if askedFree != nil && strings.TrimSpace(text) != "" {
		raw := freeText(text, taken)
		val, reason := raw, ""
		if askedFree.validate != nil {
			val, reason = askedFree.validate(t, f, raw)
		}
		if reason != "" {
			reasons = append(reasons, reason)
			f.bump(askedFree.name)
		} else {
			f.set(askedFree.name, val)
			askedOK = true
			if askedFree.filled != nil {
				askedFree.filled(t, f, val)
			}
		}
	}
	if asked != "" && !askedOK && len(reasons) == 0 {
		for _, fd := range fields {
			if fd.name == asked && !f.has(asked) {
				f.bump(asked)
				if fd.missReason != "" {
					reasons = append(reasons, fd.missReason)
				}
			}
		}
	}
	return reasons, askedOK
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
