// Package httpapi is the back-office HTTP API of the case service (spec/http-api.md section 4):
// cases, policies, complaints, mass-complaint alerts and the audit trail, for staff authenticated by
// bearer token.
//
// Mount it either way:
//
//	mux.Handle("/api/v1/", httpapi.New(svc, auth, logger)) // own mux, JSON 404 for unknown paths
//	httpapi.Register(mux, svc, auth, logger)               // routes added to a shared Go 1.22+ mux
//
// Register suits a mux shared with other /api/v1 routes (complaints, NLU, ...); New suits a
// separate case service process.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"claimline/casesvc"
)

// MaxBodyBytes bounds request bodies; a policy is a few hundred bytes.
const MaxBodyBytes = 64 << 10

type server struct {
	svc    casesvc.Service
	auth   *Authenticator
	logger *slog.Logger
	blobs  casesvc.Blobs
	loc    *time.Location
	now    func() time.Time
	// service marks the internal API: the gateways' calls, a few per customer turn. Their
	// successful requests are logged at debug level (the request metrics count them), so a busy
	// gateway does not fill the case service's log; refusals and failures stay visible.
	service bool
}

// Option configures the API.
type Option func(*server)

// WithBlobs gives the API the blob store that holds documents' bytes, for
// GET /api/v1/cases/{id}/documents/{doc}/content. Without it that route answers 503.
func WithBlobs(b casesvc.Blobs) Option { return func(s *server) { s.blobs = b } }

// WithLocation sets the zone of dates given as YYYY-MM-DD (default Asia/Taipei).
func WithLocation(loc *time.Location) Option { return func(s *server) { s.loc = loc } }

// WithClock sets the clock for the deadlines and alerts lists (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *server) { s.now = now } }

// New returns a handler serving the back-office routes, answering unknown /api/v1 paths with a
// JSON 404. A nil logger discards logs.
func New(svc casesvc.Service, auth *Authenticator, logger *slog.Logger, opts ...Option) http.Handler {
	mux := http.NewServeMux()
	s := register(mux, svc, auth, logger, opts)
	// Method-less patterns are less specific than the routes above, so they catch only the methods
	// those routes do not serve, keeping 405 (as JSON) instead of the catch-all's 404.
	for _, p := range []string{"/api/v1/cases", "/api/v1/cases/{id}", "/api/v1/policies/{number}", "/api/v1/audit",
		"/api/v1/cases/{id}/transitions", "/api/v1/cases/{id}/documents/{doc}/reject",
		"/api/v1/cases/{id}/documents/{doc}/content", "/api/v1/deadlines", "/api/v1/admin/emergency",
		"/api/v1/complaints", "/api/v1/complaints/{id}", "/api/v1/complaints/{id}/transitions", "/api/v1/alerts"} {
		mux.Handle(p, s.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			s.error(w, r, casesvc.Errorf(codeMethod, "Method %s is not allowed here.", r.Method))
		})))
	}
	mux.Handle("/", s.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.error(w, r, casesvc.Errorf(casesvc.ENOTFOUND, "No such endpoint."))
	})))
	return mux
}

// Register adds the back-office routes to mux (Go 1.22+ method and wildcard patterns).
func Register(mux *http.ServeMux, svc casesvc.Service, auth *Authenticator, logger *slog.Logger, opts ...Option) {
	register(mux, svc, auth, logger, opts)
}

