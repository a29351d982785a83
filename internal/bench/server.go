package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"claimline/internal/app"
)

// target is the claimline under load: one started here, or a running one (--url).
type target struct {
	URL       string // http://127.0.0.1:PORT
	inProcess bool
	close     func()
	// fake is the loopback provider API (Twilio Messages or Telegram Bot API) of the webhook modes.
	fake *fakeAPI
}

func (t *target) Close() {
	if t.close != nil {
		t.close()
	}
}

func openTarget(ctx context.Context, o options, stderr io.Writer) (*target, error) {
	if o.url != "" {
		t := &target{URL: o.url}
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, t.URL+"/healthz", nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return nil, fmt.Errorf("--url: %w", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("--url: /healthz answered %s", resp.Status)
		}
		return t, nil
	}
	return startServer(ctx, o.dataDir, o.scaledOut, stderr, modes[o.mode].setup)
}

// startServer runs the embedded deployment, wired exactly as `claimline serve` wires it
// (internal/app), on a loopback port with a temporary data directory unless one is given; with
// scaled-out settings, a gateway node of the scaled-out deployment instead. setup, when
// set, adds a channel to the configuration (the webhook modes) once the listening address, the public
// URL webhooks are signed against, is known; it returns the fake provider API it started.
func startServer(ctx context.Context, dataDir string, so scaledOut, stderr io.Writer, setup func(cfg *app.Config, publicURL string) (*fakeAPI, error)) (t *target, err error) {
	var cleanup func()
	if dataDir == "" {
		dir, err := os.MkdirTemp("", "claimline-bench-")
		if err != nil {
			return nil, err
		}
		cleanup = func() { os.RemoveAll(dir) }
		dataDir = dir
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		if cleanup != nil {
			cleanup()
		}
		return nil, err
	}
	publicURL := "http://" + ln.Addr().String()
	cfg := app.Config{DataDir: dataDir, SeedDemo: true, Logger: log,
		RedisURL: so.redisURL, CasesvcURL: so.casesvcURL, CasesvcToken: so.casesvcToken}
	var fake *fakeAPI
	if setup != nil {
		if fake, err = setup(&cfg, publicURL); err != nil {
			ln.Close()
			if cleanup != nil {
				cleanup()
			}
			return nil, err
		}
	}
	a, err := app.Open(ctx, cfg)
	if err != nil {
		ln.Close()
		fake.Close()
		if cleanup != nil {
			cleanup()
		}
		return nil, err
	}
	serveCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := a.Serve(serveCtx, ln); err != nil {
			log.Error("bench server", "err", err)
		}
	}()
	closeAll := func() {
		stop()
		<-done
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(ctx)
		fake.Close() // after the app: its delivery loop calls the fake until it stops
		if cleanup != nil {
			cleanup()
		}
	}
	return &target{URL: publicURL, inProcess: true, close: closeAll, fake: fake}, nil
}
