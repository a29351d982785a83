package httpapi

import (
	"net/http"
	"slices"
	"strings"
	"time"

	"claimline/casesvc"
)

// Complaints (spec/http-api.md section 4; casesvc/COMPLAINTS.md). Every staff role may read them;
// the service decides who may act (403) and when (409 invalid_transition).

func (s *server) handleListComplaints() http.Handler {
	type response struct {
		Complaints []*casesvc.Complaint `json:"complaints"`
		Total      int                  `json:"total"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		f := casesvc.ComplaintFilter{Status: q.Get("status"), PolicyNumber: q.Get("policy_number")}
		if f.Status != "" && !slices.Contains(casesvc.ComplaintStatuses(), f.Status) {
			s.error(w, r, casesvc.Errorf(casesvc.EINVALID, "Unknown complaint status %q; the statuses are %s.",
				f.Status, strings.Join(casesvc.ComplaintStatuses(), ", ")))
			return
		}
		var err error
		if f.Page, f.PerPage, err = paging(q); err != nil {
			s.error(w, r, err)
			return
		}
		list, total, err := s.svc.Complaints(r.Context(), f)
		if err != nil {
			s.error(w, r, err)
			return
		}
		// Lists are always masked, as for cases: whole data is shown one audited complaint at a time.
		resp := response{Complaints: make([]*casesvc.Complaint, 0, len(list)), Total: total}
		for _, c := range list {
			resp.Complaints = append(resp.Complaints, c.MaskedFor(casesvc.RoleSpecialist))
		}
		s.json(w, http.StatusOK, resp)
	})
}

func (s *server) handleGetComplaint() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, _ := StaffFrom(r.Context())
		c, err := s.svc.Complaint(r.Context(), r.PathValue("id"))
		if err != nil {
			s.error(w, r, err)
			return
		}
		s.writeComplaint(w, r, st, c)
	})
}

// writeComplaint answers with the complaint as the role may see it (audited like cases).
func (s *server) writeComplaint(w http.ResponseWriter, r *http.Request, st casesvc.Staff, c *casesvc.Complaint) {
	s.writeAsSeen(w, r, st, casesvc.AuditEntry{Complaint: c.ID, Policy: c.PolicyNumber, Detail: "complaint"}, c.MaskedFor(st.Role))
}

func (s *server) handleComplaintTransition() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, _ := StaffFrom(r.Context())
		body, err := decode[casesvc.ComplaintTransitionRequest](w, r)
		if err != nil {
			s.error(w, r, err)
			return
		}
		if strings.TrimSpace(body.Action) == "" {
			s.error(w, r, casesvc.Errorf(casesvc.EINVALID, "action is required; the complaint actions are %s.",
				strings.Join(casesvc.ComplaintActions(), ", ")))
			return
		}
		c, err := s.svc.ComplaintTransition(r.Context(), r.PathValue("id"), body, st)
		if err != nil {
			s.error(w, r, err)
			return
		}
		s.writeComplaint(w, r, st, c)
	})
}

// handleAlerts lists mass-complaint alerts active since ?since= (RFC 3339 or YYYY-MM-DD; default
// the last 24 hours).
func (s *server) handleAlerts() http.Handler {
	type response struct {
		Since  time.Time       `json:"since"`
		Alerts []casesvc.Alert `json:"alerts"`
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		since := s.now().In(s.loc).Add(-24 * time.Hour)
		if v := r.URL.Query().Get("since"); v != "" {
			t, err := parseWhen("since", v, s.loc)
			if err != nil {
				s.error(w, r, err)
				return
			}
			since = t.In(s.loc)
		}
		alerts, err := s.svc.Alerts(r.Context(), since)
		if err != nil {
			s.error(w, r, err)
			return
		}
		if alerts == nil {
			alerts = []casesvc.Alert{}
		}
		s.json(w, http.StatusOK, response{Since: since, Alerts: alerts})
	})
}
