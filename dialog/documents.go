package dialog

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"claimline/casesvc"
	"claimline/dialog/nlu"
)

const flowDocs = "submit_documents"

// Steps of the documents frame.
const (
	stepDocsCase  = "case"  // which case? (buttons case:<id>)
	stepDocsSend  = "send"  // waiting for files
	stepDocsKind  = "kind"  // which document is this file? (buttons kind:<id>)
	stepDocsRetry = "retry" // the case service failed; the files are kept
)

// Button values of the documents flow.
const (
	actCasePrefix = "case:"
	actKindPrefix = "kind:"
	actKindEach   = "kind:*" // the files are of different kinds: ask per file
	actDocsRetry  = "docs:retry"
)

// maxPendingFiles bounds the files kept in the state while they wait for a case or a kind.
const maxPendingFiles = 20

// pendingFile is a file the customer sent that is not attached yet: the attachment's metadata, the
// words sent with it (a hint of its kind) and its kind once known.
type pendingFile struct {
	Attachment
	Hint string `json:"hint,omitempty"`
	Kind string `json:"kind,omitempty"`
}

// resend is a document staff rejected and asked for again.
type resend struct {
	Case   string `json:"case"`
	Kind   string `json:"kind"`
	Reason string `json:"reason,omitempty"`
}

// docsFlow attaches the customer's files to a case (dialog.md "Documents"): the case is the one
// filed (or last sent documents) in this conversation, the one a rejected document is asked again
// for, or after the identity check one of the customer's cases still missing documents. Each file's
// kind is inferred when only one is missing (or the words with it name one), else asked. After the
// files it says what is still missing, from the same list as the first notice, or that the review
// starts.
type docsFlow struct{}

func (docsFlow) begin(t *turn, f *frame) status {
	if len(t.st.Files) == 0 {
		t.note(t.msg("docs_start"))
	}
	return docsNext(t, f)
}

func (docsFlow) cont(t *turn, f *frame) status {
	if len(t.in.Attachments) > 0 && f.Step != stepDocsRetry {
		// More files while a question is open: the same question, now about all of them.
		return docsNext(t, f)
	}
	a := t.action
	switch f.Step {
	case stepDocsCase:
		if id, ok := chosenCase(t, f); ok {
			f.set("case", id)
			f.Step = ""
			return docsNext(t, f)
		}
		t.note(t.msg("reason.docs_case"))
		return docsNext(t, f)
	case stepDocsKind:
		c, ok := docsCase(t, f)
		if !ok {
			return docsGone(t)
		}
		if a == actKindEach {
			f.set("_each", "1")
			return attachFiles(t, f, c)
		}
		kind := ""
		if k, ok := strings.CutPrefix(a, actKindPrefix); ok {
			kind = k
		} else if a == "" {
			kind = matchKind(t, c.MissingDocuments, t.text, false)
		}
		if kind == "" {
			t.note(t.msg("reason.docs_kind"))
			return attachFiles(t, f, c)
		}
		// One answer to "which document?" names every unsorted file unless they were said to differ.
		for i := range t.st.Files {
			if t.st.Files[i].Kind == "" {
				t.st.Files[i].Kind = kind
				if f.get("_each") == "1" {
					break
				}
			}
		}
		return attachFiles(t, f, c)
	case stepDocsRetry:
		if a == actDocsRetry || a == "" && confirmWords[squash(t.text)] {
			f.Step = ""
		}
		return docsNext(t, f)
	}
	// Waiting for files and words came instead: say again how to send them.
	return docsNext(t, f)
}

func (docsFlow) resume(t *turn, f *frame, child *frame, st status) status {
	if child != nil && child.Flow == flowIdentity && st != statusComplete {
		t.st.Files = nil
		return statusCancelled
	}
	return docsNext(t, f)
}

func (docsFlow) end(t *turn, f *frame) {}

