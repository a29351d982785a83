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

// openMode says what a command needs of the deployment.
type openMode struct {
	seedDemo bool // a new install gets the demo policies (not an import of real ones)
	channels bool // connect the customer channels (serve only: chat and import must not call Telegram)
}

// openApp builds the embedded deployment from the command line's configuration.
func openApp(ctx context.Context, cfg *config, stderr io.Writer, mode openMode) (*app.App, error) {
	ac := app.Config{
		DataDir:        cfg.DataDir,
		Location:       cfg.Location,
		FormTTL:        cfg.FormTTL,
		PublicURL:      cfg.PublicURL,
		AllowedOrigins: cfg.AllowedOrigins,
		SeedDemo:       mode.seedDemo,
		NLUURL:         cfg.NLUURL,
		NLUTimeout:     cfg.NLUTimeout,
		StaffedHours:   cfg.StaffedHours,
		RedisURL:       cfg.RedisURL,
		CasesvcURL:     cfg.CasesvcURL,
		CasesvcToken:   cfg.CasesvcToken,
		AgentMaxChats:  cfg.AgentMaxChats,
		HandoffMaxWait: cfg.HandoffMaxWait,
		Logger:         logging.New(stderr, cfg.LogFormat, cfg.LogLevel),
	}
	if mode.channels {
		ac.Telegram = app.TelegramConfig{Token: cfg.TelegramToken, Secret: cfg.TelegramSecret,
			APIBase: cfg.TelegramAPI, Mode: cfg.TelegramMode}
		if cfg.PublicURLGiven {
			ac.Telegram.PublicURL = cfg.PublicURL
		}
		ac.SMS = app.SMSConfig{AccountSID: cfg.TwilioSID, AuthToken: cfg.TwilioToken, From: cfg.TwilioFrom, APIBase: cfg.TwilioAPI}
	}
	return app.Open(ctx, ac)
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
