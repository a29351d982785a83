// Package telegram is the Telegram channel (spec/http-api.md 1.4): the webhook POST /telegram/webhook,
// long polling (getUpdates) for installs without a public URL, and the channels.Sender that pushes the
// replies with sendMessage. It is the only package that imports
// github.com/go-telegram-bot-api/telegram-bot-api/v5; everything else talks in channels' terms.
//
// Lifecycle, in cmd's run and in this order:
//  1. New(cfg) checks the configuration and calls getMe, so a wrong token or an unreachable Bot API
//     fails the start, before anything is served.
//  2. router.RegisterSender(channels.ChannelTelegram, a, a.Capabilities()), before router.Recover and
//     router.StartDelivery, so replies committed by recovered turns are delivered too.
//  3. a.Register(mux) mounts POST /telegram/webhook (it refuses everything without a Secret).
//  4. Once the server listens: in webhook mode a.SetWebhook(ctx); in poll mode go a.RunPoller(ctx).
//  5. On shutdown: cancel RunPoller's ctx and wait for it to return, stop the HTTP server, then
//     router.Close. The adapter owns no goroutine of its own and needs no Close.
//
// Inbound: one Telegram update becomes at most one stored channels.Inbound, with ClientID
// "tg:<update_id>". The conversation is the chat (Contact = the chat id), and update_id is unique per
// bot, so the router's per-conversation dedupe of ClientID is enough to process a repeated update once,
// whether it came again by webhook or by getUpdates.
//
// Nothing here logs the bot token (it is in every Bot API URL: the library's Debug stays off and
// transport errors are redacted), the customer's text, file names or any other personal data.
package telegram

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"

	"claimline/casesvc"
	"claimline/channels"
)

// DefaultAPIBase is Telegram's own Bot API server.
const DefaultAPIBase = "https://api.telegram.org"

// Modes of receiving updates.
const (
	ModeWebhook = "webhook"
	ModePoll    = "poll"
)

// Limits.
const (
	// MaxFileSize is the largest customer file taken: Telegram's own getFile limit (20 MB), which is
	// also the web chat upload limit.
	MaxFileSize = 20 << 20
	// MaxText is the longest sendMessage text; Render splits longer replies.
	MaxText = 4096
	// maxCallbackData is Telegram's limit of an inline button's callback_data, in bytes.
	maxCallbackData = 64
	// maxWebhookBody bounds one webhook request; an Update is a few KiB.
	maxWebhookBody = 1 << 20
)

// WebhookPath is where Telegram posts updates.
const WebhookPath = "/telegram/webhook"

// allowedUpdates are the update kinds asked for, by webhook and by getUpdates alike.
var allowedUpdates = []string{"message", "edited_message", "callback_query"}

// Documents stores the bytes of customer files, content-addressed. casesvc/blobstore satisfies it
// (the same shape as webchat.Documents).
type Documents interface {
	// Put stores at most maxBytes from r and returns its reference, hex SHA-256 and size.
	Put(ctx context.Context, r io.Reader, maxBytes int64) (ref, sha256 string, size int64, err error)
}

// Config holds the Adapter's settings and dependencies. Token and Router are required; webhook mode
// also needs PublicURL and Secret.
type Config struct {
	// Token is the bot token from @BotFather (CLAIMLINE_TELEGRAM_TOKEN). A secret: never logged.
	Token string
	// Secret is the webhook's secret_token (CLAIMLINE_TELEGRAM_SECRET): 1-256 characters of A-Z, a-z,
	// 0-9, _ and -. Telegram sends it back in X-Telegram-Bot-Api-Secret-Token.
	Secret string
	// APIBase is the Bot API server (CLAIMLINE_TELEGRAM_API); default https://api.telegram.org.
	// Methods are called at <APIBase>/bot<token>/<method>, files downloaded from
	// <APIBase>/file/bot<token>/<file_path>.
	APIBase string
	// Mode is "webhook" or "poll" (CLAIMLINE_TELEGRAM_MODE); default webhook with a PublicURL, else poll.
	Mode string
	// PublicURL is the externally reachable base URL (CLAIMLINE_PUBLIC_URL); the webhook is
	// <PublicURL>/telegram/webhook. Telegram itself only calls HTTPS URLs on ports 443, 80, 88, 8443.
	PublicURL string
	Router    *channels.Router
	// Documents stores the customers' photos and documents; without it files are politely refused.
	Documents Documents
	// HTTPClient makes the Bot API calls; default a plain client. Give it no overall Timeout shorter
	// than PollTimeout: every call here carries its own deadline.
	HTTPClient *http.Client
	Logger     *slog.Logger      // default slog.Default()
	Metrics    *channels.Metrics // default the router's; the router records messages and deliveries
	// PollTimeout is the getUpdates long-poll timeout in poll mode; default 50s.
	PollTimeout time.Duration
}

