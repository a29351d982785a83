package bench

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"claimline/channels/sms"
	"claimline/channels/telegram"
	"claimline/internal/app"
)

// The webhook modes: N clients post correctly signed inbound webhooks, as Twilio and Telegram would,
// to a claimline started in-process with the channel switched on. Its replies go to a loopback fake
// of the provider's API that answers at once, so outbound delivery does not throttle intake. Only a
// 200 answer counts; every other status is counted by status.

const (
	// Test credentials of the in-process server: well-formed, not real, never leave the process.
	benchTwilioSID   = "ACbe0c0000000000000000000000000001"
	benchTwilioToken = "be0c0000000000000000000000000001"
	benchTwilioFrom  = "+886900000000"
	benchTGToken     = "123456:BENCH-token-not-real"
	benchTGSecret    = "bench-secret-token_0123456789"
	// webhookSenders is how many distinct phone numbers / chats post: conversations spread over a few
	// thousand, each client owning its own share, so no conversation gets two requests at once.
	webhookSenders = 3000
	// maxWebhookRequests bounds one client's requests in one run.
	maxWebhookRequests = 50_000_000
)

// webhookTexts are the short texts customers send, as typed (no keywords like STOP or HELP, which
// the SMS channel answers itself).
var webhookTexts = []string{
	"我要申請理賠",
	"你好，請問住院可以理賠嗎？",
	"保單號碼 HL20240017",
	"A123456789",
	"74/3/2",
	"昨天騎機車被撞，腳骨折",
	"在台大醫院住了三天",
	"好",
	"確認",
	"I want to file a claim",
	"policy MT20250088",
	"I had a car accident yesterday on the highway",
	"yes",
	"how long does it take?",
	"謝謝",
}

// fakeAPI is a loopback HTTP server standing in for Twilio's Messages API or Telegram's Bot API.
type fakeAPI struct {
	URL  string
	srv  *http.Server
	done chan struct{}
	// sent counts messages claimline sent through it (Messages.json, sendMessage).
	sent atomic.Int64
}

func startFakeAPI(h func(f *fakeAPI) http.Handler) (*fakeAPI, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	f := &fakeAPI{URL: "http://" + ln.Addr().String(), done: make(chan struct{})}
	f.srv = &http.Server{Handler: h(f), ReadHeaderTimeout: 10 * time.Second, ErrorLog: nil}
	go func() {
		defer close(f.done)
		f.srv.Serve(ln)
	}()
	return f, nil
}

// Close stops the fake; nil-safe.
func (f *fakeAPI) Close() {
	if f == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := f.srv.Shutdown(ctx); err != nil {
		f.srv.Close()
	}
	<-f.done
}

// setupTwilio switches on the SMS channel with a fake Messages API answering 201 at once.
func setupTwilio(cfg *app.Config, publicURL string) (*fakeAPI, error) {
	f, err := startFakeAPI(func(f *fakeAPI) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, io.LimitReader(r.Body, 1<<20))
			if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/Messages.json") {
				w.WriteHeader(http.StatusNotFound)
				return
			}
			n := f.sent.Add(1)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprintf(w, `{"sid":"SMbe0c%028x","account_sid":%q,"status":"queued","num_segments":"1"}`, n, benchTwilioSID)
		})
	})
	if err != nil {
		return nil, err
	}
	cfg.PublicURL = publicURL
	cfg.SMS = app.SMSConfig{AccountSID: benchTwilioSID, AuthToken: benchTwilioToken, From: benchTwilioFrom, APIBase: f.URL}
	return f, nil
}

