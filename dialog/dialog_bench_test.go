package dialog_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"claimline/casesvc/sqlite"
	"claimline/dialog"
	"claimline/dialog/nlu"
)

// BenchmarkTurn runs one Engine.Turn mid-form, from a state reached by a real conversation on the demo
// policy HL20240017 (real SQLite case store, real parser). A turn is a pure function of the state, so
// every iteration answers the same question from the same state.
//   - birth_date: the identity check (the policy is read from the case store) and the claim type question
//   - when: a date and time in Chinese, parsed and validated, then the next question
//   - place: free text, then the next question
func BenchmarkTurn(b *testing.B) {
	zone := time.FixedZone("Asia/Taipei", 8*3600)
	at := time.Date(2026, 11, 24, 10, 0, 0, 0, zone)
	svc, err := sqlite.New(filepath.Join(b.TempDir(), "cases.db"), sqlite.Config{Location: zone, Now: func() time.Time { return at }})
	if err != nil {
		b.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	if _, err := sqlite.SeedDemo(ctx, svc); err != nil {
		b.Fatal(err)
	}
	parser, err := nlu.New(nlu.Config{Location: zone})
	if err != nil {
		b.Fatal(err)
	}
	eng, err := dialog.New(dialog.Config{Cases: svc, NLU: dialog.BuiltinNLU(parser), Location: zone})
	if err != nil {
		b.Fatal(err)
	}
	var state []byte
	var seq int64
	input := func(text, action string) dialog.Input {
		seq++
		return dialog.Input{Conversation: "bench-turn", Channel: "webchat", Contact: "bench", Seq: seq,
			Text: text, Action: action, Lang: "zh-TW", At: at}
	}
	// want lists cues, any of which the replies must hold (the wording may change).
	step := func(in dialog.Input, want ...string) {
		st, replies, err := eng.Turn(ctx, state, in)
		if err != nil {
			b.Fatal(err)
		}
		var said []string
		for _, r := range replies {
			said = append(said, r.Text)
		}
		all := strings.Join(said, "\n")
		for _, w := range want {
			if strings.Contains(all, w) {
				state = st
				return
			}
		}
		b.Fatalf("after %q%q the bot said %q, want one of %q", in.Text, in.Action, said, want)
	}
	step(dialog.Input{Conversation: "bench-turn", Channel: "webchat", Contact: "bench", Event: dialog.EventStart, Lang: "zh-TW", At: at}, "需要什麼協助")
	step(input("", "file_claim"), "保單號碼")
	step(input("HL20240017", ""), "身分證字號")
	step(input("A123456789", ""), "出生日期")
	states := map[string][]byte{"birth_date": state}
	step(input("74/3/2", ""), "哪一種理賠")
	step(input("", "type:medical"), "什麼時候")
	states["when"] = state
	step(input("11月20日早上10點", ""), "哪裡", "醫院", "地點")
	states["place"] = state
	answers := map[string]string{"birth_date": "74/3/2", "when": "11月20日早上10點", "place": "台大醫院"}
	for _, name := range []string{"birth_date", "when", "place"} {
		b.Run(name, func(b *testing.B) {
			st := states[name]
			in := input(answers[name], "")
			b.SetBytes(int64(len(st)))
			b.ReportAllocs()
			for b.Loop() {
				if _, replies, err := eng.Turn(ctx, st, in); err != nil || len(replies) == 0 {
					b.Fatal(err)
				}
			}
		})
	}
}
