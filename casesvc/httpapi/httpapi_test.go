package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/httpapi"
	"claimline/casesvc/sqlite"
)

var staff = []casesvc.Staff{
	{Name: "amy", Role: casesvc.RoleSpecialist, Token: "specialist-token-0123456789"},
	{Name: "ben", Role: casesvc.RoleSupervisor, Token: "supervisor-token-0123456789"},
	{Name: "cat", Role: casesvc.RoleManager, Token: "manager-token-0123456789"},
	{Name: "dan", Role: casesvc.RoleAdmin, Token: "admin-token-0123456789"},
}

func tokenOf(role casesvc.Role) string {
	for _, s := range staff {
		if s.Role == role {
			return s.Token
		}
	}
	return ""
}

// syncBuffer collects logs written from server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}
func (s *syncBuffer) String() string { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

type fixture struct {
	srv  *httptest.Server
	svc  *sqlite.Service
	logs *syncBuffer
	ids  []string // created cases, oldest first
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.FixedZone("Asia/Taipei", 8*3600))
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); now = now.Add(time.Second); return now }
	svc, err := sqlite.New(filepath.Join(t.TempDir(), "cases.db"), sqlite.Config{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	if _, err := sqlite.SeedDemo(ctx, svc); err != nil {
		t.Fatal(err)
	}
	f := &fixture{svc: svc, logs: &syncBuffer{}}
	for i, nc := range []casesvc.NewCase{
		{ClaimType: "medical", PolicyNumber: "HL20240017", Channel: "telegram", Conversation: "tg-1",
			Claimant: casesvc.Person{Name: "王小明", Phone: "+886912345678", NationalID: "A123456789", BirthDate: "1985-03-02"},
			Incident: casesvc.Incident{OccurredAt: now.Add(-20 * time.Hour), Place: "台大醫院", Cause: "盲腸炎"}},
		{ClaimType: "motor", PolicyNumber: "MT20250088", Channel: "webchat", Conversation: "wc-1",
			Claimant: casesvc.Person{Name: "David Lin", Phone: "+886987654321", NationalID: "F128765439"},
			Incident: casesvc.Incident{OccurredAt: now.Add(-2 * time.Hour), Place: "Xinyi Road", Cause: "rear-ended"}},
		{ClaimType: "accident", PolicyNumber: "HL20240017", Channel: "sms", Conversation: "sms-1",
			Claimant: casesvc.Person{Name: "王小明", Phone: "+886912345678", NationalID: "A123456789"},
			Incident: casesvc.Incident{OccurredAt: now.Add(-3 * time.Hour), Place: "忠孝東路", Cause: "機車擦撞", Conditions: []string{"traffic_accident"}}},
	} {
		nc.IdempotencyKey = nc.Conversation + ":" + string(rune('0'+i))
		c, err := svc.CreateCase(ctx, nc)
		if err != nil {
			t.Fatal(err)
		}
		f.ids = append(f.ids, c.ID)
	}
	auth, err := httpapi.NewAuthenticator(staff)
	if err != nil {
		t.Fatal(err)
	}
	logger := slog.New(slog.NewJSONHandler(f.logs, nil))
	f.srv = httptest.NewServer(httpapi.New(svc, auth, logger))
	t.Cleanup(f.srv.Close)
	return f
}

// do sends a request with the role's token ("" for none) and decodes the JSON answer.
func (f *fixture) do(t *testing.T, method, path string, role casesvc.Role, body string) (int, map[string]any) {
	t.Helper()
	var rb io.Reader
	if body != "" {
		rb = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rb)
	if role != "" {
		req.Header.Set("Authorization", "Bearer "+tokenOf(role))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: status %d, body not JSON: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, out
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	c, _ := e["code"].(string)
	if m, _ := e["message"].(string); m == "" {
		return "<no message>"
	}
	return c
}

func TestAuthAndRoles(t *testing.T) {
	f := setup(t)
	policy := `{"number":"HL20240017","product":"x","holder":{"name":"王小明","national_id":"A123456789","birth_date":"1985-03-02"},"claim_types":["medical"],"status":"active","currency":"TWD"}`
	tests := []struct {
		name   string
		method string
		path   string
		role   casesvc.Role
		token  string // overrides the role's token when set
		body   string
		status int
		code   string
	}{
		{"no token", "GET", "/api/v1/cases", "", "", "", 401, "unauthorized"},
		{"bad token", "GET", "/api/v1/cases", "", "not-a-real-token-at-all", "", 401, "unauthorized"},
		{"specialist lists", "GET", "/api/v1/cases", casesvc.RoleSpecialist, "", "", 200, ""},
		{"specialist may not put policy", "PUT", "/api/v1/policies/HL20240017", casesvc.RoleSpecialist, "", policy, 403, "forbidden"},
		{"supervisor may not put policy", "PUT", "/api/v1/policies/HL20240017", casesvc.RoleSupervisor, "", policy, 403, "forbidden"},
		{"admin puts policy", "PUT", "/api/v1/policies/HL20240017", casesvc.RoleAdmin, "", policy, 200, ""},
		{"specialist may not read audit", "GET", "/api/v1/audit", casesvc.RoleSpecialist, "", "", 403, "forbidden"},
		{"admin may not read audit", "GET", "/api/v1/audit", casesvc.RoleAdmin, "", "", 403, "forbidden"},
		{"manager reads audit", "GET", "/api/v1/audit", casesvc.RoleManager, "", "", 200, ""},
		{"unknown endpoint", "GET", "/api/v1/nothing", casesvc.RoleManager, "", "", 404, "not_found"},
		{"wrong method", "DELETE", "/api/v1/cases/CLM-20261124-000001", casesvc.RoleManager, "", "", 405, "method_not_allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rb io.Reader
			if tt.body != "" {
				rb = strings.NewReader(tt.body)
			}
			req, _ := http.NewRequest(tt.method, f.srv.URL+tt.path, rb)
			tok := tokenOf(tt.role)
			if tt.token != "" {
				tok = tt.token
			}
			if tok != "" {
				req.Header.Set("Authorization", "Bearer "+tok)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
				t.Fatalf("body not JSON: %v", err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d (%v)", resp.StatusCode, tt.status, body)
			}
			if tt.code != "" && errCode(body) != tt.code {
				t.Errorf("error = %v, want code %s", body, tt.code)
			}
		})
	}
}

func TestGetCaseShapeAndMasking(t *testing.T) {
	f := setup(t)
	path := "/api/v1/cases/" + f.ids[0]
	status, body := f.do(t, "GET", path, casesvc.RoleSpecialist, "")
	if status != 200 {
		t.Fatalf("status %d: %v", status, body)
	}
	for _, k := range []string{"id", "status", "claim_type", "policy_number", "channel", "conversation", "claimant",
		"incident", "required_documents", "documents", "missing_documents", "document_requests", "priority",
		"fast_track", "decision", "payment", "deadlines", "timeline", "created_at", "updated_at"} {
		if _, ok := body[k]; !ok {
			t.Errorf("case JSON lacks %q", k)
		}
	}
	for _, k := range []string{"required_documents", "documents", "missing_documents", "document_requests", "timeline"} {
		if _, ok := body[k].([]any); !ok {
			t.Errorf("%s = %v, want a JSON array (not null)", k, body[k])
		}
	}
	claimant := body["claimant"].(map[string]any)
	if claimant["national_id"] != "A12****789" || claimant["birth_date"] != "1985-**-**" {
		t.Errorf("specialist sees claimant %v", claimant)
	}
	if audit, _ := f.svc.Audit(context.Background(), casesvc.AuditFilter{CaseID: f.ids[0]}); slices.ContainsFunc(audit, isView) {
		t.Error("masked view audited as unmasked")
	}

	status, body = f.do(t, "GET", path, casesvc.RoleSupervisor, "")
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	if got := body["claimant"].(map[string]any)["national_id"]; got != "A123456789" {
		t.Errorf("supervisor sees national_id %v", got)
	}
	audit, err := f.svc.Audit(context.Background(), casesvc.AuditFilter{CaseID: f.ids[0], Actor: "ben"})
	if err != nil || len(audit) != 1 || audit[0].Action != "view_unmasked" {
		t.Errorf("audit of unmasked view = %+v, %v", audit, err)
	}

	// The audit endpoint shows the same row to a supervisor.
	status, body = f.do(t, "GET", "/api/v1/audit?case="+f.ids[0]+"&actor=ben", casesvc.RoleSupervisor, "")
	entries, _ := body["entries"].([]any)
	if status != 200 || len(entries) != 1 || entries[0].(map[string]any)["action"] != "view_unmasked" {
		t.Errorf("GET audit = %d %v", status, body)
	}

	// Nothing personal or secret reached the logs.
	logs := f.logs.String()
	for _, secret := range []string{"A123456789", tokenOf(casesvc.RoleSupervisor), tokenOf(casesvc.RoleSpecialist), f.ids[0], "王小明"} {
		if strings.Contains(logs, secret) {
			t.Errorf("logs contain %q", secret)
		}
	}
	if !strings.Contains(logs, "GET /api/v1/cases/{id}") {
		t.Errorf("request not logged by route: %s", logs)
	}
}

func isView(e casesvc.AuditEntry) bool { return e.Action == "view_unmasked" }

func TestGetCaseNotFound(t *testing.T) {
	f := setup(t)
	status, body := f.do(t, "GET", "/api/v1/cases/CLM-20261124-999999", casesvc.RoleSpecialist, "")
	if status != 404 || errCode(body) != "not_found" {
		t.Errorf("status %d body %v", status, body)
	}
}

func TestListCases(t *testing.T) {
	f := setup(t)
	tests := []struct {
		query  string
		want   []string
		total  float64
		status int
	}{
		{"", []string{f.ids[2], f.ids[1], f.ids[0]}, 3, 200},
		{"?per_page=2", []string{f.ids[2], f.ids[1]}, 3, 200},
		{"?per_page=2&page=2", []string{f.ids[0]}, 3, 200},
		{"?claim_type=motor", []string{f.ids[1]}, 1, 200},
		{"?policy_number=HL20240017", []string{f.ids[2], f.ids[0]}, 2, 200},
		{"?status=awaiting_documents&claim_type=accident", []string{f.ids[2]}, 1, 200},
		{"?status=paid", []string{}, 0, 200},
		{"?q=xinyi", []string{f.ids[1]}, 1, 200},
		{"?q=" + "%E6%93%A6%E6%92%9E", []string{f.ids[2]}, 1, 200}, // 擦撞
		{"?page=0", nil, 0, 400},
		{"?per_page=abc", nil, 0, 400},
		{"?per_page=1000", nil, 0, 400},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			status, body := f.do(t, "GET", "/api/v1/cases"+tt.query, casesvc.RoleSupervisor, "")
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, body)
			}
			if status != 200 {
				if errCode(body) != "invalid" {
					t.Errorf("error = %v", body)
				}
				return
			}
			cases, ok := body["cases"].([]any)
			if !ok {
				t.Fatalf("cases = %v", body["cases"])
			}
			got := []string{}
			for _, c := range cases {
				cm := c.(map[string]any)
				got = append(got, cm["id"].(string))
				// Lists are masked for every role.
				if id, _ := cm["claimant"].(map[string]any)["national_id"].(string); id != "" && !strings.Contains(id, "****") {
					t.Errorf("list shows national_id %q", id)
				}
			}
			if !slices.Equal(got, tt.want) || body["total"] != tt.total {
				t.Errorf("got %v total %v, want %v total %v", got, body["total"], tt.want, tt.total)
			}
		})
	}
}

