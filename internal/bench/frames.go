package bench

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// The load client's frames, kept lean because it runs in the process it measures: one read buffer
// and one write buffer per connection, frames written by appending, and frames read by a one-pass
// decoder for the flat objects claimline sends, with encoding/json deciding anything else.

// frameConn is one client websocket with its reusable buffers.
type frameConn struct {
	ws  *websocket.Conn
	in  bytes.Buffer
	out []byte
	id  [24]byte // where message ids are made
}

// read reads the next data frame and decodes it into f (reset first). f.Buttons is a new slice: the
// caller may keep it.
func (c *frameConn) read(f *wsFrame) error {
	_, r, err := c.ws.NextReader()
	if err != nil {
		return err
	}
	c.in.Reset()
	if _, err := c.in.ReadFrom(r); err != nil {
		return err
	}
	return decodeFrame(c.in.Bytes(), f)
}

// send writes a frame of the given type with its non-empty fields in wsFrame's order (what
// json.Marshal of the wsFrame would give); the client sends only these.
func (c *frameConn) send(typ, id, text, value, lang string) error {
	return c.ws.WriteMessage(websocket.TextMessage, c.encode(typ, id, text, value, lang))
}

func (c *frameConn) encode(typ, id, text, value, lang string) []byte {
	b := append(c.out[:0], `{"type":`...)
	b = appendQuoted(b, typ)
	for _, kv := range [...]struct{ k, v string }{{`,"id":`, id}, {`,"text":`, text}, {`,"value":`, value}, {`,"lang":`, lang}} {
		if kv.v != "" {
			b = appendQuoted(append(b, kv.k...), kv.v)
		}
	}
	c.out = append(b, '}')
	return c.out
}

// appendQuoted appends s as a JSON string, as json.Marshal would. The script's strings need no
// escaping (valid UTF-8, none of the characters encoding/json escapes) and are appended as they are;
// anything else goes through encoding/json.
func appendQuoted(b []byte, s string) []byte {
	plain := utf8.ValidString(s) && !strings.ContainsAny(s, "\u2028\u2029")
	for i := 0; plain && i < len(s); i++ {
		c := s[i]
		plain = c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	if !plain {
		q, _ := json.Marshal(s)
		return append(b, q...)
	}
	return append(append(append(b, '"'), s...), '"')
}

// messageID is the id of the customer's n-th message.
func messageID(buf []byte, n int) string {
	return string(strconv.AppendInt(append(buf[:0], 'm'), int64(n), 10))
}

// decodeFrame decodes a server frame into f as json.Unmarshal into a zero wsFrame would.
func decodeFrame(data []byte, f *wsFrame) error {
	*f = wsFrame{}
	if scanWsFrame(data, f) {
		return nil
	}
	*f = wsFrame{}
	return json.Unmarshal(data, f)
}

// wsFields are wsFrame's JSON keys; a key that equals one of them but for case would be matched by
// encoding/json, so the fast path leaves such a frame to it.
var wsFields = []string{"type", "session", "conversation", "seq", "id", "from", "text", "value", "lang", "buttons", "code", "message"}

// scanWsFrame is decodeFrame's fast path: one object of wsFrame's keys with string values (seq an
// integer, buttons an array of {label, value}), other keys with scalar values skipped. It returns
// false on anything else (nesting elsewhere, null for a field, escapes it does not handle, bad
// syntax), and encoding/json decides.
func scanWsFrame(d []byte, f *wsFrame) bool {
	p := scanner{d: d}
	return p.object(func(key string) bool {
		switch key {
		case "seq":
			v, ok := p.int()
			f.Seq = v
			return ok
		case "buttons":
			return p.buttons(&f.Buttons)
		}
		if dst := f.field(key); dst != nil {
			v, ok := p.str()
			*dst = v
			return ok
		}
		return !foldsTo(key, wsFields) && p.skipScalar()
	}) && p.end()
}

func (f *wsFrame) field(key string) *string {
	switch key {
	case "type":
		return &f.Type
	case "session":
		return &f.Session
	case "conversation":
		return &f.Conversation
	case "id":
		return &f.ID
	case "from":
		return &f.From
	case "text":
		return &f.Text
	case "value":
		return &f.Value
	case "lang":
		return &f.Lang
	case "code":
		return &f.Code
	case "message":
		return &f.Message
	}
	return nil
}

// buttons reads an array of {"label","value"} objects; an empty array is an empty, non-nil slice,
// as encoding/json makes it.
func (p *scanner) buttons(dst *[]button) bool {
	if !p.consume('[') {
		return false
	}
	out := []button{}
	if p.consume(']') {
		*dst = out
		return true
	}
	for {
		var b button
		ok := p.object(func(key string) bool {
			var v string
			var ok bool
			switch key {
			case "label":
				v, ok = p.str()
				b.Label = v
			case "value":
				v, ok = p.str()
				b.Value = v
			default:
				ok = !foldsTo(key, []string{"label", "value"}) && p.skipScalar()
			}
			return ok
		})
		if !ok {
			return false
		}
		out = append(out, b)
		if p.consume(']') {
			*dst = out
			return true
		}
		if !p.consume(',') {
			return false
		}
	}
}

func foldsTo(key string, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(key, n) {
			return true
		}
	}
	return false
}

