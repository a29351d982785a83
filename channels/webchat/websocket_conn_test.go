package webchat_test

// Tests of how connections are served (one reader goroutine, writers only while there is something
// to write, one shared ping wheel, slow clients dropped), beyond the protocol in webchat_test.go.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"claimline/channels"
	"claimline/channels/sqlitestore"
	"claimline/channels/webchat"
)

// smallBufListener gives every accepted connection a small kernel send buffer, so a client that
// stops reading makes the server's writes block after a few frames.
type smallBufListener struct{ net.Listener }

func (l smallBufListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetWriteBuffer(4096)
	}
	return c, err
}

// newEnvWith is newEnv with a hook on the webchat Server (before the first connection) and on the
// test server (before it starts).
func newEnvWith(t *testing.T, wcHook func(*webchat.Server), srvHook func(*httptest.Server)) *env {
	return newEnvBus(t, nil, wcHook, srvHook)
}

func newEnvBus(t *testing.T, bus channels.Bus, wcHook func(*webchat.Server), srvHook func(*httptest.Server)) *env {
	t.Helper()
	st, err := sqlitestore.New(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	r, err := channels.NewRouter(channels.RouterConfig{Store: st, Dialog: echo{}, Logger: log, Bus: bus})
	if err != nil {
		t.Fatal(err)
	}
	wc, err := webchat.New(webchat.Config{Router: r, Logger: log, PingInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if wcHook != nil {
		wcHook(wc)
	}
	mux := http.NewServeMux()
	wc.Register(mux)
	srv := httptest.NewUnstartedServer(mux)
	if srvHook != nil {
		srvHook(srv)
	}
	srv.Start()
	t.Cleanup(func() {
		wc.Close()
		srv.Close()
		r.Close(context.Background())
		st.Close()
	})
	return &env{srv: srv, router: r, store: st, wc: wc}
}

// goroutines counts the running goroutines whose stack contains fn.
func goroutines(fn string) int {
	buf := make([]byte, 8<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, fn) {
			n++
		}
	}
	return n
}

// eventually retries cond for up to d.
func eventually(d time.Duration, cond func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return true
		}
	}
	return cond()
}

func TestIdleConnectionsShareThePingWheel(t *testing.T) {
	bus := &countBus{MemoryBus: channels.NewMemoryBus(4)}
	e := newEnvBus(t, bus, nil, nil) // PingInterval 1s
	const n = 70
	var pinged [n]atomic.Int32
	for i := range n {
		c := e.dial(t)
		c.ws.SetPingHandler(func(string) error {
			pinged[i].Add(1)
			return c.ws.WriteControl(websocket.PongMessage, nil, time.Now().Add(time.Second))
		})
		c.hello(nil)
		c.expect("message")
		go func() {
			c.ws.SetReadDeadline(time.Time{})
			for {
				if _, _, err := c.ws.ReadMessage(); err != nil {
					return
				}
			}
		}()
	}
	// One reader per connection, one ping wheel for all, and no writer while nothing is queued.
	// Each connection has its own conversation here: one bus subscription each, called back by the
	// bus, with no goroutine receiving for it.
	if !eventually(3*time.Second, func() bool {
		return goroutines("webchat.(*conn).writeLoop") == 0 && goroutines("webchat.(*conn).catchUp") == 0
	}) {
		t.Fatalf("writers or replays left running on idle connections")
	}
	if got := goroutines("webchat.(*conn).readLoop"); got != n {
		t.Fatalf("%d readers for %d connections", got, n)
	}
	if got := goroutines("webchat.(*Server).pingWheel"); got != 1 {
		t.Fatalf("%d ping wheels", got)
	}
	if got := goroutines("webchat.(*hub)"); got != 0 {
		t.Fatalf("%d bus receivers for %d conversations", got, n)
	}
	if got := bus.subs.Load(); got != n {
		t.Fatalf("%d bus subscriptions for %d conversations", got, n)
	}
	// Every connection is pinged, about once per interval.
	time.Sleep(2500 * time.Millisecond)
	for i := range n {
		if p := pinged[i].Load(); p < 1 || p > 4 {
			t.Fatalf("connection %d pinged %d times in 2.5 intervals", i, p)
		}
	}
}

