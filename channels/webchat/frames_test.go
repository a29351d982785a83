package webchat

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// oldParse is how the reader decided before parseFrame: the reference parseFrame must agree with.
func oldParse(data []byte) (inFrame, string) {
	var f inFrame
	if !json.Valid(data) || !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return f, codeBadJSON
	}
	if err := json.Unmarshal(data, &f); err != nil {
		return f, codeInvalidFrame
	}
	return f, ""
}

var frameSamples = []string{
	`{"type":"hello","lang":"zh-TW"}`,
	`{"type":"hello","session":"abc","last_seq":12,"lang":"en"}`,
	`{"type":"message","id":"m1","text":"急性肺炎住院三天，醫療費用大約兩萬三千元"}`,
	`{"type":"action","id":"m2","value":"type:medical","text":"醫療/住院"}`,
	`{"type":"ping"}`, `{}`, ` { "type" : "ping" } `, "{\n\t\"type\":\"ping\"\r\n}",
	`{"type":"message","id":"m1","text":"a\"b"}`, `{"type":"message","text":"line\nbreak"}`,
	`{"type":"message","text":"\u00e9\ud83d\ude00"}`, `{"Type":"ping"}`, `{"TYPE":"ping","ID":"x"}`,
	`{"type":"ping","extra":{"a":[1,2]}}`, `{"type":null}`, `{"type":1}`, `{"last_seq":"3"}`,
	`{"last_seq":1.5}`, `{"last_seq":1e3}`, `{"last_seq":-0}`, `{"last_seq":-7}`, `{"last_seq":007}`,
	`{"last_seq":9223372036854775807}`, `{"last_seq":99999999999999999999}`, `{"last_seq":}`,
	`{"type":"ping"} x`, `{"type":"ping"}{}`, `{"type":"ping",}`, `{"type" "ping"}`, `{"type":"pi`,
	`[1]`, `"x"`, `null`, ``, `   `, `{`, `}`, `{"id":"a","id":"b"}`, "{\"text\":\"\xff\xfe\"}",
	"{\"text\":\"tab\there\"}", `{"text":"<b>&amp;</b>"}`, `{"type":"message","id":"` + strings.Repeat("x", 200) + `"}`,
}

func TestParseFrameDecidesLikeEncodingJSON(t *testing.T) {
	for _, s := range frameSamples {
		checkParse(t, []byte(s))
	}
}

func FuzzParseFrame(f *testing.F) {
	for _, s := range frameSamples {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkParse(t, data) })
}

func checkParse(t *testing.T, data []byte) {
	t.Helper()
	want, wantCode := oldParse(data)
	var got inFrame
	code := parseFrame(data, &got)
	if code != wantCode || (code == "" && got != want) {
		t.Fatalf("%q: got %+v %q, want %+v %q", data, got, code, want, wantCode)
	}
}

// BenchmarkFrameRead is the reader's own work for one customer message: gorilla's frame header,
// reading the payload and decoding it (not handling it).
func BenchmarkFrameRead(b *testing.B) {
	payload := []byte(`{"type":"message","id":"m7","text":"急性肺炎住院三天，醫療費用大約兩萬三千元"}`)
	ws := upgradedReplay(b, maskedFrame(payload))
	b.ReportAllocs()
	for b.Loop() {
		_, r, err := ws.NextReader()
		if err != nil {
			b.Fatal(err)
		}
		buf := framePool.Get().(*[]byte)
		data, err := readFrame(r, (*buf)[:0])
		var f inFrame
		if err != nil || parseFrame(data, &f) != "" || f.Text == "" {
			b.Fatal(err)
		}
		*buf = data[:0]
		framePool.Put(buf)
	}
}

// replayConn is a connection whose reads replay one byte stream forever and whose writes vanish.
type replayConn struct {
	net.Conn
	stream []byte
	off    int
}

func (c *replayConn) Read(p []byte) (int, error) {
	n := copy(p, c.stream[c.off:])
	c.off = (c.off + n) % len(c.stream)
	return n, nil
}

func (c *replayConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }

// upgradedReplay is a server-side gorilla connection reading frame over and over.
func upgradedReplay(b *testing.B, frame []byte) *websocket.Conn {
	return upgraded(b, &replayConn{stream: frame})
}

// maskedFrame is payload as a client sends it: one masked text frame.
func maskedFrame(payload []byte) []byte {
	out := []byte{0x81}
	if n := len(payload); n < 126 {
		out = append(out, 0x80|byte(n))
	} else {
		out = append(out, 0x80|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	}
	key := []byte{0x12, 0x34, 0x56, 0x78}
	out = append(out, key...)
	for i, c := range payload {
		out = append(out, c^key[i%4])
	}
	return out
}
