package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestOutageCaseStoreLockedMidConversation (issue 8, outage handling) runs a real process: a claim is
// filled over REST up to the read-back; then the case store (casesvc.db) is made unavailable by
// another writer holding its lock (BEGIN EXCLUSIVE from this test); the customer confirms and is told
// the claim was received; no case exists while the store is locked; once it is released the outbox
// (intake.db) files the claim and the case id with the document list arrives in the conversation;
// the back office shows exactly one case.
func TestOutageCaseStoreLockedMidConversation(t *testing.T) {
	data := t.TempDir()
	p := startProcess(t, data)
	const sender = "outage-customer"
	say := func(text, action string) string {
		t.Helper()
		body := map[string]any{"sender": sender}
		if action != "" {
			body["action"] = action
		} else {
			body["text"] = text
		}
		var resp struct {
			Replies []restReply `json:"replies"`
		}
		if code := doJSON(t, "POST", p.URL+"/api/v1/rest/messages", "", body, &resp); code != 200 {
			t.Fatalf("POST %v: %d", body, code)
		}
		var b strings.Builder
		for _, r := range resp.Replies {
			b.WriteString(r.Text + "\n")
		}
		return b.String()
	}
	for _, s := range []struct{ text, action, want string }{
		{"我要申請理賠", "", "保單號碼"},
		{"HL20240017", "", "身分證字號"},
		{"A123456789", "", "出生日期"},
		{"1985-03-02", "", "身分已確認"},
		{"", "type:medical", "什麼時候"},
		{"前天", "", "醫院"},
		{"台大醫院", "", "病名"},
		{"腸胃炎", "", "就醫情形"},
		{"住院兩天，費用大概一萬二", "", "請確認以下資料"},
	} {
		if got := say(s.text, s.action); !strings.Contains(got, s.want) {
			t.Fatalf("after %q%q the bot should say %q; it said:\n%s", s.text, s.action, s.want, got)
		}
	}

	// Another writer holds the case store's lock: its writes wait out the busy timeout and fail.
	db, err := sql.Open("sqlite", filepath.Join(data, "casesvc.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	locked := true
	defer func() {
		if locked {
			conn.ExecContext(ctx, "ROLLBACK")
		}
	}()

	got := say("", "confirm")
	if !strings.Contains(got, "已收到您的申請，系統確認後會在這裡告訴您案件編號") || strings.Contains(got, "CLM-") {
		t.Fatalf("confirm during the outage: %s", got)
	}
	var list struct {
		Cases []struct {
			ID string `json:"id"`
		} `json:"cases"`
		Total int `json:"total"`
	}
	casesURL := p.URL + "/api/v1/cases?policy_number=HL20240017"
	if code := doJSON(t, "GET", casesURL, testSpecialistToken, nil, &list); code != 200 || list.Total != 0 {
		t.Fatalf("cases during the outage: %d %+v", code, list)
	}
	var msgs struct {
		Messages []struct {
			Seq  int64  `json:"seq"`
			From string `json:"from"`
			Text string `json:"text"`
		} `json:"messages"`
	}
	if code := doJSON(t, "GET", p.URL+"/api/v1/rest/messages?sender="+sender, "", nil, &msgs); code != 200 || len(msgs.Messages) == 0 {
		t.Fatalf("messages: %d", code)
	}
	after := msgs.Messages[len(msgs.Messages)-1].Seq

	// The store is back.
	if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
		t.Fatal(err)
	}
	locked = false
	var told string
	deadline := time.Now().Add(90 * time.Second)
	for told == "" {
		if time.Now().After(deadline) {
			t.Fatalf("the case id never arrived in the conversation:\n%s", p.output())
		}
		time.Sleep(300 * time.Millisecond)
		msgs.Messages = nil
		if code := doJSON(t, "GET", fmt.Sprintf("%s/api/v1/rest/messages?sender=%s&after_seq=%d", p.URL, sender, after), "", nil, &msgs); code != 200 {
			t.Fatalf("messages: %d", code)
		}
		for _, m := range msgs.Messages {
			if m.From == "bot" && caseIDPattern.MatchString(m.Text) {
				told = m.Text
			}
		}
	}
	for _, w := range []string{"已完成登記", "請一次備齊以下文件", "1. 理賠申請書", "5. 存摺封面", "10 天內"} {
		if !strings.Contains(told, w) {
			t.Errorf("the notice lacks %q:\n%s", w, told)
		}
	}
	if code := doJSON(t, "GET", casesURL, testSpecialistToken, nil, &list); code != 200 || list.Total != 1 || len(list.Cases) != 1 {
		t.Fatalf("cases after the outage: %d %+v, want exactly one", code, list)
	}
	if id := caseIDPattern.FindString(told); list.Cases[0].ID != id {
		t.Fatalf("told %s, filed %s", id, list.Cases[0].ID)
	}
	// A while later still exactly one: the replay does not file it again.
	time.Sleep(3 * time.Second)
	if code := doJSON(t, "GET", casesURL, testSpecialistToken, nil, &list); code != 200 || list.Total != 1 {
		t.Fatalf("cases later: %d %+v", code, list)
	}
}
