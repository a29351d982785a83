package webchat

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"claimline/casesvc"
	"claimline/channels"
)

// Error frame codes (http-api.md 1.1: the connection stays open unless the code says otherwise).
const (
	codeHelloRequired   = "hello_required"
	codeInvalidSession  = "invalid_session" // the connection is closed after it
	codeInvalidFrame    = "invalid_frame"
	codeBadJSON         = "bad_json"
	codeUnknownType     = "unknown_type"
	codeMessageTooLarge = "message_too_large"
	codeUnavailable     = "unavailable" // storing failed; the client resends with the same id
)

const (
	// sendQueue is how many frames a connection may fall behind on live traffic before it is dropped
	// (it reconnects and resumes by seq). A replay (hello, a gap) waits for room instead, and fills
	// the queue only up to replayQueue: the rest is kept for what the client's own frames bring back
	// meanwhile (an ack, a pong, an error), so a replay to a client that reads slower than the server
	// writes never makes that client look too slow.
	sendQueue   = 32
	replayQueue = sendQueue / 2
	writeWait   = 10 * time.Second // default Server.writeWait: one write batch, and the grace added to the read deadline
	maxID       = 128
	replyPage   = 200
	// closeGrace is how long a connection stays open after its close frame, for the client to read it.
	closeGrace = 100 * time.Millisecond
	// readBufferSize is gorilla's per-connection read buffer (held for the connection's life, so small;
	// larger frames are read straight into the message, bypassing it). The write buffer is pooled.
	readBufferSize  = 256
	writeBufferSize = 4096
)

// inFrame is every client frame; which fields count depends on Type.
type inFrame struct {
	Type    string `json:"type"`
	Session string `json:"session"`
	LastSeq int64  `json:"last_seq"`
	Lang    string `json:"lang"`
	ID      string `json:"id"`
	Text    string `json:"text"`
	Value   string `json:"value"`
}

type welcomeFrame struct {
	Type         string `json:"type"`
	Session      string `json:"session"`
	Conversation string `json:"conversation"`
	Seq          int64  `json:"seq"`
}

type ackFrame struct {
	Type string `json:"type"`
	ID   string `json:"id"`
	Seq  int64  `json:"seq"`
}

type messageFrame struct {
	Type string `json:"type"`
	wireMessage
}

// handoffFrame is human handoff progress (http-api.md 1.1); seq is the stored event's, so a
// resuming client can tell a replayed step from a new one.
type handoffFrame struct {
	Type     string `json:"type"`
	Seq      int64  `json:"seq"`
	State    string `json:"state"`
	Position int    `json:"position,omitempty"`
	Agent    string `json:"agent,omitempty"`
}

// typingFrame says the agent is typing; it is not stored and has no seq.
type typingFrame struct {
	Type  string `json:"type"`
	From  string `json:"from"`
	Agent string `json:"agent,omitempty"`
}

type errorFrame struct {
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
	ID      string `json:"id,omitempty"`
}

// outItem is one queued frame: bytes encoded by the sender, a stored message encoded once for every
// connection of its conversation (shared), or a close frame after which the connection ends.
type outItem struct {
	data      []byte
	shared    *sharedFrame
	closeCode int
	closeText string
}

func (it *outItem) bytes() []byte {
	if it.shared != nil {
		return it.shared.bytes()
	}
	return it.data
}

// sharedFrame is a live message from the bus, encoded at most once however many connections of the
// conversation write it, and only when the first of them does.
type sharedFrame struct {
	s    *Server
	m    channels.Message
	once sync.Once
	data []byte // nil: nothing to show (an event)
}

func (f *sharedFrame) bytes() []byte {
	f.once.Do(func() { f.data = f.s.encodeStored(f.m) })
	return f.data
}

