package webchat

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/dialog"
)

// Documents stores the bytes of uploaded files, content-addressed. casesvc/blobstore satisfies it
// (casesvc.Blobs has the same Put).
type Documents interface {
	// Put stores at most maxBytes from r and returns its reference, hex SHA-256 and size.
	Put(ctx context.Context, r io.Reader, maxBytes int64) (ref, sha256 string, size int64, err error)
}

// Upload limits (http-api.md 1.2).
const (
	MaxUploadSize  = 20 << 20 // bytes per file
	MaxUploadFiles = 10       // files per request
	maxOtherField  = 4 << 10  // bytes of a form field that is not a file (ignored)
	uploadTimeout  = 2 * time.Minute
)

// Upload error codes.
const (
	codeUnsupportedType = "unsupported_type"
	codeFileTooLarge    = "file_too_large"
	codeEmptyFile       = "empty_file"
	codeBadMultipart    = "bad_multipart"
	codeFileRequired    = "file_required"
	codeTooManyFiles    = "too_many_files"
)

// uploadError is a refusal of the request, with its status and a message for the customer.
type uploadError struct {
	status        int
	code, message string
}

func (e *uploadError) Error() string { return e.code }

// spooled is one checked file waiting in the temp dir until every file of the request passed.
type spooled struct {
	f           *os.File
	filename    string
	contentType string
	size        int64
}

