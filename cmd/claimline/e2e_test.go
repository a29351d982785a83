package main

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var caseIDPattern = regexp.MustCompile(`CLM-\d{8}-\d{6}`)

type restReply struct {
	Seq     int64        `json:"seq"`
	From    string       `json:"from"`
	Text    string       `json:"text"`
	Buttons []wireButton `json:"buttons"`
}

// fileClaimREST plays the customer over the REST channel until the bot gives a case id; it returns the
// case id and the bot's last message.
func fileClaimREST(t *testing.T, p *proc, sender, lang string, c *customer) (string, string) {
	t.Helper()
	body := map[string]any{"sender": sender, "lang": lang, "text": "hello"}
	if lang == "zh-TW" {
		body["text"] = "你好"
	}
	for {
		var resp struct {
			Conversation string      `json:"conversation"`
			Replies      []restReply `json:"replies"`
		}
		if code := doJSON(t, "POST", p.URL+"/api/v1/rest/messages", "", body, &resp); code != 200 {
			t.Fatalf("POST rest message: %d", code)
		}
		if len(resp.Replies) == 0 {
			t.Fatalf("no reply to %v", body)
		}
		last := resp.Replies[len(resp.Replies)-1]
		if id := caseIDPattern.FindString(last.Text); id != "" {
			return id, last.Text
		}
		text, button := c.reply(last.Text, last.Buttons)
		body = map[string]any{"sender": sender}
		if button != "" {
			body["action"] = button
		} else {
			body["text"] = text
		}
	}
}

type caseJSON struct {
	ID           string `json:"id"`
	Status       string `json:"status"`
	ClaimType    string `json:"claim_type"`
	PolicyNumber string `json:"policy_number"`
	Channel      string `json:"channel"`
	Conversation string `json:"conversation"`
	Claimant     struct {
		Name       string `json:"name"`
		Phone      string `json:"phone"`
		NationalID string `json:"national_id"`
	} `json:"claimant"`
	Incident struct {
		OccurredAt      string            `json:"occurred_at"`
		Place           string            `json:"place"`
		Cause           string            `json:"cause"`
		Description     string            `json:"description"`
		EstimatedAmount *float64          `json:"estimated_amount"`
		Details         map[string]string `json:"details"`
	} `json:"incident"`
	RequiredDocuments []string `json:"required_documents"`
	MissingDocuments  []string `json:"missing_documents"`
	DocumentRequests  []struct {
		Kinds  []string `json:"kinds"`
		Reason string   `json:"reason"`
	} `json:"document_requests"`
}

