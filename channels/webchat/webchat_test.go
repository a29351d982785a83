package webchat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"claimline/channels"
	"claimline/channels/sqlitestore"
	"claimline/channels/webchat"
	"claimline/dialog"
)

// echo is a scripted dialog: a greeting with buttons, then an echo of every text or action.
type echo struct{}

func (echo) Turn(ctx context.Context, state []byte, in dialog.Input) ([]byte, []dialog.Reply, error) {
	switch {
	case in.Event == dialog.EventStart:
		return []byte("started"), []dialog.Reply{{Text: "您好！請問需要什麼協助？", Buttons: []dialog.Button{
			{Label: "申請理賠", Value: "file_claim"}, {Label: "查詢進度", Value: "check_progress"}}}}, nil
	case in.Action != "":
		return state, []dialog.Reply{{Text: "action:" + in.Action}}, nil
	case in.Event == dialog.EventNotice:
		return state, []dialog.Reply{{Text: "notice:" + in.Notice.Kind}}, nil
	case len(in.Attachments) > 0:
		names := make([]string, 0, len(in.Attachments))
		for _, a := range in.Attachments {
			names = append(names, a.Filename+"("+a.ContentType+")")
		}
		return state, []dialog.Reply{{Text: "files:" + strings.Join(names, ",")}}, nil
	}
	return state, []dialog.Reply{{Text: "echo:" + in.Text}}, nil
}

type env struct {
	srv    *httptest.Server
	router *channels.Router
	store  *sqlitestore.Store
	wc     *webchat.Server
}

func newEnv(t *testing.T, origins ...string) *env {
	t.Helper()
	return newEnvDocs(t, nil, origins...)
}

