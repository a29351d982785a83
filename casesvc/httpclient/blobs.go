package httpclient

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"

	"claimline/casesvc"
	"claimline/casesvc/blobstore"
	"claimline/casesvc/httpapi"
)

// Documents' bytes in the case service (PUT/GET /internal/v1/blobs of casesvc/httpapi/internal.go).
//
// PutBlob reads what it is given into a spool file (in Config.SpoolDir) while hashing it, applies the
// limit and the empty check there — with the errors of casesvc/blobstore, so the channel adapters
// behave as with a local store — and only then uploads the file. The spool makes the upload safe to
// retry (the service stores by content, so a repeat after a lost answer is the same blob) and keeps a
// slow customer from holding a connection to the case service. OpenBlob downloads into a spool file,
// checks the bytes hash to the reference, and hands back the file (it seeks, so the back office
// serves ranges); closing it removes it.

var blobRefPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

// PutBlob stores at most maxBytes from r in the case service and returns the reference to record, the
// hex SHA-256 and the size. blobstore.ErrTooLarge beyond maxBytes (having read maxBytes+1 bytes),
// blobstore.ErrEmpty for nothing, EUNAVAILABLE when the service cannot take it after the retries.
func (c *Client) PutBlob(ctx context.Context, r io.Reader, maxBytes int64) (ref, sum string, size int64, err error) {
	if maxBytes <= 0 {
		return "", "", 0, errors.New("httpclient: maxBytes must be positive")
	}
	maxBytes = min(maxBytes, httpapi.MaxBlobBytes) // the service takes no more

	f, err := c.spoolFile()
	if err != nil {
		return "", "", 0, err
	}
	defer removeFile(f)
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(ctxReader{ctx, r}, maxBytes+1))
	if err != nil {
		return "", "", 0, fmt.Errorf("httpclient: spool a document: %w", err)
	}
	if n > maxBytes {
		return "", "", 0, blobstore.ErrTooLarge
	}
	if n == 0 {
		return "", "", 0, blobstore.ErrEmpty
	}
	sum = hex.EncodeToString(h.Sum(nil))
	var out httpapi.WireBlob
	err = c.retry(ctx, c.cfg.Attempts, func() (bool, error) {
		return c.putAttempt(ctx, f, n, sum, &out)
	})
	if err != nil {
		return "", "", 0, err
	}
	if out.SHA256 != sum || out.Size != n || !blobRefPattern.MatchString(out.Ref) {
		return "", "", 0, casesvc.Errorf(casesvc.EUNAVAILABLE, "The case service stored different bytes than were sent.")
	}
	return out.Ref, out.SHA256, out.Size, nil
}

func (c *Client) putAttempt(ctx context.Context, f *os.File, n int64, sum string, out *httpapi.WireBlob) (again bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.BlobTimeout)
	defer cancel()
	const path = "/internal/v1/blobs"
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, c.url(path), io.NewSectionReader(f, 0, n))
	if err != nil {
		return false, fmt.Errorf("httpclient: %w", err)
	}
	req.ContentLength = n
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(io.NewSectionReader(f, 0, n)), nil }
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Content-Type", "application/octet-stream")
	req.Header.Set(httpapi.BlobSHA256Header, sum)
	resp, err := c.bc.Do(req)
	if err != nil {
		return true, errUnavailable
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil || resp.StatusCode >= 500 {
		return true, errUnavailable
	}
	if resp.StatusCode >= 400 {
		return false, apiError(http.MethodPut, path, resp.StatusCode, data)
	}
	if err := json.Unmarshal(data, out); err != nil {
		return false, fmt.Errorf("httpclient: PUT %s: decode: %w", path, err)
	}
	return false, nil
}

// OpenBlob returns the bytes stored under ref in the case service, checked against ref (their
// SHA-256), as a file that seeks; Close removes it. ENOTFOUND for a ref that is malformed or not
// stored; EUNAVAILABLE when the service cannot answer after the retries.
func (c *Client) OpenBlob(ctx context.Context, ref string) (io.ReadCloser, error) {
	if !blobRefPattern.MatchString(ref) {
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "No stored content for this document.")
	}
	var got *os.File
	err := c.retry(ctx, c.cfg.Attempts, func() (again bool, err error) {
		got, again, err = c.getAttempt(ctx, ref)
		return again, err
	})
	if err != nil {
		return nil, err
	}
	return spooled{got}, nil
}

func (c *Client) getAttempt(ctx context.Context, ref string) (_ *os.File, again bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.BlobTimeout)
	defer cancel()
	path := "/internal/v1/blobs/" + ref
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url(path), nil)
	if err != nil {
		return nil, false, fmt.Errorf("httpclient: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.cfg.Token)
	resp, err := c.bc.Do(req)
	if err != nil {
		return nil, true, errUnavailable
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 {
		return nil, true, errUnavailable
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, false, apiError(http.MethodGet, "/internal/v1/blobs/{ref}", resp.StatusCode, data)
	}
	f, err := c.spoolFile()
	if err != nil {
		return nil, false, err
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(resp.Body, httpapi.MaxBlobBytes+1))
	if err != nil || n > httpapi.MaxBlobBytes || hex.EncodeToString(h.Sum(nil)) != ref {
		removeFile(f)
		return nil, true, errUnavailable // cut short or damaged on the way
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		removeFile(f)
		return nil, false, fmt.Errorf("httpclient: %w", err)
	}
	return f, false, nil
}

func (c *Client) url(path string) string {
	u := *c.base
	u.Path = c.base.Path + path
	return u.String()
}

// spoolFile creates a private temporary file in the spool directory.
func (c *Client) spoolFile() (*os.File, error) {
	f, err := os.CreateTemp(c.cfg.SpoolDir, "claimline-blob-*")
	if err != nil {
		return nil, fmt.Errorf("httpclient: spool file: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		removeFile(f)
		return nil, fmt.Errorf("httpclient: spool file: %w", err)
	}
	return f, nil
}

func removeFile(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

// spooled is a downloaded blob: an *os.File (it reads and seeks) removed when closed.
type spooled struct{ *os.File }

func (s spooled) Close() error {
	err := s.File.Close()
	os.Remove(s.File.Name())
	return err
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// Blobs is the case service's blob store seen from a gateway node: casesvc.Blobs, and so the
// Documents of the web chat, Telegram and SMS adapters and the back office's WithBlobs.
type Blobs struct{ c *Client }

// Blobs returns the case service's blob store through this client.
func (c *Client) Blobs() *Blobs { return &Blobs{c: c} }

// Put stores at most maxBytes from r in the case service (Client.PutBlob).
func (b *Blobs) Put(ctx context.Context, r io.Reader, maxBytes int64) (ref, sha256 string, size int64, err error) {
	return b.c.PutBlob(ctx, r, maxBytes)
}

// Open returns the bytes stored under ref (Client.OpenBlob), within the retries' time.
func (b *Blobs) Open(ref string) (io.ReadCloser, error) {
	return b.c.OpenBlob(context.Background(), ref)
}

// Interface guards
var _ casesvc.Blobs = (*Blobs)(nil)
