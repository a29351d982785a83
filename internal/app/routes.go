package app

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"claimline/casesvc/httpapi"
	"claimline/channels/console"
	"claimline/channels/quality"
	"claimline/channels/webchat"
	"claimline/dialog/nlu/nluhttp"
)

// routes lists every route of the embedded deployment in one place.
func (a *App) routes(auth *httpapi.Authenticator, wc *webchat.Server, cs *console.Server, qa *quality.API) http.Handler {
	mux := http.NewServeMux()
	wc.Register(mux) // "/" (the widget), /webchat/ws, /webchat/upload, /api/v1/rest/messages
	cs.Register(mux) // /console/ (the agent console), /console/ws
	// [quality] GET /api/v1/conversations/{id}, /api/v1/reviews[/sample], /api/v1/quality/{agents,bot}
	qa.Register(mux)
	httpapi.Register(mux, a.Cases, auth, a.Log, httpapi.WithBlobs(a.Blobs), httpapi.WithLocation(a.Config.Location))
	if a.SMS != nil {
		a.SMS.Register(mux) // POST /sms/twilio, POST /sms/twilio/status
	}
	if a.Telegram != nil {
		a.Telegram.Register(mux) // POST /telegram/webhook
	}
	mux.Handle("POST /api/v1/nlu/parse", nluhttp.Handler(a.NLU, time.Now))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.Ready(ctx); err != nil {
			a.Log.Warn("not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{
				"error": map[string]string{"code": "unavailable", "message": "A store is not reachable."}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.Registry, promhttp.HandlerOpts{Registry: a.Registry}))
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
