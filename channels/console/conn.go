package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/channels/handoff"
)

const (
	maxFrame  = 16 << 10
	sendQueue = 512
	writeWait = 10 * time.Second
	authWait  = 10 * time.Second
	page      = 500
)

// inFrame is every agent frame; which fields count depends on Type.
type inFrame struct {
	Type         string           `json:"type"`
	Token        string           `json:"token"`
	Conversation string           `json:"conversation"`
	ID           json.RawMessage  `json:"id"`
	Text         string           `json:"text"`
	ToAgent      string           `json:"to_agent"`
	ToQueue      bool             `json:"to_queue"`
	Resolved     bool             `json:"resolved"`
	Ready        *bool            `json:"ready"`
	LastSeq      map[string]int64 `json:"last_seq"`
}

// wireMessage is a stored message as the console sees it.
type wireMessage struct {
	Type         string            `json:"type,omitempty"`
	Conversation string            `json:"conversation"`
	Seq          int64             `json:"seq"`
	Direction    string            `json:"direction"`
	From         string            `json:"from"`
	Text         string            `json:"text"`
	Agent        string            `json:"agent,omitempty"`
	Buttons      []channels.Button `json:"buttons,omitempty"`
	Action       string            `json:"action,omitempty"`
	Attachments  []wireAttachment  `json:"attachments,omitempty"`
	TS           string            `json:"ts"`
}

type wireAttachment struct {
	ID          string `json:"id"`
	Filename    string `json:"filename"`
	ContentType string `json:"content_type"`
	Size        int64  `json:"size"`
}

type queueEntry struct {
	handoff.QueueItem
	QueuedAt    string `json:"queued_at"`
	WaitSeconds int    `json:"wait_seconds"`
}

type outItem struct {
	data      []byte
	closeCode int
	closeText string
}

// conn is one agent's websocket: the handler goroutine reads; one writer owns the socket; one
// goroutine turns handoff events into frames; one forwarder per held conversation streams its
// stored messages in seq order.
type conn struct {
	s          *Server
	ws         *websocket.Conn
	send       chan outItem
	events     chan handoff.Event
	done       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
	writerDone chan struct{}

	staff casesvc.Staff // set by auth

	mu    sync.Mutex
	convs map[string]context.CancelFunc // forwarders of the conversations this agent holds
}

func (s *Server) handleWebsocket(w http.ResponseWriter, r *http.Request) {
	if !s.originAllowed(r) {
		writeError(w, http.StatusForbidden, "forbidden_origin", "This origin may not open the console.")
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
		return
	}
	c := &conn{s: s, ws: ws, send: make(chan outItem, sendQueue), events: make(chan handoff.Event, 256),
		done: make(chan struct{}), writerDone: make(chan struct{}), convs: map[string]context.CancelFunc{}}
	s.mu.Lock()
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.leaveAlerts(c)
		c.shutdown()
		c.wg.Wait()
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
	}()
	c.wg.Add(1)
	go c.writeLoop()
	c.readLoop()
}

func (c *conn) readLoop() {
	timeout := 2*c.s.ping + writeWait
	c.ws.SetReadDeadline(time.Now().Add(authWait))
	c.ws.SetPongHandler(func(string) error { return c.ws.SetReadDeadline(time.Now().Add(timeout)) })
	for {
		mt, r, err := c.ws.NextReader()
		if err != nil {
			return
		}
		data, err := io.ReadAll(io.LimitReader(r, maxFrame+1))
		if err != nil {
			return
		}
		if c.staff.Name != "" {
			c.ws.SetReadDeadline(time.Now().Add(timeout))
		}
		if len(data) > maxFrame {
			io.Copy(io.Discard, r)
			c.errorFrame("message_too_large", "A frame may be at most 16 KiB.", nil)
			continue
		}
		var f inFrame
		if mt != websocket.TextMessage || json.Unmarshal(data, &f) != nil {
			if c.staff.Name == "" {
				c.refuse("bad_json", "The first frame is {\"type\":\"auth\",\"token\":...}.")
				return
			}
			c.errorFrame("bad_json", "A frame is one JSON object.", nil)
			continue
		}
		if c.staff.Name == "" {
			if !c.auth(f) {
				return
			}
			continue
		}
		c.handle(f)
		select {
		case <-c.done:
			return
		default:
		}
	}
}