// conn is one websocket. An idle connection has one goroutine of its own, its reader (plus its
// conversation's hub, shared by the conversation's tabs), and holds no write buffer:
//   - reads: one reader goroutine (started by the handler, which returns so net/http's goroutine and
//     its buffers go away). After a frame whose handling went deep (the store, the dialog), the reader
//     continues in a fresh goroutine, so an idle reader keeps a small stack.
//   - writes: frames are queued under mu; a writer goroutine runs only while the queue is not empty
//     and writes everything queued in one corked batch (one socket write), then exits. There is only
//     ever one writer, so gorilla's one-writer rule holds.
//   - pings: the Server's shared wheel marks the connection and starts its writer.
//   - live messages: the conversation's hub (one bus subscription per conversation, shared by its
//     connections) calls live; replays (hello, a gap) run in a short-lived goroutine.
type conn struct {
	s      *Server
	ws     *websocket.Conn
	nc     *corkConn
	bucket int // in the ping wheel; guarded by s.mu

	mu      sync.Mutex
	space   sync.Cond // signalled when the writer takes the queue, for a replay waiting for room
	queue   []outItem
	writing bool // a writer goroutine is running
	ping    bool // a ping is due
	closing bool // a close frame is queued; nothing is queued after it
	dead    bool
	hub     *hub
	// Forwarding state: last is the highest seq queued; while catching, a replay goroutine owns
	// last and live messages only set behind (the replay reads the store again before it ends).
	last     int64
	catching bool
	behind   bool

	// Set by hello before the connection joins its hub; read-only afterwards.
	conv    string
	contact string
	lang    string
}

// hijacker hands gorilla a corkConn instead of the raw connection, so a batch of frames is one write.
type hijacker struct {
	http.ResponseWriter
	nc *corkConn
}

func (h *hijacker) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := h.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("webchat: connection cannot be hijacked")
	}
	nc, brw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	h.nc = &corkConn{Conn: nc}
	return h.nc, brw, nil
}

func (s *Server) handleWebsocket(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		writeError(w, http.StatusForbidden, "forbidden_origin", "This origin may not open the chat.")
		return
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "The service is shutting down.")
		return
	}
	hw := &hijacker{ResponseWriter: w}
	ws, err := s.upgrader.Upgrade(hw, r, nil)
	if err != nil {
		return // Upgrade already answered with an HTTP error
	}
	c := &conn{s: s, ws: ws, nc: hw.nc}
	c.space.L = &c.mu
	if !s.add(c) {
		ws.Close()
		return
	}
	s.metrics.WebsocketOpened()
	ws.SetReadDeadline(time.Now().Add(s.readTimeout()))
	ws.SetPongHandler(c.pong)
	// The handler returns: net/http forgets a hijacked connection, and its goroutine (with the stack
	// the request grew) ends. Turns run on the Server's context, not the request's.
	go c.readLoop()
}

func (s *Server) readTimeout() time.Duration { return 2*s.ping + s.writeWait }

func (c *conn) pong(string) error {
	return c.ws.SetReadDeadline(time.Now().Add(c.s.readTimeout()))
}

// What readLoop does after a frame.
const (
	readOn    = iota // read the next frame
	readFresh        // read the next frame on a fresh goroutine (this stack grew)
	readStop         // the connection ended, or a close frame is queued
)

// readLoop reads frames until the connection fails or is closed. It is kept tiny: an idle
// connection's only goroutine waits here, and a small frame keeps it within the smallest stack.
func (c *conn) readLoop() {
	for {
		mt, r, err := c.ws.NextReader()
		switch c.onFrame(mt, r, err) {
		case readOn:
		case readFresh:
			go c.readLoop()
			return
		default:
			return
		}
	}
}

