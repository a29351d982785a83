package dialog_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/dialog"
)

// verifyZh is the identity check for HL20240017 after "我要申請理賠".
var verifyZh = []step{
	{say: "我要申請理賠", want: []string{"請提供您的保單號碼"}},
	{say: "HL20240017", want: []string{"身分證字號"}},
	{say: "A123456789", want: []string{"出生日期"}},
	{say: "74/3/2", want: []string{"謝謝，身分已確認。", "請問這次要申請哪一種理賠？"}, buttons: []string{"醫療/住院", "意外傷害", "重大疾病"}},
}

func TestClaimEnglishMotor(t *testing.T) {
	e := newEnv(t)
	e.who = "customer"
	e.script([]step{
		{say: "I had a car accident yesterday at 3pm on Zhongxiao East Road, my bumper is badly dented",
			want: []string{"I'll help you file a claim.", "Please tell me your policy number."}},
		{say: "MT20250088", want: []string{"national ID number"}},
		{say: "F128765439", want: []string{"date of birth"}},
		{say: "1990-07-15", want: []string{"Thank you, your identity is confirmed.", "This is a Motor claim.", "damage to the vehicle"}},
		{say: "The rear bumper and the left door are dented, repair will cost about NT$28,000", want: []string{"plate number"}},
		{say: "abc-1234", want: []string{"Please check these details:", "Claim type: Motor", "Policy: MT20250088",
			"Claimant: David Lin", "Phone: +8869****4321", "When: 23 November 2026, 15:00", "Where: Zhongxiao East Road",
			"Cause: Traffic accident", "What happened: The rear bumper and the left door are dented, repair will cost about NT$28,000\n",
			"Estimated amount: NT$28,000", "Plate number: ABC-1234"}, buttons: []string{"Confirm and submit", "Change something"}},
		{say: "change the place to NTU Hospital", want: []string{"OK, updated.", "Where: NTU Hospital"}},
		{say: "the amount is 40000", want: []string{"Estimated amount: NT$40,000"}},
		{press: "confirm", want: []string{"Received. Your case number is CLM-20261124-000001.",
			"Please send all of these documents (you can upload photos or PDFs right here):", "1. Claim form — ",
			"6. ", "within 10 days after your documents are complete"}, not: []string{"7. "}},
	})
	c := e.cases("MT20250088")[0]
	if c.ClaimType != "motor" || c.Incident.Details["vehicle_plate"] != "ABC-1234" || c.Incident.Place != "NTU Hospital" ||
		*c.Incident.EstimatedAmount != 40000 || c.Claimant.Name != "David Lin" {
		t.Errorf("case = %+v %+v", c, c.Incident)
	}
	if !c.Incident.OccurredAt.Equal(time.Date(2026, 11, 23, 15, 0, 0, 0, taipei)) {
		t.Errorf("occurred at %v", c.Incident.OccurredAt)
	}
}

func TestSeveralFieldsInOneMessage(t *testing.T) {
	e := newEnv(t)
	e.script([]step{
		{say: "我要申請理賠", want: []string{"請提供您的保單號碼"}},
		// Policy, ID and birth date at once.
		{say: "保單 HL20240017，身分證 A123456789，生日 1985-03-02", want: []string{"身分已確認", "請問這次要申請哪一種理賠？"}},
		// Type, time, place and cause at once: only the yes/no question and the description are left.
		{say: "前天晚上八點在家裡跌倒，手骨折", want: []string{"這次是意外受傷，請問是交通事故嗎？"}},
		{press: "no", want: []string{"請簡單描述受傷與就醫情形"}},
		{say: "左手骨折，在馬偕醫院打石膏，還不知道費用", want: []string{"時間：2026年11月22日（民國115年）20:00", "地點：家裡",
			"原因：跌倒", "情形：左手骨折，在馬偕醫院打石膏，還不知道費用", "估計金額：未提供", "交通事故：不是"}},
		{press: "confirm", want: []string{"CLM-20261124-000001", "5. 存摺封面"}, not: []string{"6. "}},
	})
	c := e.cases("HL20240017")[0]
	if c.Incident.EstimatedAmount != nil || len(c.Incident.Conditions) != 0 || c.Incident.Cause != "跌倒" {
		t.Errorf("incident = %+v", c.Incident)
	}
}

