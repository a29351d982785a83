package intake

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"claimline/casesvc"
	casesqlite "claimline/casesvc/sqlite"
	"claimline/dialog"
	"claimline/dialog/nlu"
)

var taipei = time.FixedZone("Asia/Taipei", 8*60*60)

// start is the fixed clock: Tuesday 24 November 2026, 10:00 in Taipei.
var start = time.Date(2026, 11, 24, 10, 0, 0, 0, taipei)

// env is a real casesvc/sqlite store, the outbox around it, the real engine on the outbox, and one
// conversation whose notices the outbox delivers straight into the engine (what the router does).
type env struct {
	t     *testing.T
	dir   string
	svc   *casesqlite.Service
	box   *Outbox
	eng   *dialog.Engine
	mu    sync.Mutex
	state []byte
	seq   int64
	said  []string // everything the bot said, in order
}

func newEnv(t *testing.T, wrap func(dialog.Cases) dialog.Cases) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir()}
	svc, err := casesqlite.New(filepath.Join(e.dir, "casesvc.db"), casesqlite.Config{Location: taipei, Now: func() time.Time { return start }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close() })
	if _, err := casesqlite.SeedDemo(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	e.svc = svc
	var inner dialog.Cases = svc
	if wrap != nil {
		inner = wrap(svc)
	}
	e.box, err = Open(Config{Path: filepath.Join(e.dir, "intake.db"), Cases: inner, Now: func() time.Time { return start },
		Deliver: func(ctx context.Context, conversation string, n dialog.Notice) error {
			if conversation != "conv-1" {
				return fmt.Errorf("notice for %q", conversation)
			}
			e.turn(dialog.Input{Event: dialog.EventNotice, Notice: &n})
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.box.Close() })
	b, err := nlu.New(nlu.Config{Location: taipei})
	if err != nil {
		t.Fatal(err)
	}
	e.eng, err = dialog.New(dialog.Config{Cases: e.box, NLU: dialog.BuiltinNLU(b), Location: taipei})
	if err != nil {
		t.Fatal(err)
	}
	e.turn(dialog.Input{Event: dialog.EventStart})
	return e
}

func (e *env) turn(in dialog.Input) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.seq++
	in.Conversation, in.Channel, in.Contact, in.Seq = "conv-1", "webchat", "c1", e.seq
	in.At = start.Add(time.Duration(e.seq) * time.Second)
	st, replies, err := e.eng.Turn(context.Background(), e.state, in)
	if err != nil {
		e.t.Fatalf("turn: %v", err)
	}
	e.state = st
	var b strings.Builder
	for _, r := range replies {
		b.WriteString(r.Text + "\n")
		e.said = append(e.said, r.Text)
	}
	return b.String()
}

func (e *env) say(text string, want ...string) string {
	e.t.Helper()
	got := e.turn(dialog.Input{Text: text})
	e.expect(text, got, want...)
	return got
}

func (e *env) press(v string, want ...string) string {
	e.t.Helper()
	got := e.turn(dialog.Input{Action: v})
	e.expect("["+v+"]", got, want...)
	return got
}

func (e *env) expect(in, got string, want ...string) {
	e.t.Helper()
	for _, w := range want {
		if !strings.Contains(got, w) {
			e.t.Fatalf("after %s the bot should say %q; it said:\n%s", in, w, got)
		}
	}
}

// toReview fills a medical claim on HL20240017 up to the read-back.
func (e *env) toReview() {
	e.t.Helper()
	e.say("我要申請理賠", "保單號碼")
	e.say("HL20240017", "身分證字號")
	e.say("A123456789", "出生日期")
	e.say("1985-03-02", "身分已確認")
	e.press("type:medical", "什麼時候")
	e.say("前天", "醫院")
	e.say("台大醫院", "病名")
	e.say("腸胃炎", "就醫情形")
	e.say("住院兩天，費用大概一萬二", "請確認以下資料")
}

