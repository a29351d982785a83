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
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
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

// The load client shares the two cores with the server, so it builds requests cheaply: no maps, no
// sorting and no fmt per request. A Twilio form has fixed fields; only MessageSid (three fields),
// From and Body vary.

// twilioField is one field of the form, in Twilio's signing order (sorted by name); value "" with
// vary set is filled per request.
type twilioField struct {
	name, value string
	vary        byte // 's' MessageSid, 'f' From, 'b' Body
}

var twilioFields = func() []twilioField {
	f := []twilioField{
		{"AccountSid", benchTwilioSID, 0}, {"ApiVersion", "2010-04-01", 0}, {"Body", "", 'b'}, {"From", "", 'f'},
		{"FromCity", "", 0}, {"FromCountry", "TW", 0}, {"FromState", "", 0}, {"FromZip", "", 0},
		{"MessageSid", "", 's'}, {"NumMedia", "0", 0}, {"NumSegments", "1", 0}, {"SmsMessageSid", "", 's'},
		{"SmsSid", "", 's'}, {"SmsStatus", "received", 0}, {"To", benchTwilioFrom, 0}, {"ToCity", "", 0},
		{"ToCountry", "TW", 0}, {"ToState", "", 0}, {"ToZip", "", 0},
	}
	if !sort.SliceIsSorted(f, func(i, j int) bool { return f[i].name < f[j].name }) {
		panic("bench: twilioFields not in signing order")
	}
	return f
}()

// twilioSigner builds one client's signed forms; not safe for concurrent use.
type twilioSigner struct {
	signedURL string
	mac       hash.Hash
	signed    []byte
	sum       []byte
}

func newTwilioSigner(signedURL string) *twilioSigner {
	return &twilioSigner{signedURL: signedURL, mac: hmac.New(sha1.New, []byte(benchTwilioToken)),
		signed: make([]byte, 0, 1024), sum: make([]byte, 0, sha1.Size)}
}

// form returns the urlencoded body and its X-Twilio-Signature.
func (t *twilioSigner) form(sid, from, body string) ([]byte, string) {
	out := make([]byte, 0, 640)
	t.signed = append(t.signed[:0], t.signedURL...)
	for i, f := range twilioFields {
		v := f.value
		switch f.vary {
		case 's':
			v = sid
		case 'f':
			v = from
		case 'b':
			v = body
		}
		if i > 0 {
			out = append(out, '&')
		}
		out = append(out, f.name...)
		out = append(out, '=')
		out = append(out, url.QueryEscape(v)...)
		t.signed = append(t.signed, f.name...)
		t.signed = append(t.signed, v...)
	}
	t.mac.Reset()
	t.mac.Write(t.signed)
	t.sum = t.mac.Sum(t.sum[:0])
	return out, base64.StdEncoding.EncodeToString(t.sum)
}

func runTwilio(ctx context.Context, e *env) error {
	base := e.target.URL + sms.PathInbound
	signedURL := base // PublicURL is the listening address: Twilio signs what it posts to
	run := uint64(time.Now().UnixNano())<<8 | uint64(webhookRun.Add(1)&0xff)
	sidPrefix := fmt.Sprintf("SM%016x", run)
	newBuild := func() webhookRequest {
		signer := newTwilioSigner(signedURL)
		sid := make([]byte, 0, 34)
		from := make([]byte, 0, 16)
		return func(sender, seq int64, text int) (*http.Request, error) {
			sid = append(sid[:0], sidPrefix...)
			sid = appendHex16(sid, uint64(seq))
			from = strconv.AppendInt(append(from[:0], "+8869"...), 10_000_000+sender, 10)
			body, sig := signer.form(string(sid), string(from), webhookTexts[text])
			req, err := http.NewRequest(http.MethodPost, base, bytes.NewReader(body))
			if err != nil {
				return nil, err
			}
			req.Header["Content-Type"] = []string{"application/x-www-form-urlencoded"}
			req.Header["X-Twilio-Signature"] = []string{sig}
			req.Header["User-Agent"] = []string{"TwilioProxy/1.1"}
			return req, nil
		}
	}
	return runWebhook(ctx, e, "twilio", "sent to the fake Messages API", newBuild)
}

