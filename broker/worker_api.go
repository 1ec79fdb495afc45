package broker

import (
	"cmp"
	"context"
	"crypto/ed25519"
	"slices"

	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/cocoon-network/cocoon/seal"
	"github.com/cocoon-network/cocoon/trust"
	"net/http"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/cocoon-network/cocoon/internal/obs"
	"github.com/cocoon-network/cocoon/wire"
)

const (
	// pollRecheck is how often a waiting lease long-poll looks at the
	// queue unwoken (a wake-up can go to a poll that then finds nothing
	// it may run): each look is a lease script, so 10,000 idle workers
	// cost 10,000 scripts/s at 1 s.
	pollRecheck   = time.Second
	nonceTTL      = 60 * time.Second
	maxLeaseBatch = 256
	maxLeaseWait  = 30 * time.Second
)

func (b *Broker) workerRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/worker/nonce", b.handleNonce)
	mux.HandleFunc("POST /v1/worker/join", b.handleJoin)
	mux.HandleFunc("POST /v1/worker/lease", b.workerAuth(b.handleLease))
	mux.HandleFunc("POST /v1/worker/report", b.workerAuth(b.handleReport))
	mux.HandleFunc("POST /v1/worker/heartbeat", b.workerAuth(b.handleHeartbeat))
	mux.HandleFunc("POST /v1/worker/leave", b.workerAuth(b.handleLeave))
	mux.HandleFunc("GET /v1/candidates", b.serviceAuth(b.handleCandidates))
}

type workerHandler func(http.ResponseWriter, *http.Request, *WorkerInfo)

func (b *Broker) workerAuth(h workerHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		wi, ok := b.reg.auth(r.Context(), bearer(r))
		if !ok {
			unauthorized(w, "missing or unknown worker session token; join again")
			return
		}
		if age := b.cfg.Store.Clock.Now().UnixMilli() - wi.AttestedMs; age > b.cfg.Reattest.Milliseconds() || wi.PolicyID != b.policyID {
			unauthorized(w, "attestation expired or made under another allowlist; join again")
			return
		}
		h(w, r, wi)
	}
}

func (b *Broker) handleNonce(w http.ResponseWriter, r *http.Request) {
	raw := make([]byte, 32)
	rand.Read(raw)
	if err := b.cfg.Redis.Set(r.Context(), noncePrefix+hex.EncodeToString(raw), "1", nonceTTL).Err(); err != nil {
		b.internal(w, "nonce", err)
		return
	}
	writeJSON(w, http.StatusOK, wire.NonceResponse{Nonce: raw, TTLMs: nonceTTL.Milliseconds()})
}

func (b *Broker) handleJoin(w http.ResponseWriter, r *http.Request) {
	if b.draining.Load() {
		writeErr(w, http.StatusServiceUnavailable, &wire.Error{Code: wire.CodeUnavailable, Message: "broker is shutting down", RetryAfterMs: 1000})
		return
	}
	var req wire.JoinRequest
	if !decodeBody(w, r, 1<<20, &req) {
		return
	}
	if e := validateJoin(&req); e != nil {
		writeErr(w, http.StatusBadRequest, e)
		return
	}
	// The nonce is consumed before the evidence is checked: a failed join
	// cannot be retried with the same nonce.
	n, err := b.cfg.Redis.Del(r.Context(), noncePrefix+hex.EncodeToString(req.Nonce)).Result()
	if err != nil {
		b.internal(w, "join", err)
		return
	}
	if n == 0 {
		unauthorized(w, "nonce is unknown, expired or already used")
		return
	}
	if req.Evidence.Type == wire.EvidenceInsecureDev && !b.cfg.AllowInsecure {
		obs.Attestations.WithLabelValues("refused_insecure_dev").Inc()
		writeErr(w, http.StatusForbidden, &wire.Error{Code: wire.CodeUnauthorized, Field: "evidence.type",
			Message: "insecure-dev workers are refused (set COCOON_ALLOW_INSECURE_WORKERS=true on the broker for development only)"})
		return
	}
	rep, err := trust.VerifyJoin(b.cfg.Policy, &req)
	obs.Attestations.WithLabelValues(obs.AttestResult(err == nil && rep.Insecure, err)).Inc()
	if err != nil {
		b.log.Warn("worker join refused", "evidence", req.Evidence.Type, "err", err)
		writeErr(w, http.StatusForbidden, &wire.Error{Code: wire.CodeUnauthorized, Field: "evidence", Message: err.Error()})
		return
	}
	wi := &WorkerInfo{Name: req.Name, Evidence: req.Evidence.Type, Attested: !rep.Insecure, SigningKey: req.SigningKey,
		HPKEKey: req.HPKEKey, Quote: req.Evidence.Quote, Nonce: req.Nonce, Models: req.Models, Loaded: req.Loaded,
		MaxJobs: req.MaxJobs, PolicyID: b.policyID, PayoutAddress: req.PayoutAddress, PriceCoef: req.PriceCoef}
	if wi.PriceCoef == 0 {
		wi.PriceCoef = 1000
	}
	// A worker attesting again keeps its id (and the jobs it holds).
	if prev, ok := b.reg.auth(r.Context(), bearer(r)); ok {
		wi.ID = prev.ID
	}
	token, err := b.reg.add(r.Context(), wi)
	if err != nil {
		b.internal(w, "join", err)
		return
	}
	b.log.Info("worker joined", "worker", wi.ID, "name", wi.Name, "evidence", wi.Evidence, "models", len(wi.Models))
	writeJSON(w, http.StatusOK, wire.JoinResponse{WorkerID: wi.ID, Token: token, ReattestMs: b.cfg.Reattest.Milliseconds(),
		LeaseMs: b.cfg.Store.Lease.Milliseconds(), HeartbeatMs: b.cfg.Heartbeat.Milliseconds()})
}

