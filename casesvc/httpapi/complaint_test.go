package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"claimline/casesvc"
)

func fileComplaint(t *testing.T, f *fixture, category, caseID string) string {
	t.Helper()
	c, err := f.svc.CreateComplaint(context.Background(), casesvc.NewComplaint{Category: category, Description: "一直沒有人回覆",
		CaseID: caseID, PolicyNumber: "HL20240017", Channel: "telegram", Conversation: "tg-1",
		Complainant: casesvc.Person{Name: "王小明", Phone: "+886912345678", NationalID: "A123456789", BirthDate: "1985-03-02"},
		Contact:     casesvc.ContactPreference{Method: "phone", Window: "平日上午"}})
	if err != nil {
		t.Fatal(err)
	}
	return c.ID
}

func TestComplaintsHTTP(t *testing.T) {
	f := setup(t)
	id := fileComplaint(t, f, casesvc.CategoryDelay, f.ids[0])
	other := fileComplaint(t, f, casesvc.CategoryOther, "")

	// Everybody reads; only supervisors and managers see the complainant whole, and that is audited.
	for _, role := range []casesvc.Role{casesvc.RoleSpecialist, casesvc.RoleAdmin, casesvc.RoleSupervisor} {
		status, body := f.do(t, "GET", "/api/v1/complaints/"+id, role, "")
		if status != 200 || body["id"] != id || body["status"] != "acknowledged" || body["case_id"] != f.ids[0] {
			t.Fatalf("%s get: %d %v", role, status, body)
		}
		want := "A12****789"
		if role == casesvc.RoleSupervisor {
			want = "A123456789"
		}
		if cl := body["complainant"].(map[string]any); cl["national_id"] != want {
			t.Errorf("%s sees %v", role, cl["national_id"])
		}
		d := body["deadlines"].(map[string]any)
		if !strings.HasPrefix(d["first_response_due"].(string), "2026-12-01T10:00:") || !strings.HasPrefix(d["resolution_due"].(string), "2026-12-24T10:00:") {
			t.Errorf("deadlines = %v", d)
		}
	}
	if status, body := f.do(t, "GET", "/api/v1/complaints/CMP-20261124-999999", casesvc.RoleSupervisor, ""); status != 404 || errCode(body) != "not_found" {
		t.Errorf("unknown: %d %v", status, body)
	}
	if status, _ := f.do(t, "GET", "/api/v1/complaints", "", ""); status != 401 {
		t.Errorf("no token: %d", status)
	}

	// The list: newest first, masked, filtered by status, paged.
	status, body := f.do(t, "GET", "/api/v1/complaints", casesvc.RoleManager, "")
	list, _ := body["complaints"].([]any)
	if status != 200 || body["total"] != float64(2) || len(list) != 2 || list[0].(map[string]any)["id"] != other {
		t.Fatalf("list: %d %v", status, body)
	}
	if cl := list[1].(map[string]any)["complainant"].(map[string]any); cl["national_id"] != "A12****789" {
		t.Errorf("list not masked: %v", cl)
	}
	if status, body := f.do(t, "GET", "/api/v1/complaints?status=bogus", casesvc.RoleManager, ""); status != 400 || errCode(body) != "invalid" {
		t.Errorf("bad status: %d %v", status, body)
	}
	if status, body := f.do(t, "GET", "/api/v1/complaints?page=0", casesvc.RoleManager, ""); status != 400 || errCode(body) != "invalid" {
		t.Errorf("bad page: %d %v", status, body)
	}
	if _, body := f.do(t, "GET", "/api/v1/complaints?page=2&per_page=1", casesvc.RoleManager, ""); len(body["complaints"].([]any)) != 1 ||
		body["complaints"].([]any)[0].(map[string]any)["id"] != id {
		t.Errorf("page 2: %v", body)
	}

	path := "/api/v1/complaints/" + id + "/transitions"
	tests := []struct {
		name   string
		role   casesvc.Role
		body   string
		status int
		code   string
	}{
		{"no token", "", `{"action":"assign"}`, 401, "unauthorized"},
		{"bad json", casesvc.RoleSupervisor, `{"action":`, 400, "invalid"},
		{"unknown field", casesvc.RoleSupervisor, `{"action":"assign","colour":"red"}`, 400, "invalid"},
		{"no action", casesvc.RoleSupervisor, `{"note":"x"}`, 400, "invalid"},
		{"unknown action", casesvc.RoleSupervisor, `{"action":"approve"}`, 400, "invalid"},
		{"specialist reads only", casesvc.RoleSpecialist, `{"action":"investigate"}`, 403, "forbidden"},
		{"admin acts on nothing", casesvc.RoleAdmin, `{"action":"assign","owner":"dan"}`, 403, "forbidden"},
		{"resolve before reply", casesvc.RoleSupervisor, `{"action":"resolve"}`, 409, "invalid_transition"},
		{"assign", casesvc.RoleSupervisor, `{"action":"assign","owner":"ben","note":"mine"}`, 200, ""},
		{"investigate", casesvc.RoleSupervisor, `{"action":"investigate"}`, 200, ""},
		{"investigate twice", casesvc.RoleSupervisor, `{"action":"investigate"}`, 409, "invalid_transition"},
		{"respond without text", casesvc.RoleSupervisor, `{"action":"respond"}`, 400, "invalid"},
		{"respond", casesvc.RoleSupervisor, `{"action":"respond","response":"已加速處理，深感抱歉。"}`, 200, ""},
		{"resolve", casesvc.RoleManager, `{"action":"resolve","note":"customer satisfied"}`, 200, ""},
		{"resolved is final", casesvc.RoleManager, `{"action":"escalate"}`, 409, "invalid_transition"},
	}
	for _, tt := range tests {
		status, body := f.do(t, "POST", path, tt.role, tt.body)
		if status != tt.status || (tt.code != "" && errCode(body) != tt.code) {
			t.Errorf("%s: %d %v, want %d %s", tt.name, status, body, tt.status, tt.code)
		}
		if tt.name == "respond" {
			rs := body["responses"].([]any)
			if len(rs) != 1 || !strings.Contains(rs[0].(map[string]any)["ombudsman_notice"].(string), "0800-789-885") ||
				!strings.Contains(body["ombudsman_notice"].(string), "0800-789-885") {
				t.Errorf("respond: %v", body)
			}
		}
	}
	if status, body := f.do(t, "POST", "/api/v1/complaints/CMP-20261124-999999/transitions", casesvc.RoleManager, `{"action":"assign"}`); status != 404 || errCode(body) != "not_found" {
		t.Errorf("unknown complaint: %d %v", status, body)
	}
	if status, body := f.do(t, "DELETE", path, casesvc.RoleManager, ""); status != 405 || errCode(body) != "method_not_allowed" {
		t.Errorf("DELETE: %d %v", status, body)
	}

	// The notice for the customer, with the ombudsman route.
	ns, err := f.svc.ComplaintNotices(context.Background(), id)
	if err != nil || len(ns) != 1 || ns[0].Kind != "complaint_responded" || !strings.Contains(ns[0].Data["text"].(string), "0800-789-885") {
		t.Errorf("notices = %+v, %v", ns, err)
	}

	// The audit filter complaint= shows every action and every unmasked view.
	status, body = f.do(t, "GET", "/api/v1/audit?complaint="+id, casesvc.RoleSupervisor, "")
	var actions []string
	for _, e := range body["entries"].([]any) {
		m := e.(map[string]any)
		if m["complaint"] != id {
			t.Errorf("foreign entry %v", m)
		}
		actions = append(actions, m["action"].(string))
	}
	want := "complaint_created view_unmasked complaint_assign view_unmasked complaint_investigate view_unmasked complaint_respond view_unmasked complaint_resolve view_unmasked"
	if status != 200 || strings.Join(actions, " ") != want {
		t.Errorf("audit = %d\n got %s\nwant %s", status, strings.Join(actions, " "), want)
	}
}