// appendHex16 appends v as 16 lower-case hex digits.
func appendHex16(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for i := 60; i >= 0; i -= 4 {
		b = append(b, digits[v>>uint(i)&0xf])
	}
	return b
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
	newBuild := func() webhookRequest {
		return func(sender, seq int64, text int) (*http.Request, error) {
			chat := 500_000_000 + sender
			lang := `"zh-hant"`
			if text >= 9 && text <= 13 {
				lang = `"en"`
			}
			b := make([]byte, 0, 384)
			b = strconv.AppendInt(append(b, `{"update_id":`...), first+seq, 10)
			b = strconv.AppendInt(append(b, `,"message":{"message_id":`...), seq%1_000_000+1, 10)
			b = strconv.AppendInt(append(b, `,"from":{"id":`...), chat, 10)
			b = append(append(b, `,"is_bot":false,"first_name":"Customer","language_code":`...), lang...)
			b = strconv.AppendInt(append(b, `},"chat":{"id":`...), chat, 10)
			b = strconv.AppendInt(append(b, `,"first_name":"Customer","type":"private"},"date":`...), time.Now().Unix(), 10)
			b = append(append(b, `,"text":`...), texts[text]...)
			b = append(b, "}}"...)
			req, err := http.NewRequest(http.MethodPost, base, bytes.NewReader(b))
			if err != nil {
				return nil, err
			}
			req.Header["Content-Type"] = []string{"application/json"}
			req.Header["X-Telegram-Bot-Api-Secret-Token"] = []string{benchTGSecret}
			return req, nil
		}
	}
	return runWebhook(ctx, e, "telegram", "sent to the fake Bot API", newBuild)
}

// twilioSignature is X-Twilio-Signature as Twilio computes it: base64 HMAC-SHA1 with the auth token
// over the URL followed by every parameter name and value, sorted by name. The load client uses
// twilioSigner; this plain version is what the tests check that one against.
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

