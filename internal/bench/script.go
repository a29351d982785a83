package bench

import (
	"fmt"
	"regexp"
	"strings"
)

// The customer reads the bot's message and answers the question asked, the way a person does, so the
// load does not depend on the order of the questions (the approach of cmd/claimline's customer_test.go).

// maxTurnsPerClaim ends a conversation that does not reach a case id: it counts as an error.
const maxTurnsPerClaim = 40

var caseIDPattern = regexp.MustCompile(`CLM-\d{8}-\d{6}`)

// button is a choice as both channels send it.
type button struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// answer is a reply for a bot message containing any of its cues: text to type, or a button to press.
type answer struct {
	cues   []string
	text   string
	button string
}

// script is one customer's way through a claim in one language.
type script struct {
	lang    string
	opening string // the first thing typed on the REST channel (it has no hello)
	answers []answer
}

// zhMedical files a medical claim on the demo policy HL20240017 (casesvc/DEMO.md).
var zhMedical = script{lang: "zh-TW", opening: "你好", answers: []answer{
	{cues: []string{"請確認以下資料"}, button: "confirm"},
	{cues: []string{"保單號碼"}, text: "HL20240017"},
	{cues: []string{"身分證字號"}, text: "A123456789"},
	{cues: []string{"出生日期"}, text: "74/3/2"},
	{cues: []string{"哪一種理賠"}, button: "type:medical"},
	{cues: []string{"交通事故"}, button: "no"},
	{cues: []string{"什麼時候"}, text: "11月20日早上10點"},
	{cues: []string{"描述", "情形"}, text: "急性肺炎住院三天，醫療費用大約兩萬三千元"},
	{cues: []string{"哪裡", "醫院"}, text: "台大醫院"},
	{cues: []string{"原因", "病名"}, text: "急性肺炎"},
	{cues: []string{"金額"}, text: "23000"},
	{cues: []string{"需要什麼協助"}, button: "file_claim"},
}}

// enMotor files a motor claim on the demo policy MT20250088.
var enMotor = script{lang: "en", opening: "hello", answers: []answer{
	{cues: []string{"Please check these details"}, button: "confirm"},
	{cues: []string{"policy number"}, text: "MT20250088"},
	{cues: []string{"national ID"}, text: "F128765439"},
	{cues: []string{"date of birth"}, text: "1990-07-15"},
	{cues: []string{"What kind of claim"}, button: "type:motor"},
	{cues: []string{"When did", "when did"}, text: "November 21 at 6pm"},
	{cues: []string{"Where", "where"}, text: "Zhongshan Road near Minquan"},
	{cues: []string{"describe"}, text: "Rear bumper and trunk lid damaged, repair estimate about NT$40,000"},
	{cues: []string{"cause", "Cause", "How did"}, text: "Rear-ended by a taxi at a red light"},
	{cues: []string{"plate"}, text: "ABC-1234"},
	{cues: []string{"estimated amount", "how much", "How much"}, text: "40000"},
	{cues: []string{"How can I help"}, button: "file_claim"},
}}

func scriptFor(lang string) script {
	if lang == "en" {
		return enMotor
	}
	return zhMedical
}

// errUnknownQuestion is a bot message the script cannot answer.
type errUnknownQuestion struct {
	text    string
	buttons []button
}

func (e errUnknownQuestion) Error() string {
	t := e.text
	if r := []rune(t); len(r) > 80 {
		t = string(r[:80]) + "…"
	}
	return fmt.Sprintf("no answer for %q (buttons %v)", t, e.buttons)
}

// reply returns what the customer types or presses after the bot said text with buttons; ok is false
// when the message asks nothing the script knows (an informational message: wait for the next one).
func (s *script) reply(text string, buttons []button) (typed, pressed string, ok bool, err error) {
	for _, a := range s.answers {
		for _, cue := range a.cues {
			if !strings.Contains(text, cue) {
				continue
			}
			if a.button == "" {
				return a.text, "", true, nil
			}
			for _, b := range buttons {
				if b.Value == a.button {
					return "", b.Value, true, nil
				}
			}
			return "", "", false, errUnknownQuestion{text, buttons}
		}
	}
	return "", "", false, nil
}

// texts are every message the scripts type, for the parser measurement.
func scriptTexts() []string {
	var out []string
	for _, s := range []script{zhMedical, enMotor} {
		out = append(out, s.opening)
		for _, a := range s.answers {
			if a.text != "" {
				out = append(out, a.text)
			}
		}
	}
	return append(out, "你好，我昨天下午三點在忠孝東路出車禍，腳骨折住院",
		"my car was rear-ended yesterday at 6pm on Zhongshan Road", "English please")
}
