package channels_test

import (
	"strings"
	"testing"

	"claimline/channels"
)

func TestRender(t *testing.T) {
	buttons := []channels.Button{{Label: "確認送出", Value: "confirm"}, {Label: "修改", Value: "edit"}}
	msg := channels.Message{Seq: 7, Text: "請確認以下資料：", Buttons: buttons}
	for _, tc := range []struct {
		name    string
		caps    channels.Capabilities
		texts   []string
		buttons int
	}{
		{"buttons", channels.Capabilities{Buttons: true}, []string{"請確認以下資料："}, 2},
		{"numbered", channels.Capabilities{}, []string{"請確認以下資料：\n1. 確認送出\n2. 修改"}, 0},
		{"split", channels.Capabilities{MaxText: 10}, []string{"請確認以下資料：", "1. 確認送出", "2. 修改"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := channels.Render(msg, tc.caps)
			var texts []string
			for _, m := range out {
				texts = append(texts, m.Text)
				if m.Seq != 7 {
					t.Fatalf("seq lost")
				}
			}
			if strings.Join(texts, "|") != strings.Join(tc.texts, "|") || len(out[len(out)-1].Buttons) != tc.buttons {
				t.Fatalf("got %q buttons %d", texts, len(out[len(out)-1].Buttons))
			}
		})
	}
	for reply, want := range map[string]string{"1": "confirm", " 2 ": "edit", "２": "edit", "3": "", "yes": ""} {
		if got, _ := channels.ChoiceFor(buttons, reply); got != want {
			t.Errorf("ChoiceFor(%q) = %q, want %q", reply, got, want)
		}
	}
}
