package httpapi_test

import (
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"claimline/casesvc/blobstore"
	"claimline/casesvc/httpapi"
)

// The gateways' successful calls to the internal API are logged at debug level only (a few per
// customer turn would fill the log); a refused call is logged at info, as every back-office request is.
func TestInternalAPILogsRefusalsNotEverySuccess(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelInfo, slog.LevelDebug} {
		var out syncBuffer
		bs, err := blobstore.New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		logger := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: level}))
		srv := httptest.NewServer(httpapi.NewInternal(nil, blobToken, logger, httpapi.WithBlobs(bs)))
		if resp, _ := blobReq(t, "PUT", srv.URL+"/internal/v1/blobs", blobToken, strings.NewReader("%PDF-1.4")); resp.StatusCode != 200 {
			t.Fatalf("PUT: %d", resp.StatusCode)
		}
		success := out.String()
		if resp, _ := blobReq(t, "PUT", srv.URL+"/internal/v1/blobs", "", strings.NewReader("%PDF-1.4")); resp.StatusCode != 401 {
			t.Fatalf("PUT without the token: %d", resp.StatusCode)
		}
		refusal := strings.TrimPrefix(out.String(), success)
		srv.Close()

		if logged := strings.Contains(success, `msg="casesvc http"`); logged != (level == slog.LevelDebug) {
			t.Errorf("log level %v: a successful internal call logged=%v:\n%s", level, logged, success)
		}
		if !strings.Contains(refusal, `msg="casesvc http"`) || !strings.Contains(refusal, "status=401") || !strings.Contains(refusal, "level=INFO") {
			t.Errorf("log level %v: the refused call was not logged at info:\n%s", level, refusal)
		}
	}
}
