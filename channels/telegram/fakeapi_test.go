package telegram

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"claimline/channels"
)

// fakeTelegram is a Bot API server on loopback speaking Telegram's wire format: methods at
// /bot<token>/<method> with form-encoded (or JSON) parameters, answers {"ok":true,"result":...} or
// {"ok":false,"error_code":N,"description":"...","parameters":{...}}, files at /file/bot<token>/<path>.
type fakeTelegram struct {
	t     *testing.T
	srv   *httptest.Server
	token string

	mu          sync.Mutex
	updates     []fakeUpdate // not yet confirmed by an offset
	newUpdate   chan struct{}
	webhookURL  string
	webhookSec  string
	webhookAllo string
	deletes     int
	offsets     []int // the offset of every getUpdates call
	sent        []sentMessage
	nextID      int
	callbacks   []string // answered callback_query ids
	files       map[string]fakeFile
	getFiles    int
	downloads   int
	tooMany     map[string]int  // chat_id → 429 answers still to give
	blocked     map[string]bool // chat_id → 403 bot was blocked by the user
	calls       map[string]int
}

type fakeUpdate struct {
	id  int
	raw json.RawMessage
}

type fakeFile struct {
	path string
	size int // as getFile reports it
	data []byte
}

type sentMessage struct {
	ChatID    string
	Text      string
	ParseMode string
	Markup    string // reply_markup as sent (JSON)
	Buttons   [][]channels.Button
	MessageID int
	At        time.Time
}

func newFakeTelegram(t *testing.T, token string) *fakeTelegram {
	f := &fakeTelegram{
		t: t, token: token, newUpdate: make(chan struct{}, 1), nextID: 500,
		files: make(map[string]fakeFile), tooMany: make(map[string]int), blocked: make(map[string]bool),
		calls: make(map[string]int),
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTelegram) URL() string { return f.srv.URL }

func (f *fakeTelegram) fail(w http.ResponseWriter, code int, desc string, params map[string]any) {
	body := map[string]any{"ok": false, "error_code": code, "description": desc}
	if params != nil {
		body["parameters"] = params
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(body)
}

func (f *fakeTelegram) ok(w http.ResponseWriter, result any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result})
}

// params reads a method's parameters the ways the Bot API accepts them: query string, form-encoded,
// multipart or JSON.
func params(r *http.Request) (url.Values, error) {
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/json") {
		var m map[string]any
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			return nil, err
		}
		v := url.Values{}
		for k, x := range m {
			switch x := x.(type) {
			case string:
				v.Set(k, x)
			default:
				b, _ := json.Marshal(x)
				v.Set(k, string(b))
			}
		}
		return v, nil
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/") {
		if err := r.ParseMultipartForm(1 << 20); err != nil {
			return nil, err
		}
		return r.Form, nil
	}
	if err := r.ParseForm(); err != nil {
		return nil, err
	}
	return r.Form, nil
}

func (f *fakeTelegram) serve(w http.ResponseWriter, r *http.Request) {
	if rest, ok := strings.CutPrefix(r.URL.Path, "/file/bot"); ok {
		tok, p, _ := strings.Cut(rest, "/")
		if tok != f.token {
			f.fail(w, 401, "Unauthorized", nil)
			return
		}
		f.mu.Lock()
		var data []byte
		found := false
		for _, file := range f.files {
			if file.path == p {
				data, found = file.data, true
			}
		}
		f.downloads++
		f.mu.Unlock()
		if !found {
			f.fail(w, 404, "Not Found", nil)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.Write(data)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, "/bot")
	if !ok {
		f.fail(w, 404, "Not Found", nil)
		return
	}
	tok, method, _ := strings.Cut(rest, "/")
	if tok != f.token {
		f.fail(w, 401, "Unauthorized", nil)
		return
	}
	p, err := params(r)
	if err != nil {
		f.fail(w, 400, "Bad Request: can't parse request", nil)
		return
	}
	f.mu.Lock()
	f.calls[method]++
	f.mu.Unlock()
	switch method {
	case "getMe":
		f.ok(w, map[string]any{"id": 7000000001, "is_bot": true, "first_name": "Claimline", "username": "claimline_test_bot",
			"can_join_groups": false, "can_read_all_group_messages": false, "supports_inline_queries": false})
	case "setWebhook":
		f.mu.Lock()
		f.webhookURL, f.webhookSec, f.webhookAllo = p.Get("url"), p.Get("secret_token"), p.Get("allowed_updates")
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true,"result":true,"description":"Webhook was set"}`)
	case "deleteWebhook":
		f.mu.Lock()
		f.webhookURL, f.webhookSec = "", ""
		f.deletes++
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ok":true,"result":true,"description":"Webhook was deleted"}`)
	case "getUpdates":
		f.getUpdates(w, r, p)
	case "sendMessage":
		f.sendMessage(w, p)
	case "answerCallbackQuery":
		f.mu.Lock()
		f.callbacks = append(f.callbacks, p.Get("callback_query_id"))
		f.mu.Unlock()
		f.ok(w, true)
	case "getFile":
		f.mu.Lock()
		f.getFiles++
		file, ok := f.files[p.Get("file_id")]
		f.mu.Unlock()
		switch {
		case !ok:
			f.fail(w, 400, "Bad Request: invalid file_id", nil)
		case file.size > 20<<20:
			f.fail(w, 400, "Bad Request: file is too big", nil)
		default:
			f.ok(w, map[string]any{"file_id": p.Get("file_id"), "file_unique_id": "u" + p.Get("file_id"),
				"file_size": file.size, "file_path": file.path})
		}
	default:
		f.fail(w, 404, "Not Found: method not found", nil)
	}
}

