// Package metrics exposes the bot's Prometheus metrics: commands, state
// transitions, live conversations by state, errors by kind and the latency of
// acknowledging chat requests. Metrics implements wizard.Observer; the live
// conversations are counted from the store at scrape time, so every replica
// reports the same, shared truth.
package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/appreg-bot/appreg-bot/internal/appreg"
)

// Metrics holds the collectors and their registry.
type Metrics struct {
	Registry    *prometheus.Registry
	commands    *prometheus.CounterVec
	transitions *prometheus.CounterVec
	errors      *prometheus.CounterVec
	ack         *prometheus.HistogramVec
	reminders   *prometheus.CounterVec
	panics      prometheus.Counter
}

// CountByState counts live conversations by state.
type CountByState func(ctx context.Context) (map[appreg.State]int, error)

// New registers the bot's metrics, and the Go and process collectors, in a
// new registry. count may be nil.
func New(count CountByState) *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "appreg_commands_total", Help: "Slash commands received, by command.",
		}, []string{"command"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "appreg_conversation_transitions_total", Help: "Conversation state changes made by this replica.",
		}, []string{"from", "to"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "appreg_errors_total", Help: "Errors, by kind.",
		}, []string{"kind"}),
		ack: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "appreg_ack_seconds", Help: "Time to acknowledge a chat request, by endpoint.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"endpoint"}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "appreg_panics_total", Help: "Panics recovered in the bot's goroutines and handlers.",
		}),
		reminders: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "appreg_reminders_total", Help: "Secret-expiry reminders: due (claimed), sent (messages posted), failed (post attempts refused).",
		}, []string{"event"}),
	}
	m.Registry.MustRegister(m.commands, m.transitions, m.errors, m.ack, m.reminders, m.panics,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if count != nil {
		m.Registry.MustRegister(&stateCollector{count: count, desc: prometheus.NewDesc(
			"appreg_conversations", "Live conversations, by state.", []string{"state"}, nil)})
	}
	return m
}

// Command implements wizard.Observer.
func (m *Metrics) Command(name string) { m.commands.WithLabelValues(name).Inc() }

// Transition implements wizard.Observer.
func (m *Metrics) Transition(from, to appreg.State) {
	m.transitions.WithLabelValues(string(from), string(to)).Inc()
}

// Error implements wizard.Observer.
func (m *Metrics) Error(kind appreg.Kind) { m.errors.WithLabelValues(string(kind)).Inc() }

// Panic counts a recovered panic. It implements wizard.Observer and
// reminders.Observer.
func (m *Metrics) Panic() { m.panics.Inc() }

// Ack records how long acknowledging a request took.
func (m *Metrics) Ack(endpoint string, d time.Duration) {
	m.ack.WithLabelValues(endpoint).Observe(d.Seconds())
}

// Due implements reminders.Observer.
func (m *Metrics) Due(n int) { m.reminders.WithLabelValues("due").Add(float64(n)) }

// Sent implements reminders.Observer.
func (m *Metrics) Sent() { m.reminders.WithLabelValues("sent").Inc() }

// Failed implements reminders.Observer.
func (m *Metrics) Failed() { m.reminders.WithLabelValues("failed").Inc() }

type stateCollector struct {
	count CountByState
	desc  *prometheus.Desc
}

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	counts, err := c.count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	for _, s := range appreg.States() {
		if !s.Terminal() {
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), string(s))
		}
	}
}
