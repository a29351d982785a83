package handofftest

import (
	"strings"
	"testing"
	"time"

	"claimline/casesvc"
	"claimline/channels"
	"claimline/channels/handoff"
	"claimline/dialog"
)

// RequestHandoff is idempotent per conversation: a replayed turn changes nothing.
func testRequestIdempotent(t *testing.T, e *env) {
	wantCode(t, "empty conversation", e.hs.RequestHandoff(ctx, dialog.HandoffRequest{Channel: "webchat"}), casesvc.EINVALID)
	c, _ := e.conv()
	e.request(c, "customer_asked", "")
	at := e.clock.Now()
	h1 := e.hold(c)
	if h1.ID == 0 || h1.State != handoff.StateQueued || !h1.QueuedAt.Equal(at) || h1.Priority != handoff.PriorityNormal ||
		h1.Reason != "customer_asked" || h1.Channel != channels.ChannelWebchat || h1.Lang != "en" {
		t.Fatalf("hold = %+v", h1)
	}
	e.clock.Advance(time.Minute)
	for range 2 { // the replayed turn, even with another reason
		if err := e.hs.RequestHandoff(ctx, dialog.HandoffRequest{Conversation: c, Channel: "webchat", Lang: "en", Reason: "complaint"}); err != nil {
			t.Fatal(err)
		}
		e.hs.AfterTurn(ctx, c)
	}
	h2 := e.hold(c)
	if h2.ID != h1.ID || !h2.QueuedAt.Equal(at) || h2.Priority != handoff.PriorityNormal || h2.Reason != "customer_asked" || h2.State != handoff.StateQueued {
		t.Fatalf("after a repeat: hold = %+v, was %+v", h2, h1)
	}
	e.wantQueue(c)
	if q := e.hs.Queue(); q[0].Priority != "normal" || q[0].Position != 1 {
		t.Fatalf("queue = %+v", q)
	}
	// The customer was told once.
	if us := e.updates(c); len(us) != 1 || us[0].State != channels.HandoffQueued || us[0].Position != 1 {
		t.Fatalf("handoff steps = %+v", us)
	}
}

// The queue is served by priority (complaint, green channel, normal), then by wait; positions are
// 1-based and every waiting customer is told theirs.
func testQueueOrder(t *testing.T, e *env) {
	a := e.queued()
	b := e.queued()
	g, _ := e.conv()
	e.request(g, "customer_asked", greenPolicy)
	n, _ := e.conv()
	e.request(n, "customer_asked", "P-NORMAL-0002") // a customer with cases, none green
	c, _ := e.conv()
	e.request(c, "complaint", "")
	f, _ := e.conv()
	e.clock.Advance(time.Second)
	if err := e.hs.RequestHandoff(ctx, dialog.HandoffRequest{Conversation: f, Channel: "webchat", Lang: "en",
		Reason: "angry", Flow: "file_complaint"}); err != nil {
		t.Fatal(err)
	}
	e.hs.AfterTurn(ctx, f)
	e.clock.Advance(30 * time.Second)

	order := []string{c, f, g, a, b, n}
	e.wantQueue(order...)
	prio := []string{"complaint", "complaint", "green_channel", "normal", "normal", "normal"}
	now := e.clock.Now()
	for i, q := range e.hs.Queue() {
		if q.Position != i+1 || q.Priority != prio[i] || q.Wait != now.Sub(q.QueuedAt) || q.Channel != "webchat" || q.Lang != "en" {
			t.Fatalf("queue[%d] = %+v, want position %d priority %s", i, q, i+1, prio[i])
		}
	}
	if h := e.hold(g); h.Priority != handoff.PriorityGreen {
		t.Fatalf("green hold priority = %d", h.Priority)
	}
	if h := e.hold(f); h.Priority != handoff.PriorityComplaint {
		t.Fatalf("complaint-flow hold priority = %d", h.Priority)
	}
	for i, conv := range order {
		e.waitUpdate(conv, "told position", func(u channels.HandoffUpdate) bool {
			return u.State == channels.HandoffQueued && u.Position == i+1
		})
	}
	// a was told 1, 2 (green came), 3 (first complaint), 4 (second complaint).
	var got []int
	for _, u := range e.updates(a) {
		got = append(got, u.Position)
	}
	if len(got) != 4 || got[0] != 1 || got[3] != 4 {
		t.Fatalf("a's positions = %v", got)
	}
}