func register(mux *http.ServeMux, svc casesvc.Service, auth *Authenticator, logger *slog.Logger, opts []Option) *server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if auth == nil {
		auth = &Authenticator{} // nobody gets in rather than everybody
	}
	s := &server{svc: svc, auth: auth, logger: logger, now: time.Now}
	for _, o := range opts {
		o(s)
	}
	if s.loc == nil {
		loc, err := time.LoadLocation("Asia/Taipei")
		if err != nil {
			loc = time.FixedZone("Asia/Taipei", 8*60*60)
		}
		s.loc = loc
	}
	all := []casesvc.Role{casesvc.RoleSpecialist, casesvc.RoleSupervisor, casesvc.RoleManager, casesvc.RoleAdmin}
	supervisors := []casesvc.Role{casesvc.RoleSupervisor, casesvc.RoleManager}
	admin := []casesvc.Role{casesvc.RoleAdmin}

	mux.Handle("GET /api/v1/cases", s.wrap(s.require(all, s.handleListCases())))
	mux.Handle("GET /api/v1/cases/{id}", s.wrap(s.require(all, s.handleGetCase())))
	mux.Handle("GET /api/v1/policies/{number}", s.wrap(s.require(all, s.handleGetPolicy())))
	mux.Handle("PUT /api/v1/policies/{number}", s.wrap(s.require(admin, s.handlePutPolicy())))
	mux.Handle("GET /api/v1/audit", s.wrap(s.require(supervisors, s.handleAudit())))
	// Lifecycle and documents: every staff role reaches the service, which decides per action and
	// status (403 for a role, 409 invalid_transition for a status), so the rules live in one place.
	mux.Handle("POST /api/v1/cases/{id}/transitions", s.wrap(s.require(all, s.handleTransition())))
	mux.Handle("POST /api/v1/cases/{id}/documents/{doc}/reject", s.wrap(s.require(all, s.handleRejectDocument())))
	// Documents hold health and financial details: the people who review claims read them; admins,
	// who run the system and decide no case, do not.
	reviewers := []casesvc.Role{casesvc.RoleSpecialist, casesvc.RoleSupervisor, casesvc.RoleManager}
	mux.Handle("GET /api/v1/cases/{id}/documents/{doc}/content", s.wrap(s.require(reviewers, s.handleDocumentContent())))
	mux.Handle("GET /api/v1/deadlines", s.wrap(s.require(supervisors, s.handleDeadlines())))
	mux.Handle("GET /api/v1/admin/emergency", s.wrap(s.require(all, s.handleGetEmergency())))
	mux.Handle("PUT /api/v1/admin/emergency", s.wrap(s.require([]casesvc.Role{casesvc.RoleManager}, s.handlePutEmergency())))
	// Complaints: every staff role reads (masked below supervisor); the service decides who acts.
	mux.Handle("GET /api/v1/complaints", s.wrap(s.require(all, s.handleListComplaints())))
	mux.Handle("GET /api/v1/complaints/{id}", s.wrap(s.require(all, s.handleGetComplaint())))
	mux.Handle("POST /api/v1/complaints/{id}/transitions", s.wrap(s.require(all, s.handleComplaintTransition())))
	mux.Handle("GET /api/v1/alerts", s.wrap(s.require(supervisors, s.handleAlerts())))
	return s
}

// ---- middleware ----

type statusRecorder struct {
	http.ResponseWriter
	status int
	role   casesvc.Role // set by require, for the request log
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.ResponseWriter.Write(b)
}

// wrap logs each request by route pattern, never by path: paths carry case ids and policy numbers.
func (s *server) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w}
		defer func() {
			if v := recover(); v != nil {
				s.logger.Error("casesvc http: panic", "route", r.Pattern, "panic", v)
				if rec.status == 0 {
					s.error(rec, r, errors.New("panic"))
				}
			}
			level := slog.LevelInfo
			switch {
			case rec.status >= 500:
				level = slog.LevelWarn
			case s.service && rec.status < 400:
				level = slog.LevelDebug
			}
			s.logger.Log(r.Context(), level, "casesvc http", "method", r.Method, "route", r.Pattern, "status", rec.status,
				"role", string(rec.role), "duration", time.Since(start))
		}()
		h.ServeHTTP(rec, r)
	})
}

