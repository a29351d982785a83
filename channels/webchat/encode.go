package webchat

import (
	"strconv"
	"time"
	"unicode/utf8"

	"claimline/channels"
)

// Writing the frames every turn sends (message, ack) by appending, without reflection: the bytes are
// exactly what encoding/json gives for messageFrame and ackFrame (encode_test.go holds it to that),
// so clients see no difference. Rarer frames go through json.Marshal.

// appendMessageFrame appends the "message" frame of a stored message: json.Marshal of
// messageFrame{Type: "message", wireMessage: s.wire(m)}.
func (s *Server) appendMessageFrame(dst []byte, m channels.Message) []byte {
	dst = append(dst, `{"type":"message","seq":`...)
	dst = strconv.AppendInt(dst, m.Seq, 10)
	dst = append(dst, `,"from":`...)
	dst = appendJSONString(dst, m.From)
	dst = append(dst, `,"text":`...)
	dst = appendJSONString(dst, m.Text)
	if len(m.Buttons) > 0 {
		dst = append(dst, `,"buttons":[`...)
		for i, b := range m.Buttons {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"label":`...)
			dst = appendJSONString(dst, b.Label)
			dst = append(dst, `,"value":`...)
			dst = appendJSONString(dst, b.Value)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	if m.From == channels.FromAgent && m.Agent != "" {
		dst = append(dst, `,"agent":`...)
		dst = appendJSONString(dst, m.Agent)
	}
	// RFC 3339 is digits and -:+TZ: nothing to escape.
	dst = append(dst, `,"ts":"`...)
	dst = m.TS.In(s.loc).AppendFormat(dst, time.RFC3339)
	dst = append(dst, '"')
	if m.Direction == channels.DirIn && m.ClientID != "" {
		dst = append(dst, `,"id":`...)
		dst = appendJSONString(dst, m.ClientID)
	}
	if len(m.Attachments) > 0 {
		dst = append(dst, `,"attachments":[`...)
		for i, a := range m.Attachments {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = append(dst, `{"id":`...)
			dst = appendJSONString(dst, a.ID)
			dst = append(dst, `,"filename":`...)
			dst = appendJSONString(dst, a.Filename)
			dst = append(dst, `,"content_type":`...)
			dst = appendJSONString(dst, a.ContentType)
			dst = append(dst, `,"size":`...)
			dst = strconv.AppendInt(dst, a.Size, 10)
			dst = append(dst, '}')
		}
		dst = append(dst, ']')
	}
	return append(dst, '}')
}

// appendAckFrame appends json.Marshal of ackFrame{Type: "ack", ID: id, Seq: seq}.
func appendAckFrame(dst []byte, id string, seq int64) []byte {
	dst = append(dst, `{"type":"ack","id":`...)
	dst = appendJSONString(dst, id)
	dst = append(dst, `,"seq":`...)
	dst = strconv.AppendInt(dst, seq, 10)
	return append(dst, '}')
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s quoted as encoding/json quotes a string: \" \\ \b \f \n \r \t, other
// control characters and the HTML-sensitive < > & as \u00XX, invalid UTF-8 as \ufffd, U+2028 and
// U+2029 as \u2028 and \u2029; everything else as it is.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	done := 0 // s[:done] is appended
	valid := utf8.ValidString(s)
	for i := 0; i < len(s); {
		c := s[i]
		if c >= utf8.RuneSelf && valid {
			// In valid UTF-8 only U+2028 and U+2029 are E2 80 A8 and E2 80 A9; the rest goes as it is.
			if c == 0xe2 && i+2 < len(s) && s[i+1] == 0x80 && (s[i+2] == 0xa8 || s[i+2] == 0xa9) {
				dst = append(append(dst, s[done:i]...), '\\', 'u', '2', '0', '2', hexDigits[s[i+2]&0xf])
				i += 3
				done = i
				continue
			}
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				dst = append(append(dst, s[done:i]...), `\ufffd`...)
			case r == '\u2028' || r == '\u2029':
				dst = append(append(dst, s[done:i]...), '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			default:
				i += size
				continue
			}
			i += size
			done = i
			continue
		}
		if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
			i++
			continue
		}
		dst = append(dst, s[done:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		done = i
	}
	return append(append(dst, s[done:]...), '"')
}
