package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBotAPI answers the Bot API calls claimline makes in poll mode, in Telegram's JSON, and hands out
// the updates it is given once each.
type fakeBotAPI struct {
	mu      sync.Mutex
	updates []map[string]any
	sent    []string // chat_id + ": " + text
}

func (f *fakeBotAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	method := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	ok := func(result any) { json.NewEncoder(w).Encode(map[string]any{"ok": true, "result": result}) }
	switch method {
	case "getMe":
		ok(map[string]any{"id": 7000, "is_bot": true, "first_name": "Claims", "username": "claims_test_bot"})
	case "deleteWebhook":
		ok(true)
	case "getUpdates":
		f.mu.Lock()
		updates := f.updates
		f.updates = nil
		f.mu.Unlock()
		if len(updates) == 0 {
			time.Sleep(200 * time.Millisecond) // a short long-poll
			updates = []map[string]any{}
		}
		ok(updates)
	case "sendMessage":
		f.mu.Lock()
		f.sent = append(f.sent, r.Form.Get("chat_id")+": "+r.Form.Get("text"))
		n := len(f.sent)
		f.mu.Unlock()
		ok(map[string]any{"message_id": n, "date": time.Now().Unix(), "chat": map[string]any{"id": 42, "type": "private"}, "text": r.Form.Get("text")})
	default:
		ok(true)
	}
}

func (f *fakeBotAPI) sentTo(chat string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range f.sent {
		if strings.HasPrefix(s, chat+": ") {
			out = append(out, strings.TrimPrefix(s, chat+": "))
		}
	}
	return out
}

// TestTelegramPollingProcess starts claimline with a bot token and the Bot API at a loopback server, and
// checks a customer's message is answered over Telegram: the channel is wired into serve end to end.
func TestTelegramPollingProcess(t *testing.T) {
	api := &fakeBotAPI{updates: []map[string]any{{
		"update_id": 9001,
		"message": map[string]any{"message_id": 1, "date": time.Now().Unix(), "text": "我要申請理賠",
			"chat": map[string]any{"id": 42, "type": "private"},
			"from": map[string]any{"id": 42, "is_bot": false, "first_name": "小明", "language_code": "zh-hant"}},
	}}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	p := startProcess(t, t.TempDir(), "CLAIMLINE_TELEGRAM_TOKEN=123456:TEST-token-not-real", "CLAIMLINE_TELEGRAM_API="+srv.URL)
	deadline := time.Now().Add(20 * time.Second)
	for {
		sent := api.sentTo("42")
		if len(sent) > 0 && strings.Contains(strings.Join(sent, "\n"), "保單號碼") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no answer over Telegram; sent %v\n%s", sent, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(p.output(), "TEST-token-not-real") {
		t.Error("the bot token reached the logs")
	}
}