func (f *fakeTelegram) getUpdates(w http.ResponseWriter, r *http.Request, p url.Values) {
	f.mu.Lock()
	if f.webhookURL != "" {
		f.mu.Unlock()
		f.fail(w, 409, "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first", nil)
		return
	}
	offset, _ := strconv.Atoi(p.Get("offset"))
	timeout, _ := strconv.Atoi(p.Get("timeout"))
	limit, _ := strconv.Atoi(p.Get("limit"))
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	f.offsets = append(f.offsets, offset)
	f.mu.Unlock()
	deadline := time.Now().Add(time.Duration(timeout) * time.Second)
	for {
		f.mu.Lock()
		if offset > 0 { // confirms every update below offset: Telegram forgets them
			kept := f.updates[:0]
			for _, u := range f.updates {
				if u.id >= offset {
					kept = append(kept, u)
				}
			}
			f.updates = kept
		}
		var out []json.RawMessage
		for _, u := range f.updates {
			if len(out) < limit {
				out = append(out, u.raw)
			}
		}
		f.mu.Unlock()
		if len(out) > 0 || time.Now().After(deadline) {
			if out == nil {
				out = []json.RawMessage{}
			}
			f.ok(w, out)
			return
		}
		t := time.NewTimer(time.Until(deadline))
		select {
		case <-f.newUpdate:
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
		t.Stop()
	}
}

func (f *fakeTelegram) sendMessage(w http.ResponseWriter, p url.Values) {
	chat := p.Get("chat_id")
	f.mu.Lock()
	if f.blocked[chat] {
		f.mu.Unlock()
		f.fail(w, 403, "Forbidden: bot was blocked by the user", nil)
		return
	}
	if f.tooMany[chat] > 0 {
		f.tooMany[chat]--
		f.mu.Unlock()
		f.fail(w, 429, "Too Many Requests: retry after 1", map[string]any{"retry_after": 1})
		return
	}
	if p.Get("text") == "" {
		f.mu.Unlock()
		f.fail(w, 400, "Bad Request: message text is empty", nil)
		return
	}
	f.nextID++
	m := sentMessage{ChatID: chat, Text: p.Get("text"), ParseMode: p.Get("parse_mode"), Markup: p.Get("reply_markup"),
		MessageID: f.nextID, At: time.Now()}
	var markup struct {
		InlineKeyboard [][]struct {
			Text         string `json:"text"`
			CallbackData string `json:"callback_data"`
		} `json:"inline_keyboard"`
	}
	if m.Markup != "" {
		if err := json.Unmarshal([]byte(m.Markup), &markup); err != nil {
			f.mu.Unlock()
			f.fail(w, 400, "Bad Request: can't parse reply keyboard markup JSON object", nil)
			return
		}
		for _, row := range markup.InlineKeyboard {
			var r []channels.Button
			for _, b := range row {
				r = append(r, channels.Button{Label: b.Text, Value: b.CallbackData})
			}
			m.Buttons = append(m.Buttons, r)
		}
	}
	f.sent = append(f.sent, m)
	f.mu.Unlock()
	chatID, _ := strconv.ParseInt(chat, 10, 64)
	result := map[string]any{
		"message_id": m.MessageID,
		"from":       map[string]any{"id": 7000000001, "is_bot": true, "first_name": "Claimline", "username": "claimline_test_bot"},
		"chat":       map[string]any{"id": chatID, "first_name": "Test", "type": "private"},
		"date":       time.Now().Unix(),
		"text":       m.Text,
	}
	if m.Markup != "" {
		result["reply_markup"] = json.RawMessage(m.Markup)
	}
	f.ok(w, result)
}

// queue adds an update for getUpdates.
func (f *fakeTelegram) queue(id int, raw string) {
	f.mu.Lock()
	f.updates = append(f.updates, fakeUpdate{id: id, raw: json.RawMessage(raw)})
	f.mu.Unlock()
	select {
	case f.newUpdate <- struct{}{}:
	default:
	}
}

func (f *fakeTelegram) addFile(fileID, path string, size int, data []byte) {
	f.mu.Lock()
	f.files[fileID] = fakeFile{path: path, size: size, data: data}
	f.mu.Unlock()
}

// sentTo returns the messages sent to chat, in order.
func (f *fakeTelegram) sentTo(chat int64) []sentMessage {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sentMessage
	for _, m := range f.sent {
		if m.ChatID == strconv.FormatInt(chat, 10) {
			out = append(out, m)
		}
	}
	return out
}

func (f *fakeTelegram) snapshot() (offsets []int, pending []int, deletes int, callbacks []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, u := range f.updates {
		pending = append(pending, u.id)
	}
	return append([]int(nil), f.offsets...), pending, f.deletes, append([]string(nil), f.callbacks...)
}

// waitFor polls cond until it holds or the time is up.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