// docsNext finds the case, then attaches the files or asks for them.
func docsNext(t *turn, f *frame) status {
	if f.Step == stepDocsRetry {
		docsFailed(t)
		return statusWaiting
	}
	if f.get("case") == "" {
		id, st, asked := pickCase(t, f)
		if asked {
			return st
		}
		f.set("case", id)
	}
	c, ok := docsCase(t, f)
	if !ok {
		return docsGone(t)
	}
	t.st.LastCase = c.ID // files sent later, even after a detour, go to the case chosen
	if len(t.st.Files) == 0 {
		f.Step = stepDocsSend
		how := "docs_send_how." + t.in.Channel
		if !t.e.msgs.has(how) {
			how = "docs_send_how.default"
		}
		t.say(t.msg("docs_send", "how", t.msg(how), "id", c.ID)+"\n"+docList(t, c.MissingDocuments),
			Button{Label: t.msg("btn.menu"), Value: actMenu})
		return statusWaiting
	}
	return attachFiles(t, f, c)
}

// pickCase returns the case the files are for, or asks (asked true, with the status to return).
func pickCase(t *turn, f *frame) (string, status, bool) {
	// A document staff asked for again, or the case of this conversation, needs no new check: the
	// case's notices come to this conversation.
	for _, r := range t.st.Resend {
		if c := boundCase(t, r.Case); c != nil && len(c.MissingDocuments) > 0 {
			return c.ID, 0, false
		}
	}
	if t.st.LastCase != "" {
		if c := boundCase(t, t.st.LastCase); c != nil && len(c.MissingDocuments) > 0 {
			return c.ID, 0, false
		}
	}
	if t.st.Verified == "" {
		t.note(t.msg("docs_identity"))
		return "", t.pushChild(flowIdentity, nil), true
	}
	open, err := openCases(t)
	switch {
	case err != nil:
		t.say(t.msg("reason.service_unavailable"), t.personButtons()...)
		t.st.Files = nil
		return "", statusCancelled, true
	case len(open) == 0:
		t.st.Files = nil
		t.menu("docs_no_case")
		return "", statusCancelled, true
	case len(open) == 1:
		return open[0].ID, 0, false
	}
	f.Step = stepDocsCase
	var bs []Button
	for _, c := range open {
		bs = append(bs, Button{Label: c.ID + " " + typeLabel(t, c.ClaimType), Value: actCasePrefix + c.ID})
	}
	t.say(t.msg("docs_which_case"), bs...)
	return "", statusWaiting, true
}

// openCases are the verified customer's cases still missing documents, newest first.
func openCases(t *turn) ([]*casesvc.Case, error) {
	cases, err := t.e.cfg.Cases.CasesByPolicy(t.ctx, t.st.Verified)
	if err != nil {
		return nil, err
	}
	var open []*casesvc.Case
	for _, c := range cases {
		if c.Status != casesvc.StatusClosed && len(c.MissingDocuments) > 0 {
			open = append(open, c)
		}
		if len(open) == 6 {
			break
		}
	}
	return open, nil
}

// chosenCase reads the answer to "which case?": a button or a case id typed.
func chosenCase(t *turn, f *frame) (string, bool) {
	id, ok := strings.CutPrefix(t.action, actCasePrefix)
	if !ok {
		id = strings.ToUpper(caseIDIn(t))
	}
	if id == "" || t.st.Verified == "" {
		return "", false
	}
	open, err := openCases(t)
	if err != nil {
		return "", false
	}
	for _, c := range open {
		if c.ID == id {
			return id, true
		}
	}
	return "", false
}

// boundCase returns the case when this conversation may send documents to it: the case's notices
// come here, or the customer verified the policy it is on. Else nil.
func boundCase(t *turn, id string) *casesvc.Case {
	c, err := t.e.cfg.Cases.Case(t.ctx, id)
	if err != nil || c.Status == casesvc.StatusClosed {
		return nil
	}
	if c.Conversation == t.in.Conversation || t.st.Verified != "" && c.PolicyNumber == t.st.Verified {
		return c
	}
	return nil
}

// docsCase reads the frame's case again (its missing list changes with every file).
func docsCase(t *turn, f *frame) (*casesvc.Case, bool) {
	c := boundCase(t, f.get("case"))
	return c, c != nil
}

// docsGone ends the flow when the case can no longer take documents (closed, or gone).
func docsGone(t *turn) status {
	t.st.Files = nil
	t.menu("docs_case_closed")
	return statusCancelled
}