func newEnvDocs(t *testing.T, docs webchat.Documents, origins ...string) *env {
	t.Helper()
	st, err := sqlitestore.New(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := channels.NewRouter(channels.RouterConfig{Store: st, Dialog: echo{}, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	wc, err := webchat.New(webchat.Config{Router: r, AllowedOrigins: origins, Logger: log, PingInterval: time.Second,
		Documents: docs, UploadTempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	wc.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		wc.Close()
		srv.Close()
		r.Close(context.Background())
		st.Close()
	})
	return &env{srv: srv, router: r, store: st, wc: wc}
}

type frame struct {
	Type         string            `json:"type"`
	Session      string            `json:"session"`
	Conversation string            `json:"conversation"`
	Seq          int64             `json:"seq"`
	ID           string            `json:"id"`
	Code         string            `json:"code"`
	From         string            `json:"from"`
	Text         string            `json:"text"`
	Buttons      []channels.Button `json:"buttons"`
	TS           string            `json:"ts"`
}

type client struct {
	t  *testing.T
	ws *websocket.Conn
}

func (e *env) dial(t *testing.T) *client {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(e.srv.URL, "http")+"/webchat/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &client{t: t, ws: ws}
}

func (c *client) send(v any) {
	c.t.Helper()
	if err := c.ws.WriteJSON(v); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) sendRaw(data []byte) {
	c.t.Helper()
	if err := c.ws.WriteMessage(websocket.TextMessage, data); err != nil {
		c.t.Fatal(err)
	}
}

func (c *client) read() frame {
	c.t.Helper()
	c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	var f frame
	if err := c.ws.ReadJSON(&f); err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return f
}

// expect reads one frame and checks its type (and code for errors).
func (c *client) expect(typ string, code ...string) frame {
	c.t.Helper()
	f := c.read()
	if f.Type != typ || (len(code) > 0 && f.Code != code[0]) {
		c.t.Fatalf("got %+v, want %s %v", f, typ, code)
	}
	return f
}

// until reads frames until a message frame with seq, returning every frame read.
func (c *client) until(seq int64) []frame {
	c.t.Helper()
	var out []frame
	for {
		f := c.read()
		out = append(out, f)
		if f.Type == "message" && f.Seq == seq {
			return out
		}
	}
}

// exchange reads until the ack of id and the message with seq both arrived (an ack may come after
// the reply it caused: the turn can finish before the reader goroutine queues the ack).
func (c *client) exchange(id string, seq int64) []frame {
	c.t.Helper()
	var out []frame
	acked, got := false, false
	for !acked || !got {
		f := c.read()
		out = append(out, f)
		acked = acked || (f.Type == "ack" && f.ID == id)
		got = got || (f.Type == "message" && f.Seq == seq)
	}
	return out
}

// quiet checks that no frame arrives for a moment (nothing repeated, nothing extra).
func (c *client) quiet() {
	c.t.Helper()
	c.send(map[string]string{"type": "ping"})
	c.expect("pong")
	c.ws.SetReadDeadline(time.Now().Add(150 * time.Millisecond))
	var f frame
	if err := c.ws.ReadJSON(&f); err == nil {
		c.t.Fatalf("unexpected frame %+v", f)
	}
}

func (c *client) hello(v map[string]any) frame {
	c.t.Helper()
	if v == nil {
		v = map[string]any{}
	}
	v["type"] = "hello"
	c.send(v)
	return c.expect("welcome")
}

func messages(frames []frame) []frame {
	var out []frame
	for _, f := range frames {
		if f.Type == "message" {
			out = append(out, f)
		}
	}
	return out
}

func TestHelloWelcomeGreeting(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t)
	w := c.hello(map[string]any{"lang": "zh-TW"})
	if len(w.Session) != 43 || w.Conversation == "" || w.Seq != 1 {
		t.Fatalf("welcome %+v", w)
	}
	g := c.expect("message")
	if g.Seq != 1 || g.From != "bot" || !strings.HasPrefix(g.Text, "您好") || len(g.Buttons) != 2 || !strings.HasSuffix(g.TS, "+08:00") {
		t.Fatalf("greeting %+v", g)
	}
	c.send(map[string]string{"type": "message", "id": "m1", "text": "你好"})
	frames := c.exchange("m1", 3)
	var ack, mine, reply bool
	for _, f := range frames {
		switch {
		case f.Type == "ack" && f.ID == "m1" && f.Seq == 2:
			ack = true
		case f.Type == "message" && f.Seq == 2 && f.From == "customer" && f.ID == "m1" && f.Text == "你好":
			mine = true
		case f.Type == "message" && f.Seq == 3 && f.From == "bot" && f.Text == "echo:你好":
			reply = true
		}
	}
	if !ack || !mine || !reply {
		t.Fatalf("frames %+v", frames)
	}
	c.send(map[string]string{"type": "action", "id": "a1", "value": "file_claim", "text": "申請理賠"})
	if fs := messages(c.exchange("a1", 5)); fs[len(fs)-1].Text != "action:file_claim" {
		t.Fatalf("action frames %+v", fs)
	}
	c.quiet()
}

func TestResumeLosesNothingRepeatsNothing(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t)
	w := c.hello(nil)
	c.expect("message") // greeting, seq 1
	c.send(map[string]string{"type": "message", "id": "m1", "text": "one"})
	c.exchange("m1", 3)
	c.ws.Close() // the phone goes into a tunnel

	// Meanwhile the conversation goes on (another tab of the same session).
	other := e.dial(t)
	other.hello(map[string]any{"session": w.Session, "last_seq": 3})
	for i := range 3 {
		other.send(map[string]string{"type": "message", "id": fmt.Sprint("o", i), "text": fmt.Sprint("while away ", i)})
	}
	other.until(9)

	back := e.dial(t)
	w2 := back.hello(map[string]any{"session": w.Session, "last_seq": 3})
	if w2.Conversation != w.Conversation || w2.Seq != 9 || w2.Session != w.Session {
		t.Fatalf("welcome back %+v", w2)
	}
	got := messages(back.until(9))
	if len(got) != 6 {
		t.Fatalf("replayed %+v", got)
	}
	for i, f := range got {
		if f.Seq != int64(4+i) {
			t.Fatalf("replay out of order: %+v", got)
		}
	}
	// Live messages continue after the replay, without a gap or a repeat.
	back.send(map[string]string{"type": "message", "id": "b1", "text": "back"})
	live := messages(back.exchange("b1", 11))
	if len(live) != 2 || live[0].Seq != 10 || live[1].Text != "echo:back" {
		t.Fatalf("live %+v", live)
	}
	back.quiet()
}

func TestRepeatedIDProcessedOnce(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t)
	w := c.hello(nil)
	c.expect("message")
	msg := map[string]string{"type": "message", "id": "same", "text": "只一次"}
	c.send(msg)
	c.exchange("same", 3)
	c.send(msg)
	if a := c.expect("ack"); a.ID != "same" || a.Seq != 2 {
		t.Fatalf("second ack %+v", a)
	}
	c.quiet()
	stored, err := e.router.MessagesAfter(context.Background(), w.Conversation, 0, 100)
	if err != nil || len(stored) != 3 {
		t.Fatalf("stored %d %v", len(stored), err)
	}
}

