package webchat

// An internal test: the frame encoding is unexported. It runs the encoding the connections use
// (Server.encodeStored), which the bytes of TestAppendedFramesAreEncodingJSONs pin down.

import (
	"testing"
	"time"

	"claimline/channels"
)

// BenchmarkMessageFrameEncode is what every outbound message costs a websocket connection before the
// write: the wire shape (time in the zone) and the JSON encoding of the "message" frame.
func BenchmarkMessageFrameEncode(b *testing.B) {
	s := &Server{loc: time.FixedZone("Asia/Taipei", 8*3600)}
	m := channels.Message{
		Conversation: "bench", Seq: 11, Direction: channels.DirOut, From: channels.FromBot,
		Text:    "謝謝，身分已確認。請問這次要申請哪一種理賠？",
		Buttons: []channels.Button{{Label: "醫療/住院", Value: "type:medical"}, {Label: "意外", Value: "type:accident"}, {Label: "重大疾病", Value: "type:critical_illness"}},
		ReplyTo: 10, TS: time.Now(),
	}
	b.ReportAllocs()
	for b.Loop() {
		if data := s.encodeStored(m); len(data) == 0 {
			b.Fatal("nothing encoded")
		}
	}
}
