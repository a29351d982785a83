// Package handofftest is the contract suite of the handoff service: the embedded Service (SQLite)
// and the Service sharing its live state in Redis (Config.Redis) run the same tests, through the
// exported API only, so both deployments keep the same rules (the rules written on handoff.Service).
// Call it from a _test.go file:
//
//	func TestEmbedded(t *testing.T) { handofftest.TestService(t, func(t *testing.T, cfg handoff.Config, d channels.Dialog) (*handoff.Service, *channels.Router) { ... }) }
package handofftest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/channels/handoff"
	"claimline/dialog"
)

// Open builds a fresh, empty Service from cfg and a real Router whose Dialog is d. The suite sets
// Now (its controllable clock), Hours, MaxChats, PerAgent, MaxWait and Cases; open keeps them and adds
// what its deployment needs (Path, and Redis, RedisPrefix, Node for the shared one), builds the router
// on its store (with the Service as Handoffs; Bus and Locker as the deployment wires them), calls
// Service.Attach and Router.Recover, and registers its own cleanup (Router.Close, then Service.Close).
// It must not start Service.Run: the suite drives routing through the API, on its own clock.
type Open func(t *testing.T, cfg handoff.Config, d channels.Dialog) (*handoff.Service, *channels.Router)

// TestService runs the handoff contract against fresh services made by open (one per subtest).
func TestService(t *testing.T, open Open) {
	tests := []struct {
		name string
		fn   func(t *testing.T, e *env)
	}{
		{"RequestIdempotent", testRequestIdempotent},
		{"QueueOrderAndPositions", testQueueOrder},
		{"DialogRequestAnnouncedAfterTurn", testDialogRequest},
		{"Presence", testPresence},
		{"RoutingLeastLoadAndLimits", testRouting},
		{"Accept", testAccept},
		{"Send", testSend},
		{"TransferToAgent", testTransferToAgent},
		{"TransferToQueueKeepsPlace", testTransferToQueue},
		{"End", testEnd},
		{"CallbackTasks", testTasks},
		{"Ratings", testRatings},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.fn(t, newEnv(t, open))
		})
	}
}

var ctx = context.Background()

// Staff of the suite.
var (
	alice = casesvc.Staff{Name: "alice", Role: casesvc.RoleSpecialist}
	bob   = casesvc.Staff{Name: "bob", Role: casesvc.RoleSpecialist}
	carol = casesvc.Staff{Name: "carol", Role: casesvc.RoleSpecialist}
	sue   = casesvc.Staff{Name: "sue", Role: casesvc.RoleSupervisor}
	ada   = casesvc.Staff{Name: "ada", Role: casesvc.RoleAdmin}
)

// greenPolicy is the policy number whose customer has an open green-channel case.
const greenPolicy = "P-GREEN-0001"

type fakeCases struct{}

func (fakeCases) CasesByPolicy(_ context.Context, number string) ([]*casesvc.Case, error) {
	if number == greenPolicy {
		return []*casesvc.Case{{ID: "CLM-1", PolicyNumber: number, Priority: "green_channel", Status: casesvc.StatusReceived}}, nil
	}
	return []*casesvc.Case{{ID: "CLM-2", PolicyNumber: number, Priority: "normal", Status: casesvc.StatusReceived}}, nil
}

// Clock is a controllable clock: it moves only when advanced.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// askText is what a customer says to the suite's dialog to ask for a person.
const askText = "a person please"

// stubDialog answers "bot: <text>" and asks for a person on askText; the suite checks that it is
// kept out of held conversations.
type stubDialog struct {
	mu sync.Mutex
	hs *handoff.Service
}

func (d *stubDialog) Turn(ctx context.Context, state []byte, in dialog.Input) ([]byte, []dialog.Reply, error) {
	if in.Event != "" {
		return state, nil, nil
	}
	if in.Text == askText {
		d.mu.Lock()
		hs := d.hs
		d.mu.Unlock()
		if err := hs.RequestHandoff(ctx, dialog.HandoffRequest{Conversation: in.Conversation, Channel: in.Channel,
			Lang: "en", Reason: "customer_asked"}); err != nil {
			return nil, nil, err
		}
		return state, []dialog.Reply{{Text: "bot: connecting you"}}, nil
	}
	return state, []dialog.Reply{{Text: "bot: " + in.Text + in.Action}}, nil
}

type env struct {
	t     *testing.T
	hs    *handoff.Service
	r     *channels.Router
	clock *Clock
	n     int
}

func newEnv(t *testing.T, open Open) *env {
	clock := &Clock{t: time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)}
	d := &stubDialog{}
	cfg := handoff.Config{Now: clock.Now, Hours: handoff.Hours{Always: true}, MaxChats: 2,
		PerAgent: map[string]int{"bob": 1}, MaxWait: time.Hour, Cases: fakeCases{}}
	hs, r := open(t, cfg, d)
	d.mu.Lock()
	d.hs = hs
	d.mu.Unlock()
	return &env{t: t, hs: hs, r: r, clock: clock}
}