func TestPingTimeoutClosesDeadConnection(t *testing.T) {
	e := newEnvWith(t, func(s *webchat.Server) { webchat.SetWriteWait(s, 300*time.Millisecond) }, nil)
	dead := e.dial(t)
	dead.hello(nil)
	dead.expect("message")
	alive := e.dial(t)
	wa := alive.hello(nil)
	alive.expect("message")
	go func() { // alive answers pings (gorilla does, while reading); dead reads nothing
		alive.ws.SetReadDeadline(time.Time{})
		for {
			if _, _, err := alive.ws.NextReader(); err != nil {
				return
			}
		}
	}()
	// Silent for 2 intervals + the write wait (2.3 s): the server gives up on dead.
	time.Sleep(3500 * time.Millisecond)
	dead.ws.SetReadDeadline(time.Now().Add(3 * time.Second))
	var err error
	for err == nil {
		_, _, err = dead.ws.ReadMessage()
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatalf("dead connection still open: %v", err)
	}
	if !eventually(2*time.Second, func() bool { return goroutines("webchat.(*conn).readLoop") == 1 }) {
		t.Fatalf("%d readers left, want 1 (alive)", goroutines("webchat.(*conn).readLoop"))
	}
	// alive, which answered the pings, is still served.
	alive.ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	alive.send(map[string]string{"type": "message", "id": "still", "text": "here"})
	if !eventually(5*time.Second, func() bool {
		n, err := e.router.Conversation(context.Background(), wa.Conversation)
		return err == nil && n.LastSeq == 3
	}) {
		t.Fatal("alive connection's message not handled")
	}
}

// dialSmallReadBuffer connects a client with a small kernel receive buffer, so that with
// smallBufListener the server's writes block as soon as the client reads slower than it writes.
func dialSmallReadBuffer(t *testing.T, e *env) *client {
	t.Helper()
	dialer := websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetReadBuffer(4096)
		}
		return c, err
	}}
	ws, _, err := dialer.Dial("ws"+strings.TrimPrefix(e.srv.URL, "http")+"/webchat/ws", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ws.Close() })
	return &client{t: t, ws: ws}
}

// A resume that replays a long backlog to a client reading slower than the server writes waits for
// room in the send queue; the client's own frames meanwhile (a ping, a message the widget resends
// from its outbox right after welcome) get their pong and ack without the client being dropped as
// too slow, and everything arrives once, in seq order.
func TestReplayToSlowReaderAnswersItsFrames(t *testing.T) {
	e := newEnvWith(t, nil, func(s *httptest.Server) { s.Listener = smallBufListener{s.Listener} })
	fast := e.dial(t)
	w := fast.hello(nil)
	fast.expect("message") // the greeting, seq 1
	text := strings.Repeat("慢", 1000)
	const n = 40 // 80 frames of 3 KB to replay
	for i := range n {
		id := fmt.Sprint("m", i)
		fast.send(map[string]string{"type": "message", "id": id, "text": text})
		fast.exchange(id, int64(3+2*i))
	}
	backlog := int64(1 + 2*n)

	slow := dialSmallReadBuffer(t, e)
	slow.hello(map[string]any{"session": w.Session, "last_seq": 0})
	time.Sleep(300 * time.Millisecond) // busy: the replay backs up behind the full socket
	slow.send(map[string]string{"type": "ping"})
	slow.send(map[string]string{"type": "message", "id": "late", "text": "still here"})
	time.Sleep(300 * time.Millisecond)

	var last int64
	pong, acked := false, false
	slow.ws.SetReadDeadline(time.Now().Add(30 * time.Second))
	for last < backlog+2 || !pong || !acked {
		var f frame
		if err := slow.ws.ReadJSON(&f); err != nil {
			t.Fatalf("connection ended after seq %d of %d (pong %v, ack %v): %v", last, backlog+2, pong, acked, err)
		}
		switch f.Type {
		case "pong":
			pong = true
		case "ack":
			acked = acked || (f.ID == "late" && f.Seq == backlog+1)
		case "message":
			if f.Seq != last+1 {
				t.Fatalf("seq %d after %d", f.Seq, last)
			}
			last = f.Seq
		}
	}
}

