package sms

import (
	"context"
	"crypto/rand"
	"encoding/xml"
	"errors"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode"

	"claimline/casesvc"
	"claimline/channels"
)

const (
	// maxWebhookBody bounds a webhook's form: an SMS body is at most 1600 characters and an MMS has
	// at most 10 media URLs; 64 KiB leaves room for every other field Twilio adds.
	maxWebhookBody = 64 << 10
	// ClientIDPrefix starts the ClientID of an inbound SMS: "sms:<MessageSid>".
	ClientIDPrefix = "sms:"
	webhookTimeout = 2 * time.Minute // media fetches included
	// choiceWindow is how many stored messages back the last offered choices are looked for.
	choiceWindow = 20
)

// verified parses the form of a Twilio webhook and checks X-Twilio-Signature against
// PublicURL + path (+ the query). It answers 400/403/413 itself and returns ok=false then.
func (a *Adapter) verified(w http.ResponseWriter, r *http.Request, path string) (map[string]string, bool) {
	r.Body = http.MaxBytesReader(w, r.Body, maxWebhookBody)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			twimlError(w, http.StatusRequestEntityTooLarge)
		} else {
			twimlError(w, http.StatusBadRequest)
		}
		return nil, false
	}
	// Twilio signs the first value of each field; a field sent twice is not Twilio's.
	params := make(map[string]string, len(r.PostForm))
	for k, v := range r.PostForm {
		if len(v) != 1 {
			twimlError(w, http.StatusForbidden)
			return nil, false
		}
		params[k] = v[0]
	}
	sig := r.Header.Get("X-Twilio-Signature")
	if sig == "" || !a.validSignature(path, r.URL.RawQuery, r.PostForm, sig) {
		a.log.Warn("sms webhook: bad signature", "path", path, "signed", sig != "")
		twimlError(w, http.StatusForbidden)
		return nil, false
	}
	return params, true
}

// handleInbound serves POST /sms/twilio: verify, handle keywords, fetch media, store through the
// router, and only then answer 200 with TwiML (empty: replies go through the Messages API).
func (a *Adapter) handleInbound(w http.ResponseWriter, r *http.Request) {
	p, ok := a.verified(w, r, PathInbound)
	if !ok {
		return
	}
	sid, from, body := p["MessageSid"], p["From"], p["Body"]
	if sid == "" {
		sid = p["SmsSid"] // older webhooks
	}
	if sid == "" || from == "" {
		twimlError(w, http.StatusBadRequest)
		return
	}
	// Twilio hangs up after 15s; a message whose media is still loading is stored all the same.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), webhookTimeout)
	defer cancel()

	conv, err := a.router.FindConversation(ctx, channels.ChannelSMS, from)
	if err != nil && casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		a.internalError(w, err, "find conversation")
		return
	}
	last := a.lastOutbound(ctx, conv)
	lang := "zh-TW" // langOf(nil)
	if last != nil {
		lang = last.lang
	}

	switch keyword(body, from) {
	case kwStop:
		if err := a.OptOut(ctx, from, strings.ToUpper(strings.TrimSpace(body))); err != nil {
			a.internalError(w, err, "opt out")
			return
		}
		a.log.Info("sms opt-out", "conversation", convID(conv), "keyword", strings.ToUpper(strings.TrimSpace(body)))
		a.twiml(w, from, stopText(lang))
		return
	case kwStart:
		out, err := a.OptedOut(ctx, from)
		if err != nil {
			a.internalError(w, err, "opt-out lookup")
			return
		}
		if out {
			if err := a.OptIn(ctx, from); err != nil {
				a.internalError(w, err, "opt in")
				return
			}
			a.log.Info("sms opt-in", "conversation", convID(conv))
			a.twiml(w, from, startText(lang))
			return
		}
		// Not opted out: an ordinary answer ("yes") for the dialog.
	case kwHelp:
		a.twiml(w, from, a.helpText(lang))
		return
	}

	atts, err := a.fetchMedia(ctx, p)
	if err != nil {
		// A transient failure of Twilio's media host: nothing stored, so Twilio's retry or fallback
		// URL can bring the message again (deduped by its MessageSid).
		a.log.Warn("sms media unavailable", "conversation", convID(conv), "code", errCode(err))
		twimlError(w, http.StatusServiceUnavailable)
		return
	}
	in := channels.Inbound{
		Channel: channels.ChannelSMS, Contact: from, ClientID: ClientIDPrefix + sid,
		Text: body, Attachments: atts, ReceivedAt: time.Now(),
	}
	if last != nil && len(last.buttons) > 0 && body != "" {
		if v, ok := choice(last.buttons, body); ok {
			in.Action = v
		}
	}
	if strings.TrimSpace(in.Text) == "" && len(atts) == 0 {
		// Nothing we can take (only refused media): acknowledged so Twilio does not retry, logged.
		a.log.Warn("sms message with nothing accepted", "conversation", convID(conv))
		a.twiml(w, from, "")
		return
	}
	// Stored, together with its turn when the conversation has nothing waiting (one write).
	st, err := a.router.ReceiveSoon(ctx, in)
	if err != nil {
		a.internalError(w, err, "receive")
		return
	}
	if msg := st.Msg; st.Dup {
		a.log.Info("sms duplicate webhook", "conversation", msg.Conversation, "seq", msg.Seq)
	} else {
		a.stored(msg.Conversation, msg.Seq, st.Replies)
	}
	a.twiml(w, from, "")
}

