package webchat_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// The widget runs in a real headless Chromium (Debian's package, installed by scripts/test.sh), like
// cmd/claimline's browser tests: without Chromium the test fails, because a UI nobody clicked is not tested.

// dropListener remembers accepted connections so a test can cut them all (a phone losing its network).
type dropListener struct {
	net.Listener
	mu    sync.Mutex
	conns []net.Conn
}

func (l *dropListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.conns = append(l.conns, c)
		l.mu.Unlock()
	}
	return c, err
}

func (l *dropListener) dropAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

func chromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CLAIMLINE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("Chromium not found: install Debian's chromium package (scripts/test.sh does) or set CLAIMLINE_CHROMIUM")
	return ""
}

func browser(t *testing.T, width, height int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium(t)), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(width, height),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// shot keeps a screenshot for people to look at after a run.
func shot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	dir := os.Getenv("CLAIMLINE_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s", path)
}

// eval polls a JavaScript expression until it is true.
func eval(t *testing.T, ctx context.Context, what, js string) {
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
			dump, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('messages').innerText + ' | ' + document.getElementById('status').textContent`))
			t.Fatalf("%s: timed out; page shows:\n%s", what, dump)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

const countMsgs = `document.querySelectorAll('#messages .msg.%s').length`

func TestWidgetInBrowser(t *testing.T) {
	e := newEnv(t)
	// A second server on a listener whose connections the test can cut, sharing the router.
	mux := http.NewServeMux()
	e.wc.Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	dl := &dropListener{Listener: srv.Listener}
	srv.Listener = dl
	srv.Start()
	t.Cleanup(srv.Close)

	ctx := browser(t, 390, 844)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	eval(t, ctx, "greeting", `document.querySelectorAll('#messages .msg.bot').length === 1 &&
		document.getElementById('status').dataset.state === 'online' &&
		document.querySelectorAll('#messages .buttons button').length === 2`)

	// Typing and Enter; markup is shown as text, never parsed.
	hostile := `<img src=x onerror="document.title='pwned'">`
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS(`#input`), hostile+kb.Enter)); err != nil {
		t.Fatal(err)
	}
	eval(t, ctx, "echo", `Array.from(document.querySelectorAll('#messages .msg.bot .bubble')).some(b => b.textContent === 'echo:' + `+jsString(hostile)+`)`)
	eval(t, ctx, "no markup", `document.querySelectorAll('#messages img').length === 0 && document.title !== 'pwned' &&
		document.querySelector('#messages .msg.customer .bubble').textContent === `+jsString(hostile))

	// A button sends an action and shows its label as the customer's bubble.
	eval(t, ctx, "press", `(() => { const b = Array.from(document.querySelectorAll('#messages .buttons button')).find(b => b.textContent === '申請理賠'); b.click(); return true })()`)
	eval(t, ctx, "action reply", `Array.from(document.querySelectorAll('#messages .msg.customer .bubble')).some(b => b.textContent === '申請理賠') &&
		Array.from(document.querySelectorAll('#messages .msg.bot .bubble')).some(b => b.textContent === 'action:file_claim')`)

	// The network drops; a message typed meanwhile is queued and delivered once after the reconnect.
	dl.dropAll()
	eval(t, ctx, "offline", `document.getElementById('status').dataset.state === 'offline'`)
	if err := chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`#input`), "斷線時送出"),
		chromedp.Click(chromedp.CSS(`#send`)),
	); err != nil {
		t.Fatal(err)
	}
	eval(t, ctx, "queued bubble and typing", `document.querySelector('#messages .msg.customer.pending') !== null && document.querySelector('.typing') !== null`)
	shot(t, ctx, "webchat-offline-phone.png")
	eval(t, ctx, "resent after reconnect", `document.getElementById('status').dataset.state === 'online' &&
		Array.from(document.querySelectorAll('#messages .msg.bot .bubble')).some(b => b.textContent === 'echo:斷線時送出') &&
		document.querySelector('#messages .msg.customer.pending') === null && document.querySelector('.typing') === null`)
	// Nothing shown twice.
	eval(t, ctx, "counts", `document.querySelectorAll('#messages .msg.customer').length === 3 && document.querySelectorAll('#messages .msg.bot').length === 4`)
	shot(t, ctx, "webchat-phone.png")

	// A reload resumes the same conversation and rebuilds it without duplicates.
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	eval(t, ctx, "reload", `document.getElementById('status').dataset.state === 'online' &&
		document.querySelectorAll('#messages .msg.customer').length === 3 && document.querySelectorAll('#messages .msg.bot').length === 4`)

	// The language toggle sends "English" and relabels the page.
	eval(t, ctx, "toggle", `(() => { document.getElementById('lang').click(); return true })()`)
	eval(t, ctx, "english", `document.getElementById('send').textContent === 'Send' &&
		Array.from(document.querySelectorAll('#messages .msg.bot .bubble')).some(b => b.textContent === 'echo:English')`)

	desk := browser(t, 1280, 860)
	if err := chromedp.Do(desk, chromedp.Navigate(srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	eval(t, desk, "desktop greeting", `document.querySelectorAll('#messages .msg.bot').length === 1`)
	shot(t, desk, "webchat-desktop.png")
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`)
	return "'" + r.Replace(s) + "'"
}

func TestWidgetUploadInBrowser(t *testing.T) {
	docs := &dirDocs{dir: t.TempDir()}
	e := newEnvDocs(t, docs)
	dir := t.TempDir()
	photo := filepath.Join(dir, "收據.png")
	if err := os.WriteFile(photo, tinyPNG(t), 0o644); err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(dir, "claim.pdf")
	if err := os.WriteFile(exe, tinyELF(), 0o644); err != nil {
		t.Fatal(err)
	}

	ctx := browser(t, 390, 844)
	if err := chromedp.Do(ctx, chromedp.Navigate(e.srv.URL+"/")); err != nil {
		t.Fatal(err)
	}
	eval(t, ctx, "greeting", `document.querySelectorAll('#messages .msg.bot').length === 1 &&
		document.getElementById('status').dataset.state === 'online'`)
	eval(t, ctx, "attach button", `(() => { const b = document.getElementById('attach'); const f = document.getElementById('file');
		return b.querySelector('svg') !== null && b.offsetWidth > 0 && f.type === 'file' && f.multiple &&
			f.accept === 'image/jpeg,image/png,image/heic,application/pdf,.heic' })()`)

	// The attach button's file input: the browser uploads the photo, the bubble shows its name and size.
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(`#file`), []string{photo})); err != nil {
		t.Fatal(err)
	}
	eval(t, ctx, "attachment bubble", `(() => { const a = document.querySelector('#messages .msg.customer:not(.uploading) .attachment');
		return a !== null && a.querySelector('.name').textContent === '收據.png' && /B$/.test(a.querySelector('.size').textContent) &&
			a.querySelector('.icon').textContent !== '' && document.querySelectorAll('#messages img').length === 0 })()`)
	eval(t, ctx, "dialog got the file", `Array.from(document.querySelectorAll('#messages .msg.bot .bubble')).some(b => b.textContent === 'files:收據.png(image/png)')`)
	if files := docs.files(t); len(files) != 1 {
		t.Fatalf("stored %v", files)
	}

	// A refused file: the widget's own words for the refusal, in the page's language, appear as a
	// system line; nothing stored.
	if err := chromedp.Do(ctx, chromedp.SetUploadFiles(chromedp.CSS(`#file`), []string{exe})); err != nil {
		t.Fatal(err)
	}
	eval(t, ctx, "refusal shown", `Array.from(document.querySelectorAll('#messages .msg.system .bubble')).some(b => b.textContent.indexOf('只能傳送 JPEG、PNG、HEIC 照片或 PDF 檔。') >= 0) &&
		document.querySelector('.msg.uploading') === null && !document.getElementById('attach').disabled`)
	if files := docs.files(t); len(files) != 1 {
		t.Fatalf("stored %v", files)
	}
	shot(t, ctx, "webchat-upload-phone.png")

	// A reload replays the attachment bubble from the transcript.
	if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
		t.Fatal(err)
	}
	eval(t, ctx, "replayed", `document.getElementById('status').dataset.state === 'online' &&
		document.querySelectorAll('#messages .msg.customer .attachment').length === 1`)
}
