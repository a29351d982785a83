package httpclient_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/blobstore"
	"claimline/casesvc/httpapi"
	"claimline/casesvc/httpclient"
)

const blobToken = "blob-client-test-token-0123"

// blobService is the internal API over a real blob store; the first failPuts PUTs read part of the
// body and answer 503, as a service restarting mid-upload.
func blobService(t *testing.T, failPuts int32) (c *httpclient.Client, spool string, puts *atomic.Int32) {
	t.Helper()
	bs, err := blobstore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.NewInternal(nil, blobToken, nil, httpapi.WithBlobs(bs))
	puts = &atomic.Int32{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			if n := puts.Add(1); n <= failPuts {
				io.CopyN(io.Discard, r.Body, 1000)
				w.WriteHeader(http.StatusServiceUnavailable)
				return
			}
		}
		api.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	spool = t.TempDir()
	c, err = httpclient.New(httpclient.Config{URL: srv.URL, Token: blobToken, Backoff: time.Millisecond, SpoolDir: spool})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, spool, puts
}

func emptyDir(t *testing.T, dir string) {
	t.Helper()
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		t.Errorf("the spool directory keeps %d files", len(es))
	}
}

// oneShot is a reader that can be read once, like a customer's upload stream.
type oneShot struct {
	r    io.Reader
	read int64
}

func (o *oneShot) Read(p []byte) (int, error) {
	n, err := o.r.Read(p)
	o.read += int64(n)
	return n, err
}

func TestPutBlobRetriesFromTheSpoolAndOpenReadsItBack(t *testing.T) {
	c, spool, puts := blobService(t, 2)
	content := make([]byte, 3<<20+17)
	rand.Read(content)
	h := sha256.Sum256(content)
	sum := hex.EncodeToString(h[:])

	blobs := c.Blobs()
	var _ casesvc.Blobs = blobs
	ref, gotSum, size, err := blobs.Put(context.Background(), &oneShot{r: bytes.NewReader(content)}, httpapi.MaxBlobBytes)
	if err != nil {
		t.Fatal(err)
	}
	if ref != sum || gotSum != sum || size != int64(len(content)) {
		t.Errorf("Put = %s %s %d, want %s twice and %d", ref, gotSum, size, sum, len(content))
	}
	if n := puts.Load(); n != 3 {
		t.Errorf("PUT attempts = %d, want 3 (two 503s, then stored from the spool)", n)
	}
	emptyDir(t, spool)

	rc, err := blobs.Open(ref)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := rc.(io.ReadSeeker); !ok {
		t.Error("Open's answer does not seek: the back office could not serve ranges")
	}
	got, _ := io.ReadAll(rc)
	if !bytes.Equal(got, content) {
		t.Errorf("Open: %d bytes, identical %v", len(got), bytes.Equal(got, content))
	}
	rc.Close()
	emptyDir(t, spool)

	// The same bytes again are the same blob.
	if ref2, _, _, err := c.PutBlob(context.Background(), bytes.NewReader(content), httpapi.MaxBlobBytes); err != nil || ref2 != ref {
		t.Errorf("the same bytes again: %s %v", ref2, err)
	}
}

func TestPutBlobLimitsLikeTheLocalStore(t *testing.T) {
	c, spool, puts := blobService(t, 0)
	ctx := context.Background()
	r := &oneShot{r: bytes.NewReader(make([]byte, 100))}
	if _, _, _, err := c.PutBlob(ctx, r, 10); !errors.Is(err, blobstore.ErrTooLarge) {
		t.Errorf("11+ bytes with a limit of 10: %v, want blobstore.ErrTooLarge", err)
	}
	if r.read != 11 {
		t.Errorf("read %d bytes, want 11 (the adapters' counters see the excess as with the local store)", r.read)
	}
	if _, _, _, err := c.PutBlob(ctx, bytes.NewReader(nil), 10); !errors.Is(err, blobstore.ErrEmpty) {
		t.Errorf("nothing: %v, want blobstore.ErrEmpty", err)
	}
	if _, _, _, err := c.PutBlob(ctx, bytes.NewReader(make([]byte, httpapi.MaxBlobBytes+1)), 1<<30); !errors.Is(err, blobstore.ErrTooLarge) {
		t.Errorf("beyond the service's limit: %v, want blobstore.ErrTooLarge", err)
	}
	if n := puts.Load(); n != 0 {
		t.Errorf("%d PUTs for refused content, want none", n)
	}
	emptyDir(t, spool)

	if _, err := c.OpenBlob(ctx, hex.EncodeToString(make([]byte, 32))); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Errorf("a ref not stored: %v, want ENOTFOUND", err)
	}
	if _, err := c.OpenBlob(ctx, "../../etc/passwd"); casesvc.ErrorCode(err) != casesvc.ENOTFOUND {
		t.Errorf("a malformed ref: %v, want ENOTFOUND", err)
	}
}

func TestBlobsWhenTheServiceFails(t *testing.T) {
	ctx := context.Background()
	down, err := httpclient.New(httpclient.Config{URL: "http://127.0.0.1:1", Token: blobToken, Backoff: time.Millisecond, SpoolDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := down.PutBlob(ctx, bytes.NewReader([]byte("x")), 10); casesvc.ErrorCode(err) != casesvc.EUNAVAILABLE {
		t.Errorf("PutBlob to a service that is down: %v, want EUNAVAILABLE", err)
	}
	if _, err := down.OpenBlob(ctx, hex.EncodeToString(make([]byte, 32))); casesvc.ErrorCode(err) != casesvc.EUNAVAILABLE {
		t.Errorf("OpenBlob from a service that is down: %v, want EUNAVAILABLE", err)
	}

	// A service that answers other bytes than the reference names (damaged, cut short) is not trusted.
	var gets atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gets.Add(1)
		w.Write([]byte("not the document"))
	}))
	defer srv.Close()
	spool := t.TempDir()
	bad, _ := httpclient.New(httpclient.Config{URL: srv.URL, Token: blobToken, Backoff: time.Millisecond, SpoolDir: spool})
	if _, err := bad.OpenBlob(ctx, hex.EncodeToString(make([]byte, 32))); casesvc.ErrorCode(err) != casesvc.EUNAVAILABLE {
		t.Errorf("damaged bytes: %v, want EUNAVAILABLE", err)
	}
	if gets.Load() != 4 {
		t.Errorf("GET attempts = %d, want 4", gets.Load())
	}
	emptyDir(t, spool)
	// ...nor a PUT answer that does not match what was sent.
	if _, _, _, err := bad.PutBlob(ctx, bytes.NewReader([]byte("x")), 10); err == nil {
		t.Error("PutBlob accepted an answer that is not the blob it sent")
	}
	emptyDir(t, spool)
}
