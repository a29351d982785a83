package webchat

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
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
	sendQueue = 256 // frames a connection may fall behind before it is dropped
	writeWait = 10 * time.Second
	maxID     = 128
	replyPage = 200
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

type outItem struct {
	data      []byte
	closeCode int // when set, send a close frame and end the connection
	closeText string
}

// conn is one websocket. The HTTP handler's goroutine reads; one writer goroutine owns every write;
// one forwarder goroutine moves the conversation's stored messages into the send queue.
type conn struct {
	s    *Server
	ws   *websocket.Conn
	send chan outItem
	done chan struct{}
	once sync.Once
	wg   sync.WaitGroup
	// writerDone is closed when the writer exits; closing is set when a close frame was queued, so
	// the handler lets the writer flush it instead of cutting the connection.
	writerDone chan struct{}
	closing    bool

	// Set by hello; read only by the reader goroutine.
	conv    string
	contact string
	lang    string
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
	ws, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade already answered with an HTTP error
	}
	c := &conn{s: s, ws: ws, send: make(chan outItem, sendQueue), done: make(chan struct{}), writerDone: make(chan struct{})}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	s.metrics.WebsocketOpened()
	defer func() {
		if c.closing {
			select {
			case <-c.writerDone:
			case <-time.After(writeWait):
			}
		}
		c.shutdown()
		c.wg.Wait()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		s.metrics.WebsocketClosed()
	}()

	c.wg.Add(1)
	go c.writeLoop()
	// The request context ends when the handler returns; turns run on the router's own context.
	c.readLoop(r.Context())
}

// readLoop reads frames until the connection fails or is closed.
func (c *conn) readLoop(ctx context.Context) {
	timeout := 2*c.s.ping + writeWait
	c.ws.SetReadDeadline(time.Now().Add(timeout))
	c.ws.SetPongHandler(func(string) error {
		return c.ws.SetReadDeadline(time.Now().Add(timeout))
	})
	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		c.ws.SetReadDeadline(time.Now().Add(timeout))
		// No SetReadLimit: gorilla would close the connection, and the spec keeps it open.
		data, err := io.ReadAll(io.LimitReader(r, maxFrame+1))
		if err != nil {
			return
		}
		if len(data) > maxFrame {
			if _, err := io.Copy(io.Discard, r); err != nil {
				return
			}
			c.errorFrame(codeMessageTooLarge, "A frame may be at most 16 KiB.", "")
			continue
		}
		if mt != websocket.TextMessage {
			c.errorFrame(codeInvalidFrame, "Frames are JSON text.", "")
			continue
		}
		if !c.handle(ctx, data) {
			return
		}
		select {
		case <-c.done:
			return
		default:
		}
	}
}

// handle processes one frame; false ends the connection.
func (c *conn) handle(ctx context.Context, data []byte) bool {
	if !json.Valid(data) || !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		c.errorFrame(codeBadJSON, "A frame is one JSON object.", "")
		return true
	}
	var f inFrame
	if err := json.Unmarshal(data, &f); err != nil {
		c.errorFrame(codeInvalidFrame, "A field has the wrong type.", "")
		return true
	}
	switch f.Type {
	case "ping":
		c.enqueue(map[string]string{"type": "pong"})
		return true
	case "typing":
		// The customer is typing: the agent's console shows it. Nothing is stored.
		if c.conv != "" {
			c.s.router.Typing(c.conv, channels.FromCustomer, "")
		}
		return true
	case "hello":
		if c.conv != "" {
			c.errorFrame(codeInvalidFrame, "hello was already received.", "")
			return true
		}
		return c.hello(ctx, f)
	case "message", "action":
		if c.conv == "" {
			c.errorFrame(codeHelloRequired, "Send hello first.", f.ID)
			return true
		}
		c.inbound(ctx, f)
		return true
	case "":
		c.errorFrame(codeInvalidFrame, "type is required.", "")
		return true
	default:
		if c.conv == "" {
			c.errorFrame(codeHelloRequired, "Send hello first.", "")
			return true
		}
		c.errorFrame(codeUnknownType, "Unknown frame type.", "")
		return true
	}
}