func validateJoin(req *wire.JoinRequest) *wire.Error {
	bad := func(field, msg string) *wire.Error {
		return &wire.Error{Code: wire.CodeBadRequest, Field: field, Message: msg}
	}
	switch {
	case len(req.Nonce) != 32:
		return bad("nonce", "must be the 32 bytes from /v1/worker/nonce")
	case req.Evidence.Type == "":
		return bad("evidence.type", "required")
	case len(req.SigningKey) != ed25519.PublicKeySize:
		return bad("signing_key", "must be an Ed25519 public key")
	case len(req.Models) == 0:
		return bad("models", "a worker must serve at least one model")
	case len(req.Models) > 64:
		return bad("models", "at most 64 models")
	case req.MaxJobs < 1 || req.MaxJobs > maxWorkerJobs:
		return bad("max_jobs", fmt.Sprintf("must be 1..%d", maxWorkerJobs))
	case len(req.Name) > 64:
		return bad("name", "at most 64 bytes")
	case len(req.PayoutAddress) > 128:
		return bad("payout_address", "at most 128 bytes")
	case req.PriceCoef < 0 || req.PriceCoef > 100000:
		return bad("price_coef", "must be 0..100000 (1000 = 1.0x; 0 means 1000)")
	}
	if _, err := seal.ParsePublicKey(req.HPKEKey); err != nil {
		return bad("hpke_key", err.Error())
	}
	for _, m := range req.Models {
		if !modelRe.MatchString(m.Name) {
			return bad("models", fmt.Sprintf("bad model name %q", m.Name))
		}
		if len(m.Digest) > 128 {
			return bad("models", "digest too long")
		}
	}
	return nil
}

