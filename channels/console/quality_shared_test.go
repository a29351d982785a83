package console_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"claimline/casesvc"
	"claimline/casesvc/httpapi"
	casesqlite "claimline/casesvc/sqlite"
	"claimline/channels/quality"
	"claimline/dialog"
	"claimline/internal/testservices"
)

// qualityAPI serves the quality routes of a node; the returned env's call reaches them.
func qualityAPI(t *testing.T, e *env, cases *casesqlite.Service) *env {
	t.Helper()
	auth, err := httpapi.NewAuthenticator(staff)
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := time.LoadLocation("Asia/Taipei")
	qa, err := quality.New(quality.Config{Handoff: e.hs, Conversations: e.router, Auth: auth, Audit: cases, Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	qa.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	q := *e
	q.srv = srv
	return &q
}

// TestQualityAcrossNodes: two gateway nodes on one Redis share the quality history. P is handled by
// alice on node A, Q by bob on node B (and rated there), M is handed off on A for misunderstanding
// and C stays with the bot on B: the agent and bot figures read on either node count all of them; a
// transcript read on B shows the handoff A recorded; a review submitted on A is listed on B (and
// replaced, not doubled, by the same reviewer on B); sampling on B never returns the conversation
// reviewed on A; the conversations counter counts each conversation once across the nodes.
func TestQualityAcrossNodes(t *testing.T) {
	url := testservices.StartRedis(t)
	prefix := "t" + strings.ToLower(rand.Text())[:10] + ":"
	loc, _ := time.LoadLocation("Asia/Taipei")
	cases, err := casesqlite.New(filepath.Join(t.TempDir(), "casesvc.db"), casesqlite.Config{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cases.Close() })
	ctx := context.Background()
	a := redisNode(t, url, prefix, "A", cases, 5*time.Second)
	b := redisNode(t, url, prefix, "B", cases, 5*time.Second)
	qa, qb := qualityAPI(t, a, cases), qualityAPI(t, b, cases)
	alice, bob, sue, max := staff[0], staff[1], staff[2], staff[3]

	handle := func(n *env, sender string, agent casesvc.Staff) string {
		t.Helper()
		r := n.rest(sender, "我要找真人客服")
		n.waitREST(sender, 0, "第 1 位")
		ag := n.agent(agent.Token, nil)
		ag.send(map[string]any{"type": "accept", "conversation": r.Conversation})
		ag.next("assigned", typConv("assigned", r.Conversation))
		ag.send(map[string]any{"type": "message", "conversation": r.Conversation, "id": sender + "-1", "text": "您好，我來幫您。"})
		ag.next("own reply", func(f map[string]any) bool {
			return f["type"] == "message" && f["conversation"] == r.Conversation && f["from"] == "agent"
		})
		ag.send(map[string]any{"type": "end", "conversation": r.Conversation, "resolved": true})
		ag.next("ended", typConv("ended", r.Conversation))
		ag.c.Close()
		return r.Conversation
	}
	p := handle(a, "rest-p", alice)
	q := handle(b, "rest-q", bob)
	if err := b.hs.RecordRating(ctx, q, 3, ""); err != nil {
		t.Fatal(err)
	}
	m := a.rest("rest-m", "你好").Conversation
	if err := a.hs.RequestHandoff(ctx, dialog.HandoffRequest{Conversation: m, Channel: "rest", Lang: "zh-TW",
		Reason: "repeated_misunderstanding"}); err != nil {
		t.Fatal(err)
	}
	a.hs.AfterTurn(ctx, m)
	b.rest("rest-c", "你好") // the bot only

	for name, n := range map[string]*env{"A": qa, "B": qb} {
		st, body := n.call("GET", "/api/v1/quality/agents", sue.Token, nil)
		if st != 200 {
			t.Fatalf("node %s agents: %d %v", name, st, body)
		}
		figs := map[string]map[string]any{}
		for _, x := range body["agents"].([]any) {
			figs[x.(map[string]any)["agent"].(string)] = x.(map[string]any)
		}
		for _, who := range []string{"alice", "bob"} {
			if f := figs[who]; f == nil || f["chats"] != 1.0 || f["answered"] != 1.0 || f["handled"] != 1.0 {
				t.Fatalf("node %s: %s's figures = %v", name, who, f)
			}
		}
		if f := figs["bob"]; f["satisfaction_count"] != 1.0 || f["satisfaction_mean"] != 3.0 {
			t.Fatalf("node %s: bob's satisfaction = %v", name, f)
		}
		st, body = n.call("GET", "/api/v1/quality/bot", max.Token, nil)
		bot, _ := body["bot"].(map[string]any)
		if st != 200 || bot["conversations"] != 4.0 || bot["handed_off"] != 3.0 || bot["contained"] != 1.0 ||
			bot["misunderstood"] != 1.0 || !near(bot["misunderstanding_rate"], 0.25) {
			t.Fatalf("node %s bot figures: %d %v", name, st, body)
		}
	}
	// The transcript on B of the conversation handled on A.
	st, body := qb.call("GET", "/api/v1/conversations/"+p, sue.Token, nil)
	if conv, _ := body["conversation"].(map[string]any); st != 200 || len(conv["handoffs"].([]any)) != 1 ||
		len(conv["agents"].([]any)) != 1 || conv["agents"].([]any)[0] != "alice" {
		t.Fatalf("transcript of P on B: %d %v", st, body)
	}
	// The specialist who handled it on A may read it on B.
	if st, _ := qb.call("GET", "/api/v1/conversations/"+p, alice.Token, nil); st != 200 {
		t.Fatalf("alice reads P on B: %d", st)
	}

	// Before any review, B samples all four.
	st, body = qb.call("POST", "/api/v1/reviews/sample", sue.Token, map[string]any{"count": 10})
	if st != 200 || body["available"] != 4.0 || len(sampled(body)) != 4 {
		t.Fatalf("sample on B: %d %v", st, body)
	}
	// A review on A, listed on B.
	st, body = qa.call("POST", "/api/v1/reviews", sue.Token, map[string]any{"conversation": p, "score": 4, "note": "好"})
	if st != 201 || body["agents"].([]any)[0] != "alice" {
		t.Fatalf("review on A: %d %v", st, body)
	}
	id := body["id"]
	st, body = qb.call("GET", "/api/v1/reviews", max.Token, nil)
	if rs := body["reviews"].([]any); st != 200 || len(rs) != 1 || rs[0].(map[string]any)["conversation"] != p ||
		rs[0].(map[string]any)["reviewer"] != "sue" || rs[0].(map[string]any)["id"] != id {
		t.Fatalf("reviews on B: %d %v", st, body)
	}
	if _, body := qb.call("GET", "/api/v1/reviews?agent=alice", max.Token, nil); len(body["reviews"].([]any)) != 1 {
		t.Fatalf("alice's reviews on B: %v", body)
	}
	if _, body := qb.call("GET", "/api/v1/reviews?agent=bob", max.Token, nil); len(body["reviews"].([]any)) != 0 {
		t.Fatalf("bob's reviews on B: %v", body)
	}
	// Sampling on B never returns P.
	for range 10 {
		st, body = qb.call("POST", "/api/v1/reviews/sample", sue.Token, map[string]any{"count": 2})
		ids := sampled(body)
		if st != 200 || body["available"] != 3.0 || len(ids) != 2 || ids[0] == p || ids[1] == p || ids[0] == ids[1] {
			t.Fatalf("sample on B after A's review: %d %v", st, body)
		}
	}
	if _, body := qb.call("POST", "/api/v1/reviews/sample", sue.Token, map[string]any{"count": 5, "agent": "bob"}); body["available"] != 1.0 ||
		sampled(body)[0] != q {
		t.Fatalf("bob's unreviewed on B: %v", body)
	}
	if _, body := qb.call("POST", "/api/v1/reviews/sample", sue.Token, map[string]any{"count": 5, "agent": "alice"}); body["available"] != 0.0 {
		t.Fatalf("alice's unreviewed on B: %v", body)
	}
	// Sue reviews P again on B: it replaces her review (one review, same id, the new score).
	if st, body := qb.call("POST", "/api/v1/reviews", sue.Token, map[string]any{"conversation": p, "score": 2}); st != 201 || body["id"] != id {
		t.Fatalf("second review on B: %d %v", st, body)
	}
	for name, n := range map[string]*env{"A": qa, "B": qb} {
		_, body := n.call("GET", "/api/v1/reviews", max.Token, nil)
		if rs := body["reviews"].([]any); len(rs) != 1 || rs[0].(map[string]any)["score"] != 2.0 {
			t.Fatalf("reviews on %s after the second: %v", name, body)
		}
		_, body = n.call("GET", "/api/v1/quality/agents", sue.Token, nil)
		for _, x := range body["agents"].([]any) {
			f := x.(map[string]any)
			if f["agent"] == "alice" && (f["review_count"] != 1.0 || f["review_mean"] != 2.0) ||
				f["agent"] == "bob" && f["review_count"] != 0.0 {
				t.Fatalf("review figures on %s = %v", name, f)
			}
		}
	}
	// A "since" after everything: nothing.
	since := time.Now().Add(time.Hour).Format(time.RFC3339)
	if _, body := qa.call("GET", "/api/v1/quality/bot?since="+since, max.Token, nil); body["bot"].(map[string]any)["conversations"] != 0.0 {
		t.Fatalf("bot figures since later: %v", body)
	}
	if _, body := qb.call("GET", "/api/v1/quality/agents?since="+since, max.Token, nil); len(body["agents"].([]any)) != 0 {
		t.Fatalf("agent figures since later: %v", body)
	}
	// Each conversation counted once, whichever nodes saw it.
	if n := counterSum(t, a.reg, "claimline_conversations_total") + counterSum(t, b.reg, "claimline_conversations_total"); n != 4 {
		t.Fatalf("conversations counted %v times across the nodes, want 4", n)
	}
}

func counterSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range fams {
		if f.GetName() == name {
			for _, m := range f.Metric {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}
