package redisstore_test

import (
	"sync"
	"testing"
	"time"

	"claimline/channels"
	"claimline/channels/redisstore"
	"claimline/internal/testservices"
)

// A func subscriber sees every stored message once, in seq order, even when notifications are lost
// (stored but never published) or come out of order: the gaps are read from the Store.
func TestBusFuncFillsGapsFromTheStore(t *testing.T) {
	url := testservices.StartRedis(t)
	c, prefix := client(t, url)
	st := newStore(t, c, prefix)
	bus := newBus(t, c, st, prefix, redisstore.BusConfig{Poll: time.Hour})
	conv, _, err := st.OpenConversation(ctx(), channels.ChannelWebchat, "a", "zh-TW")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var got []int64
	cancel := bus.SubscribeFunc(conv.ID, func(m channels.Message) bool {
		mu.Lock()
		got = append(got, m.Seq)
		mu.Unlock()
		return true
	})
	defer cancel()
	store := func() channels.Message {
		m, _, err := st.AppendInbound(ctx(), conv.ID, channels.Inbound{Text: "x"})
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	store()         // 1: never published
	m2 := store()   // 2
	m3 := store()   // 3
	bus.Publish(m3) // reveals the gap 1..2
	bus.Publish(m2) // late: already passed on
	for i := 0; i < 3; i++ {
		bus.Publish(store()) // 4, 5, 6
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 6 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 6 {
		t.Fatalf("got seqs %v, want 1..6", got)
	}
	for i, s := range got {
		if s != int64(i+1) {
			t.Fatalf("got seqs %v, want 1..6", got)
		}
	}
}
