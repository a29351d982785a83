package dialog_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/dialog"
)

var (
	specialist = casesvc.Staff{Name: "陳專員", Role: casesvc.RoleSpecialist}
	supervisor = casesvc.Staff{Name: "林主管", Role: casesvc.RoleSupervisor}
)

// files makes attachments as a gateway would store them: content-addressed, the hash from the name
// (the same name is the same bytes).
func files(names ...string) []dialog.Attachment {
	var out []dialog.Attachment
	for _, n := range names {
		sum := sha256.Sum256([]byte("bytes of " + n))
		h := hex.EncodeToString(sum[:])
		ct := "image/jpeg"
		if strings.HasSuffix(n, ".pdf") {
			ct = "application/pdf"
		}
		out = append(out, dialog.Attachment{ID: "att-" + h[:8], Filename: n, ContentType: ct, Size: 1000 + int64(len(n)),
			SHA256: h, BlobRef: "sha256/" + h})
	}
	return out
}

// relay plays the notice outbox into the conversation as the gateway's relay does: each pending
// notice (its data through JSON, as stored) becomes an EventNotice turn, then is marked delivered.
func (e *env) relay() []dialog.Reply {
	e.t.Helper()
	ctx := context.Background()
	ns, err := e.svc.PendingNotices(ctx, 50)
	if err != nil {
		e.t.Fatal(err)
	}
	var out []dialog.Reply
	for _, n := range ns {
		if n.Conversation != e.conv {
			continue
		}
		b, _ := json.Marshal(n.Data)
		var data map[string]any
		if err := json.Unmarshal(b, &data); err != nil {
			e.t.Fatal(err)
		}
		e.now = e.now.Add(time.Second)
		e.seq++
		out = append(out, e.run(dialog.Input{Conversation: e.conv, Channel: e.channel, Seq: e.seq, At: e.now, Event: dialog.EventNotice,
			Notice: &dialog.Notice{ID: n.ID, CaseID: n.CaseID, Kind: n.Kind, Data: data}})...)
		if err := e.svc.MarkNoticeDelivered(ctx, n.ID); err != nil {
			e.t.Fatal(err)
		}
	}
	if len(ns) == 0 {
		e.t.Fatal("no notice pending")
	}
	return out
}

func (e *env) expect(rs []dialog.Reply, s step) {
	e.t.Helper()
	e.check(0, s, rs)
}

