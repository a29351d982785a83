package console

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"claimline/casesvc"
)

// Alerts is where mass-complaint alerts come from; casesvc.Service (ComplaintService) satisfies it.
// The case service detects and records them; the console only delivers them at once to every
// signed-in supervisor and manager, and marks them delivered once one of them has the frame.
type Alerts interface {
	// PendingAlerts returns up to limit alerts not yet delivered to the console, oldest first.
	PendingAlerts(ctx context.Context, limit int) ([]casesvc.Alert, error)
	// MarkAlertDelivered records that the console showed an alert. Idempotent.
	MarkAlertDelivered(ctx context.Context, id int64) error
	// Alerts lists alerts whose event was active at or after since (shown again after a restart).
	Alerts(ctx context.Context, since time.Time) ([]casesvc.Alert, error)
}

// alertFrame is the `alert` frame (docs/console.md).
type alertFrame struct {
	Type          string   `json:"type"` // alert
	ID            int64    `json:"id"`
	Key           string   `json:"key"` // casesvc.Alert.IdempotencyID: drop a repeat
	Kind          string   `json:"kind"`
	Topic         string   `json:"topic"`
	Topics        []string `json:"topics"`
	Category      string   `json:"category,omitempty"`
	Count         int      `json:"count"`
	Threshold     int      `json:"threshold"`
	Window        string   `json:"window"`
	WindowSeconds int      `json:"window_seconds"`
	At            string   `json:"at"`
	FirstAt       string   `json:"first_at"`
	LastAt        string   `json:"last_at"`
	Complaints    []string `json:"complaints"`
}

type alertEntry struct {
	frame     alertFrame
	delivered bool // a supervisor or manager has the frame
	marked    bool // the case service knows
	raised    time.Time
}

// alertState is the Server's alerts, guarded by mu (taken before Server.mu, never after).
type alertState struct {
	mu      sync.Mutex
	entries []*alertEntry             // recent alerts, oldest first
	acked   map[string]map[int64]bool // staff name → acknowledged alert ids
	on      map[*conn]bool            // connections that receive alerts
}

const (
	maxAlerts  = 50
	alertKeep  = 24 * time.Hour
	alertBatch = 50
)

// receivesAlerts: supervisors and managers (domain.md "Complaints").
func receivesAlerts(r casesvc.Role) bool {
	return r == casesvc.RoleSupervisor || r == casesvc.RoleManager
}

func (s *Server) frameOf(a casesvc.Alert) alertFrame {
	f := alertFrame{Type: "alert", ID: a.ID, Key: a.IdempotencyID(), Kind: a.Kind, Topics: a.Topics, Count: a.Count,
		Threshold: a.Threshold, Window: a.Window, At: s.ts(a.RaisedAt), FirstAt: s.ts(a.FirstAt), LastAt: s.ts(a.LastAt),
		Complaints: a.Complaints}
	if f.Kind == "" {
		f.Kind = casesvc.AlertMassComplaint
	}
	if f.Topics == nil {
		f.Topics = []string{}
	}
	if f.Complaints == nil {
		f.Complaints = []string{}
	}
	if len(a.Topics) > 0 {
		f.Topic = a.Topics[0]
	}
	for _, t := range a.Topics {
		if c, ok := strings.CutPrefix(t, "category:"); ok {
			f.Category = c
			break
		}
	}
	if d, err := time.ParseDuration(a.Window); err == nil {
		f.WindowSeconds = int(d.Seconds())
	}
	return f
}

func (s *Server) ts(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.In(s.loc).Format(time.RFC3339)
}