// auth checks the first frame; anything but a valid staff token ends the connection.
func (c *conn) auth(f inFrame) bool {
	if f.Type != "auth" {
		c.refuse("auth_required", "Send auth first.")
		return false
	}
	staff, ok := c.s.cfg.Auth.Authenticate(f.Token)
	if !ok {
		c.refuse("unauthorized", "Unknown staff token.")
		return false
	}
	c.staff = staff
	c.ws.SetReadDeadline(time.Now().Add(2*c.s.ping + writeWait))
	svc := c.s.cfg.Handoff
	leave := svc.Join(staff)
	unwatch := svc.Watch(func(e handoff.Event) {
		select {
		case c.events <- e:
		case <-c.done:
		default:
			c.s.log.Warn("console: agent too slow, disconnecting", "agent", staff.Name)
			c.shutdown()
		}
	})
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		<-c.done
		unwatch()
		leave()
	}()
	c.enqueue(map[string]any{"type": "welcome",
		"agent":      map[string]any{"name": staff.Name, "role": staff.Role},
		"supervisor": handoff.Supervises(staff.Role), "takes_chats": handoff.CanChat(staff.Role),
		"max_chats": svc.MaxChats(staff.Name), "canned": c.s.canned})
	c.sendQueue()
	c.sendTasks()
	if handoff.Supervises(staff.Role) {
		c.sendSupervisor()
	}
	for _, h := range svc.Held(staff.Name) {
		c.open(h, f.LastSeq[h.Conversation])
	}
	c.s.joinAlerts(c)
	c.wg.Add(1)
	go c.eventLoop()
	c.s.log.Info("console: agent signed in", "agent", staff.Name, "role", staff.Role)
	return true
}

func (c *conn) refuse(code, msg string) {
	c.errorFrame(code, msg, nil)
	c.send <- outItem{closeCode: websocket.ClosePolicyViolation, closeText: code}
	select {
	case <-c.writerDone:
	case <-time.After(writeWait):
	}
}

func (c *conn) handle(f inFrame) {
	svc := c.s.cfg.Handoff
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	switch f.Type {
	case "ping":
		c.enqueue(map[string]string{"type": "pong"})
	case "accept":
		if _, err := svc.Accept(ctx, c.staff, f.Conversation); err != nil {
			c.fail(err, f)
		}
		// The assigned frame follows from the handoff event.
	case "message":
		id := rawID(f.ID)
		msg, _, err := svc.Send(ctx, c.staff, f.Conversation, id, f.Text)
		if err != nil {
			c.fail(err, f)
			return
		}
		c.enqueue(map[string]any{"type": "ack", "id": id, "conversation": f.Conversation, "seq": msg.Seq})
	case "transfer":
		if err := svc.Transfer(ctx, c.staff, f.Conversation, f.ToAgent, f.ToQueue); err != nil {
			c.fail(err, f)
		}
	case "end":
		if err := svc.End(ctx, c.staff, f.Conversation, f.Resolved); err != nil {
			c.fail(err, f)
		}
	case "typing":
		if h, ok := svc.Hold(f.Conversation); ok && h.State == handoff.StateAssigned && h.Agent == c.staff.Name {
			c.s.cfg.Router.Typing(f.Conversation, channels.FromAgent, c.staff.Name)
		}
	case "resume":
		for conv, last := range f.LastSeq {
			if h, ok := svc.Hold(conv); ok && h.State == handoff.StateAssigned && h.Agent == c.staff.Name {
				c.replay(ctx, conv, last)
			}
		}
	case "status":
		if f.Ready == nil {
			c.errorFrame("invalid_frame", "ready is required.", nil)
			return
		}
		svc.SetReady(ctx, c.staff, *f.Ready)
		c.enqueue(map[string]any{"type": "status", "ready": *f.Ready && handoff.CanChat(c.staff.Role)})
	case "task_done":
		n, err := strconv.ParseInt(rawID(f.ID), 10, 64)
		if err != nil {
			c.errorFrame("invalid_frame", "id is a task id.", nil)
			return
		}
		if err := svc.CompleteTask(ctx, c.staff, n); err != nil {
			c.fail(err, f)
		}
	case "alert_ack":
		n, err := strconv.ParseInt(rawID(f.ID), 10, 64)
		if err != nil {
			c.errorFrame("invalid_frame", "id is an alert id.", nil)
			return
		}
		if err := c.s.ackAlert(ctx, c.staff, n); err != nil {
			c.fail(err, f)
		}
	case "auth":
		c.errorFrame("invalid_frame", "Already signed in.", nil)
	default:
		c.errorFrame("unknown_type", "Unknown frame type.", nil)
	}
}

