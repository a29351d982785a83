package bench

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// runSteady keeps C web chat conversations each sending one frame every 1/rate seconds (hello
// included), the claim script over and over, and reports the reply latency. A conversation whose reply
// comes later than its next slot sends as soon as it can and the slot counts as late (no bursts).
func runSteady(ctx context.Context, e *env) error {
	rec := newRecorder()
	c := e.opts.clients
	period := time.Duration(float64(time.Second) / e.opts.rate)
	var sent, late atomic.Int64
	start := time.Now()
	stopAt := start.Add(e.opts.duration)
	pace := func(i int) func() bool {
		next := start.Add(time.Duration(int64(period) * int64(i) / int64(c))) // spread evenly over one period
		return func() bool {
			now := time.Now()
			if next.After(stopAt) || ctx.Err() != nil {
				return false
			}
			if d := next.Sub(now); d > 0 {
				t := time.NewTimer(d)
				select {
				case <-t.C:
				case <-ctx.Done():
					t.Stop()
					return false
				}
			} else if -d > period/10 {
				late.Add(1)
				next = now
			}
			next = next.Add(period)
			sent.Add(1)
			return true
		}
	}
	e.logf("claimline: %d web chat conversations, one frame each every %s, for %s...\n", c, period, e.opts.duration)
	stop := e.profile()
	elapsed := driveClaims(ctx, e, rec, c, e.opts.duration, pace)
	stop()
	mem, merr := e.target.readMemory(ctx)
	r := e.result
	r.Turns, r.Claims, r.Errors, r.Elapsed, r.Latency, r.FirstErrors = rec.turns.Load(), rec.claims.Load(), rec.errors.Load(), elapsed, rec.percentiles(), rec.first
	fmt.Fprintf(e.out, "steady     %d frames sent (%.1f/s offered %.0f/s; %d late slots), %d turns answered, %d claims filed; errors %s\n",
		sent.Load(), rate(sent.Load(), elapsed), float64(c)*e.opts.rate, late.Load(), r.Turns, r.Claims, rec.errorSummary())
	verdict := "met"
	if r.Latency.P99 > 25*time.Millisecond {
		verdict = "MISSED"
	}
	fmt.Fprintf(e.out, "           reply latency %s\n", r.Latency)
	fmt.Fprintf(e.out, "figure     p99 reply latency %s with %d conversations at %.3g msg/s each (target <= 25ms: %s)\n", round(r.Latency.P99), c, e.opts.rate, verdict)
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
