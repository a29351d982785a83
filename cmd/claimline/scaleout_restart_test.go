package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"claimline/internal/testservices"
)

// restPost sends one REST channel message without failing the test (it may run in goroutines): the
// status (0 when the request did not get through) and the replies of a 200.
func restPost(url, sender, text, action, id string) (int, []restReply) {
	body := map[string]any{"sender": sender}
	if action != "" {
		body["action"] = action
	} else {
		body["text"] = text
	}
	if id != "" {
		body["id"] = id
	}
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", url+"/api/v1/rest/messages", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Replies []restReply `json:"replies"`
	}
	if resp.StatusCode == 200 {
		json.Unmarshal(raw, &out)
	}
	return resp.StatusCode, out.Replies
}

// restSend is a sender that retries like a webhook sender: on 503 or no answer it sends the same
// message again, with the same id, until a 200 or the deadline; nodes are tried in turn.
func restSend(nodes []string, first int, sender, text, action, id string, deadline time.Time) (int, []restReply) {
	for i := first; ; i++ {
		code, replies := restPost(nodes[i%len(nodes)], sender, text, action, id)
		if code == 200 || (code != 0 && code != http.StatusServiceUnavailable) || time.Now().After(deadline) {
			return code, replies
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// transcript is a REST sender's whole transcript.
func transcript(t *testing.T, node, sender string) []restMessage {
	t.Helper()
	var all []restMessage
	var after int64
	for {
		var page struct {
			Messages []restMessage `json:"messages"`
		}
		if code := doJSON(t, "GET", fmt.Sprintf("%s/api/v1/rest/messages?sender=%s&after_seq=%d&limit=500", node, sender, after), "", nil, &page); code != 200 {
			t.Fatalf("transcript of %s: %d", sender, code)
		}
		all = append(all, page.Messages...)
		if len(page.Messages) < 500 {
			return all
		}
		after = page.Messages[len(page.Messages)-1].Seq
	}
}

type restMessage struct {
	Seq  int64  `json:"seq"`
	From string `json:"from"`
	Text string `json:"text"`
	ID   string `json:"id"`
}

// freeAddr returns a loopback address with a port free right now, for a process restarted on it.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestScaledOutCasesvcRestartedMidRun (issue 9): customers confirm claims over REST at a gateway node
// while the separate case service is killed with SIGKILL and started again on the same data directory
// and port. Every customer who was told the claim was received (with its case id, or "we will tell you
// the case id here" from the intake outbox) ends up with exactly one case in the case service's back
// office, is told its id, and no claim is filed twice (the outbox and the idempotency keys).
func TestScaledOutCasesvcRestartedMidRun(t *testing.T) {
	redisURL := testservices.StartRedis(t)
	const token = "casesvc-service-token-0123456789"
	addr, data := freeAddr(t), t.TempDir()
	casesvc := func() *proc {
		return startCommand(t, []string{"casesvc", "--addr", addr, "--data", data}, "CLAIMLINE_CASESVC_TOKEN="+token)
	}
	cs := casesvc()
	gw := startProcess(t, t.TempDir(), "CLAIMLINE_REDIS_URL="+redisURL,
		"CLAIMLINE_CASESVC_URL="+cs.URL, "CLAIMLINE_CASESVC_TOKEN="+token)
	nodes := []string{gw.URL}

	const customers = 12
	steps := []struct{ text, action, want string }{
		{"我要申請理賠", "", "保單號碼"},
		{"HL20240017", "", "身分證字號"},
		{"A123456789", "", "出生日期"},
		{"1985-03-02", "", "身分已確認"},
		{"", "type:medical", "什麼時候"},
		{"前天", "", "醫院"},
		{"台大醫院", "", "病名"},
		{"腸胃炎", "", "就醫情形"},
		{"住院兩天，費用大概一萬二", "", "請確認以下資料"},
	}
	sender := func(i int) string { return fmt.Sprintf("restart-customer-%02d", i) }
	// Every customer fills the form up to the read-back while the case service is up.
	var wg sync.WaitGroup
	for i := range customers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k, s := range steps {
				code, replies := restSend(nodes, 0, sender(i), s.text, s.action, fmt.Sprint("s", k), time.Now().Add(60*time.Second))
				if got := joinReplies(replies); code != 200 || !strings.Contains(got, s.want) {
					t.Errorf("%s after %q%q: %d, want %q:\n%s", sender(i), s.text, s.action, code, s.want, got)
					return
				}
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// They confirm one after the other while the case service is killed and started again.
	var confirmed atomic.Int32
	told := make([]bool, customers)
	for i := range customers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			time.Sleep(time.Duration(i) * 150 * time.Millisecond)
			code, replies := restSend(nodes, 0, sender(i), "", "confirm", "confirm", time.Now().Add(90*time.Second))
			got := joinReplies(replies)
			told[i] = code == 200 && (caseIDPattern.MatchString(got) || strings.Contains(got, "已收到您的申請"))
			confirmed.Add(1)
		}()
	}
	for confirmed.Load() < 3 {
		time.Sleep(10 * time.Millisecond)
	}
	cs.kill()
	time.Sleep(1500 * time.Millisecond)
	cs = casesvc()
	wg.Wait()

	// Every told customer learns its case id in the conversation (the outbox files what waited).
	caseOf := map[string]string{} // conversation → case id told
	deadline := time.Now().Add(120 * time.Second)
	for i := range customers {
		if !told[i] {
			t.Errorf("%s was not told the claim was received", sender(i))
			continue
		}
		for {
			var ids []string
			for _, m := range transcript(t, gw.URL, sender(i)) {
				if m.From == "bot" {
					ids = append(ids, caseIDPattern.FindAllString(m.Text, -1)...)
				}
			}
			if len(ids) > 0 {
				var conv struct {
					Conversation string `json:"conversation"`
				}
				doJSON(t, "GET", gw.URL+"/api/v1/rest/messages?sender="+sender(i)+"&limit=1", "", nil, &conv)
				for _, id := range ids[1:] {
					if id != ids[0] {
						t.Errorf("%s was told two case ids: %v", sender(i), ids)
					}
				}
				caseOf[conv.Conversation] = ids[0]
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was never told its case id:\ncasesvc:\n%s\ngateway:\n%s", sender(i), cs.output(), gw.output())
			}
			time.Sleep(300 * time.Millisecond)
		}
	}
	// The back office: exactly one case per customer, the one each was told; none filed twice. A
	// while later still the same (nothing is replayed again).
	for round := range 2 {
		var list struct {
			Cases []caseJSON `json:"cases"`
			Total int        `json:"total"`
		}
		if code := doJSON(t, "GET", cs.URL+"/api/v1/cases?policy_number=HL20240017&per_page=100", testSupervisorToken, nil, &list); code != 200 {
			t.Fatalf("back office: %d", code)
		}
		perConv := map[string][]string{}
		for _, c := range list.Cases {
			perConv[c.Conversation] = append(perConv[c.Conversation], c.ID)
		}
		if list.Total != customers || len(list.Cases) != customers {
			t.Errorf("round %d: %d cases (total %d), want %d: %v", round, len(list.Cases), list.Total, customers, perConv)
		}
		for conv, id := range caseOf {
			if got := perConv[conv]; len(got) != 1 || got[0] != id {
				t.Errorf("round %d: conversation %s has cases %v, was told %s", round, conv, got, id)
			}
		}
		time.Sleep(3 * time.Second)
	}
}

func joinReplies(rs []restReply) string {
	var b strings.Builder
	for _, r := range rs {
		b.WriteString(r.Text + "\n")
	}
	return b.String()
}
