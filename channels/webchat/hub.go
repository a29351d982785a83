package webchat

import (
	"net"
	"reflect"
	"sync"
	"time"

	"claimline/channels"
)

// This file holds what the web chat connections share, so an idle connection holds as little as
// possible: the conversation hubs (one bus subscription per conversation, whatever number of tabs
// has it open, received by a goroutine per 64 conversations), the ping wheel (one timer for every
// connection) and the corked socket that turns a batch of frames into one write.

// hub is the one bus subscription of a conversation that has web chat connections; every live
// message it receives is handed, encoded once (lazily, by the first writer that needs it), to each
// of its connections.
type hub struct {
	conv   string
	conns  []*conn // guarded by Server.hubMu, like the rest
	sub    <-chan channels.Message
	unsub  func()
	closed bool
	shard  *hubShard
}

// hubShard is one goroutine receiving for up to hubsPerShard hubs (reflect.Select over their bus
// channels), instead of a goroutine per conversation: the bus hands out channels, and an idle
// goroutine per conversation would cost more than the rest of an idle connection. A bus that called
// back instead of filling a channel would need none of this (see docs/performance.md).
type hubShard struct {
	hubs    []*hub        // guarded by Server.hubMu
	version int           // bumped on every change of hubs (or of a hub's channel)
	wake    chan struct{} // tells the goroutine to pick up a change
	gone    bool          // the goroutine ended (no hub left)
}

// hubsPerShard bounds the cases of one select: each message costs a select over all of them.
const hubsPerShard = 64

// join adds c to its conversation's hub, subscribing when it is the first connection.
func (s *Server) join(c *conn, conv string) {
	s.hubMu.Lock()
	h := s.hubs[conv]
	if h == nil {
		h = &hub{conv: conv}
		h.sub, h.unsub = s.router.Subscribe(conv)
		s.hubs[conv] = h
		s.shardFor(h)
	}
	h.conns = append(h.conns, c)
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

// shardFor puts a new hub in a shard with room, starting one if none has; s.hubMu held.
func (s *Server) shardFor(h *hub) {
	var sh *hubShard
	for _, x := range s.shards {
		if len(x.hubs) < hubsPerShard {
			sh = x
			break
		}
	}
	if sh == nil {
		sh = &hubShard{wake: make(chan struct{}, 1)}
		s.shards = append(s.shards, sh)
		go s.runShard(sh)
	}
	h.shard = sh
	sh.hubs = append(sh.hubs, h)
	sh.changed()
}

func (sh *hubShard) changed() {
	sh.version++
	select {
	case sh.wake <- struct{}{}:
	default:
	}
}

// leave removes c from h, unsubscribing when it was the last connection.
func (s *Server) leave(h *hub, c *conn) {
	var unsub func()
	s.hubMu.Lock()
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
	s.hubMu.Unlock()
	if unsub != nil {
		unsub() // closes h.sub: the shard drops the hub
	}
}

// runShard receives the live messages of the shard's hubs until it has none left.
func (s *Server) runShard(sh *hubShard) {
	cases := []reflect.SelectCase{{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(sh.wake)}}
	var hubs []*hub
	seen := -1
	for {
		s.hubMu.Lock()
		if sh.version != seen {
			if len(sh.hubs) == 0 {
				sh.gone = true
				for i, x := range s.shards {
					if x == sh {
						s.shards = append(s.shards[:i], s.shards[i+1:]...)
						break
					}
				}
				s.hubMu.Unlock()
				return
			}
			hubs = append(hubs[:0], sh.hubs...)
			for i := range cases[1:] {
				cases[1+i] = reflect.SelectCase{}
			}
			cases = cases[:1]
			for _, h := range hubs {
				cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(h.sub)})
			}
			seen = sh.version
		}
		s.hubMu.Unlock()
		i, v, ok := reflect.Select(cases)
		if i == 0 {
			continue
		}
		h := hubs[i-1]
		if !ok {
			s.dropped(h)
			continue
		}
		m := v.Interface().(channels.Message)
		s.deliver(h, &m)
	}
}

// dropped: h's channel was closed, by leave (the hub is gone) or by the bus (it fell behind).
func (s *Server) dropped(h *hub) {
	s.hubMu.Lock()
	defer s.hubMu.Unlock()
	if h.closed {
		sh := h.shard
		for i, x := range sh.hubs {
			if x == h {
				last := len(sh.hubs) - 1
				sh.hubs[i] = sh.hubs[last]
				sh.hubs[last] = nil
				sh.hubs = sh.hubs[:last]
				break
			}
		}
		sh.changed()
		return
	}
	// Subscribe again first, then every connection replays from the store what it may have missed.
	h.sub, h.unsub = s.router.Subscribe(h.conv)
	h.shard.changed()
	for _, c := range h.conns {
		c.gap()
	}
}

// deliver hands one live message to the hub's connections.
func (s *Server) deliver(h *hub, m *channels.Message) {
	s.hubMu.Lock()
	if h.closed {
		s.hubMu.Unlock()
		return
	}
	f := &sharedFrame{s: s, m: *m}
	var slow []*conn
	for _, c := range h.conns {
		if !c.live(f) {
			slow = append(slow, c)
		}
	}
	s.hubMu.Unlock()
	for _, c := range slow {
		c.tooSlow()
	}
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