func (c *conn) hello(ctx context.Context, f inFrame) bool {
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
	c.wg.Add(1)
	go c.forward(conv.ID, after)
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

func (c *conn) inbound(ctx context.Context, f inFrame) {
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
	msg, _, err := c.s.router.Receive(ctx, in)
	if err != nil {
		// Not stored, so no ack: the client resends the same id.
		c.s.log.Error("webchat receive", "conversation", c.conv, "code", casesvc.ErrorCode(err), "err", err)
		c.errorFrame(codeUnavailable, "The message was not stored; please resend.", f.ID)
		return
	}
	// A repeated id is acked again with the seq it was first stored with.
	c.enqueue(ackFrame{Type: "ack", ID: f.ID, Seq: msg.Seq})
}

// forward sends every stored message after `after`, then live ones, in seq order with no gaps and no
// repeats. It subscribes before reading the store, so nothing committed in between is missed; a live
// message beyond the next seq means something was skipped, and the store fills the gap.
func (c *conn) forward(conv string, after int64) {
	defer c.wg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.done
		cancel()
	}()
	last := after
	for {
		sub, unsubscribe := c.s.router.Subscribe(conv)
		if !c.catchUp(ctx, conv, &last, -1) {
			unsubscribe()
			return
		}
		dropped := false
		for !dropped {
			select {
			case m, ok := <-sub:
				switch {
				case !ok:
					dropped = true // fell behind on the bus: resubscribe and resume from the store
				case m.Seq == 0 && m.Event == channels.EventTyping:
					if m.From == channels.FromAgent {
						c.enqueue(typingFrame{Type: "typing", From: m.From, Agent: m.Agent})
					}
				case m.Seq <= last:
				case m.Seq == last+1:
					c.sendMessage(m)
					last = m.Seq
				default:
					if !c.catchUp(ctx, conv, &last, m.Seq) {
						unsubscribe()
						return
					}
				}
			case <-c.done:
				unsubscribe()
				return
			}
		}
		unsubscribe()
	}
}

// catchUp sends stored messages after *last, up to upTo (-1: all).
func (c *conn) catchUp(ctx context.Context, conv string, last *int64, upTo int64) bool {
	for {
		msgs, err := c.s.router.MessagesAfter(ctx, conv, *last, replyPage)
		if err != nil {
			if ctx.Err() == nil {
				c.s.log.Error("webchat replay", "conversation", conv, "code", casesvc.ErrorCode(err), "err", err)
				c.close(websocket.CloseTryAgainLater, codeUnavailable)
			}
			return false
		}
		for _, m := range msgs {
			if upTo >= 0 && m.Seq > upTo {
				return true
			}
			c.sendMessage(m)
			*last = m.Seq
		}
		if len(msgs) < replyPage {
			return true
		}
	}
}

func (c *conn) sendMessage(m channels.Message) {
	if u, ok := channels.ParseHandoffUpdate(m); ok {
		c.enqueue(handoffFrame{Type: "handoff", Seq: m.Seq, State: u.State, Position: u.Position, Agent: u.Agent})
		return
	}
	if !shown(m) {
		return
	}
	c.enqueue(messageFrame{Type: "message", wireMessage: c.s.wire(m)})
}

func (c *conn) errorFrame(code, msg, id string) {
	c.enqueue(errorFrame{Type: "error", Code: code, Message: msg, ID: id})
}

// enqueue queues a frame; a client too slow to drain its queue is disconnected (it resumes by seq).
func (c *conn) enqueue(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		c.s.log.Error("webchat encode", "err", err)
		return
	}
	select {
	case <-c.done:
	case c.send <- outItem{data: data}:
	default:
		c.s.log.Warn("webchat client too slow, disconnecting", "conversation", c.conv)
		c.shutdown()
	}
}

// closeAfterQueue sends a close frame once the frames already queued are written.
func (c *conn) closeAfterQueue(code int, text string) {
	c.closing = true
	select {
	case c.send <- outItem{closeCode: code, closeText: text}:
	default:
		c.shutdown()
	}
}

// close sends a close frame now (from any goroutine) and ends the connection.
func (c *conn) close(code int, text string) {
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(writeWait))
	c.shutdown()
}

func (c *conn) shutdown() {
	c.once.Do(func() { close(c.done) })
}

func (c *conn) writeLoop() {
	defer c.wg.Done()
	defer close(c.writerDone)
	ticker := time.NewTicker(c.s.ping)
	defer func() {
		ticker.Stop()
		c.shutdown()
		c.ws.Close() // unblocks the reader
	}()
	for {
		select {
		case it := <-c.send:
			c.ws.SetWriteDeadline(time.Now().Add(writeWait))
			if it.closeCode != 0 {
				c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(it.closeCode, it.closeText))
				// Give the client a moment to read the frames and answer the close.
				time.Sleep(100 * time.Millisecond)
				return
			}
			if err := c.ws.WriteMessage(websocket.TextMessage, it.data); err != nil {
				return
			}
		case <-ticker.C:
			if err := c.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(writeWait)); err != nil {
				return
			}
		case <-c.done:
			return
		}
	}
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
