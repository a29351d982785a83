package bench

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"claimline/casesvc/server"
	"claimline/internal/testservices"
)

// The claim and Twilio modes run against an in-process gateway of the scaled-out deployment: its
// conversations go to a real redis-server and its cases to a separate case service (run here on a
// listener of its own), with zero errors; the embedded stores are never opened.
func TestScaledOutModesRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for a few seconds")
	}
	redisURL := testservices.StartRedis(t)
	const token = "bench-casesvc-token-0123456789"
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	csCtx, stopCS := context.WithCancel(context.Background())
	csDone := make(chan error, 1)
	go func() {
		csDone <- server.Run(csCtx, server.Config{Listener: ln, DataDir: t.TempDir(), Token: token, SeedDemo: true})
	}()
	t.Cleanup(func() { stopCS(); <-csDone })
	t.Setenv("CLAIMLINE_CASESVC_TOKEN", token)

	for _, mode := range []string{"claim", "twilio"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			data := t.TempDir()
			var out, errw bytes.Buffer
			res, err := run(ctx, []string{"--mode", mode, "--clients", "4", "--duration", "2s", "--echo=false",
				"--data", data, "--redis-url", redisURL, "--casesvc-url", "http://" + ln.Addr().String()}, &out, &errw)
			t.Logf("output:\n%s%s", out.String(), errw.String())
			if err != nil {
				t.Fatal(err)
			}
			if res.Errors != 0 || res.Turns < 1 {
				t.Fatalf("%d errors, %d answered: %v", res.Errors, res.Turns, res.FirstErrors)
			}
			if mode == "claim" && res.Claims < 1 {
				t.Fatalf("no claim filed: %d turns", res.Turns)
			}
			for _, f := range []string{"channels.db", "casesvc.db"} {
				if _, err := os.Stat(filepath.Join(data, f)); err == nil {
					t.Errorf("the scaled-out gateway opened the embedded %s", f)
				}
			}
		})
	}
	opt, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if convs, err := rdb.Keys(context.Background(), "claimline:conv:*").Result(); err != nil || len(convs) == 0 {
		t.Fatalf("no conversation in Redis (%d keys, %v)", len(convs), err)
	}
}

// scripts/bench-scaled-out.sh, the command docs/performance.md gives for the scaled-out figures,
// still runs end to end: its own redis-server and case service, the bench against them with zero
// errors, and the CPU line for Redis and the case service.
func TestScaledOutScriptRuns(t *testing.T) {
	if testing.Short() {
		t.Skip("builds claimline and runs for a few seconds")
	}
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not found in PATH (%v); apt-get install redis-server", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "bash", filepath.Join("..", "..", "scripts", "bench-scaled-out.sh"), "claim", "2s").CombinedOutput()
	t.Logf("output:\n%s", out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`a scaled-out gateway node on Redis, the case service over HTTP`),
		regexp.MustCompile(`claims filed \([0-9.]+ claims/s, [0-9.]+ turns each\); errors 0\n`),
		regexp.MustCompile(`redis-server CPU [0-9.]+ s; claimline casesvc CPU [0-9.]+ s\n`),
	} {
		if !want.Match(out) {
			t.Errorf("the script's output lacks %q", want)
		}
	}
	if regexp.MustCompile(`\b0 claims filed`).Match(out) {
		t.Error("the script's run filed no claim")
	}
}
