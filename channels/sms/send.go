package sms

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/twilio/twilio-go/client"
	openapi "github.com/twilio/twilio-go/rest/api/v2010"

	"claimline/channels"
)

// MaxText is the longest rendered part (runes) the router hands to Send. SMS is billed and shown in
// segments: a Chinese (UCS-2) segment holds 70 characters alone or 67 when concatenated, a GSM-7 one
// 160 / 153. We keep one message at most 4 UCS-2 segments (268 characters) so a long reply arrives
// as a few whole messages, each split by Render at a line break, rather than one 10-segment message
// that phones may show out of order; an English (GSM-7) part is then at most 2 segments. MaxText
// leaves room for the choice hint Send appends (at most 20 runes), so every message sent is at
// most 268 UTF-16 units. Longer texts are split, never cut.
const (
	MaxText      = 248
	MaxSegments  = 4
	maxUCS2Units = MaxSegments * 67
)

// Send sends one rendered part through Twilio's Messages API and returns its Message SID. It refuses
// opted-out numbers (Permanent "opted_out") and classifies Twilio's answers: 429 → Retry (After from
// Retry-After), 5xx and network errors → Retry, 21610 → the number is opted out and Permanent, 401
// → Retry (our credentials, not the message, are wrong: an operator can fix them before the outbox
// gives up), any other 4xx → Permanent with Twilio's error code.
func (a *Adapter) Send(ctx context.Context, conv *channels.Conversation, msg channels.Message) (string, error) {
	return a.send(ctx, conv, msg, func() string { return a.withHint(ctx, conv, msg) })
}

// SendPart is Send for the delivery loop (channels.PartSender): the message the part was rendered
// from comes with it, so the choice hint needs no read of the stored message.
func (a *Adapter) SendPart(ctx context.Context, conv *channels.Conversation, part, from channels.Message, i, n int) (string, error) {
	a.recent.sent(conv.ID, from)
	return a.send(ctx, conv, part, func() string {
		if from.Seq != part.Seq {
			return part.Text
		}
		return hinted(from, part.Text)
	})
}

// send is Send with the body (the part's text, with the hint when it has one) worked out by body,
// once the number is known not to be opted out.
func (a *Adapter) send(ctx context.Context, conv *channels.Conversation, msg channels.Message, bodyOf func() string) (string, error) {
	to := conv.Contact
	out, err := a.OptedOut(ctx, to)
	if err != nil {
		return "", err
	}
	if out {
		return "", &channels.DeliveryError{Permanent: true, Code: "opted_out"}
	}
	body := bodyOf()
	if strings.TrimSpace(body) == "" {
		return "", nil // nothing to show; Twilio refuses an empty body
	}
	var rec callRecord
	c := &client.Client{
		Credentials: client.NewCredentials(a.sid, a.token), // explicit: never TWILIO_* from the environment
		HTTPClient: &http.Client{
			Transport:     &callTransport{base: a.apiTransport, ctx: ctx, rec: &rec},
			Timeout:       a.apiTimeout,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	c.SetAccountSid(a.sid)
	// A RequestHandler literal: NewRequestHandler would read TWILIO_EDGE and TWILIO_REGION.
	api := openapi.NewApiService(&client.RequestHandler{Client: c})
	params := &openapi.CreateMessageParams{}
	params.SetFrom(a.from).SetTo(to).SetBody(body).SetStatusCallback(a.publicURL + PathStatus)
	m, err := api.CreateMessage(params)
	if err != nil {
		return "", a.classify(ctx, to, err, &rec)
	}
	if m == nil || m.Sid == nil {
		return "", nil
	}
	return *m.Sid, nil
}

func (a *Adapter) classify(ctx context.Context, to string, err error, rec *callRecord) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	status, code := rec.status, 0
	var te *client.TwilioRestError
	if errors.As(err, &te) {
		if te.Status != 0 {
			status = te.Status
		}
		code = te.Code
	}
	switch {
	case status == http.StatusTooManyRequests:
		return &channels.DeliveryError{Retry: true, After: rec.retryAfter, Code: "429", Err: err}
	case status >= 500:
		return &channels.DeliveryError{Retry: true, Code: strconv.Itoa(status), Err: err}
	case code == 21610:
		// The recipient replied STOP at carrier level: keep our list in step.
		octx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := a.OptOut(octx, to, "21610"); err != nil {
			a.log.Error("sms opt-out after 21610", "code", errCode(err))
		}
		return &channels.DeliveryError{Permanent: true, Code: "21610", Err: err}
	case status == http.StatusUnauthorized:
		a.log.Error("sms: Twilio refused our credentials", "code", code)
		return &channels.DeliveryError{Retry: true, Code: "401", Err: err}
	case status >= 400:
		c := strconv.Itoa(status)
		if code != 0 {
			c = strconv.Itoa(code)
		}
		return &channels.DeliveryError{Permanent: true, Code: c, Err: err}
	}
	return &channels.DeliveryError{Retry: true, Code: "network", Err: err}
}

// callRecord is what one Messages API call's transport saw (twilio-go drops the headers).
type callRecord struct {
	status     int
	retryAfter time.Duration
}

// callTransport gives a twilio-go call the Send's context (twilio-go has none) and records the
// answer's status and Retry-After.
type callTransport struct {
	base http.RoundTripper
	ctx  context.Context
	rec  *callRecord
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req.WithContext(t.ctx))
	if resp != nil {
		t.rec.status = resp.StatusCode
		t.rec.retryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return resp, err
}

// retryAfter parses Retry-After (seconds or an HTTP date), capped at an hour; 0 when absent.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if n, err := strconv.Atoi(v); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), time.Hour)
}

