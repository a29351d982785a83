package dialog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"claimline/casesvc"
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
	eng, _ := benchEngine(b)
	ctx := context.Background()
	at := benchAt
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
				// A millisecond later each time: the parser's memo serves a repeated message only at
				// the same instant (or day, where only the day matters), as for a real customer.
				in.At = in.At.Add(time.Millisecond)
				if _, replies, err := eng.Turn(ctx, st, in); err != nil || len(replies) == 0 {
					b.Fatal(err)
				}
			}
		})
	}
}

// benchAt is the benchmarks' clock: 10:00 today in Taipei. Today, as in production (a message's time
// is when it arrived): the parser's memo serves what depends only on the day (see nlu.memo).
var benchAt = func() time.Time {
	zone := time.FixedZone("Asia/Taipei", 8*3600)
	y, m, d := time.Now().In(zone).Date()
	return time.Date(y, m, d, 10, 0, 0, 0, zone)
}()

// benchEngine is the engine on a real SQLite case store with the demo policies and the real parser.
func benchEngine(b *testing.B) (*dialog.Engine, *sqlite.Service) {
	zone := benchAt.Location()
	svc, err := sqlite.New(filepath.Join(b.TempDir(), "cases.db"), sqlite.Config{Location: zone, Now: func() time.Time { return benchAt }})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { svc.Close() })
	if _, err := sqlite.SeedDemo(context.Background(), svc); err != nil {
		b.Fatal(err)
	}
	eng, err := dialog.New(dialog.Config{Cases: svc, NLU: benchNLU(b), Location: zone})
	if err != nil {
		b.Fatal(err)
	}
	return eng, svc
}

func benchNLU(b *testing.B) dialog.NLU {
	parser, err := nlu.New(nlu.Config{Location: benchAt.Location()})
	if err != nil {
		b.Fatal(err)
	}
	return dialog.BuiltinNLU(parser)
}

// claimAnswers are a customer's answers by cue, as the load tool's customer gives them
// (internal/bench/script.go): whichever cue the bot's last message holds first in this list is answered.
var claimAnswers = map[string][][3]string{ // cue, text, button
	"zh-TW": {
		{"請確認以下資料", "", "confirm"}, {"保單號碼", "HL20240017", ""}, {"身分證字號", "A123456789", ""},
		{"出生日期", "74/3/2", ""}, {"哪一種理賠", "", "type:medical"}, {"交通事故", "", "no"},
		{"什麼時候", "11月20日早上10點", ""}, {"描述", "急性肺炎住院三天，醫療費用大約兩萬三千元", ""},
		{"情形", "急性肺炎住院三天，醫療費用大約兩萬三千元", ""}, {"哪裡", "台大醫院", ""}, {"醫院", "台大醫院", ""},
		{"原因", "急性肺炎", ""}, {"病名", "急性肺炎", ""}, {"金額", "23000", ""}, {"需要什麼協助", "", "file_claim"},
	},
	"en": {
		{"Please check these details", "", "confirm"}, {"policy number", "MT20250088", ""}, {"national ID", "F128765439", ""},
		{"date of birth", "1990-07-15", ""}, {"What kind of claim", "", "type:motor"}, {"hen did", "November 21 at 6pm", ""},
		{"here", "Zhongshan Road near Minquan", ""},
		{"describe", "Rear bumper and trunk lid damaged, repair estimate about NT$40,000", ""},
		{"ause", "Rear-ended by a taxi at a red light", ""}, {"How did", "Rear-ended by a taxi at a red light", ""},
		{"plate", "ABC-1234", ""}, {"estimated amount", "40000", ""}, {"ow much", "40000", ""}, {"How can I help", "", "file_claim"},
	},
}

