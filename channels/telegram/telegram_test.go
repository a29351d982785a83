package telegram

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"claimline/channels"
)

var caseIDPattern = regexp.MustCompile(`CLM-\d{8}-\d{6}`)

// answer is what the customer does when the bot's last message contains one of cues: type text, or
// press the button with value button.
type answer struct {
	cues   []string
	text   string
	button string
}

var zhMedical = []answer{
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
}

func flatten(rows [][]channels.Button) []channels.Button {
	var out []channels.Button
	for _, r := range rows {
		out = append(out, r...)
	}
	return out
}

// TestClaimOverTelegram files a claim end to end over the webhook: the greeting, the menu pressed as a
// callback query, the identity questions typed, the read-back confirmed with a button, and the case id
// sent with sendMessage; then a photo sent as a document reaches the conversation as an attachment.
func TestClaimOverTelegram(t *testing.T) {
	e := newEnv(t)
	const chat = int64(881234567)
	ctx := context.Background()

	e.postOK(textUpdate(e.id(), chat, "zh-hant", "/start"))
	e.settle(chat)
	if msgs := e.tg.sentTo(chat); len(msgs) == 0 {
		t.Fatal("no greeting after /start")
	}
	if in := inbound(e.messages(chat)); len(in) != 0 {
		t.Fatalf("/start of a new chat is the opening turn, not a stored message: %+v", in)
	}

	seen, presses := 0, 0
	var caseID string
	for turn := 0; caseID == ""; turn++ {
		if turn > 30 {
			t.Fatal("the conversation does not end")
		}
		sent := e.tg.sentTo(chat)
		fresh := sent[seen:]
		seen = len(sent)
		if len(fresh) == 0 {
			t.Fatalf("the bot said nothing after turn %d", turn)
		}
		for _, m := range fresh {
			if m.ParseMode != "" {
				t.Errorf("parse_mode %q: replies are plain text", m.ParseMode)
			}
			if id := caseIDPattern.FindString(m.Text); id != "" {
				caseID = id
			}
		}
		if caseID != "" {
			break
		}
		last := fresh[len(fresh)-1]
		text, button := reply(t, last.Text, flatten(last.Buttons))
		if button != "" {
			// The message carrying the button (the last one with a keyboard).
			with := last
			for _, m := range fresh {
				for _, b := range flatten(m.Buttons) {
					if b.Value == button {
						with = m
					}
				}
			}
			e.postOK(callbackUpdate(e.id(), chat, "zh-hant", with, button))
			presses++
		} else {
			e.postOK(textUpdate(e.id(), chat, "zh-hant", text))
		}
		e.settle(chat)
	}

	c, err := e.cases.Case(ctx, caseID)
	if err != nil {
		t.Fatalf("case %s: %v", caseID, err)
	}
	if c.Channel != channels.ChannelTelegram || c.PolicyNumber != "HL20240017" {
		t.Errorf("case channel %q policy %q", c.Channel, c.PolicyNumber)
	}
	_, _, _, callbacks := e.tg.snapshot()
	if presses == 0 || len(callbacks) != presses {
		t.Errorf("%d buttons pressed, %d callback queries answered", presses, len(callbacks))
	}
	// A pressed button is stored with its value as the action and its label as the text.
	var actions int
	for _, m := range inbound(e.messages(chat)) {
		if m.Action != "" {
			actions++
			if m.Text == "" {
				t.Errorf("pressed %q stored without its label", m.Action)
			}
		}
		if !strings.HasPrefix(m.ClientID, "tg:") {
			t.Errorf("client id %q", m.ClientID)
		}
	}
	if actions != presses {
		t.Errorf("%d presses, %d actions stored", presses, actions)
	}

	// The receipt, photographed and sent as a file (a document), with a caption.
	receipt := testJPEG(t, 64, 48, 200)
	e.tg.addFile("BQACAgUAAxkBAAIreceipt", "documents/file_12.jpg", len(receipt), receipt)
	before := len(e.tg.sentTo(chat))
	e.postOK(documentUpdate(e.id(), chat, "zh-hant", "BQACAgUAAxkBAAIreceipt", "醫療收據.jpg", "image/jpeg", len(receipt), "醫療費用收據"))
	e.settle(chat)
	in := inbound(e.messages(chat))
	last := in[len(in)-1]
	if len(last.Attachments) != 1 {
		t.Fatalf("the document did not arrive as an attachment: %+v", last)
	}
	a := last.Attachments[0]
	if a.ContentType != "image/jpeg" || a.Size != int64(len(receipt)) || a.Filename != "醫療收據.jpg" || a.BlobRef == "" || a.SHA256 != a.BlobRef || last.Text != "醫療費用收據" {
		t.Errorf("attachment %+v, text %q", a, last.Text)
	}
	rc, err := e.docs.Open(a.BlobRef)
	if err != nil {
		t.Fatalf("the document's bytes are not stored: %v", err)
	}
	rc.Close()
	if after := e.tg.sentTo(chat)[before:]; len(after) > 0 {
		t.Logf("the dialog answered the document: %q", after[len(after)-1].Text)
	}
}