func TestWrongNationalIDChecksum(t *testing.T) {
	e := newEnv(t)
	e.script([]step{
		{say: "我要申請理賠"},
		{say: "HL20240017"},
		{say: "A123456788", want: []string{"檢查碼不正確", "請輸入被保險人的身分證字號"}, not: []string{"出生日期"}},
		{say: "A123456789", want: []string{"請輸入出生日期"}},
		{say: "74/3/2", want: []string{"身分已確認"}},
	})
}

func TestIdentityLockedAfterThreeMismatches(t *testing.T) {
	e := newEnv(t)
	e.script([]step{
		{say: "我要申請理賠"},
		{say: "HL20240017"},
		{say: "A123456789"},
		{say: "1990-01-01", want: []string{"與保單紀錄不符", "請輸入被保險人的身分證字號"}, not: []string{"身分證字號不", "出生日期不"}},
		{say: "A123456789"},
		{say: "1985-03-03", want: []string{"與保單紀錄不符"}},
		{say: "B120000008"},
		{say: "1985-03-02", want: []string{"暫停線上身分確認"}, buttons: []string{"轉真人客服", "回主選單"}},
		{press: "human_agent", want: []string{"0800-000-123"}},
		// The lock holds for the rest of the conversation, even with the right details.
		{say: "我要申請理賠"},
		{say: "HL20240017", want: []string{"暫停線上身分確認"}, not: []string{"請輸入被保險人的身分證字號"}},
	})
	if n := len(e.cases("HL20240017")); n != 0 {
		t.Errorf("cases = %d", n)
	}
}

func TestFutureDateRefused(t *testing.T) {
	e := newEnv(t)
	e.script(append(verifyZh, []step{
		{press: "type:medical", want: []string{"請問事情是什麼時候發生的？"}},
		{say: "2027/1/5", want: []string{"發生時間不能是未來的日期", "請問事情是什麼時候發生的？"}},
		// A medical claim asks for the hospital and the illness (issue 3).
		{say: "115年11月20日", want: []string{"請問是在哪一家醫院或診所就醫？"}},
		{say: "台北榮總", want: []string{"請問病名或原因是什麼？"}},
		{say: "急性腸胃炎", want: []string{"請簡單描述就醫情形"}},
		{say: "急診後住院三天", want: []string{"時間：2026年11月20日（民國115年）", "就醫醫院：台北榮總", "病名/原因：急性腸胃炎"}},
	}...))
}

func TestCorrectionAtReadBack(t *testing.T) {
	e := newEnv(t)
	e.script([]step{
		{say: "我昨天下午三點在忠孝東路出車禍，腳骨折住院"},
		{say: "HL20240017"},
		{say: "A123456789"},
		{say: "74/3/2"}, // 出車禍 answered "是交通事故嗎？" already
		{say: "右腿骨折，在台大醫院住院，費用大概三萬五", want: []string{"地點：忠孝東路"}},
		// By button.
		{press: "edit", want: []string{"請問要修改哪一項？"}, buttons: []string{"地點", "時間", "估計金額", "聯絡電話", "交通事故"}},
		{press: "edit:place", want: []string{"請問是在哪裡發生的？"}},
		{say: "忠孝東路四段", want: []string{"好的，已更新。", "地點：忠孝東路四段"}},
		// By words: the day, the place, the amount, the phone.
		{say: "不對，是前天", want: []string{"時間：2026年11月22日（民國115年）15:00"}},
		{say: "地點改成台大醫院", want: []string{"地點：台大醫院"}, not: []string{"地點：忠孝東路"}},
		{say: "金額改成四萬", want: []string{"估計金額：40,000 元"}},
		{say: "電話改成 0922-333-444", want: []string{"聯絡電話：+8869****3444"}},
		{say: "電話改成 123", want: []string{"不像電話號碼", "請問聯絡電話是？"}},
		{say: "0922333444", want: []string{"聯絡電話：+8869****3444"}},
		{press: "confirm", want: []string{"CLM-20261124-000001"}},
	})
	c := e.cases("HL20240017")[0]
	if c.Incident.Place != "台大醫院" || *c.Incident.EstimatedAmount != 40000 || c.Claimant.Phone != "+886922333444" ||
		!c.Incident.OccurredAt.Equal(time.Date(2026, 11, 22, 15, 0, 0, 0, taipei)) {
		t.Errorf("case = %+v %+v", c.Claimant, c.Incident)
	}
}

