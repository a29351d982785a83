package httpclient_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/casesvc/httpclient"
)

// flaky answers 503 to the first fails requests of each path, then {} (or an error body).
func flaky(t *testing.T, fails int) (*httpclient.Client, func(path string) ([]string, int)) {
	var mu sync.Mutex
	calls := map[string]int{}
	keys := map[string][]string{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls[r.URL.Path]++
		n := calls[r.URL.Path]
		keys[r.URL.Path] = append(keys[r.URL.Path], r.Header.Get("Idempotency-Key"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer test-token-test-token" {
			w.WriteHeader(401)
			w.Write([]byte(`{"error":{"code":"unauthorized","message":"no"}}`))
			return
		}
		if n <= fails {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		if r.URL.Path == "/internal/v1/cases/CLM-X/transitions" {
			w.WriteHeader(409)
			w.Write([]byte(`{"error":{"code":"invalid_transition","message":"not now"}}`))
			return
		}
		w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	c, err := httpclient.New(httpclient.Config{URL: srv.URL, Token: "test-token-test-token", Backoff: time.Millisecond, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return c, func(path string) ([]string, int) {
		mu.Lock()
		defer mu.Unlock()
		return keys[path], calls[path]
	}
}

func TestRetriesOnlyIdempotentCalls(t *testing.T) {
	ctx := context.Background()
	c, seen := flaky(t, 2)
	if _, err := c.Case(ctx, "CLM-1"); err != nil {
		t.Errorf("GET after two 503s: %v", err)
	}
	if _, n := seen("/internal/v1/cases/CLM-1"); n != 3 {
		t.Errorf("GET attempts = %d, want 3", n)
	}
	if _, err := c.CreateCase(ctx, casesvc.NewCase{}); err != nil {
		t.Errorf("create after two 503s: %v", err)
	}
	keys, n := seen("/internal/v1/cases")
	if n != 3 || keys[0] == "" || keys[0] != keys[1] || keys[1] != keys[2] {
		t.Errorf("create attempts %d with keys %q: want 3 with one made-up key", n, keys)
	}
	_, err := c.Transition(ctx, "CLM-2", casesvc.TransitionRequest{Action: "close"}, casesvc.Staff{Name: "ben", Role: casesvc.RoleSupervisor})
	if casesvc.ErrorCode(err) != casesvc.EUNAVAILABLE {
		t.Errorf("transition on 503: %v", err)
	}
	if _, n := seen("/internal/v1/cases/CLM-2/transitions"); n != 1 {
		t.Errorf("transition attempts = %d, want 1 (not idempotent)", n)
	}
}

func TestErrorCodesComeBack(t *testing.T) {
	c, _ := flaky(t, 0)
	_, err := c.Transition(context.Background(), "CLM-X", casesvc.TransitionRequest{Action: "close"}, casesvc.Staff{Name: "ben", Role: casesvc.RoleSupervisor})
	if casesvc.ErrorCode(err) != casesvc.EINVALIDTRANSITION || casesvc.ErrorMessage(err) != "not now" {
		t.Errorf("409: %v", err)
	}
	down, _ := httpclient.New(httpclient.Config{URL: "http://127.0.0.1:1", Token: "x", Backoff: time.Millisecond})
	if _, err := down.PendingNotices(context.Background(), 10); casesvc.ErrorCode(err) != casesvc.EUNAVAILABLE {
		t.Errorf("connection refused: %v", err)
	}
	if cat := down.Catalog(); cat == nil {
		t.Error("no fallback catalog while the service is down")
	}
}
