// Package app wires the embedded deployment of claimline: the case service, the document store, the
// conversation store, understanding, the dialog engine, the router and the HTTP routes. cmd/claimline
// (serve, chat, policies import) and the load tool (internal/bench) build the same thing through it,
// so what is measured is what runs.
package app

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
	"github.com/redis/go-redis/v9"

	"claimline/casesvc"
	"claimline/casesvc/blobstore"
	"claimline/casesvc/httpapi"
	"claimline/casesvc/httpclient"
	casesqlite "claimline/casesvc/sqlite"
	"claimline/channels"
	"claimline/channels/console"
	"claimline/channels/handoff"
	"claimline/channels/quality"
	"claimline/channels/redisstore"
	"claimline/channels/sms"
	"claimline/channels/sqlitestore"
	"claimline/channels/telegram"
	"claimline/channels/webchat"
	"claimline/dialog"
	"claimline/dialog/nlu"
	"claimline/dialog/nlu/nluhttp"
	"claimline/internal/intake" // [intake]
)

// Config is what the wiring needs; cmd/claimline fills it from flags and the environment.
type Config struct {
	DataDir        string
	Location       *time.Location
	FormTTL        time.Duration
	PublicURL      string
	AllowedOrigins []string
	// SeedDemo loads the demo policies into an empty case store (a new install); an import of real
	// policies must not get them.
	SeedDemo bool
	// Staff are the accounts of the back office; none means nobody gets in.
	Staff  []casesvc.Staff
	Logger *slog.Logger
	// NLUURL, when set, is an external NLU service with the parse shape of spec section 3; the built-in
	// parser answers when it fails or takes longer than NLUTimeout.
	NLUURL     string
	NLUTimeout time.Duration
	// RedisURL selects the scaled-out deployment: conversations, the bus between gateway nodes and
	// the per-conversation lock in Redis (CLAIMLINE_REDIS_URL).
	RedisURL string
	// CasesvcURL and CasesvcToken reach a separate case service (claimline casesvc).
	CasesvcURL   string
	CasesvcToken string
	// Telegram is the Telegram channel's settings; no token means no Telegram.
	Telegram TelegramConfig
	// SMS is the Twilio channel's settings; no account means no SMS.
	SMS SMSConfig
	// StaffedHours are when people answer ("Mon-Fri 09:00-18:00", "always"); outside them a customer
	// who asks for a person may leave a call-back request. Default Mon–Fri 09:00–18:00.
	StaffedHours string
	// AgentMaxChats is how many conversations an agent holds at once; default 3.
	AgentMaxChats int
	// HandoffMaxWait is the wait after which a queued customer is offered a call-back; default 5m.
	HandoffMaxWait time.Duration
}

// SMSConfig configures the SMS channel through Twilio (spec section 1.5 and 6).
type SMSConfig struct {
	AccountSID string
	AuthToken  string // a secret
	From       string // the sending number
	APIBase    string // default https://api.twilio.com
}

// TelegramConfig configures the Telegram channel (spec section 1.4 and 6).
type TelegramConfig struct {
	Token   string // the bot token: a secret
	Secret  string // the webhook secret token
	APIBase string // the Bot API base URL; default https://api.telegram.org
	Mode    string // webhook or poll; default webhook with a public URL, poll without
	// PublicURL is where Telegram reaches us; empty when the operator gave none (then poll mode).
	PublicURL string
}

// CaseService is the case service as the gateway holds it: in-process SQLite (the embedded default)
// or the HTTP client of a separate casesvc process.
type CaseService interface {
	casesvc.Service
	Ping(ctx context.Context) error
	Close() error
}

// ConversationStore is the conversation store: SQLite (embedded) or Redis (several gateway nodes).
type ConversationStore interface {
	channels.Store
	Ping(ctx context.Context) error
}

// metricsSource is a store with figures of its own for /metrics.
type metricsSource interface {
	Collectors() []prometheus.Collector
}

