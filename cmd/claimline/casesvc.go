package main

import (
	"context"
	"fmt"
	"io"
	"net"

	"claimline/casesvc/server"
	"claimline/internal/logging"
)

// runCasesvc runs the case service alone (the scaled-out deployment): the back office, the internal
// API the gateways call with CLAIMLINE_CASESVC_TOKEN, health and metrics; on SQLite in --data, or on
// PostgreSQL with CLAIMLINE_POSTGRES_URL.
func runCasesvc(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	accounts, err := staff(cfg, stdout)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	return server.Run(ctx, server.Config{
		Listener:    ln,
		DataDir:     cfg.DataDir,
		PostgresURL: cfg.PostgresURL,
		Token:       cfg.CasesvcToken,
		Staff:       accounts,
		Location:    cfg.Location,
		Logger:      logging.New(stderr, cfg.LogFormat, cfg.LogLevel),
		SeedDemo:    true,
		Ready: func(addr string) {
			fmt.Fprintf(stdout, "claimline casesvc %s listening on http://%s\n", version, addr)
		},
	})
}