// handleStatus serves POST /sms/twilio/status: a delivery receipt for a message SID we sent.
func (a *Adapter) handleStatus(w http.ResponseWriter, r *http.Request) {
	p, ok := a.verified(w, r, PathStatus)
	if !ok {
		return
	}
	sid, status := p["MessageSid"], p["MessageStatus"]
	if sid == "" {
		sid = p["SmsSid"]
	}
	if status == "" {
		status = p["SmsStatus"]
	}
	if sid == "" || status == "" {
		twimlError(w, http.StatusBadRequest)
		return
	}
	st, known := receiptStatus(status)
	if !known {
		a.log.Info("sms status ignored", "status", safeToken(status))
		w.WriteHeader(http.StatusOK)
		return
	}
	if st == "" { // a status with no place in the order (receiving, received)
		w.WriteHeader(http.StatusOK)
		return
	}
	err := a.router.MarkDeliveryStatus(r.Context(), sid, st)
	switch code := casesvc.ErrorCode(err); {
	case err == nil:
	case code == casesvc.ENOTFOUND:
		// Twilio's callback can overtake the outbox's record of the SID it just got back; try again
		// shortly. Still 200: Twilio must not keep retrying.
		a.retryStatus(safeToken(sid), st)
	case code == casesvc.EINVALID:
		a.log.Info("sms status ignored", "status", st)
	default:
		a.log.Error("sms status", "code", code)
		twimlError(w, http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// retryStatus records an early callback a few times over ~30s, bounded in number, ended by Close.
func (a *Adapter) retryStatus(sid, status string) {
	select {
	case a.bgSlots <- struct{}{}:
	default:
		a.log.Warn("sms status for unknown message dropped", "status", status)
		return
	}
	a.bg.Add(1)
	go func() {
		defer a.bg.Done()
		defer func() { <-a.bgSlots }()
		for _, d := range []time.Duration{500 * time.Millisecond, 2 * time.Second, 5 * time.Second, 20 * time.Second} {
			t := time.NewTimer(d)
			select {
			case <-a.bgCtx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(a.bgCtx, 10*time.Second)
			err := a.router.MarkDeliveryStatus(ctx, sid, status)
			cancel()
			if casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
				return
			}
		}
		a.log.Info("sms status for unknown message", "status", status)
	}()
}

// receiptStatus maps Twilio's MessageStatus onto the outbox's receipt order; "" with known=true is a
// status that is not a delivery receipt.
func receiptStatus(s string) (status string, known bool) {
	switch s {
	case "accepted", "scheduled", "queued":
		return channels.ReceiptQueued, true
	case "sending":
		return channels.ReceiptSending, true
	case "sent":
		return channels.ReceiptSent, true
	case "delivered", "read":
		return channels.ReceiptDelivered, true
	case "undelivered":
		return channels.ReceiptUndelivered, true
	case "failed", "canceled":
		return channels.ReceiptFailed, true
	case "receiving", "received":
		return "", true
	}
	return "", false
}

// lastOutbound returns what the handler needs of the conversation's latest message to the customer
// within the last choiceWindow messages (its choices and language), or nil.
//
// It used to read the last choiceWindow messages on every inbound SMS. Stored messages never change
// and seqs have no gaps, so the answer as of seq L, with the answer as of an earlier seq L0, needs
// only the messages after L0: a.recent keeps, per conversation, the answer as of the last seq seen,
// and an inbound reads only what was stored since (usually the replies of the previous turn; nothing
// when the previous inbound's turn has not run yet). The answer is the same as reading the window.
func (a *Adapter) lastOutbound(ctx context.Context, conv *channels.Conversation) *offered {
	if conv == nil {
		return nil
	}
	last := conv.LastSeq
	from := max(0, last-choiceWindow) // the window is (from, last]
	known, ok := a.recent.get(conv.ID)
	if ok && known.seen <= last && known.seen >= from {
		if known.seen < last {
			msgs, err := a.router.MessagesAfter(ctx, conv.ID, known.seen, int(last-known.seen))
			if err != nil {
				return nil
			}
			known = known.after(msgs, last)
		}
	} else {
		msgs, err := a.router.MessagesAfter(ctx, conv.ID, from, choiceWindow)
		if err != nil {
			return nil
		}
		known = offered{}.after(msgs, last)
	}
	a.recent.put(conv.ID, known)
	if known.seq == 0 || known.seq <= from {
		return nil
	}
	return &known
}

// offered is the latest outbound message (seq, choices, language) as of seen; seq 0: none.
type offered struct {
	seen    int64
	seq     int64
	buttons []channels.Button
	lang    string
}

// after is o moved on by msgs (read after o.seen, in seq order) to seen.
func (o offered) after(msgs []channels.Message, seen int64) offered {
	for i := len(msgs) - 1; i >= 0; i-- {
		if m := msgs[i]; m.Direction == channels.DirOut && m.Seq <= seen {
			o = offered{seq: m.Seq, buttons: m.Buttons, lang: langOf(&m)}
			break
		}
	}
	o.seen = seen
	return o
}

// stored tells recent that the inbound just stored as seq follows what it knew (as of seq-1), so
// the next lookup need not read it again; when replies were stored with it (one write: seq+1 on,
// nothing between), the last one is the latest message to the customer, as when it is sent.
func (a *Adapter) stored(conversation string, seq int64, replies []channels.Message) {
	if len(replies) == 0 {
		a.recent.advance(conversation, seq-1, seq)
		return
	}
	a.recent.sent(conversation, replies[len(replies)-1])
}

// recentOffers is the per-conversation cache of lastOutbound, bounded: cleared when full (every
// entry can be read again).
type recentOffers struct {
	mu sync.Mutex
	m  map[string]offered
}

const recentMax = 50_000

func (c *recentOffers) get(id string) (offered, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.m[id]
	return o, ok
}

// put keeps the newest answer (concurrent webhooks of one conversation may finish out of order).
func (c *recentOffers) put(id string, o offered) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.m[id]; ok && old.seen >= o.seen {
		return
	}
	if c.m == nil || len(c.m) >= recentMax {
		c.m = make(map[string]offered)
	}
	c.m[id] = o
}

// advance moves the answer as of from on to seen when nothing outbound came between (from 0: a
// new conversation, nothing before).
func (c *recentOffers) advance(id string, from, seen int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	o, ok := c.m[id]
	switch {
	case ok && o.seen == from:
		o.seen = seen
	case !ok && from == 0:
		o = offered{seen: seen}
		if c.m == nil || len(c.m) >= recentMax {
			c.m = make(map[string]offered)
		}
	default:
		return
	}
	c.m[id] = o
}

// sent records the stored outbound message m (the outbox sends a conversation's messages in seq
// order, usually before its customer writes again, so the next inbound then reads nothing): as of
// m.Seq, m is the latest message to the customer, whatever came before it.
func (c *recentOffers) sent(id string, m channels.Message) {
	if m.Direction != channels.DirOut {
		return
	}
	c.put(id, offered{}.after([]channels.Message{m}, m.Seq))
}

// choice maps a reply to one of the offered buttons: its number ("1", "１") through
// channels.ChoiceFor, or its label typed out ("確認送出", "confirm").
func choice(buttons []channels.Button, reply string) (string, bool) {
	if v, ok := channels.ChoiceFor(buttons, reply); ok {
		return v, true
	}
	want := normChoice(reply)
	if want == "" {
		return "", false
	}
	for _, b := range buttons {
		if normChoice(b.Label) == want {
			return b.Value, true
		}
	}
	return "", false
}

func normChoice(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r >= '！' && r <= '～': // full-width ASCII
			r -= '！' - '!'
		case unicode.IsSpace(r) || unicode.IsPunct(r):
			return -1
		}
		return unicode.ToLower(r)
	}, s)
	return s
}

