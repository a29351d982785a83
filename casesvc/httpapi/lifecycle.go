package httpapi

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"claimline/casesvc"
)

// parseWhen reads a date (YYYY-MM-DD, midnight in loc) or an RFC 3339 time; "" is nil.
func parseWhen(field, v string, loc *time.Location) (*time.Time, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	if t, err := time.ParseInLocation(time.DateOnly, v, loc); err == nil {
		return &t, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return &t, nil
	}
	return nil, casesvc.Errorf(casesvc.EINVALID,
		"%s must be a date as YYYY-MM-DD (e.g. 2026-12-01) or a time as RFC 3339 (e.g. 2026-12-01T15:00:00+08:00).", field)
}

func (s *server) handleTransition() http.Handler {
	type request struct {
		Action            string   `json:"action"`
		Note              string   `json:"note"`
		Amount            *float64 `json:"amount"`
		Method            string   `json:"method"`
		ExpectedPaymentBy string   `json:"expected_payment_by"`
		Reason            string   `json:"reason"`
		Basis             string   `json:"basis"`
		Reference         string   `json:"reference"`
		PaidAt            string   `json:"paid_at"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, _ := StaffFrom(r.Context())
		body, err := decode[request](w, r)
		if err != nil {
			s.error(w, r, err)
			return
		}
		if strings.TrimSpace(body.Action) == "" {
			s.error(w, r, casesvc.Errorf(casesvc.EINVALID, "action is required; the actions are %s.", strings.Join(casesvc.Actions(), ", ")))
			return
		}
		req := casesvc.TransitionRequest{Action: body.Action, Note: body.Note, Amount: body.Amount, Method: body.Method,
			Reason: body.Reason, Basis: body.Basis, Reference: body.Reference}
		if req.ExpectedPaymentBy, err = parseWhen("expected_payment_by", body.ExpectedPaymentBy, s.loc); err != nil {
			s.error(w, r, err)
			return
		}
		if req.PaidAt, err = parseWhen("paid_at", body.PaidAt, s.loc); err != nil {
			s.error(w, r, err)
			return
		}
		c, err := s.svc.Transition(r.Context(), r.PathValue("id"), req, st)
		if err != nil {
			s.error(w, r, err)
			return
		}
		s.writeCase(w, r, st, c)
	})
}

func (s *server) handleRejectDocument() http.Handler {
	type request struct {
		Reason string `json:"reason"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, _ := StaffFrom(r.Context())
		body, err := decode[request](w, r)
		if err != nil {
			s.error(w, r, err)
			return
		}
		c, err := s.svc.RejectDocument(r.Context(), r.PathValue("id"), r.PathValue("doc"), body.Reason, st)
		if err != nil {
			s.error(w, r, err)
			return
		}
		s.writeCase(w, r, st, c)
	})
}

// handleDocumentContent serves a document's bytes to staff as a download. Every view is audited
// before a byte is sent. The content type is the one sniffed at upload; the browser is told not to
// sniff again nor to run anything in it.
func (s *server) handleDocumentContent() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, _ := StaffFrom(r.Context())
		if s.blobs == nil {
			s.error(w, r, casesvc.Errorf(casesvc.EUNAVAILABLE, "Document content is not available on this server."))
			return
		}
		c, err := s.svc.Case(r.Context(), r.PathValue("id"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		var doc *casesvc.Document
		for i := range c.Documents {
			if c.Documents[i].ID == r.PathValue("doc") {
				doc = &c.Documents[i]
			}
		}
		if doc == nil || doc.BlobRef == "" {
			s.error(w, r, casesvc.Errorf(casesvc.ENOTFOUND, "Case %s has no stored document %s.", c.ID, r.PathValue("doc")))
			return
		}
		rc, err := s.blobs.Open(doc.BlobRef)
		if err != nil {
			s.error(w, r, err)
			return
		}
		defer rc.Close()
		if err := s.svc.RecordAudit(r.Context(), casesvc.AuditEntry{Actor: st.Name, Action: "view_document",
			CaseID: c.ID, Policy: c.PolicyNumber, Detail: "document=" + doc.ID + " kind=" + doc.Kind}); err != nil {
			s.error(w, r, err)
			return
		}
		ct := doc.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		h := w.Header()
		h.Set("Content-Type", ct)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Content-Security-Policy", "sandbox; default-src 'none'")
		h.Set("Cache-Control", "no-store")
		if cd := mime.FormatMediaType("attachment", map[string]string{"filename": doc.Filename}); cd != "" {
			h.Set("Content-Disposition", cd)
		} else {
			h.Set("Content-Disposition", "attachment")
		}
		if rs, ok := rc.(io.ReadSeeker); ok {
			http.ServeContent(w, r, "", doc.ReceivedAt, rs)
			return
		}
		if doc.Size > 0 {
			h.Set("Content-Length", strconv.FormatInt(doc.Size, 10))
		}
		w.WriteHeader(http.StatusOK)
		if _, err := io.Copy(w, rc); err != nil {
			s.logger.Warn("casesvc http: document content", "route", r.Pattern, "err", err)
		}
	})
}

// parseWithin reads a Go duration ("72h", "90m") or whole days ("3d"); from 0 to 366 days.
func parseWithin(v string) (time.Duration, error) {
	if v == "" {
		return 72 * time.Hour, nil
	}
	var d time.Duration
	if n, ok := strings.CutSuffix(v, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil {
			return 0, err
		}
		d = time.Duration(days) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(v); err != nil {
			return 0, err
		}
	}
	if d < 0 || d > 366*24*time.Hour {
		return 0, fmt.Errorf("out of range")
	}
	return d, nil
}

func (s *server) handleDeadlines() http.Handler {
	type response struct {
		Now    time.Time              `json:"now"`
		Within string                 `json:"within"`
		Items  []casesvc.DeadlineItem `json:"items"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		within, err := parseWithin(r.URL.Query().Get("within"))
		if err != nil {
			s.error(w, r, casesvc.Errorf(casesvc.EINVALID, "within must be a duration such as 72h or 3d, at most 366d."))
			return
		}
		now := s.now().In(s.loc)
		items, err := s.svc.Overdue(r.Context(), now, within)
		if err != nil {
			s.error(w, r, err)
			return
		}
		if items == nil {
			items = []casesvc.DeadlineItem{}
		}
		s.json(w, http.StatusOK, response{Now: now, Within: within.String(), Items: items})
	})
}

func (s *server) handleGetEmergency() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := s.svc.CurrentEmergency(r.Context())
		if err != nil {
			s.error(w, r, err)
			return
		}
		if e == nil {
			e = &casesvc.Emergency{Regions: []string{}}
		}
		s.json(w, http.StatusOK, e)
	})
}

func (s *server) handlePutEmergency() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, _ := StaffFrom(r.Context())
		e, err := decode[casesvc.Emergency](w, r)
		if err != nil {
			s.error(w, r, err)
			return
		}
		stored, err := s.svc.SetEmergency(r.Context(), e, st)
		if err != nil {
			s.error(w, r, err)
			return
		}
		s.json(w, http.StatusOK, stored)
	})
}
