package main

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// twilioSign computes X-Twilio-Signature as Twilio does: HMAC-SHA1 with the auth token over the URL
// followed by every parameter name and value, sorted by name, base64-encoded.
func twilioSign(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		for _, v := range form[k] {
			b.WriteString(k + v)
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// TestSMSProcess starts claimline with a Twilio account whose API is a loopback server, posts a signed
// inbound SMS to it, and sees the bot answer through the Messages API; an unsigned post is refused.
func TestSMSProcess(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.ParseForm()
		mu.Lock()
		bodies = append(bodies, r.Form.Get("To")+": "+r.Form.Get("Body"))
		n := len(bodies)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(201)
		json.NewEncoder(w).Encode(map[string]any{"sid": "SM" + strings.Repeat("0", 30) + string(rune('a'+n%26)) + "x", "status": "queued"})
	}))
	defer api.Close()
	const token = "0123456789abcdef0123456789abcdef"
	p := startProcess(t, t.TempDir(), "CLAIMLINE_TWILIO_ACCOUNT_SID=AC"+strings.Repeat("1", 32),
		"CLAIMLINE_TWILIO_AUTH_TOKEN="+token, "CLAIMLINE_TWILIO_FROM=+886900000000", "CLAIMLINE_TWILIO_API="+api.URL)

	form := url.Values{"MessageSid": {"SM" + strings.Repeat("2", 32)}, "AccountSid": {"AC" + strings.Repeat("1", 32)},
		"From": {"+886912345678"}, "To": {"+886900000000"}, "Body": {"我要申請理賠"}, "NumMedia": {"0"}}
	post := func(sig string) int {
		req, _ := http.NewRequest("POST", p.URL+"/sms/twilio", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if sig != "" {
			req.Header.Set("X-Twilio-Signature", sig)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != http.StatusForbidden {
		t.Fatalf("unsigned SMS webhook: %d, want 403", code)
	}
	if code := post(twilioSign(token, p.URL+"/sms/twilio", form)); code != 200 {
		t.Fatalf("signed SMS webhook: %d\n%s", code, p.output())
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		mu.Lock()
		all := strings.Join(bodies, "\n")
		mu.Unlock()
		if strings.Contains(all, "+886912345678: ") && strings.Contains(all, "保單") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no SMS answer; sent:\n%s\n%s", all, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if strings.Contains(p.output(), "912345678") || strings.Contains(p.output(), token) {
		t.Error("a phone number or the auth token reached the logs")
	}
}