func TestSlowClientDroppedOthersUnaffectedAndResumes(t *testing.T) {
	e := newEnvWith(t, nil, func(s *httptest.Server) { s.Listener = smallBufListener{s.Listener} })
	// The slow client: a small receive buffer, and it stops reading after the greeting.
	slow := dialSmallReadBuffer(t, e)
	w := slow.hello(nil)
	slow.expect("message")

	// It keeps sending big messages and reads nothing: its replies back up until it is dropped.
	text := strings.Repeat("慢", 2500) // 7.5 KB, replied to in full by the echo dialog
	sent := 0
	for ; sent < 200; sent++ {
		slow.ws.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if err := slow.ws.WriteJSON(map[string]string{"type": "message", "id": fmt.Sprint("s", sent), "text": text}); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}

	// Meanwhile another customer is served as usual.
	other := e.dial(t)
	other.hello(nil)
	other.expect("message")
	other.send(map[string]string{"type": "message", "id": "o1", "text": "hi"})
	if fs := messages(other.exchange("o1", 3)); fs[len(fs)-1].Text != "echo:hi" {
		t.Fatalf("other %+v", fs)
	}

	// The slow client was disconnected: what it can still read ends with the connection closed.
	var last int64 = 1 // the greeting was read
	slow.ws.SetReadDeadline(time.Now().Add(15 * time.Second))
	for {
		var f frame
		if err := slow.ws.ReadJSON(&f); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("slow client never dropped (sent %d)", sent)
			}
			break
		}
		if f.Type == "message" || f.Type == "handoff" {
			if f.Seq != last+1 {
				t.Fatalf("before the drop: seq %d after %d", f.Seq, last)
			}
			last = f.Seq
		}
	}

	// Let the turns finish, then resume: everything after last, once each, in order.
	// (The reader may still be storing a message it read before the drop: wait until the
	// conversation is stable, every message answered.)
	var stored []channels.Message
	prev := -1
	if !eventually(10*time.Second, func() bool {
		time.Sleep(200 * time.Millisecond)
		var err error
		stored, err = e.router.MessagesAfter(context.Background(), w.Conversation, 0, 10000)
		if err != nil || len(stored) == 0 {
			return false
		}
		stable := len(stored) == prev
		prev = len(stored)
		if !stable {
			return false
		}
		in, out := 0, 0
		for _, m := range stored {
			if m.Direction == channels.DirIn {
				in++
			} else {
				out++
			}
		}
		return out == in+1 // the greeting, then one reply per message
	}) {
		t.Fatalf("turns did not finish: %d stored", len(stored))
	}
	want := stored[len(stored)-1].Seq
	t.Logf("slow client: sent %d messages, read up to seq %d of %d before it was dropped", sent, last, want)
	if want <= last {
		t.Fatalf("nothing backed up: read up to %d of %d", last, want)
	}
	back := e.dial(t)
	back.hello(map[string]any{"session": w.Session, "last_seq": last})
	got := messages(back.until(want))
	if int64(len(got)) != want-last {
		t.Fatalf("resumed %d messages after %d, want %d", len(got), last, want-last)
	}
	for i, f := range got {
		if f.Seq != last+1+int64(i) || f.Text != stored[f.Seq-1].Text {
			t.Fatalf("resumed out of order at %d: seq %d", i, f.Seq)
		}
	}
	back.quiet()
}

