package main

import (
	"path/filepath"
	"testing"

	"claimline/dialog/dialogtest"
)

// TestConversationScriptsOverREST plays the dialog's conversation scripts (the ones its engine tests
// play) over the REST channel of one real claimline process, one sender per script.
func TestConversationScriptsOverREST(t *testing.T) {
	scripts, err := dialogtest.Load(filepath.Join("..", "..", "dialog", "testdata", "conversations"))
	if err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, t.TempDir())
	for _, s := range scripts {
		t.Run(s.Name, func(t *testing.T) {
			sender := "script-" + s.Name
			first := true
			s.Run(t, func(text, action string) []dialogtest.Reply {
				body := map[string]any{"sender": sender}
				if s.Lang != "" {
					body["lang"] = s.Lang
				}
				if action != "" {
					body["action"] = action
				} else {
					body["text"] = text
				}
				var resp struct {
					Replies []restReply `json:"replies"`
				}
				if code := doJSON(t, "POST", p.URL+"/api/v1/rest/messages", "", body, &resp); code != 200 {
					t.Fatalf("POST %v: %d", body, code)
				}
				replies := resp.Replies
				if first && len(replies) > 0 {
					// A new sender's greeting comes first; the script speaks to what follows it.
					replies, first = replies[1:], false
				}
				out := make([]dialogtest.Reply, len(replies))
				for i, r := range replies {
					out[i].Text = r.Text
					for _, b := range r.Buttons {
						out[i].Buttons = append(out[i].Buttons, b.Value)
					}
				}
				return out
			})
		})
	}
}
