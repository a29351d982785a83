package telegram

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/blobstore"
	casesqlite "claimline/casesvc/sqlite"
	"claimline/channels"
	"claimline/channels/sqlitestore"
	"claimline/dialog"
	"claimline/dialog/nlu"
)

const (
	testToken  = "7000000001:AAH-test_token_Never_Logged-0123456789"
	testSecret = "s3cret-Webhook_token"
)

var (
	nluOnce sync.Once
	nluVal  *nlu.Builtin
	nluErr  error
	taipei  = time.FixedZone("Asia/Taipei", 8*3600)
)

func sharedNLU(t *testing.T) *nlu.Builtin {
	nluOnce.Do(func() { nluVal, nluErr = nlu.New(nlu.Config{Location: taipei}) })
	if nluErr != nil {
		t.Fatal(nluErr)
	}
	return nluVal
}

// syncBuffer collects the logs of a test, to check that nothing secret or personal is in them.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// testEnv is the real thing around the adapter: a sqlitestore, the case service with the demo
// policies, the NLU and the dialog engine, the router with its outbox, the blob store, an HTTP server
// with the webhook, and the fake Bot API.
type testEnv struct {
	t         *testing.T
	tg        *fakeTelegram
	dir       string
	cases     *casesqlite.Service
	engine    *dialog.Engine
	docs      *blobstore.Store
	store     *sqlitestore.Store
	router    *channels.Router
	adapter   *Adapter
	srv       *httptest.Server
	logs      *syncBuffer
	nextID    int
	closeOnce sync.Once
}

func newEnv(t *testing.T) *testEnv {
	t.Helper()
	e := &testEnv{t: t, tg: newFakeTelegram(t, testToken), dir: t.TempDir(), logs: &syncBuffer{}, nextID: 100000}
	var err error
	e.cases, err = casesqlite.New(filepath.Join(e.dir, "casesvc.db"), casesqlite.Config{Location: taipei})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cases.Close() })
	if _, err := casesqlite.SeedDemo(context.Background(), e.cases); err != nil {
		t.Fatal(err)
	}
	e.engine, err = dialog.New(dialog.Config{Cases: e.cases, NLU: dialog.BuiltinNLU(sharedNLU(t)), Location: taipei})
	if err != nil {
		t.Fatal(err)
	}
	e.docs, err = blobstore.New(filepath.Join(e.dir, "documents"))
	if err != nil {
		t.Fatal(err)
	}
	e.open()
	t.Cleanup(e.close)
	t.Cleanup(func() {
		logs := e.logs.String()
		for _, secret := range []string{testToken, strings.Split(testToken, ":")[1], testSecret, "A123456789", "王小明", "HL20240017"} {
			if strings.Contains(logs, secret) {
				t.Errorf("the logs contain %q:\n%s", secret, logs)
			}
		}
	})
	return e
}