// langOf guesses the customer's language from what the bot last said: no Han character, English.
func langOf(m *channels.Message) string {
	if m == nil || m.Text == "" {
		return "zh-TW"
	}
	for _, r := range m.Text {
		if unicode.Is(unicode.Han, r) {
			return "zh-TW"
		}
	}
	return "en"
}

// twiml answers 200 with a TwiML document: empty, or one message to the sender (keyword answers).
// For +1 numbers Twilio answers keywords itself, so ours is left out.
func (a *Adapter) twiml(w http.ResponseWriter, to, text string) {
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if text == "" || carrierHandlesKeywords(to) {
		w.Write([]byte(xml.Header + "<Response/>"))
		return
	}
	var b strings.Builder
	b.WriteString(xml.Header + "<Response><Message>")
	xml.EscapeText(&b, []byte(text))
	b.WriteString("</Message></Response>")
	w.Write([]byte(b.String()))
}

func twimlError(w http.ResponseWriter, status int) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(http.StatusText(status)))
}

func (a *Adapter) internalError(w http.ResponseWriter, err error, op string) {
	code := casesvc.ErrorCode(err)
	switch {
	case code == casesvc.EINVALID:
		twimlError(w, http.StatusBadRequest)
	case errors.Is(err, context.Canceled):
		// Twilio went away; whatever was stored is answered.
	default:
		// Only the code: the error may quote the customer.
		a.log.Error("sms webhook "+op, "code", code)
		twimlError(w, http.StatusServiceUnavailable)
	}
}

func convID(c *channels.Conversation) string {
	if c == nil {
		return ""
	}
	return c.ID
}

// safeToken keeps a provider-supplied token loggable: short, [A-Za-z0-9_-] only.
func safeToken(s string) string {
	if len(s) > 64 {
		s = s[:64]
	}
	return strings.Map(func(r rune) rune {
		if r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' || r == '-') {
			return r
		}
		return -1
	}, s)
}

func newDocumentID() string { return "doc_" + strings.ToLower(rand.Text()) }

// errCode is a loggable code for an error: a mediaError's code, an HTTP status, or the Go type.
func errCode(err error) string {
	var me *mediaError
	if errors.As(err, &me) {
		return me.code
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return "timeout"
	}
	return casesvc.ErrorCode(err)
}
