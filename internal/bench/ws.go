package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The web chat customer of spec/http-api.md 1.1: hello, welcome, then message/action frames, each
// answered by an ack, the customer's own message and the bot's replies.

// wsFrame is every frame either side sends; which fields count depends on Type.
type wsFrame struct {
	Type         string   `json:"type"`
	Session      string   `json:"session,omitempty"`
	Conversation string   `json:"conversation,omitempty"`
	Seq          int64    `json:"seq,omitempty"`
	ID           string   `json:"id,omitempty"`
	From         string   `json:"from,omitempty"`
	Text         string   `json:"text,omitempty"`
	Value        string   `json:"value,omitempty"`
	Lang         string   `json:"lang,omitempty"`
	Buttons      []button `json:"buttons,omitempty"`
	Code         string   `json:"code,omitempty"`
	Message      string   `json:"message,omitempty"`
}

var wsDialer = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: 4096, WriteBufferSize: 4096}

func wsURL(base, path string) string {
	return "ws" + strings.TrimPrefix(base, "http") + path
}

// unknownWait is how long a customer waits for another message after one it cannot answer.
const unknownWait = 2 * time.Second

// wsCustomer files claims over one websocket each.
type wsCustomer struct {
	base    string
	sc      script
	timeout time.Duration
	rec     *local
	// pace, when set, is called before every frame the customer sends (hello included) and waits for
	// its slot; false means stop, and stopped is set.
	pace    func() bool
	stopped bool
	io      frameConn // its buffers serve one connection after another
}

func (c *wsCustomer) paced() bool {
	if c.pace == nil {
		return true
	}
	if !c.pace() {
		c.stopped = true
		return false
	}
	return true
}

// claim files one claim on a new connection (a new conversation). It returns whether a case was
// filed; it stops early, without error, when stopAt passes or ctx ends between turns. Besides the
// replies it checks the protocol: message and handoff frames in increasing seq order, and every
// message acked once, before the next is sent.
func (c *wsCustomer) claim(ctx context.Context, stopAt time.Time) (filed bool, kind string, err error) {
	if !c.paced() {
		return false, "", nil
	}
	dctx, cancel := context.WithTimeout(ctx, c.timeout)
	conn, _, err := wsDialer.DialContext(dctx, wsURL(c.base, "/webchat/ws"), http.Header{"Origin": {c.base}})
	cancel()
	if err != nil {
		return false, "dial", err
	}
	defer func() {
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		conn.Close()
	}()
	fc := &c.io
	fc.ws = conn
	if err := fc.send("hello", "", "", "", c.sc.lang); err != nil {
		return false, "write", err
	}
	var (
		sentAt  time.Time
		waiting bool // a message/action was sent and its first reply has not come
		unknown error
		turns   int
		nextID  int
		pending string // the id sent and not acked yet
		lastSeq int64  // of the last message or handoff frame
		asked   bool   // the bot asked, and typed or pressed is the answer
		typed   string // text to type
		pressed string // button value to press
		done    bool   // the case id came
		f       wsFrame
	)
	for {
		if pending == "" {
			if done {
				return true, "", nil
			}
			if asked { // the bot asked, and the last message is acked: answer
				if time.Now().After(stopAt) || ctx.Err() != nil || !c.paced() {
					return false, "", nil
				}
				nextID++
				pending = messageID(fc.id[:], nextID)
				typ := "message"
				if pressed != "" {
					typ = "action"
				}
				sentAt, waiting = time.Now(), true
				if err := fc.send(typ, pending, typed, pressed, ""); err != nil {
					return false, "write", err
				}
				asked = false
			}
		}
		wait := c.timeout
		if unknown != nil {
			wait = unknownWait
		}
		conn.SetReadDeadline(time.Now().Add(wait))
		if err := fc.read(&f); err != nil {
			var ne net.Error
			if unknown != nil && errors.As(err, &ne) && ne.Timeout() {
				return false, "unknown_question", unknown
			}
			if errors.As(err, &ne) && ne.Timeout() {
				return false, "reply_timeout", err
			}
			return false, "read", err
		}
		switch f.Type {
		case "welcome", "pong":
			continue
		case "ack":
			if f.ID == "" || f.ID != pending {
				return false, "unexpected_ack", fmt.Errorf("ack of %q while waiting for %q", f.ID, pending)
			}
			pending = ""
			continue
		case "error":
			return false, "error_frame", fmt.Errorf("%s: %s", f.Code, f.Message)
		case "message", "handoff":
			if f.Seq <= lastSeq {
				return false, "seq_order", fmt.Errorf("%s frame seq %d after %d", f.Type, f.Seq, lastSeq)
			}
			lastSeq = f.Seq
			if f.Type == "handoff" {
				continue
			}
		default:
			return false, "unknown_frame", fmt.Errorf("frame type %q", f.Type)
		}
		switch f.From {
		case "bot":
		case "system":
			return false, "system_message", fmt.Errorf("system message %q", f.Text)
		default:
			continue // the customer's own message, stored and echoed
		}
		if waiting {
			c.rec.turn(time.Since(sentAt))
			waiting = false
		}
		if done {
			continue
		}
		if caseIDPattern.MatchString(f.Text) {
			done = true
			continue
		}
		var ok bool
		typed, pressed, ok, err = c.sc.reply(f.Text, f.Buttons)
		if err != nil {
			return false, "unknown_question", err
		}
		if !ok {
			unknown = errUnknownQuestion{f.Text, f.Buttons}
			continue
		}
		unknown = nil
		if turns++; turns > maxTurnsPerClaim {
			return false, "no_end", fmt.Errorf("no case id after %d turns; last bot message %q", maxTurnsPerClaim, f.Text)
		}
		asked = true
	}
}