func TestOversizedFrameKeepsConnection(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t)
	c.hello(nil)
	c.expect("message")
	big, _ := json.Marshal(map[string]string{"type": "message", "id": "big", "text": strings.Repeat("字", 17<<10/3+10)})
	if len(big) <= 17<<10 {
		t.Fatalf("frame only %d bytes", len(big))
	}
	c.sendRaw(big)
	c.expect("error", "message_too_large")
	c.send(map[string]string{"type": "ping"})
	c.expect("pong")
	c.send(map[string]string{"type": "message", "id": "small", "text": "ok"})
	if fs := messages(c.exchange("small", 3)); fs[len(fs)-1].Text != "echo:ok" {
		t.Fatalf("after oversized %+v", fs)
	}
}

func TestFrameErrors(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t)
	c.send(map[string]string{"type": "ping"})
	c.expect("pong")
	c.send(map[string]string{"type": "message", "id": "x", "text": "early"})
	c.expect("error", "hello_required")
	c.hello(nil)
	c.expect("message")
	for _, tc := range []struct {
		raw  string
		code string
	}{
		{`{"type":"message",`, "bad_json"},
		{`[1,2]`, "bad_json"},
		{`{"type":"dance"}`, "unknown_type"},
		{`{"type":"message","text":"no id"}`, "invalid_frame"},
		{`{"type":"message","id":"e1","text":"  "}`, "invalid_frame"},
		{`{"type":"action","id":"e2"}`, "invalid_frame"},
		{`{"type":"message","id":5,"text":"x"}`, "invalid_frame"},
		{`{"type":"hello"}`, "invalid_frame"},
	} {
		c.sendRaw([]byte(tc.raw))
		c.expect("error", tc.code)
	}
	c.quiet()
}

