package telegram

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// secretHeader carries the webhook's secret_token on every call Telegram makes.
const secretHeader = "X-Telegram-Bot-Api-Secret-Token"

// webhookTimeout bounds the handling of one update (a file download included); Telegram waits about
// a minute before it counts the call as failed.
const webhookTimeout = 55 * time.Second

// Register mounts POST /telegram/webhook on mux.
func (a *Adapter) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+WebhookPath, a.handleWebhook)
}

// handleWebhook serves POST /telegram/webhook (http-api.md 1.4). The secret header is compared in
// constant time before the body is read: missing or wrong is 401 and nothing is processed. The body is
// bounded (1 MiB: 413), must be an Update (else 400), and the answer is 200 only once the update is
// stored; a store failure is 503, and Telegram sends the update again later. A repeated update_id is
// answered 200 and stored once.
func (a *Adapter) handleWebhook(w http.ResponseWriter, r *http.Request) {
	got := r.Header.Get(secretHeader)
	if len(a.secret) == 0 || got == "" || subtle.ConstantTimeCompare([]byte(got), a.secret) != 1 {
		writeError(w, http.StatusUnauthorized, "unauthorized", "Missing or wrong secret token.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxWebhookBody)
	u, err := a.bot.HandleUpdate(r)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", "The update is too large.")
			return
		}
		writeError(w, http.StatusBadRequest, "bad_request", "The body is not a Telegram Update.")
		return
	}
	if u.UpdateID <= 0 {
		writeError(w, http.StatusBadRequest, "bad_request", "update_id is required.")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), webhookTimeout)
	defer cancel()
	if err := a.process(ctx, *u); err != nil {
		a.log.Error("telegram update not stored", "update_id", u.UpdateID, "code", errCode(err))
		writeError(w, http.StatusServiceUnavailable, "unavailable", "The update was not stored; send it again.")
		return
	}
	// An empty 200: a body with a "method" field would be executed by Telegram.
	w.WriteHeader(http.StatusOK)
}

// SetWebhook registers <PublicURL>/telegram/webhook with Telegram, with the secret_token and the
// update kinds this adapter handles. It calls setWebhook directly: the library's WebhookConfig has no
// secret_token. Call it once the server listens (Telegram starts posting at once).
func (a *Adapter) SetWebhook(ctx context.Context) error {
	if len(a.secret) == 0 || a.publicURL == "" {
		return errors.New("telegram: SetWebhook needs the public URL and the secret")
	}
	allowed, _ := json.Marshal(allowedUpdates)
	ctx, cancel := context.WithTimeout(ctx, a.callTimeout)
	defer cancel()
	_, err := a.api(ctx).MakeRequest("setWebhook", tgbotapi.Params{
		"url":             a.publicURL + WebhookPath,
		"secret_token":    string(a.secret),
		"allowed_updates": string(allowed),
	})
	if err != nil {
		return errors.New("telegram: setWebhook failed: " + errCode(err))
	}
	a.log.Info("telegram webhook set", "path", WebhookPath, "bot", a.bot.Self.UserName)
	return nil
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]string{"code": code, "message": message}})
}
