package main

import (
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestComplaintEndToEnd: a customer files a complaint over REST and gets its id at once; a supervisor
// answers it in the back office; the customer is told the answer with the ombudsman route, and the
// complaint's timeline and the audit trail show every step.
func TestComplaintEndToEnd(t *testing.T) {
	p := startProcess(t, t.TempDir())
	send := func(body map[string]any) string {
		t.Helper()
		body["sender"] = "complainer"
		var r struct {
			Replies []restReply `json:"replies"`
		}
		if code := doJSON(t, "POST", p.URL+"/api/v1/rest/messages", "", body, &r); code != 200 {
			t.Fatalf("%v: %d", body, code)
		}
		var b strings.Builder
		for _, x := range r.Replies {
			b.WriteString(x.Text + "\n")
		}
		return b.String()
	}
	send(map[string]any{"action": "complaint"})
	send(map[string]any{"text": "LF20190456"})
	send(map[string]any{"text": "L203771544"})
	send(map[string]any{"text": "1970-09-12"})
	send(map[string]any{"action": "cat:delay"})
	send(map[string]any{"text": "文件送了一個月都沒有消息"})
	send(map[string]any{"action": "contact:chat"})
	filed := send(map[string]any{"action": "confirm"})
	id := regexp.MustCompile(`CMP-\d{8}-\d{6}`).FindString(filed)
	if id == "" || !strings.Contains(filed, "0800-789-885") {
		t.Fatalf("no complaint id or ombudsman route in:\n%s", filed)
	}
	send(map[string]any{"action": "complaint:no"})

	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	path := p.URL + "/api/v1/complaints/" + id + "/transitions"
	if code := doJSON(t, "POST", path, testSpecialistToken, map[string]any{"action": "respond", "response": "x"}, &e); code != 403 {
		t.Errorf("a specialist answers a complaint: %d, want 403", code)
	}
	if code := doJSON(t, "POST", path, testSupervisorToken, map[string]any{"action": "resolve"}, &e); code != 409 {
		t.Errorf("resolve before any answer: %d %+v, want 409", code, e)
	}
	answer := "已請理賠專員今天與您聯繫，並加速審核。"
	if code := doJSON(t, "POST", path, testSupervisorToken, map[string]any{"action": "respond", "response": answer}, &e); code != 200 {
		t.Fatalf("respond: %d %+v", code, e)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		var later struct {
			Messages []restReply `json:"messages"`
		}
		doJSON(t, "GET", p.URL+"/api/v1/rest/messages?sender=complainer&after_seq=0", "", nil, &later)
		last := ""
		if n := len(later.Messages); n > 0 {
			last = later.Messages[n-1].Text
		}
		if strings.Contains(last, answer) && strings.Contains(last, "0800-789-885") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the customer was not told the answer with the ombudsman route; last message:\n%s", last)
		}
		time.Sleep(100 * time.Millisecond)
	}
	var c struct {
		Status   string                   `json:"status"`
		Timeline []struct{ Event string } `json:"timeline"`
	}
	doJSON(t, "GET", p.URL+"/api/v1/complaints/"+id, testSupervisorToken, nil, &c)
	if c.Status != "responded" || len(c.Timeline) < 3 {
		t.Errorf("complaint after the answer: %+v", c)
	}
	var audit struct {
		Entries []struct{ Action string } `json:"entries"`
	}
	doJSON(t, "GET", p.URL+"/api/v1/audit?complaint="+id, testSupervisorToken, nil, &audit)
	var actions []string
	for _, a := range audit.Entries {
		actions = append(actions, a.Action)
	}
	if !strings.Contains(strings.Join(actions, " "), "respond") {
		t.Errorf("audit trail of the complaint: %v", actions)
	}
}
