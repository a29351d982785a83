package handofftest_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"claimline/channels"
	"claimline/channels/handoff"
	"claimline/channels/handoff/handofftest"
	"claimline/channels/redisstore"
	"claimline/internal/testservices"
)

// TestRedisService runs the contract against the scaled-out deployment: the Service sharing its live
// state in Redis (Config.Redis) and a router on the Redis store, bus and locker. Every subtest has
// its own key prefix on one redis-server.
func TestRedisService(t *testing.T) {
	url := testservices.StartRedis(t)
	handofftest.TestService(t, func(t *testing.T, cfg handoff.Config, d channels.Dialog) (*handoff.Service, *channels.Router) {
		ctx := context.Background()
		prefix := "t" + strings.ToLower(rand.Text())[:10] + ":"
		rdb, err := redisstore.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		store, err := redisstore.New(rdb, redisstore.Config{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		bus, err := redisstore.NewBus(rdb, store, redisstore.BusConfig{Prefix: prefix, Poll: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		locker, err := redisstore.NewLocker(rdb, redisstore.LockerConfig{Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Path = filepath.Join(t.TempDir(), "channels.db")
		cfg.Redis, cfg.RedisPrefix, cfg.Node = rdb, prefix, "node-a"
		cfg.PresenceTTL = time.Minute // no Run, so no heartbeat: presence must outlive the subtest
		hs, err := handoff.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		r, err := channels.NewRouter(channels.RouterConfig{Store: store, Bus: bus, Locker: locker, Dialog: d, Handoffs: hs})
		if err != nil {
			t.Fatal(err)
		}
		hs.Attach(r)
		if _, err := r.Recover(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			r.Close(ctx)
			hs.Close()
			bus.Close()
			rdb.Close()
		})
		return hs, r
	})
}
