package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/blobstore"
)

// The internal API: service-to-service routes under /internal/v1/ that let a gateway use a separate
// case service process through casesvc.Service (casesvc/httpclient is the client). One route per
// method of the interface, answering in domain terms: whole, unmasked records (masking is the
// caller's job, per role, as with the in-process service) and the acting staff member passed in the
// request, because the gateway has authenticated them already.
//
// Every route needs "Authorization: Bearer <service token>" (CLAIMLINE_CASESVC_TOKEN), compared in
// constant time; without a configured token the whole API answers 401. Nothing here is reachable
// with a staff token, and the back-office routes are unchanged.
//
//	GET  /internal/v1/catalog
//	GET  /internal/v1/policies/{number}                 PUT (body {"policy","actor"})
//	GET  /internal/v1/policies/{number}/cases
//	POST /internal/v1/cases                             (Idempotency-Key header; body WireNewCase)
//	GET  /internal/v1/cases?status=&policy_number=&claim_type=&q=&page=&per_page=
//	GET  /internal/v1/cases/{id}
//	POST /internal/v1/cases/{id}/documents              (body WireNewDocument)
//	POST /internal/v1/cases/{id}/documents/{doc}/reject (body {"reason","actor"})
//	POST /internal/v1/cases/{id}/transitions            (body {"request","actor"})
//	GET  /internal/v1/deadlines?now=&soon=
//	GET  /internal/v1/audit?case=&complaint=&actor=     POST (body casesvc.AuditEntry)
//	GET  /internal/v1/emergency                         PUT (body {"emergency","actor"})
//	GET  /internal/v1/notices/pending?limit=
//	POST /internal/v1/notices/{id}/delivered
//	POST /internal/v1/complaints                        (Idempotency-Key header; body WireNewComplaint)
//	GET  /internal/v1/complaints?status=&policy_number=&page=&per_page=
//	GET  /internal/v1/complaints/{id}
//	POST /internal/v1/complaints/{id}/transitions       (body {"request","actor"})
//	POST /internal/v1/complaints/escalate-overdue       (body {"now"})
//	GET  /internal/v1/alerts?since=
//	GET  /internal/v1/alerts/pending?limit=
//	POST /internal/v1/alerts/{id}/delivered
//	PUT  /internal/v1/blobs                             (POST too; body: the raw bytes, at most MaxBlobBytes)
//	GET  /internal/v1/blobs/{ref}
//
// The blob routes carry documents' bytes between a gateway node that received them and the case
// service that keeps them (the gateway's documents go to the case service when CLAIMLINE_CASESVC_URL
// is set). PUT streams the body into the content-addressed store (casesvc/blobstore) and answers
// WireBlob; the same bytes twice are stored once, so a retried PUT is harmless. An optional
// BlobSHA256Header states the sender's SHA-256: a body that does not match is refused (400). GET
// answers the bytes (application/octet-stream, ranges supported). Without WithBlobs both answer 503.
//
// Errors are the back office's {"error":{"code","message"}} with the same statuses.

// IdempotencyKeyHeader carries the idempotency key of a creation (CreateCase, CreateComplaint).
const IdempotencyKeyHeader = "Idempotency-Key"

// WireNewCase is casesvc.NewCase on the wire (the key travels in IdempotencyKeyHeader).
type WireNewCase struct {
	ClaimType    string           `json:"claim_type"`
	PolicyNumber string           `json:"policy_number"`
	Channel      string           `json:"channel"`
	Conversation string           `json:"conversation"`
	Claimant     casesvc.Person   `json:"claimant"`
	Incident     casesvc.Incident `json:"incident"`
	Actor        string           `json:"actor"`
}

// WireNewDocument is casesvc.NewDocument on the wire.
type WireNewDocument struct {
	Kind         string `json:"kind"`
	Filename     string `json:"filename"`
	ContentType  string `json:"content_type"`
	Size         int64  `json:"size"`
	SHA256       string `json:"sha256"`
	BlobRef      string `json:"blob_ref"`
	Channel      string `json:"channel"`
	Conversation string `json:"conversation"`
	Actor        string `json:"actor"`
}

