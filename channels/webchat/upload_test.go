package webchat_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"claimline/casesvc/blobstore"
	"claimline/channels"
	"claimline/channels/webchat"
	"claimline/dialog"
)

// dirDocs is a content-addressed file store like casesvc/blobstore: a file per SHA-256 in a directory.
type dirDocs struct {
	dir string
	mu  sync.Mutex
}

func (d *dirDocs) Put(ctx context.Context, r io.Reader, maxBytes int64) (string, string, int64, error) {
	tmp, err := os.CreateTemp(d.dir, ".tmp-*")
	if err != nil {
		return "", "", 0, err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, maxBytes+1))
	tmp.Close()
	if err != nil {
		return "", "", 0, err
	}
	if n > maxBytes {
		return "", "", 0, fmt.Errorf("too large")
	}
	sum := hex.EncodeToString(h.Sum(nil))
	d.mu.Lock()
	defer d.mu.Unlock()
	if err := os.Rename(tmp.Name(), filepath.Join(d.dir, sum)); err != nil {
		return "", "", 0, err
	}
	return "sha256/" + sum, sum, n, nil
}

func (d *dirDocs) files(t *testing.T) []string {
	t.Helper()
	entries, err := os.ReadDir(d.dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), ".tmp-") {
			out = append(out, e.Name())
		}
	}
	return out
}

// Interface guards
var (
	_ webchat.Documents = (*dirDocs)(nil)
	_ webchat.Documents = (*blobstore.Store)(nil) // what cmd/claimline wires
)

func tinyPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 2, 2))
	img.Set(0, 0, color.RGBA{200, 30, 30, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func tinyJPEG(t *testing.T) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := jpeg.Encode(&b, image.NewGray(image.Rect(0, 0, 2, 2)), nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// tinyPDF is a complete one-page PDF.
func tinyPDF() []byte {
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] >>",
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offsets := make([]int, len(objs))
	for i, o := range objs {
		offsets[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, off := range offsets {
		fmt.Fprintf(&b, "%010d 00000 n \n", off)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

func tinyELF() []byte {
	b := make([]byte, 256)
	copy(b, "\x7fELF\x02\x01\x01\x00")
	return b
}

type filePart struct {
	field, filename, ctype string
	data                   []byte
}

func multipartBody(t *testing.T, parts ...filePart) (*bytes.Buffer, string) {
	t.Helper()
	var b bytes.Buffer
	mw := multipart.NewWriter(&b)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		// As browsers write it: the name raw (UTF-8, control characters included), quotes escaped.
		h.Set("Content-Disposition", `form-data; name="`+p.field+`"; filename="`+strings.ReplaceAll(p.filename, `"`, "%22")+`"`)
		if p.ctype != "" {
			h.Set("Content-Type", p.ctype)
		}
		w, err := mw.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(p.data)
	}
	mw.Close()
	return &b, mw.FormDataContentType()
}

func (e *env) upload(t *testing.T, token string, body io.Reader, ctype string) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/webchat/upload", body)
	req.Header.Set("Content-Type", ctype)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return do(t, req)
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// rawMessage reads websocket frames until the message with seq and returns it as raw JSON.
func (c *client) rawMessage(seq int64) map[string]any {
	c.t.Helper()
	for {
		c.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		var m map[string]any
		json.Unmarshal(data, &m)
		if m["type"] == "message" && m["seq"] == float64(seq) {
			return m
		}
		if m["type"] == "message" && m["seq"].(float64) > float64(seq) {
			c.t.Fatalf("skipped seq %d: got %s", seq, data)
		}
	}
}

func TestUploadRefusalsStoreNothing(t *testing.T) {
	docs := &dirDocs{dir: t.TempDir()}
	e := newEnvDocs(t, docs)
	c := e.dial(t)
	w := c.hello(nil)
	c.until(1)
	good, gctype := multipartBody(t, filePart{"file", "a.png", "image/png", tinyPNG(t)})
	goodBytes := good.Bytes()

	big := make([]byte, 21<<20)
	copy(big, tinyPNG(t))
	cases := []struct {
		name   string
		token  string
		body   func() (io.Reader, string)
		status int
		code   string
	}{
		{"executable renamed .pdf", w.Session, func() (io.Reader, string) {
			return multipartBody(t, filePart{"file", "claim.pdf", "application/pdf", tinyELF()})
		}, 415, "unsupported_type"},
		{"text file", w.Session, func() (io.Reader, string) {
			return multipartBody(t, filePart{"file", "note.jpg", "image/jpeg", []byte("just some text, not a photo")})
		}, 415, "unsupported_type"},
		{"21 MiB", w.Session, func() (io.Reader, string) {
			return multipartBody(t, filePart{"file", "huge.png", "image/png", big})
		}, 413, "file_too_large"},
		{"empty file", w.Session, func() (io.Reader, string) {
			return multipartBody(t, filePart{"file", "empty.pdf", "application/pdf", nil})
		}, 400, "empty_file"},
		{"second file bad", w.Session, func() (io.Reader, string) {
			return multipartBody(t, filePart{"file", "ok.png", "", tinyPNG(t)}, filePart{"file", "bad.pdf", "", tinyELF()})
		}, 415, "unsupported_type"},
		{"broken multipart", w.Session, func() (io.Reader, string) {
			cut := goodBytes[:len(goodBytes)-40] // the closing boundary is missing
			return bytes.NewReader(cut), gctype
		}, 400, "bad_multipart"},
		{"not multipart", w.Session, func() (io.Reader, string) {
			return strings.NewReader(`{"file":"x"}`), "application/json"
		}, 400, "bad_multipart"},
		{"no file field", w.Session, func() (io.Reader, string) {
			return multipartBody(t, filePart{"document", "a.png", "image/png", tinyPNG(t)})
		}, 400, "file_required"},
		{"stale token", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", func() (io.Reader, string) {
			return bytes.NewReader(goodBytes), gctype
		}, 401, "invalid_session"},
		{"garbage token", "not-a-session", func() (io.Reader, string) {
			return bytes.NewReader(goodBytes), gctype
		}, 401, "invalid_session"},
		{"no token", "", func() (io.Reader, string) {
			return bytes.NewReader(goodBytes), gctype
		}, 401, "invalid_session"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body, ctype := tc.body()
			res, out := e.upload(t, tc.token, body, ctype)
			if res.StatusCode != tc.status || errCode(out) != tc.code {
				t.Fatalf("got %d %v, want %d %s", res.StatusCode, out, tc.status, tc.code)
			}
			if msg, _ := out["error"].(map[string]any)["message"].(string); msg == "" {
				t.Fatal("no message for the customer")
			}
			if files := docs.files(t); len(files) != 0 {
				t.Fatalf("stored %v", files)
			}
			msgs, _ := e.router.MessagesAfter(context.Background(), w.Conversation, 0, 100)
			if len(msgs) != 1 {
				t.Fatalf("transcript grew: %+v", msgs)
			}
		})
	}
	c.quiet()
}

func TestUploadStoresThenOneMessageWithAttachments(t *testing.T) {
	docs := &dirDocs{dir: t.TempDir()}
	e := newEnvDocs(t, docs)
	c := e.dial(t)
	w := c.hello(nil)
	c.until(1)

	pngData, pdfData := tinyPNG(t), tinyPDF()
	body, ctype := multipartBody(t,
		filePart{"file", "/home/王小明/收據\u202e.png", "application/octet-stream", pngData},
		filePart{"note", "", "", []byte("ignored field")},
		filePart{"file", "診斷證明.pdf", "image/jpeg", pdfData},
	)
	raw := body.Bytes()
	res, out := e.upload(t, w.Session, bytes.NewReader(raw), ctype)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("upload: %d %v", res.StatusCode, out)
	}
	docsOut := out["documents"].([]any)
	if len(docsOut) != 2 {
		t.Fatalf("documents %v", out)
	}
	want := []struct {
		name, ctype string
		data        []byte
	}{{"收據.png", "image/png", pngData}, {"診斷證明.pdf", "application/pdf", pdfData}}
	for i, d := range docsOut {
		m := d.(map[string]any)
		sum := sha256.Sum256(want[i].data)
		if m["filename"] != want[i].name || m["content_type"] != want[i].ctype || m["size"] != float64(len(want[i].data)) ||
			m["sha256"] != hex.EncodeToString(sum[:]) || !strings.HasPrefix(m["id"].(string), "doc_") {
			t.Fatalf("document %d: %v", i, m)
		}
	}
	if files := docs.files(t); len(files) != 2 {
		t.Fatalf("stored %v", files)
	}

	// One customer message carrying both files; clients see no blob refs.
	m := c.rawMessage(2)
	atts, _ := m["attachments"].([]any)
	if m["from"] != "customer" || len(atts) != 2 {
		t.Fatalf("message %v", m)
	}
	first := atts[0].(map[string]any)
	if first["id"] != docsOut[0].(map[string]any)["id"] || first["filename"] != "收據.png" || first["content_type"] != "image/png" {
		t.Fatalf("attachment %v", first)
	}
	for _, k := range []string{"blob_ref", "sha256", "BlobRef"} {
		if _, ok := first[k]; ok {
			t.Fatalf("attachment shows %s: %v", k, first)
		}
	}
	reply := c.rawMessage(3)
	if reply["text"] != "files:收據.png(image/png),診斷證明.pdf(application/pdf)" {
		t.Fatalf("dialog got %v", reply["text"])
	}
	stored, _ := e.router.MessagesAfter(context.Background(), w.Conversation, 1, 1)
	if a := stored[0].Attachments; len(a) != 2 || a[1].BlobRef == "" || a[1].SHA256 == "" {
		t.Fatalf("stored attachments %+v", a)
	}

	// A retried identical upload is processed once and answered with the same documents.
	res, again := e.upload(t, w.Session, bytes.NewReader(raw), ctype)
	if res.StatusCode != http.StatusCreated || fmt.Sprint(again) != fmt.Sprint(out) {
		t.Fatalf("retry: %d %v", res.StatusCode, again)
	}
	if msgs, _ := e.router.MessagesAfter(context.Background(), w.Conversation, 0, 100); len(msgs) != 3 {
		t.Fatalf("retry stored again: %d messages", len(msgs))
	}

	// A JPEG alone, then the resume replays the attachments.
	body, ctype = multipartBody(t, filePart{"file", "photo.heic", "image/heic", tinyJPEG(t)})
	res, out = e.upload(t, w.Session, body, ctype)
	if res.StatusCode != http.StatusCreated || out["documents"].([]any)[0].(map[string]any)["content_type"] != "image/jpeg" {
		t.Fatalf("jpeg: %d %v", res.StatusCode, out)
	}
	if next := c.rawMessage(4); next["from"] != "customer" { // nothing was sent for the retry
		t.Fatalf("after the retry: %v", next)
	}
	c.rawMessage(5)
	c2 := e.dial(t)
	c2.hello(map[string]any{"session": w.Session, "last_seq": 1})
	if again := c2.rawMessage(2); len(again["attachments"].([]any)) != 2 {
		t.Fatalf("replayed %v", again)
	}
}

func TestUploadPDFRenamedJPG(t *testing.T) {
	docs := &dirDocs{dir: t.TempDir()}
	e := newEnvDocs(t, docs)
	c := e.dial(t)
	w := c.hello(nil)
	body, ctype := multipartBody(t, filePart{"file", "receipt.jpg", "image/jpeg", tinyPDF()})
	res, out := e.upload(t, w.Session, body, ctype)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("%d %v", res.StatusCode, out)
	}
	d := out["documents"].([]any)[0].(map[string]any)
	if d["content_type"] != "application/pdf" || d["filename"] != "receipt.jpg" {
		t.Fatalf("document %v", d)
	}
}

func TestUploadWithoutDocumentsIsUnavailable(t *testing.T) {
	e := newEnv(t)
	body, ctype := multipartBody(t, filePart{"file", "a.png", "", tinyPNG(t)})
	if res, out := e.upload(t, "x", body, ctype); res.StatusCode != 503 {
		t.Fatalf("%d %v", res.StatusCode, out)
	}
}

func TestSniffDocument(t *testing.T) {
	heic := append([]byte("\x00\x00\x00\x18ftypheic"), make([]byte, 16)...)
	mif1 := append([]byte("\x00\x00\x00\x1cftypmif1"), make([]byte, 16)...)
	avif := append([]byte("\x00\x00\x00\x1cftypavif"), make([]byte, 16)...)
	for _, tc := range []struct {
		name string
		head []byte
		want string
	}{
		{"png", tinyPNG(t), "image/png"},
		{"jpeg", tinyJPEG(t), "image/jpeg"},
		{"pdf", tinyPDF(), "application/pdf"},
		{"heic", heic, "image/heic"},
		{"mif1", mif1, "image/heic"},
		{"avif", avif, ""},
		{"elf", tinyELF(), ""},
		{"html", []byte("<html><script>alert(1)</script>"), ""},
		{"gif", []byte("GIF89a......"), ""},
		{"zip", []byte("PK\x03\x04"), ""},
	} {
		if got := channels.SniffDocument(tc.head); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestCleanFilename(t *testing.T) {
	for in, want := range map[string]string{
		"收據.png":                          "收據.png",
		`C:\fakepath\photo.jpg`:           "photo.jpg",
		"../../etc/passwd":                "passwd",
		"bad\x00\x1b[31mname.pdf":         "bad[31mname.pdf",
		"invoice\u202egnp.exe":            "invoicegnp.exe",
		"":                                "document",
		"..":                              "document",
		"   ":                             "document",
		strings.Repeat("長", 300) + ".pdf": strings.Repeat("長", 200),
	} {
		if got := channels.CleanFilename(in); got != want {
			t.Errorf("CleanFilename(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEventsAreNotShownButTheirRepliesAre(t *testing.T) {
	e := newEnv(t)
	c := e.dial(t)
	w := c.hello(nil)
	c.until(1)
	_, _, err := e.router.ReceiveInto(context.Background(), w.Conversation, channels.Inbound{
		ClientID: "notice:1", Event: dialog.EventNotice, Notice: &dialog.Notice{ID: 1, CaseID: "CLM-20260101-000001", Kind: "approved"},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := c.read()
	if f.Type != "message" || f.Seq != 3 || f.From != "bot" || f.Text != "notice:approved" {
		t.Fatalf("got %+v, want the reply (seq 3) and no event frame", f)
	}
	// A client may not take the notice ids for its own frames.
	c.send(map[string]string{"type": "message", "id": "notice:2", "text": "hi"})
	c.expect("error", "invalid_frame")
	// On resume the event is skipped too.
	c2 := e.dial(t)
	c2.hello(map[string]any{"session": w.Session, "last_seq": 1})
	if f := c2.read(); f.Type != "message" || f.Seq != 3 {
		t.Fatalf("resume: %+v", f)
	}
}

func TestUploadIntoRealBlobstore(t *testing.T) {
	dir := t.TempDir()
	bs, err := blobstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvDocs(t, bs)
	c := e.dial(t)
	w := c.hello(nil)
	countFiles := func() int {
		n := 0
		filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				n++
			}
			return nil
		})
		return n
	}
	body, ctype := multipartBody(t, filePart{"file", "claim.pdf", "", tinyELF()})
	if res, out := e.upload(t, w.Session, body, ctype); res.StatusCode != 415 || countFiles() != 0 {
		t.Fatalf("refused: %d %v, %d files", res.StatusCode, out, countFiles())
	}
	body, ctype = multipartBody(t, filePart{"file", "scan.pdf", "", tinyPDF()})
	res, out := e.upload(t, w.Session, body, ctype)
	if res.StatusCode != 201 || countFiles() != 1 {
		t.Fatalf("stored: %d %v, %d files", res.StatusCode, out, countFiles())
	}
	sum := out["documents"].([]any)[0].(map[string]any)["sha256"].(string)
	rc, err := bs.Open(sum)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, tinyPDF()) {
		t.Fatal("stored bytes differ")
	}
}