// scanner reads the JSON subset of the fast path; every method skips the whitespace before it.
type scanner struct {
	d []byte
	i int
}

func (p *scanner) space() {
	for p.i < len(p.d) && (p.d[p.i] == ' ' || p.d[p.i] == '\t' || p.d[p.i] == '\n' || p.d[p.i] == '\r') {
		p.i++
	}
}

func (p *scanner) consume(c byte) bool {
	p.space()
	if p.i < len(p.d) && p.d[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *scanner) end() bool {
	p.space()
	return p.i == len(p.d)
}

// object reads {"key": value, ...}, calling value for each key to read its value.
func (p *scanner) object(value func(key string) bool) bool {
	if !p.consume('{') {
		return false
	}
	if p.consume('}') {
		return true
	}
	for {
		key, ok := p.str()
		if !ok || !p.consume(':') || !value(key) {
			return false
		}
		if p.consume('}') {
			return true
		}
		if !p.consume(',') {
			return false
		}
	}
}

// str reads a string: valid UTF-8 with the escapes \" \\ \/ \b \f \n \r \t and \u outside the
// surrogates (a surrogate pair goes to encoding/json).
func (p *scanner) str() (string, bool) {
	if !p.consume('"') {
		return "", false
	}
	start := p.i
	var buf []byte // only when there is an escape
	for p.i < len(p.d) {
		c := p.d[p.i]
		switch {
		case c == '"':
			raw := p.d[start:p.i]
			p.i++
			if buf == nil {
				return string(raw), utf8.Valid(raw)
			}
			buf = append(buf, raw...)
			return string(buf), utf8.Valid(buf)
		case c < 0x20:
			return "", false
		case c == '\\':
			buf = append(buf, p.d[start:p.i]...)
			if p.i+1 >= len(p.d) {
				return "", false
			}
			e := p.d[p.i+1]
			p.i += 2
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				if p.i+4 > len(p.d) {
					return "", false
				}
				r, err := strconv.ParseUint(string(p.d[p.i:p.i+4]), 16, 16)
				if err != nil || (r >= 0xd800 && r < 0xe000) {
					return "", false
				}
				buf = utf8.AppendRune(buf, rune(r))
				p.i += 4
			default:
				return "", false
			}
			start = p.i
		default:
			p.i++
		}
	}
	return "", false
}

// int reads an integer of at most 18 digits with no fraction or exponent.
func (p *scanner) int() (int64, bool) {
	p.space()
	j := p.i
	neg := j < len(p.d) && p.d[j] == '-'
	if neg {
		j++
	}
	start := j
	var v int64
	for ; j < len(p.d) && p.d[j] >= '0' && p.d[j] <= '9'; j++ {
		v = 10*v + int64(p.d[j]-'0')
	}
	n := j - start
	if n == 0 || n > 18 || (n > 1 && p.d[start] == '0') || (j < len(p.d) && (p.d[j] == '.' || p.d[j] == 'e' || p.d[j] == 'E')) {
		return 0, false
	}
	p.i = j
	if neg {
		v = -v
	}
	return v, true
}

// skipScalar skips a string, an integer, true, false or null.
func (p *scanner) skipScalar() bool {
	p.space()
	if p.i >= len(p.d) {
		return false
	}
	switch p.d[p.i] {
	case '"':
		_, ok := p.str()
		return ok
	case 't':
		return p.word("true")
	case 'f':
		return p.word("false")
	case 'n':
		return p.word("null")
	}
	_, ok := p.int()
	return ok
}

func (p *scanner) word(w string) bool {
	if !bytes.HasPrefix(p.d[p.i:], []byte(w)) {
		return false
	}
	p.i += len(w)
	return true
}
