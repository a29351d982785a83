package bench

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"claimline/internal/proccpu"
)

// TestClaimModeRuns keeps the load tool from rotting: a few customers file claims for about three
// seconds against an in-process claimline, with the echo comparison. It asserts completion, zero errors
// and at least one filed claim; never a speed.
func TestClaimModeRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a few seconds")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errw bytes.Buffer
	res, err := run(ctx, []string{"--mode", "claim", "--clients", "3", "--duration", "3s"}, &out, &errw)
	t.Logf("output:\n%s%s", out.String(), errw.String())
	if err != nil {
		t.Fatal(err)
	}
	if res.Errors != 0 {
		t.Fatalf("%d errors: %v", res.Errors, res.FirstErrors)
	}
	if res.Claims < 1 || res.Turns < 1 {
		t.Fatalf("no claim filed: %d turns, %d claims", res.Turns, res.Claims)
	}
	if res.EchoRoundTrips < 1 || !strings.Contains(out.String(), "figure") {
		t.Fatalf("the echo comparison did not run")
	}
	// CPU per unit of work, where the process's CPU time can be read: a turn does more than a bare
	// echo round trip, and neither is free.
	if _, ok := proccpu.Used(); ok {
		if res.CPUPerTurn <= 0 || res.EchoCPUPerRoundTrip <= 0 || res.EchoCPUPerRoundTrip >= res.CPUPerTurn ||
			!strings.Contains(out.String(), "by CPU: ") {
			t.Fatalf("CPU per turn %v, per echo round trip %v", res.CPUPerTurn, res.EchoCPUPerRoundTrip)
		}
	}
}

// TestOtherModesRun runs the REST, steady and idle modes briefly (zero errors, something happened).
func TestOtherModesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a few seconds")
	}
	for _, args := range [][]string{
		{"--mode", "rest", "--clients", "2", "--duration", "2s"},
		{"--mode", "steady", "--clients", "20", "--rate", "5", "--duration", "2s"},
		{"--mode", "idle", "--clients", "20", "--duration", "100ms"},
		{"--mode", "nlu", "--duration", "200ms"},
	} {
		t.Run(args[1], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out, errw bytes.Buffer
			res, err := run(ctx, args, &out, &errw)
			t.Logf("output:\n%s%s", out.String(), errw.String())
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors != 0 {
				t.Fatalf("%d errors: %v", res.Errors, res.FirstErrors)
			}
			// idle: every connection opened (its memory figure is noise at 20 connections)
			if res.Turns == 0 && res.Connections == 0 && res.Latency.N == 0 {
				t.Fatal("nothing was measured")
			}
			if args[1] == "idle" && res.Connections != 20 {
				t.Fatalf("%d idle connections opened and held, want 20", res.Connections)
			}
		})
	}
}

func TestFlags(t *testing.T) {
	t.Setenv("CLAIMLINE_CASESVC_TOKEN", "")
	for _, args := range [][]string{
		{"--mode", "nope"},
		{"--url", "http://10.0.0.1:8080"},
		{"--url", "http://example.com"},
		{"--clients", "-1"},
		{"--mode", "nlu", "--url", "http://127.0.0.1:1"},
		{"--url", "http://127.0.0.1:1", "--redis-url", "redis://127.0.0.1:1/0"},
		{"--casesvc-url", "http://127.0.0.1:1"}, // without CLAIMLINE_CASESVC_TOKEN
	} {
		var out, errw bytes.Buffer
		if _, err := run(context.Background(), args, &out, &errw); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}

// TestWebhookModesRun posts signed Twilio and Telegram webhooks for about two seconds each against an
// in-process claimline with the channel on and a fake provider API: zero errors (every request
// answered 200) and some requests answered; never a speed.
func TestWebhookModesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a few seconds")
	}
	for _, name := range []string{"twilio", "telegram"} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var out, errw bytes.Buffer
			res, err := run(ctx, []string{"--mode", name, "--clients", "8", "--duration", "2s"}, &out, &errw)
			t.Logf("output:\n%s%s", out.String(), errw.String())
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors != 0 {
				t.Fatalf("%d errors: %v", res.Errors, res.FirstErrors)
			}
			if res.Turns < 1 || res.Requests != res.Turns {
				t.Fatalf("%d requests answered 200 of %d", res.Turns, res.Requests)
			}
			if res.CPUPerMessage <= 0 || res.CPUPerMessage > time.Second {
				t.Fatalf("CPU per message %v", res.CPUPerMessage)
			}
			if !strings.Contains(out.String(), "figure") {
				t.Fatal("no figure printed")
			}
		})
	}
	if _, err := run(context.Background(), []string{"--mode", "twilio", "--url", "http://127.0.0.1:1"}, io.Discard, io.Discard); err == nil {
		t.Error("twilio mode accepted --url")
	}
}
