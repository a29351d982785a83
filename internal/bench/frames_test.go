package bench

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

var serverFrames = []string{
	`{"type":"welcome","session":"abc-_","conversation":"c1","seq":1}`,
	`{"type":"ack","id":"m1","seq":3}`,
	`{"type":"message","seq":2,"from":"bot","text":"您好！請問需要什麼協助？","buttons":[{"label":"申請理賠","value":"file_claim"},{"label":"查詢","value":"status"}],"ts":"2026-11-25T16:30:15+08:00"}`,
	`{"type":"message","seq":4,"from":"customer","text":"a \"q\" \\ \/ \b\f\n\r\t \u00e9 \u003c\u0026\u003e \u2028","ts":"x","id":"m1","attachments":[{"id":"d"}]}`,
	`{"type":"message","seq":5,"from":"agent","text":"x","agent":"王小明","ts":"t","buttons":[]}`,
	`{"type":"handoff","seq":6,"state":"queued","position":2}`, `{"type":"typing","from":"agent"}`,
	`{"type":"error","code":"invalid_frame","message":"text is required.","id":"m9"}`, `{"type":"pong"}`,
	`{}`, ` {"type" : "ack" , "seq" : -0 } `, `{"Type":"ack"}`, `{"type":"ack","SEQ":3}`, `{"type":null}`,
	`{"type":"x","seq":1.5}`, `{"type":"x","seq":"1"}`, `{"type":"x","ok":true,"no":false,"n":null}`,
	`{"type":"x","buttons":[{"label":"a","LABEL":"b"}]}`, `{"type":"x","buttons":null}`, `{"text":"\ud83d\ude00"}`,
	`{"text":"\ud83d"}`, "{\"text\":\"\xff\"}", `{"type":"x"`, `{"type":"x",}`, `[]`, `{"a":{"b":1}}`, `{"id":"a","id":"b"}`,
	`{"buttons":[{"label":"a"}],"buttons":[]}`, `{"text":"\u00"}`, `{"seq":12345678901234567890}`,
}

func TestDecodeFrameIsEncodingJSONs(t *testing.T) {
	for _, s := range serverFrames {
		checkDecode(t, []byte(s))
	}
}

func FuzzDecodeFrame(f *testing.F) {
	for _, s := range serverFrames {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkDecode(t, data) })
}

func checkDecode(t *testing.T, data []byte) {
	t.Helper()
	var want wsFrame
	wantErr := json.Unmarshal(data, &want)
	var got wsFrame
	if scanWsFrame(data, &got) {
		if wantErr != nil || !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: fast path %+v, encoding/json %+v (%v)", data, got, want, wantErr)
		}
	}
	var all wsFrame
	if err := decodeFrame(data, &all); (err == nil) != (wantErr == nil) || (err == nil && !reflect.DeepEqual(all, want)) {
		t.Fatalf("%q: decodeFrame %+v (%v), encoding/json %+v (%v)", data, all, err, want, wantErr)
	}
}

// The frames the client writes are json.Marshal's of the same wsFrame.
func TestSentFramesAreEncodingJSONs(t *testing.T) {
	texts := append(scriptTexts(), "", `a"b\c`, "<&>", "\u2028", "bad \xff", strings.Repeat("長", 100))
	for _, text := range texts {
		for _, f := range []wsFrame{{Type: "hello", Lang: "zh-TW"}, {Type: "message", ID: "m12", Text: text}, {Type: "action", ID: "m3", Value: text}} {
			want, _ := json.Marshal(f)
			var c frameConn
			c.out = nil
			got := c.encode(f.Type, f.ID, f.Text, f.Value, f.Lang)
			if string(got) != string(want) {
				t.Fatalf("got %s, want %s", got, want)
			}
		}
	}
	if id := messageID(make([]byte, 4), 1234); id != "m1234" {
		t.Fatalf("id %q", id)
	}
}
