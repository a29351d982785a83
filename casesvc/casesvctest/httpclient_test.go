package casesvctest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/casesvctest"
	"claimline/casesvc/httpapi"
	"claimline/casesvc/httpclient"
)

const serviceToken = "contract-suite-service-token"

// TestHTTPClient runs the suite through the HTTP client against a real HTTP server whose store is SQLite.
func TestHTTPClient(t *testing.T) {
	casesvctest.TestService(t, func(t *testing.T, now func() time.Time) casesvc.Service {
		store := openSQLite(t, now)
		mux := http.NewServeMux()
		mux.Handle("/internal/v1/", httpapi.NewInternal(store, serviceToken, nil))
		srv := httptest.NewServer(mux)
		t.Cleanup(srv.Close)
		c, err := httpclient.New(httpclient.Config{URL: srv.URL, Token: serviceToken})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	})
}