// A handoff the dialog asks for is announced after the requesting turn's own replies; while it is
// held the customer's messages are kept from the dialog.
func testDialogRequest(t *testing.T, e *env) {
	c, contact := e.conv()
	out := e.say(contact, "m1", askText, "")
	if len(out) == 0 || out[len(out)-1].Text != "bot: connecting you" {
		t.Fatalf("replies = %+v", out)
	}
	e.waitUpdate(c, "announced", func(u channels.HandoffUpdate) bool {
		return u.State == channels.HandoffQueued && u.Position == 1
	})
	var replySeq, eventSeq int64
	for _, m := range e.messages(c) {
		if m.Text == "bot: connecting you" {
			replySeq = m.Seq
		}
		if _, ok := channels.ParseHandoffUpdate(m); ok && eventSeq == 0 {
			eventSeq = m.Seq
		}
	}
	if replySeq == 0 || eventSeq <= replySeq {
		t.Fatalf("bot reply seq %d, announcement seq %d: want the announcement after the turn", replySeq, eventSeq)
	}
	if h := e.hold(c); h.State != handoff.StateQueued || h.Reason != "customer_asked" {
		t.Fatalf("hold = %+v", h)
	}
	// Held: the dialog does not answer; the customer is reminded of their place once.
	out = e.say(contact, "m2", "hello?", "")
	if len(out) != 1 || strings.HasPrefix(out[0].Text, "bot:") || out[0].From != channels.FromSystem {
		t.Fatalf("first message while queued: replies = %+v", out)
	}
	if out = e.say(contact, "m3", "still there?", ""); len(out) != 0 {
		t.Fatalf("second message while queued: replies = %+v", out)
	}
	if out = e.say(contact, "m4", "", handoff.ActionWait); len(out) != 1 || strings.HasPrefix(out[0].Text, "bot:") {
		t.Fatalf("wait button: replies = %+v", out)
	}
	// Asking again while queued changes nothing.
	id := e.hold(c).ID
	e.say(contact, "m5", askText, "")
	if h := e.hold(c); h.ID != id {
		t.Fatalf("hold id %d, was %d", h.ID, id)
	}
	e.wantQueue(c)
}

// Join and SetReady: an agent is online while a console is connected, ready only when online and
// asking for it, and never when their role takes no chats.
func testPresence(t *testing.T, e *env) {
	if a, ok := e.agent("alice"); ok {
		t.Fatalf("agent before joining: %+v", a)
	}
	leave := e.hs.Join(alice)
	e.wantAgent("alice", true, false, 0, 2)
	e.hs.SetReady(ctx, alice, true)
	e.wantAgent("alice", true, true, 0, 2)
	// A second console: closing one keeps her online and ready (leave is idempotent).
	leave2 := e.hs.Join(alice)
	leave2()
	leave2()
	e.wantAgent("alice", true, true, 0, 2)
	e.hs.SetReady(ctx, alice, false)
	e.wantAgent("alice", true, false, 0, 2)
	e.hs.SetReady(ctx, alice, true)
	leave()
	e.wantAgent("alice", false, false, 0, 2)
	// Ready needs a connection.
	e.hs.SetReady(ctx, alice, true)
	e.wantAgent("alice", false, false, 0, 2)
	// Back: online, not ready until she says so.
	e.online(alice, false)
	e.wantAgent("alice", true, false, 0, 2)

	e.online(ada, true) // an admin runs the system only
	e.wantAgent("ada", true, false, 0, 2)
	e.online(bob, true) // PerAgent
	e.wantAgent("bob", true, true, 0, 1)
	if e.hs.MaxChats("bob") != 1 || e.hs.MaxChats("carol") != 2 {
		t.Fatalf("MaxChats bob=%d carol=%d", e.hs.MaxChats("bob"), e.hs.MaxChats("carol"))
	}
	var names []string
	for _, a := range e.hs.Agents() {
		names = append(names, a.Name)
	}
	if strings.Join(names, ",") != "ada,alice,bob" {
		t.Fatalf("agents = %v", names)
	}
	// Routing takes the one online and ready agent (alice is online, not ready; ada takes no chats).
	c := e.queued()
	e.wantAssigned(c, "bob")
}

