package channels

import (
	"bytes"
	"net/http"
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The rules for customers' files are one rule for every channel (web chat uploads, Telegram files,
// MMS), so they live here rather than in each adapter.

// MaxFilename is the longest file name kept, in runes.
const MaxFilename = 200

// SniffDocument returns the content type of an accepted document from its first bytes (512 are
// enough), or "" when it is not one: JPEG, PNG, HEIC and PDF. The file's name and the client's
// Content-Type are never consulted.
func SniffDocument(head []byte) string {
	if bytes.HasPrefix(head, []byte("%PDF-")) {
		return "application/pdf"
	}
	if len(head) >= 12 && string(head[4:8]) == "ftyp" {
		switch string(head[8:12]) {
		case "heic", "heix", "mif1", "hevc":
			return "image/heic"
		}
	}
	switch ct := http.DetectContentType(head); ct {
	case "image/jpeg", "image/png":
		return ct
	}
	return ""
}

// CleanFilename keeps the base name of a customer's file name, without control or invisible format
// characters (a right-to-left override can disguise an extension), at most 200 runes; "document"
// when nothing is left.
func CleanFilename(name string) string {
	name = strings.ToValidUTF8(name, "")
	name = path.Base(strings.ReplaceAll(name, `\`, "/"))
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if utf8.RuneCountInString(name) > MaxFilename {
		name = string([]rune(name)[:MaxFilename])
	}
	if name == "" || name == "." || name == "/" || name == ".." {
		return "document"
	}
	return name
}
