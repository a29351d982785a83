package casesvc_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"claimline/casesvc"
)

func TestDefaultCatalogComplete(t *testing.T) {
	cat := casesvc.DefaultCatalog()
	want := []string{"medical", "accident", "critical_illness", "death", "motor", "property", "travel"}
	for _, id := range want {
		ct, ok := cat.ClaimType(id)
		if !ok {
			t.Fatalf("claim type %s missing", id)
		}
		if ct.Label["zh-TW"] == "" || ct.Label["en"] == "" {
			t.Errorf("%s: labels %v", id, ct.Label)
		}
	}
	if len(cat.ClaimTypes) != len(want) {
		t.Errorf("got %d claim types, want %d", len(cat.ClaimTypes), len(want))
	}
	if d, ok := cat.Document("diagnosis_certificate"); !ok || d.Label["zh-TW"] != "診斷證明書" || !strings.Contains(d.Description["zh-TW"], "病名") {
		t.Errorf("diagnosis_certificate = %+v", d)
	}
	for id, d := range cat.Documents {
		if d.ID != id {
			t.Errorf("document %s has id %q", id, d.ID)
		}
	}
	questions := map[string][]string{"accident": {"traffic_accident"}, "death": {"accidental_death"}, "property": {"fire"}, "medical": nil}
	for id, q := range questions {
		ct, _ := cat.ClaimType(id)
		if !slices.Equal(ct.Questions, q) {
			t.Errorf("%s questions = %v, want %v", id, ct.Questions, q)
		}
	}
	if got := cat.Conditions["traffic_accident"].Get("en"); got != "Was it a traffic accident?" {
		t.Errorf("traffic_accident en label = %q", got)
	}
}

func TestRequiredDocuments(t *testing.T) {
	cat := casesvc.DefaultCatalog()
	medical := []string{"claim_form", "id_document", "diagnosis_certificate", "medical_receipts", "bank_account"}
	tests := []struct {
		name       string
		claimType  string
		conditions []string
		want       []string
	}{
		{"medical", "medical", nil, medical},
		{"accident without traffic", "accident", nil, medical},
		{"accident with traffic adds police report", "accident", []string{"traffic_accident"}, append(slices.Clone(medical), "police_report")},
		{"condition twice adds once", "accident", []string{"traffic_accident", "traffic_accident"}, append(slices.Clone(medical), "police_report")},
		{"condition of another type adds nothing", "medical", []string{"fire"}, medical},
		{"accidental death", "death", []string{"accidental_death"},
			[]string{"claim_form", "death_certificate", "household_record", "beneficiary_id", "bank_account", "police_report"}},
		{"death in traffic and accidental: one police report", "death", []string{"traffic_accident", "accidental_death"},
			[]string{"claim_form", "death_certificate", "household_record", "beneficiary_id", "bank_account", "police_report"}},
		{"motor always has police report", "motor", nil,
			[]string{"claim_form", "driver_license", "vehicle_registration", "police_report", "repair_estimate", "damage_photos"}},
		{"motor traffic does not duplicate", "motor", []string{"traffic_accident"},
			[]string{"claim_form", "driver_license", "vehicle_registration", "police_report", "repair_estimate", "damage_photos"}},
		{"property fire", "property", []string{"fire"},
			[]string{"claim_form", "loss_list", "damage_photos", "repair_estimate", "bank_account", "fire_report"}},
		{"critical illness", "critical_illness", nil,
			[]string{"claim_form", "id_document", "diagnosis_certificate", "pathology_report", "bank_account"}},
		{"travel", "travel", nil,
			[]string{"claim_form", "passport_or_boarding_pass", "incident_report", "receipts", "bank_account"}},
		{"unknown type", "pets", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cat.RequiredDocuments(tt.claimType, tt.conditions); !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLoadCatalog(t *testing.T) {
	valid := `{"claim_types":[{"id":"pet","label":{"zh-TW":"寵物","en":"Pet"},"documents":["vet_bill"],
		"conditional":{"surgery":["surgery_report"]},"questions":["surgery"]}],
		"documents":{"vet_bill":{"label":{"zh-TW":"獸醫收據","en":"Vet bill"},"description":{"zh-TW":"收據","en":"The bill"}},
		"surgery_report":{"label":{"zh-TW":"手術紀錄","en":"Surgery report"},"description":{"zh-TW":"紀錄","en":"The report"}}},
		"conditions":{"surgery":{"zh-TW":"有手術嗎？","en":"Was there surgery?"}}}`
	tests := []struct {
		name    string
		json    string
		wantErr string
	}{
		{"valid", valid, ""},
		{"unknown document", strings.Replace(valid, `"documents":["vet_bill"]`, `"documents":["vet_bill","x_ray"]`, 1), `unknown document kind "x_ray"`},
		{"unknown conditional document", strings.Replace(valid, `["surgery_report"]`, `["nope"]`, 1), `unknown document kind "nope"`},
		{"unknown condition", strings.Replace(valid, `"questions":["surgery"]`, `"questions":["flood"]`, 1), `unknown condition "flood"`},
		{"missing english label", strings.Replace(valid, `"en":"Pet"`, `"en":""`, 1), "missing en text"},
		{"unknown field", strings.Replace(valid, `"questions"`, `"questionz"`, 1), "unknown field"},
		{"not json", `{`, "decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "catalog.json")
			if err := os.WriteFile(path, []byte(tt.json), 0o600); err != nil {
				t.Fatal(err)
			}
			cat, err := casesvc.LoadCatalog(path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("LoadCatalog: %v", err)
				}
				if got := cat.RequiredDocuments("pet", []string{"surgery"}); !slices.Equal(got, []string{"vet_bill", "surgery_report"}) {
					t.Errorf("RequiredDocuments = %v", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	if _, err := casesvc.LoadCatalog(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("missing file: no error")
	}
}
