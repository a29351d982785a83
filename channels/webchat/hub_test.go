package webchat

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"claimline/channels"
)

// countConn is a net.Conn that records each Write.
type countConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *countConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (c *countConn) SetWriteDeadline(time.Time) error { return nil }

func TestCorkCoalescesABatchIntoOneWrite(t *testing.T) {
	raw := &countConn{}
	cc := &corkConn{Conn: raw}
	cc.Write([]byte("a")) // uncorked: straight through
	cc.cork()
	cc.Write([]byte("b"))
	cc.Write([]byte("c"))
	if len(raw.writes) != 1 {
		t.Fatalf("%d writes while corked", len(raw.writes))
	}
	if err := cc.uncork(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	if len(raw.writes) != 2 || string(raw.writes[1]) != "bc" {
		t.Fatalf("writes %q", raw.writes)
	}
	// A batch bigger than the limit goes out as it fills, in order.
	cc.cork()
	big := bytes.Repeat([]byte("x"), corkLimit)
	cc.Write(big)
	cc.Write([]byte("y"))
	cc.uncork(time.Now().Add(time.Second))
	if len(raw.writes) != 4 || len(raw.writes[2]) != corkLimit || string(raw.writes[3]) != "y" {
		t.Fatalf("%d writes after a big batch", len(raw.writes))
	}
	if cc.buf != nil {
		t.Fatal("an uncorked connection keeps its buffer")
	}
}

// A batch of frames (a turn's ack, the customer's message and the reply) is one socket write, each
// frame still its own websocket frame.
func TestWriterBatchIsOneWrite(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	raw := &countConn{Conn: server}
	cc := &corkConn{Conn: raw}
	s := &Server{writeWait: time.Second, loc: time.UTC}
	ws := upgraded(t, cc)
	raw.writes = nil // the handshake
	c := &conn{s: s, ws: ws, nc: cc}
	c.space.L = &c.mu
	frames := []outItem{{data: []byte(`{"type":"ack","id":"m1","seq":2}`)},
		{shared: &sharedFrame{s: s, m: channels.Message{Seq: 2, From: channels.FromCustomer, Direction: channels.DirIn, Text: "hi"}}},
		{shared: &sharedFrame{s: s, m: channels.Message{Seq: 3, From: channels.FromBot, Direction: channels.DirOut, Text: "echo:hi"}}}}
	if !c.write(true, frames) {
		t.Fatal("write failed")
	}
	if len(raw.writes) != 1 {
		t.Fatalf("%d socket writes for a ping and 3 frames", len(raw.writes))
	}
	// Parse the bytes back as 4 frames: ping, then three text frames.
	data := raw.writes[0]
	var ops []byte
	for len(data) > 0 {
		op, n := data[0]&0x0f, int(data[1]&0x7f)
		ops = append(ops, op)
		data = data[2+n:]
	}
	if string(ops) != string([]byte{websocket.PingMessage, websocket.TextMessage, websocket.TextMessage, websocket.TextMessage}) {
		t.Fatalf("frame opcodes %v", ops)
	}
}

// hijackRecorder answers an Upgrade with a given connection.
type hijackRecorder struct {
	*httptest.ResponseRecorder
	nc net.Conn
}

func (h hijackRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return h.nc, bufio.NewReadWriter(bufio.NewReader(h.nc), bufio.NewWriter(h.nc)), nil
}

// upgraded is a server-side gorilla connection over nc.
func upgraded(t testing.TB, nc net.Conn) *websocket.Conn {
	t.Helper()
	r := httptest.NewRequest(http.MethodGet, "/webchat/ws", nil)
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	up := websocket.Upgrader{ReadBufferSize: readBufferSize, WriteBufferSize: writeBufferSize, WriteBufferPool: &writePool}
	ws, err := up.Upgrade(hijackRecorder{httptest.NewRecorder(), nc}, r, nil)
	if err != nil {
		t.Fatal(err)
	}
	return ws
}