// App is the deployment, wired.
type App struct {
	Config   Config
	Log      *slog.Logger
	Registry *prometheus.Registry
	Metrics  *channels.Metrics
	Cases    CaseService
	Blobs    casesvc.Blobs // [remote-blobs] <data dir>/documents, or the case service's with CasesvcURL
	Store    ConversationStore
	NLU      *nlu.Builtin
	Engine   *dialog.Engine
	Router   *channels.Router
	// what only the wiring closes
	closeStore func() error
	redis      *redis.Client
	bus        *redisstore.Bus
	Handoff    *handoff.Service
	// Intake is the durable local outbox of claims and complaints taken while the case service is
	// unreachable; the dialog files through it. [intake]
	Intake   *intake.Outbox
	Telegram *telegram.Adapter // nil without a token
	SMS      *sms.Adapter      // nil without an account
}

// Open opens the stores in cfg.DataDir (creating it) and builds everything else. Messages a crash
// left unanswered are answered before it returns. Close releases everything, also after a failure.
func Open(ctx context.Context, cfg Config) (_ *App, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Location == nil {
		cfg.Location = time.FixedZone("Asia/Taipei", 8*3600)
	}
	a := &App{Config: cfg, Log: cfg.Logger}
	defer func() {
		if err != nil {
			a.Close(context.Background())
		}
	}()
	// Documents and databases hold personal data: only the service's user may read them.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	if cfg.CasesvcURL != "" {
		// A separate case service (claimline casesvc): it owns the demo policies and its database.
		// [remote-blobs] documents' bytes go to the case service too, spooled in <data dir>/spool.
		client, err := httpclient.New(httpclient.Config{URL: cfg.CasesvcURL, Token: cfg.CasesvcToken,
			SpoolDir: filepath.Join(cfg.DataDir, "spool")})
		if err != nil {
			return nil, fmt.Errorf("case service client: %w", err)
		}
		a.Cases, a.Blobs = client, client.Blobs()
	} else {
		local, err := casesqlite.New(filepath.Join(cfg.DataDir, "casesvc.db"), casesqlite.Config{Location: cfg.Location})
		if err != nil {
			return nil, fmt.Errorf("open case store: %w", err)
		}
		a.Cases = local
		if cfg.SeedDemo {
			if n, err := casesqlite.SeedDemo(ctx, local); err != nil {
				return nil, fmt.Errorf("seed demo policies: %w", err)
			} else if n > 0 {
				a.Log.Info("no policies yet: loaded the demo policies (see README)", "count", n)
			}
		}
	}
	// Documents live beside the databases, outside any served path; staff read them through the
	// back office only. [remote-blobs] unless the case service keeps them.
	if a.Blobs == nil {
		local, err := blobstore.New(filepath.Join(cfg.DataDir, "documents"))
		if err != nil {
			return nil, fmt.Errorf("open document store: %w", err)
		}
		a.Blobs = local
	}
	var bus channels.Bus
	var locker channels.Locker
	if cfg.RedisURL != "" {
		// Several gateway nodes: conversations, their sequence numbers, dedupe, the bus between nodes
		// and the per-conversation lock (with fencing) live in Redis.
		if a.redis, err = redisstore.Connect(ctx, cfg.RedisURL); err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
		rs, err := redisstore.New(a.redis, redisstore.Config{})
		if err != nil {
			return nil, fmt.Errorf("redis store: %w", err)
		}
		a.Store = rs
		if a.bus, err = redisstore.NewBus(a.redis, rs, redisstore.BusConfig{Logger: a.Log}); err != nil {
			return nil, fmt.Errorf("redis bus: %w", err)
		}
		bus = a.bus
		if locker, err = redisstore.NewLocker(a.redis, redisstore.LockerConfig{}); err != nil {
			return nil, fmt.Errorf("redis lock: %w", err)
		}
	} else {
		local, err := sqlitestore.New(filepath.Join(cfg.DataDir, "channels.db"))
		if err != nil {
			return nil, fmt.Errorf("open conversation store: %w", err)
		}
		a.Store, a.closeStore = local, local.Close
		// A small buffer per subscriber: every subscriber drains at once and a dropped one resumes by
		// seq from the store, so a deep buffer only costs memory on every idle connection
		// (docs/performance.md: 64 messages were 16 KiB of each idle web chat connection).
		bus = channels.NewMemoryBus(4)
	}
	hours := handoff.Hours{}
	if cfg.StaffedHours != "" {
		if hours, err = handoff.ParseHours(cfg.StaffedHours, cfg.Location); err != nil {
			return nil, fmt.Errorf("staffed hours: %w", err)
		}
	}
	// [quality] the registry is made before the handoff, which records the agents' metrics into it.
	a.Registry = prometheus.NewRegistry()
	// Holds, call-back tasks and ratings have their own file (moved out of channels.db, where an
	// older installation kept them): another connection's commits in the conversation store's file
	// would empty its cache and wait for its write lock.
	a.Handoff, err = handoff.New(handoff.Config{
		Path: filepath.Join(cfg.DataDir, "handoff.db"), MoveFrom: filepath.Join(cfg.DataDir, "channels.db"),
		Cases: a.Cases, Hours: hours,
		MaxChats: cfg.AgentMaxChats, MaxWait: cfg.HandoffMaxWait, Logger: a.Log,
		Metrics: handoff.NewMetrics(a.Registry), // [quality]
		// [handoff-redis] with CLAIMLINE_REDIS_URL the queue, holds, presence, tasks and ratings are
		// shared by every gateway node (handoff.db stays this node's quality history).
		Redis: redisClient(a.redis),
	})
	if err != nil {
		return nil, fmt.Errorf("open handoff store: %w", err)
	}
	a.Registry.MustRegister(a.Handoff.BotCollector(24 * time.Hour)) // [quality] bot figures as gauges
	a.NLU, err = nlu.New(nlu.Config{Location: cfg.Location})
	if err != nil {
		return nil, fmt.Errorf("build understanding: %w", err)
	}
	understanding := dialog.BuiltinNLU(a.NLU)
	if cfg.NLUURL != "" {
		understanding = remoteUnderstanding{NLU: understanding, remote: &nluhttp.Remote{
			URL: cfg.NLUURL, Timeout: cfg.NLUTimeout, Fallback: a.NLU, Logger: a.Log}}
	}
	// [intake] claims and complaints the case service cannot take are kept in intake.db and filed
	// when it answers again; the customer is told the id through the router (deliverIntake).
	a.Intake, err = intake.Open(intake.Config{Path: filepath.Join(cfg.DataDir, "intake.db"), Cases: a.Cases,
		Deliver: a.deliverIntake, Logger: a.Log})
	if err != nil {
		return nil, fmt.Errorf("open intake outbox: %w", err)
	}
	a.Engine, err = dialog.New(dialog.Config{
		Cases:    a.Intake, // [intake] the case service behind the outbox
		NLU:      understanding,
		Handoff:  a.Handoff,
		Ratings:  a.Handoff,
		Location: cfg.Location,
		FormTTL:  cfg.FormTTL,
	})
	if err != nil {
		return nil, fmt.Errorf("build dialog: %w", err)
	}
	a.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	// The embedded SQLite stores' group commits and checkpoints (a remote case service or Redis
	// reports its own).
	for _, st := range []any{a.Cases, a.Store} {
		if m, ok := st.(metricsSource); ok {
			a.Registry.MustRegister(m.Collectors()...)
		}
	}
	a.Metrics = channels.NewMetrics(a.Registry)
	a.Router, err = channels.NewRouter(channels.RouterConfig{
		Store: a.Store, Bus: bus, Locker: locker, Dialog: a.Engine, Handoffs: a.Handoff, Logger: a.Log, Metrics: a.Metrics,
	})
	if err != nil {
		return nil, fmt.Errorf("build router: %w", err)
	}
	a.Handoff.Attach(a.Router)
	// Push channels register their senders before Recover, so recovered replies are delivered.
	if cfg.SMS.AccountSID != "" {
		a.SMS, err = sms.New(sms.Config{
			AccountSID: cfg.SMS.AccountSID, AuthToken: cfg.SMS.AuthToken, From: cfg.SMS.From, APIBase: cfg.SMS.APIBase,
			PublicURL: cfg.PublicURL, Router: a.Router, Documents: a.Blobs,
			DBPath: filepath.Join(cfg.DataDir, "sms.db"),
			// With CLAIMLINE_REDIS_URL the opt-outs are shared by every gateway node (sms.db is
			// moved into Redis once).
			Redis:      redisClient(a.redis),
			HTTPClient: &http.Client{Timeout: 20 * time.Second}, Logger: a.Log, Metrics: a.Metrics,
		})
		if err != nil {
			return nil, fmt.Errorf("sms: %w", err)
		}
		a.Router.RegisterSender(channels.ChannelSMS, a.SMS, a.SMS.Capabilities())
	}
	if cfg.Telegram.Token != "" {
		a.Telegram, err = telegram.New(telegram.Config{
			Token: cfg.Telegram.Token, Secret: cfg.Telegram.Secret, APIBase: cfg.Telegram.APIBase,
			Mode: cfg.Telegram.Mode, PublicURL: cfg.Telegram.PublicURL,
			Router: a.Router, Documents: a.Blobs, Logger: a.Log, Metrics: a.Metrics,
		})
		if err != nil {
			return nil, fmt.Errorf("telegram: %w", err)
		}
		a.Router.RegisterSender(channels.ChannelTelegram, a.Telegram, a.Telegram.Capabilities())
	}
	n, err := a.Router.Recover(ctx)
	if err != nil {
		return nil, fmt.Errorf("recover unanswered messages: %w", err)
	}
	if n > 0 {
		a.Log.Info("answered messages left unanswered by the last run", "count", n)
	}
	return a, nil
}