// onFrame reads and handles one frame.
//
//go:noinline
func (c *conn) onFrame(mt int, r io.Reader, err error) int {
	if err != nil {
		c.shutdown()
		return readStop
	}
	c.ws.SetReadDeadline(time.Now().Add(c.s.readTimeout()))
	// No SetReadLimit: gorilla would close the connection, and the spec keeps it open.
	buf := framePool.Get().(*[]byte)
	data, err := readFrame(r, (*buf)[:0])
	next := c.onData(mt, r, data, err)
	*buf = data[:0]
	framePool.Put(buf)
	return next
}

// onData handles a frame read into data (err: reading it failed).
func (c *conn) onData(mt int, r io.Reader, data []byte, err error) int {
	if err != nil {
		c.shutdown()
		return readStop
	}
	deep := false
	switch {
	case len(data) > maxFrame:
		if _, err := io.Copy(io.Discard, r); err != nil {
			c.shutdown()
			return readStop
		}
		c.errorFrame(codeMessageTooLarge, "A frame may be at most 16 KiB.", "")
	case mt != websocket.TextMessage:
		c.errorFrame(codeInvalidFrame, "Frames are JSON text.", "")
	default:
		var keep bool
		deep, keep = c.handle(data)
		if !keep {
			return readStop // a close frame is queued: the writer sends it and ends the connection
		}
	}
	c.mu.Lock()
	dead := c.dead
	c.mu.Unlock()
	switch {
	case dead:
		return readStop
	case deep:
		// This stack grew in the store and the dialog; continue on a fresh (small) one.
		return readFresh
	}
	return readOn
}

var pongFrame = []byte(`{"type":"pong"}`)

// handle processes one frame; deep reports that it went into the router (a deep stack), keep false
// ends the connection.
func (c *conn) handle(data []byte) (deep, keep bool) {
	var f inFrame
	switch parseFrame(data, &f) {
	case codeBadJSON:
		c.errorFrame(codeBadJSON, "A frame is one JSON object.", "")
		return false, true
	case codeInvalidFrame:
		c.errorFrame(codeInvalidFrame, "A field has the wrong type.", "")
		return true, true
	}
	switch f.Type {
	case "ping":
		c.send(outItem{data: pongFrame})
		return false, true
	case "typing":
		// The customer is typing: the agent's console shows it. Nothing is stored.
		if c.conv != "" {
			c.s.router.Typing(c.conv, channels.FromCustomer, "")
		}
		return false, true
	case "hello":
		if c.conv != "" {
			c.errorFrame(codeInvalidFrame, "hello was already received.", "")
			return true, true
		}
		return true, c.hello(f)
	case "message", "action":
		if c.conv == "" {
			c.errorFrame(codeHelloRequired, "Send hello first.", f.ID)
			return true, true
		}
		c.inbound(f)
		return true, true
	case "":
		c.errorFrame(codeInvalidFrame, "type is required.", "")
		return true, true
	default:
		if c.conv == "" {
			c.errorFrame(codeHelloRequired, "Send hello first.", "")
			return true, true
		}
		c.errorFrame(codeUnknownType, "Unknown frame type.", "")
		return true, true
	}
}

