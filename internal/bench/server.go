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
	return startServer(ctx, o.dataDir, stderr)
}

// startServer runs the embedded deployment, wired exactly as `claimline serve` wires it
// (internal/app), on a loopback port with a temporary data directory unless one is given.
func startServer(ctx context.Context, dataDir string, stderr io.Writer) (t *target, err error) {
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
	a, err := app.Open(ctx, app.Config{DataDir: dataDir, SeedDemo: true, Logger: log})
	if err != nil {
		if cleanup != nil {
			cleanup()
		}
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close(context.Background())
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
		if cleanup != nil {
			cleanup()
		}
	}
	return &target{URL: "http://" + ln.Addr().String(), inProcess: true, close: closeAll}, nil
}
