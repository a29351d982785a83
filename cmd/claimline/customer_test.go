package main

import (
	"strings"
	"testing"
)

// customer plays a customer filing a claim: it reads the bot's last message and answers the question
// asked, the way a person would, so the end-to-end tests do not depend on the order of the questions.
type customer struct {
	t       *testing.T
	answers []answer // first match wins
	turns   int
}

// answer is a reply for a bot message that contains any of its cues: text to type, or the value of a
// button to press.
type answer struct {
	cues   []string
	text   string
	button string // a button value, or a prefix of one ("type:")
}

// reply returns what the customer types or presses after the bot said text with buttons.
func (c *customer) reply(text string, buttons []wireButton) (typed, pressed string) {
	c.t.Helper()
	c.turns++
	if c.turns > 30 {
		c.t.Fatalf("the conversation does not end; last bot message: %q", text)
	}
	for _, a := range c.answers {
		for _, cue := range a.cues {
			if !strings.Contains(text, cue) {
				continue
			}
			if a.button == "" {
				return a.text, ""
			}
			for _, b := range buttons {
				if b.Value == a.button {
					return "", b.Value
				}
			}
			c.t.Fatalf("bot asked %q but offered no button %q: %v", text, a.button, buttons)
		}
	}
	c.t.Fatalf("the customer does not know how to answer %q (buttons %v)", text, buttons)
	return "", ""
}

type wireButton struct {
	Label string `json:"label"`
	Value string `json:"value"`
}

// zhMedicalCustomer files a medical claim on the demo policy HL20240017 in Traditional Chinese.
func zhMedicalCustomer(t *testing.T) *customer {
	return &customer{t: t, answers: []answer{
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
}

// enMotorCustomer files a motor claim on the demo policy MT20250088 in English.
func enMotorCustomer(t *testing.T) *customer {
	return &customer{t: t, answers: []answer{
		{cues: []string{"Please check these details"}, button: "confirm"},
		{cues: []string{"policy number"}, text: "MT20250088"},
		{cues: []string{"national ID"}, text: "F128765439"},
		{cues: []string{"date of birth"}, text: "1990-07-15"},
		{cues: []string{"What kind of claim"}, button: "type:motor"},
		{cues: []string{"When did", "when did"}, text: "November 21, 2026 at 6pm"},
		{cues: []string{"Where", "where"}, text: "Zhongshan Road near Minquan"},
		{cues: []string{"describe"}, text: "Rear bumper and trunk lid damaged, repair estimate about NT$40,000"},
		{cues: []string{"cause", "Cause", "How did"}, text: "Rear-ended by a taxi at a red light"},
		{cues: []string{"plate"}, text: "ABC-1234"},
		{cues: []string{"estimated amount", "how much", "How much"}, text: "40000"},
		{cues: []string{"How can I help"}, button: "file_claim"},
	}}
}