// reply is the customer: the answer for the first cue found in the bot's text.
func reply(t *testing.T, text string, buttons []channels.Button) (typed, pressed string) {
	t.Helper()
	for _, a := range zhMedical {
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
			t.Fatalf("bot asked %q but offered no button %q: %v", text, a.button, buttons)
		}
	}
	t.Fatalf("the customer does not know how to answer %q (buttons %v)", text, buttons)
	return "", ""
}

// TestPhotoLargestSize: a photo is taken in its largest size, named by its type, caption as text.
func TestPhotoLargestSize(t *testing.T) {
	e := newEnv(t)
	const chat = int64(5550001)
	small, large := testJPEG(t, 9, 7, 10), testJPEG(t, 128, 96, 90)
	e.tg.addFile("AgACsmall", "photos/file_1.jpg", len(small), small)
	e.tg.addFile("AgAClarge", "photos/file_2.jpg", len(large), large)
	e.postOK(photoUpdate(e.id(), chat, "en", "AgACsmall", "AgAClarge", len(small), len(large), ""))
	e.settle(chat)
	in := inbound(e.messages(chat))
	if len(in) != 1 || len(in[0].Attachments) != 1 {
		t.Fatalf("stored %+v", in)
	}
	if a := in[0].Attachments[0]; a.Size != int64(len(large)) || a.Filename != "photo.jpg" || a.ContentType != "image/jpeg" {
		t.Errorf("attachment %+v", a)
	}
}

// TestWebhookSecret: a missing or wrong secret is 401 and nothing is stored or answered.
func TestWebhookSecret(t *testing.T) {
	e := newEnv(t)
	const chat = int64(4440001)
	for name, secret := range map[string]string{"missing": "", "wrong": "s3cret-Webhook_tokeN", "prefix": testSecret[:5]} {
		if code := e.post(textUpdate(e.id(), chat, "zh-hant", "你好"), secret); code != http.StatusUnauthorized {
			t.Errorf("%s secret: %d, want 401", name, code)
		}
	}
	time.Sleep(200 * time.Millisecond)
	if msgs := e.messages(chat); msgs != nil {
		t.Errorf("stored with a bad secret: %+v", msgs)
	}
	if sent := e.tg.sentTo(chat); len(sent) != 0 {
		t.Errorf("answered with a bad secret: %+v", sent)
	}
	// Bad bodies, with the right secret.
	if code := e.post(`{"update_id":`, testSecret); code != http.StatusBadRequest {
		t.Errorf("broken JSON: %d, want 400", code)
	}
	if code := e.post(`{"update_id":12,"message":{"text":"`+strings.Repeat("x", 1<<20)+`"}}`, testSecret); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a body over 1 MiB: %d, want 413", code)
	}
}

