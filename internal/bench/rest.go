package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// The REST channel of spec/http-api.md 1.3: POST {sender, text|action, lang} answers with every reply.

type restRequest struct {
	Sender string `json:"sender"`
	Text   string `json:"text,omitempty"`
	Action string `json:"action,omitempty"`
	Lang   string `json:"lang,omitempty"`
}

type restResponse struct {
	Conversation string `json:"conversation"`
	Replies      []struct {
		Seq     int64    `json:"seq"`
		From    string   `json:"from"`
		Text    string   `json:"text"`
		Buttons []button `json:"buttons"`
	} `json:"replies"`
}

var restRun atomic.Int64 // distinguishes senders of runs in one process

// restClaim files one claim as a new sender.
func restClaim(ctx context.Context, client *http.Client, base, sender string, sc script, timeout time.Duration, l *local, stopAt time.Time) (bool, string, error) {
	req := restRequest{Sender: sender, Text: sc.opening, Lang: sc.lang}
	for turns := 0; ; turns++ {
		if turns > maxTurnsPerClaim {
			return false, "no_end", fmt.Errorf("no case id after %d turns", maxTurnsPerClaim)
		}
		body, _ := json.Marshal(req)
		rctx, cancel := context.WithTimeout(ctx, timeout)
		hreq, _ := http.NewRequestWithContext(rctx, http.MethodPost, base+"/api/v1/rest/messages", bytes.NewReader(body))
		hreq.Header.Set("Content-Type", "application/json")
		sent := time.Now()
		resp, err := client.Do(hreq)
		if err != nil {
			cancel()
			return false, "post", err
		}
		var out restResponse
		b, rerr := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		cancel()
		if rerr != nil {
			return false, "read", rerr
		}
		if resp.StatusCode != http.StatusOK {
			return false, fmt.Sprintf("status_%d", resp.StatusCode), fmt.Errorf("%s: %s", resp.Status, b)
		}
		if err := json.Unmarshal(b, &out); err != nil {
			return false, "bad_json", err
		}
		if len(out.Replies) == 0 {
			return false, "no_reply", fmt.Errorf("no reply to %+v", req)
		}
		l.turn(time.Since(sent))
		last := out.Replies[len(out.Replies)-1]
		if last.From == "system" {
			return false, "system_message", fmt.Errorf("system message %q", last.Text)
		}
		if caseIDPattern.MatchString(last.Text) {
			return true, "", nil
		}
		typed, pressed, ok, err := sc.reply(last.Text, last.Buttons)
		if err == nil && !ok {
			err = errUnknownQuestion{last.Text, last.Buttons}
		}
		if err != nil {
			return false, "unknown_question", err
		}
		if time.Now().After(stopAt) || ctx.Err() != nil {
			return false, "", nil
		}
		req = restRequest{Sender: sender, Text: typed, Action: pressed}
	}
}

func runREST(ctx context.Context, e *env) error {
	rec := newRecorder()
	n := e.opts.clients
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: n, MaxIdleConnsPerHost: n, IdleConnTimeout: time.Minute}}
	defer client.CloseIdleConnections()
	runID := restRun.Add(1)
	e.logf("claimline: %d REST customers filing claims for %s...\n", n, e.opts.duration)
	stop := e.profile()
	start := time.Now()
	stopAt := start.Add(e.opts.duration)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := rec.local()
			defer l.flush()
			sc := scriptFor(e.opts.langs[i%len(e.opts.langs)])
			for k := 0; k < 1_000_000 && time.Now().Before(stopAt) && ctx.Err() == nil; k++ {
				sender := fmt.Sprintf("bench-%d-%d-%d-%d", start.UnixNano(), runID, i, k)
				filed, kind, err := restClaim(ctx, client, e.target.URL, sender, sc, e.opts.replyTimeout, l, stopAt)
				if err != nil {
					rec.fail(kind, err)
					select {
					case <-time.After(100 * time.Millisecond):
					case <-ctx.Done():
					}
					continue
				}
				if filed {
					rec.claims.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	stop()
	mem, merr := e.target.readMemory(ctx)
	turns, claims := rec.turns.Load(), rec.claims.Load()
	r := e.result
	r.Turns, r.Claims, r.Errors, r.Elapsed, r.Latency, r.FirstErrors = turns, claims, rec.errors.Load(), elapsed, rec.percentiles(), rec.first
	fmt.Fprintf(e.out, "rest       %d turns in %s = %.1f turns/s; %d claims filed (%.1f claims/s); errors %s\n",
		turns, elapsed.Round(time.Millisecond), rate(turns, elapsed), claims, rate(claims, elapsed), rec.errorSummary())
	fmt.Fprintf(e.out, "           reply latency (request round trip) %s\n", r.Latency)
	if merr != nil {
		fmt.Fprintf(e.out, "           server memory: %v\n", merr)
	} else {
		fmt.Fprintf(e.out, "           server memory: %s\n", mem)
	}
	for _, s := range rec.first {
		fmt.Fprintf(e.out, "           error: %s\n", s)
	}
	return nil
}
