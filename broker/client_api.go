package broker

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/cocoon-network/cocoon/internal/jsonx"
	"github.com/cocoon-network/cocoon/internal/obs"
	"github.com/cocoon-network/cocoon/wire"
)

var (
	modelRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}$`)
	userRe  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$`)
)

func (b *Broker) clientRoutes(mux *http.ServeMux) {
	mux.HandleFunc("POST /v1/jobs", b.serviceAuth(b.handleSubmit))
	mux.HandleFunc("POST /v1/jobs/batch", b.serviceAuth(b.handleSubmitBatch))
	mux.HandleFunc("GET /v1/jobs/{id}", b.serviceAuth(b.handleStatus))
	mux.HandleFunc("GET /v1/jobs/{id}/events", b.serviceAuth(b.handleEvents))
	mux.HandleFunc("POST /v1/jobs/{id}/cancel", b.serviceAuth(b.handleCancel))
	mux.HandleFunc("GET /v1/models", b.serviceAuth(b.handleModels))
	mux.HandleFunc("GET /v1/pool", b.serviceAuth(b.handlePool))
	mux.HandleFunc("GET /v1/users/{user}/balance", b.serviceAuth(b.handleBalance))
	mux.HandleFunc("GET /v1/users/{user}/account", b.serviceAuth(b.handleAccount))
	mux.HandleFunc("POST /v1/users/{user}/credits", b.serviceAuth(b.handleCredit))
	mux.HandleFunc("POST /v1/users/{user}/refunds", b.serviceAuth(b.handleRefund))
	mux.HandleFunc("POST /v1/users/{user}/escrow", b.serviceAuth(b.handleEscrow))
}

func (b *Broker) serviceAuth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(bearer(r)), []byte(b.cfg.Token)) != 1 {
			unauthorized(w, "missing or wrong service token")
			return
		}
		h(w, r)
	}
}

// validateSubmit checks a submit request's clear metadata.
func (b *Broker) validateSubmit(req *wire.SubmitRequest) *wire.Error {
	bad := func(field, f string, a ...any) *wire.Error {
		return &wire.Error{Code: wire.CodeBadRequest, Field: field, Message: fmt.Sprintf(f, a...), Status: http.StatusBadRequest}
	}
	switch {
	case !modelRe.MatchString(req.Model):
		return bad("model", "want a model name like tiny:latest")
	case !userRe.MatchString(req.User):
		return bad("user", "want a user id like tg:42")
	case req.MaxTokens < 1 || req.MaxTokens > b.cfg.MaxTokens:
		return bad("max_tokens", "must be 1..%d", b.cfg.MaxTokens)
	case req.PromptBytes < 0:
		return bad("prompt_bytes", "must not be negative")
	case req.PromptBytes > b.cfg.MaxPayload:
		// The broker cannot see the prompt; submitters enforce
		// COCOON_MAX_PROMPT_BYTES on what the user typed, and this bounds
		// the declared size of the whole conversation.
		return &wire.Error{Code: wire.CodeTooLarge, Field: "prompt_bytes", Status: http.StatusRequestEntityTooLarge,
			Message: fmt.Sprintf("conversation is %d bytes; the limit is %d", req.PromptBytes, b.cfg.MaxPayload)}
	case len(req.Payload) == 0:
		return bad("payload", "must not be empty")
	case len(req.Payload) > b.cfg.MaxPayload:
		return &wire.Error{Code: wire.CodeTooLarge, Field: "payload", Status: http.StatusRequestEntityTooLarge,
			Message: fmt.Sprintf("payload is %d bytes; the limit is %d", len(req.Payload), b.cfg.MaxPayload)}
	case req.MaxCoef < 0 || req.MaxCoef > 100000:
		return bad("max_coef", "must be 0..100000 (1000 = 1.0x; 0 means 1000)")
	case len(req.Eligible) > 64:
		return bad("eligible", "at most 64 workers")
	}
	for _, id := range req.Eligible {
		if !userRe.MatchString(id) {
			return bad("eligible", "bad worker id %q", id)
		}
	}
	if req.ID == "" {
		req.ID = wire.NewJobID(req.Model)
	} else if shard, err := wire.ParseJobID(req.ID); err != nil {
		return bad("id", "%v", err)
	} else if shard != wire.ShardOf(req.Model) {
		return bad("id", "job id shard %d does not match model %q (want wire.NewJobID(model))", shard, req.Model)
	}
	if e := b.checkCapacity(req.Model); e != nil {
		return e
	}
	return b.checkEligible(req)
}