// conv opens a new web chat conversation; it returns its id and contact.
func (e *env) conv() (id, contact string) {
	e.t.Helper()
	e.n++
	contact = fmt.Sprintf("contact-%d", e.n)
	c, _, err := e.r.OpenConversation(ctx, channels.ChannelWebchat, contact, "en")
	if err != nil {
		e.t.Fatal(err)
	}
	return c.ID, contact
}

// request queues conv as the dialog would, and commits the requesting turn (AfterTurn); the clock
// moves a second first, so each request waits less than the one before.
func (e *env) request(conv, reason, policy string) {
	e.t.Helper()
	e.clock.Advance(time.Second)
	if err := e.hs.RequestHandoff(ctx, dialog.HandoffRequest{Conversation: conv, Channel: channels.ChannelWebchat,
		Lang: "en", Reason: reason, PolicyNumber: policy}); err != nil {
		e.t.Fatalf("request %s: %v", conv, err)
	}
	e.hs.AfterTurn(ctx, conv)
}

// queued opens a conversation and queues it (normal priority).
func (e *env) queued() string {
	e.t.Helper()
	c, _ := e.conv()
	e.request(c, "customer_asked", "")
	return c
}

// say sends a customer message (or button) and waits for its turn; it returns the replies.
func (e *env) say(contact, id, text, action string) []channels.Message {
	e.t.Helper()
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	_, out, err := e.r.ProcessSync(c, channels.Inbound{Channel: channels.ChannelWebchat, Contact: contact, ClientID: id,
		Text: text, Action: action, Lang: "en"})
	if err != nil {
		e.t.Fatalf("say %q: %v", text, err)
	}
	return out
}

func (e *env) messages(conv string) []channels.Message {
	e.t.Helper()
	ms, err := e.r.MessagesAfter(ctx, conv, 0, 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return ms
}

// updates are the handoff steps stored in conv for its customer, in order.
func (e *env) updates(conv string) []channels.HandoffUpdate {
	e.t.Helper()
	var out []channels.HandoffUpdate
	for _, m := range e.messages(conv) {
		if u, ok := channels.ParseHandoffUpdate(m); ok {
			out = append(out, u)
		}
	}
	return out
}

// waitUpdate waits until the last handoff step of conv satisfies ok.
func (e *env) waitUpdate(conv, what string, ok func(u channels.HandoffUpdate) bool) channels.HandoffUpdate {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		us := e.updates(conv)
		if len(us) > 0 && ok(us[len(us)-1]) {
			return us[len(us)-1]
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: handoff steps of %s = %+v", what, conv, us)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitMessage waits for a stored message of conv satisfying ok.
func (e *env) waitMessage(conv, what string, ok func(m channels.Message) bool) channels.Message {
	e.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ms := e.messages(conv)
		for _, m := range ms {
			if ok(m) {
				return m
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: messages of %s = %+v", what, conv, ms)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (e *env) hold(conv string) handoff.Hold {
	e.t.Helper()
	h, ok := e.hs.Hold(conv)
	if !ok {
		e.t.Fatalf("no hold of %s", conv)
	}
	return h
}

func (e *env) noHold(conv string) {
	e.t.Helper()
	if h, ok := e.hs.Hold(conv); ok {
		e.t.Fatalf("hold of %s = %+v, want none", conv, h)
	}
}

func (e *env) queue() []string {
	var out []string
	for _, q := range e.hs.Queue() {
		out = append(out, q.Conversation)
	}
	return out
}

func (e *env) wantQueue(want ...string) {
	e.t.Helper()
	if got := e.queue(); strings.Join(got, ",") != strings.Join(want, ",") {
		e.t.Fatalf("queue = %v, want %v", got, want)
	}
}

func (e *env) wantAssigned(conv, agent string) handoff.Hold {
	e.t.Helper()
	h := e.hold(conv)
	if h.State != handoff.StateAssigned || h.Agent != agent {
		e.t.Fatalf("hold of %s = %s/%q, want assigned to %q", conv, h.State, h.Agent, agent)
	}
	return h
}

// online signs the staff member in (Join) and makes them ready; leave is registered for cleanup.
func (e *env) online(s casesvc.Staff, ready bool) (leave func()) {
	e.t.Helper()
	leave = e.hs.Join(s)
	e.t.Cleanup(leave)
	if ready {
		e.clock.Advance(time.Second)
		e.hs.SetReady(ctx, s, true)
	}
	return leave
}

func (e *env) agent(name string) (handoff.AgentInfo, bool) {
	for _, a := range e.hs.Agents() {
		if a.Name == name {
			return a, true
		}
	}
	return handoff.AgentInfo{}, false
}

func (e *env) wantAgent(name string, online, ready bool, load, max int) {
	e.t.Helper()
	a, ok := e.agent(name)
	if !ok || a.Online != online || a.Ready != ready || a.Load != load || a.Max != max {
		e.t.Fatalf("agent %s = %+v (found %v), want online=%v ready=%v load=%d max=%d", name, a, ok, online, ready, load, max)
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := casesvc.ErrorCode(err); got != code {
		t.Fatalf("%s: err = %v (code %q), want %s", what, err, got, code)
	}
}
