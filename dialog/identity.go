package dialog

import (
	"strings"
	"time"

	"claimline/casesvc"
)

const (
	flowClaim    = "file_claim"
	flowIdentity = "identity"
	flowProgress = "check_progress"
)

// identityFlow proves the customer holds the policy: policy number, national ID, birth date. On
// success it sets state.Verified and leaves the verified person in its slots for the caller.
type identityFlow struct{}

var identityFields = []*field{
	{
		name:       "policy",
		prompt:     simplePrompt("ask.policy"),
		missReason: "reason.policy_format",
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			n, e, ok := t.e.nlu.PolicyNumber(text)
			return n, e.Text, ok
		},
		validate: func(t *turn, f *frame, raw string) (string, string) {
			if t.st.locked(raw) {
				return "", "reason.policy_locked"
			}
			p, err := t.e.cfg.Cases.Policy(t.ctx, raw)
			switch {
			case casesvc.ErrorCode(err) == casesvc.ENOTFOUND:
				return "", "reason.policy_not_found"
			case err != nil:
				return "", "reason.service_unavailable"
			case p.Status != "active":
				return "", "reason.policy_inactive"
			}
			// On SMS the sender's number matching the policy's phone is the second factor: the
			// birth date is then not asked (domain.md "Claim intake").
			delete(f.Slots, "_sms")
			if smsFactor(t, p) {
				f.set("_sms", "1")
			}
			return raw, ""
		},
	},
	{
		name:       "national_id",
		prompt:     simplePrompt("ask.national_id"),
		missReason: "reason.national_id_format",
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			// The old two-letter resident format looks like a policy number, so only when asked.
			id, ok, found := t.e.nlu.NationalIDCandidate(text, asked)
			if !found {
				return "", "", false
			}
			if !ok {
				return "!" + id, id, true
			}
			return id, id, true
		},
		validate: func(t *turn, f *frame, raw string) (string, string) {
			if strings.HasPrefix(raw, "!") {
				return "", "reason.national_id_checksum"
			}
			return raw, ""
		},
	},
	{
		name:       "birth_date",
		prompt:     simplePrompt("ask.birth_date"),
		missReason: "reason.birth_date_format",
		when:       func(t *turn, f *frame) bool { return f.get("_sms") != "1" },
		extract: func(t *turn, f *frame, text string, asked bool) (string, string, bool) {
			if !asked && !f.has("national_id") {
				// A bare date in the first message is far more likely the incident than a birthday.
				return "", "", false
			}
			d, ok := t.e.nlu.BirthDate(text)
			if !ok {
				return "", "", false
			}
			return d.Format(time.DateOnly), "", true
		},
		validate: func(t *turn, f *frame, raw string) (string, string) {
			d, err := time.ParseInLocation(time.DateOnly, raw, t.e.cfg.Location)
			if err != nil || d.After(t.now) || d.Year() < 1900 {
				return "", "reason.birth_date_invalid"
			}
			return raw, ""
		},
	},
}

// identityPrefill takes what it can for the identity form from a message and returns the text left
// for other forms (so a birth date is not also taken as the incident date).
func identityPrefill(t *turn, text string) (map[string]string, string) {
	f := &frame{Flow: flowIdentity}
	if n, e, ok := t.e.nlu.PolicyNumber(text); ok {
		f.set("policy_raw", n)
		text = strings.Replace(text, e.Text, " ", 1)
	}
	if id, _, found := t.e.nlu.NationalIDCandidate(text, false); found {
		f.set("id_raw", id)
		text = strings.Replace(text, id, " ", 1)
		text = strings.Replace(text, strings.ToLower(id), " ", 1)
		if d, ok := t.e.nlu.BirthDate(text); ok {
			f.set("birth_raw", d.Format(time.DateOnly))
			// Drop the date too; nlu does not say where it was, so drop digit runs with / - .
			text = stripDates(text)
		}
	}
	return f.Slots, text
}

// withoutIdentity is a message answering the identity check minus its identity values (policy
// number, ID number, birth date), for what it may also say about the incident. ok is false when a
// birth date cannot be told apart from an incident date in it.
func withoutIdentity(t *turn, text, asked string) (string, bool) {
	if _, e, ok := t.e.nlu.PolicyNumber(text); ok {
		text = strings.Replace(text, e.Text, " ", 1)
	}
	if id, _, found := t.e.nlu.NationalIDCandidate(text, asked == "national_id"); found {
		text = strings.Replace(text, id, " ", 1)
		text = strings.Replace(text, strings.ToLower(id), " ", 1)
	}
	if asked == "birth_date" {
		if d, ok := t.e.nlu.BirthDate(text); ok {
			text = stripDates(text)
			if w, ok := t.e.nlu.IncidentTime(text, t.now); ok && w.Time.Format(time.DateOnly) == d.Format(time.DateOnly) {
				return "", false
			}
		}
	}
	return text, true
}

