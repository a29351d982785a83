package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/dialog"
)

// TestHandoffProtocol: two agents, three customers (web chat and REST), priorities, positions,
// transfer to an agent and back to the queue, a dropped agent resuming, end and the handback turn.
func TestHandoffProtocol(t *testing.T) {
	e := newEnv(t, t.TempDir())
	ctx := context.Background()

	// Customer W on web chat asks for a person: the dialog requests the handoff.
	w, wConv := e.customer()
	w.send(map[string]any{"type": "message", "id": "w1", "text": "真人客服"})
	q := w.next("queued handoff frame", typ("handoff"))
	if q["state"] != "queued" || num(q["position"]) != 1 {
		t.Fatalf("W handoff frame = %v", q)
	}
	w.next("position text", func(f map[string]any) bool {
		return f["type"] == "message" && strings.Contains(f["text"].(string), "第 1 位")
	})

	// Customer R on REST asks for a person too: second in line.
	r := e.rest("rest-r", "我要找真人客服")
	rConv := r.Conversation
	e.waitREST("rest-r", 0, "第 2 位")

	// Customer C (REST) has a complaint: the request jumps the queue.
	c := e.rest("rest-c", "你好")
	cConv := c.Conversation
	if err := e.hs.RequestHandoff(ctx, dialog.HandoffRequest{Conversation: cConv, Channel: "rest", Lang: "zh-TW", Reason: "complaint"}); err != nil {
		t.Fatal(err)
	}
	// A replayed turn does not queue twice.
	if err := e.hs.RequestHandoff(ctx, dialog.HandoffRequest{Conversation: cConv, Channel: "rest", Lang: "zh-TW", Reason: "complaint"}); err != nil {
		t.Fatal(err)
	}
	e.hs.AfterTurn(ctx, cConv) // as the router does once the requesting turn is committed
	e.waitREST("rest-c", 0, "第 1 位")
	// The others were told their new position.
	if f := w.next("W moved to 2", typ("handoff")); num(f["position"]) != 2 {
		t.Fatalf("W position after complaint = %v", f)
	}
	e.waitREST("rest-r", 0, "第 3 位")

	// A customer's web chat session token (or garbage) is refused on the console.
	bad := e.dial("/console/ws")
	bad.send(map[string]any{"type": "auth", "token": "not-a-staff-token-at-all"})
	if f := bad.next("error", typ("error")); f["code"] != "unauthorized" {
		t.Fatalf("bad token: %v", f)
	}
	for range bad.frames { // closed by the server
	}

	// Two agents sign in and see the queue in priority order.
	alice := e.agent(staff[0].Token, nil)
	bob := e.agent(staff[1].Token, nil)
	qf := alice.next("queue", typ("queue"))
	items := qf["queue"].([]any)
	if len(items) != 3 || items[0].(map[string]any)["conversation"] != cConv || items[0].(map[string]any)["priority"] != "complaint" ||
		items[1].(map[string]any)["conversation"] != wConv || items[2].(map[string]any)["conversation"] != rConv {
		t.Fatalf("queue = %v", items)
	}

	// Alice accepts W: she gets the whole transcript; W is told who joined.
	alice.send(map[string]any{"type": "accept", "conversation": wConv})
	as := alice.next("assigned W", typConv("assigned", wConv))
	if tr := as["transcript"].([]any); len(tr) < 2 {
		t.Fatalf("transcript = %v", tr)
	}
	if f := w.next("assigned frame", typ("handoff")); f["state"] != "assigned" || f["agent"] != "alice" {
		t.Fatalf("W handoff = %v", f)
	}

	// Bob becomes ready: routing gives him the head of the queue, the complaint.
	bob.send(map[string]any{"type": "status", "ready": true})
	if f := bob.next("assigned C", typ("assigned")); f["conversation"] != cConv {
		t.Fatalf("bob got %v, want the complaint first", f["conversation"])
	}
	e.waitREST("rest-c", 0, "專員 bob 已加入")
	// Alice is not ready (she accepts by hand), so R goes to bob too (he may hold 3 at once).
	bob.next("assigned R", typConv("assigned", rConv))
	e.waitREST("rest-r", 0, "專員 bob 已加入")

	// Customer ⇄ agent through the stored, sequenced path.
	w.send(map[string]any{"type": "message", "id": "w2", "text": "我的理賠進度如何？"})
	if f := alice.next("customer message", func(f map[string]any) bool {
		return f["type"] == "message" && f["conversation"] == wConv && f["from"] == "customer"
	}); f["text"] != "我的理賠進度如何？" {
		t.Fatalf("alice got %v", f)
	}
	alice.send(map[string]any{"type": "message", "conversation": wConv, "id": "a1", "text": "您好，我來幫您查詢。"})
	alice.send(map[string]any{"type": "message", "conversation": wConv, "id": "a1", "text": "您好，我來幫您查詢。"}) // resent: once
	reply := w.next("agent reply", func(f map[string]any) bool { return f["type"] == "message" && f["from"] == "agent" })
	if reply["agent"] != "alice" || reply["text"] != "您好，我來幫您查詢。" {
		t.Fatalf("W got %v", reply)
	}
	// The bot stays silent while a person holds the conversation.
	if rr := e.rest("rest-c", "我要投訴你們的服務"); len(rr.Replies) != 0 {
		t.Fatalf("bot answered a held conversation: %v", rr.Replies)
	}
	bob.next("C customer message", func(f map[string]any) bool {
		return f["type"] == "message" && f["conversation"] == cConv && f["text"] == "我要投訴你們的服務"
	})
	bob.send(map[string]any{"type": "message", "conversation": cConv, "id": "b1", "text": "了解，我來處理您的申訴。"})
	e.waitREST("rest-c", 0, "我來處理您的申訴")

	// Transfer W from alice to bob, then bob sends it back to the queue.
	alice.send(map[string]any{"type": "transfer", "conversation": wConv, "to_agent": "bob"})
	if f := alice.next("ended (transferred)", typConv("ended", wConv)); f["why"] != "transferred" {
		t.Fatalf("alice ended = %v", f)
	}
	bt := bob.next("assigned W", typConv("assigned", wConv))
	if !hasText(bt["transcript"].([]any), "您好，我來幫您查詢。") {
		t.Fatal("bob's transcript misses alice's reply")
	}
	if f := w.next("transferred", typ("handoff")); f["state"] != "assigned" || f["agent"] != "bob" {
		t.Fatalf("W = %v", f)
	}
	bob.send(map[string]any{"type": "status", "ready": false})
	bob.send(map[string]any{"type": "transfer", "conversation": wConv, "to_queue": true})
	if f := bob.next("ended (requeued)", typConv("ended", wConv)); f["why"] != "requeued" {
		t.Fatalf("bob ended = %v", f)
	}
	if f := w.next("back in queue", typ("handoff")); f["state"] != "queued" || num(f["position"]) != 1 {
		t.Fatalf("W = %v (it keeps its place by wait, ahead of R)", f)
	}
	alice.send(map[string]any{"type": "accept", "conversation": wConv})
	alice.next("assigned W again", typConv("assigned", wConv))
	w.next("assigned again", typ("handoff"))

	// Alice's connection drops; W writes meanwhile; she resumes and loses nothing.
	var last int64
	alice.c.Close()
	time.Sleep(100 * time.Millisecond)
	w.send(map[string]any{"type": "message", "id": "w3", "text": "還在嗎？"})
	w.send(map[string]any{"type": "message", "id": "w4", "text": "我等一下要出門"})
	w.next("ack w4", func(f map[string]any) bool { return f["type"] == "ack" && f["id"] == "w4" })
	alice = e.agent(staff[0].Token, map[string]int64{wConv: last})
	ra := alice.next("assigned on resume", typConv("assigned", wConv))
	if tr := ra["transcript"].([]any); !hasText(tr, "還在嗎？") || !hasText(tr, "我等一下要出門") {
		t.Fatalf("resumed transcript misses the messages written while away")
	}
	alice.send(map[string]any{"type": "resume", "last_seq": map[string]int64{wConv: int64(num(ra["seq"])) - 2}})
	alice.next("replayed message", func(f map[string]any) bool { return f["type"] == "message" && f["text"] == "我等一下要出門" })

	// Alice ends: W is told, and the dialog takes over again with the handback turn.
	alice.send(map[string]any{"type": "end", "conversation": wConv, "resolved": true})
	alice.next("ended", typConv("ended", wConv))
	if f := w.next("ended frame", typ("handoff")); f["state"] != "ended" || f["agent"] != "alice" {
		t.Fatalf("W = %v", f)
	}
	w.next("ended text", func(f map[string]any) bool {
		return f["type"] == "message" && f["from"] == "system" && strings.Contains(f["text"].(string), "已結束對話")
	})
	w.next("handback turn (bot)", func(f map[string]any) bool { return f["type"] == "message" && f["from"] == "bot" })
	if _, held := e.hs.Hold(wConv); held {
		t.Fatal("W still held after end")
	}
	// The rating hook the dialog calls.
	if err := e.hs.RecordRating(ctx, wConv, 5, "很快"); err != nil {
		t.Fatal(err)
	}
	if rs, _ := e.hs.Ratings(ctx, wConv); len(rs) != 1 || rs[0].Score != 5 || rs[0].Agent != "alice" {
		t.Fatalf("ratings = %v", rs)
	}
	// After the handback the bot answers again.
	w.send(map[string]any{"type": "message", "id": "w5", "text": "查詢進度"})
	w.next("bot answers again", func(f map[string]any) bool { return f["type"] == "message" && f["from"] == "bot" })
	_ = casesvc.RoleSpecialist
}

func hasText(list []any, text string) bool {
	for _, m := range list {
		if m.(map[string]any)["text"] == text {
			return true
		}
	}
	return false
}