func (c *conn) hello(f inFrame) bool {
	ctx := c.s.ctx
	r := c.s.router
	lang := normLang(f.Lang)
	session := f.Session
	var conv *channels.Conversation
	if session != "" {
		if !validSession(session) {
			return c.refuseSession()
		}
		c.contact = sessionContact(session)
		found, err := r.FindConversation(ctx, channels.ChannelWebchat, c.contact)
		if casesvc.ErrorCode(err) == casesvc.ENOTFOUND {
			return c.refuseSession()
		} else if err != nil {
			return c.failed(err, "hello")
		}
		conv = found
	} else {
		session, c.contact = newSession()
		created, _, err := r.OpenConversation(ctx, channels.ChannelWebchat, c.contact, lang)
		if err != nil {
			return c.failed(err, "hello")
		}
		conv = created
	}
	if !conv.Started {
		// Synchronous, so the greeting is stored before welcome and arrives through the replay.
		if _, err := r.Start(ctx, conv.ID); err != nil {
			return c.failed(err, "start")
		}
		fresh, err := r.Conversation(ctx, conv.ID)
		if err != nil {
			return c.failed(err, "hello")
		}
		conv = fresh
	}
	c.conv, c.lang = conv.ID, lang
	if c.lang == "" {
		c.lang = conv.Lang
	}
	after := f.LastSeq
	if after < 0 || after > conv.LastSeq {
		// A client ahead of the store (a reset database) would otherwise never see new messages.
		after = 0
	}
	c.enqueue(welcomeFrame{Type: "welcome", Session: session, Conversation: conv.ID, Seq: conv.LastSeq})
	// Subscribe before reading the store, so nothing committed in between is missed; live messages
	// that arrive during the replay only mark it behind, and it reads the store again.
	c.mu.Lock()
	c.last, c.catching, c.behind = after, true, false
	c.mu.Unlock()
	c.s.join(c, conv.ID)
	go c.catchUp()
	c.s.log.Debug("webchat hello", "conversation", conv.ID, "resumed", f.Session != "")
	return true
}

func (c *conn) refuseSession() bool {
	c.errorFrame(codeInvalidSession, "Unknown session; send hello without a session to start again.", "")
	c.closeAfterQueue(websocket.ClosePolicyViolation, codeInvalidSession)
	return false
}

// failed reports a store failure to the client and ends the connection; it reconnects and resumes.
func (c *conn) failed(err error, op string) bool {
	c.s.log.Error("webchat "+op, "code", casesvc.ErrorCode(err), "err", err)
	c.errorFrame(codeUnavailable, "Please try again.", "")
	c.closeAfterQueue(websocket.CloseTryAgainLater, codeUnavailable)
	return false
}

func (c *conn) inbound(f inFrame) {
	in := channels.Inbound{
		Channel: channels.ChannelWebchat, Contact: c.contact, ClientID: f.ID, Lang: c.lang, ReceivedAt: time.Now(),
	}
	switch {
	case f.ID == "" || len(f.ID) > maxID:
		c.errorFrame(codeInvalidFrame, "id is required (at most 128 characters).", "")
		return
	case reservedID(f.ID):
		c.errorFrame(codeInvalidFrame, "This id is reserved; choose another.", f.ID)
		return
	case f.Type == "message" && strings.TrimSpace(f.Text) == "":
		c.errorFrame(codeInvalidFrame, "text is required.", f.ID)
		return
	case f.Type == "action" && f.Value == "":
		c.errorFrame(codeInvalidFrame, "value is required.", f.ID)
		return
	}
	in.Text = f.Text // for an action, the optional label the customer saw
	if f.Type == "action" {
		in.Action = f.Value
	}
	// The message may be stored together with its turn (Router.Converse): the ack comes when it is
	// stored, from the conversation's worker, so this reader goes on reading meanwhile.
	notStored := func(err error) {
		// Not stored, so no ack: the client resends the same id.
		c.s.log.Error("webchat receive", "conversation", c.conv, "code", casesvc.ErrorCode(err), "err", err)
		c.errorFrame(codeUnavailable, "The message was not stored; please resend.", f.ID)
	}
	err := c.s.router.Converse(c.s.ctx, in, func(s channels.Stored, err error) {
		if err != nil {
			notStored(err)
			return
		}
		// A repeated id is acked again with the seq it was first stored with.
		c.enqueue(ackFrame{Type: "ack", ID: f.ID, Seq: s.Msg.Seq})
	})
	if err != nil {
		notStored(err)
	}
}