func TestCancelMidway(t *testing.T) {
	e := newEnv(t)
	e.script(append(verifyZh, []step{
		{press: "type:accident", want: []string{"交通事故"}},
		{say: "取消", want: []string{"已取消，剛才的資料都沒有送出"}, buttons: []string{"申請理賠", "查詢進度", "真人客服"}},
	}...))
	if n := len(e.cases("HL20240017")); n != 0 {
		t.Errorf("cases = %d after cancel", n)
	}
}

func TestLanguageSwitchMidForm(t *testing.T) {
	e := newEnv(t)
	e.script([]step{
		{say: "我要申請理賠"},
		{say: "HL20240017", want: []string{"請輸入被保險人的身分證字號"}},
		{say: "English please", want: []string{"Sure, I'll continue in English.", "please enter the insured person's national ID number"}},
		{say: "A123456789", want: []string{"date of birth"}},
		{say: "中文", want: []string{"好的，接下來用中文為您服務。", "請輸入出生日期"}},
		{say: "74/3/2", want: []string{"身分已確認"}},
		{say: "英文", want: []string{"What kind of claim is it?"}, buttons: []string{"Medical / hospital stay", "Accidental injury"}},
	})
}

func TestProgressDigressionMidForm(t *testing.T) {
	e := newEnv(t)
	// An earlier claim on the same policy, filed through the store.
	amt := 1000.0
	old, err := e.svc.CreateCase(context.Background(), casesvc.NewCase{IdempotencyKey: "earlier", ClaimType: "medical",
		PolicyNumber: "HL20240017", Channel: "webchat", Conversation: "earlier", Actor: "bot",
		Claimant: casesvc.Person{Name: "王小明", Phone: "+886912345678"},
		Incident: casesvc.Incident{OccurredAt: start.Add(-72 * time.Hour), Place: "家", Cause: "感冒", Description: "門診", EstimatedAmount: &amt}})
	if err != nil {
		t.Fatal(err)
	}
	e.script(append(verifyZh, []step{
		{press: "type:medical", want: []string{"什麼時候發生"}},
		{say: "我上一件理賠的進度如何？", want: []string{"您的理賠案件：", old.ID, "等待您補齊文件", "還缺：", "理賠申請書",
			"我們回到剛才的申請。請問事情是什麼時候發生的？"}},
		{say: "昨天", want: []string{"請問是在哪一家醫院或診所就醫？"}},
	}...))
}

func TestProgressFromMenu(t *testing.T) {
	e := newEnv(t)
	e.script([]step{
		{press: "check_progress", want: []string{"查詢理賠進度", "請提供您的保單號碼"}},
		{say: "HL20240017"},
		{say: "A123456789"},
		{say: "74/3/2", want: []string{"這張保單目前沒有理賠案件"}, buttons: []string{"申請理賠"}},
		// A case id that is not theirs gets the same answer as one that does not exist.
		{say: "CLM-20261124-000009 的進度", want: []string{"查不到案件編號 CLM-20261124-000009"}},
	})
}

func TestIdempotentSubmit(t *testing.T) {
	e := newEnv(t)
	e.script([]step{
		{say: "我昨天下午三點在忠孝東路出車禍，腳骨折住院"},
		{say: "HL20240017"},
		{say: "A123456789"},
		{say: "74/3/2"}, // 出車禍 answered "是交通事故嗎？" already
		{say: "右腿骨折，費用三萬五"},
		{press: "confirm", want: []string{"CLM-20261124-000001"}},
	})
	// The gateway replays the confirm turn after a crash: same state in, same seq.
	e.state = e.prev
	e.transcript.WriteString("(replayed)\n")
	replies := e.run(dialog.Input{Conversation: e.conv, Channel: e.channel, Seq: e.seq, At: e.now, Action: "confirm"})
	if all, _ := joined(replies); !strings.Contains(all, "CLM-20261124-000001") {
		t.Errorf("replay answered %q", all)
	}
	if n := len(e.cases("HL20240017")); n != 1 {
		t.Errorf("cases = %d, want 1", n)
	}
}

