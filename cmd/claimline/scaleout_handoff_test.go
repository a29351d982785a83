package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"claimline/internal/testservices"
)

// consoleClient is an agent's console websocket (docs/console.md).
type consoleClient struct {
	t      *testing.T
	conn   *websocket.Conn
	frames chan map[string]any
}

func dialConsole(t *testing.T, baseURL, token string) *consoleClient {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(baseURL, "http")+"/console/ws",
		http.Header{"Origin": {baseURL}})
	if err != nil {
		t.Fatalf("console dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &consoleClient{t: t, conn: conn, frames: make(chan map[string]any, 1024)}
	go func() {
		defer close(c.frames)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			var f map[string]any
			json.Unmarshal(b, &f)
			c.frames <- f
		}
	}()
	c.send(map[string]any{"type": "auth", "token": token})
	c.next("welcome", func(f map[string]any) bool { return f["type"] == "welcome" })
	return c
}

func (c *consoleClient) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatalf("console write: %v", err)
	}
}

func (c *consoleClient) next(what string, pred func(map[string]any) bool) map[string]any {
	c.t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		select {
		case f, ok := <-c.frames:
			if !ok {
				c.t.Fatalf("console closed while waiting for %s", what)
			}
			if f["type"] == "error" {
				c.t.Fatalf("console error while waiting for %s: %v", what, f)
			}
			if pred(f) {
				return f
			}
		case <-deadline:
			c.t.Fatalf("console: timed out waiting for %s", what)
		}
	}
}

// untilMessage reads the customer's frames until a message from `from` containing sub.
func (c *wsClient) untilMessage(from, sub string) wsFrame {
	c.t.Helper()
	for {
		f := c.read()
		if f.Type == "message" && f.From == from && strings.Contains(f.Text, sub) {
			return f
		}
		if f.Type == "error" {
			c.t.Fatalf("error frame %+v", f)
		}
	}
}

// TestScaledOutHandoff: a customer on gateway node A asks for a person; an agent signed in to node B's
// console sees them in the queue, accepts and replies; the customer on A receives the reply and
// answers, the agent on B receives it; the agent ends and the customer gets the bot's handback turn.
// The handoff queue and presence are shared in Redis, the messages go through the shared store and
// the Redis bus.
func TestScaledOutHandoff(t *testing.T) {
	redisURL := testservices.StartRedis(t)
	const token = "casesvc-service-token-0123456789"
	cs := startCommand(t, []string{"casesvc", "--addr", "127.0.0.1:0", "--data", t.TempDir()},
		"CLAIMLINE_CASESVC_TOKEN="+token)
	gateway := func() *proc {
		return startProcess(t, t.TempDir(), "CLAIMLINE_REDIS_URL="+redisURL, "CLAIMLINE_STAFFED_HOURS=always",
			"CLAIMLINE_CASESVC_URL="+cs.URL, "CLAIMLINE_CASESVC_TOKEN="+token)
	}
	a, b := gateway(), gateway()

	// The customer on node A asks for a person and is first in line.
	c := &wsClient{t: t}
	conv := c.connect(a.URL).Conversation
	if conv == "" {
		t.Fatal("no conversation id in the welcome")
	}
	c.untilBot("需要什麼協助")
	c.say("真人客服")
	c.untilMessage("system", "第 1 位")

	// The agent on node B sees them in the queue and accepts.
	agent := dialConsole(t, b.URL, testSpecialistToken)
	agent.next("queue with the customer of node A", func(f map[string]any) bool {
		if f["type"] != "queue" {
			return false
		}
		for _, it := range f["queue"].([]any) {
			if it.(map[string]any)["conversation"] == conv {
				return true
			}
		}
		return false
	})
	agent.send(map[string]any{"type": "accept", "conversation": conv})
	as := agent.next("assigned", func(f map[string]any) bool { return f["type"] == "assigned" && f["conversation"] == conv })
	if tr, _ := as["transcript"].([]any); !strings.Contains(mustJSON(tr), "真人客服") {
		t.Fatalf("the agent's transcript lacks the customer's request: %v", tr)
	}
	c.untilMessage("system", "lin")

	// The agent on B replies; the customer on A receives it; the customer answers; the agent gets it.
	agent.send(map[string]any{"type": "message", "conversation": conv, "id": "a1", "text": "您好，我是專員，來幫您查詢。"})
	agent.next("ack", func(f map[string]any) bool { return f["type"] == "ack" && f["id"] == "a1" })
	c.untilMessage("agent", "來幫您查詢")
	c.say("謝謝，我想問理賠進度")
	agent.next("the customer's answer", func(f map[string]any) bool {
		return f["type"] == "message" && f["conversation"] == conv && f["from"] == "customer" && f["text"] == "謝謝，我想問理賠進度"
	})

	// The agent ends: the customer is told and the bot answers again (the handback turn).
	agent.send(map[string]any{"type": "end", "conversation": conv, "resolved": true})
	agent.next("ended", func(f map[string]any) bool { return f["type"] == "ended" && f["conversation"] == conv })
	c.untilMessage("system", "已結束對話")
	c.untilMessage("bot", "")
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
