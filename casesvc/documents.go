package casesvc

import (
	"context"
	"io"
	"path"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// Document statuses.
const (
	DocumentReceived = "received"
	DocumentAccepted = "accepted"
	DocumentRejected = "rejected"
)

// Document request reasons (the one-time notice).
const (
	RequestInitial  = "initial"
	RequestRejected = "rejected"
)

// NewDocument is a document the customer sent, already stored in the blob store.
type NewDocument struct {
	Kind        string // a kind on the case's required list
	Filename    string // as the customer named it; only the base name is kept
	ContentType string // sniffed from the content by the gateway
	Size        int64
	SHA256      string // hex; a repeat of the same bytes for the same kind is not stored twice
	BlobRef     string // Blobs.Put's ref; empty when the bytes are kept elsewhere
	// Channel and Conversation are where it arrived. When both are set and differ from the case's,
	// the case follows the customer there: later notices go to the channel used last.
	Channel      string
	Conversation string
	Actor        string // "bot" or a staff name; default "bot"
}

// DocumentResult is what AddDocument did. Completed is set when this document was the last one
// missing and the case moved to initial_review (a documents_complete notice is queued for the gateway).
type DocumentResult struct {
	Case      *Case    `json:"case"`
	Document  Document `json:"document"`
	Completed bool     `json:"completed"`
	Duplicate bool     `json:"duplicate"` // the same bytes were already on the case for this kind
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// ValidateNewDocument checks a document against the case it is added to. EINVALID.
func ValidateNewDocument(c *Case, nd *NewDocument) error {
	nd.Kind = strings.TrimSpace(nd.Kind)
	if nd.Kind == "" {
		return Errorf(EINVALID, "The document kind is required.")
	}
	if !slices.Contains(c.RequiredDocuments, nd.Kind) {
		return Errorf(EINVALID, "Case %s does not need a document of kind %q; it needs %s.", c.ID, nd.Kind,
			strings.Join(c.RequiredDocuments, ", "))
	}
	nd.Filename = CleanFilename(nd.Filename)
	if nd.Size < 0 {
		return Errorf(EINVALID, "The document size cannot be negative.")
	}
	nd.SHA256 = strings.ToLower(strings.TrimSpace(nd.SHA256))
	if nd.SHA256 != "" && !sha256Hex.MatchString(nd.SHA256) {
		return Errorf(EINVALID, "The document's SHA-256 must be 64 hex digits.")
	}
	if len(nd.ContentType) > 255 || len(nd.BlobRef) > 255 {
		return Errorf(EINVALID, "The document's content type or blob reference is too long.")
	}
	if nd.Actor == "" {
		nd.Actor = "bot"
	}
	return nil
}

// CleanFilename keeps the base name of a customer's file name, without control characters, at
// most 255 bytes; "document" when nothing is left.
func CleanFilename(name string) string {
	name = strings.ReplaceAll(name, `\`, "/")
	name = path.Base(strings.TrimSpace(name))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	for len(name) > 255 {
		_, size := utf8.DecodeLastRuneInString(name)
		name = name[:len(name)-size]
	}
	if name == "" || name == "." || name == "/" || name == ".." {
		return "document"
	}
	return name
}

// Blobs stores document bytes, content-addressed (casesvc/blobstore).
type Blobs interface {
	// Put stores at most maxBytes from r and returns its reference, hex SHA-256 and size.
	Put(ctx context.Context, r io.Reader, maxBytes int64) (ref, sha256 string, size int64, err error)
	// Open returns the bytes stored under ref. ENOTFOUND.
	Open(ref string) (io.ReadCloser, error)
}