// Routing: a waiting conversation goes to a ready agent with room, least load first, then the one
// whose last assignment is oldest; MaxChats (and PerAgent) cap each agent.
func testRouting(t *testing.T, e *env) {
	e.online(alice, true)
	c1 := e.queued()
	e.wantAssigned(c1, "alice")
	e.waitUpdate(c1, "told assigned", func(u channels.HandoffUpdate) bool {
		return u.State == channels.HandoffAssigned && u.Agent == "alice"
	})
	e.online(carol, true)
	c2 := e.queued()
	e.wantAssigned(c2, "carol") // least load
	c3 := e.queued()
	e.wantAssigned(c3, "alice") // equal load: her last assignment is older
	c4 := e.queued()
	e.wantAssigned(c4, "carol") // alice is at her limit of 2
	c5 := e.queued()
	e.wantQueue(c5) // everyone ready is full
	e.online(bob, false)
	e.wantQueue(c5) // bob is online but not ready
	e.clock.Advance(time.Second)
	e.hs.SetReady(ctx, bob, true)
	e.wantAssigned(c5, "bob")
	c6 := e.queued()
	e.wantQueue(c6) // bob's limit is 1
	e.wantAgent("alice", true, true, 2, 2)
	e.wantAgent("carol", true, true, 2, 2)
	e.wantAgent("bob", true, true, 1, 1)
	var held []string
	for _, h := range e.hs.Held("alice") {
		held = append(held, h.Conversation)
	}
	if strings.Join(held, ",") != c1+","+c3 {
		t.Fatalf("Held(alice) = %v, want [%s %s]", held, c1, c3)
	}
	if all := e.hs.Held(""); len(all) != 5 {
		t.Fatalf("Held(\"\") = %d holds, want 5", len(all))
	}
	// An end frees a place: the queue is served at once.
	if err := e.hs.End(ctx, alice, c1, true); err != nil {
		t.Fatal(err)
	}
	e.wantAssigned(c6, "alice")
	e.wantQueue()
	// Not ready: nothing more is routed to her.
	e.hs.SetReady(ctx, carol, false)
	if err := e.hs.End(ctx, carol, c2, true); err != nil {
		t.Fatal(err)
	}
	c7 := e.queued()
	e.wantQueue(c7)
}

// Accept takes a waiting conversation by hand (no need to be ready), within the agent's limit.
func testAccept(t *testing.T, e *env) {
	c := e.queued()
	id := e.hold(c).ID
	_, err := e.hs.Accept(ctx, ada, c)
	wantCode(t, "admin accepts", err, casesvc.EFORBIDDEN)
	_, err = e.hs.Accept(ctx, alice, "no-such-conversation")
	wantCode(t, "accept unknown", err, casesvc.ENOTFOUND)
	e.clock.Advance(time.Minute)
	h, err := e.hs.Accept(ctx, alice, c)
	if err != nil {
		t.Fatal(err)
	}
	if h.ID != id || h.State != handoff.StateAssigned || h.Agent != "alice" || len(h.Agents) != 1 || h.Agents[0] != "alice" ||
		!h.AssignedAt.Equal(e.clock.Now()) {
		t.Fatalf("accepted hold = %+v", h)
	}
	if got := e.wantAssigned(c, "alice"); !got.AssignedAt.Equal(h.AssignedAt) || got.ID != id {
		t.Fatalf("hold = %+v", got)
	}
	e.wantQueue()
	e.waitUpdate(c, "told assigned", func(u channels.HandoffUpdate) bool {
		return u.State == channels.HandoffAssigned && u.Agent == "alice"
	})
	_, err = e.hs.Accept(ctx, bob, c)
	wantCode(t, "accept taken", err, casesvc.ECONFLICT)
	// At the limit.
	c2, c3 := e.queued(), e.queued()
	if _, err := e.hs.Accept(ctx, bob, c2); err != nil {
		t.Fatal(err)
	}
	_, err = e.hs.Accept(ctx, bob, c3)
	wantCode(t, "accept over the limit", err, casesvc.ECONFLICT)
	e.wantQueue(c3)
	if _, err := e.hs.Accept(ctx, sue, c3); err != nil { // supervisors take chats too
		t.Fatal(err)
	}
	e.wantAssigned(c3, "sue")
}

