package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"claimline/internal/testservices"
)

// TestScaledOutWebhooks: the same signed Twilio webhook delivered to two gateway nodes at once is
// processed once; while Redis is down a webhook is answered 503 (so Twilio retries) and nothing is
// lost: after Redis returns, the retried message is processed; and Redis restarting keeps the
// conversation (its AOF), so the customer's form goes on.
func TestScaledOutWebhooks(t *testing.T) {
	redis := testservices.StartRedisServer(t)
	var sms smsSink
	twilio := httptest.NewServer(&sms)
	defer twilio.Close()
	const authToken = "0123456789abcdef0123456789abcdef"
	const publicURL = "https://claims.example.test" // both nodes sit behind one public address
	gateway := func() *proc {
		return startProcess(t, t.TempDir(), "CLAIMLINE_REDIS_URL="+redis.URL, "CLAIMLINE_PUBLIC_URL="+publicURL,
			"CLAIMLINE_TWILIO_ACCOUNT_SID=AC"+strings.Repeat("1", 32), "CLAIMLINE_TWILIO_AUTH_TOKEN="+authToken,
			"CLAIMLINE_TWILIO_FROM=+886900000000", "CLAIMLINE_TWILIO_API="+twilio.URL)
	}
	a, b := gateway(), gateway()

	post := func(node *proc, sid, body string) int {
		form := url.Values{"MessageSid": {sid}, "AccountSid": {"AC" + strings.Repeat("1", 32)},
			"From": {"+886912345678"}, "To": {"+886900000000"}, "Body": {body}, "NumMedia": {"0"}}
		req, _ := http.NewRequest("POST", node.URL+"/sms/twilio", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twilioSign(authToken, publicURL+"/sms/twilio", form))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("post: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	waitSent := func(n int, what string) string {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for {
			sms.mu.Lock()
			got := len(sms.sent)
			sms.mu.Unlock()
			if got >= n {
				time.Sleep(500 * time.Millisecond) // anything extra would show now
				return sms.bodies()
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d SMS sent, want %d:\n%s", what, got, n, sms.bodies())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// One message, delivered to both nodes at the same moment.
	sid := "SM" + strings.Repeat("4", 32)
	var wg sync.WaitGroup
	codes := make([]int, 2)
	for i, node := range []*proc{a, b} {
		wg.Add(1)
		go func() { defer wg.Done(); codes[i] = post(node, sid, "我要申請理賠") }()
	}
	wg.Wait()
	if codes[0] != 200 || codes[1] != 200 {
		t.Fatalf("both deliveries should be acknowledged: %v", codes)
	}
	first := waitSent(2, "greeting and the answer") // the greeting, then the policy-number question
	if strings.Count(first, "保單號碼") != 1 {
		t.Fatalf("the message was processed more than once or not at all:\n%s", first)
	}

	// Redis goes away: the webhook is refused with 503, nothing is acknowledged that is not stored.
	redis.Stop()
	if code := post(b, "SM"+strings.Repeat("5", 32), "HL20240017"); code != http.StatusServiceUnavailable {
		t.Errorf("with Redis down: %d, want 503", code)
	}
	// Redis comes back (with its append-only file): Twilio's retry is processed and the form goes on.
	redis.Start()
	deadline := time.Now().Add(20 * time.Second)
	for post(b, "SM"+strings.Repeat("5", 32), "HL20240017") != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the retried webhook is still refused after Redis returned")
		}
		time.Sleep(200 * time.Millisecond)
	}
	after := waitSent(3, "the answer to the retried message")
	if !strings.Contains(after, "身分證字號") {
		t.Errorf("after Redis returned, the form should go on to the national ID:\n%s", after)
	}

	// STOP on node A (answered in its TwiML, not sent through the API), then a message to node B:
	// B knows the number opted out and sends nothing; START on B lifts it for A.
	if code := post(a, "SM"+strings.Repeat("6", 32), "STOP"); code != 200 {
		t.Fatalf("STOP on node A: %d", code)
	}
	if code := post(b, "SM"+strings.Repeat("7", 32), "A123456789"); code != 200 {
		t.Fatalf("a message to node B after STOP: %d", code)
	}
	time.Sleep(2 * time.Second) // node B's turn runs and its outbox refuses the reply
	if stopped := waitSent(3, "nothing after STOP"); stopped != after {
		t.Fatalf("node B texted a number that opted out on node A:\n%s", stopped)
	}
	if code := post(b, "SM"+strings.Repeat("8", 32), "START"); code != 200 {
		t.Fatalf("START on node B: %d", code)
	}
	if code := post(a, "SM"+strings.Repeat("9", 32), "你好"); code != 200 {
		t.Fatalf("a message to node A after START: %d", code)
	}
	waitSent(4, "a reply from node A after START on node B")
}
