// Package quality is the quality monitoring API of the back office (domain.md "Quality
// monitoring"): a conversation's transcript with its channel, agents, handoffs and rating; random
// sampling of conversations for review and the supervisors' reviews; per-agent and bot figures.
// The durable facts and the figures are channels/handoff's; this package is their HTTP face, with
// the back office's rules: bearer staff tokens, 401/403, personal data masked per role and every
// unmasked view in the audit trail. Routes and shapes: docs/console.md, "Quality monitoring API".
package quality

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/httpapi"
	"claimline/channels"
	"claimline/channels/handoff"
	"claimline/internal/logging"
)

// Authenticator checks staff tokens; *httpapi.Authenticator satisfies it.
type Authenticator interface {
	Authenticate(token string) (casesvc.Staff, bool)
}

// Auditor writes the audit trail; casesvc.Service satisfies it.
type Auditor interface {
	RecordAudit(ctx context.Context, e casesvc.AuditEntry) error
}

// Conversations reads stored conversations; *channels.Router satisfies it.
type Conversations interface {
	Conversation(ctx context.Context, id string) (*channels.Conversation, error)
	MessagesAfter(ctx context.Context, conversation string, afterSeq int64, limit int) ([]channels.Message, error)
}

// Config holds the API's dependencies; all but Logger, Location and Now are required.
type Config struct {
	Handoff       *handoff.Service
	Conversations Conversations
	Auth          Authenticator
	Audit         Auditor
	Location      *time.Location // zone of times and of YYYY-MM-DD dates; default Asia/Taipei
	Logger        *slog.Logger
	Now           func() time.Time
}

// API serves the quality routes.
type API struct {
	cfg Config
	loc *time.Location
	log *slog.Logger
	now func() time.Time
}

// MaxSample bounds one sampling request.
const MaxSample = 100

// DefaultPeriod is the period of figures, samples and reviews without since.
const DefaultPeriod = 30 * 24 * time.Hour

// New returns the API.
func New(cfg Config) (*API, error) {
	if cfg.Handoff == nil || cfg.Conversations == nil || cfg.Auth == nil || cfg.Audit == nil {
		return nil, errors.New("quality: Handoff, Conversations, Auth and Audit required")
	}
	a := &API{cfg: cfg, loc: cfg.Location, log: cfg.Logger, now: cfg.Now}
	if a.loc == nil {
		loc, err := time.LoadLocation("Asia/Taipei")
		if err != nil {
			loc = time.FixedZone("Asia/Taipei", 8*3600)
		}
		a.loc = loc
	}
	if a.log == nil {
		a.log = slog.New(slog.DiscardHandler)
	}
	if a.now == nil {
		a.now = time.Now
	}
	return a, nil
}

var (
	chatRoles   = []casesvc.Role{casesvc.RoleSpecialist, casesvc.RoleSupervisor, casesvc.RoleManager}
	supervisors = []casesvc.Role{casesvc.RoleSupervisor, casesvc.RoleManager}
)

// Register mounts the routes on mux:
//
//	GET  /api/v1/conversations/{id}   transcript (specialists: only conversations they handled, masked)
//	POST /api/v1/reviews/sample       random unreviewed conversations (supervisor, manager)
//	POST /api/v1/reviews              record a review (supervisor, manager)
//	GET  /api/v1/reviews              list reviews (supervisor, manager)
//	GET  /api/v1/quality/agents       per-agent figures (supervisor, manager)
//	GET  /api/v1/quality/bot          bot figures (supervisor, manager)
func (a *API) Register(mux *http.ServeMux) {
	mux.Handle("GET /api/v1/conversations/{id}", a.require(chatRoles, a.handleTranscript))
	mux.Handle("POST /api/v1/reviews/sample", a.require(supervisors, a.handleSample))
	mux.Handle("POST /api/v1/reviews", a.require(supervisors, a.handleReview))
	mux.Handle("GET /api/v1/reviews", a.require(supervisors, a.handleReviews))
	mux.Handle("GET /api/v1/quality/agents", a.require(supervisors, a.handleAgents))
	mux.Handle("GET /api/v1/quality/bot", a.require(supervisors, a.handleBot))
}

