package dialog

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"claimline/casesvc"
)

// Every key exists in both languages with the same placeholders (loadCatalog checks it at New).
func TestCatalogsComplete(t *testing.T) {
	c, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range languages {
		if len(c.byLang[l]) != len(c.byLang["zh-TW"]) {
			t.Errorf("%s has %d keys, zh-TW %d", l, len(c.byLang[l]), len(c.byLang["zh-TW"]))
		}
	}
}

// Every key the code names, literally or built from catalog data, is in the catalog.
func TestEveryUsedKeyExists(t *testing.T) {
	c, err := loadCatalog()
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	files, _ := filepath.Glob("*.go")
	lit := regexp.MustCompile(`(?:t\.msg|msgs\.has|t\.menu)\("([a-z_.A-Z-]+)"`)
	reason := regexp.MustCompile(`"(reason\.[a-z_]+|ask\.[a-z_]+)"`)
	for _, f := range files {
		if filepath.Ext(f) != ".go" || regexp.MustCompile(`_test\.go$`).MatchString(f) {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range lit.FindAllStringSubmatch(string(b), -1) {
			if m[1][len(m[1])-1] != '.' {
				keys = append(keys, m[1])
			}
		}
		for _, m := range reason.FindAllStringSubmatch(string(b), -1) {
			keys = append(keys, m[1])
		}
	}
	cat := casesvc.DefaultCatalog()
	for _, ct := range cat.ClaimTypes {
		keys = append(keys, "type_intro."+ct.ID)
	}
	for _, s := range []string{casesvc.StatusReceived, casesvc.StatusAwaitingDocuments, casesvc.StatusInitialReview,
		casesvc.StatusSecondReview, casesvc.StatusJointReview, casesvc.StatusApproved, casesvc.StatusRejected,
		casesvc.StatusPaid, casesvc.StatusClosed} {
		keys = append(keys, "status."+s, "next."+s)
	}
	for _, m := range menuIntents {
		keys = append(keys, "menu."+m)
	}
	keys = append(keys, "docs_how.default", "docs_how.webchat", "docs_how.telegram", "docs_how.sms")
	if len(keys) < 50 {
		t.Fatalf("found only %d keys; the scan is broken", len(keys))
	}
	for _, k := range keys {
		if !c.has(k) {
			t.Errorf("message key %q is used but not in the catalog", k)
		}
	}
}

func TestExtractors(t *testing.T) {
	for in, want := range map[string]string{
		"我昨天下午三點在忠孝東路出車禍，腳骨折住院":                                                   "忠孝東路",
		"前天晚上八點在家裡跌倒":                                                             "家裡",
		"現在很痛":                                                                    "",
		"I had a car accident yesterday at 3pm on Zhongxiao East Road, my bumper": "Zhongxiao East Road",
		"I fell on Monday at Taipei Main Station.":                                "Taipei Main Station",
	} {
		if got := extractPlace(in); got != want {
			t.Errorf("extractPlace(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"abc-1234": "ABC-1234", "車牌 1234-AB": "1234-AB", "ABC1234": "ABC1234",
		"0912-345-678": "", "2026-11-23": "", "CLM-20261124-000001": ""} {
		if got := extractPlate(in); got != want {
			t.Errorf("extractPlate(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"English please": "en", "English": "en", "英文": "en", "中文": "zh-TW",
		"說中文": "zh-TW", "说中文": "zh-TW", "Can we speak English?": "en", "I don't speak English well": ""} {
		if got, _ := langSwitch(in); got != want {
			t.Errorf("langSwitch(%q) = %q, want %q", in, got, want)
		}
	}
	covered := []string{"medical", "accident", "critical_illness"}
	for in, want := range map[string]string{"出車禍，腳骨折住院": "accident", "住院開刀": "medical", "確診癌症住院": "critical_illness",
		"車子被撞凹了": ""} {
		if got, _ := pickClaimType(in, covered); got != want {
			t.Errorf("pickClaimType(%q) = %q, want %q", in, got, want)
		}
	}
	if got := freeText("右腿骨折，在台大醫院住院，費用大概三萬五", []string{"三萬五"}); got != "右腿骨折，台大醫院住院" {
		t.Errorf("freeText = %q", got)
	}
}