// live takes a message the conversation's hub received from the bus, in publish order. It is called
// with the hub's mu held, inside the bus's callback, and never blocks; false means the client is too
// slow (the caller drops it).
// Messages go out in seq order with no gaps and no repeats: one beyond the next seq means something
// was skipped, and a replay from the store fills the gap.
func (c *conn) live(f *sharedFrame) bool {
	m := &f.m
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.dead:
		return true
	case m.Seq == 0:
		if m.Event == channels.EventTyping && m.From == channels.FromAgent {
			return c.pushLocked(outItem{shared: f})
		}
		return true
	case c.catching:
		if m.Seq > c.last {
			c.behind = true
		}
		return true
	case m.Seq <= c.last:
		return true
	case m.Seq == c.last+1:
		c.last = m.Seq
		return c.pushLocked(outItem{shared: f})
	default:
		c.catching, c.behind = true, false
		go c.catchUp()
		return true
	}
}

// catchUp queues the stored messages after c.last, waiting for room in the queue rather than
// dropping the client, until it has read the store with no live message arriving meanwhile.
func (c *conn) catchUp() {
	ctx := c.s.ctx
	for {
		c.mu.Lock()
		last, dead := c.last, c.dead
		c.mu.Unlock()
		if dead {
			return
		}
		msgs, err := c.s.router.MessagesAfter(ctx, c.conv, last, replyPage)
		if err != nil {
			if ctx.Err() == nil {
				c.s.log.Error("webchat replay", "conversation", c.conv, "code", casesvc.ErrorCode(err), "err", err)
				c.closeAfterQueue(websocket.CloseTryAgainLater, codeUnavailable)
			}
			return
		}
		for _, m := range msgs {
			data := c.s.encodeStored(m)
			c.mu.Lock()
			for !c.dead && len(c.queue) >= replayQueue {
				c.space.Wait()
			}
			if c.dead {
				c.mu.Unlock()
				return
			}
			if m.Seq > c.last {
				c.last = m.Seq
				if data != nil {
					c.pushLocked(outItem{data: data})
				}
			}
			c.mu.Unlock()
		}
		if len(msgs) == replyPage {
			continue
		}
		c.mu.Lock()
		if c.behind && !c.dead {
			c.behind = false
			c.mu.Unlock()
			continue
		}
		c.catching = false
		c.mu.Unlock()
		return
	}
}

// encodeStored is the frame of a stored message (message or handoff), or of a typing event; nil when
// clients do not see it.
func (s *Server) encodeStored(m channels.Message) []byte {
	var v any
	switch u, ok := channels.ParseHandoffUpdate(m); {
	case m.Seq == 0 && m.Event == channels.EventTyping:
		v = typingFrame{Type: "typing", From: m.From, Agent: m.Agent}
	case ok:
		v = handoffFrame{Type: "handoff", Seq: m.Seq, State: u.State, Position: u.Position, Agent: u.Agent}
	case !shown(m):
		return nil
	default:
		return s.appendMessageFrame(make([]byte, 0, 160+len(m.Text)+64*len(m.Buttons)), m)
	}
	data, err := json.Marshal(v)
	if err != nil {
		s.log.Error("webchat encode", "err", err)
		return nil
	}
	return data
}

func (c *conn) errorFrame(code, msg, id string) {
	c.enqueue(errorFrame{Type: "error", Code: code, Message: msg, ID: id})
}

// enqueue encodes and queues a frame from the reader; a client too slow to drain its queue is
// disconnected (it resumes by seq).
func (c *conn) enqueue(v any) {
	if a, ok := v.(ackFrame); ok && a.Type == "ack" { // one per message: appended, not reflected
		c.send(outItem{data: appendAckFrame(make([]byte, 0, 48+len(a.ID)), a.ID, a.Seq)})
		return
	}
	data, err := json.Marshal(v)
	if err != nil {
		c.s.log.Error("webchat encode", "err", err)
		return
	}
	c.send(outItem{data: data})
}

func (c *conn) send(it outItem) {
	c.mu.Lock()
	ok := c.pushLocked(it)
	c.mu.Unlock()
	if !ok {
		c.tooSlow()
	}
}

