package telegram

import (
	"context"
	"errors"
	"time"

	tgbotapi "github.com/go-telegram-bot-api/telegram-bot-api/v5"
)

// RunPoller receives updates with getUpdates until ctx ends (then it returns nil), for installs
// without a public URL. It deletes the webhook first (getUpdates is refused while one is set).
//
// The offset is the crash-safety: Telegram forgets an update only when getUpdates is called with an
// offset above its update_id, and the offset here moves past an update only after the update is
// stored (or needed no storing). A crash, a failed store or a shutdown between fetching and storing
// leaves the update with Telegram, and the next getUpdates, in this run or the next, returns it again;
// a repeat of an update that was stored is deduped by its ClientID. The library's GetUpdatesChan is
// not used: it moves the offset as soon as updates are fetched, before they are handled.
//
// Failures back off exponentially (1s up to 30s; a 429's retry_after when given).
func (a *Adapter) RunPoller(ctx context.Context) error {
	backoff := a.retryBase
	wait := func(d time.Duration) bool {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
			return true
		}
	}
	failed := func(what string, err error) bool {
		d := backoff
		var te *tgbotapi.Error
		if errors.As(err, &te) && te.RetryAfter > 0 {
			d = time.Duration(te.RetryAfter) * time.Second
		}
		a.log.Warn("telegram poll: "+what+" failed; retrying", "code", errCode(err), "after", d.String())
		backoff = min(backoff*2, a.retryMax)
		return wait(d)
	}

	for {
		cctx, cancel := context.WithTimeout(ctx, a.callTimeout)
		_, err := a.api(cctx).MakeRequest("deleteWebhook", nil)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil || !failed("deleteWebhook", err) {
			return nil
		}
	}
	backoff = a.retryBase
	a.log.Info("telegram polling for updates", "bot", a.bot.Self.UserName)

	offset := 0
	for ctx.Err() == nil {
		cctx, cancel := context.WithTimeout(ctx, a.pollTimeout+15*time.Second)
		updates, err := a.api(cctx).GetUpdates(tgbotapi.UpdateConfig{
			Offset: offset, Limit: 100, Timeout: int(a.pollTimeout / time.Second), AllowedUpdates: allowedUpdates,
		})
		cancel()
		if err != nil {
			if ctx.Err() != nil || !failed("getUpdates", err) {
				return nil
			}
			continue
		}
		stored := true
		for _, u := range updates {
			if u.UpdateID < offset {
				continue // already handled; a server that ignored the offset
			}
			if err := a.process(ctx, u); err != nil {
				// Not stored: the offset stays at this update, which comes again with the next call.
				if ctx.Err() != nil || !failed("storing an update", err) {
					return nil
				}
				stored = false
				break
			}
			offset = u.UpdateID + 1
		}
		if stored {
			backoff = a.retryBase
		}
	}
	return nil
}
