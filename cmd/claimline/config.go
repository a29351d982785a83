package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"time"
)

// config is everything claimline reads from flags and the environment (spec/http-api.md section 6).
// Secrets (staff tokens, channel credentials) come only from the environment or files.
type config struct {
	Addr           string
	DataDir        string
	PublicURL      string
	TZ             string
	Location       *time.Location
	Staff          string // CLAIMLINE_STAFF: name:role:token,...
	StaffFile      string // CLAIMLINE_STAFF_FILE: the same entries, one per line
	AllowedOrigins []string
	LogFormat      string
	LogLevel       slog.Level
	FormTTL        time.Duration
	NLUURL         string
	NLUTimeout     time.Duration
	// PublicURLGiven says the operator set the public URL (webhooks need one; without it, Telegram polls).
	PublicURLGiven bool
	TelegramToken  string
	TelegramSecret string
	TelegramAPI    string
	TelegramMode   string
	TwilioSID      string
	TwilioToken    string
	TwilioFrom     string
	TwilioAPI      string
	StaffedHours   string
	RedisURL       string // several gateway nodes share Redis
	CasesvcURL     string // a separate case service
	CasesvcToken   string
	PostgresURL    string // claimline casesvc on PostgreSQL
	AgentMaxChats  int
	HandoffMaxWait time.Duration
}

func parseConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (*config, error) {
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs := flag.NewFlagSet("claimline "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := &config{}
	fs.StringVar(&cfg.Addr, "addr", env("CLAIMLINE_ADDR", "127.0.0.1:8080"), "listen address (CLAIMLINE_ADDR)")
	fs.StringVar(&cfg.DataDir, "data", env("CLAIMLINE_DATA_DIR", "./data"), "where SQLite files and documents live (CLAIMLINE_DATA_DIR)")
	fs.StringVar(&cfg.PublicURL, "public-url", env("CLAIMLINE_PUBLIC_URL", ""), "the URL Twilio and Telegram call (CLAIMLINE_PUBLIC_URL); default http://<addr>")
	fs.StringVar(&cfg.TZ, "tz", env("CLAIMLINE_TZ", "Asia/Taipei"), "zone for dates (CLAIMLINE_TZ)")
	origins := fs.String("allowed-origins", env("CLAIMLINE_ALLOWED_ORIGINS", ""), "extra web chat origins allowed, comma separated (CLAIMLINE_ALLOWED_ORIGINS); the server's own origin is always allowed")
	fs.StringVar(&cfg.LogFormat, "log-format", env("CLAIMLINE_LOG_FORMAT", "text"), "log format: text or json (CLAIMLINE_LOG_FORMAT)")
	level := fs.String("log-level", env("CLAIMLINE_LOG_LEVEL", "info"), "log level: debug, info, warn, error (CLAIMLINE_LOG_LEVEL)")
	ttl := fs.String("form-ttl", env("CLAIMLINE_FORM_TTL", "24h"), "how long a half-filled form waits for the customer (CLAIMLINE_FORM_TTL)")
	fs.StringVar(&cfg.NLUURL, "nlu-url", env("CLAIMLINE_NLU_URL", ""), "an external NLU service with the /api/v1/nlu/parse shape (CLAIMLINE_NLU_URL); the built-in parser answers when it fails")
	nluTimeout := fs.String("nlu-timeout", env("CLAIMLINE_NLU_TIMEOUT", "500ms"), "how long to wait for the external NLU (CLAIMLINE_NLU_TIMEOUT)")
	fs.StringVar(&cfg.StaffedHours, "staffed-hours", env("CLAIMLINE_STAFFED_HOURS", "Mon-Fri 09:00-18:00"), "when agents answer, e.g. \"Mon-Fri 09:00-18:00\" or \"always\" (CLAIMLINE_STAFFED_HOURS); outside them customers may leave a call-back request")
	maxChats := fs.Int("agent-max-chats", envInt(getenv, "CLAIMLINE_AGENT_MAX_CHATS", 3), "conversations an agent holds at once (CLAIMLINE_AGENT_MAX_CHATS)")
	maxWait := fs.String("handoff-max-wait", env("CLAIMLINE_HANDOFF_MAX_WAIT", "5m"), "wait after which a queued customer is offered a call-back (CLAIMLINE_HANDOFF_MAX_WAIT)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	cfg.Staff = getenv("CLAIMLINE_STAFF")
	cfg.StaffFile = getenv("CLAIMLINE_STAFF_FILE")

	if _, _, err := net.SplitHostPort(cfg.Addr); err != nil {
		return nil, fmt.Errorf("--addr %q: %v", cfg.Addr, err)
	}
	loc, err := time.LoadLocation(cfg.TZ)
	if err != nil {
		return nil, fmt.Errorf("--tz %q: unknown time zone", cfg.TZ)
	}
	cfg.Location = loc
	cfg.PublicURLGiven = cfg.PublicURL != ""
	cfg.TelegramToken = getenv("CLAIMLINE_TELEGRAM_TOKEN")
	cfg.TelegramSecret = getenv("CLAIMLINE_TELEGRAM_SECRET")
	cfg.TelegramAPI = env("CLAIMLINE_TELEGRAM_API", "https://api.telegram.org")
	cfg.TelegramMode = getenv("CLAIMLINE_TELEGRAM_MODE")
	switch cfg.TelegramMode {
	case "", "webhook", "poll":
	default:
		return nil, fmt.Errorf("CLAIMLINE_TELEGRAM_MODE %q: want webhook or poll", cfg.TelegramMode)
	}
	if cfg.TelegramMode == "webhook" && !cfg.PublicURLGiven {
		return nil, errors.New("CLAIMLINE_TELEGRAM_MODE=webhook needs --public-url (CLAIMLINE_PUBLIC_URL): the address Telegram calls")
	}
	if cfg.PublicURL == "" {
		cfg.PublicURL = "http://" + cfg.Addr
	}
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	for _, o := range strings.Split(*origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			cfg.AllowedOrigins = append(cfg.AllowedOrigins, strings.TrimRight(o, "/"))
		}
	}
	if err := cfg.LogLevel.UnmarshalText([]byte(*level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: %v", *level, err)
	}
	if cfg.FormTTL, err = time.ParseDuration(*ttl); err != nil || cfg.FormTTL <= 0 {
		return nil, fmt.Errorf("--form-ttl %q: want a positive duration such as 24h", *ttl)
	}
	if cfg.AgentMaxChats = *maxChats; cfg.AgentMaxChats < 1 {
		return nil, fmt.Errorf("--agent-max-chats %d: want at least 1", *maxChats)
	}
	if cfg.HandoffMaxWait, err = time.ParseDuration(*maxWait); err != nil || cfg.HandoffMaxWait <= 0 {
		return nil, fmt.Errorf("--handoff-max-wait %q: want a positive duration such as 5m", *maxWait)
	}
	if cfg.NLUTimeout, err = time.ParseDuration(*nluTimeout); err != nil || cfg.NLUTimeout <= 0 {
		return nil, fmt.Errorf("--nlu-timeout %q: want a positive duration such as 500ms", *nluTimeout)
	}
	if cfg.NLUURL != "" && !strings.HasPrefix(cfg.NLUURL, "http://") && !strings.HasPrefix(cfg.NLUURL, "https://") {
		return nil, fmt.Errorf("--nlu-url %q: want an http or https URL", cfg.NLUURL)
	}
	if cfg.LogFormat != "text" && cfg.LogFormat != "json" {
		return nil, fmt.Errorf("--log-format %q: want text or json", cfg.LogFormat)
	}
	cfg.RedisURL = getenv("CLAIMLINE_REDIS_URL")
	cfg.CasesvcURL = strings.TrimRight(getenv("CLAIMLINE_CASESVC_URL"), "/")
	cfg.CasesvcToken = getenv("CLAIMLINE_CASESVC_TOKEN")
	if cfg.CasesvcURL != "" && cfg.CasesvcToken == "" {
		return nil, errors.New("CLAIMLINE_CASESVC_URL needs CLAIMLINE_CASESVC_TOKEN, the service token the case service was started with")
	}
	cfg.PostgresURL = getenv("CLAIMLINE_POSTGRES_URL")
	cfg.TwilioSID = getenv("CLAIMLINE_TWILIO_ACCOUNT_SID")
	cfg.TwilioToken = getenv("CLAIMLINE_TWILIO_AUTH_TOKEN")
	cfg.TwilioFrom = getenv("CLAIMLINE_TWILIO_FROM")
	cfg.TwilioAPI = env("CLAIMLINE_TWILIO_API", "https://api.twilio.com")
	if cfg.TwilioSID != "" && (cfg.TwilioToken == "" || cfg.TwilioFrom == "") {
		return nil, errors.New("SMS needs CLAIMLINE_TWILIO_AUTH_TOKEN and CLAIMLINE_TWILIO_FROM with CLAIMLINE_TWILIO_ACCOUNT_SID")
	}
	return cfg, nil
}

func envInt(getenv func(string) string, key string, def int) int {
	if v := getenv(key); v != "" {
		var n int
		if _, err := fmt.Sscan(v, &n); err == nil {
			return n
		}
		return -1 // reported by the flag's validation
	}
	return def
}

// staffEntries returns the CLAIMLINE_STAFF entries, or those of CLAIMLINE_STAFF_FILE.
func (c *config) staffEntries() (string, error) {
	if c.Staff != "" && c.StaffFile != "" {
		return "", errors.New("set CLAIMLINE_STAFF or CLAIMLINE_STAFF_FILE, not both")
	}
	if c.StaffFile == "" {
		return c.Staff, nil
	}
	b, err := os.ReadFile(c.StaffFile)
	if err != nil {
		return "", fmt.Errorf("CLAIMLINE_STAFF_FILE: %v", err)
	}
	var entries []string
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			entries = append(entries, line)
		}
	}
	return strings.Join(entries, ","), nil
}