// WireNewComplaint is casesvc.NewComplaint on the wire (the key travels in IdempotencyKeyHeader).
type WireNewComplaint struct {
	Category     string                    `json:"category"`
	Description  string                    `json:"description"`
	CaseID       string                    `json:"case_id"`
	PolicyNumber string                    `json:"policy_number"`
	Complainant  casesvc.Person            `json:"complainant"`
	Channel      string                    `json:"channel"`
	Conversation string                    `json:"conversation"`
	Contact      casesvc.ContactPreference `json:"contact"`
	Actor        string                    `json:"actor"`
}

// WireCase is a case with its documents' blob references, which casesvc.Document keeps out of JSON.
type WireCase struct {
	*casesvc.Case
	BlobRefs map[string]string `json:"blob_refs,omitempty"` // document id -> blob ref
}

// WrapCase returns c with its blob references.
func WrapCase(c *casesvc.Case) WireCase {
	w := WireCase{Case: c}
	for _, d := range c.Documents {
		if d.BlobRef != "" {
			if w.BlobRefs == nil {
				w.BlobRefs = map[string]string{}
			}
			w.BlobRefs[d.ID] = d.BlobRef
		}
	}
	return w
}

// Unwrap returns the case with the blob references put back on its documents.
func (w WireCase) Unwrap() *casesvc.Case {
	if w.Case == nil {
		return nil
	}
	for i := range w.Case.Documents {
		w.Case.Documents[i].BlobRef = w.BlobRefs[w.Case.Documents[i].ID]
	}
	return w.Case
}

// WireDocumentResult is casesvc.DocumentResult on the wire.
type WireDocumentResult struct {
	Case      WireCase         `json:"case"`
	Document  casesvc.Document `json:"document"`
	BlobRef   string           `json:"blob_ref,omitempty"`
	Completed bool             `json:"completed"`
	Duplicate bool             `json:"duplicate"`
}

// WireStaff is the acting staff member (casesvc.Staff without its token).
type WireStaff struct {
	Name string       `json:"name"`
	Role casesvc.Role `json:"role"`
}

// Staff returns the casesvc.Staff.
func (s WireStaff) Staff() casesvc.Staff { return casesvc.Staff{Name: s.Name, Role: s.Role} }

// Request bodies and list answers of the internal API.
type (
	WirePutPolicy struct {
		Policy casesvc.Policy `json:"policy"`
		Actor  string         `json:"actor"`
	}
	WireReject struct {
		Reason string    `json:"reason"`
		Actor  WireStaff `json:"actor"`
	}
	WireTransition struct {
		Request casesvc.TransitionRequest `json:"request"`
		Actor   WireStaff                 `json:"actor"`
	}
	WireComplaintTransition struct {
		Request casesvc.ComplaintTransitionRequest `json:"request"`
		Actor   WireStaff                          `json:"actor"`
	}
	WireSetEmergency struct {
		Emergency casesvc.Emergency `json:"emergency"`
		Actor     WireStaff         `json:"actor"`
	}
	WireEscalate struct {
		Now time.Time `json:"now"`
	}
	WireCaseList struct {
		Cases []WireCase `json:"cases"`
		Total int        `json:"total"`
	}
	WireComplaintList struct {
		Complaints []*casesvc.Complaint `json:"complaints"`
		Total      int                  `json:"total"`
	}
	WireEmergency struct {
		Emergency *casesvc.Emergency `json:"emergency"` // null when none
	}
)

// MaxBlobBytes is the largest blob the internal API stores: the upload limit of every channel (20 MiB).
const MaxBlobBytes = 20 << 20

// BlobSHA256Header carries the hex SHA-256 the sender computed of a blob it PUTs.
const BlobSHA256Header = "X-Content-SHA256"

