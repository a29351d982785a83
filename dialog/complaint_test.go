package dialog_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/dialog"
)

// fileCase files a claim straight in the case service, as another conversation would have.
func fileCase(t *testing.T, e *env, policy, claimType, name, phone, key string) *casesvc.Case {
	t.Helper()
	c, err := e.svc.CreateCase(context.Background(), casesvc.NewCase{
		IdempotencyKey: key, ClaimType: claimType, PolicyNumber: policy, Channel: "webchat", Conversation: "other-" + key,
		Claimant: casesvc.Person{Name: name, Phone: phone},
		Incident: casesvc.Incident{OccurredAt: start.Add(-48 * time.Hour), Place: "台北", Cause: "車禍", Description: "後保險桿凹陷"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func withHandoff(t *testing.T, e *env) *recordingHandoff {
	t.Helper()
	h := &recordingHandoff{}
	eng, err := dialog.New(dialog.Config{Cases: e.svc, Location: taipei, Handoff: h})
	if err != nil {
		t.Fatal(err)
	}
	e.eng = eng
	return h
}

// Someone else's case id, typed as the linked case, gets exactly the answer an unknown id gets; only
// the customer's own case can be linked, and the complaint is filed with it.
func TestComplaintLinksOnlyOwnCase(t *testing.T) {
	e := newEnv(t)
	theirs := fileCase(t, e, "HL20240017", "accident", "王小明", "+886912345678", "k-theirs")
	own := fileCase(t, e, "MT20250088", "motor", "David Lin", "+886987654321", "k-own")
	e.script([]step{
		{press: "complaint", want: []string{"提出客訴", "保單號碼"}},
		{say: "MT20250088"},
		{say: "F128765439"},
		{say: "1990-07-15", want: []string{"身分已確認", "哪一方面"}, buttons: []string{"服務態度", "處理太慢", "不同意理賠結果", "理賠金額有爭議", "溝通或通知不清楚", "其他"}},
		{press: "cat:decision_dispute"},
		{say: "理由說明得不清楚，我不同意", want: []string{"哪一個案件"}, buttons: []string{own.ID + "（車險）", "沒有，不是針對案件"},
			not: []string{theirs.ID}},
	})
	other := e.script([]step{{say: theirs.ID + " 這件"}})
	unknown := e.script([]step{{say: "CLM-20200101-000042"}})
	if a, b := replyText(other), replyText(unknown); a != b || !strings.Contains(a, "查不到這個案件編號") {
		t.Fatalf("someone else's case: %q\nan unknown case: %q\nwant the same answer", a, b)
	}
	e.script([]step{
		{press: "link:1", want: []string{"聯絡您"}},
		{press: "contact:chat", want: []string{"相關案件：" + own.ID, "聯絡方式：在這裡回覆", "類別：不同意理賠結果"}},
		{press: "confirm", want: []string{"已受理您的客訴，編號 CMP-20261124-000001"}},
	})
	c, err := e.svc.Complaint(context.Background(), "CMP-20261124-000001")
	if err != nil {
		t.Fatal(err)
	}
	if c.CaseID != own.ID || c.Category != "decision_dispute" || c.PolicyNumber != "MT20250088" || c.Contact.Method != "chat" ||
		c.Conversation != e.conv || c.Complainant.Name != "David Lin" || c.Description != "理由說明得不清楚，我不同意" {
		t.Errorf("complaint = %+v", c)
	}
}

func replyText(rs []dialog.Reply) string {
	s, _ := joined(rs)
	return s
}

// After the acknowledgment a person is offered at once; choosing one requests a handoff with reason
// "complaint" (the queue puts complaints first), with the complaint's id for the agent.
func TestComplaintOffersPersonNow(t *testing.T) {
	e := newEnv(t)
	h := withHandoff(t, e)
	e.script([]step{
		{say: "我要客訴，專員態度很差", want: []string{"提出客訴", "保單號碼"}},
		{say: "HL20240017"},
		{say: "A123456789"},
		// The category was in the first message.
		{say: "1985-03-02", want: []string{"身分已確認", "請說明發生了什麼事"}, not: []string{"哪一方面"}},
		{say: "電話裡專員很不耐煩，話沒說完就掛斷"},
		{press: "contact:sms", want: []string{"什麼時間方便"}},
		{press: "window:any", want: []string{"類別：服務態度", "聯絡方式：簡訊（+8869****5678），隨時都可以"}},
		{press: "confirm", want: []string{"已受理您的客訴，編號 CMP-", "7 天內", "30 天內", "0800-789-885", "需要現在由真人客服和您談談嗎？"},
			buttons: []string{"真人客服", "不用了"}},
		{press: "handoff:complaint", want: []string{"正在為您轉接真人客服"}},
	})
	if len(h.got) != 1 {
		t.Fatalf("handoffs: %+v", h.got)
	}
	r := h.got[0]
	if r.Reason != "complaint" || r.Flow != "complaint" || !strings.HasPrefix(r.Slots["complaint_id"], "CMP-") || r.PolicyNumber != "HL20240017" {
		t.Errorf("handoff = %+v", r)
	}
	list, _, _ := e.svc.Complaints(context.Background(), casesvc.ComplaintFilter{})
	if len(list) != 1 || list[0].Contact.Method != "sms" || list[0].Complainant.Phone != "+886912345678" {
		t.Fatalf("complaints: %+v", list)
	}
	// The complaint is done: what follows goes to the menu, not to the offer again.
	e.script([]step{{say: "查詢進度", want: []string{"這張保單目前沒有理賠案件"}, not: []string{"真人客服和您談談"}}})
}

// An angry message is offered a person at once; taking it hands off with reason "angry".
func TestAngryCustomerOfferedPerson(t *testing.T) {
	for _, c := range []struct{ lang, text, want string }{
		{"", "這什麼爛服務，氣死我了", "非常抱歉讓您有不好的感受"},
		{"en", "This is ridiculous, I'm furious", "I'm very sorry this has upset you"},
	} {
		e := newEnv(t)
		e.lang = c.lang
		h := withHandoff(t, e)
		e.script([]step{
			{say: c.text, want: []string{c.want}},
			{press: "handoff:angry"},
		})
		if len(h.got) != 1 || h.got[0].Reason != "angry" {
			t.Errorf("%q: handoffs %+v", c.text, h.got)
		}
	}
}

// With a declared disaster the greeting says so in the customer's language, and a matching claim is
// filed in the green channel with the event's shorter checklist, which the reply says.
func TestEmergencyGreetingAndGreenChannel(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.svc.SetEmergency(ctx, casesvc.Emergency{Active: true, Name: "凱米颱風", Regions: []string{"高雄", "屏東"},
		From: "2026-11-20", To: "2026-11-25", Checklists: map[string][]string{"property": {"claim_form", "damage_photos"}}},
		casesvc.Staff{Name: "boss", Role: casesvc.RoleManager}); err != nil {
		t.Fatal(err)
	}
	all, _ := joined(e.turn(dialog.Input{Event: dialog.EventStart}))
	if !strings.Contains(all, "因應凱米颱風，受影響地區（高雄、屏東）的理賠已啟動綠色通道，文件從簡、優先處理。") || !strings.Contains(all, "請問需要什麼協助") {
		t.Fatalf("greeting: %q", all)
	}
	en := newEnv(t)
	en.svc = e.svc
	eng, _ := dialog.New(dialog.Config{Cases: e.svc, Location: taipei})
	en.eng, en.lang = eng, "en"
	if all, _ := joined(en.turn(dialog.Input{Event: dialog.EventStart})); !strings.Contains(all, "Because of 凱米颱風, claims from the affected areas (高雄, 屏東) are in the green channel") {
		t.Fatalf("English greeting: %q", all)
	}
	e.script([]step{
		{say: "我要申請理賠", not: []string{"凱米颱風"}}, // told in the greeting already
		{say: "TR20250123"},
		{say: "B220198765"},
		{say: "1992-11-08", want: []string{"身分已確認"}},
		{press: "type:property"},
		{press: "no"},
		{say: "前天"},
		{say: "高雄市前鎮區的家裡"},
		{say: "淹水"},
		{say: "一樓家具泡水，損失大概五萬", want: []string{"請確認以下資料"}},
		{press: "confirm", want: []string{"已受理，案件編號 CLM-", "綠色通道案件，已為您簡化文件。", "1. 理賠申請書", "2. 損失（車損）照片", "5 天內"},
			not: []string{"3.", "損失清單"}},
	})
	cs := e.cases("TR20250123")
	if len(cs) != 1 || cs[0].Priority != "green_channel" {
		t.Fatalf("cases: %+v", cs)
	}
}