func (e *env) caseByID(id string) *casesvc.Case {
	e.t.Helper()
	c, err := e.svc.Case(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func (e *env) transition(id string, req casesvc.TransitionRequest, who casesvc.Staff) *casesvc.Case {
	e.t.Helper()
	c, err := e.svc.Transition(context.Background(), id, req, who)
	if err != nil {
		e.t.Fatalf("%s: %v", req.Action, err)
	}
	return c
}

// fileMedical files a medical claim on HL20240017 in this conversation and returns its id.
func (e *env) fileMedical() string {
	e.t.Helper()
	e.script(append(verifyZh, []step{
		{press: "type:medical", want: []string{"什麼時候發生"}},
		{say: "昨天", want: []string{"哪一家醫院"}},
		{say: "台大醫院"},
		{say: "急性肺炎"},
		{say: "住院三天，費用大概兩萬", want: []string{"請確認以下資料"}},
		{press: "confirm", want: []string{"已受理", "1. 理賠申請書", "2. 身分證明文件", "3. 診斷證明書", "4. 醫療費用收據", "5. 存摺封面"},
			not: []string{"6. "}},
	}...))
	cs := e.cases("HL20240017")
	return cs[0].ID
}

func ptr[T any](v T) *T { return &v }

// The whole life of a claim as the customer sees it: two of five documents (one inferred, one
// chosen), the three others listed, a duplicate and a kind the case does not need, a rejected
// document asked again and attributed without a question, several files at once, the case moving to
// review by itself, approval, payment, and the progress answer at every stage.
func TestDocumentsNoticesAndProgress(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	id := e.fileMedical()
	initial := e.caseByID(id).DocumentRequests[0].Kinds
	if len(initial) != 5 {
		t.Fatalf("initial notice %v", initial)
	}
	e.script([]step{
		// Inferred from the words sent with the file.
		{attach: []string{"IMG_0001.jpg"}, say: "這是診斷證明書", want: []string{"已收到診斷證明書（IMG_0001.jpg）。",
			"案件 " + id + " 還缺：\n1. 理賠申請書\n2. 身分證明文件\n3. 醫療費用收據\n4. 存摺封面", "可以繼續在這裡傳送"}},
		// Asked, with the missing kinds as buttons.
		{attach: []string{"IMG_0002.jpg"}, want: []string{"請問「IMG_0002.jpg」是哪一種文件？"},
			buttons: []string{"理賠申請書", "身分證明文件", "醫療費用收據", "存摺封面"}, not: []string{"診斷證明書"}},
		{press: "kind:bank_account", want: []string{"已收到存摺封面（IMG_0002.jpg）。",
			"還缺：\n1. 理賠申請書\n2. 身分證明文件\n3. 醫療費用收據\n可以繼續"}},
	})
	c := e.caseByID(id)
	if len(c.Documents) != 2 || len(c.MissingDocuments) != 3 {
		t.Fatalf("documents %+v missing %v", c.Documents, c.MissingDocuments)
	}
	for _, k := range c.MissingDocuments {
		if !slices.Contains(initial, k) {
			t.Errorf("missing %s was not in the first notice %v", k, initial)
		}
	}
	for _, d := range c.Documents {
		if d.Channel != "webchat" || d.SHA256 == "" || d.Size == 0 || d.ContentType != "image/jpeg" {
			t.Errorf("document %+v", d)
		}
	}
	e.script([]step{
		// The same bytes again: acknowledged, not counted twice.
		{attach: []string{"IMG_0002.jpg"}, want: []string{"是哪一種文件"}},
		{press: "kind:bank_account", want: []string{"存摺封面（IMG_0002.jpg）先前已經收到，不會重複計算。", "還缺：\n1. 理賠申請書"}},
		// A kind the case does not need (casesvc says EINVALID): explained, asked again.
		{attach: []string{"form.pdf"}, want: []string{"請問「form.pdf」是哪一種文件？"}},
		{press: "kind:police_report", want: []string{"這個案件不需要「道路交通事故當事人登記聯單/警方證明」", "請問「form.pdf」是哪一種文件？"}},
		{say: "理賠申請書", want: []string{"已收到理賠申請書（form.pdf）", "還缺：\n1. 身分證明文件\n2. 醫療費用收據\n"}},
	})
	if n := len(e.caseByID(id).Documents); n != 3 {
		t.Fatalf("documents = %d, want 3 (the duplicate is not stored)", n)
	}

	// Staff rejects the medical certificate with a reason: the customer is asked for that one only.
	var diag string
	for _, d := range e.caseByID(id).Documents {
		if d.Kind == "diagnosis_certificate" {
			diag = d.ID
		}
	}
	if _, err := e.svc.RejectDocument(ctx, id, diag, "照片模糊，看不清楚病名", specialist); err != nil {
		t.Fatal(err)
	}
	e.expect(e.relay(), step{want: []string{"案件 " + id + "：您提供的診斷證明書無法使用，原因是：照片模糊，看不清楚病名。請重新傳送這一份診斷證明書就好（按輸入框旁的 📎 上傳），其他文件不用重傳。"},
		not: []string{"身分證明文件", "收據"}})
	e.script([]step{
		{say: "查詢進度", want: []string{id + "（醫療/住院）：等待您補齊文件。還缺：身分證明文件、診斷證明書、醫療費用收據。",
			"診斷證明書需要重新提供，原因：照片模糊，看不清楚病名。", "文件齊全後 10 天內完成審核。"}},
		// The next file is the rejected document, without a question.
		{attach: []string{"IMG_0004.jpg"}, want: []string{"已收到診斷證明書（IMG_0004.jpg）", "還缺：\n1. 身分證明文件\n2. 醫療費用收據"},
			not: []string{"哪一種文件"}},
		// Two files at once, of different kinds: one question, then per file; the last is inferred.
		{attach: []string{"id-front.jpg", "IMG_0006.jpg"}, want: []string{"收到 2 個檔案。請問是哪一種文件？"},
			buttons: []string{"身分證明文件", "醫療費用收據", "各不相同"}},
		{press: "kind:*", want: []string{"第 1 個檔案「id-front.jpg」是哪一種文件？"}},
		{press: "kind:id_document", want: []string{"已收到身分證明文件（id-front.jpg）。", "已收到醫療費用收據（IMG_0006.jpg）。",
			"案件 " + id + " 的文件已全部收到，開始審核。文件齊全後 10 天內完成審核，結果會在這裡通知您。"},
			buttons: []string{"申請理賠", "查詢進度"}, not: []string{"付款日", "保證"}},
	})
	if c := e.caseByID(id); c.Status != casesvc.StatusInitialReview || len(c.MissingDocuments) != 0 {
		t.Fatalf("case %s missing %v", c.Status, c.MissingDocuments)
	}
	e.expect(e.relay(), step{want: []string{"案件 " + id + "：您的文件已全部收到，已開始審核。我們會在文件齊全後 10 天內完成審核（預計 2026年12月4日 前），結果會在這裡通知您。"}})
	e.script([]step{{say: "我的案件進度", want: []string{"專員審核中", "預計 2026年12月4日 前完成審核"}, not: []string{"還缺"}}})

	e.transition(id, casesvc.TransitionRequest{Action: casesvc.ActionCompleteInitialReview, Amount: ptr(20000.0)}, specialist)
	e.script([]step{{say: "查詢進度", want: []string{"主管複核中", "預計 2026年12月4日 前完成審核"}}})

	// A notice in the middle of a form: said, then the pending question again.
	e.script([]step{{say: "我要申請理賠", want: []string{"請問這次要申請哪一種理賠？"}}})
	e.transition(id, casesvc.TransitionRequest{Action: casesvc.ActionApprove, Amount: ptr(18000.0), Method: "bank_transfer",
		ExpectedPaymentBy: ptr(time.Date(2026, 12, 1, 0, 0, 0, 0, taipei))}, supervisor)
	rs := e.relay()
	if len(rs) != 2 || !strings.Contains(rs[1].Text, "請問這次要申請哪一種理賠？") || len(rs[1].Buttons) != 3 {
		t.Fatalf("notice in a form: %+v", rs)
	}
	e.expect(rs[:1], step{want: []string{"案件 " + id + " 已核准，理賠金額 18,000 元，將以銀行匯款支付，預計在 2026年12月1日 前入帳。"}})
	e.script([]step{
		{press: "type:medical", want: []string{"什麼時候發生"}}, // the form goes on
		{say: "取消"},
		{say: "查詢進度", want: []string{"已核准", "核准金額 18,000 元，將以銀行匯款支付，預計 2026年12月1日 前入帳。"}},
	})

	e.transition(id, casesvc.TransitionRequest{Action: casesvc.ActionRecordPayment, Reference: "TX-778899"}, supervisor)
	e.expect(e.relay(), step{want: []string{"案件 " + id + " 的理賠金 18,000 元已於 2026年11月24日 以銀行匯款支付，交易序號 TX-778899。"}})
	e.script([]step{{say: "查詢進度", want: []string{"已付款", "已於 2026年11月24日 支付 18,000 元。"}}})

	e.transition(id, casesvc.TransitionRequest{Action: casesvc.ActionClose}, supervisor)
	e.script([]step{{say: "查詢進度", want: []string{"已結案", "已於 2026年11月24日 支付 18,000 元。"}}})
}

// Several files of one kind answered in words ("都是收據"), files sent in the middle of a claim kept
// until it is filed, and the English texts.
func TestDocumentsSameKindAndDuringAForm(t *testing.T) {
	e := newEnv(t)
	e.script(append(verifyZh, []step{
		{press: "type:medical", want: []string{"什麼時候發生"}},
		{attach: []string{"r1.jpg"}, want: []string{"收到您的檔案，完成目前的步驟後我會幫您歸檔。請問事情是什麼時候發生的？"}},
		{say: "昨天"},
		{say: "台大醫院"},
		{say: "急性肺炎"},
		{say: "住院三天，費用大概兩萬", want: []string{"請確認以下資料"}},
		{press: "confirm", want: []string{"已受理", "5. 存摺封面", "請問「r1.jpg」是哪一種文件？"}},
		{attach: []string{"r2.jpg", "r3.jpg"}, want: []string{"收到 3 個檔案"}},
		{say: "都是收據", want: []string{"已收到醫療費用收據（r1.jpg）", "已收到醫療費用收據（r2.jpg）", "已收到醫療費用收據（r3.jpg）",
			"還缺：\n1. 理賠申請書\n2. 身分證明文件\n3. 診斷證明書\n4. 存摺封面"}},
		{say: "English please"},
		{attach: []string{"scan.pdf"}, want: []string{"Which document is “scan.pdf”?"}, buttons: []string{"Claim form", "Bank passbook cover"}},
		{press: "kind:claim_form", want: []string{"Received: Claim form (scan.pdf).", "still needs:\n1. Proof of identity"}},
	}...))
	if n := len(e.cases("HL20240017")[0].Documents); n != 4 {
		t.Errorf("documents = %d, want 4", n)
	}
}

// Files from a customer not yet verified wait in the state for the identity check; with several
// open cases the customer picks one. The menu entry lists what is missing and how to send it.
func TestDocumentsBeforeIdentityAndWhichCase(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	var ids []string
	for i, ct := range []string{"medical", "accident"} {
		c, err := e.svc.CreateCase(ctx, casesvc.NewCase{IdempotencyKey: "k" + ct, ClaimType: ct, PolicyNumber: "HL20240017",
			Channel: "webchat", Conversation: "an-earlier-chat", Actor: "bot", Claimant: casesvc.Person{Name: "王小明", Phone: "+886912345678"},
			Incident: casesvc.Incident{OccurredAt: start.Add(-time.Duration(i+2) * 24 * time.Hour), Place: "家", Cause: "跌倒", Description: "手骨折"}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, c.ID)
	}
	e.script([]step{
		{attach: []string{"passbook.jpg"}, want: []string{"補件前需要先確認您的身分。請提供您的保單號碼。"}},
		{say: "HL20240017"},
		{say: "A123456789"},
		{say: "74/3/2", want: []string{"謝謝，身分已確認。", "請問這些文件是哪一個案件的？"},
			buttons: []string{ids[0] + " 醫療/住院", ids[1] + " 意外傷害"}},
		{press: "case:" + ids[1], want: []string{"請問「passbook.jpg」是哪一種文件？"}},
		{say: "存摺", want: []string{"已收到存摺封面（passbook.jpg）", "案件 " + ids[1] + " 還缺："}},
		// The case sent to last is where the next files go.
		{attach: []string{"claim-form.pdf"}, want: []string{"已收到理賠申請書（claim-form.pdf）", "案件 " + ids[1] + " 還缺："}},
	})
	if c := e.caseByID(ids[1]); len(c.Documents) != 2 || c.Conversation != e.conv {
		t.Errorf("case %+v: the case follows the customer to this conversation", c)
	}
	// The menu entry: the case, how to send on this channel, what is missing.
	e.script([]step{
		{press: "submit_documents", want: []string{"好的，我來協助您補件。請直接在這裡傳送照片或 PDF（按輸入框旁的 📎 上傳）。案件 " + ids[1] + " 目前還缺：\n1. 身分證明文件"},
			buttons: []string{"回主選單"}},
	})

	// Another customer, nothing open: told so, with the menu.
	o := newEnv(t)
	o.svc, o.eng = e.svc, e.eng
	o.conv = "another"
	o.channel = "telegram"
	o.script([]step{
		{press: "submit_documents", want: []string{"補件前需要先確認您的身分"}},
		{say: "MT20250088"},
		{say: "F128765439"},
		{say: "1990-07-15", want: []string{"您目前沒有需要補文件的案件"}, buttons: []string{"申請理賠"}},
	})
}

// Progress after the identity check: the customer's own case in plain words; someone else's case id
// gets exactly the answer an unknown id gets; a rejected claim's reason, with the person and
// complaint route in its notice.
func TestProgressOwnOthersUnknownAndRejection(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other, err := e.svc.CreateCase(ctx, casesvc.NewCase{IdempotencyKey: "o", ClaimType: "motor", PolicyNumber: "MT20250088",
		Channel: "webchat", Conversation: "x", Actor: "bot", Claimant: casesvc.Person{Name: "David Lin", Phone: "+886987654321"},
		Incident: casesvc.Incident{OccurredAt: start.Add(-24 * time.Hour), Place: "x", Cause: "x", Description: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	amt := 50000.0
	own, err := e.svc.CreateCase(ctx, casesvc.NewCase{IdempotencyKey: "own", ClaimType: "medical", PolicyNumber: "HL20240017",
		Channel: "webchat", Conversation: e.conv, Actor: "bot", Claimant: casesvc.Person{Name: "王小明", Phone: "+886912345678"},
		Incident: casesvc.Incident{OccurredAt: start.Add(-48 * time.Hour), Place: "台大醫院", Cause: "肺炎", Description: "住院", EstimatedAmount: &amt}})
	if err != nil {
		t.Fatal(err)
	}
	e.script([]step{
		{press: "check_progress", want: []string{"請提供您的保單號碼"}},
		{say: "HL20240017"},
		{say: "A123456789"},
		{say: "74/3/2", want: []string{"您的理賠案件：", own.ID + "（醫療/住院）：等待您補齊文件。還缺：理賠申請書、身分證明文件、診斷證明書、醫療費用收據、存摺封面。文件齊全後 10 天內完成審核。"},
			not: []string{other.ID}},
	})
	r1 := e.script([]step{{say: other.ID + " 的進度", want: []string{"查不到案件編號 " + other.ID}}})
	r2 := e.script([]step{{say: "CLM-20261124-000077 的進度", want: []string{"查不到案件編號 CLM-20261124-000077"}}})
	a, _ := joined(r1)
	b, _ := joined(r2)
	if strings.ReplaceAll(a, other.ID, "ID") != strings.ReplaceAll(b, "CLM-20261124-000077", "ID") {
		t.Errorf("someone else's case and an unknown id are answered differently:\n%s\n%s", a, b)
	}
	if strings.Contains(a, "車險") || strings.Contains(a, "David") {
		t.Errorf("leaked: %s", a)
	}

	for _, f := range []string{"claim_form", "id_document", "diagnosis_certificate", "medical_receipts", "bank_account"} {
		if _, err := e.svc.AddDocument(ctx, own.ID, casesvc.NewDocument{Kind: f, Filename: f + ".pdf", Actor: "customer"}); err != nil {
			t.Fatal(err)
		}
	}
	e.relay() // documents complete
	e.transition(own.ID, casesvc.TransitionRequest{Action: casesvc.ActionCompleteInitialReview}, specialist)
	e.transition(own.ID, casesvc.TransitionRequest{Action: casesvc.ActionReject, Reason: "住院期間在保單生效前",
		Basis: "保單條款第 5 條（等待期間）"}, supervisor)
	e.expect(e.relay(), step{want: []string{"案件 " + own.ID + " 的審核結果：很抱歉，這次無法理賠。原因：住院期間在保單生效前。依據：保單條款第 5 條（等待期間）。",
		"請真人客服", "客訴", "30 天內回覆", "60 天內向金融消費評議中心（評議中心，0800-789-885）申請評議"},
		buttons: []string{"真人客服", "客訴"}})
	e.script([]step{{say: own.ID + " 的進度", want: []string{own.ID + "（醫療/住院）：未能理賠。原因：住院期間在保單生效前。如有疑問，可以請真人客服說明。"}}})
}

func TestNoticesInEnglish(t *testing.T) {
	e := newEnv(t)
	e.lang = "en"
	e.script([]step{{say: "I want to file a claim", want: []string{"policy number"}}})
	for _, c := range []struct {
		n    dialog.Notice
		want string
	}{
		{dialog.Notice{CaseID: "CLM-1", Kind: "approved", Data: map[string]any{"amount": 18000.0, "method": "bank_transfer", "expected_payment_by": "2026-12-01"}},
			"Claim CLM-1 is approved: NT$18,000, paid by bank transfer, expected in your account by 1 December 2026."},
		{dialog.Notice{CaseID: "CLM-1", Kind: "paid", Data: map[string]any{"amount": "18000", "method": "bank_transfer", "paid_at": "2026-11-24T10:00:00+08:00", "reference": "TX-1"}},
			"Claim CLM-1: NT$18,000 was paid on 24 November 2026 by bank transfer, reference TX-1."},
		{dialog.Notice{CaseID: "CLM-1", Kind: "rejected", Data: map[string]any{"reason": "r", "basis": "b"}},
			"Financial Ombudsman Institution (0800-789-885) within 60 days"},
		{dialog.Notice{CaseID: "CLM-1", Kind: "documents_complete", Data: map[string]any{"decision_days": 10.0, "decision_due": "2026-12-04T10:00:00+08:00"}},
			"within 10 days after your documents are complete (by 4 December 2026)"},
	} {
		e.seq++
		rs := e.run(dialog.Input{Conversation: e.conv, Channel: e.channel, Seq: e.seq, At: e.now, Event: dialog.EventNotice, Notice: &c.n})
		e.expect(rs, step{want: []string{c.want, "Please tell me your policy number."}})
	}
}

type recordedRating struct {
	conv    string
	score   int
	comment string
}

type ratings struct{ got []recordedRating }

func (r *ratings) RecordRating(ctx context.Context, conversation string, score int, comment string) error {
	r.got = append(r.got, recordedRating{conversation, score, comment})
	return nil
}

func (e *env) handback(agent string, resolved bool) []dialog.Reply {
	e.t.Helper()
	e.now = e.now.Add(time.Minute)
	e.seq++
	return e.run(dialog.Input{Conversation: e.conv, Channel: e.channel, Seq: e.seq, At: e.now, Event: dialog.EventHandback,
		Handback: &dialog.Handback{Agent: agent, Resolved: resolved}})
}

func handoffEnv(t *testing.T) (*env, *ratings) {
	e := newEnv(t)
	r := &ratings{}
	eng, err := dialog.New(dialog.Config{Cases: e.svc, Location: taipei, Handoff: &recordingHandoff{}, Ratings: r})
	if err != nil {
		t.Fatal(err)
	}
	e.eng = eng
	return e, r
}

// The agent finished the job: thanks, the rating and a comment, then the menu; the form is gone.
func TestHandbackResolvedRating(t *testing.T) {
	e, r := handoffEnv(t)
	e.script(append(verifyZh, []step{
		{press: "type:medical", want: []string{"什麼時候發生"}},
		{say: "轉真人客服", want: []string{"正在為您轉接真人客服"}},
	}...))
	e.expect(e.handback("林專員", true), step{want: []string{"感謝您的耐心，林專員已完成這次的服務。請為這次的服務評分（1 到 5 顆星，5 最滿意）："},
		buttons: []string{"1 ★", "5 ★★★★★"}, not: []string{"什麼時候發生"}})
	e.script([]step{
		{press: "rate:5", want: []string{"謝謝您的評分！還有想補充的意見嗎？"}, buttons: []string{"略過"}},
		{say: "專員很親切，謝謝", want: []string{"謝謝您的意見，我們會用來改進服務。", "還有其他需要協助的嗎？"},
			buttons: []string{"申請理賠", "查詢進度"}, not: []string{"什麼時候發生"}},
	})
	want := []recordedRating{{e.conv, 5, ""}, {e.conv, 5, "專員很親切，謝謝"}}
	if !slices.Equal(r.got, want) {
		t.Errorf("ratings = %+v, want %+v", r.got, want)
	}
}

// The agent did not finish: the rating, then the form at exactly the question it stopped at, however
// long the person held the conversation.
func TestHandbackOpenResumesTheForm(t *testing.T) {
	e, r := handoffEnv(t)
	e.script(append(verifyZh, []step{
		{press: "type:medical", want: []string{"什麼時候發生"}},
		{say: "昨天", want: []string{"請問是在哪一家醫院或診所就醫？"}},
		{say: "我要找真人", want: []string{"正在為您轉接真人客服"}},
	}...))
	e.now = e.now.Add(30 * time.Hour) // longer than the form's 24 hours: the person held it
	e.expect(e.handback("林專員", false), step{want: []string{"林專員已將對話交回給我。請為這次的服務評分"}, buttons: []string{"3 ★★★"}})
	e.script([]step{
		{say: "3分", want: []string{"想補充的意見"}, buttons: []string{"略過"}},
		{press: "skip", want: []string{"謝謝您的評分。我們回到剛才的申請。請問是在哪一家醫院或診所就醫？"}, not: []string{"已超過保留時間"}},
		{say: "台大醫院", want: []string{"病名或原因"}},
	})
	if want := []recordedRating{{e.conv, 3, ""}}; !slices.Equal(r.got, want) {
		t.Errorf("ratings = %+v, want %+v", r.got, want)
	}

	// At the read-back, in English, with no Ratings configured: acknowledged only.
	e2 := newEnv(t)
	e2.lang = "en"
	e2.script([]step{
		{say: "I want to file a claim"},
		{say: "HL20240017"}, {say: "A123456789"}, {say: "1985-03-02"},
		{press: "type:medical"}, {say: "yesterday"}, {say: "NTU Hospital"}, {say: "pneumonia"},
		{say: "three days in hospital, about 20000", want: []string{"Please check these details:"}},
	})
	e2.expect(e2.handback("", false), step{want: []string{"Our agent has handed the conversation back to me.", "How would you rate"}})
	e2.script([]step{
		{say: "I'd rather not", want: []string{"Please choose a score from 1 to 5."}},
		{press: "rate:4", want: []string{"Anything you'd like to add?"}, buttons: []string{"Skip"}},
		{say: "no", want: []string{"Thank you for your rating. Now, back to your claim. Please check these details:"}, buttons: []string{"Confirm and submit"}},
		{press: "confirm", want: []string{"Received. Your case number is"}},
	})
}

// On SMS the sender's number matching the policy's phone is the second factor: the birth date is
// not asked. Another number, or another channel, still asks it.
func TestSMSSecondFactor(t *testing.T) {
	e := newEnv(t)
	e.channel, e.contact = "sms", "+886912345678"
	e.script([]step{
		{say: "我要申請理賠", want: []string{"請提供您的保單號碼"}},
		{say: "HL20240017", want: []string{"身分證字號"}},
		{say: "A123456789", want: []string{"謝謝，已用您的手機號碼確認，身分已確認。", "請問這次要申請哪一種理賠？"}, not: []string{"出生日期"}},
	})
	// The national ID is still checked.
	w := newEnv(t)
	w.channel, w.contact = "sms", "+886912345678"
	w.script([]step{
		{say: "查詢進度"},
		{say: "HL20240017"},
		{say: "A223456781", want: []string{"出生日期"}},
		{say: "1985-03-02", want: []string{"與保單紀錄不符"}},
	})
	for _, c := range []struct{ channel, contact string }{{"sms", "+886900000000"}, {"webchat", "+886912345678"}} {
		o := newEnv(t)
		o.channel, o.contact = c.channel, c.contact
		o.script([]step{
			{say: "我要申請理賠"},
			{say: "HL20240017"},
			{say: "A123456789", want: []string{"請輸入出生日期"}, not: []string{"手機號碼確認"}},
			{say: "74/3/2", want: []string{"謝謝，身分已確認。"}},
		})
	}
}
