package sms_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"claimline/channels"
	"claimline/channels/sms"
	"claimline/channels/sqlitestore"
	"claimline/dialog"
)

// benchDialog answers every turn with a question and numbered choices, at once: the webhook stores
// a message together with its turn (Router.ReceiveSoon), so the benchmark includes a turn as cheap
// as a turn can be, and the write of its replies.
type benchDialog struct{}

func (benchDialog) Turn(ctx context.Context, state []byte, in dialog.Input) ([]byte, []dialog.Reply, error) {
	return state, []dialog.Reply{
		{Text: "收到，我們正在處理您的申請。"},
		{Text: "請確認以上資料是否正確？", Buttons: []dialog.Button{{Label: "確認送出", Value: "confirm"}, {Label: "修改", Value: "edit"}}},
	}, nil
}

// BenchmarkInboundWebhook is POST /sms/twilio on a real conversation store in a temporary
// directory: signature, the choice lookup, the turn and the durable store of the inbound with its
// replies (one write), the TwiML answer. No sender is registered, so nothing is delivered.
// 256 conversations with a history of ~25 messages each (choices offered last); the requests
// alternate a numbered choice and free text. Run in parallel, as Twilio's concurrent posts are.
func BenchmarkInboundWebhook(b *testing.B) {
	ctx := context.Background()
	dir := b.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlitestore.New(filepath.Join(dir, "channels.db"))
	if err != nil {
		b.Fatal(err)
	}
	router, err := channels.NewRouter(channels.RouterConfig{Store: st, Dialog: benchDialog{}, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	const publicURL = "https://hooks.example.com"
	adapter, err := sms.New(sms.Config{
		AccountSID: testSID, AuthToken: testToken, From: ourNumber, APIBase: "http://127.0.0.1:9",
		PublicURL: publicURL, Router: router, DBPath: filepath.Join(dir, "sms.db"), Logger: log,
	})
	if err != nil {
		b.Fatal(err)
	}
	adapter.Register(mux)
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		router.Close(cctx)
		adapter.Close()
		st.Close()
	}()

	const convs = 256
	phone := func(i int) string { return fmt.Sprintf("+8869%08d", 20_000_000+i) }
	var seed sync.WaitGroup
	for i := range convs {
		seed.Add(1)
		go func() {
			defer seed.Done()
			for k := range 8 {
				in := channels.Inbound{Channel: channels.ChannelSMS, Contact: phone(i), ClientID: fmt.Sprintf("seed:%d:%d", i, k), Text: "你好"}
				if _, _, err := router.ProcessSync(ctx, in); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	seed.Wait()

	// The requests, signed beforehand: the benchmark measures the server side only.
	type req struct{ body, sig string }
	reqs := make([]req, b.N)
	for n := range reqs {
		sid := fmt.Sprintf("SMbe0c%028x", n)
		body := "1"
		if n%2 == 1 {
			body = "我昨天騎機車被撞"
		}
		form := url.Values{
			"ToCountry": {"TW"}, "ToState": {""}, "SmsMessageSid": {sid}, "NumMedia": {"0"}, "ToCity": {""},
			"FromZip": {""}, "SmsSid": {sid}, "FromState": {""}, "SmsStatus": {"received"}, "FromCity": {""},
			"Body": {body}, "FromCountry": {"TW"}, "To": {ourNumber}, "ToZip": {""}, "NumSegments": {"1"},
			"MessageSid": {sid}, "AccountSid": {testSID}, "From": {phone(n % convs)}, "ApiVersion": {"2010-04-01"},
		}
		reqs[n] = req{form.Encode(), sign(testToken, publicURL+sms.PathInbound, form)}
	}
	var next atomic.Int64
	b.SetParallelism(16) // ×GOMAXPROCS posts at once, like the load tool's 64 clients
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	defer func() { b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op") }()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			r := reqs[next.Add(1)-1]
			hr := httptest.NewRequest(http.MethodPost, sms.PathInbound, strings.NewReader(r.body))
			hr.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			hr.Header.Set("X-Twilio-Signature", r.sig)
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, hr)
			if w.Code != http.StatusOK {
				b.Errorf("status %d: %s", w.Code, w.Body)
				return
			}
		}
	})
}

// cpuTime is the process's CPU time (user + system) so far: on a shared machine the CPU an
// operation costs moves far less than its wall-clock time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSend is one reply with numbered choices sent through Twilio's Messages API (a loopback
// fake answering 201 at once) by Send: the suppression-list lookup, the choice hint, the API call.
func BenchmarkSend(b *testing.B) {
	a, conv, _, part := sendEnv(b)
	benchSends(b, func() error { _, err := a.Send(context.Background(), conv, part); return err })
}

// BenchmarkSendPart is BenchmarkSend as the delivery loop calls it (channels.PartSender), with the
// stored message at hand.
func BenchmarkSendPart(b *testing.B) {
	a, conv, msg, part := sendEnv(b)
	benchSends(b, func() error { _, err := a.SendPart(context.Background(), conv, part, msg, 0, 1); return err })
}

func benchSends(b *testing.B, send func() error) {
	cpu0 := cpuTime()
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := send(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

// sendEnv is an adapter on a real store with a conversation whose last reply offers choices, and
// that reply's last part as rendered for SMS.
func sendEnv(b *testing.B) (*sms.Adapter, *channels.Conversation, channels.Message, channels.Message) {
	ctx := context.Background()
	dir := b.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	st, err := sqlitestore.New(filepath.Join(dir, "channels.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	router, err := channels.NewRouter(channels.RouterConfig{Store: st, Dialog: benchDialog{}, Logger: log})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { router.Close(ctx) })
	var n atomic.Int64
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"sid":"SM%032d","status":"queued"}`, n.Add(1))
	}))
	b.Cleanup(api.Close)
	adapter, err := sms.New(sms.Config{
		AccountSID: testSID, AuthToken: testToken, From: ourNumber, APIBase: api.URL,
		PublicURL: "https://hooks.example.com", Router: router, DBPath: filepath.Join(dir, "sms.db"), Logger: log,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { adapter.Close() })
	conv, replies, err := router.ProcessSync(ctx, channels.Inbound{Channel: channels.ChannelSMS, Contact: holderPhone, ClientID: "1", Text: "你好"})
	if err != nil {
		b.Fatal(err)
	}
	msg := replies[len(replies)-1] // the one with choices
	parts := channels.Render(msg, sms.Capabilities)
	return adapter, conv, msg, parts[len(parts)-1]
}
