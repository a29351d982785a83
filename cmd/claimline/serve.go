package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"time"
)

// serve runs the gateway and the case service in one process until ctx ends.
func serve(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	accounts, err := staff(cfg, stdout)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	defer ln.Close()
	// With --addr 127.0.0.1:0 the default public URL follows the port actually chosen; signatures
	// of Twilio's webhooks are checked against it.
	if !cfg.PublicURLGiven {
		cfg.PublicURL = "http://" + ln.Addr().String()
	}
	a, err := openApp(ctx, cfg, stderr, openMode{seedDemo: true, channels: true})
	if err != nil {
		return err
	}
	a.Config.Staff = accounts
	defer func() {
		// Running sends get a bounded time to finish; what is left stays pending for the next start.
		closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(closeCtx)
	}()
	fmt.Fprintf(stdout, "claimline %s listening on http://%s\n", version, ln.Addr())
	a.Log.Info("serving", "addr", ln.Addr().String(), "data", cfg.DataDir)
	return a.Serve(ctx, ln)
}
