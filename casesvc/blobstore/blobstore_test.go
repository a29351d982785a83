package blobstore_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"claimline/casesvc"
	"claimline/casesvc/blobstore"
)

func TestPutOpen(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "documents")
	s, err := blobstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	content := []byte("%PDF-1.7 a diagnosis certificate")
	want := sha256.Sum256(content)
	ref, sum, size, err := s.Put(ctx, bytes.NewReader(content), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if sum != hex.EncodeToString(want[:]) || ref != sum || size != int64(len(content)) {
		t.Errorf("Put = %s %s %d", ref, sum, size)
	}
	rc, err := s.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, content) {
		t.Errorf("Open = %q", got)
	}
	fi, err := os.Stat(filepath.Join(dir, ref[:2], ref[2:4], ref))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	if di, _ := os.Stat(dir); di.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", di.Mode().Perm())
	}
	// The same bytes again: same ref, stored once, nothing left in tmp.
	ref2, _, _, err := s.Put(ctx, bytes.NewReader(content), 1<<20)
	if err != nil || ref2 != ref {
		t.Errorf("second Put = %s, %v", ref2, err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Errorf("tmp not empty: %v", left)
	}
}

func TestPutRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := blobstore.New(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Put(ctx, strings.NewReader(strings.Repeat("x", 11)), 10); !errors.Is(err, blobstore.ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if _, _, _, err := s.Put(ctx, strings.NewReader(strings.Repeat("x", 10)), 10); err != nil {
		t.Errorf("exactly the limit: %v", err)
	}
	if _, _, _, err := s.Put(ctx, strings.NewReader(""), 10); !errors.Is(err, blobstore.ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, _, err := s.Put(cctx, strings.NewReader("abc"), 10); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	if left, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(left) != 0 {
		t.Errorf("refused writes left files: %v", left)
	}
	for _, ref := range []string{"", "../../etc/passwd", strings.Repeat("a", 64), strings.Repeat("A", 64)} {
		if _, err := s.Open(ref); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
			t.Errorf("Open(%q) = %v", ref, err)
		}
	}
}
