package handoff

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"claimline/channels"
)

// The conversation notes are written in the background (noteConversation), yet every read sees
// the notes queued before it, each conversation is counted once, and Close writes the rest.
func TestConversationNotesQueued(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "channels.db")
	m := NewMetrics(nil)
	s, err := New(Config{Path: path, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	conv := func(i int) *channels.Conversation {
		return &channels.Conversation{ID: fmt.Sprintf("c%04d", i), Channel: channels.ChannelSMS}
	}
	in := func(i int) channels.Message {
		return channels.Message{Direction: channels.DirIn, TS: at.Add(time.Duration(i) * time.Second)}
	}
	const n = noteBatch + 10 // one full batch and a bit
	for i := range n {
		if _, _, err := s.Intercept(ctx, conv(i), in(i)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Intercept(ctx, conv(i), in(i+1000)); err != nil { // a later message: not noted again
			t.Fatal(err)
		}
	}
	// Read at once, before noteDelay passed: the read writes the queue first.
	r, err := s.ConversationRecord(ctx, conv(n-1).ID)
	if err != nil {
		t.Fatal(err)
	}
	if !r.FirstAt.Equal(at.Add((n-1)*time.Second)) || r.Channel != channels.ChannelSMS {
		t.Fatalf("record = %+v", r)
	}
	f, err := s.BotFigures(ctx, at)
	if err != nil || f.Conversations != n {
		t.Fatalf("figures = %+v, %v; want %d conversations", f, err, n)
	}

	// Queued, not read, then closed: Close writes them.
	if _, _, err := s.Intercept(ctx, conv(n), in(n)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = New(Config{Path: path, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.ConversationRecord(ctx, conv(n).ID); err != nil {
		t.Fatalf("the note queued before Close: %v", err)
	}
	if f, err := s.BotFigures(ctx, at); err != nil || f.Conversations != n+1 {
		t.Fatalf("after reopening: %+v, %v", f, err)
	}
	// A conversation the reopened service sees again (its seen cache is new) is not counted twice.
	if _, _, err := s.Intercept(ctx, conv(0), in(5000)); err != nil {
		t.Fatal(err)
	}
	if f, err := s.BotFigures(ctx, at); err != nil || f.Conversations != n+1 {
		t.Fatalf("after a repeat: %+v, %v", f, err)
	}
	if got := counterValue(t, m); got != n+1 {
		t.Fatalf("claimline_conversations_total = %v, want %d", got, n+1)
	}
}

func counterValue(t *testing.T, m *Metrics) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.conversations.Write(&d); err != nil {
		t.Fatal(err)
	}
	return d.GetCounter().GetValue()
}
