package channels

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Capabilities is what a channel can show.
type Capabilities struct {
	Buttons bool // tappable buttons; without them buttons become numbered choices
	MaxText int  // longest text of one message in characters (runes); 0 means no limit
}

// Render shapes an outbound message for a channel: without Buttons, the buttons become numbered
// choices appended to the text ("1. 確認送出\n2. 修改"); with MaxText, the text is split into parts at
// line breaks where possible. Buttons, when kept, ride on the last part. It always returns at least one
// message; each part keeps msg's seq and the rest of its fields.
func Render(msg Message, caps Capabilities) []Message {
	text := msg.Text
	buttons := msg.Buttons
	if !caps.Buttons && len(buttons) > 0 {
		var b strings.Builder
		b.WriteString(text)
		if text != "" {
			b.WriteString("\n")
		}
		for i, btn := range buttons {
			if i > 0 {
				b.WriteString("\n")
			}
			b.WriteString(strconv.Itoa(i + 1))
			b.WriteString(". ")
			b.WriteString(btn.Label)
		}
		text, buttons = b.String(), nil
	}
	parts := splitText(text, caps.MaxText)
	out := make([]Message, len(parts))
	for i, p := range parts {
		out[i] = msg
		out[i].Text = p
		out[i].Buttons = nil
	}
	out[len(out)-1].Buttons = buttons
	return out
}

// ChoiceFor is the hook for channels without buttons: a reply of "1", "2", ... (full-width digits
// too) selects that numbered choice of the last buttons shown, returning its value.
func ChoiceFor(buttons []Button, reply string) (value string, ok bool) {
	s := strings.TrimSpace(reply)
	s = strings.TrimSuffix(strings.TrimSuffix(s, "."), "。")
	s = strings.Map(func(r rune) rune {
		if r >= '０' && r <= '９' {
			return '0' + (r - '０')
		}
		return r
	}, s)
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > len(buttons) {
		return "", false
	}
	return buttons[n-1].Value, true
}

// splitText cuts text into parts of at most max runes, preferring to cut after a newline.
func splitText(text string, max int) []string {
	if max <= 0 || utf8.RuneCountInString(text) <= max {
		return []string{text}
	}
	var parts []string
	runes := []rune(text)
	for len(runes) > max {
		cut := max
		for i := max; i > max/2; i-- {
			if runes[i-1] == '\n' {
				cut = i
				break
			}
		}
		parts = append(parts, strings.TrimRight(string(runes[:cut]), "\n"))
		runes = runes[cut:]
	}
	if len(runes) > 0 {
		parts = append(parts, string(runes))
	}
	return parts
}
