package channels

import (
	"strings"
	"testing"
	"time"
)

func TestConversationIDs(t *testing.T) {
	seen := map[string]bool{}
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	prev := ""
	for i := range 2000 {
		id := newConversationID(at.Add(time.Duration(i) * time.Millisecond))
		if len(id) != 26 || strings.Trim(id, "abcdefghijklmnopqrstuvwxyz234567") != "" {
			t.Fatalf("id %q: want 26 lower-case base32 characters", id)
		}
		if seen[id] {
			t.Fatalf("id %q twice", id)
		}
		seen[id] = true
		if id <= prev {
			t.Fatalf("ids of later conversations must sort after: %q then %q", prev, id)
		}
		prev = id
	}
	// Within one millisecond the random part differs: 80 bits, so ids stay unguessable.
	a, b := newConversationID(at), newConversationID(at)
	if a == b || a[:10] != b[:10] {
		t.Fatalf("same millisecond: %q %q", a, b)
	}
	diff := 0
	for i := 10; i < 26; i++ {
		if a[i] != b[i] {
			diff++
		}
	}
	if diff < 8 {
		t.Fatalf("random parts too alike: %q %q", a, b)
	}
}