// require authenticates the request and checks the role: 401 without a valid token, 403 for a
// role not in roles.
func (s *server) require(roles []casesvc.Role, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, ok := s.auth.Authenticate(bearer(r))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="claimline"`)
			s.error(w, r, casesvc.Errorf(casesvc.EUNAUTHORIZED, "A valid staff token is required."))
			return
		}
		if rec, ok := w.(*statusRecorder); ok {
			rec.role = st.Role
		}
		r = r.WithContext(context.WithValue(r.Context(), staffKey{}, st))
		if !slices.Contains(roles, st.Role) {
			s.error(w, r, casesvc.Errorf(casesvc.EFORBIDDEN, "Your role (%s) may not do this.", st.Role))
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ---- errors and encoding ----

// errorStatus maps application error codes to HTTP statuses; the one place that does.
func errorStatus(code string) int {
	switch code {
	case casesvc.EINVALID:
		return http.StatusBadRequest
	case casesvc.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case casesvc.EFORBIDDEN:
		return http.StatusForbidden
	case casesvc.ENOTFOUND:
		return http.StatusNotFound
	case casesvc.ECONFLICT, casesvc.EINVALIDTRANSITION:
		return http.StatusConflict
	case codeTooLarge:
		return http.StatusRequestEntityTooLarge
	case codeMethod:
		return http.StatusMethodNotAllowed
	case casesvc.EUNAVAILABLE:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// Codes local to HTTP: only a transport has bodies and methods.
const (
	codeTooLarge = "too_large"
	codeMethod   = "method_not_allowed"
)

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// error writes {"error":{"code","message"}} (see WriteError).
func (s *server) error(w http.ResponseWriter, r *http.Request, err error) {
	WriteError(w, r, s.logger, err)
}

func (s *server) json(w http.ResponseWriter, status int, v any) { WriteJSON(w, s.logger, status, v) }

// WriteError answers err as {"error":{"code","message"}} with the status its code maps to; the one
// place where application error codes become HTTP statuses, shared by every back-office API. Only
// internal errors are logged, without the request's data; their message is replaced by a generic one.
func WriteError(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code, msg := casesvc.ErrorCode(err), casesvc.ErrorMessage(err)
	status := errorStatus(code)
	if status == http.StatusInternalServerError {
		logger.Error("http: internal error", "route", r.Pattern, "err", err)
		code, msg = casesvc.EINTERNAL, "Internal error."
	}
	var body errorBody
	body.Error.Code, body.Error.Message = code, msg
	WriteJSON(w, logger, status, body)
}

// WriteJSON answers v as JSON, never cached: back-office answers carry personal data.
func WriteJSON(w http.ResponseWriter, logger *slog.Logger, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil {
		logger.Warn("http: write response", "err", err)
	}
}

// Decode reads one JSON value of type T from a body bounded by MaxBodyBytes. Every failure is an
// application error with a 4xx code and a message that never echoes the input.
func Decode[T any](w http.ResponseWriter, r *http.Request) (T, error) { return decode[T](w, r) }

// decode reads one JSON value of type T from a bounded body. Every failure is a 4xx.
func decode[T any](w http.ResponseWriter, r *http.Request) (T, error) {
	var v T
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&v); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return v, casesvc.Errorf(codeTooLarge, "The request body is larger than %d bytes.", MaxBodyBytes)
		}
		return v, casesvc.Errorf(casesvc.EINVALID, "The request body is not valid JSON for this request: %s.", jsonProblem(err))
	}
	if dec.Decode(&struct{}{}) != io.EOF {
		return v, casesvc.Errorf(casesvc.EINVALID, "The request body must hold a single JSON object.")
	}
	return v, nil
}

// jsonProblem describes a decoding error without echoing the input (it may be personal data).
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return "syntax error at byte " + strconv.FormatInt(syn.Offset, 10)
	case errors.As(err, &typ):
		return "wrong type for field " + strconv.Quote(typ.Field)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "empty or truncated body"
	default:
		return err.Error() // unknown field "x": names a field, not a value
	}
}

// ---- handlers ----

func (s *server) handleListCases() http.Handler {
	type response struct {
		Cases []*casesvc.Case `json:"cases"`
		Total int             `json:"total"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := casesvc.CaseFilter{
			Status:       q.Get("status"),
			PolicyNumber: q.Get("policy_number"),
			ClaimType:    q.Get("claim_type"),
			Query:        q.Get("q"),
		}
		var err error
		if f.Page, f.PerPage, err = paging(q); err != nil {
			s.error(w, r, err)
			return
		}
		cases, total, err := s.svc.Cases(r.Context(), f)
		if err != nil {
			s.error(w, r, err)
			return
		}
		// Lists are always masked, whatever the role: whole data is shown one audited case at a time.
		resp := response{Cases: make([]*casesvc.Case, 0, len(cases)), Total: total}
		for _, c := range cases {
			resp.Cases = append(resp.Cases, c.MaskedFor(casesvc.RoleSpecialist))
		}
		s.json(w, http.StatusOK, resp)
	})
}

