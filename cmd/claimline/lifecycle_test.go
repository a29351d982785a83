package main

import (
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"strings"
	"testing"
	"time"
)

// exchange sends one input (text, or a button value when action is set) and returns the bot's
// messages it produced: everything the bot says until it is quiet for a moment.
func (c *wsClient) exchange(text, action string) []wsFrame {
	c.t.Helper()
	if action != "" {
		c.press(action)
	} else {
		c.say(text)
	}
	return c.botUntilQuiet(20 * time.Second)
}

// botUntilQuiet reads until at least one bot message has arrived (within first) and then none for 400ms.
func (c *wsClient) botUntilQuiet(first time.Duration) []wsFrame {
	c.t.Helper()
	var got []wsFrame
	for {
		wait := 400 * time.Millisecond
		if len(got) == 0 {
			wait = first
		}
		f, ok := c.readWithin(wait)
		if !ok {
			if len(got) == 0 {
				c.t.Fatal("no bot message")
			}
			return got
		}
		if f.Type == "message" && (f.From == "bot" || f.From == "system") {
			got = append(got, f)
		}
	}
}

func joinTexts(fs []wsFrame) string {
	var b strings.Builder
	for _, f := range fs {
		b.WriteString(f.Text + "\n")
	}
	return b.String()
}

func lastButtons(fs []wsFrame) []wireButton {
	for i := len(fs) - 1; i >= 0; i-- {
		if len(fs[i].Buttons) > 0 {
			return fs[i].Buttons
		}
	}
	return nil
}

// upload sends one file through the web chat upload endpoint with the session token.
func upload(t *testing.T, baseURL, session, name string, content []byte) {
	t.Helper()
	var body bytes.Buffer
	w := multipart.NewWriter(&body)
	part, _ := w.CreateFormFile("file", name)
	part.Write(content)
	w.Close()
	req, _ := http.NewRequest("POST", baseURL+"/webchat/upload", &body)
	req.Header.Set("Content-Type", w.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+session)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("upload %s: %d %s", name, resp.StatusCode, b)
	}
}

