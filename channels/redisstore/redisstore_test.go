package redisstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"claimline/channels"
	"claimline/channels/redisstore"
	"claimline/channels/storetest"
	"claimline/internal/testservices"
)

var prefixes atomic.Int64

// client connects to url and gives the test a key prefix of its own (the server may be shared through
// CLAIMLINE_TEST_REDIS_URL).
func client(t *testing.T, url string) (*redis.Client, string) {
	t.Helper()
	c, err := redisstore.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, fmt.Sprintf("test:%d:%d:", time.Now().UnixNano(), prefixes.Add(1))
}

func newStore(t *testing.T, c redis.UniversalClient, prefix string) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(c, redisstore.Config{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newBus(t *testing.T, c redis.UniversalClient, store redisstore.MessageReader, prefix string, cfg redisstore.BusConfig) *redisstore.Bus {
	t.Helper()
	cfg.Prefix = prefix
	b, err := redisstore.NewBus(c, store, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestRedisStore(t *testing.T) {
	url := testservices.StartRedis(t)
	storetest.TestStore(t, func(t *testing.T) channels.Store {
		c, prefix := client(t, url)
		return newStore(t, c, prefix)
	})
}

func TestRedisBus(t *testing.T) {
	url := testservices.StartRedis(t)
	storetest.TestBus(t, func(t *testing.T) storetest.BusEnv {
		c, prefix := client(t, url)
		s := newStore(t, c, prefix)
		return storetest.BusEnv{Store: s, Buffer: 16, Shared: true, NewBus: func(t *testing.T) channels.Bus {
			// Every node has its own connection, as separate processes would.
			nc, err := redisstore.Connect(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { nc.Close() })
			return newBus(t, nc, newStore(t, nc, prefix), prefix, redisstore.BusConfig{Buffer: 16, Poll: time.Hour})
		}}
	})
}
