// Package webchat is the web chat channel: the customer websocket (GET /webchat/ws, http-api.md 1.1),
// the synchronous REST channel (/api/v1/rest/messages, 1.3) and the embedded chat widget at /.
// It is the only package that knows gorilla/websocket.
package webchat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"claimline/channels"
)

// maxFrame is the largest inbound websocket frame and REST body (http-api.md 1.1).
const maxFrame = 16 << 10

// Config holds the Server's dependencies. Router is required.
type Config struct {
	Router *channels.Router
	// AllowedOrigins lists extra browser origins ("https://www.example.com.tw") allowed to open the
	// websocket; the server's own host is always allowed, "*" allows any.
	AllowedOrigins []string
	Logger         *slog.Logger      // default slog.Default()
	Metrics        *channels.Metrics // default the router's
	// PingInterval is how often the server pings an idle connection; a connection silent for two
	// intervals is dropped. Default 25s.
	PingInterval time.Duration
	// Location is the zone of the ts fields. Default Asia/Taipei (+08:00).
	Location *time.Location
	// Documents stores uploaded files (POST /webchat/upload); without it the upload answers 503.
	Documents Documents
	// UploadTempDir holds an upload's files while they are checked, before any is stored; default
	// os.TempDir(). Each file is at most MaxUploadSize; a request at most MaxUploadFiles files.
	UploadTempDir string
}

// Server serves the web chat websocket, the REST channel and the widget.
type Server struct {
	router   *channels.Router
	allowed  []string
	log      *slog.Logger
	metrics  *channels.Metrics
	ping     time.Duration
	loc      *time.Location
	upgrader websocket.Upgrader
	static   fs.FS
	docs     Documents
	tempDir  string

	// ctx is the context of the websocket's router calls: it ends with Close, not with a request.
	ctx       context.Context
	cancel    context.CancelFunc
	writeWait time.Duration // bound of one write batch; tests shorten it

	// mu guards the ping wheel, which is also the set of open websockets.
	mu         sync.Mutex
	buckets    [pingBuckets]map[*conn]struct{}
	nconns     int
	nextBucket int
	wheel      bool // the wheel's goroutine runs
	closed     bool

	hubMu sync.Mutex
	hubs  map[string]*hub // conversation → its live connections' shared subscription
}

//go:embed static
var staticFiles embed.FS

// New returns a Server; nothing runs until Register's handlers are called.
func New(cfg Config) (*Server, error) {
	if cfg.Router == nil {
		return nil, errors.New("webchat: Router required")
	}
	s := &Server{
		router: cfg.Router, log: cfg.Logger, metrics: cfg.Metrics, ping: cfg.PingInterval, loc: cfg.Location,
		docs: cfg.Documents, tempDir: cfg.UploadTempDir, writeWait: writeWait, hubs: make(map[string]*hub),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, o := range cfg.AllowedOrigins {
		if o = strings.TrimRight(strings.TrimSpace(o), "/"); o != "" {
			s.allowed = append(s.allowed, o)
		}
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	if s.metrics == nil {
		s.metrics = cfg.Router.Metrics()
	}
	if s.ping <= 0 {
		s.ping = 25 * time.Second
	}
	if s.loc == nil {
		loc, err := time.LoadLocation("Asia/Taipei")
		if err != nil {
			loc = time.FixedZone("CST", 8*3600) // no tzdata on the host; Taiwan has no DST
		}
		s.loc = loc
	}
	s.upgrader = websocket.Upgrader{
		// A small read buffer for the connection's life (gorilla reads bigger frames past it) and a
		// pooled write buffer, taken only while a frame is written: an idle connection holds neither
		// net/http's buffers (dropped after the hijack) nor a write buffer.
		ReadBufferSize: readBufferSize, WriteBufferSize: writeBufferSize, WriteBufferPool: &writePool,
		// Checked before Upgrade so a refusal is our JSON 403; this only repeats it.
		CheckOrigin: s.originAllowed,
	}
	sub, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	s.static = sub
	return s, nil
}

// Register mounts the websocket, the REST channel and the widget on mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("/webchat/ws", s.handleWebsocket)
	mux.HandleFunc("/api/v1/rest/messages", s.handleREST)
	mux.HandleFunc("/webchat/upload", s.handleUpload)
	mux.HandleFunc("/", s.handleWidget)
}

// writePool lends gorilla its write buffers, shared by every connection of every Server.
var writePool sync.Pool

// Close ends every open websocket (http.Server.Shutdown does not see hijacked connections) and
// refuses new ones: each gets a close frame after what is already queued (within the write
// deadline). Clients reconnect elsewhere and resume by seq.
func (s *Server) Close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	conns := s.allConns()
	for _, c := range conns {
		c.closeAfterQueue(websocket.CloseGoingAway, "server shutting down")
	}
	s.cancel()
}

// originAllowed: browsers always send Origin on websocket requests; tools that send none are allowed
// because Origin only guards against other sites riding a visitor's browser.
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
	for _, a := range s.allowed {
		if a == "*" || strings.EqualFold(a, origin) {
			return true
		}
	}
	return false
}

// newSession returns a resume token (32 random bytes, base64url) and the contact key stored for it.
func newSession() (token, contact string) {
	b := make([]byte, 32)
	rand.Read(b)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, sessionContact(token)
}

// sessionContact is what the store keeps of a session: its SHA-256, so a database leak yields no
// usable tokens.
func sessionContact(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// validSession reports whether token has the shape newSession gives.
func validSession(token string) bool {
	b, err := base64.RawURLEncoding.DecodeString(token)
	return err == nil && len(b) == 32
}

// wireMessage is a stored message as clients see it (websocket `message` frame, REST replies).
type wireMessage struct {
	Seq     int64             `json:"seq"`
	From    string            `json:"from"`
	Text    string            `json:"text"`
	Buttons []channels.Button `json:"buttons,omitempty"`
	Agent   string            `json:"agent,omitempty"`
	TS      string            `json:"ts"`
	// ID is the client's id of a customer message, so a widget can match its own pending bubble.
	ID string `json:"id,omitempty"`
	// Attachments of a customer message: what a client may know of a stored file (no blob refs).
	Attachments []wireAttachment `json:"attachments,omitempty"`
}

type wireAttachment struct {
	ID          string `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

// shown reports whether clients see a stored message: events (proactive notices) are not messages;
// the replies they cause are.
func shown(m channels.Message) bool { return m.Direction != channels.DirEvent }

func (s *Server) wire(m channels.Message) wireMessage {
	w := wireMessage{Seq: m.Seq, From: m.From, Text: m.Text, Buttons: m.Buttons, TS: m.TS.In(s.loc).Format(time.RFC3339)}
	if m.From == channels.FromAgent {
		w.Agent = m.Agent
	}
	if m.Direction == channels.DirIn {
		w.ID = m.ClientID
	}
	for _, a := range m.Attachments {
		w.Attachments = append(w.Attachments, wireAttachment{ID: a.ID, Filename: a.Filename, ContentType: a.ContentType, Size: a.Size})
	}
	return w
}