// handleLease hands the worker up to Max jobs of the models it serves,
// long-polling up to WaitMs when none is queued.
func (b *Broker) handleLease(w http.ResponseWriter, r *http.Request, wi *WorkerInfo) {
	var req wire.LeaseRequest
	if !decodeBody(w, r, int64(b.cfg.MaxPayload)+1<<20, &req) {
		return
	}
	if req.Max < 1 || req.Max > maxLeaseBatch {
		badRequest(w, "max", "must be 1..%d", maxLeaseBatch)
		return
	}
	if len(req.Reports) > maxReportBatch {
		badRequest(w, "reports", "at most %d reports per batch", maxReportBatch)
		return
	}
	ctx := r.Context()
	b.polls.Add(1)
	defer b.polls.Done()
	if len(req.Reports) > 0 {
		// The worker waits for these results: answer at once, leasing in
		// the same Redis round trip as the reports.
		var jobs []wire.LeasedJob
		var err error
		results := b.applyReports(req.Reports, func(reps []*wire.Report) []ReportOutcome {
			if b.draining.Load() || wi.Draining || len(wi.Models) == 0 || b.notify.isDrained(wi.Models[0].Name) {
				return b.store.ApplyReports(ctx, wi.ID, reps)
			}
			model := wi.Models[0].Name
			gen := b.notify.gen(model)
			out, got, drained, lerr := b.store.ApplyReportsThenLease(ctx, wi.ID, reps, model, req.Max, wi.PriceCoef)
			if lerr == nil {
				b.notify.leased(model, gen, drained)
			}
			jobs, err = got, lerr
			return out
		})
		if err == nil && len(jobs) < req.Max && len(wi.Models) > 1 {
			var more []wire.LeasedJob
			more, err = b.leaseAny(ctx, &WorkerInfo{ID: wi.ID, Models: wi.Models[1:], PriceCoef: wi.PriceCoef}, req.Max-len(jobs))
			jobs = append(jobs, more...)
		}
		if err != nil {
			b.log.Warn("lease with reports", "worker", wi.ID, "err", err)
		}
		b.sendLeased(ctx, w, wi, jobs, results)
		return
	}
	wait := min(time.Duration(req.WaitMs)*time.Millisecond, maxLeaseWait)
	deadline := time.Now().Add(wait)
	models := make([]string, len(wi.Models))
	for i, m := range wi.Models {
		models[i] = m.Name
	}
	for {
		if b.draining.Load() || wi.Draining {
			writeJSON(w, http.StatusOK, wire.LeaseResponse{Jobs: []wire.LeasedJob{}})
			return
		}
		wt := b.notify.wait(wi.ID, req.Max, models)
		jobs, err := b.leaseAny(ctx, wi, req.Max)
		if err != nil {
			b.notify.leave(wt)
			b.internal(w, "lease", err)
			return
		}
		if len(jobs) > 0 || time.Until(deadline) <= 0 {
			b.notify.leave(wt)
			b.sendLeased(ctx, w, wi, jobs, nil)
			return
		}
		// Woken by a submit, or look again after a while: a wake-up may go
		// to another poll that then finds nothing it may run.
		t := time.NewTimer(min(time.Until(deadline), pollRecheck))
		select {
		case <-ctx.Done():
		case <-wt.ch:
		case <-t.C:
		}
		t.Stop()
		b.notify.leave(wt)
		if ctx.Err() != nil {
			return
		}
	}
}

// leaseAny leases from each model the worker serves until max jobs are
// taken, skipping models whose queue is known to be empty.
func (b *Broker) leaseAny(ctx context.Context, wi *WorkerInfo, max int) ([]wire.LeasedJob, error) {
	var jobs []wire.LeasedJob
	for _, m := range wi.Models {
		if b.notify.isDrained(m.Name) {
			continue
		}
		gen := b.notify.gen(m.Name)
		got, drained, err := b.store.LeaseDrained(ctx, m.Name, wi.ID, max-len(jobs), wi.PriceCoef)
		if err != nil {
			return jobs, err
		}
		b.notify.leased(m.Name, gen, drained)
		jobs = append(jobs, got...)
		if len(jobs) >= max {
			break
		}
	}
	return jobs, nil
}

// sendLeased writes leased jobs; if the worker is gone it hands them back
// at once rather than letting their leases run out.
func (b *Broker) sendLeased(ctx context.Context, w http.ResponseWriter, wi *WorkerInfo, jobs []wire.LeasedJob, results []wire.ReportResult) {
	if jobs == nil {
		jobs = []wire.LeasedJob{}
	}
	w.Header().Set("Content-Type", "application/json")
	// A worker that hung up while its jobs were leased would not get them;
	// a write to its closed connection often still succeeds.
	err := ctx.Err()
	if err == nil {
		err = writeJSONErr(w, wire.LeaseResponse{Jobs: jobs, Results: results})
	}
	if err != nil {
		for _, j := range jobs {
			_, _ = b.store.Fail(context.Background(), wi.ID, j.ID, j.Lease, "handoff to worker failed", true)
		}
	}
}

// maxWorkerJobs bounds a worker's max_jobs and the running count its
// heartbeats report.
const maxWorkerJobs = 1024

// maxReportBatch bounds the reports of one request.
const maxReportBatch = 4096

func (b *Broker) handleReport(w http.ResponseWriter, r *http.Request, wi *WorkerInfo) {
	var batch wire.ReportBatch
	if !decodeBody(w, r, int64(b.cfg.MaxPayload)+1<<20, &batch) {
		return
	}
	if len(batch.Reports) > maxReportBatch {
		badRequest(w, "reports", "at most %d reports per batch", maxReportBatch)
		return
	}
	results := b.applyReports(batch.Reports, func(reps []*wire.Report) []ReportOutcome {
		return b.store.ApplyReports(r.Context(), wi.ID, reps)
	})
	writeJSON(w, http.StatusOK, wire.ReportResults{Results: results})
}

