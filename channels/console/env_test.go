package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"claimline/casesvc"
	"claimline/casesvc/httpapi"
	casesqlite "claimline/casesvc/sqlite"
	"claimline/channels"
	"claimline/channels/console"
	"claimline/channels/handoff"
	"claimline/channels/quality"
	"claimline/channels/sqlitestore"
	"claimline/channels/webchat"
	"claimline/dialog"
	"claimline/dialog/nlu"
)

var staff = []casesvc.Staff{
	{Name: "alice", Role: casesvc.RoleSpecialist, Token: "alice-token-0123456789"},
	{Name: "bob", Role: casesvc.RoleSpecialist, Token: "bob-token-0123456789ab"},
	{Name: "sue", Role: casesvc.RoleSupervisor, Token: "sue-token-0123456789abc"},
	{Name: "max", Role: casesvc.RoleManager, Token: "max-token-0123456789abcd"},
	{Name: "ada", Role: casesvc.RoleAdmin, Token: "ada-token-0123456789abcde"},
}

// clock is the handoff's controllable clock: the real time plus an offset tests advance.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// env is the embedded deployment as cmd/claimline wires it, plus handoff and the console.
type env struct {
	t      *testing.T
	dir    string
	cases  *casesqlite.Service
	store  *sqlitestore.Store
	hs     *handoff.Service
	router *channels.Router
	wc     *webchat.Server
	cs     *console.Server
	reg    *prometheus.Registry
	clock  *clock
	srv    *httptest.Server
	cancel context.CancelFunc
}

func newEnv(t *testing.T, dir string) *env {
	t.Helper()
	return newEnvHours(t, dir, handoff.Hours{Always: true})
}