func TestTabsShareTheConversation(t *testing.T) {
	bus := &countBus{MemoryBus: channels.NewMemoryBus(4)}
	e := newEnvBus(t, bus, nil, nil)
	a := e.dial(t)
	w := a.hello(nil)
	a.expect("message")
	b := e.dial(t)
	b.hello(map[string]any{"session": w.Session, "last_seq": 1})
	a.send(map[string]string{"type": "message", "id": "m1", "text": "from a"})
	a.exchange("m1", 3)
	got := messages(b.until(3))
	if len(got) != 2 || got[0].Text != "from a" || got[1].Text != "echo:from a" {
		t.Fatalf("tab b %+v", got)
	}
	if n := bus.subs.Load(); n != 1 {
		t.Fatalf("%d bus subscriptions for one conversation", n)
	}
	a.ws.Close()
	b.send(map[string]string{"type": "message", "id": "m2", "text": "from b"})
	b.exchange("m2", 5)
	b.quiet()
	b.ws.Close()
	if !eventually(2*time.Second, func() bool { return bus.subs.Load() == 0 }) {
		t.Fatal("bus subscription left after the last connection closed")
	}
}

// dropBus is a MemoryBus whose subscribers the test can drop, as a bus drops one that fell behind.
type dropBus struct {
	*channels.MemoryBus
	mu      sync.Mutex
	cancels []func()
}

func (b *dropBus) Subscribe(conv string) (<-chan channels.Message, func()) {
	ch, cancel := b.MemoryBus.Subscribe(conv)
	b.mu.Lock()
	b.cancels = append(b.cancels, cancel)
	b.mu.Unlock()
	return ch, cancel
}

func (b *dropBus) dropAll() {
	b.mu.Lock()
	cancels := b.cancels
	b.cancels = nil
	b.mu.Unlock()
	for _, c := range cancels {
		c()
	}
}

func TestBusDropResubscribesAndReplays(t *testing.T) {
	bus := &dropBus{MemoryBus: channels.NewMemoryBus(4)}
	e := newEnvBus(t, bus, nil, nil)
	c := e.dial(t)
	c.hello(nil)
	c.expect("message")
	for i := range 3 {
		bus.dropAll()
		id := fmt.Sprint("m", i)
		c.send(map[string]string{"type": "message", "id": id, "text": id})
		if fs := messages(c.exchange(id, int64(3+2*i))); fs[len(fs)-1].Text != "echo:"+id {
			t.Fatalf("after drop %d: %+v", i, fs)
		}
	}
	c.quiet()
}

// countBus is a MemoryBus that counts its live callback subscriptions.
type countBus struct {
	*channels.MemoryBus
	subs atomic.Int64
}

func (b *countBus) SubscribeFunc(conv string, fn func(channels.Message) bool) func() {
	b.subs.Add(1)
	cancel := b.MemoryBus.SubscribeFunc(conv, fn)
	var once sync.Once
	return func() {
		cancel()
		once.Do(func() { b.subs.Add(-1) })
	}
}

// lossyBus loses every customer message on the way to callback subscribers, as a notification path
// may; the bot's reply after it shows the gap.
type lossyBus struct{ *channels.MemoryBus }

func (b lossyBus) SubscribeFunc(conv string, fn func(channels.Message) bool) func() {
	return b.MemoryBus.SubscribeFunc(conv, func(m channels.Message) bool {
		return m.Direction == channels.DirIn || fn(m)
	})
}

func TestLostLiveMessagesAreReplayedInOrder(t *testing.T) {
	e := newEnvBus(t, lossyBus{channels.NewMemoryBus(4)}, nil, nil)
	c := e.dial(t)
	c.hello(nil)
	c.expect("message")
	for i := range 3 {
		id := fmt.Sprint("m", i)
		c.send(map[string]string{"type": "message", "id": id, "text": id})
		fs := messages(c.exchange(id, int64(3+2*i)))
		if len(fs) != 2 || fs[0].Text != id || fs[1].Text != "echo:"+id {
			t.Fatalf("turn %d: %+v", i, fs)
		}
	}
	c.quiet()
}
