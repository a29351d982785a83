package handoff

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the handoff's and the agents' Prometheus metrics. A nil *Metrics records nothing.
// Labels are bounded: agent is a staff account name (a configured list), reason one of Reasons.
type Metrics struct {
	conversations prometheus.Counter
	handoffs      *prometheus.CounterVec
	chats         *prometheus.CounterVec
	firstResponse *prometheus.HistogramVec
	handling      *prometheus.HistogramVec
	ratings       *prometheus.HistogramVec
}

// Reasons are the handoff reasons counted by name; any other reason is counted as "other".
var Reasons = []string{"customer_asked", "repeated_misunderstanding", "field_retries", "identity_failed", "complaint", "angry"}

// MisunderstandingReasons are the reasons that count as the bot not understanding the customer.
var MisunderstandingReasons = []string{"repeated_misunderstanding", "field_retries"}

func reasonLabel(r string) string {
	for _, k := range Reasons {
		if r == k {
			return r
		}
	}
	return "other"
}

// NewMetrics creates the metrics and registers them with reg (nil registers nothing).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	secs := []float64{5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600}
	m := &Metrics{
		conversations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claimline_conversations_total", Help: "Conversations in which the customer wrote for the first time.",
		}),
		handoffs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claimline_handoffs_total", Help: "Conversations handed to a person, by reason.",
		}, []string{"reason"}),
		chats: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claimline_agent_chats_total", Help: "Conversations given to an agent (accepted, routed or transferred in).",
		}, []string{"agent"}),
		firstResponse: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "claimline_agent_first_response_seconds", Help: "From a conversation's assignment to the agent's first message.",
			Buckets: secs,
		}, []string{"agent"}),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "claimline_agent_handling_seconds", Help: "From a conversation's assignment to the agent's end, transfer or requeue.",
			Buckets: []float64{60, 180, 300, 600, 900, 1200, 1800, 2700, 3600, 7200},
		}, []string{"agent"}),
		ratings: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "claimline_satisfaction_ratings", Help: "Customers' satisfaction ratings (1 to 5) of the agent who ended the handoff.",
			Buckets: []float64{1, 2, 3, 4, 5},
		}, []string{"agent"}),
	}
	if reg != nil {
		reg.MustRegister(m.conversations, m.handoffs, m.chats, m.firstResponse, m.handling, m.ratings)
	}
	for _, r := range append(Reasons, "other") {
		m.handoffs.WithLabelValues(r) // every reason shows, at 0
	}
	return m
}

func (m *Metrics) conversation() {
	if m != nil {
		m.conversations.Inc()
	}
}

func (m *Metrics) handoff(reason string) {
	if m != nil {
		m.handoffs.WithLabelValues(reasonLabel(reason)).Inc()
	}
}

func (m *Metrics) chat(agent string) {
	if m != nil {
		m.chats.WithLabelValues(agent).Inc()
	}
}

func (m *Metrics) firstReply(agent string, d time.Duration) {
	if m != nil && d >= 0 {
		m.firstResponse.WithLabelValues(agent).Observe(d.Seconds())
	}
}

func (m *Metrics) handled(agent string, d time.Duration) {
	if m != nil && d >= 0 {
		m.handling.WithLabelValues(agent).Observe(d.Seconds())
	}
}

func (m *Metrics) rating(agent string, score int) {
	if m != nil {
		m.ratings.WithLabelValues(agent).Observe(float64(score))
	}
}

// BotCollector exports the bot's figures over the last window (default 24h) as gauges, computed
// from the durable data at each scrape: claimline_bot_containment_rate, claimline_bot_handoff_rate,
// claimline_bot_misunderstanding_rate and claimline_bot_conversations (see BotFigures).
func (s *Service) BotCollector(window time.Duration) prometheus.Collector {
	if window <= 0 {
		window = 24 * time.Hour
	}
	return &botCollector{s: s, window: window,
		containment: prometheus.NewDesc("claimline_bot_containment_rate",
			"Share of conversations (customer wrote) in the window that were never handed to a person.", nil, nil),
		handoff: prometheus.NewDesc("claimline_bot_handoff_rate",
			"Share of conversations in the window handed to a person at least once.", nil, nil),
		misunderstanding: prometheus.NewDesc("claimline_bot_misunderstanding_rate",
			"Share of conversations in the window handed off because the bot did not understand (repeated_misunderstanding, field_retries).", nil, nil),
		conversations: prometheus.NewDesc("claimline_bot_conversations",
			"Conversations in which the customer wrote, in the window.", nil, nil),
	}
}

type botCollector struct {
	s                                                     *Service
	window                                                time.Duration
	containment, handoff, misunderstanding, conversations *prometheus.Desc
}

func (c *botCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.containment
	ch <- c.handoff
	ch <- c.misunderstanding
	ch <- c.conversations
}

func (c *botCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	f, err := c.s.BotFigures(ctx, c.s.now().Add(-c.window))
	if err != nil {
		c.s.log.Warn("handoff: bot figures for metrics", "err", err)
		return
	}
	ch <- prometheus.MustNewConstMetric(c.containment, prometheus.GaugeValue, f.ContainmentRate)
	ch <- prometheus.MustNewConstMetric(c.handoff, prometheus.GaugeValue, f.HandoffRate)
	ch <- prometheus.MustNewConstMetric(c.misunderstanding, prometheus.GaugeValue, f.MisunderstandingRate)
	ch <- prometheus.MustNewConstMetric(c.conversations, prometheus.GaugeValue, float64(f.Conversations))
}
