package telegram

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unicode"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"claimline/channels"
	"claimline/dialog"
)

// downloadTimeout bounds getFile and the download of one file.
const downloadTimeout = 90 * time.Second

// receiveFile takes a photo (its largest size) or a document: getFile, download from
// <APIBase>/file/bot<token>/<file_path> (the library's File.Link is fixed to the public host), sniff
// the type from the bytes, store through Documents. A file the customer must change (too large, not
// JPEG/PNG/HEIC/PDF, gone) gives refusal, the catalog key of the polite answer, and nothing is
// stored. err is for failures worth another try (the Bot API or the store unreachable).
func (a *Adapter) receiveFile(ctx context.Context, m *tgbotapi.Message) (att dialog.Attachment, refusal string, err error) {
	if a.docs == nil {
		return att, msgFileFailed, nil
	}
	var fileID, name string
	var size int
	if len(m.Photo) > 0 {
		p := largestPhoto(m.Photo)
		fileID, size, name = p.FileID, p.FileSize, "photo"
	} else {
		fileID, size, name = m.Document.FileID, m.Document.FileSize, channels.CleanFilename(m.Document.FileName)
	}
	if size > MaxFileSize {
		return att, msgTooLarge, nil
	}
	ctx, cancel := context.WithTimeout(ctx, downloadTimeout)
	defer cancel()
	f, err := a.api(ctx).GetFile(tgbotapi.FileConfig{FileID: fileID})
	var te *tgbotapi.Error
	switch {
	case errors.As(err, &te) && strings.Contains(strings.ToLower(te.Message), "too big"):
		return att, msgTooLarge, nil
	case errors.As(err, &te) && te.Code >= 400 && te.Code < 500 && te.Code != 429:
		a.log.Warn("telegram getFile refused", "code", te.Code)
		return att, msgFileFailed, nil
	case err != nil:
		return att, "", fmt.Errorf("telegram getFile: %w", err)
	case f.FileSize > MaxFileSize:
		return att, msgTooLarge, nil
	case f.FilePath == "":
		return att, msgFileFailed, nil
	}

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.fileURL(f.FilePath), nil)
	if err != nil {
		return att, msgFileFailed, nil
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return att, "", fmt.Errorf("telegram file download: %w", redact(err, a.token))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		return att, "", fmt.Errorf("telegram file download: status %d", resp.StatusCode)
	case resp.StatusCode != http.StatusOK:
		a.log.Warn("telegram file download refused", "status", resp.StatusCode)
		return att, msgFileFailed, nil
	case resp.ContentLength > MaxFileSize:
		return att, msgTooLarge, nil
	}
	body := &capped{r: resp.Body, left: MaxFileSize}
	head := make([]byte, 512)
	n, err := io.ReadFull(body, head)
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return att, "", fmt.Errorf("telegram file download: %w", redact(err, a.token))
	}
	head = head[:n]
	ctype := channels.SniffDocument(head)
	if ctype == "" {
		return att, msgUnsupportedFile, nil
	}
	ref, sum, stored, err := a.docs.Put(ctx, io.MultiReader(bytes.NewReader(head), body), MaxFileSize)
	switch {
	case body.over:
		return att, msgTooLarge, nil
	case err != nil:
		return att, "", fmt.Errorf("telegram file store: %w", redact(err, a.token))
	}
	if name == "photo" {
		name = "photo" + extension(ctype)
	}
	return dialog.Attachment{
		ID: newDocumentID(), Filename: name, ContentType: ctype, Size: stored, SHA256: sum, BlobRef: ref,
	}, "", nil
}

// fileURL is <APIBase>/file/bot<token>/<file_path>, each path segment escaped.
func (a *Adapter) fileURL(filePath string) string {
	segs := strings.Split(strings.TrimPrefix(filePath, "/"), "/")
	for i, s := range segs {
		segs[i] = pathEscape(s)
	}
	return a.apiBase + "/file/bot" + a.token + "/" + strings.Join(segs, "/")
}

func pathEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && (unicode.IsLetter(rune(c)) || unicode.IsDigit(rune(c)) || strings.IndexByte("-._~", c) >= 0) {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// capped reads at most left bytes of r; reading past them fails and sets over, so a file larger than
// it said is refused, not truncated.
type capped struct {
	r    io.Reader
	left int64
	over bool
}

var errTooLarge = errors.New("telegram: file larger than 20 MB")

func (c *capped) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		n, err := c.r.Read(one[:])
		if n > 0 {
			c.over = true
			return 0, errTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

func largestPhoto(sizes []tgbotapi.PhotoSize) tgbotapi.PhotoSize {
	best := sizes[len(sizes)-1] // Telegram lists them smallest first
	for _, p := range sizes {
		if p.Width*p.Height > best.Width*best.Height {
			best = p
		}
	}
	return best
}

func extension(ctype string) string {
	switch ctype {
	case "image/png":
		return ".png"
	case "image/heic":
		return ".heic"
	case "application/pdf":
		return ".pdf"
	}
	return ".jpg"
}