// applyReports checks a worker's reports and applies the valid ones in
// order with apply, one result per report.
func (b *Broker) applyReports(reps []wire.Report, apply func([]*wire.Report) []ReportOutcome) []wire.ReportResult {
	out := make([]wire.ReportResult, len(reps))
	valid := make([]*wire.Report, 0, len(reps))
	at := make([]int, 0, len(reps))
	for i := range reps {
		rep := &reps[i]
		if res, ok := checkReport(rep); !ok {
			out[i] = res
			continue
		}
		if rep.Kind == wire.ReportFail {
			if len(rep.Error) > 512 {
				rep.Error = rep.Error[:512]
			}
			rep.Error = "worker: " + rep.Error
		}
		valid = append(valid, rep)
		at = append(at, i)
	}
	for k, o := range apply(valid) {
		out[at[k]] = resultOf(o.Err)
		switch {
		case o.Err != nil:
		case valid[k].Kind == wire.ReportComplete:
			obs.Jobs.WithLabelValues(obs.OutcomeDone).Inc()
		case o.Outcome != "":
			obs.Jobs.WithLabelValues(o.Outcome).Inc() // retry | dead | failed
		}
	}
	return out
}

const maxChunkBytes = 64 << 10

// checkReport validates one report's fields before it reaches Redis.
func checkReport(rep *wire.Report) (wire.ReportResult, bool) {
	if _, err := wire.ParseJobID(rep.Job); err != nil {
		return wire.ReportResult{Code: wire.CodeNotFound, Message: "unknown job"}, false
	}
	if rep.Lease == "" {
		return wire.ReportResult{Code: wire.CodeBadRequest, Message: "lease is required"}, false
	}
	switch rep.Kind {
	case wire.ReportChunk:
		if len(rep.Data) > maxChunkBytes || rep.Tokens < 0 || rep.Tokens > 4096 {
			return wire.ReportResult{Code: wire.CodeBadRequest, Message: "chunk data over 64 KiB or bad token count"}, false
		}
	case wire.ReportComplete:
		if rep.PromptTokens < 0 || rep.CompletionTokens < 0 || len(rep.Receipt) > 64<<10 {
			return wire.ReportResult{Code: wire.CodeBadRequest, Message: "bad token counts or receipt"}, false
		}
	case wire.ReportExtend, wire.ReportFail:
	default:
		return wire.ReportResult{Code: wire.CodeBadRequest, Message: fmt.Sprintf("unknown report kind %q", rep.Kind)}, false
	}
	return wire.ReportResult{}, true
}

func resultOf(err error) wire.ReportResult {
	switch {
	case err == nil:
		return wire.ReportResult{}
	case errors.Is(err, ErrCancelled):
		return wire.ReportResult{Code: wire.CodeCancelled, Message: "job was cancelled: stop it"}
	case errors.Is(err, ErrNotFound):
		return wire.ReportResult{Code: wire.CodeNotFound, Message: "unknown job"}
	case errors.Is(err, ErrConflict):
		return wire.ReportResult{Code: wire.CodeConflict, Message: err.Error()}
	case errors.Is(err, redis.Nil), errors.Is(err, context.Canceled):
		return wire.ReportResult{Code: wire.CodeUnavailable, Message: err.Error()}
	default:
		return wire.ReportResult{Code: wire.CodeUnavailable, Message: "broker could not store the report; retry"}
	}
}

func (b *Broker) handleHeartbeat(w http.ResponseWriter, r *http.Request, wi *WorkerInfo) {
	var req wire.HeartbeatRequest
	if !decodeBody(w, r, 1<<20, &req) {
		return
	}
	if req.Running < 0 || req.Running > maxWorkerJobs {
		badRequest(w, "running", "must be 0..%d", maxWorkerJobs)
		return
	}
	if req.AvgJobMs < 0 || req.AvgJobMs > wire.MaxAvgJobMs {
		badRequest(w, "avg_job_ms", "must be 0..%d", wire.MaxAvgJobMs)
		return
	}
	if err := b.reg.touch(r.Context(), wi.ID, &req); err != nil {
		b.internal(w, "heartbeat", err)
		return
	}
	var resp wire.HeartbeatResponse
	reps := make([]*wire.Report, 0, len(req.Jobs))
	for job, lease := range req.Jobs {
		reps = append(reps, &wire.Report{Kind: wire.ReportExtend, Job: job, Lease: lease})
	}
	for i, o := range b.store.ApplyReports(r.Context(), wi.ID, reps) {
		res := resultOf(o.Err)
		if res.Code == wire.CodeCancelled || res.Code == wire.CodeConflict || res.Code == wire.CodeNotFound {
			resp.Stop = append(resp.Stop, reps[i].Job)
		}
	}
	writeJSON(w, http.StatusOK, resp)
}

