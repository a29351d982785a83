package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Idle connections are opened with a hand-rolled websocket client on a bare net.Conn: no goroutine,
// no buffers, nothing but the socket is kept per connection, so the client adds almost nothing to an
// in-process measurement (and what it adds is calibrated and subtracted).

const (
	opText  = 0x1
	opClose = 0x8
	opPing  = 0x9
	opPong  = 0xA
)

// writeFrame writes one masked (client) frame.
func writeFrame(w io.Writer, op byte, payload []byte) error {
	var hdr [14]byte
	hdr[0] = 0x80 | op
	n := 2
	switch l := len(payload); {
	case l < 126:
		hdr[1] = 0x80 | byte(l)
	case l <= 0xFFFF:
		hdr[1] = 0x80 | 126
		binary.BigEndian.PutUint16(hdr[2:], uint16(l))
		n = 4
	default:
		hdr[1] = 0x80 | 127
		binary.BigEndian.PutUint64(hdr[2:], uint64(l))
		n = 10
	}
	var mask [4]byte
	rand.Read(mask[:])
	copy(hdr[n:], mask[:])
	n += 4
	buf := make([]byte, n+len(payload))
	copy(buf, hdr[:n])
	for i, b := range payload {
		buf[n+i] = b ^ mask[i%4]
	}
	_, err := w.Write(buf)
	return err
}

// readFrame reads one unmasked (server) frame of at most 1 MiB; fragmented messages are not expected
// from the server and are refused.
func readFrame(r io.Reader) (op byte, payload []byte, err error) {
	var hdr [8]byte
	if _, err := io.ReadFull(r, hdr[:2]); err != nil {
		return 0, nil, err
	}
	if hdr[0]&0x80 == 0 {
		return 0, nil, errors.New("fragmented frame")
	}
	op = hdr[0] & 0x0F
	masked := hdr[1]&0x80 != 0
	l := uint64(hdr[1] & 0x7F)
	switch l {
	case 126:
		if _, err := io.ReadFull(r, hdr[:2]); err != nil {
			return 0, nil, err
		}
		l = uint64(binary.BigEndian.Uint16(hdr[:2]))
	case 127:
		if _, err := io.ReadFull(r, hdr[:8]); err != nil {
			return 0, nil, err
		}
		l = binary.BigEndian.Uint64(hdr[:8])
	}
	if masked || l > 1<<20 {
		return 0, nil, errors.New("bad frame header")
	}
	payload = make([]byte, l)
	_, err = io.ReadFull(r, payload)
	return op, payload, err
}

// openIdle opens a web chat websocket, says hello and reads until the welcome and the greeting came.
func openIdle(ctx context.Context, base string, timeout time.Duration) (net.Conn, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			c.Close()
		}
	}()
	c.SetDeadline(time.Now().Add(timeout))
	var key [16]byte
	rand.Read(key[:])
	fmt.Fprintf(c, "GET /webchat/ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nOrigin: %s\r\n\r\n", u.Host, base64.StdEncoding.EncodeToString(key[:]), base)
	// The server sends nothing after its 101 until hello, so reading the head in chunks over-reads nothing.
	var head []byte
	buf := make([]byte, 512)
	for !bytes.Contains(head, []byte("\r\n\r\n")) {
		n, err := c.Read(buf)
		if err != nil {
			return nil, fmt.Errorf("handshake: %w", err)
		}
		if head = append(head, buf[:n]...); len(head) > 8192 {
			return nil, errors.New("handshake: response too long")
		}
	}
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101")) {
		line, _, _ := bytes.Cut(head, []byte("\r\n"))
		return nil, fmt.Errorf("handshake: %s", line)
	}
	if err := writeFrame(c, opText, []byte(`{"type":"hello","lang":"zh-TW"}`)); err != nil {
		return nil, err
	}
	var welcome, greeted bool
	for frames := 0; !(welcome && greeted); frames++ {
		if frames > 20 {
			return nil, errors.New("no welcome and greeting in 20 frames")
		}
		op, p, err := readFrame(c)
		if err != nil {
			return nil, err
		}
		switch op {
		case opClose:
			return nil, fmt.Errorf("closed by the server: %q", p)
		case opPing:
			writeFrame(c, opPong, p)
			continue
		case opText:
		default:
			continue
		}
		var f wsFrame
		if err := json.Unmarshal(p, &f); err != nil {
			return nil, err
		}
		switch {
		case f.Type == "welcome":
			welcome = true
		case f.Type == "message" && f.From == "bot":
			greeted = true
		case f.Type == "error":
			return nil, fmt.Errorf("error frame %s: %s", f.Code, f.Message)
		}
	}
	c.SetDeadline(time.Time{})
	ok = true
	return c, nil
}