// open builds the store, router and adapter (again, after close: a restart).
func (e *testEnv) open() {
	t := e.t
	t.Helper()
	var err error
	e.store, err = sqlitestore.New(filepath.Join(e.dir, "channels.db"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	e.router, err = channels.NewRouter(channels.RouterConfig{
		Store: e.store, Dialog: e.engine, Logger: log,
		Delivery: channels.DeliveryConfig{Workers: 4, PollInterval: 100 * time.Millisecond, BaseBackoff: 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.adapter, err = New(Config{
		Token: testToken, Secret: testSecret, APIBase: e.tg.URL(), Mode: ModeWebhook, PublicURL: "https://claims.example.com.tw",
		Router: e.router, Documents: e.docs, Logger: log, PollTimeout: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.adapter.retryBase, e.adapter.retryMax = 50*time.Millisecond, 200*time.Millisecond
	e.router.RegisterSender(channels.ChannelTelegram, e.adapter, e.adapter.Capabilities())
	if _, err := e.router.Recover(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.router.StartDelivery(); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.adapter.Register(mux)
	e.srv = httptest.NewServer(mux)
	e.closeOnce = sync.Once{}
}

func (e *testEnv) close() {
	e.closeOnce.Do(func() {
		e.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.router.Close(ctx)
		e.store.Close()
	})
}

func (e *testEnv) id() int {
	e.nextID++
	return e.nextID
}

// post sends one update to the webhook as Telegram does and returns the status.
func (e *testEnv) post(update, secret string) int {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.srv.URL+WebhookPath, strings.NewReader(update))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set(secretHeader, secret)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (e *testEnv) postOK(update string) {
	e.t.Helper()
	if code := e.post(update, testSecret); code != http.StatusOK {
		e.t.Fatalf("webhook answered %d to %s", code, update)
	}
}

// messages returns the stored messages of a chat's conversation (nil when there is none).
func (e *testEnv) messages(chat int64) []channels.Message {
	e.t.Helper()
	ctx := context.Background()
	conv, err := e.router.FindConversation(ctx, channels.ChannelTelegram, strconv.FormatInt(chat, 10))
	if casesvc.ErrorCode(err) == casesvc.ENOTFOUND {
		return nil
	} else if err != nil {
		e.t.Fatal(err)
	}
	msgs, err := e.router.MessagesAfter(ctx, conv.ID, 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

func inbound(msgs []channels.Message) []channels.Message {
	var out []channels.Message
	for _, m := range msgs {
		if m.Direction == channels.DirIn {
			out = append(out, m)
		}
	}
	return out
}

// settle waits until every stored inbound message of the chat has its turn committed and every reply
// has been delivered (sendMessage accepted it).
func (e *testEnv) settle(chat int64) {
	e.t.Helper()
	waitFor(e.t, 15*time.Second, "the conversation to settle", func() bool {
		ctx := context.Background()
		conv, err := e.router.FindConversation(ctx, channels.ChannelTelegram, strconv.FormatInt(chat, 10))
		if err != nil {
			return false
		}
		msgs, err := e.router.MessagesAfter(ctx, conv.ID, 0, 1000)
		if err != nil {
			return false
		}
		for _, m := range msgs {
			if m.Direction == channels.DirIn && !m.Handled {
				return false
			}
		}
		ds, err := e.router.Deliveries(ctx, conv.ID)
		if err != nil {
			return false
		}
		for _, d := range ds {
			if d.Status == channels.DeliveryPending {
				return false
			}
		}
		return conv.Started
	})
}

// Update JSON exactly as Telegram sends it (https://core.telegram.org/bots/api#update).

func userJSON(chat int64, lang string) string {
	return fmt.Sprintf(`{"id":%d,"is_bot":false,"first_name":"小明","last_name":"王","username":"xiaoming_%d","language_code":%q}`, chat, chat, lang)
}

func chatJSON(chat int64) string {
	return fmt.Sprintf(`{"id":%d,"first_name":"小明","last_name":"王","username":"xiaoming_%d","type":"private"}`, chat, chat)
}

func messageJSON(msgID int, chat int64, lang, body string) string {
	return fmt.Sprintf(`{"message_id":%d,"from":%s,"chat":%s,"date":%d,%s}`, msgID, userJSON(chat, lang), chatJSON(chat), time.Now().Unix(), body)
}

func textUpdate(id int, chat int64, lang, text string) string {
	body := fmt.Sprintf(`"text":%s`, jsonString(text))
	if strings.HasPrefix(text, "/") {
		word, _, _ := strings.Cut(text, " ")
		body += fmt.Sprintf(`,"entities":[{"offset":0,"length":%d,"type":"bot_command"}]`, len([]rune(word)))
	}
	return fmt.Sprintf(`{"update_id":%d,"message":%s}`, id, messageJSON(id%100000, chat, lang, body))
}

func editedUpdate(id, msgID int, chat int64, lang, text string) string {
	m := fmt.Sprintf(`{"message_id":%d,"from":%s,"chat":%s,"date":%d,"edit_date":%d,"text":%s}`,
		msgID, userJSON(chat, lang), chatJSON(chat), time.Now().Unix()-30, time.Now().Unix(), jsonString(text))
	return fmt.Sprintf(`{"update_id":%d,"edited_message":%s}`, id, m)
}

// callbackUpdate presses the button with value data under the bot's message m.
func callbackUpdate(id int, chat int64, lang string, m sentMessage, data string) string {
	bot := `{"id":7000000001,"is_bot":true,"first_name":"Claimline","username":"claimline_test_bot"}`
	msg := fmt.Sprintf(`{"message_id":%d,"from":%s,"chat":%s,"date":%d,"text":%s`, m.MessageID, bot, chatJSON(chat), m.At.Unix(), jsonString(m.Text))
	if m.Markup != "" {
		msg += `,"reply_markup":` + m.Markup
	}
	msg += "}"
	return fmt.Sprintf(`{"update_id":%d,"callback_query":{"id":"%d%d","from":%s,"message":%s,"chat_instance":"-5423418116722113432","data":%s}}`,
		id, chat, id, userJSON(chat, lang), msg, jsonString(data))
}

func documentUpdate(id int, chat int64, lang, fileID, name, mime string, size int, caption string) string {
	sz := ""
	if size > 0 {
		sz = fmt.Sprintf(`,"file_size":%d`, size)
	}
	body := fmt.Sprintf(`"document":{"file_name":%s,"mime_type":%q,"thumbnail":{"file_id":"AAMCth%s","file_unique_id":"AQADth","file_size":1201,"width":240,"height":320},"thumb":{"file_id":"AAMCth%s","file_unique_id":"AQADth","file_size":1201,"width":240,"height":320},"file_id":%q,"file_unique_id":"AgAD%s"%s}`,
		jsonString(name), mime, fileID, fileID, fileID, fileID, sz)
	if caption != "" {
		body += `,"caption":` + jsonString(caption)
	}
	return fmt.Sprintf(`{"update_id":%d,"message":%s}`, id, messageJSON(id%100000, chat, lang, body))
}

func photoUpdate(id int, chat int64, lang string, small, large string, smallSize, largeSize int, caption string) string {
	body := fmt.Sprintf(`"photo":[{"file_id":%q,"file_unique_id":"AQADs","file_size":%d,"width":90,"height":68},{"file_id":%q,"file_unique_id":"AQADl","file_size":%d,"width":1280,"height":960}]`,
		small, smallSize, large, largeSize)
	if caption != "" {
		body += `,"caption":` + jsonString(caption)
	}
	return fmt.Sprintf(`{"update_id":%d,"message":%s}`, id, messageJSON(id%100000, chat, lang, body))
}

func stickerUpdate(id int, chat int64, lang string) string {
	body := `"sticker":{"width":512,"height":512,"emoji":"👍","set_name":"HotCherry","is_animated":false,"is_video":false,"type":"regular","thumbnail":{"file_id":"AAMCAgADGQEAAQ","file_unique_id":"AQADdQ","file_size":5916,"width":128,"height":128},"file_id":"CAACAgIAAxkBAAEBsticker","file_unique_id":"AgADdQ","file_size":30582}`
	return fmt.Sprintf(`{"update_id":%d,"message":%s}`, id, messageJSON(id%100000, chat, lang, body))
}

func locationUpdate(id int, chat int64, lang string) string {
	body := `"location":{"latitude":25.033964,"longitude":121.564468}`
	return fmt.Sprintf(`{"update_id":%d,"message":%s}`, id, messageJSON(id%100000, chat, lang, body))
}

func voiceUpdate(id int, chat int64, lang string) string {
	body := `"voice":{"duration":3,"mime_type":"audio/ogg","file_id":"AwACAgUAAxkBAAvoice","file_unique_id":"AgADvo","file_size":9510}`
	return fmt.Sprintf(`{"update_id":%d,"message":%s}`, id, messageJSON(id%100000, chat, lang, body))
}

func jsonString(s string) string {
	b, _ := jsonMarshal(s)
	return string(b)
}

// testJPEG is a real JPEG photo of w×h pixels.
func testJPEG(t *testing.T, w, h int, shade uint8) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		for y := 0; y < h; y++ {
			img.Set(x, y, color.RGBA{shade, uint8(x), uint8(y), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func countBlobs(t *testing.T, root string) int {
	n := 0
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}