func TestFormTTLExpiry(t *testing.T) {
	e := newEnv(t)
	e.script(append(verifyZh, []step{
		{press: "type:accident"},
		{say: "是", after: 25 * time.Hour, want: []string{"已超過保留時間"}, not: []string{"請問事情是什麼時候發生的"}},
		// Identity went with it.
		{say: "我要申請理賠", want: []string{"請提供您的保單號碼"}},
	}...))
}

func TestFormKeptWithinTTL(t *testing.T) {
	e := newEnv(t)
	e.script(append(verifyZh, []step{
		{press: "type:accident", want: []string{"交通事故嗎"}},
		{say: "是", after: 20 * time.Hour, want: []string{"什麼時候發生"}, not: []string{"已超過保留時間"}},
	}...))
}

func TestMenuAndDeadEnds(t *testing.T) {
	e := newEnv(t)
	e.now = e.now.Add(time.Minute)
	r := e.turn(dialog.Input{Event: dialog.EventStart})
	all, labels := joined(r)
	for _, w := range []string{"[申請理賠]", "[補件]", "[查詢進度]", "[客訴]", "[真人客服]"} {
		if !strings.Contains(labels, w) {
			t.Errorf("menu lacks %s: %s %s", w, all, labels)
		}
	}
	e.script([]step{
		// Sending documents works now (issue 4): the identity check comes first; cancel leaves it.
		{press: "submit_documents", want: []string{"補件前需要先確認您的身分", "保單號碼"}},
		{say: "取消", want: []string{"已取消"}, buttons: []string{"申請理賠"}},
		// Complaints are taken here now (issue 8): the identity check first; cancel leaves it.
		{press: "complaint", want: []string{"協助您提出客訴", "保單號碼"}},
		{say: "取消", want: []string{"已取消"}, buttons: []string{"查詢進度"}},
		{say: "我要找真人客服", want: []string{"還無法轉接真人客服", "0800-000-123"}, buttons: []string{"申請理賠"}},
		{say: "help", want: []string{"我可以協助您"}},
	})
}

func TestMisunderstoodTwiceOffersPerson(t *testing.T) {
	e := newEnv(t)
	e.script([]step{
		{say: "嗯嗯嗯啊啊", want: []string{"不好意思"}},
		{say: "喔喔喔哈哈", want: []string{"真人客服"}, buttons: []string{"轉真人客服", "回主選單"}},
	})
}

func TestThreeMissesOfferPerson(t *testing.T) {
	e := newEnv(t)
	e.script([]step{
		{say: "我要申請理賠"},
		{say: "不知道耶", want: []string{"不像保單號碼"}},
		{say: "在哪裡看", want: []string{"不像保單號碼"}},
		{say: "找不到", want: []string{"不像保單號碼", "真人客服"}, buttons: []string{"轉真人客服", "回主選單"}},
		{say: "HL20240017", want: []string{"身分證字號"}},
	})
}

func TestDeathClaimCondolences(t *testing.T) {
	e := newEnv(t)
	e.script([]step{
		{say: "我父親上週過世了，想申請理賠", want: []string{"對於您的不幸，我們深感哀悼。"}},
		{say: "LF20190456"},
		{say: "L203771544"},
		{say: "1970-09-12", want: []string{"身分已確認", "身故", "意外身故"}},
	})
}

// failingCases is the real store with CreateCase failing on demand, for the error paths.
type failingCases struct {
	dialog.Cases
	err error
}

func (f *failingCases) CreateCase(ctx context.Context, nc casesvc.NewCase) (*casesvc.Case, error) {
	if f.err != nil {
		return nil, f.err
	}
	return f.Cases.CreateCase(ctx, nc)
}

func TestSubmitErrorsKeepTheForm(t *testing.T) {
	e := newEnv(t)
	fc := &failingCases{Cases: e.svc}
	eng, err := dialog.New(dialog.Config{Cases: fc, Location: taipei})
	if err != nil {
		t.Fatal(err)
	}
	e.eng = eng
	e.script([]step{
		{say: "我昨天下午三點在忠孝東路出車禍，腳骨折住院"},
		{say: "HL20240017"},
		{say: "A123456789"},
		{say: "74/3/2"}, // 出車禍 answered "是交通事故嗎？" already
		{say: "右腿骨折，費用三萬五", want: []string{"請確認以下資料"}},
	})
	fc.err = casesvc.Errorf(casesvc.EUNAVAILABLE, "down")
	e.script([]step{{press: "confirm", want: []string{"暫時無法送出", "資料都還保留著"}, buttons: []string{"重新送出", "轉真人客服"}}})
	fc.err = casesvc.Errorf(casesvc.EINVALID, "bad")
	e.script([]step{{press: "confirm", want: []string{"有些資料不完整", "請確認以下資料", "地點：忠孝東路"}}})
	fc.err = nil
	e.script([]step{{press: "confirm", want: []string{"CLM-20261124-000001"}}})
}

