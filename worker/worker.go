package worker

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-network/cocoon/attest"
	"github.com/cocoon-network/cocoon/internal/obs"
	"github.com/cocoon-network/cocoon/seal"
	"github.com/cocoon-network/cocoon/trust"
	"github.com/cocoon-network/cocoon/wire"
)

// Worker is one member of the GPU pool.
type Worker struct {
	cfg    Config
	api    *apiClient
	ollama *ollama
	log    *slog.Logger
	signer ed25519.PrivateKey
	hpke   *seal.PrivateKey

	id          string
	heartbeatMs int64
	reattestMs  int64
	joinedAt    time.Time
	evidence    wire.Evidence
	models      []wire.ModelDigest
	rep         *reporter

	mu     sync.Mutex
	jobs   map[string]*running // held jobs by id
	slot   chan struct{}       // a free slot for a job
	avgJob time.Duration       // moving average of an answered job's run time
}

// avgWeight is the weight of the newest job in avgJob.
const avgWeight = 0.2

// observeJob adds an answered job's run time to the moving average the
// heartbeats report (the broker routes by running jobs × it).
func (w *Worker) observeJob(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.avgJob == 0 {
		w.avgJob = d
		return
	}
	w.avgJob = time.Duration(avgWeight*float64(d) + (1-avgWeight)*float64(w.avgJob))
}

func (w *Worker) avgJobMs() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.avgJob == 0 {
		return 0 // no job answered yet
	}
	return min(max(w.avgJob.Milliseconds(), 1), wire.MaxAvgJobMs)
}

type running struct {
	job    wire.LeasedJob
	cancel context.CancelCauseFunc
}

// New validates cfg and returns a Worker.
func New(cfg Config) (*Worker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ol, err := newOllama(cfg.OllamaHost, cfg.HTTPClient)
	if err != nil {
		return nil, err
	}
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	hpke, err := seal.GenerateKey()
	if err != nil {
		return nil, err
	}
	if cfg.Name == "" {
		cfg.Name, _ = os.Hostname()
	}
	return &Worker{cfg: cfg, api: newAPIClient(cfg.BrokerURL, cfg.HTTPClient), ollama: ol, log: cfg.Logger,
		signer: priv, hpke: hpke, jobs: map[string]*running{}, slot: make(chan struct{}, cfg.MaxJobs)}, nil
}

// ID is the worker id the broker assigned at join ("" before).
func (w *Worker) ID() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.id
}

// errStopped is the cause given to a job the broker told us to stop.
var errStopped = errors.New("stopped by broker")

// Join registers with the broker: it gets a nonce, has its quote provider
// attest REPORTDATA over (nonce, its keys, its models' digests), and sends
// the quote with the keys. Joining again keeps the worker's id.
func (w *Worker) Join(ctx context.Context) error {
	models, err := w.ollama.models(ctx)
	if err != nil {
		return err
	}
	if len(models) == 0 {
		return errors.New("worker: the local Ollama has no models")
	}
	nonce, err := w.api.nonce(ctx)
	if err != nil {
		return err
	}
	signing := w.signer.Public().(ed25519.PublicKey)
	claims, err := trust.Claims(nonce, signing, w.hpke.PublicKey().Bytes(), models)
	if err != nil {
		return err
	}
	ev, err := attest.NewEvidence(w.cfg.Quoter, claims)
	if err != nil {
		return err
	}
	req := &wire.JoinRequest{Nonce: nonce, Evidence: wire.Evidence{Type: ev.Type, Quote: ev.Quote},
		SigningKey: signing, HPKEKey: w.hpke.PublicKey().Bytes(), Models: models, Loaded: w.ollama.loaded(ctx),
		MaxJobs: w.cfg.MaxJobs, Name: w.cfg.Name, PayoutAddress: w.cfg.PayoutAddr, PriceCoef: w.cfg.PriceCoef}
	resp, err := w.api.join(ctx, req)
	if err != nil {
		return err
	}
	w.mu.Lock()
	w.id, w.heartbeatMs, w.reattestMs, w.joinedAt = resp.WorkerID, resp.HeartbeatMs, resp.ReattestMs, time.Now()
	w.evidence, w.models = req.Evidence, models
	w.mu.Unlock()
	w.log.Info("joined pool", "worker", w.id, "models", len(models), "evidence", req.Evidence.Type)
	return nil
}

// reattestDue reports whether half the attestation period has passed.
func (w *Worker) reattestDue() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reattestMs > 0 && time.Since(w.joinedAt) > time.Duration(w.reattestMs/2)*time.Millisecond
}