func (c *conn) tooSlow() {
	c.s.log.Warn("webchat client too slow, disconnecting", "conversation", c.conv)
	c.shutdown()
}

// pushLocked queues a frame and starts the writer if none runs; false when the queue is full (the
// caller drops the connection, without c.mu held). c.mu must be held.
func (c *conn) pushLocked(it outItem) bool {
	if c.dead || c.closing {
		return true
	}
	if len(c.queue) >= sendQueue {
		return false
	}
	c.queue = append(c.queue, it)
	c.startWriterLocked()
	return true
}

func (c *conn) startWriterLocked() {
	if !c.writing {
		c.writing = true
		go c.writeLoop()
	}
}

// closeAfterQueue sends a close frame once the frames already queued are written, then ends the
// connection.
func (c *conn) closeAfterQueue(code int, text string) {
	c.mu.Lock()
	if c.dead || c.closing {
		c.mu.Unlock()
		return
	}
	if len(c.queue) >= sendQueue+1 {
		c.mu.Unlock()
		c.shutdown()
		return
	}
	c.queue = append(c.queue, outItem{closeCode: code, closeText: text})
	c.closing = true
	c.startWriterLocked()
	c.mu.Unlock()
}

// pingDue is the ping wheel's tick for this connection (s.mu held).
func (c *conn) pingDue() {
	c.mu.Lock()
	if !c.dead && !c.closing {
		c.ping = true
		c.startWriterLocked()
	}
	c.mu.Unlock()
}

// writeLoop is the connection's writer while it has something to write: it takes the whole queue,
// writes it as one batch, and exits when the queue is empty.
func (c *conn) writeLoop() {
	for {
		c.mu.Lock()
		if c.dead {
			c.mu.Unlock()
			return // writing stays set: nothing is written any more
		}
		batch, ping := c.queue, c.ping
		if len(batch) == 0 && !ping {
			c.writing = false
			c.mu.Unlock()
			return
		}
		c.queue, c.ping = nil, false
		c.space.Broadcast()
		c.mu.Unlock()
		if !c.write(ping, batch) {
			return
		}
	}
}

// write writes a batch of frames, each its own websocket frame, with one socket write at the end
// (bigger batches flush as the cork buffer fills). False ends the connection.
func (c *conn) write(ping bool, batch []outItem) bool {
	deadline := time.Now().Add(c.s.writeWait)
	c.ws.SetWriteDeadline(deadline)
	c.nc.cork()
	var err error
	if ping {
		err = c.ws.WriteMessage(websocket.PingMessage, nil)
	}
	for i := range batch {
		if err != nil {
			break
		}
		it := &batch[i]
		if it.closeCode != 0 {
			c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(it.closeCode, it.closeText))
			c.nc.uncork(deadline)
			// Give the client a moment to read the frames and answer the close.
			time.Sleep(closeGrace)
			c.shutdown()
			return false
		}
		if data := it.bytes(); data != nil {
			err = c.ws.WriteMessage(websocket.TextMessage, data)
		}
	}
	if ferr := c.nc.uncork(deadline); err == nil {
		err = ferr
	}
	if err != nil {
		c.shutdown()
		return false
	}
	return true
}

// shutdown ends the connection once: the socket is closed (which ends the reader), the hub and the
// ping wheel forget it. Never call it with c.mu, a hub's mu or s.hubMu held, nor from a bus callback.
func (c *conn) shutdown() {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	c.dead = true
	h := c.hub
	c.queue = nil
	c.space.Broadcast()
	c.mu.Unlock()
	c.ws.Close()
	if h != nil {
		c.s.leave(h, c)
	}
	c.s.remove(c)
	c.s.metrics.WebsocketClosed()
}

func normLang(l string) string {
	switch strings.ToLower(strings.TrimSpace(l)) {
	case "zh-tw", "zh", "zh-hant":
		return "zh-TW"
	case "en", "en-us", "en-gb":
		return "en"
	}
	return ""
}
