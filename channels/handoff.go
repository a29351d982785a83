package channels

import (
	"context"
	"encoding/json"
	"strings"
	"time"
)

// Router events besides dialog.EventNotice (Inbound.Event). Only the gateway's own code sets them:
// customer input can never carry an event.
const (
	// EventAgentMessage is a message an agent wrote in the console. Its Text is an AgentMessage as
	// JSON; its turn commits one outbound message From FromAgent (the dialog is not called). The
	// ClientID is "agent:<staff name>:<console id>", so a resent console frame is stored once.
	EventAgentMessage = "agent_message"
	// EventHandoff is a step of a human handoff (queued with a position, an agent assigned, ended).
	// Its Text is a HandoffUpdate as JSON. The turn says Update.Text (From FromSystem) when set; when
	// the state is HandoffEnded the dialog then runs with dialog.EventHandback.
	EventHandoff = "handoff"
	// EventTyping is never stored: Router.Typing publishes it on the bus with Seq 0, From the typist.
	EventTyping = "typing"
)

// Client id prefixes the gateway keeps for itself (see ReservedClientID).
const (
	AgentClientIDPrefix   = "agent:"
	HandoffClientIDPrefix = "handoff:"
)

// ReservedClientID reports whether a client-chosen id is one the gateway keeps for its own events, so
// a customer can neither pre-empt nor suppress them by choosing the id.
func ReservedClientID(id string) bool {
	return strings.HasPrefix(id, NoticeClientIDPrefix) || strings.HasPrefix(id, AgentClientIDPrefix) ||
		strings.HasPrefix(id, HandoffClientIDPrefix)
}

// Handoff states as customers see them (http-api.md 1.1 `handoff` frame).
const (
	HandoffQueued   = "queued"
	HandoffAssigned = "assigned"
	HandoffEnded    = "ended"
)

// HandoffUpdate is the body (Text, JSON) of an EventHandoff.
type HandoffUpdate struct {
	State    string   `json:"state"`              // HandoffQueued, HandoffAssigned, HandoffEnded
	Position int      `json:"position,omitempty"` // with HandoffQueued
	Agent    string   `json:"agent,omitempty"`    // the agent's display name
	Resolved bool     `json:"resolved,omitempty"` // with HandoffEnded: the agent finished the job
	Text     string   `json:"text,omitempty"`     // told the customer, From FromSystem
	Buttons  []Button `json:"buttons,omitempty"`
}

// ParseHandoffUpdate reads the update of a stored EventHandoff message.
func ParseHandoffUpdate(m Message) (HandoffUpdate, bool) {
	var u HandoffUpdate
	if m.Event != EventHandoff || json.Unmarshal([]byte(m.Text), &u) != nil || u.State == "" {
		return HandoffUpdate{}, false
	}
	return u, true
}

// AgentMessage is the body (Text, JSON) of an EventAgentMessage.
type AgentMessage struct {
	Staff string `json:"staff"` // the staff account's name
	Agent string `json:"agent"` // the display name the customer sees
	Text  string `json:"text"`
}

// Handoffs is what the router asks of human handoff (channels/handoff implements it). Both methods
// are called from the conversation's worker, so calls for one conversation never overlap.
type Handoffs interface {
	// Intercept is called for every stored customer message (DirIn) before the dialog. When a person
	// holds the conversation (queued, with an agent, or leaving a call-back note) it returns held and
	// the replies to commit instead of the dialog's (From FromSystem unless set; may be none); the
	// dialog is not called. An error leaves the message unhandled (Recover runs it again).
	Intercept(ctx context.Context, conv *Conversation, m Message) (held bool, replies []Message, err error)
	// AfterTurn is called after a dialog turn of the conversation was committed: a handoff the turn
	// requested may now be announced, so the announcement follows the turn's replies.
	AfterTurn(ctx context.Context, conversation string)
}

// Typing tells the live subscribers of a conversation that someone is typing (from is FromAgent or
// FromCustomer; agent is the agent's display name). Nothing is stored: it is a Message with Seq 0 and
// Event EventTyping on the bus, which subscribers that track seqs must let through or ignore.
func (r *Router) Typing(conversation, from, agent string) {
	r.bus.Publish(Message{
		Conversation: conversation, Direction: DirEvent, Event: EventTyping, From: from, Agent: agent, TS: r.now(),
	})
}

// handoffTurn handles the router's own handoff events and the customer messages of held
// conversations. ok false means the dialog runs as usual.
func (r *Router) handoffTurn(ctx context.Context, conv *Conversation, m Message) (ok bool, state []byte, replies []Message, err error) {
	switch {
	case m.Direction == DirEvent && m.Event == EventAgentMessage:
		var am AgentMessage
		if json.Unmarshal([]byte(m.Text), &am) != nil || strings.TrimSpace(am.Text) == "" {
			return true, conv.State, nil, nil // nothing to say; mark it handled
		}
		name := am.Agent
		if name == "" {
			name = am.Staff
		}
		return true, conv.State, []Message{{From: FromAgent, Agent: name, Text: am.Text}}, nil
	case m.Direction == DirEvent && m.Event == EventHandoff:
		u, good := ParseHandoffUpdate(m)
		if !good {
			return true, conv.State, nil, nil
		}
		if u.Text != "" {
			replies = append(replies, Message{From: FromSystem, Text: u.Text, Buttons: u.Buttons})
		}
		state = conv.State
		if u.State == HandoffEnded {
			lang := conv.Lang
			in := dialogHandback(conv, m, u, lang)
			var more []Message
			state, more = r.turn(ctx, conv, in)
			replies = append(replies, more...)
		}
		return true, state, replies, nil
	case m.Direction == DirIn && r.handoffRouting() != nil:
		held, out, err := r.handoffRouting().Intercept(ctx, conv, m)
		if err != nil {
			return true, nil, nil, err
		}
		if !held {
			return false, nil, nil, nil
		}
		for i := range out {
			if out[i].From == "" {
				out[i].From = FromSystem
			}
		}
		return true, conv.State, out, nil
	}
	return false, nil, nil, nil
}

// afterTurn tells the handoffs a dialog turn was committed.
func (r *Router) afterTurn(ctx context.Context, conversation string) {
	h := r.handoffRouting()
	if h == nil {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	h.AfterTurn(ctx, conversation)
}
