package sms_test

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
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/twilio/twilio-go/client"

	"claimline/casesvc"
	"claimline/casesvc/blobstore"
	casesqlite "claimline/casesvc/sqlite"
	"claimline/channels"
	"claimline/channels/sms"
	"claimline/channels/sqlitestore"
	"claimline/dialog"
	"claimline/dialog/nlu"
)

const (
	testSID   = "AC0123456789abcdef0123456789abcdef"
	testToken = "0123456789abcdef0123456789abcdef"
	ourNumber = "+886900000000"
	// The demo policy HL20240017 (王小明, A123456789, born 1985-03-02) has this phone.
	holderPhone = "+886912345678"
)

// sign is Twilio's webhook signature, written out from its documentation (not twilio-go's code):
// base64(HMAC-SHA1(authToken, URL + every POST field name and value, sorted by name)).
func sign(token, rawURL string, form url.Values) string {
	keys := make([]string, 0, len(form))
	for k := range form {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(rawURL)
	for _, k := range keys {
		for _, v := range form[k] {
			b.WriteString(k)
			b.WriteString(v)
		}
	}
	m := hmac.New(sha1.New, []byte(token))
	m.Write([]byte(b.String()))
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// TestSignatureVectors checks the test's signer (and twilio-go's validator the adapter uses) against
// Twilio's published example and twilio-go's own vector.
func TestSignatureVectors(t *testing.T) {
	t.Parallel()
	const docURL = "https://mycompany.com/myapp.php?foo=1&bar=2"
	docs := url.Values{"CallSid": {"CA1234567890ABCDE"}, "Caller": {"+12349013030"}, "Digits": {"1234"},
		"From": {"+12349013030"}, "To": {"+18005551212"}}
	if got, want := sign("12345", docURL, docs), "0/KCTR6DLpKmkAf8muzZqo1nDgQ="; got != want {
		t.Fatalf("docs example: got %s, want %s", got, want)
	}
	lib := url.Values{"Digits": {"1234"}, "CallSid": {"CA1234567890ABCDE"}, "To": {"+18005551212"},
		"Caller": {"+14158675309"}, "From": {"+14158675309"}, "ReasonConferenceEnded": {"test"}, "Reason": {"Participant"}}
	if got, want := sign("12345", docURL, lib), "vOEb5UThFn24KEfnOFLQY2AE5FY="; got != want {
		t.Fatalf("twilio-go vector: got %s, want %s", got, want)
	}
	v := client.NewRequestValidator("12345")
	flat := map[string]string{}
	for k, vs := range docs {
		flat[k] = vs[0]
	}
	if !v.Validate(docURL, flat, "0/KCTR6DLpKmkAf8muzZqo1nDgQ=") {
		t.Fatal("twilio-go's validator rejects the docs example")
	}
}

// ---------------------------------------------------------------------------------------------
// A fake Twilio on loopback: the Messages API (basic auth, form fields, JSON answers), media that
// needs basic auth, and a redirector.

type sentMsg struct {
	SID, From, To, Body, StatusCallback string
	At                                  time.Time
}

type answer struct {
	status     int
	code       int
	retryAfter string
}

type fakeTwilio struct {
	t   *testing.T
	srv *httptest.Server

	mu         sync.Mutex
	sent       []sentMsg
	calls      []time.Time // every Messages API call, accepted or not
	script     []answer    // next answers; empty: 201
	media      map[string][]byte
	mediaHits  int
	badAuth    int
	earlyState string // when set, post this status callback before answering 201
}

func newFakeTwilio(t *testing.T) *fakeTwilio {
	f := &fakeTwilio{t: t, media: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", f.messages)
	mux.HandleFunc("GET /media/{name}", f.serveMedia)
	mux.HandleFunc("GET /redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, r.URL.Query().Get("to"), http.StatusFound)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeTwilio) authorized(r *http.Request) bool {
	u, p, ok := r.BasicAuth()
	return ok && u == testSID && p == testToken
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func (f *fakeTwilio) messages(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(r) || r.PathValue("sid") != testSID {
		f.mu.Lock()
		f.badAuth++
		f.mu.Unlock()
		writeJSON(w, 401, map[string]any{"code": 20003, "message": "Authenticate", "status": 401})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeJSON(w, 400, map[string]any{"code": 20001, "message": "bad form", "status": 400})
		return
	}
	f.mu.Lock()
	f.calls = append(f.calls, time.Now())
	var a answer
	if len(f.script) > 0 {
		a, f.script = f.script[0], f.script[1:]
	}
	early := f.earlyState
	f.mu.Unlock()
	if a.status != 0 && a.status != 201 {
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		writeJSON(w, a.status, map[string]any{"code": a.code, "message": "refused", "status": a.status,
			"more_info": "https://www.twilio.com/docs/errors/" + strconv.Itoa(a.code)})
		return
	}
	m := sentMsg{From: r.PostForm.Get("From"), To: r.PostForm.Get("To"), Body: r.PostForm.Get("Body"),
		StatusCallback: r.PostForm.Get("StatusCallback"), At: time.Now()}
	f.mu.Lock()
	m.SID = fmt.Sprintf("SM%032d", len(f.sent)+1)
	f.sent = append(f.sent, m)
	f.mu.Unlock()
	if early != "" {
		// Twilio's callback can reach us before its answer to the send does.
		resp := postSigned(f.t, m.StatusCallback, url.Values{"MessageSid": {m.SID}, "MessageStatus": {early},
			"AccountSid": {testSID}}, true)
		resp.Body.Close()
	}
	writeJSON(w, 201, map[string]any{"sid": m.SID, "status": "queued", "to": m.To, "from": m.From, "body": m.Body,
		"account_sid": testSID})
}

func (f *fakeTwilio) serveMedia(w http.ResponseWriter, r *http.Request) {
	if !f.authorized(r) {
		f.mu.Lock()
		f.badAuth++
		f.mu.Unlock()
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	b, ok := f.media[r.PathValue("name")]
	f.mediaHits++
	f.mu.Unlock()
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Write(b)
}

func (f *fakeTwilio) sentTo(to string) []sentMsg {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []sentMsg
	for _, m := range f.sent {
		if m.To == to {
			out = append(out, m)
		}
	}
	return out
}

func (f *fakeTwilio) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

// A foreign host that records whether anyone came, and with what.
type foreign struct {
	srv  *httptest.Server
	hits atomic.Int32
	auth atomic.Int32
}

func newForeign(t *testing.T, tls bool) *foreign {
	fo := &foreign{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fo.hits.Add(1)
		if r.Header.Get("Authorization") != "" {
			fo.auth.Add(1)
		}
		w.Write(jpeg)
	})
	if tls {
		fo.srv = httptest.NewTLSServer(h)
	} else {
		fo.srv = httptest.NewServer(h)
	}
	t.Cleanup(fo.srv.Close)
	return fo
}

// ---------------------------------------------------------------------------------------------
// The application under test: real stores, the real dialog, the router, the adapter.

type env struct {
	t      *testing.T
	fake   *fakeTwilio
	app    *httptest.Server
	router *channels.Router
	sms    *sms.Adapter
	cases  *casesqlite.Service
	blobs  *blobstore.Store
	dir    string // the node's data directory
	n      atomic.Int64
}

// newEnv is one gateway node with its own data directory; opts change its SMS adapter's Config.
func newEnv(t *testing.T, opts ...func(*sms.Config)) *env {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	loc := time.FixedZone("CST", 8*3600)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases, err := casesqlite.New(filepath.Join(dir, "casesvc.db"), casesqlite.Config{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := casesqlite.SeedDemo(ctx, cases); err != nil {
		t.Fatal(err)
	}
	blobs, err := blobstore.New(filepath.Join(dir, "documents"))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlitestore.New(filepath.Join(dir, "channels.db"))
	if err != nil {
		t.Fatal(err)
	}
	understanding, err := nlu.New(nlu.Config{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := dialog.New(dialog.Config{Cases: cases, NLU: dialog.BuiltinNLU(understanding), Location: loc, FormTTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	router, err := channels.NewRouter(channels.RouterConfig{Store: st, Dialog: engine, Logger: log,
		Delivery: channels.DeliveryConfig{PollInterval: 50 * time.Millisecond, BaseBackoff: 50 * time.Millisecond,
			MaxBackoff: 200 * time.Millisecond, MaxAttempts: 5, SendTimeout: 5 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	fake := newFakeTwilio(t)
	mux := http.NewServeMux()
	app := httptest.NewServer(mux)
	cfg := sms.Config{
		AccountSID: testSID, AuthToken: testToken, From: ourNumber, APIBase: fake.srv.URL,
		PublicURL: app.URL, Router: router, Documents: blobs, DBPath: filepath.Join(dir, "sms.db"),
		HTTPClient: &http.Client{Timeout: 5 * time.Second}, Logger: log,
	}
	for _, o := range opts {
		o(&cfg)
	}
	adapter, err := sms.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	adapter.Register(mux)
	router.RegisterSender(channels.ChannelSMS, adapter, adapter.Capabilities())
	if _, err := router.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	if err := router.StartDelivery(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		app.Close()
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		router.Close(cctx)
		adapter.Close()
		st.Close()
		cases.Close()
	})
	return &env{t: t, fake: fake, app: app, router: router, sms: adapter, cases: cases, blobs: blobs, dir: dir}
}

func postSigned(t *testing.T, target string, form url.Values, signed bool) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if signed {
		req.Header.Set("X-Twilio-Signature", sign(testToken, target, form))
	}
	req.Header.Set("User-Agent", "TwilioProxy/1.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// inboundForm is an inbound SMS webhook as Twilio posts it.
func (e *env) inboundForm(from, body string) url.Values {
	sid := fmt.Sprintf("SM%032d", 900000+e.n.Add(1))
	return url.Values{
		"ToCountry": {"TW"}, "ToState": {""}, "SmsMessageSid": {sid}, "NumMedia": {"0"}, "ToCity": {""},
		"FromZip": {""}, "SmsSid": {sid}, "FromState": {""}, "SmsStatus": {"received"}, "FromCity": {""},
		"Body": {body}, "FromCountry": {"TW"}, "To": {ourNumber}, "ToZip": {""}, "NumSegments": {"1"},
		"MessageSid": {sid}, "AccountSid": {testSID}, "From": {from}, "ApiVersion": {"2010-04-01"},
	}
}

func (e *env) post(form url.Values) (*http.Response, string) {
	e.t.Helper()
	resp := postSigned(e.t, e.app.URL+"/sms/twilio", form, true)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// say posts a message and waits until its turn is committed and every reply delivered (or given
// up), returning the SMS bodies Twilio accepted for from meanwhile.
func (e *env) say(from, body string) []string {
	e.t.Helper()
	return e.sayForm(e.inboundForm(from, body))
}

func (e *env) sayForm(form url.Values) []string {
	e.t.Helper()
	from := form.Get("From")
	before := len(e.fake.sentTo(from))
	resp, text := e.post(form)
	if resp.StatusCode != 200 {
		e.t.Fatalf("webhook: %d %s", resp.StatusCode, text)
	}
	e.settle(from, "sms:"+form.Get("MessageSid"))
	var out []string
	for _, m := range e.fake.sentTo(from)[before:] {
		out = append(out, m.Body)
	}
	return out
}

// settle waits until the inbound with clientID is handled and the conversation has no pending
// delivery.
func (e *env) settle(contact, clientID string) {
	e.t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		conv, err := e.router.FindConversation(ctx, channels.ChannelSMS, contact)
		if err == nil {
			msgs, _ := e.router.MessagesAfter(ctx, conv.ID, 0, 10000)
			handled := clientID == ""
			for _, m := range msgs {
				if m.ClientID == clientID && m.Handled {
					handled = true
				}
			}
			ds, _ := e.router.Deliveries(ctx, conv.ID)
			pending := false
			for _, d := range ds {
				if d.Status == channels.DeliveryPending {
					pending = true
				}
			}
			if handled && !pending {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("conversation did not settle")
}

func (e *env) conversation(contact string) *channels.Conversation {
	e.t.Helper()
	conv, err := e.router.FindConversation(context.Background(), channels.ChannelSMS, contact)
	if err != nil {
		e.t.Fatal(err)
	}
	return conv
}

func (e *env) messages(contact string) []channels.Message {
	e.t.Helper()
	msgs, err := e.router.MessagesAfter(context.Background(), e.conversation(contact).ID, 0, 10000)
	if err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

// checkReadable: every SMS is whole UTF-8, at most 4 segments (268 UCS-2 units), not blank.
// checkNotSentTo says something to the bot from an opted-out phone: the turn runs, but its reply's
// delivery fails as opted_out and Twilio is not called.
func (e *env) checkNotSentTo(phone string) {
	e.t.Helper()
	calls := e.fake.callCount()
	if got := e.say(phone, "我要申請理賠"); len(got) != 0 {
		e.t.Fatalf("sent to an opted-out number: %q", got)
	}
	if e.fake.callCount() != calls {
		e.t.Fatal("Twilio was called for an opted-out number")
	}
	ds, err := e.router.Deliveries(context.Background(), e.conversation(phone).ID)
	if err != nil || len(ds) == 0 {
		e.t.Fatalf("deliveries: %v, %v", ds, err)
	}
	if last := ds[len(ds)-1]; last.Status != channels.DeliveryFailed || last.LastError != "opted_out" {
		e.t.Fatalf("delivery %+v", last)
	}
}

func checkReadable(t *testing.T, bodies []string) {
	t.Helper()
	for _, b := range bodies {
		enc, units, segs := sms.Segments(b)
		if !utf8.ValidString(b) || strings.ContainsRune(b, utf8.RuneError) || strings.TrimSpace(b) == "" {
			t.Errorf("unreadable SMS %q", b)
		}
		if segs > sms.MaxSegments || (enc == "UCS-2" && units > 268) {
			t.Errorf("SMS of %d %s units (%d segments) exceeds the limit: %q", units, enc, segs, b)
		}
	}
}

func contains(bodies []string, sub string) bool {
	for _, b := range bodies {
		if strings.Contains(b, sub) {
			return true
		}
	}
	return false
}

// Minimal files that sniff as what they are.
var (
	jpeg = append([]byte{0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 'J', 'F', 'I', 'F', 0x00}, bytes.Repeat([]byte{0x42}, 2000)...)
	pdf  = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")
)

// ---------------------------------------------------------------------------------------------

// TestClaimOverSMS files a whole claim with numbered replies, then sends the documents by MMS.
func TestClaimOverSMS(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var all []string
	step := func(body string, want ...string) []string {
		t.Helper()
		got := e.say(holderPhone, body)
		all = append(all, got...)
		for _, w := range want {
			if !contains(got, w) {
				t.Fatalf("after %q: want %q in %q", body, w, got)
			}
		}
		return got
	}
	got := step("你好", "1. 申請理賠", "請回覆數字選擇")
	if got[len(got)-1] == "" {
		t.Fatal("empty greeting")
	}
	step("1", "保單號碼")
	if last := lastIn(e.messages(holderPhone)); last.Text != "1" || last.Action == "" {
		t.Fatalf("numbered reply stored as %+v, want text 1 with the button's value", last)
	}
	step("HL20240017", "身分證")
	// The sender's number is the policy's phone: a second identity factor, so the dialog may skip
	// the birth date (spec/domain.md); both paths end at the claim types.
	if got = step("A123456789"); contains(got, "出生日期") {
		got = step("74/3/2")
	}
	if !contains(got, "1. 醫療/住院") {
		t.Fatalf("identity not verified: %q", got)
	}
	step("醫療/住院", "什麼時候") // the choice's words select it too
	if last := lastIn(e.messages(holderPhone)); last.Action == "" {
		t.Fatalf("the choice's words were not mapped: %+v", last)
	}
	// The dialog asks for what it still misses, in its own order.
	got = step("昨天下午三點")
	for i := 0; !contains(got, "請確認"); i++ {
		last := strings.Join(got, "\n")
		switch {
		case i > 6:
			t.Fatalf("the form did not reach its read-back: %q", got)
		case strings.Contains(last, "描述"):
			got = step("住院三天打點滴，花了大約兩萬三千元")
		case strings.Contains(last, "醫院"):
			got = step("台大醫院")
		case strings.Contains(last, "原因"):
			got = step("急性肺炎")
		default:
			got = step("兩萬三千元")
		}
	}
	for _, w := range []string{"1. 確認送出", "2. 修改", "請回覆數字選擇"} {
		if !contains(got, w) {
			t.Fatalf("read-back without %q: %q", w, got)
		}
	}
	got = step("1", "CLM-")
	caseID := regexp.MustCompile(`CLM-\d{8}-\d{6}`).FindString(strings.Join(got, "\n"))
	if caseID == "" {
		t.Fatalf("no case id in %q", got)
	}
	if conv := e.conversation(holderPhone); conv.Contact != holderPhone {
		t.Fatalf("conversation contact %q, want the sender's number", conv.Contact)
	}

	// The documents, as an MMS with a photo and a PDF.
	e.fake.mu.Lock()
	e.fake.media["ME1"], e.fake.media["ME2"] = jpeg, pdf
	e.fake.mu.Unlock()
	form := e.inboundForm(holderPhone, "診斷證明和收據")
	form.Set("NumMedia", "2")
	form.Set("MediaUrl0", e.fake.srv.URL+"/media/ME1")
	form.Set("MediaContentType0", "image/jpeg")
	form.Set("MediaUrl1", e.fake.srv.URL+"/media/ME2")
	form.Set("MediaContentType1", "application/pdf")
	got = e.sayForm(form)
	all = append(all, got...)
	if len(got) == 0 {
		t.Fatal("no answer to the MMS")
	}
	in := lastIn(e.messages(holderPhone))
	if in.Text != "診斷證明和收據" || len(in.Attachments) != 2 {
		t.Fatalf("MMS stored as %+v", in)
	}
	for i, want := range []struct {
		ctype string
		data  []byte
	}{{"image/jpeg", jpeg}, {"application/pdf", pdf}} {
		a := in.Attachments[i]
		if a.ContentType != want.ctype || a.Size != int64(len(want.data)) || a.BlobRef == "" {
			t.Fatalf("attachment %d: %+v", i, a)
		}
		rc, err := e.blobs.Open(a.BlobRef)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(b, want.data) {
			t.Fatalf("attachment %d stored bytes differ", i)
		}
	}
	if contains(got, "1. 理賠申請書") { // the dialog asks which documents they are
		all = append(all, e.say(holderPhone, "3")...)
	}
	c, err := e.cases.Case(context.Background(), caseID)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Documents) == 0 {
		t.Logf("case %s has no documents after the MMS (the dialog decides); replies: %q", caseID, got)
	}

	checkReadable(t, all)
	if testing.Verbose() {
		for _, b := range all {
			enc, units, segs := sms.Segments(b)
			t.Logf("SMS (%s, %d units, %d segments):\n%s", enc, units, segs, b)
		}
	}
	for _, m := range e.fake.sentTo(holderPhone) {
		if m.From != ourNumber || m.StatusCallback != e.app.URL+"/sms/twilio/status" {
			t.Fatalf("sent %+v", m)
		}
	}
	if e.fake.badAuth != 0 {
		t.Fatalf("%d calls without our credentials", e.fake.badAuth)
	}
}

func lastIn(msgs []channels.Message) channels.Message {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Direction == channels.DirIn {
			return msgs[i]
		}
	}
	return channels.Message{}
}

func countIn(msgs []channels.Message) int {
	n := 0
	for _, m := range msgs {
		if m.Direction == channels.DirIn {
			n++
		}
	}
	return n
}

func TestBadSignature(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	form := e.inboundForm(holderPhone, "你好")
	target := e.app.URL + "/sms/twilio"
	cases := map[string]func(*http.Request){
		"missing":  func(r *http.Request) { r.Header.Del("X-Twilio-Signature") },
		"garbage":  func(r *http.Request) { r.Header.Set("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl") },
		"wrongKey": func(r *http.Request) { r.Header.Set("X-Twilio-Signature", sign("other", target, form)) },
		"wrongURL": func(r *http.Request) {
			r.Header.Set("X-Twilio-Signature", sign(testToken, "https://evil.example/sms/twilio", form))
		},
		"tampered": func(r *http.Request) {
			f2 := url.Values{}
			for k, v := range form {
				f2[k] = v
			}
			f2.Set("Body", "something else")
			r.Header.Set("X-Twilio-Signature", sign(testToken, target, f2))
		},
		"query": func(r *http.Request) { r.URL.RawQuery = "x=1" }, // signed without the query
	}
	for name, mutate := range cases {
		req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Twilio-Signature", sign(testToken, target, form))
		mutate(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%s: status %d, want 403", name, resp.StatusCode)
		}
	}
	// The status callback is signed too.
	resp := postSigned(t, e.app.URL+"/sms/twilio/status", url.Values{"MessageSid": {"SM1"}, "MessageStatus": {"delivered"}}, false)
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unsigned status callback: %d, want 403", resp.StatusCode)
	}
	time.Sleep(100 * time.Millisecond)
	if _, err := e.router.FindConversation(context.Background(), channels.ChannelSMS, holderPhone); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Fatalf("something was stored: %v", err)
	}
	if n := e.fake.callCount(); n != 0 {
		t.Fatalf("%d messages sent", n)
	}
	// A query string on the webhook URL is part of what Twilio signs.
	form = e.inboundForm(holderPhone, "你好")
	resp = postSigned(t, e.app.URL+"/sms/twilio?tenant=tw", form, true)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("signed request with a query: %d", resp.StatusCode)
	}
}

func TestDuplicateMessageSid(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	form := e.inboundForm(holderPhone, "你好")
	first := e.sayForm(form)
	if len(first) == 0 {
		t.Fatal("no reply")
	}
	// Replayed once, then ten at once.
	if again := e.sayForm(form); len(again) != 0 {
		t.Fatalf("a replay was answered again: %q", again)
	}
	var wg sync.WaitGroup
	codes := make(chan int, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := postSigned(t, e.app.URL+"/sms/twilio", form, true)
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		if c != 200 {
			t.Fatalf("concurrent replay: %d", c)
		}
	}
	// Ten new messages at once, each with its own sid: all stored.
	forms := make([]url.Values, 10)
	for i := range forms {
		forms[i] = e.inboundForm(holderPhone, "查詢進度")
	}
	for _, f := range forms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := postSigned(t, e.app.URL+"/sms/twilio", f, true)
			resp.Body.Close()
		}()
	}
	wg.Wait()
	e.settle(holderPhone, "sms:"+forms[9].Get("MessageSid"))
	msgs := e.messages(holderPhone)
	n := 0
	for _, m := range msgs {
		if m.ClientID == "sms:"+form.Get("MessageSid") {
			n++
		}
	}
	if n != 1 || countIn(msgs) != 11 {
		t.Fatalf("stored %d copies of the replayed message, %d inbound in all (want 1, 11)", n, countIn(msgs))
	}
}

func TestMediaRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	plain := newForeign(t, false)
	tlsHost := newForeign(t, true)
	e.fake.mu.Lock()
	e.fake.media["ok"] = jpeg
	e.fake.mu.Unlock()
	_, tlsPort, _ := strings.Cut(strings.TrimPrefix(tlsHost.srv.URL, "https://"), ":")
	urls := []string{
		plain.srv.URL + "/photo.jpg",                                                                  // a foreign host
		tlsHost.srv.URL + "/photo.jpg",                                                                // a foreign https host on loopback
		"https://localhost:" + tlsPort + "/photo.jpg",                                                 // a name for an internal address
		"https://api.twilio.com.evil.example/x.jpg",                                                   // a look-alike
		strings.Replace(e.fake.srv.URL, "http://", "http://"+testSID+":x@", 1) + "/media/ok",          // credentials in the URL
		e.fake.srv.URL + "/redirect?to=" + url.QueryEscape(plain.srv.URL+"/photo.jpg"),                // Twilio redirecting to http
		e.fake.srv.URL + "/redirect?to=" + url.QueryEscape("https://localhost:"+tlsPort+"/photo.jpg"), // ... to an internal address
		e.fake.srv.URL + "/media/ok",                                                                  // the one good one
	}
	form := e.inboundForm(holderPhone, "照片")
	form.Set("NumMedia", strconv.Itoa(len(urls)))
	for i, u := range urls {
		form.Set("MediaUrl"+strconv.Itoa(i), u)
		form.Set("MediaContentType"+strconv.Itoa(i), "image/jpeg")
	}
	e.sayForm(form)
	if plain.hits.Load() != 0 || tlsHost.hits.Load() != 0 {
		t.Fatalf("foreign hosts fetched: %d, %d", plain.hits.Load(), tlsHost.hits.Load())
	}
	in := lastIn(e.messages(holderPhone))
	if in.Text != "照片" || len(in.Attachments) != 1 || in.Attachments[0].ContentType != "image/jpeg" {
		t.Fatalf("stored %+v", in)
	}

	// Only refused media and no text: acknowledged, nothing stored, nothing fetched.
	form = e.inboundForm("+886933111222", "")
	form.Set("NumMedia", "1")
	form.Set("MediaUrl0", plain.srv.URL+"/photo.jpg")
	resp, _ := e.post(form)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if _, err := e.router.FindConversation(context.Background(), channels.ChannelSMS, "+886933111222"); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Fatalf("stored: %v", err)
	}
	if plain.hits.Load() != 0 || plain.auth.Load() != 0 || tlsHost.auth.Load() != 0 {
		t.Fatal("a foreign host was reached")
	}
}

func TestStopStartHelp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	const phone = "+886987654321"
	if got := e.say(phone, "你好"); len(got) == 0 {
		t.Fatal("no greeting")
	}
	resp, twiml := e.post(e.inboundForm(phone, " stop "))
	if resp.StatusCode != 200 || !strings.Contains(twiml, "START") || !strings.Contains(resp.Header.Get("Content-Type"), "xml") {
		t.Fatalf("STOP answered %d %q", resp.StatusCode, twiml)
	}
	if out, _ := e.sms.OptedOut(ctx, phone); !out {
		t.Fatal("not opted out")
	}
	e.checkNotSentTo(phone)
	_, err := e.sms.Send(ctx, e.conversation(phone), channels.Message{Text: "hi"})
	var de *channels.DeliveryError
	if !errors.As(err, &de) || !de.Permanent || de.Code != "opted_out" {
		t.Fatalf("Send to opted-out: %v", err)
	}
	// HELP: the hotline, as TwiML, nothing stored in the conversation.
	before := len(e.messages(phone))
	resp, twiml = e.post(e.inboundForm(phone, "Help"))
	if resp.StatusCode != 200 || !strings.Contains(twiml, "0800-000-123") {
		t.Fatalf("HELP answered %q", twiml)
	}
	if len(e.messages(phone)) != before {
		t.Fatal("HELP reached the dialog")
	}
	resp, twiml = e.post(e.inboundForm(phone, "start"))
	if resp.StatusCode != 200 || !strings.Contains(twiml, "<Message>") {
		t.Fatalf("START answered %q", twiml)
	}
	if out, _ := e.sms.OptedOut(ctx, phone); out {
		t.Fatal("still opted out")
	}
	if got := e.say(phone, "你好"); len(got) == 0 {
		t.Fatal("no reply after START")
	}
	// "cancel" from a Taiwanese number is the dialog's cancel, not an opt-out; from a US number
	// it is one (Twilio enforces it there).
	e.say(phone, "cancel")
	if out, _ := e.sms.OptedOut(ctx, phone); out {
		t.Fatal("CANCEL opted a +886 number out")
	}
	resp, twiml = e.post(e.inboundForm("+14155550100", "CANCEL"))
	if out, _ := e.sms.OptedOut(ctx, "+14155550100"); !out || resp.StatusCode != 200 || strings.Contains(twiml, "<Message>") {
		t.Fatalf("CANCEL from +1: opted out %v, %q", out, twiml)
	}
	// "yes" from a number that is not opted out is an ordinary answer.
	if got := e.say(phone, "YES"); len(got) == 0 {
		t.Fatal("YES did not reach the dialog")
	}
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	conv, _, err := e.router.OpenConversation(ctx, channels.ChannelSMS, "+886922333444", "")
	if err != nil {
		t.Fatal(err)
	}
	send := func(a answer) error {
		e.fake.mu.Lock()
		e.fake.script = []answer{a}
		e.fake.mu.Unlock()
		_, err := e.sms.Send(ctx, conv, channels.Message{Text: "測試"})
		return err
	}
	var de *channels.DeliveryError
	if err := send(answer{status: 429, code: 20429, retryAfter: "7"}); !errors.As(err, &de) || !de.Retry || de.After != 7*time.Second || de.Permanent {
		t.Fatalf("429: %+v", err)
	}
	if err := send(answer{status: 429, code: 20429}); !errors.As(err, &de) || !de.Retry || de.After != 0 {
		t.Fatalf("429 without Retry-After: %+v", err)
	}
	if err := send(answer{status: 500, code: 20500}); !errors.As(err, &de) || !de.Retry || de.Code != "500" {
		t.Fatalf("500: %+v", err)
	}
	if err := send(answer{status: 400, code: 21211}); !errors.As(err, &de) || !de.Permanent || de.Code != "21211" {
		t.Fatalf("400 21211: %+v", err)
	}
	if out, _ := e.sms.OptedOut(ctx, conv.Contact); out {
		t.Fatal("21211 opted out")
	}
	if err := send(answer{status: 400, code: 21610}); !errors.As(err, &de) || !de.Permanent || de.Code != "21610" {
		t.Fatalf("21610: %+v", err)
	}
	if out, _ := e.sms.OptedOut(ctx, conv.Contact); !out {
		t.Fatal("21610 did not opt the number out")
	}
	sid, err := func() (string, error) {
		e.sms.OptIn(ctx, conv.Contact)
		return e.sms.Send(ctx, conv, channels.Message{Text: "ok"})
	}()
	if err != nil || !strings.HasPrefix(sid, "SM") {
		t.Fatalf("send: %q %v", sid, err)
	}
	// A cancelled context ends the call (twilio-go has none of its own).
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := e.sms.Send(cctx, conv, channels.Message{Text: "x"}); err == nil {
		t.Fatal("send with a cancelled context succeeded")
	}
}

// TestOutboxRetries goes through the router's outbox: 429 with Retry-After then 201 delivers once,
// after the wait; 500 then 201 delivers once; 400 is not retried.
func TestOutboxRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	const phone = "+886955666777"
	e.say(phone, "你好")

	e.fake.mu.Lock()
	e.fake.script = []answer{{status: 429, code: 20429, retryAfter: "1"}}
	start := len(e.fake.calls)
	e.fake.mu.Unlock()
	got := e.say(phone, "我要申請理賠")
	if len(got) != 1 {
		t.Fatalf("after 429: delivered %d", len(got))
	}
	e.fake.mu.Lock()
	calls := e.fake.calls[start:]
	e.fake.mu.Unlock()
	if len(calls) != 2 || calls[1].Sub(calls[0]) < 900*time.Millisecond {
		t.Fatalf("429 retry: %d calls, gap %v", len(calls), calls[len(calls)-1].Sub(calls[0]))
	}

	e.fake.mu.Lock()
	e.fake.script = []answer{{status: 500, code: 20500}, {status: 503}}
	start = len(e.fake.calls)
	e.fake.mu.Unlock()
	if got := e.say(phone, "取消"); len(got) != 1 {
		t.Fatalf("after 5xx: delivered %d", len(got))
	}
	if n := e.fake.callCount() - start; n != 3 {
		t.Fatalf("5xx: %d calls, want 3", n)
	}

	e.fake.mu.Lock()
	e.fake.script = []answer{{status: 400, code: 21211}}
	start = len(e.fake.calls)
	e.fake.mu.Unlock()
	if got := e.say(phone, "你好"); len(got) != 0 {
		t.Fatalf("after 400: delivered %q", got)
	}
	time.Sleep(300 * time.Millisecond)
	if n := e.fake.callCount() - start; n != 1 {
		t.Fatalf("400 retried: %d calls", n)
	}
	ds, _ := e.router.Deliveries(ctx, e.conversation(phone).ID)
	if last := ds[len(ds)-1]; last.Status != channels.DeliveryFailed || last.LastError != "21211" {
		t.Fatalf("delivery %+v", last)
	}
}

func TestStatusCallbacks(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	const phone = "+886933111222"
	e.fake.mu.Lock()
	e.fake.earlyState = "sent" // overtakes the outbox's record of the SID
	e.fake.mu.Unlock()
	e.say(phone, "你好")
	e.fake.mu.Lock()
	e.fake.earlyState = ""
	e.fake.mu.Unlock()
	sent := e.fake.sentTo(phone)
	if len(sent) == 0 {
		t.Fatal("nothing sent")
	}
	sid := sent[0].SID
	receipt := func() string {
		ds, _ := e.router.Deliveries(ctx, e.conversation(phone).ID)
		for _, d := range ds {
			for _, r := range d.Receipts {
				if r.ProviderID == sid {
					return r.Status
				}
			}
		}
		return ""
	}
	waitFor := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if receipt() == want {
				return
			}
		}
		t.Fatalf("receipt %q, want %q", receipt(), want)
	}
	waitFor("sent") // the early callback was kept and recorded
	status := func(s string) {
		t.Helper()
		resp := postSigned(t, e.app.URL+"/sms/twilio/status", url.Values{"MessageSid": {sid}, "SmsSid": {sid},
			"MessageStatus": {s}, "SmsStatus": {s}, "AccountSid": {testSID}, "To": {phone}, "From": {ourNumber},
			"ApiVersion": {"2010-04-01"}}, true)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("status %s: %d", s, resp.StatusCode)
		}
	}
	status("delivered")
	waitFor("delivered")
	status("sending") // late, out of order
	status("queued")
	status("sent")
	status("undelivered") // terminal already
	time.Sleep(100 * time.Millisecond)
	if got := receipt(); got != "delivered" {
		t.Fatalf("receipt moved back to %q", got)
	}
	// An unknown SID and an unknown status are still 200.
	resp := postSigned(t, e.app.URL+"/sms/twilio/status", url.Values{"MessageSid": {"SMffffffffffffffffffffffffffffffff"},
		"MessageStatus": {"delivered"}}, true)
	resp.Body.Close()
	resp2 := postSigned(t, e.app.URL+"/sms/twilio/status", url.Values{"MessageSid": {sid}, "MessageStatus": {"bogus"}}, true)
	resp2.Body.Close()
	if resp.StatusCode != 200 || resp2.StatusCode != 200 {
		t.Fatalf("unknown: %d %d", resp.StatusCode, resp2.StatusCode)
	}
}

// TestIgnoresTwilioEnv: twilio-go reads TWILIO_* variables when left to itself; the adapter passes
// everything explicitly, so they change nothing.
func TestIgnoresTwilioEnv(t *testing.T) {
	t.Setenv("TWILIO_ACCOUNT_SID", "ACffffffffffffffffffffffffffffffff")
	t.Setenv("TWILIO_AUTH_TOKEN", "ffffffffffffffffffffffffffffffff")
	t.Setenv("TWILIO_EDGE", "sydney")
	t.Setenv("TWILIO_REGION", "au1")
	e := newEnv(t)
	if got := e.say("+886912000111", "你好"); len(got) == 0 {
		t.Fatal("nothing sent")
	}
	if e.fake.badAuth != 0 {
		t.Fatal("environment credentials used")
	}
}

func TestSegments(t *testing.T) {
	t.Parallel()
	zh := func(n int) string { return strings.Repeat("理", n) }
	for _, c := range []struct {
		text  string
		enc   string
		units int
		segs  int
	}{
		{"hello", "GSM-7", 5, 1},
		{strings.Repeat("a", 160), "GSM-7", 160, 1},
		{strings.Repeat("a", 161), "GSM-7", 161, 2},
		{"€", "GSM-7", 2, 1},
		{zh(70), "UCS-2", 70, 1},
		{zh(71), "UCS-2", 71, 2},
		{zh(268), "UCS-2", 268, 4},
		{zh(269), "UCS-2", 269, 5},
		{"a’b", "UCS-2", 3, 1},
	} {
		enc, units, segs := sms.Segments(c.text)
		if enc != c.enc || units != c.units || segs != c.segs {
			t.Errorf("Segments(%.10q) = %s %d %d, want %s %d %d", c.text, enc, units, segs, c.enc, c.units, c.segs)
		}
	}
	// A long Chinese reply with choices renders to parts that each fit 4 segments with the hint.
	msg := channels.Message{Text: strings.Repeat("請一次備齊以下文件，文件齊全後十天內完成審核。\n", 30),
		Buttons: []channels.Button{{Label: "確認送出", Value: "a"}, {Label: "修改", Value: "b"}}}
	for _, p := range channels.Render(msg, sms.Capabilities) {
		if _, units, segs := sms.Segments(p.Text + "\n請回覆數字選擇"); segs > sms.MaxSegments || units > 268 {
			t.Fatalf("part of %d units", units)
		}
	}
}