// TestReplayedUpdate: Telegram sends the same update again (our 200 got lost): stored and answered once.
func TestReplayedUpdate(t *testing.T) {
	e := newEnv(t)
	const chat = int64(3330001)
	u := textUpdate(e.id(), chat, "zh-hant", "你好")
	e.postOK(u)
	e.settle(chat)
	sent := len(e.tg.sentTo(chat))
	e.postOK(u)
	e.postOK(u)
	e.settle(chat)
	time.Sleep(300 * time.Millisecond)
	if in := inbound(e.messages(chat)); len(in) != 1 {
		t.Errorf("stored %d times", len(in))
	}
	if now := len(e.tg.sentTo(chat)); now != sent {
		t.Errorf("answered again: %d messages, then %d", sent, now)
	}
	// An edited message is a new message of its own update.
	e.postOK(editedUpdate(e.id(), 1, chat, "zh-hant", "我要申請理賠"))
	e.settle(chat)
	in := inbound(e.messages(chat))
	if len(in) != 2 || in[1].Text != "我要申請理賠" {
		t.Errorf("edited message: %+v", in)
	}
}

// TestUnsupportedKinds: stickers, locations and voice get a polite answer in the customer's language;
// nothing is stored, and a repeated update is answered once.
func TestUnsupportedKinds(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		chat   int64
		update func(id int) string
		want   string
	}{
		{2220001, func(id int) string { return stickerUpdate(id, 2220001, "zh-hant") }, "貼圖"},
		{2220002, func(id int) string { return locationUpdate(id, 2220002, "en") }, "can't read this kind of message"},
		{2220003, func(id int) string { return voiceUpdate(id, 2220003, "zh-TW") }, "請用文字"},
		{2220004, func(id int) string { return stickerUpdate(id, 2220004, "") }, "貼圖"}, // no hint: zh-TW
	}
	for _, c := range cases {
		u := c.update(e.id())
		e.postOK(u)
		e.postOK(u) // replayed
		sent := e.tg.sentTo(c.chat)
		if len(sent) != 1 || !strings.Contains(sent[0].Text, c.want) {
			t.Errorf("chat %d: answered %+v, want once with %q", c.chat, sent, c.want)
		}
		if msgs := e.messages(c.chat); msgs != nil {
			t.Errorf("chat %d: stored %+v", c.chat, msgs)
		}
	}
	// A group is not served at all.
	group := strings.Replace(textUpdate(e.id(), -1001234, "zh-hant", "你好"), `"type":"private"`, `"type":"supergroup"`, 1)
	e.postOK(group)
	if len(e.tg.sentTo(-1001234)) != 0 || e.messages(-1001234) != nil {
		t.Error("a group message was served")
	}
}

