package dialog

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"claimline/casesvc"
	casesqlite "claimline/casesvc/sqlite"
	"claimline/dialog/dialogtest"
	"claimline/dialog/nlu"
)

// checkCodec holds encodeState and decodeState to encoding/json on st: the same bytes, the same
// state read back, and (fast) the hand-written reader accepted them without encoding/json's help.
func checkCodec(t *testing.T, st *state) (fast bool) {
	t.Helper()
	want, wantErr := json.Marshal(st)
	got, _, err := encodeState(st)
	if (err != nil) != (wantErr != nil) || string(got) != string(want) {
		t.Fatalf("encodeState = %s, %v\njson.Marshal = %s, %v", got, err, want, wantErr)
	}
	if err != nil {
		return false
	}
	var ref, dec state
	refErr := json.Unmarshal(want, &ref)
	if err := decodeState(want, &dec); (err != nil) != (refErr != nil) || refErr == nil && !reflect.DeepEqual(dec, ref) {
		t.Fatalf("decodeState(%s) = %+v, %v\njson.Unmarshal = %+v, %v", want, dec, err, ref, refErr)
	}
	r := stateReader{b: want}
	var st2 state
	return r.state(&st2) && r.i == len(want)
}

// scriptEngine is an engine on its own SQLite case store with the demo policies, and the scripts of
// testdata/conversations.
func scriptEngine(t *testing.T) (*Engine, []*dialogtest.Script, time.Time) {
	t.Helper()
	scripts, err := dialogtest.Load(filepath.Join("testdata", "conversations"))
	if err != nil {
		t.Fatal(err)
	}
	loc := time.FixedZone("Asia/Taipei", 8*3600)
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, loc)
	cases, err := casesqlite.New(filepath.Join(t.TempDir(), "cases.db"), casesqlite.Config{Location: loc, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cases.Close() })
	if _, err := casesqlite.SeedDemo(context.Background(), cases); err != nil {
		t.Fatal(err)
	}
	parser, err := nlu.New(nlu.Config{Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(Config{Cases: cases, NLU: BuiltinNLU(parser), Location: loc})
	if err != nil {
		t.Fatal(err)
	}
	return e, scripts, now
}

// scriptInputs are the inputs of a script: the start, then each step.
func scriptInputs(s *dialogtest.Script) []Input {
	ins := []Input{{Event: EventStart}}
	for _, st := range s.Steps {
		ins = append(ins, Input{Text: st.Text, Action: st.Action})
	}
	return ins
}

// Every state the conversation scripts go through is written and read as encoding/json does, and
// the hand-written paths handle them all themselves.
func TestStateCodecOnConversations(t *testing.T) {
	e, scripts, now := scriptEngine(t)
	n := 0
	for _, s := range scripts {
		var stateBytes []byte
		for _, in := range scriptInputs(s) {
			n++
			in.Conversation, in.Channel, in.Seq, in.Lang, in.At = "codec-"+s.Name, "rest", int64(n), s.Lang, now
			out, _, err := e.Turn(context.Background(), stateBytes, in)
			if err != nil {
				t.Fatal(err)
			}
			stateBytes = out
			var st state
			if err := json.Unmarshal(out, &st); err != nil {
				t.Fatalf("%s: state %s: %v", s.Name, out, err)
			}
			if !checkCodec(t, &st) {
				t.Errorf("%s: the fast path did not read %s", s.Name, out)
			}
		}
	}
	if n < 50 {
		t.Fatalf("only %d turns", n)
	}
}

// The state cache changes nothing: an engine that keeps the last states and one that reads every
// state from its bytes return the same bytes and replies at every turn of every script, also when a
// turn is replayed from the state before it; and what the cache keeps is what reading the bytes gives.
func TestStateCacheIsInvisible(t *testing.T) {
	cached, scripts, now := scriptEngine(t)
	reading, _, _ := scriptEngine(t)
	ctx := context.Background()
	n := 0
	for _, s := range scripts {
		var a, b, prev []byte
		for i, in := range scriptInputs(s) {
			n++
			in.Conversation, in.Channel, in.Seq, in.Lang, in.At = "cache-"+s.Name, "rest", int64(n), s.Lang, now.Add(time.Duration(n)*time.Second)
			if i%4 == 3 { // a replay: the turn before this one runs again first
				cached.Turn(ctx, prev, in)
				reading.states = stateCache{}
				reading.Turn(ctx, prev, in)
			}
			prev = a
			outA, repliesA, errA := cached.Turn(ctx, a, in)
			reading.states = stateCache{}
			outB, repliesB, errB := reading.Turn(ctx, b, in)
			if errA != nil || errB != nil {
				t.Fatal(errA, errB)
			}
			if string(outA) != string(outB) || !reflect.DeepEqual(repliesA, repliesB) {
				t.Fatalf("%s step %d: with the cache %s %q\nwithout %s %q", s.Name, i, outA, repliesA, outB, repliesB)
			}
			a, b = outA, outB
			kept := cached.states.m[in.Conversation]
			var read state
			if err := decodeState(outA, &read); err != nil || kept.st == nil || string(kept.b) != string(outA) ||
				!reflect.DeepEqual(*kept.st, read) {
				t.Fatalf("%s step %d: the cache keeps %+v for %s, reading it gives %+v (%v)", s.Name, i, kept.st, kept.b, read, err)
			}
		}
	}
}

// randomState builds a state with every field the engine uses, from strings that need no escaping
// and (unless plain) strings that do.
func randomState(seed uint64, s string, plain bool) *state {
	rng := rand.New(rand.NewPCG(seed, 7))
	pool := []string{"", s, "file_claim", "台大醫院", "HL20240017", "\ufffd", "é"}
	if !plain {
		pool = append(pool, "a<b>&c", "\u2028", "\xff", `"q"`, `back\slash`, "\t")
	}
	str := func() string { return pool[rng.IntN(len(pool))] }
	some := func() bool { return rng.IntN(2) == 0 }
	st := &state{V: rng.IntN(3) - 1, Lang: str(), LangFixed: some(), Verified: str(), Misses: rng.IntN(3),
		LastCase: str(), Emergency: str(), NoticeCase: str()}
	if some() {
		st.Last = time.Date(2026, 11, 24, 10, rng.IntN(60), 0, rng.IntN(1e9), time.FixedZone("", 8*3600))
	}
	for range rng.IntN(3) {
		f := &frame{Flow: str(), Step: str(), Asked: str()}
		if some() {
			f.Slots = map[string]string{}
			for range rng.IntN(4) {
				f.Slots[str()] = str()
			}
		}
		if some() {
			f.Tries = map[string]int{}
			for range rng.IntN(3) {
				f.Tries[str()] = rng.IntN(5) - 1
			}
		}
		st.Stack = append(st.Stack, f)
	}
	if some() {
		st.Who = &casesvc.Person{Name: str(), NationalID: str(), BirthDate: str(), Phone: str(), Email: str()}
	}
	if some() {
		st.IDFails = map[string]int{str(): rng.IntN(4)}
	}
	for range rng.IntN(2) {
		st.Locked = append(st.Locked, str())
	}
	for range rng.IntN(3) {
		st.Files = append(st.Files, pendingFile{Attachment: Attachment{ID: str(), Filename: str(), ContentType: str(),
			Size: rng.Int64N(1 << 40), SHA256: str(), BlobRef: str()}, Hint: str(), Kind: str()})
	}
	for range rng.IntN(2) {
		st.Resend = append(st.Resend, resend{Case: str(), Kind: str(), Reason: str()})
	}
	return st
}

func FuzzStateCodec(f *testing.F) {
	f.Add(uint64(1), "x")
	f.Add(uint64(2), "保單")
	f.Add(uint64(3), "\x00")
	f.Fuzz(func(t *testing.T, seed uint64, s string) {
		checkCodec(t, randomState(seed, s, false))
		// What the state cache keeps is what reading the bytes gives, escaped strings included.
		for _, clean := range []bool{true, false} {
			st := randomState(seed, s, clean)
			b, plain, err := encodeState(st)
			if err != nil || !plain || !canonical(st) {
				continue
			}
			var read state
			if err := decodeState(b, &read); err != nil || !reflect.DeepEqual(*st, read) {
				t.Fatalf("canonical %+v\nread back %+v (%v)", st, read, err)
			}
		}
	})
}

// Whatever bytes the hand-written reader accepts, encoding/json reads the same way.
func FuzzDecodeState(f *testing.F) {
	for i := range uint64(20) {
		if b, err := json.Marshal(randomState(i, "s", i%2 == 0)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte(`{"v":1,"lang":"en","misses":-0}`))
	f.Add([]byte(`{"v":1,"lang":"zh-TW","stack":[{"flow":"file_claim","slots":{"a":"1","b":"2"}}]} `))
	f.Fuzz(func(t *testing.T, b []byte) {
		r := stateReader{b: b}
		var fast state
		if !r.state(&fast) || r.i != len(b) {
			return
		}
		var ref state
		if err := json.Unmarshal(b, &ref); err != nil {
			t.Fatalf("the reader accepted %q; encoding/json: %v", b, err)
		}
		if !reflect.DeepEqual(fast, ref) {
			t.Fatalf("%q: read %+v\nencoding/json %+v", b, fast, ref)
		}
	})
}

// A story of several messages has newlines, and a customer may type quotes or <, > and &: such
// strings are escaped, but the rest of the state stays on the hand-written paths both ways, and the
// state is still one the cache may keep. Only invalid UTF-8 sends the whole state to encoding/json, whose
// writing of it (as U+FFFD) would not read back as the state.
func TestStateCodecEscapedStrings(t *testing.T) {
	for _, s := range []string{"I want to file a claim\nI had a car accident", `他說"撞到了"`, "a<b>&c", "\u2028", `back\slash`, "tab\there\x01"} {
		st := &state{V: 1, Lang: "zh-TW", Stack: []*frame{{Flow: "file_claim", Asked: "place",
			Slots: map[string]string{"_story": s, s: "key"}}}, Who: &casesvc.Person{Name: s}}
		if !checkCodec(t, st) {
			t.Errorf("%q: the hand-written reader gave up", s)
		}
		if _, plain, err := encodeState(st); err != nil || !plain {
			t.Errorf("%q: encodeState plain = %v, %v; want true", s, plain, err)
		}
	}
	st := &state{V: 1, Lang: "\xff"}
	if _, plain, err := encodeState(st); err != nil || plain {
		t.Errorf("invalid UTF-8: encodeState plain = %v, %v; want false", plain, err)
	}
	checkCodec(t, st)
}

// benchState is a state in the middle of a claim, as the load tool's customers leave it.
const benchState = `{"v":1,"lang":"zh-TW","lang_fixed":true,"last":"2026-11-24T10:00:00+08:00","stack":[{"flow":"file_claim","asked":"place","slots":{"_intro":"medical","_story":"","claim_type":"medical","covered":"medical,accident,critical_illness","description":"急性肺炎住院三天，醫療費用大約兩萬三千元","amount":"23000","name":"王小明","occurred_at":"2026-11-20T10:00:00+08:00|t","phone":"+886912345678","policy":"HL20240017"},"tries":{"occurred_at":1}}],"verified":"HL20240017","who":{"name":"王小明","national_id":"A123456789","birth_date":"1985-03-02","phone":"+886912345678"}}`

// BenchmarkStateCodec reads and writes benchState by hand and with encoding/json.
func BenchmarkStateCodec(b *testing.B) {
	var st state
	if err := json.Unmarshal([]byte(benchState), &st); err != nil {
		b.Fatal(err)
	}
	canon, _ := json.Marshal(&st)
	// The same state once the customer has told the story in two messages (a newline to escape).
	var story state
	json.Unmarshal(canon, &story)
	story.Stack[0].Slots["_story"] = "昨天騎機車被撞，腳骨折\n在台大醫院住了三天"
	storyBytes, _ := json.Marshal(&story)
	for _, bc := range []struct {
		name string
		run  func() error
	}{
		{"decode", func() error { var s state; return decodeState(canon, &s) }},
		{"decode/json", func() error { var s state; return json.Unmarshal(canon, &s) }},
		{"encode", func() error { _, _, err := encodeState(&st); return err }},
		{"encode/json", func() error { _, err := json.Marshal(&st); return err }},
		{"decode/story", func() error { var s state; return decodeState(storyBytes, &s) }},
		{"encode/story", func() error { _, _, err := encodeState(&story); return err }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if err := bc.run(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
