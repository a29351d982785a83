package nlu

import (
	"reflect"
	"strings"
	"testing"
)

// Entity forms added for issue 3 (see EVAL.md "Entities"). testNow is Tuesday 2026-11-24 10:00.
func TestExtractMore(t *testing.T) {
	b := newTest(t)
	cases := []struct {
		text string
		want []ent
	}{
		// 晚8點 / 早9點: a part of day only with a digit right after.
		{"晚8點", one(EntityDateTime, "2026-11-23T20:00:00+08:00", 0, 3)},
		{"早9點", one(EntityDateTime, "2026-11-24T09:00:00+08:00", 0, 3)},
		{"昨天晚8點半", one(EntityDateTime, "2026-11-23T20:30:00+08:00", 0, 6)},
		{"上禮拜五早9點半", one(EntityDateTime, "2026-11-20T09:30:00+08:00", 0, 8)},
		{"今晚8點", one(EntityDateTime, "2026-11-24T20:00:00+08:00", 0, 4)},
		{"晚一點再說", nil},
		{"早點休息", nil},
		// Weeks.
		{"last week Friday", one(EntityDate, "2026-11-20", 0, 16)},
		{"Friday last week", one(EntityDate, "2026-11-20", 0, 16)},
		{"last week's Monday", one(EntityDate, "2026-11-16", 0, 18)},
		{"this week Monday", one(EntityDate, "2026-11-23", 0, 16)},
		// Day of the month: the most recent past one unless a month is named.
		{"on the 20th", one(EntityDate, "2026-11-20", 0, 11)},
		{"the 28th", one(EntityDate, "2026-10-28", 0, 8)},
		{"on the 5th of last month", one(EntityDate, "2026-10-05", 0, 24)},
		{"20號", one(EntityDate, "2026-11-20", 0, 3)},
		{"二十號那天", one(EntityDate, "2026-11-20", 0, 3)},
		{"20日那天", one(EntityDate, "2026-11-20", 0, 3)},
		{"上個月20號", one(EntityDate, "2026-10-20", 0, 6)},
		{"本月3號", one(EntityDate, "2026-11-03", 0, 4)},
		{"30號", one(EntityDate, "2026-10-30", 0, 3)},
		{"上个月31号", one(EntityDate, "2026-10-31", 0, 6)},
		{"3號出口", nil},
		{"5號線", nil},
		{"住在3號病房", nil},
		{"住院20日", nil},
		// Amounts.
		{"35k", one(EntityAmount, 35000.0, 0, 3)},
		{"about 35k", one(EntityAmount, 35000.0, 6, 9)},
		{"NT$ 35,000", one(EntityAmount, 35000.0, 0, 10)},
		{"NT $35,000", one(EntityAmount, 35000.0, 0, 10)},
		{"thirty-five thousand", one(EntityAmount, 35000.0, 0, 20)},
		{"35 thousand dollars", one(EntityAmount, 35000.0, 0, 19)},
		{"twelve hundred bucks", one(EntityAmount, 1200.0, 0, 20)},
		{"a hundred and twenty thousand", one(EntityAmount, 120000.0, 0, 29)},
		{"one of them", nil},
	}
	for _, c := range cases {
		var g []ent
		for _, e := range b.Extract(c.text, testNow) {
			g = append(g, ent{e.Type, e.Value, e.Start, e.End})
		}
		if !reflect.DeepEqual(g, c.want) {
			t.Errorf("%q:\n got %v\nwant %v", c.text, g, c.want)
		}
	}
	for text, want := range map[string]float64{"1,250.50": 1250.5, "NT$ 1,250.50": 1250.5, "about 35k": 35000} {
		if v, _, ok := b.Amount(text); !ok || v != want {
			t.Errorf("Amount(%q) = %v %v, want %v", text, v, ok, want)
		}
	}
	// An impossible day in the named month is not a date.
	if got := b.Extract("上個月31號", testNow); len(got) != 1 || got[0].Value != "2026-10-31" {
		t.Errorf("上個月31號: %v", got)
	}
	if got := b.Extract("本月31號", testNow); len(got) != 0 {
		t.Errorf("本月31號 (November has 30 days): %v", got)
	}
}