func runIdle(ctx context.Context, e *env) error {
	n := e.opts.clients
	need := uint64(n + 256)
	if e.target.inProcess {
		need = uint64(2*n + 256) // both ends of every connection are in this process
	}
	if got, err := raiseFileLimit(need); err != nil || got < need {
		return fmt.Errorf("idle: %d connections need %d open files, the limit is %d (%v); "+
			"use fewer --clients, or run \"claimline serve\" separately and pass --url so each process holds one end", n, need, got, err)
	}
	t := e.target
	// Warm up: the first connections grow pools and maps that later ones reuse.
	for range 10 {
		if c, err := openIdle(ctx, t.URL, e.opts.replyTimeout); err == nil {
			c.Close()
		}
	}
	time.Sleep(200 * time.Millisecond)

	var clientShare float64
	if t.inProcess {
		cs, err := calibrateSockets(ctx, min(n, 1000))
		if err != nil {
			return fmt.Errorf("idle: calibrate: %w", err)
		}
		clientShare = cs
	}
	before, err := t.readMemory(ctx)
	if err != nil {
		return err
	}
	stopProfile := e.profile()
	e.logf("opening %d idle web chat connections...\n", n)
	start := time.Now()
	conns := make([]net.Conn, n)
	var opened, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := openIdle(ctx, t.URL, e.opts.replyTimeout)
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				conns[i] = c
				opened.Add(1)
			}
		}()
	}
	wg.Wait()
	openTime := time.Since(start)
	defer func() {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
	}()
	time.Sleep(500 * time.Millisecond) // let the server's per-connection goroutines park
	after, err := t.readMemory(ctx)
	if err != nil {
		return err
	}
	stopProfile()
	o := opened.Load()
	r := e.result
	r.Errors = failed.Load()
	fmt.Fprintf(e.out, "idle       %d connections opened in %s (%.0f/s), %d failed\n", o, openTime.Round(time.Millisecond), rate(o, openTime), failed.Load())
	if s, _ := firstErr.Load().(string); s != "" {
		r.FirstErrors = []string{s}
		fmt.Fprintf(e.out, "           error: %s\n", s)
	}
	fmt.Fprintf(e.out, "           before: %s\n           after:  %s\n", before, after)
	if o == 0 {
		return errors.New("idle: no connection opened")
	}
	delta := float64(int64(after.HeapInuse+after.StackInuse) - int64(before.HeapInuse+before.StackInuse))
	per := delta / float64(o)
	fmt.Fprintf(e.out, "           heap+stacks delta %s = %.2f KiB per connection; goroutines +%.2f per connection\n",
		mib(uint64(max(delta, 0))), per/1024, float64(after.Goroutines-before.Goroutines)/float64(o))
	if t.inProcess {
		per -= clientShare
		fmt.Fprintf(e.out, "           minus the load client's bare socket (%.2f KiB, calibrated) = %.2f KiB per connection on the server\n", clientShare/1024, per/1024)
	}
	r.PerConnBytes = per
	r.Connections = o
	verdict := "met"
	switch {
	case per <= 0:
		// A few connections weigh less than what the heap moves by itself between two readings.
		verdict = "not measurable: the heap moved more by itself than the connections weigh; use more --clients"
	case per > 12*1024:
		verdict = "MISSED"
	}
	fmt.Fprintf(e.out, "figure     %.2f KiB (heap+stacks) per idle web chat connection at %d connections (target <= 12 KiB at 10,000: %s)\n", per/1024, o, verdict)

	// Hold them for the duration; an unsolicited pong now and then keeps the server's read deadline
	// (two ping intervals) from closing them, without a goroutine per connection.
	e.logf("holding for %s...\n", e.opts.duration)
	holdUntil := time.Now().Add(e.opts.duration)
	for time.Now().Before(holdUntil) && ctx.Err() == nil {
		wait := min(20*time.Second, time.Until(holdUntil))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		for _, c := range conns {
			if c != nil {
				c.SetWriteDeadline(time.Now().Add(time.Second))
				writeFrame(c, opPong, nil)
			}
		}
	}
	if held, err := t.readMemory(ctx); err == nil {
		fmt.Fprintf(e.out, "           after holding %s: %s\n", e.opts.duration, held)
	}
	return nil
}

// calibrateSockets measures what one loopback TCP connection costs in this process (heap and stacks)
// with both ends held and no goroutine: the load client's share is half of a pair.
func calibrateSockets(ctx context.Context, n int) (float64, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	read := func() int64 {
		t := &target{inProcess: true}
		m, _ := t.readMemory(ctx)
		return int64(m.HeapInuse + m.StackInuse)
	}
	accepted := make(chan net.Conn, n)
	go func() {
		for range n {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	before := read()
	var clients, servers []net.Conn
	defer func() {
		for _, c := range append(clients, servers...) {
			c.Close()
		}
	}()
	for range n {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			return 0, err
		}
		clients = append(clients, c)
		select {
		case s := <-accepted:
			servers = append(servers, s)
		case <-time.After(5 * time.Second):
			return 0, errors.New("accept timed out")
		}
	}
	after := read()
	return float64(after-before) / float64(n) / 2, nil
}
