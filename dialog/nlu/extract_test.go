package nlu

import (
	"reflect"
	"regexp"
	"testing"
	"time"
	"unicode/utf8"
)

// now is Tuesday 2026-11-24 10:00 in Taipei.
var testNow = time.Date(2026, 11, 24, 10, 0, 0, 0, time.FixedZone("CST", 8*3600))

func newTest(t testing.TB) *Builtin {
	t.Helper()
	b, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

type ent struct {
	typ   string
	value any
	start int
	end   int
}

func one(typ string, v any, s, e int) []ent { return []ent{{typ, v, s, e}} }

func TestExtract(t *testing.T) {
	b := newTest(t)
	cases := []struct {
		text string
		want []ent
	}{
		// The spec's example.
		{"昨天下午三點在忠孝東路被機車撞到，腳骨折住院，大概花了三萬五", []ent{
			{EntityDateTime, "2026-11-23T15:00:00+08:00", 0, 6}, {EntityAmount, 35000.0, 27, 30}}},
		// Absolute dates.
		{"2026-11-20", one(EntityDate, "2026-11-20", 0, 10)},
		{"2026/11/20", one(EntityDate, "2026-11-20", 0, 10)},
		{"事故日是民國115年11月20日", one(EntityDate, "2026-11-20", 4, 16)},
		{"115/11/20", one(EntityDate, "2026-11-20", 0, 9)},
		{"115-11-20", one(EntityDate, "2026-11-20", 0, 9)},
		{"115.11.20", one(EntityDate, "2026-11-20", 0, 9)},
		{"1151120", one(EntityDate, "2026-11-20", 0, 7)},
		{"74/3/2", one(EntityDate, "1985-03-02", 0, 6)},
		{"十一月二十日", one(EntityDate, "2026-11-20", 0, 6)},
		{"是十一月二十號", one(EntityDate, "2026-11-20", 1, 7)},
		{"11/20", one(EntityDate, "2026-11-20", 0, 5)},
		{"11月20日", one(EntityDate, "2026-11-20", 0, 6)},
		{"１１月２０日", one(EntityDate, "2026-11-20", 0, 6)}, // full-width digits
		{"Nov 20", one(EntityDate, "2026-11-20", 0, 6)},
		{"20 November 2026", one(EntityDate, "2026-11-20", 0, 16)},
		{"November 20, 2026", one(EntityDate, "2026-11-20", 0, 17)},
		{"it was on 2026-11-20", one(EntityDate, "2026-11-20", 10, 20)},
		// Relative dates (Tuesday 2026-11-24).
		{"今天", one(EntityDate, "2026-11-24", 0, 2)},
		{"昨天", one(EntityDate, "2026-11-23", 0, 2)},
		{"前天", one(EntityDate, "2026-11-22", 0, 2)},
		{"大前天", one(EntityDate, "2026-11-21", 0, 3)},
		{"上週五", one(EntityDate, "2026-11-20", 0, 3)},
		{"上禮拜五", one(EntityDate, "2026-11-20", 0, 4)},
		{"上星期五", one(EntityDate, "2026-11-20", 0, 4)},
		{"上周五", one(EntityDate, "2026-11-20", 0, 3)}, // Simplified
		{"這週一", one(EntityDate, "2026-11-23", 0, 3)},
		{"三天前", one(EntityDate, "2026-11-21", 0, 3)},
		{"3天前", one(EntityDate, "2026-11-21", 0, 3)},
		{"today", one(EntityDate, "2026-11-24", 0, 5)},
		{"yesterday", one(EntityDate, "2026-11-23", 0, 9)},
		{"the day before yesterday", one(EntityDate, "2026-11-22", 0, 24)},
		{"last Friday", one(EntityDate, "2026-11-20", 0, 11)},
		{"3 days ago", one(EntityDate, "2026-11-21", 0, 10)},
		{"on Friday", one(EntityDate, "2026-11-20", 0, 9)},
		// Times alone: the most recent past occurrence.
		{"下午三點", one(EntityDateTime, "2026-11-23T15:00:00+08:00", 0, 4)},
		{"晚上八點半", one(EntityDateTime, "2026-11-23T20:30:00+08:00", 0, 5)},
		{"早上9點15分", one(EntityDateTime, "2026-11-24T09:15:00+08:00", 0, 7)},
		{"凌晨兩點", one(EntityDateTime, "2026-11-24T02:00:00+08:00", 0, 4)},
		{"中午", one(EntityDateTime, "2026-11-23T12:00:00+08:00", 0, 2)},
		{"15:00", one(EntityDateTime, "2026-11-23T15:00:00+08:00", 0, 5)},
		{"3pm", one(EntityDateTime, "2026-11-23T15:00:00+08:00", 0, 3)},
		{"3:30 pm", one(EntityDateTime, "2026-11-23T15:30:00+08:00", 0, 7)},
		{"at 8", one(EntityDateTime, "2026-11-24T08:00:00+08:00", 0, 4)},
		// Date and time together.
		{"昨天下午三點", one(EntityDateTime, "2026-11-23T15:00:00+08:00", 0, 6)},
		{"yesterday at 3pm", one(EntityDateTime, "2026-11-23T15:00:00+08:00", 0, 16)},
		{"11月20日晚上8點", one(EntityDateTime, "2026-11-20T20:00:00+08:00", 0, 10)},
		{"昨晚十一點", one(EntityDateTime, "2026-11-23T23:00:00+08:00", 0, 5)},
		{"yesterday afternoon at 3", one(EntityDateTime, "2026-11-23T15:00:00+08:00", 0, 24)},
		{"3pm yesterday", one(EntityDateTime, "2026-11-23T15:00:00+08:00", 0, 13)},
		{"上週五晚上八點半", one(EntityDateTime, "2026-11-20T20:30:00+08:00", 0, 8)},
		{"昨天大概下午3:30", one(EntityDateTime, "2026-11-23T15:30:00+08:00", 0, 10)},
		{"两天前", one(EntityDate, "2026-11-22", 0, 3)},
		{"12/25下午3點", one(EntityDateTime, "2025-12-25T15:00:00+08:00", 0, 9)},
		{"2026-11-20 15:00", one(EntityDateTime, "2026-11-20T15:00:00+08:00", 0, 16)},
		// Amounts.
		{"三萬五千元", one(EntityAmount, 35000.0, 0, 5)},
		{"三萬五", one(EntityAmount, 35000.0, 0, 3)},
		{"12萬", one(EntityAmount, 120000.0, 0, 3)},
		{"1.5萬", one(EntityAmount, 15000.0, 0, 4)},
		{"三千兩百元", one(EntityAmount, 3200.0, 0, 5)},
		{"兩萬", one(EntityAmount, 20000.0, 0, 2)},
		{"两万块", one(EntityAmount, 20000.0, 0, 3)}, // Simplified
		{"NT$35,000", one(EntityAmount, 35000.0, 0, 9)},
		{"NTD 35000", one(EntityAmount, 35000.0, 0, 9)},
		{"5000塊", one(EntityAmount, 5000.0, 0, 5)},
		{"5000元", one(EntityAmount, 5000.0, 0, 5)},
		{"$1,250.50", one(EntityAmount, 1250.5, 0, 9)},
		{"about 35,000 dollars", one(EntityAmount, 35000.0, 6, 20)},
		// Phones.
		{"0912345678", one(EntityPhone, "+886912345678", 0, 10)},
		{"0912-345-678", one(EntityPhone, "+886912345678", 0, 12)},
		{"0912 345 678", one(EntityPhone, "+886912345678", 0, 12)},
		{"+886912345678", one(EntityPhone, "+886912345678", 0, 13)},
		{"+886 912 345 678", one(EntityPhone, "+886912345678", 0, 16)},
		{"886912345678", one(EntityPhone, "+886912345678", 0, 12)},
		{"02-2345-6789", one(EntityPhone, "+886223456789", 0, 12)},
		{"(02)2345-6789", one(EntityPhone, "+886223456789", 0, 13)},
		{"電話０９１２３４５６７８", one(EntityPhone, "+886912345678", 2, 12)},
		// IDs.
		{"A123456789", one(EntityNationalID, "A123456789", 0, 10)},
		{"身分證a123456789", one(EntityNationalID, "A123456789", 3, 13)},
		{"hl20240017", one(EntityPolicyNumber, "HL20240017", 0, 10)},
		{"保單HL20240017的進度", one(EntityPolicyNumber, "HL20240017", 2, 12)},
		{"AB12345678", one(EntityPolicyNumber, "AB12345678", 0, 10)}, // old resident shape: a policy number here
		{"CLM-20261120-000123", one(EntityCaseID, "CLM-20261120-000123", 0, 19)},
		{"案件 clm-20261120-000123 進度", one(EntityCaseID, "CLM-20261120-000123", 3, 22)},
		{"cmp-20261120-000001", one(EntityComplaintID, "CMP-20261120-000001", 0, 19)},
		{"寄到Foo.Bar@Example.COM", one(EntityEmail, "foo.bar@example.com", 2, 21)},
		// Several at once.
		{"我的電話是0912345678，保單HL20240017，上週五出事", []ent{
			{EntityPhone, "+886912345678", 5, 15}, {EntityPolicyNumber, "HL20240017", 18, 28}, {EntityDate, "2026-11-20", 29, 32}}},
		// Negatives.
		{"A123456788", nil},  // bad checksum
		{"2月30日", nil},       // impossible date
		{"13/45", nil},       // impossible date
		{"住院三天", nil},        // 三天 without 前 is a duration
		{"091234567", nil},   // too few digits for a phone
		{"我有一點痛", nil},       // 一點 = a little
		{"我要申請理賠", nil},      // no entities
		{"5000", nil},        // bare number: only Amount() takes it
		{"HL2024001", nil},   // policy too short
		{"XHL20240017", nil}, // glued to a letter
	}
	for _, c := range cases {
		got := b.Extract(c.text, testNow)
		var g []ent
		for _, e := range got {
			g = append(g, ent{e.Type, e.Value, e.Start, e.End})
			if want := string([]rune(c.text)[e.Start:e.End]); e.Text != want {
				t.Errorf("%q: entity text %q, runes[start:end] %q", c.text, e.Text, want)
			}
		}
		if !reflect.DeepEqual(g, c.want) {
			t.Errorf("%q:\n got %v\nwant %v", c.text, g, c.want)
		}
	}
}

func TestExtractZone(t *testing.T) {
	b := newTest(t)
	// 2026-11-23T17:00Z is already Tuesday 01:00 in Taipei: "昨天" is Monday.
	now := time.Date(2026, 11, 23, 17, 0, 0, 0, time.UTC)
	got := b.Extract("昨天", now)
	if len(got) != 1 || got[0].Value != "2026-11-23" {
		t.Fatalf("got %v", got)
	}
}

func TestIncidentTime(t *testing.T) {
	b := newTest(t)
	for _, c := range []struct {
		text    string
		want    string
		hasTime bool
	}{
		{"11月30日", "2025-11-30T00:00:00+08:00", false},     // most recent past
		{"2026-12-01", "2026-12-01T00:00:00+08:00", false}, // explicit: as given
		{"昨天下午三點", "2026-11-23T15:00:00+08:00", true},
		{"下午三點", "2026-11-23T15:00:00+08:00", true},
		{"last Friday", "2026-11-20T00:00:00+08:00", false},
	} {
		w, ok := b.IncidentTime(c.text, testNow)
		if !ok || w.Time.Format(time.RFC3339) != c.want || w.HasTime != c.hasTime {
			t.Errorf("%q: got %v %v %v, want %s %v", c.text, w.Time, w.HasTime, ok, c.want, c.hasTime)
		}
	}
	if _, ok := b.IncidentTime("我要報案", testNow); ok {
		t.Error("no date expected")
	}
}

func TestBirthDate(t *testing.T) {
	b := newTest(t)
	for text, want := range map[string]string{
		"74/3/2":        "1985-03-02",
		"民國74年3月2日":     "1985-03-02",
		"1985-03-02":    "1985-03-02",
		"March 2, 1985": "1985-03-02",
		"2 March 1985":  "1985-03-02",
		"0740302":       "1985-03-02",
	} {
		got, ok := b.BirthDate(text)
		if !ok || got.Format("2006-01-02") != want {
			t.Errorf("%q: got %v %v, want %s", text, got, ok, want)
		}
	}
	for _, text := range []string{"昨天", "3/2", "三天前", "2月30日"} {
		if got, ok := b.BirthDate(text); ok {
			t.Errorf("%q: unexpected %v", text, got)
		}
	}
}

func TestAmount(t *testing.T) {
	b := newTest(t)
	for text, want := range map[string]float64{
		"35000":         35000,
		"大概 35,000":     35000,
		"三萬五千元":         35000,
		"12萬":           120000,
		"三萬五":           35000,
		"NT$35,000":     35000,
		"5000塊":         5000,
		"$1,250.50":     1250.5,
		"11/20 花了 3000": 3000,
		"看了2次，共5000元":   5000,
		"一點五萬":          15000,
		"三萬零五百":         30500,
		"兩千多塊":          2000,
		"about 3k":      3000,
	} {
		got, _, ok := b.Amount(text)
		if !ok || got != want {
			t.Errorf("%q: got %v %v, want %v", text, got, ok, want)
		}
	}
	for _, text := range []string{"不知道", "0912345678", "11/20"} {
		if got, _, ok := b.Amount(text); ok {
			t.Errorf("%q: unexpected %v", text, got)
		}
	}
}

func TestParseNumeral(t *testing.T) {
	for s, want := range map[string]float64{
		"十": 10, "十一": 11, "二十": 20, "一百二": 120, "一百零五": 105, "三萬五千": 35000, "三萬五": 35000,
		"兩千五": 2500, "一一五": 115, "二〇二六": 2026, "12萬5千": 125000, "1.5萬": 15000, "一億兩千萬": 120000000,
		"35,000": 35000, "壹萬貳仟": 12000,
	} {
		if got, ok := parseNumeral([]rune(s)); !ok || got != want {
			t.Errorf("%q: got %v %v, want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"百", "萬", "", "五五萬萬"} {
		if got, ok := parseNumeral([]rune(s)); ok && s != "五五萬萬" {
			t.Errorf("%q: unexpected %v", s, got)
		}
	}
}

func TestNationalID(t *testing.T) {
	for _, c := range []struct {
		text      string
		old       bool
		id        string
		ok, found bool
	}{
		{"A123456789", false, "A123456789", true, true},
		{"我的身分證是 f131104093", false, "F131104093", true, true},
		{"A123456788", false, "A123456788", false, true},
		{"A800000014", false, "A800000014", true, true}, // new resident certificate
		{"AB12345678", false, "", false, false},
		{"AC01234567", true, "AC01234567", true, true},
		{"AC01234568", true, "AC01234568", false, true},
		{"沒有", false, "", false, false},
	} {
		id, ok, found := NationalIDCandidate(c.text, c.old)
		if id != c.id || ok != c.ok || found != c.found {
			t.Errorf("%q: got %q %v %v", c.text, id, ok, found)
		}
	}
	if !ValidNationalID("a123456789") || ValidNationalID("A12345678") || ValidNationalID("A323456789") {
		t.Error("ValidNationalID")
	}
}

func TestPhoneAndPolicy(t *testing.T) {
	b := newTest(t)
	if v, e, ok := Phone("請打 (02)2345-6789 找我"); !ok || v != "+886223456789" || e.Start != 3 || e.End != 16 {
		t.Errorf("Phone: %v %v %v", v, e, ok)
	}
	if _, _, ok := Phone("091234567"); ok {
		t.Error("short phone accepted")
	}
	if v, e, ok := b.PolicyNumber("保單號碼hl20240017"); !ok || v != "HL20240017" || e.Start != 4 {
		t.Errorf("PolicyNumber: %v %v %v", v, e, ok)
	}
	// A configured pattern.
	b2, err := New(Config{PolicyPattern: regexp.MustCompile(`^P-\d{6}$`)})
	if err != nil {
		t.Fatal(err)
	}
	if v, _, ok := b2.PolicyNumber("policy p-123456 please"); !ok || v != "P-123456" {
		t.Errorf("custom pattern: %v %v", v, ok)
	}
}

func TestDetectLang(t *testing.T) {
	for text, want := range map[string]string{
		"你好":                       "zh-TW",
		"我想理赔":                     "zh-TW",
		"我的 claim status 是什麼":      "zh-TW",
		"hello":                    "en",
		"What is my claim status?": "en",
		"HL20240017":               "",
		"0912345678":               "",
		"CLM-20261120-000123":      "",
		"":                         "",
		"!!!":                      "",
		"a123456789":               "",
		"ok":                       "en",
	} {
		if got := DetectLang(text); got != want {
			t.Errorf("%q: got %q want %q", text, got, want)
		}
	}
}

func FuzzExtract(f *testing.F) {
	b := newTest(f)
	for _, s := range []string{"昨天下午三點在忠孝東路被機車撞到，腳骨折住院，大概花了三萬五", "NT$35,000", "0912-345-678",
		"A123456789", "CLM-20261120-000123", "yesterday at 3pm", "民國115年11月20日", "三萬零五點", "\xff\xfe昨天"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rs := []rune(s)
		n := utf8.RuneCountInString(s)
		last := 0
		for _, e := range b.Extract(s, testNow) {
			if e.Start < 0 || e.Start > e.End || e.End > n || e.Start < last {
				t.Fatalf("bad span %+v in %q (%d runes)", e, s, n)
			}
			if e.Text != string(rs[e.Start:e.End]) {
				t.Fatalf("text %q != runes[%d:%d] %q", e.Text, e.Start, e.End, string(rs[e.Start:e.End]))
			}
			last = e.End
		}
		b.Amount(s)
		b.BirthDate(s)
		NationalIDCandidate(s, true)
		DetectLang(s)
	})
}
