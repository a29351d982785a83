package dialog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"claimline/casesvc"
	"claimline/dialog/nlu"
)

// NLU is what the engine needs from understanding. *nlu.Builtin plus the package functions
// (see BuiltinNLU) satisfy it; an external endpoint can be swapped in behind the same methods.
type NLU interface {
	Parse(ctx context.Context, text, lang string, now time.Time) (nlu.Result, error)
	IncidentTime(text string, now time.Time) (nlu.When, bool)
	BirthDate(text string) (time.Time, bool)
	Amount(text string) (float64, nlu.Entity, bool)
	PolicyNumber(text string) (string, nlu.Entity, bool)
	NationalIDCandidate(text string, allowOldResident bool) (id string, checksumOK bool, found bool)
	Phone(text string) (string, nlu.Entity, bool)
	DetectLang(text string) string
}

// builtinNLU adds nlu's package functions to a *nlu.Builtin so it satisfies NLU.
type builtinNLU struct{ *nlu.Builtin }

func (builtinNLU) NationalIDCandidate(text string, allowOld bool) (string, bool, bool) {
	return nlu.NationalIDCandidate(text, allowOld)
}
func (builtinNLU) Phone(text string) (string, nlu.Entity, bool) { return nlu.Phone(text) }
func (builtinNLU) DetectLang(text string) string                { return nlu.DetectLang(text) }

// BuiltinNLU adapts the built-in parser to the NLU interface.
func BuiltinNLU(b *nlu.Builtin) NLU { return builtinNLU{b} }

// HandoffRequest is what a person taking over receives: why, and what the form holds so far.
type HandoffRequest struct {
	Conversation string
	Channel      string
	Lang         string
	Reason       string            // customer_asked, repeated_misunderstanding, identity_failed, field_retries, complaint, angry
	Flow         string            // the flow in progress, "" at the menu
	Slots        map[string]string // the fields filled so far (personal data: never log)
	PolicyNumber string            // the verified policy, if any
}

// Handoff passes a conversation to a person. Nil in Config means no person is reachable on these
// channels yet; the bot then says so honestly and gives the hotline.
type Handoff interface {
	RequestHandoff(ctx context.Context, r HandoffRequest) error
}

// Config configures the engine. Zero values get defaults.
type Config struct {
	Cases    Cases          // required
	NLU      NLU            // default: the built-in parser in Location
	Location *time.Location // default Asia/Taipei
	FormTTL  time.Duration  // how long a quiet form is kept; default 24h
	Handoff  Handoff        // optional
	// Ratings records the satisfaction rating after a handback; optional (nil: only acknowledged).
	Ratings Ratings
	// IntentThreshold is the confidence below which the menu asks a clarifying question; default 0.5.
	IntentThreshold float64
	// DecisionDays / FastTrackDecisionDays are told to the customer as "within N days after your
	// documents are complete"; defaults follow casesvc (10) and the green channel (5).
	DecisionDays          int
	FastTrackDecisionDays int
	// ComplaintFirstResponseDays / ComplaintResolutionDays are told to a complainant whose complaint
	// was queued during an outage (a filed one carries its own deadlines); defaults follow casesvc (7, 30).
	ComplaintFirstResponseDays int
	ComplaintResolutionDays    int
	// Now is used only when an Input has no time; default time.Now.
	Now func() time.Time
}

// Engine runs conversations. All per-conversation data is in the state bytes; states caches the
// last few decoded, as a shortcut only (see stateCache).
type Engine struct {
	cfg    Config
	nlu    NLU
	msgs   *catalog
	flows  map[string]flow
	states stateCache
}