type uploadedDocument struct {
	ID          string `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
	SHA256      string `json:"sha256"`
}

// handleUpload serves POST /webchat/upload: every file is read through a limit into the temp dir and
// checked (type sniffed from the content, size); only when all passed are they stored in Documents,
// then the conversation receives one customer message carrying them all, and only then the answer
// is 201. A refused request stores nothing.
func (s *Server) handleUpload(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Use POST.")
		return
	}
	if s.docs == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "Uploads are not available.")
		return
	}
	conv, err := s.uploadSession(r)
	if err != nil {
		s.uploadFailed(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), uploadTimeout)
	defer cancel()
	body := http.MaxBytesReader(w, r.Body, MaxUploadFiles*(MaxUploadSize+64<<10)+1<<20)
	files, err := s.spool(r, body)
	defer func() {
		for _, f := range files {
			f.f.Close()
			os.Remove(f.f.Name())
		}
	}()
	if err != nil {
		// Read the rest (bounded by MaxBytesReader) so the client gets the answer, not a reset.
		io.Copy(io.Discard, body)
		s.uploadFailed(w, err)
		return
	}

	atts := make([]dialog.Attachment, 0, len(files))
	sums := make([]string, 0, len(files))
	for _, f := range files {
		if _, err := f.f.Seek(0, io.SeekStart); err != nil {
			s.uploadFailed(w, err)
			return
		}
		ref, sum, size, err := s.docs.Put(ctx, f.f, MaxUploadSize)
		if err != nil {
			s.log.Error("webchat upload store", "conversation", conv.ID, "code", casesvc.ErrorCode(err), "err", err)
			writeError(w, http.StatusServiceUnavailable, "unavailable", "The file could not be stored; please try again.")
			return
		}
		atts = append(atts, dialog.Attachment{
			ID: newDocumentID(), Filename: f.filename, ContentType: f.contentType, Size: size, SHA256: sum, BlobRef: ref,
		})
		sums = append(sums, sum)
	}
	msg, _, err := s.router.ReceiveInto(ctx, conv.ID, channels.Inbound{
		Channel: channels.ChannelWebchat, Contact: conv.Contact, ClientID: uploadClientID(sums),
		Attachments: atts, ReceivedAt: time.Now(),
	})
	if err != nil {
		s.internalError(w, err, "upload receive")
		return
	}
	// A repeated upload of the same files is answered with the documents first stored.
	out := struct {
		Documents []uploadedDocument `json:"documents"`
	}{Documents: make([]uploadedDocument, 0, len(msg.Attachments))}
	for _, a := range msg.Attachments {
		out.Documents = append(out.Documents, uploadedDocument{ID: a.ID, Filename: a.Filename, ContentType: a.ContentType, Size: a.Size, SHA256: a.SHA256})
	}
	writeJSON(w, http.StatusCreated, out)
}

// uploadSession finds the conversation of the Bearer session token, compared through its hash like
// the websocket's hello.
func (s *Server) uploadSession(r *http.Request) (*channels.Conversation, error) {
	refused := &uploadError{http.StatusUnauthorized, codeInvalidSession, "Unknown session; reload the chat and try again."}
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || !validSession(strings.TrimSpace(token)) {
		return nil, refused
	}
	conv, err := s.router.FindConversation(r.Context(), channels.ChannelWebchat, sessionContact(strings.TrimSpace(token)))
	if casesvc.ErrorCode(err) == casesvc.ENOTFOUND {
		return nil, refused
	}
	return conv, err
}

// spool reads every `file` part into the temp dir, checking each; it returns what it spooled (to be
// removed by the caller) even on error.
func (s *Server) spool(r *http.Request, body io.Reader) ([]spooled, error) {
	bad := &uploadError{http.StatusBadRequest, codeBadMultipart, "The upload is not a valid multipart/form-data body."}
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, bad
	}
	mr := multipart.NewReader(body, params["boundary"])
	var files []spooled
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		} else if err != nil {
			return files, readError(err, bad)
		}
		if part.FormName() != "file" {
			n, err := io.Copy(io.Discard, io.LimitReader(part, maxOtherField+1))
			if err != nil {
				return files, readError(err, bad)
			}
			if n > maxOtherField {
				return files, bad
			}
			continue
		}
		if len(files) == MaxUploadFiles {
			return files, &uploadError{http.StatusBadRequest, codeTooManyFiles, "At most 10 files at a time."}
		}
		f, err := os.CreateTemp(s.tempDir, "claimline-upload-*")
		if err != nil {
			return files, err
		}
		sp := spooled{f: f, filename: channels.CleanFilename(part.FileName())}
		files = append(files, sp)
		n, err := io.Copy(f, io.LimitReader(part, MaxUploadSize+1))
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				return files, err // the disk, not the client
			}
			return files, readError(err, bad)
		}
		switch {
		case n > MaxUploadSize:
			return files, &uploadError{http.StatusRequestEntityTooLarge, codeFileTooLarge, "A file may be at most 20 MB."}
		case n == 0:
			return files, &uploadError{http.StatusBadRequest, codeEmptyFile, "The file is empty."}
		}
		head := make([]byte, 512)
		k, err := f.ReadAt(head, 0)
		if err != nil && err != io.EOF {
			return files, err
		}
		ctype := channels.SniffDocument(head[:k])
		if ctype == "" {
			return files, &uploadError{http.StatusUnsupportedMediaType, codeUnsupportedType, "Only JPEG, PNG, HEIC photos and PDF files can be sent."}
		}
		files[len(files)-1].contentType = ctype
		files[len(files)-1].size = n
	}
	if len(files) == 0 {
		return nil, &uploadError{http.StatusBadRequest, codeFileRequired, "Choose a file to send (form field \"file\")."}
	}
	return files, nil
}

// readError maps a failure reading the request body: too large as a whole, or broken multipart.
func readError(err error, bad *uploadError) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &uploadError{http.StatusRequestEntityTooLarge, codeFileTooLarge, "The upload is too large."}
	}
	return bad
}

func (s *Server) uploadFailed(w http.ResponseWriter, err error) {
	var ue *uploadError
	if errors.As(err, &ue) {
		writeError(w, ue.status, ue.code, ue.message)
		return
	}
	s.internalError(w, err, "upload")
}

// uploadClientID names an upload by its set of files, so a retried identical upload is stored once.
func uploadClientID(sums []string) string {
	sorted := slices.Clone(sums)
	slices.Sort(sorted)
	h := sha256.Sum256([]byte(strings.Join(sorted, "\n")))
	return uploadIDPrefix + hex.EncodeToString(h[:])
}

const uploadIDPrefix = "upload:"

// reservedID reports client-chosen ids the gateway keeps for itself.
func reservedID(id string) bool {
	return strings.HasPrefix(id, uploadIDPrefix) || channels.ReservedClientID(id)
}

func newDocumentID() string { return "doc_" + strings.ToLower(rand.Text()) }