// BenchmarkClaimConversation files one whole claim per iteration, the way the load tool's customers do
// (claimline bench --mode claim): a new conversation, the greeting, then an answer to each question
// until the case id, each turn given the state the previous one returned. The figure to read is
// ns/turn. Under sqlite every case service call goes to the real SQLite store; under engine its
// answers are remembered (see recordedCases), so the figure is the engine's own cost.
func BenchmarkClaimConversation(b *testing.B) {
	for _, cases := range []string{"sqlite", "engine"} {
		for _, lang := range []string{"zh-TW", "en"} {
			b.Run(cases+"/"+lang, func(b *testing.B) {
				eng, svc := benchEngine(b)
				if cases == "engine" {
					var err error
					eng, err = dialog.New(dialog.Config{Cases: &recordedCases{Service: svc}, NLU: benchNLU(b), Location: benchAt.Location()})
					if err != nil {
						b.Fatal(err)
					}
				}
				benchClaims(b, eng, lang)
			})
		}
	}
}

func benchClaims(b *testing.B, eng *dialog.Engine, lang string) {
	ctx := context.Background()
	turns, convs := 0, 0
	b.ReportAllocs()
	for b.Loop() {
		convs++
		conv := fmt.Sprintf("bench-%s-%d", lang, convs)
		in := dialog.Input{Conversation: conv, Channel: "webchat", Contact: conv, Event: dialog.EventStart, Lang: lang, At: benchAt}
		var state []byte
		for seq := int64(1); ; seq++ {
			st, replies, err := eng.Turn(ctx, state, in)
			if err != nil || len(replies) == 0 {
				b.Fatalf("turn %d: %v %v", seq, err, replies)
			}
			state = st
			turns++
			last := replies[len(replies)-1]
			if strings.Contains(last.Text, "CLM-") {
				break
			}
			if seq > 30 {
				b.Fatalf("no case after %d turns; last reply %q", seq, last.Text)
			}
			in = dialog.Input{Conversation: conv, Channel: "webchat", Contact: conv, Seq: seq, Lang: lang, At: benchAt}
			in.Text, in.Action = answerFor(b, lang, last)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(turns), "ns/turn")
	b.ReportMetric(float64(turns)/float64(convs), "turns/claim")
}

// recordedCases is the SQLite case service with its answers remembered: a policy and the emergency
// are read once, and the first case filed of each claim type is returned again instead of filing
// another. Only for measuring the engine without the store's cost.
type recordedCases struct {
	*sqlite.Service
	mu       sync.Mutex
	policies map[string]*casesvc.Policy
	filed    map[string]*casesvc.Case
	// emergency is the declared disaster event, read once.
	emergency     *casesvc.Emergency
	emergencyRead bool
}

func (r *recordedCases) Policy(ctx context.Context, number string) (*casesvc.Policy, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.policies[number]; ok {
		return p, nil
	}
	p, err := r.Service.Policy(ctx, number)
	if err == nil {
		if r.policies == nil {
			r.policies = map[string]*casesvc.Policy{}
		}
		r.policies[number] = p
	}
	return p, err
}

func (r *recordedCases) CurrentEmergency(ctx context.Context) (*casesvc.Emergency, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.emergencyRead {
		em, err := r.Service.CurrentEmergency(ctx)
		if err != nil {
			return nil, err
		}
		r.emergency, r.emergencyRead = em, true
	}
	return r.emergency, nil
}

func (r *recordedCases) CreateCase(ctx context.Context, nc casesvc.NewCase) (*casesvc.Case, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.filed[nc.ClaimType]; ok {
		return c, nil
	}
	c, err := r.Service.CreateCase(ctx, nc)
	if err == nil {
		if r.filed == nil {
			r.filed = map[string]*casesvc.Case{}
		}
		r.filed[nc.ClaimType] = c
	}
	return c, err
}

func answerFor(b testing.TB, lang string, r dialog.Reply) (text, action string) {
	for _, a := range claimAnswers[lang] {
		if !strings.Contains(r.Text, a[0]) {
			continue
		}
		if a[2] == "" {
			return a[1], ""
		}
		for _, bt := range r.Buttons {
			if bt.Value == a[2] {
				return "", a[2]
			}
		}
	}
	b.Fatalf("no answer for %q (buttons %v)", r.Text, r.Buttons)
	return "", ""
}
