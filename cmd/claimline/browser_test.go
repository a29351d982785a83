package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"claimline/internal/browsertest"
)

// The browser tests drive the widget of a real claimline process in headless Chromium.

// widget drives the chat page.
type widget struct {
	t   *testing.T
	ctx context.Context
}

// botTexts returns the text of every bot bubble so far.
func (w *widget) botTexts() []string {
	texts, err := chromedp.Run(w.ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('#messages .msg.bot')).map(e => e.textContent)`))
	if err != nil {
		w.t.Fatal(err)
	}
	return texts
}

// waitBot waits until a bot bubble after the first `after` ones contains every substring, and returns it.
func (w *widget) waitBot(after int, subs ...string) (string, int) {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		texts := w.botTexts()
		for i := after; i < len(texts); i++ {
			if containsAll(texts[i], subs...) {
				return texts[i], i + 1
			}
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no bot message with %q after #%d; bot said:\n%s", subs, after, strings.Join(texts, "\n---\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// say types text into the input and presses the send button.
func (w *widget) say(text string) {
	w.t.Helper()
	if err := chromedp.Do(w.ctx,
		chromedp.WaitVisible(chromedp.CSS(`#input`)),
		chromedp.SetValue(chromedp.CSS(`#input`), text),
		chromedp.Click(chromedp.CSS(`#send`)),
	); err != nil {
		w.t.Fatalf("say %q: %v", text, err)
	}
}

// press clicks the last visible button whose label contains label.
func (w *widget) press(label string) {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		js := fmt.Sprintf(`(() => { const bs = Array.from(document.querySelectorAll('#messages .buttons button'))
			.filter(b => !b.disabled && b.textContent.includes(%q)); if (!bs.length) return false; bs[bs.length-1].click(); return true })()`, label)
		ok, err := chromedp.Run(w.ctx, chromedp.Evaluate[bool](js))
		if err != nil {
			w.t.Fatal(err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no button %q; bot said:\n%s", label, strings.Join(w.botTexts(), "\n---\n"))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (w *widget) screenshot(name string) {
	w.t.Helper()
	browsertest.Screenshot(w.t, w.ctx, name)
}

// lastBot returns the text of the last bot bubble and its live buttons.
func (w *widget) lastBot() (string, []wireButton, int) {
	w.t.Helper()
	type state struct {
		Text    string       `json:"text"`
		Buttons []wireButton `json:"buttons"`
		Count   int          `json:"count"`
	}
	s, err := chromedp.Run(w.ctx, chromedp.Evaluate[state](`(() => {
		const all = document.querySelectorAll('#messages .msg.bot');
		if (!all.length) return {text: "", buttons: [], count: 0};
		const last = all[all.length - 1];
		const buttons = Array.from(last.querySelectorAll('.buttons button:not([disabled])'))
			.map(b => ({label: b.textContent, value: b.getAttribute('data-value')}));
		return {text: last.querySelector('.bubble').textContent, buttons, count: all.length};
	})()`))
	if err != nil {
		w.t.Fatal(err)
	}
	return s.Text, s.Buttons, s.Count
}

// pressValue clicks the live button with this value.
func (w *widget) pressValue(value string) {
	w.t.Helper()
	js := fmt.Sprintf(`(() => { const b = Array.from(document.querySelectorAll('#messages .buttons button:not([disabled])'))
		.find(b => b.getAttribute('data-value') === %q); if (!b) return false; b.click(); return true })()`, value)
	ok, err := chromedp.Run(w.ctx, chromedp.Evaluate[bool](js))
	if err != nil || !ok {
		w.t.Fatalf("press %q: ok=%v err=%v", value, ok, err)
	}
}

// waitNewBot waits until there are more than count bot bubbles and the newest is settled.
func (w *widget) waitNewBot(count int) {
	w.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, _, n := w.lastBot(); n > count {
			// Replies to one message can come as several bubbles; wait for the burst to end.
			time.Sleep(150 * time.Millisecond)
			if _, _, m := w.lastBot(); m == n {
				return
			}
			continue
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("no new bot message after #%d; bot said:\n%s", count, strings.Join(w.botTexts(), "\n---\n"))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestBrowserFilesClaim opens the widget of a real claimline process in headless Chromium, files a
// medical claim in Traditional Chinese by clicking and typing, and checks the case id it shows is the
// case the back office has. Screenshots are kept in artifacts/.
func TestBrowserFilesClaim(t *testing.T) {
	p := startProcess(t, t.TempDir())
	ctx := browsertest.New(t, 412, 915) // a phone
	if err := chromedp.Do(ctx, chromedp.Navigate(p.URL+"/")); err != nil {
		t.Fatal(err)
	}
	w := &widget{t: t, ctx: ctx}
	w.waitBot(0, "需要什麼協助")
	c := zhMedicalCustomer(t)
	var caseID string
	for caseID == "" {
		text, buttons, n := w.lastBot()
		if caseID = caseIDPattern.FindString(text); caseID != "" {
			break
		}
		typed, pressed := c.reply(text, buttons)
		if pressed != "" {
			w.pressValue(pressed)
		} else {
			w.say(typed)
		}
		w.waitNewBot(n)
		if strings.Contains(text, "請確認以下資料") {
			w.screenshot("widget-readback-phone.png")
		}
	}
	w.screenshot("widget-filed-phone.png")

	var got caseJSON
	if code := doJSON(t, "GET", p.URL+"/api/v1/cases/"+caseID, testSupervisorToken, nil, &got); code != 200 {
		t.Fatalf("the case the widget showed, %s, is not in the back office: %d", caseID, code)
	}
	if got.Channel != "webchat" || got.ClaimType != "medical" || got.Claimant.Name != "王小明" {
		t.Errorf("case %s = %+v", caseID, got)
	}
	// The customer's own words are shown as text, never as HTML.
	var customerBubbles []string
	customerBubbles, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll('#messages .msg.customer .bubble')).map(e => e.textContent)`))
	if err != nil || !containsAll(strings.Join(customerBubbles, "|"), "HL20240017", "A123456789") {
		t.Errorf("customer bubbles %v (%v)", customerBubbles, err)
	}
}
