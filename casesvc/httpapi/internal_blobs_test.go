package httpapi_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"claimline/casesvc/blobstore"
	"claimline/casesvc/httpapi"
)

const blobToken = "internal-blob-test-token-0123"

func blobServer(t *testing.T, withBlobs bool) *httptest.Server {
	t.Helper()
	var opts []httpapi.Option
	if withBlobs {
		bs, err := blobstore.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, httpapi.WithBlobs(bs))
	}
	srv := httptest.NewServer(httpapi.NewInternal(nil, blobToken, nil, opts...))
	t.Cleanup(srv.Close)
	return srv
}

func blobReq(t *testing.T, method, url, token string, body io.Reader, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, data
}

func TestInternalBlobs(t *testing.T) {
	srv := blobServer(t, true)
	content := bytes.Repeat([]byte("%PDF-1.4 claimline "), 1000)
	h := sha256.Sum256(content)
	sum := hex.EncodeToString(h[:])

	if resp, _ := blobReq(t, "PUT", srv.URL+"/internal/v1/blobs", "", bytes.NewReader(content)); resp.StatusCode != 401 {
		t.Errorf("PUT without the service token: %d, want 401", resp.StatusCode)
	}
	if resp, _ := blobReq(t, "PUT", srv.URL+"/internal/v1/blobs", "a-staff-token-0123456789", bytes.NewReader(content)); resp.StatusCode != 401 {
		t.Errorf("PUT with another token: %d, want 401", resp.StatusCode)
	}
	for _, method := range []string{"PUT", "POST"} {
		resp, data := blobReq(t, method, srv.URL+"/internal/v1/blobs", blobToken, bytes.NewReader(content), httpapi.BlobSHA256Header, sum)
		var got httpapi.WireBlob
		if resp.StatusCode != 200 || json.Unmarshal(data, &got) != nil {
			t.Fatalf("%s: %d %s", method, resp.StatusCode, data)
		}
		if got.Ref != sum || got.SHA256 != sum || got.Size != int64(len(content)) {
			t.Errorf("%s answered %+v, want ref and sha256 %s, size %d", method, got, sum, len(content))
		}
	}
	if resp, _ := blobReq(t, "GET", srv.URL+"/internal/v1/blobs/"+sum, "", nil); resp.StatusCode != 401 {
		t.Errorf("GET without the service token: %d, want 401", resp.StatusCode)
	}
	resp, data := blobReq(t, "GET", srv.URL+"/internal/v1/blobs/"+sum, blobToken, nil)
	if resp.StatusCode != 200 || !bytes.Equal(data, content) {
		t.Errorf("GET: %d, %d bytes, identical %v", resp.StatusCode, len(data), bytes.Equal(data, content))
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" {
		t.Errorf("GET Content-Type %q", ct)
	}
	resp, data = blobReq(t, "GET", srv.URL+"/internal/v1/blobs/"+sum, blobToken, nil, "Range", "bytes=0-7")
	if resp.StatusCode != 206 || string(data) != "%PDF-1.4" {
		t.Errorf("GET a range: %d %q", resp.StatusCode, data)
	}
	for _, ref := range []string{"0000000000000000000000000000000000000000000000000000000000000000", "..%2f..%2fetc", "abc"} {
		if resp, _ := blobReq(t, "GET", srv.URL+"/internal/v1/blobs/"+ref, blobToken, nil); resp.StatusCode != 404 {
			t.Errorf("GET %s: %d, want 404", ref, resp.StatusCode)
		}
	}
}

func TestInternalBlobsRefuse(t *testing.T) {
	srv := blobServer(t, true)
	put := func(body io.Reader, headers ...string) (int, string) {
		resp, data := blobReq(t, "PUT", srv.URL+"/internal/v1/blobs", blobToken, body, headers...)
		var eb struct {
			Error struct{ Code string } `json:"error"`
		}
		json.Unmarshal(data, &eb)
		return resp.StatusCode, eb.Error.Code
	}
	if code, ec := put(bytes.NewReader(make([]byte, httpapi.MaxBlobBytes+1))); code != 413 || ec != "too_large" {
		t.Errorf("one byte over the limit: %d %s, want 413 too_large", code, ec)
	}
	if code, _ := put(bytes.NewReader(make([]byte, httpapi.MaxBlobBytes))); code != 200 {
		t.Errorf("exactly the limit: %d, want 200", code)
	}
	if code, ec := put(bytes.NewReader(nil)); code != 400 || ec != "invalid" {
		t.Errorf("empty: %d %s, want 400 invalid", code, ec)
	}
	if code, ec := put(bytes.NewReader([]byte("cut short")), httpapi.BlobSHA256Header, "ab"+hex.EncodeToString(make([]byte, 31))); code != 400 || ec != "invalid" {
		t.Errorf("SHA-256 mismatch: %d %s, want 400 invalid", code, ec)
	}

	none := blobServer(t, false)
	if resp, _ := blobReq(t, "PUT", none.URL+"/internal/v1/blobs", blobToken, bytes.NewReader([]byte("x"))); resp.StatusCode != 503 {
		t.Errorf("PUT without a blob store: %d, want 503", resp.StatusCode)
	}
}