// Send stores the holder's message as From agent; a resent id is stored once.
func testSend(t *testing.T, e *env) {
	c, contact := e.conv()
	e.request(c, "customer_asked", "")
	other := e.queued()
	if _, err := e.hs.Accept(ctx, alice, c); err != nil {
		t.Fatal(err)
	}
	_, _, err := e.hs.Send(ctx, alice, c, "", "hi")
	wantCode(t, "no id", err, casesvc.EINVALID)
	_, _, err = e.hs.Send(ctx, alice, c, "a0", "   ")
	wantCode(t, "no text", err, casesvc.EINVALID)
	_, _, err = e.hs.Send(ctx, bob, c, "b1", "hi")
	wantCode(t, "not the holder", err, casesvc.EFORBIDDEN)
	_, _, err = e.hs.Send(ctx, alice, other, "a0", "hi")
	wantCode(t, "queued conversation", err, casesvc.EFORBIDDEN)

	m, dup, err := e.hs.Send(ctx, alice, c, "a1", "  Hello, I am Alice.  ")
	if err != nil || dup || m.Seq == 0 {
		t.Fatalf("send: %+v dup=%v err=%v", m, dup, err)
	}
	m2, dup, err := e.hs.Send(ctx, alice, c, "a1", "Hello, I am Alice.")
	if err != nil || !dup || m2.Seq != m.Seq {
		t.Fatalf("resend: %+v dup=%v err=%v, first seq %d", m2, dup, err, m.Seq)
	}
	e.waitMessage(c, "agent message", func(m channels.Message) bool {
		return m.Direction == channels.DirOut && m.From == channels.FromAgent && m.Agent == "alice" && m.Text == "Hello, I am Alice."
	})
	// The customer's answer goes to the agent, not the dialog.
	if out := e.say(contact, "c1", "thanks", ""); len(out) != 0 {
		t.Fatalf("replies while with an agent = %+v", out)
	}
	n := 0
	for _, m := range e.messages(c) {
		if m.From == channels.FromAgent {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d agent messages, want 1", n)
	}
}

// Transfer to another online agent with room; supervisors may transfer any conversation.
func testTransferToAgent(t *testing.T, e *env) {
	c := e.queued()
	e.online(alice, false)
	e.online(bob, false)
	e.online(ada, false)
	if _, err := e.hs.Accept(ctx, alice, c); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "both targets", e.hs.Transfer(ctx, alice, c, "bob", true), casesvc.EINVALID)
	wantCode(t, "no target", e.hs.Transfer(ctx, alice, c, "", false), casesvc.EINVALID)
	wantCode(t, "not the holder", e.hs.Transfer(ctx, bob, c, "alice", false), casesvc.EFORBIDDEN)
	wantCode(t, "unknown conversation", e.hs.Transfer(ctx, alice, "no-such", "bob", false), casesvc.ENOTFOUND)
	wantCode(t, "to self", e.hs.Transfer(ctx, alice, c, "alice", false), casesvc.EINVALID)
	wantCode(t, "offline agent", e.hs.Transfer(ctx, alice, c, "carol", false), casesvc.ENOTFOUND)
	wantCode(t, "admin", e.hs.Transfer(ctx, alice, c, "ada", false), casesvc.ENOTFOUND)
	e.wantAssigned(c, "alice")

	e.clock.Advance(time.Minute)
	if err := e.hs.Transfer(ctx, alice, c, "bob", false); err != nil {
		t.Fatal(err)
	}
	h := e.wantAssigned(c, "bob")
	if strings.Join(h.Agents, ",") != "alice,bob" || !h.AssignedAt.Equal(e.clock.Now()) {
		t.Fatalf("transferred hold = %+v", h)
	}
	e.waitUpdate(c, "told transferred", func(u channels.HandoffUpdate) bool {
		return u.State == channels.HandoffAssigned && u.Agent == "bob"
	})
	e.wantAgent("alice", true, false, 0, 2)
	e.wantAgent("bob", true, false, 1, 1)
	// bob is at his limit.
	c2 := e.queued()
	if _, err := e.hs.Accept(ctx, alice, c2); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "to a full agent", e.hs.Transfer(ctx, alice, c2, "bob", false), casesvc.ECONFLICT)
	e.wantAssigned(c2, "alice")
	// A supervisor moves bob's conversation back to alice.
	if err := e.hs.Transfer(ctx, sue, c, "alice", false); err != nil {
		t.Fatal(err)
	}
	if h := e.wantAssigned(c, "alice"); strings.Join(h.Agents, ",") != "alice,bob,alice" {
		t.Fatalf("agents = %v", h.Agents)
	}
	e.wantAgent("alice", true, false, 2, 2)
	e.wantAgent("bob", true, false, 0, 1)
}

