package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// propertyCustomer files a home (property) claim on policy, for an incident at place.
func propertyCustomer(t *testing.T, policy, id, birth, place string) *customer {
	return &customer{t: t, answers: []answer{
		{cues: []string{"請確認以下資料"}, button: "confirm"},
		{cues: []string{"保單號碼"}, text: policy},
		{cues: []string{"身分證字號"}, text: id},
		{cues: []string{"出生日期"}, text: birth},
		{cues: []string{"哪一種理賠"}, button: "type:property"},
		{cues: []string{"火災"}, button: "no"},
		{cues: []string{"什麼時候"}, text: "昨天下午三點"},
		{cues: []string{"描述", "情形"}, text: "颱風把窗戶吹破，客廳淹水，損失大約五萬元"},
		{cues: []string{"哪裡"}, text: place},
		{cues: []string{"原因"}, text: "颱風"},
		{cues: []string{"金額"}, text: "50000"},
		{cues: []string{"需要什麼協助"}, button: "file_claim"},
	}}
}

// TestDisasterModeEndToEnd: a manager declares a typhoon; the greeting mentions it; a claim from the
// affected region gets the green channel (shorter checklist, priority, fast track) and the front of
// the queue for a person; a claim from elsewhere is unaffected.
func TestDisasterModeEndToEnd(t *testing.T) {
	p := startProcess(t, t.TempDir(), "CLAIMLINE_STAFFED_HOURS=always")
	today := time.Now().In(time.FixedZone("Asia/Taipei", 8*3600))
	event := map[string]any{"active": true, "name": "凱米颱風", "regions": []string{"高雄"},
		"from": today.AddDate(0, 0, -3).Format("2006-01-02"), "to": today.AddDate(0, 0, 3).Format("2006-01-02"),
		"checklists": map[string][]string{"property": {"claim_form", "damage_photos"}}}
	if code := doJSON(t, "PUT", p.URL+"/api/v1/admin/emergency", testSupervisorToken, event, nil); code != 403 {
		t.Errorf("a supervisor declares an emergency: %d, want 403", code)
	}
	if code := doJSON(t, "PUT", p.URL+"/api/v1/admin/emergency", testManagerToken, event, nil); code != 200 {
		t.Fatalf("declare: %d", code)
	}

	var greeting struct {
		Replies []restReply `json:"replies"`
	}
	doJSON(t, "POST", p.URL+"/api/v1/rest/messages", "", map[string]any{"sender": "elsewhere", "text": "你好"}, &greeting)
	if len(greeting.Replies) == 0 || !strings.Contains(greeting.Replies[0].Text, "凱米颱風") {
		t.Errorf("the greeting should mention the typhoon: %+v", greeting.Replies)
	}

	elsewhereID, _ := fileClaimREST(t, p, "elsewhere", "zh-TW", propertyCustomer(t, "MT20250088", "F128765439", "1990-07-15", "台北市信義區"))
	kaohsiungID, done := fileClaimREST(t, p, "kaohsiung", "zh-TW", propertyCustomer(t, "TR20250123", "B220198765", "1992-11-08", "高雄市前鎮區"))
	if !strings.Contains(done, "綠色通道") {
		t.Errorf("the filing reply should tell of the green channel:\n%s", done)
	}
	var green, normal struct {
		Priority          string   `json:"priority"`
		FastTrack         bool     `json:"fast_track"`
		RequiredDocuments []string `json:"required_documents"`
	}
	doJSON(t, "GET", p.URL+"/api/v1/cases/"+kaohsiungID, testSupervisorToken, nil, &green)
	doJSON(t, "GET", p.URL+"/api/v1/cases/"+elsewhereID, testSupervisorToken, nil, &normal)
	if green.Priority != "green_channel" || !green.FastTrack || fmt.Sprint(green.RequiredDocuments) != "[claim_form damage_photos]" {
		t.Errorf("the affected claim: %+v", green)
	}
	if normal.Priority != "normal" || normal.FastTrack || len(normal.RequiredDocuments) <= 2 {
		t.Errorf("the claim from elsewhere: %+v", normal)
	}

	// Both ask for a person; the affected customer, though second, is first in the queue.
	ask := func(sender string) string {
		var r struct {
			Replies []restReply `json:"replies"`
		}
		doJSON(t, "POST", p.URL+"/api/v1/rest/messages", "", map[string]any{"sender": sender, "action": "human_agent"}, &r)
		var b strings.Builder
		for _, x := range r.Replies {
			b.WriteString(x.Text + "\n")
		}
		return b.String()
	}
	ask("elsewhere")
	ask("kaohsiung")
	// The queue position comes as a later message: fetch what the customer has been told since.
	deadline := time.Now().Add(10 * time.Second)
	for {
		var later struct {
			Messages []restReply `json:"messages"`
		}
		doJSON(t, "GET", p.URL+"/api/v1/rest/messages?sender=kaohsiung&after_seq=0", "", nil, &later)
		var all strings.Builder
		for _, m := range later.Messages {
			all.WriteString(m.Text + "\n")
		}
		if strings.Contains(all.String(), "第 1 位") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the green-channel customer should be told they are first in the queue:\n%s", all.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