func TestPolicies(t *testing.T) {
	f := setup(t)
	status, body := f.do(t, "GET", "/api/v1/policies/MT20250088", casesvc.RoleSpecialist, "")
	if status != 200 || body["holder"].(map[string]any)["national_id"] != "F12****439" {
		t.Errorf("specialist policy view %d %v", status, body)
	}
	status, body = f.do(t, "GET", "/api/v1/policies/MT20250088", casesvc.RoleManager, "")
	if status != 200 || body["holder"].(map[string]any)["national_id"] != "F128765439" {
		t.Errorf("manager policy view %d %v", status, body)
	}
	audit, _ := f.svc.Audit(context.Background(), casesvc.AuditFilter{Actor: "cat"})
	if len(audit) != 1 || audit[0].Action != "view_unmasked" || audit[0].Policy != "MT20250088" {
		t.Errorf("audit = %+v", audit)
	}
	if status, body = f.do(t, "GET", "/api/v1/policies/XX00000000", casesvc.RoleSpecialist, ""); status != 404 || errCode(body) != "not_found" {
		t.Errorf("unknown policy %d %v", status, body)
	}

	valid := `{"product":"Travel Plus","holder":{"name":"Amy Wu","national_id":"B220198765","birth_date":"1992-11-08","phone":"+886933111222"},"claim_types":["travel"],"status":"active","currency":"TWD"}`
	tests := []struct {
		name   string
		path   string
		body   string
		status int
	}{
		{"create with number from path", "/api/v1/policies/TR20260001", valid, 200},
		{"number matches", "/api/v1/policies/TR20260002", strings.Replace(valid, `{"product"`, `{"number":"TR20260002","product"`, 1), 200},
		{"number mismatch", "/api/v1/policies/TR20260003", strings.Replace(valid, `{"product"`, `{"number":"TR99999999","product"`, 1), 400},
		{"bad JSON", "/api/v1/policies/TR20260004", `{"product":`, 400},
		{"wrong type", "/api/v1/policies/TR20260004", `{"claim_types":"travel"}`, 400},
		{"unknown field", "/api/v1/policies/TR20260004", `{"colour":"red"}`, 400},
		{"two objects", "/api/v1/policies/TR20260004", valid + valid, 400},
		{"empty body", "/api/v1/policies/TR20260004", "", 400},
		{"bad checksum", "/api/v1/policies/TR20260004", strings.Replace(valid, "B220198765", "B220198766", 1), 400},
		{"bad birth date", "/api/v1/policies/TR20260004", strings.Replace(valid, "1992-11-08", "1992/11/08", 1), 400},
		{"bad status", "/api/v1/policies/TR20260004", strings.Replace(valid, `"active"`, `"frozen"`, 1), 400},
		{"unknown claim type", "/api/v1/policies/TR20260004", strings.Replace(valid, `["travel"]`, `["pets"]`, 1), 400},
		{"too large", "/api/v1/policies/TR20260004", `{"product":"` + strings.Repeat("x", httpapi.MaxBodyBytes) + `"}`, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := f.do(t, "PUT", tt.path, casesvc.RoleAdmin, tt.body)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %v", status, tt.status, body)
			}
			if status == 200 {
				// Admins make no case decisions: they get the masked view back.
				if body["holder"].(map[string]any)["national_id"] != "B22****765" {
					t.Errorf("admin view %v", body)
				}
			} else if _, ok := body["error"].(map[string]any); !ok {
				t.Errorf("no error object: %v", body)
			}
		})
	}
	p, err := f.svc.Policy(context.Background(), "TR20260001")
	if err != nil || p.Number != "TR20260001" || p.Holder.NationalID != "B220198765" {
		t.Errorf("stored policy = %+v, %v", p, err)
	}
	if _, err := f.svc.Policy(context.Background(), "TR20260004"); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Errorf("invalid policy was stored: %v", err)
	}
}