// attachFiles attaches the waiting files in order, inferring or asking each one's kind, then says
// what is still missing.
func attachFiles(t *turn, f *frame, c *casesvc.Case) status {
	var done []string
	completed := false
	for len(t.st.Files) > 0 {
		p := &t.st.Files[0]
		if p.Kind == "" {
			p.Kind = inferKind(t, c, p)
		}
		if p.Kind == "" {
			for _, d := range done {
				t.note(d)
			}
			askKind(t, f, c)
			return statusWaiting
		}
		res, err := t.e.cfg.Cases.AddDocument(t.ctx, c.ID, casesvc.NewDocument{
			Kind: p.Kind, Filename: p.Filename, ContentType: p.ContentType, Size: p.Size, SHA256: p.SHA256,
			BlobRef: p.BlobRef, Channel: t.in.Channel, Conversation: t.in.Conversation, Actor: "customer",
		})
		switch casesvc.ErrorCode(err) {
		case "":
		case casesvc.EINVALID:
			// Not a document this case needs: say so, and ask again.
			for _, d := range done {
				t.note(d)
			}
			t.note(t.msg("reason.docs_not_needed", "doc", docLabel(t, p.Kind)))
			p.Kind = ""
			askKind(t, f, c)
			return statusWaiting
		case casesvc.ENOTFOUND, casesvc.EINVALIDTRANSITION:
			for _, d := range done {
				t.note(d)
			}
			return docsGone(t)
		default:
			// Nothing is lost: the files stay in the state and the customer can try again.
			for _, d := range done {
				t.note(d)
			}
			f.Step = stepDocsRetry
			docsFailed(t)
			return statusWaiting
		}
		name := fileName(p.Filename)
		if res.Duplicate {
			done = append(done, t.msg("docs_duplicate", "doc", docLabel(t, p.Kind), "file", name))
		} else {
			done = append(done, t.msg("docs_received", "doc", docLabel(t, p.Kind), "file", name))
		}
		t.st.Resend = dropResend(t.st.Resend, c.ID, p.Kind)
		t.st.Files = t.st.Files[1:]
		c = res.Case
		completed = completed || res.Completed
	}
	t.st.Files = nil
	t.st.LastCase = c.ID
	f.Step = ""
	for _, d := range done {
		t.note(d)
	}
	if completed || len(c.MissingDocuments) == 0 {
		t.note(t.msg("docs_complete", "id", c.ID, "days", strconv.Itoa(decisionDays(t, c))))
		t.menu("anything_else")
		return statusComplete
	}
	t.say(t.msg("docs_still_missing", "id", c.ID) + "\n" + docList(t, c.MissingDocuments) + "\n" + t.msg("docs_more"))
	return statusComplete
}

// docsFailed says the case service could not take the files now.
func docsFailed(t *turn) {
	t.say(t.msg("docs_failed"), Button{Label: t.msg("btn.retry"), Value: actDocsRetry},
		Button{Label: t.msg("btn.human_agent"), Value: nlu.IntentHumanAgent}, Button{Label: t.msg("btn.menu"), Value: actMenu})
}

// inferKind is the file's kind when there is no doubt: a document staff asked for again, the only
// one missing, or the one the words sent with the file (or its name) point at.
func inferKind(t *turn, c *casesvc.Case, p *pendingFile) string {
	for _, r := range t.st.Resend {
		if r.Case == c.ID {
			return r.Kind
		}
	}
	if len(c.MissingDocuments) == 1 {
		return c.MissingDocuments[0]
	}
	if k := matchKind(t, c.MissingDocuments, p.Hint, false); k != "" {
		return k
	}
	// A file name counts only when it holds a whole label ("診斷證明書_王小明.pdf"), not a part of one.
	return matchKind(t, c.MissingDocuments, strings.TrimSuffix(p.Filename, fileExt(p.Filename)), true)
}

