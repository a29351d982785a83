// Package blobstore keeps document bytes as content-addressed files: the name of a file is the
// SHA-256 of its bytes, so a file is written once, never changed, and the same upload twice is
// stored once.
//
// Layout under the root directory (which must lie outside any served path; the gateway uses
// <data dir>/documents): ab/cd/abcd…(64 hex digits), plus tmp/ for writes in progress. Files are
// 0600 and directories 0700: only the service's user may read documents; staff read them through
// the back office (GET /api/v1/cases/{id}/documents/{doc}/content).
package blobstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"

	"claimline/casesvc"
)

var (
	// ErrTooLarge: the content is longer than the limit given to Put. Nothing is stored.
	ErrTooLarge = errors.New("blobstore: content too large")
	// ErrEmpty: the content is empty. Nothing is stored.
	ErrEmpty = errors.New("blobstore: empty content")
)

// Store is a directory of content-addressed files. Safe for concurrent use.
type Store struct {
	root string
}

// New opens (creating with mode 0700) the store rooted at dir.
func New(dir string) (*Store, error) {
	if dir == "" {
		return nil, errors.New("blobstore: empty directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blobstore: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(abs, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("blobstore: %w", err)
	}
	return &Store{root: abs}, nil
}

var refPattern = regexp.MustCompile(`^[0-9a-f]{64}$`)

func (s *Store) path(ref string) string {
	return filepath.Join(s.root, ref[:2], ref[2:4], ref)
}

// Put stores what r yields, at most maxBytes (ErrTooLarge beyond; ErrEmpty for nothing), and returns
// its reference (the hex SHA-256, which is also returned as sha256) and size. The bytes go to a
// temporary file that is synced and renamed into place, so a reader never sees a partial file and
// a crash leaves at most a stray file in tmp/. A cancelled ctx stops the copy.
func (s *Store) Put(ctx context.Context, r io.Reader, maxBytes int64) (ref, sum string, size int64, err error) {
	if maxBytes <= 0 {
		return "", "", 0, errors.New("blobstore: maxBytes must be positive")
	}
	tmp, err := os.CreateTemp(filepath.Join(s.root, "tmp"), "put-*")
	if err != nil {
		return "", "", 0, fmt.Errorf("blobstore: %w", err)
	}
	defer func() {
		if tmp != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(0o600); err != nil {
		return "", "", 0, fmt.Errorf("blobstore: %w", err)
	}
	h := sha256.New()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(ctxReader{ctx, r}, maxBytes+1))
	if err != nil {
		return "", "", 0, fmt.Errorf("blobstore: write: %w", err)
	}
	if n > maxBytes {
		return "", "", 0, ErrTooLarge
	}
	if n == 0 {
		return "", "", 0, ErrEmpty
	}
	if err := tmp.Sync(); err != nil {
		return "", "", 0, fmt.Errorf("blobstore: sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", "", 0, fmt.Errorf("blobstore: close: %w", err)
	}
	ref = hex.EncodeToString(h.Sum(nil))
	final := s.path(ref)
	if err := os.MkdirAll(filepath.Dir(final), 0o700); err != nil {
		return "", "", 0, fmt.Errorf("blobstore: %w", err)
	}
	if _, err := os.Stat(final); err == nil {
		os.Remove(tmp.Name()) // same bytes already stored
	} else if err := os.Rename(tmp.Name(), final); err != nil {
		return "", "", 0, fmt.Errorf("blobstore: rename: %w", err)
	} else if d, err := os.Open(filepath.Dir(final)); err == nil {
		d.Sync() // make the rename durable
		d.Close()
	}
	tmp = nil
	return ref, ref, n, nil
}

// Open returns the bytes stored under ref (an *os.File: it seeks, for http.ServeContent).
// ENOTFOUND for a ref that is malformed or not stored.
func (s *Store) Open(ref string) (io.ReadCloser, error) {
	if !refPattern.MatchString(ref) {
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "No stored content for this document.")
	}
	f, err := os.Open(s.path(ref))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, casesvc.Errorf(casesvc.ENOTFOUND, "No stored content for this document.")
	} else if err != nil {
		return nil, fmt.Errorf("blobstore: open: %w", err)
	}
	return f, nil
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

// Interface guards
var _ casesvc.Blobs = (*Store)(nil)
