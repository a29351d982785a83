package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"claimline/casesvc"
	"claimline/casesvc/blobstore"
	"claimline/casesvc/httpapi"
	casesqlite "claimline/casesvc/sqlite"
	"claimline/channels"
	"claimline/channels/sqlitestore"
	"claimline/dialog"
	"claimline/dialog/nlu"
	"claimline/internal/logging"
)

// app is the embedded deployment, wired: the case service, the conversation store, understanding,
// the dialog engine and the router. serve, chat and policies import share it.
type app struct {
	cfg      *config
	log      *slog.Logger
	registry *prometheus.Registry
	metrics  *channels.Metrics
	cases    *casesqlite.Service
	blobs    *blobstore.Store
	store    *sqlitestore.Store
	nlu      *nlu.Builtin
	engine   *dialog.Engine
	router   *channels.Router
}

// openApp opens the stores in cfg.DataDir (creating it), seeds demo policies into an empty case store
// when seedDemo is set (an import of real policies must not get them),
// and builds the dialog and the router. Close releases everything, also after a partial failure.
func openApp(ctx context.Context, cfg *config, stderr io.Writer, seedDemo bool) (a *app, err error) {
	a = &app{cfg: cfg, log: logging.New(stderr, cfg.LogFormat, cfg.LogLevel)}
	defer func() {
		if err != nil {
			a.Close(context.Background())
			a = nil
		}
	}()
	// Documents and databases hold personal data: only the service's user may read them.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	a.cases, err = casesqlite.New(filepath.Join(cfg.DataDir, "casesvc.db"), casesqlite.Config{Location: cfg.Location})
	if err != nil {
		return nil, fmt.Errorf("open case store: %w", err)
	}
	if seedDemo {
		if n, err := casesqlite.SeedDemo(ctx, a.cases); err != nil {
			return nil, fmt.Errorf("seed demo policies: %w", err)
		} else if n > 0 {
			a.log.Info("no policies yet: loaded the demo policies (see README)", "count", n)
		}
	}
	// Documents live beside the databases, outside any served path; only staff read them, through
	// the back office.
	a.blobs, err = blobstore.New(filepath.Join(cfg.DataDir, "documents"))
	if err != nil {
		return nil, fmt.Errorf("open document store: %w", err)
	}
	a.store, err = sqlitestore.New(filepath.Join(cfg.DataDir, "channels.db"))
	if err != nil {
		return nil, fmt.Errorf("open conversation store: %w", err)
	}
	a.nlu, err = nlu.New(nlu.Config{Location: cfg.Location})
	if err != nil {
		return nil, fmt.Errorf("build understanding: %w", err)
	}
	a.engine, err = dialog.New(dialog.Config{
		Cases:    a.cases,
		NLU:      dialog.BuiltinNLU(a.nlu),
		Location: cfg.Location,
		FormTTL:  cfg.FormTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("build dialog: %w", err)
	}
	a.registry = prometheus.NewRegistry()
	a.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	a.metrics = channels.NewMetrics(a.registry)
	a.router, err = channels.NewRouter(channels.RouterConfig{
		Store: a.store, Dialog: a.engine, Logger: a.log, Metrics: a.metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("build router: %w", err)
	}
	// Messages stored before a crash but never answered are answered now, before anyone connects.
	n, err := a.router.Recover(ctx)
	if err != nil {
		return nil, fmt.Errorf("recover unanswered messages: %w", err)
	}
	if n > 0 {
		a.log.Info("answered messages left unanswered by the last run", "count", n)
	}
	return a, nil
}

// startBackground starts what runs beside the requests until ctx ends: the outbox's delivery loop
// (push channels) and the relay that turns the case service's notices into messages.
func (a *app) startBackground(ctx context.Context) error {
	if err := a.router.StartDelivery(); err != nil {
		return err
	}
	relay, err := channels.NewNoticeRelay(channels.NoticeRelayConfig{
		Router: a.router, Notices: a.cases, Interval: time.Second, Logger: a.log,
	})
	if err != nil {
		return err
	}
	go relay.Run(ctx)
	return nil
}

// Close stops the router and closes the stores.
func (a *app) Close(ctx context.Context) {
	if a.router != nil {
		a.router.Close(ctx)
	}
	if a.store != nil {
		a.store.Close()
	}
	if a.cases != nil {
		a.cases.Close()
	}
}

// ready reports whether every store answers; /readyz serves it.
func (a *app) ready(ctx context.Context) error {
	return errors.Join(a.cases.Ping(ctx), a.store.Ping(ctx))
}

// staff returns the configured staff accounts, or demo accounts (one per role) printed once to out.
func (a *app) staff(out io.Writer) ([]casesvc.Staff, error) {
	entries, err := a.cfg.staffEntries()
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
