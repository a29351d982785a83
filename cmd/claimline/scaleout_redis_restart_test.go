package main

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"claimline/internal/testservices"
)

// TestScaledOutRedisRestartedMidMessages (issue 9): 1,000 REST messages from 50 senders, sent alternately
// to two gateway nodes, with Redis restarted in the middle; senders retry on 503 (or no answer) with the
// same id, as a webhook sender would. Afterwards every sender's transcript has each message exactly
// once, in send order, each answered before the next (the dedupe keys, Redis' append-only file, and
// the nodes' sweep of conversations left stalled by the outage).
func TestScaledOutRedisRestartedMidMessages(t *testing.T) {
	redis := testservices.StartRedisServer(t)
	gateway := func() *proc { return startProcess(t, t.TempDir(), "CLAIMLINE_REDIS_URL="+redis.URL) }
	a, b := gateway(), gateway()
	nodes := []string{a.URL, b.URL}

	const senders, perSender = 50, 20
	sender := func(i int) string { return fmt.Sprintf("redis-restart-%02d", i) }
	text := func(i, k int) string { return fmt.Sprintf("第%d位客戶的第%d則訊息", i, k) }
	var sent atomic.Int32
	var wg sync.WaitGroup
	for i := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range perSender {
				code, replies := restSend(nodes, i+k, sender(i), text(i, k), "", fmt.Sprint("m", k), time.Now().Add(120*time.Second))
				if code != 200 || len(replies) == 0 {
					t.Errorf("%s message %d: %d with %d replies", sender(i), k, code, len(replies))
					return
				}
				sent.Add(1)
			}
		}()
	}
	for sent.Load() < senders*perSender/3 {
		time.Sleep(5 * time.Millisecond)
	}
	redis.Stop()
	time.Sleep(time.Second)
	redis.Start()
	wg.Wait()
	if t.Failed() {
		t.Fatalf("node A:\n%s\nnode B:\n%s", a.output(), b.output())
	}

	for i := range senders {
		msgs := transcript(t, nodes[i%2], sender(i))
		var in []string
		answered := true // the greeting comes first
		for _, m := range msgs {
			if m.From == "customer" {
				if !answered {
					t.Errorf("%s: message %q has no answer before the next one", sender(i), in[len(in)-1])
				}
				in = append(in, m.Text)
				answered = false
			} else {
				answered = true
			}
		}
		if !answered {
			t.Errorf("%s: the last message has no answer", sender(i))
		}
		if len(in) != perSender {
			t.Errorf("%s: %d messages stored, want %d: %q", sender(i), len(in), perSender, in)
			continue
		}
		for k, got := range in {
			if got != text(i, k) {
				t.Errorf("%s: message %d is %q, want %q (all: %q)", sender(i), k, got, text(i, k), in)
				break
			}
		}
	}
}
