package channels_test

import (
	"testing"

	"claimline/channels"
)

// benchReadBack is the claim read-back, the longest message with buttons the dialog sends.
var benchReadBack = channels.Message{
	Conversation: "bench", Seq: 23, Direction: channels.DirOut, From: channels.FromBot,
	Text: "請確認以下資料：\n險種：醫療/住院\n保單：HL20240017\n申請人：王小明\n聯絡電話：+8869****5678\n" +
		"時間：2026年11月20日（民國115年）10:00\n地點：台大醫院\n原因：急性肺炎\n情形：急性肺炎住院三天\n估計金額：23,000 元",
	Buttons: []channels.Button{{Label: "確認送出", Value: "confirm"}, {Label: "修改", Value: "edit"}},
}

// BenchmarkRender shapes the read-back for a channel with buttons (web chat), without buttons
// (numbered choices) and with a text limit (SMS-like).
func BenchmarkRender(b *testing.B) {
	for _, c := range []struct {
		name string
		caps channels.Capabilities
	}{
		{"buttons", channels.Capabilities{Buttons: true}},
		{"numbered", channels.Capabilities{}},
		{"split70", channels.Capabilities{MaxText: 70}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if out := channels.Render(benchReadBack, c.caps); len(out) == 0 {
					b.Fatal("no output")
				}
			}
		})
	}
}
