package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHandoffFromTelegramAndSMS: customers on Telegram and on SMS ask for a person; an agent accepts
// each in the console, and the agent's replies reach them through the Bot API and the Messages API.
// With the web chat and REST customers of the console's own tests, every channel reaches a person.
func TestHandoffFromTelegramAndSMS(t *testing.T) {
	bot := &fakeBotAPI{updates: []map[string]any{{
		"update_id": 7001,
		"message": map[string]any{"message_id": 1, "date": time.Now().Unix(), "text": "我要找真人客服",
			"chat": map[string]any{"id": 4242, "type": "private"},
			"from": map[string]any{"id": 4242, "is_bot": false, "first_name": "小華", "language_code": "zh-hant"}},
	}}}
	botSrv := httptest.NewServer(bot)
	defer botSrv.Close()
	var sms smsSink
	twilio := httptest.NewServer(&sms)
	defer twilio.Close()
	const authToken = "0123456789abcdef0123456789abcdef"
	p := startProcess(t, t.TempDir(), "CLAIMLINE_STAFFED_HOURS=always",
		"CLAIMLINE_TELEGRAM_TOKEN=123456:TEST-token-not-real", "CLAIMLINE_TELEGRAM_API="+botSrv.URL,
		"CLAIMLINE_TWILIO_ACCOUNT_SID=AC"+strings.Repeat("1", 32), "CLAIMLINE_TWILIO_AUTH_TOKEN="+authToken,
		"CLAIMLINE_TWILIO_FROM=+886900000000", "CLAIMLINE_TWILIO_API="+twilio.URL)

	// The SMS customer asks for a person too (a signed inbound webhook).
	form := url.Values{"MessageSid": {"SM" + strings.Repeat("3", 32)}, "AccountSid": {"AC" + strings.Repeat("1", 32)},
		"From": {"+886922333444"}, "To": {"+886900000000"}, "Body": {"請幫我轉真人"}, "NumMedia": {"0"}}
	req, _ := http.NewRequest("POST", p.URL+"/sms/twilio", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Twilio-Signature", twilioSign(authToken, p.URL+"/sms/twilio", form))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Fatalf("SMS webhook: %v %v", resp, err)
	}

	agent := dialConsole(t, p.URL, testSpecialistToken)
	byChannel := map[string]string{}
	agent.next("queue with both customers", func(f map[string]any) bool {
		if f["type"] != "queue" {
			return false
		}
		for _, it := range f["queue"].([]any) {
			it := it.(map[string]any)
			byChannel[it["channel"].(string)] = it["conversation"].(string)
		}
		return byChannel["telegram"] != "" && byChannel["sms"] != ""
	})
	for _, ch := range []string{"telegram", "sms"} {
		conv := byChannel[ch]
		agent.send(map[string]any{"type": "accept", "conversation": conv})
		agent.next("assigned "+ch, func(f map[string]any) bool { return f["type"] == "assigned" && f["conversation"] == conv })
		agent.send(map[string]any{"type": "message", "conversation": conv, "id": "reply-" + ch, "text": "您好，我是專員林小姐（" + ch + "）"})
		agent.next("ack "+ch, func(f map[string]any) bool { return f["type"] == "ack" && f["id"] == "reply-"+ch })
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		tg := strings.Join(bot.sentTo("4242"), "\n")
		text := sms.bodies()
		if strings.Contains(tg, "專員林小姐（telegram）") && strings.Contains(text, "+886922333444: 您好，我是專員林小姐（sms）") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the agent's replies did not reach both customers.\nTelegram: %s\nSMS: %s\n%s", tg, text, p.output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// smsSink plays Twilio's Messages API and records every message sent as "To: Body".
type smsSink struct {
	mu   sync.Mutex
	sent []string
}

func (s *smsSink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.ParseForm()
	s.mu.Lock()
	s.sent = append(s.sent, r.Form.Get("To")+": "+r.Form.Get("Body"))
	n := len(s.sent)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(201)
	w.Write([]byte(`{"sid":"SM` + strings.Repeat("9", 28) + string(rune('a'+n%26)) + `xyz","status":"queued"}`))
}

func (s *smsSink) bodies() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.sent, "\n")
}
