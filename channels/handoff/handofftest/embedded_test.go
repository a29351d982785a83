package handofftest_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"claimline/channels"
	"claimline/channels/handoff"
	"claimline/channels/handoff/handofftest"
	"claimline/channels/sqlitestore"
)

// TestEmbeddedService runs the contract against the embedded deployment: the Service on the
// conversation store's SQLite file and a router on sqlitestore with the in-memory bus.
func TestEmbeddedService(t *testing.T) {
	handofftest.TestService(t, func(t *testing.T, cfg handoff.Config, d channels.Dialog) (*handoff.Service, *channels.Router) {
		path := filepath.Join(t.TempDir(), "channels.db")
		store, err := sqlitestore.New(path)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Path = path
		hs, err := handoff.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		r, err := channels.NewRouter(channels.RouterConfig{Store: store, Dialog: d, Handoffs: hs})
		if err != nil {
			t.Fatal(err)
		}
		hs.Attach(r)
		if _, err := r.Recover(context.Background()); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r.Close(ctx)
			hs.Close()
			store.Close()
		})
		return hs, r
	})
}
