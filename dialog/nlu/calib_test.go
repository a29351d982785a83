package nlu

import (
	"context"
	"testing"
)

// Inputs that carry no request of their own must not be taken confidently for one: the dialog then
// asks instead of starting a flow.
func TestLowConfidenceInputs(t *testing.T) {
	b := newTest(t)
	for _, text := range []string{"A123456788", "A123456789", "HL20240017", "2026-11-20", "115/11/20", "昨天",
		"0912345678", "CLM-20261120-000123", "5000", "嗯嗯嗯啊啊", "啊啊啊啊", "asdfgh", "？？？", "", "😂", "11/20"} {
		r, err := b.Parse(context.Background(), text, "", testNow)
		if err != nil {
			t.Fatal(err)
		}
		top := r.Intent
		t.Logf("%-22q → %-14s %.2f", text, top.Name, top.Confidence)
		if top.Confidence >= 0.5 && top.Name != IntentOutOfScope {
			t.Errorf("%q: %s %.2f, want below 0.5 or out_of_scope", text, top.Name, top.Confidence)
		}
		if c := b.Classify(text)[0]; c.Name != top.Name || c.Confidence != top.Confidence {
			t.Errorf("%q: Classify %v differs from Parse %v", text, c, top)
		}
	}
}

// Messages with a request keep their confidence when they also carry entities.
func TestConfidentWithEntities(t *testing.T) {
	b := newTest(t)
	for text, want := range map[string]string{
		"HL20240017的進度":           IntentCheckProgress,
		"CLM-20261120-000123 到哪了": IntentCheckProgress,
		"昨天下午三點在忠孝東路被機車撞到，腳骨折住院，大概花了三萬五": IntentFileClaim,
		"my car got rear-ended last Friday": IntentFileClaim,
		"我要找真人":                             IntentHumanAgent,
		"我的 claim status 是什麼":               IntentCheckProgress,
	} {
		r := b.Classify(text)[0]
		if r.Name != want || r.Confidence < 0.5 {
			t.Errorf("%q: %s %.2f, want %s ≥ 0.5", text, r.Name, r.Confidence, want)
		}
	}
}
