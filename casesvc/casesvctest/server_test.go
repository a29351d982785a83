package casesvctest_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/casesvctest"
	"claimline/casesvc/httpapi"
	"claimline/casesvc/httpclient"
	"claimline/casesvc/postgres"
	"claimline/casesvc/server"
	"claimline/internal/testservices"
)

// TestHTTPClientOnPostgres runs the suite through the HTTP client against the casesvc process's
// handler (server.Handler: back office, internal API, health) on PostgreSQL.
func TestHTTPClientOnPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL")
	}
	pg := testservices.StartPostgres(t)
	casesvctest.TestService(t, func(t *testing.T, now func() time.Time) casesvc.Service {
		store, err := postgres.New(context.Background(), testservices.CreateDatabase(t, pg),
			postgres.Config{Location: casesvctest.Location, Now: now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { store.Close() })
		auth, _ := httpapi.NewAuthenticator(nil)
		srv := httptest.NewServer(server.Handler(store, nil, auth, server.Config{Token: serviceToken, Location: casesvctest.Location}))
		t.Cleanup(srv.Close)
		c, err := httpclient.New(httpclient.Config{URL: srv.URL, Token: serviceToken})
		if err != nil {
			t.Fatal(err)
		}
		return c
	})
}

// TestServerRun starts the process on SQLite, checks its probes, its token and its shutdown.
func TestServerRun(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- server.Run(ctx, server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Token: serviceToken, SeedDemo: true,
			Ready: func(addr string) { ready <- addr }})
	}()
	var addr string
	select {
	case addr = <-ready:
	case err := <-done:
		t.Fatal(err)
	}
	for _, p := range []string{"/healthz", "/readyz", "/metrics"} {
		resp, err := http.Get("http://" + addr + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, resp, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// The SQLite store's checkpointer is on /metrics (it has run: seeding the demo policies committed).
		if p == "/metrics" && !strings.Contains(string(body), `claimline_sqlite_checkpoints_total{db="casesvc"}`) {
			t.Errorf("/metrics lacks the case database's checkpoints:\n%s", body)
		}
	}
	// No token, no personal data.
	resp, err := http.Get("http://" + addr + "/internal/v1/policies/HL20240017")
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("without the token: %v %v", resp, err)
	}
	resp.Body.Close()
	bad, _ := httpclient.New(httpclient.Config{URL: "http://" + addr, Token: "wrong-token-wrong-token"})
	if _, err := bad.Policy(ctx, "HL20240017"); casesvc.ErrorCode(err) != casesvc.EUNAUTHORIZED {
		t.Errorf("wrong token: %v", err)
	}
	good, _ := httpclient.New(httpclient.Config{URL: "http://" + addr, Token: serviceToken})
	if p, err := good.Policy(ctx, "HL20240017"); err != nil || p.Holder.NationalID != "A123456789" {
		t.Errorf("demo policy: %v %v", p, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The process gone: EUNAVAILABLE, after the retries, within the timeout.
	down, _ := httpclient.New(httpclient.Config{URL: "http://" + addr, Token: serviceToken, Timeout: time.Second, Backoff: time.Millisecond})
	if _, err := down.Case(context.Background(), "CLM-20261124-000001"); casesvc.ErrorCode(err) != casesvc.EUNAVAILABLE {
		t.Errorf("service down: %v", err)
	}
	if err := server.Run(context.Background(), server.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), Token: "short"}); err == nil {
		t.Error("a short token was accepted")
	}
}