// stripDates removes date-shaped tokens (74/3/2, 1985-03-02) after a birth date was taken.
func stripDates(text string) string {
	var out []string
	for _, w := range strings.Fields(text) {
		if strings.ContainsAny(w, "/-.") && strings.IndexFunc(w, func(r rune) bool { return r >= '0' && r <= '9' }) >= 0 &&
			strings.Trim(w, "0123456789/-.") == "" {
			continue
		}
		out = append(out, w)
	}
	return strings.Join(out, " ")
}

func (identityFlow) begin(t *turn, f *frame) status {
	// Values found in the caller's first message go through the same validators as answers.
	pre := f.Slots
	f.Slots = nil
	var text []string
	for _, k := range []string{"policy_raw", "id_raw", "birth_raw"} {
		if v := pre[k]; v != "" {
			text = append(text, v)
		}
	}
	if len(text) > 0 {
		r := fill(t, f, identityFields, strings.Join(text, " "))
		return identityNext(t, f, r.reasons)
	}
	return identityNext(t, f, nil)
}

func (identityFlow) cont(t *turn, f *frame) status {
	r := fill(t, f, identityFields, t.text)
	return identityNext(t, f, r.reasons)
}

func (identityFlow) resume(t *turn, f *frame, child *frame, st status) status {
	if fd := nextMissing(t, f, identityFields); fd != nil {
		ask(t, f, fd, nil)
	}
	return statusWaiting
}

func (identityFlow) end(t *turn, f *frame) {}

// identityNext asks for what is missing or, with all three, checks them against the policy. The
// customer is never told which of ID and birth date did not match.
func identityNext(t *turn, f *frame, reasons []string) status {
	if fd := nextMissing(t, f, identityFields); fd != nil {
		ask(t, f, fd, reasons)
		return statusWaiting
	}
	number := f.get("policy")
	p, err := t.e.cfg.Cases.Policy(t.ctx, number)
	if err != nil {
		delete(f.Slots, "policy")
		ask(t, f, identityFields[0], []string{"reason.service_unavailable"})
		return statusWaiting
	}
	who := matchPerson(p, f.get("national_id"), f.get("birth_date"))
	bySMS := false
	if who == nil && f.get("_sms") == "1" {
		if smsFactor(t, p) && strings.EqualFold(p.Holder.NationalID, f.get("national_id")) {
			who, bySMS = &p.Holder, true
		} else if !f.has("birth_date") {
			// The number proves the holder only; another person on the policy (the insured) gives
			// the birth date as usual. Not a failed try yet.
			f.set("_sms", "0")
			ask(t, f, identityFields[2], nil)
			return statusWaiting
		}
	}
	if who != nil {
		t.st.Verified = number
		w := *who
		if w.Phone == "" {
			w.Phone = p.Holder.Phone // the insured may have no phone of their own
		}
		w.Email = ""
		t.st.Who = &w
		f.set("covered", strings.Join(p.ClaimTypes, ","))
		f.Asked = ""
		if bySMS {
			t.note(t.msg("identity_ok_sms"))
		} else {
			t.note(t.msg("identity_ok"))
		}
		return statusComplete
	}
	if t.st.IDFails == nil {
		t.st.IDFails = map[string]int{}
	}
	t.st.IDFails[number]++
	delete(f.Slots, "national_id")
	delete(f.Slots, "birth_date")
	if f.get("_sms") == "0" && smsFactor(t, p) {
		f.set("_sms", "1")
	}
	if t.st.IDFails[number] >= 3 {
		// Locked for this conversation: a person has to take it from here.
		t.st.Locked = append(t.st.Locked, number)
		t.say(t.msg("identity_locked"), t.personButtons()...)
		return statusCancelled
	}
	ask(t, f, identityFields[1], []string{"reason.identity_mismatch"})
	return statusWaiting
}

// matchPerson returns the holder or insured whose ID and birth date both match, else nil.
func matchPerson(p *casesvc.Policy, id, birth string) *casesvc.Person {
	for _, who := range []*casesvc.Person{&p.Holder, p.Insured} {
		if who != nil && who.NationalID != "" && strings.EqualFold(who.NationalID, id) && who.BirthDate == birth {
			return who
		}
	}
	return nil
}

// smsFactor says the message came by SMS from the policy's phone number (the holder's).
func smsFactor(t *turn, p *casesvc.Policy) bool {
	if t.in.Channel != "sms" || p == nil {
		return false
	}
	a, b := phoneDigits(t.in.Contact), phoneDigits(p.Holder.Phone)
	return a != "" && len(a) >= 8 && a == b
}

// phoneDigits is a phone number as its E.164 digits: +886912345678, 0912345678 and
// 0912-345-678 are all 886912345678.
func phoneDigits(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	d := b.String()
	if strings.HasPrefix(d, "0") && !strings.HasPrefix(d, "00") {
		d = "886" + d[1:]
	}
	return strings.TrimPrefix(d, "00")
}
