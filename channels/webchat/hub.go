package webchat

import (
	"net"
	"sync"
	"time"

	"claimline/channels"
)

// This file holds what the web chat connections share, so an idle connection holds as little as
// possible: the conversation hubs (one bus subscription per conversation, whatever number of tabs
// has it open, called back by the bus: no goroutine and no buffer of its own), the ping wheel (one
// timer for every connection) and the corked socket that turns a batch of frames into one write.

// hub is the one bus subscription of a conversation that has web chat connections; every live
// message the bus hands it is queued, encoded once (lazily, by the first writer that needs it), on
// each of its connections.
type hub struct {
	s     *Server
	conv  string
	unsub func() // set under Server.hubMu before any leave can see the hub

	// mu guards conns and closed. Lock order: the bus's lock (deliver runs under it), then mu, then
	// a conn's mu; Server.hubMu is taken before mu and never under it.
	mu     sync.Mutex
	conns  []*conn
	closed bool
}

// join adds c to its conversation's hub, subscribing when it is the first connection.
func (s *Server) join(c *conn, conv string) {
	s.hubMu.Lock()
	h := s.hubs[conv]
	if h == nil {
		h = &hub{s: s, conv: conv}
		s.hubs[conv] = h
		// Under hubMu, so no leave runs before unsub is set; deliver never takes hubMu.
		h.unsub = s.router.SubscribeFunc(conv, h.deliver)
	}
	h.mu.Lock()
	h.conns = append(h.conns, c)
	h.mu.Unlock()
	s.hubMu.Unlock()

	c.mu.Lock()
	dead := c.dead
	if !dead {
		c.hub = h
	}
	c.mu.Unlock()
	if dead { // shutdown ran before c.hub was set, so it could not leave
		s.leave(h, c)
	}
}

// leave removes c from h, unsubscribing when it was the last connection.
func (s *Server) leave(h *hub, c *conn) {
	var unsub func()
	s.hubMu.Lock()
	h.mu.Lock()
	for i, x := range h.conns {
		if x == c {
			last := len(h.conns) - 1
			h.conns[i] = h.conns[last]
			h.conns[last] = nil
			h.conns = h.conns[:last]
			break
		}
	}
	if len(h.conns) == 0 && !h.closed {
		h.closed = true
		delete(s.hubs, h.conv)
		unsub = h.unsub
	}
	h.mu.Unlock()
	s.hubMu.Unlock()
	if unsub != nil {
		unsub()
	}
}

// deliver is the hub's bus callback: it queues one live message on the conversation's connections.
// It runs on the publisher's goroutine (or the bus's), under the bus's lock, so it never blocks and
// never calls the bus: a connection too slow to take the message is shut down on a goroutine of its
// own, since shutting down leaves the hub, which may unsubscribe.
func (h *hub) deliver(m channels.Message) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	f := &sharedFrame{s: h.s, m: m}
	for _, c := range h.conns {
		if !c.live(f) {
			go c.tooSlow()
		}
	}
	return true
}

// pingBuckets is the ping wheel's resolution: every PingInterval/pingBuckets one bucket of
// connections is pinged, so each connection once per interval, spread over it.
const pingBuckets = 16

// add registers a new connection in the ping wheel, starting the wheel if it is the first.
func (s *Server) add(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	c.bucket = s.nextBucket
	s.nextBucket = (s.nextBucket + 1) % pingBuckets
	if s.buckets[c.bucket] == nil {
		s.buckets[c.bucket] = make(map[*conn]struct{})
	}
	s.buckets[c.bucket][c] = struct{}{}
	s.nconns++
	if !s.wheel {
		s.wheel = true
		go s.pingWheel()
	}
	return true
}

func (s *Server) remove(c *conn) {
	s.mu.Lock()
	if _, ok := s.buckets[c.bucket][c]; ok {
		delete(s.buckets[c.bucket], c)
		s.nconns--
	}
	s.mu.Unlock()
}

// pingWheel pings every connection once per PingInterval, from one goroutine for all of them; it
// ends when no connection is left (add starts it again).
func (s *Server) pingWheel() {
	t := time.NewTicker(s.ping / pingBuckets)
	defer t.Stop()
	for i := 0; ; i = (i + 1) % pingBuckets {
		<-t.C
		s.mu.Lock()
		if s.nconns == 0 || s.closed {
			s.wheel = false
			s.mu.Unlock()
			return
		}
		for c := range s.buckets[i] {
			c.pingDue()
		}
		s.mu.Unlock()
	}
}

// allConns returns every open connection.
func (s *Server) allConns() []*conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]*conn, 0, s.nconns)
	for _, b := range s.buckets {
		for c := range b {
			out = append(out, c)
		}
	}
	return out
}

// corkConn is the hijacked connection as gorilla sees it. Between cork and uncork, writes (the
// writer's frames, and a pong or close the reader's gorilla handlers write meanwhile, which gorilla
// serialises frame by frame) are collected in a pooled buffer and go out in one write; otherwise a
// write goes straight through. mu keeps the byte stream in order.
type corkConn struct {
	net.Conn
	mu     sync.Mutex
	corked bool
	buf    *[]byte
}

// corkLimit bounds a cork buffer: a bigger batch is written as it fills.
const corkLimit = 32 << 10

var corkPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (c *corkConn) cork() {
	c.mu.Lock()
	c.corked = true
	c.mu.Unlock()
}

func (c *corkConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.corked {
		return c.Conn.Write(p)
	}
	if c.buf == nil {
		c.buf = corkPool.Get().(*[]byte)
	}
	*c.buf = append(*c.buf, p...)
	if len(*c.buf) >= corkLimit {
		if err := c.flushLocked(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

func (c *corkConn) flushLocked() error {
	if c.buf == nil {
		return nil
	}
	var err error
	if len(*c.buf) > 0 {
		_, err = c.Conn.Write(*c.buf)
	}
	if cap(*c.buf) <= 2*corkLimit {
		*c.buf = (*c.buf)[:0]
		corkPool.Put(c.buf)
	}
	c.buf = nil
	return err
}

// uncork writes what was collected, with the batch's deadline, and returns the buffer to the pool.
func (c *corkConn) uncork(deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.corked = false
	if c.buf == nil || len(*c.buf) == 0 {
		return c.flushLocked()
	}
	c.Conn.SetWriteDeadline(deadline)
	return c.flushLocked()
}