// setupTelegram switches on the Telegram channel in webhook mode with a fake Bot API answering
// getMe, setWebhook and sendMessage (and any other method with ok) at once.
func setupTelegram(cfg *app.Config, publicURL string) (*fakeAPI, error) {
	f, err := startFakeAPI(func(f *fakeAPI) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
			r.ParseMultipartForm(1 << 20)
			method := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
			w.Header().Set("Content-Type", "application/json")
			switch method {
			case "getMe":
				io.WriteString(w, `{"ok":true,"result":{"id":7000,"is_bot":true,"first_name":"Claims","username":"claims_bench_bot"}}`)
			case "sendMessage":
				n := f.sent.Add(1)
				chat, _ := strconv.ParseInt(r.FormValue("chat_id"), 10, 64)
				text, _ := json.Marshal(r.FormValue("text"))
				fmt.Fprintf(w, `{"ok":true,"result":{"message_id":%d,"date":%d,"chat":{"id":%d,"type":"private"},"text":%s}}`,
					n, time.Now().Unix(), chat, text)
			default: // setWebhook, deleteWebhook, answerCallbackQuery, editMessageReplyMarkup, ...
				io.WriteString(w, `{"ok":true,"result":true}`)
			}
		})
	})
	if err != nil {
		return nil, err
	}
	cfg.Telegram = app.TelegramConfig{Token: benchTGToken, Secret: benchTGSecret, APIBase: f.URL,
		Mode: telegram.ModeWebhook, PublicURL: publicURL}
	return f, nil
}

var webhookRun atomic.Int64 // distinguishes runs in one process (MessageSid, update_id)

// webhookRequest builds the i-th request of a client for sender s.
type webhookRequest func(sender, seq int64, text int) (*http.Request, error)

func runTwilio(ctx context.Context, e *env) error {
	base := e.target.URL + sms.PathInbound
	signedURL := base // PublicURL is the listening address: Twilio signs what it posts to
	run := uint64(time.Now().UnixNano())<<8 | uint64(webhookRun.Add(1)&0xff)
	build := func(sender, seq int64, text int) (*http.Request, error) {
		sid := fmt.Sprintf("SM%016x%016x", run, uint64(seq))
		from := fmt.Sprintf("+8869%08d", 10_000_000+sender)
		form := url.Values{
			"ToCountry": {"TW"}, "ToState": {""}, "SmsMessageSid": {sid}, "NumMedia": {"0"}, "ToCity": {""},
			"FromZip": {""}, "SmsSid": {sid}, "FromState": {""}, "SmsStatus": {"received"}, "FromCity": {""},
			"Body": {webhookTexts[text]}, "FromCountry": {"TW"}, "To": {benchTwilioFrom}, "ToZip": {""},
			"NumSegments": {"1"}, "MessageSid": {sid}, "AccountSid": {benchTwilioSID}, "From": {from},
			"ApiVersion": {"2010-04-01"},
		}
		req, err := http.NewRequest(http.MethodPost, base, strings.NewReader(form.Encode()))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", twilioSignature(benchTwilioToken, signedURL, form))
		req.Header.Set("User-Agent", "TwilioProxy/1.1")
		return req, nil
	}
	return runWebhook(ctx, e, "twilio", "sent to the fake Messages API", build)
}