// rewriteTransport sends what twilio-go aims at https://api.twilio.com to the configured APIBase,
// and nothing anywhere else (the requests carry the account's credentials).
type rewriteTransport struct {
	base http.RoundTripper
	to   *url.URL
}

func (t *rewriteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "https" || !strings.EqualFold(req.URL.Host, twilioAPIHost) {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errors.New("sms: refusing a Twilio API request to an unexpected host")
	}
	r := req.Clone(req.Context())
	r.URL.Scheme, r.URL.Host = t.to.Scheme, t.to.Host
	r.URL.Path = strings.TrimRight(t.to.Path, "/") + req.URL.Path
	if req.URL.RawPath != "" {
		r.URL.RawPath = strings.TrimRight(t.to.EscapedPath(), "/") + req.URL.RawPath
	}
	r.Host = ""
	return t.base.RoundTrip(r)
}

// withHint appends a short "reply with a number" line under the numbered choices of the part that
// carries them (the last part of a message with buttons), in the message's language.
func (a *Adapter) withHint(ctx context.Context, conv *channels.Conversation, part channels.Message) string {
	text := part.Text
	msgs, err := a.router.MessagesAfter(ctx, conv.ID, part.Seq-1, 1)
	if err != nil || len(msgs) != 1 || msgs[0].Seq != part.Seq {
		return text
	}
	return hinted(msgs[0], text)
}

// hinted is text with the hint when text is the part of stored message m that carries its
// numbered choices (its last part as rendered for SMS).
func hinted(m channels.Message, text string) string {
	if len(m.Buttons) == 0 {
		return text
	}
	parts := channels.Render(m, Capabilities)
	if parts[len(parts)-1].Text != text {
		return text
	}
	return text + choiceHint(text, len(m.Buttons))
}

func choiceHint(text string, n int) string {
	for _, r := range text {
		if unicode.Is(unicode.Han, r) {
			return "\n請回覆數字選擇" // 8 runes
		}
	}
	if n <= 9 {
		return "\nReply 1-" + strconv.Itoa(n) + " to choose" // 20 runes
	}
	return "\nReply with a number"
}

// gsm7 is the GSM 03.38 basic character set; gsm7Ext the extension table (two septets each).
const (
	gsm7    = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsm7Ext = "^{}\\[~]|€\f"
)

// Segments returns how an SMS body is encoded ("GSM-7" or "UCS-2"), its length in that encoding's
// units (septets or UTF-16 units) and the number of segments it is sent as.
func Segments(text string) (encoding string, units, segments int) {
	gsm := true
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsm7, r):
			units++
		case strings.ContainsRune(gsm7Ext, r):
			units += 2
		default:
			gsm = false
		}
		if !gsm {
			break
		}
	}
	if gsm {
		if units <= 160 {
			return "GSM-7", units, 1
		}
		return "GSM-7", units, (units + 152) / 153
	}
	units = len(utf16.Encode([]rune(text)))
	if units <= 70 {
		return "UCS-2", units, 1
	}
	return "UCS-2", units, (units + 66) / 67
}