// TestLargeFileRefused: a 25 MB file is refused politely (Telegram's getFile limit is 20 MB), nothing
// stored: announced in the message, reported by getFile only, or found while downloading.
func TestLargeFileRefused(t *testing.T) {
	e := newEnv(t)
	const chat = int64(6660001)
	const mb25 = 25 << 20

	e.postOK(documentUpdate(e.id(), chat, "zh-hant", "BQACbig", "病歷.pdf", "application/pdf", mb25, ""))
	// getFile says it is too big (the message did not say the size).
	e.tg.addFile("BQACbig2", "documents/file_99.pdf", mb25, nil)
	e.postOK(documentUpdate(e.id(), chat, "en", "BQACbig2", "record.pdf", "application/pdf", 0, ""))
	// Both under the limit as announced, but the download is longer than 20 MB.
	big := append(testJPEG(t, 8, 8, 1), make([]byte, 21<<20)...)
	e.tg.addFile("BQAClies", "documents/file_100.jpg", 1000, big)
	e.postOK(documentUpdate(e.id(), chat, "zh-hant", "BQAClies", "x.jpg", "image/jpeg", 1000, ""))

	sent := e.tg.sentTo(chat)
	if len(sent) != 3 || !strings.Contains(sent[0].Text, "20 MB") || !strings.Contains(sent[1].Text, "larger than 20 MB") || !strings.Contains(sent[2].Text, "20 MB") {
		t.Errorf("answers %+v", sent)
	}
	if msgs := e.messages(chat); msgs != nil {
		t.Errorf("stored %+v", msgs)
	}
	e.tg.mu.Lock()
	getFiles := e.tg.getFiles
	e.tg.mu.Unlock()
	if getFiles != 2 {
		t.Errorf("getFile called %d times; the first file's announced size should have spared the call", getFiles)
	}
	// Nothing left in the blob store either.
	if n := countBlobs(t, e.dir+"/documents"); n != 0 {
		t.Errorf("%d files in the blob store", n)
	}

	// A text file is not a claim document.
	e.tg.addFile("BQACtxt", "documents/file_5.txt", 12, []byte("hello world\n"))
	e.postOK(documentUpdate(e.id(), chat, "en", "BQACtxt", "notes.txt", "text/plain", 12, ""))
	sent = e.tg.sentTo(chat)
	if len(sent) != 4 || !strings.Contains(sent[3].Text, "JPEG, PNG or HEIC") {
		t.Errorf("answer to a text file: %+v", sent[len(sent)-1])
	}
}

// TestRateLimitOneChat: a 429 with retry_after on one chat delays that chat only.
func TestRateLimitOneChat(t *testing.T) {
	e := newEnv(t)
	const slow, fast = int64(7770001), int64(7770002)
	e.tg.mu.Lock()
	e.tg.tooMany[strconv.FormatInt(slow, 10)] = 1
	e.tg.mu.Unlock()

	start := time.Now()
	e.postOK(textUpdate(e.id(), slow, "zh-hant", "你好"))
	e.postOK(textUpdate(e.id(), fast, "zh-hant", "你好"))
	e.settle(fast)
	fastDone := time.Now()
	e.settle(slow)
	slowSent, fastSent := e.tg.sentTo(slow), e.tg.sentTo(fast)
	if len(slowSent) == 0 || len(fastSent) == 0 {
		t.Fatal("nothing sent")
	}
	if d := fastDone.Sub(start); d > 900*time.Millisecond {
		t.Errorf("the other chat waited %v", d)
	}
	if first := slowSent[0].At.Sub(start); first < time.Second {
		t.Errorf("the limited chat was sent to %v after its 429, before retry_after (1s)", first)
	}
	if !fastSent[len(fastSent)-1].At.Before(slowSent[0].At) {
		t.Error("the other chat's replies did not go first")
	}
	// Nothing lost, nothing twice: the same replies in both chats.
	if len(slowSent) != len(fastSent) {
		t.Errorf("%d replies to the limited chat, %d to the other", len(slowSent), len(fastSent))
	}
}