func newEnvHours(t *testing.T, dir string, hours handoff.Hours) *env {
	t.Helper()
	ctx := context.Background()
	loc, _ := time.LoadLocation("Asia/Taipei")
	e := &env{t: t, dir: dir, reg: prometheus.NewRegistry(), clock: &clock{}}
	var err error
	if e.cases, err = casesqlite.New(filepath.Join(dir, "casesvc.db"), casesqlite.Config{Location: loc,
		MassComplaint: casesvc.MassComplaintRules{Threshold: 3, Window: time.Hour}}); err != nil {
		t.Fatal(err)
	}
	if _, err := casesqlite.SeedDemo(ctx, e.cases); err != nil {
		t.Fatal(err)
	}
	if e.store, err = sqlitestore.New(filepath.Join(dir, "channels.db")); err != nil {
		t.Fatal(err)
	}
	n, err := nlu.New(nlu.Config{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	e.hs, err = handoff.New(handoff.Config{Path: filepath.Join(dir, "channels.db"), Cases: e.cases,
		Hours: hours, Tick: 50 * time.Millisecond, Now: e.clock.now, Metrics: handoff.NewMetrics(e.reg)})
	if err != nil {
		t.Fatal(err)
	}
	e.reg.MustRegister(e.hs.BotCollector(24 * time.Hour))
	engine, err := dialog.New(dialog.Config{Cases: e.cases, NLU: dialog.BuiltinNLU(n), Location: loc, Handoff: e.hs, Ratings: e.hs})
	if err != nil {
		t.Fatal(err)
	}
	if e.router, err = channels.NewRouter(channels.RouterConfig{Store: e.store, Dialog: engine, Handoffs: e.hs}); err != nil {
		t.Fatal(err)
	}
	e.hs.Attach(e.router)
	if _, err := e.router.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	auth, err := httpapi.NewAuthenticator(staff)
	if err != nil {
		t.Fatal(err)
	}
	if e.wc, err = webchat.New(webchat.Config{Router: e.router, PingInterval: time.Second}); err != nil {
		t.Fatal(err)
	}
	if e.cs, err = console.New(console.Config{Handoff: e.hs, Router: e.router, Auth: auth, Cases: e.cases, PingInterval: time.Second,
		Alerts: e.cases, AlertInterval: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	qa, err := quality.New(quality.Config{Handoff: e.hs, Conversations: e.router, Auth: auth, Audit: e.cases, Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.wc.Register(mux)
	e.cs.Register(mux)
	qa.Register(mux)
	e.srv = httptest.NewServer(mux)
	var runCtx context.Context
	runCtx, e.cancel = context.WithCancel(context.Background())
	go e.hs.Run(runCtx)
	go e.cs.Run(runCtx)
	t.Cleanup(e.close)
	return e
}

func (e *env) close() {
	if e.srv == nil {
		return
	}
	e.cancel()
	e.wc.Close()
	e.cs.Close()
	e.srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	e.router.Close(ctx)
	e.hs.Close()
	e.store.Close()
	e.cases.Close()
	e.srv = nil
}

// ws is a test websocket client collecting frames.
type ws struct {
	t      *testing.T
	c      *websocket.Conn
	frames chan map[string]any
}

func (e *env) dial(path string) *ws {
	e.t.Helper()
	u := "ws" + strings.TrimPrefix(e.srv.URL, "http") + path
	c, _, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	w := &ws{t: e.t, c: c, frames: make(chan map[string]any, 1000)}
	go func() {
		defer close(w.frames)
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			var f map[string]any
			json.Unmarshal(data, &f)
			w.frames <- f
		}
	}()
	e.t.Cleanup(func() { c.Close() })
	return w
}

func (w *ws) send(v any) {
	w.t.Helper()
	if err := w.c.WriteJSON(v); err != nil {
		w.t.Fatal(err)
	}
}

// next returns the next frame matching pred, skipping others; it fails after a timeout.
func (w *ws) next(what string, pred func(map[string]any) bool) map[string]any {
	w.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case f, ok := <-w.frames:
			if !ok {
				w.t.Fatalf("connection closed while waiting for %s", what)
			}
			if pred(f) {
				return f
			}
		case <-deadline:
			w.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func typ(t string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["type"] == t }
}

func typConv(t, conv string) func(map[string]any) bool {
	return func(f map[string]any) bool { return f["type"] == t && f["conversation"] == conv }
}

// agent signs in to the console.
func (e *env) agent(token string, lastSeq map[string]int64) *ws {
	w := e.dial("/console/ws")
	w.send(map[string]any{"type": "auth", "token": token, "last_seq": lastSeq})
	w.next("welcome", typ("welcome"))
	return w
}

// customer opens web chat and returns the socket and the conversation id.
func (e *env) customer() (*ws, string) {
	w := e.dial("/webchat/ws")
	w.send(map[string]any{"type": "hello", "lang": "zh-TW"})
	f := w.next("welcome", typ("welcome"))
	return w, f["conversation"].(string)
}

type restReply struct {
	Conversation string           `json:"conversation"`
	Replies      []map[string]any `json:"replies"`
	Messages     []map[string]any `json:"messages"`
}

func (e *env) rest(sender, text string) restReply {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"sender": sender, "text": text, "lang": "zh-TW"})
	resp, err := http.Post(e.srv.URL+"/api/v1/rest/messages", "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		e.t.Fatalf("rest: %d %s", resp.StatusCode, data)
	}
	var r restReply
	json.Unmarshal(data, &r)
	return r
}

func (e *env) restAfter(sender string, after int) []map[string]any {
	e.t.Helper()
	resp, err := http.Get(e.srv.URL + "/api/v1/rest/messages?sender=" + sender + "&after_seq=" + itoa(after))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r restReply
	json.NewDecoder(resp.Body).Decode(&r)
	return r.Messages
}

// waitREST polls the REST channel until a message after `after` contains want.
func (e *env) waitREST(sender string, after int, want string) map[string]any {
	e.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, m := range e.restAfter(sender, after) {
			if strings.Contains(m["text"].(string), want) {
				return m
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	e.t.Fatalf("REST %s: no message with %q", sender, want)
	return nil
}

func itoa(n int) string { return strings.TrimSpace(strings.Replace(jsonNum(n), "\n", "", -1)) }

func jsonNum(n int) string { b, _ := json.Marshal(n); return string(b) }

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func (e *env) restAction(sender, action string) restReply {
	e.t.Helper()
	body, _ := json.Marshal(map[string]string{"sender": sender, "action": action, "lang": "zh-TW"})
	resp, err := http.Post(e.srv.URL+"/api/v1/rest/messages", "application/json", bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var r restReply
	json.NewDecoder(resp.Body).Decode(&r)
	return r
}