// Transfer back to the queue: the conversation keeps its place (its original wait) and is not
// routed back automatically to the agent who returned it.
func testTransferToQueue(t *testing.T, e *env) {
	q1 := e.queued()
	c := e.queued()
	q2 := e.queued()
	queuedAt := e.hold(c).QueuedAt
	if _, err := e.hs.Accept(ctx, alice, c); err != nil {
		t.Fatal(err)
	}
	e.wantQueue(q1, q2)
	e.clock.Advance(time.Minute)
	if err := e.hs.Transfer(ctx, alice, c, "", true); err != nil {
		t.Fatal(err)
	}
	h := e.hold(c)
	if h.State != handoff.StateQueued || h.Agent != "" || !h.QueuedAt.Equal(queuedAt) || strings.Join(h.Agents, ",") != "alice" {
		t.Fatalf("requeued hold = %+v", h)
	}
	e.wantQueue(q1, c, q2)
	if q := e.hs.Queue(); q[1].Position != 2 {
		t.Fatalf("queue = %+v", q)
	}
	e.waitUpdate(c, "told requeued", func(u channels.HandoffUpdate) bool {
		return u.State == channels.HandoffQueued && u.Position == 2
	})
	if held := e.hs.Held("alice"); len(held) != 0 {
		t.Fatalf("Held(alice) = %+v", held)
	}
	wantCode(t, "requeue a queued conversation", e.hs.Transfer(ctx, alice, c, "", true), casesvc.ENOTFOUND)

	// The others are taken by hand; alice becomes ready: the one she returned is not hers again.
	for _, q := range []string{q1, q2} {
		if _, err := e.hs.Accept(ctx, sue, q); err != nil {
			t.Fatal(err)
		}
	}
	e.online(alice, true)
	e.wantQueue(c)
	e.online(bob, true)
	if h := e.wantAssigned(c, "bob"); strings.Join(h.Agents, ",") != "alice,bob" {
		t.Fatalf("agents = %v", h.Agents)
	}
	// A supervisor returns bob's conversation to the queue.
	if err := e.hs.Transfer(ctx, sue, c, "", true); err != nil {
		t.Fatal(err)
	}
	e.wantAssigned(c, "alice") // ready, with room, and not the one who returned it
}

