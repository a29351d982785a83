package dialog_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	casesqlite "claimline/casesvc/sqlite"
	"claimline/dialog"
	"claimline/dialog/dialogtest"
	"claimline/dialog/nlu"
)

// TestConversationScripts plays every script of testdata/conversations through the engine, against a
// real SQLite case store with the demo policies. cmd/claimline plays the same scripts over the REST
// channel of a real process.
func TestConversationScripts(t *testing.T) {
	scripts, err := dialogtest.Load(filepath.Join("testdata", "conversations"))
	if err != nil {
		t.Fatal(err)
	}
	loc, _ := time.LoadLocation("Asia/Taipei")
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, loc)
	for _, s := range scripts {
		t.Run(s.Name, func(t *testing.T) {
			ctx := context.Background()
			cases, err := casesqlite.New(filepath.Join(t.TempDir(), "cases.db"), casesqlite.Config{Location: loc, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			defer cases.Close()
			if _, err := casesqlite.SeedDemo(ctx, cases); err != nil {
				t.Fatal(err)
			}
			understanding, err := nlu.New(nlu.Config{Location: loc})
			if err != nil {
				t.Fatal(err)
			}
			engine, err := dialog.New(dialog.Config{Cases: cases, NLU: dialog.BuiltinNLU(understanding), Location: loc})
			if err != nil {
				t.Fatal(err)
			}
			var state []byte
			var seq int64
			turn := func(in dialog.Input) []dialogtest.Reply {
				seq++
				in.Conversation, in.Channel, in.Contact, in.Seq, in.Lang = "script-"+s.Name, "rest", s.Name, seq, s.Lang
				in.At = now.Add(time.Duration(seq) * time.Second)
				newState, replies, err := engine.Turn(ctx, state, in)
				if err != nil {
					t.Fatalf("turn %d: %v", seq, err)
				}
				state = newState
				out := make([]dialogtest.Reply, len(replies))
				for i, r := range replies {
					out[i].Text = r.Text
					for _, b := range r.Buttons {
						out[i].Buttons = append(out[i].Buttons, b.Value)
					}
				}
				return out
			}
			turn(dialog.Input{Event: dialog.EventStart})
			s.Run(t, func(text, action string) []dialogtest.Reply {
				return turn(dialog.Input{Text: text, Action: action})
			})
			if t.Failed() {
				fmt.Printf("state: %s\n", state)
			}
		})
	}
}
