package sqlitestore_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"claimline/channels"
	"claimline/channels/sqlitestore"
)

// BenchmarkAppendAndCommit is the store's share of one customer message: AppendInbound (insert with
// the next seq, deduped by the unique index; last_seq bump) and CommitTurn of one bot reply with
// buttons (handled mark, seq allocation with the state, insert), one after the other from one
// goroutine, so each is its own write transaction (nothing to group) on a real SQLite file in WAL mode.
func BenchmarkAppendAndCommit(b *testing.B) {
	s, err := sqlitestore.New(filepath.Join(b.TempDir(), "channels.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	conv, _, err := s.OpenConversation(ctx, channels.ChannelWebchat, "bench-contact", "zh-TW")
	if err != nil {
		b.Fatal(err)
	}
	state := make([]byte, 600) // about the size of a mid-form dialog state
	for i := range state {
		state[i] = 'x'
	}
	reply := channels.Message{From: channels.FromBot, Text: "謝謝，身分已確認。請問這次要申請哪一種理賠？",
		Buttons: []channels.Button{{Label: "醫療/住院", Value: "type:medical"}, {Label: "意外", Value: "type:accident"}}}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		msg, _, err := s.AppendInbound(ctx, conv.ID, channels.Inbound{
			Channel: channels.ChannelWebchat, Contact: "bench-contact", ClientID: fmt.Sprintf("m%d", i),
			Text: "74/3/2", Lang: "zh-TW", ReceivedAt: time.Now(),
		})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := s.CommitTurn(ctx, channels.Turn{Conversation: conv.ID, InboundSeq: msg.Seq, State: state,
			Replies: []channels.Message{reply}, At: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendInbound is AppendInbound alone.
func BenchmarkAppendInbound(b *testing.B) {
	s, err := sqlitestore.New(filepath.Join(b.TempDir(), "channels.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	conv, _, err := s.OpenConversation(ctx, channels.ChannelWebchat, "bench-contact", "zh-TW")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if _, _, err := s.AppendInbound(ctx, conv.ID, channels.Inbound{
			Channel: channels.ChannelWebchat, Contact: "bench-contact", ClientID: fmt.Sprintf("m%d", i),
			Text: "74/3/2", ReceivedAt: time.Now(),
		}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppendAndCommitParallel is BenchmarkAppendAndCommit from many conversations at once
// (b.RunParallel, 16 goroutines per CPU, one conversation each), with group commit (batch=64) and
// without (batch=1, one transaction per write).
func BenchmarkAppendAndCommitParallel(b *testing.B) {
	for _, batch := range []int{64, 1} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			defer sqlitestore.SetMaxBatch(batch)()
			s, err := sqlitestore.New(filepath.Join(b.TempDir(), "channels.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			state := make([]byte, 600)
			reply := channels.Message{From: channels.FromBot, Text: "謝謝，身分已確認。請問這次要申請哪一種理賠？",
				Buttons: []channels.Button{{Label: "醫療/住院", Value: "type:medical"}, {Label: "意外", Value: "type:accident"}}}
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				contact := fmt.Sprint("bench-", next.Add(1))
				conv, _, err := s.OpenConversation(ctx, channels.ChannelWebchat, contact, "zh-TW")
				if err != nil {
					b.Error(err)
					return
				}
				i := 0
				for pb.Next() {
					i++
					msg, _, err := s.AppendInbound(ctx, conv.ID, channels.Inbound{
						Channel: channels.ChannelWebchat, Contact: contact, ClientID: fmt.Sprintf("m%d", i),
						Text: "74/3/2", Lang: "zh-TW", ReceivedAt: time.Now(),
					})
					if err != nil {
						b.Error(err)
						return
					}
					if _, err := s.CommitTurn(ctx, channels.Turn{Conversation: conv.ID, InboundSeq: msg.Seq, State: state,
						Replies: []channels.Message{reply}, At: time.Now()}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			if batches, ops := s.Batches(); batches > 0 {
				b.ReportMetric(float64(ops)/float64(batches), "ops/tx")
			}
		})
	}
}