func TestCorrection(t *testing.T) {
	type res struct{ field, value string }
	for text, want := range map[string]res{
		"不對，是前天":                                     {FieldTime, "前天"},
		"不对，是前天":                                     {FieldTime, "前天"},
		"不是啦 應該是上禮拜五晚上八點":                            {FieldTime, "上禮拜五晚上八點"},
		"錯了，是11月20日":                                 {FieldTime, "11月20日"},
		"改成昨天":                                       {FieldTime, "昨天"},
		"時間改成昨天下午三點":                                 {FieldTime, "昨天下午三點"},
		"日期應該是115/11/20":                             {FieldTime, "115/11/20"},
		"change the date to Nov 20":                  {FieldTime, "Nov 20"},
		"no, it was last Friday":                     {FieldTime, "last Friday"},
		"actually it was 3pm":                        {FieldTime, "3pm"},
		"change the place to 台大醫院":                   {FieldPlace, "台大醫院"},
		"地點改成台大醫院":                                   {FieldPlace, "台大醫院"},
		"地点改成台大医院":                                   {FieldPlace, "台大医院"},
		"把地點換成忠孝東路四段":                                {FieldPlace, "忠孝東路四段"},
		"不對，是在台大醫院":                                  {FieldPlace, "在台大醫院"},
		"the location is Taipei Main Station":        {FieldPlace, "Taipei Main Station"},
		"金額是四萬":                                      {FieldAmount, "四萬"},
		"費用應該是NT$35,000才對":                           {FieldAmount, "NT$35,000"},
		"不對，是三萬五":                                    {FieldAmount, "三萬五"},
		"the amount should be 40k":                   {FieldAmount, "40k"},
		"phone is 0912345678":                        {FieldPhone, "0912345678"},
		"電話改成0912-345-678":                           {FieldPhone, "0912-345-678"},
		"手機號碼是 0987654321 喔":                         {FieldPhone, "0987654321"},
		"no, 0912345678":                             {FieldPhone, "0912345678"},
		"原因是被機車撞":                                    {FieldCause, "被機車撞"},
		"change the cause to a fall":                 {FieldCause, "a fall"},
		"情形改成右腿骨折，台大住院":                              {FieldDescription, "右腿骨折，台大住院"},
		"update the description to broken right leg": {FieldDescription, "broken right leg"},
		"名字是王小明":                                     {FieldName, "王小明"},
		"my name is Wang Hsiao-ming":                 {FieldName, "Wang Hsiao-ming"},
		"地點錯了":                                       {FieldPlace, ""},
	} {
		f, v, ok := Correction(text)
		if !ok || f != want.field || v != want.value {
			t.Errorf("%q: got (%q, %q, %v), want (%q, %q)", text, f, v, ok, want.field, want.value)
		}
	}
	for _, text := range []string{"是", "對", "確認送出", "好", "我要申請理賠", "不對", "no", "前天", "hello", "", "不是這樣啦", "where is my claim"} {
		if f, v, ok := Correction(text); ok {
			t.Errorf("%q: unexpected (%q, %q)", text, f, v)
		}
	}
}

func FuzzCorrection(f *testing.F) {
	for _, s := range []string{"不對，是前天", "change the place to 台大醫院", "金額是四萬", "phone is 0912", "地點錯了", "\xff是"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		field, v, ok := Correction(s)
		if !ok && (field != "" || v != "") {
			t.Fatalf("%q: not ok but (%q, %q)", s, field, v)
		}
		if ok && len(v) > 0 && !containsRunes(s, v) {
			t.Fatalf("%q: value %q is not part of the text", s, v)
		}
	})
}

// containsRunes compares after decoding, as Correction does (invalid UTF-8 becomes U+FFFD).
func containsRunes(s, sub string) bool { return strings.Contains(string([]rune(s)), sub) }