// runWebhook drives e.opts.clients clients posting the requests newBuild's builders make (one per
// client) back to back for the duration. Client i posts for senders i, i+N, i+2N, ... (of
// webhookSenders) in turn, each a text of its own.
//
// A 200 means the inbound is stored and its turn queued, not answered: in a spike intake can outrun
// the turns. So the server's own counters (its /metrics) are read as well: the turns run and the
// replies delivered during the load, and then how long the backlog took to drain after it (bounded
// by drainMax), which gives the end-to-end rate: messages stored, answered and delivered.
func runWebhook(ctx context.Context, e *env, name, sentWhat string, newBuild func() webhookRequest) error {
	rec := newRecorder()
	n := e.opts.clients
	client := &http.Client{Transport: &http.Transport{
		MaxIdleConns: n, MaxIdleConnsPerHost: n, IdleConnTimeout: time.Minute, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
	}}
	defer client.CloseIdleConnections()
	var seq atomic.Int64
	channel := name
	if name == "twilio" {
		channel = "sms"
	}
	before, berr := scrapeServer(ctx, e.target.URL, channel)
	sentBefore := e.target.fake.sent.Load()
	e.logf("claimline: %d clients posting signed %s webhooks from %d senders for %s...\n", n, name, max(n, webhookSenders), e.opts.duration)
	stop := e.profile()
	cpu := startCPU()
	start := time.Now()
	stopAt := start.Add(e.opts.duration)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := rec.local()
			defer l.flush()
			build := newBuild()
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
	cpuLoad := cpu.used()
	sent := e.target.fake.sent.Load() - sentBefore
	stop()
	during, derr := scrapeServer(ctx, e.target.URL, channel)
	drainStart := time.Now()
	after, drainEnd, drained, aerr := drain(ctx, e.target.URL, channel, during)
	drainTime := max(drainEnd.Sub(drainStart), 0)
	cpuAll := cpu.used()
	mem, merr := e.target.readMemory(ctx)
	ok := rec.turns.Load()
	r := e.result
	r.Turns, r.Errors, r.Elapsed, r.Latency, r.FirstErrors = ok, rec.errors.Load(), elapsed, rec.percentiles(), rec.first
	r.Requests = ok + r.Errors
	fmt.Fprintf(e.out, "%-10s %d requests answered 200 in %s = %.1f requests/s; non-200 and failures %s\n",
		name, ok, elapsed.Round(time.Millisecond), rate(ok, elapsed), rec.errorSummary())
	fmt.Fprintf(e.out, "           latency (request round trip, 200s) %s\n", r.Latency)
	if err := errors.Join(berr, derr, aerr); err != nil {
		fmt.Fprintf(e.out, "           %d bot replies %s during the run (%.1f/s; turns run after the 200); server counters: %v\n",
			sent, sentWhat, rate(sent, elapsed), err)
	} else {
		turns, replies := during.turns-before.turns, during.delivered-before.delivered
		fmt.Fprintf(e.out, "           during the load the server ran %d turns (%.1f/s, greetings of new conversations included) and delivered %d replies (%.1f/s; %d %s)\n",
			turns, rate(turns, elapsed), replies, rate(replies, elapsed), sent, sentWhat)
		lateTurns, lateReplies := after.turns-during.turns, after.delivered-during.delivered
		in := after.in - before.in
		if lateTurns > 0 || lateReplies > 0 || !drained {
			fmt.Fprintf(e.out, "           backlog: intake outran the turns; %d turns and %d replies were still queued when the load stopped\n",
				lateTurns, lateReplies)
		}
		if drained {
			total := elapsed + drainTime
			fmt.Fprintf(e.out, "           drained %s after the load stopped: end to end %d inbound messages stored and answered in %s = %.1f/s\n",
				drainTime.Round(100*time.Millisecond), in, total.Round(100*time.Millisecond), rate(in, total))
			if cpuAll > 0 && in > 0 {
				// Steadier than the rates on a noisy machine: the work of a message, wherever it ran.
				r.CPUPerMessage = cpuAll / time.Duration(in)
				fmt.Fprintf(e.out, "           CPU %s per inbound message end to end (intake, turn, delivery, the load client and the fake API included); %.2f of %d cores busy during the load\n",
					r.CPUPerMessage.Round(100*time.Nanosecond), cpuLoad.Seconds()/elapsed.Seconds(), runtime.GOMAXPROCS(0))
			}
		} else {
			fmt.Fprintf(e.out, "           NOT drained %s after the load stopped: %d turns still to run or replies still to send\n",
				drainMax, after.pending())
		}
	}
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

// serverCounts are the server's counters the webhook modes report (its /metrics).
type serverCounts struct {
	in, turns, out, delivered, failed int64
}

// pending is how many of the outbound messages stored are neither delivered nor given up.
func (c serverCounts) pending() int64 { return c.out - c.delivered - c.failed }

func scrapeServer(ctx context.Context, baseURL, channel string) (serverCounts, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/metrics", nil)
	if err != nil {
		return serverCounts{}, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return serverCounts{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return serverCounts{}, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	in := `claimline_messages_in_total{channel="` + channel + `"}`
	out := `claimline_messages_out_total{channel="` + channel + `"}`
	sent := `claimline_deliveries_total{channel="` + channel + `",result="sent"}`
	failed := `claimline_deliveries_total{channel="` + channel + `",result="failed"}`
	v := parseMetrics(resp.Body, in, out, sent, failed, "claimline_turns_total")
	if _, ok := v["claimline_turns_total"]; !ok {
		return serverCounts{}, errors.New("/metrics has no claimline_turns_total")
	}
	return serverCounts{in: int64(v[in]), turns: int64(v["claimline_turns_total"]), out: int64(v[out]),
		delivered: int64(v[sent]), failed: int64(v[failed])}, nil
}

// drainMax bounds the wait for the backlog after the load.
const drainMax = 30 * time.Second

// drain waits until the server has no turn left to run and no reply left to send: every stored
// outbound message delivered or given up, and no turn run for drainQuiet. It returns the counters
// then, when they last moved (the backlog's end, to within a poll), and whether that happened within
// drainMax.
func drain(ctx context.Context, baseURL, channel string, last serverCounts) (serverCounts, time.Time, bool, error) {
	const poll, drainQuiet = 50 * time.Millisecond, 500 * time.Millisecond
	deadline := time.Now().Add(drainMax)
	moved := time.Now()
	for {
		select {
		case <-ctx.Done():
			return last, moved, false, ctx.Err()
		case <-time.After(poll):
		}
		c, err := scrapeServer(ctx, baseURL, channel)
		if err != nil {
			return last, moved, false, err
		}
		if c != last {
			moved = time.Now()
		}
		last = c
		if c.pending() <= 0 && time.Since(moved) >= drainQuiet {
			return c, moved, true, nil
		}
		if time.Now().After(deadline) {
			return c, moved, false, nil
		}
	}
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
	if resp.StatusCode == http.StatusOK {
		// The answer is an empty TwiML document or nothing: read it so the connection is reused.
		_, rerr := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		if rerr != nil {
			return "read", rerr
		}
		l.turn(time.Since(sent))
		return "", nil
	}
	b, rerr := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if rerr != nil {
		return "read", rerr
	}
	return fmt.Sprintf("status_%d", resp.StatusCode), fmt.Errorf("%s: %.200s", resp.Status, b)
}