func TestAlertsHTTP(t *testing.T) {
	f := setup(t)
	for i := 0; i < casesvc.DefaultMassComplaintThreshold+2; i++ {
		fileComplaint(t, f, casesvc.CategoryServiceAttitude, "")
	}
	if status, body := f.do(t, "GET", "/api/v1/alerts", casesvc.RoleSpecialist, ""); status != 403 || errCode(body) != "forbidden" {
		t.Errorf("specialist: %d %v", status, body)
	}
	if status, body := f.do(t, "GET", "/api/v1/alerts?since=yesterday", casesvc.RoleManager, ""); status != 400 || errCode(body) != "invalid" {
		t.Errorf("bad since: %d %v", status, body)
	}
	status, body := f.do(t, "GET", "/api/v1/alerts?since=2026-11-24", casesvc.RoleSupervisor, "")
	alerts, _ := body["alerts"].([]any)
	if status != 200 || len(alerts) != 1 {
		t.Fatalf("alerts: %d %v", status, body)
	}
	a := alerts[0].(map[string]any)
	if a["kind"] != "mass_complaint" || a["count"] != float64(7) || fmt.Sprint(a["topics"]) != "[category:service_attitude]" {
		t.Errorf("alert = %v", a)
	}
	if _, body := f.do(t, "GET", "/api/v1/alerts?since=2026-11-25", casesvc.RoleManager, ""); len(body["alerts"].([]any)) != 0 {
		t.Errorf("since tomorrow: %v", body)
	}
}

func TestDeadlinesListComplaints(t *testing.T) {
	f := setup(t)
	withBlobs(t, f) // the API's clock: 2026-12-20 10:00
	id := fileComplaint(t, f, casesvc.CategoryDelay, "")
	status, body := f.do(t, "GET", "/api/v1/deadlines?within=3d", casesvc.RoleSupervisor, "")
	if status != 200 {
		t.Fatalf("deadlines: %d %v", status, body)
	}
	var got []string
	for _, it := range body["items"].([]any) {
		m := it.(map[string]any)
		if m["kind"] == "complaint" {
			got = append(got, fmt.Sprint(m["complaint"], ":", m["deadline"], ":", m["overdue"]))
		} else if m["kind"] != "case" {
			t.Errorf("item without kind: %v", m)
		}
	}
	if strings.Join(got, " ") != id+":first_response_due:true" {
		t.Errorf("complaint items = %v", got)
	}
}
