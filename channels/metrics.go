package channels

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the gateway's Prometheus metrics. A nil *Metrics is valid and records nothing, so tests
// and tools need not build one.
type Metrics struct {
	messagesIn  *prometheus.CounterVec
	messagesOut *prometheus.CounterVec
	turns       prometheus.Counter
	turnSeconds prometheus.Histogram
	dialogErrs  prometheus.Counter
	wsConns     prometheus.Gauge
	deliveries  *prometheus.CounterVec
	outbox      prometheus.Gauge
	notices     prometheus.Counter
	writes      *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg (prometheus.DefaultRegisterer in main,
// a fresh prometheus.NewRegistry() in tests). A nil reg registers nothing.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		messagesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claimline_messages_in_total", Help: "Inbound customer messages stored (repeats not counted).",
		}, []string{"channel"}),
		messagesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claimline_messages_out_total", Help: "Outbound messages stored.",
		}, []string{"channel"}),
		turns: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claimline_turns_total", Help: "Dialog turns run.",
		}),
		turnSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "claimline_turn_seconds", Help: "Time of one dialog turn including its commit.",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}),
		dialogErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claimline_dialog_errors_total", Help: "Dialog turns that failed and were answered with an apology.",
		}),
		wsConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "claimline_websocket_connections", Help: "Open web chat websocket connections.",
		}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claimline_deliveries_total", Help: "Outbox deliveries of push channels by result: sent, retried, failed.",
		}, []string{"channel", "result"}),
		outbox: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "claimline_outbox_depth", Help: "Outbound messages of push channels waiting to be sent.",
		}),
		notices: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "claimline_notices_relayed_total", Help: "Case notices stored as events in their conversation.",
		}),
		writes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "claimline_converse_writes_total",
			Help: "Web chat and REST messages by how they were stored: one (with their turn, one write) or first (alone, before the turn: held, an effect, a message stored meanwhile, or a store without one-write turns).",
		}, []string{"how"}),
	}
	if reg != nil {
		reg.MustRegister(m.messagesIn, m.messagesOut, m.turns, m.turnSeconds, m.dialogErrs, m.wsConns,
			m.deliveries, m.outbox, m.notices, m.writes)
	}
	return m
}

func (m *Metrics) messageIn(channel string) {
	if m != nil {
		m.messagesIn.WithLabelValues(channel).Inc()
	}
}

// converseWrite counts how a Converse message was stored: "one" or "first".
func (m *Metrics) converseWrite(how string) {
	if m != nil {
		m.writes.WithLabelValues(how).Inc()
	}
}

func (m *Metrics) messageOut(channel string, n int) {
	if m != nil && n > 0 {
		m.messagesOut.WithLabelValues(channel).Add(float64(n))
	}
}

func (m *Metrics) turn(d time.Duration) {
	if m != nil {
		m.turns.Inc()
		m.turnSeconds.Observe(d.Seconds())
	}
}

func (m *Metrics) dialogError() {
	if m != nil {
		m.dialogErrs.Inc()
	}
}

// WebsocketOpened and WebsocketClosed track open web chat connections.
func (m *Metrics) WebsocketOpened() {
	if m != nil {
		m.wsConns.Inc()
	}
}

// WebsocketClosed: see WebsocketOpened.
func (m *Metrics) WebsocketClosed() {
	if m != nil {
		m.wsConns.Dec()
	}
}

func (m *Metrics) delivery(channel, result string) {
	if m != nil {
		m.deliveries.WithLabelValues(channel, result).Inc()
	}
}

func (m *Metrics) outboxDepth(n int) {
	if m != nil {
		m.outbox.Set(float64(n))
	}
}

func (m *Metrics) noticeRelayed() {
	if m != nil {
		m.notices.Inc()
	}
}