// Adapter is the Telegram channel. Safe for concurrent use.
type Adapter struct {
	bot         *tgbotapi.BotAPI // never used directly: api(ctx) gives a per-call copy
	token       string
	secret      []byte
	apiBase     string
	mode        string
	publicURL   string
	router      *channels.Router
	docs        Documents
	client      *http.Client
	log         *slog.Logger
	metrics     *channels.Metrics
	pollTimeout time.Duration
	callTimeout time.Duration // bound of one Bot API call without a deadline of its own
	retryBase   time.Duration // first poller backoff
	retryMax    time.Duration

	answered recentSet // updates answered directly (not stored): answered once

	// beforeStore, when set (tests), runs just before an update's Inbound goes to the router.
	beforeStore func(updateID int)
}

var (
	tokenPattern  = regexp.MustCompile(`^[0-9]+:[A-Za-z0-9_-]+$`)
	secretPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
	quietLibrary  sync.Once
)

// New checks cfg and calls getMe (so it makes one network call, bounded by 30s). Errors never
// contain the token.
func New(cfg Config) (*Adapter, error) {
	if cfg.Router == nil {
		return nil, errors.New("telegram: Router required")
	}
	if !tokenPattern.MatchString(cfg.Token) {
		return nil, errors.New("telegram: the bot token is missing or malformed (want <digits>:<letters>)")
	}
	a := &Adapter{
		token: cfg.Token, apiBase: strings.TrimRight(strings.TrimSpace(cfg.APIBase), "/"),
		mode: cfg.Mode, publicURL: strings.TrimRight(strings.TrimSpace(cfg.PublicURL), "/"),
		router: cfg.Router, docs: cfg.Documents, client: cfg.HTTPClient, log: cfg.Logger,
		metrics: cfg.Metrics, pollTimeout: cfg.PollTimeout,
		callTimeout: 30 * time.Second, retryBase: time.Second, retryMax: 30 * time.Second,
	}
	if a.apiBase == "" {
		a.apiBase = DefaultAPIBase
	}
	if u, err := url.Parse(a.apiBase); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.Contains(a.apiBase, "%") || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("telegram: API base %q: want an http(s) URL without query", a.apiBase)
	}
	if a.mode == "" {
		a.mode = ModePoll
		if a.publicURL != "" {
			a.mode = ModeWebhook
		}
	}
	switch a.mode {
	case ModeWebhook:
		if a.publicURL == "" {
			return nil, errors.New("telegram: webhook mode needs the public URL")
		}
		if u, err := url.Parse(a.publicURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fmt.Errorf("telegram: public URL %q is not an http(s) URL", a.publicURL)
		}
		if !secretPattern.MatchString(cfg.Secret) {
			return nil, errors.New("telegram: webhook mode needs a secret of 1-256 characters A-Z, a-z, 0-9, _ or -")
		}
	case ModePoll:
		if cfg.Secret != "" && !secretPattern.MatchString(cfg.Secret) {
			return nil, errors.New("telegram: the secret may only have 1-256 characters A-Z, a-z, 0-9, _ or -")
		}
	default:
		return nil, fmt.Errorf("telegram: mode %q: want webhook or poll", a.mode)
	}
	a.secret = []byte(cfg.Secret)
	if a.client == nil {
		a.client = &http.Client{Transport: channels.ProviderTransport()}
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.metrics == nil {
		a.metrics = cfg.Router.Metrics()
	}
	if a.pollTimeout <= 0 {
		a.pollTimeout = 50 * time.Second
	}
	// The library logs only in Debug and in GetUpdatesChan, neither used here; silence it anyway, as
	// its lines would carry the token.
	quietLibrary.Do(func() { tgbotapi.SetLogger(stdlog.New(io.Discard, "", 0)) })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bot, err := tgbotapi.NewBotAPIWithClient(a.token, a.apiBase+"/bot%s/%s", a.doer(ctx))
	if err != nil {
		return nil, fmt.Errorf("telegram: getMe: %w", err)
	}
	bot.Debug = false
	a.bot = bot
	return a, nil
}

