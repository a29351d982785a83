package dialog

import "testing"

func TestIsAngry(t *testing.T) {
	for text, want := range map[string]bool{
		"你們服務真的很爛":                   true,
		"氣死我了":                       true,
		"我要投訴你們":                     true,
		"你們在搞什麼":                     true,
		"搞什么啊":                       true,
		"This is ridiculous":         true,
		"I'm furious":                true,
		"where is my money!!!":       true,
		"還沒收到！！！":                    true,
		"請問進度如何？":                    false,
		"我要申請理賠":                     false,
		"陽光燦爛的早上在家跌倒":                false,
		"thank you!":                 false,
		"wow!!":                      false,
		"I want to make a complaint": false,
	} {
		if got := isAngry(text); got != want {
			t.Errorf("isAngry(%q) = %v, want %v", text, got, want)
		}
	}
}

func TestCategoryFromText(t *testing.T) {
	for text, want := range map[string]string{
		"專員態度很差":        "service_attitude",
		"理賠拖了兩個月":       "delay",
		"不同意拒賠的決定":      "decision_dispute",
		"賠的金額太少":        "amount_dispute",
		"通知寫得不清楚":       "communication",
		"it's too slow": "delay",
		"我要客訴":          "",
	} {
		if got := categoryFromText(text); got != want {
			t.Errorf("categoryFromText(%q) = %q, want %q", text, got, want)
		}
	}
}