// paging reads the page (from 1) and per_page (1 to 100, default 20) parameters of a list.
func paging(q url.Values) (page, perPage int, err error) {
	if page, err = intParam(q.Get("page"), 1, 1, 1<<20); err != nil {
		return 0, 0, casesvc.Errorf(casesvc.EINVALID, "page must be a whole number from 1.")
	}
	if perPage, err = intParam(q.Get("per_page"), 20, 1, 100); err != nil {
		return 0, 0, casesvc.Errorf(casesvc.EINVALID, "per_page must be a whole number from 1 to 100.")
	}
	return page, perPage, nil
}

func intParam(v string, def, min, max int) (int, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, errors.New("out of range")
	}
	return n, nil
}

func (s *server) handleGetCase() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, _ := StaffFrom(r.Context())
		c, err := s.svc.Case(r.Context(), r.PathValue("id"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		s.writeCase(w, r, st, c)
	})
}

// writeCase answers with the case as the role may see it.
func (s *server) writeCase(w http.ResponseWriter, r *http.Request, st casesvc.Staff, c *casesvc.Case) {
	s.writeAsSeen(w, r, st, casesvc.AuditEntry{CaseID: c.ID, Policy: c.PolicyNumber, Detail: "case"}, c.MaskedFor(st.Role))
}

// writeAsSeen answers with a record as the staff member's role may see it (masked is the record
// already masked for that role). An unmasked answer is audited first, as the view described by
// seen: no audit row, no unmasked data (fail closed).
func (s *server) writeAsSeen(w http.ResponseWriter, r *http.Request, st casesvc.Staff, seen casesvc.AuditEntry, masked any) {
	if st.Role.SeesUnmasked() {
		seen.Actor, seen.Action = st.Name, "view_unmasked"
		if err := s.svc.RecordAudit(r.Context(), seen); err != nil {
			s.error(w, r, err)
			return
		}
	}
	s.json(w, http.StatusOK, masked)
}

func (s *server) handleGetPolicy() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, _ := StaffFrom(r.Context())
		p, err := s.svc.Policy(r.Context(), r.PathValue("number"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		if st.Role.SeesUnmasked() {
			if err := s.svc.RecordAudit(r.Context(), casesvc.AuditEntry{Actor: st.Name, Action: "view_unmasked",
				Policy: p.Number, Detail: "policy"}); err != nil {
				s.error(w, r, err)
				return
			}
		}
		s.json(w, http.StatusOK, p.MaskedFor(st.Role))
	})
}

func (s *server) handlePutPolicy() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, _ := StaffFrom(r.Context())
		p, err := decode[casesvc.Policy](w, r)
		if err != nil {
			s.error(w, r, err)
			return
		}
		number := r.PathValue("number")
		if p.Number == "" {
			p.Number = number
		} else if p.Number != number {
			s.error(w, r, casesvc.Errorf(casesvc.EINVALID, "The policy number in the body does not match the one in the path."))
			return
		}
		if err := s.svc.PutPolicy(r.Context(), &p, st.Name); err != nil {
			s.error(w, r, err)
			return
		}
		stored, err := s.svc.Policy(r.Context(), number)
		if err != nil {
			s.error(w, r, err)
			return
		}
		s.json(w, http.StatusOK, stored.MaskedFor(st.Role))
	})
}

func (s *server) handleAudit() http.Handler {
	type response struct {
		Entries []casesvc.AuditEntry `json:"entries"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		entries, err := s.svc.Audit(r.Context(), casesvc.AuditFilter{
			CaseID: q.Get("case"), Complaint: q.Get("complaint"), Actor: q.Get("actor"),
		})
		if err != nil {
			s.error(w, r, err)
			return
		}
		if entries == nil {
			entries = []casesvc.AuditEntry{}
		}
		s.json(w, http.StatusOK, response{Entries: entries})
	})
}