// Mode is the effective mode: ModeWebhook or ModePoll.
func (a *Adapter) Mode() string { return a.mode }

// Username is the bot's @username as getMe told it.
func (a *Adapter) Username() string { return a.bot.Self.UserName }

// Capabilities is what Telegram shows: inline buttons, 4096 characters per message.
func (a *Adapter) Capabilities() channels.Capabilities {
	return channels.Capabilities{Buttons: true, MaxText: MaxText}
}

// api returns the library's client for one call: a copy of the bot whose HTTP client carries ctx (the
// library's own requests have no context). BotAPI holds no lock, so the copy is cheap and safe.
func (a *Adapter) api(ctx context.Context) *tgbotapi.BotAPI {
	b := *a.bot
	b.Client = a.doer(ctx)
	return &b
}

func (a *Adapter) doer(ctx context.Context) tgbotapi.HTTPClient {
	return ctxDoer{ctx: ctx, c: a.client, token: a.token}
}

// ctxDoer sends the library's requests with ctx and keeps the token out of transport errors
// (a *url.Error quotes the URL, which holds the token).
type ctxDoer struct {
	ctx   context.Context
	c     *http.Client
	token string
}

func (d ctxDoer) Do(req *http.Request) (*http.Response, error) {
	resp, err := d.c.Do(req.WithContext(d.ctx))
	if err != nil {
		return nil, redact(err, d.token)
	}
	return resp, nil
}

// redact removes the token from a transport error, keeping its chain (context errors, timeouts).
func redact(err error, token string) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return &url.Error{Op: ue.Op, URL: strings.ReplaceAll(ue.URL, token, "<token>"), Err: ue.Err}
	}
	return err
}

// errCode is what a failure may leave in the logs: the Bot API's error code or a kind, never a text.
func errCode(err error) string {
	var te *tgbotapi.Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &te):
		return strconv.Itoa(te.Code)
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "network"
	}
	return casesvc.ErrorCode(err) // the store's: "internal", "unavailable", ...
}

// recentSet remembers the last few update ids answered without storing anything (unsupported kinds,
// refused files), so a replayed update is not answered twice. Bounded; forgetting is harmless (a
// second polite answer).
type recentSet struct {
	mu   sync.Mutex
	ids  map[int]struct{}
	ring [1024]int
	next int
}

// add reports whether id was new.
func (s *recentSet) add(id int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ids == nil {
		s.ids = make(map[int]struct{}, len(s.ring))
	}
	if _, ok := s.ids[id]; ok {
		return false
	}
	if old := s.ring[s.next]; old != 0 {
		delete(s.ids, old)
	}
	s.ring[s.next] = id
	s.next = (s.next + 1) % len(s.ring)
	s.ids[id] = struct{}{}
	return true
}

func clientID(updateID int) string { return "tg:" + strconv.Itoa(updateID) }

func newDocumentID() string { return "doc_" + strings.ToLower(rand.Text()) }

// Interface guards
var _ channels.Sender = (*Adapter)(nil)
