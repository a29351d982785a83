package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"claimline/casesvc/httpapi"
	"claimline/channels/webchat"
)

// serve runs the gateway and the case service in one process until ctx ends.
func serve(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	a, err := openApp(ctx, cfg, stderr, true)
	if err != nil {
		return err
	}
	defer func() {
		// Running sends get a bounded time to finish; what is left stays pending for the next start.
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(closeCtx)
	}()
	staff, err := a.staff(stdout)
	if err != nil {
		return err
	}
	auth, err := httpapi.NewAuthenticator(staff)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// With --addr :0 the public URL follows the port actually chosen.
	if cfg.PublicURL == "http://"+cfg.Addr {
		cfg.PublicURL = "http://" + ln.Addr().String()
	}
	wc, err := webchat.New(webchat.Config{
		Router: a.router, AllowedOrigins: cfg.AllowedOrigins, Logger: a.log, Metrics: a.metrics, Location: cfg.Location,
		Documents: a.blobs,
	})
	if err != nil {
		ln.Close()
		return err
	}
	srv := &http.Server{
		Handler:           newServer(a, auth, wc),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	bgCtx, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	if err := a.startBackground(bgCtx); err != nil {
		ln.Close()
		return err
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	fmt.Fprintf(stdout, "claimline %s listening on http://%s\n", version, ln.Addr())
	a.log.Info("serving", "addr", ln.Addr().String(), "data", cfg.DataDir)
	for _, key := range cfg.Ignored {
		a.log.Warn("this version has no such channel yet; setting ignored", "setting", key)
	}

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	stopBackground()
	wc.Close() // websockets are hijacked connections: Shutdown does not see them
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
