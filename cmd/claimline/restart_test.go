package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// wsClient speaks the web chat protocol of spec/http-api.md section 1.1, as the widget does.
type wsClient struct {
	t       *testing.T
	conn    *websocket.Conn
	frames  chan []byte // read by one goroutine per connection: gorilla's reads cannot time out and go on
	session string
	lastSeq int64
	nextID  int
	bot     []wsFrame // bot messages received, in order
}

type wsFrame struct {
	Type         string       `json:"type"`
	Session      string       `json:"session"`
	Conversation string       `json:"conversation"`
	Seq          int64        `json:"seq"`
	ID           string       `json:"id"`
	From         string       `json:"from"`
	Text         string       `json:"text"`
	Buttons      []wireButton `json:"buttons"`
	Code         string       `json:"code"`
}

func dialWS(t *testing.T, baseURL string) *websocket.Conn {
	t.Helper()
	h := http.Header{"Origin": {baseURL}}
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(baseURL, "http")+"/webchat/ws", h)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	return conn
}

// connect says hello (resuming when the client has a session) and reads the welcome.
func (c *wsClient) connect(baseURL string) wsFrame {
	c.t.Helper()
	c.conn = dialWS(c.t, baseURL)
	c.frames = make(chan []byte, 256)
	go func(conn *websocket.Conn, out chan<- []byte) {
		defer close(out)
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				return
			}
			out <- b
		}
	}(c.conn, c.frames)
	hello := map[string]any{"type": "hello", "lang": "zh-TW"}
	if c.session != "" {
		hello["session"], hello["last_seq"] = c.session, c.lastSeq
	}
	c.send(hello)
	w := c.read()
	if w.Type != "welcome" || w.Session == "" {
		c.t.Fatalf("want welcome, got %+v", w)
	}
	c.session = w.Session
	return w
}

func (c *wsClient) send(v any) {
	c.t.Helper()
	if err := c.conn.WriteJSON(v); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) read() wsFrame {
	c.t.Helper()
	f, ok := c.readWithin(20 * time.Second)
	if !ok {
		c.t.Fatal("read: no frame within 20s (or the connection closed)")
	}
	return f
}

// readWithin returns the next frame, or false when none comes within d.
func (c *wsClient) readWithin(d time.Duration) (wsFrame, bool) {
	c.t.Helper()
	var b []byte
	select {
	case got, open := <-c.frames:
		if !open {
			return wsFrame{}, false
		}
		b = got
	case <-time.After(d):
		return wsFrame{}, false
	}
	var f wsFrame
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("bad frame %s: %v", b, err)
	}
	if f.Type == "message" {
		// Internal events (a case notice arriving) take a seq but are not shown, so a client may see
		// gaps; it must never see a repeat or a step back. Nothing-lost is checked by the replays.
		if f.Seq <= c.lastSeq {
			c.t.Fatalf("message seq %d after %d: a repeat", f.Seq, c.lastSeq)
		}
		c.lastSeq = f.Seq
		if f.From == "bot" {
			c.bot = append(c.bot, f)
		}
	}
	return f, true
}

// untilBot reads frames until a bot message containing sub arrives.
func (c *wsClient) untilBot(sub string) wsFrame {
	c.t.Helper()
	for {
		f := c.read()
		if f.Type == "message" && f.From == "bot" && strings.Contains(f.Text, sub) {
			return f
		}
		if f.Type == "error" {
			c.t.Fatalf("error frame %+v", f)
		}
	}
}

func (c *wsClient) say(text string) {
	c.nextID++
	c.send(map[string]any{"type": "message", "id": fmt.Sprintf("m%d", c.nextID), "text": text})
}

func (c *wsClient) press(value string) {
	c.nextID++
	c.send(map[string]any{"type": "action", "id": fmt.Sprintf("m%d", c.nextID), "value": value})
}

// TestRestartMidForm kills a real claimline process (SIGKILL) in the middle of a claim form, starts it
// again on the same data directory, and checks that the widget's protocol resumes the conversation with
// nothing lost and the form at the question where it stopped.
func TestRestartMidForm(t *testing.T) {
	data := t.TempDir()
	p := startProcess(t, data)
	c := &wsClient{t: t}
	welcome := c.connect(p.URL)
	c.untilBot("需要什麼協助")
	c.press("file_claim")
	c.untilBot("保單號碼")
	c.say("HL20240017")
	c.untilBot("身分證字號")
	c.say("A123456789")
	c.untilBot("出生日期")
	seenBefore := c.lastSeq

	p.kill()
	c.conn.Close()

	p2 := startProcess(t, data)
	// A fresh page would send last_seq 0 and get the whole transcript; the widget sends what it has.
	w := c.connect(p2.URL)
	if w.Conversation != welcome.Conversation || w.Seq != seenBefore {
		t.Fatalf("after restart: conversation %s seq %d, want %s seq %d", w.Conversation, w.Seq, welcome.Conversation, seenBefore)
	}
	c.say("74/3/2")
	f := c.untilBot("身分已確認") // the form goes on from the birth date, the identity check is kept
	if strings.Contains(f.Text, "保單號碼") {
		t.Fatalf("the form started over: %q", f.Text)
	}

	// A second client resuming from 0 gets the whole conversation again, in order, without gaps.
	c2 := &wsClient{t: t, session: c.session}
	c2.connect(p2.URL)
	for c2.lastSeq < c.lastSeq {
		c2.read()
	}
	if len(c2.bot) != len(c.bot) {
		t.Fatalf("replay has %d bot messages, the live client saw %d", len(c2.bot), len(c.bot))
	}
	for i := range c.bot {
		if c.bot[i].Text != c2.bot[i].Text || c.bot[i].Seq != c2.bot[i].Seq {
			t.Fatalf("replayed message %d differs: %+v vs %+v", i, c2.bot[i], c.bot[i])
		}
	}
}
