package console_test

import (
	"context"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/channels/handoff"
	"claimline/dialog"
)

// TestLinkedCaseMaskedPerRole: a specialist sees the claimant's national ID masked, a supervisor
// whole, and the supervisor's view is in the audit trail.
func TestLinkedCaseMaskedPerRole(t *testing.T) {
	e := newEnv(t, t.TempDir())
	ctx := context.Background()
	d := e.rest("rest-d", "你好")
	kase, err := e.cases.CreateCase(ctx, casesvc.NewCase{
		IdempotencyKey: d.Conversation + ":1", ClaimType: "medical", PolicyNumber: "HL20240017", Channel: "rest",
		Conversation: d.Conversation, Actor: "bot",
		Claimant: casesvc.Person{Name: "王小明", NationalID: "A123456789", Phone: "+886912345678"},
		Incident: casesvc.Incident{OccurredAt: time.Now().Add(-24 * time.Hour), Place: "台北", Cause: "illness", Description: "發燒住院"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.hs.RequestHandoff(ctx, dialog.HandoffRequest{Conversation: d.Conversation, Channel: "rest", Lang: "zh-TW",
		Reason: "customer_asked", Flow: "file_claim", PolicyNumber: "HL20240017", Slots: map[string]string{"claim_type": "medical"}}); err != nil {
		t.Fatal(err)
	}
	e.hs.AfterTurn(ctx, d.Conversation)

	alice := e.agent(staff[0].Token, nil)
	sue := e.agent(staff[2].Token, nil)
	sue.next("supervisor view", typ("supervisor"))
	alice.send(map[string]any{"type": "accept", "conversation": d.Conversation})
	a := alice.next("assigned", typConv("assigned", d.Conversation))
	c := a["case"].(map[string]any)
	if c["id"] != kase.ID || c["claimant"].(map[string]any)["national_id"] != "A12****789" {
		t.Fatalf("specialist sees case %v", c)
	}
	if a["slots"].(map[string]any)["claim_type"] != "medical" || a["flow"] != "file_claim" {
		t.Fatalf("structured context missing: %v", a)
	}
	if audit, _ := e.cases.Audit(ctx, casesvc.AuditFilter{Actor: "alice"}); len(audit) != 0 {
		t.Fatalf("masked view audited: %v", audit)
	}
	// Transfer to the supervisor: she sees the ID whole, and that view is audited.
	alice.send(map[string]any{"type": "transfer", "conversation": d.Conversation, "to_agent": "sue"})
	s := sue.next("assigned", typConv("assigned", d.Conversation))
	if got := s["case"].(map[string]any)["claimant"].(map[string]any)["national_id"]; got != "A123456789" {
		t.Fatalf("supervisor sees %v", got)
	}
	audit, err := e.cases.Audit(ctx, casesvc.AuditFilter{Actor: "sue"})
	if err != nil || len(audit) == 0 || audit[len(audit)-1].CaseID != kase.ID {
		t.Fatalf("audit = %v, %v", audit, err)
	}
	// The supervisor view lists the live conversation and the agents' load.
	sup := sue.next("supervisor view with the conversation", func(f map[string]any) bool {
		if f["type"] != "supervisor" {
			return false
		}
		live := f["conversations"].([]any)
		return len(live) == 1 && live[0].(map[string]any)["agent"] == "sue"
	})
	if len(sup["agents"].([]any)) < 2 {
		t.Fatalf("supervisor agents = %v", sup["agents"])
	}
}

// TestHeldSurvivesRestart: a conversation held by an agent stays held across a restart of the
// router and the stores; the bot stays silent and the agent gets what was written meanwhile.
func TestHeldSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	e := newEnv(t, dir)
	r := e.rest("rest-x", "我要找真人客服")
	e.waitREST("rest-x", 0, "第 1 位")
	alice := e.agent(staff[0].Token, nil)
	alice.send(map[string]any{"type": "accept", "conversation": r.Conversation})
	alice.next("assigned", typConv("assigned", r.Conversation))
	e.waitREST("rest-x", 0, "專員 alice 已加入")
	e.close()

	e2 := newEnv(t, dir)
	if h, ok := e2.hs.Hold(r.Conversation); !ok || h.Agent != "alice" {
		t.Fatalf("after restart hold = %v, %v", h, ok)
	}
	if rr := e2.rest("rest-x", "重開之後還在嗎"); len(rr.Replies) != 0 {
		t.Fatalf("the bot answered a held conversation after restart: %v", rr.Replies)
	}
	alice2 := e2.agent(staff[0].Token, nil)
	a := alice2.next("assigned after restart", typConv("assigned", r.Conversation))
	if !hasText(a["transcript"].([]any), "重開之後還在嗎") {
		t.Fatal("transcript misses the message written after the restart")
	}
}

// TestCallbackTask: outside staffed hours the customer may leave a call-back note, which becomes a
// durable task in the console.
func TestCallbackTask(t *testing.T) {
	closed := handoff.Hours{Days: []time.Weekday{time.Sunday}} // open 00:00–00:00: never
	e := newEnvHours(t, t.TempDir(), closed)
	r := e.rest("rest-cb", "我要找真人客服")
	m := e.waitREST("rest-cb", 0, "非真人客服服務時間")
	if bs, _ := m["buttons"].([]any); len(bs) == 0 {
		t.Fatalf("no call-back button: %v", m)
	}
	alice := e.agent(staff[0].Token, nil)
	alice.next("tasks", typ("tasks"))
	e.restAction("rest-cb", "handoff:callback")
	rr := e.rest("rest-cb", "請明天上午打 0912345678 給我")
	if len(rr.Replies) != 1 {
		t.Fatalf("callback note replies = %v", rr.Replies)
	}
	f := alice.next("task", func(f map[string]any) bool { return f["type"] == "tasks" && len(f["tasks"].([]any)) == 1 })
	task := f["tasks"].([]any)[0].(map[string]any)
	if task["conversation"] != r.Conversation || task["note"] != "請明天上午打 0912345678 給我" {
		t.Fatalf("task = %v", task)
	}
	alice.send(map[string]any{"type": "task_done", "id": task["id"]})
	alice.next("no tasks", func(f map[string]any) bool { return f["type"] == "tasks" && len(f["tasks"].([]any)) == 0 })
}