// End returns a held conversation to the bot; its place goes to the next waiting customer.
func testEnd(t *testing.T, e *env) {
	e.online(alice, true)
	c, contact := e.conv()
	e.request(c, "customer_asked", "")
	c2 := e.queued()
	c3 := e.queued()
	e.wantAssigned(c, "alice")
	e.wantAssigned(c2, "alice")
	e.wantQueue(c3)
	id := e.hold(c).ID

	wantCode(t, "not the holder", e.hs.End(ctx, bob, c, true), casesvc.EFORBIDDEN)
	wantCode(t, "unknown", e.hs.End(ctx, alice, "no-such", true), casesvc.ENOTFOUND)
	wantCode(t, "queued", e.hs.End(ctx, alice, c3, true), casesvc.ENOTFOUND)
	if err := e.hs.End(ctx, alice, c, true); err != nil {
		t.Fatal(err)
	}
	e.noHold(c)
	e.waitUpdate(c, "told ended", func(u channels.HandoffUpdate) bool {
		return u.State == channels.HandoffEnded && u.Agent == "alice" && u.Resolved
	})
	e.wantAssigned(c3, "alice")
	wantCode(t, "end twice", e.hs.End(ctx, alice, c, true), casesvc.ENOTFOUND)
	// Back with the bot.
	if out := e.say(contact, "after", "hello bot", ""); len(out) != 1 || out[0].Text != "bot: hello bot" {
		t.Fatalf("replies after the end = %+v", out)
	}
	// A supervisor ends anyone's.
	if err := e.hs.End(ctx, sue, c2, false); err != nil {
		t.Fatal(err)
	}
	e.waitUpdate(c2, "told ended", func(u channels.HandoffUpdate) bool {
		return u.State == channels.HandoffEnded && u.Agent == "alice" && !u.Resolved
	})
	e.wantAgent("alice", true, true, 1, 2)
	// A new request is a new handoff.
	e.request(c, "customer_asked", "")
	if h := e.wantAssigned(c, "alice"); h.ID == id {
		t.Fatalf("new handoff has the old id %d", id)
	}
}

// Call-back tasks: a queued customer chooses a call-back and leaves a note; supervisors list the open
// tasks (oldest first) and complete them.
func testTasks(t *testing.T, e *env) {
	if ts, err := e.hs.Tasks(ctx); err != nil || len(ts) != 0 {
		t.Fatalf("tasks = %+v, %v", ts, err)
	}
	c, contact := e.conv()
	e.request(c, "customer_asked", "")
	out := e.say(contact, "cb1", "", handoff.ActionCallback)
	if len(out) != 1 || len(out[0].Buttons) != 1 || out[0].Buttons[0].Value != handoff.ActionWait {
		t.Fatalf("call-back prompt = %+v", out)
	}
	if h := e.hold(c); h.State != handoff.StateCallback {
		t.Fatalf("hold = %+v", h)
	}
	e.wantQueue()
	// Changing their mind: back in the queue.
	e.say(contact, "w1", "", handoff.ActionWait)
	if h := e.hold(c); h.State != handoff.StateQueued {
		t.Fatalf("hold after wait = %+v", h)
	}
	e.wantQueue(c)
	e.say(contact, "cb2", "", handoff.ActionCallback)
	e.clock.Advance(time.Minute)
	const note = "Please call me at 0912-345-678"
	if out := e.say(contact, "note", note, ""); len(out) != 1 || strings.HasPrefix(out[0].Text, "bot:") {
		t.Fatalf("note replies = %+v", out)
	}
	e.noHold(c)
	e.wantQueue()
	var noteSeq int64
	for _, m := range e.messages(c) {
		if m.Direction == channels.DirIn && m.Text == note {
			noteSeq = m.Seq
		}
	}
	ts, err := e.hs.Tasks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts) != 1 {
		t.Fatalf("tasks = %+v", ts)
	}
	tk := ts[0]
	if tk.ID == 0 || tk.Conversation != c || tk.Note != note || tk.State != "open" || tk.Reason != "customer_asked" ||
		tk.Channel != channels.ChannelWebchat || tk.Lang != "en" || tk.SourceSeq != noteSeq || !tk.Created.Equal(e.clock.Now()) {
		t.Fatalf("task = %+v (note seq %d)", tk, noteSeq)
	}
	// A second customer's task comes after.
	c2, contact2 := e.conv()
	e.request(c2, "complaint", "")
	e.say(contact2, "cb", "", handoff.ActionCallback)
	e.say(contact2, "note", "evenings only", "")
	ts, err = e.hs.Tasks(ctx)
	if err != nil || len(ts) != 2 || ts[0].ID != tk.ID || ts[1].Conversation != c2 || ts[1].Reason != "complaint" || ts[1].ID <= tk.ID {
		t.Fatalf("tasks = %+v, %v", ts, err)
	}
	if err := e.hs.CompleteTask(ctx, alice, tk.ID); err != nil {
		t.Fatal(err)
	}
	if ts, err = e.hs.Tasks(ctx); err != nil || len(ts) != 1 || ts[0].Conversation != c2 {
		t.Fatalf("open tasks after completing one = %+v, %v", ts, err)
	}
	wantCode(t, "complete twice", e.hs.CompleteTask(ctx, alice, tk.ID), casesvc.ENOTFOUND)
	wantCode(t, "complete unknown", e.hs.CompleteTask(ctx, alice, 987654), casesvc.ENOTFOUND)
}