// New checks the configuration, loads the message catalogs and registers the flows.
func New(cfg Config) (*Engine, error) {
	if cfg.Cases == nil {
		return nil, errors.New("dialog: Config.Cases is required")
	}
	if cfg.Cases.Catalog() == nil {
		return nil, errors.New("dialog: the case service has no catalog")
	}
	if cfg.Location == nil {
		loc, err := time.LoadLocation("Asia/Taipei")
		if err != nil {
			loc = time.FixedZone("Asia/Taipei", 8*60*60) // no tzdata on the host; Taiwan has no DST
		}
		cfg.Location = loc
	}
	if cfg.FormTTL <= 0 {
		cfg.FormTTL = 24 * time.Hour
	}
	if cfg.IntentThreshold <= 0 {
		cfg.IntentThreshold = 0.5
	}
	if cfg.DecisionDays <= 0 {
		cfg.DecisionDays = casesvc.DefaultDecisionDays
	}
	if cfg.FastTrackDecisionDays <= 0 {
		cfg.FastTrackDecisionDays = 5
	}
	if cfg.ComplaintFirstResponseDays <= 0 {
		cfg.ComplaintFirstResponseDays = casesvc.DefaultFirstResponseDays
	}
	if cfg.ComplaintResolutionDays <= 0 {
		cfg.ComplaintResolutionDays = casesvc.DefaultResolutionDays
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.NLU == nil {
		b, err := nlu.New(nlu.Config{Location: cfg.Location})
		if err != nil {
			return nil, fmt.Errorf("dialog: nlu: %w", err)
		}
		cfg.NLU = BuiltinNLU(b)
	}
	msgs, err := loadCatalog()
	if err != nil {
		return nil, err
	}
	guardEffects(&cfg) // see effects.go: a turn may run before its message is stored
	e := &Engine{cfg: cfg, nlu: cfg.NLU, msgs: msgs}
	// Flows are registered here, by id, so the list of what the bot can do is in one place.
	e.flows = map[string]flow{
		flowClaim:     claimFlow{},
		flowIdentity:  identityFlow{},
		flowProgress:  progressFlow{},
		flowDocs:      docsFlow{},
		flowRating:    ratingFlow{},
		flowComplaint: complaintFlow{},
	}
	return e, nil
}

// stateVersion changes when the state's shape changes; an older state is dropped, not misread.
const stateVersion = 1

// state is everything the engine remembers about one conversation. It is personal data: the
// caller stores it like a transcript and never logs it.
type state struct {
	V         int       `json:"v"`
	Lang      string    `json:"lang"`
	LangFixed bool      `json:"lang_fixed,omitempty"` // detected from a real message or chosen
	Last      time.Time `json:"last,omitzero"`
	Stack     []*frame  `json:"stack,omitempty"`
	// Verified is the policy whose holder proved their identity in this conversation.
	Verified string          `json:"verified,omitempty"`
	Who      *casesvc.Person `json:"who,omitempty"`      // the verified person (holder or insured)
	IDFails  map[string]int  `json:"id_fails,omitempty"` // failed identity checks per policy
	Locked   []string        `json:"locked,omitempty"`   // policies locked after three failures
	Misses   int             `json:"misses,omitempty"`   // misunderstood at the menu, in a row
	// Files are files the customer sent that are not attached to a case yet (metadata only; the
	// bytes are in the gateway's store): they wait for the identity check, the case or the kind.
	Files []pendingFile `json:"files,omitempty"`
	// LastCase is the case filed, or last sent documents, in this conversation: later files go there.
	LastCase string `json:"last_case,omitempty"`
	// Resend are documents staff rejected and asked for again (document_rejected notices): the next
	// file for that case is that kind.
	Resend []resend `json:"resend,omitempty"`
	// Emergency is the disaster event the customer was told about (greeting or claim), so a claim
	// does not repeat it.
	Emergency string `json:"emergency,omitempty"`
	// NoticeCase is the case of the last rejection notice: a complaint started from its button
	// offers that case first.
	NoticeCase string `json:"notice_case,omitempty"`
}

// frame is one flow in progress: its step, its slot values and its retry counts.
type frame struct {
	Flow  string            `json:"flow"`
	Step  string            `json:"step,omitempty"`
	Asked string            `json:"asked,omitempty"` // the field the last question asked for
	Slots map[string]string `json:"slots,omitempty"`
	Tries map[string]int    `json:"tries,omitempty"`
}

func (f *frame) get(k string) string { return f.Slots[k] }
func (f *frame) has(k string) bool   { _, ok := f.Slots[k]; return ok }
func (f *frame) set(k, v string) {
	if f.Slots == nil {
		f.Slots = map[string]string{}
	}
	f.Slots[k] = v
}

func (s *state) locked(policy string) bool {
	for _, p := range s.Locked {
		if p == policy {
			return true
		}
	}
	return false
}

// status is what a flow says about itself after a call.
type status int

const (
	statusWaiting   status = iota // asked something, waiting for the customer
	statusComplete                // done; the caller resumes
	statusCancelled               // gave up or was left; the caller decides
)

// flow is the one interface every flow implements (Bot Framework style). Each call returns the status
// of the frame on top of the stack after the call: a flow that pushes a child returns the child's status.
type flow interface {
	begin(t *turn, f *frame) status
	cont(t *turn, f *frame) status
	// resume is called when a child flow ended (child non-nil) or after the engine answered a
	// digression itself (child nil: say the current question again).
	resume(t *turn, f *frame, child *frame, st status) status
	end(t *turn, f *frame)
}

// Turn runs one input against a conversation's state and returns the new state and the replies.
// It depends only on its arguments and on what Cases returns.
func (e *Engine) Turn(ctx context.Context, stateIn []byte, in Input) ([]byte, []Reply, error) {
	st := e.states.take(in.Conversation, stateIn)
	if st == nil {
		st = &state{}
		if len(stateIn) > 0 {
			if err := decodeState(stateIn, st); err != nil || st.V != stateVersion {
				st = &state{}
			}
		}
	}
	if st.V == 0 {
		st.V = stateVersion
		st.Lang = normLang(in.Lang)
	}
	now := in.At
	if now.IsZero() {
		now = e.cfg.Now()
	}
	t := &turn{e: e, ctx: ctx, in: in, now: now.In(e.cfg.Location), st: st, text: in.Text, action: in.Action}
	e.run(t)
	if in.Event != EventNotice {
		// A notice is not the customer coming back: it does not keep a quiet form alive.
		st.Last = t.now
	}
	out, plain, err := encodeState(st)
	if err != nil {
		return stateIn, nil, fmt.Errorf("dialog: encode state: %w", err)
	}
	if plain && canonical(st) {
		e.states.put(in.Conversation, bytes.Clone(out), st) // its own copy: out is the caller's
	}
	t.flush()
	return out, t.out, nil
}

func normLang(l string) string {
	if l == "en" || len(l) > 2 && l[:3] == "en-" {
		return "en"
	}
	return "zh-TW"
}

func (e *Engine) run(t *turn) {
	st := t.st
	switch t.in.Event {
	case EventNotice:
		e.notice(t)
		return
	case EventHandback:
		// The time a person held the conversation does not count against the form: it was kept
		// for the handback.
		e.handback(t)
		return
	}
	if !st.Last.IsZero() && t.now.Sub(st.Last) > e.cfg.FormTTL {
		// A quiet form is dropped whole (nothing half-filled is ever submitted), and so is the
		// identity proved for it.
		if len(st.Stack) > 0 {
			t.note(t.msg("form_expired"))
		}
		st.Stack = nil
		st.Verified, st.Who, st.LastCase = "", nil, ""
	}
	if t.in.Event == EventStart {
		if len(st.Stack) > 0 {
			t.note(t.msg("welcome_back"))
			e.resumeTop(t)
			return
		}
		t.greet()
		return
	}
	if len(t.in.Attachments) > 0 {
		e.received(t)
		return
	}
	if t.action != "" {
		e.handleAction(t)
		return
	}
	e.handleText(t)
}

// handleAction runs a pressed button: global values first, then the flow on top.
func (e *Engine) handleAction(t *turn) {
	a := t.action
	switch {
	case a == actMenu || a == nlu.IntentCancel:
		e.cancel(t)
		return
	case a == nlu.IntentHelp:
		e.help(t)
		return
	case a == nlu.IntentHumanAgent:
		e.handoff(t, "customer_asked")
		return
	case strings.HasPrefix(a, actHandoffPrefix):
		// A person offered for a reason (a complaint just filed, an angry message).
		reason := strings.TrimPrefix(a, actHandoffPrefix)
		if reason != reasonComplaint && reason != reasonAngry {
			reason = "customer_asked"
		}
		e.handoff(t, reason)
		return
	case len(a) > 5 && a[:5] == "lang:":
		e.switchLang(t, normLang(a[5:]))
		return
	}
	if top := t.top(); top != nil {
		e.settle(t, e.flows[top.Flow].cont(t, top))
		return
	}
	e.menuIntent(t, a)
}

func (e *Engine) handleText(t *turn) {
	st := t.st
	text := t.text
	if !st.LangFixed {
		if l := e.nlu.DetectLang(text); l != "" {
			st.Lang = l
			st.LangFixed = true
		}
	}
	if l, ok := langSwitch(text); ok {
		e.switchLang(t, l)
		return
	}
	res := t.parse()
	intent, conf := res.Intent.Name, res.Intent.Confidence
	top := t.top()
	if top != nil && top.Flow == flowDocs && top.Step == stepDocsSend && len(st.Stack) == 1 && len(st.Files) == 0 {
		// Waiting for files and the customer says something instead: the menu takes it (a file sent
		// later still finds the case).
		st.Stack = nil
		top = nil
	}
	if top != nil && top.Flow == flowComplaint && top.Step == stepComplaintOffer && len(st.Stack) == 1 && !offerAnswer(t) {
		// The complaint is filed and a person was offered; the customer moved on: the menu takes it.
		st.Stack = nil
		top = nil
	}
	angry := isAngry(text)
	if g := globalIntent(text, intent, conf, res, top != nil); g != "" {
		switch g {
		case nlu.IntentCancel:
			e.cancel(t)
		case nlu.IntentHelp:
			e.help(t)
		case nlu.IntentHumanAgent:
			reason := "customer_asked"
			if angry {
				reason = reasonAngry
			}
			e.handoff(t, reason)
		}
		return
	}
	if angry && e.offerPersonToAngry(t, top) {
		return
	}
	if top != nil {
		// A progress question in the middle of a form is answered, then the form goes on.
		if top.Flow == flowClaim && st.Verified != "" && isProgressQuestion(text, res) {
			e.push(t, flowProgress)
			return
		}
		// Incident details given while the identity check asks its questions are kept for the claim.
		if n := len(st.Stack); top.Flow == flowIdentity && n > 1 && st.Stack[n-2].Flow == flowClaim {
			absorb(t, st.Stack[n-2], top)
		}
		e.settle(t, e.flows[top.Flow].cont(t, top))
		return
	}
	// At the menu. Telling what happened is filing a claim, whatever the classifier thinks, unless
	// it is clearly about an existing case or a complaint.
	switch {
	case isProgressQuestion(text, res):
		intent, conf = nlu.IntentCheckProgress, 1
	case intent == nlu.IntentComplaint && conf >= e.cfg.IntentThreshold:
	case looksLikeIncident(text):
		intent, conf = nlu.IntentFileClaim, 1
	}
	if intent == nlu.IntentOutOfScope && conf >= e.cfg.IntentThreshold {
		// Not something this service does: say what it does, with the menu; no flow is forced on
		// the customer. It still counts as a miss: twice in a row, a person is offered.
		if t.st.Misses++; t.st.Misses >= 2 {
			t.st.Misses = 0
			t.say(t.msg("misunderstood_twice"), t.personButtons()...)
			return
		}
		t.menu("out_of_scope")
		return
	}
	if conf < e.cfg.IntentThreshold || intent == nlu.IntentOutOfScope || intent == nlu.IntentAffirm || intent == nlu.IntentDeny ||
		closeCall(intent, conf, res) {
		e.clarify(t, res)
		return
	}
	e.menuIntent(t, intent)
}

// closeCall says the two likeliest intents are both menu entries and too close to pick one ("my
// claim": its progress, or a new one?): asking is better than guessing.
func closeCall(intent string, conf float64, res nlu.Result) bool {
	if conf >= 1 || len(res.IntentRanking) < 2 || res.IntentRanking[0].Name != intent {
		return false
	}
	second := res.IntentRanking[1]
	return isMenuIntent(intent) && isMenuIntent(second.Name) && conf-second.Confidence < 0.35
}

// menuIntent starts what the customer chose at the menu.
func (e *Engine) menuIntent(t *turn, intent string) {
	t.st.Misses = 0
	switch intent {
	case nlu.IntentFileClaim:
		e.push(t, flowClaim)
	case nlu.IntentCheckProgress:
		e.push(t, flowProgress)
	case nlu.IntentSubmitDocuments:
		e.push(t, flowDocs)
	case nlu.IntentComplaint:
		e.push(t, flowComplaint)
	case nlu.IntentHumanAgent:
		e.handoff(t, "customer_asked")
	case nlu.IntentHelp:
		e.help(t)
	case nlu.IntentGoodbye:
		t.say(t.msg("goodbye"))
	case nlu.IntentGreeting:
		t.greet()
	default:
		t.menu("menu_prompt")
	}
}

// clarify asks which of the likeliest menu entries was meant; the second miss in a row offers a person.
func (e *Engine) clarify(t *turn, res nlu.Result) {
	t.st.Misses++
	if t.st.Misses >= 2 {
		t.st.Misses = 0
		t.say(t.msg("misunderstood_twice"), t.personButtons()...)
		return
	}
	var bs []Button
	for _, in := range res.IntentRanking {
		if len(bs) == 3 {
			break
		}
		if isMenuIntent(in.Name) && in.Confidence >= 0.05 {
			bs = append(bs, Button{Label: t.msg("menu." + in.Name), Value: in.Name})
		}
	}
	if len(bs) == 0 {
		t.menu("clarify_none")
		return
	}
	t.say(t.msg("clarify"), bs...)
}

func isMenuIntent(s string) bool {
	for _, m := range menuIntents {
		if m == s {
			return true
		}
	}
	return false
}

var menuIntents = []string{nlu.IntentFileClaim, nlu.IntentSubmitDocuments, nlu.IntentCheckProgress, nlu.IntentComplaint, nlu.IntentHumanAgent}

// push starts a flow on top of the stack.
func (e *Engine) push(t *turn, id string) {
	f := &frame{Flow: id}
	t.st.Stack = append(t.st.Stack, f)
	e.settle(t, e.flows[id].begin(t, f))
	return
}

// pushChild starts a flow from inside another; the caller returns the status it gets.
func (t *turn) pushChild(id string, slots map[string]string) status {
	f := &frame{Flow: id, Slots: slots}
	t.st.Stack = append(t.st.Stack, f)
	return t.e.flows[id].begin(t, f)
}

// settle pops finished frames and resumes their callers until someone waits or the stack is empty.
func (e *Engine) settle(t *turn, s status) {
	for s != statusWaiting && len(t.st.Stack) > 0 {
		n := len(t.st.Stack)
		child := t.st.Stack[n-1]
		e.flows[child.Flow].end(t, child)
		t.st.Stack = t.st.Stack[:n-1]
		parent := t.top()
		if parent == nil {
			switch {
			case s == statusComplete && child.Flow != flowDocs && len(t.st.Files) > 0:
				// Files sent while something else was going on are attached now.
				e.push(t, flowDocs)
			case s == statusComplete && (child.Flow == flowProgress || child.Flow == flowRating):
				t.menu("anything_else")
			}
			return
		}
		if child.Flow == flowRating && parent.Flow != flowClaim {
			// The claim says it itself when it asks its question again.
			key := "back_to_step"
			for _, f := range t.st.Stack {
				if f.Flow == flowClaim {
					key = "back_to_form"
				}
			}
			t.note(t.msg(key))
		}
		s = e.flows[parent.Flow].resume(t, parent, child, s)
	}
}

// resumeTop asks the current question again after the engine answered something itself.
func (e *Engine) resumeTop(t *turn) {
	if top := t.top(); top != nil {
		e.settle(t, e.flows[top.Flow].resume(t, top, nil, statusWaiting))
		return
	}
	t.menu("menu_prompt")
}

// cancel leaves every flow; nothing half-filled is submitted.
func (e *Engine) cancel(t *turn) {
	if len(t.st.Stack) > 0 || len(t.st.Files) > 0 {
		t.st.Stack = nil
		t.st.Files = nil
		t.note(t.msg("cancelled"))
	}
	t.menu("menu_prompt")
}

func (e *Engine) help(t *turn) {
	t.note(t.msg("help"))
	if t.top() != nil {
		e.resumeTop(t)
		return
	}
	t.menu("menu_prompt")
}

func (e *Engine) switchLang(t *turn, l string) {
	t.st.Lang = l
	t.st.LangFixed = true
	t.note(t.msg("lang_switched"))
	if t.top() != nil {
		e.resumeTop(t)
		return
	}
	t.menu("menu_prompt")
}

// handoff passes the conversation to a person when one is reachable; otherwise it says so and gives
// the hotline, keeping the form so the customer can go on.
func (e *Engine) handoff(t *turn, reason string) {
	top := t.top()
	if top != nil && top.Flow == flowComplaint && reason == "customer_asked" {
		reason = reasonComplaint // the complaint goes first in the queue
	}
	// A complaint already filed, with a person offered: the frame is done once a person is asked.
	filed := top != nil && top.Flow == flowComplaint && top.Step == stepComplaintOffer
	if e.cfg.Handoff != nil {
		r := HandoffRequest{Conversation: t.in.Conversation, Channel: t.in.Channel, Lang: t.st.Lang,
			Reason: reason, PolicyNumber: t.st.Verified}
		if top := t.top(); top != nil {
			r.Flow = top.Flow
			r.Slots = map[string]string{}
			for _, f := range t.st.Stack {
				for k, v := range f.Slots {
					if !strings.HasPrefix(k, "_") { // bookkeeping, not the customer's answers
						r.Slots[k] = v
					}
				}
			}
		}
		if err := e.cfg.Handoff.RequestHandoff(t.ctx, r); err == nil {
			if filed {
				t.st.Stack = t.st.Stack[:len(t.st.Stack)-1]
			}
			t.say(t.msg("handoff_requested"))
			return
		}
	}
	t.note(t.msg("not_available.human_agent", "hotline", t.msg("hotline")))
	if filed {
		t.st.Stack = t.st.Stack[:len(t.st.Stack)-1]
		t.menu("menu_again")
		return
	}
	if t.top() != nil {
		e.resumeTop(t)
		return
	}
	t.menu("menu_again")
}

// turn is one call of Engine.Turn: the input, the state being changed and the replies so far.
type turn struct {
	e      *Engine
	ctx    context.Context
	in     Input
	now    time.Time
	st     *state
	text   string
	action string
	res    *nlu.Result
	out    []Reply
	// pending sentences are said together with the next question, as one message.
	pending []string
}

func (t *turn) lang() string { return t.st.Lang }

func (t *turn) top() *frame {
	if n := len(t.st.Stack); n > 0 {
		return t.st.Stack[n-1]
	}
	return nil
}

// parse runs the parser once per turn; an error means "understood nothing", never a failed turn.
func (t *turn) parse() nlu.Result {
	if t.res == nil {
		r, err := t.e.nlu.Parse(t.ctx, t.text, t.st.Lang, t.now)
		if err != nil {
			r = nlu.Result{Text: t.text}
		}
		t.res = &r
	}
	return *t.res
}

func (t *turn) catalog() *casesvc.Catalog { return t.e.cfg.Cases.Catalog() }

// msg returns the message key in the conversation's language with {placeholders} filled.
func (t *turn) msg(key string, kv ...string) string { return t.e.msgs.get(t.st.Lang, key, kv...) }

func (t *turn) note(s string) { t.pending = append(t.pending, s) }

func (t *turn) sep() string {
	if t.st.Lang == "en" {
		return " "
	}
	return ""
}

// say sends one message: the pending sentences followed by s.
func (t *turn) say(s string, bs ...Button) {
	text := ""
	for _, p := range t.pending {
		text += p + t.sep()
	}
	t.pending = nil
	t.out = append(t.out, Reply{Text: text + s, Buttons: bs})
}

func (t *turn) flush() {
	if len(t.pending) > 0 {
		t.say("")
		last := &t.out[len(t.out)-1]
		if t.st.Lang == "en" && len(last.Text) > 0 && last.Text[len(last.Text)-1] == ' ' {
			last.Text = last.Text[:len(last.Text)-1]
		}
	}
}

func (t *turn) greet() {
	t.st.Misses = 0
	if em := t.emergencyNote(); em != "" {
		t.menu2(t.msg("greeting.hello") + t.sep() + em + t.sep() + t.msg("menu_prompt"))
		return
	}
	t.menu("greeting")
}

// emergencyNote is the sentence about the declared disaster event ("" when there is none or the
// case service cannot say); it remembers the event was told.
func (t *turn) emergencyNote() string {
	em, err := t.e.cfg.Cases.CurrentEmergency(t.ctx)
	if err != nil || em == nil || !em.Active || em.Name == "" {
		return ""
	}
	t.st.Emergency = em.Name
	if len(em.Regions) == 0 {
		return t.msg("emergency.all", "name", em.Name)
	}
	return t.msg("emergency", "name", em.Name, "regions", strings.Join(em.Regions, t.msg("list_sep")))
}

// menu says key with the menu buttons.
func (t *turn) menu(key string) { t.menu2(t.msg(key)) }

// menu2 says text with the menu buttons.
func (t *turn) menu2(text string) {
	var bs []Button
	for _, m := range menuIntents {
		bs = append(bs, Button{Label: t.msg("menu." + m), Value: m})
	}
	t.say(text, bs...)
}

// personButtons are the way out of every dead end.
func (t *turn) personButtons() []Button {
	return []Button{{Label: t.msg("btn.human_agent"), Value: nlu.IntentHumanAgent}, {Label: t.msg("btn.menu"), Value: actMenu}}
}

// idempotencyKey makes a replayed confirm turn return the case it already filed.
func (t *turn) idempotencyKey() string {
	return t.in.Conversation + ":" + strconv.FormatInt(t.in.Seq, 10)
}

// Button values the engine understands wherever they are pressed.
const (
	actMenu    = "menu"
	actYes     = "yes"
	actNo      = "no"
	actConfirm = "confirm"
	actEdit    = "edit"
	actSkip    = "skip"
	actReview  = "review"
)
