package obs

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Registry holds every Cocoon metric plus the Go runtime and process
// collectors. /metrics serves it. Each process exports the metrics it
// records; the others stay empty (vectors) or zero.
var Registry = prometheus.NewRegistry()

// Every metric of the system. The "recorded by" line names the process
// whose /metrics carries it; docs/operations.md and the Grafana dashboard
// (deploy/grafana/cocoon.json) use these names.
var (
	// QueueDepth is cocoon_queue_depth{model}: jobs queued per model (not
	// leased yet), read from Redis at scrape time through the callback the
	// broker sets. Recorded by: broker.
	QueueDepth = &CallbackGauge{desc: prometheus.NewDesc("cocoon_queue_depth",
		"Jobs queued per model, waiting for a worker.", []string{"model"}, nil)}

	// DispatchLatency is cocoon_dispatch_latency_seconds{model}: from a
	// job's submit to its first lease by a worker (retries are not
	// counted again). Recorded by: broker.
	DispatchLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cocoon_dispatch_latency_seconds",
		Help:    "Time from submit to the first lease of a job, by model.",
		Buckets: prometheus.ExponentialBuckets(0.005, 2, 14), // 5 ms .. 41 s
	}, []string{"model"})

	// TimeToFirstToken is cocoon_time_to_first_token_seconds{model}: from
	// the submit to the first answer chunk the submitter receives, which
	// is what a user waits. Recorded by: bot, gateway (the submitters).
	TimeToFirstToken = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cocoon_time_to_first_token_seconds",
		Help:    "Time from submit to the first answer chunk at the submitter, by model.",
		Buckets: prometheus.ExponentialBuckets(0.05, 2, 12), // 50 ms .. 102 s
	}, []string{"model"})

	// Tokens is cocoon_tokens_total{model,kind}: tokens the workers'
	// Ollama processed, kind prompt or completion. Tokens per second is
	// rate(cocoon_tokens_total{kind="completion"}[1m]). Recorded by: worker.
	Tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cocoon_tokens_total",
		Help: "Tokens processed by model and kind (prompt, completion).",
	}, []string{"model", "kind"})

	// Jobs is cocoon_jobs_total{outcome}: job transitions that end an
	// attempt, outcome one of the Outcome constants. Recorded by: broker.
	Jobs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cocoon_jobs_total",
		Help: "Jobs by outcome: done, failed, dead, retry, cancelled, lease_expired.",
	}, []string{"outcome"})

	// Attestations is cocoon_attestations_total{result}: worker joins by
	// the verdict on their evidence (see AttestResult). Recorded by: broker.
	Attestations = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cocoon_attestations_total",
		Help: "Worker join attempts by attestation result (tdx, insecure_dev, refused_<reason>).",
	}, []string{"result"})

	// LedgerTotals is cocoon_ledger_nanoton{term}: each term of the money
	// invariant (ledger.Report) from the last periodic ledger check, in
	// nanoTON, plus term="difference" (held - funded; 0 when the books
	// balance). Recorded by: broker, with billing on.
	LedgerTotals = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "cocoon_ledger_nanoton",
		Help: "Terms of the ledger invariant from the last check, in nanoTON.",
	}, []string{"term"})

	// LedgerOK is cocoon_ledger_ok: 1 when the last ledger check balanced
	// with no problems, 0 when it did not. Recorded by: broker.
	LedgerOK = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "cocoon_ledger_ok",
		Help: "1 when the last ledger check balanced with no problems, else 0.",
	})

	// Telegram429 is cocoon_telegram_429_total: Bot API answers "429 Too
	// Many Requests" (the bot then waits retry_after). Recorded by: bot.
	Telegram429 = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "cocoon_telegram_429_total",
		Help: "Telegram Bot API 429 (flood wait) answers.",
	})

	// GatewayRequests is cocoon_gateway_requests_total{code}: OpenAI-API
	// requests by HTTP status code. Recorded by: gateway, by wrapping its
	// handler in promhttp.InstrumentHandlerCounter(GatewayRequests, h).
	GatewayRequests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "cocoon_gateway_requests_total",
		Help: "Gateway requests by HTTP status code.",
	}, []string{"code"})
)

// Job outcomes (label outcome of Jobs).
const (
	OutcomeDone         = "done"          // a worker completed the job
	OutcomeFailed       = "failed"        // failed, not retryable
	OutcomeDead         = "dead"          // attempts exhausted: dead-lettered
	OutcomeRetry        = "retry"         // failed retryable: back to the queue after backoff
	OutcomeCancelled    = "cancelled"     // cancelled by its submitter
	OutcomeLeaseExpired = "lease_expired" // the worker vanished; the recoverer took the job back
)

// Token kinds (label kind of Tokens).
const (
	KindPrompt     = "prompt"
	KindCompletion = "completion"
)

// cocoonMetrics are the metrics above, in the order of this file.
var cocoonMetrics = []prometheus.Collector{
	QueueDepth, DispatchLatency, TimeToFirstToken, Tokens, Jobs, Attestations,
	LedgerTotals, LedgerOK, Telegram429, GatewayRequests,
}

func init() {
	Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	Registry.MustRegister(cocoonMetrics...)
}

// CallbackGauge is a gauge with one label whose values a callback reports
// at scrape time (one Redis read per scrape instead of bookkeeping on every
// transition).
type CallbackGauge struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	fn   func(context.Context) (map[string]float64, error)
}

// SetSource sets the callback: label value -> gauge value. Nil removes it.
func (g *CallbackGauge) SetSource(fn func(context.Context) (map[string]float64, error)) {
	g.mu.Lock()
	g.fn = fn
	g.mu.Unlock()
}

// Describe implements prometheus.Collector.
func (g *CallbackGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// scrapeTimeout bounds one callback.
const scrapeTimeout = 3 * time.Second

// Collect implements prometheus.Collector.
func (g *CallbackGauge) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	fn := g.fn
	g.mu.Unlock()
	if fn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	vals, err := fn(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(g.desc, err)
		return
	}
	for label, v := range vals {
		ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v, label)
	}
}