// WireBlob is the answer to a blob PUT: the reference to record (casesvc.NewDocument.BlobRef), the hex
// SHA-256 and the size in bytes.
type WireBlob struct {
	Ref    string `json:"ref"`
	SHA256 string `json:"sha256"`
	Size   int64  `json:"size"`
}

// MinServiceTokenLength is the shortest service token accepted.
const MinServiceTokenLength = 16

// NewInternal returns the handler of the internal API (mount it at "/internal/v1/"). An empty
// token disables it: every request gets 401. A nil logger discards logs. Of the options only
// WithBlobs matters: the store behind /internal/v1/blobs.
func NewInternal(svc casesvc.Service, token string, logger *slog.Logger, opts ...Option) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &server{svc: svc, auth: &Authenticator{}, logger: logger, now: time.Now, service: true}
	for _, o := range opts {
		o(s)
	}
	want := sha256.Sum256([]byte(token))
	enabled := token != ""
	mux := http.NewServeMux()
	handle := func(pattern string, h http.HandlerFunc) {
		mux.Handle(pattern, s.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			got := sha256.Sum256([]byte(bearer(r)))
			if subtle.ConstantTimeCompare(got[:], want[:]) != 1 || !enabled {
				w.Header().Set("WWW-Authenticate", `Bearer realm="claimline-internal"`)
				s.error(w, r, casesvc.Errorf(casesvc.EUNAUTHORIZED, "A valid service token is required."))
				return
			}
			h(w, r)
		})))
	}
	svcErr := func(w http.ResponseWriter, r *http.Request, err error) bool {
		if err != nil {
			s.error(w, r, err)
			return true
		}
		return false
	}
	ok := func(w http.ResponseWriter, v any) { s.json(w, http.StatusOK, v) }
	noContent := func(w http.ResponseWriter) {
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusNoContent)
	}
	handle("GET /internal/v1/catalog", func(w http.ResponseWriter, r *http.Request) { ok(w, svc.Catalog()) })

	handle("GET /internal/v1/policies/{number}", func(w http.ResponseWriter, r *http.Request) {
		p, err := svc.Policy(r.Context(), r.PathValue("number"))
		if !svcErr(w, r, err) {
			ok(w, p)
		}
	})
	handle("PUT /internal/v1/policies/{number}", func(w http.ResponseWriter, r *http.Request) {
		in, err := decode[WirePutPolicy](w, r)
		if svcErr(w, r, err) {
			return
		}
		if in.Policy.Number != r.PathValue("number") {
			s.error(w, r, casesvc.Errorf(casesvc.EINVALID, "The policy number in the body does not match the one in the path."))
			return
		}
		if !svcErr(w, r, svc.PutPolicy(r.Context(), &in.Policy, in.Actor)) {
			noContent(w)
		}
	})
	handle("GET /internal/v1/policies/{number}/cases", func(w http.ResponseWriter, r *http.Request) {
		cs, err := svc.CasesByPolicy(r.Context(), r.PathValue("number"))
		if !svcErr(w, r, err) {
			ok(w, wrapCases(cs))
		}
	})

	handle("POST /internal/v1/cases", func(w http.ResponseWriter, r *http.Request) {
		in, err := decode[WireNewCase](w, r)
		if svcErr(w, r, err) {
			return
		}
		c, err := svc.CreateCase(r.Context(), casesvc.NewCase{IdempotencyKey: r.Header.Get(IdempotencyKeyHeader),
			ClaimType: in.ClaimType, PolicyNumber: in.PolicyNumber, Channel: in.Channel, Conversation: in.Conversation,
			Claimant: in.Claimant, Incident: in.Incident, Actor: in.Actor})
		if !svcErr(w, r, err) {
			ok(w, WrapCase(c))
		}
	})
	handle("GET /internal/v1/cases", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := casesvc.CaseFilter{Status: q.Get("status"), PolicyNumber: q.Get("policy_number"), ClaimType: q.Get("claim_type"), Query: q.Get("q")}
		f.Page, _ = strconv.Atoi(q.Get("page"))
		f.PerPage, _ = strconv.Atoi(q.Get("per_page"))
		cs, total, err := svc.Cases(r.Context(), f)
		if !svcErr(w, r, err) {
			ok(w, WireCaseList{Cases: wrapCases(cs), Total: total})
		}
	})
	handle("GET /internal/v1/cases/{id}", func(w http.ResponseWriter, r *http.Request) {
		c, err := svc.Case(r.Context(), r.PathValue("id"))
		if !svcErr(w, r, err) {
			ok(w, WrapCase(c))
		}
	})
	handle("POST /internal/v1/cases/{id}/documents", func(w http.ResponseWriter, r *http.Request) {
		in, err := decode[WireNewDocument](w, r)
		if svcErr(w, r, err) {
			return
		}
		res, err := svc.AddDocument(r.Context(), r.PathValue("id"), casesvc.NewDocument{Kind: in.Kind, Filename: in.Filename,
			ContentType: in.ContentType, Size: in.Size, SHA256: in.SHA256, BlobRef: in.BlobRef, Channel: in.Channel,
			Conversation: in.Conversation, Actor: in.Actor})
		if !svcErr(w, r, err) {
			ok(w, WireDocumentResult{Case: WrapCase(res.Case), Document: res.Document, BlobRef: res.Document.BlobRef,
				Completed: res.Completed, Duplicate: res.Duplicate})
		}
	})
	handle("POST /internal/v1/cases/{id}/documents/{doc}/reject", func(w http.ResponseWriter, r *http.Request) {
		in, err := decode[WireReject](w, r)
		if svcErr(w, r, err) {
			return
		}
		c, err := svc.RejectDocument(r.Context(), r.PathValue("id"), r.PathValue("doc"), in.Reason, in.Actor.Staff())
		if !svcErr(w, r, err) {
			ok(w, WrapCase(c))
		}
	})
	handle("POST /internal/v1/cases/{id}/transitions", func(w http.ResponseWriter, r *http.Request) {
		in, err := decode[WireTransition](w, r)
		if svcErr(w, r, err) {
			return
		}
		c, err := svc.Transition(r.Context(), r.PathValue("id"), in.Request, in.Actor.Staff())
		if !svcErr(w, r, err) {
			ok(w, WrapCase(c))
		}
	})
	handle("GET /internal/v1/deadlines", func(w http.ResponseWriter, r *http.Request) {
		now, err := timeParam(r, "now")
		if svcErr(w, r, err) {
			return
		}
		soon, err := time.ParseDuration(r.URL.Query().Get("soon"))
		if err != nil {
			s.error(w, r, casesvc.Errorf(casesvc.EINVALID, "soon must be a Go duration."))
			return
		}
		items, err := svc.Overdue(r.Context(), now, soon)
		if !svcErr(w, r, err) {
			ok(w, items)
		}
	})

	handle("GET /internal/v1/audit", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		entries, err := svc.Audit(r.Context(), casesvc.AuditFilter{CaseID: q.Get("case"), Complaint: q.Get("complaint"), Actor: q.Get("actor")})
		if !svcErr(w, r, err) {
			if entries == nil {
				entries = []casesvc.AuditEntry{}
			}
			ok(w, entries)
		}
	})
	handle("POST /internal/v1/audit", func(w http.ResponseWriter, r *http.Request) {
		in, err := decode[casesvc.AuditEntry](w, r)
		if svcErr(w, r, err) {
			return
		}
		if !svcErr(w, r, svc.RecordAudit(r.Context(), in)) {
			noContent(w)
		}
	})

	handle("GET /internal/v1/emergency", func(w http.ResponseWriter, r *http.Request) {
		e, err := svc.CurrentEmergency(r.Context())
		if !svcErr(w, r, err) {
			ok(w, WireEmergency{Emergency: e})
		}
	})
	handle("PUT /internal/v1/emergency", func(w http.ResponseWriter, r *http.Request) {
		in, err := decode[WireSetEmergency](w, r)
		if svcErr(w, r, err) {
			return
		}
		e, err := svc.SetEmergency(r.Context(), in.Emergency, in.Actor.Staff())
		if !svcErr(w, r, err) {
			ok(w, WireEmergency{Emergency: e})
		}
	})

	handle("GET /internal/v1/notices/pending", func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		ns, err := svc.PendingNotices(r.Context(), limit)
		if !svcErr(w, r, err) {
			if ns == nil {
				ns = []casesvc.Notice{}
			}
			ok(w, ns)
		}
	})
	handle("POST /internal/v1/notices/{id}/delivered", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			s.error(w, r, casesvc.Errorf(casesvc.ENOTFOUND, "Notice %s was not found.", r.PathValue("id")))
			return
		}
		if !svcErr(w, r, svc.MarkNoticeDelivered(r.Context(), id)) {
			noContent(w)
		}
	})

	handle("POST /internal/v1/complaints", func(w http.ResponseWriter, r *http.Request) {
		in, err := decode[WireNewComplaint](w, r)
		if svcErr(w, r, err) {
			return
		}
		c, err := svc.CreateComplaint(r.Context(), casesvc.NewComplaint{IdempotencyKey: r.Header.Get(IdempotencyKeyHeader),
			Category: in.Category, Description: in.Description, CaseID: in.CaseID, PolicyNumber: in.PolicyNumber,
			Complainant: in.Complainant, Channel: in.Channel, Conversation: in.Conversation, Contact: in.Contact, Actor: in.Actor})
		if !svcErr(w, r, err) {
			ok(w, c)
		}
	})
	handle("GET /internal/v1/complaints", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := casesvc.ComplaintFilter{Status: q.Get("status"), PolicyNumber: q.Get("policy_number")}
		f.Page, _ = strconv.Atoi(q.Get("page"))
		f.PerPage, _ = strconv.Atoi(q.Get("per_page"))
		list, total, err := svc.Complaints(r.Context(), f)
		if !svcErr(w, r, err) {
			if list == nil {
				list = []*casesvc.Complaint{}
			}
			ok(w, WireComplaintList{Complaints: list, Total: total})
		}
	})
	handle("GET /internal/v1/complaints/{id}", func(w http.ResponseWriter, r *http.Request) {
		c, err := svc.Complaint(r.Context(), r.PathValue("id"))
		if !svcErr(w, r, err) {
			ok(w, c)
		}
	})
	handle("POST /internal/v1/complaints/{id}/transitions", func(w http.ResponseWriter, r *http.Request) {
		in, err := decode[WireComplaintTransition](w, r)
		if svcErr(w, r, err) {
			return
		}
		c, err := svc.ComplaintTransition(r.Context(), r.PathValue("id"), in.Request, in.Actor.Staff())
		if !svcErr(w, r, err) {
			ok(w, c)
		}
	})
	handle("POST /internal/v1/complaints/escalate-overdue", func(w http.ResponseWriter, r *http.Request) {
		in, err := decode[WireEscalate](w, r)
		if svcErr(w, r, err) {
			return
		}
		out, err := svc.EscalateOverdue(r.Context(), in.Now)
		if !svcErr(w, r, err) {
			if out == nil {
				out = []*casesvc.Complaint{}
			}
			ok(w, out)
		}
	})
	handle("GET /internal/v1/alerts", func(w http.ResponseWriter, r *http.Request) {
		since, err := timeParam(r, "since")
		if svcErr(w, r, err) {
			return
		}
		as, err := svc.Alerts(r.Context(), since)
		if !svcErr(w, r, err) {
			ok(w, nonNilAlerts(as))
		}
	})
	handle("GET /internal/v1/alerts/pending", func(w http.ResponseWriter, r *http.Request) {
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		as, err := svc.PendingAlerts(r.Context(), limit)
		if !svcErr(w, r, err) {
			ok(w, nonNilAlerts(as))
		}
	})
	handle("POST /internal/v1/alerts/{id}/delivered", func(w http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			s.error(w, r, casesvc.Errorf(casesvc.ENOTFOUND, "Alert %s was not found.", r.PathValue("id")))
			return
		}
		if !svcErr(w, r, svc.MarkAlertDelivered(r.Context(), id)) {
			noContent(w)
		}
	})
	putBlob := func(w http.ResponseWriter, r *http.Request) {
		if s.blobs == nil {
			s.error(w, r, casesvc.Errorf(casesvc.EUNAVAILABLE, "This case service keeps no documents."))
			return
		}
		body := http.MaxBytesReader(w, r.Body, MaxBlobBytes+1)
		ref, sum, size, err := s.blobs.Put(r.Context(), body, MaxBlobBytes)
		var tooBig *http.MaxBytesError
		switch {
		case errors.Is(err, blobstore.ErrTooLarge) || errors.As(err, &tooBig):
			s.error(w, r, casesvc.Errorf(codeTooLarge, "The document is larger than %d bytes.", MaxBlobBytes))
			return
		case errors.Is(err, blobstore.ErrEmpty):
			s.error(w, r, casesvc.Errorf(casesvc.EINVALID, "The document is empty."))
			return
		case err != nil:
			s.error(w, r, err)
			return
		}
		if want := strings.ToLower(r.Header.Get(BlobSHA256Header)); want != "" && want != sum {
			// The bytes arrived damaged or cut short; what was stored is unreferenced.
			s.error(w, r, casesvc.Errorf(casesvc.EINVALID, "The document's SHA-256 does not match %s.", BlobSHA256Header))
			return
		}
		ok(w, WireBlob{Ref: ref, SHA256: sum, Size: size})
	}
	handle("PUT /internal/v1/blobs", putBlob)
	handle("POST /internal/v1/blobs", putBlob)
	handle("GET /internal/v1/blobs/{ref}", func(w http.ResponseWriter, r *http.Request) {
		if s.blobs == nil {
			s.error(w, r, casesvc.Errorf(casesvc.EUNAVAILABLE, "This case service keeps no documents."))
			return
		}
		rc, err := s.blobs.Open(r.PathValue("ref"))
		if svcErr(w, r, err) {
			return
		}
		defer rc.Close()
		h := w.Header()
		h.Set("Content-Type", "application/octet-stream")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		if rs, isSeeker := rc.(io.ReadSeeker); isSeeker {
			http.ServeContent(w, r, "", time.Time{}, rs)
			return
		}
		w.WriteHeader(http.StatusOK)
		if _, err := io.Copy(w, rc); err != nil {
			s.logger.Warn("casesvc http: blob content", "route", r.Pattern, "err", err)
		}
	})
	mux.Handle("/", s.wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.error(w, r, casesvc.Errorf(casesvc.ENOTFOUND, "No such endpoint."))
	})))
	return mux
}

func wrapCases(cs []*casesvc.Case) []WireCase {
	out := make([]WireCase, 0, len(cs))
	for _, c := range cs {
		out = append(out, WrapCase(c))
	}
	return out
}

func nonNilAlerts(as []casesvc.Alert) []casesvc.Alert {
	if as == nil {
		return []casesvc.Alert{}
	}
	return as
}

// timeParam reads a required RFC 3339 time from the query.
func timeParam(r *http.Request, name string) (time.Time, error) {
	v := strings.TrimSpace(r.URL.Query().Get(name))
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, casesvc.Errorf(casesvc.EINVALID, "%s must be an RFC 3339 time.", name)
	}
	return t, nil
}
