package console_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"claimline/casesvc"
	"claimline/dialog"
)

// call makes a back-office request with a staff token ("" for none) and decodes the answer.
func (e *env) call(method, path, token string, body any) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, e.srv.URL+path, rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestQualityMonitoring: a scripted handoff (accept, first reply after 30s, end after 90s, a
// rating of 4) gives alice's figures; the transcript per role (401, 403, masked, whole and
// audited); bot figures; sampling of distinct unreviewed conversations; reviews; the metrics.
func TestQualityMonitoring(t *testing.T) {
	e := newEnv(t, t.TempDir())
	ctx := context.Background()
	alice, bob, sue, max, ada := staff[0], staff[1], staff[2], staff[3], staff[4]

	// Q asks for a person; B is only served by the bot; M is handed off for misunderstanding.
	q := e.rest("rest-q", "我要找真人客服")
	e.waitREST("rest-q", 0, "第 1 位")
	b := e.rest("rest-b", "你好")
	m := e.rest("rest-m", "你好")
	if err := e.hs.RequestHandoff(ctx, dialog.HandoffRequest{Conversation: m.Conversation, Channel: "rest", Lang: "zh-TW",
		Reason: "repeated_misunderstanding"}); err != nil {
		t.Fatal(err)
	}
	e.hs.AfterTurn(ctx, m.Conversation)

	a := e.agent(alice.Token, nil)
	a.send(map[string]any{"type": "accept", "conversation": q.Conversation})
	a.next("assigned", typConv("assigned", q.Conversation))
	e.rest("rest-q", "我的身分證是A123456789，電話0912345678")
	a.next("customer message", func(f map[string]any) bool {
		return f["type"] == "message" && f["from"] == "customer" && strings.Contains(f["text"].(string), "身分證")
	})
	e.clock.advance(30 * time.Second)
	a.send(map[string]any{"type": "message", "conversation": q.Conversation, "id": "a1", "text": "收到，我來查詢。"})
	a.next("own reply", func(f map[string]any) bool { return f["type"] == "message" && f["from"] == "agent" })
	a.send(map[string]any{"type": "message", "conversation": q.Conversation, "id": "a2", "text": "請稍候。"})
	a.next("second reply", func(f map[string]any) bool { return f["type"] == "message" && f["text"] == "請稍候。" })
	e.clock.advance(60 * time.Second)
	a.send(map[string]any{"type": "end", "conversation": q.Conversation, "resolved": true})
	a.next("ended", typConv("ended", q.Conversation))
	if err := e.hs.RecordRating(ctx, q.Conversation, 4, ""); err != nil {
		t.Fatal(err)
	}
	if err := e.hs.RecordRating(ctx, q.Conversation, 4, "專員很親切，回電 0987654321"); err != nil {
		t.Fatal(err)
	}

	// Per-agent figures.
	st, body := e.call("GET", "/api/v1/quality/agents", sue.Token, nil)
	if st != 200 {
		t.Fatalf("agents: %d %v", st, body)
	}
	var af map[string]any
	for _, x := range body["agents"].([]any) {
		if x.(map[string]any)["agent"] == "alice" {
			af = x.(map[string]any)
		}
	}
	if af == nil || af["chats"] != 1.0 || af["answered"] != 1.0 || af["handled"] != 1.0 ||
		!near(af["first_response_avg_seconds"], 30) || !near(af["handling_avg_seconds"], 90) ||
		af["satisfaction_mean"] != 4.0 || af["satisfaction_count"] != 1.0 {
		t.Fatalf("alice's figures = %v", af)
	}
	if st, _ := e.call("GET", "/api/v1/quality/agents", alice.Token, nil); st != 403 {
		t.Fatalf("specialist reads figures: %d", st)
	}

	// Bot figures: 3 conversations, 2 handed off (one for misunderstanding), 1 contained.
	st, body = e.call("GET", "/api/v1/quality/bot", max.Token, nil)
	bot, _ := body["bot"].(map[string]any)
	if st != 200 || bot["conversations"] != 3.0 || bot["handed_off"] != 2.0 || bot["misunderstood"] != 1.0 ||
		!near(bot["containment_rate"], 1.0/3) || !near(bot["handoff_rate"], 2.0/3) || !near(bot["misunderstanding_rate"], 1.0/3) {
		t.Fatalf("bot figures: %d %v", st, body)
	}

	// The transcript, per role.
	path := "/api/v1/conversations/" + q.Conversation
	if st, body := e.call("GET", path, "", nil); st != 401 || body["error"].(map[string]any)["code"] != "unauthorized" {
		t.Fatalf("no token: %d %v", st, body)
	}
	if st, _ := e.call("GET", path, "not-a-token-at-all-123", nil); st != 401 {
		t.Fatalf("bad token: %d", st)
	}
	if st, _ := e.call("GET", path, bob.Token, nil); st != 403 {
		t.Fatalf("a specialist who did not handle it: %d", st)
	}
	if st, _ := e.call("GET", path, ada.Token, nil); st != 403 {
		t.Fatalf("admin: %d", st)
	}
	if st, _ := e.call("GET", "/api/v1/conversations/nope", sue.Token, nil); st != 404 {
		t.Fatalf("unknown conversation: %d", st)
	}
	st, body = e.call("GET", path, alice.Token, nil)
	if st != 200 || body["masked"] != true {
		t.Fatalf("alice: %d %v", st, body)
	}
	text := transcriptText(body)
	if strings.Contains(text, "A123456789") || strings.Contains(text, "0912345678") || !strings.Contains(text, "A12****789") ||
		!strings.Contains(text, "09****5678") || !strings.Contains(text, "收到，我來查詢。") {
		t.Fatalf("alice's transcript is not masked: %s", text)
	}
	conv := body["conversation"].(map[string]any)
	if conv["channel"] != "rest" || len(conv["agents"].([]any)) != 1 || conv["agents"].([]any)[0] != "alice" ||
		len(conv["handoffs"].([]any)) != 1 || conv["rating"].(map[string]any)["score"] != 4.0 ||
		strings.Contains(conv["rating"].(map[string]any)["comment"].(string), "0987654321") {
		t.Fatalf("conversation = %v", conv)
	}
	for _, x := range body["messages"].([]any) {
		mm := x.(map[string]any)
		if mm["from"] == "agent" && mm["agent"] != "alice" {
			t.Fatalf("agent message without its agent: %v", mm)
		}
	}
	if audit, _ := e.cases.Audit(ctx, casesvc.AuditFilter{Actor: "alice"}); len(audit) != 0 {
		t.Fatalf("masked view audited: %v", audit)
	}
	st, body = e.call("GET", path, sue.Token, nil)
	if st != 200 || body["masked"] != false || !strings.Contains(transcriptText(body), "A123456789") {
		t.Fatalf("sue: %d %v", st, body)
	}
	audit, err := e.cases.Audit(ctx, casesvc.AuditFilter{Actor: "sue"})
	if err != nil || len(audit) != 1 || audit[0].Action != "view_unmasked" || !strings.Contains(audit[0].Detail, q.Conversation) {
		t.Fatalf("sue's view audited = %v, %v", audit, err)
	}

	// Sampling: N distinct unreviewed conversations.
	if st, _ := e.call("POST", "/api/v1/reviews/sample", alice.Token, map[string]any{"count": 2}); st != 403 {
		t.Fatalf("specialist samples: %d", st)
	}
	if st, _ := e.call("POST", "/api/v1/reviews/sample", sue.Token, map[string]any{"count": 0}); st != 400 {
		t.Fatalf("count 0: %d", st)
	}
	st, body = e.call("POST", "/api/v1/reviews/sample", sue.Token, map[string]any{"count": 2})
	if st != 200 || body["available"] != 3.0 {
		t.Fatalf("sample: %d %v", st, body)
	}
	ids := sampled(body)
	if len(ids) != 2 || ids[0] == ids[1] {
		t.Fatalf("sample = %v", ids)
	}
	all := map[string]bool{q.Conversation: true, b.Conversation: true, m.Conversation: true}
	for _, id := range ids {
		if !all[id] {
			t.Fatalf("sampled an unknown conversation %s", id)
		}
	}
	// A review takes the conversation out of later samples.
	if st, body := e.call("POST", "/api/v1/reviews", sue.Token, map[string]any{"conversation": q.Conversation, "score": 6}); st != 400 {
		t.Fatalf("score 6: %d %v", st, body)
	}
	if st, _ := e.call("POST", "/api/v1/reviews", sue.Token, map[string]any{"conversation": "nope", "score": 3}); st != 404 {
		t.Fatalf("review of an unknown conversation: %d", st)
	}
	st, body = e.call("POST", "/api/v1/reviews", sue.Token, map[string]any{"conversation": q.Conversation, "score": 5, "note": "親切、正確"})
	if st != 201 || body["reviewer"] != "sue" || body["score"] != 5.0 || body["agents"].([]any)[0] != "alice" {
		t.Fatalf("review: %d %v", st, body)
	}
	for range 5 {
		st, body = e.call("POST", "/api/v1/reviews/sample", sue.Token, map[string]any{"count": 10})
		if ids := sampled(body); st != 200 || len(ids) != 2 || body["available"] != 2.0 || ids[0] == q.Conversation || ids[1] == q.Conversation {
			t.Fatalf("sample after review: %d %v", st, body)
		}
	}
	if st, body := e.call("POST", "/api/v1/reviews/sample", sue.Token, map[string]any{"count": 5, "agent": "alice"}); st != 200 || body["available"] != 0.0 {
		t.Fatalf("alice's unreviewed: %d %v", st, body)
	}
	st, body = e.call("GET", "/api/v1/reviews?agent=alice", max.Token, nil)
	if rs := body["reviews"].([]any); st != 200 || len(rs) != 1 || rs[0].(map[string]any)["note"] != "親切、正確" {
		t.Fatalf("reviews: %d %v", st, body)
	}
	if st, body := e.call("GET", "/api/v1/reviews?agent=bob", max.Token, nil); st != 200 || len(body["reviews"].([]any)) != 0 {
		t.Fatalf("bob's reviews: %d %v", st, body)
	}
	_, body = e.call("GET", "/api/v1/quality/agents", sue.Token, nil)
	for _, x := range body["agents"].([]any) {
		if f := x.(map[string]any); f["agent"] == "alice" && (f["review_mean"] != 5.0 || f["review_count"] != 1.0) {
			t.Fatalf("alice's review figures = %v", f)
		}
	}

	// The metrics, on the registry.
	fams, err := e.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		got[f.GetName()] = f
	}
	check := func(name string, labels map[string]string, want float64, value func(*dto.Metric) float64) {
		t.Helper()
		f := got[name]
		if f == nil {
			t.Fatalf("metric %s missing", name)
		}
	next:
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if v, ok := labels[l.GetName()]; ok && v != l.GetValue() {
					continue next
				}
			}
			if v := value(m); !near(v, want) {
				t.Fatalf("%s%v = %v, want %v", name, labels, v, want)
			}
			return
		}
		t.Fatalf("metric %s%v missing", name, labels)
	}
	counter := func(m *dto.Metric) float64 { return m.GetCounter().GetValue() }
	gauge := func(m *dto.Metric) float64 { return m.GetGauge().GetValue() }
	hsum := func(m *dto.Metric) float64 { return m.GetHistogram().GetSampleSum() }
	check("claimline_conversations_total", nil, 3, counter)
	check("claimline_handoffs_total", map[string]string{"reason": "repeated_misunderstanding"}, 1, counter)
	check("claimline_handoffs_total", map[string]string{"reason": "customer_asked"}, 1, counter)
	check("claimline_agent_chats_total", map[string]string{"agent": "alice"}, 1, counter)
	check("claimline_agent_first_response_seconds", map[string]string{"agent": "alice"}, 30, hsum)
	check("claimline_agent_handling_seconds", map[string]string{"agent": "alice"}, 90, hsum)
	check("claimline_satisfaction_ratings", map[string]string{"agent": "alice"}, 4, hsum)
	check("claimline_bot_containment_rate", nil, 1.0/3, gauge)
	check("claimline_bot_misunderstanding_rate", nil, 1.0/3, gauge)
}