type handler func(w http.ResponseWriter, r *http.Request, st casesvc.Staff)

// require: 401 without a valid bearer token, 403 for a role not in roles.
func (a *API) require(roles []casesvc.Role, h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, ok := a.cfg.Auth.Authenticate(bearer(r))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="claimline"`)
			a.error(w, r, casesvc.Errorf(casesvc.EUNAUTHORIZED, "A valid staff token is required."))
			return
		}
		if !slices.Contains(roles, st.Role) {
			a.error(w, r, casesvc.Errorf(casesvc.EFORBIDDEN, "Your role (%s) may not do this.", st.Role))
			return
		}
		h(w, r, st)
	})
}

func bearer(r *http.Request) string {
	h := r.Header.Get("Authorization")
	const prefix = "bearer "
	if len(h) <= len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return ""
	}
	return strings.TrimSpace(h[len(prefix):])
}

// ---- transcript ----

type wireRating struct {
	Score   int    `json:"score"`
	Comment string `json:"comment"`
	Agent   string `json:"agent,omitempty"`
	At      string `json:"at"`
}

type wireHandoff struct {
	ID         int64       `json:"id"`
	Reason     string      `json:"reason"`
	Priority   string      `json:"priority"`
	Flow       string      `json:"flow,omitempty"`
	State      string      `json:"state"`
	Outcome    string      `json:"outcome,omitempty"`
	Resolved   bool        `json:"resolved"`
	Agents     []string    `json:"agents"`
	QueuedAt   string      `json:"queued_at"`
	AssignedAt string      `json:"assigned_at,omitempty"`
	EndedAt    string      `json:"ended_at,omitempty"`
	Rating     *wireRating `json:"rating,omitempty"`
}

type wireAttachment struct {
	ID          string `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

type wireMessage struct {
	Seq         int64            `json:"seq"`
	Direction   string           `json:"direction"`
	From        string           `json:"from"`
	Agent       string           `json:"agent,omitempty"`
	Text        string           `json:"text"`
	Action      string           `json:"action,omitempty"`
	TS          string           `json:"ts"`
	Attachments []wireAttachment `json:"attachments"`
}

type wireConversation struct {
	ID        string        `json:"id"`
	Channel   string        `json:"channel"`
	Lang      string        `json:"lang,omitempty"`
	CreatedAt string        `json:"created_at"`
	Agents    []string      `json:"agents"`
	Rating    *wireRating   `json:"rating"` // the latest rating, or null
	Handoffs  []wireHandoff `json:"handoffs"`
	Reviews   []wireReview  `json:"reviews,omitempty"` // supervisors and managers only
}

type transcript struct {
	Conversation wireConversation `json:"conversation"`
	Messages     []wireMessage    `json:"messages"`
	Masked       bool             `json:"masked"`
}

func (a *API) handleTranscript(w http.ResponseWriter, r *http.Request, st casesvc.Staff) {
	ctx := r.Context()
	id := r.PathValue("id")
	conv, err := a.cfg.Conversations.Conversation(ctx, id)
	if err != nil {
		a.error(w, r, err)
		return
	}
	hist, err := a.cfg.Handoff.History(ctx, conv.ID)
	if err != nil {
		a.error(w, r, err)
		return
	}
	agents := handoff.AgentsOf(hist)
	masked := !st.Role.SeesUnmasked()
	if st.Role == casesvc.RoleSpecialist && !slices.Contains(agents, st.Name) {
		a.error(w, r, casesvc.Errorf(casesvc.EFORBIDDEN, "You did not handle this conversation."))
		return
	}
	mask := func(s string) string { return s }
	if masked {
		mask = logging.Mask
	}
	out := transcript{Masked: masked, Messages: []wireMessage{}, Conversation: wireConversation{
		ID: conv.ID, Channel: conv.Channel, Lang: conv.Lang, CreatedAt: a.ts(conv.Created), Agents: agents,
		Handoffs: make([]wireHandoff, 0, len(hist)),
	}}
	for _, h := range hist {
		wh := wireHandoff{ID: h.ID, Reason: h.Reason, Priority: h.Priority, Flow: h.Flow, State: h.State, Outcome: h.Outcome,
			Resolved: h.Resolved, Agents: h.Agents, QueuedAt: a.ts(h.QueuedAt), AssignedAt: a.ts(h.AssignedAt), EndedAt: a.ts(h.EndedAt)}
		if h.Rating != nil {
			wh.Rating = &wireRating{Score: h.Rating.Score, Comment: mask(h.Rating.Comment), Agent: h.Rating.Agent, At: a.ts(h.Rating.At)}
			out.Conversation.Rating = wh.Rating
		}
		out.Conversation.Handoffs = append(out.Conversation.Handoffs, wh)
	}
	var last int64
	const page = 500
	for {
		msgs, err := a.cfg.Conversations.MessagesAfter(ctx, conv.ID, last, page)
		if err != nil {
			a.error(w, r, err)
			return
		}
		for _, m := range msgs {
			last = m.Seq
			if m.Direction == channels.DirEvent {
				continue // bookkeeping: the messages it caused are in the transcript
			}
			wm := wireMessage{Seq: m.Seq, Direction: m.Direction, From: m.From, Agent: m.Agent, Text: mask(m.Text),
				Action: m.Action, TS: a.ts(m.TS), Attachments: []wireAttachment{}}
			for _, at := range m.Attachments {
				wm.Attachments = append(wm.Attachments, wireAttachment{at.ID, mask(at.Filename), at.ContentType, at.Size})
			}
			out.Messages = append(out.Messages, wm)
		}
		if len(msgs) < page {
			break
		}
	}
	if !masked {
		reviews, err := a.cfg.Handoff.Reviews(ctx, "", time.Time{})
		if err != nil {
			a.error(w, r, err)
			return
		}
		for _, rv := range reviews {
			if rv.Conversation == conv.ID {
				out.Conversation.Reviews = append(out.Conversation.Reviews, a.wireReview(rv))
			}
		}
		// No audit row, no unmasked data (fail closed).
		if err := a.cfg.Audit.RecordAudit(ctx, casesvc.AuditEntry{At: a.now(), Actor: st.Name, Action: "view_unmasked",
			Detail: "transcript: conversation " + conv.ID}); err != nil {
			a.error(w, r, err)
			return
		}
	}
	a.json(w, http.StatusOK, out)
}

// ---- sampling and reviews ----

type wireSampled struct {
	ID      string   `json:"id"`
	Channel string   `json:"channel"`
	FirstAt string   `json:"first_at"`
	Agents  []string `json:"agents"`
}

func (a *API) handleSample(w http.ResponseWriter, r *http.Request, st casesvc.Staff) {
	req, err := decode[struct {
		Count   int    `json:"count"`
		Since   string `json:"since"`
		Channel string `json:"channel"`
		Agent   string `json:"agent"`
	}](w, r)
	if err != nil {
		a.error(w, r, err)
		return
	}
	if req.Count < 1 || req.Count > MaxSample {
		a.error(w, r, casesvc.Errorf(casesvc.EINVALID, "count must be 1 to %d.", MaxSample))
		return
	}
	since, err := a.since(req.Since)
	if err != nil {
		a.error(w, r, err)
		return
	}
	picked, available, err := a.cfg.Handoff.Sample(r.Context(), handoff.SampleFilter{Count: req.Count, Since: since,
		Channel: req.Channel, Agent: req.Agent})
	if err != nil {
		a.error(w, r, err)
		return
	}
	out := make([]wireSampled, 0, len(picked))
	for _, p := range picked {
		out = append(out, wireSampled{p.ID, p.Channel, a.ts(p.FirstAt), p.Agents})
	}
	a.json(w, http.StatusOK, map[string]any{"conversations": out, "available": available, "since": a.ts(since)})
}

type wireReview struct {
	ID           int64    `json:"id"`
	Conversation string   `json:"conversation"`
	Reviewer     string   `json:"reviewer"`
	Score        int      `json:"score"`
	Note         string   `json:"note"`
	At           string   `json:"at"`
	Agents       []string `json:"agents"`
}

func (a *API) wireReview(rv handoff.Review) wireReview {
	if rv.Agents == nil {
		rv.Agents = []string{}
	}
	return wireReview{rv.ID, rv.Conversation, rv.Reviewer, rv.Score, rv.Note, a.ts(rv.At), rv.Agents}
}

func (a *API) handleReview(w http.ResponseWriter, r *http.Request, st casesvc.Staff) {
	req, err := decode[struct {
		Conversation string `json:"conversation"`
		Score        int    `json:"score"`
		Note         string `json:"note"`
	}](w, r)
	if err != nil {
		a.error(w, r, err)
		return
	}
	if req.Conversation == "" {
		a.error(w, r, casesvc.Errorf(casesvc.EINVALID, "conversation is required."))
		return
	}
	if _, err := a.cfg.Conversations.Conversation(r.Context(), req.Conversation); err != nil {
		a.error(w, r, err)
		return
	}
	rv, err := a.cfg.Handoff.RecordReview(r.Context(), st.Name, req.Conversation, req.Score, req.Note)
	if err != nil {
		a.error(w, r, err)
		return
	}
	a.log.Info("quality: review recorded", "conversation", rv.Conversation, "reviewer", st.Name, "score", rv.Score)
	a.json(w, http.StatusCreated, a.wireReview(rv))
}

func (a *API) handleReviews(w http.ResponseWriter, r *http.Request, st casesvc.Staff) {
	since, err := a.since(r.URL.Query().Get("since"))
	if err != nil {
		a.error(w, r, err)
		return
	}
	reviews, err := a.cfg.Handoff.Reviews(r.Context(), r.URL.Query().Get("agent"), since)
	if err != nil {
		a.error(w, r, err)
		return
	}
	out := make([]wireReview, 0, len(reviews))
	for _, rv := range reviews {
		out = append(out, a.wireReview(rv))
	}
	a.json(w, http.StatusOK, map[string]any{"reviews": out})
}

// ---- figures ----

func (a *API) handleAgents(w http.ResponseWriter, r *http.Request, st casesvc.Staff) {
	since, err := a.since(r.URL.Query().Get("since"))
	if err != nil {
		a.error(w, r, err)
		return
	}
	figs, err := a.cfg.Handoff.AgentFigures(r.Context(), since)
	if err != nil {
		a.error(w, r, err)
		return
	}
	a.json(w, http.StatusOK, map[string]any{"since": a.ts(since), "agents": figs})
}

func (a *API) handleBot(w http.ResponseWriter, r *http.Request, st casesvc.Staff) {
	since, err := a.since(r.URL.Query().Get("since"))
	if err != nil {
		a.error(w, r, err)
		return
	}
	f, err := a.cfg.Handoff.BotFigures(r.Context(), since)
	if err != nil {
		a.error(w, r, err)
		return
	}
	a.json(w, http.StatusOK, map[string]any{"since": a.ts(since), "bot": f})
}

// ---- helpers ----

// since parses RFC 3339 or YYYY-MM-DD (midnight in the configured zone); "" is DefaultPeriod ago.
func (a *API) since(v string) (time.Time, error) {
	if v == "" {
		return a.now().Add(-DefaultPeriod), nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	if t, err := time.ParseInLocation("2006-01-02", v, a.loc); err == nil {
		return t, nil
	}
	return time.Time{}, casesvc.Errorf(casesvc.EINVALID, "since must be RFC 3339 or YYYY-MM-DD.")
}

func (a *API) ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(a.loc).Format(time.RFC3339)
}

func (a *API) error(w http.ResponseWriter, r *http.Request, err error) {
	httpapi.WriteError(w, r, a.log, err)
}

func (a *API) json(w http.ResponseWriter, status int, v any) { httpapi.WriteJSON(w, a.log, status, v) }

func decode[T any](w http.ResponseWriter, r *http.Request) (T, error) { return httpapi.Decode[T](w, r) }
