package main

import (
	"context"
	"fmt"
	"io"

	"claimline/casesvc"
	"claimline/casesvc/httpapi"
	"claimline/internal/app"
	"claimline/internal/logging"
)

// openApp builds the embedded deployment from the command line's configuration.
func openApp(ctx context.Context, cfg *config, stderr io.Writer, seedDemo bool) (*app.App, error) {
	return app.Open(ctx, app.Config{
		DataDir:        cfg.DataDir,
		Location:       cfg.Location,
		FormTTL:        cfg.FormTTL,
		PublicURL:      cfg.PublicURL,
		AllowedOrigins: cfg.AllowedOrigins,
		SeedDemo:       seedDemo,
		NLUURL:         cfg.NLUURL,
		NLUTimeout:     cfg.NLUTimeout,
		Logger:         logging.New(stderr, cfg.LogFormat, cfg.LogLevel),
	})
}

// staff returns the configured staff accounts, or demo accounts (one per role) printed once to out.
func staff(cfg *config, out io.Writer) ([]casesvc.Staff, error) {
	entries, err := cfg.staffEntries()
	if err != nil {
		return nil, err
	}
	staff, err := httpapi.ParseStaff(entries)
	if err != nil {
		return nil, fmt.Errorf("CLAIMLINE_STAFF: %w", err)
	}
	if len(staff) > 0 {
		return staff, nil
	}
	staff = httpapi.DemoStaff()
	// Printed on stdout, never logged: tokens are secrets, and logs travel further than a terminal.
	fmt.Fprintln(out, "demo staff accounts (tokens are shown once; set CLAIMLINE_STAFF to choose your own):")
	for _, s := range staff {
		fmt.Fprintf(out, "  %-11s %-16s %s\n", s.Role, s.Name, s.Token)
	}
	return staff, nil
}
