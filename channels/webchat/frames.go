package webchat

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"sync"
	"unicode/utf8"
)

// Reading client frames: the reader's hot path, one frame per customer message.

// framePool lends the reader a buffer for the frame it is handling, so an idle connection holds none.
// Nothing keeps the bytes: the decoded frame's strings are copies.
var framePool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// readFrame appends the rest of r's frame to buf, reading at most maxFrame+1 bytes: one more than a
// frame may have, to tell one that is too large (whose rest the caller discards).
func readFrame(r io.Reader, buf []byte) ([]byte, error) {
	for len(buf) <= maxFrame {
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, 512)
		}
		n, err := r.Read(buf[len(buf):min(cap(buf), maxFrame+1)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
	return buf, nil
}

// parseFrame decodes a client frame into f: code is "" for a good one, else the error frame's code
// (codeBadJSON: not one JSON object; codeInvalidFrame: a field has the wrong type). It decides
// exactly as encoding/json does; scanFrame only takes the common case off its hands.
func parseFrame(data []byte, f *inFrame) (code string) {
	if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
		return codeBadJSON
	}
	if scanFrame(data, f) {
		return ""
	}
	*f = inFrame{}
	if err := json.Unmarshal(data, f); err != nil {
		if !json.Valid(data) {
			return codeBadJSON
		}
		return codeInvalidFrame
	}
	return ""
}

// scanFrame decodes the frames clients send in one pass with no reflection: one flat object whose
// keys are exactly inFrame's, with plain strings (no escapes, valid UTF-8) and a plain integer
// last_seq. On anything else (other keys or key spellings, escapes, null, nesting, bad syntax) it
// returns false, f partly filled, and encoding/json decides.
func scanFrame(data []byte, f *inFrame) bool {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return false
	}
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return skipSpace(data, i+1) == len(data)
	}
	for {
		key, next, ok := scanString(data, i)
		if !ok {
			return false
		}
		i = skipSpace(data, next)
		if i >= len(data) || data[i] != ':' {
			return false
		}
		i = skipSpace(data, i+1)
		if string(key) == "last_seq" {
			if f.LastSeq, i, ok = scanInt(data, i); !ok {
				return false
			}
		} else {
			dst := f.field(key)
			if dst == nil {
				return false
			}
			v, next, ok := scanString(data, i)
			if !ok {
				return false
			}
			*dst, i = string(v), next
		}
		i = skipSpace(data, i)
		if i >= len(data) {
			return false
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			return skipSpace(data, i+1) == len(data)
		default:
			return false
		}
	}
}

// field is the string field a key names exactly, nil for any other key.
func (f *inFrame) field(key []byte) *string {
	switch string(key) {
	case "type":
		return &f.Type
	case "session":
		return &f.Session
	case "lang":
		return &f.Lang
	case "id":
		return &f.ID
	case "text":
		return &f.Text
	case "value":
		return &f.Value
	}
	return nil
}

func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString reads a JSON string at data[i] that needs no unescaping: its raw bytes, and the index
// after its closing quote.
func scanString(data []byte, i int) (s []byte, next int, ok bool) {
	if i >= len(data) || data[i] != '"' {
		return nil, 0, false
	}
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			s = data[i+1 : j]
			return s, j + 1, utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, 0, false
		}
	}
	return nil, 0, false
}

// scanInt reads a JSON integer at data[i] of at most 18 digits (so it fits an int64) with no
// fraction or exponent.
func scanInt(data []byte, i int) (v int64, next int, ok bool) {
	j := i
	neg := j < len(data) && data[j] == '-'
	if neg {
		j++
	}
	start := j
	for ; j < len(data) && data[j] >= '0' && data[j] <= '9'; j++ {
		v = 10*v + int64(data[j]-'0')
	}
	switch n := j - start; {
	case n == 0 || n > 18 || (n > 1 && data[start] == '0'):
		return 0, 0, false
	case j < len(data) && (data[j] == '.' || data[j] == 'e' || data[j] == 'E'):
		return 0, 0, false
	}
	if neg {
		v = -v
	}
	return v, j, true
}