// TestFileClaimsOverREST files a zh-TW medical claim and an English motor claim through the REST channel
// of a real claimline process, then reads both cases, every field, through the back office.
func TestFileClaimsOverREST(t *testing.T) {
	p := startProcess(t, t.TempDir())

	zhID, zhDone := fileClaimREST(t, p, "app-user-zh", "zh-TW", zhMedicalCustomer(t))
	for _, doc := range []string{"理賠申請書", "身分證明文件", "診斷證明書", "醫療費用收據", "存摺封面"} {
		if !strings.Contains(zhDone, doc) {
			t.Errorf("zh-TW filing notice lacks %s:\n%s", doc, zhDone)
		}
	}
	enID, enDone := fileClaimREST(t, p, "app-user-en", "en", enMotorCustomer(t))
	for _, doc := range []string{"Claim form", "Driving licence", "Vehicle registration", "Police report", "Repair estimate", "damage"} {
		if !strings.Contains(enDone, doc) {
			t.Errorf("English filing notice lacks %s:\n%s", doc, enDone)
		}
	}
	if zhID == enID {
		t.Fatalf("two claims got one id %s", zhID)
	}

	var list struct {
		Cases []caseJSON `json:"cases"`
		Total int        `json:"total"`
	}
	if code := doJSON(t, "GET", p.URL+"/api/v1/cases", testSupervisorToken, nil, &list); code != 200 {
		t.Fatalf("list cases: %d", code)
	}
	if list.Total != 2 || len(list.Cases) != 2 {
		t.Fatalf("want 2 cases, got total %d: %+v", list.Total, list.Cases)
	}
	if list.Cases[0].ID != enID {
		t.Errorf("list is not newest first: %s, %s", list.Cases[0].ID, list.Cases[1].ID)
	}

	var zh, en caseJSON
	if code := doJSON(t, "GET", p.URL+"/api/v1/cases/"+zhID, testSupervisorToken, nil, &zh); code != 200 {
		t.Fatalf("get %s: %d", zhID, code)
	}
	if code := doJSON(t, "GET", p.URL+"/api/v1/cases/"+enID, testSupervisorToken, nil, &en); code != 200 {
		t.Fatalf("get %s: %d", enID, code)
	}
	checks := []struct {
		name, got, want string
	}{
		{"zh status", zh.Status, "awaiting_documents"},
		{"zh type", zh.ClaimType, "medical"},
		{"zh policy", zh.PolicyNumber, "HL20240017"},
		{"zh channel", zh.Channel, "rest"},
		{"zh claimant", zh.Claimant.Name, "王小明"},
		{"zh phone", zh.Claimant.Phone, "+886912345678"},
		{"zh national id (supervisor sees it whole)", zh.Claimant.NationalID, "A123456789"},
		{"zh place", zh.Incident.Place, "台大醫院"},
		{"en type", en.ClaimType, "motor"},
		{"en policy", en.PolicyNumber, "MT20250088"},
		{"en claimant", en.Claimant.Name, "David Lin"},
		{"en occurred", en.Incident.OccurredAt, "2026-11-21T18:00:00+08:00"},
		{"en place", en.Incident.Place, "Zhongshan Road near Minquan"},
		{"en plate", en.Incident.Details["vehicle_plate"], "ABC-1234"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !strings.HasPrefix(zh.Incident.OccurredAt, "2026-11-20T10:00:00") && !strings.HasPrefix(zh.Incident.OccurredAt, "2025-11-20T10:00:00") {
		t.Errorf("zh occurred_at = %q, want 11月20日 10:00", zh.Incident.OccurredAt)
	}
	if !strings.Contains(zh.Incident.Description, "肺炎") || zh.Incident.EstimatedAmount == nil || *zh.Incident.EstimatedAmount != 23000 {
		t.Errorf("zh incident = %+v", zh.Incident)
	}
	if !strings.Contains(en.Incident.Description, "bumper") || en.Incident.EstimatedAmount == nil || *en.Incident.EstimatedAmount != 40000 {
		t.Errorf("en incident = %+v", en.Incident)
	}
	for _, c := range []caseJSON{zh, en} {
		if c.Conversation == "" || len(c.RequiredDocuments) == 0 ||
			fmt.Sprint(c.MissingDocuments) != fmt.Sprint(c.RequiredDocuments) {
			t.Errorf("%s: conversation %q required %v missing %v", c.ID, c.Conversation, c.RequiredDocuments, c.MissingDocuments)
		}
		if len(c.DocumentRequests) != 1 || c.DocumentRequests[0].Reason != "initial" ||
			fmt.Sprint(c.DocumentRequests[0].Kinds) != fmt.Sprint(c.RequiredDocuments) {
			t.Errorf("%s: the one initial notice must list every document: %+v", c.ID, c.DocumentRequests)
		}
	}
	if !contains(en.RequiredDocuments, "police_report") || contains(zh.RequiredDocuments, "police_report") {
		t.Errorf("checklists: motor %v, medical %v", en.RequiredDocuments, zh.RequiredDocuments)
	}

	// A specialist reads the same case with the national ID masked.
	var masked caseJSON
	doJSON(t, "GET", p.URL+"/api/v1/cases/"+zhID, testSpecialistToken, nil, &masked)
	if masked.Claimant.NationalID != "A12****789" {
		t.Errorf("specialist sees national id %q, want A12****789", masked.Claimant.NationalID)
	}
	// Every message was stored with its turn in one write, but for the two that filed a claim, which
	// were stored before the case service was called (Router.Converse).
	if one, first := scrapeCounter(t, p.URL, `claimline_converse_writes_total{how="one"}`),
		scrapeCounter(t, p.URL, `claimline_converse_writes_total{how="first"}`); first != 2 || one < 10 {
		t.Errorf("messages stored with their turn %v, stored first %v; want 2 stored first and the rest with their turn", one, first)
	}
	// The embedded stores report their group commits and checkpoints: every message above was a
	// write of the conversation store, and both stores' checkpointers ran after their commits.
	if ops, txs := scrapeCounter(t, p.URL, `claimline_sqlite_write_ops_total{db="channels"}`),
		scrapeCounter(t, p.URL, `claimline_sqlite_write_transactions_total{db="channels"}`); ops < 12 || txs < 1 || txs > ops {
		t.Errorf("conversation store: %v write ops in %v transactions", ops, txs)
	}
	for _, db := range []string{"channels", "casesvc"} {
		sample := `claimline_sqlite_checkpoints_total{db="` + db + `"}`
		deadline := time.Now().Add(5 * time.Second)
		for scrapeCounter(t, p.URL, sample) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if n := scrapeCounter(t, p.URL, sample); n == 0 {
			t.Errorf("%s: no checkpoint pass after the claims' commits", sample)
		}
		if n := scrapeCounter(t, p.URL, `claimline_sqlite_checkpoint_failures_total{db="`+db+`"}`); n != 0 {
			t.Errorf("%s: %v failed checkpoint passes", db, n)
		}
	}
	// Nothing personal reached the logs in clear.
	if out := p.output(); strings.Contains(out, "A123456789") || strings.Contains(out, "F128765439") || strings.Contains(out, "912345678") {
		t.Errorf("personal data in the process output:\n%s", out)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestBackOfficeAuth checks the staff token rules on a real process.
func TestBackOfficeAuth(t *testing.T) {
	p := startProcess(t, t.TempDir())
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if code := doJSON(t, "GET", p.URL+"/api/v1/cases", "", nil, &e); code != http.StatusUnauthorized || e.Error.Code == "" {
		t.Errorf("no token: %d %+v", code, e)
	}
	if code := doJSON(t, "GET", p.URL+"/api/v1/cases", "not-a-real-token-at-all", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("bad token: %d", code)
	}
	policy := map[string]any{"number": "QA20260001", "product": "醫療險", "status": "active", "currency": "TWD",
		"holder":      map[string]any{"name": "測試", "national_id": "A123456789", "birth_date": "1985-03-02", "phone": "+886912345678"},
		"claim_types": []string{"medical"}}
	if code := doJSON(t, "PUT", p.URL+"/api/v1/policies/QA20260001", testSpecialistToken, policy, nil); code != http.StatusForbidden {
		t.Errorf("specialist PUT policy: %d, want 403", code)
	}
	if code := doJSON(t, "PUT", p.URL+"/api/v1/policies/QA20260001", testAdminToken, policy, nil); code != http.StatusOK && code != http.StatusCreated {
		t.Errorf("admin PUT policy: %d", code)
	}
	if code := doJSON(t, "GET", p.URL+"/api/v1/cases/CLM-20260101-000999", testSupervisorToken, nil, &e); code != http.StatusNotFound || e.Error.Code != "not_found" {
		t.Errorf("unknown case: %d %+v", code, e)
	}
}

// scrapeCounter reads one sample (name with its labels, as /metrics prints it) from a process's
// /metrics; 0 when it is not there.
func scrapeCounter(t *testing.T, baseURL, sample string) float64 {
	t.Helper()
	resp, err := http.Get(baseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if rest, ok := strings.CutPrefix(line, sample+" "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return 0
}