func TestInvalidSession(t *testing.T) {
	e := newEnv(t)
	for _, session := range []string{"not-a-token", strings.Repeat("A", 43)} {
		c := e.dial(t)
		c.send(map[string]any{"type": "hello", "session": session})
		c.expect("error", "invalid_session")
		c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, _, err := c.ws.ReadMessage()
		if !websocket.IsCloseError(err, websocket.ClosePolicyViolation) {
			t.Fatalf("want close, got %v", err)
		}
	}
	// Nothing was created for the unknown session.
	if _, err := e.store.Unhandled(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestOrigin(t *testing.T) {
	e := newEnv(t, "https://chat.example.com.tw")
	url := "ws" + strings.TrimPrefix(e.srv.URL, "http") + "/webchat/ws"
	for origin, want := range map[string]int{
		"https://evil.example":        http.StatusForbidden,
		"https://chat.example.com.tw": http.StatusSwitchingProtocols,
		e.srv.URL:                     http.StatusSwitchingProtocols, // same host
	} {
		ws, resp, err := websocket.DefaultDialer.Dial(url, http.Header{"Origin": {origin}})
		if resp == nil || resp.StatusCode != want {
			t.Fatalf("%s: %v %v", origin, resp, err)
		}
		if ws != nil {
			ws.Close()
		}
	}
}

func TestServerPings(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t)
	pinged := make(chan struct{}, 1)
	c.ws.SetPingHandler(func(string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return nil
	})
	c.hello(nil)
	go func() {
		for {
			if _, _, err := c.ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	select {
	case <-pinged:
	case <-time.After(3 * time.Second):
		t.Fatal("no server ping")
	}
}

// REST channel

func (e *env) post(t *testing.T, body string, ctype string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/v1/rest/messages", strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	return do(t, req)
}

func (e *env) get(t *testing.T, query string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+"/api/v1/rest/messages?"+query, nil)
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp, out
}

func texts(v any) []string {
	var out []string
	for _, r := range v.([]any) {
		m := r.(map[string]any)
		out = append(out, fmt.Sprintf("%v:%v:%v", m["seq"], m["from"], m["text"]))
	}
	return out
}

func TestRESTGreetingReplyAndHistory(t *testing.T) {
	e := newEnv(t)
	resp, out := e.post(t, `{"sender":"app-42","text":"你好","lang":"zh-TW"}`, "application/json")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d %v", resp.StatusCode, out)
	}
	got := strings.Join(texts(out["replies"]), "|")
	if got != "1:bot:您好！請問需要什麼協助？|3:bot:echo:你好" || out["conversation"] == "" {
		t.Fatalf("replies %s", got)
	}
	if b := out["replies"].([]any)[0].(map[string]any)["buttons"].([]any); len(b) != 2 {
		t.Fatalf("buttons %v", b)
	}
	_, out2 := e.post(t, `{"sender":"app-42","action":"check_progress"}`, "")
	if got := strings.Join(texts(out2["replies"]), "|"); got != "5:bot:action:check_progress" || out2["conversation"] != out["conversation"] {
		t.Fatalf("second %s", got)
	}
	// Retried request with the same id: answered from the store, not processed again.
	e.post(t, `{"sender":"app-42","text":"again","id":"r1"}`, "application/json")
	_, dup := e.post(t, `{"sender":"app-42","text":"again","id":"r1"}`, "application/json")
	if got := strings.Join(texts(dup["replies"]), "|"); got != "7:bot:echo:again" {
		t.Fatalf("dup %s", got)
	}

	resp, hist := e.get(t, "sender=app-42&after_seq=0")
	if resp.StatusCode != 200 || len(hist["messages"].([]any)) != 7 {
		t.Fatalf("history %d %v", resp.StatusCode, hist)
	}
	_, later := e.get(t, "sender=app-42&after_seq=5")
	if got := strings.Join(texts(later["messages"]), "|"); got != "6:customer:again|7:bot:echo:again" {
		t.Fatalf("after 5: %s", got)
	}
}

func TestRESTErrors(t *testing.T) {
	e := newEnv(t)
	big := `{"sender":"a","text":"` + strings.Repeat("x", 17<<10) + `"}`
	for _, tc := range []struct {
		name   string
		body   string
		ctype  string
		status int
		code   string
	}{
		{"bad json", `{"sender":`, "application/json", 400, "bad_json"},
		{"no sender", `{"text":"hi"}`, "application/json", 400, "invalid_request"},
		{"no text", `{"sender":"a"}`, "application/json", 400, "invalid_request"},
		{"wrong type", `{"sender":1,"text":"hi"}`, "application/json", 400, "invalid_request"},
		{"too large", big, "application/json", 413, "message_too_large"},
		{"media type", `{"sender":"a","text":"hi"}`, "text/plain", 415, "unsupported_media_type"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := e.post(t, tc.body, tc.ctype)
			errObj, _ := out["error"].(map[string]any)
			if resp.StatusCode != tc.status || errObj["code"] != tc.code || errObj["message"] == "" {
				t.Fatalf("%d %v", resp.StatusCode, out)
			}
		})
	}
	for query, want := range map[string]int{"": 400, "sender=a&after_seq=-1": 400, "sender=a&after_seq=x": 400, "sender=nobody": 404} {
		if resp, out := e.get(t, query); resp.StatusCode != want {
			t.Fatalf("GET %q: %d %v", query, resp.StatusCode, out)
		}
	}
	req, _ := http.NewRequest(http.MethodPut, e.srv.URL+"/api/v1/rest/messages", bytes.NewReader(nil))
	if resp, _ := do(t, req); resp.StatusCode != 405 {
		t.Fatalf("PUT %d", resp.StatusCode)
	}
}

func TestWidgetServed(t *testing.T) {
	e := newEnv(t)
	for path, want := range map[string]string{"/": "理賠客服", "/app.js": "textContent", "/app.css": "pre-wrap"} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) || resp.Header.Get("Content-Security-Policy") == "" {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, body[:min(len(body), 80)])
		}
	}
	if resp, _ := http.Get(e.srv.URL + "/nope"); resp.StatusCode != 404 {
		t.Fatalf("/nope: %d", resp.StatusCode)
	}
}