// redisClient is the handoff's shared state: nil (embedded) unless Redis is configured. A nil
// *redis.Client must not become a non-nil interface. [handoff-redis]
func redisClient(c *redis.Client) redis.UniversalClient {
	if c == nil {
		return nil
	}
	return c
}

// deliverIntake tells a conversation that a claim or complaint queued during an outage was filed
// (or refused): a notice event, like the case service's notices, with a reserved ClientID so a
// repeated delivery is stored once. A conversation that no longer exists has nobody to tell. [intake]
func (a *App) deliverIntake(ctx context.Context, conversation string, n dialog.Notice) error {
	key, _ := n.Data["key"].(string)
	_, _, err := a.Router.ReceiveInto(ctx, conversation, channels.Inbound{
		ClientID: channels.NoticeClientIDPrefix + "intake:" + key, Event: dialog.EventNotice, Notice: &n,
	})
	if casesvc.ErrorCode(err) == casesvc.ENOTFOUND {
		a.Log.Warn("intake: the conversation of a filed submission no longer exists", "kind", n.Kind)
		return nil
	}
	return err
}

// remoteUnderstanding asks the external service for intents and entities; the field extractors the
// forms use (birth dates, policy numbers, ...) stay built-in.
type remoteUnderstanding struct {
	dialog.NLU
	remote *nluhttp.Remote
}

