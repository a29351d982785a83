package nlu

import (
	"context"
	"math"
	"os"
	"testing"
)

func TestHeldOutAccuracy(t *testing.T) {
	b := newTest(t)
	data, err := os.ReadFile("data/test.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := loadExamples(data)
	if err != nil {
		t.Fatal(err)
	}
	train, _ := dataFS.ReadFile("data/train.jsonl")
	trainEx, _ := loadExamples(train)
	seen := map[string]bool{}
	for _, e := range trainEx {
		seen[e.Text] = true
	}
	right := 0
	for _, e := range ex {
		if seen[e.Text] {
			t.Errorf("held-out %q is also in the training set", e.Text)
		}
		got := b.Classify(e.Text)[0]
		if got.Name == e.Intent {
			right++
		} else {
			t.Logf("miss: %q (%s) → %s %.2f, want %s", e.Text, e.Lang, got.Name, got.Confidence, e.Intent)
		}
	}
	acc := float64(right) / float64(len(ex))
	t.Logf("held-out accuracy: %.1f%% (%d/%d)", 100*acc, right, len(ex))
	if acc < 0.85 {
		t.Errorf("held-out accuracy %.1f%% < 85%%", 100*acc)
	}
}

func TestClassifyShortAndMixed(t *testing.T) {
	b := newTest(t)
	for text, want := range map[string]string{
		"是": IntentAffirm, "對": IntentAffirm, "好": IntentAffirm, "沒錯": IntentAffirm, "確認": IntentAffirm,
		"yes": IntentAffirm, "yep": IntentAffirm, "ok": IntentAffirm, "correct": IntentAffirm, "对": IntentAffirm,
		"不是": IntentDeny, "不對": IntentDeny, "不要": IntentDeny, "no": IntentDeny, "nope": IntentDeny,
		"不对": IntentDeny, "Yes!": IntentAffirm, "ＯＫ": IntentAffirm, "NO.": IntentDeny,
		"我的 claim status 是什麼": IntentCheckProgress,
		"昨天下午三點在忠孝東路被機車撞到，腳骨折住院，大概花了三萬五": IntentFileClaim,
		"我要申请理赔":                 IntentFileClaim,
		"I want to file a claim": IntentFileClaim,
		"轉真人":                    IntentHumanAgent,
		"今天天氣好嗎":                 IntentOutOfScope,
		"tell me a joke":         IntentOutOfScope,
		"你好":                     IntentGreeting,
		"取消":                     IntentCancel,
		"謝謝再見":                   IntentGoodbye,
		"我要客訴":                   IntentComplaint,
		"我要補件":                   IntentSubmitDocuments,
		"你可以做什麼":                 IntentHelp,
	} {
		r := b.Classify(text)
		if r[0].Name != want {
			t.Errorf("%q: got %s (%.2f), want %s", text, r[0].Name, r[0].Confidence, want)
		}
	}
}

func TestParse(t *testing.T) {
	b := newTest(t)
	r, err := b.Parse(context.Background(), "昨天下午三點在忠孝東路被機車撞到，腳骨折住院，大概花了三萬五", "", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if r.Lang != "zh-TW" || r.Intent.Name != IntentFileClaim || len(r.Entities) != 2 {
		t.Fatalf("got %+v", r)
	}
	if len(r.IntentRanking) != len(Intents) || r.IntentRanking[0] != r.Intent {
		t.Fatalf("ranking %+v", r.IntentRanking)
	}
	sum := 0.0
	for i, in := range r.IntentRanking {
		if in.Confidence < 0 || in.Confidence > 1 || (i > 0 && in.Confidence > r.IntentRanking[i-1].Confidence) {
			t.Fatalf("ranking %+v", r.IntentRanking)
		}
		sum += in.Confidence
	}
	if math.Abs(sum-1) > 1e-6 {
		t.Errorf("confidences sum to %v", sum)
	}
	if r, _ := b.Parse(context.Background(), "hello", "zh-TW", testNow); r.Lang != "zh-TW" {
		t.Errorf("given lang not kept: %q", r.Lang)
	}
	if r, _ := b.Parse(context.Background(), "", "", testNow); r.Intent.Name != IntentOutOfScope || r.Entities == nil {
		t.Errorf("empty text: %+v", r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.Parse(ctx, "hi", "", testNow); err == nil {
		t.Error("cancelled context accepted")
	}
}

func BenchmarkParse(b *testing.B) {
	p := newTest(b)
	ctx := context.Background()
	const msg = "昨天下午三點在忠孝東路被機車撞到，腳骨折住院，大概花了三萬五" // 30 characters
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.Parse(ctx, msg, "", testNow); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNew is a parser after the first: the model is trained once per process.
func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		if _, err := New(Config{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTrain is the first New of a process: training the model from the embedded data.
func BenchmarkTrain(b *testing.B) {
	for b.Loop() {
		if _, err := trainEmbeddedNow(); err != nil {
			b.Fatal(err)
		}
	}
}

// scriptMessages are what the load tool's customers type (internal/bench/script.go), plus a first
// message telling the incident in each language.
var scriptMessages = []string{"你好", "HL20240017", "A123456789", "74/3/2", "11月20日早上10點", "急性肺炎住院三天，醫療費用大約兩萬三千元",
	"台大醫院", "急性肺炎", "23000", "hello", "MT20250088", "F128765439", "1990-07-15", "November 21 at 6pm",
	"Zhongshan Road near Minquan", "Rear bumper and trunk lid damaged, repair estimate about NT$40,000",
	"Rear-ended by a taxi at a red light", "ABC-1234", "40000", "你好，我昨天下午三點在忠孝東路出車禍，腳骨折住院",
	"my car was rear-ended yesterday at 6pm on Zhongshan Road", "English please"}

// BenchmarkExtractors runs what a dialog turn asks of the parser on every script message, once per
// message per iteration (ns/op is for the whole list): Parse, and the extractors the forms call.
func BenchmarkExtractors(b *testing.B) {
	p := newTest(b)
	ctx := context.Background()
	for _, bc := range []struct {
		name string
		run  func(string)
	}{
		{"Parse", func(s string) { p.Parse(ctx, s, "", testNow) }},
		{"Amount", func(s string) { p.Amount(s) }},
		{"IncidentTime", func(s string) { p.IncidentTime(s, testNow) }},
		{"BirthDate", func(s string) { p.BirthDate(s) }},
		{"PolicyNumber", func(s string) { p.PolicyNumber(s) }},
		{"NationalID", func(s string) { NationalIDCandidate(s, true) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				for _, s := range scriptMessages {
					bc.run(s)
				}
			}
		})
	}
}