// driveClaims runs n customers filing claims until duration passes and returns the elapsed time
// (until the last customer stopped).
func driveClaims(ctx context.Context, e *env, rec *recorder, n int, duration time.Duration, pace func(i int) func() bool) time.Duration {
	start := time.Now()
	stopAt := start.Add(duration)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := rec.local()
			defer l.flush()
			c := &wsCustomer{base: e.target.URL, sc: scriptFor(e.opts.langs[i%len(e.opts.langs)]), timeout: e.opts.replyTimeout, rec: l}
			if pace != nil {
				c.pace = pace(i)
			}
			for claims := 0; claims < 1_000_000 && time.Now().Before(stopAt) && ctx.Err() == nil && !c.stopped; claims++ {
				filed, kind, err := c.claim(ctx, stopAt)
				if err != nil {
					rec.fail(kind, err)
					// A failing server is not hammered in a tight loop.
					select {
					case <-time.After(100 * time.Millisecond):
					case <-ctx.Done():
					}
					continue
				}
				if filed {
					rec.claims.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

func runClaim(ctx context.Context, e *env) error {
	rec := newRecorder()
	e.logf("claimline: %d web chat customers filing claims for %s...\n", e.opts.clients, e.opts.duration)
	stop := e.profile()
	cpu := startCPU()
	elapsed := driveClaims(ctx, e, rec, e.opts.clients, e.opts.duration, nil)
	cpuUsed := cpu.used()
	stop()
	mem, merr := e.target.readMemory(ctx)
	turns, claims := rec.turns.Load(), rec.claims.Load()
	r := e.result
	r.Turns, r.Claims, r.Errors, r.Elapsed, r.Latency = turns, claims, rec.errors.Load(), elapsed, rec.percentiles()
	r.FirstErrors = rec.first
	perClaim := 12.0
	if claims > 0 {
		perClaim = float64(turns) / float64(claims)
	}
	fmt.Fprintf(e.out, "claimline  %d turns in %s = %.1f turns/s; %d claims filed (%.1f claims/s, %.1f turns each); errors %s\n",
		turns, elapsed.Round(time.Millisecond), rate(turns, elapsed), claims, rate(claims, elapsed), perClaim, rec.errorSummary())
	fmt.Fprintf(e.out, "           reply latency %s\n", r.Latency)
	if e.target.inProcess && cpuUsed > 0 && turns > 0 {
		// The whole process: the server and its load client, as the echo figure below.
		r.CPUPerTurn = cpuUsed / time.Duration(turns)
		fmt.Fprintf(e.out, "           CPU %s per turn (claimline and the load client), %.2f of %d cores busy\n",
			r.CPUPerTurn.Round(100*time.Nanosecond), cpuUsed.Seconds()/elapsed.Seconds(), runtime.GOMAXPROCS(0))
	}
	if merr != nil {
		fmt.Fprintf(e.out, "           server memory: %v\n", merr)
	} else {
		fmt.Fprintf(e.out, "           server memory: %s\n", mem)
	}
	for _, s := range rec.first {
		fmt.Fprintf(e.out, "           error: %s\n", s)
	}
	if !e.opts.echo {
		return nil
	}

	echoURL, closeEcho, err := startEcho()
	if err != nil {
		return err
	}
	defer closeEcho()
	roundTrips := int(perClaim + 0.5)
	e.logf("echo: %d clients, %d round trips per connection, for %s...\n", e.opts.clients, roundTrips, e.opts.duration)
	erec := newRecorder()
	ecpu := startCPU()
	eelapsed := driveEcho(ctx, e, erec, echoURL, roundTrips)
	ecpuUsed := ecpu.used()
	ert := erec.turns.Load()
	r.EchoRoundTrips, r.EchoElapsed = ert, eelapsed
	fmt.Fprintf(e.out, "echo       %d round trips in %s = %.1f round trips/s; errors %s\n",
		ert, eelapsed.Round(time.Millisecond), rate(ert, eelapsed), erec.errorSummary())
	fmt.Fprintf(e.out, "           round trip %s\n", erec.percentiles())
	if ert > 0 {
		r.Ratio = rate(turns, elapsed) / rate(ert, eelapsed)
		verdict := "met"
		if r.Ratio < 0.25 {
			verdict = "MISSED"
		}
		fmt.Fprintf(e.out, "figure     claimline turns/s = %.1f%% of bare websocket echo round trips/s (target >= 25%%: %s)\n", 100*r.Ratio, verdict)
		if r.CPUPerTurn > 0 && ecpuUsed > 0 {
			// CPU per unit of work moves less than the rates when other tenants slow the machine,
			// and leaves out the cores either side left idle.
			r.EchoCPUPerRoundTrip = ecpuUsed / time.Duration(ert)
			fmt.Fprintf(e.out, "           by CPU: %s per echo round trip (%.2f cores busy), %s per claimline turn = %.1f%%\n",
				r.EchoCPUPerRoundTrip.Round(100*time.Nanosecond), ecpuUsed.Seconds()/eelapsed.Seconds(),
				r.CPUPerTurn.Round(100*time.Nanosecond), 100*float64(r.EchoCPUPerRoundTrip)/float64(r.CPUPerTurn))
		}
	}
	return nil
}

// startEcho serves a bare gorilla/websocket echo on a loopback port (same buffer sizes as webchat).
func startEcho() (string, func(), error) {
	up := websocket.Upgrader{ReadBufferSize: 4096, WriteBufferSize: 4096}
	var mu sync.Mutex
	conns := map[*websocket.Conn]struct{}{}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		mu.Lock()
		conns[c] = struct{}{}
		mu.Unlock()
		defer func() {
			mu.Lock()
			delete(conns, c)
			mu.Unlock()
			c.Close()
		}()
		for {
			c.SetReadDeadline(time.Now().Add(time.Minute))
			mt, b, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, b); err != nil {
				return
			}
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() {
		srv.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}, nil
}

// driveEcho drives the echo server with the customers' pattern: connect, hello, then roundTrips
// message frames each waiting for its answer, then a new connection.
func driveEcho(ctx context.Context, e *env, rec *recorder, base string, roundTrips int) time.Duration {
	start := time.Now()
	stopAt := start.Add(e.opts.duration)
	text := zhMedical.answers[7].text
	var wg sync.WaitGroup
	for range e.opts.clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := rec.local()
			defer l.flush()
			var fc frameConn
			for conns := 0; conns < 1_000_000 && time.Now().Before(stopAt) && ctx.Err() == nil; conns++ {
				if kind, err := echoConversation(ctx, base, &fc, l, roundTrips, text, stopAt, e.opts.replyTimeout); err != nil {
					rec.fail(kind, err)
					select {
					case <-time.After(100 * time.Millisecond):
					case <-ctx.Done():
					}
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start)
}

// echoConversation is one connection of the echo yardstick, with the customers' frame code: the same
// writes and the same decoding of what comes back.
func echoConversation(ctx context.Context, base string, fc *frameConn, l *local, roundTrips int, text string, stopAt time.Time, timeout time.Duration) (string, error) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	conn, _, err := wsDialer.DialContext(dctx, wsURL(base, "/"), nil)
	cancel()
	if err != nil {
		return "dial", err
	}
	defer func() {
		conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		conn.Close()
	}()
	fc.ws = conn
	var f wsFrame
	roundTrip := func(typ, id, text, lang string) (string, error) {
		if err := fc.send(typ, id, text, "", lang); err != nil {
			return "write", err
		}
		conn.SetReadDeadline(time.Now().Add(timeout))
		if err := fc.read(&f); err != nil {
			return "read", err
		}
		if f.Type != typ || f.ID != id {
			return "echo_mismatch", fmt.Errorf("sent %q %q, got %q %q", typ, id, f.Type, f.ID)
		}
		return "", nil
	}
	if kind, err := roundTrip("hello", "", "", "zh-TW"); err != nil {
		return kind, err
	}
	for i := range roundTrips {
		if time.Now().After(stopAt) || ctx.Err() != nil {
			return "", nil
		}
		sent := time.Now()
		if kind, err := roundTrip("message", messageID(fc.id[:], i+1), text, ""); err != nil {
			return kind, err
		}
		l.turn(time.Since(sent))
	}
	return "", nil
}
