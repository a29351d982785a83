package channels

import (
	"net/http"
	"time"
)

// ProviderTransport returns the HTTP transport for a provider's API (Telegram's Bot API, Twilio's
// Messages API) when the adapter is given none: http.DefaultTransport's settings, but keeping an idle
// connection for every sender that may be busy at once (the delivery loop's workers, webhook
// answers). DefaultTransport keeps two per host, so a busy outbox opened — and TLS-handshook — a new
// connection for most sends.
func ProviderTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	return t
}