func near(v any, want float64) bool {
	f, ok := v.(float64)
	return ok && f > want-0.6 && f < want+0.6 && (want > 1 || f > want-0.001 && f < want+0.001)
}

func transcriptText(body map[string]any) string {
	var sb strings.Builder
	msgs, _ := body["messages"].([]any)
	for _, m := range msgs {
		sb.WriteString(m.(map[string]any)["text"].(string))
		sb.WriteString("\n")
	}
	return sb.String()
}

func sampled(body map[string]any) []string {
	var out []string
	list, _ := body["conversations"].([]any)
	for _, c := range list {
		out = append(out, c.(map[string]any)["id"].(string))
	}
	return out
}

// TestMassComplaintAlert: the case service raises a mass-complaint alert; the console pushes it at
// once to the signed-in supervisor and manager, not to the specialist; the supervisor acknowledges
// it (audited) and it is not shown to her again; the alert is marked delivered.
func TestMassComplaintAlert(t *testing.T) {
	e := newEnv(t, t.TempDir())
	ctx := context.Background()
	sue := e.agent(staff[2].Token, nil)
	mx := e.agent(staff[3].Token, nil)
	alice := e.agent(staff[0].Token, nil)
	for i := range 3 {
		_, err := e.cases.CreateComplaint(ctx, casesvc.NewComplaint{IdempotencyKey: "mass-" + itoa(i), Category: casesvc.CategoryDelay,
			Description: "理賠拖太久了", PolicyNumber: "HL20240017", Channel: "rest", Conversation: "c-" + itoa(i),
			Complainant: casesvc.Person{Name: "王小明", Phone: "+886912345678"}})
		if err != nil {
			t.Fatal(err)
		}
	}
	f := sue.next("alert", typ("alert"))
	if f["kind"] != "mass_complaint" || f["category"] != "delay" || num(f["count"]) < 3 || f["window"] == "" || f["at"] == "" {
		t.Fatalf("alert = %v", f)
	}
	mx.next("manager's alert", typ("alert"))
	// The specialist gets nothing: everything before her pong has been seen.
	alice.send(map[string]any{"type": "ping"})
	alice.next("pong", func(f map[string]any) bool {
		if f["type"] == "alert" {
			t.Fatalf("a specialist received an alert: %v", f)
		}
		return f["type"] == "pong"
	})
	alice.send(map[string]any{"type": "alert_ack", "id": f["id"]})
	if f := alice.next("forbidden", typ("error")); f["code"] != "forbidden" {
		t.Fatalf("specialist ack = %v", f)
	}
	// Delivered once a supervisor has it.
	deadline := time.Now().Add(5 * time.Second)
	for {
		p, err := e.cases.PendingAlerts(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alert still pending: %v", p)
		}
		time.Sleep(20 * time.Millisecond)
	}
	sue.send(map[string]any{"type": "alert_ack", "id": f["id"]})
	if a := sue.next("acked", typ("alert_acked")); a["id"] != f["id"] {
		t.Fatalf("acked = %v", a)
	}
	audit, err := e.cases.Audit(ctx, casesvc.AuditFilter{Actor: "sue"})
	if err != nil || len(audit) != 1 || audit[0].Action != "alert_acknowledged" {
		t.Fatalf("ack audit = %v, %v", audit, err)
	}
	// Signing in again: the acknowledged alert is not shown to sue, still to the manager.
	sue2 := e.agent(staff[2].Token, nil)
	sue2.send(map[string]any{"type": "ping"})
	sue2.next("pong", func(f map[string]any) bool {
		if f["type"] == "alert" {
			t.Fatalf("acknowledged alert shown again: %v", f)
		}
		return f["type"] == "pong"
	})
	mx2 := e.agent(staff[3].Token, nil)
	mx2.next("manager's unacknowledged alert", typ("alert"))
}