// Run joins and serves jobs until ctx ends, then drains: it stops leasing,
// tells the broker, finishes what it holds (up to DrainTimeout; the rest is
// handed back for another worker) and leaves.
func (w *Worker) Run(ctx context.Context) error {
	bg, stopBg := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBg()
	if w.id == "" {
		if err := w.Join(ctx); err != nil {
			return err
		}
	}
	w.rep = newReporter(w.api, w.stopJob)
	go w.rep.run(bg)
	go w.heartbeats(bg)
	for i := 0; i < w.cfg.MaxJobs; i++ {
		w.slot <- struct{}{}
	}
	var jobs sync.WaitGroup
	err := w.leaseLoop(ctx, bg, &jobs)
	w.drain(bg, &jobs)
	return err
}

func (w *Worker) leaseLoop(ctx, bg context.Context, jobs *sync.WaitGroup) error {
	backoff := 100 * time.Millisecond
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-w.slot:
		}
		free := 1
	more:
		for free < w.cfg.MaxJobs {
			select {
			case <-w.slot:
				free++
			default:
				break more
			}
		}
		// Reports waiting to be sent (a finished job's completion, say) go
		// with the lease request: one round trip instead of two.
		reps := w.rep.borrow()
		leased, results, err := w.api.lease(ctx, free, 20000, reps)
		if reps != nil {
			w.rep.settle(reps, results, err)
		}
		for i := len(leased); i < free; i++ {
			w.slot <- struct{}{}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var we *wire.Error
			if errors.As(err, &we) && we.Code == wire.CodeUnauthorized {
				w.log.Warn("session lost; joining again", "err", err)
				if jerr := w.Join(ctx); jerr != nil {
					w.log.Warn("join", "err", jerr)
				}
			} else {
				w.log.Warn("lease", "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
		for _, j := range leased {
			jctx, cancel := context.WithCancelCause(bg)
			w.mu.Lock()
			w.jobs[j.ID] = &running{job: j, cancel: cancel}
			w.mu.Unlock()
			jobs.Add(1)
			go func(j wire.LeasedJob) {
				defer jobs.Done()
				defer func() { w.slot <- struct{}{} }()
				w.runJob(jctx, &j)
				w.mu.Lock()
				delete(w.jobs, j.ID)
				w.mu.Unlock()
				cancel(nil)
			}(j)
		}
	}
}

func (w *Worker) drain(bg context.Context, jobs *sync.WaitGroup) {
	w.log.Info("draining", "worker", w.id, "running", w.running())
	_, _ = w.api.heartbeat(bg, &wire.HeartbeatRequest{Draining: true, Running: w.running(), Jobs: w.held()})
	done := make(chan struct{})
	go func() { jobs.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(w.cfg.DrainTimeout):
		w.mu.Lock()
		for _, r := range w.jobs {
			r.cancel(errDrainTimeout)
		}
		w.mu.Unlock()
		<-done
	}
	w.rep.flush(w.cfg.DrainTimeout)
	if err := w.api.leave(bg); err != nil {
		w.log.Warn("leave", "err", err)
	}
	w.log.Info("worker stopped", "worker", w.id)
}

var errDrainTimeout = errors.New("worker shutting down")

func (w *Worker) running() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.jobs)
}

func (w *Worker) held() map[string]string {
	w.mu.Lock()
	defer w.mu.Unlock()
	m := make(map[string]string, len(w.jobs))
	for id, r := range w.jobs {
		m[id] = r.job.Lease
	}
	return m
}

// stopJob ends a job the broker no longer wants from us (cancelled, or its
// lease went to someone else).
func (w *Worker) stopJob(job, code string) {
	w.mu.Lock()
	r := w.jobs[job]
	w.mu.Unlock()
	if r != nil {
		r.cancel(fmt.Errorf("%w: %s", errStopped, code))
	}
}

// heartbeats keeps the registration and every held lease alive.
func (w *Worker) heartbeats(ctx context.Context) {
	period := time.Duration(w.heartbeatMs) * time.Millisecond
	if period <= 0 {
		period = 5 * time.Second
	}
	next := period
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
		resp, err := w.api.heartbeat(ctx, &wire.HeartbeatRequest{Jobs: w.held(), Running: w.running(), Loaded: w.ollama.loaded(ctx),
			AvgJobMs: w.avgJobMs()})
		if err != nil {
			// The broker may be restarting: try again soon, so held leases
			// are extended as soon as one answers.
			w.log.Warn("heartbeat", "err", err)
			next = min(period, 200*time.Millisecond)
			continue
		}
		next = period
		if w.reattestDue() {
			if err := w.Join(ctx); err != nil {
				w.log.Warn("attest again", "err", err)
			}
		}
		for _, id := range resp.Stop {
			w.stopJob(id, "lease lost or cancelled")
		}
	}
}

