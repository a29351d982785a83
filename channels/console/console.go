// Package console is the agent console: the websocket of spec/http-api.md section 2 at
// /console/ws and the embedded page at /console/. Agents sign in with a staff token, see the live
// queue, accept conversations (or receive them when ready), read the whole transcript and the linked
// case (masked per role; unmasked views are audited), reply, transfer and end. Supervisors also get
// a live view of every conversation, the queue and the agents' load. The frames are documented in
// docs/console.md. It is the only package besides webchat that knows gorilla/websocket.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/channels/handoff"
)

// Authenticator checks staff tokens; *httpapi.Authenticator satisfies it.
type Authenticator interface {
	Authenticate(token string) (casesvc.Staff, bool)
}

// Cases is what the console shows of the case service; casesvc.Service satisfies it.
type Cases interface {
	CasesByPolicy(ctx context.Context, number string) ([]*casesvc.Case, error)
	Policy(ctx context.Context, number string) (*casesvc.Policy, error)
	RecordAudit(ctx context.Context, e casesvc.AuditEntry) error
}

// Config holds the Server's dependencies. Handoff, Router and Auth are required.
type Config struct {
	Handoff *handoff.Service
	Router  *channels.Router
	Auth    Authenticator
	Cases   Cases // optional: without it no linked case is shown
	// Canned replies, JSON {"zh-TW": [{"id","title","text"}], "en": [...]}; default the embedded set.
	Canned         []byte
	AllowedOrigins []string // besides the server's own host; "*" allows any
	Logger         *slog.Logger
	Location       *time.Location // zone of times; default Asia/Taipei
	PingInterval   time.Duration  // default 25s
	// Alerts, when set, are the case service's mass-complaint alerts; Run delivers them to every
	// signed-in supervisor and manager (an `alert` frame). AlertInterval is how often they are
	// polled; default 1s.
	Alerts        Alerts
	AlertInterval time.Duration
}

// CannedReply is one prepared answer an agent can insert.
type CannedReply struct {
	ID    string `json:"id"`
	Title string `json:"title"`
	Text  string `json:"text"`
}

// Server serves the console page and websocket.
type Server struct {
	cfg      Config
	log      *slog.Logger
	loc      *time.Location
	ping     time.Duration
	canned   map[string][]CannedReply
	static   fs.FS
	upgrader websocket.Upgrader

	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool

	alerts     alertState
	alertEvery time.Duration
}

//go:embed static canned.json
var files embed.FS

// New returns a Server.
func New(cfg Config) (*Server, error) {
	if cfg.Handoff == nil || cfg.Router == nil || cfg.Auth == nil {
		return nil, errors.New("console: Handoff, Router and Auth required")
	}
	s := &Server{cfg: cfg, log: cfg.Logger, loc: cfg.Location, ping: cfg.PingInterval, conns: map[*conn]struct{}{}}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.loc == nil {
		loc, err := time.LoadLocation("Asia/Taipei")
		if err != nil {
			loc = time.FixedZone("CST", 8*3600)
		}
		s.loc = loc
	}
	if s.ping <= 0 {
		s.ping = 25 * time.Second
	}
	s.alertEvery = cfg.AlertInterval
	if s.alertEvery <= 0 {
		s.alertEvery = time.Second
	}
	raw := cfg.Canned
	if raw == nil {
		var err error
		if raw, err = files.ReadFile("canned.json"); err != nil {
			return nil, err
		}
	}
	if err := json.Unmarshal(raw, &s.canned); err != nil {
		return nil, errors.New("console: canned replies: " + err.Error())
	}
	sub, err := fs.Sub(files, "static")
	if err != nil {
		return nil, err
	}
	s.static = sub
	s.upgrader = websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096, CheckOrigin: s.originAllowed}
	return s, nil
}

// Register mounts GET /console/ (the page) and GET /console/ws (the websocket).
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /console/ws", s.handleWebsocket)
	mux.Handle("GET /console/", http.StripPrefix("/console/", s.page()))
	mux.HandleFunc("GET /console", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/console/", http.StatusMovedPermanently)
	})
}

func (s *Server) page() http.Handler {
	fsrv := http.FileServerFS(s.static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Referrer-Policy", "no-referrer")
		w.Header().Set("Cache-Control", "no-cache")
		fsrv.ServeHTTP(w, r)
	})
}

// Close ends every console connection; agents reconnect and resume.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeNow(websocket.CloseGoingAway, "server shutting down")
	}
}

func (s *Server) originAllowed(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return false
	}
	if strings.EqualFold(u.Host, r.Host) {
		return true
	}
	for _, a := range s.cfg.AllowedOrigins {
		if a == "*" || strings.EqualFold(strings.TrimRight(a, "/"), origin) {
			return true
		}
	}
	return false
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// linked finds the case and policy to show beside a conversation, masked for the role; views of
// unmasked data are audited.
func (s *Server) linked(ctx context.Context, staff casesvc.Staff, h handoff.Hold) (*casesvc.Case, *casesvc.Policy) {
	if s.cfg.Cases == nil || h.PolicyNumber == "" {
		return nil, nil
	}
	var kase *casesvc.Case
	if cases, err := s.cfg.Cases.CasesByPolicy(ctx, h.PolicyNumber); err == nil {
		for _, c := range cases {
			if c.Conversation == h.Conversation {
				kase = c
				break
			}
		}
		if kase == nil && len(cases) > 0 {
			kase = cases[0] // newest
		}
	} else {
		s.log.Warn("console: linked case", "conversation", h.Conversation, "code", casesvc.ErrorCode(err))
	}
	pol, err := s.cfg.Cases.Policy(ctx, h.PolicyNumber)
	if err != nil {
		pol = nil
	}
	if staff.Role.SeesUnmasked() && (kase != nil || pol != nil) {
		e := casesvc.AuditEntry{At: time.Now(), Actor: staff.Name, Action: "view_unmasked",
			Policy: h.PolicyNumber, Detail: "console: conversation " + h.Conversation}
		if kase != nil {
			e.CaseID = kase.ID
		}
		if err := s.cfg.Cases.RecordAudit(ctx, e); err != nil {
			// Not audited, not shown.
			s.log.Error("console: audit", "code", casesvc.ErrorCode(err))
			return nil, nil
		}
	}
	return kase.MaskedFor(staff.Role), pol.MaskedFor(staff.Role)
}