func rawID(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// fail answers a refused frame with its error code.
func (c *conn) fail(err error, f inFrame) {
	code := casesvc.ErrorCode(err)
	msg := casesvc.ErrorMessage(err)
	switch code {
	case casesvc.EINVALID:
		code = "invalid_frame"
	case casesvc.ENOTFOUND:
		code = "not_found"
	case casesvc.EFORBIDDEN:
		code = "forbidden"
	case casesvc.ECONFLICT:
		code = "conflict"
	default:
		c.s.log.Error("console: "+f.Type, "agent", c.staff.Name, "code", code, "err", err)
		code, msg = "unavailable", "Please try again."
	}
	extra := map[string]any{"request": f.Type}
	if f.Conversation != "" {
		extra["conversation"] = f.Conversation
	}
	if id := rawID(f.ID); id != "" {
		extra["id"] = id
	}
	c.errorFrame(code, msg, extra)
}

// eventLoop turns handoff events into frames.
func (c *conn) eventLoop() {
	defer c.wg.Done()
	sup := handoff.Supervises(c.staff.Role)
	for {
		select {
		case <-c.done:
			return
		case e := <-c.events:
			switch e.Kind {
			case handoff.EventQueue:
				c.sendQueue()
			case handoff.EventAssigned:
				if e.Agent == c.staff.Name {
					if h, ok := c.s.cfg.Handoff.Hold(e.Conversation); ok && h.Agent == c.staff.Name {
						c.open(h, 0)
					}
				}
			case handoff.EventReleased:
				if e.Agent == c.staff.Name {
					c.closeConv(e.Conversation)
					c.enqueue(map[string]any{"type": "ended", "conversation": e.Conversation, "why": e.Why})
				}
			case handoff.EventTasks:
				c.sendTasks()
			}
			if sup && e.Kind != handoff.EventTasks {
				c.sendSupervisor()
			}
		}
	}
}

func (c *conn) sendQueue() {
	c.enqueue(map[string]any{"type": "queue", "queue": c.queueEntries()})
}

func (c *conn) queueEntries() []queueEntry {
	q := c.s.cfg.Handoff.Queue()
	out := make([]queueEntry, 0, len(q))
	for _, it := range q {
		out = append(out, queueEntry{QueueItem: it, QueuedAt: it.QueuedAt.In(c.s.loc).Format(time.RFC3339),
			WaitSeconds: int(it.Wait.Seconds())})
	}
	return out
}

func (c *conn) sendTasks() {
	tasks, err := c.s.cfg.Handoff.Tasks(context.Background())
	if err != nil {
		c.s.log.Error("console: tasks", "err", err)
		return
	}
	c.enqueue(map[string]any{"type": "tasks", "tasks": tasks})
}

// sendSupervisor sends the live view: every held conversation, the queue and its wait, the agents.
func (c *conn) sendSupervisor() {
	svc := c.s.cfg.Handoff
	q := c.queueEntries()
	longest := 0
	for _, it := range q {
		longest = max(longest, it.WaitSeconds)
	}
	type live struct {
		Conversation string `json:"conversation"`
		Channel      string `json:"channel"`
		Agent        string `json:"agent"`
		Priority     string `json:"priority"`
		Reason       string `json:"reason"`
		Since        string `json:"since"`
	}
	lives := []live{}
	for _, h := range svc.Held("") {
		lives = append(lives, live{h.Conversation, h.Channel, h.Agent, handoff.PriorityName(h.Priority), h.Reason,
			h.AssignedAt.In(c.s.loc).Format(time.RFC3339)})
	}
	c.enqueue(map[string]any{"type": "supervisor", "queue_length": len(q), "longest_wait_seconds": longest,
		"queue": q, "conversations": lives, "agents": svc.Agents()})
}

// open sends the assigned frame (transcript from the start, linked case) and starts the
// conversation's forwarder after it. A conversation already open is left as it is.
func (c *conn) open(h handoff.Hold, _ int64) {
	c.mu.Lock()
	if _, ok := c.convs[h.Conversation]; ok {
		c.mu.Unlock()
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.convs[h.Conversation] = cancel
	c.mu.Unlock()

	sub, unsubscribe := c.s.cfg.Router.Subscribe(h.Conversation)
	var transcript []wireMessage
	var last int64
	for {
		msgs, err := c.s.cfg.Router.MessagesAfter(ctx, h.Conversation, last, page)
		if err != nil {
			unsubscribe()
			c.s.log.Error("console: transcript", "conversation", h.Conversation, "code", casesvc.ErrorCode(err))
			c.errorFrame("unavailable", "The transcript could not be read; reconnect.", nil)
			return
		}
		for _, m := range msgs {
			if shown(m) {
				transcript = append(transcript, c.wire(m))
			}
			last = m.Seq
		}
		if len(msgs) < page {
			break
		}
	}
	kase, pol := c.s.linked(ctx, c.staff, h)
	conv, _ := c.s.cfg.Router.Conversation(ctx, h.Conversation)
	lang := h.Lang
	if lang == "" && conv != nil {
		lang = conv.Lang
	}
	if transcript == nil {
		transcript = []wireMessage{}
	}
	c.enqueue(map[string]any{"type": "assigned", "conversation": h.Conversation, "channel": h.Channel, "lang": lang,
		"priority": handoff.PriorityName(h.Priority), "reason": h.Reason, "flow": h.Flow, "slots": h.Slots,
		"policy_number": h.PolicyNumber, "agents": h.Agents, "queued_at": h.QueuedAt.In(c.s.loc).Format(time.RFC3339),
		"seq": last, "transcript": transcript, "case": kase, "policy": pol})
	c.wg.Add(1)
	go c.forward(ctx, h.Conversation, sub, unsubscribe, last)
}

func (c *conn) closeConv(conv string) {
	c.mu.Lock()
	cancel := c.convs[conv]
	delete(c.convs, conv)
	c.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// forward streams a conversation's messages after last, in seq order with no gaps (like the web
// chat's forwarder): a gap on the bus is filled from the store; a drop resubscribes.
func (c *conn) forward(ctx context.Context, conv string, sub <-chan channels.Message, unsubscribe func(), last int64) {
	defer c.wg.Done()
	defer func() { unsubscribe() }()
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.done:
			return
		case m, ok := <-sub:
			switch {
			case !ok:
				unsubscribe()
				sub, unsubscribe = c.s.cfg.Router.Subscribe(conv)
				if !c.catchUp(ctx, conv, &last) {
					return
				}
			case m.Seq == 0 && m.Event == channels.EventTyping:
				if m.From == channels.FromCustomer {
					c.enqueue(map[string]any{"type": "typing", "conversation": conv, "from": m.From})
				}
			case m.Seq <= last:
			case m.Seq == last+1:
				if shown(m) {
					c.enqueue(c.messageFrame(m))
				}
				last = m.Seq
			default:
				if !c.catchUp(ctx, conv, &last) {
					return
				}
			}
		}
	}
}

func (c *conn) catchUp(ctx context.Context, conv string, last *int64) bool {
	for {
		msgs, err := c.s.cfg.Router.MessagesAfter(ctx, conv, *last, page)
		if err != nil {
			return false
		}
		for _, m := range msgs {
			if shown(m) {
				c.enqueue(c.messageFrame(m))
			}
			*last = m.Seq
		}
		if len(msgs) < page {
			return true
		}
	}
}

// replay re-sends the messages after last (a resuming agent); the page drops repeats by seq.
func (c *conn) replay(ctx context.Context, conv string, last int64) {
	for {
		msgs, err := c.s.cfg.Router.MessagesAfter(ctx, conv, last, page)
		if err != nil {
			c.errorFrame("unavailable", "Please try again.", nil)
			return
		}
		for _, m := range msgs {
			if shown(m) {
				c.enqueue(c.messageFrame(m))
			}
			last = m.Seq
		}
		if len(msgs) < page {
			return
		}
	}
}

// shown: events are bookkeeping; the messages they cause are in the transcript.
func shown(m channels.Message) bool { return m.Direction != channels.DirEvent }

func (c *conn) wire(m channels.Message) wireMessage {
	w := wireMessage{Conversation: m.Conversation, Seq: m.Seq, Direction: m.Direction, From: m.From, Text: m.Text,
		Agent: m.Agent, Buttons: m.Buttons, Action: m.Action, TS: m.TS.In(c.s.loc).Format(time.RFC3339)}
	for _, a := range m.Attachments {
		w.Attachments = append(w.Attachments, wireAttachment{a.ID, a.Filename, a.ContentType, a.Size})
	}
	return w
}

func (c *conn) messageFrame(m channels.Message) wireMessage {
	w := c.wire(m)
	w.Type = "message"
	return w
}

func (c *conn) errorFrame(code, msg string, extra map[string]any) {
	f := map[string]any{"type": "error", "code": code, "message": msg}
	for k, v := range extra {
		f[k] = v
	}
	c.enqueue(f)
}

func (c *conn) enqueue(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		c.s.log.Error("console: encode", "err", err)
		return
	}
	select {
	case <-c.done:
	case c.send <- outItem{data: data}:
	default:
		c.s.log.Warn("console: agent too slow, disconnecting", "agent", c.staff.Name)
		c.shutdown()
	}
}

func (c *conn) closeNow(code int, text string) {
	c.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(writeWait))
	c.shutdown()
}

func (c *conn) shutdown() { c.once.Do(func() { close(c.done) }) }

func (c *conn) writeLoop() {
	defer c.wg.Done()
	defer close(c.writerDone)
	ticker := time.NewTicker(c.s.ping)
	defer func() {
		ticker.Stop()
		c.shutdown()
		c.ws.Close()
	}()
	for {
		select {
		case it := <-c.send:
			c.ws.SetWriteDeadline(time.Now().Add(writeWait))
			if it.closeCode != 0 {
				c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(it.closeCode, it.closeText))
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