func runTelegram(ctx context.Context, e *env) error {
	base := e.target.URL + telegram.WebhookPath
	// update_id: distinct per request, and across runs on one data directory (a run posts far fewer
	// than 1,000 per millisecond it lasts); below 2^53 (JSON numbers).
	first := time.Now().UnixMilli() * 1000
	texts := make([][]byte, len(webhookTexts))
	for i, t := range webhookTexts {
		texts[i], _ = json.Marshal(t)
	}
	build := func(sender, seq int64, text int) (*http.Request, error) {
		chat := 500_000_000 + sender
		lang := "zh-hant"
		if text >= 9 && text <= 13 {
			lang = "en"
		}
		b := make([]byte, 0, 384)
		b = fmt.Appendf(b, `{"update_id":%d,"message":{"message_id":%d,"from":{"id":%d,"is_bot":false,"first_name":"Customer","language_code":%q},"chat":{"id":%d,"first_name":"Customer","type":"private"},"date":%d,"text":`,
			first+seq, seq%1_000_000+1, chat, lang, chat, time.Now().Unix())
		b = append(b, texts[text]...)
		b = append(b, "}}"...)
		req, err := http.NewRequest(http.MethodPost, base, bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", benchTGSecret)
		return req, nil
	}
	return runWebhook(ctx, e, "telegram", "sent to the fake Bot API", build)
}

// twilioSignature is X-Twilio-Signature as Twilio computes it: base64 HMAC-SHA1 with the auth token
// over the URL followed by every parameter name and value, sorted by name.
func twilioSignature(token, fullURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(fullURL)
	for _, k := range keys {
		for _, v := range form[k] {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	mac := hmac.New(sha1.New, []byte(token))
	mac.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// runWebhook drives e.opts.clients clients posting build's requests back to back for the duration.
// Client i posts for senders i, i+N, i+2N, ... (of webhookSenders) in turn, each a text of its own.
func runWebhook(ctx context.Context, e *env, name, sentWhat string, build webhookRequest) error {
	rec := newRecorder()
	n := e.opts.clients
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: n, MaxIdleConnsPerHost: n, IdleConnTimeout: time.Minute, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
	defer client.CloseIdleConnections()
	var seq atomic.Int64
	sentBefore := e.target.fake.sent.Load()
	e.logf("claimline: %d clients posting signed %s webhooks from %d senders for %s...\n", n, name, max(n, webhookSenders), e.opts.duration)
	stop := e.profile()
	start := time.Now()
	stopAt := start.Add(e.opts.duration)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := rec.local()
			defer l.flush()
			// this client's senders: i, i+n, i+2n, ... below webhookSenders (at least its own i)
			var senders []int64
			for s := i; s < max(webhookSenders, n); s += n {
				senders = append(senders, int64(s))
			}
			for k := 0; k < maxWebhookRequests && time.Now().Before(stopAt) && ctx.Err() == nil; k++ {
				sender := senders[k%len(senders)]
				text := int((sender + int64(k/len(senders))) % int64(len(webhookTexts)))
				kind, err := postWebhook(ctx, client, build, sender, seq.Add(1), text, e.opts.replyTimeout, l)
				if err != nil {
					rec.fail(kind, err)
					if kind == "post" { // a transport error: do not spin
						select {
						case <-time.After(50 * time.Millisecond):
						case <-ctx.Done():
						}
					}
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	sent := e.target.fake.sent.Load() - sentBefore
	stop()
	mem, merr := e.target.readMemory(ctx)
	ok := rec.turns.Load()
	r := e.result
	r.Turns, r.Errors, r.Elapsed, r.Latency, r.FirstErrors = ok, rec.errors.Load(), elapsed, rec.percentiles(), rec.first
	r.Requests = ok + r.Errors
	fmt.Fprintf(e.out, "%-10s %d requests answered 200 in %s = %.1f requests/s; non-200 and failures %s\n",
		name, ok, elapsed.Round(time.Millisecond), rate(ok, elapsed), rec.errorSummary())
	fmt.Fprintf(e.out, "           latency (request round trip, 200s) %s\n", r.Latency)
	fmt.Fprintf(e.out, "           %d bot replies %s during the run (%.1f/s; turns run after the 200)\n", sent, sentWhat, rate(sent, elapsed))
	verdict := "met"
	if rate(ok, elapsed) < 5000 {
		verdict = "MISSED"
	}
	fmt.Fprintf(e.out, "figure     %.0f signed webhook requests/s with %d clients (target >= 5,000/s: %s, %.0f%% of it)\n",
		rate(ok, elapsed), n, verdict, 100*rate(ok, elapsed)/5000)
	if merr != nil {
		fmt.Fprintf(e.out, "           server memory: %v\n", merr)
	} else {
		fmt.Fprintf(e.out, "           server memory: %s\n", mem)
	}
	for _, s := range rec.first {
		fmt.Fprintf(e.out, "           error: %s\n", s)
	}
	return nil
}

// postWebhook posts one request and records its latency when it is answered 200.
func postWebhook(ctx context.Context, client *http.Client, build webhookRequest, sender, seq int64, text int, timeout time.Duration, l *local) (string, error) {
	req, err := build(sender, seq, text)
	if err != nil {
		return "build", err
	}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req = req.WithContext(rctx)
	sent := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.Canceled) && ctx.Err() != nil {
			return "cancelled", err
		}
		return "post", err
	}
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if rerr != nil {
		return "read", rerr
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Sprintf("status_%d", resp.StatusCode), fmt.Errorf("%s: %.200s", resp.Status, b)
	}
	l.turn(time.Since(sent))
	return "", nil
}