func (r remoteUnderstanding) Parse(ctx context.Context, text, lang string, now time.Time) (nlu.Result, error) {
	return r.remote.Parse(ctx, text, lang, now)
}

// Close stops the router and closes the stores; ctx bounds how long running sends may take.
func (a *App) Close(ctx context.Context) {
	if a.Router != nil {
		a.Router.Close(ctx)
	}
	if a.SMS != nil { // after the router: its delivery loop sends through the adapter
		a.SMS.Close()
	}
	if a.Handoff != nil {
		a.Handoff.Close()
	}
	if a.Intake != nil { // [intake] after the router: its turns file through the outbox
		a.Intake.Close()
	}
	if a.closeStore != nil {
		a.closeStore()
	}
	if a.bus != nil {
		a.bus.Close()
	}
	if a.redis != nil {
		a.redis.Close()
	}
	if a.Cases != nil {
		a.Cases.Close()
	}
}

// Ready reports whether every store answers; /readyz serves it.
func (a *App) Ready(ctx context.Context) error {
	return errors.Join(a.Cases.Ping(ctx), a.Store.Ping(ctx))
}

// Serve serves HTTP on ln until ctx ends, with the background work (the outbox's delivery loop and
// the notice relay) running beside it, then shuts down gracefully.
func (a *App) Serve(ctx context.Context, ln net.Listener) error {
	auth, err := httpapi.NewAuthenticator(a.Config.Staff)
	if err != nil {
		return err
	}
	wc, err := webchat.New(webchat.Config{
		Router: a.Router, AllowedOrigins: a.Config.AllowedOrigins, Logger: a.Log, Metrics: a.Metrics,
		Location: a.Config.Location, Documents: a.Blobs,
	})
	if err != nil {
		return err
	}
	cs, err := console.New(console.Config{
		Handoff: a.Handoff, Router: a.Router, Auth: auth, Cases: a.Cases,
		AllowedOrigins: a.Config.AllowedOrigins, Logger: a.Log, Location: a.Config.Location,
		Alerts: a.Cases, // [quality] mass-complaint alerts pushed to supervisors and managers
	})
	if err != nil {
		return err
	}
	qa, err := quality.New(quality.Config{ // [quality] transcripts, reviews, figures
		Handoff: a.Handoff, Conversations: a.Router, Auth: auth, Audit: a.Cases, Location: a.Config.Location, Logger: a.Log,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           a.routes(auth, wc, cs, qa),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(a.Log.Handler(), slog.LevelWarn),
	}
	bgCtx, stopBackground := context.WithCancel(context.Background())
	defer stopBackground()
	if err := a.startBackground(bgCtx); err != nil {
		return err
	}
	go cs.Run(bgCtx) // [quality] delivers mass-complaint alerts
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	pollDone := make(chan struct{})
	if a.Telegram == nil {
		close(pollDone)
	} else if a.Telegram.Mode() == telegram.ModeWebhook {
		close(pollDone)
		if err := a.Telegram.SetWebhook(ctx); err != nil {
			srv.Close()
			return fmt.Errorf("telegram: register the webhook: %w", err)
		}
	} else {
		go func() {
			defer close(pollDone)
			if err := a.Telegram.RunPoller(bgCtx); err != nil && bgCtx.Err() == nil {
				a.Log.Error("telegram polling stopped", "err", err)
			}
		}()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	a.Log.Info("shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	stopBackground()
	<-pollDone
	wc.Close() // websockets are hijacked connections: Shutdown does not see them
	cs.Close()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// startBackground starts what runs beside the requests until ctx ends: the outbox's delivery loop
// (push channels) and the relay that turns the case service's notices into messages.
func (a *App) startBackground(ctx context.Context) error {
	if err := a.Router.StartDelivery(); err != nil {
		return err
	}
	relay, err := channels.NewNoticeRelay(channels.NoticeRelayConfig{
		Router: a.Router, Notices: a.Cases, Interval: time.Second, Logger: a.Log,
	})
	if err != nil {
		return err
	}
	go relay.Run(ctx)
	go a.Intake.Run(ctx) // [intake] files what an outage queued, then tells the conversation
	go a.Handoff.Run(ctx)
	go a.escalateOverdueComplaints(ctx, time.Minute)
	if a.bus != nil {
		// [sweep] scaled-out mode: answer messages a dead node stored but never answered (its lock
		// expires after the Locker's TTL), without waiting for the customer or a restart.
		go a.Router.RunSweeper(ctx, sweepEvery, sweepGrace)
	}
	return nil
}

// [sweep] How often each gateway node looks for stalled conversations, and how long a conversation's
// unhandled message must have made no progress (with its lock free) before another node runs it.
const (
	sweepEvery = 2 * time.Second
	sweepGrace = 5 * time.Second
)

// escalateOverdueComplaints hands complaints past their deadlines to the manager (FCPA art. 13: a
// reply within 30 days), checking every interval; escalation is idempotent, so a missed tick only
// delays it.
func (a *App) escalateOverdueComplaints(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if escalated, err := a.Cases.EscalateOverdue(ctx, time.Now()); err != nil {
			if ctx.Err() == nil {
				a.Log.Warn("complaint escalation failed; will retry", "err", err)
			}
		} else if len(escalated) > 0 {
			a.Log.Info("escalated overdue complaints to the manager", "count", len(escalated))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