// lock holds casesvc.db's write lock from another connection (BEGIN EXCLUSIVE), as a second writer
// or a stuck process would: the case service's writes wait out its busy timeout and fail with
// SQLITE_BUSY; reads go on (WAL). The returned func releases it.
func lock(t *testing.T, path string) func() {
	t.Helper()
	db, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN EXCLUSIVE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release := func() {
		once.Do(func() {
			if _, err := conn.ExecContext(ctx, "ROLLBACK"); err != nil {
				t.Errorf("release: %v", err)
			}
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

func (e *env) cases() []*casesvc.Case {
	e.t.Helper()
	cs, err := e.svc.CasesByPolicy(context.Background(), "HL20240017")
	if err != nil {
		e.t.Fatal(err)
	}
	return cs
}

// TestOutageClaimIsQueuedAndFiledOnce: the case store is locked when the customer confirms; the
// customer is told it was received; nothing is filed while it stays locked; once released, the
// replay files it exactly once (also after a crash between filing and marking) and the conversation
// gets the case id with the whole document list.
func TestOutageClaimIsQueuedAndFiledOnce(t *testing.T) {
	e := newEnv(t, nil)
	ctx := context.Background()
	e.toReview()

	release := lock(t, filepath.Join(e.dir, "casesvc.db"))
	got := e.press("confirm", "已收到您的申請，系統確認後會在這裡告訴您案件編號")
	if strings.Contains(got, "CLM-") || strings.Contains(got, "重新送出") {
		t.Fatalf("a queued claim has no id yet and needs no retry: %s", got)
	}
	items, err := e.box.Items(ctx)
	if err != nil || len(items) != 1 || items[0].State != StateQueued || items[0].Key != "conv-1:11" || items[0].Kind != KindCase {
		t.Fatalf("outbox after the outage: %+v %v", items, err)
	}
	if n := len(e.cases()); n != 0 { // reads still work under the lock (WAL)
		t.Fatalf("%d cases filed during the outage", n)
	}
	// Still locked: the pass fails as an outage and the item waits.
	if _, err := e.box.ReplayOnce(ctx); !Outage(err) {
		t.Fatalf("replay while locked: %v, want an outage error", err)
	}
	// Pressing confirm again (a replayed turn) does not queue or file a second one.
	if items, _ := e.box.Items(ctx); len(items) != 1 || items[0].Attempts != 1 {
		t.Fatalf("outbox: %+v", items)
	}

	release()
	// A crash after the case service filed it and before the outbox marked it.
	e.box.afterFile = func(string) error { return errors.New("crash") }
	if _, err := e.box.ReplayOnce(ctx); err == nil {
		t.Fatal("the injected crash did not stop the pass")
	}
	if cs := e.cases(); len(cs) != 1 {
		t.Fatalf("after the first filing: %d cases", len(cs))
	}
	e.box.afterFile = nil
	before := len(e.said)
	n, err := e.box.ReplayOnce(ctx)
	if err != nil || n != 1 {
		t.Fatalf("replay: %d %v", n, err)
	}
	cs := e.cases()
	if len(cs) != 1 {
		t.Fatalf("after the replay: %d cases, want exactly 1", len(cs))
	}
	told := strings.Join(e.said[before:], "\n")
	for _, w := range []string{"已完成登記", cs[0].ID, "請一次備齊以下文件", "1. 理賠申請書", "5. 存摺封面", "10 天內"} {
		if !strings.Contains(told, w) {
			t.Fatalf("the conversation should be told %q; it was told:\n%s", w, told)
		}
	}
	items, _ = e.box.Items(ctx)
	if items[0].State != StateDelivered || items[0].ResultID != cs[0].ID {
		t.Fatalf("outbox after delivery: %+v", items)
	}
	// Nothing more to do, and a second pass files nothing.
	if n, err := e.box.ReplayOnce(ctx); err != nil || n != 0 {
		t.Fatalf("second replay: %d %v", n, err)
	}
	if len(e.cases()) != 1 {
		t.Fatal("a second pass filed again")
	}
}

// flaky is the case service failing CreateComplaint with err while set.
type flaky struct {
	dialog.Cases
	mu  sync.Mutex
	err error
}

func (f *flaky) set(err error) { f.mu.Lock(); f.err = err; f.mu.Unlock() }

func (f *flaky) CreateComplaint(ctx context.Context, nc casesvc.NewComplaint) (*casesvc.Complaint, error) {
	f.mu.Lock()
	err := f.err
	f.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return f.Cases.CreateComplaint(ctx, nc)
}

// TestOutageComplaintIsQueued: a complaint taken while the case service answers EUNAVAILABLE is
// acknowledged with the deadlines, and its CMP- id arrives when the service is back.
func TestOutageComplaintIsQueued(t *testing.T) {
	var fl *flaky
	e := newEnv(t, func(c dialog.Cases) dialog.Cases { fl = &flaky{Cases: c}; return fl })
	ctx := context.Background()
	e.press("complaint", "客訴", "保單號碼")
	e.say("HL20240017")
	e.say("A123456789")
	e.say("1985-03-02", "身分已確認", "哪一方面")
	e.press("cat:delay", "發生了什麼事")
	e.say("理賠等了兩個月都沒有消息", "聯絡您") // no cases yet: the linked case is not asked
	e.press("contact:chat", "請確認您的客訴內容", "處理太慢", "理賠等了兩個月都沒有消息", "在這裡回覆")
	fl.set(casesvc.Errorf(casesvc.EUNAVAILABLE, "down"))
	e.press("confirm", "已收到您的客訴", "7 天內", "30 天內", "0800-789-885", "真人客服")
	if _, err := e.box.ReplayOnce(ctx); !Outage(err) {
		t.Fatalf("replay while down: %v", err)
	}
	fl.set(nil)
	before := len(e.said)
	if n, err := e.box.ReplayOnce(ctx); err != nil || n != 1 {
		t.Fatalf("replay: %d %v", n, err)
	}
	list, total, err := e.svc.Complaints(ctx, casesvc.ComplaintFilter{PolicyNumber: "HL20240017"})
	if err != nil || total != 1 {
		t.Fatalf("complaints: %d %v", total, err)
	}
	told := strings.Join(e.said[before:], "\n")
	if !strings.Contains(told, list[0].ID) || !strings.Contains(told, "7 天內") {
		t.Fatalf("told: %s", told)
	}
}

// TestRefusedOnReplayIsTold: a queued item the case service refuses when it is back (here the
// policy was removed meanwhile: ENOTFOUND) is not retried forever; the customer is told and offered
// a person.
func TestRefusedOnReplayIsTold(t *testing.T) {
	var fl *flaky
	e := newEnv(t, func(c dialog.Cases) dialog.Cases { fl = &flaky{Cases: c}; return fl })
	ctx := context.Background()
	e.press("complaint")
	e.say("HL20240017")
	e.say("A123456789")
	e.say("1985-03-02")
	e.press("cat:other")
	e.say("網站很難用")
	e.press("contact:chat")
	fl.set(casesvc.Errorf(casesvc.EUNAVAILABLE, "down"))
	e.press("confirm", "已收到您的客訴")
	fl.set(casesvc.Errorf(casesvc.EINVALID, "refused"))
	before := len(e.said)
	if n, err := e.box.ReplayOnce(ctx); err != nil || n != 1 {
		t.Fatalf("replay: %d %v", n, err)
	}
	if told := strings.Join(e.said[before:], "\n"); !strings.Contains(told, "無法自動完成登記") {
		t.Fatalf("told: %s", told)
	}
	if items, _ := e.box.Items(ctx); items[0].State != StateDelivered || items[0].LastCode != casesvc.EINVALID {
		t.Fatalf("items: %+v", items)
	}
}

func TestOutageClassification(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{nil, false},
		{casesvc.Errorf(casesvc.EUNAVAILABLE, "x"), true},
		{fmt.Errorf("wrapped: %w", casesvc.Errorf(casesvc.EUNAVAILABLE, "x")), true},
		{context.DeadlineExceeded, true},
		{fmt.Errorf("sqlite: create case: %w", context.DeadlineExceeded), true},
		{sql.ErrConnDone, true},
		{context.Canceled, false},
		{casesvc.Errorf(casesvc.EINVALID, "x"), false},
		{casesvc.Errorf(casesvc.ENOTFOUND, "x"), false},
		{casesvc.Errorf(casesvc.ECONFLICT, "x"), false},
		{errors.New("a bug"), false},
		{dialog.ErrQueued, false},
	} {
		if got := Outage(c.err); got != c.want {
			t.Errorf("Outage(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