// runJob runs one leased job on Ollama and reports its chunks and end.
func (w *Worker) runJob(ctx context.Context, j *wire.LeasedJob) {
	log := w.log.With("job", j.ID, "attempt", j.Attempt)
	start := time.Now()
	p, key, err := w.openPayload(j)
	if err != nil {
		log.Warn("payload refused", "err", err)
		w.fail(j, err.Error(), false)
		return
	}
	var prefix strings.Builder
	for _, c := range j.Prefix {
		text, err := seal.OpenChunk(key, j.ID, c.Seq, c.Data)
		if err != nil {
			w.fail(j, fmt.Sprintf("streamed chunk %d does not open", c.Seq), false)
			return
		}
		prefix.Write(text)
	}
	stream := newChunkStream(w.rep, j, key)
	var final chatLine
	var segment strings.Builder
	err = w.ollama.chat(ctx, chatRequest(j, p, prefix.String()), func(r *chatLine) error {
		if r.Message.Content != "" {
			segment.WriteString(r.Message.Content)
			stream.add(r.Message.Content)
		}
		if r.Done {
			final = *r
		}
		return nil
	})
	stream.flush() // the last chunk goes before the job's end
	streamed := stream.tokens()
	cause := context.Cause(ctx)
	switch {
	case errors.Is(cause, errStopped):
		// Cancelled or taken away: report what ran so a cancel is charged
		// for what was streamed; the broker answers "cancelled" or refuses.
		log.Info("job stopped", "reason", cause)
		w.complete(j, final.PromptEvalCount, streamed, nil)
	case errors.Is(cause, errDrainTimeout):
		w.fail(j, "worker shutting down", true)
	case err != nil:
		log.Warn("ollama chat failed", "err", err)
		w.fail(j, "ollama: "+err.Error(), true)
	case !final.Done:
		// Ollama ends a stream without a final message when it aborts a
		// generation (e.g. 30 identical tokens in a row): the answer ends
		// there, with the tokens streamed.
		log.Info("ollama ended the stream without a final message")
		w.complete(j, 0, streamed, w.receipt(j, segment.String(), 0, streamed))
		w.observeJob(time.Since(start))
	default:
		w.complete(j, final.PromptEvalCount, final.EvalCount, w.receipt(j, segment.String(), final.PromptEvalCount, final.EvalCount))
		w.observeJob(time.Since(start))
	}
	completion := streamed
	if final.Done {
		completion = final.EvalCount
	}
	obs.Tokens.WithLabelValues(j.Model, obs.KindPrompt).Add(float64(final.PromptEvalCount))
	obs.Tokens.WithLabelValues(j.Model, obs.KindCompletion).Add(float64(completion))
}

// openPayload opens a job's sealed payload with the worker's HPKE key.
func (w *Worker) openPayload(j *wire.LeasedJob) (*wire.Payload, [32]byte, error) {
	var key [32]byte
	plain, err := seal.Open(j.Payload, []byte(j.ID), w.ID(), w.hpke)
	if err != nil {
		return nil, key, fmt.Errorf("sealed payload does not open for this worker: %w", err)
	}
	var p wire.Payload
	if err := json.Unmarshal(plain, &p); err != nil || len(p.Messages) == 0 || len(p.ChunkKey) != 32 {
		return nil, key, errors.New("payload does not decode")
	}
	copy(key[:], p.ChunkKey)
	return &p, key, nil
}

// receipt signs what this worker produced for the job's current segment.
func (w *Worker) receipt(j *wire.LeasedJob, text string, promptTokens, completionTokens int) []byte {
	w.mu.Lock()
	seg := trust.Segment{JobID: j.ID, Index: j.Segment, WorkerID: w.id, SealedRequest: j.Payload, Text: text,
		Model: j.Model, PromptTokens: promptTokens, CompletionTokens: completionTokens, Evidence: w.evidence}
	for _, m := range w.models {
		if m.Name == j.Model {
			seg.Digest = m.Digest
		}
	}
	w.mu.Unlock()
	r, err := trust.SignReceipt(w.signer, seg, time.Now())
	if err != nil {
		w.log.Warn("receipt", "job", j.ID, "err", err)
		return nil
	}
	return r
}

func (w *Worker) complete(j *wire.LeasedJob, promptTokens, completionTokens int, receipt []byte) {
	w.rep.addEnd(wire.Report{Kind: wire.ReportComplete, Job: j.ID, Lease: j.Lease,
		PromptTokens: promptTokens, CompletionTokens: completionTokens, Receipt: receipt})
}

func (w *Worker) fail(j *wire.LeasedJob, reason string, retryable bool) {
	w.rep.addEnd(wire.Report{Kind: wire.ReportFail, Job: j.ID, Lease: j.Lease, Error: reason, Retryable: retryable})
}
