package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/blobstore"
	"claimline/casesvc/httpapi"
)

// withBlobs replaces the fixture's server by one that has a blob store and a fixed clock.
func withBlobs(t *testing.T, f *fixture) *blobstore.Store {
	t.Helper()
	bs, err := blobstore.New(filepath.Join(t.TempDir(), "documents"))
	if err != nil {
		t.Fatal(err)
	}
	auth, _ := httpapi.NewAuthenticator(staff)
	now := func() time.Time { return time.Date(2026, 12, 20, 10, 0, 0, 0, time.FixedZone("Asia/Taipei", 8*3600)) }
	srv := httptest.NewServer(httpapi.New(f.svc, auth, nil, httpapi.WithBlobs(bs), httpapi.WithClock(now)))
	t.Cleanup(srv.Close)
	f.srv = srv
	return bs
}

// upload stores content and records it on the case as kind.
func upload(t *testing.T, f *fixture, bs *blobstore.Store, id, kind, content string) casesvc.Document {
	t.Helper()
	ref, sum, size, err := bs.Put(context.Background(), strings.NewReader(content), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.AddDocument(context.Background(), id, casesvc.NewDocument{Kind: kind, Filename: "../" + kind + " 掃描.pdf",
		ContentType: "application/pdf", Size: size, SHA256: sum, BlobRef: ref, Actor: "bot"})
	if err != nil {
		t.Fatal(err)
	}
	return res.Document
}

func uploadAll(t *testing.T, f *fixture, bs *blobstore.Store, id string) {
	t.Helper()
	c, _ := f.svc.Case(context.Background(), id)
	for _, k := range c.MissingDocuments {
		upload(t, f, bs, id, k, "%PDF-1.7 "+k)
	}
}

func TestTransitionsHTTP(t *testing.T) {
	f := setup(t)
	bs := withBlobs(t, f)
	id := f.ids[0]
	path := "/api/v1/cases/" + id + "/transitions"

	// Awaiting documents: the review cannot end yet.
	status, body := f.do(t, "POST", path, casesvc.RoleSpecialist, `{"action":"complete_initial_review","amount":30000}`)
	if status != 409 || errCode(body) != "invalid_transition" {
		t.Fatalf("before documents: %d %v", status, body)
	}
	uploadAll(t, f, bs, id)

	tests := []struct {
		name   string
		role   casesvc.Role
		body   string
		status int
		code   string
	}{
		{"no token", "", `{"action":"complete_initial_review"}`, 401, "unauthorized"},
		{"bad json", casesvc.RoleSpecialist, `{"action":`, 400, "invalid"},
		{"unknown field", casesvc.RoleSpecialist, `{"action":"close","colour":"red"}`, 400, "invalid"},
		{"no action", casesvc.RoleSpecialist, `{"note":"x"}`, 400, "invalid"},
		{"unknown action", casesvc.RoleSpecialist, `{"action":"teleport"}`, 400, "invalid"},
		{"admin decides nothing", casesvc.RoleAdmin, `{"action":"complete_initial_review","amount":30000}`, 403, "forbidden"},
		{"specialist completes initial review", casesvc.RoleSpecialist, `{"action":"complete_initial_review","amount":30000,"note":"ok"}`, 200, ""},
		{"specialist may not approve", casesvc.RoleSpecialist, `{"action":"approve","amount":30000,"method":"bank_transfer","expected_payment_by":"2026-12-01"}`, 403, "forbidden"},
		{"wrong date format", casesvc.RoleSupervisor, `{"action":"approve","amount":30000,"method":"bank_transfer","expected_payment_by":"2026/12/01"}`, 400, "invalid"},
		{"approve without method", casesvc.RoleSupervisor, `{"action":"approve","amount":30000,"expected_payment_by":"2026-12-01"}`, 400, "invalid"},
		{"supervisor approves", casesvc.RoleSupervisor, `{"action":"approve","amount":30000,"method":"bank_transfer","expected_payment_by":"2026-12-01"}`, 200, ""},
		{"approve twice", casesvc.RoleSupervisor, `{"action":"approve","amount":30000,"method":"bank_transfer","expected_payment_by":"2026-12-01"}`, 409, "invalid_transition"},
		{"bad paid_at", casesvc.RoleSupervisor, `{"action":"record_payment","reference":"TX-1","paid_at":"yesterday"}`, 400, "invalid"},
		{"record payment", casesvc.RoleSupervisor, `{"action":"record_payment","reference":"TX-1"}`, 200, ""},
		{"close", casesvc.RoleManager, `{"action":"close","note":"archived"}`, 200, ""},
		{"closed is read-only", casesvc.RoleManager, `{"action":"close"}`, 409, "invalid_transition"},
	}
	for _, tt := range tests {
		status, body := f.do(t, "POST", path, tt.role, tt.body)
		if status != tt.status || (tt.code != "" && errCode(body) != tt.code) {
			t.Errorf("%s: %d %v, want %d %s", tt.name, status, body, tt.status, tt.code)
		}
		if status == 200 && tt.role == casesvc.RoleSpecialist {
			if cl := body["claimant"].(map[string]any); cl["national_id"] != "A12****789" {
				t.Errorf("%s: specialist sees %v", tt.name, cl)
			}
		}
	}
	if msg := func() string {
		_, body := f.do(t, "POST", path, casesvc.RoleSupervisor, `{"action":"approve","expected_payment_by":"12/01"}`)
		return body["error"].(map[string]any)["message"].(string)
	}(); !strings.Contains(msg, "YYYY-MM-DD") {
		t.Errorf("date message = %q", msg)
	}
	status, body = f.do(t, "GET", "/api/v1/cases/"+id, casesvc.RoleSupervisor, "")
	if status != 200 || body["status"] != "closed" {
		t.Fatalf("case = %d %v", status, body["status"])
	}
	d := body["decision"].(map[string]any)
	if d["amount"] != float64(30000) || !strings.HasPrefix(d["expected_payment_by"].(string), "2026-12-01T00:00:00+08:00") {
		t.Errorf("decision = %v", d)
	}
	status, body = f.do(t, "POST", "/api/v1/cases/CLM-20261124-999999/transitions", casesvc.RoleManager, `{"action":"close"}`)
	if status != 404 || errCode(body) != "not_found" {
		t.Errorf("unknown case: %d %v", status, body)
	}
	status, body = f.do(t, "GET", "/api/v1/cases/"+id+"/transitions", casesvc.RoleManager, "")
	if status != 405 {
		t.Errorf("GET transitions: %d %v", status, body)
	}
}

func TestRejectDocumentHTTP(t *testing.T) {
	f := setup(t)
	bs := withBlobs(t, f)
	id := f.ids[1] // motor
	uploadAll(t, f, bs, id)
	c, _ := f.svc.Case(context.Background(), id)
	if c.Status != casesvc.StatusInitialReview {
		t.Fatal(c.Status)
	}
	var photos string
	for _, d := range c.Documents {
		if d.Kind == "damage_photos" {
			photos = d.ID
		}
	}
	path := "/api/v1/cases/" + id + "/documents/" + photos + "/reject"
	for _, tt := range []struct {
		role   casesvc.Role
		body   string
		status int
		code   string
	}{
		{"", `{"reason":"blurred"}`, 401, "unauthorized"},
		{casesvc.RoleAdmin, `{"reason":"blurred"}`, 403, "forbidden"},
		{casesvc.RoleSpecialist, `{"reason":"  "}`, 400, "invalid"},
		{casesvc.RoleSpecialist, `{"reason":`, 400, "invalid"},
		{casesvc.RoleSpecialist, `{"kind":"police_report","reason":"x"}`, 400, "invalid"}, // no way to name a kind
	} {
		if status, body := f.do(t, "POST", path, tt.role, tt.body); status != tt.status || errCode(body) != tt.code {
			t.Errorf("%s %s: %d %v", tt.role, tt.body, status, body)
		}
	}
	status, body := f.do(t, "POST", path, casesvc.RoleSpecialist, `{"reason":"照片太暗，看不到車牌"}`)
	if status != 200 || body["status"] != "awaiting_documents" {
		t.Fatalf("reject: %d %v", status, body)
	}
	reqs := body["document_requests"].([]any)
	last := reqs[len(reqs)-1].(map[string]any)
	if len(reqs) != 2 || last["reason"] != "rejected" || last["note"] != "照片太暗，看不到車牌" || len(last["kinds"].([]any)) != 1 {
		t.Errorf("requests = %v", reqs)
	}
	if status, body := f.do(t, "POST", path, casesvc.RoleSupervisor, `{"reason":"again"}`); status != 409 || errCode(body) != "conflict" {
		t.Errorf("again: %d %v", status, body)
	}
	if status, body := f.do(t, "POST", "/api/v1/cases/"+id+"/documents/DOC-NOPE/reject", casesvc.RoleSpecialist, `{"reason":"x"}`); status != 404 {
		t.Errorf("unknown doc: %d %v", status, body)
	}
}

func TestDocumentContentHTTP(t *testing.T) {
	f := setup(t)
	bs := withBlobs(t, f)
	id := f.ids[0]
	content := "%PDF-1.7 診斷證明書 of 王小明"
	doc := upload(t, f, bs, id, "diagnosis_certificate", content)
	path := "/api/v1/cases/" + id + "/documents/" + doc.ID + "/content"

	get := func(role casesvc.Role) *http.Response {
		req, _ := http.NewRequest("GET", f.srv.URL+path, nil)
		if role != "" {
			req.Header.Set("Authorization", "Bearer "+tokenOf(role))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	if resp := get(""); resp.StatusCode != 401 {
		t.Errorf("no token: %d", resp.StatusCode)
	}
	if resp := get(casesvc.RoleAdmin); resp.StatusCode != 403 {
		t.Errorf("admin reads a health document: %d, want 403", resp.StatusCode)
	}
	for _, role := range []casesvc.Role{casesvc.RoleSpecialist, casesvc.RoleSupervisor, casesvc.RoleManager} {
		resp := get(role)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !bytes.Equal(b, []byte(content)) {
			t.Fatalf("%s: %d %q", role, resp.StatusCode, b)
		}
		h := resp.Header
		if h.Get("Content-Type") != "application/pdf" || h.Get("X-Content-Type-Options") != "nosniff" ||
			!strings.HasPrefix(h.Get("Content-Disposition"), "attachment;") || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s headers = %v", role, h)
		}
	}
	audit, _ := f.svc.Audit(context.Background(), casesvc.AuditFilter{CaseID: id})
	views := 0
	for _, a := range audit {
		if a.Action == "view_document" && strings.Contains(a.Detail, doc.ID) {
			views++
		}
	}
	if views != 3 {
		t.Errorf("audited views = %d, want 3", views)
	}
	if status, _ := f.do(t, "GET", "/api/v1/cases/"+id+"/documents/DOC-NOPE/content", casesvc.RoleSpecialist, ""); status != 404 {
		t.Errorf("unknown document: %d", status)
	}
	// The blob ref is internal: the case JSON has no field for it.
	_, body := f.do(t, "GET", "/api/v1/cases/"+id, casesvc.RoleSpecialist, "")
	if raw, _ := json.Marshal(body); strings.Contains(string(raw), "blob") {
		t.Errorf("blob ref in case JSON: %s", raw)
	}
	// Without a blob store the route says so.
	f2 := setup(t)
	if status, body := f2.do(t, "GET", "/api/v1/cases/"+f2.ids[0]+"/documents/x/content", casesvc.RoleSpecialist, ""); status != 503 {
		t.Errorf("no blob store: %d %v", status, body)
	}
}

func TestDeadlinesHTTP(t *testing.T) {
	f := setup(t)
	bs := withBlobs(t, f) // clock: 2026-12-20, long after the documents complete on 2026-11-24
	uploadAll(t, f, bs, f.ids[0])
	if status, body := f.do(t, "GET", "/api/v1/deadlines?within=72h", casesvc.RoleSpecialist, ""); status != 403 {
		t.Errorf("specialist: %d %v", status, body)
	}
	if status, body := f.do(t, "GET", "/api/v1/deadlines?within=soon", casesvc.RoleSupervisor, ""); status != 400 || errCode(body) != "invalid" {
		t.Errorf("bad within: %d %v", status, body)
	}
	status, body := f.do(t, "GET", "/api/v1/deadlines?within=3d", casesvc.RoleSupervisor, "")
	if status != 200 || body["within"] != "72h0m0s" {
		t.Fatalf("deadlines: %d %v", status, body)
	}
	items := body["items"].([]any)
	if len(items) != 2 {
		t.Fatalf("items = %v", items)
	}
	pay := items[1].(map[string]any)
	if pay["case"] != f.ids[0] || pay["deadline"] != "payment_due" || pay["overdue"] != true {
		t.Errorf("payment item = %v", pay)
	}
}

func TestEmergencyHTTP(t *testing.T) {
	f := setup(t)
	status, body := f.do(t, "GET", "/api/v1/admin/emergency", casesvc.RoleSpecialist, "")
	if status != 200 || body["active"] != false {
		t.Fatalf("get: %d %v", status, body)
	}
	ev := `{"active":true,"name":"0403花蓮地震","regions":["花蓮"],"from":"2026-11-20","to":"2026-11-30","checklists":{"property":["claim_form","damage_photos"]}}`
	for _, role := range []casesvc.Role{"", casesvc.RoleSpecialist, casesvc.RoleSupervisor, casesvc.RoleAdmin} {
		want := 403
		if role == "" {
			want = 401
		}
		if status, body := f.do(t, "PUT", "/api/v1/admin/emergency", role, ev); status != want {
			t.Errorf("PUT as %q: %d %v", role, status, body)
		}
	}
	if status, body := f.do(t, "PUT", "/api/v1/admin/emergency", casesvc.RoleManager, `{"active":true,"name":"x","from":"2026-11-20","to":"2026-11"}`); status != 400 {
		t.Errorf("bad date: %d %v", status, body)
	}
	status, body = f.do(t, "PUT", "/api/v1/admin/emergency", casesvc.RoleManager, ev)
	if status != 200 || body["declared_by"] != "cat" {
		t.Fatalf("declare: %d %v", status, body)
	}
	status, body = f.do(t, "GET", "/api/v1/admin/emergency", casesvc.RoleAdmin, "")
	if status != 200 || body["active"] != true || body["name"] != "0403花蓮地震" {
		t.Errorf("get after: %d %v", status, body)
	}
	status, body = f.do(t, "PUT", "/api/v1/admin/emergency", casesvc.RoleManager, `{"active":false}`)
	if status != 200 || body["active"] != false {
		t.Errorf("end: %d %v", status, body)
	}
}
