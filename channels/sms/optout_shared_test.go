package sms_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"claimline/channels"
	"claimline/channels/sms"
	"claimline/internal/testservices"
)

// sharedRedis is a client of a real redis-server and a key prefix of this test's own.
func sharedRedis(t *testing.T) (redis.UniversalClient, string) {
	t.Helper()
	opt, err := redis.ParseURL(testservices.StartRedis(t))
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	prefix := "test:" + strings.ReplaceAll(t.Name(), "/", ":") + ":" + time.Now().Format("150405.000000") + ":"
	return c, prefix
}

func withRedis(c redis.UniversalClient, prefix string) func(*sms.Config) {
	return func(cfg *sms.Config) { cfg.Redis, cfg.RedisPrefix = c, prefix }
}

// Two gateway nodes on one Redis: a STOP taken by one node stops the other's sends to that number
// (its outbox fails them as opted_out, Twilio is not called), and a START on the other node lifts it
// for both.
func TestOptOutSharedByNodes(t *testing.T) {
	c, prefix := sharedRedis(t)
	a, b := newEnv(t, withRedis(c, prefix)), newEnv(t, withRedis(c, prefix))
	ctx := context.Background()
	const phone = "+886912000111"
	if got := b.say(phone, "你好"); len(got) == 0 {
		t.Fatal("node B: no greeting")
	}
	if resp, twiml := a.post(a.inboundForm(phone, "STOP")); resp.StatusCode != http.StatusOK || !strings.Contains(twiml, "START") {
		t.Fatalf("node A: STOP answered %d %q", resp.StatusCode, twiml)
	}
	if out, err := b.sms.OptedOut(ctx, phone); err != nil || !out {
		t.Fatalf("node B: opted out = %v, %v; want true", out, err)
	}
	b.checkNotSentTo(phone) // node B's outbox fails its reply as opted_out
	// The first reason stays (STOP), as in sms.db: a later 21610 does not overwrite it.
	if err := b.sms.OptOut(ctx, phone, "21610"); err != nil {
		t.Fatal(err)
	}
	if v, err := c.HGet(ctx, prefix+"sms:optouts", phone).Result(); err != nil || !strings.HasPrefix(v, "STOP\t") {
		t.Fatalf("the shared list keeps %q, %v; want the STOP of node A", v, err)
	}
	if resp, twiml := b.post(b.inboundForm(phone, "START")); resp.StatusCode != http.StatusOK || !strings.Contains(twiml, "<Message>") {
		t.Fatalf("node B: START answered %d %q", resp.StatusCode, twiml)
	}
	if out, err := a.sms.OptedOut(ctx, phone); err != nil || out {
		t.Fatalf("node A after START on B: opted out = %v, %v; want false", out, err)
	}
	if got := a.say(phone, "你好"); len(got) == 0 {
		t.Fatal("node A: no reply after START")
	}
	// Nothing of it is in either node's own file.
	for _, e := range []*env{a, b} {
		local, err := sms.New(localConfig(e))
		if err != nil {
			t.Fatal(err)
		}
		if out, err := local.OptedOut(ctx, "+886912000111"); err != nil || out {
			t.Fatalf("%s: the node's sms.db has the number (%v, %v)", e.dir, out, err)
		}
		local.Close()
	}
}

// localConfig is a Config for the node's own sms.db, without Redis.
func localConfig(e *env) sms.Config {
	return sms.Config{AccountSID: testSID, AuthToken: testToken, From: ourNumber, PublicURL: e.app.URL,
		Router: e.router, DBPath: filepath.Join(e.dir, "sms.db")}
}

// A node that ran alone (its opt-outs in sms.db) and then joins the shared deployment brings its list
// along, once: the numbers move to Redis and leave the file, so an opt-in on any node afterwards is
// not undone at the node's next start.
func TestOptOutsMoveToRedis(t *testing.T) {
	e := newEnv(t) // alone: sms.db
	ctx := context.Background()
	const phone, other = "+886912000222", "+886912000333"
	if resp, _ := e.post(e.inboundForm(phone, "STOP")); resp.StatusCode != http.StatusOK {
		t.Fatalf("STOP answered %d", resp.StatusCode)
	}
	if err := e.sms.OptOut(ctx, other, "21610"); err != nil {
		t.Fatal(err)
	}
	e.sms.Close()

	c, prefix := sharedRedis(t)
	cfg := localConfig(e)
	cfg.Redis, cfg.RedisPrefix = c, prefix
	joined, err := sms.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer joined.Close()
	for _, n := range []string{phone, other} {
		if out, err := joined.OptedOut(ctx, n); err != nil || !out {
			t.Fatalf("%s after the move: opted out = %v, %v", n, out, err)
		}
	}
	if v, _ := c.HGet(ctx, prefix+"sms:optouts", other).Result(); !strings.HasPrefix(v, "21610\t") {
		t.Fatalf("moved entry %q: the reason is lost", v)
	}
	local, err := sms.New(localConfig(e))
	if err != nil {
		t.Fatal(err)
	}
	if out, _ := local.OptedOut(ctx, phone); out {
		t.Fatal("the number is still in sms.db after the move")
	}
	local.Close()

	// An opt-in on the shared list, then the node starts again: the number stays opted in.
	if err := joined.OptIn(ctx, phone); err != nil {
		t.Fatal(err)
	}
	again, err := sms.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if out, _ := again.OptedOut(ctx, phone); out {
		t.Fatal("the old sms.db undid the opt-in at the next start")
	}
	if out, _ := again.OptedOut(ctx, other); !out {
		t.Fatal("the other number's opt-out was lost")
	}

	// Redis down: the lookup fails (and Send refuses to send), it never answers "not opted out".
	c.Close()
	if out, err := again.OptedOut(ctx, other); err == nil {
		t.Fatalf("with Redis closed OptedOut = %v, nil; want an error", out)
	}
	_, err = again.Send(ctx, &channels.Conversation{ID: "x", Channel: channels.ChannelSMS, Contact: other}, channels.Message{Text: "hi"})
	if err == nil {
		t.Fatal("Send with the suppression list unreadable: no error")
	}
	var de *channels.DeliveryError
	if errors.As(err, &de) && !de.Retry {
		t.Fatalf("Send with Redis down: %+v; want a retry, not a permanent failure", de)
	}
}
