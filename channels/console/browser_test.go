package console_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"claimline/casesvc"

	"claimline/internal/browsertest"
)

// TestBrowserHandoff: a customer in the widget asks for a person, an agent in the console accepts
// and replies, the customer sees the reply, the agent ends. Two headless Chromium pages.
func TestBrowserHandoff(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test")
	}
	e := newEnv(t, t.TempDir())
	customer := browsertest.New(t, 420, 760)
	agent := browsertest.New(t, 1400, 860)

	// The customer opens the widget and presses the menu's 真人客服 button.
	do(t, customer, chromedp.Navigate(e.srv.URL+"/"))
	waitJS(t, customer, "menu button", `!!document.querySelector('button[data-value="human_agent"]')`)
	do(t, customer, chromedp.Click(chromedp.CSS(`button[data-value="human_agent"]`)))
	waitJS(t, customer, "queued banner", `(document.querySelector('#handoff[data-state="queued"]')||{textContent:''}).textContent.indexOf('第 1 位') >= 0`)
	browsertest.Screenshot(t, customer, "handoff-1-customer-queued.png")

	// The agent signs in, sees the queue, accepts.
	do(t, agent, chromedp.Navigate(e.srv.URL+"/console/"))
	waitJS(t, agent, "sign-in form", `!!document.getElementById('token')`)
	do(t, agent, chromedp.SetValue(chromedp.CSS(`#token`), staff[0].Token), chromedp.Click(chromedp.CSS(`#signin-btn`)))
	waitJS(t, agent, "queue item", `!!document.querySelector('#queue .queue-item button.accept')`)
	browsertest.Screenshot(t, agent, "handoff-2-console-queue.png")
	do(t, agent, chromedp.Click(chromedp.CSS(`#queue .queue-item button.accept`)))
	waitJS(t, agent, "transcript", `document.querySelectorAll('#transcript .msg.customer').length > 0`)
	waitJS(t, agent, "canned replies", `document.querySelectorAll('#canned .canned-reply').length > 0`)
	do(t, agent, chromedp.SetValue(chromedp.CSS(`#reply-input`), "您好，我是專員，請問需要什麼協助？"),
		chromedp.Click(chromedp.CSS(`#send`)))
	waitJS(t, agent, "own reply", `document.querySelectorAll('#transcript .msg.agent').length > 0`)

	// The customer sees the agent join and the reply, and answers.
	waitJS(t, customer, "assigned banner", `!!document.querySelector('#handoff[data-state="assigned"]')`)
	waitJS(t, customer, "agent reply", `Array.from(document.querySelectorAll('.msg.agent')).some(function(m){return m.textContent.indexOf('請問需要什麼協助') >= 0})`)
	do(t, customer, chromedp.SetValue(chromedp.CSS(`#input`), "我想問理賠進度"), chromedp.Click(chromedp.CSS(`#send`)))
	browsertest.Screenshot(t, customer, "handoff-3-customer-agent-reply.png")
	waitJS(t, agent, "customer answer", `document.getElementById('transcript').textContent.indexOf('我想問理賠進度') >= 0`)
	browsertest.Screenshot(t, agent, "handoff-4-console-chat.png")

	// The agent ends: the customer is told and the bot is back.
	do(t, agent, chromedp.Click(chromedp.CSS(`#end-btn`)))
	waitJS(t, agent, "chat closed", `document.querySelectorAll('#chats .chat-item').length === 0`)
	waitJS(t, customer, "ended", `document.getElementById('messages').textContent.indexOf('已結束對話') >= 0`)
	// The rating question comes from the dialog's handback turn, when the dialog asks it.
	time.Sleep(300 * time.Millisecond)
	browsertest.Screenshot(t, customer, "handoff-5-customer-ended.png")

	// A supervisor opens the quality tab: figures, a sample, a transcript, a review.
	sup := browsertest.New(t, 1400, 900)
	do(t, sup, chromedp.Navigate(e.srv.URL+"/console/"))
	waitJS(t, sup, "sign-in form", `!!document.getElementById('token')`)
	do(t, sup, chromedp.SetValue(chromedp.CSS(`#token`), staff[2].Token), chromedp.Click(chromedp.CSS(`#signin-btn`)))
	waitJS(t, sup, "quality tab", `!document.getElementById('tab-quality').hidden`)
	do(t, sup, chromedp.Click(chromedp.CSS(`#tab-quality`)))
	waitJS(t, sup, "agent figures", `!!document.querySelector('#q-agents tr.q-agent[data-agent="alice"]')`)
	waitJS(t, sup, "bot figures", `(document.getElementById('q-bot-conversations')||{textContent:''}).textContent === '1'`)
	do(t, sup, chromedp.Click(chromedp.CSS(`#q-sample-btn`)))
	waitJS(t, sup, "sampled", `document.querySelectorAll('#q-sample li.q-sampled').length === 1`)
	do(t, sup, chromedp.Click(chromedp.CSS(`#q-sample li.q-sampled`)))
	waitJS(t, sup, "transcript", `document.getElementById('q-transcript').textContent.indexOf('我想問理賠進度') >= 0`)
	do(t, sup, chromedp.SetValue(chromedp.CSS(`#q-note`), "回覆親切"), chromedp.Click(chromedp.CSS(`#q-submit`)))
	waitJS(t, sup, "reviewed", `!!document.querySelector('#q-review-status[data-review]')`)

	// A mass-complaint alert arrives at once, as a banner the supervisor acknowledges.
	for i := range 3 {
		if _, err := e.cases.CreateComplaint(context.Background(), casesvc.NewComplaint{IdempotencyKey: "b-" + itoa(i),
			Category: casesvc.CategoryDelay, Description: "理賠拖太久了", PolicyNumber: "HL20240017", Channel: "rest",
			Complainant: casesvc.Person{Name: "王小明"}}); err != nil {
			t.Fatal(err)
		}
	}
	waitJS(t, sup, "alert banner", `!!document.querySelector('#alerts .alert-banner[data-kind="mass_complaint"]')`)
	browsertest.Screenshot(t, sup, "quality-1-supervisor-tab-alert.png")
	do(t, sup, chromedp.Click(chromedp.CSS(`#alerts .alert-banner button.alert-ack`)))
	waitJS(t, sup, "alert acknowledged", `document.querySelectorAll('#alerts .alert-banner').length === 0`)
	browsertest.Screenshot(t, sup, "quality-2-reviewed.png")
}

func do(t *testing.T, ctx context.Context, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatal(err)
	}
}

// waitJS polls a JavaScript expression until it is true.
func waitJS(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			dump, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`))
			t.Fatalf("%s: timed out; page shows:\n%s", what, strings.TrimSpace(dump))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
