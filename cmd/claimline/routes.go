package main

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"claimline/casesvc/httpapi"
	"claimline/channels/webchat"
)

// newServer lists every route of the embedded deployment in one place.
func newServer(a *app, auth *httpapi.Authenticator, wc *webchat.Server) http.Handler {
	mux := http.NewServeMux()
	wc.Register(mux) // "/" (the widget), /webchat/ws, /api/v1/rest/messages
	httpapi.Register(mux, a.cases, auth, a.log, httpapi.WithBlobs(a.blobs), httpapi.WithLocation(a.cfg.Location))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if err := a.ready(ctx); err != nil {
			a.log.Warn("not ready", "err", err)
			writeJSON(w, http.StatusServiceUnavailable, map[string]any{
				"error": map[string]string{"code": "unavailable", "message": "A store is not reachable."}})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(a.registry, promhttp.HandlerOpts{Registry: a.registry}))
	return mux
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}
