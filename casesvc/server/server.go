// Package server is the case service as its own process (`claimline casesvc`): the back office
// (/api/v1/, staff tokens), the internal API for gateways (/internal/v1/, the service token),
// /healthz, /readyz and /metrics, on SQLite in a data directory or on PostgreSQL.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"claimline/casesvc"
	"claimline/casesvc/blobstore"
	"claimline/casesvc/httpapi"
	"claimline/casesvc/postgres"
	"claimline/casesvc/sqlite"
)

// Config configures the process.
type Config struct {
	Addr string // listen address, e.g. 127.0.0.1:8090; ignored when Listener is set
	// Listener, when set, is used instead of listening on Addr (tests pass one bound to :0).
	Listener net.Listener
	// DataDir holds the SQLite database (without PostgresURL) and the documents' bytes.
	DataDir string
	// PostgresURL selects the PostgreSQL store (CLAIMLINE_POSTGRES_URL).
	PostgresURL string
	// Token is the service token gateways present (CLAIMLINE_CASESVC_TOKEN); at least 16 characters.
	Token    string
	Staff    []casesvc.Staff // back-office accounts
	Location *time.Location  // default Asia/Taipei
	Logger   *slog.Logger
	// SeedDemo loads the demo policies into a store that has none.
	SeedDemo bool
	// Ready, when set, is called with the bound address once the server accepts connections.
	Ready func(addr string)
}

// Store is what the process needs of a store: the service, a readiness check and Close.
type Store interface {
	casesvc.Service
	Ping(ctx context.Context) error
	Close() error
}

// Open opens the store cfg selects: PostgreSQL with PostgresURL, else SQLite in DataDir.
func Open(ctx context.Context, cfg Config) (Store, error) {
	if cfg.PostgresURL != "" {
		s, err := postgres.New(ctx, cfg.PostgresURL, postgres.Config{Location: cfg.Location})
		if err != nil {
			return nil, err
		}
		if cfg.SeedDemo {
			if _, err := postgres.SeedDemo(ctx, s); err != nil {
				s.Close()
				return nil, err
			}
		}
		return s, nil
	}
	if cfg.DataDir == "" {
		return nil, errors.New("casesvc: a data directory or a PostgreSQL URL is required")
	}
	s, err := sqlite.New(filepath.Join(cfg.DataDir, "casesvc.db"), sqlite.Config{Location: cfg.Location})
	if err != nil {
		return nil, err
	}
	if cfg.SeedDemo {
		if _, err := sqlite.SeedDemo(ctx, s); err != nil {
			s.Close()
			return nil, err
		}
	}
	return s, nil
}

// Run serves until ctx is cancelled, then shuts down gracefully (10s).
func Run(ctx context.Context, cfg Config) error {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Location == nil {
		loc, err := time.LoadLocation("Asia/Taipei")
		if err != nil {
			loc = time.FixedZone("Asia/Taipei", 8*3600)
		}
		cfg.Location = loc
	}
	if len(cfg.Token) < httpapi.MinServiceTokenLength {
		return fmt.Errorf("casesvc: the service token (CLAIMLINE_CASESVC_TOKEN) must be at least %d characters", httpapi.MinServiceTokenLength)
	}
	if cfg.DataDir == "" {
		cfg.DataDir = "./data"
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("casesvc: data directory: %w", err)
	}
	auth, err := httpapi.NewAuthenticator(cfg.Staff)
	if err != nil {
		return err
	}
	store, err := Open(ctx, cfg)
	if err != nil {
		return fmt.Errorf("casesvc: open store: %w", err)
	}
	defer store.Close()
	blobs, err := blobstore.New(filepath.Join(cfg.DataDir, "documents"))
	if err != nil {
		return fmt.Errorf("casesvc: open document store: %w", err)
	}

	h := Handler(store, blobs, auth, cfg)
	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Addr); err != nil {
			return fmt.Errorf("casesvc: listen: %w", err)
		}
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	cfg.Logger.Info("case service listening", "addr", ln.Addr().String(), "store", storeKind(cfg))
	if cfg.Ready != nil {
		cfg.Ready(ln.Addr().String())
	}
	select {
	case err := <-errc:
		return fmt.Errorf("casesvc: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("casesvc: shutdown: %w", err)
	}
	return nil
}

func storeKind(cfg Config) string {
	if cfg.PostgresURL != "" {
		return "postgres"
	}
	return "sqlite"
}

// Handler is the process's routes: the back office, the internal API, health and metrics.
func Handler(store Store, blobs casesvc.Blobs, auth *httpapi.Authenticator, cfg Config) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "claimline_casesvc_http_requests_total",
		Help: "HTTP requests to the case service by API and status class."}, []string{"api", "code"})
	reg.MustRegister(requests)
	if m, ok := store.(interface{ Collectors() []prometheus.Collector }); ok {
		reg.MustRegister(m.Collectors()...) // SQLite's checkpoints
	}
	count := func(api string, h http.Handler) http.Handler {
		return promhttp.InstrumentHandlerCounter(requests.MustCurryWith(prometheus.Labels{"api": api}), h)
	}

	mux := http.NewServeMux()
	mux.Handle("/api/v1/", count("backoffice", httpapi.New(store, auth, cfg.Logger, httpapi.WithBlobs(blobs), httpapi.WithLocation(cfg.Location))))
	mux.Handle("/internal/v1/", count("internal", httpapi.NewInternal(store, cfg.Token, cfg.Logger, httpapi.WithBlobs(blobs))))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := store.Ping(ctx); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "case store unavailable")
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return mux
}
