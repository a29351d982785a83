package telegram

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"claimline/channels"
)

// TestPollCrashBetweenFetchAndStore: the poller fetches three updates, stores the first, and the
// store goes away (the real sqlitestore is closed) just before the second is stored. The offset never
// moves past the second update; after a restart (store reopened, new router and adapter, a new poller)
// the second and third are stored exactly once, and nothing is lost.
func TestPollCrashBetweenFetchAndStore(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	// A webhook set earlier (say by a previous deployment): the poller must delete it first.
	if err := e.adapter.SetWebhook(ctx); err != nil {
		t.Fatal(err)
	}
	e.tg.mu.Lock()
	url, secret, allowed := e.tg.webhookURL, e.tg.webhookSec, e.tg.webhookAllo
	e.tg.mu.Unlock()
	if url != "https://claims.example.com.tw/telegram/webhook" || secret != testSecret ||
		allowed != `["message","edited_message","callback_query"]` {
		t.Fatalf("setWebhook got url %q secret %q allowed_updates %q", url, secret, allowed)
	}

	const chatX, chatY = int64(1110001), int64(1110002)
	u1, u2, u3 := e.id(), e.id(), e.id()
	e.tg.queue(u1, textUpdate(u1, chatX, "zh-hant", "你好"))
	e.tg.queue(u2, textUpdate(u2, chatX, "zh-hant", "我要申請理賠"))
	e.tg.queue(u3, textUpdate(u3, chatY, "en", "hello"))

	crashed := false
	e.adapter.beforeStore = func(id int) {
		if id == u2 && !crashed {
			crashed = true
			e.store.Close() // the crash: fetched, not stored
		}
	}
	pctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.adapter.RunPoller(pctx) }()
	waitFor(t, 10*time.Second, "the poller to retry the unstored update", func() bool {
		offsets, _, _, _ := e.tg.snapshot()
		n := 0
		for _, o := range offsets {
			if o == u2 {
				n++
			}
		}
		return n >= 2
	})
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("RunPoller: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("RunPoller did not return after its context ended")
	}
	offsets, pending, deletes, _ := e.tg.snapshot()
	if deletes != 1 || slices.Max(offsets) != u2 {
		t.Fatalf("deleteWebhook %d times, offsets %v: must never pass %d", deletes, offsets, u2)
	}
	if !slices.Equal(pending, []int{u2, u3}) {
		t.Fatalf("Telegram still holds %v, want [%d %d]", pending, u2, u3)
	}

	// Restart.
	e.close()
	e.open()
	pctx, stop = context.WithCancel(ctx)
	defer stop()
	done = make(chan error, 1)
	go func() { done <- e.adapter.RunPoller(pctx) }()
	waitFor(t, 10*time.Second, "every update to be confirmed", func() bool {
		_, pending, _, _ := e.tg.snapshot()
		return len(pending) == 0
	})
	e.settle(chatX)
	e.settle(chatY)

	// Telegram sends u1 again (it cannot have, after the offset passed it, but a self-hosted server
	// might): still once.
	e.tg.queue(u1, textUpdate(u1, chatX, "zh-hant", "你好"))
	waitFor(t, 10*time.Second, "the repeat to be confirmed", func() bool {
		_, pending, _, _ := e.tg.snapshot()
		return len(pending) == 0
	})
	e.settle(chatX)

	got := inbound(e.messages(chatX))
	var ids []string
	for _, m := range got {
		ids = append(ids, m.ClientID)
	}
	if want := []string{clientID(u1), clientID(u2)}; !slices.Equal(ids, want) {
		t.Errorf("chat X stored %v, want %v", ids, want)
	}
	if in := inbound(e.messages(chatY)); len(in) != 1 || in[0].Lang != "en" {
		t.Errorf("chat Y stored %+v", in)
	}
	// Every stored message was answered (u1's turn, cut off by the crash, ran in Recover).
	for _, m := range append(e.messages(chatX), e.messages(chatY)...) {
		if m.Direction == channels.DirIn && !m.Handled {
			t.Errorf("seq %d unhandled", m.Seq)
		}
	}
	if len(e.tg.sentTo(chatY)) == 0 || len(e.tg.sentTo(chatX)) == 0 {
		t.Error("no replies after the restart")
	}
	stop()
	<-done
}

// TestNew: configuration errors, and a token Telegram refuses, fail New without showing the token.
func TestNew(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no token", Config{Router: e.router, APIBase: e.tg.URL()}, "token"},
		{"token with a slash", Config{Token: "1:a/b", Router: e.router, APIBase: e.tg.URL()}, "token"},
		{"refused token", Config{Token: "7000000001:AAH-another-token", Router: e.router, APIBase: e.tg.URL()}, "Unauthorized"},
		{"webhook without secret", Config{Token: testToken, Router: e.router, APIBase: e.tg.URL(), PublicURL: "https://x.example"}, "secret"},
		{"bad secret", Config{Token: testToken, Secret: "has space", Router: e.router, APIBase: e.tg.URL(), Mode: ModeWebhook, PublicURL: "https://x.example"}, "secret"},
		{"bad mode", Config{Token: testToken, Router: e.router, APIBase: e.tg.URL(), Mode: "push"}, "mode"},
		{"bad base", Config{Token: testToken, Router: e.router, APIBase: "api.telegram.org"}, "API base"},
		{"no router", Config{Token: testToken, APIBase: e.tg.URL()}, "Router"},
	}
	for _, c := range cases {
		_, err := New(c.cfg)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error about %q", c.name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "AAH-") {
			t.Errorf("%s: the error shows the token: %v", c.name, err)
		}
	}
	a, err := New(Config{Token: testToken, Router: e.router, APIBase: e.tg.URL() + "/"})
	if err != nil || a.Mode() != ModePoll || a.Username() != "claimline_test_bot" {
		t.Errorf("without a public URL: mode %q, %v", a.Mode(), err)
	}
	// In poll mode without a secret the webhook refuses everything.
	if err := a.SetWebhook(context.Background()); err == nil {
		t.Error("SetWebhook without a secret")
	}
}