// checkEligible refuses a job sealed only to workers that have left.
func (b *Broker) checkEligible(req *wire.SubmitRequest) *wire.Error {
	if len(req.Eligible) == 0 || b.reg.servesAny(req.Eligible, req.Model) {
		return nil
	}
	return &wire.Error{Code: wire.CodeReseal, Field: "eligible", Status: http.StatusConflict,
		Message: "none of the workers this job is sealed to is in the pool: seal it again for current candidates"}
}

// checkCapacity tells an unknown model from a known one nobody can run now.
func (b *Broker) checkCapacity(model string) *wire.Error {
	ok, known, served := b.reg.capacity(model)
	if ok {
		return nil
	}
	if known || len(served) == 0 {
		return &wire.Error{Code: wire.CodeNoCapacity, Status: http.StatusServiceUnavailable, RetryAfterMs: 5000,
			Message: fmt.Sprintf("no worker can run %q right now", model)}
	}
	return &wire.Error{Code: wire.CodeUnknownModel, Field: "model", Status: http.StatusNotFound, Models: dedupe(served),
		Message: fmt.Sprintf("model %q is not served; the pool serves %v", model, dedupe(served))}
}

func dedupe(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

func (b *Broker) handleSubmit(w http.ResponseWriter, r *http.Request) {
	var req wire.SubmitRequest
	if !b.enterSubmit(w) {
		return
	}
	defer b.submits.Done()
	if !decodeBody(w, r, int64(b.cfg.MaxPayload)*2+64<<10, &req) {
		return
	}
	res := b.submitJobs(r.Context(), []*wire.SubmitRequest{&req})[0]
	if res.Error != nil {
		writeErr(w, res.Status, res.Error)
		return
	}
	writeJSON(w, http.StatusAccepted, res.SubmitResponse)
}

// handleSubmitBatch stores many jobs in one request (POST /v1/jobs/batch):
// each job gets the answer POST /v1/jobs would give it, and the batch
// costs Redis one script call per shard instead of one per job.
func (b *Broker) handleSubmitBatch(w http.ResponseWriter, r *http.Request) {
	var batch wire.SubmitBatchRequest
	if !b.enterSubmit(w) {
		return
	}
	defer b.submits.Done()
	if !decodeBody(w, r, maxSubmitBatchBytes, &batch) {
		return
	}
	if len(batch.Jobs) == 0 || len(batch.Jobs) > wire.MaxSubmitBatch {
		badRequest(w, "jobs", "must hold 1..%d jobs", wire.MaxSubmitBatch)
		return
	}
	reqs := make([]*wire.SubmitRequest, len(batch.Jobs))
	for i := range batch.Jobs {
		reqs[i] = &batch.Jobs[i]
	}
	writeJSON(w, http.StatusOK, wire.SubmitBatchResponse{Results: b.submitJobs(r.Context(), reqs)})
}

// storeTimeout bounds storing a submit's jobs once their money is
// reserved, whatever the client does meanwhile; reserveBudget bounds the
// reserving of a batch's jobs before that. Together they stay below
// intentGrace: a submit's intent is not taken for one left behind while
// its submit is still running.
const (
	storeTimeout  = 10 * time.Second
	reserveBudget = 10 * time.Second
)

// maxSubmitBatchBytes bounds a batch body; a job whose payload alone comes
// near it is sent on its own (the client does so).
const maxSubmitBatchBytes = 64 << 20

// enterSubmit counts a submit in flight, which a stopping broker waits
// for (it may have reserved money), or answers 503
// while the broker is draining. The caller calls b.submits.Done.
func (b *Broker) enterSubmit(w http.ResponseWriter) bool {
	b.submitMu.RLock()
	defer b.submitMu.RUnlock()
	if b.draining.Load() {
		writeErr(w, http.StatusServiceUnavailable, &wire.Error{Code: wire.CodeUnavailable, Message: "broker is shutting down", RetryAfterMs: 1000})
		return false
	}
	b.submits.Add(1)
	return true
}

// submitJobs validates, reserves and stores jobs, one result per job: the
// valid ones are stored together (Store.SubmitMany), and one waiting
// long-poll is woken per job stored.
func (b *Broker) submitJobs(ctx context.Context, reqs []*wire.SubmitRequest) []wire.SubmitResult {
	out := make([]wire.SubmitResult, len(reqs))
	fail := func(i int, e *wire.Error) { out[i] = wire.SubmitResult{Error: e, Status: e.Status} }
	ok := make([]*wire.SubmitRequest, 0, len(reqs))
	at := make([]int, 0, len(reqs))
	reserved := make([]int64, 0, len(reqs))
	rsvs := make([]reservation, 0, len(reqs))
	start := time.Now()
	for i, req := range reqs {
		if e := b.validateSubmit(req); e != nil {
			fail(i, e)
			continue
		}
		if ctx.Err() != nil { // the client left: reserve nothing more
			fail(i, &wire.Error{Code: wire.CodeUnavailable, Status: http.StatusServiceUnavailable, Message: "request cancelled"})
			continue
		}
		if b.cfg.Money != nil && time.Since(start) > b.reserveBudget {
			// A slow ledger: the batch's first intents must not age past
			// intentGrace before their jobs are stored.
			fail(i, &wire.Error{Code: wire.CodeUnavailable, Status: http.StatusServiceUnavailable, RetryAfterMs: 1000,
				Message: "billing is slow: this job was not reserved; submit it again"})
			continue
		}
		rsv, e := b.reserve(ctx, req)
		if e != nil {
			fail(i, e)
			continue
		}
		ok, at, reserved, rsvs = append(ok, req), append(at, i), append(reserved, rsv.amount), append(rsvs, rsv)
	}
	// Once money is reserved, a client that hangs up must not cut the
	// store short: whether its job was queued would be unknown until the
	// reconciler resolved its intent. (Without billing nothing is owed: the
	// request's context stays, and no timer per submit.)
	if b.cfg.Money != nil {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
		defer cancel()
	}
	type wakeup struct {
		jobs     int
		eligible map[string]bool
	}
	wakes := map[string]*wakeup{}
	maybe := map[string]bool{} // models of jobs whose store failed: perhaps after the script ran
	for k, o := range b.store.SubmitMany(ctx, ok, reserved) {
		req, i := ok[k], at[k]
		switch {
		case reserved[k] == 0:
		case errors.Is(o.Err, ErrOtherUsersJob) && rsvs[k].dup:
			// The account already held this id's reservation: the other
			// user's job's (both bill to one account). It stays.
			_ = b.store.dropIntent(ctx, wire.ShardOf(req.Model), req.ID, rsvs[k].intent)
		case errors.Is(o.Err, ErrBusy), errors.Is(o.Err, ErrOtherUsersJob): // not queued: a retry reserves again
			if err := b.unreserve(ctx, rsvs[k].payer, rsvs[k].intent, req); err != nil {
				b.log.Warn("unreserve a refused job; the reconciler will", "job", req.ID, "err", err)
			}
			// Any other error: perhaps queued. The submit's intent stays and
			// the reconciler resolves it once the store can tell.
		}
		switch {
		case errors.Is(o.Err, ErrBusy):
			fail(i, &wire.Error{Code: wire.CodeBusy, RetryAfterMs: 2000, Status: http.StatusTooManyRequests,
				Message: fmt.Sprintf("the %s queue is full (%d waiting); retry later", req.Model, o.Position)})
		case errors.Is(o.Err, ErrOtherUsersJob):
			fail(i, &wire.Error{Code: wire.CodeConflict, Field: "id", Status: http.StatusConflict,
				Message: "this job id is another user's job; submit with a new id"})
		case o.Err != nil:
			fail(i, b.internalErr("submit", o.Err))
			maybe[req.Model] = true
		default:
			out[i].SubmitResponse = wire.SubmitResponse{JobID: req.ID, Position: o.Position}
			wk := wakes[req.Model]
			if wk == nil {
				wk = &wakeup{eligible: map[string]bool{}}
				wakes[req.Model] = wk
			}
			wk.jobs++
			for _, e := range req.Eligible {
				wk.eligible[e] = true
			}
		}
	}
	// One waiting long-poll per job stored, the jobs' eligible workers' first.
	for m, wk := range wakes {
		b.notify.wake(m, wk.jobs, wk.eligible)
	}
	// A failed store may still have queued its jobs (the reply was lost):
	// every poll on the model looks, instead of trusting a drained mark.
	for m := range maybe {
		b.notify.notify(m)
	}
	return out
}

func (b *Broker) internal(w http.ResponseWriter, op string, err error) {
	writeErr(w, http.StatusServiceUnavailable, b.internalErr(op, err))
}

// internalErr logs err under a short reference and returns the error a
// caller sees: temporarily unavailable, quoting the reference.
func (b *Broker) internalErr(op string, err error) *wire.Error {
	ref := randHex(4)
	b.log.Error(op, "ref", ref, "err", err)
	return &wire.Error{Code: wire.CodeUnavailable, RetryAfterMs: 1000, Status: http.StatusServiceUnavailable,
		Message: "temporarily unavailable (ref " + ref + ")"}
}

func (b *Broker) handleStatus(w http.ResponseWriter, r *http.Request) {
	st, err := b.store.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) {
		writeErr(w, http.StatusNotFound, &wire.Error{Code: wire.CodeNotFound, Message: "unknown job"})
		return
	}
	if err != nil {
		b.internal(w, "status", err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

func (b *Broker) handleCancel(w http.ResponseWriter, r *http.Request) {
	before, err := b.store.Cancel(r.Context(), r.PathValue("id"))
	if errors.Is(err, ErrNotFound) {
		writeErr(w, http.StatusNotFound, &wire.Error{Code: wire.CodeNotFound, Message: "unknown job"})
		return
	}
	if err != nil {
		b.internal(w, "cancel", err)
		return
	}
	if before == wire.StateQueued || before == wire.StateLeased || before == wire.StateStreaming || before == wire.StateDead {
		obs.Jobs.WithLabelValues(obs.OutcomeCancelled).Inc()
	}
	writeJSON(w, http.StatusOK, map[string]string{"previous_state": before})
}

func (b *Broker) handleModels(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, b.reg.models())
}

func (b *Broker) handlePool(w http.ResponseWriter, r *http.Request) {
	ws := b.reg.live()
	for _, x := range ws {
		x.TokenHash, x.Quote = "", nil
	}
	writeJSON(w, http.StatusOK, ws)
}

// handleEvents streams a job's events as server-sent events, starting after
// the Last-Event-ID header or the after query parameter, until a terminal
// event, the client leaving, or the broker draining (the client resumes).
func (b *Broker) handleEvents(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if _, err := wire.ParseJobID(id); err != nil {
		writeErr(w, http.StatusNotFound, &wire.Error{Code: wire.CodeNotFound, Message: "unknown job"})
		return
	}
	done, err := b.store.Follow(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		writeErr(w, http.StatusNotFound, &wire.Error{Code: wire.CodeNotFound, Message: "unknown job"})
		return
	}
	if err != nil {
		b.internal(w, "follow", err)
		return
	}
	after := r.URL.Query().Get("after")
	if h := r.Header.Get("Last-Event-ID"); h != "" {
		after = h
	}
	fl, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if fl != nil {
		fl.Flush()
	}
	if done != nil { // done without a stream: its done event is its only one
		if after != done.ID {
			writeEvent(w, done)
		}
		return
	}
	// A draining broker ends the stream at once (the follower resumes
	// elsewhere), even while Redis blocks in XREAD.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	go func() {
		select {
		case <-b.drainCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	for {
		evs, err := b.store.ReadEvents(ctx, id, after, 500*time.Millisecond)
		if err != nil {
			if ctx.Err() == nil {
				b.log.Warn("read events", "job", id, "err", err)
				time.Sleep(200 * time.Millisecond)
			}
			if ctx.Err() != nil {
				return
			}
			continue
		}
		ended := false
		for i := range evs {
			after = evs[i].ID
			if b.superseded(ctx, id, evs, i) {
				continue
			}
			writeEvent(w, &evs[i])
			ended = ended || evs[i].Terminal()
		}
		if fl != nil && len(evs) > 0 {
			fl.Flush()
		}
		if ended {
			return
		}
	}
}

// superseded tells whether evs[i] is a dead event an operator's requeue
// has overtaken (`cocoon admin requeue`): events follow it, or the job is
// no longer dead. A follower is not sent it: it would end its stream while
// the job goes on.
func (b *Broker) superseded(ctx context.Context, id string, evs []wire.Event, i int) bool {
	if evs[i].Type != wire.EventDead {
		return false
	}
	if i < len(evs)-1 {
		return true
	}
	st, err := b.store.Get(ctx, id)
	return err == nil && st.State != wire.StateDead
}

// writeEvent writes one server-sent event (flushed by the caller).
func writeEvent(w http.ResponseWriter, e *wire.Event) {
	data, _ := jsonx.Marshal(e)
	fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", e.ID, e.Type, data)
}