// TestSendErrors: the classification the outbox acts on.
func TestSendErrors(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	conv := func(chat int64) *channels.Conversation {
		return &channels.Conversation{ID: "c", Channel: channels.ChannelTelegram, Contact: strconv.FormatInt(chat, 10)}
	}
	e.tg.mu.Lock()
	e.tg.tooMany["1001"] = 1
	e.tg.blocked["1002"] = true
	e.tg.mu.Unlock()

	_, err := e.adapter.Send(ctx, conv(1001), channels.Message{Text: "hi"})
	var de *channels.DeliveryError
	if !errors.As(err, &de) || !de.Retry || de.After != time.Second || de.Code != "429" {
		t.Errorf("429: %#v", err)
	}
	_, err = e.adapter.Send(ctx, conv(1002), channels.Message{Text: "hi"})
	if !errors.As(err, &de) || !de.Permanent || de.Code != "blocked" {
		t.Errorf("403: %#v", err)
	}
	_, err = e.adapter.Send(ctx, conv(1003), channels.Message{Text: " "})
	if err != nil {
		t.Errorf("an empty message: %v", err)
	}
	// A server gone: retried.
	down, err := New(Config{Token: testToken, APIBase: e.tg.URL(), Mode: ModePoll, Router: e.router, Logger: e.adapter.log})
	if err != nil {
		t.Fatal(err)
	}
	down.apiBase = "http://127.0.0.1:1"
	down.bot.SetAPIEndpoint("http://127.0.0.1:1/bot%s/%s")
	_, err = down.Send(ctx, conv(1003), channels.Message{Text: "hi"})
	if !errors.As(err, &de) || !de.Retry || de.Permanent {
		t.Errorf("network: %#v", err)
	}
	if strings.Contains(err.Error(), testToken) {
		t.Errorf("the error shows the token: %v", err)
	}
	// Success returns the message_id.
	id, err := e.adapter.Send(ctx, conv(1004), channels.Message{Text: "hi"})
	if err != nil || id != strconv.Itoa(e.tg.sentTo(1004)[0].MessageID) {
		t.Errorf("provider id %q, %v", id, err)
	}
}

// TestRenderAndKeyboard: long texts split at 4096, plain text (no escaping needed), buttons as an
// inline keyboard, two per row when short, and a too-long value falls back to numbered text.
func TestRenderAndKeyboard(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	conv := &channels.Conversation{ID: "c", Channel: channels.ChannelTelegram, Contact: "9001"}
	long := strings.Repeat("理賠說明第一段。\n", 700) // 6300 runes
	parts := channels.Render(channels.Message{Text: long, Buttons: []channels.Button{{Label: "是", Value: "yes"}, {Label: "否", Value: "no"}}}, e.adapter.Capabilities())
	for _, p := range parts {
		if _, err := e.adapter.Send(ctx, conv, p); err != nil {
			t.Fatal(err)
		}
	}
	sent := e.tg.sentTo(9001)
	if len(sent) != 2 {
		t.Fatalf("%d messages for 6300 characters", len(sent))
	}
	for _, m := range sent {
		if n := utf8.RuneCountInString(m.Text); n > MaxText {
			t.Errorf("a part of %d characters", n)
		}
	}
	if sent[0].Markup != "" || len(sent[1].Buttons) != 1 || len(sent[1].Buttons[0]) != 2 {
		t.Errorf("buttons on the last part, two short ones in a row: %q / %+v", sent[0].Markup, sent[1].Buttons)
	}

	markup := "王_小明 *保單* <b>HL20240017</b> [x](y)"
	if _, err := e.adapter.Send(ctx, conv, channels.Message{Text: markup, Buttons: []channels.Button{
		{Label: "我要申請理賠（住院、門診、意外）", Value: "file_claim"}, {Label: "查詢進度", Value: "check_progress"}}}); err != nil {
		t.Fatal(err)
	}
	m := e.tg.sentTo(9001)[2]
	if m.Text != markup || m.ParseMode != "" {
		t.Errorf("text %q parse_mode %q", m.Text, m.ParseMode)
	}
	if len(m.Buttons) != 2 || len(m.Buttons[0]) != 1 {
		t.Errorf("long labels: one per row, got %+v", m.Buttons)
	}

	if _, err := e.adapter.Send(ctx, conv, channels.Message{Text: "選擇", Buttons: []channels.Button{
		{Label: "甲", Value: strings.Repeat("v", 65)}, {Label: "乙", Value: "b"}}}); err != nil {
		t.Fatal(err)
	}
	m = e.tg.sentTo(9001)[3]
	if m.Markup != "" || m.Text != "選擇\n1. 甲\n2. 乙" {
		t.Errorf("fallback: %q markup %q", m.Text, m.Markup)
	}
}