// handleCandidates offers up to k live workers for a model, in
// sortCandidates' order, with everything a submitter needs to verify them
// itself.
func (b *Broker) handleCandidates(w http.ResponseWriter, r *http.Request) {
	model := r.URL.Query().Get("model")
	if !modelRe.MatchString(model) {
		badRequest(w, "model", "want a model name like tiny:latest")
		return
	}
	k := 3
	if ks := r.URL.Query().Get("k"); ks != "" {
		if _, err := fmt.Sscan(ks, &k); err != nil || k < 1 || k > 16 {
			badRequest(w, "k", "must be 1..16")
			return
		}
	}
	maxCoef := 1 << 30
	if ms := r.URL.Query().Get("max_coef"); ms != "" {
		if _, err := fmt.Sscan(ms, &maxCoef); err != nil || maxCoef < 1 {
			badRequest(w, "max_coef", "must be a positive coefficient (1000 = 1.0x)")
			return
		}
	}
	if e := b.checkCapacity(model); e != nil {
		writeErr(w, e.Status, e)
		return
	}
	var ws []*WorkerInfo
	for _, wi := range b.reg.live() {
		if wi.serves(model) && !wi.Draining && wi.PriceCoef <= maxCoef {
			ws = append(ws, wi)
		}
	}
	sortCandidates(ws, model)
	resp := wire.CandidatesResponse{Candidates: []wire.Candidate{}}
	for _, wi := range ws[:min(k, len(ws))] {
		resp.Candidates = append(resp.Candidates, wire.Candidate{WorkerID: wi.ID, Nonce: wi.Nonce,
			Evidence: wire.Evidence{Type: wi.Evidence, Quote: wi.Quote}, SigningKey: wi.SigningKey, HPKEKey: wi.HPKEKey, Models: wi.Models,
			PriceCoef: wi.PriceCoef})
	}
	writeJSON(w, http.StatusOK, resp)
}

func (b *Broker) handleLeave(w http.ResponseWriter, r *http.Request, wi *WorkerInfo) {
	if err := b.reg.remove(r.Context(), wi.ID); err != nil {
		b.internal(w, "leave", err)
		return
	}
	b.log.Info("worker left", "worker", wi.ID)
	writeJSON(w, http.StatusOK, struct{}{})
}

// sortCandidates orders workers for model: those below their concurrency
// limit first, then those with the model loaded (Ollama /api/ps), then the
// lowest expected wait, running jobs × average job time (a worker that
// has not answered a job yet counts the others' mean), then the faster,
// then the lowest share of their slots in use.
func sortCandidates(ws []*WorkerInfo, model string) {
	var sum, n int64
	for _, w := range ws {
		if w.AvgJobMs > 0 {
			sum, n = sum+w.AvgJobMs, n+1
		}
	}
	avg := func(w *WorkerInfo) int64 {
		if w.AvgJobMs > 0 || n == 0 {
			return w.AvgJobMs
		}
		return sum / n
	}
	loaded := func(w *WorkerInfo) int {
		if slices.Contains(w.Loaded, model) {
			return 0
		}
		return 1
	}
	full := func(w *WorkerInfo) int {
		if w.Running >= w.MaxJobs {
			return 1
		}
		return 0
	}
	slices.SortStableFunc(ws, func(a, b *WorkerInfo) int {
		return cmp.Or(cmp.Compare(full(a), full(b)), cmp.Compare(loaded(a), loaded(b)),
			cmp.Compare(int64(a.Running)*avg(a), int64(b.Running)*avg(b)), cmp.Compare(avg(a), avg(b)),
			cmp.Compare(float64(a.Running)/float64(max(a.MaxJobs, 1)), float64(b.Running)/float64(max(b.MaxJobs, 1))))
	})
}
