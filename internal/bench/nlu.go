package bench

import (
	"context"
	"fmt"
	"time"

	"claimline/dialog/nlu"
)

// runNLU times the built-in parser (dialog/nlu Builtin.Parse, what every customer message goes
// through) on every message the claim scripts type, one call at a time, and reports the percentiles
// of one parse. BenchmarkParse in dialog/nlu gives the mean and the allocations of one sentence.
func runNLU(ctx context.Context, e *env) error {
	loc, err := time.LoadLocation("Asia/Taipei")
	if err != nil {
		loc = time.FixedZone("Asia/Taipei", 8*3600)
	}
	p, err := nlu.New(nlu.Config{Location: loc})
	if err != nil {
		return err
	}
	texts := scriptTexts()
	now := time.Now()
	samples := make([]time.Duration, 0, 1<<16)
	stop := e.profile()
	deadline := time.Now().Add(e.opts.duration)
	for i := 0; i < maxSamples && time.Now().Before(deadline) && ctx.Err() == nil; i++ {
		t := texts[i%len(texts)]
		start := time.Now()
		if _, err := p.Parse(ctx, t, "", now); err != nil {
			return err
		}
		samples = append(samples, time.Since(start))
	}
	stop()
	pc := percentiles(samples)
	e.result.Latency = pc
	fmt.Fprintf(e.out, "nlu        %d parses of %d script messages: p50 %s  p90 %s  p99 %s  max %s\n",
		pc.N, len(texts), round(pc.P50), round(pc.P90), round(pc.P99), round(pc.Max))
	verdict := "met"
	if pc.P50 > 50*time.Microsecond {
		verdict = "MISSED"
	}
	fmt.Fprintf(e.out, "figure     NLU parse median %s (target <= 50µs: %s)\n", round(pc.P50), verdict)
	return nil
}