// Run delivers the case service's mass-complaint alerts until ctx ends (without Config.Alerts it
// only waits). Start it beside the server; one Run per Server.
func (s *Server) Run(ctx context.Context) {
	if s.cfg.Alerts == nil {
		<-ctx.Done()
		return
	}
	// Alerts still open from before a restart are shown again to whoever signs in.
	if recent, err := s.cfg.Alerts.Alerts(ctx, time.Now().Add(-alertKeep)); err == nil {
		for i := len(recent) - 1; i >= 0; i-- { // newest first → oldest first
			if a := recent[i]; a.Open && a.Delivered != nil {
				s.addAlert(a, true)
			}
		}
	} else if ctx.Err() == nil {
		s.log.Warn("console: recent alerts", "code", casesvc.ErrorCode(err))
	}
	t := time.NewTicker(s.alertEvery)
	defer t.Stop()
	for {
		s.pollAlerts(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (s *Server) pollAlerts(ctx context.Context) {
	pending, err := s.cfg.Alerts.PendingAlerts(ctx, alertBatch)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("console: pending alerts", "code", casesvc.ErrorCode(err))
		}
		return
	}
	for _, a := range pending {
		s.addAlert(a, false)
	}
	// Mark what a supervisor or manager has seen; the rest stays pending until one signs in.
	s.alerts.mu.Lock()
	var mark []*alertEntry
	for _, e := range s.alerts.entries {
		if e.delivered && !e.marked {
			mark = append(mark, e)
		}
	}
	s.alerts.mu.Unlock()
	for _, e := range mark {
		if err := s.cfg.Alerts.MarkAlertDelivered(ctx, e.frame.ID); err != nil {
			s.log.Warn("console: mark alert delivered", "alert", e.frame.ID, "code", casesvc.ErrorCode(err))
			continue
		}
		s.alerts.mu.Lock()
		e.marked = true
		s.alerts.mu.Unlock()
		s.log.Info("console: mass-complaint alert delivered", "alert", e.frame.ID)
	}
}

// addAlert keeps a new alert and pushes it to every connection that receives alerts.
func (s *Server) addAlert(a casesvc.Alert, marked bool) {
	s.alerts.mu.Lock()
	defer s.alerts.mu.Unlock()
	for _, e := range s.alerts.entries {
		if e.frame.ID == a.ID {
			return
		}
	}
	e := &alertEntry{frame: s.frameOf(a), marked: marked, delivered: marked, raised: a.RaisedAt}
	s.alerts.entries = append(s.alerts.entries, e)
	cut := 0
	for cut < len(s.alerts.entries)-1 && (len(s.alerts.entries)-cut > maxAlerts || time.Since(s.alerts.entries[cut].raised) > alertKeep) {
		cut++
	}
	s.alerts.entries = s.alerts.entries[cut:]
	for c := range s.alerts.on {
		c.enqueue(e.frame)
		e.delivered = true
	}
}

// joinAlerts sends a supervisor's connection the alerts they have not acknowledged and makes it
// receive new ones (atomically: nothing is missed or sent twice).
func (s *Server) joinAlerts(c *conn) {
	if !receivesAlerts(c.staff.Role) {
		return
	}
	s.alerts.mu.Lock()
	defer s.alerts.mu.Unlock()
	if s.alerts.on == nil {
		s.alerts.on = map[*conn]bool{}
	}
	s.alerts.on[c] = true
	for _, e := range s.alerts.entries {
		if !s.alerts.acked[c.staff.Name][e.frame.ID] {
			c.enqueue(e.frame)
			e.delivered = true
		}
	}
}

func (s *Server) leaveAlerts(c *conn) {
	s.alerts.mu.Lock()
	delete(s.alerts.on, c)
	s.alerts.mu.Unlock()
}

// ackAlert records that a supervisor or manager acknowledged an alert: in the audit trail, and on
// every console they have open. ENOTFOUND, EFORBIDDEN.
func (s *Server) ackAlert(ctx context.Context, staff casesvc.Staff, id int64) error {
	if !receivesAlerts(staff.Role) {
		return casesvc.Errorf(casesvc.EFORBIDDEN, "Only supervisors and managers receive alerts.")
	}
	s.alerts.mu.Lock()
	var found *alertEntry
	for _, e := range s.alerts.entries {
		if e.frame.ID == id {
			found = e
		}
	}
	s.alerts.mu.Unlock()
	if found == nil {
		return casesvc.Errorf(casesvc.ENOTFOUND, "No such alert.")
	}
	if s.cfg.Cases != nil {
		e := casesvc.AuditEntry{At: time.Now(), Actor: staff.Name, Action: "alert_acknowledged",
			Detail: "console: " + found.frame.Kind + " alert " + strconv.FormatInt(id, 10)}
		if len(found.frame.Complaints) > 0 {
			e.Complaint = found.frame.Complaints[0]
		}
		if err := s.cfg.Cases.RecordAudit(ctx, e); err != nil {
			return err
		}
	}
	s.alerts.mu.Lock()
	defer s.alerts.mu.Unlock()
	if s.alerts.acked == nil {
		s.alerts.acked = map[string]map[int64]bool{}
	}
	if s.alerts.acked[staff.Name] == nil {
		s.alerts.acked[staff.Name] = map[int64]bool{}
	}
	s.alerts.acked[staff.Name][id] = true
	for c := range s.alerts.on {
		if c.staff.Name == staff.Name {
			c.enqueue(map[string]any{"type": "alert_acked", "id": id})
		}
	}
	return nil
}
