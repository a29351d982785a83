package console_test

import (
	"context"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"claimline/casesvc"
	"claimline/casesvc/httpapi"
	casesqlite "claimline/casesvc/sqlite"
	"claimline/channels"
	"claimline/channels/console"
	"claimline/channels/handoff"
	"claimline/channels/redisstore"
	"claimline/channels/webchat"
	"claimline/dialog"
	"claimline/dialog/nlu"
	"claimline/internal/testservices"
)

// redisNode is one gateway node of the scaled-out deployment, in-process: the Redis store, bus and
// lock, a handoff service sharing its state in Redis, web chat, REST and the console.
func redisNode(t *testing.T, url, prefix, node string, cases *casesqlite.Service, ttl time.Duration) *env {
	t.Helper()
	ctx := context.Background()
	loc, _ := time.LoadLocation("Asia/Taipei")
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
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
	dir := t.TempDir()
	e := &env{t: t, dir: dir, cases: cases, reg: prometheus.NewRegistry(), clock: &clock{}}
	e.hs, err = handoff.New(handoff.Config{Path: filepath.Join(dir, "channels.db"), Cases: cases,
		Hours: handoff.Hours{Always: true}, Tick: 50 * time.Millisecond, Now: e.clock.now, Metrics: handoff.NewMetrics(e.reg),
		Redis: rdb, RedisPrefix: prefix, Node: node, PresenceTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	n, err := nlu.New(nlu.Config{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	engine, err := dialog.New(dialog.Config{Cases: cases, NLU: dialog.BuiltinNLU(n), Location: loc, Handoff: e.hs, Ratings: e.hs})
	if err != nil {
		t.Fatal(err)
	}
	if e.router, err = channels.NewRouter(channels.RouterConfig{Store: store, Bus: bus, Locker: locker, Dialog: engine, Handoffs: e.hs}); err != nil {
		t.Fatal(err)
	}
	e.hs.Attach(e.router)
	if _, err := e.router.Recover(ctx); err != nil {
		t.Fatal(err)
	}
	auth, err := httpapi.NewAuthenticator(staff)
	if err != nil {
		t.Fatal(err)
	}
	if e.wc, err = webchat.New(webchat.Config{Router: e.router, PingInterval: time.Second}); err != nil {
		t.Fatal(err)
	}
	if e.cs, err = console.New(console.Config{Handoff: e.hs, Router: e.router, Auth: auth, Cases: cases, PingInterval: time.Second}); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	e.wc.Register(mux)
	e.cs.Register(mux)
	e.srv = httptest.NewServer(mux)
	runCtx, cancel := context.WithCancel(context.Background())
	go e.hs.Run(runCtx)
	t.Cleanup(func() {
		cancel()
		e.wc.Close()
		e.cs.Close()
		e.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		e.router.Close(ctx)
		e.hs.Close()
		bus.Close()
		rdb.Close()
	})
	return e
}

// TestHandoffAcrossNodes: two gateway nodes on one Redis. A customer on node A asks for a person; an
// agent signed in to node B's console sees them queued, accepts, and they talk; the agent ends and
// the customer on A gets the handback turn. Queue changes made on one node reach the consoles of the
// other; a rating given on A finds the handoff ended on B; a dead node's agent goes offline after
// the presence TTL and is not routed to.
func TestHandoffAcrossNodes(t *testing.T) {
	url := testservices.StartRedis(t)
	prefix := "t" + strings.ToLower(rand.Text())[:10] + ":"
	loc, _ := time.LoadLocation("Asia/Taipei")
	cases, err := casesqlite.New(filepath.Join(t.TempDir(), "casesvc.db"), casesqlite.Config{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cases.Close() })
	ctx := context.Background()
	const ttl = time.Second
	a := redisNode(t, url, prefix, "A", cases, ttl)
	b := redisNode(t, url, prefix, "B", cases, ttl)

	// The customer on node A asks for a person.
	w, wConv := a.customer()
	w.send(map[string]any{"type": "message", "id": "w1", "text": "真人客服"})
	if q := w.next("queued handoff frame", typ("handoff")); q["state"] != "queued" || num(q["position"]) != 1 {
		t.Fatalf("W handoff frame = %v", q)
	}
	// Node B's hooks see the hold node A made.
	if h, ok := b.hs.Hold(wConv); !ok || h.State != handoff.StateQueued {
		t.Fatalf("node B: hold = %+v %v", h, ok)
	}

	// Alice signs in to node B and sees the customer of node A in the queue.
	alice := b.agent(staff[0].Token, nil)
	qf := alice.next("queue", typ("queue"))
	if items := qf["queue"].([]any); len(items) != 1 || items[0].(map[string]any)["conversation"] != wConv {
		t.Fatalf("node B queue = %v", qf)
	}
	// Bob on node A's console; a REST customer on node B asks for a person: bob's queue shows it.
	bob := a.agent(staff[1].Token, nil)
	bob.next("queue", typ("queue"))
	r := b.rest("rest-r", "我要找真人客服")
	bob.next("queue with R", func(f map[string]any) bool {
		if f["type"] != "queue" {
			return false
		}
		for _, it := range f["queue"].([]any) {
			if it.(map[string]any)["conversation"] == r.Conversation {
				return true
			}
		}
		return false
	})
	// Both agents are online, seen from either node.
	for _, n := range []*env{a, b} {
		online := 0
		for _, ag := range n.hs.Agents() {
			if ag.Online {
				online++
			}
		}
		if online != 2 {
			t.Fatalf("agents = %+v", n.hs.Agents())
		}
	}

	// Alice (B) accepts W (A): she gets the transcript, W is told who joined.
	alice.send(map[string]any{"type": "accept", "conversation": wConv})
	as := alice.next("assigned W", typConv("assigned", wConv))
	if tr := as["transcript"].([]any); !hasText(tr, "真人客服") {
		t.Fatalf("transcript = %v", tr)
	}
	if f := w.next("assigned frame", typ("handoff")); f["state"] != "assigned" || f["agent"] != "alice" {
		t.Fatalf("W handoff = %v", f)
	}
	// Bob on A sees the queue without W (the assignment on B reached A).
	bob.next("queue without W", func(f map[string]any) bool {
		if f["type"] != "queue" {
			return false
		}
		for _, it := range f["queue"].([]any) {
			if it.(map[string]any)["conversation"] == wConv {
				return false
			}
		}
		return true
	})

	// Customer (A) → agent (B) and back, through the stored, sequenced path and the Redis bus.
	w.send(map[string]any{"type": "message", "id": "w2", "text": "我的理賠進度如何？"})
	if f := alice.next("customer message", func(f map[string]any) bool {
		return f["type"] == "message" && f["conversation"] == wConv && f["from"] == "customer" && f["text"] != "真人客服"
	}); f["text"] != "我的理賠進度如何？" {
		t.Fatalf("alice got %v", f)
	}
	alice.send(map[string]any{"type": "message", "conversation": wConv, "id": "a1", "text": "您好，我來幫您查詢。"})
	reply := w.next("agent reply", func(f map[string]any) bool { return f["type"] == "message" && f["from"] == "agent" })
	if reply["agent"] != "alice" || reply["text"] != "您好，我來幫您查詢。" {
		t.Fatalf("W got %v", reply)
	}
	w.send(map[string]any{"type": "message", "id": "w3", "text": "謝謝"})
	alice.next("customer answer", func(f map[string]any) bool {
		return f["type"] == "message" && f["conversation"] == wConv && f["text"] == "謝謝"
	})

	// Alice (B) transfers W to bob (A): he gets the transcript with her reply; W is told.
	alice.send(map[string]any{"type": "transfer", "conversation": wConv, "to_agent": "bob"})
	if f := alice.next("ended (transferred)", typConv("ended", wConv)); f["why"] != "transferred" {
		t.Fatalf("alice ended = %v", f)
	}
	if bt := bob.next("assigned W on A", typConv("assigned", wConv)); !hasText(bt["transcript"].([]any), "您好，我來幫您查詢。") {
		t.Fatal("bob's transcript misses alice's reply")
	}
	if f := w.next("transferred", typ("handoff")); f["state"] != "assigned" || f["agent"] != "bob" {
		t.Fatalf("W = %v", f)
	}
	// Bob hands it back to alice, who ends it on B: the customer on A is told and the bot takes over
	// with the handback turn.
	bob.send(map[string]any{"type": "transfer", "conversation": wConv, "to_agent": "alice"})
	alice.next("assigned W again", typConv("assigned", wConv))
	alice.send(map[string]any{"type": "end", "conversation": wConv, "resolved": true})
	alice.next("ended", typConv("ended", wConv))
	for {
		f := w.next("ended frame", typ("handoff"))
		if f["state"] == "ended" {
			if f["agent"] != "alice" {
				t.Fatalf("W = %v", f)
			}
			break
		}
	}
	w.next("handback turn (bot)", func(f map[string]any) bool { return f["type"] == "message" && f["from"] == "bot" })
	if _, held := a.hs.Hold(wConv); held {
		t.Fatal("W still held on node A after the end on B")
	}
	// The rating (the dialog on A calls it) finds the handoff B ended; B reads it.
	if err := a.hs.RecordRating(ctx, wConv, 5, "很快"); err != nil {
		t.Fatal(err)
	}
	if rs, _ := b.hs.Ratings(ctx, wConv); len(rs) != 1 || rs[0].Score != 5 || rs[0].Agent != "alice" || rs[0].Comment != "很快" {
		t.Fatalf("ratings on B = %+v", rs)
	}

	// Bob accepts R on A, then both consoles sign out: nobody is online.
	bob.send(map[string]any{"type": "accept", "conversation": r.Conversation})
	bob.next("assigned R", typConv("assigned", r.Conversation))
	bob.send(map[string]any{"type": "end", "conversation": r.Conversation})
	bob.next("ended R", typConv("ended", r.Conversation))
	alice.c.Close()
	bob.c.Close()

	// Node C signs carol in and becomes ready, then dies (no heartbeat, nothing cleaned up).
	opt, _ := redis.ParseURL(url)
	rdbC := redis.NewClient(opt)
	t.Cleanup(func() { rdbC.Close() })
	c, err := handoff.New(handoff.Config{Path: filepath.Join(t.TempDir(), "c.db"), Hours: handoff.Hours{Always: true},
		Redis: rdbC, RedisPrefix: prefix, Node: "C", PresenceTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	carol := casesvc.Staff{Name: "carol", Role: casesvc.RoleSpecialist}
	c.Join(carol)
	c.SetReady(ctx, carol, true)
	if ag := agentInfo(b.hs, "carol"); !ag.Online || !ag.Ready {
		t.Fatalf("carol on B = %+v", ag)
	}
	deadline := time.Now().Add(5 * ttl)
	for ag := agentInfo(b.hs, "carol"); ag.Online; ag = agentInfo(b.hs, "carol") {
		if time.Now().After(deadline) {
			t.Fatalf("the dead node's agent is still online: %+v", ag)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ag := agentInfo(a.hs, "carol"); ag.Online || ag.Ready {
		t.Fatalf("carol on A after her node died = %+v", ag)
	}
	// A customer asking now stays queued: nobody routes to the dead node's agent.
	q := a.rest("rest-q", "我要找真人客服")
	time.Sleep(300 * time.Millisecond)
	if h, ok := b.hs.Hold(q.Conversation); !ok || h.State != handoff.StateQueued {
		t.Fatalf("hold after carol's node died = %+v %v", h, ok)
	}
	_ = dialog.HandoffRequest{}
}

func agentInfo(s *handoff.Service, name string) handoff.AgentInfo {
	for _, a := range s.Agents() {
		if a.Name == name {
			return a
		}
	}
	return handoff.AgentInfo{}
}
