// Package nluhttp carries the NLU parse shape of spec/http-api.md section 3 over HTTP, both ways: the
// handler serves POST /api/v1/nlu/parse from any nlu.Parser, and Remote is a Parser that asks an
// external NLU service of the same shape, falling back to the built-in one when it fails or is slow.
package nluhttp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"claimline/dialog/nlu"
)

// maxRequest bounds a parse request; a customer message is at most 16 KiB on every channel.
const maxRequest = 16 << 10

type parseRequest struct {
	Text string `json:"text"`
	Lang string `json:"lang,omitempty"`
	Now  string `json:"now,omitempty"`
}

// Handler serves POST /api/v1/nlu/parse. now gives the default reference time (the server's clock).
func Handler(p nlu.Parser, now func() time.Time) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "Use POST.")
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxRequest))
		if err != nil {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", "The request is larger than 16 KiB.")
			return
		}
		var req parseRequest
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req); err != nil {
			writeError(w, http.StatusBadRequest, "bad_json", "The body must be a JSON object with text, and optionally lang and now.")
			return
		}
		if strings.TrimSpace(req.Text) == "" {
			writeError(w, http.StatusBadRequest, "text_required", "text must not be empty.")
			return
		}
		switch req.Lang {
		case "", "zh-TW", "zh-CN", "en":
		default:
			writeError(w, http.StatusBadRequest, "invalid_lang", "lang must be zh-TW, zh-CN or en.")
			return
		}
		ref := now()
		if req.Now != "" {
			if ref, err = time.Parse(time.RFC3339, req.Now); err != nil {
				writeError(w, http.StatusBadRequest, "invalid_now", "now must be an RFC 3339 time, e.g. 2026-11-24T10:00:00+08:00.")
				return
			}
		}
		res, err := p.Parse(r.Context(), req.Text, req.Lang, ref)
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", "The message could not be parsed.")
			return
		}
		if res.Entities == nil {
			res.Entities = []nlu.Entity{}
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(res)
	})
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// Remote is a Parser that asks an external NLU service speaking the same parse shape, and answers
// with Fallback (the built-in parser) when the service fails, answers badly or takes longer than
// Timeout — the customer never waits on, or loses a turn to, someone else's model.
type Remote struct {
	URL      string        // the service's parse endpoint
	Timeout  time.Duration // default 500ms
	Client   *http.Client  // default http.DefaultClient
	Fallback nlu.Parser    // required
	Logger   *slog.Logger
}

var _ nlu.Parser = (*Remote)(nil)

// Parse asks the remote service, or the fallback.
func (r *Remote) Parse(ctx context.Context, text, lang string, now time.Time) (nlu.Result, error) {
	res, err := r.remote(ctx, text, lang, now)
	if err == nil {
		return res, nil
	}
	if r.Logger != nil {
		r.Logger.Warn("external NLU failed; using the built-in parser", "err", err.Error())
	}
	return r.Fallback.Parse(ctx, text, lang, now)
}

func (r *Remote) remote(ctx context.Context, text, lang string, now time.Time) (nlu.Result, error) {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 500 * time.Millisecond
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	body, _ := json.Marshal(parseRequest{Text: text, Lang: lang, Now: now.Format(time.RFC3339)})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, r.URL, bytes.NewReader(body))
	if err != nil {
		return nlu.Result{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	client := r.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return nlu.Result{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nlu.Result{}, fmt.Errorf("status %d", resp.StatusCode)
	}
	var res nlu.Result
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&res); err != nil {
		return nlu.Result{}, fmt.Errorf("bad answer: %w", err)
	}
	if !knownIntent(res.Intent.Name) {
		return nlu.Result{}, errors.New("answer has no known intent")
	}
	return res, nil
}

func knownIntent(name string) bool {
	for _, n := range nlu.Intents {
		if n == name {
			return true
		}
	}
	return false
}
