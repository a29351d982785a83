// Package sms is the SMS channel through Twilio (spec/http-api.md 1.5): the inbound message webhook
// POST /sms/twilio, the delivery status callback POST /sms/twilio/status, and a channels.Sender that
// sends replies through Twilio's Messages API. It is the only package that imports twilio-go, and of
// it only rest/api/v2010 (CreateMessage) and client (credentials, errors). The webhook signature is
// checked by signature.go, which accepts exactly what client's RequestValidator accepts (a test
// compares them) at a fraction of its cost.
//
// Lifecycle: New (opens the suppression list: sms.db, or with Config.Redis the list every gateway
// node shares, into which it moves an older sms.db's numbers once; nothing runs yet) →
// Router.RegisterSender(channels.ChannelSMS, a, a.Capabilities()) before Router.Recover →
// Register(mux) → serve → Close after the HTTP server stopped (it ends the retries of early status
// callbacks and closes sms.db). Close works after a failed New too (it is a no-op on nil).
//
// Keywords (Twilio's, exact whole-body match, any case, trimmed): STOP, STOPALL, UNSUBSCRIBE, END,
// QUIT (and CANCEL, see below) opt the number out; START, UNSTOP, YES opt it back in; HELP, INFO
// answer a short help text with the hotline. Keywords are not conversation messages: they never reach
// the dialog (except as noted), and their answers are TwiML in the webhook's response, not outbox
// messages. The suppression list is our own: sms.db, or one Redis hash for several gateway nodes, so
// that a STOP taken by one node stops the sends of every node (for numbers outside +1 no carrier
// enforces it for us). Send refuses an opted-out number with a Permanent DeliveryError "opted_out",
// and a Twilio 21610 answer adds the number to it.
//
// CANCEL: in our product "cancel"/「取消」 in the middle of a form is the dialog's cancel. Twilio
// treats CANCEL as an opt-out at carrier level on US/Canadian (+1) numbers, where it will refuse
// every further message anyway, so for +1 numbers CANCEL opts out. For every other number (our
// customers are +886) a whole-body CANCEL goes to the dialog as its cancel; should the Twilio account
// be set to treat CANCEL as an opt-out there too, the next send answers 21610 and the number is
// added to our list then. 「取消」 is never an opt-out keyword.
//
// Replies go through the outbox: the router renders them with Capabilities (no buttons: numbered
// choices; MaxText keeps each message at most 4 SMS segments) and Send adds a short hint line under
// the choices. A reply of "1" (or a choice's exact words) to the last message that offered choices
// becomes that button's value (Inbound.Action); the typed text is kept as Inbound.Text.
package sms

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"claimline/channels"
)

// Paths this package serves.
const (
	PathInbound = "/sms/twilio"
	PathStatus  = "/sms/twilio/status"
)

// DefaultAPIBase is Twilio's REST API, which twilio-go hard-codes.
const DefaultAPIBase = "https://api.twilio.com"

// Config holds the Adapter's dependencies. AccountSID, AuthToken, From, PublicURL, Router and DBPath
// are required.
type Config struct {
	AccountSID string // CLAIMLINE_TWILIO_ACCOUNT_SID
	AuthToken  string // CLAIMLINE_TWILIO_AUTH_TOKEN; a secret: never logged
	From       string // CLAIMLINE_TWILIO_FROM: our sending number (E.164)
	// APIBase replaces https://api.twilio.com (CLAIMLINE_TWILIO_API), for tests and proxies. Its host
	// is also trusted for MMS media (with the account's credentials), even on loopback; http is
	// allowed only here.
	APIBase string
	// PublicURL is the URL Twilio calls (CLAIMLINE_PUBLIC_URL); signatures are computed over
	// PublicURL + PathInbound (or PathStatus) + the query, so it must be exactly what Twilio was given.
	PublicURL string
	Router    *channels.Router
	// Documents stores MMS media; without it media is refused (the message's text is still taken).
	Documents Documents
	// DBPath is the suppression list's SQLite file (e.g. <data dir>/sms.db). With Redis it is only
	// read once, at New, to move an older list into the shared one.
	DBPath string
	// Redis, when set (several gateway nodes), keeps the suppression list every node shares, so a
	// STOP taken by one node stops the sends of all; RedisPrefix starts its key (default
	// "claimline:").
	Redis       redis.UniversalClient
	RedisPrefix string
	// HTTPClient is the base of the clients for the Messages API and media. Its Timeout bounds a
	// call (twilio-go has no context); default 20s. Its Transport, when set, is used for the API;
	// media always goes through this package's guarded dialer.
	HTTPClient *http.Client
	Logger     *slog.Logger      // default slog.Default()
	Metrics    *channels.Metrics // default the router's (reserved: channels has no SMS counters yet)
	// Hotline is the phone number the HELP answer gives; default "0800-000-123".
	Hotline string
	// Now is the clock of the suppression list; default time.Now.
	Now func() time.Time
}