// askKind asks which document the first unsorted file is: once for all of them when several came
// together ("are they all receipts?"), else per file.
func askKind(t *turn, f *frame, c *casesvc.Case) {
	f.Step = stepDocsKind
	var bs []Button
	for _, k := range c.MissingDocuments {
		bs = append(bs, Button{Label: docLabel(t, k), Value: actKindPrefix + k})
	}
	unsorted, first := 0, -1
	for i, p := range t.st.Files {
		if p.Kind == "" {
			unsorted++
			if first < 0 {
				first = i
			}
		}
	}
	if unsorted > 1 && f.get("_each") != "1" {
		bs = append(bs, Button{Label: t.msg("btn.kind_each"), Value: actKindEach})
		t.say(t.msg("docs_kind_all", "n", strconv.Itoa(unsorted)), bs...)
		return
	}
	name := fileName(t.st.Files[first].Filename)
	if len(t.st.Files) > 1 {
		t.say(t.msg("docs_kind_nth", "n", strconv.Itoa(first+1), "file", name), bs...)
		return
	}
	t.say(t.msg("docs_kind_one", "file", name), bs...)
}

// matchKind finds the one missing kind whose label the words name ("診斷證明書", "收據", "都是收據",
// "receipts"), "" when none or several. whole: only a whole label counts.
func matchKind(t *turn, kinds []string, text string, whole bool) string {
	s := squash(text)
	for _, w := range []string{"這是", "这是", "都是", "是", "的", "thisis", "theseare", "theyareall", "allof", "all", "my", "the"} {
		s = strings.TrimPrefix(s, w)
	}
	if utf8.RuneCountInString(s) < 2 {
		return ""
	}
	found := ""
	for _, k := range kinds {
		d, _ := t.catalog().Document(k)
		hit := false
		for _, l := range d.Label {
			// A label may offer alternatives: 道路交通事故當事人登記聯單/警方證明.
			for _, part := range strings.Split(l, "/") {
				p := squash(part)
				if p == "" {
					continue
				}
				if strings.Contains(s, p) || !whole && strings.Contains(p, s) {
					hit = true
				}
			}
		}
		if hit {
			if found != "" && found != k {
				return ""
			}
			found = k
		}
	}
	return found
}

func dropResend(rs []resend, caseID, kind string) []resend {
	var out []resend
	for _, r := range rs {
		if r.Case != caseID || r.Kind != kind {
			out = append(out, r)
		}
	}
	return out
}

// docLabel is a document kind's label from the catalog.
func docLabel(t *turn, kind string) string {
	d, _ := t.catalog().Document(kind)
	if l := d.Label.Get(t.lang()); l != "" {
		return l
	}
	return kind
}

// docList is the numbered list of missing documents, as the first notice shows it.
func docList(t *turn, kinds []string) string {
	var b strings.Builder
	for i, k := range kinds {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%d. %s", i+1, docLabel(t, k))
	}
	return b.String()
}

func decisionDays(t *turn, c *casesvc.Case) int {
	if c.FastTrack {
		return t.e.cfg.FastTrackDecisionDays
	}
	return t.e.cfg.DecisionDays
}

// fileName is the customer's file name, short enough to say back.
func fileName(name string) string {
	name = casesvc.CleanFilename(name)
	if utf8.RuneCountInString(name) > 40 {
		r := []rune(name)
		name = string(r[:37]) + "…"
	}
	return name
}

func fileExt(name string) string {
	if i := strings.LastIndexByte(name, '.'); i > 0 {
		return name[i:]
	}
	return ""
}

// received takes the files of a message. At the menu they start the documents flow; in the middle
// of something else they wait in the state until it is done, and the pending question is asked again.
func (e *Engine) received(t *turn) {
	for _, a := range t.in.Attachments {
		dup := false
		for _, p := range t.st.Files {
			dup = dup || p.ID != "" && p.ID == a.ID
		}
		if !dup && len(t.st.Files) < maxPendingFiles {
			t.st.Files = append(t.st.Files, pendingFile{Attachment: a, Hint: strings.TrimSpace(t.text)})
		}
	}
	top := t.top()
	switch {
	case top == nil:
		e.push(t, flowDocs)
	case top.Flow == flowDocs:
		e.settle(t, docsFlow{}.cont(t, top))
	default:
		t.note(t.msg("docs_kept"))
		e.resumeTop(t)
	}
}