// Ratings: 1–5 for the conversation's last ended handoff; a repeat replaces it (an empty comment
// keeps the one given); no ended handoff is ENOTFOUND.
func testRatings(t *testing.T, e *env) {
	c, _ := e.conv()
	wantCode(t, "never handed off", e.hs.RecordRating(ctx, c, 4, ""), casesvc.ENOTFOUND)
	e.request(c, "customer_asked", "")
	wantCode(t, "queued", e.hs.RecordRating(ctx, c, 4, ""), casesvc.ENOTFOUND)
	h, err := e.hs.Accept(ctx, alice, c)
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, "with an agent", e.hs.RecordRating(ctx, c, 4, ""), casesvc.ENOTFOUND)
	if err := e.hs.End(ctx, alice, c, true); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "score 0", e.hs.RecordRating(ctx, c, 0, ""), casesvc.EINVALID)
	wantCode(t, "score 6", e.hs.RecordRating(ctx, c, 6, ""), casesvc.EINVALID)
	if rs, err := e.hs.Ratings(ctx, c); err != nil || len(rs) != 0 {
		t.Fatalf("ratings after invalid scores = %+v, %v", rs, err)
	}
	if err := e.hs.RecordRating(ctx, c, 4, ""); err != nil {
		t.Fatal(err)
	}
	rs, err := e.hs.Ratings(ctx, c)
	if err != nil || len(rs) != 1 || rs[0].Handoff != h.ID || rs[0].Conversation != c || rs[0].Agent != "alice" || rs[0].Score != 4 ||
		!rs[0].At.Equal(e.clock.Now()) {
		t.Fatalf("ratings = %+v, %v (handoff %d)", rs, err, h.ID)
	}
	if err := e.hs.RecordRating(ctx, c, 2, "  too slow  "); err != nil {
		t.Fatal(err)
	}
	if rs, err = e.hs.Ratings(ctx, c); err != nil || len(rs) != 1 || rs[0].Score != 2 || rs[0].Comment != "too slow" {
		t.Fatalf("ratings after a repeat = %+v, %v", rs, err)
	}
	if err := e.hs.RecordRating(ctx, c, 3, ""); err != nil {
		t.Fatal(err)
	}
	if rs, err = e.hs.Ratings(ctx, c); err != nil || len(rs) != 1 || rs[0].Score != 3 || rs[0].Comment != "too slow" {
		t.Fatalf("ratings after a score-only repeat = %+v, %v", rs, err)
	}
	// A second handoff of the conversation is rated on its own.
	e.request(c, "customer_asked", "")
	h2, err := e.hs.Accept(ctx, bob, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.hs.End(ctx, bob, c, false); err != nil {
		t.Fatal(err)
	}
	if err := e.hs.RecordRating(ctx, c, 5, "great"); err != nil {
		t.Fatal(err)
	}
	rs, err = e.hs.Ratings(ctx, c)
	if err != nil || len(rs) != 2 || rs[0].Handoff != h.ID || rs[0].Score != 3 || rs[1].Handoff != h2.ID || rs[1].Agent != "bob" ||
		rs[1].Score != 5 || rs[1].Comment != "great" {
		t.Fatalf("ratings of two handoffs = %+v, %v", rs, err)
	}
	// A cancelled handoff is not rated.
	d, contact := e.conv()
	e.request(d, "customer_asked", "")
	e.say(contact, "x", "", handoff.ActionCancel)
	e.noHold(d)
	wantCode(t, "cancelled", e.hs.RecordRating(ctx, d, 5, ""), casesvc.ENOTFOUND)
}