// Adapter is the SMS channel. Its methods are safe for concurrent use.
type Adapter struct {
	sid, token, from string
	publicURL        string
	apiBase          *url.URL
	router           *channels.Router
	docs             Documents
	log              *slog.Logger
	metrics          *channels.Metrics
	hotline          string
	now              func() time.Time

	apiTransport http.RoundTripper // rewrites api.twilio.com to apiBase
	trustedDial  string            // host:port of a configured APIBase, dialled even when internal
	apiTimeout   time.Duration
	media        *http.Client

	optOuts suppression

	recent recentOffers // the last offered choices per conversation (lastOutbound)
	// signBases are PublicURL's two spellings a webhook may be signed over; tokenKey the HMAC key.
	signBases [2]string
	tokenKey  []byte

	// Status callbacks that overtook the outbox's own record of the SID are retried a few times.
	bg       sync.WaitGroup
	bgCtx    context.Context
	bgStop   context.CancelFunc
	bgSlots  chan struct{}
	closeOne sync.Once
}

// New checks cfg and opens the suppression list. It makes no network call.
func New(cfg Config) (*Adapter, error) {
	switch {
	case cfg.AccountSID == "" || cfg.AuthToken == "":
		return nil, errors.New("sms: Twilio account SID and auth token required")
	case !alnum(cfg.AccountSID) || !alnum(cfg.AuthToken):
		return nil, errors.New("sms: Twilio account SID and auth token must be letters and digits")
	case cfg.From == "":
		return nil, errors.New("sms: From (the sending number) required")
	case cfg.Router == nil:
		return nil, errors.New("sms: Router required")
	case cfg.DBPath == "":
		return nil, errors.New("sms: DBPath required")
	}
	pub, err := url.Parse(strings.TrimRight(cfg.PublicURL, "/"))
	if err != nil || (pub.Scheme != "http" && pub.Scheme != "https") || pub.Host == "" {
		return nil, errors.New("sms: PublicURL must be an absolute http(s) URL")
	}
	base := cfg.APIBase
	if base == "" {
		base = DefaultAPIBase
	}
	apiBase, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil || (apiBase.Scheme != "http" && apiBase.Scheme != "https") || apiBase.Host == "" {
		return nil, fmt.Errorf("sms: APIBase must be an absolute http(s) URL")
	}
	a := &Adapter{
		sid: cfg.AccountSID, token: cfg.AuthToken, from: cfg.From,
		publicURL: strings.TrimRight(pub.String(), "/"), apiBase: apiBase,
		router: cfg.Router, docs: cfg.Documents, log: cfg.Logger, metrics: cfg.Metrics,
		hotline: cfg.Hotline, now: cfg.Now, bgSlots: make(chan struct{}, 256),
	}
	if a.log == nil {
		a.log = slog.Default()
	}
	if a.metrics == nil {
		a.metrics = cfg.Router.Metrics()
	}
	if a.hotline == "" {
		a.hotline = "0800-000-123"
	}
	if a.now == nil {
		a.now = time.Now
	}
	a.signBases, a.tokenKey = signedBases(a.publicURL), []byte(a.token)
	a.apiTimeout = 20 * time.Second
	var baseRT http.RoundTripper = channels.ProviderTransport()
	if cfg.HTTPClient != nil {
		if cfg.HTTPClient.Timeout > 0 {
			a.apiTimeout = cfg.HTTPClient.Timeout
		}
		if cfg.HTTPClient.Transport != nil {
			baseRT = cfg.HTTPClient.Transport
		}
	}
	a.apiTransport = &rewriteTransport{base: baseRT, to: apiBase}
	if cfg.APIBase != "" && cfg.APIBase != DefaultAPIBase {
		a.trustedDial = hostPort(apiBase)
	}
	a.media = a.newMediaClient()
	a.bgCtx, a.bgStop = context.WithCancel(context.Background())
	if cfg.Redis != nil {
		prefix := cfg.RedisPrefix
		if prefix == "" {
			prefix = "claimline:"
		}
		shared := &redisSuppression{c: cfg.Redis, key: prefix + "sms:optouts"}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := moveToRedis(ctx, cfg.DBPath, shared); err != nil {
			return nil, err
		}
		a.optOuts = shared
		return a, nil
	}
	if a.optOuts, err = openSQLiteSuppression(cfg.DBPath); err != nil {
		return nil, err
	}
	return a, nil
}

// Register mounts the inbound webhook and the status callback on mux.
func (a *Adapter) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+PathInbound, a.handleInbound)
	mux.HandleFunc("POST "+PathStatus, a.handleStatus)
}

// Capabilities is what SMS can show, for Router.RegisterSender: no buttons, and MaxText runes per
// message (see MaxText).
func (a *Adapter) Capabilities() channels.Capabilities { return Capabilities }

// Capabilities of the SMS channel.
var Capabilities = channels.Capabilities{Buttons: false, MaxText: MaxText}

// Close stops the retries of early status callbacks and closes the suppression list. Call it after
// the HTTP server stopped and after Router.Close (the delivery loop sends through the Adapter).
func (a *Adapter) Close() error {
	if a == nil {
		return nil
	}
	var err error
	a.closeOne.Do(func() {
		if a.bgStop != nil {
			a.bgStop()
		}
		a.bg.Wait()
		if a.optOuts != nil {
			err = a.optOuts.close()
		}
	})
	return err
}

// Interface guards
var (
	_ channels.Sender     = (*Adapter)(nil)
	_ channels.PartSender = (*Adapter)(nil)
)

func alnum(s string) bool {
	for _, c := range s {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