// pdf makes a small distinct PDF (documents are content-addressed: each must differ).
func pdf(label string) []byte {
	return []byte("%PDF-1.4\n% " + label + "\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
}

// TestClaimLifecycleEndToEnd follows one claim through a real claimline process, as customer and as
// staff: filed in the web chat; two of five documents uploaded and the three others listed; a document
// rejected by a specialist with a reason, the customer asked for that one only; the rest sent, the case
// moving to review by itself; second review, approval with the customer told the amount and date;
// payment; close. Every step is in the audit trail.
func TestClaimLifecycleEndToEnd(t *testing.T) {
	p := startProcess(t, t.TempDir())
	c := &wsClient{t: t}
	c.connect(p.URL)
	greeting := c.botUntilQuiet(20 * time.Second)

	// File the claim, answering whatever the bot asks.
	cust := zhMedicalCustomer(t)
	last := greeting
	var caseID string
	for caseID == "" {
		text, pressed := cust.reply(last[len(last)-1].Text, lastButtons(last))
		last = c.exchange(text, pressed)
		caseID = caseIDPattern.FindString(joinTexts(last))
	}
	t.Logf("filed %s", caseID)

	// sendDoc uploads a file and answers the kind question when there is one.
	sendDoc := func(name, kind string, content []byte) string {
		upload(t, p.URL, c.session, name, content)
		said := c.botUntilQuiet(20 * time.Second)
		if bs := lastButtons(said); len(bs) > 0 {
			for _, b := range bs {
				if b.Value == "kind:"+kind {
					said = c.exchange("", b.Value)
					return joinTexts(said)
				}
			}
		}
		return joinTexts(said)
	}
	sendDoc("diagnosis.pdf", "diagnosis_certificate", pdf("diagnosis v1"))
	said := sendDoc("receipts.pdf", "medical_receipts", pdf("receipts"))
	for _, missing := range []string{"理賠申請書", "身分證明文件", "存摺封面"} {
		if !strings.Contains(said, missing) {
			t.Errorf("after two documents the bot should list %s as missing:\n%s", missing, said)
		}
	}
	for _, received := range []string{"還缺：1. 診斷證明書", "醫療費用收據\n"} {
		if strings.Contains(said, received) {
			t.Errorf("a received document is listed as missing (%q):\n%s", received, said)
		}
	}

	var cs struct {
		Status           string   `json:"status"`
		MissingDocuments []string `json:"missing_documents"`
		Documents        []struct {
			ID, Kind, Status string
		} `json:"documents"`
		DocumentRequests []struct {
			Reason string   `json:"reason"`
			Kinds  []string `json:"kinds"`
		} `json:"document_requests"`
		Decision *struct {
			Amount float64 `json:"amount"`
		} `json:"decision"`
	}
	get := func() {
		if code := doJSON(t, "GET", p.URL+"/api/v1/cases/"+caseID, testSupervisorToken, nil, &cs); code != 200 {
			t.Fatalf("get case: %d", code)
		}
	}
	get()
	if len(cs.Documents) != 2 || len(cs.MissingDocuments) != 3 || cs.Status != "awaiting_documents" {
		t.Fatalf("after two uploads: %+v", cs)
	}

	// A specialist rejects the diagnosis certificate; the customer is asked for that one only.
	var diagnosis string
	for _, d := range cs.Documents {
		if d.Kind == "diagnosis_certificate" {
			diagnosis = d.ID
		}
	}
	var e struct {
		Error struct{ Code string } `json:"error"`
	}
	if code := doJSON(t, "POST", p.URL+"/api/v1/cases/"+caseID+"/documents/"+diagnosis+"/reject", testSpecialistToken,
		map[string]string{"reason": ""}, &e); code != 400 {
		t.Errorf("a rejection without a reason: %d, want 400", code)
	}
	if code := doJSON(t, "POST", p.URL+"/api/v1/cases/"+caseID+"/documents/"+diagnosis+"/reject", testSpecialistToken,
		map[string]string{"reason": "照片模糊，看不清楚病名"}, nil); code != 200 {
		t.Fatalf("reject: %d", code)
	}
	notice := joinTexts(c.botUntilQuiet(20 * time.Second))
	if !containsAll(notice, "診斷證明書", "照片模糊，看不清楚病名") || strings.Contains(notice, "存摺封面") {
		t.Errorf("the rejection notice should ask for the diagnosis certificate only, with the reason:\n%s", notice)
	}

	// The replacement and the three others: the case moves to review by itself.
	sendDoc("diagnosis-clear.pdf", "diagnosis_certificate", pdf("diagnosis v2"))
	sendDoc("form.pdf", "claim_form", pdf("claim form"))
	sendDoc("id.pdf", "id_document", pdf("id"))
	done := sendDoc("bank.pdf", "bank_account", pdf("bank"))
	get()
	if cs.Status != "initial_review" || len(cs.MissingDocuments) != 0 {
		t.Fatalf("with every document: status %s missing %v\nbot: %s", cs.Status, cs.MissingDocuments, done)
	}
	if !strings.Contains(done, "全部收到") {
		t.Errorf("the customer should be told every document arrived:\n%s", done)
	}
	if len(cs.DocumentRequests) != 2 || cs.DocumentRequests[0].Reason != "initial" || cs.DocumentRequests[1].Reason != "rejected" ||
		fmt.Sprint(cs.DocumentRequests[1].Kinds) != "[diagnosis_certificate]" {
		t.Errorf("document requests: %+v", cs.DocumentRequests)
	}
	c.botUntilQuiet(5 * time.Second) // the documents-complete notice

	// Review, approval, payment, close.
	transition := func(token string, body map[string]any, want int) {
		t.Helper()
		if code := doJSON(t, "POST", p.URL+"/api/v1/cases/"+caseID+"/transitions", token, body, &e); code != want {
			t.Fatalf("%v: %d %+v, want %d", body, code, e, want)
		}
	}
	transition(testSupervisorToken, map[string]any{"action": "close"}, 409) // not in order
	transition(testSpecialistToken, map[string]any{"action": "complete_initial_review", "amount": 23000, "note": "初審完成"}, 200)
	transition(testSpecialistToken, map[string]any{"action": "approve", "amount": 23000, "method": "bank_transfer",
		"expected_payment_by": time.Now().AddDate(0, 0, 7).Format("2006-01-02")}, 403) // a specialist cannot decide
	due := time.Now().AddDate(0, 0, 7)
	transition(testSupervisorToken, map[string]any{"action": "approve", "amount": 23000, "method": "bank_transfer",
		"expected_payment_by": due.Format("2006-01-02")}, 200)
	approved := joinTexts(c.botUntilQuiet(20 * time.Second))
	if !containsAll(approved, "核准", "23,000", fmt.Sprintf("%d月%d日", due.Month(), due.Day())) {
		t.Errorf("the approval notice should give the amount and the date:\n%s", approved)
	}
	transition(testSupervisorToken, map[string]any{"action": "record_payment", "reference": "TX-20261125-01"}, 200)
	paid := joinTexts(c.botUntilQuiet(20 * time.Second))
	if !containsAll(paid, "23,000", "TX-20261125-01") {
		t.Errorf("the payment notice:\n%s", paid)
	}
	transition(testSupervisorToken, map[string]any{"action": "close"}, 200)
	transition(testSupervisorToken, map[string]any{"action": "close"}, 409) // archived: read-only

	var audit struct {
		Entries []struct{ Action, Actor, Detail string } `json:"entries"`
	}
	if code := doJSON(t, "GET", p.URL+"/api/v1/audit?case="+caseID, testSupervisorToken, nil, &audit); code != 200 {
		t.Fatalf("audit: %d", code)
	}
	var actions []string
	for _, a := range audit.Entries {
		actions = append(actions, a.Action+"("+a.Actor+": "+a.Detail+")")
	}
	all := strings.Join(actions, " ")
	for _, want := range []string{"complete_initial_review", "approve", "record_payment", "close"} {
		if !strings.Contains(all, want) {
			t.Errorf("the audit trail lacks %s: %v", want, actions)
		}
	}
	if !strings.Contains(all, "document_rejected(lin") {
		t.Errorf("the audit trail lacks the document rejection: %v", actions)
	}
}
