package nluhttp_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"claimline/dialog/nlu"
	"claimline/dialog/nlu/nluhttp"
)

func builtin(t *testing.T) *nlu.Builtin {
	t.Helper()
	b, err := nlu.New(nlu.Config{})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewBufferString(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

func TestParseEndpoint(t *testing.T) {
	srv := httptest.NewServer(nluhttp.Handler(builtin(t), time.Now))
	defer srv.Close()

	code, out := post(t, srv.URL, `{"text":"昨天下午三點在忠孝東路被機車撞到，腳骨折住院，大概花了三萬五","now":"2026-11-24T10:00:00+08:00"}`)
	if code != 200 {
		t.Fatalf("status %d: %v", code, out)
	}
	if out["lang"] != "zh-TW" || out["intent"].(map[string]any)["name"] != "file_claim" {
		t.Errorf("lang/intent: %v", out)
	}
	if r := out["intent_ranking"].([]any); len(r) != 12 {
		t.Errorf("ranking has %d intents, want 12", len(r))
	}
	var sawTime, sawAmount bool
	for _, e := range out["entities"].([]any) {
		e := e.(map[string]any)
		switch e["type"] {
		case "datetime":
			sawTime = e["value"] == "2026-11-23T15:00:00+08:00" && e["text"] == "昨天下午三點" && e["start"] == 0.0 && e["end"] == 6.0
		case "amount":
			sawAmount = e["value"] == 35000.0
		}
	}
	if !sawTime || !sawAmount {
		t.Errorf("entities: %v", out["entities"])
	}

	for _, tc := range []struct {
		body, code string
		status     int
	}{
		{`{"text":`, "bad_json", 400},
		{`{"text":"  "}`, "text_required", 400},
		{`{"text":"hi","now":"yesterday"}`, "invalid_now", 400},
		{`{"text":"hi","lang":"fr"}`, "invalid_lang", 400},
		{`{"text":"hi","extra":1}`, "bad_json", 400},
		{`{"text":"` + string(bytes.Repeat([]byte("x"), 17<<10)) + `"}`, "too_large", 413},
	} {
		code, out := post(t, srv.URL, tc.body)
		if code != tc.status || out["error"].(map[string]any)["code"] != tc.code {
			t.Errorf("%.30s: %d %v, want %d %s", tc.body, code, out, tc.status, tc.code)
		}
	}
}

func TestRemoteUsesServiceAndFallsBack(t *testing.T) {
	b := builtin(t)
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.FixedZone("", 8*3600))
	answer := func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(nlu.Result{Text: "x", Lang: "en", Intent: nlu.Intent{Name: "complaint", Confidence: 0.99}})
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"service answers", answer, "complaint"},
		{"service fails", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", 500) }, "file_claim"},
		{"service is slow", func(w http.ResponseWriter, r *http.Request) { time.Sleep(300 * time.Millisecond); answer(w, r) }, "file_claim"},
		{"service talks nonsense", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(`{"intent":{"name":"buy_pizza"}}`)) }, "file_claim"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			r := &nluhttp.Remote{URL: srv.URL, Timeout: 100 * time.Millisecond, Fallback: b}
			res, err := r.Parse(context.Background(), "I want to file a claim for my car accident", "", now)
			if err != nil || res.Intent.Name != tc.want {
				t.Errorf("intent %q (%v), want %q", res.Intent.Name, err, tc.want)
			}
		})
	}
}
