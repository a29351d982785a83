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
	"claimline/internal/proccpu"
)

// BenchmarkAppendAndCommit is the store's share of one customer message: AppendInbound (insert with
// the next seq, deduped by the unique index; last_seq bump) and CommitTurn of one bot reply with
// buttons (handled mark, seq allocation with the state, insert), one after the other from one
// goroutine, so each is its own write transaction (nothing to group) on a real SQLite file in WAL mode.
func BenchmarkAppendAndCommit(b *testing.B) {
	s := openBenchStore(b)
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
	s := openBenchStore(b)
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
			s := openBenchStore(b)
			ctx := context.Background()
			state := make([]byte, 600)
			reply := channels.Message{From: channels.FromBot, Text: "謝謝，身分已確認。請問這次要申請哪一種理賠？",
				Buttons: []channels.Button{{Label: "醫療/住院", Value: "type:medical"}, {Label: "意外", Value: "type:accident"}}}
			var next atomic.Int64
			b.ReportAllocs()
			b.SetParallelism(16)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				conv, contact := benchConversation(b, s, &next)
				if conv == nil {
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

// BenchmarkCommitInboundParallel is the store's whole share of a web chat turn as the router makes
// it (Router.Converse): one CommitInbound per customer message, storing the message, the new state
// and two bot replies in one write op, from 50 conversations at once (as the claim bench's 50
// customers), so the writer groups them. ns/op is the writer's throughput per turn.
func BenchmarkCommitInboundParallel(b *testing.B) {
	s := openBenchStore(b)
	ctx := context.Background()
	state := make([]byte, 600)
	replies := []channels.Message{
		{From: channels.FromBot, Text: "謝謝，身分已確認。"},
		{From: channels.FromBot, Text: "請問這次要申請哪一種理賠？",
			Buttons: []channels.Button{{Label: "醫療/住院", Value: "type:medical"}, {Label: "意外", Value: "type:accident"}}},
	}
	const conversations = 50
	var next atomic.Int64
	b.ReportAllocs()
	b.SetParallelism((conversations + 1) / 2) // with -cpu 2: 50 goroutines
	cpu0, cpuOK := proccpu.Used()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		conv, contact := benchConversation(b, s, &next)
		if conv == nil {
			return
		}
		last := conv.LastSeq
		i := 0
		for pb.Next() {
			i++
			msg, stored, _, err := s.CommitInbound(ctx, conv.ID, channels.Inbound{
				Channel: channels.ChannelWebchat, Contact: contact, ClientID: fmt.Sprintf("m%d", i),
				Text: "74/3/2", Lang: "zh-TW", ReceivedAt: time.Now(),
			}, last, channels.Turn{Conversation: conv.ID, State: state, Replies: replies, At: time.Now()})
			if err != nil {
				b.Error(err)
				return
			}
			last = msg.Seq + int64(len(stored))
		}
	})
	b.StopTimer()
	// The process's CPU time per turn is steadier on a shared machine than the wall time.
	if cpu1, ok := proccpu.Used(); ok && cpuOK {
		b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/op")
	}
	if batches, ops := s.Batches(); batches > 0 {
		b.ReportMetric(float64(ops)/float64(batches), "ops/tx")
	}
}

// openBenchStore opens a store on a new file, closed when the benchmark ends.
func openBenchStore(b *testing.B) *sqlitestore.Store {
	s, err := sqlitestore.New(filepath.Join(b.TempDir(), "channels.db"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { s.Close() })
	return s
}

// benchConversation opens the conversation of one RunParallel goroutine (contact bench-N); nil after
// reporting the error.
func benchConversation(b *testing.B, s *sqlitestore.Store, next *atomic.Int64) (*channels.Conversation, string) {
	contact := fmt.Sprint("bench-", next.Add(1))
	conv, _, err := s.OpenConversation(context.Background(), channels.ChannelWebchat, contact, "zh-TW")
	if err != nil {
		b.Error(err)
		return nil, ""
	}
	return conv, contact
}