func TestLanguageFromChannelAndFirstMessage(t *testing.T) {
	e := newEnv(t)
	e.lang = "en"
	e.now = e.now.Add(time.Minute)
	if all, _ := joined(e.turn(dialog.Input{Event: dialog.EventStart})); !strings.Contains(all, "Hello") {
		t.Errorf("greeting with an en hint: %q", all)
	}
	// The first real message decides: Simplified Chinese is answered in zh-TW.
	e.script([]step{{say: "我要申请理赔", want: []string{"我來協助您申請理賠。請提供您的保單號碼。"}}})
	// A policy number alone does not switch back.
	e.script([]step{{say: "HL20240017", want: []string{"請輸入被保險人的身分證字號"}}})
}

func TestProgressOtherPolicysCaseLooksMissing(t *testing.T) {
	e := newEnv(t)
	other, err := e.svc.CreateCase(context.Background(), casesvc.NewCase{IdempotencyKey: "x", ClaimType: "motor",
		PolicyNumber: "MT20250088", Channel: "webchat", Conversation: "x", Actor: "bot",
		Claimant: casesvc.Person{Name: "David Lin", Phone: "+886987654321"},
		Incident: casesvc.Incident{OccurredAt: start.Add(-24 * time.Hour), Place: "x", Cause: "x", Description: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	e.script([]step{
		{say: "我想查詢 " + other.ID + " 的進度", want: []string{"請提供您的保單號碼"}},
		{say: "HL20240017"},
		{say: "A123456789"},
		{say: "74/3/2", want: []string{"查不到案件編號 " + other.ID + "，請再確認一次。"}, not: []string{"車險", "David"}},
		{say: "CLM-20991231-999999 的進度", want: []string{"查不到案件編號 CLM-20991231-999999，請再確認一次。"}},
	})
}

func TestIdentityCarriesOverToANewClaim(t *testing.T) {
	e := newEnv(t)
	e.script([]step{
		{say: "我上次車禍的理賠進度", want: []string{"查詢理賠進度", "請提供您的保單號碼"}},
		{say: "HL20240017"},
		{say: "A123456789"},
		{say: "74/3/2", want: []string{"這張保單目前沒有理賠案件"}},
		{say: "我要申請理賠", want: []string{"請問這次要申請哪一種理賠？"}, not: []string{"保單號碼"}},
	})
}

type recordingHandoff struct{ got []dialog.HandoffRequest }

func (h *recordingHandoff) RequestHandoff(ctx context.Context, r dialog.HandoffRequest) error {
	h.got = append(h.got, r)
	return nil
}

func TestHandoffWhenConfigured(t *testing.T) {
	e := newEnv(t)
	h := &recordingHandoff{}
	eng, err := dialog.New(dialog.Config{Cases: e.svc, Location: taipei, Handoff: h})
	if err != nil {
		t.Fatal(err)
	}
	e.eng = eng
	e.script(append(verifyZh, []step{
		{press: "type:medical"},
		{say: "轉真人客服", want: []string{"正在為您轉接真人客服"}, not: []string{"0800"}},
	}...))
	if len(h.got) != 1 || h.got[0].Flow != "file_claim" || h.got[0].PolicyNumber != "HL20240017" ||
		h.got[0].Slots["claim_type"] != "medical" || h.got[0].Conversation != e.conv {
		t.Errorf("handoff = %+v", h.got)
	}
}

func TestLapsedPolicyRefused(t *testing.T) {
	e := newEnv(t)
	e.script([]step{
		{say: "我要申請理賠"},
		{say: "HL20180999", want: []string{"不是有效狀態"}, buttons: []string{"轉真人客服", "回主選單"}, not: []string{"身分證字號"}},
		{say: "HL20990000", want: []string{"查不到這個保單號碼"}},
	})
}
