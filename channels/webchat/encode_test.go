package webchat

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"claimline/channels"
	"claimline/dialog"
)

var encodeTexts = []string{
	"", "hello", "謝謝，身分已確認。請問這次要申請哪一種理賠？", `quote " and \ backslash`, "<b>a & b</b>",
	"line\nbreak\r\ttab\b\f", "\x00\x01\x1f\x7f", "bad \xff\xfe utf-8 \xe4\xb8", "sep\u2028par\u2029", "😀 emoji",
	"\u00e9\u0301", strings.Repeat("長", 300),
}

func encodeSamples() []channels.Message {
	ts := time.Date(2026, 11, 25, 8, 30, 15, 123456789, time.UTC)
	var out []channels.Message
	for i, text := range encodeTexts {
		out = append(out,
			channels.Message{Conversation: "c", Seq: int64(i + 1), Direction: channels.DirOut, From: channels.FromBot, Text: text, TS: ts},
			channels.Message{Seq: 7, Direction: channels.DirIn, From: channels.FromCustomer, Text: text, ClientID: text, TS: ts,
				Attachments: []dialog.Attachment{{ID: "d1", Filename: text + ".pdf", ContentType: "application/pdf", Size: 1234}, {ID: text}}},
			channels.Message{Seq: 1 << 40, Direction: channels.DirOut, From: channels.FromAgent, Agent: text, Text: "x", TS: ts,
				Buttons: []channels.Button{{Label: text, Value: "v:" + text}, {Label: "二", Value: ""}}},
			channels.Message{Seq: 3, Direction: channels.DirOut, From: channels.FromBot, Agent: "not shown", ClientID: "not shown", TS: ts,
				Buttons: []channels.Button{}, Attachments: []dialog.Attachment{}},
		)
	}
	return out
}

// The appended frames are byte for byte what encoding/json gives for the frame types.
func TestAppendedFramesAreEncodingJSONs(t *testing.T) {
	s := &Server{loc: time.FixedZone("Asia/Taipei", 8*3600)}
	for _, m := range encodeSamples() {
		want, err := json.Marshal(messageFrame{Type: "message", wireMessage: s.wire(m)})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.appendMessageFrame(nil, m); !bytes.Equal(got, want) {
			t.Fatalf("message frame\n got %s\nwant %s", got, want)
		}
	}
	for _, id := range encodeTexts {
		want, _ := json.Marshal(ackFrame{Type: "ack", ID: id, Seq: 42})
		if got := appendAckFrame(nil, id, 42); !bytes.Equal(got, want) {
			t.Fatalf("ack frame\n got %s\nwant %s", got, want)
		}
	}
	// A field added to what a message frame carries must be added to appendMessageFrame too.
	for typ, n := range map[reflect.Type]int{
		reflect.TypeOf(wireMessage{}): 8, reflect.TypeOf(wireAttachment{}): 4, reflect.TypeOf(channels.Button{}): 2,
		reflect.TypeOf(ackFrame{}): 3,
	} {
		if typ.NumField() != n {
			t.Fatalf("%s has %d fields, appendMessageFrame/appendAckFrame know %d", typ, typ.NumField(), n)
		}
	}
}

func FuzzAppendJSONString(f *testing.F) {
	for _, s := range encodeTexts {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, _ := json.Marshal(s)
		if got := appendJSONString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s", s, got, want)
		}
	})
}
